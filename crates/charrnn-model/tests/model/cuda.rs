//! CUDA against the CPU. Where CUDA is absent, each test checks instead that asking for it is
//! a clear error; on a CUDA machine they compare the two devices.
//!
//! cuDNN may compute recurrent layers in TF32 on Ampere and later (libtorch's default, which
//! tch does not expose), so CUDA and CPU logits agree to about 1e-3, not 1e-6.

use crate::common::{Data, assert_float32_checkpoint, config, train_run};
use charrnn_model::tch::{Device, Tensor};
use charrnn_model::{
    Cell, CharRnn, Checkpoint, GenerateOptions, InputMode, ModelError, Precision, generate,
    parse_device,
};
use charrnn_sampling::SamplingConfig;

fn cuda() -> Option<Device> {
    match parse_device("cuda") {
        Ok(device) => Some(device),
        Err(err) => {
            assert!(matches!(err, ModelError::CudaUnavailable { .. }), "{err:?}");
            assert!(err.to_string().contains("\"cuda\" was requested"), "{err}");
            None
        }
    }
}

/// Largest difference between CPU and CUDA logits (of magnitude about 1) that TF32 explains.
const TF32: f64 = 5e-3;

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a.to_device(Device::Cpu) - b.to_device(Device::Cpu))
        .abs()
        .max()
        .double_value(&[])
}

/// Same seed, same weights on both devices, hence the same logits; state carried step by step
/// on CUDA gives the whole-sequence logits.
#[test]
fn cuda_forward_matches_cpu() {
    let Some(gpu) = cuda() else { return };
    let data = Data::new(true);
    let input = Tensor::from_slice(&[3i64, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8]).view([2, 6]);
    let labels = Tensor::from_slice(&[1i64, 3]);
    for cell in [Cell::Lstm, Cell::Gru, Cell::Rnn] {
        for input_mode in [InputMode::OneHot, InputMode::Embedding { dim: 8 }] {
            let mut cfg = config(data.vocab.len(), cell, input_mode);
            cfg.num_labels = Some(4);
            let cpu = CharRnn::new(&cfg, Device::Cpu, 5).unwrap();
            let gpu_model = CharRnn::new(&cfg, gpu, 5).unwrap();
            let (a, _) = cpu.forward(&input, Some(&labels), None, false).unwrap();
            let (x, l) = (input.to_device(gpu), labels.to_device(gpu));
            let (b, _) = gpu_model.forward(&x, Some(&l), None, false).unwrap();
            let d = max_diff(&a, &b);
            assert!(
                d < TF32,
                "{cell} {input_mode:?}: CPU and CUDA differ by {d}"
            );
            let mut state = None;
            let mut steps = Vec::new();
            for t in 0..6 {
                let (o, s) = gpu_model
                    .forward(&x.narrow(1, t, 1), Some(&l), state.as_ref(), false)
                    .unwrap();
                steps.push(o);
                state = Some(s);
            }
            let d = max_diff(&b, &Tensor::cat(&steps, 1));
            assert!(d < TF32, "{cell} {input_mode:?}: stepwise differs by {d}");
        }
    }
}

/// Training on CUDA follows the CPU run; a CUDA checkpoint loads on the CPU with the same
/// logits; batched greedy generation on CUDA equals one-at-a-time.
#[test]
fn cuda_training_checkpoints_and_generation() {
    let Some(gpu) = cuda() else { return };
    let data = Data::new(false);
    let cfg = config(
        data.vocab.len(),
        Cell::Lstm,
        InputMode::Embedding { dim: 8 },
    );
    let run = |device| train_run(&data, &cfg, device, 3, 20, Precision::Fp32);
    let (cpu, _, _) = run(Device::Cpu);
    let (gpu_run, gpu_model, dir) = run(gpu);
    let (cpu_losses, gpu_losses) = (cpu.losses, gpu_run.losses);
    for ((_, a), (_, b)) in cpu_losses.iter().zip(&gpu_losses) {
        assert!(
            (a - b).abs() < 1e-3 * a.abs().max(1.0),
            "{cpu_losses:?} vs {gpu_losses:?}"
        );
    }
    assert!(gpu_losses.last().unwrap().1 < gpu_losses[0].1);

    let on_cpu = Checkpoint::load(&dir.path().join("last"), Device::Cpu).unwrap();
    let input = Tensor::from_slice(&[3i64, 1, 4, 1]).view([1, 4]);
    let (a, _) = on_cpu.model.forward(&input, None, None, false).unwrap();
    let (b, _) = gpu_model
        .forward(&input.to_device(gpu), None, None, false)
        .unwrap();
    let d = max_diff(&a, &b);
    assert!(
        d < TF32,
        "CUDA-trained logits differ by {d} once loaded on the CPU"
    );
    let on_gpu = Checkpoint::load(dir.path(), gpu).unwrap();
    assert_eq!(on_gpu.model.device(), gpu);

    let options = GenerateOptions {
        sampling: SamplingConfig::greedy(),
        max_len: 30,
        ..GenerateOptions::default()
    };
    let prompts = ["sto", "", "team wins", "t"];
    let batched = generate(&gpu_model, &data.vocab, &prompts, &options).unwrap();
    for (p, b) in prompts.iter().zip(&batched) {
        assert_eq!(
            &generate(&gpu_model, &data.vocab, &[p], &options).unwrap()[0],
            b
        );
    }
}

/// Mixed precision on CUDA (cuDNN's recurrent layers in float16 under autocast, with loss
/// scaling) follows float32 on the CPU to a few hundredths of a nat, and its checkpoint is
/// float32.
#[test]
fn cuda_mixed_precision_follows_float32() {
    let Some(gpu) = cuda() else { return };
    let data = Data::new(false);
    let cfg = config(
        data.vocab.len(),
        Cell::Lstm,
        InputMode::Embedding { dim: 8 },
    );
    let (fp32, _, _) = train_run(&data, &cfg, Device::Cpu, 3, 20, Precision::Fp32);
    let (mixed, _, dir) = train_run(&data, &cfg, gpu, 3, 20, Precision::Bf16);
    assert_float32_checkpoint(dir.path());
    for ((_, a), (_, b)) in fp32.losses.iter().zip(&mixed.losses) {
        assert!(
            (a - b).abs() < 0.03 * a.abs().max(1.0),
            "{:?} vs {:?}",
            fp32.losses,
            mixed.losses
        );
    }
    let (a, b) = (fp32.last.val_bpc.unwrap(), mixed.last.val_bpc.unwrap());
    assert!(
        (a - b).abs() < 0.03,
        "validation bpc {a} (CPU fp32) vs {b} (CUDA bf16)"
    );
}
