//! A run directory's state: whether it holds a model, its history of checkpoints
//! (`checkpoints/step-NNNNNNN/`), and the leftovers of killed writers.
use std::fs;
use std::path::{Path, PathBuf};

use crate::checkpoint::{CONFIG, WEIGHTS, temp_sibling};
use crate::error::{ModelError, Result};

/// The directory of a run's history of checkpoints ([`crate::TrainConfig::checkpoint_every`]):
/// `RUN/checkpoints/step-NNNNNNN/`.
pub const CHECKPOINTS_DIR: &str = "checkpoints";

/// Whether `run_dir` holds a trained model: a `best/` or `last/` checkpoint, a checkpoint of
/// its history (`checkpoints/step-N/`), or is itself a checkpoint directory.
pub fn run_holds_model(run_dir: &Path) -> bool {
    let holds = |d: &Path| d.join(CONFIG).is_file() || d.join(WEIGHTS).is_file();
    [
        run_dir.to_owned(),
        run_dir.join("best"),
        run_dir.join("last"),
    ]
    .iter()
    .any(|d| holds(d))
        || checkpoint_history(run_dir).is_ok_and(|h| !h.is_empty())
}

/// The entries training writes in a run directory: checkpoints, the metrics and the history.
const RUN_ENTRIES: [&str; 4] = [
    "best",
    "last",
    crate::records::METRICS_FILE,
    CHECKPOINTS_DIR,
];

/// The name of the history checkpoint of `step`: `step-` and the step, zero-padded to 7
/// digits (`step-0000400`).
pub fn history_name(step: u64) -> String {
    format!("step-{step:07}")
}

