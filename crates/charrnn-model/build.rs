//! Makes every executable of this package (and, through the `links` metadata, of the packages
//! that depend on it) find libtorch at run time and keep `libtorch_cuda` linked.
//!
//! torch-sys tells us where libtorch's libraries are (`DEP_TCH_LIBTORCH_LIB`). From it we emit:
//! - a RUNPATH to that directory, so binaries run with no `LD_LIBRARY_PATH` here, while an
//!   `LD_LIBRARY_PATH` still overrides it on another machine;
//! - `--no-as-needed -ltorch_cuda`, because rustc links with `--as-needed` and would otherwise
//!   drop `libtorch_cuda` (nothing references it by symbol), leaving CUDA invisible at run time.
//!
//! These are `rustc-link-arg`s, which cargo applies to binaries, tests, benches and examples,
//! never to build scripts. Dependents re-emit `DEP_CHARRNN_TORCH_LINK_ARGS` the same way.
use std::{
    env,
    path::{Path, PathBuf},
};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() != Ok("linux") {
        return;
    }
    let Some(lib) = env::var_os("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    let lib = PathBuf::from(lib);
    // The workspace reaches libtorch through a link; bake in where it really is.
    let lib = lib.canonicalize().unwrap_or(lib);
    let mut args = vec![
        "-Wl,--enable-new-dtags".to_owned(),
        format!("-Wl,-rpath,{}", lib.display()),
    ];
    if lib.join("libtorch_cuda.so").exists() {
        args.extend(["-Wl,--no-as-needed", "-ltorch_cuda", "-Wl,--as-needed"].map(String::from));
    }
    for arg in &args {
        println!("cargo:rustc-link-arg={arg}");
    }
    println!("cargo:link_args={}", args.join("\t"));
    println!("cargo:libtorch_lib={}", lib.display());
    autocast_shim(&lib);
    c10d_shim(&lib);
}

/// Compiles `csrc/autocast_shim.cpp` (mixed precision on any device type; tch reaches only
/// CUDA's) against libtorch's headers, and says so with `cfg(charrnn_autocast)`. Without the
/// headers the crate builds, and asking for mixed precision is an error that says why.
fn autocast_shim(lib: &Path) {
    println!("cargo:rerun-if-changed=csrc/autocast_shim.cpp");
    println!("cargo::rustc-check-cfg=cfg(charrnn_autocast)");
    let Some(include) = lib
        .parent()
        .map(|p| p.join("include"))
        .filter(|i| i.join("ATen/autocast_mode.h").is_file())
    else {
        println!("cargo:warning=libtorch has no ATen headers: building without mixed precision");
        return;
    };
    libtorch_cpp(&include)
        .file("csrc/autocast_shim.cpp")
        .compile("charrnn_autocast_shim");
    link_libtorch(lib);
    println!("cargo:rustc-cfg=charrnn_autocast");
}

/// Compiles `csrc/c10d_shim.cpp` (process groups on c10d's Gloo backend) against libtorch's
/// headers when Gloo's headers are installed (Debian's libgloo-dev, which `cargo xtask setup`
/// installs; or `GLOO_INCLUDE`), and says so with `cfg(charrnn_c10d)`. Without them the
/// crate builds without distributed training, and `ProcessGroup::join` says why.
///
/// With a CUDA libtorch whose NCCL and CUDA headers are at hand as well ([`nccl_includes`]),
/// the shim also gets c10d's NCCL backend for CUDA tensors (`cfg(charrnn_nccl)`); without
/// them, CUDA tensors are reduced with Gloo through host memory.
fn c10d_shim(lib: &Path) {
    println!("cargo:rerun-if-changed=csrc/c10d_shim.cpp");
    println!("cargo:rerun-if-env-changed=GLOO_INCLUDE");
    println!("cargo::rustc-check-cfg=cfg(charrnn_c10d)");
    println!("cargo::rustc-check-cfg=cfg(charrnn_nccl)");
    let gloo =
        env::var_os("GLOO_INCLUDE").map_or_else(|| PathBuf::from("/usr/include"), PathBuf::from);
    let include = lib.parent().map(|p| p.join("include"));
    let Some(include) = include.filter(|i| {
        i.join("torch/csrc/distributed/c10d/ProcessGroupGloo.hpp")
            .is_file()
    }) else {
        println!(
            "cargo:warning=libtorch has no c10d headers: building without distributed training"
        );
        return;
    };
    if !gloo.join("gloo/algorithm.h").is_file() {
        println!(
            "cargo:warning=Gloo's headers are not in {} (install libgloo-dev: cargo xtask setup does): building without distributed training",
            gloo.display()
        );
        return;
    }
    // A CUDA libtorch without NCCL is worth a word; a CPU-only one is not.
    let without_nccl = |why: &str| {
        println!(
            "cargo:warning=building distributed training without NCCL ({why}): CUDA tensors \
             are reduced with Gloo through host memory"
        );
    };
    let nccl = match lib.join("libtorch_cuda.so").exists() {
        false => None,
        true => match nccl_includes(lib, &include) {
            Ok(dirs) => Some(dirs),
            Err(why) => {
                without_nccl(&why);
                None
            }
        },
    };
    let mut build = libtorch_cpp(&include);
    build
        .define("USE_C10D_GLOO", None)
        .include(&gloo)
        .file("csrc/c10d_shim.cpp");
    // Headers found are not headers that compile (another CUDA's, a partial install): then the
    // shim is built without NCCL rather than the crate not at all.
    let nccl = nccl.filter(|dirs| {
        let mut with = build.clone();
        with.define("USE_C10D_NCCL", None)
            .define("CHARRNN_NCCL", None)
            .includes(dirs);
        let built = with.try_compile("charrnn_c10d_shim");
        if let Err(e) = &built {
            let e = e.to_string();
            let first = e.lines().next().unwrap_or_default();
            without_nccl(&format!(
                "the shim did not compile against NCCL's headers: {first}"
            ));
        }
        built.is_ok()
    });
    if nccl.is_none() {
        build.compile("charrnn_c10d_shim");
    }
    if nccl.is_some() {
        println!("cargo:rustc-link-lib=dylib=torch_cuda");
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
        println!("cargo:rustc-cfg=charrnn_nccl");
    }
    link_libtorch(lib);
    println!("cargo:rustc-cfg=charrnn_c10d");
}

