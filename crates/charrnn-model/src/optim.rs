//! Optimisers (Adam, RMSprop, SGD), learning-rate schedules and gradient clipping, written over
//! the model's single flat parameter buffer: each update is a fixed handful of element-wise
//! kernels whatever the number of parameter tensors (the effect of PyTorch's multi-tensor
//! `foreach` path, which tch 0.24 does not expose), with no read-back to the host.
use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::{ModelError, Result};
use crate::network::CharRnn;

/// Which optimiser, with its hyper-parameters (the learning rate is set apart, in the schedule).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// Adam (Kingma & Ba), with bias correction, as `torch.optim.Adam`.
    Adam {
        /// Decay of the first-moment average (default 0.9).
        beta1: f64,
        /// Decay of the second-moment average (default 0.999).
        beta2: f64,
        /// Added to the denominator (default 1e-8).
        eps: f64,
    },
    /// RMSprop as `torch.optim.RMSprop` without momentum; the defaults are Keras's (the notebook's).
    RmsProp {
        /// Decay of the squared-gradient average (default 0.9, Keras's `rho`).
        alpha: f64,
        /// Added to the denominator (default 1e-7).
        eps: f64,
    },
    /// Stochastic gradient descent, with optional heavy-ball momentum.
    Sgd {
        /// Momentum (0: plain SGD).
        momentum: f64,
    },
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig::adam()
    }
}

impl OptimizerConfig {
    /// Adam with PyTorch's defaults.
    pub fn adam() -> Self {
        OptimizerConfig::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }

    /// RMSprop with Keras's defaults (rho 0.9, epsilon 1e-7).
    pub fn rmsprop() -> Self {
        OptimizerConfig::RmsProp {
            alpha: 0.9,
            eps: 1e-7,
        }
    }

    /// SGD with the given momentum.
    pub fn sgd(momentum: f64) -> Self {
        OptimizerConfig::Sgd { momentum }
    }

    /// Checks the hyper-parameters.
    pub fn validate(&self) -> Result<()> {
        let in01 = |x: f64| (0.0..1.0).contains(&x);
        let ok = match *self {
            OptimizerConfig::Adam { beta1, beta2, eps } => in01(beta1) && in01(beta2) && eps > 0.0,
            OptimizerConfig::RmsProp { alpha, eps } => in01(alpha) && eps > 0.0,
            OptimizerConfig::Sgd { momentum } => in01(momentum),
        };
        if ok {
            Ok(())
        } else {
            Err(ModelError::InvalidTrainConfig(format!(
                "optimizer hyper-parameters out of range: {self:?} \
                 (betas, alpha and momentum in [0, 1), eps > 0)"
            )))
        }
    }

    fn state_names(&self) -> &'static [&'static str] {
        match *self {
            OptimizerConfig::Adam { .. } => &["exp_avg", "exp_avg_sq"],
            OptimizerConfig::RmsProp { .. } => &["square_avg"],
            OptimizerConfig::Sgd { momentum } if momentum > 0.0 => &["momentum_buffer"],
            OptimizerConfig::Sgd { .. } => &[],
        }
    }
}

impl fmt::Display for OptimizerConfig {
    /// The optimiser's name: `adam`, `rmsprop` or `sgd` (not its hyper-parameters).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptimizerConfig::Adam { .. } => "adam",
            OptimizerConfig::RmsProp { .. } => "rmsprop",
            OptimizerConfig::Sgd { .. } => "sgd",
        })
    }
}

impl FromStr for OptimizerConfig {
    type Err = ModelError;

    /// Parses a name, in any case, into that optimiser with its defaults: `adam`
    /// ([`OptimizerConfig::adam`]), `rmsprop` ([`OptimizerConfig::rmsprop`]) or `sgd` (with
    /// momentum 0.9).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "adam" => Ok(OptimizerConfig::adam()),
            "rmsprop" => Ok(OptimizerConfig::rmsprop()),
            "sgd" => Ok(OptimizerConfig::sgd(0.9)),
            _ => Err(ModelError::InvalidTrainConfig(format!(
                "unknown optimizer {s:?}: expected adam, rmsprop or sgd"
            ))),
        }
    }
}

