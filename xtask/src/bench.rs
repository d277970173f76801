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

use std::{
    env,
    ffi::OsString,
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, Result, bail};
use charrnn_data::{ReadOptions, TextReader};
use clap::{Args, ValueEnum};
use serde_json::{Value, json};

use crate::{
    experiment::{BIN_ENV, json_lines, shell_quote},
    fetch, project_root, report, setup,
};

const TRAIN_CSV: &str = "train.csv";
const TEST_CSV: &str = "test.csv";
const TRAIN_PARQUET: &str = "train.parquet";
const TEST_PARQUET: &str = "test.parquet";
/// The reference script, relative to the workspace root.
const REFERENCE_SCRIPT: &str = "benches/reference/charrnn_reference.py";
/// The generation prompt of both sides.
const PROMPT: &str = "Today ";
/// An evaluation interval no timed run reaches: no validation while the clock runs.
const NO_EVAL: u64 = 1_000_000_000;
/// The embedding width of the embedding configurations (the reference's default).
const EMBED_DIM: u32 = 64;
/// The range of our time-to-bpc budget when it follows the reference's time.
const TTB_BUDGET_RANGE: (f64, f64) = (30.0, 600.0);

/// Which part of the benchmark to run.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// Training throughput.
    Train,
    /// Generation throughput and latency.
    Gen,
    /// Time to reach the seed recipe's validation bpc.
    Ttb,
}

/// `cargo xtask bench [FLAGS]`
#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// Take the AG News CSV files from this directory (checked against its SHA256SUMS); the
    /// reference reads them there.
    #[arg(long, value_name = "DIR")]
    mirror: Option<PathBuf>,
    /// Where the AG News Parquet (and, without --mirror, CSV) files are; fetched there when
    /// missing [default: data/ag_news].
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// The PyTorch reference script [default: benches/reference/charrnn_reference.py].
    #[arg(long, value_name = "PATH")]
    reference: Option<PathBuf>,
    /// The Python interpreter that runs the reference.
    #[arg(long, value_name = "PYTHON", default_value = "python3")]
    python: String,
    /// cpu, cuda or cuda:N, for both sides.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// CPU threads of both sides.
    #[arg(long, value_name = "N", default_value_t = 2)]
    threads: u32,
    /// Steps of the three throughput runs (seed b8, LSTM128 b256, 2x512 b256): one value for
    /// all or three comma-separated, each at most one epoch (charrnn validates at an epoch's
    /// end) [default: 1500,40,10; --quick: 20,3,2].
    #[arg(long, value_name = "N[,N,N]", value_delimiter = ',')]
    train_steps: Vec<u64>,
    /// Stop the reference's seed recipe after this many seconds of training (0: one full
    /// epoch, the real recipe) [default: 0; --quick: 15].
    #[arg(long, value_name = "SECS")]
    ttb_ref_secs: Option<f64>,
    /// Training time budget of our `--preset default` run [default: the reference's time,
    /// at least 30 s and at most 600 s; --quick: 15].
    #[arg(long, value_name = "SECS")]
    ttb_budget: Option<f64>,
    /// Validate our time-to-bpc run every N steps.
    #[arg(long, value_name = "N", default_value_t = 50)]
    ttb_eval_every: u64,
    /// Samples of the batched generation [default: 256 on cpu, 1024 on cuda; --quick: 16].
    #[arg(long, value_name = "N")]
    gen_samples: Option<u64>,
    /// Characters per generated sample [default: 300; --quick: 50].
    #[arg(long, value_name = "N")]
    gen_length: Option<u64>,
    /// Characters of the reference's notebook-style loop [default: 100; --quick: 20].
    #[arg(long, value_name = "N")]
    notebook_length: Option<u64>,
    /// A smoke run: a few steps and seconds everywhere (the figures mean little).
    #[arg(long)]
    quick: bool,
    /// Run only this part.
    #[arg(long, value_enum)]
    only: Option<Part>,
    /// Seed of both sides.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Where bench.md, bench.json and the runs go [default: target/bench].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Print no progress.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    corpus: crate::bench_corpus::CorpusArgs,
}

/// One training configuration, described once and turned into both sides' flags.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Spec {
    /// Short name: run directories and JSON keys.
    pub(crate) key: &'static str,
    /// What the table calls it.
    pub(crate) label: &'static str,
    pub(crate) one_hot: bool,
    pub(crate) hidden: u32,
    pub(crate) layers: u32,
    pub(crate) batch: u32,
    /// adam or rmsprop.
    pub(crate) optimizer: &'static str,
}

impl Spec {
    /// The learning rate both sides use (it does not change the speed, but keeps the
    /// configurations identical).
    fn lr(&self) -> &'static str {
        if self.optimizer == "adam" {
            "0.002"
        } else {
            "0.001"
        }
    }

    /// `charrnn train` flags: the seed preset (no clipping, no dropout, shuffled batches)
    /// overridden to this configuration, `steps` steps, no validation while timed.
    pub(crate) fn ours(&self, steps: u64) -> Vec<String> {
        let mut flags = strings(&["--preset", "seed", "--cell", "lstm", "--input"]);
        if self.one_hot {
            flags.push("onehot".into());
        } else {
            flags.extend(strings(&[
                "embedding",
                "--embed-dim",
                &EMBED_DIM.to_string(),
            ]));
        }
        flags.extend(strings(&[
            "--hidden",
            &self.hidden.to_string(),
            "--layers",
            &self.layers.to_string(),
            "--dropout",
            "0",
            "--batch-size",
            &self.batch.to_string(),
            "--optimizer",
            self.optimizer,
            "--lr",
            self.lr(),
            "--clip",
            "0",
            "--order",
            "shuffled",
            "--max-steps",
            &steps.to_string(),
            "--eval-every",
            &NO_EVAL.to_string(),
        ]));
        flags
    }

    /// The reference's model flags for the same configuration (its `generate` takes these;
    /// its `train` validates only at the end, and only with `--valid`).
    pub(crate) fn reference(&self) -> Vec<String> {
        strings(&[
            "--cell",
            "lstm",
            "--input",
            if self.one_hot { "onehot" } else { "embedding" },
            "--embed-dim",
            &EMBED_DIM.to_string(),
            "--hidden",
            &self.hidden.to_string(),
            "--layers",
            &self.layers.to_string(),
            "--dropout",
            "0",
            "--optimizer",
            self.optimizer,
            "--lr",
            self.lr(),
        ])
    }

    /// The reference's `train` flags: the model's and the batch size.
    pub(crate) fn reference_train(&self) -> Vec<String> {
        let mut flags = self.reference();
        flags.extend(["--batch-size".to_owned(), self.batch.to_string()]);
        flags
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The three throughput configurations, in table order.
pub(crate) fn train_specs() -> [Spec; 3] {
    [
        Spec {
            key: "seed-b8",
            label: "seed config: one-hot LSTM 128, batch 8, RMSprop",
            one_hot: true,
            hidden: 128,
            layers: 1,
            batch: 8,
            optimizer: "rmsprop",
        },
        Spec {
            key: "lstm128-b256",
            label: "embedding LSTM 128, batch 256, Adam",
            one_hot: false,
            hidden: 128,
            layers: 1,
            batch: 256,
            optimizer: "adam",
        },
        Spec {
            key: "lstm2x512-b256",
            label: "embedding 2-layer LSTM 512, batch 256, Adam",
            one_hot: false,
            hidden: 512,
            layers: 2,
            batch: 256,
            optimizer: "adam",
        },
    ]
}

/// The seed recipe the reference runs for time-to-bpc (one epoch unless time-limited).
fn seed_spec() -> Spec {
    train_specs()[0].clone()
}

/// A goal on the ratio charrnn / reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Target {
    /// Met when the ratio is at least this.
    AtLeast(f64),
    /// Met when the ratio is at most this.
    AtMost(f64),
}

impl Target {
    pub(crate) fn met(self, ratio: f64) -> bool {
        match self {
            Target::AtLeast(x) => ratio >= x,
            Target::AtMost(x) => ratio <= x,
        }
    }

    fn text(self) -> String {
        match self {
            Target::AtLeast(x) => format!("≥ {}×", trim_float(x)),
            Target::AtMost(x) => format!("≤ {}×", trim_float(x)),
        }
    }
}

/// `1.0` → `1.0`, `0.1` → `0.1`, `100.0` → `100`.
fn trim_float(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() >= 10.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// The targets, by row and device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Goal {
    /// Training throughput at this batch size.
    Train { batch: u32 },
    /// Time to the seed recipe's validation bpc.
    TimeToBpc,
    /// Batched generation against the reference's carried-state loop.
    GenBatched,
    /// Batched generation against the notebook's loop.
    GenNotebook,
    /// Single-sample latency: reported, no target.
    Latency,
}

