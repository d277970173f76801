//! `cargo xtask experiment`: the whole job from a fresh clone, in one command.
//!
//! setup (libtorch) → fetch AG News (when the Parquet files are missing, or from `--mirror`) →
//! build the `charrnn` binary (or take `CHARRNN_BIN`) → vocabulary of the training titles →
//! train with a preset, validating on the test titles → bits per character on the test titles
//! → samples (greedy, five temperatures, per class for label-conditioned models) → optional
//! sweep of model variants → `target/experiments/NAME/report.md` with SVG loss curves and the
//! run directory beside it.
//!
//! Everything that needs a tensor happens in a `charrnn` subprocess driven through its JSON
//! output; this module only reads Parquet (the training titles, for the sample statistics).

use std::{
    collections::BTreeMap,
    env,
    ffi::OsString,
    fs,
    io::{Read, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
};

use anyhow::{Context, Result, bail};
use charrnn_data::{ReadOptions, TextReader, read_texts};
use clap::Args;
use serde_json::Value;

use crate::{
    experiment_metrics::{SampleText, TrainingCorpus, sample_stats},
    fetch, project_root,
    report::{
        self, DataStats, EvalResult, MetricRow, Report, Sample, SampleGroup, SweepResult, SweepRow,
        TrainSummary,
    },
};

/// The environment variable naming an existing `charrnn` binary to use instead of building one.
pub(crate) const BIN_ENV: &str = "CHARRNN_BIN";
/// The prompts of the report's temperature samples.
pub(crate) const PROMPTS: [&str; 5] = [
    "Today ",
    "On Sunday ",
    "Moscow, ",
    "President ",
    "Little red riding hood ",
];
/// The report's sampling temperatures.
pub(crate) const TEMPERATURES: [f64; 5] = [0.3, 0.8, 1.0, 1.3, 1.8];
/// The prompt of the greedy sample.
pub(crate) const GREEDY_PROMPT: &str = "Today ";
/// AG News classes, in label order (1..=4).
pub(crate) const CLASSES: [&str; 4] = ["World", "Sports", "Business", "Sci/Tech"];
/// The temperature of the per-class samples.
pub(crate) const CLASS_TEMPERATURE: f64 = 0.8;
/// Total time budget of a `--sweep` without `--time-budget` or `--max-steps`.
pub(crate) const DEFAULT_SWEEP_BUDGET_SECS: f64 = 1800.0;

const TRAIN_FILE: &str = "train.parquet";
const TEST_FILE: &str = "test.parquet";
const RUN_DIR: &str = "run";
const SWEEP_DIR: &str = "sweep";

/// `cargo xtask experiment [FLAGS] [-- EXTRA TRAIN FLAGS]`
#[derive(Args, Debug)]
pub(crate) struct ExperimentArgs {
    /// The training recipe the charrnn CLI knows by this name.
    #[arg(long, default_value = "default", value_parser = ["seed", "default"])]
    preset: String,
    /// The experiment's name: the report goes to target/experiments/NAME/ [default: the preset].
    #[arg(long)]
    name: Option<String>,
    /// Take the AG News CSV files from this directory (checked against its SHA256SUMS).
    #[arg(long, value_name = "DIR")]
    mirror: Option<PathBuf>,
    /// Stop training after this many steps (each run of a sweep).
    #[arg(long, value_name = "N")]
    max_steps: Option<u64>,
    /// Training time in seconds; with --sweep, the total shared evenly by all runs
    /// [--sweep default: 1800].
    #[arg(long, value_name = "SECS")]
    time_budget: Option<f64>,
    /// Also train model variants (LSTM/GRU, 1-3 layers, hidden 128-512, full text) and
    /// tabulate them.
    #[arg(long)]
    sweep: bool,
    /// auto, cpu, cuda or cuda:N (passed to charrnn).
    #[arg(long)]
    device: Option<String>,
    /// CPU threads for libtorch (passed to charrnn).
    #[arg(long)]
    threads: Option<u32>,
    /// Do not condition the model on the AG News class. The default preset does (it lowers the
    /// test bpc and adds per-class samples to the report); the seed preset never does.
    #[arg(long)]
    no_labels: bool,
    /// Seed of training and sampling.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Samples per prompt and temperature.
    #[arg(long, value_name = "N", default_value_t = 4)]
    samples: usize,
    /// Where the AG News Parquet files are (fetched there when missing) [default: data/ag_news].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Where experiments go [default: target/experiments].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print no progress.
    #[arg(long)]
    quiet: bool,
    /// More `charrnn train` flags, e.g. `-- --hidden 512 --dropout 0.2`.
    #[arg(last = true, value_name = "TRAIN FLAGS")]
    train_args: Vec<String>,
}

/// One variant of the sweep: a name and the train flags that make it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Variant {
    pub(crate) name: String,
    pub(crate) flags: Vec<String>,
    /// Train on title and description (windows of 256 characters) instead of titles.
    pub(crate) full_text: bool,
}

