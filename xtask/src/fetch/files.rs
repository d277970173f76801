//! Files written under a temporary name first: `PATH.partial`, removed unless renamed.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// `PATH.partial`: where a file is written before it is checked and renamed to `PATH`.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Removes a file when dropped, unless disarmed: a failed write leaves nothing behind.
pub(crate) struct RemoveOnDrop(pub(crate) Option<PathBuf>);

impl RemoveOnDrop {
    pub(crate) fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            // It may never have been created.
            let _ = fs::remove_file(path);
        }
    }
}
