//! The masked loss, batches on the device, and evaluation (nats and bits per character).
use charrnn_data::{Batch, Example, collate};
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
            Ok(Tensor::f_from_slice(v)?
                .f_view(shape)?
                .f_to_device(device)?)
        };
        let labels = match (config.num_labels, &batch.labels) {
            (None, _) => None,
            (Some(_), Some(l)) => Some(Tensor::f_from_slice(l)?.f_to_device(device)?),
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

/// Sum of the cross-entropy over real targets (target id ≠ `<pad>` = 0), a 0-dim device tensor.
pub(crate) fn loss_sum(logits: &Tensor, target: &Tensor) -> Result<Tensor> {
    let vocab = logits.size().last().copied().unwrap_or(0);
    Ok(logits
        .f_reshape([-1, vocab])?
        .f_cross_entropy_loss::<Tensor>(&target.f_reshape([-1])?, None, Reduction::Sum, 0, 0.0)?)
}

/// Checks that examples fit a model: non-empty, as many targets as inputs, ids inside the
/// vocabulary, no `<pad>` target, and a label in range wherever the model needs one.
pub(crate) fn check_examples(config: &ModelConfig, examples: &[Example], what: &str) -> Result<()> {
    let v = config.vocab_size;
    for (i, e) in examples.iter().enumerate() {
        let bad = |m: String| Err(ModelError::InvalidInput(format!("{what} example {i}: {m}")));
        if e.input.is_empty() || e.input.len() != e.target.len() {
            return bad(format!(
                "{} inputs and {} targets (need the same non-zero number)",
                e.input.len(),
                e.target.len()
            ));
        }
        if let Some(id) = e
            .input
            .iter()
            .chain(&e.target)
            .find(|&&id| id as usize >= v)
        {
            return bad(format!("id {id} is outside the vocabulary of {v} ids"));
        }
        if e.target.contains(&0) {
            return bad("a target is <pad> (id 0)".into());
        }
        match (config.num_labels, e.label) {
            (Some(n), Some(l)) if l as usize >= n => {
                return bad(format!("label {l} is outside 0..{n}"));
            }
            (Some(_), None) => return bad("no label, but the model is conditioned on one".into()),
            _ => {}
        }
    }
    Ok(())
}

/// Evaluates `model` on `examples` (no dropout, no gradients) in batches of `batch_size`,
/// grouped by length to waste little on padding. Reads the result back once, at the end.
pub fn evaluate(model: &CharRnn, examples: &[Example], batch_size: usize) -> Result<Eval> {
    if examples.is_empty() {
        return Err(ModelError::InvalidInput("no examples to evaluate".into()));
    }
    if batch_size == 0 {
        return Err(ModelError::InvalidInput(
            "the evaluation batch size must be at least 1".into(),
        ));
    }
    check_examples(model.config(), examples, "evaluation")?;
    let eval = evaluate_checked(model, examples, batch_size)?;
    if !eval.nats_per_char.is_finite() {
        return Err(ModelError::InvalidInput(format!(
            "the loss is {} over {} characters: the model's outputs are not finite",
            eval.nats_per_char, eval.chars
        )));
    }
    Ok(eval)
}

pub(crate) fn evaluate_checked(
    model: &CharRnn,
    examples: &[Example],
    batch_size: usize,
) -> Result<Eval> {
    let _guard = tch::no_grad_guard();
    let mut order: Vec<usize> = (0..examples.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(examples[i].len()));
    let mut total = Tensor::f_zeros([], (Kind::Double, model.device()))?;
    let mut chars = 0;
    for chunk in order.chunks(batch_size) {
        let batch = DeviceBatch::new(&collate(examples, chunk), model.config(), model.device())?;
        let (logits, _) = model.forward(&batch.input, batch.labels.as_ref(), None, false)?;
        let _ = total.f_add_(&loss_sum(&logits, &batch.target)?)?;
        chars += batch.real;
    }
    Ok(Eval::from_sum(total.f_double_value(&[])?, chars))
}
