//! Incremental, batched generation: prompts are primed in one sequence call each (grouped by
//! length), then every sample advances one id per step with its recurrent state carried, so the
//! cost is linear in the length. Ids are drawn on the host by `charrnn-sampling` (the logits
//! copied back every step) or on the model's device, the host then learning them once per block
//! of steps.
use charrnn_sampling::{SamplingConfig, StopReason};
use charrnn_vocab::{Unknown, Vocab};

use crate::batcher::{Batcher, RowRequest};
use crate::device_sampling::SampleOn;
use crate::error::{ModelError, Result};
use crate::network::CharRnn;

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
    /// Where ids are drawn; `None`: [`SampleOn::default_for`] the model's device (the device
    /// for CUDA, the host for the CPU).
    pub sample_on: Option<SampleOn>,
    /// Sampling on the device, the steps between two copies of the ids to the host (at least
    /// 1; 1 when streaming to a person); `None` adapts it: doubled up to 64 while few rows
    /// finish, halved when many do. Changes no sample, only how often the host looks.
    pub sync_every: Option<usize>,
}

/// The longest block of steps the adaptive [`GenerateOptions::sync_every`] reaches.
const MAX_BLOCK: usize = 64;

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
            sample_on: None,
            sync_every: None,
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
/// other prompts.
///
/// # Errors
/// [`ModelError::Prompt`] for a prompt with characters outside the vocabulary (with
/// [`Unknown::Error`], the default), keeping the vocabulary's error, which lists each unknown
/// character and its position; [`ModelError::InvalidInput`] for an empty prompt without
/// `<bos>` or a label the model does not take; [`ModelError::Sampling`] for bad sampling
/// settings; tensor errors.
pub fn generate(
    model: &CharRnn,
    vocab: &Vocab,
    prompts: &[&str],
    options: &GenerateOptions,
) -> Result<Vec<Generated>> {
    generate_streaming(model, vocab, prompts, options, &mut |_, _| {})
}

/// [`generate`], calling `on_piece(sample, text)` with each new piece of text as it comes.
/// Built on a [`Batcher`] whose rows all join at once.
pub fn generate_streaming(
    model: &CharRnn,
    vocab: &Vocab,
    prompts: &[&str],
    options: &GenerateOptions,
    on_piece: &mut dyn FnMut(usize, &str),
) -> Result<Vec<Generated>> {
    let mut batcher = Batcher::new(model, vocab)?;
    if let Some(on) = options.sample_on {
        batcher.sample_on(on)?;
    }
    let requests: Vec<(u64, RowRequest)> = prompts
        .iter()
        .enumerate()
        .map(|(i, prompt)| {
            let request = RowRequest {
                prompt: (*prompt).to_owned(),
                label: options.label,
                sampling: options.sampling.clone(),
                seed: options.seed,
                stream: i,
                max_len: options.max_len,
                stop_strings: options.stop_strings.clone(),
                unknown: options.unknown,
                prepend_bos: options.prepend_bos,
                ignore_eos: false,
            };
            match batcher.check(&request) {
                Ok(_) => Ok((i as u64, request)),
                Err(ModelError::Vocab(source)) => Err(ModelError::Prompt {
                    index: i,
                    prompt: (*prompt).to_owned(),
                    source,
                }),
                Err(ModelError::InvalidInput(e)) if options.prepend_bos || !prompt.is_empty() => {
                    Err(ModelError::InvalidInput(e))
                }
                Err(ModelError::InvalidInput(e)) => Err(ModelError::InvalidInput(format!(
                    "prompt {i} is empty: {e}"
                ))),
                Err(e) => Err(e),
            }
        })
        .collect::<Result<_>>()?;
    let mut out: Vec<Generated> = (0..prompts.len())
        .map(|_| Generated {
            text: String::new(),
            ids: Vec::new(),
            stop: StopReason::MaxLen,
        })
        .collect();
    if prompts.is_empty() || options.max_len == 0 {
        return Ok(out);
    }
    batcher.join(requests)?;
    let mut block = match batcher.sampling_on() {
        SampleOn::Host => 1,
        SampleOn::Device => options.sync_every.unwrap_or(4).max(1),
    };
    while !batcher.is_empty() {
        let running = batcher.len();
        let events = batcher.step_block(block)?;
        if options.sync_every.is_none() && batcher.sampling_on() == SampleOn::Device {
            // Long blocks while rows run on; shorter ones once they start finishing, so that
            // finished rows leave the batch soon.
            let finished = running - batcher.len();
            block = if finished * 8 >= running {
                (block / 2).max(1)
            } else {
                (block * 2).min(MAX_BLOCK)
            };
        }
        for event in events {
            let i = event.key as usize;
            let g = &mut out[i];
            g.ids.push(event.id);
            g.text.push_str(&event.piece);
            if !event.piece.is_empty() {
                on_piece(i, &event.piece);
            }
            if let Some(reason) = event.done {
                g.stop = reason;
            }
        }
    }
    Ok(out)
}