impl Variant {
    fn new(name: &str, flags: &[&str], full_text: bool) -> Self {
        Self {
            name: name.into(),
            flags: flags.iter().map(|f| (*f).to_owned()).collect(),
            full_text,
        }
    }
}

/// The notebook's suggested variants, a subset that covers each axis once around a two-layer
/// LSTM of 256: cell, depth, width, and titles against full text.
pub(crate) fn default_variants() -> Vec<Variant> {
    let lstm = |layers: &str, hidden: &str| {
        Variant::new(
            &format!("lstm-{layers}x{hidden}"),
            &["--cell", "lstm", "--layers", layers, "--hidden", hidden],
            false,
        )
    };
    vec![
        lstm("1", "256"),
        lstm("2", "256"),
        lstm("3", "256"),
        lstm("2", "128"),
        lstm("2", "512"),
        Variant::new(
            "gru-2x256",
            &["--cell", "gru", "--layers", "2", "--hidden", "256"],
            false,
        ),
        Variant::new(
            "gru-1x512",
            &["--cell", "gru", "--layers", "1", "--hidden", "512"],
            false,
        ),
        Variant::new(
            "lstm-2x256-fulltext",
            &["--cell", "lstm", "--layers", "2", "--hidden", "256"],
            true,
        ),
    ]
}

/// Everything an experiment needs; [`ExperimentArgs`] fills it for the command line, tests
/// fill it directly (fewer prompts, a fake or debug binary, temporary directories).
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) preset: String,
    pub(crate) name: String,
    pub(crate) mirror: Option<PathBuf>,
    pub(crate) data_dir: PathBuf,
    /// The experiment goes to `out_root/name/`.
    pub(crate) out_root: PathBuf,
    pub(crate) max_steps: Option<u64>,
    pub(crate) time_budget: Option<f64>,
    /// `Some` runs a sweep of these variants.
    pub(crate) sweep: Option<Vec<Variant>>,
    pub(crate) device: Option<String>,
    pub(crate) threads: Option<u32>,
    pub(crate) labels: bool,
    pub(crate) seed: u64,
    pub(crate) train_args: Vec<String>,
    /// An existing `charrnn` binary; `None` builds one (after `setup`).
    pub(crate) bin: Option<PathBuf>,
    pub(crate) prompts: Vec<String>,
    pub(crate) temperatures: Vec<f64>,
    pub(crate) samples_per_prompt: usize,
    pub(crate) max_len: usize,
    pub(crate) quiet: bool,
}

impl Options {
    /// The defaults of the command line for `preset`, writing under the workspace.
    pub(crate) fn new(preset: &str) -> Self {
        let root = project_root();
        Self {
            preset: preset.into(),
            name: preset.into(),
            mirror: None,
            data_dir: root.join("data").join("ag_news"),
            out_root: target_dir(&root).join("experiments"),
            max_steps: None,
            time_budget: None,
            sweep: None,
            device: None,
            threads: None,
            labels: false,
            seed: 1,
            train_args: Vec::new(),
            bin: None,
            prompts: PROMPTS.iter().map(|p| (*p).to_owned()).collect(),
            temperatures: TEMPERATURES.to_vec(),
            samples_per_prompt: 4,
            max_len: 300,
            quiet: false,
        }
    }