/// The target of `goal` on a CUDA (`cuda`) or CPU machine.
pub(crate) fn target(goal: Goal, cuda: bool) -> Option<Target> {
    match (goal, cuda) {
        (Goal::Train { batch }, false) if batch <= 8 => Some(Target::AtLeast(1.2)),
        (Goal::Train { .. }, _) => Some(Target::AtLeast(1.0)),
        (Goal::TimeToBpc, _) => Some(Target::AtMost(0.1)),
        (Goal::GenBatched, false) => Some(Target::AtLeast(1.0)),
        (Goal::GenBatched, true) => Some(Target::AtLeast(2.0)),
        (Goal::GenNotebook, _) => Some(Target::AtLeast(100.0)),
        (Goal::Latency, _) => None,
    }
}

/// Whether a row met its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    Miss,
    /// The row has no target.
    NoTarget,
}

impl Verdict {
    fn text(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Miss => "miss",
            Verdict::NoTarget => "–",
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    /// train, ttb or gen.
    pub(crate) part: &'static str,
    pub(crate) metric: String,
    /// The unit of `charrnn` and `reference`.
    pub(crate) unit: &'static str,
    /// `None`: not measured (or, for time-to-bpc, never reached).
    pub(crate) charrnn: Option<f64>,
    pub(crate) reference: Option<f64>,
    pub(crate) target: Option<Target>,
    pub(crate) charrnn_rss_mib: Option<f64>,
    pub(crate) reference_rss_mib: Option<f64>,
    pub(crate) note: String,
}

impl Row {
    /// charrnn / reference, when both are known and the reference is positive.
    pub(crate) fn ratio(&self) -> Option<f64> {
        match (self.charrnn, self.reference) {
            (Some(ours), Some(theirs)) if theirs > 0.0 && ours.is_finite() => Some(ours / theirs),
            _ => None,
        }
    }

    /// Pass when the ratio meets the target; a row with a target but no ratio is a miss.
    pub(crate) fn verdict(&self) -> Verdict {
        match (self.target, self.ratio()) {
            (None, _) => Verdict::NoTarget,
            (Some(t), Some(r)) if t.met(r) => Verdict::Pass,
            (Some(_), _) => Verdict::Miss,
        }
    }
}

/// What the benchmark ran on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Machine {
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) device: String,
    pub(crate) gpu: Option<String>,
    pub(crate) threads: u32,
    /// UTC, ISO 8601.
    pub(crate) date: String,
    /// /proc/loadavg's 1-minute figure when the benchmark started and ended (other work on
    /// the machine skews every timing).
    pub(crate) load_at_start: Option<f64>,
    pub(crate) load_at_end: Option<f64>,
    pub(crate) python_torch: Option<String>,
}

/// The whole result.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Table {
    pub(crate) machine: Machine,
    pub(crate) rows: Vec<Row>,
    /// Notes under the table (how each side was measured).
    pub(crate) notes: Vec<String>,
    /// Every side's own JSON output, kept in bench.json.
    pub(crate) raw: Value,
}

/// The first `model name` (x86) or `Processor`/`cpu model` line of /proc/cpuinfo, and the
/// number of `processor` entries.
pub(crate) fn parse_cpuinfo(text: &str) -> (Option<String>, usize) {
    let mut model = None;
    let mut fallback = None;
    let mut cores = 0;
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "processor" => cores += 1,
            "model name" if model.is_none() && !value.is_empty() => model = Some(value.to_owned()),
            "Processor" | "cpu model" | "Hardware" if fallback.is_none() && !value.is_empty() => {
                fallback = Some(value.to_owned());
            }
            _ => {}
        }
    }
    (model.or(fallback), cores)
}

/// `unix_secs` as `YYYY-MM-DDTHH:MM:SSZ` (UTC, proleptic Gregorian).
pub(crate) fn utc_timestamp(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let secs = unix_secs % 86_400;
    // Days since 1970-01-01 to a civil date (the era-based algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

/// The first 1-minute load figure of /proc/loadavg.
pub(crate) fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

/// Where a run first reached a validation bpc.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Reached {
    pub(crate) step: u64,
    pub(crate) elapsed_secs: f64,
    pub(crate) val_bpc: f64,
}

/// The first line of `metrics.jsonl` text whose `val_bpc` is at most `goal` (and that has an
/// `elapsed`), and the best validation bpc of the whole run.
pub(crate) fn time_to_bpc(metrics: &str, goal: f64) -> Result<(Option<Reached>, Option<f64>)> {
    let rows = report::parse_metrics(metrics)?;
    let best = rows
        .iter()
        .filter_map(|r| r.val_bpc)
        .fold(None, |best: Option<f64>, v| {
            Some(best.map_or(v, |b| b.min(v)))
        });
    let reached = rows.iter().find_map(|r| match (r.val_bpc, r.elapsed_secs) {
        (Some(v), Some(elapsed)) if v <= goal => Some(Reached {
            step: r.step,
            elapsed_secs: elapsed,
            val_bpc: v,
        }),
        _ => None,
    });
    Ok((reached, best))
}

/// A figure with about four significant digits and no exponent.
pub(crate) fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        format!("{x}")
    } else if a >= 1000.0 {
        group_thousands(x.round() as i64)
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 10.0 => format!("{r:.0}×"),
        Some(r) if r >= 0.1 => format!("{r:.2}×"),
        Some(r) => format!("{r:.3}×"),
        None => "–".into(),
    }
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_owned(), fmt_num)
}

/// A Markdown table cell: no pipes or newlines.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The table as Markdown.
pub(crate) fn markdown(table: &Table) -> String {
    let m = &table.machine;
    let mut out = String::from("# charrnn vs the PyTorch reference\n\n");
    let _ = writeln!(out, "- date: {}", m.date);
    let _ = writeln!(out, "- CPU: {} ({} cores)", m.cpu, m.cores);
    let _ = writeln!(out, "- device: {}", m.device);
    if let Some(gpu) = &m.gpu {
        let _ = writeln!(out, "- GPU: {gpu}");
    }
    let _ = writeln!(out, "- threads (both sides): {}", m.threads);
    if m.load_at_start.is_some() || m.load_at_end.is_some() {
        let _ = writeln!(
            out,
            "- load average (1 min) at start / end: {} / {}",
            fmt_opt(m.load_at_start),
            fmt_opt(m.load_at_end)
        );
    }
    if let Some(torch) = &m.python_torch {
        let _ = writeln!(out, "- reference: PyTorch {torch}");
    }
    out.push_str(
        "\n| metric | unit | charrnn | reference | charrnn / reference | target | result \
         | peak RSS MiB (charrnn / reference) | note |\n\
         |---|---|--:|--:|--:|---|---|--:|---|\n",
    );
    for row in &table.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} | {} |",
            cell(&row.metric),
            row.unit,
            fmt_opt(row.charrnn),
            fmt_opt(row.reference),
            fmt_ratio(row.ratio()),
            row.target.map_or_else(|| "–".to_owned(), Target::text),
            row.verdict().text(),
            fmt_opt(row.charrnn_rss_mib),
            fmt_opt(row.reference_rss_mib),
            cell(&row.note),
        );
    }
    if !table.notes.is_empty() {
        out.push_str("\nNotes:\n\n");
        for note in &table.notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

/// The table as JSON (bench.json).
pub(crate) fn to_json(table: &Table) -> Value {
    let m = &table.machine;
    let rows: Vec<Value> = table
        .rows
        .iter()
        .map(|r| {
            let verdict = r.verdict();
            json!({
                "part": r.part,
                "metric": r.metric,
                "unit": r.unit,
                "charrnn": r.charrnn,
                "reference": r.reference,
                "ratio": r.ratio(),
                "target": r.target.map(|t| match t {
                    Target::AtLeast(x) => json!({"at_least": x}),
                    Target::AtMost(x) => json!({"at_most": x}),
                }),
                "met": match verdict {
                    Verdict::Pass => Some(true),
                    Verdict::Miss => Some(false),
                    Verdict::NoTarget => None,
                },
                "charrnn_peak_rss_mib": r.charrnn_rss_mib,
                "reference_peak_rss_mib": r.reference_rss_mib,
                "note": r.note,
            })
        })
        .collect();
    json!({
        "machine": {
            "cpu": m.cpu,
            "cores": m.cores,
            "device": m.device,
            "gpu": m.gpu,
            "threads": m.threads,
            "date": m.date,
            "load_at_start": m.load_at_start,
            "load_at_end": m.load_at_end,
            "python_torch": m.python_torch,
        },
        "rows": rows,
        "notes": table.notes,
        "raw": table.raw,
    })
}

/// Writes `bench.md` and `bench.json` into `dir`, each through a temporary file and a rename;
/// returns their paths.
pub(crate) fn write_table(table: &Table, dir: &Path) -> Result<(PathBuf, PathBuf)> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let md = dir.join("bench.md");
    let js = dir.join("bench.json");
    write_atomic(&md, markdown(table).as_bytes())?;
    let text = serde_json::to_string_pretty(&to_json(table)).context("cannot encode bench.json")?;
    write_atomic(&js, format!("{text}\n").as_bytes())?;
    Ok((md, js))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| {
        let _ = fs::remove_file(&tmp);
        format!("cannot rename {} to {}", tmp.display(), path.display())
    })
}