/// A C++ build of one of `csrc/`'s shims against libtorch's headers at `include` (and
/// `csrc/shim_error.h`, which every shim shares), with the wheel's C++ ABI.
fn libtorch_cpp(include: &Path) -> cc::Build {
    println!("cargo:rerun-if-changed=csrc/shim_error.h");
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .include(include)
        .include(include.join("torch/csrc/api/include"))
        .flag_if_supported("-w");
    build
}

/// Links a shim's libtorch dependencies from `lib`.
fn link_libtorch(lib: &Path) {
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}

/// The include directories that c10d's NCCL backend needs beyond libtorch's own: `nccl.h`,
/// CUDA's runtime headers, and the two header sets of the CUDA toolkit that the wheels leave
/// out (CCCL's `nv/target` and the compiler's `crt/`). A pip-installed torch keeps the first two
/// beside it (`site-packages/nvidia/nccl`, `site-packages/nvidia/cuXX`); `cargo xtask setup`
/// installs the last two and names them in `CHARRNN_CUDA_INCLUDE`. A CUDA toolkit
/// (`CUDA_HOME`) has everything but NCCL. For a CUDA libtorch; errs with what is missing.
fn nccl_includes(lib: &Path, include: &Path) -> Result<Vec<PathBuf>, String> {
    println!("cargo:rerun-if-env-changed=CHARRNN_CUDA_INCLUDE");
    println!("cargo:rerun-if-env-changed=CUDA_HOME");
    if !include
        .join("torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp")
        .is_file()
    {
        return Err("libtorch has no ProcessGroupNCCL.hpp".into());
    }
    let site = lib.parent().and_then(Path::parent);
    let nvidia = site.map(|s| s.join("nvidia"));
    let mut dirs: Vec<PathBuf> = Vec::new();
    if let Some(nvidia) = &nvidia {
        dirs.push(nvidia.join("nccl/include"));
        if let Ok(entries) = std::fs::read_dir(nvidia) {
            let mut cuda: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path().join("include")))
                .filter(|d| d.join("cuda_runtime_api.h").is_file())
                .collect();
            cuda.sort();
            dirs.extend(cuda);
        }
    }
    let named = [
        env::var_os("CHARRNN_CUDA_INCLUDE").map(PathBuf::from),
        env::var_os("CUDA_HOME").map(|home| PathBuf::from(home).join("include")),
    ];
    dirs.extend(
        named
            .into_iter()
            .flatten()
            .map(|dir| dir.canonicalize().unwrap_or(dir)),
    );
    dirs.retain(|d| d.is_dir());
    for (file, what) in [
        ("nccl.h", "nccl.h"),
        ("cuda_runtime_api.h", "CUDA's runtime headers"),
        ("nv/target", "CCCL's nv/target"),
        ("crt/host_config.h", "CUDA's crt/ headers"),
    ] {
        if !dirs.iter().any(|d| d.join(file).is_file()) {
            return Err(format!("no {what}"));
        }
    }
    Ok(dirs)
}
