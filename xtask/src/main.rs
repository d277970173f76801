//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! It knows how to make libtorch available (`setup`), fetch AG News (`fetch`), check the tree
//! (`tidy`), run every check CI runs (`test`), and drive the `charrnn` binary (`experiment`,
//! `bench`, `e2e`). It depends on no crate of the workspace, so it compiles in seconds: everything
//! that needs a tensor, a Parquet file or a plot happens in a `charrnn` subprocess.

mod bench;
mod bench_corpus;
mod e2e;
mod experiment;
mod fetch;
mod serve_child;
mod setup;
mod tidy;
mod workspace;

use anyhow::Result;
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
    /// The whole job: setup, fetch, build, then `charrnn experiment` with the AG News defaults.
    Experiment(experiment::ExperimentArgs),
    /// charrnn against the PyTorch reference: training, time to bpc, generation, memory.
    Bench(bench::BenchArgs),
    /// Drive the `charrnn serve` playground in headless Chromium and save a screenshot.
    E2e(e2e::E2eArgs),
}

fn main() {
    if let Err(err) = run() {
        eprintln!("error: {err:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let cli = Cli::parse();
    // The bench also runs outside a checkout (a release xtask carried to another machine,
    // with everything named by flags): there the current directory stands in.
    if let Cmd::Bench(args) = cli.command {
        let root = workspace::root().or_else(|_| std::env::current_dir())?;
        return bench::run(&root, args);
    }
    let root = workspace::root()?;
    match cli.command {
        Cmd::Setup => setup::ensure(&root).map(|lt| eprintln!("libtorch: {}", lt.display())),
        Cmd::Tidy => tidy::run_all(&root),
        Cmd::Test => test(&root),
        Cmd::Fetch(args) => fetch::run(&root, args),
        Cmd::Experiment(args) => experiment::run(&root, args),
        Cmd::E2e(args) => e2e::run(&root, &args),
        Cmd::Bench(_) => Ok(()),
    }
}

fn test(root: &std::path::Path) -> Result<()> {
    setup::ensure(root)?;
    workspace::cargo(root, &["fmt", "--all", "--check"])?;
    // Clippy lints each workspace target as the test build compiles it, with `-D warnings`
    // (what `cargo clippy --workspace --all-targets -- -D warnings` checks), so that the
    // dependencies are compiled once rather than checked for clippy and then built for the
    // tests: about 3 of a fresh clone's 11 minutes.
    let lint = workspace::clippy_wrapper(&["-D", "warnings"])?;
    workspace::cargo_with(root, &["test", "--workspace", "--all-targets"], &lint)?;
    workspace::cargo_with(root, &["test", "--workspace", "--doc"], &lint)?;
    Ok(())
}
