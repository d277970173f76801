//! `cargo xtask setup`: make libtorch 2.11.0 (what tch 0.24.0 is built for) available.
//!
//! In order of preference:
//! 1. `LIBTORCH_USE_PYTORCH` set: torch-sys asks `python3`'s torch; we only check its version.
//! 2. `LIBTORCH` set by the user: we check that directory and leave the build to use it.
//! 3. Otherwise the PyPI wheel `torch==2.11.0`, installed once per machine with
//!    `python3 -m pip install --target` into a per-user cache (`$CHARRNN_CACHE_DIR`, else
//!    `$XDG_CACHE_HOME/charrnn`, else `~/.cache/charrnn`) and reused by every clone.
//!
//! The build finds the chosen libtorch through the link `target/libtorch`, which
//! `.cargo/config.toml` names as `LIBTORCH` (an environment `LIBTORCH` takes precedence).

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context, Result, bail};

pub(crate) const TORCH_VERSION: &str = "2.11.0";

/// Makes libtorch available to the workspace at `root` and returns its directory (the one
/// holding `lib/` and `include/`).
pub(crate) fn ensure(root: &Path) -> Result<PathBuf> {
    ensure_gloo_headers();
    let torch = libtorch(root)?;
    ensure_cuda_headers(root, &torch);
    Ok(torch)
}

/// The libtorch to build with (see the module's documentation for the order).
fn libtorch(root: &Path) -> Result<PathBuf> {
    let link = root.join("target").join("libtorch");
    if env::var_os("LIBTORCH_USE_PYTORCH").is_some() {
        return from_python();
    }
    if let Some(user) = env::var_os("LIBTORCH").map(PathBuf::from) {
        // cargo's [env] sets LIBTORCH to our own link when it runs xtask; that is not a choice.
        if user != link {
            check_libtorch(&user)
                .with_context(|| format!("LIBTORCH={} is not usable", user.display()))?;
            return Ok(user);
        }
    }
    let cache = cache_dir()?;
    let install = cache.join(format!("torch-{TORCH_VERSION}"));
    let torch = install.join("torch");
    if check_libtorch(&torch).is_err() {
        pip_install(&install)?;
        check_libtorch(&torch).context("the freshly installed torch wheel is not usable")?;
    }
    point_link(&link, &torch)?;
    Ok(torch)
}

