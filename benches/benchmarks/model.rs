//! Benchmarks of charrnn-model: one training step (forward, masked loss, backward, clipping,
//! Adam) and one incremental generation step (one id per sequence, logits copied back to the
//! host), on the CPU and, when there is one, on CUDA (synchronised inside every iteration).
//!
//! Training throughput is in elements = real characters (batch × 60), so criterion prints
//! chars/s; generation throughput is in elements = sequences advanced by one id.
//! The big CPU cases run only a few iterations: set `CHARRNN_BENCH_FULL=1` for criterion's
//! usual sample sizes.
use std::hint::black_box;
use std::time::Duration;

use charrnn_data::{Example, collate};
use charrnn_model::tch::{self, Device, Kind, Tensor};
use charrnn_model::{Cell, CharRnn, InputMode, ModelConfig, TrainConfig, Trainer};
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};

/// About an AG News character vocabulary with the four specials.
const VOCAB: usize = 100;
/// About an AG News title.
const SEQ: usize = 60;

struct Case {
    name: &'static str,
    input: InputMode,
    hidden: usize,
    layers: usize,
    batch: usize,
}

const TRAIN_CASES: [Case; 3] = [
    Case {
        name: "onehot_lstm128_b8",
        input: InputMode::OneHot,
        hidden: 128,
        layers: 1,
        batch: 8,
    },
    Case {
        name: "lstm128_b256",
        input: InputMode::Embedding { dim: 64 },
        hidden: 128,
        layers: 1,
        batch: 256,
    },
    Case {
        name: "lstm512x2_b256",
        input: InputMode::Embedding { dim: 64 },
        hidden: 512,
        layers: 2,
        batch: 256,
    },
];

fn model_config(case: &Case) -> ModelConfig {
    ModelConfig {
        cell: Cell::Lstm,
        input: case.input,
        hidden: case.hidden,
        num_layers: case.layers,
        dropout: 0.0,
        vocab_size: VOCAB,
        num_labels: None,
        label_dim: 16,
        label_names: Vec::new(),
    }
}

/// `n` full-length examples with deterministic ids in `1..VOCAB`.
fn examples(n: usize) -> Vec<Example> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut id = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        1 + (state % (VOCAB as u64 - 1)) as u32
    };
    (0..n)
        .map(|_| {
            let ids: Vec<u32> = (0..=SEQ).map(|_| id()).collect();
            Example {
                input: ids[..SEQ].to_vec(),
                target: ids[1..].to_vec(),
                label: None,
            }
        })
        .collect()
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

fn devices() -> Vec<(&'static str, Device)> {
    let mut out = vec![("cpu", Device::Cpu)];
    if tch::Cuda::is_available() {
        out.push(("cuda", Device::Cuda(0)));
    }
    out
}

fn full() -> bool {
    std::env::var_os("CHARRNN_BENCH_FULL").is_some()
}

/// Keeps slow CPU cases to criterion's minimum: 10 samples of one iteration each (flat
/// sampling), after a one-iteration warm-up.
fn size_group(group: &mut BenchmarkGroup<'_, WallTime>, device: Device, slow: bool) {
    if device == Device::Cpu && slow && !full() {
        group
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(1))
            .measurement_time(Duration::from_millis(1));
    } else {
        group
            .sample_size(if device == Device::Cpu { 10 } else { 30 })
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
    }
}

fn train_steps(c: &mut Criterion) {
    let data = examples(256);
    for (dev_name, device) in devices() {
        for case in &TRAIN_CASES {
            let mut group = c.benchmark_group(format!("model/train_step/{dev_name}"));
            group.throughput(Throughput::Elements((case.batch * SEQ) as u64));
            size_group(&mut group, device, case.batch >= 256);
            let model = CharRnn::new(&model_config(case), device, 1).expect("model");
            let config = TrainConfig {
                learning_rate: 1e-3,
                clip_grad_norm: Some(5.0),
                ..TrainConfig::default()
            };
            let run_dir = std::env::temp_dir().join("charrnn-bench-unused");
            let mut trainer = Trainer::new(model, config, run_dir).expect("trainer");
            let indices: Vec<usize> = (0..case.batch).collect();
            let batch = collate(&data, &indices);
            group.bench_function(case.name, |b| {
                b.iter(|| {
                    trainer.train_step(black_box(&batch), 1e-3).expect("step");
                    sync(device);
                })
            });
            group.finish();
        }
    }
}

fn generate_steps(c: &mut Criterion) {
    let case = &TRAIN_CASES[2];
    for (dev_name, device) in devices() {
        let model = CharRnn::new(&model_config(case), device, 1).expect("model");
        let mut group = c.benchmark_group(format!("model/generate_step/{dev_name}"));
        for batch in [1usize, 256] {
            group.throughput(Throughput::Elements(batch as u64));
            size_group(&mut group, device, false);
            let _guard = tch::no_grad_guard();
            let mut state = model.zero_state(batch).expect("state");
            let input = Tensor::ones([batch as i64, 1], (Kind::Int64, device));
            let mut host = vec![0f32; batch * VOCAB];
            group.bench_function(format!("{}_b{batch}", case.name), |b| {
                b.iter(|| {
                    let (logits, next) = model
                        .forward(black_box(&input), None, Some(&state), false)
                        .expect("forward");
                    logits
                        .to_device(Device::Cpu)
                        .copy_data(&mut host, batch * VOCAB);
                    state = next;
                })
            });
        }
        group.finish();
    }
}

pub fn benches(c: &mut Criterion) {
    train_steps(c);
    generate_steps(c);
}
