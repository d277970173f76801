//! Mixed-precision training: [`Precision`], the autocast region around a training step's
//! forward pass (`csrc/autocast_shim.cpp`, a C interface to ATen's autocast state that build.rs
//! compiles against libtorch's headers: tch reaches only CUDA's), and the dynamic loss scaling
//! that goes with it. Weights, gradients, optimiser state, evaluation and generation stay in
//! float32.
#![allow(unsafe_code)]

use std::{ffi::c_int, fmt, marker::PhantomData, str::FromStr};

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::error::{ModelError, Result};
use crate::network::CharRnn;
#[cfg(charrnn_autocast)]
use crate::shim::ErrBuf;

/// The arithmetic of training's forward pass.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Everything in float32.
    #[default]
    Fp32,
    /// Mixed precision, as `torch.autocast(device, torch.bfloat16)` with a `GradScaler`: the
    /// forward pass runs under autocast, so matrix products and the recurrent layers compute
    /// in bfloat16 (on CUDA, cuDNN's recurrent layers compute in float16, whatever autocast's
    /// type), and the loss in float32; the loss is scaled before the backward pass and the
    /// gradients unscaled after it, and a step whose gradients overflow is skipped on the
    /// device (with the scale halved). Parameters, gradients and optimiser state stay float32,
    /// so checkpoints are the same either way.
    Bf16,
}

impl Precision {
    /// Whether the forward pass runs in a lower precision.
    pub fn is_mixed(self) -> bool {
        self != Precision::Fp32
    }

    /// Turns autocast on for `device` until the returned guard is dropped; `None` for
    /// [`Precision::Fp32`].
    ///
    /// # Errors
    /// [`ModelError::InvalidTrainConfig`] on a device other than the CPU or CUDA, or in a build
    /// without the autocast shim; [`ModelError::Torch`] if ATen refuses.
    pub(crate) fn autocast(self, device: Device) -> Result<Option<Autocast>> {
        match self {
            Precision::Fp32 => Ok(None),
            Precision::Bf16 => Autocast::enter(device).map(Some),
        }
    }
}

/// Refuses mixed precision that libtorch cannot run for `model` on its device, before any
/// training: one forward step of one id under autocast. On a CPU, oneDNN's recurrent kernels
/// run bf16 only with AVX-512 (or AMX), and otherwise fail at the first step with "could not
/// create a primitive descriptor". Nothing of the model changes: no gradient is taken and
/// dropout is off.
///
/// # Errors
/// [`ModelError::InvalidTrainConfig`] naming the precision, the cell, the device and
/// libtorch's reason; the errors of [`Precision::autocast`].
pub(crate) fn check_runs(precision: Precision, model: &CharRnn) -> Result<()> {
    let Some(_autocast) = precision.autocast(model.device())? else {
        return Ok(());
    };
    let _no_grad = tch::no_grad_guard();
    let device = model.device();
    let input = Tensor::f_zeros([1, 1], (Kind::Int64, device))?;
    let labels = match model.config().num_labels {
        Some(_) => Some(Tensor::f_zeros([1], (Kind::Int64, device))?),
        None => None,
    };
    match model.forward_unchecked(&input, labels.as_ref(), None, false) {
        Ok(_) => Ok(()),
        Err(e @ ModelError::Torch(_)) => Err(ModelError::InvalidTrainConfig(format!(
            "mixed precision ({precision}) cannot run the {} on {} here ({e}; on a CPU, bf16 \
             recurrent layers need AVX-512 or AMX): use Precision::Fp32",
            model.config().cell,
            crate::device::device_name(device)
        ))),
        Err(e) => Err(e),
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::Fp32 => "fp32",
            Precision::Bf16 => "bf16",
        })
    }
}

impl FromStr for Precision {
    type Err = ModelError;

    /// Parses `fp32` (or `float32`) and `bf16` (or `bfloat16`), in any case.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "fp32" | "float32" => Ok(Precision::Fp32),
            "bf16" | "bfloat16" => Ok(Precision::Bf16),
            _ => Err(ModelError::InvalidTrainConfig(format!(
                "unknown precision {s:?}: expected fp32 or bf16"
            ))),
        }
    }
}