    fn from_args(args: ExperimentArgs) -> Self {
        let mut opts = Self::new(&args.preset);
        opts.labels = args.preset == "default" && !args.no_labels;
        opts.name = args.name.unwrap_or(args.preset);
        opts.mirror = args.mirror;
        if let Some(dir) = args.data {
            opts.data_dir = dir;
        }
        if let Some(dir) = args.out {
            opts.out_root = dir;
        }
        opts.max_steps = args.max_steps;
        opts.time_budget = args.time_budget;
        opts.sweep = args.sweep.then(default_variants);
        opts.device = args.device;
        opts.threads = args.threads;
        opts.seed = args.seed;
        opts.samples_per_prompt = args.samples;
        opts.quiet = args.quiet;
        opts.train_args = args.train_args;
        opts.bin = env::var_os(BIN_ENV)
            .filter(|b| !b.is_empty())
            .map(PathBuf::from);
        opts
    }
}

/// What an experiment produced.
#[derive(Clone, Debug)]
pub(crate) struct Outcome {
    pub(crate) report: PathBuf,
    pub(crate) run_dir: PathBuf,
    pub(crate) test_bpc: f64,
    pub(crate) steps: Option<u64>,
    pub(crate) elapsed_secs: Option<f64>,
    pub(crate) device: Option<String>,
}

/// Runs `cargo xtask experiment`.
pub(crate) fn run(args: ExperimentArgs) -> Result<()> {
    let opts = Options::from_args(args);
    let outcome = experiment(&opts)?;
    println!("report: {}", outcome.report.display());
    println!(
        "test bpc {:.4} after {} steps, {} s of training on {}; checkpoints in {}",
        outcome.test_bpc,
        outcome
            .steps
            .map_or_else(|| "?".to_owned(), |s| s.to_string()),
        outcome
            .elapsed_secs
            .map_or_else(|| "?".to_owned(), |s| format!("{s:.1}")),
        outcome.device.as_deref().unwrap_or("?"),
        outcome.run_dir.display()
    );
    Ok(())
}

/// The target directory cargo builds into.
/// Cargo's target directory for the workspace at `root`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| root.join("target"), PathBuf::from)
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
    {
        bail!("--name {name:?} is not a plain directory name");
    }
    Ok(())
}

/// How the time budget is shared: each run's `--time-budget` and `--max-steps`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Budget {
    pub(crate) per_run_secs: Option<f64>,
    pub(crate) total_secs: Option<f64>,
    pub(crate) max_steps: Option<u64>,
}

/// Splits `time_budget` evenly over `runs` runs. A sweep with neither budget nor step limit gets
/// [`DEFAULT_SWEEP_BUDGET_SECS`].
pub(crate) fn split_budget(
    time_budget: Option<f64>,
    max_steps: Option<u64>,
    runs: usize,
    sweep: bool,
) -> Result<Budget> {
    if let Some(t) = time_budget {
        if !(t.is_finite() && t > 0.0) {
            bail!("--time-budget must be a positive number of seconds, not {t}");
        }
    }
    if max_steps == Some(0) {
        bail!("--max-steps must be at least 1");
    }
    let total = match (time_budget, sweep, max_steps) {
        (Some(t), _, _) => Some(t),
        (None, true, None) => Some(DEFAULT_SWEEP_BUDGET_SECS),
        (None, _, _) => None,
    };
    Ok(Budget {
        per_run_secs: total.map(|t| t / runs.max(1) as f64),
        total_secs: total,
        max_steps,
    })
}

