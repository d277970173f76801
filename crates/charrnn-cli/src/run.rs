//! The glue: each subcommand maps its flags onto library calls.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use charrnn_data::{CsvOptions, csv_to_parquet, records_to_parquet};
use charrnn_experiment::{Event, Prepared, TokenInfo, VocabBuilt, VocabInfo};
use charrnn_vocab::{Vocab, VocabOptions};

use crate::corpus;
use crate::flags::{Command, PrepareArgs, VocabBuildArgs, VocabCommand};
use crate::output::{Output, stdout_line};
use crate::paths;

/// Runs every command but `experiment` (which runs the others through this).
pub fn dispatch(command: Command, out: &Output) -> Result<()> {
    match command {
        Command::Prepare(args) => prepare(&args, out),
        Command::Vocab(VocabCommand::Build(args)) => vocab_build(&args, out),
        Command::Vocab(VocabCommand::Show { path }) => vocab_show(&path, out),
        Command::Train(args) => crate::train::train(&args, out),
        Command::Generate(args) => crate::generate::generate(&args, out),
        Command::Eval(args) => crate::generate::eval(&args, out),
        Command::Serve(args) => crate::serve::serve(&args, out),
        Command::Experiment(_) => bail!("an experiment cannot run another experiment"),
    }
}

fn prepare(args: &PrepareArgs, out: &Output) -> Result<()> {
    paths::refuse_directory(&args.output, "the output")?;
    paths::refuse_input_as_output(&args.output, "the output", &[&args.input])?;
    let stats = if corpus::is_csv(&args.input, &args.text)? && args.input.is_file() {
        csv_to_parquet(
            &args.input,
            &args.output,
            &CsvOptions {
                header: corpus::csv_header(args.header),
                ..CsvOptions::default()
            },
        )?
    } else {
        let source = corpus::open_source(&args.input, &args.text)?;
        let files: Vec<&Path> = source.files().iter().map(|f| f.path.as_path()).collect();
        paths::refuse_input_as_output(&args.output, "the output", &files)?;
        records_to_parquet(&source, &args.output)?
    };
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
    paths::refuse_directory(&args.output, "--output")?;
    let source = corpus::open_source(&args.data, &args.text)?;
    let mut inputs: Vec<&Path> = source.files().iter().map(|f| f.path.as_path()).collect();
    inputs.push(&args.data);
    paths::refuse_input_as_output(&args.output, "--output", &inputs)?;
    paths::refuse_input_as_output(
        &Vocab::counts_path(&args.output),
        "--output's counts file",
        &inputs,
    )?;
    let opts = VocabOptions {
        level: args.level,
        lowercase: args.lowercase,
        min_freq: args.min_freq,
        max_size: args.max_size,
    };
    let vocab = corpus::build_vocab(&source, &opts, out)?;
    vocab.save(&args.output)?;
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