#[cfg(charrnn_autocast)]
unsafe extern "C" {
    fn charrnn_autocast_enter(
        device: c_int,
        dtype: c_int,
        was_enabled: *mut c_int,
        was_dtype: *mut c_int,
        err: *mut std::ffi::c_char,
        err_len: usize,
    ) -> c_int;
    fn charrnn_autocast_exit(
        device: c_int,
        was_enabled: c_int,
        was_dtype: c_int,
        err: *mut std::ffi::c_char,
        err_len: usize,
    ) -> c_int;
    #[cfg(test)]
    fn charrnn_autocast_enabled(
        device: c_int,
        enabled: *mut c_int,
        err: *mut std::ffi::c_char,
        err_len: usize,
    ) -> c_int;
}

/// An autocast region of this thread (bfloat16): the state it replaced comes back when it is
/// dropped.
#[derive(Debug)]
#[cfg_attr(not(charrnn_autocast), allow(dead_code))]
pub(crate) struct Autocast {
    device: c_int,
    was_enabled: c_int,
    was_dtype: c_int,
    /// Not `Send`: autocast's state is the thread's, so the guard ends where it began.
    _thread: PhantomData<*const ()>,
}

/// The shim's code for a device type: 0 for the CPU, 1 for CUDA.
fn device_code(device: Device) -> Result<c_int> {
    match device {
        Device::Cpu => Ok(0),
        Device::Cuda(_) => Ok(1),
        other => Err(ModelError::InvalidTrainConfig(format!(
            "mixed precision (bf16) runs on the CPU and CUDA, not on {other:?}"
        ))),
    }
}

/// A failed autocast call's message as a [`ModelError::Torch`].
#[cfg(charrnn_autocast)]
fn torch_error(message: String) -> ModelError {
    ModelError::Torch(tch::TchError::Torch(message))
}

#[cfg(charrnn_autocast)]
impl Autocast {
    fn enter(device: Device) -> Result<Self> {
        let device = device_code(device)?;
        let (mut was_enabled, mut was_dtype) = (0, 0);
        let mut err = ErrBuf::new();
        let (e, n) = err.ptr();
        // SAFETY: the shim writes the two integers it is given pointers to, and at most `n`
        // bytes to `e`; it catches every C++ exception.
        let rc =
            unsafe { charrnn_autocast_enter(device, 0, &mut was_enabled, &mut was_dtype, e, n) };
        if rc != 0 {
            return Err(err.message("autocast", torch_error));
        }
        Ok(Autocast {
            device,
            was_enabled,
            was_dtype,
            _thread: PhantomData,
        })
    }

    /// Whether autocast is on for `device` in this thread.
    #[cfg(test)]
    pub(crate) fn enabled(device: Device) -> Result<bool> {
        let device = device_code(device)?;
        let mut enabled = 0;
        let mut err = ErrBuf::new();
        let (e, n) = err.ptr();
        // SAFETY: reads ATen's thread-local state into `enabled`, writes at most `n` bytes to
        // `e`; the shim catches every C++ exception.
        if unsafe { charrnn_autocast_enabled(device, &mut enabled, e, n) } != 0 {
            return Err(err.message("autocast", torch_error));
        }
        Ok(enabled == 1)
    }
}

#[cfg(charrnn_autocast)]
impl Drop for Autocast {
    fn drop(&mut self) {
        let mut err = ErrBuf::new();
        let (e, n) = err.ptr();
        // SAFETY: restores the state saved by `enter` in this same thread (the guard is not
        // `Send`), and writes at most `n` bytes to `e`. A failure cannot be reported from
        // `drop`; ATen's setters do not throw.
        let _ =
            unsafe { charrnn_autocast_exit(self.device, self.was_enabled, self.was_dtype, e, n) };
    }
}

#[cfg(not(charrnn_autocast))]
impl Autocast {
    fn enter(device: Device) -> Result<Self> {
        device_code(device)?;
        Err(ModelError::InvalidTrainConfig(
            "this build has no mixed precision (libtorch's ATen headers were missing when it \
             was built): use fp32"
                .into(),
        ))
    }

