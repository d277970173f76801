//! `cargo xtask bench`: charrnn against the PyTorch reference, side by side, in one invocation.
//!
//! On AG News titles, with the same configuration, threads and device on both sides, it runs
//! the `charrnn` binary and `benches/reference/charrnn_reference.py` back to back and tabulates
//! the ratio charrnn / reference of:
//! - training throughput (real target characters per second, padding not counted) for the seed
//!   configuration and two batch-256 configurations, a fixed number of steps each, with no
//!   validation during the timed part;
//! - the time to reach the validation bits per character that the reference's seed recipe
//!   reaches (ours trains the `default` preset and is read from its `metrics.jsonl`);
//! - generation: batched throughput, single-sample latency, and ours batched against the
//!   notebook's re-run-the-prefix loop;
//! - the peak resident memory of each side.
//!
//! The table, with the targets and pass/miss, goes to `target/bench/bench.md` and
//! `bench.json` (with the machine's description) and to stdout.
//!
//! It never links tch and must also run where there is no cargo: `CHARRNN_BIN`, `--data`,
//! `--reference` and `--python` name everything it runs and reads, and when they are given
//! (and `python3` already imports torch 2.11.0) it calls neither cargo nor `setup`.
//!
//! The flags (`options`), the configurations (`spec`), the two sides as subprocesses
//! (`sides`), each row's measurement (`rows`), the machine (`machine`) and the table (`table`)
//! have a module each; this one makes the data present and runs the parts. `--corpus` runs
//! the corpus benchmark (`bench_corpus`), `--serve` the load benchmark of `charrnn serve`
//! (`serve`) and `--dist` the data-parallel one (`dist`) instead.

mod dist;
mod machine;
mod options;
mod rows;
mod serve;
mod sides;
mod spec;
mod table;

use std::{fs, path::Path};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use self::machine::{load_now, machine_now};
pub(crate) use self::options::BenchArgs;
use self::options::{DataFiles, Options, Part, fresh_dir};
use self::rows::{gen_rows, notes, train_common, train_row, ttb_row};
use self::sides::{Sides, prepare_python};
use self::spec::train_specs;
use self::table::{Machine, Table, markdown, write_table};
use crate::{fetch, workspace};

const TRAIN_CSV: &str = "train.csv";
/// The reference script, relative to the workspace root.
const REFERENCE_SCRIPT: &str = "benches/reference/charrnn_reference.py";

/// Makes the data present: fetched from the mirror (a no-op when up to date), or from the
/// network when a file is missing, converted by the `charrnn` binary `bin`. Returns the files
/// and the rows of the training split.
fn ensure_data(
    root: &Path,
    data_dir: &Path,
    mirror: Option<&Path>,
    bin: &Path,
    quiet: bool,
) -> Result<(DataFiles, u64)> {
    let files = DataFiles::new(data_dir, mirror);
    if mirror.is_some() || !files.missing().is_empty() {
        if !quiet {
            eprintln!("bench: fetching AG News");
        }
        // Up-to-date Parquet without its CSV (deleted after a download): fetch again, since
        // the reference reads the CSV.
        let force = mirror.is_none()
            && files.train_parquet.is_file()
            && files.test_parquet.is_file()
            && !(files.train_csv.is_file() && files.test_csv.is_file());
        if force {
            fs::remove_file(data_dir.join(fetch::SOURCE_FILE)).ok();
        }
        fetch::fetch_ag_news(root, data_dir, mirror, bin)?;
    }
    let missing = files.missing();
    if let Some(first) = missing.first() {
        bail!("the AG News file {} is missing", first.display());
    }
    // The rows fetch recorded; else the CSV's lines (AG News has one row per line).
    let rows = match fetch::recorded_rows(data_dir, TRAIN_CSV) {
        Some(rows) => rows,
        None => fs::read(&files.train_csv)
            .with_context(|| format!("cannot read {}", files.train_csv.display()))?
            .iter()
            .filter(|&&b| b == b'\n')
            .count() as u64,
    };
    Ok((files, rows))
}

