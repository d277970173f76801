//! Where the workspace is, found at run time from the current directory (as `cargo
//! locate-project --workspace` does), never from where this xtask was built; and building the
//! `charrnn` binary in it.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

/// The environment variable naming an existing `charrnn` binary to use instead of building one.
pub(crate) const BIN_ENV: &str = "CHARRNN_BIN";

/// The nearest directory at or above `start` whose `Cargo.toml` declares a `[workspace]`.
pub(crate) fn find_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find_map(|dir| {
        let manifest = fs::read_to_string(dir.join("Cargo.toml")).ok()?;
        manifest
            .lines()
            .any(|line| line.trim() == "[workspace]")
            .then(|| dir.to_path_buf())
    })
}

/// The workspace the current directory is in.
pub(crate) fn root() -> Result<PathBuf> {
    let cwd = env::current_dir().context("cannot read the current directory")?;
    find_root(&cwd).with_context(|| {
        format!(
            "{} is not inside a cargo workspace: run `cargo xtask` from the charrnn checkout",
            cwd.display()
        )
    })
}

/// Cargo's target directory for the workspace at `root`.
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| root.join("target"), PathBuf::from)
}

/// Runs `cargo ARGS` in `dir`, failing with the command line if it fails.
pub(crate) fn cargo(dir: &Path, args: &[&str]) -> Result<()> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("could not run {cargo}"))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The `charrnn` binary: `CHARRNN_BIN`, or the release build of the workspace at `root`
/// (made after `setup`).
pub(crate) fn charrnn_bin(root: &Path, quiet: bool) -> Result<PathBuf> {
    if let Some(bin) = env::var_os(BIN_ENV).filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        if !bin.is_file() {
            bail!("{BIN_ENV}={} does not exist", bin.display());
        }
        return Ok(bin);
    }
    crate::setup::ensure(root)?;
    // The whole workspace's binaries, not `-p charrnn-cli`: a per-package build unifies
    // features differently and would rebuild libtorch's and arrow's crates a second time.
    let mut args = vec!["build", "--release", "--workspace", "--bins"];
    if quiet {
        args.push("--quiet");
    }
    cargo(root, &args)?;
    let bin = target_dir(root)
        .join("release")
        .join(format!("charrnn{}", env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        bail!("cargo built charrnn-cli but {} is missing", bin.display());
    }
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_nearest_workspace_manifest_above() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("clone");
        let member = root.join("crates").join("lib");
        let deep = member.join("src").join("nested");
        fs::create_dir_all(&deep).unwrap();
        fs::write(
            root.join("Cargo.toml"),
            "[workspace]\nmembers = [\"crates/*\"]\n",
        )
        .unwrap();
        // A member's manifest (no [workspace], though it mentions workspace keys) is passed.
        fs::write(
            member.join("Cargo.toml"),
            "[package]\nname = \"lib\"\n\n[lints]\nworkspace = true\n",
        )
        .unwrap();
        assert_eq!(find_root(&deep), Some(root.clone()));
        assert_eq!(find_root(&member), Some(root.clone()));
        assert_eq!(find_root(&root), Some(root.clone()));
        // Outside any workspace there is none.
        let outside = tmp.path().join("elsewhere");
        fs::create_dir_all(&outside).unwrap();
        assert_eq!(find_root(&outside), None);
    }

    #[test]
    fn this_checkout_is_found_from_where_the_tests_run() {
        // cargo runs tests in the package's directory: the workspace is its parent, whatever
        // path xtask was built from.
        let found = root().unwrap();
        assert!(
            found.join("xtask").join("Cargo.toml").is_file(),
            "{found:?}"
        );
        assert!(found.join("crates").is_dir(), "{found:?}");
    }
}
