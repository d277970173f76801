//! Benchmarks of charrnn-sampling: draws per second for each strategy, at a character-level
//! vocabulary (84 ids) and a word-piece-sized one (10,000), one row and a batch of 256 rows.
//!
//! Throughput is reported in elements = draws (one per row), so criterion prints draws/s.
use std::hint::black_box;
use std::time::Duration;

use charrnn_sampling::{Sampler, SamplingConfig};
use criterion::{Criterion, Throughput};

const VOCABS: [usize; 2] = [84, 10_000];
const BATCHES: [usize; 2] = [1, 256];
const SEED: u64 = 0x5eed;

/// What the model bans by default: `<pad>`, `<unk>`, `<bos>`.
const BANNED: [u32; 3] = [0, 1, 2];

fn strategies() -> Vec<(&'static str, SamplingConfig)> {
    let t = || SamplingConfig::with_temperature(0.8).banned(BANNED);
    vec![
        ("greedy", SamplingConfig::greedy().banned(BANNED)),
        ("temperature", t()),
        ("top_k", t().top_k(40)),
        ("top_p", t().top_p(0.9)),
        ("min_p", t().min_p(0.05)),
        ("combined", t().top_k(40).top_p(0.9).min_p(0.05)),
    ]
}

/// Deterministic, roughly bell-shaped logits (sum of four uniforms, spread like a trained model's
/// output: a few ids clearly ahead, a long tail).
fn logits(rows: usize, vocab: usize) -> Vec<f32> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u64 << 24) as f32
    };
    (0..rows * vocab)
        .map(|_| 2.5 * (uniform() + uniform() + uniform() + uniform() - 2.0))
        .collect()
}

pub fn benches(c: &mut Criterion) {
    for vocab in VOCABS {
        for batch in BATCHES {
            let input = logits(batch, vocab);
            let mut out = vec![0u32; batch];
            let mut group = c.benchmark_group(format!("sampling/v{vocab}_b{batch}"));
            group
                .throughput(Throughput::Elements(batch as u64))
                .warm_up_time(Duration::from_millis(500))
                .measurement_time(Duration::from_secs(2));
            for (name, config) in strategies() {
                let mut sampler = Sampler::new(config, vocab, SEED).expect("valid configuration");
                group.bench_function(name, |b| {
                    b.iter(|| {
                        sampler
                            .sample_batch(black_box(&input), &mut out)
                            .expect("well-formed batch");
                        black_box(&out);
                    })
                });
            }
            group.finish();
        }
    }
}
