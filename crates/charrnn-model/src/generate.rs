//! Incremental, batched generation: prompts are primed in one sequence call each (grouped by
//! length), then every sample advances one id per step with its recurrent state carried, so the
//! cost is linear in the length. Logits come back to the host once per step and are sampled
//! there by `charrnn-sampling`.
use std::collections::BTreeMap;

use charrnn_sampling::{Sampler, SamplingConfig, StopCriteria, StopReason};
use charrnn_vocab::{Level, PAD_ID, Unknown, Vocab};
use tch::{Device, Kind, Tensor};

use crate::error::{ModelError, Result};
use crate::network::{CharRnn, State};

/// How to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    /// Temperature and filters. When `banned` is empty, `<pad>`, `<unk>` and `<bos>` are banned.
    pub sampling: SamplingConfig,
    /// Most ids to generate per sample.
    pub max_len: usize,
    /// Stop a sample when its text ends with one of these (which is then cut from the text).
    pub stop_strings: Vec<String>,
    /// The class to condition on (required by, and only accepted by, labelled models).
    pub label: Option<u32>,
    /// Seed of the sampler: same seed, same samples.
    pub seed: u64,
    /// Start every prompt with `<bos>` (as training examples do by default). An empty prompt
    /// needs it.
    pub prepend_bos: bool,
    /// What a prompt character outside the vocabulary does: an error naming it (the default),
    /// or `<unk>`.
    pub unknown: Unknown,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            sampling: SamplingConfig::with_temperature(1.0),
            max_len: 200,
            stop_strings: Vec::new(),
            label: None,
            seed: 0,
            prepend_bos: true,
            unknown: Unknown::Error,
        }
    }
}

/// One generated sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The generated continuation (without the prompt, `<eos>` or the stop string).
    pub text: String,
    /// The generated ids, the final `<eos>` included when it came.
    pub ids: Vec<u32>,
    /// Why it stopped.
    pub stop: StopReason,
}

/// Generates one continuation of each prompt (repeat a prompt for several samples), all
/// advancing together. Sample `i` uses the sampler's stream `i`, so it does not depend on the
/// other prompts. Unknown characters in a prompt are an error naming them.
pub fn generate(
    model: &CharRnn,
    vocab: &Vocab,
    prompts: &[&str],
    options: &GenerateOptions,
) -> Result<Vec<Generated>> {
    generate_streaming(model, vocab, prompts, options, &mut |_, _| {})
}

/// [`generate`], calling `on_piece(sample, text)` with each new piece of text as it comes.
pub fn generate_streaming(
    model: &CharRnn,
    vocab: &Vocab,
    prompts: &[&str],
    options: &GenerateOptions,
    on_piece: &mut dyn FnMut(usize, &str),
) -> Result<Vec<Generated>> {
    let v = model.config().vocab_size;
    if vocab.len() != v {
        return Err(ModelError::InvalidInput(format!(
            "the vocabulary has {} ids but the model was built for {v}",
            vocab.len()
        )));
    }
    match (model.config().num_labels, options.label) {
        (Some(n), Some(l)) if l as usize >= n => {
            return Err(ModelError::InvalidInput(format!(
                "label {l} is outside 0..{n}"
            )));
        }
        (Some(n), None) => {
            let names = &model.config().label_names;
            let hint = if names.is_empty() {
                format!("0..{n}")
            } else {
                names.join(", ")
            };
            return Err(ModelError::InvalidInput(format!(
                "this model is conditioned on a label; choose one of {hint}"
            )));
        }
        (None, Some(_)) => {
            return Err(ModelError::InvalidInput("this model takes no label".into()));
        }
        _ => {}
    }
    let mut sampling = options.sampling.clone();
    if sampling.banned.is_empty() {
        sampling.banned = vec![PAD_ID, vocab.unk_id(), vocab.bos_id()];
    }
    let mut sampler = Sampler::new(sampling, v, options.seed)?;
    let mut stop = StopCriteria::new(options.max_len).with_eos(vocab.eos_id());
    stop.stop_strings = options.stop_strings.clone();

    let mut encoded = Vec::with_capacity(prompts.len());
    for (i, prompt) in prompts.iter().enumerate() {
        let ids = vocab
            .encode(prompt, options.unknown)
            .map_err(|e| ModelError::InvalidInput(format!("prompt {i} ({prompt:?}): {e}")))?;
        let mut all = Vec::with_capacity(ids.len() + 1);
        if options.prepend_bos {
            all.push(vocab.bos_id());
        }
        all.extend(ids);
        if all.is_empty() {
            return Err(ModelError::InvalidInput(format!(
                "prompt {i} is empty and prepend_bos is off: nothing to start from"
            )));
        }
        encoded.push(all);
    }
    let n = prompts.len();
    let mut out: Vec<Generated> = (0..n)
        .map(|_| Generated {
            text: String::new(),
            ids: Vec::new(),
            stop: StopReason::MaxLen,
        })
        .collect();
    if n == 0 || options.max_len == 0 {
        return Ok(out);
    }

    let _guard = tch::no_grad_guard();
    let device = model.device();
    let (mut logits, mut state) = prime(model, &encoded, options.label)?;
    let mut active: Vec<usize> = (0..n).collect();
    let mut host = vec![0f32; n * v];
    let mut next = vec![0u32; n];
    let word_level = vocab.level() == Level::Word;
    let mut streamed = vec![0usize; n];
    loop {
        let rows = active.len();
        logits
            .f_to_device(Device::Cpu)?
            .f_to_kind(Kind::Float)?
            .f_contiguous()?
            .f_copy_data(&mut host[..rows * v], rows * v)?;
        sampler.sample_rows(&active, &host[..rows * v], &mut next[..rows])?;
        let mut keep = Vec::with_capacity(rows);
        for (j, &row) in active.iter().enumerate() {
            let id = next[j];
            let g = &mut out[row];
            g.ids.push(id);
            let mut piece = vocab.decode(&[id]);
            if word_level && !piece.is_empty() && !g.text.is_empty() {
                piece.insert(0, ' ');
            }
            g.text.push_str(&piece);
            let end = match stop.check(id, g.ids.len(), &g.text) {
                Some(reason) => {
                    g.stop = reason;
                    let kept = stop.strip_stop_string(&g.text, reason).len();
                    g.text.truncate(kept);
                    kept
                }
                None => {
                    keep.push(j);
                    // Hold back what could be the start of a stop string.
                    g.text.len() - pending_stop_prefix(&g.text, &stop.stop_strings)
                }
            };
            if end > streamed[row] {
                on_piece(row, &g.text[streamed[row]..end]);
                streamed[row] = end;
            }
        }
        if keep.is_empty() {
            break;
        }
        if keep.len() < rows {
            let index = Tensor::f_from_slice(&keep.iter().map(|&j| j as i64).collect::<Vec<_>>())?
                .f_to_device(device)?;
            state = state.select(&index)?;
        }
        let ids: Vec<i64> = keep.iter().map(|&j| i64::from(next[j])).collect();
        active = keep.iter().map(|&j| active[j]).collect();
        let input = Tensor::f_from_slice(&ids)?
            .f_view([ids.len() as i64, 1])?
            .f_to_device(device)?;
        let labels = label_tensor(options.label, ids.len(), device)?;
        let (l, s) = model.forward(&input, labels.as_ref(), Some(&state), false)?;
        logits = l.f_select(1, 0)?;
        state = s;
    }
    Ok(out)
}