    /// Whether autocast is on for `device` in this thread: never, in this build.
    #[cfg(test)]
    pub(crate) fn enabled(device: Device) -> Result<bool> {
        device_code(device).map(|_| false)
    }
}

#[cfg(not(charrnn_autocast))]
impl Drop for Autocast {
    /// Never made in this build; here so that dropping a guard means the same in both.
    fn drop(&mut self) {}
}

/// Dynamic loss scaling, as PyTorch's `GradScaler` does it, all on the device (no host sync):
/// the loss is multiplied by the scale before the backward pass; afterwards the gradients are
/// divided by it and checked; a step with a non-finite gradient is taken back
/// (`Optimizer::undo_where`) and halves the scale, and every [`GROWTH_INTERVAL`] finite steps
/// in a row double it.
#[derive(Debug)]
pub(crate) struct LossScaler {
    scale: Tensor,
    growth_tracker: Tensor,
}

/// The first scale, 2¹⁶ (`GradScaler`'s).
pub(crate) const INITIAL_SCALE: f64 = 65536.0;
/// Finite steps in a row before the scale doubles (`GradScaler`'s).
pub(crate) const GROWTH_INTERVAL: i64 = 2000;

impl LossScaler {
    /// A scaler at [`INITIAL_SCALE`] on `device`.
    pub(crate) fn new(device: Device) -> Result<Self> {
        Ok(LossScaler {
            scale: Tensor::f_full([], INITIAL_SCALE, (Kind::Float, device))?,
            growth_tracker: Tensor::f_zeros([], (Kind::Int, device))?,
        })
    }

    /// `loss` times the scale.
    pub(crate) fn scale_loss(&self, loss: &Tensor) -> Result<Tensor> {
        Ok(loss.f_mul(&self.scale)?)
    }

    /// Divides `grad` by the scale in place; returns a 0-dimensional float tensor on the
    /// device, 1 when a gradient is not finite, else 0.
    pub(crate) fn unscale(&self, grad: &Tensor) -> Result<Tensor> {
        let _guard = tch::no_grad_guard();
        let mut found = self.scale.f_zeros_like()?;
        let inv = self.scale.f_reciprocal()?;
        grad.shallow_clone()
            .f_internal_amp_non_finite_check_and_unscale(&mut found, &inv)?;
        Ok(found)
    }

