//! `cargo xtask experiment`: the whole job from a fresh clone, in one command.
//!
//! setup (libtorch) → build the `charrnn` binary (or take `CHARRNN_BIN`) → fetch AG News (when
//! the Parquet files are missing, or from `--mirror`) → `charrnn experiment` with the AG News
//! data directory and `target/experiments`. The experiment itself (vocabulary, training,
//! evaluation, samples, sweep, report) is `charrnn experiment`'s, from the
//! `charrnn-experiment` crate; this only gets everything it needs in place.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};
use clap::Args;

use crate::{fetch, workspace};

/// `cargo xtask experiment [FLAGS] [-- EXTRA TRAIN FLAGS]`
#[derive(Args, Debug)]
pub(crate) struct ExperimentArgs {
    /// The training recipe: notebook, default or gpu (for one CUDA GPU; pass --device cuda).
    #[arg(long, default_value = "default")]
    preset: String,
    /// The experiment's name: the report goes to target/experiments/NAME/ [default: the preset].
    #[arg(long)]
    name: Option<String>,
    /// Take the AG News CSV files from this directory (checked against its SHA256SUMS).
    #[arg(long, value_name = "DIR")]
    mirror: Option<PathBuf>,
    /// Stop training after this many steps, 1 or more (each run of a sweep) [default: the
    /// preset's budget].
    #[arg(long, value_name = "N")]
    max_steps: Option<u64>,
    /// Seconds of training, more than 0; with --sweep, the total shared evenly by all runs
    /// [default: the preset's budget; with --sweep, 1800].
    #[arg(long, value_name = "SECS")]
    time_budget: Option<f64>,
    /// Also train model variants (LSTM/GRU, 1-3 layers, hidden 128-512, full text) and
    /// tabulate them.
    #[arg(long)]
    sweep: bool,
    /// Replace an earlier experiment of the same name (passed to charrnn).
    #[arg(long)]
    overwrite: bool,
    /// auto, cpu, cuda or cuda:N (passed to charrnn) [default: auto].
    #[arg(long)]
    device: Option<String>,
    /// CPU threads for libtorch, 1 or more [default: libtorch's].
    #[arg(long)]
    threads: Option<u32>,
    /// Do not condition the model on the AG News class (the default preset does).
    #[arg(long)]
    no_labels: bool,
    /// Seed of training, of the validation split and of sampling [default: 1].
    #[arg(long)]
    seed: Option<u64>,
    /// Samples per prompt and temperature, 1 or more [default: 4].
    #[arg(long, value_name = "N")]
    samples: Option<usize>,
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

/// The `charrnn experiment` command line for `args`, reading `data` and writing under `out`.
pub(crate) fn charrnn_args(args: &ExperimentArgs, data: &Path, out: &Path) -> Vec<OsString> {
    let mut line: Vec<OsString> = vec![
        "experiment".into(),
        "--data".into(),
        data.into(),
        "--out".into(),
        out.into(),
        "--preset".into(),
        (&args.preset).into(),
    ];
    let mut pass = |flag: &str, value: Option<String>| {
        if let Some(value) = value {
            line.extend([flag.into(), value.into()]);
        }
    };
    pass("--name", args.name.clone());
    pass("--max-steps", args.max_steps.map(|v| v.to_string()));
    pass("--time-budget", args.time_budget.map(|v| v.to_string()));
    pass("--device", args.device.clone());
    pass("--threads", args.threads.map(|v| v.to_string()));
    pass("--seed", args.seed.map(|v| v.to_string()));
    pass("--samples", args.samples.map(|v| v.to_string()));
    for (set, flag) in [
        (args.sweep, "--sweep"),
        (args.no_labels, "--no-labels"),
        (args.quiet, "--quiet"),
        (args.overwrite, "--overwrite"),
    ] {
        if set {
            line.push(flag.into());
        }
    }
    if !args.train_args.is_empty() {
        line.push("--".into());
        line.extend(args.train_args.iter().map(OsString::from));
    }
    line
}

/// Runs `cargo xtask experiment`.
pub(crate) fn run(root: &Path, args: ExperimentArgs) -> Result<()> {
    let say = |msg: &str| {
        if !args.quiet {
            eprintln!("experiment: {msg}");
        }
    };
    say("making libtorch available and building charrnn (the first build takes minutes)");
    let bin = workspace::charrnn_bin(root, args.quiet)?;
    let data = args
        .data
        .clone()
        .unwrap_or_else(|| root.join("data").join("ag_news"));
    let parquet_missing = ["train.parquet", "test.parquet"]
        .iter()
        .any(|f| !data.join(f).is_file());
    if args.mirror.is_some() || parquet_missing {
        say("fetching AG News");
        fetch::fetch_ag_news(root, &data, args.mirror.as_deref(), &bin)?;
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| workspace::target_dir(root).join("experiments"));
    let line = charrnn_args(&args, &data, &out);
    say(&format!(
        "running {} {}",
        bin.display(),
        line.iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    ));
    let status = Command::new(&bin)
        .args(&line)
        .status()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !status.success() {
        bail!("charrnn experiment failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ExperimentArgs,
    }

    fn line(argv: &[&str]) -> Vec<String> {
        let args = Wrapper::try_parse_from(argv).unwrap().args;
        charrnn_args(&args, Path::new("/d"), Path::new("/o"))
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn flags_pass_through_to_charrnn_experiment() {
        assert_eq!(
            line(&["x"]),
            [
                "experiment",
                "--data",
                "/d",
                "--out",
                "/o",
                "--preset",
                "default"
            ]
        );
        let full = line(&[
            "x",
            "--preset",
            "notebook",
            "--sweep",
            "--max-steps",
            "50",
            "--time-budget",
            "600",
            "--threads",
            "2",
            "--device",
            "cpu",
            "--no-labels",
            "--seed",
            "7",
            "--samples",
            "2",
            "--name",
            "mine",
            "--mirror",
            "/m",
            "--quiet",
            "--",
            "--hidden",
            "32",
        ])
        .join(" ");
        assert_eq!(
            full,
            "experiment --data /d --out /o --preset notebook --name mine --max-steps 50 \
             --time-budget 600 --device cpu --threads 2 --seed 7 --samples 2 --sweep \
             --no-labels --quiet -- --hidden 32"
        );
    }
}
