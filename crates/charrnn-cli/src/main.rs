//! `charrnn`: the command line over the charrnn libraries (placeholder).
fn main() {
    println!(
        "charrnn: cuda available: {}",
        charrnn_model::tch::Cuda::is_available()
    );
}
