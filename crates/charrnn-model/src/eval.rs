//! The masked loss, batches on the device, and evaluation (nats and bits per character).
use charrnn_data::{Batch, Examples};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Reduction, Tensor};

use crate::error::{ModelError, Result};
use crate::model_config::ModelConfig;
use crate::network::CharRnn;

/// The loss of a model on some examples.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Eval {
    /// Mean cross-entropy per real target character (padding excluded, `<eos>` included), in nats.
    pub nats_per_char: f64,
    /// The same in bits: `nats_per_char / ln 2`.
    pub bits_per_char: f64,
    /// Number of real target characters it was measured on.
    pub chars: usize,
}

impl Eval {
    pub(crate) fn from_sum(nats: f64, chars: usize) -> Eval {
        let nats_per_char = nats / chars.max(1) as f64;
        Eval {
            nats_per_char,
            bits_per_char: nats_per_char / std::f64::consts::LN_2,
            chars,
        }
    }
}

/// A batch's buffers on the device (one `from_slice` and one transfer per buffer).
pub(crate) struct DeviceBatch {
    pub input: Tensor,
    pub target: Tensor,
    pub labels: Option<Tensor>,
    /// Real (non-padding) targets, known on the host.
    pub real: usize,
}

impl DeviceBatch {
    pub(crate) fn new(batch: &Batch, config: &ModelConfig, device: Device) -> Result<DeviceBatch> {
        let shape = [batch.batch_size as i64, batch.seq_len as i64];
        let put = |v: &[i64]| -> Result<Tensor> {
            upload(Tensor::f_from_slice(v)?.f_view(shape)?, device)
        };
        let labels = match (config.num_labels, &batch.labels) {
            (None, _) => None,
            (Some(_), Some(l)) => Some(upload(Tensor::f_from_slice(l)?, device)?),
            (Some(_), None) => {
                return Err(ModelError::InvalidInput(
                    "the model is conditioned on labels but some examples have none".into(),
                ));
            }
        };
        Ok(DeviceBatch {
            input: put(&batch.input)?,
            target: put(&batch.target)?,
            labels,
            real: batch.real_targets(),
        })
    }
}

/// A host tensor on `device`. To CUDA it goes through pinned (page-locked) memory and a
/// copy that does not block the host: the copy overlaps the work already queued, and the host
/// goes on to prepare the next step instead of waiting for the device.
pub(crate) fn upload(host: Tensor, device: Device) -> Result<Tensor> {
    if device.is_cuda() {
        Ok(host
            .f_pin_memory(device)?
            .f_to_device_(device, host.kind(), true, false)?)
    } else {
        Ok(host.f_to_device(device)?)
    }
}

/// Sum of the cross-entropy over real targets (target id ≠ `<pad>` = 0), a 0-dim device tensor.
pub(crate) fn loss_sum(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    let vocab = logits.size().last().copied().unwrap_or(0);
    Ok(logits
        .f_reshape([-1, vocab])?
        .f_cross_entropy_loss::<Tensor>(&target.f_reshape([-1])?, None, Reduction::Sum, 0, 0.0)?)
}

/// Checks that examples fit a model: non-empty, as many targets as inputs, ids inside the
/// vocabulary, no `<pad>` target, and a label in range wherever the model needs one.
pub(crate) fn check_examples<E: Examples + ?Sized>(
    config: &ModelConfig,
    examples: &E,
    what: &str,
) -> Result<()> {
    examples
        .check(config.vocab_size, config.num_labels)
        .map_err(|e| ModelError::InvalidInput(format!("{what} {e}")))
}

/// What [`evaluate`] and [`evaluate_each`] refuse: no examples, batches of 0, examples that do
/// not fit the model.
fn check_request<E: Examples + ?Sized>(
    model: &CharRnn,
    examples: &E,
    batch_size: usize,
) -> Result<()> {
    if examples.is_empty() {
        return Err(ModelError::InvalidInput("no examples to evaluate".into()));
    }
    if batch_size == 0 {
        return Err(ModelError::InvalidInput(
            "the evaluation batch size must be at least 1".into(),
        ));
    }
    check_examples(model.config(), examples, "evaluation")
}