/// Runs the whole experiment and writes its report.
pub(crate) fn experiment(opts: &Options) -> Result<Outcome> {
    check_name(&opts.name)?;
    if opts.samples_per_prompt == 0 {
        bail!("--samples must be at least 1");
    }
    let runs = 1 + opts.sweep.as_ref().map_or(0, Vec::len);
    let budget = split_budget(opts.time_budget, opts.max_steps, runs, opts.sweep.is_some())?;
    let say = |msg: &str| {
        if !opts.quiet {
            eprintln!("experiment: {msg}");
        }
    };

    let bin = match &opts.bin {
        Some(bin) => {
            if !bin.is_file() {
                bail!("the charrnn binary {} does not exist", bin.display());
            }
            bin.clone()
        }
        None => build_cli(opts.quiet)?,
    };
    let mut cli = Charrnn::new(bin, opts.quiet);

    let train_data = opts.data_dir.join(TRAIN_FILE);
    let test_data = opts.data_dir.join(TEST_FILE);
    let data_notes = ensure_data(opts, &train_data, &test_data)?;

    let exp_dir = opts.out_root.join(&opts.name);
    fs::create_dir_all(&exp_dir).with_context(|| format!("cannot create {}", exp_dir.display()))?;
    let run_dir = exp_dir.join(RUN_DIR);
    for old in [run_dir.clone(), exp_dir.join(SWEEP_DIR)] {
        if old.exists() {
            say(&format!("replacing the previous {}", old.display()));
            fs::remove_dir_all(&old)
                .with_context(|| format!("cannot remove the previous {}", old.display()))?;
        }
    }

    say("reading the training titles");
    let titles = read_texts(&train_data, &ReadOptions::text("title"))
        .with_context(|| format!("cannot read the titles of {}", train_data.display()))?;
    let corpus = TrainingCorpus::new(titles.iter().map(|r| r.text.as_str()));
    let valid_rows = TextReader::open(&test_data, &ReadOptions::text("title"))
        .with_context(|| format!("cannot read {}", test_data.display()))?
        .total_rows();

    say("building the vocabulary of the training titles");
    let vocab = exp_dir.join("tokenizer.json");
    let title_columns = vec!["title".to_owned()];
    cli.vocab_build(&train_data, &title_columns, &vocab)?;
    let shown = cli.json(&[os("vocab"), os("show"), vocab.clone().into()])?;
    let vocab_size = shown["size"].as_u64().or_else(|| {
        shown["tokens"]
            .as_array()
            .map(|t| u64::try_from(t.len()).unwrap_or(u64::MAX))
    });

    let common = CommonRun {
        opts,
        budget,
        train_data: &train_data,
        test_data: &test_data,
    };
    say(&format!(
        "training preset {} into {}",
        opts.preset,
        run_dir.display()
    ));
    let main = common.train(&mut cli, &run_dir, &vocab, &title_columns, &[])?;

    say("evaluating on the test titles");
    let test = common.eval(&mut cli, &run_dir)?;

    say("generating samples");
    let mut groups = Vec::new();
    let greedy =
        cli.generate(&common.generate_args(&run_dir, &[GREEDY_PROMPT.to_owned()], 1, None, None))?;
    groups.push(group("greedy".into(), greedy, &corpus));
    let drawn = cli.generate(&common.generate_args(
        &run_dir,
        &opts.prompts,
        opts.samples_per_prompt,
        Some(&opts.temperatures),
        None,
    ))?;
    for (t, samples) in by_temperature(drawn, &opts.temperatures) {
        groups.push(group(format!("T = {t:?}"), samples, &corpus));
    }
    let conditioned = opts.labels || label_conditioned(&main.done, &run_dir) == Some(true);
    let may_be = conditioned || label_conditioned(&main.done, &run_dir).is_none();
    let mut class_note = None;
    if may_be {
        for (i, class) in CLASSES.iter().enumerate() {
            let args = common.generate_args(
                &run_dir,
                &[String::new()],
                opts.samples_per_prompt,
                Some(&[CLASS_TEMPERATURE]),
                Some(class),
            );
            match cli.generate(&args) {
                Ok(samples) => groups.push(group(
                    format!("{class}, T = {CLASS_TEMPERATURE}"),
                    samples,
                    &corpus,
                )),
                // Not known to be conditioned: the first refusal says it is not.
                Err(err) if !conditioned && i == 0 => {
                    class_note = Some(format!(
                        "No per-class samples: the model refused a label ({}).",
                        one_line(&format!("{err:#}"))
                    ));
                    break;
                }
                Err(err) => return Err(err),
            }
        }
    } else {
        class_note = Some(
            "No per-class samples: the model is not label-conditioned (run with `--labels`)."
                .into(),
        );
    }

    let mut sweep_rows = None;
    if let Some(variants) = &opts.sweep {
        let mut rows = vec![SweepRow {
            name: format!("preset {}", opts.preset),
            flags: opts.train_args.join(" "),
            run_dir: RUN_DIR.into(),
            outcome: Ok(SweepResult {
                train: main.summary.clone(),
                test_bpc: Some(test.bits_per_char),
                metrics: main.metrics.clone(),
            }),
        }];
        let mut full_vocab = None;
        for (i, variant) in variants.iter().enumerate() {
            say(&format!(
                "sweep {}/{}: {}",
                i + 1,
                variants.len(),
                variant.name
            ));
            let dir_name = plain(&variant.name);
            let dir = exp_dir.join(SWEEP_DIR).join(&dir_name);
            let outcome = (|| -> Result<SweepResult> {
                let (vocab, columns) = if variant.full_text {
                    let columns = vec!["title".to_owned(), "description".to_owned()];
                    let path = match &full_vocab {
                        Some(path) => path,
                        None => {
                            let path = exp_dir.join("tokenizer-fulltext.json");
                            cli.vocab_build(&train_data, &columns, &path)?;
                            full_vocab.insert(path)
                        }
                    };
                    (path.clone(), columns)
                } else {
                    (vocab.clone(), title_columns.clone())
                };
                let mut flags = variant.flags.clone();
                if variant.full_text {
                    flags.extend(["--window".to_owned(), "256".to_owned()]);
                }
                let trained = common.train(&mut cli, &dir, &vocab, &columns, &flags)?;
                let test = common.eval(&mut cli, &dir)?;
                Ok(SweepResult {
                    train: trained.summary,
                    test_bpc: Some(test.bits_per_char),
                    metrics: trained.metrics,
                })
            })();
            let mut flags = variant.flags.join(" ");
            if variant.full_text {
                flags.push_str(" --column title --column description --window 256");
            }
            rows.push(SweepRow {
                name: variant.name.clone(),
                flags,
                run_dir: format!("{SWEEP_DIR}/{dir_name}"),
                outcome: outcome.map_err(|e| {
                    let msg = one_line(&format!("{e:#}"));
                    say(&format!("sweep run {} failed: {msg}", variant.name));
                    msg
                }),
            });
        }
        sweep_rows = Some(rows);
    }

    let mut settings = vec![("name".to_owned(), opts.name.clone())];
    let mut set = |k: &str, v: String| settings.push((k.to_owned(), v));
    set("max steps", opt_text(budget.max_steps));
    set(
        "time budget per run (s)",
        opt_text(budget.per_run_secs.map(|s| format!("{s:.0}"))),
    );
    set(
        "device",
        opts.device.clone().unwrap_or_else(|| "auto".into()),
    );
    set("threads", opt_text(opts.threads));
    set("seed", opts.seed.to_string());
    set("label-conditioned", conditioned.to_string());
    set("extra train flags", opts.train_args.join(" "));
    set(
        "samples",
        format!(
            "{} per prompt and temperature, at most {} characters",
            opts.samples_per_prompt, opts.max_len
        ),
    );
    set("binary", cli.bin.display().to_string());

    let report = Report {
        name: opts.name.clone(),
        preset: opts.preset.clone(),
        settings,
        commands: cli.log.clone(),
        data: DataStats {
            train_file: train_data.display().to_string(),
            valid_file: test_data.display().to_string(),
            train_rows: Some(u64::try_from(titles.len()).unwrap_or(u64::MAX)),
            valid_rows: Some(valid_rows),
            vocab_size,
            vocab_level: shown["level"].as_str().map(str::to_owned),
            title_words: Some(u64::try_from(corpus.vocabulary_size()).unwrap_or(u64::MAX)),
            notes: data_notes,
        },
        train: main.summary.clone(),
        metrics: main.metrics,
        test: Some(test.clone()),
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
        steps: main.summary.steps,
        elapsed_secs: main.summary.elapsed_secs,
        device: main.summary.device,
    })
}