/// The step of a history entry's name: exactly `step-` followed by digits, else `None`.
fn history_step(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("step-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// One checkpoint of a run's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryCheckpoint {
    /// The step it was written at.
    pub step: u64,
    /// Its directory, `RUN/checkpoints/step-NNNNNNN`.
    pub dir: PathBuf,
}

/// Whether `path`, named `name`, is a checkpoint of a history: `step-` and digits, a directory
/// holding a `config.json`.
fn is_history_checkpoint(name: &str, path: &Path) -> bool {
    history_step(name).is_some() && path.is_dir() && path.join(CONFIG).is_file()
}

/// Whether an entry of `checkpoints/` named `name` is charrnn's: a history checkpoint
/// (`path`) or the leftover of a writer of one (`.step-N.tmp-PID`, `.step-N.old-PID`).
fn ours_in_history(name: &str, path: &Path) -> bool {
    is_history_checkpoint(name, path)
        || parse_leftover(name).is_some_and(|(base, _, _)| history_step(base).is_some())
}

/// The run's history of checkpoints, oldest first: the `step-N` directories of
/// `run_dir/checkpoints/` that hold a `config.json`. Empty when there is no such directory;
/// other entries are left out.
pub fn checkpoint_history(run_dir: &Path) -> Result<Vec<HistoryCheckpoint>> {
    let history = run_dir.join(CHECKPOINTS_DIR);
    if !history.is_dir() {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    for entry in fs::read_dir(&history).map_err(|e| ModelError::io(&history, e))? {
        let entry = entry.map_err(|e| ModelError::io(&history, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if let Some(step) = history_step(&name)
            && is_history_checkpoint(&name, &path)
        {
            found.push((step, name, path));
        }
    }
    found.sort();
    Ok(found
        .into_iter()
        .map(|(step, _, dir)| HistoryCheckpoint { step, dir })
        .collect())
}

/// The entries of `run_dir` that training would replace but that charrnn did not write: a
/// `best/` or `last/` that is not a checkpoint directory (no `config.json`), a
/// `metrics.jsonl` that is not a run's metrics, a `checkpoints` that is not a directory, or an
/// entry of `checkpoints/` that is neither a history checkpoint (`step-N/` with a
/// `config.json`) nor the leftover of a killed writer of one. A directory of the user's that
/// merely shares those names is not a run to overwrite.
pub fn foreign_run_entries(run_dir: &Path) -> Vec<PathBuf> {
    let mut foreign = Vec::new();
    for name in RUN_ENTRIES {
        let path = run_dir.join(name);
        if fs::symlink_metadata(&path).is_err() {
            continue;
        }
        let ours = match name {
            crate::records::METRICS_FILE => {
                path.is_file() && crate::records::read_metrics(&path).is_ok()
            }
            CHECKPOINTS_DIR => match fs::read_dir(&path) {
                Ok(entries) if path.is_dir() => {
                    let mut strangers: Vec<PathBuf> = entries
                        .filter_map(|entry| match entry {
                            Ok(e)
                                if ours_in_history(&e.file_name().to_string_lossy(), &e.path()) =>
                            {
                                None
                            }
                            Ok(e) => Some(e.path()),
                            Err(_) => Some(path.clone()),
                        })
                        .collect();
                    strangers.sort();
                    foreign.extend(strangers);
                    true
                }
                _ => false,
            },
            _ => path.is_dir() && path.join(CONFIG).is_file(),
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
/// `.NAME.old-PID`) that atomic writes of the run's own entries make (`NAME` is `best`, `last`,
/// `metrics.jsonl` or `checkpoints`, and inside `checkpoints/` a history checkpoint's
/// `step-N`; anything else is not ours to touch). Only those of processes that no longer run are
/// touched, never this process's own nor a live one's. A `.NAME.old-PID` whose `NAME` is
/// missing (a kill between the two renames of a replacement) is renamed back to `NAME`, so
/// the previous checkpoint is kept; every other leftover is deleted.
pub fn clean_run_dir(dir: &Path) -> Result<Vec<Leftover>> {
    let mut done = clean_leftovers(dir, |base| RUN_ENTRIES.contains(&base))?;
    let history = dir.join(CHECKPOINTS_DIR);
    if history.is_dir() {
        done.extend(clean_leftovers(&history, |base| {
            history_step(base).is_some()
        })?);
    }
    Ok(done)
}

/// [`clean_run_dir`]'s rules in one directory, for the leftovers whose `NAME` is `ours`.
fn clean_leftovers(dir: &Path, ours: impl Fn(&str) -> bool) -> Result<Vec<Leftover>> {
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
            && ours(base)
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

/// Deletes the directory `path` so that a kill midway leaves no part of it under its name:
/// it is renamed to its temporary sibling `.NAME.tmp-PID` first (which the next
/// [`clean_run_dir`] removes), then deleted.
fn retire(path: &Path) -> Result<()> {
    let doomed = temp_sibling(path, "tmp")?;
    if doomed.exists() {
        fs::remove_dir_all(&doomed).map_err(|e| ModelError::io(&doomed, e))?;
    }
    fs::rename(path, &doomed).map_err(|e| ModelError::io(path, e))?;
    fs::remove_dir_all(&doomed).map_err(|e| ModelError::io(&doomed, e))
}

/// Deletes the oldest checkpoints of the history of `run_dir` beyond the newest `keep` (0:
/// none). Only history checkpoints count and go; nothing else in `checkpoints/` is touched.
pub(crate) fn prune_history(run_dir: &Path, keep: usize) -> Result<()> {
    if keep == 0 {
        return Ok(());
    }
    let history = checkpoint_history(run_dir)?;
    let excess = history.len().saturating_sub(keep);
    for old in &history[..excess] {
        retire(&old.dir)?;
    }
    Ok(())
}

/// Deletes the history of the previous run in `run_dir` (a new run replacing it): the whole
/// `checkpoints/` at once when it holds only charrnn's entries, else its history checkpoints
/// one by one (what is not charrnn's stays).
pub(crate) fn remove_history(run_dir: &Path) -> Result<()> {
    let history = run_dir.join(CHECKPOINTS_DIR);
    if !history.is_dir() {
        return Ok(());
    }
    let mut all_ours = true;
    for entry in fs::read_dir(&history).map_err(|e| ModelError::io(&history, e))? {
        let entry = entry.map_err(|e| ModelError::io(&history, e))?;
        all_ours &= ours_in_history(&entry.file_name().to_string_lossy(), &entry.path());
    }
    if all_ours && !history.is_symlink() {
        return retire(&history);
    }
    for old in checkpoint_history(run_dir)? {
        retire(&old.dir)?;
    }
    Ok(())
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
