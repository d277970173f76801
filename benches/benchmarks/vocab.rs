//! Benchmarks of charrnn-vocab (filled in by its issue).
use criterion::Criterion;

pub fn benches(c: &mut Criterion) {
    let _ = c;
}
