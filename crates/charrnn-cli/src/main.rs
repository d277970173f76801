//! `charrnn`: the command line over the charrnn libraries.
//!
//! This crate is only the CLI definition (`flags.rs`) and glue: every subcommand is a few calls
//! into charrnn-data, charrnn-vocab, charrnn-sampling and charrnn-model. It owns no algorithm.
//! Errors surface as one line with their cause chain and a non-zero exit, never a panic.

mod checks;
mod corpus;
mod dataset;
mod distributed;
mod experiment;
mod flags;
mod generate;
mod interrupt;
mod output;
mod paths;
mod progress;
mod resume;
mod run;
mod score;
mod serve;
mod train;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Before libtorch allocates: freed tensor memory is kept for reuse, not unmapped.
    charrnn_model::tune_host_memory(charrnn_model::HostMemory::Reuse);
    let cli = match flags::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => output::exit_usage(err),
    };
    let out = output::Output::new(cli.json, cli.quiet);
    let result = match cli.command {
        flags::Command::Experiment(args) => experiment::experiment(&args, &out),
        command => run::dispatch(command, &out),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stopped early (`charrnn vocab show x | head`) is not an error.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        // Ctrl-C stopped a training, which saved and said so: 130, as shells report it.
        Err(err) if err.is::<interrupt::Interrupted>() => {
            ExitCode::from(interrupt::EXIT_INTERRUPTED)
        }
        // A flag's value that only a command could judge (a class the model lacks): a usage
        // error, exit 2.
        Err(err) => match err.downcast::<clap::Error>() {
            Ok(usage) => output::exit_usage(usage),
            Err(err) => {
                eprintln!("error: {}", output::one_line(&err));
                ExitCode::FAILURE
            }
        },
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}
