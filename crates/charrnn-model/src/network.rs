//! The network: input encoding (embedding or one-hot, plus an optional label embedding) → a
//! recurrent stack run by libtorch's fused whole-sequence kernels (cuDNN on CUDA) → linear → logits.
//!
//! All parameters live in ONE contiguous buffer (and their gradients in another), so that the
//! optimisers update every parameter with a handful of element-wise kernels, whatever the
//! number of tensors. On CUDA the recurrent weights open that buffer in cuDNN's own layout, so
//! cuDNN uses them in place instead of copying them on every call.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

use crate::error::{ModelError, Result};
use crate::model_config::{Cell, ModelConfig};

/// The recurrent state carried between calls: `[num_layers, batch, hidden]` tensors.
#[derive(Debug)]
pub struct State {
    h: Tensor,
    c: Option<Tensor>,
}

impl State {
    /// Number of sequences the state is for.
    pub fn batch_size(&self) -> usize {
        self.h.size().get(1).map_or(0, |&b| b as usize)
    }

    /// The hidden state `[num_layers, batch, hidden]`, and the LSTM cell state.
    pub fn tensors(&self) -> (&Tensor, Option<&Tensor>) {
        (&self.h, self.c.as_ref())
    }

    /// The same state, cut from any autograd graph.
    pub fn detach(&self) -> State {
        State {
            h: self.h.detach(),
            c: self.c.as_ref().map(Tensor::detach),
        }
    }

    /// The same state in float32 (a mixed-precision forward pass leaves it in a lower
    /// precision).
    pub(crate) fn to_float(&self) -> Result<State> {
        Ok(State {
            h: self.h.f_to_kind(Kind::Float)?,
            c: self
                .c
                .as_ref()
                .map(|c| c.f_to_kind(Kind::Float))
                .transpose()?,
        })
    }

    /// Joins states of several batches into one, in order (along the batch dimension).
    pub fn cat(states: &[State]) -> Result<State> {
        let hs: Vec<&Tensor> = states.iter().map(|s| &s.h).collect();
        let h = Tensor::f_cat(&hs, 1)?;
        let c = if states.iter().all(|s| s.c.is_some()) {
            let cs: Vec<&Tensor> = states.iter().filter_map(|s| s.c.as_ref()).collect();
            Some(Tensor::f_cat(&cs, 1)?)
        } else {
            None
        };
        Ok(State { h, c })
    }

    /// The rows `index` (a 1-D int64 tensor on the state's device) of the state.
    pub fn select(&self, index: &Tensor) -> Result<State> {
        Ok(State {
            h: self.h.f_index_select(1, index)?,
            c: match &self.c {
                Some(c) => Some(c.f_index_select(1, index)?),
                None => None,
            },
        })
    }
}

/// Where one parameter sits in the flat buffer.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    pub offset: i64,
    pub size: Vec<i64>,
    pub stride: Vec<i64>,
}

/// A character-level recurrent language model.
#[derive(Debug)]
pub struct CharRnn {
    config: ModelConfig,
    device: Device,
    /// Every parameter, in a fixed order, with its name (as saved in `model.safetensors`).
    names: Vec<String>,
    params: Vec<Tensor>,
    slots: Vec<Slot>,
    /// The buffer all parameters alias, and the one all their gradients alias.
    flat: Tensor,
    flat_grad: Tensor,
    /// Index of the first recurrent weight in `params`, and their count.
    rnn_range: std::ops::Range<usize>,
    /// Whether the recurrent weights open the flat buffer in cuDNN's layout.
    #[cfg(test)]
    cudnn_layout: bool,
    embedding: Option<usize>,
    label_embedding: Option<usize>,
    out_w: usize,
    out_b: usize,
}

/// Parameters as first made: name, shape, initial values.
struct Init {
    name: String,
    shape: Vec<i64>,
    values: Vec<f32>,
}

fn uniform(rng: &mut ChaCha8Rng, n: usize, bound: f64) -> Vec<f32> {
    (0..n)
        .map(|_| (rng.random::<f64>() * 2.0 - 1.0) * bound)
        .map(|v| v as f32)
        .collect()
}

