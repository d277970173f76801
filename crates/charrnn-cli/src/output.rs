//! Where results go: text for people, JSON lines for scripts (`--json`), or, when
//! `charrnn experiment` runs a command in its own process, a list of events it reads back.

use std::cell::RefCell;

use anyhow::Result;
use charrnn_experiment::Event;
use charrnn_model::ModelError;

enum Mode {
    /// Results as text on stdout; progress on stderr.
    Human,
    /// Results as one JSON event per line on stdout; no progress.
    Json,
    /// Results kept for the caller; progress on stderr.
    Collect(RefCell<Vec<Event>>),
}

/// The destination of a command's results and progress.
pub struct Output {
    mode: Mode,
    quiet: bool,
}

impl Output {
    /// Text for people, or JSON lines with `json`; `quiet` silences progress.
    pub fn new(json: bool, quiet: bool) -> Self {
        Output {
            mode: if json { Mode::Json } else { Mode::Human },
            quiet,
        }
    }

    /// Keeps every result as an [`Event`] for [`Output::take_events`].
    pub fn collecting(quiet: bool) -> Self {
        Output {
            mode: Mode::Collect(RefCell::new(Vec::new())),
            quiet,
        }
    }

    /// Whether results are JSON lines on stdout (`--json`).
    pub fn json(&self) -> bool {
        matches!(self.mode, Mode::Json)
    }

    /// Whether results go to a program rather than to a person.
    pub fn machine(&self) -> bool {
        !matches!(self.mode, Mode::Human)
    }

    /// Whether progress (bars, evaluation lines, notes) is shown on stderr.
    pub fn shows_progress(&self) -> bool {
        !self.quiet && !matches!(self.mode, Mode::Json)
    }

    /// Progress and notes for people: stderr, silenced by --quiet and --json.
    pub fn note(&self, text: impl AsRef<str>) {
        if self.shows_progress() {
            eprintln!("{}", text.as_ref());
        }
    }

    /// A result: `human` text on stdout, or the event.
    pub fn result(&self, event: Event, human: impl FnOnce() -> String) -> Result<()> {
        match &self.mode {
            Mode::Human => stdout_line(human()),
            _ => self.record(event),
        }
    }

    /// An event only programs see (none for people): a JSON line, or kept.
    pub fn record(&self, event: Event) -> Result<()> {
        match &self.mode {
            Mode::Human => Ok(()),
            Mode::Json => stdout_line(event.to_json()?),
            Mode::Collect(events) => {
                events.borrow_mut().push(event);
                Ok(())
            }
        }
    }

    /// The events kept so far (collecting mode), leaving none.
    pub fn take_events(&self) -> Vec<Event> {
        match &self.mode {
            Mode::Collect(events) => events.take(),
            _ => Vec::new(),
        }
    }
}

/// Writes one line to stdout, returning (not panicking on) errors such as a closed pipe.
pub fn stdout_line(text: impl std::fmt::Display) -> Result<()> {
    use std::io::Write;
    // The cause keeps its kind: a closed pipe is not an error (see main).
    writeln!(std::io::stdout().lock(), "{text}")
        .map_err(|e| anyhow::Error::new(e).context("cannot write to stdout"))?;
    Ok(())
}

/// `outer: inner: innermost`, skipping causes whose text the outer message already contains.
/// A command-line (clap) error among them is its [`usage_message`], a model error its
/// [`in_flags`] text.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = match (
            cause.downcast_ref::<clap::Error>(),
            cause.downcast_ref::<ModelError>(),
        ) {
            (Some(usage), _) => usage_message(usage),
            (None, Some(model)) => in_flags(model),
            (None, None) => in_flag_words(cause.to_string()),
        };
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text.trim());
    }
    let mut line = without_os_error_numbers(&line.replace('\n', " "));
    // A null in the data: the flag that leaves such rows out.
    if line.contains("` is null") && !line.contains("--skip-nulls") {
        line.push_str(" (--skip-nulls leaves such rows out)");
    }
    line
}

