//! `charrnn train`: presets and flags → data, vocabulary, model and trainer.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use charrnn_data::{
    Chain, ExampleOptions, Examples, Selection, Store, StoreExamples, Window, split_store,
};
use charrnn_experiment::{Event, Recipe, TrainDone, Validation};
use charrnn_model::{
    CHECKPOINTS_DIR, CharRnn, Checkpoint, CheckpointConfig, DataSettings, InputMode, LrSchedule,
    ModelConfig, ProcessGroup, StopCause, TrainConfig, TrainData, Trainer, cpu_threads,
    device_name, foreign_run_entries, parse_device, resolve, run_holds_model, set_cpu_threads,
};
use charrnn_vocab::{Vocab, VocabOptions};

use crate::{
    corpus::{self, open_source},
    dataset::{Coverage, Labels},
    distributed::Group,
    flags::{TextColumns, TrainArgs},
    interrupt,
    output::{Output, invalid_value, peak_rss_mib},
    paths,
    progress::TrainProgress,
    resume,
};

/// Without `--window`, data with a document longer than this many characters train in windows
/// of [`AUTO_WINDOW`] (as char-rnn and torch-rnn cut any text), not one example a document: a
/// novel would otherwise be one example, one step an epoch.
const MAX_UNWINDOWED: u64 = 1024;

/// The window of data with long documents when `--window` is not given.
const AUTO_WINDOW: usize = 256;

