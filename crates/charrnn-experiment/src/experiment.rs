//! The experiment: vocabulary of the training titles → train with a preset, validating on a
//! seeded held-out part of the training titles → bits per character of the checkpoint that
//! validation chose, on the test titles → samples (greedy, several temperatures, per class for
//! label-conditioned models) → optional sweep of model variants → `report.md` with SVG loss
//! curves, beside the run directory.
//!
//! The options (`options`), the runs (`runs`: train, score, sweep) and the samples
//! (`samples`) have a module each; this one puts them together into the report.
mod options;
mod runs;
mod samples;
#[cfg(test)]
mod tests;

use std::{collections::BTreeMap, fs, path::Path};

use charrnn_data::{ReadOptions, TextReader, read_texts};
use serde::Deserialize;

pub use self::options::{
    GREEDY_PROMPT, Options, Outcome, PROMPTS, SOURCE_FILE, TEMPERATURES, TEST_FILE, TRAIN_FILE,
    VALID_FRACTION,
};
use self::runs::{CommonRun, RUN_DIR, SWEEP_DIR};
pub use self::samples::CLASS_TEMPERATURE;
use crate::error::{ExperimentError, Result};
use crate::report::{self, DataStats, Report, SweepResult, SweepRow};
use crate::runner::{Commands, Runner, s};
use crate::stats::TrainingCorpus;
use crate::sweep::{Budget, split_budget};

fn check_options(opts: &Options) -> Result<()> {
    let name = &opts.name;
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
    {
        return Err(ExperimentError::InvalidOptions(format!(
            "--name {name:?} is not a plain directory name"
        )));
    }
    if opts.samples_per_prompt == 0 {
        return Err(ExperimentError::InvalidOptions(
            "--samples must be at least 1".into(),
        ));
    }
    if !(opts.valid_fraction > 0.0 && opts.valid_fraction < 1.0) {
        return Err(ExperimentError::InvalidOptions(format!(
            "the validation fraction must be between 0 and 1, not {}",
            opts.valid_fraction
        )));
    }
    Ok(())
}

