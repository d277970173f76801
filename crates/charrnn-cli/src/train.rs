//! `charrnn train`: presets and flags → data, vocabulary, model and trainer.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use charrnn_data::{ExampleOptions, Window, holdout_split};
use charrnn_experiment::{Event, Recipe, TrainDone, Validation};
use charrnn_model::{
    CharRnn, DataSettings, InputMode, LrSchedule, ModelConfig, TrainConfig, TrainData, Trainer,
    device_name, parse_device, run_holds_model, set_cpu_threads,
};
use charrnn_vocab::{Vocab, VocabOptions};

use crate::{
    dataset::{Labels, examples, read_records, sha256_file},
    flags::{TextColumns, TrainArgs},
    output::{Output, peak_rss_mib},
    paths,
    progress::TrainProgress,
};

pub fn train(args: &TrainArgs, out: &Output) -> Result<()> {
    let device = parse_device(&args.run.device)?;
    set_cpu_threads(args.run.threads);
    let Recipe {
        mut model,
        mut train,
    } = args.preset.recipe();
    apply_flags(args, &mut model, &mut train)?;
    check_run_dir(args)?;

    let records = read_records(&args.train, &args.text)?;
    if records.is_empty() {
        bail!("{} has no rows to train on", args.train.display());
    }
    let resume_dir = args.resume.as_deref();
    let vocab = match (resume_dir, &args.vocab) {
        (Some(dir), _) => Vocab::load(&dir.join("last").join("tokenizer.json"))
            .with_context(|| format!("cannot resume from {}", dir.display()))?,
        (None, Some(path)) => Vocab::load(path)
            .with_context(|| format!("cannot load the vocabulary {}", path.display()))?,
        (None, None) => Vocab::build(
            records.iter().map(|r| r.text.as_str()),
            &VocabOptions::default(),
        )?,
    };
    let labels = Labels::of(&records, args.text.label_column.as_deref())?;
    let (train_records, valid_records) = match &args.valid {
        Some(path) => (records, read_records(path, &args.text)?),
        None => {
            let (train_idx, valid_idx) =
                holdout_split(records.len(), args.valid_fraction, args.run.seed);
            if valid_idx.is_empty() || train_idx.is_empty() {
                bail!(
                    "--valid-fraction {}: {} holds {} rows, which leaves {} for validation and {} \
                     for training; give --valid FILE or another fraction",
                    args.valid_fraction,
                    args.train.display(),
                    records.len(),
                    valid_idx.len(),
                    train_idx.len()
                );
            }
            let pick = |idx: &[usize]| idx.iter().map(|&i| records[i].clone()).collect::<Vec<_>>();
            (pick(&train_idx), pick(&valid_idx))
        }
    };
    let window = args.window.map(|n| Window {
        num_chars: n,
        stride: args.stride.unwrap_or(n),
    });
    let ex_opts = ExampleOptions {
        eos: vocab.eos_id(),
        bos: Some(vocab.bos_id()),
        window,
    };
    let mut train_examples = examples(&train_records, &vocab, &labels, &ex_opts, "training")?;
    for column in &args.extra_columns {
        let text = TextColumns {
            columns: vec![column.clone()],
            ..args.text.clone()
        };
        let extra = read_records(&args.train, &text)?;
        train_examples.extend(examples(&extra, &vocab, &labels, &ex_opts, column)?);
    }
    let valid_examples = examples(&valid_records, &vocab, &labels, &ex_opts, "validation")?;
    if valid_examples.is_empty() {
        match &args.valid {
            Some(path) => bail!("--valid {} has no rows to validate on", path.display()),
            None => bail!("the held-out validation rows hold no text"),
        }
    }
    let train_chars: usize = train_examples.iter().map(|e| e.target.len()).sum();

    model.vocab_size = vocab.len();
    if labels.is_some() {
        model.num_labels = Some(labels.names.len());
        model.label_names = labels.names.clone();
    }
    train.seed = args.run.seed;
    train.threads = args.run.threads;

    let mut trainer = match resume_dir {
        Some(dir) => {
            if dir != args.out {
                bail!(
                    "--resume {} and --out {} must name the same run directory",
                    dir.display(),
                    args.out.display()
                );
            }
            Trainer::resume(dir, device, Some(train.clone()))?
        }
        None => Trainer::new(
            CharRnn::new(&model, device, args.run.seed)?,
            train.clone(),
            &args.out,
        )?
        .overwrite(args.overwrite),
    };
    let params = trainer.model().num_parameters();
    out.note(format!(
        "training {} ({} layer(s) of {}, {} parameters) on {} on {} examples ({} characters), validating on {}",
        model.cell,
        model.num_layers,
        model.hidden,
        params,
        device_name(device),
        train_examples.len(),
        train_chars,
        valid_examples.len()
    ));

    let settings = DataSettings {
        train: Some(args.train.clone()),
        valid: args.valid.clone(),
        valid_fraction: args.valid.is_none().then_some(args.valid_fraction),
        columns: args.text.columns.clone(),
        extra_columns: args.extra_columns.clone(),
        label_column: args.text.label_column.clone(),
        label_values: labels.values.clone(),
        label_names: labels.names.clone(),
        window: args.window,
        stride: args.stride,
        bos: true,
        preset: Some(args.preset.to_string()),
    };
    let validation = match &args.valid {
        Some(path) => Validation::File { path: path.clone() },
        None => Validation::HeldOut {
            fraction: args.valid_fraction,
            seed: args.run.seed,
            rows: valid_records.len(),
        },
    };
    let mut checksums = BTreeMap::new();
    for path in std::iter::once(&args.train).chain(args.valid.as_ref()) {
        checksums.insert(path.display().to_string(), sha256_file(path)?);
    }
    let data = TrainData {
        train: &train_examples,
        valid: &valid_examples,
        vocab: &vocab,
        settings: &settings,
        checksums: &checksums,
    };
    let mut observer = TrainProgress::new(
        out,
        &args.sample_prompts,
        &args.sample_temperatures,
        trainer.progress().step,
    );
    let summary = trainer.fit(&data, &mut observer);
    observer.finish();
    let summary = summary?;
    let best = trainer
        .metrics()
        .iter()
        .filter_map(|m| m.val_bpc)
        .fold(f64::INFINITY, f64::min);
    let batches_per_epoch = train_examples
        .len()
        .div_ceil(train.batch_size.max(1))
        .max(1);
    let done = Event::Done(TrainDone {
        preset: args.preset.to_string(),
        steps: summary.progress.step,
        epochs: summary.progress.epoch as f64
            + summary.progress.batch_in_epoch as f64 / batches_per_epoch as f64,
        stopped_by: summary.stopped_by,
        max_epochs: train.epochs,
        max_steps: train.max_steps,
        max_seconds: train.max_seconds,
        best_val_bpc: best.is_finite().then_some(best),
        final_train_bpc: summary.last.train_bpc,
        final_val_bpc: summary.last.val_bpc,
        chars_per_sec: summary.progress.chars_seen as f64 / summary.progress.elapsed_secs.max(1e-9),
        elapsed_secs: summary.progress.elapsed_secs,
        train_examples: train_examples.len(),
        valid_examples: valid_examples.len(),
        validation,
        train_chars,
        vocab_size: vocab.len(),
        params,
        device: device_name(device),
        labels: labels.names.clone(),
        run_dir: args.out.clone(),
        peak_rss_mib: peak_rss_mib(),
    });
    out.result(done, || {
        format!(
            "done: {} steps in {:.0} s; best validation {:.3} bits/char; checkpoints in {}",
            summary.progress.step,
            summary.progress.elapsed_secs,
            best,
            args.out.display()
        )
    })
}

