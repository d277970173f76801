//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! It knows how to make libtorch available (`setup`), check the tree (`tidy`), run every check
//! CI runs (`test`), and drive the `charrnn` binary end to end. It never links tch: everything
//! that needs a tensor happens in a `charrnn` subprocess.

mod bench;
mod bench_corpus;
mod experiment;
mod experiment_metrics;
mod fetch;
mod report;
mod setup;
mod tidy;

use std::{path::PathBuf, process::Command};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "charrnn project automation")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Make libtorch 2.11.0 available to the build (one download per machine).
    Setup,
    /// Check the layering and the source tree's rules.
    Tidy,
    /// Everything CI runs: setup, rustfmt, clippy and the whole test suite.
    Test,
    /// Download AG News (or take it from --mirror DIR), verify it, convert it to Parquet.
    Fetch(fetch::FetchArgs),
    /// The whole job: fetch, build, vocabulary, train, evaluate, sample, report (and --sweep).
    Experiment(experiment::ExperimentArgs),
    /// charrnn against the PyTorch reference: training, time to bpc, generation, memory.
    Bench(bench::BenchArgs),
}

fn main() {
    if let Err(err) = run() {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Setup => setup::ensure().map(|lt| eprintln!("libtorch: {}", lt.display())),
        Cmd::Tidy => tidy::run_all(&project_root()),
        Cmd::Test => test(),
        Cmd::Fetch(args) => fetch::run(args),
        Cmd::Experiment(args) => experiment::run(args),
        Cmd::Bench(args) => bench::run(args),
    }
}

/// The workspace root (the parent of this package's directory).
pub(crate) fn project_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn test() -> Result<()> {
    setup::ensure()?;
    let root = project_root();
    cargo(&root, &["fmt", "--all", "--check"])?;
    cargo(
        &root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    cargo(&root, &["test", "--workspace", "--all-targets"])?;
    cargo(&root, &["test", "--workspace", "--doc"])?;
    Ok(())
}

/// Runs `cargo ARGS` in `dir`, failing with the command line if it fails.
pub(crate) fn cargo(dir: &std::path::Path, args: &[&str]) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("could not run {cargo}"))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}