/// Everything one benchmark needs, resolved from [`BenchArgs`].
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) device: String,
    pub(crate) threads: u32,
    /// Steps of each of [`train_specs`].
    pub(crate) train_steps: [u64; 3],
    /// `None`: the reference trains one full epoch.
    pub(crate) ttb_ref_secs: Option<f64>,
    /// `None`: the reference's time, within [`TTB_BUDGET_RANGE`].
    pub(crate) ttb_budget: Option<f64>,
    pub(crate) ttb_eval_every: u64,
    pub(crate) gen_samples: u64,
    pub(crate) gen_length: u64,
    pub(crate) notebook_length: u64,
    pub(crate) parts: Vec<Part>,
    pub(crate) seed: u64,
    pub(crate) quiet: bool,
}

impl Options {
    /// The flags' values, with the defaults of the device and of `--quick` filled in.
    pub(crate) fn resolve(args: &BenchArgs) -> Result<Self> {
        let device = args.device.trim().to_owned();
        let cuda = is_cuda(&device)?;
        if args.threads == 0 {
            bail!("--threads must be at least 1");
        }
        let q = args.quick;
        let train_steps = match args.train_steps.as_slice() {
            [] if q => [20, 3, 2],
            [] => [1500, 40, 10],
            [n] => [*n; 3],
            [a, b, c] => [*a, *b, *c],
            other => bail!(
                "--train-steps takes one value or three (seed b8, LSTM128 b256, 2x512 b256), not {}",
                other.len()
            ),
        };
        if train_steps.contains(&0) {
            bail!("--train-steps must be at least 1");
        }
        let ttb_ref_secs = args.ttb_ref_secs.unwrap_or(if q { 15.0 } else { 0.0 });
        let ttb_budget = args.ttb_budget.or(q.then_some(15.0));
        if !(ttb_ref_secs.is_finite() && ttb_ref_secs >= 0.0) {
            bail!("--ttb-ref-secs must be a number of seconds (0: a full epoch)");
        }
        if ttb_budget.is_some_and(|b| !(b.is_finite() && b > 0.0)) {
            bail!("--ttb-budget must be a positive number of seconds");
        }
        if args.ttb_eval_every == 0 {
            bail!("--ttb-eval-every must be at least 1");
        }
        let gen_samples = args.gen_samples.unwrap_or(if q {
            16
        } else if cuda {
            1024
        } else {
            256
        });
        let gen_length = args.gen_length.unwrap_or(if q { 50 } else { 300 });
        let notebook_length = args.notebook_length.unwrap_or(if q { 20 } else { 100 });
        if gen_samples == 0 || gen_length == 0 || notebook_length == 0 {
            bail!("--gen-samples, --gen-length and --notebook-length must be at least 1");
        }
        Ok(Self {
            device,
            threads: args.threads,
            train_steps,
            ttb_ref_secs: (ttb_ref_secs > 0.0).then_some(ttb_ref_secs),
            ttb_budget,
            ttb_eval_every: args.ttb_eval_every,
            gen_samples,
            gen_length,
            notebook_length,
            parts: match args.only {
                Some(p) => vec![p],
                None => vec![Part::Train, Part::Ttb, Part::Gen],
            },
            seed: args.seed,
            quiet: args.quiet,
        })
    }

    fn cuda(&self) -> bool {
        self.device.starts_with("cuda")
    }
}

/// Whether `device` is a CUDA device; anything but cpu, cuda and cuda:N is an error.
pub(crate) fn is_cuda(device: &str) -> Result<bool> {
    match device {
        "cpu" => Ok(false),
        "cuda" => Ok(true),
        d if d
            .strip_prefix("cuda:")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Ok(true)
        }
        d => bail!("--device {d:?}: expected cpu, cuda or cuda:N"),
    }
}

/// The AG News files both sides read.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DataFiles {
    pub(crate) train_parquet: PathBuf,
    pub(crate) test_parquet: PathBuf,
    pub(crate) train_csv: PathBuf,
    pub(crate) test_csv: PathBuf,
}

impl DataFiles {
    /// Parquet in `data_dir`; the CSVs in the mirror when there is one (fetch reads them
    /// there and copies nothing), else in `data_dir` (where a download leaves them).
    pub(crate) fn new(data_dir: &Path, mirror: Option<&Path>) -> Self {
        let csv_dir = mirror.unwrap_or(data_dir);
        Self {
            train_parquet: data_dir.join(TRAIN_PARQUET),
            test_parquet: data_dir.join(TEST_PARQUET),
            train_csv: csv_dir.join(TRAIN_CSV),
            test_csv: csv_dir.join(TEST_CSV),
        }
    }

    fn all(&self) -> [&Path; 4] {
        [
            &self.train_parquet,
            &self.test_parquet,
            &self.train_csv,
            &self.test_csv,
        ]
    }

    fn missing(&self) -> Vec<&Path> {
        self.all().into_iter().filter(|p| !p.is_file()).collect()
    }
}

/// The workspace root this xtask was built in, or, where that tree is absent (a release
/// xtask carried to another machine), the current directory.
fn workspace_root() -> PathBuf {
    let root = project_root();
    if root.join("Cargo.toml").is_file() {
        root
    } else {
        env::current_dir().unwrap_or(root)
    }
}

/// `rel` under the build's workspace root when it exists there, else under the current
/// directory.
fn locate(rel: &str) -> PathBuf {
    let built = project_root().join(rel);
    if built.exists() {
        return built;
    }
    env::current_dir().map_or(built, |cwd| cwd.join(rel))
}

/// Makes the data present: fetched from the mirror (a no-op when up to date), or from the
/// network when a file is missing.
fn ensure_data(data_dir: &Path, mirror: Option<&Path>, quiet: bool) -> Result<DataFiles> {
    let files = DataFiles::new(data_dir, mirror);
    if mirror.is_some() || !files.missing().is_empty() {
        let manifest = fetch::Manifest::load(&locate("data/ag_news.json"))?;
        let source = match mirror {
            Some(dir) => fetch::Source::Mirror(dir.to_path_buf()),
            None => fetch::Source::Network {
                base_url: env::var(fetch::BASE_URL_ENV).ok().filter(|b| !b.is_empty()),
            },
        };
        if !quiet {
            eprintln!("bench: fetching {} ({})", manifest.name, manifest.licence);
        }
        // Up-to-date Parquet without its CSV (deleted after a download): fetch again, since
        // the reference reads the CSV.
        let force = mirror.is_none()
            && files.train_parquet.is_file()
            && files.test_parquet.is_file()
            && !(files.train_csv.is_file() && files.test_csv.is_file());
        fetch::fetch(&manifest, data_dir, &source, force)?;
    }
    let missing = files.missing();
    if let Some(first) = missing.first() {
        bail!("the AG News file {} is missing", first.display());
    }
    Ok(files)
}

/// The `charrnn` binary: `CHARRNN_BIN`, or a release build (after `setup`).
fn charrnn_bin(quiet: bool) -> Result<PathBuf> {
    if let Some(bin) = env::var_os(BIN_ENV).filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        if !bin.is_file() {
            bail!("{BIN_ENV}={} does not exist", bin.display());
        }
        return Ok(bin);
    }
    crate::experiment::build_cli(quiet)
}

/// The torch version `python` imports (with `pythonpath` prepended to PYTHONPATH), if any.
fn torch_version(python: &str, pythonpath: Option<&Path>) -> Option<String> {
    let mut cmd = Command::new(python);
    cmd.args(["-c", "import torch; print(torch.__version__)"])
        .stdin(Stdio::null());
    if let Some(dir) = pythonpath {
        cmd.env("PYTHONPATH", with_pythonpath(dir));
    }
    let out = cmd.output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned()
    })
}