/// Refuses, before any data is read, a run directory this training must not write: one that
/// already holds a model (without --resume or --overwrite), a file, or one whose checkpoints
/// are among the inputs.
fn check_run_dir(args: &TrainArgs) -> Result<()> {
    if args.out.exists() && !args.out.is_dir() {
        bail!(
            "--out {} is a file, not a run directory",
            args.out.display()
        );
    }
    if args.resume.is_none() && !args.overwrite && run_holds_model(&args.out) {
        bail!(
            "--out {} already holds a trained model: resume it (--resume {0}), choose another \
             directory, or replace it (--overwrite)",
            args.out.display()
        );
    }
    let written = [
        args.out.join("best"),
        args.out.join("last"),
        args.out.join("metrics.jsonl"),
    ];
    let inputs = [
        ("--train", Some(&args.train)),
        ("--valid", args.valid.as_ref()),
        ("--vocab", args.vocab.as_ref()),
    ];
    for (flag, input) in inputs {
        let Some(input) = input else { continue };
        if written.iter().any(|w| paths::inside(input, w)) {
            bail!(
                "{flag} {} lies inside the run directory's checkpoints, which training replaces: \
                 copy it elsewhere first",
                input.display()
            );
        }
    }
    Ok(())
}

fn apply_flags(args: &TrainArgs, model: &mut ModelConfig, train: &mut TrainConfig) -> Result<()> {
    if let Some(cell) = args.cell {
        model.cell = cell;
    }
    // --input embedding keeps the preset's width (or takes --embed-dim).
    match (args.input, args.embed_dim) {
        (Some(InputMode::OneHot), _) => model.input = InputMode::OneHot,
        (Some(InputMode::Embedding { dim: parsed }), dim) => {
            let preset = match model.input {
                InputMode::Embedding { dim } => dim,
                InputMode::OneHot => parsed,
            };
            model.input = InputMode::Embedding {
                dim: dim.unwrap_or(preset),
            };
        }
        (None, Some(dim)) => {
            if let InputMode::Embedding { .. } = model.input {
                model.input = InputMode::Embedding { dim };
            }
        }
        (None, None) => {}
    }
    if let Some(h) = args.hidden {
        model.hidden = h;
    }
    if let Some(l) = args.layers {
        model.num_layers = l;
    }
    if let Some(d) = args.dropout {
        model.dropout = d;
    }
    if let Some(o) = &args.optimizer {
        train.optimizer = o.clone();
    }
    if let Some(lr) = args.lr {
        train.learning_rate = lr;
    }
    if let Some(gamma) = args.lr_decay {
        train.lr_schedule = LrSchedule::Exponential { gamma };
    }
    if let Some(clip) = args.clip {
        train.clip_grad_norm = (clip > 0.0).then_some(clip);
    }
    train.divergence_factor = (args.divergence_factor > 0.0).then_some(args.divergence_factor);
    if let Some(b) = args.batch_size {
        train.batch_size = b;
    }
    // Any budget flag replaces the preset's budgets, so `--max-steps 20` means 20 steps.
    if args.epochs.is_some() || args.max_steps.is_some() || args.time_budget.is_some() {
        train.epochs = args.epochs;
        train.max_steps = args.max_steps.map(|s| s as u64);
        train.max_seconds = args.time_budget;
    }
    if let Some(order) = args.order {
        train.order = order;
    }
    if let Some(e) = args.eval_every {
        train.eval_every = Some(e as u64);
    }
    Ok(())
}
