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
    cargo_with(dir, args, &[])
}

/// [`cargo`] with `envs` added to its environment.
pub(crate) fn cargo_with(dir: &Path, args: &[&str], envs: &[(String, String)]) -> Result<()> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let shown: Vec<String> = envs.iter().map(|(k, v)| format!("{k}={v:?} ")).collect();
    eprintln!("$ {}cargo {}", shown.concat(), args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .status()
        .with_context(|| format!("could not run {cargo}"))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The environment that makes any cargo command lint the workspace's own crates with clippy
/// and `lint_args` as it compiles them, as `cargo clippy -- LINT_ARGS` does for `cargo check`:
/// the toolchain's `clippy-driver` as `RUSTC_WORKSPACE_WRAPPER`, and the arguments in
/// `CLIPPY_ARGS`, each followed by clippy's `__CLIPPY_HACKERY__` separator.
pub(crate) fn clippy_wrapper(lint_args: &[&str]) -> Result<Vec<(String, String)>> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let out = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .with_context(|| format!("could not run {rustc}"))?;
    if !out.status.success() {
        bail!("`{rustc} --print sysroot` failed ({})", out.status);
    }
    let sysroot = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let driver = sysroot
        .join("bin")
        .join(format!("clippy-driver{}", env::consts::EXE_SUFFIX));
    if !driver.is_file() {
        bail!(
            "{} is missing: this toolchain has no clippy (rustup component add clippy)",
            driver.display()
        );
    }
    let args: String = lint_args
        .iter()
        .map(|a| format!("{a}__CLIPPY_HACKERY__"))
        .collect();
    Ok(vec![
        (
            "RUSTC_WORKSPACE_WRAPPER".to_owned(),
            driver.to_string_lossy().into_owned(),
        ),
        ("CLIPPY_ARGS".to_owned(), args),
    ])
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

    /// The wrapper makes a plain build (not `cargo check`) of a crate fail on a clippy lint, and
    /// pass once the lint is gone; the build still produces the binary.
    #[test]
    fn the_clippy_wrapper_lints_what_a_build_compiles() {
        let tmp = tempfile::tempdir().unwrap();
        let krate = tmp.path().join("linted");
        fs::create_dir_all(krate.join("src")).unwrap();
        fs::write(
            krate.join("Cargo.toml"),
            "[package]\nname = \"linted\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
        )
        .unwrap();
        let main = krate.join("src").join("main.rs");
        let build = || {
            let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            Command::new(cargo)
                .args(["build", "--quiet"])
                .envs(clippy_wrapper(&["-D", "warnings"]).unwrap())
                .env("CARGO_TARGET_DIR", tmp.path().join("target"))
                .current_dir(&krate)
                .output()
                .unwrap()
        };
        // `x.clone()` on a `u8` is clippy::clone_on_copy; rustc alone has nothing to say.
        let lint = "fn main() { let x = 1u8; let y = x.clone(); println!(\"{y}\"); }\n";
        fs::write(&main, lint).unwrap();
        let out = build();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "the lint passed: {err}");
        assert!(err.contains("clone_on_copy"), "{err}");
        fs::write(&main, "fn main() { let x = 1u8; println!(\"{}\", x); }\n").unwrap();
        let out = build();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(tmp.path().join("target/debug/linted").is_file());
    }
}
