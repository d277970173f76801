//! Training, checkpoints and exact resume, on a five-title corpus.

use std::fs;
use std::path::Path;

use crate::common::{
    Data, TITLES, assert_float32_checkpoint, config, rng_lock, train_config, train_run,
};
use charrnn_model::tch::{Device, Tensor};
use charrnn_model::{
    Cell, CharRnn, Checkpoint, EpochEnd, EvalRecord, GenerateOptions, InputMode, ModelError,
    Observer, OptimizerConfig, Precision, StepInfo, StopCause, TrainConfig, Trainer, evaluate,
    generate, read_metrics,
};
use charrnn_sampling::{SamplingConfig, StopReason};

fn memoriser(vocab_size: usize, labelled: bool) -> CharRnn {
    let mut cfg = config(vocab_size, Cell::Lstm, InputMode::Embedding { dim: 16 });
    cfg.hidden = 64;
    cfg.num_layers = 1;
    if labelled {
        cfg.num_labels = Some(4);
        cfg.label_names = ["World", "Sports", "Business", "Sci/Tech"]
            .map(String::from)
            .to_vec();
    }
    CharRnn::new(&cfg, Device::Cpu, 1).unwrap()
}

#[derive(Default)]
struct Recorder {
    steps: Vec<StepInfo>,
    evals: Vec<EvalRecord>,
    epochs: Vec<(usize, String)>,
    /// (epoch, step) of the validations inside epochs.
    inside: Vec<(usize, u64)>,
}

impl Observer for Recorder {
    fn on_step(&mut self, info: &StepInfo) {
        self.steps.push(info.clone());
    }
    fn on_eval(&mut self, record: &EvalRecord) {
        self.evals.push(record.clone());
    }
    fn on_epoch_end(&mut self, end: &EpochEnd<'_>) {
        let options = GenerateOptions {
            sampling: SamplingConfig::with_temperature(0.5),
            max_len: 10,
            label: end.model.config().label_id("sports"),
            ..GenerateOptions::default()
        };
        let sample = end.generate(&["te"], &options).unwrap();
        self.epochs.push((end.epoch, sample[0].text.clone()));
    }
    fn on_validation(&mut self, at: &EpochEnd<'_>) {
        assert_eq!(at.record.step, at.step);
        self.inside.push((at.epoch, at.step));
    }
}