/// Gloo's headers, which the model crate's c10d shim (distributed training) compiles against
/// and the torch wheel does not ship: Debian's libgloo-dev, installed with apt-get when it is
/// missing and this is a Debian system run as root. Best effort: without them the crate builds
/// without distributed training (its build script says so), so nothing here fails.
fn ensure_gloo_headers() {
    let gloo =
        env::var_os("GLOO_INCLUDE").map_or_else(|| PathBuf::from("/usr/include"), PathBuf::from);
    if gloo.join("gloo/algorithm.h").is_file() || !Path::new("/usr/bin/apt-get").is_file() {
        return;
    }
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !root {
        eprintln!(
            "setup: Gloo's headers are missing; `apt-get install libgloo-dev` enables distributed training"
        );
        return;
    }
    eprintln!("setup: installing libgloo-dev (Gloo's headers, for distributed training)");
    let apt = |args: &[&str]| {
        std::process::Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let install = [
        "install",
        "-y",
        "-q",
        "--no-install-recommends",
        "libgloo-dev",
    ];
    // A fresh image may have no package lists yet.
    let ok = apt(&install) || (apt(&["update", "-q"]) && apt(&install));
    if !ok {
        eprintln!(
            "setup: apt-get could not install libgloo-dev: building without distributed training"
        );
    }
}

/// The CUDA headers that c10d's NCCL backend needs and the torch wheel's nvidia packages leave
/// out (CCCL's `nv/target`, the compiler's `crt/`), for a torch whose site holds NCCL and a
/// CUDA 13 runtime (`nvidia_cuda_runtime-13.x`): the PyPI packages `nvidia-cuda-cccl` and
/// `nvidia-cuda-crt` of the runtime's version, installed once per machine into the cache
/// (`cuda-headers-13.0/`, headers only, about 20 MB) and linked as `target/cuda-include`, which
/// `.cargo/config.toml` names as `CHARRNN_CUDA_INCLUDE`. Best effort, like Gloo's headers:
/// without them the build reduces CUDA tensors with Gloo through host memory (its build script
/// says so).
fn ensure_cuda_headers(root: &Path, torch: &Path) {
    let Some(site) = torch.parent() else {
        return;
    };
    let Some(version) = cuda_runtime_version(site) else {
        return;
    };
    if !site.join("nvidia/nccl/include/nccl.h").is_file() {
        return;
    }
    let Ok(cache) = cache_dir() else {
        return;
    };
    let major = version.split('.').next().unwrap_or_default();
    let dir = cache.join(format!("cuda-headers-{version}"));
    let include = dir.join(format!("nvidia/cu{major}/include"));
    let complete =
        |i: &Path| i.join("nv/target").is_file() && i.join("crt/host_config.h").is_file();
    if !complete(&include) {
        eprintln!(
            "setup: installing CUDA {version}'s CCCL and crt headers (for NCCL) into {}",
            dir.display()
        );
        let packages = [
            format!("nvidia-cuda-cccl=={version}.*"),
            format!("nvidia-cuda-crt=={version}.*"),
        ];
        let ok = python_has_pip()
            && pip_install_target(&dir, &packages, &["--quiet", "--no-deps"]).is_ok();
        if !ok || !complete(&include) {
            eprintln!(
                "setup: could not install CUDA's CCCL and crt headers: distributed training on \
                 CUDA will reduce through host memory (Gloo) instead of NCCL"
            );
            return;
        }
    }
    if let Err(e) = point_link(&root.join("target").join("cuda-include"), &include) {
        eprintln!("setup: {e:#}");
    }
}

/// `major.minor` of the CUDA 13-style runtime package (`nvidia_cuda_runtime-13.0.96.dist-info`)
/// installed beside torch in `site`, if there is one.
fn cuda_runtime_version(site: &Path) -> Option<String> {
    fs::read_dir(site).ok()?.find_map(|entry| {
        let name = entry.ok()?.file_name().into_string().ok()?;
        let version = name
            .strip_prefix("nvidia_cuda_runtime-")?
            .strip_suffix(".dist-info")?;
        let mut parts = version.split('.');
        let (major, minor) = (parts.next()?, parts.next()?);
        let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        (numeric(major) && numeric(minor)).then(|| format!("{major}.{minor}"))
    })
}

fn cache_dir() -> Result<PathBuf> {
    if let Some(dir) = env::var_os("CHARRNN_CACHE_DIR") {
        return Ok(PathBuf::from(dir));
    }
    if let Some(dir) = env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("charrnn"));
    }
    let home =
        env::var_os("HOME").context("neither CHARRNN_CACHE_DIR, XDG_CACHE_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".cache").join("charrnn"))
}

/// Checks that `dir` is a libtorch of the pinned version: libraries, headers, version.
fn check_libtorch(dir: &Path) -> Result<()> {
    let lib = dir.join("lib");
    if !lib.join("libtorch_cpu.so").exists() {
        bail!("{} has no libtorch_cpu.so", lib.display());
    }
    if !dir.join("include").join("torch").is_dir() {
        bail!("{} has no include/torch headers", dir.display());
    }
    let version = read_version(dir)?;
    if version.split('+').next() != Some(TORCH_VERSION) {
        bail!(
            "{} holds libtorch {version}, but tch 0.24.0 needs {TORCH_VERSION}",
            dir.display()
        );
    }
    Ok(())
}

/// The version of a libtorch directory: `build-version` (libtorch zips) or `version.py` (wheels).
fn read_version(dir: &Path) -> Result<String> {
    if let Ok(text) = fs::read_to_string(dir.join("build-version")) {
        return Ok(text.trim().to_owned());
    }
    let path = dir.join("version.py");
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .find_map(|line| line.strip_prefix("__version__ = "))
        .map(|v| v.trim().trim_matches(['\'', '"']).to_owned())
        .with_context(|| format!("{} names no __version__", path.display()))
}

fn python_has_pip() -> bool {
    Command::new("python3")
        .args(["-m", "pip", "--version"])
        .output()
        .map(|out| out.status.success())
        .unwrap_or(false)
}

