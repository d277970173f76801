//! Helpers shared by the integration tests: a tiny corpus, its vocabulary and examples.
use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use charrnn_data::{Example, ExampleOptions, make_examples};
use charrnn_model::{Cell, DataSettings, InputMode, ModelConfig, TrainConfig, TrainData};
use charrnn_vocab::{Unknown, Vocab, VocabOptions};

pub const TITLES: [&str; 5] = [
    "stocks rally as oil falls",
    "team wins the cup final",
    "new phone has a big screen",
    "leaders meet for peace talks",
    "rain delays the big match",
];

/// Dropout draws from libtorch's one global generator: tests that train with dropout take
/// this lock so that no other test draws in between.
pub fn rng_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn vocab() -> Vocab {
    Vocab::build(TITLES, &VocabOptions::default()).unwrap()
}

/// One example per text, `<bos>` in front, labels `i % 4` when `labelled`.
pub fn examples(vocab: &Vocab, texts: &[&str], labelled: bool) -> Vec<Example> {
    let opts = ExampleOptions {
        eos: vocab.eos_id(),
        bos: Some(vocab.bos_id()),
        window: None,
    };
    let mut out = Vec::new();
    for (i, t) in texts.iter().enumerate() {
        let ids = vocab.encode(t, Unknown::Error).unwrap();
        make_examples(&ids, labelled.then_some(i as u32 % 4), &opts, &mut out);
    }
    out
}

pub fn config(vocab_size: usize, cell: Cell, input: InputMode) -> ModelConfig {
    ModelConfig {
        cell,
        input,
        hidden: 24,
        num_layers: 2,
        dropout: 0.0,
        vocab_size,
        num_labels: None,
        label_dim: 4,
        label_names: Vec::new(),
    }
}

pub fn train_config(max_steps: u64) -> TrainConfig {
    TrainConfig {
        learning_rate: 0.01,
        epochs: None,
        max_steps: Some(max_steps),
        batch_size: 2,
        log_every: 1,
        threads: 1,
        ..TrainConfig::default()
    }
}

pub struct Data {
    pub vocab: Vocab,
    pub train: Vec<Example>,
    pub valid: Vec<Example>,
    pub settings: DataSettings,
    pub checksums: BTreeMap<String, String>,
}

impl Data {
    pub fn new(labelled: bool) -> Data {
        let vocab = vocab();
        let train = examples(&vocab, &TITLES, labelled);
        let valid = examples(&vocab, &TITLES[..2], labelled);
        Data {
            vocab,
            train,
            valid,
            settings: DataSettings {
                columns: vec!["title".to_owned()],
                preset: Some("test".to_owned()),
                ..DataSettings::default()
            },
            checksums: BTreeMap::from([("titles.csv".to_string(), "abc123".to_string())]),
        }
    }

    pub fn borrow(&self) -> TrainData<'_> {
        TrainData {
            train: &self.train,
            valid: &self.valid,
            vocab: &self.vocab,
            settings: &self.settings,
            checksums: &self.checksums,
        }
    }
}
