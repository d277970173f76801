//! How the experiment runs `charrnn` commands: through a [`Runner`], which takes a command line
//! and answers with the command's [`Event`]s. The `charrnn` binary runs them in its own process;
//! tests answer with canned events. [`Commands`] keeps every command line for the report, so a
//! reader can rerun each step by hand.
use std::path::Path;

use charrnn_model::EvalRecord;

use crate::error::{BoxError, ExperimentError, Result};
use crate::events::{Classification, Event, GeneratedSample, Score, TrainDone, VocabInfo};

/// Runs `charrnn` commands.
pub trait Runner {
    /// Runs the `charrnn` command whose arguments (after the program name) are `args`, and
    /// returns the events it emitted, in order.
    fn run(&mut self, args: &[String]) -> Result<Vec<Event>, BoxError>;

    /// What runs the commands, for the report (e.g. the binary's path).
    fn describe(&self) -> String;
}

/// A [`Runner`] with the command lines it ran, and typed answers for each command.
pub(crate) struct Commands<'a> {
    runner: &'a mut dyn Runner,
    /// Every command line run, shell-quoted.
    pub(crate) log: Vec<String>,
}

impl<'a> Commands<'a> {
    pub(crate) fn new(runner: &'a mut dyn Runner) -> Self {
        Commands {
            runner,
            log: Vec::new(),
        }
    }

    pub(crate) fn describe(&self) -> String {
        self.runner.describe()
    }

    /// Runs `args`, naming the command by its first words in errors.
    fn run(&mut self, args: &[String]) -> Result<Vec<Event>> {
        self.log.push(command_line(args));
        self.runner
            .run(args)
            .map_err(|source| ExperimentError::Command {
                command: command_name(args),
                source,
            })
    }

    pub(crate) fn vocab_build(
        &mut self,
        data: &Path,
        columns: &[String],
        output: &Path,
    ) -> Result<()> {
        let mut args = vec![s("vocab"), s("build"), path(data)];
        for c in columns {
            args.extend([s("--column"), c.clone()]);
        }
        // The experiment's own directory: a rerun replaces its vocabulary.
        args.extend([s("--output"), path(output), s("--overwrite")]);
        self.run(&args)?;
        if !output.is_file() {
            return Err(ExperimentError::MissingOutput {
                command: command_name(&args),
                problem: format!("wrote no {}", output.display()),
            });
        }
        Ok(())
    }

    pub(crate) fn vocab_show(&mut self, vocab: &Path) -> Result<VocabInfo> {
        let args = [s("vocab"), s("show"), path(vocab)];
        let events = self.run(&args)?;
        events
            .into_iter()
            .rev()
            .find_map(|e| match e {
                Event::Vocab(info) => Some(info),
                _ => None,
            })
            .ok_or_else(|| missing(&args, "vocab"))
    }

    /// Runs `charrnn train ARGS` and returns its `done` event and the evaluations it reported.
    pub(crate) fn train(&mut self, args: &[String]) -> Result<(TrainDone, Vec<EvalRecord>)> {
        let events = self.run(args)?;
        let mut evals = Vec::new();
        let mut done = None;
        for event in events {
            match event {
                Event::Eval { record } => evals.push(record),
                Event::Done(d) => done = Some(*d),
                _ => {}
            }
        }
        Ok((done.ok_or_else(|| missing(args, "done"))?, evals))
    }

    pub(crate) fn eval(&mut self, args: &[String]) -> Result<Score> {
        Ok(self.eval_classified(args)?.0)
    }

    /// `charrnn eval`, with the classification it reports under `--classify`.
    pub(crate) fn eval_classified(
        &mut self,
        args: &[String],
    ) -> Result<(Score, Option<Classification>)> {
        let (mut score, mut classified) = (None, None);
        for event in self.run(args)? {
            match event {
                Event::Score(s) => score = Some(s),
                Event::Classification(c) => classified = Some(c),
                _ => {}
            }
        }
        let score = score.ok_or_else(|| missing(args, "score"))?;
        Ok((score, classified))
    }

    pub(crate) fn generate(&mut self, args: &[String]) -> Result<Vec<GeneratedSample>> {
        Ok(self
            .run(args)?
            .into_iter()
            .filter_map(|e| match e {
                Event::Generated(sample) => Some(sample),
                _ => None,
            })
            .collect())
    }
}

fn missing(args: &[String], event: &str) -> ExperimentError {
    ExperimentError::MissingOutput {
        command: command_name(args),
        problem: format!("emitted no `{event}` event"),
    }
}

pub(crate) fn s(text: &str) -> String {
    text.to_owned()
}

pub(crate) fn path(p: &Path) -> String {
    p.display().to_string()
}

/// `charrnn` and the subcommand of `args`, e.g. `charrnn train` or `charrnn vocab build`.
fn command_name(args: &[String]) -> String {
    let words = match args.first().map(String::as_str) {
        Some("vocab") => 2,
        _ => 1,
    };
    std::iter::once("charrnn")
        .chain(args.iter().take(words).map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `charrnn ARGS` as a POSIX shell would take it.
pub fn command_line(args: &[String]) -> String {
    std::iter::once("charrnn".to_owned())
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Quotes `arg` for a POSIX shell when it needs it.
pub fn shell_quote(arg: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("--hidden"), "--hidden");
        assert_eq!(shell_quote("/a/b.parquet"), "/a/b.parquet");
        assert_eq!(shell_quote("Today "), "'Today '");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        let args: Vec<String> = ["generate", "run", "--prompt", "Today "]
            .map(String::from)
            .to_vec();
        assert_eq!(
            command_line(&args),
            "charrnn generate run --prompt 'Today '"
        );
    }

    #[test]
    fn commands_are_named_by_their_subcommand_words() {
        let name = |args: &[&str]| command_name(&args.iter().map(|a| s(a)).collect::<Vec<_>>());
        assert_eq!(
            name(&["vocab", "build", "/d/train.parquet"]),
            "charrnn vocab build"
        );
        assert_eq!(name(&["train", "--train", "x"]), "charrnn train");
        assert_eq!(name(&["eval", "/runs/a", "--data", "t"]), "charrnn eval");
        assert_eq!(name(&["generate", "run", "-n", "2"]), "charrnn generate");
        assert_eq!(name(&[]), "charrnn");
    }
}
