//! Where results go: text for people, JSON lines for scripts (`--json`), or, when
//! `charrnn experiment` runs a command in its own process, a list of events it reads back.

use std::cell::RefCell;

use anyhow::Result;
use charrnn_experiment::Event;

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
pub fn one_line(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(text.trim());
    }
    line.replace('\n', " ")
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