/// How the learning rate moves during training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum LrSchedule {
    /// The same rate throughout.
    #[default]
    Constant,
    /// Multiplied by `gamma` at each epoch end: `lr · gammaᵉᵖᵒᶜʰ`.
    Exponential {
        /// The factor per epoch, in (0, 1].
        gamma: f64,
    },
    /// Half a cosine from `lr` down to `lr · final_fraction` over the training budget
    /// (steps, epochs or seconds, whichever runs out first).
    Cosine {
        /// Where the rate ends, as a fraction of the initial one.
        final_fraction: f64,
    },
}

impl LrSchedule {
    /// The rate at `epoch` (0-based) when `progress` (0..=1) of the budget is spent.
    pub fn rate(&self, base: f64, epoch: usize, progress: f64) -> f64 {
        match *self {
            LrSchedule::Constant => base,
            LrSchedule::Exponential { gamma } => {
                base * gamma.powi(i32::try_from(epoch).unwrap_or(i32::MAX))
            }
            LrSchedule::Cosine { final_fraction } => {
                let p = progress.clamp(0.0, 1.0);
                let cos = 0.5 * (1.0 + (std::f64::consts::PI * p).cos());
                base * (final_fraction + (1.0 - final_fraction) * cos)
            }
        }
    }

    /// Checks the schedule's parameters: gamma in (0, 1], final fraction in [0, 1].
    pub fn validate(&self) -> Result<()> {
        let ok = match *self {
            LrSchedule::Constant => true,
            LrSchedule::Exponential { gamma } => gamma > 0.0 && gamma <= 1.0,
            LrSchedule::Cosine { final_fraction } => (0.0..=1.0).contains(&final_fraction),
        };
        if ok {
            Ok(())
        } else {
            Err(ModelError::InvalidTrainConfig(format!(
                "learning-rate schedule out of range: {self:?}"
            )))
        }
    }
}

/// An optimiser's state: one buffer per kind of statistic, each shaped like the model's flat
/// parameter buffer, plus the step count.
#[derive(Debug)]
pub(crate) struct Optimizer {
    config: OptimizerConfig,
    step: u64,
    buffers: Vec<Tensor>,
    /// Weight averaging ([`Optimizer::with_average`]): the decay and the average, shaped like
    /// the flat parameter buffer.
    average: Option<(f64, Tensor)>,
}

/// The name of the weight average among the optimiser's saved state (`ema.rnn.weight_ih_l0`...).
const AVERAGE_STATE: &str = "ema";

