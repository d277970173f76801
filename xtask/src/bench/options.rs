//! What the benchmark was asked for: its flags, resolved into [`Options`] with the defaults
//! of the device and of `--quick`, and the data files both sides read.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};

const TRAIN_CSV: &str = "train.csv";
const TEST_CSV: &str = "test.csv";
const TRAIN_PARQUET: &str = "train.parquet";
const TEST_PARQUET: &str = "test.parquet";

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

/// The training runs' arithmetic (`--precision`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Precision {
    /// float32.
    Fp32,
    /// bfloat16 mixed precision.
    Bf16,
}

impl Precision {
    /// The name both sides' `--precision` takes.
    pub(crate) fn flag(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        }
    }
}

/// `cargo xtask bench [FLAGS]`
#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    /// Take the AG News CSV files from this directory (checked against its SHA256SUMS); the
    /// reference reads them there.
    #[arg(long, value_name = "DIR")]
    pub(crate) mirror: Option<PathBuf>,
    /// Where the AG News Parquet (and, without --mirror, CSV) files are; fetched there when
    /// missing [default: data/ag_news].
    #[arg(long, value_name = "DIR")]
    pub(crate) data: Option<PathBuf>,
    /// The PyTorch reference script [default: benches/reference/charrnn_reference.py].
    #[arg(long, value_name = "PATH")]
    pub(crate) reference: Option<PathBuf>,
    /// The Python interpreter that runs the reference.
    #[arg(long, value_name = "PYTHON", default_value = "python3")]
    pub(crate) python: String,
    /// cpu, cuda or cuda:N, for both sides.
    #[arg(long, default_value = "cpu")]
    pub(crate) device: String,
    /// CPU threads of both sides.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub(crate) threads: u32,
    /// Steps of the three throughput runs (seed b8, LSTM128 b256, 2x512 b256): one value for
    /// all or three comma-separated, each at most one epoch (charrnn validates at an epoch's
    /// end) [default: 1500,40,10 on the CPU, a whole epoch each on CUDA; --quick: 20,3,2].
    #[arg(long, value_name = "N[,N,N]", value_delimiter = ',')]
    pub(crate) train_steps: Vec<u64>,
    /// Stop the reference's seed recipe after this many seconds of training (0: one full
    /// epoch, the real recipe) [default: 0; --quick: 15].
    #[arg(long, value_name = "SECS")]
    pub(crate) ttb_ref_secs: Option<f64>,
    /// Training time budget of our `--preset default` run [default: the reference's time,
    /// at least 30 s and at most 600 s; --quick: 15].
    #[arg(long, value_name = "SECS")]
    pub(crate) ttb_budget: Option<f64>,
    /// Validate our time-to-bpc run every N steps.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub(crate) ttb_eval_every: u64,
    /// Samples of the batched generation [default: 256 on cpu, 1024 on cuda; --quick: 16].
    #[arg(long, value_name = "N")]
    pub(crate) gen_samples: Option<u64>,
    /// Characters per generated sample [default: 300; --quick: 50].
    #[arg(long, value_name = "N")]
    pub(crate) gen_length: Option<u64>,
    /// Characters of the reference's notebook-style loop [default: 100; --quick: 20].
    #[arg(long, value_name = "N")]
    pub(crate) notebook_length: Option<u64>,
    /// A smoke run: a few steps and seconds everywhere (the figures mean little).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Run only this part.
    #[arg(long, value_enum)]
    pub(crate) only: Option<Part>,
    /// Seed of both sides.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Arithmetic of both sides' training throughput runs: fp32, or bf16 mixed precision
    /// (charrnn's --precision bf16 against the reference under torch.autocast).
    #[arg(long, value_enum, default_value_t = Precision::Fp32)]
    pub(crate) precision: Precision,
    /// Where bench.md, bench.json and the runs go [default: target/bench].
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<PathBuf>,
    /// Print no progress.
    #[arg(long)]
    pub(crate) quiet: bool,
    #[command(flatten)]
    pub(crate) corpus: crate::bench_corpus::CorpusArgs,
    #[command(flatten)]
    pub(crate) serve: super::serve::ServeBenchArgs,
    #[command(flatten)]
    pub(crate) dist: DistBenchArgs,
}

/// The data-parallel benchmark's flags (part of `cargo xtask bench`).
#[derive(Args, Debug)]
pub(crate) struct DistBenchArgs {
    /// Run the data-parallel benchmark (a group of one against none; on the CPU, 2 ranks × 1
    /// thread against 1 × 2) instead.
    #[arg(long)]
    pub(crate) dist: bool,
    /// Steps of each timed run, at least 1 (an epoch of the titles is 49; the evaluation at
    /// its end is off the clock) [default: 150 on the CPU, 500 on CUDA].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub(crate) dist_steps: Option<u64>,
    /// Times each side runs, alternating, at least 1; the median counts.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) dist_repeats: u32,
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
    pub(crate) precision: Precision,
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
            // A GPU trains an epoch of the titles in seconds: time whole epochs there.
            [] if cuda => [u64::MAX; 3],
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
            precision: args.precision,
            quiet: args.quiet,
        })
    }

    pub(crate) fn cuda(&self) -> bool {
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

    pub(crate) fn missing(&self) -> Vec<&Path> {
        self.all().into_iter().filter(|p| !p.is_file()).collect()
    }
}

/// Removes `dir` and everything in it, if it exists.
pub(crate) fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // Whole epochs on CUDA: every run is cut at its epoch's last batch.
        assert_eq!(o.train_steps, [u64::MAX; 3]);
        assert_eq!(
            crate::bench::spec::steps_within_epoch(o.train_steps[1], 12_505, 256),
            49
        );
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
}