/// Runs `model` (no dropout, no gradients) over `examples` in batches of `batch_size`, longest
/// first to waste little on padding, handing `each` every batch and its logits. Returns the
/// examples' lengths and the order they were batched in.
fn forward_batches<E: Examples + ?Sized>(
    model: &CharRnn,
    examples: &E,
    batch_size: usize,
    mut each: impl FnMut(&DeviceBatch, &Tensor) -> Result<()>,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let _guard = tch::no_grad_guard();
    let lengths = examples.lengths();
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    for chunk in order.chunks(batch_size.max(1)) {
        let batch = DeviceBatch::new(&examples.collate(chunk), model.config(), model.device())?;
        // Examples checked by `check_request`.
        let (logits, _) =
            model.forward_unchecked(&batch.input, batch.labels.as_ref(), None, false)?;
        each(&batch, &logits)?;
    }
    Ok((lengths, order))
}

/// Evaluates `model` on `examples` (no dropout, no gradients) in batches of `batch_size`,
/// grouped by length to waste little on padding. Reads the result back once, at the end.
///
/// `examples` is anything batches are cut from: `[Example]`, `Vec<Example>`, or examples read
/// in place from a token store (`charrnn_data::StoreExamples`).
pub fn evaluate<E: Examples + ?Sized>(
    model: &CharRnn,
    examples: &E,
    batch_size: usize,
) -> Result<Eval> {
    check_request(model, examples, batch_size)?;
    let eval = evaluate_checked(model, examples, batch_size)?;
    if !eval.nats_per_char.is_finite() {
        return Err(ModelError::InvalidInput(format!(
            "the loss is {} over {} characters: the model's outputs are not finite",
            eval.nats_per_char, eval.chars
        )));
    }
    Ok(eval)
}

/// As [`evaluate`], one [`Eval`] per example, in order: each text's own bits per character
/// (scoring texts one by one, or under each class of a label-conditioned model to classify
/// them). Reads the losses back once, at the end.
pub fn evaluate_each<E: Examples + ?Sized>(
    model: &CharRnn,
    examples: &E,
    batch_size: usize,
) -> Result<Vec<Eval>> {
    check_request(model, examples, batch_size)?;
    let mut sums = Vec::new();
    let (lengths, order) = forward_batches(model, examples, batch_size, |batch, logits| {
        let vocab = logits.size().last().copied().unwrap_or(0);
        // Padding (target 0) adds nothing to a row's sum.
        let per_row = logits
            .f_reshape([-1, vocab])?
            .f_cross_entropy_loss::<Tensor>(
                &batch.target.f_reshape([-1])?,
                None,
                Reduction::None,
                0,
                0.0,
            )?
            .f_view_as(&batch.target)?
            .f_sum_dim_intlist(1, false, Kind::Double)?;
        sums.push(per_row);
        Ok(())
    })?;
    let sums = Vec::<f64>::try_from(Tensor::f_cat(&sums, 0)?.f_to_device(Device::Cpu)?)?;
    let mut out = vec![Eval::from_sum(0.0, 0); examples.len()];
    for (&i, &nats) in order.iter().zip(&sums) {
        let e = Eval::from_sum(nats, lengths[i]);
        if !e.nats_per_char.is_finite() {
            return Err(ModelError::InvalidInput(format!(
                "the loss of example {i} is {}: the model's outputs are not finite",
                e.nats_per_char
            )));
        }
        out[i] = e;
    }
    Ok(out)
}

pub(crate) fn evaluate_checked<E: Examples + ?Sized>(
    model: &CharRnn,
    examples: &E,
    batch_size: usize,
) -> Result<Eval> {
    let mut total = Tensor::f_zeros([], (Kind::Double, model.device()))?;
    let mut chars = 0;
    forward_batches(model, examples, batch_size, |batch, logits| {
        let _ = total.f_add_(&loss_sum(logits, &batch.target)?)?;
        chars += batch.real;
        Ok(())
    })?;
    Ok(Eval::from_sum(total.f_double_value(&[])?, chars))
}
