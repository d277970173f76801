//! The two programs under test, run as subprocesses: the `charrnn` binary and the Python
//! reference (with the torch it needs), and what they print.

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::setup;

/// The torch version `python` imports (with `pythonpath` prepended to PYTHONPATH), if any.
pub(crate) fn torch_version(python: &str, pythonpath: Option<&Path>) -> Option<String> {
    let mut cmd = Command::new(python);
    cmd.args(["-c", "import torch; print(torch.__version__)"])
        .stdin(Stdio::null());
    if let Some(dir) = pythonpath {
        cmd.env("PYTHONPATH", with_pythonpath(dir));
    }
    let out = cmd.output().ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .last()
            .unwrap_or_default()
            .trim()
            .to_owned()
    })
}

/// `dir` in front of the environment's PYTHONPATH.
pub(crate) fn with_pythonpath(dir: &Path) -> OsString {
    let mut paths = vec![dir.to_path_buf()];
    if let Some(old) = env::var_os("PYTHONPATH") {
        paths.extend(env::split_paths(&old));
    }
    env::join_paths(paths).unwrap_or_else(|_| dir.as_os_str().to_owned())
}

pub(crate) fn is_pinned_torch(version: &str) -> bool {
    version.split('+').next() == Some(setup::TORCH_VERSION)
}

/// How to run the reference: `python` as it is when it imports torch 2.11.0, else with the
/// wheel `setup` installs (into its cache) on PYTHONPATH. Returns that directory, if needed,
/// and the torch version.
pub(crate) fn prepare_python(root: &Path, python: &str) -> Result<(Option<PathBuf>, String)> {
    if let Some(v) = torch_version(python, None).filter(|v| is_pinned_torch(v)) {
        return Ok((None, v));
    }
    let torch = setup::ensure(root)?;
    // The wheel's layout: <cache>/torch-2.11.0/torch; its parent is what Python imports from.
    let site = torch
        .parent()
        .filter(|_| torch.join("__init__.py").is_file())
        .map(Path::to_path_buf);
    if let Some(site) = site
        && let Some(v) = torch_version(python, Some(&site)).filter(|v| is_pinned_torch(v))
    {
        return Ok((Some(site), v));
    }
    bail!(
        "{python} cannot import torch {}: install it (`pip install torch=={}`), or unset \
         LIBTORCH so that `cargo xtask setup` installs the wheel the reference can use",
        setup::TORCH_VERSION,
        setup::TORCH_VERSION
    )
}

/// The two programs under test.
pub(crate) struct Sides {
    pub(crate) bin: PathBuf,
    pub(crate) python: String,
    pub(crate) pythonpath: Option<PathBuf>,
    pub(crate) script: PathBuf,
    pub(crate) quiet: bool,
    /// Every command line run, for bench.json.
    pub(crate) log: Vec<String>,
}

/// What a subprocess printed.
pub(crate) struct Output {
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Sides {
    pub(crate) fn say(&self, msg: &str) {
        if !self.quiet {
            eprintln!("bench: {msg}");
        }
    }

    pub(crate) fn run(&mut self, mut cmd: Command, shown: String) -> Result<Output> {
        self.say(&format!("$ {shown}"));
        self.log.push(shown.clone());
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {shown}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            let lines: Vec<&str> = stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            let reason = lines
                .iter()
                .rev()
                .find(|l| l.starts_with("error") || l.contains("Error"))
                .or(lines.last())
                .map_or("no message", |l| l);
            bail!("`{shown}` failed ({}): {reason}", out.status);
        }
        Ok(Output { stdout, stderr })
    }

    /// `charrnn ARGS`.
    pub(crate) fn charrnn(&mut self, args: &[String]) -> Result<Output> {
        let shown = command_line("charrnn", args);
        let mut cmd = Command::new(&self.bin);
        cmd.args(args);
        self.run(cmd, shown)
    }

    /// The reference's `CMD ARGS`; returns its last JSON line.
    pub(crate) fn reference(&mut self, cmd_name: &str, args: &[String]) -> Result<Value> {
        let mut all = vec![self.script.to_string_lossy().into_owned(), cmd_name.into()];
        all.extend(args.iter().cloned());
        let shown = command_line(&self.python, &all);
        let mut cmd = Command::new(&self.python);
        cmd.args(&all).env("PYTHONUNBUFFERED", "1");
        if let Some(dir) = &self.pythonpath {
            cmd.env("PYTHONPATH", with_pythonpath(dir));
        }
        let out = self.run(cmd, shown)?;
        json_lines(&out.stdout)?
            .pop()
            .with_context(|| format!("the reference's {cmd_name} printed no JSON"))
    }
}

pub(crate) fn command_line(program: &str, args: &[String]) -> String {
    std::iter::once(shell_quote(program))
        .chain(args.iter().map(|a| shell_quote(a)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `{"event":"done"}` line of `charrnn train --json`.
pub(crate) fn done_event(stdout: &str) -> Result<Value> {
    json_lines(stdout)?
        .into_iter()
        .rev()
        .find(|v| v["event"] == "done")
        .context("charrnn train printed no {\"event\":\"done\"} line")
}

/// The `{"event":"stats"}` line `charrnn generate --stats` prints on stderr.
pub(crate) fn stats_event(stderr: &str) -> Result<Value> {
    stderr
        .lines()
        .rev()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["event"] == "stats")
        .context("charrnn generate --stats printed no {\"event\":\"stats\"} line on stderr")
}

pub(crate) fn num(value: &Value, key: &str, what: &str) -> Result<f64> {
    value[key]
        .as_f64()
        .with_context(|| format!("{what}: no number `{key}` in {value}"))
}

/// The JSON objects of `--json` output, one per line (other lines are ignored).
pub(crate) fn json_lines(stdout: &str) -> Result<Vec<Value>> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).with_context(|| format!("bad JSON: {l}")))
        .collect()
}

/// Quotes `arg` for a POSIX shell when it needs it.
pub(crate) fn shell_quote(arg: &str) -> String {
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
    fn generate_stats_are_read_from_stderr() {
        let stderr = "warning: something\n{\"event\":\"other\"}\n\
                      {\"event\":\"stats\",\"samples\":256,\"chars\":12800,\"elapsed_secs\":2.0,\
                      \"chars_per_sec\":6400.0,\"peak_rss_mib\":210.5}\n";
        let v = stats_event(stderr).unwrap();
        assert_eq!(v["chars"], 12800);
        assert_eq!(v["chars_per_sec"], 6400.0);
        assert!(stats_event("error: no\n").is_err());
        assert!(stats_event("{\"event\":\"stats\"\n").is_err());
    }

    #[test]
    fn pinned_torch_versions() {
        assert!(is_pinned_torch("2.11.0"));
        assert!(is_pinned_torch("2.11.0+cu130"));
        assert!(!is_pinned_torch("2.1.0"));
        assert!(!is_pinned_torch("2.11.01"));
    }
}