fn opt_text<T: ToString>(value: Option<T>) -> String {
    value.map_or_else(|| "–".to_owned(), |v| v.to_string())
}

/// `name` made safe as a directory name.
fn plain(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The first line of a (possibly multi-line) message.
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

fn os(s: &str) -> OsString {
    OsString::from(s)
}

/// Fetches AG News into `opts.data_dir` when a Parquet file is missing, or always with a
/// mirror (fetch itself does nothing when its files are up to date); returns fetch's warnings
/// (a mirror's partial copy), which the report repeats.
fn ensure_data(opts: &Options, train: &Path, test: &Path) -> Result<Vec<String>> {
    if opts.mirror.is_none() && train.is_file() && test.is_file() {
        return Ok(Vec::new());
    }
    let manifest = fetch::Manifest::load(&project_root().join("data").join("ag_news.json"))?;
    let source = match &opts.mirror {
        Some(dir) => fetch::Source::Mirror(dir.clone()),
        None => fetch::Source::Network {
            base_url: env::var(fetch::BASE_URL_ENV).ok().filter(|b| !b.is_empty()),
        },
    };
    if !opts.quiet {
        eprintln!(
            "experiment: fetching {} ({})",
            manifest.name, manifest.licence
        );
    }
    // fetch prints its own progress and warnings.
    let reports = fetch::fetch(&manifest, &opts.data_dir, &source, false)?;
    for path in [train, test] {
        if !path.is_file() {
            bail!("fetching AG News did not produce {}", path.display());
        }
    }
    Ok(reports.into_iter().flat_map(|r| r.warnings).collect())
}

/// Builds the release `charrnn` binary (after making libtorch available) and returns its path.
pub(crate) fn build_cli(quiet: bool) -> Result<PathBuf> {
    crate::setup::ensure()?;
    let root = project_root();
    let mut args = vec!["build", "--release", "-p", "charrnn-cli"];
    if quiet {
        args.push("--quiet");
    }
    crate::cargo(&root, &args)?;
    let bin = target_dir(&root)
        .join("release")
        .join(format!("charrnn{}", env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        bail!("cargo built charrnn-cli but {} is missing", bin.display());
    }
    Ok(bin)
}

/// The `charrnn` binary, run as a subprocess, with every command line it ran.
struct Charrnn {
    bin: PathBuf,
    quiet: bool,
    log: Vec<String>,
}

impl Charrnn {
    fn new(bin: PathBuf, quiet: bool) -> Self {
        Self {
            bin,
            quiet,
            log: Vec::new(),
        }
    }

    /// Runs `charrnn ARGS` and returns its stdout. Its stderr is passed through (unless quiet);
    /// on failure the error quotes its `error:` line.
    fn run(&mut self, args: &[OsString]) -> Result<String> {
        let line = std::iter::once("charrnn".to_owned())
            .chain(args.iter().map(|a| shell_quote(&a.to_string_lossy())))
            .collect::<Vec<_>>()
            .join(" ");
        self.log.push(line);
        let what = format!(
            "charrnn {}",
            args.iter()
                .take_while(|a| !a.to_string_lossy().starts_with('-'))
                .take(2)
                .map(|a| a.to_string_lossy().into_owned())
                .filter(|a| !a.contains(['/', '\\']))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut child = Command::new(&self.bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        let mut stderr = child.stderr.take().context("no stderr pipe")?;
        let quiet = self.quiet;
        let relay = thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if !quiet {
                    let mut err = std::io::stderr().lock();
                    let _ = err.write_all(&buf[..n]);
                    let _ = err.flush();
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 64 * 1024 {
                    kept.drain(..kept.len() - 32 * 1024);
                }
            }
            kept
        });
        let mut stdout = String::new();
        let read = child
            .stdout
            .take()
            .context("no stdout pipe")?
            .read_to_string(&mut stdout);
        let status = child
            .wait()
            .with_context(|| format!("{what} did not finish"))?;
        let kept = relay.join().unwrap_or_default();
        read.with_context(|| format!("{what} printed output that is not UTF-8"))?;
        if !status.success() {
            let stderr = String::from_utf8_lossy(&kept);
            let lines: Vec<&str> = stderr
                .split(['\n', '\r'])
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let reason = lines
                .iter()
                .rev()
                .find(|l| l.starts_with("error"))
                .or(lines.last())
                .map_or("no message", |l| l);
            bail!("{what} failed ({status}): {reason}");
        }
        Ok(stdout)
    }

    /// Runs `charrnn ARGS --json` and returns the last JSON object it printed.
    fn json(&mut self, args: &[OsString]) -> Result<Value> {
        let mut args = args.to_vec();
        args.push(os("--json"));
        let out = self.run(&args)?;
        json_lines(&out)?
            .pop()
            .context("charrnn printed no JSON on stdout")
    }

    fn vocab_build(&mut self, data: &Path, columns: &[String], output: &Path) -> Result<()> {
        let mut args = vec![os("vocab"), os("build"), data.into()];
        for c in columns {
            args.extend([os("--column"), os(c)]);
        }
        args.extend([os("--output"), output.into()]);
        if self.quiet {
            args.push(os("--quiet"));
        }
        self.run(&args)?;
        if !output.is_file() {
            bail!("charrnn vocab build wrote no {}", output.display());
        }
        Ok(())
    }

    fn generate(&mut self, args: &[OsString]) -> Result<Vec<Sample>> {
        let mut args = args.to_vec();
        args.push(os("--json"));
        let out = self.run(&args)?;
        json_lines(&out)?
            .iter()
            .map(Sample::from_json)
            .collect::<Result<Vec<_>>>()
            .context("charrnn generate printed a bad sample")
    }
}

/// The JSON objects of `charrnn --json` output, one per line (other lines are ignored).
pub(crate) fn json_lines(stdout: &str) -> Result<Vec<Value>> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).with_context(|| format!("bad JSON from charrnn: {l}")))
        .collect()
}

