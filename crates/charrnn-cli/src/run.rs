//! The glue: each subcommand maps its flags onto library calls.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use charrnn_data::{CsvOptions, csv_to_parquet, records_to_parquet};
use charrnn_experiment::{
    Event, HistoryEntry, ModelInfo, Prepared, TokenInfo, VocabBuilt, VocabInfo,
};
use charrnn_model::LrSchedule;
use charrnn_vocab::{Vocab, VocabOptions};

use crate::corpus;
use crate::flags::{Command, PrepareArgs, VocabBuildArgs, VocabCommand};
use crate::output::{Output, stdout_line};
use crate::paths;
use crate::progress::position;

/// Runs every command but `experiment` (which runs the others through this).
pub fn dispatch(command: Command, out: &Output) -> Result<()> {
    match command {
        Command::Prepare(args) => prepare(&args, out),
        Command::Vocab(VocabCommand::Build(args)) => vocab_build(&args, out),
        Command::Vocab(VocabCommand::Show { path }) => vocab_show(&path, out),
        Command::Train(args) => crate::train::train(&args, out),
        Command::Generate(args) => crate::generate::generate(&args, out),
        Command::Eval(args) => crate::generate::eval(&args, out),
        Command::Info { checkpoint } => info(&checkpoint, out),
        Command::Serve(args) => crate::serve::serve(&args, out),
        Command::Experiment(_) => bail!("an experiment cannot run another experiment"),
    }
}

fn prepare(args: &PrepareArgs, out: &Output) -> Result<()> {
    let output = paths::output_file(&args.output, "the output")?;
    paths::refuse_input_as_output(&output, "the output", &[&args.input])?;
    let _clean = paths::temporaries_on_quit(&[&output]);
    let csv = corpus::is_csv(&args.input, &args.text)? && args.input.is_file();
    if csv && (!args.text.columns.is_empty() || args.text.label_column.is_some()) {
        bail!(
            "--column and --label-column do not apply to a CSV file, which prepare converts \
             whole (every column): name the columns when you train"
        );
    }
    let stats = if csv {
        paths::refuse_existing(&args.output, "the output", args.overwrite)?;
        csv_to_parquet(
            &args.input,
            &output,
            &CsvOptions {
                header: corpus::csv_header(&args.input, &args.text, args.header)?,
                encoding: args.text.encoding.unwrap_or_default(),
                delimiter: args.text.delimiter,
                ..CsvOptions::default()
            },
        )?
    } else {
        let source = corpus::open_source(&args.input, &args.text)?;
        let files: Vec<&Path> = source.files().iter().map(|f| f.path.as_path()).collect();
        paths::refuse_input_as_output(&output, "the output", &files)?;
        paths::refuse_existing(&args.output, "the output", args.overwrite)?;
        records_to_parquet(&source, &output)?
    };
    if csv && let Some(warning) = corpus::one_column_warning(&stats.columns, &args.output) {
        eprintln!("warning: {warning}");
    }
    let event = Event::Prepared(Prepared {
        rows: stats.rows,
        columns: stats.columns.clone(),
        output: args.output.clone(),
    });
    out.result(event, || {
        format!(
            "wrote {} rows ({}) to {}",
            stats.rows,
            stats.columns.join(", "),
            args.output.display()
        )
    })
}