    /// Moves the scale on after a step: halved if `found` (from [`LossScaler::unscale`]) is 1,
    /// doubled after [`GROWTH_INTERVAL`] finite steps in a row.
    pub(crate) fn update(&mut self, found: &Tensor) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let _ = self.scale.f_internal_amp_update_scale_(
            &self.growth_tracker,
            found,
            2.0,
            0.5,
            GROWTH_INTERVAL,
        )?;
        Ok(())
    }

    /// The current scale (a read back from the device).
    #[cfg(test)]
    pub(crate) fn scale(&self) -> Result<f64> {
        Ok(self.scale.f_double_value(&[])?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_config::{Cell, InputMode, ModelConfig};
    use crate::network::CharRnn;
    use crate::optim::{Optimizer, OptimizerConfig};

    fn host(t: &Tensor) -> Vec<f32> {
        let t = t.to_kind(Kind::Float);
        let mut v = vec![0f32; t.numel()];
        t.copy_data(&mut v, t.numel());
        v
    }

    #[test]
    fn names_parse_and_print() {
        for (name, p) in [
            ("fp32", Precision::Fp32),
            ("FLOAT32", Precision::Fp32),
            ("bf16", Precision::Bf16),
            ("bfloat16", Precision::Bf16),
        ] {
            assert_eq!(name.parse::<Precision>().unwrap(), p);
        }
        assert_eq!(Precision::Bf16.to_string(), "bf16");
        assert_eq!(serde_json::to_string(&Precision::Bf16).unwrap(), "\"bf16\"");
        let err = "fp16".parse::<Precision>().unwrap_err().to_string();
        assert!(
            err.contains("\"fp16\"") && err.contains("fp32 or bf16"),
            "{err}"
        );
        assert!(Precision::Fp32.autocast(Device::Cpu).unwrap().is_none());
    }

    /// Inside the region a matrix product comes out in bfloat16, nested regions restore the
    /// outer one, and after the last one everything is float32 again.
    #[test]
    fn autocast_lowers_matrix_products_inside_its_region_only() {
        let a = Tensor::ones([4, 8], (Kind::Float, Device::Cpu));
        let b = Tensor::ones([8, 3], (Kind::Float, Device::Cpu));
        assert!(!Autocast::enabled(Device::Cpu).unwrap());
        {
            let _outer = Precision::Bf16.autocast(Device::Cpu).unwrap();
            assert!(Autocast::enabled(Device::Cpu).unwrap());
            assert_eq!(a.matmul(&b).kind(), Kind::BFloat16);
            {
                let _inner = Precision::Bf16.autocast(Device::Cpu).unwrap();
                assert_eq!(a.matmul(&b).kind(), Kind::BFloat16);
            }
            assert!(Autocast::enabled(Device::Cpu).unwrap());
            assert_eq!(a.matmul(&b).kind(), Kind::BFloat16);
        }
        assert!(!Autocast::enabled(Device::Cpu).unwrap());
        assert_eq!(a.matmul(&b).kind(), Kind::Float);
        // Another thread has its own state.
        let _on = Precision::Bf16.autocast(Device::Cpu).unwrap();
        std::thread::spawn(|| assert!(!Autocast::enabled(Device::Cpu).unwrap()))
            .join()
            .unwrap();
    }

    /// Finite gradients come out divided by the scale and the step is taken; a gradient with an
    /// infinity (or a NaN) leaves the parameters and the optimiser's state as they were and
    /// halves the scale.
    #[test]
    fn an_overflowing_step_is_taken_back_and_halves_the_scale() {
        let mut cfg = ModelConfig::new(7);
        cfg.cell = Cell::Lstm;
        cfg.input = InputMode::Embedding { dim: 3 };
        cfg.hidden = 4;
        cfg.num_layers = 1;
        let model = CharRnn::new(&cfg, Device::Cpu, 3).unwrap();
        let mut opt = Optimizer::new(&OptimizerConfig::adam(), &model).unwrap();
        let mut scaler = LossScaler::new(Device::Cpu).unwrap();
        let n = model.flat().numel();
        let set_grad = |values: &[f32]| {
            model
                .flat_grad()
                .shallow_clone()
                .copy_(&Tensor::from_slice(values));
        };
        let step = |opt: &mut Optimizer, scaler: &mut LossScaler| {
            let found = scaler.unscale(model.flat_grad()).unwrap();
            let saved = opt.snapshot(&model).unwrap();
            opt.step(&model, 0.01).unwrap();
            opt.undo_where(&model, &found, &saved).unwrap();
            scaler.update(&found).unwrap();
            found.double_value(&[])
        };

        let grads: Vec<f32> = (0..n).map(|i| (i % 5) as f32 - 2.0).collect();
        let scaled: Vec<f32> = grads.iter().map(|g| g * INITIAL_SCALE as f32).collect();
        set_grad(&scaled);
        let found = scaler.unscale(model.flat_grad()).unwrap();
        assert_eq!(found.double_value(&[]), 0.0);
        assert_eq!(host(model.flat_grad()), grads, "unscaled exactly");

        set_grad(&scaled);
        let before = host(model.flat());
        assert_eq!(step(&mut opt, &mut scaler), 0.0);
        let after = host(model.flat());
        assert_ne!(before, after, "a finite step moves the parameters");
        assert_eq!(scaler.scale().unwrap(), INITIAL_SCALE);
        let state = opt.snapshot(&model).unwrap();

        for bad in [f32::INFINITY, f32::NAN] {
            let mut overflowed = scaled.clone();
            overflowed[n / 2] = bad;
            set_grad(&overflowed);
            let scale = scaler.scale().unwrap();
            assert_eq!(step(&mut opt, &mut scaler), 1.0, "{bad} not found");
            assert_eq!(host(model.flat()), after, "{bad}: the parameters moved");
            for (now, then) in opt.snapshot(&model).unwrap().iter().zip(&state) {
                assert_eq!(host(now), host(then), "{bad}: the optimiser's state moved");
            }
            assert_eq!(scaler.scale().unwrap(), scale / 2.0);
        }
    }
}