fn normal(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    // Box-Muller: two uniforms give a standard normal.
    (0..n)
        .map(|_| {
            let u1 = 1.0 - rng.random::<f64>();
            let u2 = rng.random::<f64>();
            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
        })
        .collect()
}

impl CharRnn {
    /// Builds a freshly initialised network on `device`. Initial weights depend only on the
    /// configuration and `seed` (drawn on the host), so CPU and CUDA start from the same point.
    ///
    /// Initialisation follows PyTorch: recurrent and output weights and biases uniform in
    /// ±1/√hidden, embeddings standard normal.
    pub fn new(config: &ModelConfig, device: Device, seed: u64) -> Result<CharRnn> {
        config.validate()?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let bound = 1.0 / (config.hidden as f64).sqrt();
        let shapes = config.parameter_shapes();
        let index_of = |name: &str| shapes.iter().position(|(n, _)| n == name);
        let rnn_count = 4 * config.num_layers;
        let embedding = index_of("embedding.weight");
        let label_embedding = index_of("label_embedding.weight");
        let (out_w, out_b) = (shapes.len() - 2, shapes.len() - 1);
        // Drawn in the order of `parameter_shapes`, so a seed always gives the same weights.
        let mut inits = Vec::with_capacity(shapes.len());
        for (i, (name, shape)) in shapes.into_iter().enumerate() {
            let n = shape.iter().product::<i64>() as usize;
            let values = if Some(i) == embedding || Some(i) == label_embedding {
                normal(&mut rng, n)
            } else {
                uniform(&mut rng, n, bound)
            };
            inits.push(Init {
                name,
                shape,
                values,
            });
        }

        let _guard = tch::no_grad_guard();
        let mut params = Vec::with_capacity(inits.len());
        let mut names = Vec::with_capacity(inits.len());
        for init in &inits {
            let t = Tensor::f_from_slice(&init.values)?
                .f_view(init.shape.as_slice())?
                .f_to_device(device)?;
            params.push(t);
            names.push(init.name.clone());
        }
        drop(inits);

        let cudnn_block = if device.is_cuda() && tch::Cuda::cudnn_is_available() {
            cudnn_layout(config, &params[..rnn_count])?
        } else {
            None
        };
        #[cfg(test)]
        let cudnn_layout = cudnn_block.is_some();
        let (slots, total) = layout(&params, cudnn_block)?;
        let flat = Tensor::f_zeros([total], (Kind::Float, device))?;
        let flat_grad = Tensor::f_zeros([total], (Kind::Float, device))?;
        for (p, slot) in params.iter_mut().zip(&slots) {
            flat.f_as_strided(slot.size.as_slice(), slot.stride.as_slice(), slot.offset)?
                .f_copy_(p)?;
            let _ = p.f_set_source_tensor_storage_offset_(
                &flat,
                slot.offset,
                slot.size.as_slice(),
                slot.stride.as_slice(),
            )?;
            let _ = p.f_set_requires_grad(true)?;
        }
        drop(_guard);
        // Give every parameter a gradient, then make each gradient alias its place in
        // `flat_grad`: autograd then accumulates in place, into one buffer.
        let mut zero = Tensor::f_zeros([], (Kind::Float, device))?;
        for p in &params {
            zero = zero.f_add(&p.f_sum(Kind::Float)?.f_mul_scalar(0.0)?)?;
        }
        zero.f_backward()?;
        let _guard = tch::no_grad_guard();
        for (p, slot) in params.iter().zip(&slots) {
            let mut g = p.f_grad()?;
            let _ = g.f_set_source_tensor_storage_offset_(
                &flat_grad,
                slot.offset,
                slot.size.as_slice(),
                slot.stride.as_slice(),
            )?;
        }
        let _ = flat_grad.shallow_clone().f_zero_()?;
        Ok(CharRnn {
            config: config.clone(),
            device,
            names,
            params,
            slots,
            flat,
            flat_grad,
            rnn_range: 0..rnn_count,
            #[cfg(test)]
            cudnn_layout,
            embedding,
            label_embedding,
            out_w,
            out_b,
        })
    }