fn vocab_build(args: &VocabBuildArgs, out: &Output) -> Result<()> {
    let output = paths::output_file(&args.output, "--output")?;
    // The counts file beside it is checked too, before either is written.
    let counts_file = Vocab::counts_path(&output);
    paths::output_file(&counts_file, "--output's counts file")?;
    if std::fs::symlink_metadata(&counts_file).is_ok_and(|m| m.file_type().is_symlink()) {
        bail!(
            "--output's counts file {} is a symbolic link: remove it or choose another --output",
            counts_file.display()
        );
    }
    let source = corpus::open_source(&args.data, &args.text)?;
    let mut inputs: Vec<&Path> = source.files().iter().map(|f| f.path.as_path()).collect();
    inputs.push(&args.data);
    paths::refuse_input_as_output(&output, "--output", &inputs)?;
    paths::refuse_input_as_output(&counts_file, "--output's counts file", &inputs)?;
    paths::refuse_existing(&args.output, "--output", args.overwrite)?;
    paths::refuse_existing(&counts_file, "--output's counts file", args.overwrite)?;
    let _clean = paths::temporaries_on_quit(&[&output, &counts_file]);
    let opts = VocabOptions {
        level: args.level,
        lowercase: args.lowercase,
        min_freq: args.min_freq,
        max_size: args.max_size,
    };
    let vocab = corpus::build_vocab(&source, &opts, out)?;
    vocab.save(&output)?;
    let counts = vocab.counts().unwrap_or(&[]);
    let unk = counts.get(vocab.unk_id() as usize).copied().unwrap_or(0);
    let total: u64 = counts.iter().sum();
    let event = Event::VocabBuilt(VocabBuilt {
        size: vocab.len(),
        files: source.files().len(),
        format: source.format().name().to_owned(),
        chars: total,
        unk_chars: unk,
        output: args.output.clone(),
    });
    out.result(event, || {
        format!(
            "wrote a vocabulary of {} ids from {} {} file(s) ({total} tokens, {unk} left out as <unk>) to {}",
            vocab.len(),
            source.files().len(),
            source.format(),
            args.output.display()
        )
    })
}

/// A tokenizer.json given directly, or the one inside a checkpoint or run directory.
pub fn vocab_path(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_owned());
    }
    for candidate in [
        path.join("tokenizer.json"),
        path.join("best/tokenizer.json"),
        path.join("last/tokenizer.json"),
    ] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    bail!("{} holds no tokenizer.json", path.display())
}

fn vocab_show(path: &Path, out: &Output) -> Result<()> {
    let file = vocab_path(path)?;
    let vocab = Vocab::load(&file)
        .with_context(|| format!("cannot load the vocabulary {}", file.display()))?;
    let counts = vocab.counts();
    let level = vocab.level();
    if out.machine() {
        let tokens = (0..vocab.len() as u32)
            .map(|id| TokenInfo {
                id,
                token: vocab.token(id).map(str::to_owned),
                count: counts.map(|c| c[id as usize]),
            })
            .collect();
        return out.record(Event::Vocab(VocabInfo {
            size: vocab.len(),
            level: level.to_string(),
            lowercase: vocab.lowercase(),
            tokens,
        }));
    }
    stdout_line(format!(
        "{} ids, {level} level{}",
        vocab.len(),
        if vocab.lowercase() {
            ", lowercased"
        } else {
            ""
        }
    ))?;
    for id in 0..vocab.len() as u32 {
        let token = vocab.token(id).unwrap_or("?");
        let shown = format!("{token:?}");
        match counts {
            Some(c) => stdout_line(format!("{id:>6}  {shown:<12} {}", c[id as usize]))?,
            None => stdout_line(format!("{id:>6}  {shown}"))?,
        }
    }
    Ok(())
}