/// Runs `cargo xtask bench`.
pub(crate) fn run(root: &Path, args: BenchArgs) -> Result<()> {
    let opts = Options::resolve(&args)?;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| workspace::target_dir(root).join("bench"));
    if args.corpus.corpus {
        let bin = workspace::charrnn_bin(root, opts.quiet)?;
        return crate::bench_corpus::run(&args.corpus, &bin, &out_dir, args.threads, opts.seed);
    }
    if args.serve.serve {
        let bin = workspace::charrnn_bin(root, opts.quiet)?;
        return self::serve::run(&args.serve, &bin, &out_dir, args.threads);
    }
    let data_dir = args
        .data
        .clone()
        .unwrap_or_else(|| root.join("data").join("ag_news"));
    let script = args
        .reference
        .clone()
        .unwrap_or_else(|| root.join(REFERENCE_SCRIPT));
    if !script.is_file() {
        bail!(
            "the reference script {} does not exist (--reference PATH)",
            script.display()
        );
    }

    let machine_start = machine_now(&opts);
    let bin = workspace::charrnn_bin(root, opts.quiet)?;
    let (data, train_rows) =
        ensure_data(root, &data_dir, args.mirror.as_deref(), &bin, opts.quiet)?;
    if args.dist.dist {
        // charrnn alone: no reference, no Python.
        let mut sides = Sides {
            bin,
            python: args.python.clone(),
            pythonpath: None,
            script,
            quiet: opts.quiet,
            log: Vec::new(),
        };
        return self::dist::run(&args.dist, &opts, &mut sides, &data, &out_dir);
    }
    let (pythonpath, torch) = prepare_python(root, &args.python)?;
    let mut sides = Sides {
        bin,
        python: args.python.clone(),
        pythonpath,
        script,
        quiet: opts.quiet,
        log: Vec::new(),
    };
    let runs = out_dir.join("runs");
    fs::create_dir_all(&runs).with_context(|| format!("cannot create {}", runs.display()))?;

    let mut rows = Vec::new();
    let mut raw = serde_json::Map::new();
    let mut gen_run = None;
    for part in &opts.parts {
        match part {
            Part::Train => {
                for (spec, &steps) in train_specs().iter().zip(&opts.train_steps) {
                    let (row, run_dir, value) =
                        train_row(&mut sides, &opts, &data, &runs, spec, steps, train_rows)?;
                    if spec.key == "lstm128-b256" {
                        gen_run = Some(run_dir);
                    }
                    raw.insert(format!("train/{}", spec.key), value);
                    rows.push(row);
                }
            }
            Part::Ttb => {
                let (row, value) = ttb_row(&mut sides, &opts, &data, &runs)?;
                raw.insert("ttb".into(), value);
                rows.push(row);
            }
            Part::Gen => {
                let run_dir = match gen_run.take() {
                    Some(dir) => dir,
                    None => {
                        // Only the speed matters: a few steps give a checkpoint of the shape.
                        let spec = &train_specs()[1];
                        sides.say("training a small LSTM 128 checkpoint to generate from");
                        let dir = runs.join("gen-model");
                        fresh_dir(&dir)?;
                        let mut a = train_common(&opts, &data, &dir);
                        a.extend(spec.ours(2));
                        sides.charrnn(&a)?;
                        dir
                    }
                };
                let (gen_rows, value) = gen_rows(&mut sides, &opts, &data, &run_dir)?;
                raw.insert("gen".into(), value);
                rows.extend(gen_rows);
            }
        }
    }
    raw.insert("commands".into(), json!(sides.log));

    let table = Table {
        machine: Machine {
            python_torch: Some(torch),
            load_at_end: load_now(),
            ..machine_start
        },
        rows,
        notes: notes(&opts),
        raw: Value::Object(raw),
    };
    let (md, js) = write_table(&table, &out_dir)?;
    println!("{}", markdown(&table));
    println!("written: {} and {}", md.display(), js.display());
    Ok(())
}