    /// The configuration the network was built from.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Changes the dropout probability used in training from now on (the weights do not
    /// depend on it): fine-tuning a trained model with another dropout than it was trained with.
    ///
    /// # Errors
    /// [`ModelError::InvalidConfig`](crate::ModelError::InvalidConfig) when `p` is outside
    /// [0, 1).
    pub fn set_dropout(&mut self, p: f64) -> Result<()> {
        let mut config = self.config.clone();
        config.dropout = p;
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// This network for a grown vocabulary of `vocab_size` ids, where `ids[i]` is the new id
    /// of old id `i` (see `Vocab::extended`): the old ids keep their trained rows (columns of
    /// a one-hot input layer); every other weight is copied. A new id starts neutral and
    /// learnable: a zero output row with the lowest trained output bias (as likely as the
    /// rarest known character), the mean embedding, or a zero one-hot input column.
    ///
    /// # Errors
    /// [`ModelError::InvalidInput`] when `ids` does not map every old id to a distinct id below
    /// `vocab_size`; tensor errors.
    pub fn with_vocab(&self, ids: &[u32], vocab_size: usize) -> Result<CharRnn> {
        let old = self.config.vocab_size;
        let mut distinct = ids.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        if ids.len() != old
            || distinct.len() != old
            || ids.iter().any(|&id| id as usize >= vocab_size)
        {
            return Err(ModelError::InvalidInput(format!(
                "a vocabulary of {old} ids grows into {vocab_size} only by mapping each to a \
                 distinct new id"
            )));
        }
        let mut config = self.config.clone();
        config.vocab_size = vocab_size;
        let grown = CharRnn::new(&config, self.device, 0)?;
        let _guard = tch::no_grad_guard();
        let index = Tensor::f_from_slice(&ids.iter().map(|&i| i64::from(i)).collect::<Vec<_>>())?
            .f_to_device(self.device)?;
        let (old_v, new_v) = (old as i64, vocab_size as i64);
        let one_hot = matches!(self.config.input, crate::InputMode::OneHot);
        for ((name, from), to) in self.named_parameters().zip(&grown.params) {
            let mut to = to.shallow_clone();
            match name {
                "embedding.weight" => {
                    let mean = from.f_mean_dim(0, true, Kind::Float)?;
                    to.f_copy_(&mean.f_expand_as(&to)?)?;
                    let _ = to.f_index_copy_(0, &index, from)?;
                }
                "output.weight" => {
                    let _ = to.f_zero_()?;
                    let _ = to.f_index_copy_(0, &index, from)?;
                }
                "output.bias" => {
                    to.f_copy_(&from.f_min()?.f_expand_as(&to)?)?;
                    let _ = to.f_index_copy_(0, &index, from)?;
                }
                "rnn.weight_ih_l0" if one_hot => {
                    // Character columns, then the label columns (if any), unchanged.
                    let labels = to.size()[1] - new_v;
                    let _ = to.f_zero_()?;
                    let _ = to.f_narrow(1, 0, new_v)?.f_index_copy_(
                        1,
                        &index,
                        &from.f_narrow(1, 0, old_v)?,
                    )?;
                    to.f_narrow(1, new_v, labels)?
                        .f_copy_(&from.f_narrow(1, old_v, labels)?)?;
                }
                _ => to.f_copy_(from)?,
            }
        }
        drop(_guard);
        Ok(grown)
    }

    /// The device holding the parameters.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Number of scalar parameters.
    pub fn num_parameters(&self) -> usize {
        self.params.iter().map(|p| p.numel()).sum()
    }

    /// Parameter names and tensors, in the fixed order used everywhere (names as in
    /// `model.safetensors`, following PyTorch's `weight_ih_l0`... convention).
    pub fn named_parameters(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.names.iter().map(String::as_str).zip(&self.params)
    }

    pub(crate) fn slots(&self) -> &[Slot] {
        &self.slots
    }

    pub(crate) fn flat(&self) -> &Tensor {
        &self.flat
    }

    pub(crate) fn flat_grad(&self) -> &Tensor {
        &self.flat_grad
    }

    /// A zero state for `batch` sequences.
    pub fn zero_state(&self, batch: usize) -> Result<State> {
        let shape = [
            self.config.num_layers as i64,
            batch as i64,
            self.config.hidden as i64,
        ];
        let h = Tensor::f_zeros(shape, (Kind::Float, self.device))?;
        let c = match self.config.cell {
            Cell::Lstm => Some(Tensor::f_zeros(shape, (Kind::Float, self.device))?),
            _ => None,
        };
        Ok(State { h, c })
    }

    /// Runs whole sequences through the network.
    ///
    /// - `input`: `[batch, steps]` int64 ids on the model's device, each in `0..vocab_size`;
    /// - `labels`: `[batch]` int64 class ids in `0..num_labels`, required exactly when the
    ///   model has labels;
    /// - `state`: the state to start from (zeros when `None`);
    /// - `train`: applies dropout when true.
    ///
    /// Returns `[batch, steps, vocab_size]` logits and the state after the last step. Running
    /// a sequence in pieces, carrying the state, gives the same logits as running it whole.
    ///
    /// # Errors
    /// [`ModelError::InvalidInput`] for a shape, a type, an id or a label that does not fit
    /// the model, before libtorch sees them. Checking the ids' range reads their smallest and
    /// largest back from the device, so on CUDA this call waits for the work queued before
    /// it; the crate's own training, evaluation and generation check their ids on the host
    /// instead and do not wait.
    pub fn forward(
        &self,
        input: &Tensor,
        labels: Option<&Tensor>,
        state: Option<&State>,
        train: bool,
    ) -> Result<(Tensor, State)> {
        if input.kind() == Kind::Int64 {
            check_range(input, self.config.vocab_size, "input id", "the vocabulary")?;
        }
        if let (Some(n), Some(l)) = (self.config.num_labels, labels)
            && l.kind() == Kind::Int64
        {
            check_range(l, n, "label", "the model's classes")?;
        }
        self.forward_unchecked(input, labels, state, train)
    }

    /// [`CharRnn::forward`] without reading the ids back to check their range: for ids that
    /// were checked on the host (collated examples, encoded prompts, sampled ids). Shapes and
    /// types are still checked.
    pub(crate) fn forward_unchecked(
        &self,
        input: &Tensor,
        labels: Option<&Tensor>,
        state: Option<&State>,
        train: bool,
    ) -> Result<(Tensor, State)> {
        let size = input.size();
        let (batch, steps) = match size.as_slice() {
            &[b, t] if b > 0 && t > 0 => (b, t),
            _ => {
                return Err(ModelError::InvalidInput(format!(
                    "input must be a non-empty [batch, steps] tensor, got shape {size:?}"
                )));
            }
        };
        if input.kind() != Kind::Int64 {
            return Err(ModelError::InvalidInput(format!(
                "input ids must be int64, got {:?}",
                input.kind()
            )));
        }
        let chars = match self.embedding {
            Some(i) => Tensor::f_embedding(&self.params[i], input, -1, false, false)?,
            None => input
                .f_one_hot(self.config.vocab_size as i64)?
                .f_to_kind(Kind::Float)?,
        };
        let x = match (self.label_embedding, labels) {
            (Some(i), Some(labels)) => {
                if labels.size() != [batch] {
                    return Err(ModelError::InvalidInput(format!(
                        "labels must be a [{batch}] tensor, got shape {:?}",
                        labels.size()
                    )));
                }
                if labels.kind() != Kind::Int64 {
                    return Err(ModelError::InvalidInput(format!(
                        "labels must be int64, got {:?}",
                        labels.kind()
                    )));
                }
                let l = Tensor::f_embedding(&self.params[i], labels, -1, false, false)?
                    .f_unsqueeze(1)?
                    .f_expand([batch, steps, self.config.label_dim as i64], false)?;
                Tensor::f_cat(&[chars, l], 2)?
            }
            (None, None) => chars,
            (Some(_), None) => {
                return Err(ModelError::InvalidInput(format!(
                    "this model is conditioned on a label (0..{}); give one",
                    self.config.num_labels.unwrap_or(0)
                )));
            }
            (None, Some(_)) => {
                return Err(ModelError::InvalidInput(
                    "this model takes no label, but one was given".into(),
                ));
            }
        };
        let zero;
        let state = match state {
            Some(s) => {
                if s.batch_size() != batch as usize {
                    return Err(ModelError::InvalidInput(format!(
                        "the state is for {} sequences, the input has {batch}",
                        s.batch_size()
                    )));
                }
                s
            }
            None => {
                zero = self.zero_state(batch as usize)?;
                &zero
            }
        };
        let rnn = &self.params[self.rnn_range.clone()];
        let layers = self.config.num_layers as i64;
        let p = self.config.dropout;
        let (out, new_state) = match (self.config.cell, &state.c) {
            (Cell::Lstm, Some(c)) => {
                let hx = [state.h.shallow_clone(), c.shallow_clone()];
                let (out, h, c) = x.f_lstm(&hx, rnn, true, layers, p, train, false, true)?;
                (out, State { h, c: Some(c) })
            }
            (Cell::Gru, None) => {
                let (out, h) = x.f_gru(&state.h, rnn, true, layers, p, train, false, true)?;
                (out, State { h, c: None })
            }
            (Cell::Rnn, None) => {
                let (out, h) = x.f_rnn_tanh(&state.h, rnn, true, layers, p, train, false, true)?;
                (out, State { h, c: None })
            }
            _ => {
                return Err(ModelError::InvalidInput(format!(
                    "the state does not fit a {} network",
                    self.config.cell
                )));
            }
        };
        let out = if train && p > 0.0 {
            out.f_dropout(p, true)?
        } else {
            out
        };
        let logits = out.f_linear(&self.params[self.out_w], Some(&self.params[self.out_b]))?;
        Ok((logits, new_state))
    }

    /// Overwrites every parameter with `values` (same names, same shapes; checked by the caller).
    pub(crate) fn copy_from(&mut self, values: &[Tensor]) -> Result<()> {
        let _guard = tch::no_grad_guard();
        for (p, v) in self.params.iter_mut().zip(values) {
            p.f_copy_(v)?;
        }
        Ok(())
    }
}

/// Refuses a tensor of ids with a value outside `0..bound` (`what`: "input id", "label";
/// `of`: what the range is, in words), naming the first bad extreme. One reduction, and one
/// read-back of two numbers (on CUDA, a wait for the device).
fn check_range(ids: &Tensor, bound: usize, what: &str, of: &str) -> Result<()> {
    if ids.numel() == 0 {
        return Ok(());
    }
    let extremes = Tensor::f_stack(&[ids.f_min()?, ids.f_max()?], 0)?.f_to_device(Device::Cpu)?;
    let (low, high) = match Vec::<i64>::try_from(&extremes)?.as_slice() {
        &[low, high] => (low, high),
        _ => return Ok(()),
    };
    let bound = i64::try_from(bound).unwrap_or(i64::MAX);
    let bad = if low < 0 { low } else { high };
    if low < 0 || high >= bound {
        return Err(ModelError::InvalidInput(format!(
            "{what} {bad} is outside {of} (0..{bound})"
        )));
    }
    Ok(())
}

/// On CUDA, lets cuDNN lay the recurrent weights out in its own flat buffer; returns where each
/// weight landed (offset, stride) and the buffer size, or `None` if cuDNN did not re-point them.
fn cudnn_layout(config: &ModelConfig, rnn: &[Tensor]) -> Result<Option<(Vec<Slot>, i64)>> {
    let buf = Tensor::f_internal_cudnn_rnn_flatten_weight(
        rnn,
        4,
        config.input_width() as i64,
        config.cell.cudnn_mode(),
        config.hidden as i64,
        0,
        config.num_layers as i64,
        true,
        false,
    )?;
    let base = buf.data_ptr() as usize;
    let len = buf.numel();
    let mut slots = Vec::with_capacity(rnn.len());
    for p in rnn {
        let at = (p.data_ptr() as usize).wrapping_sub(base);
        if !at.is_multiple_of(4) || at / 4 + p.numel() > len {
            return Ok(None);
        }
        slots.push(Slot {
            offset: (at / 4) as i64,
            size: p.size(),
            stride: p.stride(),
        });
    }
    Ok(Some((slots, len as i64)))
}

/// Places the parameters in the flat buffer: the cuDNN block (if any) first, at offset 0 as
/// cuDNN requires, then every other parameter contiguously, in order.
fn layout(params: &[Tensor], cudnn: Option<(Vec<Slot>, i64)>) -> Result<(Vec<Slot>, i64)> {
    let (mut slots, mut next) = cudnn.unwrap_or((Vec::new(), 0));
    for p in &params[slots.len()..] {
        let size = p.size();
        let mut stride = vec![1i64; size.len()];
        for d in (0..size.len().saturating_sub(1)).rev() {
            stride[d] = stride[d + 1] * size[d + 1];
        }
        slots.push(Slot {
            offset: next,
            size,
            stride,
        });
        next += p.numel() as i64;
    }
    Ok((slots, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_config::InputMode;

    /// `parameter_shapes` (used to check a weights file before allocating) describes exactly
    /// the parameters a network gets, and sizes beyond the bound are refused unallocated.
    #[test]
    fn parameter_shapes_match_the_network_and_absurd_sizes_are_refused() {
        for (cell, input, labels) in [
            (Cell::Lstm, InputMode::Embedding { dim: 5 }, Some(3)),
            (Cell::Gru, InputMode::OneHot, None),
            (Cell::Rnn, InputMode::Embedding { dim: 2 }, None),
        ] {
            let mut config = ModelConfig::new(11);
            config.cell = cell;
            config.input = input;
            config.hidden = 6;
            config.num_layers = 2;
            config.num_labels = labels;
            let net = CharRnn::new(&config, Device::Cpu, 1).unwrap();
            let actual: Vec<(String, Vec<i64>)> = net
                .named_parameters()
                .map(|(n, t)| (n.to_owned(), t.size()))
                .collect();
            assert_eq!(actual, config.parameter_shapes());
            let count: usize = actual
                .iter()
                .map(|(_, s)| s.iter().product::<i64>() as usize)
                .sum();
            assert_eq!(config.parameter_count(), Some(count));
        }
        let mut huge = ModelConfig::new(100);
        huge.hidden = 2_000_000_000;
        let err = huge.validate().unwrap_err().to_string();
        assert!(err.contains("parameters"), "{err}");
        huge.hidden = usize::MAX / 2;
        assert!(huge.validate().is_err(), "overflow is refused, not wrapped");
    }

    /// Every parameter lives in the flat buffer at its slot; on CUDA with cuDNN the recurrent
    /// weights open it in cuDNN's layout (so cuDNN uses them without copying).
    #[test]
    fn parameters_alias_one_buffer() {
        let mut devices = vec![Device::Cpu];
        if tch::Cuda::is_available() {
            devices.push(Device::Cuda(0));
        }
        for device in devices {
            for cell in [Cell::Lstm, Cell::Gru, Cell::Rnn] {
                let mut cfg = ModelConfig::new(12);
                cfg.cell = cell;
                cfg.num_labels = Some(3);
                let model = CharRnn::new(&cfg, device, 1).unwrap();
                let base = model.flat.data_ptr() as usize;
                for (p, slot) in model.params.iter().zip(&model.slots) {
                    assert_eq!(p.data_ptr() as usize, base + 4 * slot.offset as usize);
                    assert_eq!(p.size(), slot.size);
                    assert!(p.requires_grad() && p.is_leaf());
                    let g = p.grad();
                    let gbase = model.flat_grad.data_ptr() as usize;
                    assert_eq!(g.data_ptr() as usize, gbase + 4 * slot.offset as usize);
                }
                let expect_cudnn = device.is_cuda() && tch::Cuda::cudnn_is_available();
                assert_eq!(model.cudnn_layout, expect_cudnn, "{device:?} {cell}");
                let total: i64 = model.params.iter().map(|p| p.numel() as i64).sum();
                assert!(model.flat.numel() as i64 >= total);
            }
        }
    }
}