/// Quotes `arg` for a POSIX shell when it needs it.
pub(crate) fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if safe {
        arg.to_owned()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// `base` without any flag of `overrides` (and its value), then `overrides`: a sweep variant's
/// flags replace the same flags among the extra train flags.
pub(crate) fn override_flags(base: &[String], overrides: &[String]) -> Vec<String> {
    let replaced: Vec<&str> = overrides
        .iter()
        .filter(|f| f.starts_with("--"))
        .map(|f| f.split('=').next().unwrap_or(f))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < base.len() {
        let arg = &base[i];
        let flag = arg.split('=').next().unwrap_or(arg);
        if arg.starts_with("--") && replaced.contains(&flag) {
            // `--flag value` drops the value too; `--flag=value` is one argument.
            let takes_next =
                !arg.contains('=') && base.get(i + 1).is_some_and(|v| !v.starts_with("--"));
            i += if takes_next { 2 } else { 1 };
            continue;
        }
        out.push(arg.clone());
        i += 1;
    }
    out.extend(overrides.iter().cloned());
    out
}

/// What one training run gave.
struct Trained {
    done: Value,
    summary: TrainSummary,
    metrics: Vec<MetricRow>,
}

/// What every run of one experiment shares.
struct CommonRun<'a> {
    opts: &'a Options,
    budget: Budget,
    train_data: &'a Path,
    test_data: &'a Path,
}

