//! A run directory's state: whether it holds a model, and the leftovers of killed writers.
use std::fs;
use std::path::{Path, PathBuf};

use crate::checkpoint::{CONFIG, WEIGHTS};
use crate::error::{ModelError, Result};

/// Whether `run_dir` holds a trained model: a `best/` or `last/` checkpoint (or is itself a
/// checkpoint directory).
pub fn run_holds_model(run_dir: &Path) -> bool {
    [
        run_dir.to_owned(),
        run_dir.join("best"),
        run_dir.join("last"),
    ]
    .iter()
    .any(|d| d.join(CONFIG).is_file() || d.join(WEIGHTS).is_file())
}

/// The entries training writes in a run directory: checkpoints and the metrics.
const RUN_ENTRIES: [&str; 3] = ["best", "last", crate::records::METRICS_FILE];

/// The entries of `run_dir` that training would replace but that charrnn did not write: a
/// `best/` or `last/` that is not a checkpoint directory (no `config.json`), or a
/// `metrics.jsonl` that is not a run's metrics. A directory of the user's that merely shares
/// those names is not a run to overwrite.
pub fn foreign_run_entries(run_dir: &Path) -> Vec<PathBuf> {
    let mut foreign = Vec::new();
    for name in RUN_ENTRIES {
        let path = run_dir.join(name);
        if fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let ours = if name == crate::records::METRICS_FILE {
            path.is_file() && crate::records::read_metrics(&path).is_ok()
        } else {
            path.is_dir() && path.join(CONFIG).is_file()
        };
        if !ours {
            foreign.push(path);
        }
    }
    foreign
}

/// What [`clean_run_dir`] did with one leftover of a killed process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leftover {
    /// A temporary file or directory, deleted.
    Removed(PathBuf),
    /// The previous checkpoint, moved aside just before a kill, put back under its name.
    Restored {
        /// The leftover's name.
        from: PathBuf,
        /// The name it got back.
        to: PathBuf,
    },
}

/// Cleans what killed writers left in `dir`: the temporary siblings (`.NAME.tmp-PID`,
/// `.NAME.old-PID`) that atomic writes of the run's own entries make (`NAME` is `best`, `last`
/// or `metrics.jsonl`; anything else is not ours to touch). Only those of processes that no longer run are
/// touched, never this process's own nor a live one's. A `.NAME.old-PID` whose `NAME` is
/// missing (a kill between the two renames of a replacement) is renamed back to `NAME`, so
/// the previous checkpoint is kept; every other leftover is deleted.
pub fn clean_run_dir(dir: &Path) -> Result<Vec<Leftover>> {
    let mut done = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(ModelError::io(dir, e)),
    };
    let mut leftovers = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ModelError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((base, kind, pid)) = parse_leftover(&name)
            && RUN_ENTRIES.contains(&base)
            && pid != std::process::id()
            && !process_alive(pid)
        {
            leftovers.push((entry.path(), base.to_owned(), kind));
        }
    }
    // Restores first, so that a removal never takes the only copy.
    leftovers.sort_by_key(|(_, _, kind)| *kind != "old");
    for (path, base, kind) in leftovers {
        let target = dir.join(&base);
        if kind == "old" && !target.exists() {
            fs::rename(&path, &target).map_err(|e| ModelError::io(&path, e))?;
            done.push(Leftover::Restored {
                from: path,
                to: target,
            });
            continue;
        }
        let removed = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        removed.map_err(|e| ModelError::io(&path, e))?;
        done.push(Leftover::Removed(path));
    }
    Ok(done)
}

/// `.NAME.tmp-PID` / `.NAME.old-PID` → (NAME, "tmp" | "old", PID).
fn parse_leftover(name: &str) -> Option<(&str, &'static str, u32)> {
    let rest = name.strip_prefix('.')?;
    for kind in ["tmp", "old"] {
        if let Some((base, pid)) = rest.rsplit_once(&format!(".{kind}-"))
            && !base.is_empty()
            && !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
        {
            return Some((base, kind, pid.parse().ok()?));
        }
    }
    None
}

/// Whether a process with this id runs (Linux `/proc`; elsewhere every process counts as
/// alive, so nothing of another process is ever touched).
fn process_alive(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.join("self").exists() || proc.join(pid.to_string()).exists()
}