/// `dir` in front of the environment's PYTHONPATH.
fn with_pythonpath(dir: &Path) -> OsString {
    let mut paths = vec![dir.to_path_buf()];
    if let Some(old) = env::var_os("PYTHONPATH") {
        paths.extend(env::split_paths(&old));
    }
    env::join_paths(paths).unwrap_or_else(|_| dir.as_os_str().to_owned())
}

fn is_pinned_torch(version: &str) -> bool {
    version.split('+').next() == Some(setup::TORCH_VERSION)
}

/// How to run the reference: `python` as it is when it imports torch 2.11.0, else with the
/// wheel `setup` installs (into its cache) on PYTHONPATH. Returns that directory, if needed,
/// and the torch version.
fn prepare_python(python: &str) -> Result<(Option<PathBuf>, String)> {
    if let Some(v) = torch_version(python, None).filter(|v| is_pinned_torch(v)) {
        return Ok((None, v));
    }
    let torch = setup::ensure()?;
    // The wheel's layout: <cache>/torch-2.11.0/torch; its parent is what Python imports from.
    let site = torch
        .parent()
        .filter(|_| torch.join("__init__.py").is_file())
        .map(Path::to_path_buf);
    if let Some(site) = site {
        if let Some(v) = torch_version(python, Some(&site)).filter(|v| is_pinned_torch(v)) {
            return Ok((Some(site), v));
        }
    }
    bail!(
        "{python} cannot import torch {}: install it (`pip install torch=={}`), or unset \
         LIBTORCH so that `cargo xtask setup` installs the wheel the reference can use",
        setup::TORCH_VERSION,
        setup::TORCH_VERSION
    )
}

/// The two programs under test.
struct Sides {
    bin: PathBuf,
    python: String,
    pythonpath: Option<PathBuf>,
    script: PathBuf,
    quiet: bool,
    /// Every command line run, for bench.json.
    log: Vec<String>,
}

/// What a subprocess printed.
struct Output {
    stdout: String,
    stderr: String,
}

impl Sides {
    fn say(&self, msg: &str) {
        if !self.quiet {
            eprintln!("bench: {msg}");
        }
    }

    fn run(&mut self, mut cmd: Command, shown: String) -> Result<Output> {
        self.say(&format!("$ {shown}"));
        self.log.push(shown.clone());
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {shown}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            let lines: Vec<&str> = stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let reason = lines
                .iter()
                .rev()
                .find(|l| l.starts_with("error") || l.contains("Error"))
                .or(lines.last())
                .map_or("no message", |l| l);
            bail!("`{shown}` failed ({}): {reason}", out.status);
        }
        Ok(Output { stdout, stderr })
    }

    /// `charrnn ARGS`.
    fn charrnn(&mut self, args: &[String]) -> Result<Output> {
        let shown = command_line("charrnn", args);
        let mut cmd = Command::new(&self.bin);
        cmd.args(args);
        self.run(cmd, shown)
    }

    /// The reference's `CMD ARGS`; returns its last JSON line.
    fn reference(&mut self, cmd_name: &str, args: &[String]) -> Result<Value> {
        let mut all = vec![self.script.to_string_lossy().into_owned(), cmd_name.into()];
        all.extend(args.iter().cloned());
        let shown = command_line(&self.python, &all);
        let mut cmd = Command::new(&self.python);
        cmd.args(&all).env("PYTHONUNBUFFERED", "1");
        if let Some(dir) = &self.pythonpath {
            cmd.env("PYTHONPATH", with_pythonpath(dir));
        }
        let out = self.run(cmd, shown)?;
        json_lines(&out.stdout)?
            .pop()
            .with_context(|| format!("the reference's {cmd_name} printed no JSON"))
    }
}

fn command_line(program: &str, args: &[String]) -> String {
    std::iter::once(shell_quote(program))
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `{"event":"done"}` line of `charrnn train --json`.
fn done_event(stdout: &str) -> Result<Value> {
    json_lines(stdout)?
        .into_iter()
        .rev()
        .find(|v| v["event"] == "done")
        .context("charrnn train printed no {\"event\":\"done\"} line")
}

/// The `{"event":"stats"}` line `charrnn generate --stats` prints on stderr.
pub(crate) fn stats_event(stderr: &str) -> Result<Value> {
    stderr
        .lines()
        .rev()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "stats")
        .context("charrnn generate --stats printed no {\"event\":\"stats\"} line on stderr")
}

fn num(value: &Value, key: &str, what: &str) -> Result<f64> {
    value[key]
        .as_f64()
        .with_context(|| format!("{what}: no number `{key}` in {value}"))
}

/// Runs `cargo xtask bench`.
pub(crate) fn run(args: BenchArgs) -> Result<()> {
    let opts = Options::resolve(&args)?;
    let root = workspace_root();
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| crate::experiment::target_dir(&root).join("bench"));
    if args.corpus.corpus {
        let bin = charrnn_bin(opts.quiet)?;
        return crate::bench_corpus::run(&args.corpus, &bin, &out_dir, args.threads, args.seed);
    }
    let data_dir = args
        .data
        .clone()
        .unwrap_or_else(|| root.join("data").join("ag_news"));
    let script = args
        .reference
        .clone()
        .unwrap_or_else(|| locate(REFERENCE_SCRIPT));
    if !script.is_file() {
        bail!(
            "the reference script {} does not exist (--reference PATH)",
            script.display()
        );
    }

    let machine_start = machine_now(&opts);
    let data = ensure_data(&data_dir, args.mirror.as_deref(), opts.quiet)?;
    let (pythonpath, torch) = prepare_python(&args.python)?;
    let bin = charrnn_bin(opts.quiet)?;
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
                let train_rows = TextReader::open(&data.train_parquet, &ReadOptions::text("title"))
                    .with_context(|| format!("cannot read {}", data.train_parquet.display()))?
                    .total_rows();
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

fn machine_now(opts: &Options) -> Machine {
    let (cpu, cores) = fs::read_to_string("/proc/cpuinfo")
        .map(|t| parse_cpuinfo(&t))
        .unwrap_or((None, 0));
    let cores = if cores > 0 {
        cores
    } else {
        std::thread::available_parallelism().map_or(0, usize::from)
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let gpu = opts.cuda().then(gpu_name).flatten();
    Machine {
        cpu: cpu.unwrap_or_else(|| env::consts::ARCH.to_owned()),
        cores,
        device: opts.device.clone(),
        gpu,
        threads: opts.threads,
        date: utc_timestamp(now),
        load_at_start: load_now(),
        load_at_end: None,
        python_torch: None,
    }
}

fn load_now() -> Option<f64> {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| parse_loadavg(&t))
}

/// The first GPU's name, from nvidia-smi where it is installed.
fn gpu_name() -> Option<String> {
    let out = Command::new("nvidia-smi")
        .args(["--query-gpu=name,memory.total", "--format=csv,noheader"])
        .stdin(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let first = text.lines().next()?.trim();
    (out.status.success() && !first.is_empty()).then(|| first.to_owned())
}

fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    Ok(())
}

/// `charrnn train` flags every run shares.
fn train_common(opts: &Options, data: &DataFiles, out: &Path) -> Vec<String> {
    let mut a = strings(&["train", "--train"]);
    a.push(data.train_parquet.to_string_lossy().into_owned());
    a.push("--valid".into());
    a.push(data.test_parquet.to_string_lossy().into_owned());
    a.extend(strings(&["--column", "title", "--out"]));
    a.push(out.to_string_lossy().into_owned());
    a.extend(strings(&[
        "--device",
        &opts.device,
        "--threads",
        &opts.threads.to_string(),
        "--seed",
        &opts.seed.to_string(),
        "--json",
        "--quiet",
    ]));
    a
}

/// The reference's flags every run shares.
fn reference_common(opts: &Options, data: &DataFiles) -> Vec<String> {
    let mut a = vec![
        "--train".to_owned(),
        data.train_csv.to_string_lossy().into(),
    ];
    a.extend(strings(&[
        "--device",
        &opts.device,
        "--threads",
        &opts.threads.to_string(),
        "--seed",
        &opts.seed.to_string(),
    ]));
    a
}

/// `asked` steps, but no more than one epoch of `rows` examples in batches of `batch`: charrnn
/// validates at every epoch's end, inside its training clock.
pub(crate) fn steps_within_epoch(asked: u64, rows: u64, batch: u32) -> u64 {
    let per_epoch = rows.div_ceil(u64::from(batch.max(1)));
    if per_epoch == 0 {
        asked
    } else {
        asked.min(per_epoch)
    }
}