impl CommonRun<'_> {
    fn run_flags(&self, args: &mut Vec<OsString>) {
        if let Some(device) = &self.opts.device {
            args.extend([os("--device"), os(device)]);
        }
        if let Some(threads) = self.opts.threads {
            args.extend([os("--threads"), os(&threads.to_string())]);
        }
    }

    fn label_flags(&self, args: &mut Vec<OsString>) {
        if self.opts.labels {
            args.extend([os("--label-column"), os("label")]);
        }
    }

    /// `charrnn train` into `out`; `flags` override the extra train flags.
    fn train(
        &self,
        cli: &mut Charrnn,
        out: &Path,
        vocab: &Path,
        columns: &[String],
        flags: &[String],
    ) -> Result<Trained> {
        let opts = self.opts;
        let mut args = vec![
            os("train"),
            os("--train"),
            self.train_data.into(),
            os("--valid"),
            self.test_data.into(),
        ];
        for c in columns {
            args.extend([os("--column"), os(c)]);
        }
        self.label_flags(&mut args);
        args.extend([
            os("--vocab"),
            vocab.into(),
            os("--out"),
            out.into(),
            os("--preset"),
            os(&opts.preset),
        ]);
        if let Some(steps) = self.budget.max_steps {
            args.extend([os("--max-steps"), os(&steps.to_string())]);
        }
        if let Some(secs) = self.budget.per_run_secs {
            args.extend([os("--time-budget"), os(&format!("{secs}"))]);
        }
        self.run_flags(&mut args);
        args.extend([os("--seed"), os(&opts.seed.to_string())]);
        if opts.quiet {
            args.push(os("--quiet"));
        }
        args.extend(
            override_flags(&opts.train_args, flags)
                .iter()
                .map(OsString::from),
        );
        args.push(os("--json"));
        let stdout = cli.run(&args)?;
        let done = json_lines(&stdout)?
            .into_iter()
            .rev()
            .find(|v| v["event"] == "done")
            .context("charrnn train printed no {\"event\":\"done\"} line")?;
        let metrics_path = out.join("metrics.jsonl");
        let metrics = match fs::read_to_string(&metrics_path) {
            Ok(text) => report::parse_metrics(&text)
                .with_context(|| format!("bad {}", metrics_path.display()))?,
            Err(err) => {
                eprintln!(
                    "warning: cannot read {}: {err}; the report has no curves",
                    metrics_path.display()
                );
                Vec::new()
            }
        };
        Ok(Trained {
            summary: TrainSummary::from_json(&done),
            done,
            metrics,
        })
    }

    /// `charrnn eval` of `run` on the test titles.
    fn eval(&self, cli: &mut Charrnn, run: &Path) -> Result<EvalResult> {
        let mut args = vec![
            os("eval"),
            run.into(),
            os("--data"),
            self.test_data.into(),
            os("--column"),
            os("title"),
        ];
        self.label_flags(&mut args);
        self.run_flags(&mut args);
        EvalResult::from_json(&cli.json(&args)?)
    }

    fn generate_args(
        &self,
        run: &Path,
        prompts: &[String],
        n: usize,
        temperatures: Option<&[f64]>,
        label: Option<&str>,
    ) -> Vec<OsString> {
        let mut args = vec![os("generate"), run.into()];
        for p in prompts {
            args.extend([os("--prompt"), os(p)]);
        }
        args.extend([os("-n"), os(&n.to_string())]);
        match temperatures {
            None => args.push(os("--greedy")),
            Some(ts) => {
                let list: Vec<String> = ts.iter().map(f64::to_string).collect();
                args.extend([os("--temperature"), os(&list.join(","))]);
            }
        }
        if let Some(label) = label {
            args.extend([os("--label"), os(label)]);
        }
        args.extend([
            os("--max-len"),
            os(&self.opts.max_len.to_string()),
            os("--seed"),
            os(&self.opts.seed.to_string()),
        ]);
        self.run_flags(&mut args);
        args
    }
}