/// The loss falls, and a labelled model trained to memorise five titles regenerates each of
/// them greedily from its first four characters.
#[test]
fn memorises_titles_and_regenerates_them_greedily() {
    let mut data = Data::new(true);
    // Six copies of each title: 3 batches of 10 per epoch.
    data.train = (0..6).flat_map(|_| data.train.clone()).collect();
    let dir = tempfile::tempdir().unwrap();
    let config = TrainConfig {
        learning_rate: 0.02,
        batch_size: 10,
        epochs: None,
        max_steps: Some(150),
        eval_every: Some(50),
        // Every epoch end evaluates, short as the epochs are.
        epoch_eval_min_steps: 0,
        log_every: 10,
        threads: 1,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(memoriser(data.vocab.len(), true), config, dir.path()).unwrap();
    let before = evaluate(trainer.model(), &data.train, 8).unwrap();
    let mut rec = Recorder::default();
    let summary = trainer.fit(&data.borrow(), &mut rec).unwrap();
    assert_eq!(summary.stopped_by, StopCause::Steps);
    assert_eq!(summary.progress.step, 150);
    assert_eq!(summary.losses.len(), 15);
    // The time is broken down by phase: the steps and the evaluations took some, and waiting
    // for batches, loss read-backs and steps are parts of the training clock.
    let p = summary.phases;
    assert!(p.steps > 0.0 && p.eval > 0.0, "{p:?}");
    assert!(p.data_wait >= 0.0 && p.readback >= 0.0, "{p:?}");
    assert!(
        p.data_wait + p.steps <= summary.progress.elapsed_secs,
        "{p:?} vs {}",
        summary.progress.elapsed_secs
    );
    let after = evaluate(trainer.model(), &data.train, 8).unwrap();
    assert!(before.bits_per_char > 4.0, "{before:?}");
    assert!(after.bits_per_char < 0.1, "{after:?}");
    let first = summary.losses[0].1;
    let last = summary.losses.last().unwrap().1;
    assert!(last < first / 10.0, "loss went from {first} to {last}");

    for (i, title) in TITLES.iter().enumerate() {
        let options = GenerateOptions {
            sampling: SamplingConfig::greedy(),
            max_len: 60,
            label: Some(i as u32 % 4),
            ..GenerateOptions::default()
        };
        let out = generate(trainer.model(), &data.vocab, &[&title[..4]], &options).unwrap();
        assert_eq!(out[0].text, title[4..], "title {i}");
        assert_eq!(out[0].stop, StopReason::Eos);
    }

    // Observer: every log_every steps, with a growing fraction. 150 steps are 50 epochs of 3
    // batches, each epoch end evaluated (and sampled), plus the eval_every evaluations at steps
    // 50 and 100 (the one at 150 is an epoch end too).
    assert_eq!(rec.steps.len(), 15);
    assert!(
        rec.steps
            .windows(2)
            .all(|w| w[0].fraction_done < w[1].fraction_done)
    );
    assert!((rec.steps.last().unwrap().fraction_done - 1.0).abs() < 1e-12);
    assert_eq!(rec.epochs.len(), 50);
    assert_eq!(rec.evals.len(), 52);
    // metrics.jsonl has one line per evaluation; best/ and last/ load.
    let lines = fs::read_to_string(dir.path().join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 52);
    let record: EvalRecord = serde_json::from_str(lines.lines().last().unwrap()).unwrap();
    assert_eq!(record.step, 150);
    // Every epoch end is marked, also the one at step 150 that eval_every evaluated first;
    // the evaluations at steps 50 and 100 fall inside epochs.
    let records = read_metrics(&dir.path().join("metrics.jsonl")).unwrap();
    assert_eq!(records.iter().filter(|r| r.epoch_end).count(), 50);
    // An epoch end records the epochs done, also when eval_every evaluated it first.
    let ends: Vec<_> = records
        .iter()
        .filter(|r| r.epoch_end)
        .map(|r| r.epoch as u64)
        .collect();
    assert_eq!(ends, (1..=50).collect::<Vec<u64>>());
    let inside: Vec<u64> = records
        .iter()
        .filter(|r| !r.epoch_end)
        .map(|r| r.step)
        .collect();
    assert_eq!(inside, [50, 100]);
    // The validations inside epochs (not the one at step 150, an epoch end) have their hook,
    // in the epoch under way (3 batches an epoch).
    assert_eq!(rec.inside, [(16, 50), (33, 100)]);
    assert!(record.epoch_end);
    assert_eq!(rec.evals.iter().filter(|r| r.epoch_end).count(), 49);
    assert!(record.val_bpc.unwrap() < 0.2 && record.chars_per_sec > 0.0);
    let best = Checkpoint::load(dir.path(), Device::Cpu).unwrap();
    let progress = best.config.progress.unwrap();
    assert!(best.config.metrics.unwrap().best);
    assert_eq!(best.config.data, data.settings);
    assert_eq!(best.config.data_checksums["titles.csv"], "abc123");
    assert!(progress.best_bpc.unwrap() < 0.2);
    assert!(dir.path().join("last/optimizer.safetensors").is_file());
}

/// Same seed (dropout on), same losses; a run stopped after k steps and resumed from `last/`
/// gives exactly the losses of the uninterrupted 2k-step run, across epoch boundaries.
#[test]
fn same_seed_same_losses_and_resume_is_exact() {
    let _lock = rng_lock();
    let data = Data::new(false);
    let make = || {
        let mut cfg = config(
            data.vocab.len(),
            Cell::Lstm,
            InputMode::Embedding { dim: 8 },
        );
        cfg.dropout = 0.3;
        CharRnn::new(&cfg, Device::Cpu, 9).unwrap()
    };
    let config = |steps| TrainConfig {
        order: charrnn_model::BatchOrder::Shuffled,
        lr_schedule: charrnn_model::LrSchedule::Exponential { gamma: 0.8 },
        ..train_config(steps)
    };
    let run = |steps| {
        let dir = tempfile::tempdir().unwrap();
        let mut t = Trainer::new(make(), config(steps), dir.path()).unwrap();
        let s = t.fit(&data.borrow(), &mut ()).unwrap();
        s.losses
    };
    let full = run(10);
    assert_eq!(full.len(), 10);
    assert_eq!(full, run(10), "same seed, different losses");

    let dir = tempfile::tempdir().unwrap();
    let mut first = Trainer::new(make(), config(4), dir.path()).unwrap();
    let mut losses = first.fit(&data.borrow(), &mut ()).unwrap().losses;
    drop(first);
    let mut resumed = Trainer::resume(dir.path(), Device::Cpu, Some(config(10))).unwrap();
    assert_eq!(resumed.progress().step, 4);
    assert_eq!(resumed.progress().epoch, 1);
    assert_eq!(resumed.progress().batch_in_epoch, 1);
    losses.extend(resumed.fit(&data.borrow(), &mut ()).unwrap().losses);
    assert_eq!(losses.len(), full.len());
    for ((sa, a), (sb, b)) in full.iter().zip(&losses) {
        assert_eq!(sa, sb);
        assert!((a - b).abs() < 1e-6, "step {sa}: {a} vs {b}");
    }
    // Resuming with another optimizer is refused.
    let other = TrainConfig {
        optimizer: OptimizerConfig::rmsprop(),
        ..config(12)
    };
    let err = Trainer::resume(dir.path(), Device::Cpu, Some(other)).unwrap_err();
    assert!(matches!(err, ModelError::InvalidTrainConfig(_)), "{err}");
}

/// bf16 mixed precision: the validation bits per character stay within 0.01 of float32's,
/// the losses are not float32's (autocast ran), the checkpoint is float32, and a resumed run
/// is exact (the loss scale is a power of two, so it changes no bit in bfloat16). A GRU, which
/// libtorch runs in bf16 on every CPU (its LSTM only with AVX-512 or AMX: see below).
#[test]
fn mixed_precision_follows_float32_and_resumes_exactly() {
    let _lock = rng_lock();
    let data = Data::new(false);
    let cfg = config(data.vocab.len(), Cell::Gru, InputMode::Embedding { dim: 8 });
    let run = |precision| {
        let (summary, _, dir) = train_run(&data, &cfg, Device::Cpu, 9, 12, precision);
        assert_float32_checkpoint(dir.path());
        summary
    };
    let (fp32, bf16) = (run(Precision::Fp32), run(Precision::Bf16));
    let make = || CharRnn::new(&cfg, Device::Cpu, 9).unwrap();
    let config = |steps, precision| TrainConfig {
        precision,
        ..train_config(steps)
    };
    let (a, b) = (fp32.last.val_bpc.unwrap(), bf16.last.val_bpc.unwrap());
    assert!(
        (a - b).abs() < 0.01,
        "validation bpc {a} (fp32) vs {b} (bf16)"
    );
    assert!(fp32.losses.first().unwrap().1 > fp32.losses.last().unwrap().1 + 0.2);
    assert_ne!(
        fp32.losses, bf16.losses,
        "bf16 changed nothing: autocast did not run"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut first = Trainer::new(make(), config(5, Precision::Bf16), dir.path()).unwrap();
    let mut losses = first.fit(&data.borrow(), &mut ()).unwrap().losses;
    drop(first);
    let mut resumed =
        Trainer::resume(dir.path(), Device::Cpu, Some(config(12, Precision::Bf16))).unwrap();
    losses.extend(resumed.fit(&data.borrow(), &mut ()).unwrap().losses);
    assert_eq!(losses, bf16.losses);
}

/// A bf16 LSTM on a CPU whose oneDNN cannot run it (no AVX-512 or AMX) is refused when the
/// trainer is made, naming the cell and the way out, instead of failing at the first step;
/// where it can, it trains.
#[test]
fn mixed_precision_libtorch_cannot_run_is_refused_up_front() {
    let _lock = rng_lock();
    let data = Data::new(false);
    let cfg = config(
        data.vocab.len(),
        Cell::Lstm,
        InputMode::Embedding { dim: 8 },
    );
    let dir = tempfile::tempdir().unwrap();
    let model = CharRnn::new(&cfg, Device::Cpu, 9).unwrap();
    let config = TrainConfig {
        precision: Precision::Bf16,
        ..train_config(2)
    };
    match Trainer::new(model, config, dir.path()) {
        Ok(mut trainer) => {
            let summary = trainer.fit(&data.borrow(), &mut ()).unwrap();
            assert!(summary.last.val_bpc.unwrap().is_finite());
        }
        Err(err) => {
            let text = err.to_string();
            assert!(matches!(err, ModelError::InvalidTrainConfig(_)), "{text}");
            assert!(
                text.contains("cannot run the lstm on cpu") && text.contains("Precision::Fp32"),
                "{text}"
            );
            assert_eq!(
                std::fs::read_dir(dir.path()).unwrap().count(),
                0,
                "nothing written"
            );
        }
    }
}

/// Weight averaging: validation, `best/` and the model handed over are the average, `last/`
/// the trained weights; a run stopped and resumed gives the uninterrupted run's losses and
/// evaluations exactly; turning averaging on or off on resume is refused.
#[test]
fn weight_averaging_validates_the_average_and_resumes_exactly() {
    let _lock = rng_lock();
    let data = Data::new(false);
    let cfg = config(data.vocab.len(), Cell::Gru, InputMode::Embedding { dim: 8 });
    let make = || CharRnn::new(&cfg, Device::Cpu, 4).unwrap();
    let config = |steps, ema| TrainConfig {
        ema,
        eval_every: Some(4),
        ..train_config(steps)
    };
    let fit = |dir: &Path, ema| {
        let mut t = Trainer::new(make(), config(12, ema), dir).unwrap();
        let summary = t.fit(&data.borrow(), &mut ()).unwrap();
        (summary, t)
    };
    let plain_dir = tempfile::tempdir().unwrap();
    let (plain, _) = fit(plain_dir.path(), None);
    // Epoch-end samples come from the weights just validated, the average.
    struct Rescore<'a>(&'a [charrnn_data::Example], Vec<(f64, f64)>);
    impl Observer for Rescore<'_> {
        fn on_epoch_end(&mut self, end: &EpochEnd<'_>) {
            let now = evaluate(end.model, self.0, 256).unwrap().bits_per_char;
            self.1.push((now, end.record.val_bpc.unwrap()));
        }
    }
    let mut rescore = Rescore(&data.valid, Vec::new());
    let scratch = tempfile::tempdir().unwrap();
    Trainer::new(make(), config(12, Some(0.8)), scratch.path())
        .unwrap()
        .fit(&data.borrow(), &mut rescore)
        .unwrap();
    assert!(!rescore.1.is_empty(), "no epoch ended in 12 steps");
    for (now, validated) in rescore.1 {
        assert!((now - validated).abs() < 1e-9, "{now} vs {validated}");
    }
    let dir = tempfile::tempdir().unwrap();
    let (averaged, trainer) = fit(dir.path(), Some(0.8));
    assert_eq!(plain.losses, averaged.losses, "averaging changed training");
    let val = |s: &charrnn_model::TrainSummary| s.last.val_bpc.unwrap();
    assert_ne!(
        val(&plain),
        val(&averaged),
        "validation did not use the average"
    );

    let load = |name: &str| Checkpoint::load(&dir.path().join(name), Device::Cpu).unwrap();
    let (best, last) = (load("best"), load("last"));
    let best_val = averaged.progress.best_bpc.unwrap();
    let scored = evaluate(&best.model, &data.valid, 256)
        .unwrap()
        .bits_per_char;
    assert!((scored - best_val).abs() < 1e-9, "{scored} vs {best_val}");
    let trained = evaluate(&last.model, &data.valid, 256)
        .unwrap()
        .bits_per_char;
    assert!(
        (trained - val(&plain)).abs() < 1e-9,
        "last/ holds the trained weights: {trained} vs {}",
        val(&plain)
    );
    let handed = trainer.into_model().unwrap();
    let handed = evaluate(&handed, &data.valid, 256).unwrap().bits_per_char;
    assert!((handed - val(&averaged)).abs() < 1e-9);

    let dir = tempfile::tempdir().unwrap();
    let mut first = Trainer::new(make(), config(5, Some(0.8)), dir.path()).unwrap();
    let mut losses = first.fit(&data.borrow(), &mut ()).unwrap().losses;
    drop(first);
    let err = Trainer::resume(dir.path(), Device::Cpu, Some(config(12, None))).unwrap_err();
    assert!(err.to_string().contains("weight averaging"), "{err}");
    let mut resumed =
        Trainer::resume(dir.path(), Device::Cpu, Some(config(12, Some(0.8)))).unwrap();
    let rest = resumed.fit(&data.borrow(), &mut ()).unwrap();
    losses.extend(rest.losses);
    assert_eq!(losses, averaged.losses);
    assert_eq!(rest.last.val_bpc, averaged.last.val_bpc);
}