fn train_row(
    sides: &mut Sides,
    opts: &Options,
    data: &DataFiles,
    runs: &Path,
    spec: &Spec,
    asked: u64,
    train_rows: u64,
) -> Result<(Row, PathBuf, Value)> {
    let steps = steps_within_epoch(asked, train_rows, spec.batch);
    if steps < asked {
        sides.say(&format!(
            "{asked} steps of {} cross an epoch of {train_rows} titles, where charrnn \
             validates: timing {steps} steps",
            spec.batch
        ));
    }
    sides.say(&format!(
        "training throughput, {}: {steps} steps",
        spec.label
    ));
    let dir = runs.join(spec.key);
    fresh_dir(&dir)?;
    let mut ours = train_common(opts, data, &dir);
    ours.extend(spec.ours(steps));
    let done = done_event(&sides.charrnn(&ours)?.stdout)?;
    let mut theirs = reference_common(opts, data);
    theirs.extend(spec.reference_train());
    theirs.extend(["--steps".into(), steps.to_string()]);
    let reference = sides.reference("train", &theirs)?;
    let row = Row {
        part: "train",
        metric: format!("training, {} ({steps} steps)", spec.label),
        unit: "chars/s",
        charrnn: Some(num(&done, "chars_per_sec", "charrnn train")?),
        reference: Some(num(&reference, "chars_per_sec", "the reference's train")?),
        target: target(Goal::Train { batch: spec.batch }, opts.cuda()),
        charrnn_rss_mib: done["peak_rss_mib"].as_f64(),
        reference_rss_mib: reference["peak_rss_mib"].as_f64(),
        note: format!(
            "{:.1} s vs {:.1} s of training{}",
            done["elapsed_secs"].as_f64().unwrap_or(f64::NAN),
            reference["elapsed_secs"].as_f64().unwrap_or(f64::NAN),
            if steps < asked {
                format!("; {asked} steps asked, one epoch is {steps}")
            } else {
                String::new()
            }
        ),
    };
    Ok((row, dir, json!({"charrnn": done, "reference": reference})))
}

fn ttb_row(
    sides: &mut Sides,
    opts: &Options,
    data: &DataFiles,
    runs: &Path,
) -> Result<(Row, Value)> {
    let seed = seed_spec();
    sides.say(&format!(
        "time to bpc: the reference's seed recipe ({})",
        opts.ttb_ref_secs
            .map_or_else(|| "one epoch".to_owned(), |s| format!("{s} s"))
    ));
    let mut theirs = reference_common(opts, data);
    theirs.extend(seed.reference_train());
    theirs.extend(["--valid".into(), data.test_csv.to_string_lossy().into()]);
    theirs.extend(["--epochs".into(), "1".into()]);
    if let Some(secs) = opts.ttb_ref_secs {
        theirs.extend(["--seconds".into(), secs.to_string()]);
    }
    let reference = sides.reference("train", &theirs)?;
    let goal = num(&reference, "val_bpc", "the reference's seed recipe")?;
    let ref_secs = num(&reference, "elapsed_secs", "the reference's seed recipe")?;
    let ref_steps = reference["steps"].as_u64().unwrap_or(0);
    let budget = ttb_budget(opts.ttb_budget, ref_secs);

    sides.say(&format!(
        "time to bpc: charrnn --preset default until validation bpc ≤ {goal:.4} (at most {} s)",
        fmt_num(budget)
    ));
    let dir = runs.join("ttb-default");
    fresh_dir(&dir)?;
    let mut ours = train_common(opts, data, &dir);
    ours.extend(strings(&[
        "--preset",
        "default",
        "--eval-every",
        &opts.ttb_eval_every.to_string(),
        "--time-budget",
        &format!("{budget:.1}"),
    ]));
    let done = done_event(&sides.charrnn(&ours)?.stdout)?;
    let metrics_path = dir.join("metrics.jsonl");
    let metrics = fs::read_to_string(&metrics_path)
        .with_context(|| format!("cannot read {}", metrics_path.display()))?;
    let (reached, best) =
        time_to_bpc(&metrics, goal).with_context(|| format!("bad {}", metrics_path.display()))?;
    let ours_note = match &reached {
        Some(r) => format!(
            "charrnn: val bpc {:.4} at step {} (default preset, validating every {} steps; \
             training time, validation not counted)",
            r.val_bpc, r.step, opts.ttb_eval_every
        ),
        None => format!(
            "charrnn: not reached within {} s (best val bpc {})",
            fmt_num(budget),
            best.map_or_else(|| "–".to_owned(), |b| format!("{b:.4}"))
        ),
    };
    let row = Row {
        part: "ttb",
        metric: format!("time to the seed recipe's val bpc {goal:.4} (lower is better)"),
        unit: "s",
        charrnn: reached.as_ref().map(|r| r.elapsed_secs),
        reference: Some(ref_secs),
        target: target(Goal::TimeToBpc, opts.cuda()),
        charrnn_rss_mib: done["peak_rss_mib"].as_f64(),
        reference_rss_mib: reference["peak_rss_mib"].as_f64(),
        note: format!(
            "reference: seed recipe, {ref_steps} steps of {} titles{} → val bpc {goal:.4}; \
             {ours_note}",
            seed.batch,
            if opts.ttb_ref_secs.is_some() {
                ", time-limited"
            } else {
                ", one epoch"
            }
        ),
    };
    let value = json!({
        "reference": reference,
        "charrnn": done,
        "charrnn_reached": reached.as_ref().map(|r| json!({
            "step": r.step, "elapsed_secs": r.elapsed_secs, "val_bpc": r.val_bpc
        })),
        "charrnn_best_val_bpc": best,
        "charrnn_budget_secs": budget,
    });
    Ok((row, value))
}

/// Our time-to-bpc budget: the flag's, else the reference's time within
/// [`TTB_BUDGET_RANGE`] (beyond the reference's time the ratio is above 1 anyway).
pub(crate) fn ttb_budget(flag: Option<f64>, reference_secs: f64) -> f64 {
    let (lo, hi) = TTB_BUDGET_RANGE;
    flag.unwrap_or_else(|| {
        if reference_secs.is_finite() {
            reference_secs.clamp(lo, hi)
        } else {
            lo
        }
    })
}

/// Our `generate` of `samples` × `length` from `run_dir`; returns its stats line.
fn our_generate(
    sides: &mut Sides,
    opts: &Options,
    run_dir: &Path,
    samples: u64,
    length: u64,
) -> Result<Value> {
    let mut a = vec!["generate".to_owned(), run_dir.to_string_lossy().into()];
    a.extend(strings(&[
        "--prompt",
        PROMPT,
        "-n",
        &samples.to_string(),
        "--max-len",
        &length.to_string(),
        "--temperature",
        "1.0",
        "--ignore-eos",
        "--stats",
        "--json",
        "--device",
        &opts.device,
        "--threads",
        &opts.threads.to_string(),
        "--seed",
        &opts.seed.to_string(),
    ]));
    stats_event(&sides.charrnn(&a)?.stderr)
}

