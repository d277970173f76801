//! Criterion entry point: `cargo bench -p charrnn-bench [-- FILTER]`.
use criterion::{criterion_group, criterion_main};

mod benchmarks;

criterion_group!(
    benches,
    benchmarks::vocab::benches,
    benchmarks::data::benches,
    benchmarks::sampling::benches,
    benchmarks::model::benches
);
criterion_main!(benches);
