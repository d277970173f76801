//! Re-emits the libtorch link arguments that `charrnn-model`'s build script computed (RUNPATH and
//! a kept `libtorch_cuda`), so this crate's tests find libtorch.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_CHARRNN_TORCH_LINK_ARGS");
    if let Ok(args) = std::env::var("DEP_CHARRNN_TORCH_LINK_ARGS") {
        for arg in args.split('\t').filter(|a| !a.is_empty()) {
            println!("cargo:rustc-link-arg={arg}");
        }
    }
}