/// Groups samples by their temperature, in the order of `temperatures` (a printed temperature
/// is matched to the nearest asked one: the binary may print it as an f32).
pub(crate) fn by_temperature(
    samples: Vec<Sample>,
    temperatures: &[f64],
) -> Vec<(f64, Vec<Sample>)> {
    let mut groups: BTreeMap<usize, Vec<Sample>> = BTreeMap::new();
    for sample in samples {
        let Some(t) = sample.temperature else {
            continue;
        };
        let nearest = temperatures
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - t).abs().total_cmp(&(b.1 - t).abs()))
            .map(|(i, _)| i);
        if let Some(i) = nearest {
            groups.entry(i).or_default().push(sample);
        }
    }
    temperatures
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, groups.remove(&i).unwrap_or_default()))
        .collect()
}

fn group(title: String, samples: Vec<Sample>, corpus: &TrainingCorpus) -> SampleGroup {
    let texts: Vec<SampleText> = samples.iter().map(|s| s.text.clone()).collect();
    SampleGroup {
        title,
        stats: sample_stats(&texts, corpus),
        samples,
    }
}

/// Whether the trained model is conditioned on a label, as the done event or the checkpoint's
/// `config.json` says (`num_labels` anywhere in it); `None` when neither says.
pub(crate) fn label_conditioned(done: &Value, run_dir: &Path) -> Option<bool> {
    if let Some(answer) = num_labels(done) {
        return Some(answer);
    }
    ["best", "last"].iter().find_map(|checkpoint| {
        let text = fs::read_to_string(run_dir.join(checkpoint).join("config.json")).ok()?;
        num_labels(&serde_json::from_str(&text).ok()?)
    })
}

/// Looks for `num_labels`, `label_conditioned` or a list of `labels` / `label_names` anywhere
/// in `value`.
fn num_labels(value: &Value) -> Option<bool> {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("label_conditioned", Value::Bool(b)) => return Some(*b),
                    ("num_labels", Value::Number(n)) => return Some(n.as_u64() != Some(0)),
                    ("num_labels", Value::Null) => return Some(false),
                    ("labels" | "label_names", Value::Array(names)) => {
                        return Some(!names.is_empty());
                    }
                    _ => {}
                }
            }
            map.values().find_map(num_labels)
        }
        Value::Array(items) => items.iter().find_map(num_labels),
        _ => None,
    }
}

#[cfg(test)]
#[path = "experiment_tests.rs"]
mod tests;