/// `charrnn info`: the checkpoint is loaded (so its files are checked), then described.
fn info(path: &Path, out: &Output) -> Result<()> {
    let dir = charrnn_model::resolve(path)?;
    let ckpt = charrnn_model::Checkpoint::load(&dir, charrnn_model::tch::Device::Cpu)?;
    let parameters = ckpt.model.num_parameters();
    let c = ckpt.config;
    // A run directory (resolved to its best/ or last/) has a history of checkpoints.
    let history = match dir.as_path() == path {
        true => Vec::new(),
        false => history(path)?,
    };
    let human = || {
        let m = &c.model;
        let mut lines = vec![format!("checkpoint: {}", dir.display())];
        let classes = match m.num_labels {
            None => "no classes".to_owned(),
            Some(_) => format!("classes {}", m.label_names.join(", ")),
        };
        lines.push(format!(
            "model: {} of {} layer(s) x {}, input {}, dropout {}; {parameters} parameters; \
             {} ids ({} level{}); {classes}",
            m.cell,
            m.num_layers,
            m.hidden,
            m.input,
            m.dropout,
            m.vocab_size,
            ckpt.vocab.level(),
            if ckpt.vocab.lowercase() {
                ", lowercased"
            } else {
                ""
            },
        ));
        if let Some(p) = &c.progress {
            // A checkpoint saved between validations (the history) records the last one.
            let val = c
                .metrics
                .as_ref()
                .and_then(|r| r.val_bpc.map(|v| (v, r.step)))
                .map_or("no validation".to_owned(), |(v, step)| {
                    match step == p.step {
                        true => format!("validation {v:.4} bpc"),
                        false => format!("validation {v:.4} bpc at step {step}, before this one"),
                    }
                });
            let when = position(p);
            lines.push(format!(
                "trained: {} steps ({when}), {:.1} s of training, {} characters seen; {val}",
                p.step, p.elapsed_secs, p.chars_seen
            ));
        }
        if let Some(t) = &c.training {
            let schedule = match t.lr_schedule {
                LrSchedule::Constant => "constant".to_owned(),
                LrSchedule::Cosine { final_fraction } => {
                    format!("cosine decay to {}%", final_fraction * 100.0)
                }
                LrSchedule::Exponential { gamma } => format!("x{gamma} per epoch"),
            };
            lines.push(format!(
                "recipe: {} at learning rate {} ({schedule}), batch {}, weight decay {}, clip {}, \
                 precision {}{}",
                t.optimizer,
                t.learning_rate,
                t.batch_size,
                t.weight_decay,
                t.clip_grad_norm
                    .map_or("none".to_owned(), |v| v.to_string()),
                t.precision,
                t.ema
                    .map_or(String::new(), |d| format!(", weight average {d}")),
            ));
            if let Some(from) = &t.init_from {
                lines.push(format!("fine-tuned from: {from}"));
            }
        }
        let d = &c.data;
        if let Some(train) = &d.train {
            let valid = match (&d.valid, d.valid_fraction) {
                (Some(v), _) => format!("validated on {}", v.display()),
                (None, Some(f)) => format!("validated on a held-out {}%", f * 100.0),
                (None, None) => "no validation data".to_owned(),
            };
            let columns: Vec<String> = d.columns.iter().chain(&d.extra_columns).cloned().collect();
            let encoding = match d.encoding.as_deref() {
                Some(e) if e != "utf-8" => format!(", {e}"),
                _ => String::new(),
            };
            // Plain text has no columns: its unit is what it is read by.
            let mut read_as = match (d.format.as_deref(), d.text_unit.as_deref()) {
                (Some("text"), unit) => format!("one document a {}", unit.unwrap_or("file")),
                _ => format!("column(s) {}", columns.join(", ")),
            };
            // How the rows were read, beyond the columns: what a resume and eval read alike.
            if let Some(column) = &d.label_column {
                read_as.push_str(&format!(", label column {column}"));
            }
            if let Some(delimiter) = &d.delimiter {
                read_as.push_str(&format!(", delimiter {delimiter:?}"));
            }
            if d.skip_nulls {
                read_as.push_str(", rows with nulls skipped");
            }
            lines.push(format!(
                "data: {} ({}{encoding}, {read_as}), {valid}{}{}{}",
                train.display(),
                d.format.as_deref().unwrap_or("?"),
                d.window
                    .map_or(String::new(), |w| format!(", windows of {w}")),
                if d.stateful { ", stateful" } else { "" },
                d.preset
                    .as_ref()
                    .map_or(String::new(), |p| format!(", preset {p}")),
            ));
        }
        if !history.is_empty() {
            let steps: Vec<String> = history
                .iter()
                .map(|h| match h.val_bpc {
                    Some(v) => format!("step {} ({v:.4} bpc)", h.step),
                    None => format!("step {}", h.step),
                })
                .collect();
            lines.push(format!(
                "history: {} checkpoint(s) in {}: {}",
                history.len(),
                path.join(charrnn_model::CHECKPOINTS_DIR).display(),
                steps.join(", ")
            ));
        }
        lines.join("\n")
    };
    out.result(
        Event::Info(Box::new(ModelInfo {
            checkpoint: dir.clone(),
            parameters,
            config: c.clone(),
            history: history.clone(),
        })),
        human,
    )
}

/// The history of checkpoints of the run directory `run`, oldest first, each with the
/// validation score of its own step (when the run was validated at that step).
fn history(run: &Path) -> Result<Vec<HistoryEntry>> {
    Ok(charrnn_model::checkpoint_history(run)?
        .into_iter()
        .map(|h| {
            let val_bpc = charrnn_model::CheckpointConfig::read(&h.dir)
                .ok()
                .and_then(|c| c.metrics)
                .filter(|m| m.step == h.step)
                .and_then(|m| m.val_bpc);
            HistoryEntry {
                step: h.step,
                checkpoint: h.dir,
                val_bpc,
            }
        })
        .collect())
}
