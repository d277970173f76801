//! Helpers shared by the integration tests: a tiny corpus, its vocabulary and examples.
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use charrnn_data::{Example, ExampleOptions, make_examples};
use charrnn_model::tch::{Device, Kind};
use charrnn_model::{
    Cell, CharRnn, Checkpoint, DataSettings, InputMode, ModelConfig, Precision, TrainConfig,
    TrainData, TrainSummary, Trainer,
};
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
        // Epochs of a few batches: every epoch end evaluates, as the tests count on.
        epoch_eval_min_steps: 0,
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

/// Trains a new `cfg` model (seeded with `seed`) on `data` for `steps` steps of
/// [`train_config`] in `precision` on `device`, into a new temporary directory: the summary,
/// the trained model and the directory.
pub fn train_run(
    data: &Data,
    cfg: &ModelConfig,
    device: Device,
    seed: u64,
    steps: u64,
    precision: Precision,
) -> (TrainSummary, CharRnn, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let model = CharRnn::new(cfg, device, seed).unwrap();
    let config = TrainConfig {
        precision,
        ..train_config(steps)
    };
    let mut t = Trainer::new(model, config, dir.path()).unwrap();
    let summary = t.fit(&data.borrow(), &mut ()).unwrap();
    (summary, t.into_model().unwrap(), dir)
}

/// Asserts that every parameter of the checkpoint in `run_dir/last` is float32.
pub fn assert_float32_checkpoint(run_dir: &Path) {
    let saved = Checkpoint::load(&run_dir.join("last"), Device::Cpu).unwrap();
    for (name, p) in saved.model.named_parameters() {
        assert_eq!(p.kind(), Kind::Float, "{name}");
    }
}
