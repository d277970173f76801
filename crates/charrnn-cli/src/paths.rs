//! Guards for the files a command writes: no command may write to a path that is one of its
//! inputs, whatever the spelling (relative, `..`, symbolic or hard links).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Result, bail};

/// Whether `a` and `b` are the same file: the same device and inode where both exist, or the
/// same canonical path.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return ma.dev() == mb.dev() && ma.ino() == mb.ino();
        }
    }
    match (canonical(a), canonical(b)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// The canonical form of a path that may not exist yet: its existing ancestor canonicalized,
/// the rest appended.
pub fn canonical(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(canonical(parent)?.join(path.file_name()?))
}

/// Whether `path` is `dir` or lies inside it (compared canonically).
pub fn inside(path: &Path, dir: &Path) -> bool {
    match (canonical(path), canonical(dir)) {
        (Some(p), Some(d)) => p.starts_with(d),
        _ => false,
    }
}

/// Refuses to write `output` (named by `flag`) when it is one of the `inputs`.
pub fn refuse_input_as_output(output: &Path, flag: &str, inputs: &[&Path]) -> Result<()> {
    for input in inputs {
        if same_file(output, input) {
            bail!(
                "{flag} {} is also an input ({}): refusing to overwrite it; choose another path",
                output.display(),
                input.display()
            );
        }
    }
    Ok(())
}

/// The file to write for an output path, checked before anything is written: a symlink is
/// written through (its target is replaced, not the link); a directory, a FIFO, a device or a
/// socket is refused, since the atomic write (a temporary file renamed over the path) would
/// replace it with a plain file.
pub fn output_file(output: &Path, flag: &str) -> Result<PathBuf> {
    let Ok(meta) = std::fs::symlink_metadata(output) else {
        return Ok(output.to_owned());
    };
    let target = if meta.file_type().is_symlink() {
        match std::fs::canonicalize(output) {
            Ok(target) => target,
            Err(_) => bail!(
                "{flag} {} is a symbolic link to nothing: name a file to write",
                output.display()
            ),
        }
    } else {
        output.to_owned()
    };
    refuse_directory(&target, flag)?;
    if target.exists() && !target.is_file() {
        bail!(
            "{flag} {} is not a regular file (a FIFO, a device or a socket): name a file to write",
            output.display()
        );
    }
    Ok(target)
}

/// Refuses an output file that exists already, unless `overwrite` (the command's
/// --overwrite): a user's file is replaced only when they say so.
pub fn refuse_existing(output: &Path, flag: &str, overwrite: bool) -> Result<()> {
    if !overwrite && std::fs::symlink_metadata(output).is_ok() {
        bail!(
            "{flag} {} exists already: give --overwrite to replace it, or choose another path",
            output.display()
        );
    }
    Ok(())
}

/// Takes the run directory `dir` (made if missing) for this process alone, for as long as the
/// returned handle lives: a second training into the same directory is refused at once,
/// instead of racing the first for its checkpoints. (An advisory lock on the directory itself:
/// nothing is written in it.)
pub fn lock_run_dir(dir: &Path) -> Result<RunLock> {
    let created = !dir.exists();
    let leftovers = Arc::new(Mutex::new(Leftovers {
        dir: created.then(|| dir.to_owned()),
        store: None,
    }));
    // Ctrl-C is listened to before the directory is made: from then on it is removed again.
    let on_quit = {
        let leftovers = Arc::clone(&leftovers);
        crate::interrupt::on_quit(
            "interrupted before training started: nothing was saved",
            move || clean(&leftovers),
        )
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let handle = std::fs::File::open(dir)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", dir.display()))?;
    let lock = RunLock {
        handle,
        leftovers,
        _on_quit: on_quit,
    };
    match lock.handle.try_lock() {
        Ok(()) => {
            // Checkpoints are written there under temporary names: a directory that refuses
            // them is found now, not after training.
            tempfile::Builder::new()
                .prefix(".charrnn-write-test")
                .tempfile_in(dir)
                .map_err(|e| {
                    // (The error line drops the reason's "(os error N)": output::one_line.)
                    anyhow::anyhow!(
                        "--out {} cannot be written ({e}): checkpoints could not be saved there",
                        dir.display(),
                    )
                })?;
            Ok(lock)
        }
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "--out {} is in use by another charrnn training: wait for it to end, or choose \
             another directory",
            dir.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => {
            bail!("cannot lock the run directory {}: {e}", dir.display())
        }
    }
}

/// A run directory held by [`lock_run_dir`]. If this process made the directory and it is
/// still empty when the lock goes (a refusal before anything was written), it goes too; so
/// does a token store it made there, when the run saved no model (data refused after the
/// store was built). Ctrl-C before training does the same clean-up before it quits.
pub struct RunLock {
    handle: std::fs::File,
    leftovers: Arc<Mutex<Leftovers>>,
    _on_quit: crate::interrupt::QuitGuard,
}

/// What a [`RunLock`] removes when it goes.
struct Leftovers {
    /// The run directory, made by this process: removed if empty.
    dir: Option<PathBuf>,
    /// The run directory and a store made in it: the store is removed if the run holds no
    /// model.
    store: Option<(PathBuf, PathBuf)>,
}

impl RunLock {
    /// Removes `store`, made by this process inside the run directory `run`, when the lock
    /// goes and `run` holds no model. A store that exists already is left alone.
    pub fn store_made_here(self, run: &Path, store: &Path) -> Self {
        if !store.exists()
            && let Ok(mut leftovers) = self.leftovers.lock()
        {
            leftovers.store = Some((run.to_owned(), store.to_owned()));
        }
        self
    }
}

/// Removes what `leftovers` names, as [`RunLock`] says.
fn clean(leftovers: &Mutex<Leftovers>) {
    let Ok(leftovers) = leftovers.lock() else {
        return;
    };
    if let Some((run, store)) = &leftovers.store
        && !charrnn_model::run_holds_model(run)
    {
        // Another thread may still be writing there (Ctrl-C): a file made during the
        // removal makes it fail, so it is tried again.
        for _ in 0..3 {
            if std::fs::remove_dir_all(store).is_ok() || !store.exists() {
                break;
            }
        }
    }
    if let Some(dir) = &leftovers.dir
        && std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_none())
    {
        let _ = std::fs::remove_dir(dir);
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        clean(&self.leftovers);
    }
}

/// While the returned guard lives, Ctrl-C removes the temporary files of the `outputs` being
/// written (`.NAME.*.tmp` beside each: the libraries write there, then rename) before it
/// quits, and says the outputs are left as they were.
pub fn temporaries_on_quit(outputs: &[&Path]) -> crate::interrupt::QuitGuard {
    let outputs: Vec<PathBuf> = outputs.iter().map(|p| p.to_path_buf()).collect();
    crate::interrupt::on_quit("interrupted: nothing was written", move || {
        for output in &outputs {
            remove_temporaries(output);
        }
    })
}

/// Removes `.NAME.*.tmp` beside `output` (NAME its file name).
pub fn remove_temporaries(output: &Path) {
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = output.file_name() else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file = entry.file_name();
        let file = file.to_string_lossy();
        if file.starts_with(&prefix) && file.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Refuses to write a file at `output` when a directory is there.
pub fn refuse_directory(output: &Path, flag: &str) -> Result<()> {
    if output.is_dir() {
        bail!(
            "{flag} {} is a directory: name a file to write",
            output.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_file_are_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.csv");
        std::fs::write(&a, "x").unwrap();
        let dotted = dir.path().join(".").join("a.csv");
        assert!(same_file(&a, &dotted));
        #[cfg(unix)]
        {
            let link = dir.path().join("link.csv");
            std::os::unix::fs::symlink(&a, &link).unwrap();
            assert!(same_file(&a, &link));
            let hard = dir.path().join("hard.csv");
            std::fs::hard_link(&a, &hard).unwrap();
            assert!(same_file(&a, &hard));
        }
        assert!(!same_file(&a, &dir.path().join("b.csv")));
        assert!(refuse_input_as_output(&dotted, "--output", &[&a]).is_err());
        assert!(refuse_input_as_output(&dir.path().join("b.pq"), "--output", &[&a]).is_ok());
        assert!(inside(
            &dir.path().join("run/best/x"),
            &dir.path().join("run")
        ));
        assert!(!inside(&dir.path().join("other"), &dir.path().join("run")));
    }
}
