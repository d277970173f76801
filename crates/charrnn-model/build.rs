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
use std::{env, path::PathBuf};

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
}