/// Runs the whole experiment with `runner` and writes its report.
pub fn run_experiment(opts: &Options, runner: &mut dyn Runner) -> Result<Outcome> {
    check_options(opts)?;
    let runs = 1 + opts.sweep.as_ref().map_or(0, Vec::len);
    let budget = split_budget(opts.time_budget, opts.max_steps, runs, opts.sweep.is_some())?;
    let say = |msg: &str| {
        if !opts.quiet {
            eprintln!("experiment: {msg}");
        }
    };
    let train_data = opts.data_dir.join(TRAIN_FILE);
    let test_data = opts.data_dir.join(TEST_FILE);
    for file in [&train_data, &test_data] {
        if !file.is_file() {
            return Err(ExperimentError::InvalidOptions(format!(
                "{} does not exist: the data directory must hold AG News as {TRAIN_FILE} and \
                 {TEST_FILE} (`cargo xtask fetch` makes them, or `charrnn prepare` makes each \
                 from AG News's CSV file: `charrnn prepare train.csv {}`)",
                file.display(),
                train_data.display()
            )));
        }
    }
    let exp_dir = opts.out_root.join(&opts.name);
    let run_dir = exp_dir.join(RUN_DIR);
    let earlier = [
        run_dir.clone(),
        exp_dir.join(SWEEP_DIR),
        exp_dir.join(crate::report::REPORT_FILE),
    ];
    if !opts.overwrite && earlier.iter().any(|p| p.exists()) {
        return Err(ExperimentError::InvalidOptions(format!(
            "{} holds an earlier experiment (its model and report): give --overwrite to \
             replace it, or --name another",
            exp_dir.display()
        )));
    }
    fs::create_dir_all(&exp_dir).map_err(|e| ExperimentError::io(&exp_dir, e))?;
    // A previous run is replaced only as `train --overwrite` replaces one: checkpoint by
    // checkpoint, as the new run saves its own, so a run that fails (a mistyped flag, a
    // diverged loss) leaves the previous model whole.
    for old in [run_dir.clone(), exp_dir.join(SWEEP_DIR)] {
        if old.exists() {
            say(&format!(
                "the previous {} is replaced as the new run saves",
                old.display()
            ));
        }
    }

    say("reading the training titles");
    let titles = read_texts(&train_data, &ReadOptions::text("title"))?;
    let corpus = TrainingCorpus::new(titles.iter().map(|r| r.text.as_str()));
    let test_rows = TextReader::open(&test_data, &ReadOptions::text("title"))?.total_rows();

    let mut cli = Commands::new(runner);
    say("building the vocabulary of the training titles");
    let vocab = exp_dir.join("tokenizer.json");
    let title_columns = vec![s("title")];
    cli.vocab_build(&train_data, &title_columns, &vocab)?;
    let shown = cli.vocab_show(&vocab)?;

    let common = CommonRun::new(opts, budget, &train_data, &test_data);
    say(&format!(
        "training preset {} into {}",
        opts.preset,
        run_dir.display()
    ));
    let (main, metrics) = common.train(&mut cli, &run_dir, &vocab, &title_columns, &[])?;
    say("scoring the checkpoint validation chose on the test titles");
    let (test, classification) = common.test(&mut cli, &run_dir)?;

    say("generating samples");
    let (groups, class_note) = samples::draw(&common, &mut cli, &run_dir, &main, &corpus)?;

    let sweep_rows = match &opts.sweep {
        None => None,
        Some(variants) => {
            let mut rows = vec![SweepRow {
                name: format!("preset {}", opts.preset),
                flags: opts.train_args.join(" "),
                run_dir: RUN_DIR.into(),
                outcome: Ok(SweepResult {
                    train: main.clone(),
                    test_bpc: test.bits_per_char,
                    metrics: metrics.clone(),
                }),
            }];
            rows.extend(common.sweep(&mut cli, variants, &exp_dir, &vocab, &say));
            Some(rows)
        }
    };

    let settings = settings(opts, &budget, !main.labels.is_empty(), cli.describe());
    let report = Report {
        name: opts.name.clone(),
        preset: opts.preset.to_string(),
        settings,
        commands: cli.log.clone(),
        data: DataStats {
            train_file: train_data.display().to_string(),
            test_file: test_data.display().to_string(),
            train_rows: u64::try_from(titles.len()).unwrap_or(u64::MAX),
            test_rows,
            vocab_size: shown.size,
            vocab_level: shown.level.clone(),
            title_words: corpus.vocabulary_size(),
            notes: data_notes(&opts.data_dir),
        },
        train: main.clone(),
        metrics,
        test: test.clone(),
        classification,
        samples: groups,
        class_note,
        sweep: sweep_rows,
        sweep_budget_secs: opts.sweep.as_ref().and(budget.total_secs),
        run_dir: RUN_DIR.into(),
    };
    let path = report::write_report(&exp_dir, &report)?;
    Ok(Outcome {
        report: path,
        run_dir,
        test_bpc: test.bits_per_char,
        train: main,
    })
}

fn settings(
    opts: &Options,
    budget: &Budget,
    conditioned: bool,
    runner: String,
) -> Vec<(String, String)> {
    let opt_text = |value: Option<String>| value.unwrap_or_else(|| "–".to_owned());
    vec![
        ("name".into(), opts.name.clone()),
        (
            "max steps".into(),
            opt_text(budget.max_steps.map(|s| s.to_string())),
        ),
        (
            "time budget per run (s)".into(),
            opt_text(budget.per_run_secs.map(|s| format!("{s:.0}"))),
        ),
        (
            "device".into(),
            opts.device.clone().unwrap_or_else(|| "auto".into()),
        ),
        (
            "threads".into(),
            opt_text(opts.threads.map(|t| t.to_string())),
        ),
        ("seed".into(), opts.seed.to_string()),
        (
            "validation".into(),
            format!(
                "{}% of the training titles, held out with the seed",
                opts.valid_fraction * 100.0
            ),
        ),
        ("label-conditioned".into(), conditioned.to_string()),
        ("extra train flags".into(), opts.train_args.join(" ")),
        (
            "samples".into(),
            format!(
                "{} per prompt and temperature, at most {} characters",
                opts.samples_per_prompt, opts.max_len
            ),
        ),
        ("charrnn".into(), runner),
    ]
}

/// What `cargo xtask fetch` warned about the files of `dir` (a mirror's partial copy), from
/// its `SOURCE.json`; nothing when there is no such record.
pub fn data_notes(dir: &Path) -> Vec<String> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Record {
        files: BTreeMap<String, Entry>,
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Entry {
        warnings: Vec<String>,
    }
    let record: Record = fs::read_to_string(dir.join(SOURCE_FILE))
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    record
        .files
        .into_values()
        .flat_map(|entry| entry.warnings)
        .collect()
}