fn gen_rows(
    sides: &mut Sides,
    opts: &Options,
    data: &DataFiles,
    run_dir: &Path,
) -> Result<(Vec<Row>, Value)> {
    // The best checkpoint when the run validated, else the last one.
    let ckpt = if run_dir.join("best").is_dir() || !run_dir.join("last").is_dir() {
        run_dir.to_path_buf()
    } else {
        run_dir.join("last")
    };
    let (n, len) = (opts.gen_samples, opts.gen_length);
    sides.say(&format!("generation: {n} samples × {len} characters"));
    let batched = our_generate(sides, opts, &ckpt, n, len)?;
    let single = our_generate(sides, opts, &ckpt, 1, len)?;
    let spec = &train_specs()[1];
    let mut theirs = reference_common(opts, data);
    theirs.extend(spec.reference());
    theirs.extend(strings(&[
        "--samples",
        &n.to_string(),
        "--length",
        &len.to_string(),
        "--notebook-length",
        &opts.notebook_length.to_string(),
        "--temperature",
        "1.0",
    ]));
    let reference = sides.reference("generate", &theirs)?;

    let ours_cps = num(&batched, "chars_per_sec", "charrnn generate")?;
    let ours_chars = batched["chars"].as_u64().unwrap_or(0);
    let ours_secs = num(&batched, "elapsed_secs", "charrnn generate")?;
    let ref_batched = num(
        &reference,
        "batched_chars_per_sec",
        "the reference's generate",
    )?;
    let ref_secs = (n * len) as f64 / ref_batched;
    let single_chars = num(&single, "chars", "charrnn generate -n 1")?;
    let single_ms = if single_chars > 0.0 {
        Some(num(&single, "elapsed_secs", "charrnn generate -n 1")? * 1000.0 / single_chars)
    } else {
        None
    };
    let ours_rss = batched["peak_rss_mib"].as_f64();
    let ref_rss = reference["peak_rss_mib"].as_f64();
    let cuda = opts.cuda();
    let rows = vec![
        Row {
            part: "gen",
            metric: format!(
                "generation, {n} samples × {len} chars, batched, vs the reference's \
                 carried-state loop"
            ),
            unit: "chars/s",
            charrnn: Some(ours_cps),
            reference: Some(ref_batched),
            target: target(Goal::GenBatched, cuda),
            charrnn_rss_mib: ours_rss,
            reference_rss_mib: ref_rss,
            note: format!(
                "both run every sample to its length (charrnn: --ignore-eos): {ours_chars} of {} \
                 chars in {} s; the reference: {} in {} s",
                n * len,
                fmt_num(ours_secs),
                n * len,
                fmt_num(ref_secs),
            ),
        },
        Row {
            part: "gen",
            metric: format!(
                "generation, charrnn batched ({n} samples) vs the notebook's loop \
                 (re-runs the prefix per char, 1 sample × {} chars)",
                opts.notebook_length.min(len)
            ),
            unit: "chars/s",
            charrnn: Some(ours_cps),
            reference: Some(num(
                &reference,
                "notebook_chars_per_sec",
                "the reference's generate",
            )?),
            target: target(Goal::GenNotebook, cuda),
            charrnn_rss_mib: ours_rss,
            reference_rss_mib: ref_rss,
            note: String::new(),
        },
        Row {
            part: "gen",
            metric: format!("single-sample latency, 1 × {len} chars (lower is better)"),
            unit: "ms/char",
            charrnn: single_ms,
            reference: Some(num(
                &reference,
                "single_ms_per_char",
                "the reference's generate",
            )?),
            target: target(Goal::Latency, cuda),
            charrnn_rss_mib: single["peak_rss_mib"].as_f64(),
            reference_rss_mib: ref_rss,
            note: format!(
                "charrnn: {single_chars:.0} chars generated (--ignore-eos), priming included"
            ),
        },
    ];
    let value = json!({
        "checkpoint": ckpt,
        "charrnn_batched": batched,
        "charrnn_single": single,
        "reference": reference,
    });
    Ok((rows, value))
}

