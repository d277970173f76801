//! The crate as an outside caller uses it: ids checked at the public tensor boundary,
//! libtorch's errors in one line, structured prompt errors, the crate example's budget, and
//! errors that name the library's calls rather than the command line's flags.

use charrnn_data::{DataError, ExampleOptions, Examples, Source, SourceOptions, make_examples};
use charrnn_model::tch::{Device, Tensor};
use charrnn_model::{
    Cell, CharRnn, DataSettings, GenerateOptions, InputMode, ModelError, StopCause, TrainConfig,
    TrainData, Trainer, generate,
};
use charrnn_sampling::SamplingConfig;
use charrnn_vocab::{Unknown, Vocab, VocabError, VocabOptions};

use crate::common::{Data, config, train_config, vocab};

fn invalid_input_message(result: Result<impl std::fmt::Debug, ModelError>) -> String {
    match result {
        Err(ModelError::InvalidInput(m)) => m,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

/// `CharRnn::forward` refuses ids and labels outside the model's ranges before libtorch sees
/// them (one line, `InvalidInput`), whatever the input layer.
#[test]
fn forward_refuses_ids_and_labels_outside_the_model() {
    let vocab = vocab();
    let v = vocab.len() as i64;
    for input in [InputMode::Embedding { dim: 8 }, InputMode::OneHot] {
        let model = CharRnn::new(&config(vocab.len(), Cell::Lstm, input), Device::Cpu, 1).unwrap();
        for bad in [v, -1, i64::MAX, i64::MIN] {
            let ids = Tensor::from_slice(&[1i64, 2, bad, 3]).view([2, 2]);
            let msg = invalid_input_message(model.forward(&ids, None, None, false));
            assert!(
                msg.contains(&bad.to_string()) && msg.contains(&format!("0..{v}")),
                "{msg}"
            );
            assert!(!msg.contains('\n'), "{msg}");
        }
        let last = Tensor::from_slice(&[1i64, v - 1]).view([1, 2]);
        assert!(model.forward(&last, None, None, false).is_ok());
    }

    let mut cfg = config(vocab.len(), Cell::Gru, InputMode::OneHot);
    cfg.num_labels = Some(4);
    let labelled = CharRnn::new(&cfg, Device::Cpu, 1).unwrap();
    let ids = Tensor::from_slice(&[1i64, 2, 3, 4]).view([2, 2]);
    for bad in [4i64, -1] {
        let labels = Tensor::from_slice(&[0i64, bad]);
        let msg = invalid_input_message(labelled.forward(&ids, Some(&labels), None, false));
        assert!(msg.contains("label") && msg.contains("0..4"), "{msg}");
    }
    let int32 = Tensor::from_slice(&[0i32, 1]);
    let msg = invalid_input_message(labelled.forward(&ids, Some(&int32), None, false));
    assert!(msg.contains("int64"), "{msg}");
    let labels = Tensor::from_slice(&[0i64, 3]);
    assert!(labelled.forward(&ids, Some(&labels), None, false).is_ok());
}

/// `Trainer::train_step` checks a caller's batch on the host (ids, targets, labels, shape)
/// and its learning rate, and a refused step changes nothing.
#[test]
fn train_step_refuses_bad_batches_and_learning_rates() {
    let data = Data::new(true);
    let v = data.vocab.len() as i64;
    let mut cfg = config(
        data.vocab.len(),
        Cell::Lstm,
        InputMode::Embedding { dim: 8 },
    );
    cfg.num_labels = Some(4);
    let model = CharRnn::new(&cfg, Device::Cpu, 5).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut trainer = Trainer::new(model, train_config(10), dir.path().join("run")).unwrap();
    let good = data.train.collate(&[0, 1]);

    let mut bad_input = good.clone();
    bad_input.input[3] = v;
    let mut negative = good.clone();
    negative.input[0] = -1;
    let mut bad_target = good.clone();
    bad_target.target[1] = v + 7;
    let mut bad_label = good.clone();
    bad_label.labels = Some(vec![0, 4]);
    let mut no_label = good.clone();
    no_label.labels = None;
    let mut short = good.clone();
    short.input.pop();
    for (batch, words) in [
        (&bad_input, format!("input id {v}")),
        (&negative, "input id -1".to_owned()),
        (&bad_target, format!("target id {}", v + 7)),
        (&bad_label, "label 4".to_owned()),
        (&no_label, "none".to_owned()),
        (&short, "input".to_owned()),
    ] {
        let msg = invalid_input_message(trainer.train_step(batch, 0.01));
        assert!(msg.contains(&words), "{words}: {msg}");
    }
    for lr in [f64::NAN, f64::INFINITY, -0.5] {
        let msg = invalid_input_message(trainer.train_step(&good, lr));
        assert!(msg.contains("learning rate"), "{msg}");
    }
    assert_eq!(trainer.progress().step, 0, "a refused step is not a step");
    trainer.train_step(&good, 0.01).unwrap();
    trainer.train_step(&good, 0.0).unwrap();
    assert_eq!(trainer.progress().step, 2);
}

/// libtorch's errors are one line (its message, without the C++ backtrace); the whole text
/// stays reachable.
#[test]
fn a_libtorch_error_is_one_line() {
    let vocab = vocab();
    let model = CharRnn::new(
        &config(vocab.len(), Cell::Lstm, InputMode::OneHot),
        Device::Cpu,
        1,
    )
    .unwrap();
    // A state of the right cell and batch but another hidden size: only libtorch knows.
    let mut other = config(vocab.len(), Cell::Lstm, InputMode::OneHot);
    other.hidden = 7;
    let state = CharRnn::new(&other, Device::Cpu, 1)
        .unwrap()
        .zero_state(2)
        .unwrap();
    let ids = Tensor::from_slice(&[1i64, 2, 3, 4]).view([2, 2]);
    let err = model.forward(&ids, None, Some(&state), false).unwrap_err();
    assert!(matches!(err, ModelError::Torch(_)), "{err:?}");
    let line = err.to_string();
    assert!(line.starts_with("libtorch: ") && line.len() > 12, "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(!line.contains("Exception raised from"), "{line}");
    let full = err.full_text();
    assert!(full.starts_with(&line), "{full}");

    // Any TchError, the backtrace lines libtorch appends included.
    let raw = charrnn_model::tch::TchError::Torch(
        "index out of range in self\nException raised from operator() at x.cpp:1\n\
         frame #0: c10::Error::Error() + 0x1"
            .into(),
    );
    let err = ModelError::from(raw);
    assert_eq!(
        err.to_string(),
        "libtorch: Internal torch error: index out of range in self"
    );
    assert!(err.full_text().contains("frame #0"));
    assert!(format!("{err:?}").contains("frame #0"));
}

/// A prompt the vocabulary cannot encode is `ModelError::Prompt`, which keeps the vocabulary's
/// error with each unknown character's position, and reads as before.
#[test]
fn an_unknown_prompt_character_keeps_the_vocabulary_error() {
    let vocab = vocab();
    let model = CharRnn::new(
        &config(vocab.len(), Cell::Rnn, InputMode::OneHot),
        Device::Cpu,
        1,
    )
    .unwrap();
    let options = GenerateOptions {
        sampling: SamplingConfig::greedy(),
        max_len: 3,
        ..GenerateOptions::default()
    };
    let err = generate(&model, &vocab, &["ok", "héllo?"], &options).unwrap_err();
    let text = err.to_string();
    match err {
        ModelError::Prompt {
            index,
            prompt,
            source: VocabError::UnknownTokens { unknown },
        } => {
            assert_eq!(index, 1);
            assert_eq!(prompt, "héllo?");
            assert_eq!(unknown, [(1, "é".to_owned()), (5, "?".to_owned())]);
        }
        other => panic!("expected ModelError::Prompt, got {other:?}"),
    }
    assert!(
        text.starts_with("invalid input: prompt 1 (\"héllo?\"): unknown characters 'é'"),
        "{text}"
    );
    let source =
        std::error::Error::source(&generate(&model, &vocab, &["?"], &options).unwrap_err())
            .map(ToString::to_string);
    assert!(source.is_some_and(|s| s.contains("'?'")));
}

/// The crate example (lib.rs) as written: a budget of 200 steps over the default
/// configuration, with its epochs cleared, trains 200 steps on its two titles.
#[test]
fn the_crate_example_trains_its_200_steps() {
    let titles = ["Stocks rally as oil falls", "Team wins the cup final"];
    let vocab = Vocab::build(titles, &VocabOptions::default()).unwrap();
    let opts = ExampleOptions {
        eos: vocab.eos_id(),
        bos: Some(vocab.bos_id()),
        window: None,
    };
    let mut examples = Vec::new();
    for t in titles {
        make_examples(
            &vocab.encode(t, Unknown::Error).unwrap(),
            None,
            &opts,
            &mut examples,
        );
    }
    // A smaller network than the example's, for the test's time; the budget is its own.
    let model = CharRnn::new(
        &config(vocab.len(), Cell::Lstm, InputMode::Embedding { dim: 8 }),
        Device::Cpu,
        42,
    )
    .unwrap();
    let config = TrainConfig {
        max_steps: Some(200),
        epochs: None,
        ..TrainConfig::default()
    };
    assert_eq!(config, TrainConfig::for_steps(200));
    let dir = tempfile::tempdir().unwrap();
    let mut trainer = Trainer::new(model, config, dir.path().join("demo")).unwrap();
    let settings = DataSettings::of_examples(&opts);
    let data = TrainData::new(&examples, &examples, &vocab).with_settings(&settings);
    let summary = trainer.fit(&data, &mut ()).unwrap();
    assert_eq!(summary.stopped_by, StopCause::Steps);
    assert_eq!(summary.progress.step, 200);
    // The checkpoint records how the examples were made.
    let saved = charrnn_model::CheckpointConfig::read(&dir.path().join("demo/best")).unwrap();
    assert_eq!((saved.data.bos, saved.data.window), (true, None));
    let windows = ExampleOptions {
        bos: None,
        window: Some(charrnn_data::Window {
            num_chars: 8,
            stride: 4,
        }),
        ..opts
    };
    let recorded = DataSettings::of_examples(&windows);
    assert_eq!(
        (recorded.bos, recorded.window, recorded.stride),
        (false, Some(8), Some(4))
    );
    assert!(
        TrainData::new(&examples, &examples, &vocab)
            .checksums
            .is_empty()
    );

    // What the example's budget did before: the default's 10 epochs came first.
    let trap = TrainConfig {
        max_steps: Some(200),
        ..TrainConfig::default()
    };
    assert_eq!(trap.epochs, Some(10));
    let epochs = TrainConfig::for_epochs(3);
    assert_eq!(
        (epochs.epochs, epochs.max_steps, epochs.max_seconds),
        (Some(3), None, None)
    );
}

/// A run directory that is a file (or has a file above it) is named as such by
/// `Trainer::new`, not reported as `File exists (os error 17)` later.
#[test]
fn a_run_directory_that_is_a_file_is_named_so() {
    let data = Data::new(false);
    let cfg = config(data.vocab.len(), Cell::Gru, InputMode::OneHot);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("afile");
    std::fs::write(&file, "not a run").unwrap();
    let new = |path: std::path::PathBuf| {
        let model = CharRnn::new(&cfg, Device::Cpu, 1).unwrap();
        Trainer::new(model, train_config(2), path)
    };
    let err = new(file.clone()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::Io { .. }), "{err:?}");
    assert!(
        msg.contains("afile") && msg.contains("is a file, not a directory"),
        "{msg}"
    );
    assert!(!msg.contains("os error"), "{msg}");
    let err = new(file.join("run")).unwrap_err().to_string();
    assert!(
        err.contains("afile: a file stands where a directory"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a run");
}

/// Model errors speak of the library's calls, not of the command line's flags.
#[test]
fn errors_name_the_library_calls_not_cli_flags() {
    let data = Data::new(false);
    let cfg = config(data.vocab.len(), Cell::Gru, InputMode::OneHot);
    let dir = tempfile::tempdir().unwrap();
    let model = CharRnn::new(&cfg, Device::Cpu, 1).unwrap();
    Trainer::new(model, train_config(1), dir.path())
        .unwrap()
        .fit(&data.borrow(), &mut ())
        .unwrap();
    let model = CharRnn::new(&cfg, Device::Cpu, 2).unwrap();
    let err = Trainer::new(model, train_config(1), dir.path())
        .unwrap()
        .fit(&data.borrow(), &mut ())
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::RunExists(_)), "{err:?}");
    assert!(
        msg.contains("Trainer::resume") && msg.contains("Trainer::overwrite(true)"),
        "{msg}"
    );
    let diverged = ModelError::Diverged {
        what: "training loss",
        value: 9.0,
        bound: 8.0,
        step: 1,
        epoch: 0,
    };
    let device = charrnn_model::parse_device("cuda:999").unwrap_err();
    for msg in [msg, diverged.to_string(), device.to_string()] {
        assert!(!msg.contains("--"), "{msg}");
    }
}

/// `?` takes a data error into a model error.
#[test]
fn data_errors_convert() {
    fn open(path: &std::path::Path) -> charrnn_model::Result<Source> {
        Ok(Source::open(path, &SourceOptions::default())?)
    }
    let dir = tempfile::tempdir().unwrap();
    let err = open(&dir.path().join("missing.txt")).unwrap_err();
    assert!(matches!(err, ModelError::Data(_)), "{err:?}");
    assert!(err.to_string().contains("missing.txt"), "{err}");
    assert!(matches!(
        ModelError::from(DataError::NoRows {
            path: "x.csv".into()
        }),
        ModelError::Data(DataError::NoRows { .. })
    ));
}