/// `text` without Rust's " (os error N)" after an I/O error's reason: "No such file or
/// directory (os error 2)" reads "No such file or directory".
fn without_os_error_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(" (os error ") {
        let after = &rest[at + " (os error ".len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        out.push_str(&rest[..at]);
        if digits > 0 && after[digits..].starts_with(')') {
            rest = &after[digits + 1..];
        } else {
            out.push_str(" (os error ");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// What the libraries name as a call or an option of their own, and the flag that does it
/// here.
const LIBRARY_TO_FLAGS: [(&str, &str); 8] = [
    (
        "name the delimiter (SourceOptions::delimiter): ",
        "give --delimiter ",
    ),
    ("(SourceOptions::delimiter)", "(--delimiter)"),
    (
        "name its encoding (SourceOptions::encoding): utf-16le",
        "name it: --encoding utf-16le",
    ),
    (
        "name its encoding (SourceOptions::encoding): utf-16be",
        "name it: --encoding utf-16be",
    ),
    (
        "name it (SourceOptions::encoding): windows-1252 or latin-1",
        "name it: --encoding windows-1252 (or latin-1; --encoding auto chooses per file)",
    ),
    (
        "use parse_device(\"cpu\") or parse_device(\"auto\")",
        "use --device cpu or auto",
    ),
    (
        "`divergence_factor: None` in the `TrainConfig` turns the bound off",
        "--divergence-factor 0 turns the bound off",
    ),
    ("use Precision::Fp32", "use --precision fp32"),
];

/// `text` with the libraries' names for their calls and options replaced by the flags.
fn in_flag_words(text: String) -> String {
    LIBRARY_TO_FLAGS
        .iter()
        .fold(text, |text, (library, flag)| text.replace(library, flag))
}

/// A model error in the command line's words: the library tells its callers about its calls
/// (`Trainer::resume`, `parse_device("cpu")`...), the command line about its flags.
pub fn in_flags(err: &ModelError) -> String {
    match err {
        ModelError::RunExists(dir) => format!(
            "{} already holds a trained model: resume it (--resume), choose another directory, \
             or replace it (--overwrite)",
            dir.display()
        ),
        other => in_flag_words(other.to_string()),
    }
}

/// A command-line error as one line, without clap's `error: ` prefix or colour: its message,
/// then what clap puts on lines of their own (the missing flags, comma-separated; the possible
/// values), then its tips in parentheses. The usage block and the "For more information" line
/// are left out.
pub fn usage_message(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let mut message: Option<&str> = None;
    let mut details = Vec::new();
    let mut tips = Vec::new();
    for line in text.lines() {
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match message {
            None => message = Some(line.strip_prefix("error:").unwrap_or(line).trim_start()),
            Some(_) => match line.strip_prefix("tip:") {
                Some(tip) => tips.push(tip.trim()),
                None => details.push(line),
            },
        }
    }
    let mut one = message.unwrap_or("invalid command line").to_owned();
    if !details.is_empty() {
        // "the following required arguments were not provided:" lists them one per line.
        let separator = if one.ends_with(':') { ", " } else { " " };
        one.push(' ');
        one.push_str(&details.join(separator));
    }
    if !tips.is_empty() {
        one.push_str(&format!(" (tip: {})", tips.join("; ")));
    }
    one
}

/// Ends the process for a command-line error. `--help` and `--version` print and exit as clap
/// does; any other error is one line on stderr, `error: ` and its [`usage_message`], and exit
/// status 2 (a usage error), with nothing on stdout.
pub fn exit_usage(err: clap::Error) -> ! {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => err.exit(),
        _ => {
            eprintln!("error: {}", usage_message(&err));
            std::process::exit(2)
        }
    }
}

/// A usage error for the flag `id` of `subcommand` (`charrnn <subcommand> ...`) found after
/// parsing, as its value parser would have made it: `invalid value '<value>' for '--flag
/// <FLAG>': <reason>`.
pub fn invalid_value(subcommand: &str, id: &str, value: &str, reason: &str) -> clap::Error {
    use clap::CommandFactory;
    use clap::error::ErrorKind;
    let mut cli = crate::flags::Cli::command();
    // Built, a subcommand's usage line is `charrnn <subcommand> ...`.
    cli.build();
    let flag = cli
        .find_subcommand(subcommand)
        .and_then(|sub| sub.get_arguments().find(|a| a.get_id() == id))
        .map_or_else(
            || format!("--{}", id.replace('_', "-")),
            ToString::to_string,
        );
    let message = format!("invalid value '{value}' for '{flag}': {reason}");
    match cli.find_subcommand_mut(subcommand) {
        Some(sub) => sub.error(ErrorKind::ValueValidation, message),
        None => cli.error(ErrorKind::ValueValidation, message),
    }
}

/// The process's peak resident memory (VmHWM), in MiB; 0 where /proc is absent.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmHWM:")
                    .map(|v| v.trim().trim_end_matches("kB").trim().to_owned())
            })
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::flags::Cli;

    fn message(line: &[&str]) -> String {
        let argv = std::iter::once("charrnn").chain(line.iter().copied());
        usage_message(&Cli::try_parse_from(argv).unwrap_err())
    }

    #[test]
    fn a_usage_error_is_one_line_with_its_details_and_tips() {
        assert_eq!(
            message(&["train"]),
            "the following required arguments were not provided: --train <TRAIN>, --out <OUT>"
        );
        assert_eq!(
            message(&["trian"]),
            "unrecognized subcommand 'trian' (tip: a similar subcommand exists: 'train')"
        );
        assert_eq!(
            message(&["train", "--train", "x", "--out", "y", "--cell", "lstmx"]),
            "invalid value 'lstmx' for '--cell <CELL>' [possible values: lstm, gru, rnn] (tip: \
             a similar value exists: 'lstm')"
        );
        let serve = invalid_value("serve", "max_queue", "9", "too many");
        assert_eq!(
            usage_message(&serve),
            "invalid value '9' for '--max-queue <MAX_QUEUE>': too many"
        );
        // As a cause in an error chain, too.
        let chained = anyhow::Error::new(serve).context("cannot serve");
        assert_eq!(
            one_line(&chained),
            "cannot serve: invalid value '9' for '--max-queue <MAX_QUEUE>': too many"
        );
    }

    #[test]
    fn a_null_in_the_data_points_to_skip_nulls() {
        let err = anyhow::anyhow!("d.jsonl: line 3: field `text` is null");
        assert_eq!(
            one_line(&err),
            "d.jsonl: line 3: field `text` is null (--skip-nulls leaves such rows out)"
        );
        let other = anyhow::anyhow!("d.jsonl: line 3: no field `text`");
        assert!(!one_line(&other).contains("--skip-nulls"));
    }

    #[test]
    fn os_error_numbers_are_left_out() {
        let missing = std::io::Error::from(std::io::ErrorKind::NotFound);
        let err = anyhow::Error::new(std::io::Error::from_raw_os_error(2))
            .context("cannot read data/x.csv");
        assert_eq!(
            one_line(&err),
            "cannot read data/x.csv: No such file or directory"
        );
        assert!(!one_line(&anyhow::Error::new(missing)).contains("os error"));
        // Only the number in parentheses goes; text that only looks like it stays.
        for (text, kept) in [
            ("a (os error 13) b (os error 2)", "a b"),
            ("title (os error x)", "title (os error x)"),
            ("ends (os error 7", "ends (os error 7"),
        ] {
            assert_eq!(without_os_error_numbers(text), kept);
        }
    }

    /// The model library names its own calls in its errors; here they name the flags.
    #[test]
    fn model_errors_name_the_flags() {
        let exists = ModelError::RunExists("runs/a".into());
        assert!(exists.to_string().contains("Trainer::resume"), "{exists}");
        assert_eq!(
            one_line(&exists.into()),
            "runs/a already holds a trained model: resume it (--resume), choose another \
             directory, or replace it (--overwrite)"
        );
        let diverged = ModelError::Diverged {
            what: "training loss",
            value: 9.0,
            bound: 8.0,
            step: 3,
            epoch: 0,
        };
        let line = one_line(&anyhow::Error::new(diverged).context("training failed"));
        assert!(
            line.starts_with("training failed: training diverged")
                && line.ends_with("(--divergence-factor 0 turns the bound off)"),
            "{line}"
        );
        // On a machine without CUDA, the device parser's own advice; with it, a device index
        // no machine has.
        let no_device = charrnn_model::parse_device("cuda:999").unwrap_err();
        let line = one_line(&no_device.into());
        assert!(!line.contains("parse_device"), "{line}");
        if !charrnn_model::tch::Cuda::is_available() {
            assert!(line.ends_with("; use --device cpu or auto"), "{line}");
        }
    }
}