fn notes(opts: &Options) -> Vec<String> {
    let mut notes = vec![
        "ratio = charrnn / reference; for rows marked \"lower is better\" a ratio below 1 \
         favours charrnn."
            .to_owned(),
        format!(
            "both sides run back to back on {} with {} thread(s), same seed and configuration \
             (LSTM, no dropout, no clipping, shuffled random batches, same learning rate).",
            opts.device, opts.threads
        ),
    ];
    notes.push(
        "timings assume an otherwise idle machine: with other processes on the cores, \
         libtorch's multi-threaded CPU kernels slow down by up to tens of times on both sides \
         (the load average above includes the benchmark's own processes)."
            .into(),
    );
    if opts.parts.contains(&Part::Train) {
        notes.push(
            "training: real target characters per second (padding not counted) over a fixed \
             number of steps, no validation while timed; charrnn's figure is its done event's \
             chars_per_sec (training time only), the reference's covers its training loop."
                .into(),
        );
    }
    if opts.parts.contains(&Part::Ttb) {
        notes.push(format!(
            "time to bpc: the reference trains the seed recipe (one-hot LSTM 128, batch 8, \
             RMSprop) for {} and reports val bpc on the test titles; charrnn trains \
             `--preset default` (validating every {} steps) for {} and the time is the \
             `elapsed` of the first metrics.jsonl line at or below that bpc (charrnn's training \
             clock leaves its validation passes out). Both times are training time, without \
             data loading.",
            opts.ttb_ref_secs
                .map_or_else(|| "one epoch".to_owned(), |s| format!("{s} s")),
            opts.ttb_eval_every,
            opts.ttb_budget.map_or_else(
                || "as long as the reference took (30-600 s)".to_owned(),
                |b| format!("at most {b} s")
            ),
        ));
    }
    if opts.parts.contains(&Part::Gen) {
        notes.push(
            "generation: charrnn samples from the LSTM 128 batch-256 run's checkpoint, \
             prompt \"Today \", temperature 1.0, with <eos> banned (--ignore-eos) so that every \
             sample runs to its full length, as the reference's do (elapsed includes priming); \
             the reference builds an untrained model of the same shape (speed does not \
             depend on the weights) and generates exactly the requested length per sample."
                .into(),
        );
    }
    if opts.cuda() {
        notes.push(
            "CUDA: GPU memory is not in the RSS column; the reference's peak_gpu_mib is in \
             bench.json."
                .into(),
        );
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(charrnn: Option<f64>, reference: Option<f64>, target: Option<Target>) -> Row {
        Row {
            part: "train",
            metric: "m".into(),
            unit: "chars/s",
            charrnn,
            reference,
            target,
            charrnn_rss_mib: Some(100.0),
            reference_rss_mib: Some(600.0),
            note: String::new(),
        }
    }

    #[test]
    fn verdicts_follow_the_ratio_and_the_target_direction() {
        let check = |ours: Option<f64>, theirs: Option<f64>, t: Option<Target>, want: Verdict| {
            let r = row(ours, theirs, t);
            assert_eq!(r.verdict(), want, "{ours:?} / {theirs:?} against {t:?}");
        };
        let at_least = Some(Target::AtLeast(1.2));
        check(Some(1200.0), Some(1000.0), at_least, Verdict::Pass);
        check(Some(1199.0), Some(1000.0), at_least, Verdict::Miss);
        check(Some(5000.0), Some(1000.0), at_least, Verdict::Pass);
        let at_most = Some(Target::AtMost(0.1));
        check(Some(10.0), Some(100.0), at_most, Verdict::Pass);
        check(Some(10.5), Some(100.0), at_most, Verdict::Miss);
        // Not reached, or the reference did not measure: a target is missed.
        check(None, Some(100.0), at_most, Verdict::Miss);
        check(Some(1.0), None, at_least, Verdict::Miss);
        check(Some(1.0), Some(0.0), at_least, Verdict::Miss);
        check(Some(1.0), Some(2.0), None, Verdict::NoTarget);
        check(None, None, None, Verdict::NoTarget);
    }

    #[test]
    fn ratios() {
        assert_eq!(row(Some(3.0), Some(2.0), None).ratio(), Some(1.5));
        assert_eq!(row(None, Some(2.0), None).ratio(), None);
        assert_eq!(row(Some(3.0), Some(0.0), None).ratio(), None);
        assert_eq!(row(Some(f64::INFINITY), Some(2.0), None).ratio(), None);
    }

    #[test]
    fn targets_by_device() {
        let check = |goal: Goal, cuda: bool, want: Option<Target>| {
            assert_eq!(target(goal, cuda), want, "{goal:?} cuda={cuda}");
        };
        check(Goal::Train { batch: 8 }, false, Some(Target::AtLeast(1.2)));
        check(
            Goal::Train { batch: 256 },
            false,
            Some(Target::AtLeast(1.0)),
        );
        check(Goal::Train { batch: 8 }, true, Some(Target::AtLeast(1.0)));
        check(Goal::Train { batch: 256 }, true, Some(Target::AtLeast(1.0)));
        check(Goal::TimeToBpc, false, Some(Target::AtMost(0.1)));
        check(Goal::TimeToBpc, true, Some(Target::AtMost(0.1)));
        check(Goal::GenBatched, false, Some(Target::AtLeast(1.0)));
        check(Goal::GenBatched, true, Some(Target::AtLeast(2.0)));
        check(Goal::GenNotebook, false, Some(Target::AtLeast(100.0)));
        check(Goal::Latency, false, None);
        check(Goal::Latency, true, None);
    }

    fn machine() -> Machine {
        Machine {
            cpu: "Intel(R) Xeon(R) Processor".into(),
            cores: 2,
            device: "cpu".into(),
            gpu: None,
            threads: 2,
            date: "2025-01-02T03:04:05Z".into(),
            load_at_start: Some(0.5),
            load_at_end: Some(1.25),
            python_torch: Some("2.11.0+cu130".into()),
        }
    }

    fn made_up_table() -> Table {
        Table {
            machine: machine(),
            rows: vec![
                Row {
                    metric: "training, seed | b8".into(),
                    target: target(Goal::Train { batch: 8 }, false),
                    ..row(Some(1_500.0), Some(1_000.0), None)
                },
                Row {
                    metric: "training, b256".into(),
                    target: target(Goal::Train { batch: 256 }, false),
                    ..row(Some(9_000.0), Some(10_000.0), None)
                },
                Row {
                    part: "ttb",
                    metric: "time to bpc".into(),
                    unit: "s",
                    target: target(Goal::TimeToBpc, false),
                    note: "charrnn: not reached".into(),
                    ..row(None, Some(240.0), None)
                },
                Row {
                    part: "gen",
                    metric: "latency".into(),
                    unit: "ms/char",
                    ..row(Some(0.25), Some(0.5), None)
                },
            ],
            notes: vec!["a note".into()],
            raw: json!({"train/seed-b8": {"charrnn": {"steps": 3}}}),
        }
    }

    #[test]
    fn markdown_shows_figures_ratios_targets_and_verdicts() {
        let md = markdown(&made_up_table());
        let lines: Vec<&str> = md.lines().collect();
        assert!(
            lines.contains(&"- CPU: Intel(R) Xeon(R) Processor (2 cores)"),
            "{md}"
        );
        assert!(lines.contains(&"- date: 2025-01-02T03:04:05Z"), "{md}");
        assert!(lines.contains(&"- threads (both sides): 2"), "{md}");
        assert!(lines.contains(&"- reference: PyTorch 2.11.0+cu130"), "{md}");
        assert!(
            lines.contains(&"- load average (1 min) at start / end: 0.500 / 1.25"),
            "{md}"
        );
        let rows: Vec<&&str> = lines.iter().filter(|l| l.starts_with("| ")).collect();
        // Header + 4 rows (the separator starts with "|-").
        assert_eq!(rows.len(), 5, "{md}");
        assert_eq!(
            *rows[1],
            "| training, seed \\| b8 | chars/s | 1,500 | 1,000 | 1.50× | ≥ 1.2× | pass \
             | 100 / 600 |  |"
        );
        assert_eq!(
            *rows[2],
            "| training, b256 | chars/s | 9,000 | 10,000 | 0.90× | ≥ 1× | miss | 100 / 600 |  |"
        );
        assert_eq!(
            *rows[3],
            "| time to bpc | s | – | 240 | – | ≤ 0.1× | miss | 100 / 600 | charrnn: not reached |"
        );
        assert_eq!(
            *rows[4],
            "| latency | ms/char | 0.250 | 0.500 | 0.50× | – | – | 100 / 600 |  |"
        );
        assert!(md.ends_with("Notes:\n\n- a note\n"), "{md}");
    }

    #[test]
    fn json_keeps_figures_verdicts_machine_and_raw_outputs() {
        let v = to_json(&made_up_table());
        assert_eq!(v["machine"]["cpu"], "Intel(R) Xeon(R) Processor");
        assert_eq!(v["machine"]["cores"], 2);
        assert_eq!(v["machine"]["device"], "cpu");
        assert_eq!(v["machine"]["threads"], 2);
        assert_eq!(v["machine"]["date"], "2025-01-02T03:04:05Z");
        assert_eq!(v["machine"]["load_at_end"], 1.25);
        let rows = v["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0]["ratio"], 1.5);
        assert_eq!(rows[0]["target"], json!({"at_least": 1.2}));
        assert_eq!(rows[0]["met"], true);
        assert_eq!(rows[1]["met"], false);
        assert_eq!(rows[2]["charrnn"], Value::Null);
        assert_eq!(rows[2]["ratio"], Value::Null);
        assert_eq!(rows[2]["target"], json!({"at_most": 0.1}));
        assert_eq!(rows[2]["met"], false);
        assert_eq!(rows[3]["met"], Value::Null);
        assert_eq!(rows[3]["target"], Value::Null);
        assert_eq!(rows[0]["reference_peak_rss_mib"], 600.0);
        assert_eq!(v["raw"]["train/seed-b8"]["charrnn"]["steps"], 3);
        assert_eq!(v["notes"], json!(["a note"]));
    }

    #[test]
    fn the_table_is_written_as_markdown_and_json() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nested").join("bench");
        let table = made_up_table();
        let (md, js) = write_table(&table, &out).unwrap();
        assert_eq!(fs::read_to_string(&md).unwrap(), markdown(&table));
        let back: Value = serde_json::from_str(&fs::read_to_string(&js).unwrap()).unwrap();
        assert_eq!(back, to_json(&table));
        // Only the two files: no temporary file is left behind.
        let mut names: Vec<String> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["bench.json", "bench.md"]);
        // A second write replaces both.
        let mut other = table.clone();
        other.rows.truncate(1);
        write_table(&other, &out).unwrap();
        let back: Value = serde_json::from_str(&fs::read_to_string(&js).unwrap()).unwrap();
        assert_eq!(back["rows"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn time_to_bpc_takes_the_first_evaluation_at_or_below_the_goal() {
        let metrics = "\
{\"step\":50,\"epoch\":0,\"train_bpc\":3.1,\"val_bpc\":3.0,\"chars_per_sec\":9000,\"elapsed\":4.5}
{\"step\":100,\"epoch\":0,\"train_bpc\":2.6,\"val_bpc\":2.5,\"chars_per_sec\":9000,\"elapsed\":9.0}

{\"step\":150,\"epoch\":0,\"train_bpc\":2.4,\"val_bpc\":2.7,\"chars_per_sec\":9000,\"elapsed\":13.5}
{\"step\":200,\"epoch\":0,\"val_bpc\":2.2,\"chars_per_sec\":9000,\"elapsed_secs\":18.0}
";
        let check = |goal: f64, want: Option<(u64, f64)>| {
            let (reached, best) = time_to_bpc(metrics, goal).unwrap();
            assert_eq!(
                reached.map(|r| (r.step, r.elapsed_secs)),
                want,
                "goal {goal}"
            );
            assert_eq!(best, Some(2.2));
        };
        check(3.5, Some((50, 4.5)));
        check(3.0, Some((50, 4.5)));
        check(2.6, Some((100, 9.0)));
        // The first line at or below, not the best one.
        check(2.5, Some((100, 9.0)));
        check(2.3, Some((200, 18.0)));
        check(2.1, None);

        // Lines without validation (or without a time) are skipped.
        let no_val = "{\"step\":10,\"train_bpc\":3.0,\"elapsed\":1.0}\n\
                      {\"step\":20,\"val_bpc\":1.0}\n\
                      {\"step\":30,\"val_bpc\":1.5,\"elapsed\":3.0}\n";
        let (reached, best) = time_to_bpc(no_val, 2.0).unwrap();
        assert_eq!(
            reached,
            Some(Reached {
                step: 30,
                elapsed_secs: 3.0,
                val_bpc: 1.5
            })
        );
        assert_eq!(best, Some(1.0));
        assert_eq!(time_to_bpc("", 2.0).unwrap(), (None, None));
        let err = time_to_bpc("{\"step\":1}\nnot json\n", 2.0).unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }

    #[test]
    fn cpu_model_and_cores_from_cpuinfo() {
        let x86 = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) \
                   Processor\nflags\t\t: fpu vme\n\nprocessor\t: 1\nmodel name\t: Intel(R) \
                   Xeon(R) Processor\n";
        assert_eq!(
            parse_cpuinfo(x86),
            (Some("Intel(R) Xeon(R) Processor".into()), 2)
        );
        let arm = "processor\t: 0\nBogoMIPS\t: 50.00\nprocessor\t: 1\nprocessor\t: 2\n\
                   Hardware\t: BCM2835\n";
        assert_eq!(parse_cpuinfo(arm), (Some("BCM2835".into()), 3));
        assert_eq!(parse_cpuinfo(""), (None, 0));
        assert_eq!(parse_cpuinfo("model name\t:\n"), (None, 0));
    }

    #[test]
    fn load_average_and_dates() {
        assert_eq!(parse_loadavg("3.77 4.57 3.77 3/512 27561\n"), Some(3.77));
        assert_eq!(parse_loadavg(""), None);
        let check = |secs: u64, want: &str| assert_eq!(utc_timestamp(secs), want, "{secs}");
        check(0, "1970-01-01T00:00:00Z");
        check(951_782_400, "2000-02-29T00:00:00Z");
        check(1_709_251_199, "2024-02-29T23:59:59Z");
        check(1_735_787_045, "2025-01-02T03:04:05Z");
        check(4_107_542_400, "2100-03-01T00:00:00Z");
    }

    #[test]
    fn numbers_are_printed_with_about_four_digits() {
        let check = |x: f64, want: &str| assert_eq!(fmt_num(x), want, "{x}");
        check(123_456.7, "123,457");
        check(1_000.0, "1,000");
        check(999.6, "1000");
        check(123.4, "123");
        check(12.34, "12.3");
        check(1.234, "1.23");
        check(0.1234, "0.123");
        check(-4_321.0, "-4,321");
        assert_eq!(fmt_ratio(Some(250.0)), "250×");
        assert_eq!(fmt_ratio(Some(1.234)), "1.23×");
        assert_eq!(fmt_ratio(Some(0.05)), "0.050×");
        assert_eq!(fmt_ratio(None), "–");
    }

    fn flag<'a>(flags: &'a [String], name: &str) -> Option<&'a str> {
        flags
            .iter()
            .position(|f| f == name)
            .and_then(|i| flags.get(i + 1))
            .map(String::as_str)
    }

    #[test]
    fn both_sides_get_the_same_configuration() {
        for spec in train_specs() {
            let ours = spec.ours(40);
            let theirs = spec.reference_train();
            assert_eq!(flag(&spec.reference(), "--batch-size"), None);
            for name in [
                "--cell",
                "--input",
                "--hidden",
                "--layers",
                "--dropout",
                "--batch-size",
                "--optimizer",
                "--lr",
            ] {
                assert!(flag(&ours, name).is_some(), "{} {name}", spec.key);
                assert_eq!(
                    flag(&ours, name),
                    flag(&theirs, name),
                    "{} {name}",
                    spec.key
                );
            }
            if !spec.one_hot {
                assert_eq!(flag(&ours, "--embed-dim"), flag(&theirs, "--embed-dim"));
            }
            assert_eq!(flag(&ours, "--max-steps"), Some("40"));
            assert_eq!(flag(&ours, "--clip"), Some("0"));
            assert_eq!(flag(&ours, "--order"), Some("shuffled"));
            let every: u64 = flag(&ours, "--eval-every").unwrap().parse().unwrap();
            assert!(every > 1_000_000, "{every}");
        }
        let [seed, b256, big] = train_specs();
        assert_eq!(
            (seed.one_hot, seed.hidden, seed.batch, seed.optimizer),
            (true, 128, 8, "rmsprop")
        );
        assert_eq!((b256.hidden, b256.layers, b256.batch), (128, 1, 256));
        assert_eq!((big.hidden, big.layers, big.batch), (512, 2, 256));
        assert_eq!(seed_spec(), seed);
    }

    fn args(extra: &[&str]) -> BenchArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            args: BenchArgs,
        }
        let argv = std::iter::once("bench").chain(extra.iter().copied());
        Wrap::try_parse_from(argv).unwrap().args
    }

    #[test]
    fn options_fill_in_device_and_quick_defaults() {
        let o = Options::resolve(&args(&[])).unwrap();
        assert_eq!(o.train_steps, [1500, 40, 10]);
        assert_eq!((o.device.as_str(), o.threads), ("cpu", 2));
        assert_eq!((o.gen_samples, o.gen_length), (256, 300));
        assert_eq!(o.parts, [Part::Train, Part::Ttb, Part::Gen]);
        assert_eq!((o.ttb_ref_secs, o.ttb_budget), (None, None));

        let o = Options::resolve(&args(&["--device", "cuda"])).unwrap();
        assert_eq!(o.gen_samples, 1024);
        assert!(o.cuda());
        let o = Options::resolve(&args(&["--device", "cuda:1", "--gen-samples", "64"])).unwrap();
        assert_eq!(o.gen_samples, 64);

        let o = Options::resolve(&args(&["--quick", "--only", "gen"])).unwrap();
        assert_eq!(o.train_steps, [20, 3, 2]);
        assert_eq!((o.ttb_ref_secs, o.ttb_budget), (Some(15.0), Some(15.0)));
        assert_eq!(o.parts, [Part::Gen]);
        assert!(o.gen_samples < 256 && o.gen_length < 300);

        let o = Options::resolve(&args(&["--train-steps", "5"])).unwrap();
        assert_eq!(o.train_steps, [5, 5, 5]);
        let o = Options::resolve(&args(&[
            "--train-steps",
            "7,8,9",
            "--ttb-ref-secs",
            "60",
            "--ttb-budget",
            "20",
        ]))
        .unwrap();
        assert_eq!(o.train_steps, [7, 8, 9]);
        assert_eq!((o.ttb_ref_secs, o.ttb_budget), (Some(60.0), Some(20.0)));
        let o = Options::resolve(&args(&["--quick", "--ttb-ref-secs", "0"])).unwrap();
        assert_eq!(o.ttb_ref_secs, None);

        let err = |extra: &[&str], want: &str| {
            let e = Options::resolve(&args(extra)).unwrap_err().to_string();
            assert!(e.contains(want), "{extra:?}: {e}");
        };
        err(&["--train-steps", "1,2"], "one value or three");
        err(&["--train-steps", "0"], "at least 1");
        err(&["--device", "tpu"], "cpu, cuda or cuda:N");
        err(&["--device", "cuda:"], "cpu, cuda or cuda:N");
        err(&["--threads", "0"], "--threads");
        err(&["--ttb-budget", "0"], "--ttb-budget");
        err(&["--ttb-ref-secs=-1"], "--ttb-ref-secs");
        err(&["--gen-samples", "0"], "at least 1");
    }

    #[test]
    fn csvs_come_from_the_mirror_when_there_is_one() {
        let data = Path::new("/d");
        let plain = DataFiles::new(data, None);
        assert_eq!(plain.train_parquet, Path::new("/d/train.parquet"));
        assert_eq!(plain.test_parquet, Path::new("/d/test.parquet"));
        assert_eq!(plain.train_csv, Path::new("/d/train.csv"));
        assert_eq!(plain.test_csv, Path::new("/d/test.csv"));
        let mirrored = DataFiles::new(data, Some(Path::new("/m")));
        assert_eq!(mirrored.train_parquet, Path::new("/d/train.parquet"));
        assert_eq!(mirrored.train_csv, Path::new("/m/train.csv"));
        assert_eq!(mirrored.test_csv, Path::new("/m/test.csv"));

        let dir = tempfile::tempdir().unwrap();
        let files = DataFiles::new(dir.path(), None);
        assert_eq!(files.missing().len(), 4);
        fs::write(&files.train_csv, "1,a,b\n").unwrap();
        fs::write(&files.test_parquet, "x").unwrap();
        assert_eq!(
            files.missing(),
            [files.train_parquet.as_path(), files.test_csv.as_path()]
        );
    }

    #[test]
    fn generate_stats_are_read_from_stderr() {
        let stderr = "warning: something\n{\"event\":\"other\"}\n\
                      {\"event\":\"stats\",\"samples\":256,\"chars\":12800,\"elapsed_secs\":2.0,\
                      \"chars_per_sec\":6400.0,\"peak_rss_mib\":210.5}\n";
        let v = stats_event(stderr).unwrap();
        assert_eq!(v["chars"], 12800);
        assert_eq!(v["chars_per_sec"], 6400.0);
        assert!(stats_event("error: no\n").is_err());
        assert!(stats_event("{\"event\":\"stats\"\n").is_err());
    }

    #[test]
    fn timed_steps_stay_within_one_epoch() {
        let check = |asked: u64, rows: u64, batch: u32, want: u64| {
            assert_eq!(
                steps_within_epoch(asked, rows, batch),
                want,
                "{asked} {rows} {batch}"
            );
        };
        // 12,505 titles: 1,564 batches of 8 (the last one partial), 49 of 256.
        check(1500, 12_505, 8, 1500);
        check(3000, 12_505, 8, 1564);
        check(40, 12_505, 256, 40);
        check(100, 12_505, 256, 49);
        check(100, 120_000, 256, 100);
        check(5, 0, 8, 5);
    }

    #[test]
    fn the_time_to_bpc_budget_follows_the_reference() {
        assert_eq!(ttb_budget(Some(12.0), 500.0), 12.0);
        assert_eq!(ttb_budget(None, 95.5), 95.5);
        assert_eq!(ttb_budget(None, 3.0), 30.0);
        assert_eq!(ttb_budget(None, 5000.0), 600.0);
        assert_eq!(ttb_budget(None, f64::NAN), 30.0);
    }

    #[test]
    fn pinned_torch_versions() {
        assert!(is_pinned_torch("2.11.0"));
        assert!(is_pinned_torch("2.11.0+cu130"));
        assert!(!is_pinned_torch("2.1.0"));
        assert!(!is_pinned_torch("2.11.01"));
    }
}