impl Optimizer {
    pub(crate) fn new(config: &OptimizerConfig, model: &CharRnn) -> Result<Optimizer> {
        config.validate()?;
        let flat = model.flat();
        let buffers = config
            .state_names()
            .iter()
            .map(|_| flat.f_zeros_like())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Optimizer {
            config: config.clone(),
            step: 0,
            buffers,
            average: None,
        })
    }

    /// Also keeps an exponential moving average of the parameters, updated after every step
    /// with decay `min(decay, (1 + t) / (10 + t))` at step `t` (so that the first steps'
    /// random weights fade fast), starting from the parameters as they are now. `None`: none.
    pub(crate) fn with_average(mut self, model: &CharRnn, decay: Option<f64>) -> Result<Self> {
        self.average = match decay {
            Some(d) => Some((d, model.flat().f_detach_copy()?)),
            None => None,
        };
        Ok(self)
    }

    /// Exchanges the parameters with their average, when there is one (twice: back again).
    /// Returns whether there was one.
    pub(crate) fn swap_average(&mut self, model: &CharRnn) -> Result<bool> {
        let Some((_, average)) = &mut self.average else {
            return Ok(false);
        };
        let _guard = tch::no_grad_guard();
        let mut flat = model.flat().shallow_clone();
        let trained = flat.f_detach_copy()?;
        flat.f_copy_(average)?;
        average.f_copy_(&trained)?;
        Ok(true)
    }

    /// Scales the gradients so that their global L2 norm is at most `max_norm`, on the device.
    pub(crate) fn clip_grad_norm(model: &CharRnn, max_norm: f64) -> Result<()> {
        let mut grad = model.flat_grad().shallow_clone();
        let coef = grad
            .f_norm()?
            .f_add_scalar(1e-6)?
            .f_reciprocal()?
            .f_mul_scalar(max_norm)?
            .f_clamp_max(1.0)?;
        let _ = grad.f_mul_(&coef)?;
        Ok(())
    }

    /// Applies one update with learning rate `lr` from the accumulated gradients, then zeroes
    /// them.
    /// Decoupled weight decay: every parameter times `1 − lr · weight_decay` (AdamW's order:
    /// before the update).
    pub(crate) fn decay(model: &CharRnn, lr: f64, weight_decay: f64) -> Result<()> {
        if weight_decay > 0.0 {
            let _guard = tch::no_grad_guard();
            let _ = model
                .flat()
                .shallow_clone()
                .f_mul_scalar_(1.0 - lr * weight_decay)?;
        }
        Ok(())
    }

    pub(crate) fn step(&mut self, model: &CharRnn, lr: f64) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let mut p = model.flat().shallow_clone();
        let mut g = model.flat_grad().shallow_clone();
        self.step += 1;
        match (&self.config, self.buffers.as_mut_slice()) {
            (&OptimizerConfig::Adam { beta1, beta2, eps }, [m, v]) => {
                let t = i32::try_from(self.step).unwrap_or(i32::MAX);
                let bc1 = 1.0 - beta1.powi(t);
                let bc2 = 1.0 - beta2.powi(t);
                let step_size = lr / bc1;
                let _ = m.f_lerp_(&g, 1.0 - beta1)?;
                let _ = v.f_lerp_(&g.f_square()?, 1.0 - beta2)?;
                // p -= step_size · m / (√v/√bc2 + eps), with the scale folded into the
                // denominator: d = -(√v/√bc2 + eps)/step_size, p += m/d.
                let mut d = v.f_sqrt()?;
                let _ = d.f_mul_scalar_(-1.0 / (step_size * bc2.sqrt()))?;
                let _ = d.f_add_scalar_(-eps / step_size)?;
                let _ = p.f_addcdiv_(m, &d)?;
            }
            (&OptimizerConfig::RmsProp { alpha, eps }, [s]) => {
                let _ = s.f_lerp_(&g.f_square()?, 1.0 - alpha)?;
                let mut d = s.f_sqrt()?;
                let _ = d.f_mul_scalar_(-1.0 / lr)?;
                let _ = d.f_add_scalar_(-eps / lr)?;
                let _ = p.f_addcdiv_(&g, &d)?;
            }
            (&OptimizerConfig::Sgd { momentum }, [b]) => {
                let _ = b.f_mul_scalar_(momentum)?;
                let _ = b.f_add_(&g)?;
                let _ = p.f_sub_(&b.f_mul_scalar(lr)?)?;
            }
            (&OptimizerConfig::Sgd { .. }, []) => {
                let _ = p.f_sub_(&g.f_mul_scalar(lr)?)?;
            }
            _ => {
                return Err(ModelError::InvalidTrainConfig(
                    "optimizer state does not match its configuration".into(),
                ));
            }
        }
        let _ = g.f_zero_()?;
        if let Some((decay, average)) = &mut self.average {
            let t = self.step as f64;
            let d = decay.min((1.0 + t) / (10.0 + t));
            let _ = average.f_lerp_(&p, 1.0 - d)?;
        }
        Ok(())
    }

    /// The parameters' flat buffer, then the optimiser's state buffers (the weight average
    /// last): what a step changes.
    fn stepped<'a>(&'a self, model: &'a CharRnn) -> impl Iterator<Item = &'a Tensor> {
        std::iter::once(model.flat())
            .chain(&self.buffers)
            .chain(self.average.as_ref().map(|(_, a)| a))
    }

    /// Each kind of state with its flat buffer: the optimiser's, then the weight average.
    fn states(&self) -> impl Iterator<Item = (&'static str, &Tensor)> {
        self.config
            .state_names()
            .iter()
            .copied()
            .zip(&self.buffers)
            .chain(self.average.as_ref().map(|(_, a)| (AVERAGE_STATE, a)))
    }

    /// Copies of the parameters and of the optimiser's state, for [`Optimizer::undo_where`].
    pub(crate) fn snapshot(&self, model: &CharRnn) -> Result<Vec<Tensor>> {
        let _guard = tch::no_grad_guard();
        self.stepped(model)
            .map(|t| t.f_detach_copy().map_err(ModelError::from))
            .collect()
    }

    /// Puts the parameters and the optimiser's state back to `saved` (a
    /// [`Optimizer::snapshot`]) where the 0-dimensional `found` is 1, on the device (no host
    /// sync): a skipped step. Adam's step count still moves on.
    pub(crate) fn undo_where(
        &mut self,
        model: &CharRnn,
        found: &Tensor,
        saved: &[Tensor],
    ) -> Result<()> {
        let _guard = tch::no_grad_guard();
        let skip = found.f_to_kind(Kind::Bool)?;
        for (t, s) in self.stepped(model).zip(saved) {
            let kept = s.f_where_self(&skip, t)?;
            t.shallow_clone().f_copy_(&kept)?;
        }
        Ok(())
    }

    /// The state as named per-parameter tensors on the CPU (`exp_avg.rnn.weight_ih_l0`...), so
    /// that it is independent of the device's buffer layout.
    pub(crate) fn named_state(&self, model: &CharRnn) -> Result<Vec<(String, Tensor)>> {
        let mut out = Vec::new();
        for (kind, buf) in self.states() {
            for ((name, _), slot) in model.named_parameters().zip(model.slots()) {
                let view =
                    buf.f_as_strided(slot.size.as_slice(), slot.stride.as_slice(), slot.offset)?;
                out.push((
                    format!("{kind}.{name}"),
                    view.f_to_device(tch::Device::Cpu)?.f_contiguous()?,
                ));
            }
        }
        Ok(out)
    }

    /// Restores the state saved by [`Optimizer::named_state`], checking names and shapes.
    pub(crate) fn load_named_state(
        &mut self,
        model: &CharRnn,
        step: u64,
        mut named: HashMap<String, Tensor>,
    ) -> std::result::Result<(), String> {
        let _guard = tch::no_grad_guard();
        for (kind, buf) in self.states() {
            for ((name, _), slot) in model.named_parameters().zip(model.slots()) {
                let key = format!("{kind}.{name}");
                let src = named
                    .remove(&key)
                    .ok_or_else(|| format!("optimizer state {key} is missing"))?;
                if src.size() != slot.size || src.kind() != Kind::Float {
                    return Err(format!(
                        "optimizer state {key} is {:?} {:?}, expected Float {:?}",
                        src.kind(),
                        src.size(),
                        slot.size
                    ));
                }
                buf.f_as_strided(slot.size.as_slice(), slot.stride.as_slice(), slot.offset)
                    .and_then(|mut v| v.f_copy_(&src))
                    .map_err(|e| e.to_string())?;
            }
        }
        if let Some(extra) = named.keys().next() {
            return Err(format!(
                "optimizer state has an unexpected tensor {extra} (saved by another optimizer?)"
            ));
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_config::{Cell, InputMode, ModelConfig};
    use tch::Device;

    fn host(t: &Tensor) -> Vec<f64> {
        let t = t.to_kind(Kind::Double);
        let mut v = vec![0f64; t.numel()];
        t.copy_data(&mut v, t.numel());
        v
    }

    /// The largest difference between two equally long lists.
    fn worst_gap(a: &[f64], b: &[f64]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    /// A tiny model with gradients from one backward pass.
    fn model_with_grads() -> CharRnn {
        let mut cfg = ModelConfig::new(9);
        cfg.cell = Cell::Gru;
        cfg.input = InputMode::Embedding { dim: 3 };
        cfg.hidden = 4;
        cfg.num_layers = 1;
        cfg.dropout = 0.0;
        let model = CharRnn::new(&cfg, Device::Cpu, 5).unwrap();
        let input = Tensor::from_slice(&[1i64, 2, 3, 4, 5, 6]).view([2, 3]);
        let (logits, _) = model.forward(&input, None, None, true).unwrap();
        logits.square().sum(Kind::Float).backward();
        model
    }

    /// Each optimiser, three steps, against the textbook formulas computed on the host in f64.
    #[test]
    fn updates_match_reference_formulas() {
        let check = |config: OptimizerConfig, lr: f64| {
            let model = model_with_grads();
            let g = host(model.flat_grad());
            assert!(
                g.iter().any(|&x| x != 0.0),
                "no gradient reached the flat buffer"
            );
            let mut p = host(model.flat());
            let mut opt = Optimizer::new(&config, &model).unwrap();
            let (mut s1, mut s2) = (vec![0.0; p.len()], vec![0.0; p.len()]);
            for t in 1..=3 {
                // The same gradient every step: copy it back after each update zeroed it.
                if t > 1 {
                    model
                        .flat_grad()
                        .shallow_clone()
                        .copy_(&Tensor::from_slice(&g).to_kind(Kind::Float));
                }
                opt.step(&model, lr).unwrap();
                for i in 0..p.len() {
                    match config {
                        OptimizerConfig::Adam { beta1, beta2, eps } => {
                            s1[i] = beta1 * s1[i] + (1.0 - beta1) * g[i];
                            s2[i] = beta2 * s2[i] + (1.0 - beta2) * g[i] * g[i];
                            let m = s1[i] / (1.0 - beta1.powi(t));
                            let v = s2[i] / (1.0 - beta2.powi(t));
                            p[i] -= lr * m / (v.sqrt() + eps);
                        }
                        OptimizerConfig::RmsProp { alpha, eps } => {
                            s1[i] = alpha * s1[i] + (1.0 - alpha) * g[i] * g[i];
                            p[i] -= lr * g[i] / (s1[i].sqrt() + eps);
                        }
                        OptimizerConfig::Sgd { momentum } => {
                            s1[i] = momentum * s1[i] + g[i];
                            p[i] -= lr * s1[i];
                        }
                    }
                }
                let worst = worst_gap(&host(model.flat()), &p);
                assert!(worst < 1e-5, "{config:?} step {t}: off by {worst}");
                assert!(host(model.flat_grad()).iter().all(|&x| x == 0.0));
            }
            // The parameters the network uses are the flat buffer.
            let (_, first) = model.named_parameters().next().unwrap();
            let slot = &model.slots()[0];
            let n = first.numel();
            let from_flat = &host(model.flat())[slot.offset as usize..slot.offset as usize + n];
            assert_eq!(host(first), from_flat);
        };
        check(OptimizerConfig::adam(), 0.01);
        check(OptimizerConfig::rmsprop(), 0.01);
        check(OptimizerConfig::sgd(0.9), 0.1);
        check(OptimizerConfig::sgd(0.0), 0.1);
    }

    /// The weight average follows `a ← d·a + (1 − d)·p` after each step, with `d` ramped up
    /// as `min(decay, (1 + t)/(10 + t))`; swapping twice changes nothing; it is saved and
    /// restored with the optimiser's state, and a state without it is refused.
    #[test]
    fn the_weight_average_follows_the_parameters_and_is_saved_with_the_state() {
        let model = model_with_grads();
        let g = Tensor::from_slice(&host(model.flat_grad())).to_kind(Kind::Float);
        // Steps 1 and 2 take the ramp (2/11, 3/12), steps 3 and 4 the decay.
        let decay = 0.3;
        let mut opt = Optimizer::new(&OptimizerConfig::sgd(0.0), &model)
            .unwrap()
            .with_average(&model, Some(decay))
            .unwrap();
        let mut average = host(model.flat());
        for t in 1..=4 {
            model.flat_grad().shallow_clone().copy_(&g);
            opt.step(&model, 0.1).unwrap();
            let d = f64::min(decay, (1.0 + t as f64) / (10.0 + t as f64));
            for (a, p) in average.iter_mut().zip(host(model.flat())) {
                *a = d * *a + (1.0 - d) * p;
            }
        }
        let trained = host(model.flat());
        assert!(opt.swap_average(&model).unwrap());
        let swapped = host(model.flat());
        let worst = worst_gap(&swapped, &average);
        assert!(worst < 1e-6, "average off by {worst}");
        assert_ne!(swapped, trained);
        opt.swap_average(&model).unwrap();
        assert_eq!(host(model.flat()), trained);

        let named = opt.named_state(&model).unwrap();
        assert!(
            named.iter().any(|(n, _)| n.starts_with("ema.")),
            "{named:?}"
        );
        let mut restored = Optimizer::new(&OptimizerConfig::sgd(0.0), &model)
            .unwrap()
            .with_average(&model, Some(decay))
            .unwrap();
        let saved = || {
            named
                .iter()
                .map(|(n, t)| (n.clone(), t.shallow_clone()))
                .collect::<HashMap<_, _>>()
        };
        restored.load_named_state(&model, 4, saved()).unwrap();
        restored.swap_average(&model).unwrap();
        assert_eq!(host(model.flat()), swapped);
        // Without averaging, the saved average is a tensor of another optimiser.
        let mut plain = Optimizer::new(&OptimizerConfig::sgd(0.0), &model).unwrap();
        let err = plain.load_named_state(&model, 4, saved()).unwrap_err();
        assert!(err.contains("unexpected tensor ema."), "{err}");
        assert!(!plain.swap_average(&model).unwrap());
    }

    #[test]
    fn clipping_bounds_the_global_norm_and_keeps_small_gradients() {
        let norm = |m: &CharRnn| {
            host(m.flat_grad())
                .iter()
                .map(|x| x * x)
                .sum::<f64>()
                .sqrt()
        };
        let model = model_with_grads();
        let before = norm(&model);
        assert!(before > 0.5, "test needs a large gradient, got {before}");
        Optimizer::clip_grad_norm(&model, 0.5).unwrap();
        assert!((norm(&model) - 0.5).abs() < 1e-4);
        let model = model_with_grads();
        Optimizer::clip_grad_norm(&model, before * 2.0).unwrap();
        assert!((norm(&model) - before).abs() < 1e-9 * before.max(1.0) + 1e-6);
    }

    #[test]
    fn schedules() {
        let c = LrSchedule::Cosine {
            final_fraction: 0.1,
        };
        assert!((c.rate(1.0, 0, 0.0) - 1.0).abs() < 1e-12);
        assert!((c.rate(1.0, 3, 0.5) - 0.55).abs() < 1e-12);
        assert!((c.rate(1.0, 9, 1.0) - 0.1).abs() < 1e-12);
        let e = LrSchedule::Exponential { gamma: 0.5 };
        assert!((e.rate(2.0, 3, 0.9) - 0.25).abs() < 1e-12);
        assert_eq!(LrSchedule::Constant.rate(0.3, 7, 0.7), 0.3);
        assert!(LrSchedule::Exponential { gamma: 0.0 }.validate().is_err());
        assert!(
            OptimizerConfig::Adam {
                beta1: 1.0,
                beta2: 0.9,
                eps: 1e-8
            }
            .validate()
            .is_err()
        );
    }
}
