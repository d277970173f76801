//! `charrnn experiment`: the experiment of `charrnn-experiment`, each of its steps run as a
//! `charrnn` command in this very process.

use anyhow::Result;
use charrnn_experiment::{
    BoxError, Event, ExperimentDone, Options, Runner, default_variants, run_experiment,
};
use clap::Parser;

use crate::flags::{Cli, Command, ExperimentArgs};
use crate::output::{Output, exit_usage, one_line};

/// Runs `charrnn` command lines here, collecting their events.
struct InProcess {
    quiet: bool,
}

impl Runner for InProcess {
    fn run(&mut self, args: &[String]) -> Result<Vec<Event>, BoxError> {
        let line = std::iter::once("charrnn".to_owned()).chain(args.iter().cloned());
        let cli = Cli::try_parse_from(line).map_err(|e| one_line(&e.into()))?;
        if matches!(cli.command, Command::Experiment(_)) {
            return Err("an experiment cannot run another experiment".into());
        }
        let out = Output::collecting(self.quiet || cli.quiet);
        crate::run::dispatch(cli.command, &out).map_err(|e| one_line(&e))?;
        Ok(out.take_events())
    }

    fn describe(&self) -> String {
        let exe = std::env::current_exe()
            .map_or_else(|_| "charrnn".to_owned(), |p| p.display().to_string());
        format!("{exe} (each step in the same process)")
    }
}

/// The experiment's options from its flags.
fn options(args: &ExperimentArgs, quiet: bool) -> Options {
    let mut opts = Options::new(args.preset, &args.data, &args.out);
    if let Some(name) = &args.name {
        opts.name = name.clone();
    }
    opts.labels = args.preset.labels_by_default() && !args.no_labels;
    opts.max_steps = args.max_steps;
    opts.time_budget = args.time_budget;
    opts.sweep = args.sweep.then(default_variants);
    opts.device = args.device.clone();
    opts.threads = args.threads;
    opts.seed = args.seed;
    opts.valid_fraction = args.valid_fraction;
    opts.samples_per_prompt = args.samples;
    opts.train_args = args.train_args.clone();
    opts.quiet = quiet;
    opts.overwrite = args.overwrite;
    opts
}

pub fn experiment(args: &ExperimentArgs, out: &Output) -> Result<()> {
    // The flags passed through to `charrnn train` are checked before anything is written: a
    // mistyped one is a usage error (exit 2) naming it, as it would be given to `train`.
    let line = ["charrnn", "train", "--train", "-", "--out", "-"]
        .map(String::from)
        .into_iter()
        .chain(args.train_args.iter().cloned());
    if let Err(e) = Cli::try_parse_from(line) {
        exit_usage(e);
    }
    let opts = options(args, !out.shows_progress());
    let outcome = run_experiment(&opts, &mut InProcess { quiet: opts.quiet })?;
    let t = &outcome.train;
    let event = Event::Experiment(ExperimentDone {
        report: outcome.report.clone(),
        run_dir: outcome.run_dir.clone(),
        test_bpc: outcome.test_bpc,
        steps: t.steps,
        elapsed_secs: t.elapsed_secs,
        device: t.device.clone(),
    });
    out.result(event, || {
        format!(
            "report: {}\ntest bpc {:.4} after {} steps ({:.1} s of training on {}); checkpoints \
             in {}",
            outcome.report.display(),
            outcome.test_bpc,
            t.steps,
            t.elapsed_secs,
            t.device,
            outcome.run_dir.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &[&str]) -> Result<Options, clap::Error> {
        let cli = Cli::try_parse_from(std::iter::once("charrnn").chain(line.iter().copied()))?;
        match cli.command {
            Command::Experiment(args) => Ok(options(&args, cli.quiet)),
            other => panic!("not an experiment: {other:?}"),
        }
    }

    #[test]
    fn flags_fill_the_options() {
        let opts = parse(&["experiment"]).unwrap();
        assert_eq!(opts.preset.name(), "default");
        assert_eq!(opts.name, "default");
        assert!(opts.labels, "the default preset is label-conditioned");
        assert!(opts.sweep.is_none());
        assert_eq!(opts.seed, 1);
        assert_eq!(opts.valid_fraction, 0.05);
        assert_eq!(opts.data_dir, std::path::Path::new("data/ag_news"));
        let opts = parse(&[
            "experiment",
            "--preset",
            "seed",
            "--sweep",
            "--time-budget",
            "600",
            "--max-steps",
            "50",
            "--threads",
            "2",
            "--device",
            "cpu",
            "--data",
            "/d",
            "--quiet",
            "--",
            "--hidden",
            "32",
        ])
        .unwrap();
        assert_eq!(
            (opts.preset.name(), opts.name.as_str()),
            ("notebook", "notebook")
        );
        assert!(!opts.labels, "the notebook never is");
        assert_eq!(opts.sweep, Some(default_variants()));
        assert_eq!(opts.time_budget, Some(600.0));
        assert_eq!(opts.max_steps, Some(50));
        assert_eq!(opts.threads, Some(2));
        assert_eq!(opts.device.as_deref(), Some("cpu"));
        assert!(opts.quiet);
        assert_eq!(opts.train_args, ["--hidden", "32"]);
        assert!(!parse(&["experiment", "--no-labels"]).unwrap().labels);
        assert_eq!(
            parse(&["experiment", "--name", "mine"]).unwrap().name,
            "mine"
        );
        assert!(parse(&["experiment", "--preset", "huge"]).is_err());
    }

    #[test]
    fn the_runner_refuses_bad_lines_with_one_line() {
        let mut runner = InProcess { quiet: true };
        let err = runner
            .run(&["train".to_owned(), "--cell".to_owned(), "lstm".to_owned()])
            .unwrap_err()
            .to_string();
        assert!(err.contains("--train"), "{err}");
        assert!(!err.contains('\n'), "{err}");
        let err = runner.run(&["experiment".to_owned()]).unwrap_err();
        assert!(err.to_string().contains("another experiment"), "{err}");
    }
}