fn pip_install(install: &Path) -> Result<()> {
    if !python_has_pip() {
        bail!(
            "libtorch {TORCH_VERSION} is needed and comes from the PyPI wheel torch=={TORCH_VERSION}, \
             but `python3 -m pip` does not run: install python3 and pip (Debian: `apt-get install python3-pip`), \
             or set LIBTORCH to an existing libtorch {TORCH_VERSION}"
        );
    }
    eprintln!(
        "setup: installing torch=={TORCH_VERSION} from PyPI into {} \n\
         setup: this happens once per machine: about 4.6 GB, roughly a minute on a fast link",
        install.display()
    );
    let started = Instant::now();
    pip_install_target(install, &[format!("torch=={TORCH_VERSION}")], &[])?;
    eprintln!("setup: libtorch installed in {:.0?}", started.elapsed());
    Ok(())
}

/// `python3 -m pip install --target` of `packages` (with `flags`) into `dir`, through
/// `dir.partial`, which replaces `dir` only once pip succeeded: `dir` is never left
/// half-installed, and a failed install leaves nothing behind.
fn pip_install_target(dir: &Path, packages: &[String], flags: &[&str]) -> Result<()> {
    let partial = dir.with_extension("partial");
    if partial.exists() {
        fs::remove_dir_all(&partial)
            .with_context(|| format!("cannot remove {}", partial.display()))?;
    }
    if let Some(parent) = dir.parent() {
        fs::create_dir_all(parent)?;
    }
    let status = Command::new("python3")
        .args([
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
        ])
        .args(flags)
        .arg("--target")
        .arg(&partial)
        .args(packages)
        .status()
        .context("could not run python3 -m pip")?;
    if !status.success() {
        let _ = fs::remove_dir_all(&partial);
        bail!(
            "`pip install {}` failed ({status}); see pip's output above",
            packages.join(" ")
        );
    }
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("cannot replace {}", dir.display()))?;
    }
    fs::rename(&partial, dir)
        .with_context(|| format!("cannot move the install into {}", dir.display()))
}

fn point_link(link: &Path, target: &Path) -> Result<()> {
    if fs::read_link(link).is_ok_and(|current| current == target) {
        return Ok(());
    }
    if let Some(parent) = link.parent() {
        fs::create_dir_all(parent)?;
    }
    match fs::symlink_metadata(link) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(link)?,
        Ok(_) => fs::remove_file(link)?,
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("cannot link {} to {}", link.display(), target.display()))
}

fn from_python() -> Result<PathBuf> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import torch, os; print(torch.__version__); print(os.path.dirname(torch.__file__))",
        ])
        .output()
        .context("LIBTORCH_USE_PYTORCH is set but python3 could not be run")?;
    if !out.status.success() {
        bail!(
            "LIBTORCH_USE_PYTORCH is set but python3 cannot import torch: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let version = lines.next().unwrap_or_default();
    if version.split('+').next() != Some(TORCH_VERSION) {
        bail!(
            "LIBTORCH_USE_PYTORCH: python3's torch is {version}, but tch 0.24.0 needs {TORCH_VERSION}"
        );
    }
    Ok(PathBuf::from(lines.next().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cuda_runtime_version_beside_torch() {
        let dir = std::env::temp_dir().join(format!("charrnn-xtask-cuda-{}", std::process::id()));
        fs::create_dir_all(dir.join("torch")).unwrap();
        assert_eq!(cuda_runtime_version(&dir), None, "a CPU-only site");
        fs::create_dir_all(dir.join("nvidia_cuda_runtime_cu12-12.8.90.dist-info")).unwrap();
        assert_eq!(
            cuda_runtime_version(&dir),
            None,
            "CUDA 12 wheels are named otherwise"
        );
        fs::create_dir_all(dir.join("nvidia_cuda_runtime-13.0.96.dist-info")).unwrap();
        assert_eq!(cuda_runtime_version(&dir).as_deref(), Some("13.0"));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_versions_of_both_layouts() {
        let dir =
            std::env::temp_dir().join(format!("charrnn-xtask-version-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(
            dir.join("version.py"),
            "x = 1\n__version__ = '2.11.0+cu130'\n",
        )
        .unwrap();
        assert_eq!(read_version(&dir).unwrap(), "2.11.0+cu130");
        fs::write(dir.join("build-version"), "2.10.0+cpu\n").unwrap();
        assert_eq!(read_version(&dir).unwrap(), "2.10.0+cpu");
        // A directory without libraries is refused with a message naming it.
        let err = check_libtorch(&dir).unwrap_err().to_string();
        assert!(err.contains("libtorch_cpu.so"), "{err}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