fn logits_of(model: &CharRnn) -> Tensor {
    let input = Tensor::from_slice(&[3i64, 1, 4, 1, 5, 9, 2, 6]).view([2, 4]);
    model.forward(&input, None, None, false).unwrap().0
}

/// Save → load gives the same logits; the parts of a checkpoint are checked against each
/// other, and every kind of damage is a clear error.
#[test]
fn checkpoints_round_trip_and_damage_is_reported() {
    let data = Data::new(false);
    let dir = tempfile::tempdir().unwrap();
    let mut trainer = Trainer::new(
        CharRnn::new(
            &config(data.vocab.len(), Cell::Gru, InputMode::OneHot),
            Device::Cpu,
            3,
        )
        .unwrap(),
        train_config(3),
        dir.path(),
    )
    .unwrap();
    trainer.fit(&data.borrow(), &mut ()).unwrap();
    let loaded = Checkpoint::load(&dir.path().join("last"), Device::Cpu).unwrap();
    let diff = (logits_of(trainer.model()) - logits_of(&loaded.model))
        .abs()
        .max()
        .double_value(&[]);
    assert_eq!(diff, 0.0);
    assert_eq!(loaded.vocab.len(), data.vocab.len());
    assert_eq!(loaded.config.progress.as_ref().unwrap().step, 3);

    // Checkpoint::save writes a loadable inference checkpoint (no optimizer state).
    let copy = dir.path().join("copy");
    loaded.save(&copy).unwrap();
    assert!(!copy.join("optimizer.safetensors").exists());
    let again = Checkpoint::load(&copy, Device::Cpu).unwrap();
    let diff = (logits_of(&again.model) - logits_of(&loaded.model))
        .abs()
        .max();
    assert_eq!(diff.double_value(&[]), 0.0);
    // Saving over an existing checkpoint replaces it whole, leaving no temporary behind.
    loaded.save(&copy).unwrap();
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");

    let damaged = |name: &str, damage: &dyn Fn(&Path), needle: &str| {
        let ckpt = dir.path().join(name);
        loaded.save(&ckpt).unwrap();
        damage(&ckpt);
        let err = Checkpoint::load(&ckpt, Device::Cpu).unwrap_err();
        assert!(matches!(err, ModelError::Checkpoint { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains(needle), "{name}: {msg:?} lacks {needle:?}");
    };
    let truncate = |p: &Path| {
        let bytes = fs::read(p).unwrap();
        fs::write(p, &bytes[..bytes.len() / 2]).unwrap();
    };
    let edit_config = |p: &Path, f: &dyn Fn(&mut serde_json::Value)| {
        let path = p.join("config.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut v);
        fs::write(&path, v.to_string()).unwrap();
    };
    damaged(
        "truncated",
        &|p| truncate(&p.join("model.safetensors")),
        "model.safetensors does not match",
    );
    damaged(
        "truncated-unchecked",
        &|p| {
            truncate(&p.join("model.safetensors"));
            edit_config(p, &|v| v["files"] = serde_json::json!({}));
        },
        "truncated or corrupt",
    );
    damaged(
        "no-config",
        &|p| fs::remove_file(p.join("config.json")).unwrap(),
        "missing config.json",
    );
    damaged(
        "bad-config",
        &|p| fs::write(p.join("config.json"), "{ not json").unwrap(),
        "not a valid config",
    );
    damaged(
        "other-vocab",
        &|p| {
            let small = charrnn_vocab::Vocab::build(["abc"], &Default::default()).unwrap();
            small.save(&p.join("tokenizer.json")).unwrap();
            edit_config(p, &|v| v["files"] = serde_json::json!({}));
        },
        "tokenizer.json has 7 ids",
    );
    damaged(
        "other-shape",
        &|p| edit_config(p, &|v| v["model"]["hidden"] = serde_json::json!(32)),
        "has shape [72, 24]",
    );
    damaged(
        "other-cell",
        &|p| edit_config(p, &|v| v["model"]["cell"] = serde_json::json!("lstm")),
        "disagree",
    );
    damaged(
        "no-weights",
        &|p| fs::remove_file(p.join("model.safetensors")).unwrap(),
        "missing model.safetensors",
    );
    let err = Checkpoint::load(&dir.path().join("nowhere"), Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("does not exist"), "{err}");
    let err =
        Checkpoint::load(&dir.path().join("last/model.safetensors"), Device::Cpu).unwrap_err();
    assert!(err.to_string().contains("missing config.json"), "{err}");
}

/// A diverging run stops with a clear error and leaves the last good checkpoint untouched.
#[test]
fn nan_loss_stops_training_and_keeps_the_last_good_checkpoint() {
    let data = Data::new(false);
    let dir = tempfile::tempdir().unwrap();
    let sgd = |lr, steps| TrainConfig {
        optimizer: OptimizerConfig::sgd(0.0),
        learning_rate: lr,
        clip_grad_norm: None,
        eval_every: Some(1),
        ..train_config(steps)
    };
    let model = CharRnn::new(
        &config(data.vocab.len(), Cell::Rnn, InputMode::OneHot),
        Device::Cpu,
        2,
    )
    .unwrap();
    let mut t = Trainer::new(model, sgd(0.1, 2), dir.path()).unwrap();
    t.fit(&data.borrow(), &mut ()).unwrap();
    let good = fs::read(dir.path().join("last/model.safetensors")).unwrap();

    let mut t = Trainer::resume(dir.path(), Device::Cpu, Some(sgd(1e300, 10))).unwrap();
    let err = t.fit(&data.borrow(), &mut ()).unwrap_err();
    assert!(matches!(err, ModelError::NonFiniteLoss { .. }), "{err:?}");
    assert!(err.to_string().contains("diverged"), "{err}");
    assert_eq!(
        fs::read(dir.path().join("last/model.safetensors")).unwrap(),
        good
    );
    let last = Checkpoint::load(&dir.path().join("last"), Device::Cpu).unwrap();
    assert_eq!(last.config.progress.unwrap().step, 2);
    assert!(
        evaluate(&last.model, &data.valid, 4)
            .unwrap()
            .nats_per_char
            .is_finite()
    );
}

/// Budgets: epochs with evaluations every N steps and at epoch ends; a time budget.
#[test]
fn budgets_and_evaluation_schedule() {
    let data = Data::new(false);
    let dir = tempfile::tempdir().unwrap();
    let model = || {
        CharRnn::new(
            &config(data.vocab.len(), Cell::Gru, InputMode::Embedding { dim: 4 }),
            Device::Cpu,
            4,
        )
        .unwrap()
    };
    let cfg = TrainConfig {
        epochs: Some(2),
        max_steps: None,
        eval_every: Some(2),
        log_every: 2,
        ..train_config(0)
    };
    let mut rec = Recorder::default();
    let mut t = Trainer::new(model(), cfg, dir.path()).unwrap();
    let s = t.fit(&data.borrow(), &mut rec).unwrap();
    // 5 examples in batches of 2: 3 steps per epoch.
    assert_eq!(s.stopped_by, StopCause::Epochs);
    assert_eq!(s.progress.step, 6);
    assert_eq!((s.progress.epoch, s.progress.batch_in_epoch), (2, 0));
    let steps: Vec<u64> = t.metrics().iter().map(|r| r.step).collect();
    assert_eq!(steps, [2, 3, 4, 6]);
    assert_eq!(rec.epochs.iter().map(|e| e.0).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(
        rec.steps.iter().map(|s| s.step).collect::<Vec<_>>(),
        [2, 4, 6]
    );

    let cfg = TrainConfig {
        epochs: None,
        max_steps: None,
        max_seconds: Some(1e-9),
        ..train_config(0)
    };
    let dir = tempfile::tempdir().unwrap();
    let s = Trainer::new(model(), cfg, dir.path())
        .unwrap()
        .fit(&data.borrow(), &mut ())
        .unwrap();
    assert_eq!(s.stopped_by, StopCause::Time);
    assert_eq!(s.progress.step, 1);

    let err = Trainer::new(
        model(),
        TrainConfig {
            epochs: None,
            ..TrainConfig::default()
        },
        dir.path(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no budget"), "{err}");
}

/// The token store changes nothing numerically: the same documents read from a store train
/// exactly as the examples held in memory (same seed, bucketed order, dropout), so a corpus
/// gives the same bpc through either path.
#[test]
fn training_from_a_store_equals_training_from_memory() {
    use charrnn_data::{
        BuildOptions, ExampleOptions, Format, Selection, Source, SourceOptions, Store,
        StoreExamples, TextUnit,
    };
    let _lock = rng_lock();
    let data = Data::new(false);
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("titles.txt");
    std::fs::write(&text, TITLES.join("\n")).unwrap();
    let opts = SourceOptions {
        format: Some(Format::Text),
        text_unit: TextUnit::Line,
        ..SourceOptions::default()
    };
    let source = Source::open(&text, &opts).unwrap();
    let build = BuildOptions {
        vocab_size: data.vocab.len(),
        unk_id: Some(data.vocab.unk_id()),
    };
    let mut encode = |t: &str, ids: &mut Vec<u32>| {
        data.vocab
            .encode_into(t, charrnn_vocab::Unknown::Error, ids)
            .map_err(|e| e.to_string())
    };
    let path = dir.path().join("titles.store");
    let store = Store::build(&path, 7, &source, &build, &mut encode, &mut |_| {}).unwrap();
    let example_opts = ExampleOptions {
        eos: data.vocab.eos_id(),
        bos: Some(data.vocab.bos_id()),
        window: None,
    };
    let from_store = StoreExamples::new(&store, &Selection::All, example_opts, None).unwrap();

    let run = |train: &(dyn charrnn_data::Examples + Sync)| {
        let mut cfg = config(
            data.vocab.len(),
            Cell::Lstm,
            InputMode::Embedding { dim: 8 },
        );
        cfg.dropout = 0.3;
        let model = CharRnn::new(&cfg, Device::Cpu, 5).unwrap();
        let run_dir = tempfile::tempdir().unwrap();
        let mut t = Trainer::new(model, train_config(12), run_dir.path()).unwrap();
        let mut borrowed = data.borrow();
        borrowed.train = train;
        let s = t.fit(&borrowed, &mut ()).unwrap();
        (s.losses, s.last.val_bpc, s.last.train_bpc)
    };
    let (memory_losses, memory_val, memory_train) = run(&data.train);
    let (store_losses, store_val, store_train) = run(&from_store);
    assert_eq!(memory_losses.len(), 12);
    assert_eq!(store_losses, memory_losses);
    assert!(memory_val.is_some());
    assert_eq!((store_val, store_train), (memory_val, memory_train));
}

/// Decoupled weight decay: one SGD step with decay `w` lands `lr · w · p0` below the same step
/// without it, parameter by parameter (AdamW's order: decay, then the update).
#[test]
fn weight_decay_shrinks_each_parameter_before_the_update() {
    let data = Data::new(false);
    let (lr, w) = (0.1, 0.5);
    let run = |weight_decay: f64| {
        let model = CharRnn::new(
            &config(data.vocab.len(), Cell::Gru, InputMode::Embedding { dim: 8 }),
            Device::Cpu,
            4,
        )
        .unwrap();
        let before: Vec<Tensor> = model.named_parameters().map(|(_, p)| p.copy()).collect();
        let cfg = TrainConfig {
            optimizer: OptimizerConfig::sgd(0.0),
            learning_rate: lr,
            clip_grad_norm: None,
            weight_decay,
            ..train_config(1)
        };
        let dir = tempfile::tempdir().unwrap();
        let mut t = Trainer::new(model, cfg, dir.path()).unwrap();
        t.fit(&data.borrow(), &mut ()).unwrap();
        let after: Vec<Tensor> = t
            .model()
            .named_parameters()
            .map(|(_, p)| p.copy())
            .collect();
        (before, after)
    };
    let (p0, plain) = run(0.0);
    let (_, decayed) = run(w);
    for ((p0, a), b) in p0.iter().zip(&plain).zip(&decayed) {
        let expected = a - p0 * (lr * w);
        let gap = (b - &expected).abs().max().double_value(&[]);
        assert!(gap < 1e-6, "off by {gap}");
    }
    let bad = TrainConfig {
        weight_decay: -0.1,
        ..train_config(1)
    };
    assert!(matches!(
        bad.validate(),
        Err(ModelError::InvalidTrainConfig(_))
    ));
}

/// Early stopping: with a learning rate too small to move any weight, validation never
/// improves on the first evaluation, so `patience` 2 stops two evaluations later; without
/// validation data, patience is refused before anything is written.
#[test]
fn patience_stops_once_validation_stops_improving() {
    let data = Data::new(false);
    let model = || {
        CharRnn::new(
            &config(
                data.vocab.len(),
                Cell::Lstm,
                InputMode::Embedding { dim: 4 },
            ),
            Device::Cpu,
            4,
        )
        .unwrap()
    };
    let cfg = TrainConfig {
        learning_rate: 1e-30,
        epochs: Some(100),
        max_steps: None,
        eval_every: Some(2),
        patience: Some(2),
        ..train_config(0)
    };
    let dir = tempfile::tempdir().unwrap();
    let mut t = Trainer::new(model(), cfg.clone(), dir.path()).unwrap();
    let s = t.fit(&data.borrow(), &mut ()).unwrap();
    assert_eq!(s.stopped_by, StopCause::Patience);
    // Evaluations at step 2, at the first epoch's end (step 3) and at step 4.
    let steps: Vec<u64> = t.metrics().iter().map(|r| r.step).collect();
    assert_eq!(steps, [2, 3, 4]);
    assert_eq!(s.progress.step, 4);

    let mut no_valid = data.borrow();
    let empty: Vec<charrnn_data::Example> = Vec::new();
    no_valid.valid = &empty;
    let dir = tempfile::tempdir().unwrap();
    let err = Trainer::new(model(), cfg, dir.path())
        .unwrap()
        .fit(&no_valid, &mut ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("validation"), "{err}");
    assert!(!charrnn_model::run_holds_model(dir.path()));
}

/// An interrupt stops a new run after its first step and saves it; a new run replacing a
/// trained model (`overwrite`) that has saved nothing yet saves nothing, keeping that model.
#[test]
fn an_interrupt_saves_a_new_run_but_never_replaces_a_model_with_nothing() {
    let data = Data::new(false);
    let cfg = config(
        data.vocab.len(),
        Cell::Lstm,
        InputMode::Embedding { dim: 8 },
    );
    let raised = || std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (_, _, dir) = train_run(&data, &cfg, Device::Cpu, 9, 4, Precision::Fp32);
    let weights = |d: &Path| fs::read(d.join("best/model.safetensors")).unwrap();
    let before = weights(dir.path());
    let again = |step_budget| {
        let model = CharRnn::new(&cfg, Device::Cpu, 10).unwrap();
        Trainer::new(model, train_config(step_budget), dir.path())
            .unwrap()
            .overwrite(true)
            .interrupt_on(raised())
            .fit(&data.borrow(), &mut ())
    };
    let err = again(100).unwrap_err();
    assert!(matches!(err, ModelError::InterruptedUnsaved(_)), "{err:?}");
    assert_eq!(weights(dir.path()), before, "the trained model is kept");
    // A new directory: one step, then the run is validated and saved.
    let fresh = tempfile::tempdir().unwrap();
    let model = CharRnn::new(&cfg, Device::Cpu, 10).unwrap();
    let summary = Trainer::new(model, train_config(100), fresh.path())
        .unwrap()
        .interrupt_on(raised())
        .fit(&data.borrow(), &mut ())
        .unwrap();
    assert_eq!(summary.stopped_by, StopCause::Interrupted);
    assert_eq!(summary.progress.step, 1);
    assert!(fresh.path().join("last/config.json").is_file());
}

/// An evaluation on an epoch's last step that is the best so far writes `best/` before the
/// epoch ends; the epoch's end records the epochs done in `best/` as in `last/`, so that the
/// two checkpoints of one step describe it alike.
#[test]
fn best_saved_on_an_epochs_last_step_records_the_epoch_done() {
    // Three batches an epoch: the evaluations at steps 3 and 6 fall on epochs' last steps.
    let recipe = TrainConfig {
        eval_every: Some(3),
        ..train_config(6)
    };
    let (data, dir, mut trainer) = small_run(recipe);
    trainer.fit(&data.borrow(), &mut ()).unwrap();
    let best = Checkpoint::load(&dir.path().join("best"), Device::Cpu).unwrap();
    let progress = best.config.progress.clone().unwrap();
    let record = best.config.metrics.clone().unwrap();
    assert!([3, 6].contains(&progress.step), "{progress:?}");
    assert_eq!(progress.batch_in_epoch, 0, "{progress:?}");
    assert_eq!(progress.epoch as u64, progress.step / 3, "{progress:?}");
    assert_eq!(record.epoch, progress.epoch);
    assert!(record.epoch_end);
}

/// Epochs of three batches with `epoch_eval_min_steps` 5: an epoch end evaluates (and calls
/// `on_epoch_end`) only when 5 steps passed since the last evaluation, so a small text is not
/// validated and written every few steps; the last step is always evaluated.
#[test]
fn short_epochs_end_without_an_evaluation_until_enough_steps_passed() {
    struct Ends(Vec<u64>);
    impl Observer for Ends {
        fn on_epoch_end(&mut self, end: &EpochEnd<'_>) {
            self.0.push(end.step);
        }
    }
    let recipe = TrainConfig {
        epoch_eval_min_steps: 5,
        ..train_config(13)
    };
    let (data, dir, mut trainer) = small_run(recipe);
    let mut ends = Ends(Vec::new());
    trainer.fit(&data.borrow(), &mut ends).unwrap();
    // Epoch ends at 3, 6, 9 and 12: 6 is the first 5 steps after the start, 12 the first 5
    // after 6; 13 is the run's end.
    assert_eq!(ends.0, [6, 12]);
    let records = read_metrics(&dir.path().join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = records.iter().map(|r| r.step).collect();
    assert_eq!(steps, [6, 12, 13]);
    // The training loss of an evaluation covers every step since the last one.
    assert!(records.iter().all(|r| r.train_bpc.is_some()));
}

/// The tests' data (three batches an epoch) and a small LSTM's trainer with `recipe`, in a
/// run directory of its own.
fn small_run(recipe: TrainConfig) -> (Data, tempfile::TempDir, Trainer) {
    let data = Data::new(false);
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        data.vocab.len(),
        Cell::Lstm,
        InputMode::Embedding { dim: 8 },
    );
    let model = CharRnn::new(&cfg, Device::Cpu, 5).unwrap();
    let trainer = Trainer::new(model, recipe, dir.path()).unwrap();
    (data, dir, trainer)
}
