//! Downloads: to `NAME.partial`, with progress, renamed into place only when the MD5 matches.

use std::{
    fs::{self, File},
    io::{self, IsTerminal, Read, Write},
    path::Path,
    time::Duration,
};

use anyhow::{Context, Result, bail};

use super::files::{RemoveOnDrop, partial_path};
use super::verify::{Digests, Hasher};

/// What to do without network, said by every download failure.
pub(crate) const MIRROR_HINT: &str = "without network access, run `cargo xtask fetch --mirror \
                                      DIR` with DIR holding the CSV files and their SHA256SUMS";

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        // Plain bytes, so that the progress total is the file's size.
        .accept_encoding("identity")
        .build()
        .into()
}

/// Downloads `url` to `dest` through `DEST.partial`, showing progress; renames it to `dest`
/// only when its MD5 is `md5`, and leaves no partial file behind on failure.
pub(crate) fn download(agent: &ureq::Agent, url: &str, dest: &Path, md5: &str) -> Result<Digests> {
    let name = dest
        .file_name()
        .map_or_else(|| url.to_owned(), |n| n.to_string_lossy().into_owned());
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| anyhow::anyhow!("cannot download {url}: {e}; {MIRROR_HINT}"))?;
    let total = response.body().content_length();
    let partial = partial_path(dest);
    let guard = RemoveOnDrop(Some(partial.clone()));
    let mut file =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    eprintln!("fetch: downloading {url}");
    let mut progress = Progress::new(&name, total, io::stderr().is_terminal());
    let mut reader = response.body_mut().as_reader();
    let mut hasher = Hasher::default();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprint!("{}", progress.finish());
                let of = total.map_or_else(String::new, |t| format!(" of {t}"));
                bail!(
                    "downloading {url} failed after {}{of} bytes: {e}; run it again, or {MIRROR_HINT}",
                    progress.done
                );
            }
        };
        file.write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", partial.display()))?;
        hasher.update(&buf[..n]);
        if let Some(text) = progress.advance(n as u64) {
            eprint!("{text}");
        }
    }
    eprint!("{}", progress.finish());
    if let Some(total) = total.filter(|&t| t != progress.done) {
        bail!(
            "downloading {url} stopped after {} of {total} bytes; run it again, or {MIRROR_HINT}",
            progress.done
        );
    }
    file.sync_all()
        .with_context(|| format!("cannot write {}", partial.display()))?;
    drop(file);
    let digests = hasher.finish();
    if digests.md5 != md5 {
        bail!(
            "{url}: MD5 is {} but the manifest expects {md5}; the download was discarded",
            digests.md5
        );
    }
    fs::rename(&partial, dest)
        .with_context(|| format!("cannot rename {} into place", partial.display()))?;
    guard.disarm();
    Ok(digests)
}

/// A download's progress line: redrawn in place on a terminal, an occasional line otherwise.
struct Progress {
    name: String,
    total: Option<u64>,
    done: u64,
    tty: bool,
    /// The text shown last (a terminal redraw happens only when it changes).
    shown: String,
    /// Without a terminal, the next byte count that earns a line.
    next_line: u64,
}

/// Without a terminal and without a known size, a line per this many bytes.
const LINE_EVERY: u64 = 16 << 20;

impl Progress {
    fn new(name: &str, total: Option<u64>, tty: bool) -> Self {
        let mut progress = Progress {
            name: name.to_owned(),
            total,
            done: 0,
            tty,
            shown: String::new(),
            next_line: 0,
        };
        progress.next_line = progress.step();
        progress
    }

    /// Bytes between lines without a terminal: a tenth of the file, or [`LINE_EVERY`].
    fn step(&self) -> u64 {
        self.total.map_or(LINE_EVERY, |t| (t / 10).max(1))
    }

    fn text(&self) -> String {
        match self.total {
            Some(total) if total > 0 => format!(
                "fetch: {} {} / {} ({}%)",
                self.name,
                human_bytes(self.done),
                human_bytes(total),
                self.done.min(total) * 100 / total
            ),
            _ => format!("fetch: {} {}", self.name, human_bytes(self.done)),
        }
    }

    /// Counts `n` more bytes; returns what to print, if anything.
    fn advance(&mut self, n: u64) -> Option<String> {
        self.done += n;
        let text = self.text();
        if self.tty {
            if text == self.shown {
                return None;
            }
            let pad = self.shown.len().saturating_sub(text.len());
            self.shown = text;
            Some(format!("\r{}{:pad$}", self.shown, ""))
        } else {
            if self.done < self.next_line {
                return None;
            }
            let step = self.step();
            self.next_line = (self.done / step + 1) * step;
            self.shown = text;
            Some(format!("{}\n", self.shown))
        }
    }

    /// Ends the display: the final count on its own line, unless that line was just printed.
    fn finish(&mut self) -> String {
        let text = self.text();
        if self.tty {
            let pad = self.shown.len().saturating_sub(text.len());
            self.shown = text;
            format!("\r{}{:pad$}\n", self.shown, "")
        } else if text == self.shown {
            String::new()
        } else {
            self.shown = text;
            format!("{}\n", self.shown)
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_without_a_terminal_prints_a_line_per_tenth() {
        let mut progress = Progress::new("train.csv", Some(1000), false);
        let lines: Vec<String> = (0..40).filter_map(|_| progress.advance(25)).collect();
        assert_eq!(lines.len(), 10, "{lines:?}");
        assert!(lines.iter().all(|l| l.ends_with('\n') && !l.contains('\r')));
        assert_eq!(lines[0], "fetch: train.csv 100 B / 1000 B (10%)\n");
        assert_eq!(lines[9], "fetch: train.csv 1000 B / 1000 B (100%)\n");
        // The last line already said it all.
        assert_eq!(progress.finish(), "");

        // Unknown size: a line per LINE_EVERY bytes, and the total at the end.
        let mut progress = Progress::new("test.csv", None, false);
        assert_eq!(progress.advance(LINE_EVERY - 1), None);
        assert_eq!(
            progress.advance(1).as_deref(),
            Some("fetch: test.csv 16.0 MiB\n")
        );
        assert_eq!(progress.advance(1 << 20), None);
        assert_eq!(progress.finish(), "fetch: test.csv 17.0 MiB\n");
    }

    #[test]
    fn progress_on_a_terminal_redraws_one_line() {
        let mut progress = Progress::new("train.csv", Some(4 << 20), true);
        let first = progress.advance(1 << 20).unwrap();
        assert_eq!(first, "\rfetch: train.csv 1.0 MiB / 4.0 MiB (25%)");
        // Nothing visible changed: no redraw.
        assert_eq!(progress.advance(1), None);
        let end = progress.finish();
        assert!(end.starts_with('\r') && end.ends_with('\n'), "{end:?}");
    }

    #[test]
    fn human_sizes() {
        let check = |bytes: u64, want: &str| assert_eq!(human_bytes(bytes), want, "{bytes}");
        check(0, "0 B");
        check(1023, "1023 B");
        check(1024, "1.0 KiB");
        check(29_470_338, "28.1 MiB");
        check(3 << 30, "3.0 GiB");
        check(5 << 40, "5120.0 GiB");
    }
}