pub fn train(args: &TrainArgs, out: &Output) -> Result<()> {
    let started = std::time::Instant::now();
    let Recipe {
        mut model,
        mut train,
    } = args.preset.recipe();
    // A resume starts from the run's own settings (not the preset's): its flags change only
    // what they name.
    if let Some(dir) = &args.resume {
        if !dir.exists() {
            bail!("--resume {}: no such run directory", dir.display());
        }
        if dir.join("config.json").is_file() {
            let run = dir.parent().filter(|p| !p.as_os_str().is_empty());
            bail!(
                "--resume {} is a checkpoint, not a run: resume its run ({})",
                dir.display(),
                run.map_or("the directory that holds it".to_owned(), |p| p
                    .display()
                    .to_string())
            );
        }
    }
    let saved = match &args.resume {
        Some(dir) => Some(
            CheckpointConfig::read(&dir.join("last"))
                .with_context(|| format!("--resume {}: not a run to resume", dir.display()))?,
        ),
        None => None,
    };
    let filled;
    let args = match (&args.resume, &saved) {
        (Some(dir), Some(saved)) => {
            filled = resume::fill_in(args, dir, saved)?;
            &filled
        }
        _ => args,
    };
    if let Some(saved) = &saved {
        model = saved.model.clone();
        if let Some(t) = &saved.training {
            train = t.clone();
        }
    }
    apply_flags(args, &mut model, &mut train)?;
    if let Some(saved) = &saved {
        refuse_another_shape(&saved.model, &model)?;
    }
    if let Some(dir) = &args.resume
        && !paths::same_file(dir, args.out_dir())
    {
        bail!(
            "--resume {} and --out {} must name the same run directory",
            dir.display(),
            args.out_dir().display()
        );
    }
    let device = parse_device(&args.run.device)?;
    let group = Group::of(args, train.batch_size, device)?;
    // Ranks other than 0 print nothing and write no run directory: rank 0 speaks for all.
    let follower_out;
    let out = match &group {
        Some(g) if g.rendezvous.rank > 0 => {
            follower_out = Output::collecting(true);
            &follower_out
        }
        _ => out,
    };
    // In a group, each rank trains on the GPU its local rank names, as under torchrun.
    let device = match &group {
        Some(g) => {
            let gpus = usize::try_from(charrnn_model::tch::Cuda::device_count()).unwrap_or(0);
            g.rendezvous.device(device, gpus)?
        }
        None => device,
    };
    set_cpu_threads(args.run.threads);
    if args.keep_host_memory {
        charrnn_model::tune_host_memory(charrnn_model::HostMemory::KeepAll);
    }
    check_run_dir(args)?;
    // Fine-tuning: the trained model gives the shape (and, unless --dropout says otherwise,
    // the dropout); the preset and the flags give the training recipe.
    let start = match &args.init_from {
        Some(path) => {
            let start = Checkpoint::load(path, device)
                .with_context(|| format!("--init-from {}", path.display()))?;
            let trained = match (&start.config.progress, &start.config.metrics) {
                (Some(p), Some(m)) => format!(
                    " (trained {} steps; validation {} bpc)",
                    p.step,
                    m.val_bpc.map_or("-".to_owned(), |v| format!("{v:.3}"))
                ),
                _ => String::new(),
            };
            out.note(format!(
                "fine-tuning the model of {}{trained}",
                path.display()
            ));
            let dropout = args.dropout.unwrap_or(start.model.config().dropout);
            model = start.model.config().clone();
            model.dropout = dropout;
            Some(start)
        }
        None => None,
    };
    if let (Some(column), true, None) = (
        args.extra_columns.first(),
        args.text.skip_nulls,
        &args.valid,
    ) {
        bail!(
            "--extra-column {column} with --skip-nulls needs --valid FILE: a row left out of one \
             column cannot be matched with the other's to hold it out of training"
        );
    }

    // Settings are checked before any data is read (the vocabulary size is not known yet).
    let mut probe = model.clone();
    probe.vocab_size = probe.vocab_size.max(8);
    probe.validate()?;
    let mut probe = train.clone();
    probe.stateful = args.window.filter(|_| args.stateful);
    probe.validate()?;
    let train_source = open_source(args.train_path(), &args.text)?;
    // A text label column's classes, and the text columns, are the training data's, for every
    // other input too.
    let text_labels = train_source.options().label_names.clone();
    let text_opts = &TextColumns {
        label_names: text_labels.clone(),
        columns: train_source.options().text_columns.clone(),
        ..args.text.clone()
    };
    let store_dir = args
        .store_dir
        .clone()
        .unwrap_or_else(|| corpus::default_store_dir(args.out_dir()));
    refuse_store_over_inputs(args, &store_dir, &train_source)?;
    if let Some(valid) = &args.valid
        && paths::same_file(valid, args.train_path())
    {
        bail!(
            "--valid {} is the --train data: validation would score the text it trains on \
             (leave --valid out: --valid-fraction holds part of it out)",
            valid.display()
        );
    }
    // Every input opens (files there, columns known) before anything is written.
    let valid_source = match &args.valid {
        Some(valid) => Some(open_source(valid, text_opts)?),
        None => None,
    };
    let extra_sources = args
        .extra_columns
        .iter()
        .map(|column| {
            let text = TextColumns {
                columns: vec![column.clone()],
                ..text_opts.clone()
            };
            open_source(args.train_path(), &text)
        })
        .collect::<Result<Vec<_>>>()?;
    // Rank 0 (or the only process) holds the run directory until training ends; the other
    // ranks of a group write nothing there.
    let _run_lock = match &group {
        Some(g) if g.rendezvous.rank > 0 => None,
        _ => {
            let lock = paths::lock_run_dir(args.out_dir())?;
            // The default store, in the run directory, goes if the data are refused.
            Some(match args.store_dir {
                None => lock.store_made_here(args.out_dir(), &store_dir),
                Some(_) => lock,
            })
        }
    };
    let fingerprint = train_source
        .fingerprint()
        .with_context(|| format!("cannot read {}", args.train_path().display()))?;
    // A resume continues on the data it trained on (content and reading options).
    if let Some(saved) = &saved {
        let key = format!("xxh3-128:{fingerprint:032x}");
        let recorded = saved.data_checksums.values().any(|v| *v == key);
        let d = &saved.data;
        let named = |given: Option<&str>, theirs: &Option<String>| {
            given.is_none_or(|g| theirs.as_deref() == Some(g))
        };
        // The run's file, read as the run read it: then its content is what changed.
        let same_reading = d
            .train
            .as_deref()
            .is_some_and(|p| paths::same_file(p, args.train_path()))
            && args.text.columns == d.columns
            && args.text.label_column == d.label_column
            && named(args.text.format.map(|f| f.name()), &d.format)
            && named(args.text.text_unit.map(|u| u.name()), &d.text_unit);
        if !saved.data_checksums.is_empty() && !recorded {
            if same_reading {
                bail!(
                    "--train {} has changed since this run trained on it: a resume continues on \
                     the same data (a new run can start from this one's model: --init-from)",
                    args.train_path().display()
                );
            }
            bail!(
                "--train {} (with these columns and reading options) is not the data this run \
                 trained on: a resume continues on the same data",
                args.train_path().display()
            );
        }
    }
    let resume_dir = args.resume.as_deref();
    let vocab_opts = VocabOptions {
        min_freq: args.min_freq,
        max_size: args.max_size,
        ..VocabOptions::default()
    };
    // With --init-from, the ids of the model's vocabulary grown by the text's new characters.
    let mut grown_ids = None;
    let (vocab, vocab_how) = match (resume_dir, &args.vocab) {
        _ if let Some(start) = &start => {
            let (vocab, ids, how) = fine_tuning_vocab(
                &start.vocab,
                args,
                &store_dir,
                &train_source,
                fingerprint,
                out,
            )?;
            grown_ids = ids;
            (vocab, how)
        }
        (Some(dir), _) => (
            Vocab::load(&dir.join("last").join("tokenizer.json"))
                .with_context(|| format!("cannot resume from {}", dir.display()))?,
            "from the run".to_owned(),
        ),
        (None, Some(path)) => (
            Vocab::load(path)
                .with_context(|| format!("cannot load the vocabulary {}", path.display()))?,
            "given".to_owned(),
        ),
        (None, None) => {
            let (vocab, reused) = corpus::cached_vocab(
                &store_dir,
                "train",
                &train_source,
                fingerprint,
                &vocab_opts,
                out,
            )?;
            (vocab, if reused { "reused" } else { "built" }.to_owned())
        }
    };
    // Scores are bits per character and samples are joined as characters: a word-level
    // vocabulary (charrnn-vocab builds them for other uses) would be mislabelled throughout.
    if vocab.level() != charrnn_vocab::Level::Char {
        bail!(
            "{} is a {}-level vocabulary: charrnn trains character-level models (build one with \
             `charrnn vocab build`, the default level)",
            args.vocab.as_ref().map_or_else(
                || "the vocabulary".to_owned(),
                |p| format!("--vocab {}", p.display())
            ),
            vocab.level()
        );
    }
    let train_built = corpus::store(
        &store_dir.join("train.store"),
        &train_source,
        fingerprint,
        &vocab,
        out,
        None,
    )?;
    out.note(corpus::describe(
        "training data",
        &train_built,
        &train_source,
    ));
    // A vocabulary not built from this text (--vocab, --init-from --keep-vocab, a resume):
    // its characters that it lacks train as <unk>, which is worth knowing before training.
    if !matches!(vocab_how.as_str(), "built" | "reused")
        && let Some(text) = Coverage::of_store(&train_built.store)
            .outside(&format!("--train {}", args.train_path().display()))
    {
        eprintln!("warning: {text}; they train as <unk>");
    }
    out.note(format!(
        "vocabulary: {} ids ({vocab_how}; min frequency {}, max size {})",
        vocab.len(),
        args.min_freq,
        args.max_size.map_or("none".to_owned(), |m| m.to_string())
    ));
    let labels = Labels::of_store(
        &train_built.store,
        args.text.label_column.as_deref(),
        text_labels.as_deref(),
    )?;
    if let Some(text) = labels.doubtful(
        args.text.label_column.as_deref().unwrap_or_default(),
        train_built.store.docs(),
    ) {
        eprintln!("warning: {text}");
    }
    let label_values = labels.is_some().then_some(labels.values.as_slice());
    let valid_built = match (&args.valid, &valid_source) {
        (Some(path), Some(source)) => {
            let fp = source
                .fingerprint()
                .with_context(|| format!("cannot read {}", path.display()))?;
            let built = corpus::store(
                &store_dir.join("valid.store"),
                source,
                fp,
                &vocab,
                out,
                None,
            )?;
            out.note(corpus::describe("validation data", &built, source));
            // Scores on text the vocabulary does not cover mean little: say so, as eval does.
            let what = format!("--valid {}", path.display());
            if let Some(text) = Coverage::of_store(&built.store).outside(&what) {
                eprintln!(
                    "warning: {text}; they count as <unk> (is it in another encoding or language?)"
                );
            }
            Some((built, fp))
        }
        _ => None,
    };
    let windowed;
    let args = match args.window {
        Some(_) => args,
        None => {
            let longest = (0..train_built.store.docs())
                .map(|d| {
                    let r = train_built.store.doc_range(d);
                    r.end - r.start
                })
                .max()
                .unwrap_or(0);
            if longest > MAX_UNWINDOWED {
                out.note(format!(
                    "documents of up to {longest} characters: training in windows of \
                     {AUTO_WINDOW} (--window N sets another size; --stateful carries the state \
                     across windows)"
                ));
                windowed = TrainArgs {
                    window: Some(AUTO_WINDOW),
                    ..args.clone()
                };
                &windowed
            } else {
                args
            }
        }
    };
    let window = args.window.map(|n| Window {
        num_chars: n,
        stride: args.stride.unwrap_or(n),
    });
    // Stateful training reads whole documents as streams (the window is the unroll length);
    // validation is always scored window by window.
    let train_opts = ExampleOptions {
        eos: vocab.eos_id(),
        bos: Some(vocab.bos_id()),
        window: if args.stateful { None } else { window },
    };
    let valid_opts = ExampleOptions {
        window,
        ..train_opts
    };
    let (train_sel, valid_sel) = match &valid_built {
        Some(_) => (Selection::All, Selection::All),
        None => split_store(&train_built.store, args.valid_fraction(), args.run.seed),
    };
    let mut extra_built = Vec::new();
    for (i, (column, source)) in args.extra_columns.iter().zip(&extra_sources).enumerate() {
        let fp = source.fingerprint()?;
        let built = corpus::store(
            &store_dir.join(format!("train-extra-{i}.store")),
            source,
            fp,
            &vocab,
            out,
            None,
        )?;
        out.note(corpus::describe(
            &format!("extra column {column}"),
            &built,
            source,
        ));
        extra_built.push(built);
    }
    // An extra column's documents are the same rows as the main column's: the rows held out
    // for validation are held out of them too, or validation would score titles whose
    // descriptions were trained on.
    let extra_views = extra_built
        .iter()
        .zip(&args.extra_columns)
        .map(|(b, column)| {
            let sel = extra_selection(&train_sel, &train_built.store, &b.store, column)?;
            Ok(StoreExamples::new(
                &b.store,
                &sel,
                train_opts,
                label_values,
            )?)
        })
        .collect::<Result<Vec<_>>>()?;
    let main_view = StoreExamples::new(&train_built.store, &train_sel, train_opts, label_values)?;
    // The view holds its own list of documents: a corpus of millions needs no second one.
    drop(train_sel);
    let mut parts: Vec<&(dyn Examples + Sync)> = vec![&main_view];
    parts.extend(extra_views.iter().map(|v| v as &(dyn Examples + Sync)));
    // With a label column, each extra column's texts are classes of their own (a description
    // of class World is "World (description)"): the model learns each column's style and is
    // told which one it writes, so titles are scored and generated as titles.
    let classes = u32::try_from(labels.names.len())?;
    let conditioned = labels.is_some() && !extra_views.is_empty();
    let train_examples = match conditioned {
        true => Chain::conditioned(parts, classes),
        false => Chain::new(parts),
    };
    let valid_store = valid_built
        .as_ref()
        .map_or(&train_built.store, |(b, _)| &b.store);
    let valid_examples = StoreExamples::new(valid_store, &valid_sel, valid_opts, label_values)
        .with_context(|| match &args.valid {
            Some(path) => format!(
                "--valid {} (the classes are the training data's)",
                path.display()
            ),
            None => format!("--train {}", args.train_path().display()),
        })?;
    if train_examples.is_empty() {
        bail!("{} has no text to train on", args.train_path().display());
    }
    if valid_examples.is_empty() {
        match &args.valid {
            Some(path) => bail!("--valid {} has no text to validate on", path.display()),
            None => bail!(
                "--valid-fraction {}: {} holds {} documents, which leaves no text for \
                 validation; give --valid FILE or another fraction",
                args.valid_fraction(),
                args.train_path().display(),
                train_built.store.docs()
            ),
        }
    }
    let train_chars: u64 = main_view.positions()
        + extra_views
            .iter()
            .map(StoreExamples::positions)
            .sum::<u64>();

    model.vocab_size = vocab.len();
    // The data decide the classes; a fine-tuned model must have been trained on the same.
    let start_classes = start.as_ref().map(|s| {
        let c = s.model.config();
        (c.num_labels, c.label_names.clone())
    });
    if start.is_some() {
        model.num_labels = None;
        model.label_names.clear();
    }
    if labels.is_some() {
        model.label_names = labels.names.clone();
        if conditioned {
            for column in &args.extra_columns {
                model
                    .label_names
                    .extend(labels.names.iter().map(|name| format!("{name} ({column})")));
            }
            out.note(format!(
                "conditioned on {} classes: the {} of the label column for each of the {} \
                 column(s)",
                model.label_names.len(),
                labels.names.len(),
                1 + args.extra_columns.len()
            ));
        }
        model.num_labels = Some(model.label_names.len());
    }
    if let (Some(from), Some(classes)) = (&args.init_from, start_classes) {
        check_same_classes(
            from,
            &classes,
            &(model.num_labels, model.label_names.clone()),
        )?;
    }
    train.seed = args.run.seed;
    train.threads = args.run.threads;
    train.init_from = args.init_from.as_ref().map(|p| p.display().to_string());
    // (--stateful with --label-column is a usage error: a stream mixes documents.)
    if args.stateful {
        train.stateful = args.window;
    }

    let mut trainer = match resume_dir {
        Some(dir) => {
            let trainer = Trainer::resume(dir, device, Some(train.clone()))?;
            let p = trainer.progress();
            let best = p
                .best_bpc
                .map_or(String::new(), |b| format!("; best so far {b:.4} bpc"));
            out.note(format!(
                "resuming {} at step {} ({}){best}",
                dir.display(),
                p.step,
                crate::progress::position(p)
            ));
            if let Some(before) = saved.as_ref().and_then(|s| s.training.as_ref()) {
                if let Some(note) = rescheduled(before, &train) {
                    out.note(note);
                }
                if before.learning_rate != train.learning_rate {
                    out.note(format!(
                        "--lr {}: the learning rate from here on, not the run's {}",
                        train.learning_rate, before.learning_rate
                    ));
                }
            }
            trainer
        }
        None => {
            let network = match start {
                Some(start) => {
                    let mut network = match &grown_ids {
                        Some(ids) => start.model.with_vocab(ids, vocab.len())?,
                        None => start.model,
                    };
                    network.set_dropout(model.dropout)?;
                    network
                }
                None => CharRnn::new(&model, device, args.run.seed)?,
            };
            if args.overwrite && run_holds_model(args.out_dir()) {
                out.note(replacing(args.out_dir()));
            }
            Trainer::new(network, train.clone(), args.out_dir())?.overwrite(args.overwrite)
        }
    };
    if let Some(g) = &group {
        let rv = &g.rendezvous;
        let timeout = std::time::Duration::from_secs_f64(args.dist_timeout);
        let pg = ProcessGroup::join(rv, device, timeout)?;
        let over = match (device.is_cuda(), pg.nccl()) {
            (false, _) => "Gloo",
            (true, true) => "NCCL",
            (true, false) => "Gloo through host memory (this build has no NCCL)",
        };
        // The low 64 bits of the inputs' fingerprint: ranks must train on the same data.
        trainer.join_group(pg, fingerprint as u64)?;
        out.note(format!(
            "data-parallel: {} rank(s) meeting at {}:{}, each on {} of every batch of {}, \
             gradients summed over {over}",
            rv.world,
            rv.addr,
            rv.port,
            train.batch_size / rv.world,
            train.batch_size
        ));
    }
    let params = trainer.model().num_parameters();
    if args.stateful {
        out.note(format!(
            "stateful: {} parallel streams, the state carried across windows of {}",
            train.batch_size,
            args.window.unwrap_or(0)
        ));
    }
    out.note(format!(
        "training {} ({} layer(s) of {}, {} parameters) on {} on {} examples ({} characters to predict, <eos> included), validating on {}",
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
        train: Some(resume::absolute(args.train_path())),
        valid: args.valid.as_deref().map(resume::absolute),
        valid_fraction: args.valid.is_none().then_some(args.valid_fraction()),
        columns: train_source.options().text_columns.clone(),
        extra_columns: args.extra_columns.clone(),
        label_column: args.text.label_column.clone(),
        label_values: labels.values.clone(),
        label_names: labels.names.clone(),
        label_text: text_labels.is_some(),
        window: args.window,
        stride: args.stride,
        bos: true,
        preset: Some(args.preset.to_string()),
        format: Some(train_source.format().name().to_owned()),
        text_unit: Some(train_source.options().text_unit.name().to_owned()),
        encoding: Some(train_source.options().encoding.name().to_owned()),
        delimiter: args.text.delimiter.map(|d| char::from(d).to_string()),
        stateful: args.stateful,
        skip_nulls: args.text.skip_nulls,
        min_freq: Some(args.min_freq),
        max_size: args.max_size,
    };
    let validation = match &args.valid {
        Some(path) => Validation::File { path: path.clone() },
        None => Validation::HeldOut {
            fraction: args.valid_fraction(),
            seed: args.run.seed,
            rows: valid_examples.len(),
        },
    };
    // Content fingerprints (xxh3-128 of the files' bytes and the reading options).
    let mut checksums = BTreeMap::new();
    checksums.insert(
        args.train_path().display().to_string(),
        format!("xxh3-128:{fingerprint:032x}"),
    );
    if let (Some(path), Some((_, fp))) = (&args.valid, &valid_built) {
        checksums.insert(path.display().to_string(), format!("xxh3-128:{fp:032x}"));
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
    // Ctrl-C stops a single process at the next step, and it saves; the ranks of a group
    // would stop at different steps, so there it ends the processes as before.
    let watch = group.is_none().then(interrupt::watch);
    if let Some(w) = &watch {
        trainer = trainer.interrupt_on(w.flag());
    }
    // Everything before the first optimizer step: reading, vocabulary, store, model.
    let setup_secs = started.elapsed().as_secs_f64();
    let summary = trainer.fit(&data, &mut observer);
    // From here on, Ctrl-C ends the process at once again.
    drop(watch);
    observer.finish();
    let summary = match summary {
        // Nothing to resume: the model the run would have replaced is kept, and said so.
        Err(e @ charrnn_model::ModelError::InterruptedUnsaved(_)) => {
            eprintln!("{e}");
            return Err(interrupt::Interrupted.into());
        }
        summary => summary?,
    };
    let best = trainer
        .metrics()
        .iter()
        .filter_map(|m| m.val_bpc)
        .fold(f64::INFINITY, f64::min);
    let batches_per_epoch = train_examples
        .len()
        .div_ceil(train.batch_size.max(1))
        .max(1);
    let done = Event::Done(Box::new(TrainDone {
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
        train_chars: train_chars as usize,
        vocab_size: vocab.len(),
        params,
        device: device_name(device),
        threads: cpu_threads(),
        labels: labels.names.clone(),
        run_dir: args.out_dir().to_owned(),
        peak_rss_mib: peak_rss_mib(),
        setup_secs,
        train_data: Some(corpus::json(&train_built)),
        valid_data: valid_built.as_ref().map(|(b, _)| corpus::json(b)),
        phases: Some(summary.phases),
    }));
    if let Some(g) = group {
        g.wait()?;
    }
    let interrupted = summary.stopped_by == StopCause::Interrupted;
    out.result(done, || {
        let how = if interrupted {
            format!(
                "interrupted: saved at step {}; continue with `charrnn train --resume {}`",
                summary.progress.step,
                args.out_dir().display()
            )
        } else {
            format!(
                "done: {} steps in {:.0} s",
                summary.progress.step, summary.progress.elapsed_secs
            )
        };
        format!(
            "{how}; best validation {best:.3} bits/char; checkpoints in {}",
            args.out_dir().display()
        )
    })?;
    if interrupted {
        return Err(interrupt::Interrupted.into());
    }
    Ok(())
}

/// The part of an extra column's store to train on: the rows `train_sel` keeps of the main
/// column's store (the two are read from the same rows, one document a row).
fn extra_selection(
    train_sel: &Selection,
    main: &Store,
    extra: &Store,
    column: &str,
) -> Result<Selection> {
    if matches!(train_sel, Selection::All) {
        // Validation comes from --valid FILE (or there is none): every row trains.
        return Ok(Selection::All);
    }
    if extra.docs() != main.docs() {
        bail!(
            "--extra-column {column}: {} documents where --column gives {}; give --valid FILE",
            extra.docs(),
            main.docs()
        );
    }
    Ok(match train_sel {
        Selection::Docs(docs) => Selection::Docs(docs.clone()),
        // A few documents split by tokens: the rows the validation tail reaches are held out.
        Selection::Head(cut) => {
            let first_held = (0..main.docs()).find(|&d| main.doc_range(d).end > *cut);
            Selection::Docs((0..first_held.unwrap_or(main.docs()) as u32).collect())
        }
        Selection::All | Selection::Tail(_) => Selection::All,
    })
}

/// The note for a resume whose budget differs from the run's, under a schedule that spans
/// the budget (cosine): the rate does not go on as before, it is recomputed for the new budget.
fn rescheduled(before: &TrainConfig, now: &TrainConfig) -> Option<String> {
    if !matches!(now.lr_schedule, LrSchedule::Cosine { .. }) {
        return None;
    }
    let budget = |t: &TrainConfig| {
        let mut parts = Vec::new();
        if let Some(e) = t.epochs {
            parts.push(format!("{e} epoch(s)"));
        }
        if let Some(s) = t.max_steps {
            parts.push(format!("{s} steps"));
        }
        if let Some(s) = t.max_seconds {
            parts.push(format!("{s} s"));
        }
        match parts.is_empty() {
            true => "no limit".to_owned(),
            false => parts.join(" or "),
        }
    };
    let (then, now) = (budget(before), budget(now));
    (then != now).then(|| {
        format!(
            "the cosine learning-rate schedule now spans {now}, not the run's {then}: the rate \
             from here on follows the new budget"
        )
    })
}

/// The note for --overwrite over a trained model: what this run replaces, and when (nothing
/// is deleted before its first save, so an interrupt before that leaves the old run whole).
fn replacing(out_dir: &Path) -> String {
    let steps = CheckpointConfig::read(&out_dir.join("last"))
        .ok()
        .and_then(|c| c.progress)
        .map_or(String::new(), |p| format!(" (trained {} steps)", p.step));
    let history = match charrnn_model::checkpoint_history(out_dir).map_or(0, |h| h.len()) {
        0 => String::new(),
        n => format!(" and its {n} history checkpoint(s)"),
    };
    format!(
        "--overwrite: the model in {}{steps}{history} will be replaced at this run's first save",
        out_dir.display()
    )
}

/// Refuses, before any data is read, a run directory this training must not write: one that
/// already holds a model (without --resume or --overwrite), a file, or one whose checkpoints
/// are among the inputs.
fn check_run_dir(args: &TrainArgs) -> Result<()> {
    if args.out_dir().exists() && !args.out_dir().is_dir() {
        bail!(
            "--out {} is a file, not a run directory",
            args.out_dir().display()
        );
    }
    let foreign = foreign_run_entries(args.out_dir());
    if !foreign.is_empty() {
        let listed: Vec<String> = foreign.iter().map(|p| p.display().to_string()).collect();
        let (flag, what_to_do) = match args.resume {
            Some(_) => ("--resume", "move them out of the run directory"),
            None => (
                "--out",
                "move them out of the run directory, or choose another directory",
            ),
        };
        bail!(
            "{flag} {}: {} not charrnn's (not a checkpoint, or not a run's metrics), and \
             training would replace or write beside them: {what_to_do}",
            args.out_dir().display(),
            match listed.len() {
                1 => format!("{} is", listed[0]),
                _ => format!("{} are", listed.join(", ")),
            },
        );
    }
    if args.resume.is_none() && !args.overwrite && run_holds_model(args.out_dir()) {
        bail!(
            "--out {} already holds a trained model: resume it (--resume {0}), choose another \
             directory, or replace it (--overwrite)",
            args.out_dir().display()
        );
    }
    let written = [
        args.out_dir().join("best"),
        args.out_dir().join("last"),
        args.out_dir().join("metrics.jsonl"),
        args.out_dir().join(CHECKPOINTS_DIR),
    ];
    let inputs = [
        ("--train", Some(args.train_path())),
        ("--valid", args.valid.as_deref()),
        ("--vocab", args.vocab.as_deref()),
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
    // A run or a store inside a directory it reads would be read, checkpoints and all, by the
    // next training on it.
    let outputs = [
        ("--out", Some(args.out_dir())),
        ("--store-dir", args.store_dir.as_deref()),
    ];
    for (flag, input) in [
        ("--train", Some(args.train_path())),
        ("--valid", args.valid.as_deref()),
    ] {
        let Some(input) = input.filter(|i| i.is_dir()) else {
            continue;
        };
        for (out_flag, output) in outputs {
            if let Some(output) = output
                && paths::inside(output, input)
            {
                bail!(
                    "{out_flag} {} lies inside {flag} {}: what is written there would be read \
                     as training data next time; put it elsewhere",
                    output.display(),
                    input.display()
                );
            }
        }
    }
    // A checkpoint directory, or a directory inside another run, is no run directory: the
    // other run's next save or resume would replace this one whole.
    let out = resume::absolute(args.out_dir());
    if out.join("config.json").is_file() && args.resume.is_none() {
        bail!(
            "--out {} is a checkpoint directory (it holds config.json), not a run directory: \
             give a new directory",
            args.out_dir().display()
        );
    }
    for (flag, output) in outputs {
        let Some(output) = output else { continue };
        let absolute = resume::absolute(output);
        // (A store in its own run's directory is that run's.)
        if let Some(run) = absolute
            .ancestors()
            .skip(1)
            .find(|a| *a != out && run_holds_model(a))
        {
            bail!(
                "{flag} {} lies inside {}, which holds a trained model whose next training or \
                 resume would replace what is written there: put it elsewhere",
                output.display(),
                run.display()
            );
        }
    }
    if let Some(from) = &args.init_from {
        let checkpoint =
            resolve(from).with_context(|| format!("--init-from {}", from.display()))?;
        if written.iter().any(|w| paths::inside(&checkpoint, w)) {
            bail!(
                "--init-from {} is a checkpoint of --out {}, which this run replaces: give \
                 another --out",
                from.display(),
                args.out_dir().display()
            );
        }
    }
    Ok(())
}

/// The vocabulary of a fine-tuning run: the trained model's, grown (unless --keep-vocab) by the
/// characters of the training text it lacks that are seen at least --min-freq times; with,
/// when it grew, each old id's new id, and what the vocabulary line says of it.
fn fine_tuning_vocab(
    model_vocab: &Vocab,
    args: &TrainArgs,
    store_dir: &std::path::Path,
    source: &charrnn_data::Source,
    fingerprint: u128,
    out: &Output,
) -> Result<(Vocab, Option<Vec<u32>>, String)> {
    let kept = || format!("the --init-from model's {}", model_vocab.len());
    if args.keep_vocab {
        return Ok((model_vocab.clone(), None, kept()));
    }
    let opts = VocabOptions {
        level: model_vocab.level(),
        lowercase: model_vocab.lowercase(),
        min_freq: args.min_freq,
        max_size: None,
    };
    let (counted, _) = corpus::cached_vocab(store_dir, "train", source, fingerprint, &opts, out)?;
    let counts = counted.counts();
    let tokens = counted
        .tokens()
        .iter()
        .enumerate()
        .filter(|&(id, _)| !counted.is_special(id as u32))
        .map(|(id, t)| (t.as_str(), counts.map_or(0, |c| c[id])));
    let (vocab, ids) = model_vocab.extended(tokens)?;
    let added = vocab.len() - model_vocab.len();
    if added == 0 {
        return Ok((vocab, None, kept()));
    }
    let first = model_vocab.len() - 3;
    let shown: Vec<String> = vocab.tokens()[first..first + added.min(10)]
        .iter()
        .map(|t| format!("{t:?}"))
        .collect();
    let how = format!(
        "{}, grown by {added} new character(s): {}{}",
        kept(),
        shown.join(" "),
        if added > 10 { " ..." } else { "" }
    );
    Ok((vocab, Some(ids), how))
}

/// Refuses a resume whose shape flags name another model than the run's (they were ignored).
fn refuse_another_shape(run: &ModelConfig, asked: &ModelConfig) -> Result<()> {
    let differs = [
        ("--cell", run.cell.to_string(), asked.cell.to_string()),
        (
            "--input/--embed-dim",
            run.input.to_string(),
            asked.input.to_string(),
        ),
        ("--hidden", run.hidden.to_string(), asked.hidden.to_string()),
        (
            "--layers",
            run.num_layers.to_string(),
            asked.num_layers.to_string(),
        ),
        (
            "--dropout",
            run.dropout.to_string(),
            asked.dropout.to_string(),
        ),
    ];
    for (flag, theirs, ours) in differs {
        if theirs != ours {
            bail!(
                "{flag} {ours} is not the resumed run's {theirs}: a resume keeps the model's \
                 shape (leave the flag out, or train a new run)"
            );
        }
    }
    Ok(())
}

/// Refuses, before anything is written, a store directory whose files (token stores, the
/// vocabulary built from the corpus and its key) would replace one of the inputs.
fn refuse_store_over_inputs(
    args: &TrainArgs,
    store_dir: &std::path::Path,
    train: &charrnn_data::Source,
) -> Result<()> {
    let mut inputs: Vec<&std::path::Path> =
        train.files().iter().map(|f| f.path.as_path()).collect();
    inputs.extend(args.valid.as_deref());
    inputs.extend(args.vocab.as_deref());
    let mut written: Vec<String> = ["train.store", "valid.store", "train.vocab-key"]
        .map(String::from)
        .to_vec();
    let vocab = store_dir.join("train.tokenizer.json");
    written.push("train.tokenizer.json".into());
    written.push(
        Vocab::counts_path(&vocab)
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
    );
    written.extend((0..args.extra_columns.len()).map(|i| format!("train-extra-{i}.store")));
    for name in written {
        paths::refuse_input_as_output(&store_dir.join(&name), "--store-dir's", &inputs)?;
    }
    Ok(())
}

/// Refuses to fine-tune a model on data of other classes than it was trained on (`model` and
/// `data`: the number of labels and their names).
fn check_same_classes(
    from: &std::path::Path,
    model: &(Option<usize>, Vec<String>),
    data: &(Option<usize>, Vec<String>),
) -> Result<()> {
    let describe = |(n, names): &(Option<usize>, Vec<String>)| match n {
        None => "no classes".to_owned(),
        Some(_) => format!("the classes {}", names.join(", ")),
    };
    if model != data {
        bail!(
            "--init-from {} was trained on {}, but these data have {}: give the --label-column \
             (and --extra-column) it was trained with, on data of the same classes",
            from.display(),
            describe(model),
            describe(data)
        );
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
    if let Some(wd) = args.weight_decay {
        train.weight_decay = wd;
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
    if let Some(gap) = args.min_eval_gap {
        train.epoch_eval_min_steps = gap as u64;
    }
    if let Some(n) = args.checkpoint_every {
        train.checkpoint_every = Some(n);
    }
    if let Some(keep) = args.keep_checkpoints {
        if train.checkpoint_every.is_none() {
            let reason = "this run keeps no history of checkpoints to prune: give \
                          --checkpoint-every STEPS too";
            return Err(
                invalid_value("train", "keep_checkpoints", &keep.to_string(), reason).into(),
            );
        }
        train.keep_checkpoints = keep;
    }
    if let Some(p) = args.patience {
        train.patience = Some(p);
    }
    if let Some(p) = args.precision {
        train.precision = p;
    }
    if let Some(decay) = args.ema {
        train.ema = (decay > 0.0).then_some(decay);
    }
    Ok(())
}