/// Length of the longest end of `text` that is a proper, non-empty start of a stop string.
fn pending_stop_prefix(text: &str, stops: &[String]) -> usize {
    stops
        .iter()
        .filter_map(|s| {
            (1..s.len())
                .rev()
                .find(|&k| s.is_char_boundary(k) && text.ends_with(&s[..k]))
        })
        .max()
        .unwrap_or(0)
}

fn label_tensor(label: Option<u32>, n: usize, device: Device) -> Result<Option<Tensor>> {
    Ok(match label {
        Some(l) => Some(Tensor::f_full(
            [n as i64],
            i64::from(l),
            (Kind::Int64, device),
        )?),
        None => None,
    })
}

/// Runs every prompt through the network, one sequence call per distinct prompt length, and
/// returns the last-step logits `[n, vocab]` and the states, in prompt order.
fn prime(model: &CharRnn, prompts: &[Vec<u32>], label: Option<u32>) -> Result<(Tensor, State)> {
    let device = model.device();
    let mut by_len: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, p) in prompts.iter().enumerate() {
        by_len.entry(p.len()).or_default().push(i);
    }
    let mut logits = Vec::new();
    let mut states = Vec::new();
    let mut order: Vec<usize> = Vec::with_capacity(prompts.len());
    for (len, rows) in &by_len {
        let flat: Vec<i64> = rows
            .iter()
            .flat_map(|&i| prompts[i].iter().map(|&id| i64::from(id)))
            .collect();
        let input = Tensor::f_from_slice(&flat)?
            .f_view([rows.len() as i64, *len as i64])?
            .f_to_device(device)?;
        let labels = label_tensor(label, rows.len(), device)?;
        let (l, s) = model.forward(&input, labels.as_ref(), None, false)?;
        logits.push(l.f_select(1, *len as i64 - 1)?);
        states.push(s);
        order.extend(rows);
    }
    let (logits, state) = if states.len() == 1 {
        (logits.remove(0), states.remove(0))
    } else {
        (Tensor::f_cat(&logits, 0)?, State::cat(&states)?)
    };
    if order.iter().enumerate().all(|(k, &i)| k == i) {
        return Ok((logits, state));
    }
    // Back to prompt order: position of prompt i in the grouped order.
    let mut inverse = vec![0i64; order.len()];
    for (k, &i) in order.iter().enumerate() {
        inverse[i] = k as i64;
    }
    let index = Tensor::f_from_slice(&inverse)?.f_to_device(device)?;
    Ok((logits.f_index_select(0, &index)?, state.select(&index)?))
}
