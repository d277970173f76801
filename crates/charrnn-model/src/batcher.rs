//! Continuous batching: sequences join and leave one running batch at any step.
//!
//! A recurrent network's state has a fixed size per sequence, so a batch can take in new
//! sequences (their prompts primed in one sequence call per prompt length, their states
//! concatenated to the batch's) and drop finished ones (their rows selected away) between any
//! two steps. Every row keeps its own sampler, seed, stream, label, length limit and stop
//! strings, so a row samples exactly what it would sample alone: row `k` of a request uses
//! stream `k` of its seed, as [`crate::generate`] does for its `k`-th prompt.
//!
//! Ids are drawn on the host ([`SampleOn::Host`], the logits copied back every step) or on the
//! model's device ([`SampleOn::Device`]): then [`Batcher::step_block`] runs several steps with
//! the ids staying on the device and copies them back once, and finished rows leave the batch
//! at the end of the block.
use std::collections::BTreeMap;

use charrnn_sampling::{Sampler, SamplingConfig, StopCriteria, StopReason};
use charrnn_vocab::{Level, PAD_ID, Unknown, Vocab};
use tch::{Device, Kind, Tensor};

use crate::device_sampling::{DeviceFilters, SampleOn};
use crate::error::{ModelError, Result};
use crate::network::{CharRnn, State};

mod device_block;

/// One sequence to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct RowRequest {
    /// The text to continue (may be empty: `<bos>` always starts it).
    pub prompt: String,
    /// The class to condition on (required by, and only accepted by, labelled models).
    pub label: Option<u32>,
    /// Temperature and filters; when `banned` is empty, `<pad>`, `<unk>` and `<bos>` are banned.
    pub sampling: SamplingConfig,
    /// The sampler's seed.
    pub seed: u64,
    /// The sampler stream of this row (the sample's index within its request).
    pub stream: usize,
    /// Most ids to generate.
    pub max_len: usize,
    /// Stop when the text ends with one of these (cut from the text).
    pub stop_strings: Vec<String>,
    /// What a prompt character outside the vocabulary does.
    pub unknown: Unknown,
    /// Start the prompt with `<bos>`, as training examples do (an empty prompt needs it).
    pub prepend_bos: bool,
    /// Never end at `<eos>`: the row runs to `max_len` (for benchmarks).
    pub ignore_eos: bool,
}

/// What one step produced for one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowEvent {
    /// The key the row joined with.
    pub key: u64,
    /// The id sampled at this step (`<eos>` included when it ends the row).
    pub id: u32,
    /// New text, possibly empty (text that may start a stop string is held back).
    pub piece: String,
    /// Set on the row's last event: why it stopped.
    pub done: Option<StopReason>,
    /// Ids generated so far (the final `<eos>` included).
    pub generated: usize,
}

struct Row {
    key: u64,
    label: Option<u32>,
    sampler: Sampler,
    stream: usize,
    stop: StopCriteria,
    ids: Vec<u32>,
    text: String,
    streamed: usize,
}

/// A running batch of sequences over one model.
pub struct Batcher<'m> {
    model: &'m CharRnn,
    vocab: &'m Vocab,
    rows: Vec<Row>,
    /// `[rows, vocab]` logits of each row's next id, and the rows' state.
    next: Option<(Tensor, State)>,
    host: Vec<f32>,
    on: SampleOn,
    /// The rows' filters on the device (device sampling, while rows run).
    filters: Option<DeviceFilters>,
}

impl<'m> Batcher<'m> {
    /// An empty batch over `model` and its vocabulary, sampling where
    /// [`SampleOn::default_for`] the model's device says (on the device for CUDA).
    pub fn new(model: &'m CharRnn, vocab: &'m Vocab) -> Result<Self> {
        if vocab.len() != model.config().vocab_size {
            return Err(ModelError::InvalidInput(format!(
                "the vocabulary has {} ids but the model was built for {}",
                vocab.len(),
                model.config().vocab_size
            )));
        }
        Ok(Batcher {
            model,
            vocab,
            rows: Vec::new(),
            next: None,
            host: Vec::new(),
            on: SampleOn::default_for(model.device()),
            filters: None,
        })
    }

    /// Samples on the host or on the model's device from now on. Refused while rows run.
    pub fn sample_on(&mut self, on: SampleOn) -> Result<()> {
        if !self.rows.is_empty() && on != self.on {
            return Err(ModelError::InvalidInput(
                "the sampler's placement cannot change while rows run".into(),
            ));
        }
        self.on = on;
        Ok(())
    }

    /// Where this batch samples.
    pub fn sampling_on(&self) -> SampleOn {
        self.on
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row is running.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Checks a request as [`Batcher::join`] would, and returns its prompt's ids: the label
    /// against the model, the sampling settings, the prompt's characters.
    pub fn check(&self, request: &RowRequest) -> Result<Vec<u32>> {
        let config = self.model.config();
        match (config.num_labels, request.label) {
            (Some(n), Some(l)) if l as usize >= n => {
                return Err(ModelError::InvalidInput(format!(
                    "label {l} is outside 0..{n}"
                )));
            }
            (Some(_), None) => {
                return Err(ModelError::InvalidInput(format!(
                    "this model is conditioned on a label; choose one of {}",
                    if config.label_names.is_empty() {
                        format!("0..{}", config.num_labels.unwrap_or(0))
                    } else {
                        config.label_names.join(", ")
                    }
                )));
            }
            (None, Some(_)) => {
                return Err(ModelError::InvalidInput("this model takes no label".into()));
            }
            _ => {}
        }
        self.sampler(&request.sampling, request.seed, request.ignore_eos)?;
        let mut ids = Vec::with_capacity(request.prompt.len() + 1);
        if request.prepend_bos {
            ids.push(self.vocab.bos_id());
        }
        ids.extend(self.vocab.encode(&request.prompt, request.unknown)?);
        if ids.is_empty() {
            return Err(ModelError::InvalidInput(
                "the prompt is empty and prepend_bos is off: nothing to start from".into(),
            ));
        }
        Ok(ids)
    }

    fn sampler(&self, sampling: &SamplingConfig, seed: u64, ignore_eos: bool) -> Result<Sampler> {
        let mut sampling = sampling.clone();
        if sampling.banned.is_empty() {
            sampling.banned = vec![PAD_ID, self.vocab.unk_id(), self.vocab.bos_id()];
        }
        if ignore_eos && !sampling.banned.contains(&self.vocab.eos_id()) {
            sampling.banned.push(self.vocab.eos_id());
        }
        Ok(Sampler::new(
            sampling,
            self.model.config().vocab_size,
            seed,
        )?)
    }

    /// Adds sequences to the batch: their prompts are primed (one network call per prompt
    /// length) and they take part from the next [`Batcher::step`] on. Nothing joins when one
    /// request is refused.
    pub fn join(&mut self, requests: Vec<(u64, RowRequest)>) -> Result<()> {
        let mut prompts = Vec::with_capacity(requests.len());
        let mut rows = Vec::with_capacity(requests.len());
        for (key, request) in requests {
            prompts.push(self.check(&request)?);
            let mut stop = StopCriteria::new(request.max_len).with_eos(self.vocab.eos_id());
            stop.stop_strings = request.stop_strings;
            rows.push(Row {
                key,
                label: request.label,
                sampler: self.sampler(&request.sampling, request.seed, request.ignore_eos)?,
                stream: request.stream,
                stop,
                ids: Vec::new(),
                text: String::new(),
                streamed: 0,
            });
        }
        if rows.is_empty() {
            return Ok(());
        }
        let labels: Vec<Option<u32>> = rows.iter().map(|r| r.label).collect();
        let _guard = tch::no_grad_guard();
        let filters = match self.on {
            SampleOn::Host => None,
            SampleOn::Device => {
                let samplers: Vec<&Sampler> = rows.iter().map(|r| &r.sampler).collect();
                Some(DeviceFilters::new(
                    &samplers,
                    self.model.config().vocab_size,
                    self.model.device(),
                )?)
            }
        };
        let (logits, state) = prime(self.model, &prompts, &labels, PRIME_POSITIONS)?;
        self.filters = match (self.filters.take(), filters) {
            (Some(old), Some(new)) => Some(old.cat(new)?),
            (old, new) => new.or(old),
        };
        self.next = Some(match self.next.take() {
            None => (logits, state),
            Some((l, s)) => (Tensor::f_cat(&[l, logits], 0)?, State::cat(&[s, state])?),
        });
        self.rows.extend(rows);
        Ok(())
    }

    /// Drops rows (e.g. requests whose client went away) from the batch.
    pub fn remove(&mut self, keys: &[u64]) -> Result<()> {
        let keep: Vec<usize> = (0..self.rows.len())
            .filter(|&j| !keys.contains(&self.rows[j].key))
            .collect();
        self.keep_rows(&keep)
    }

    fn keep_rows(&mut self, keep: &[usize]) -> Result<()> {
        let Some((logits, state)) = self.next.take() else {
            return Ok(());
        };
        self.next = match self.retain(keep)? {
            _ if self.rows.is_empty() => None,
            None => Some((logits, state)),
            Some(index) => Some((logits.f_index_select(0, &index)?, state.select(&index)?)),
        };
        Ok(())
    }

    /// Keeps the rows `keep` (ascending positions) and returns the index tensor that selects
    /// them from the batch's tensors; `None` when every row stays.
    fn retain(&mut self, keep: &[usize]) -> Result<Option<Tensor>> {
        if keep.len() == self.rows.len() {
            return Ok(None);
        }
        let mut taken: Vec<Option<Row>> = std::mem::take(&mut self.rows)
            .into_iter()
            .map(Some)
            .collect();
        self.rows = keep.iter().filter_map(|&j| taken[j].take()).collect();
        let index: Vec<i64> = keep.iter().map(|&j| j as i64).collect();
        let index = Tensor::f_from_slice(&index)?.f_to_device(self.model.device())?;
        self.filters = match self.filters.take() {
            Some(_) if keep.is_empty() => None,
            Some(f) => Some(f.select(keep, &index)?),
            None => None,
        };
        Ok(Some(index))
    }

    /// One step: every row samples its next id and reports its new text; finished rows leave
    /// the batch; the others advance the network by one id.
    pub fn step(&mut self) -> Result<Vec<RowEvent>> {
        match self.on {
            SampleOn::Host => self.host_step(),
            SampleOn::Device => self.device_block(1),
        }
    }

    /// Up to `steps` steps (at least one), their events in step order. Sampling on the device,
    /// the ids stay there for the whole block and come back in one copy; rows that finish
    /// inside the block leave the batch at its end (the extra steps they ran are dropped, and
    /// change nothing for the other rows, since every row draws from its own stream). On the
    /// host it is `steps` calls of [`Batcher::step`]. The block is never longer than the
    /// longest length limit left.
    pub fn step_block(&mut self, steps: usize) -> Result<Vec<RowEvent>> {
        match self.on {
            SampleOn::Device => self.device_block(steps),
            SampleOn::Host => {
                let mut events = Vec::new();
                for _ in 0..steps.max(1) {
                    if self.is_empty() {
                        break;
                    }
                    events.extend(self.host_step()?);
                }
                Ok(events)
            }
        }
    }

    fn host_step(&mut self) -> Result<Vec<RowEvent>> {
        let Some((logits, state)) = self.next.take() else {
            return Ok(Vec::new());
        };
        let _guard = tch::no_grad_guard();
        let n = self.rows.len();
        let v = self.model.config().vocab_size;
        self.host.resize(n * v, 0.0);
        logits
            .f_to_device(Device::Cpu)?
            .f_to_kind(Kind::Float)?
            .f_contiguous()?
            .f_copy_data(&mut self.host[..n * v], n * v)?;
        let mut events = Vec::with_capacity(n);
        let mut keep = Vec::with_capacity(n);
        let mut next_ids = Vec::with_capacity(n);
        for (j, row) in self.rows.iter_mut().enumerate() {
            let id = row
                .sampler
                .sample_row(row.stream, &self.host[j * v..(j + 1) * v])?;
            let event = row.advance(id, self.vocab);
            if event.done.is_none() {
                keep.push(j);
                next_ids.push(i64::from(id));
            }
            events.push(event);
        }
        // The step's logits are spent: only the state of the rows that go on is kept.
        drop(logits);
        let state = match self.retain(&keep)? {
            None => state,
            Some(_) if self.rows.is_empty() => return Ok(events),
            Some(index) => state.select(&index)?,
        };
        let device = self.model.device();
        let input = Tensor::f_from_slice(&next_ids)?
            .f_view([next_ids.len() as i64, 1])?
            .f_to_device(device)?;
        let labels = label_tensor(self.rows.iter().map(|r| r.label), device)?;
        let (l, s) = self
            .model
            .forward_unchecked(&input, labels.as_ref(), Some(&state), false)?;
        self.next = Some((l.f_select(1, 0)?, s));
        Ok(events)
    }
}

impl Row {
    /// Takes the row's next id: its text, the stop checks, the piece that may be streamed.
    fn advance(&mut self, id: u32, vocab: &Vocab) -> RowEvent {
        self.ids.push(id);
        let mut piece = vocab.decode(&[id]);
        if vocab.level() == Level::Word && !piece.is_empty() && !self.text.is_empty() {
            piece.insert(0, ' ');
        }
        self.text.push_str(&piece);
        let (end, done) = match self.stop.check(id, self.ids.len(), &self.text) {
            Some(reason) => {
                let kept = self.stop.strip_stop_string(&self.text, reason).len();
                self.text.truncate(kept);
                (kept, Some(reason))
            }
            None => {
                let held = pending_stop_prefix(&self.text, &self.stop.stop_strings);
                (self.text.len() - held, None)
            }
        };
        let piece = if end > self.streamed {
            self.text[self.streamed..end].to_owned()
        } else {
            String::new()
        };
        self.streamed = self.streamed.max(end);
        RowEvent {
            key: self.key,
            id,
            piece,
            done,
            generated: self.ids.len(),
        }
    }
}

/// Length of the longest end of `text` that is a proper, non-empty start of a stop string.
pub(crate) fn pending_stop_prefix(text: &str, stops: &[String]) -> usize {
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

/// The `[rows]` label tensor of a labelled batch (`None` when the rows carry no label).
fn label_tensor(
    labels: impl Iterator<Item = Option<u32>>,
    device: Device,
) -> Result<Option<Tensor>> {
    let labels: Option<Vec<i64>> = labels.map(|l| l.map(i64::from)).collect();
    match labels {
        Some(l) if !l.is_empty() => Ok(Some(Tensor::f_from_slice(&l)?.f_to_device(device)?)),
        _ => Ok(None),
    }
}

/// The most positions (prompts × steps) one priming call runs: longer prompts are run in
/// pieces, the state carried, which gives the same logits and bounds the memory the network's
/// activations take (a 600,000-character prompt failed in one call).
const PRIME_POSITIONS: usize = 1 << 16;

/// Runs every prompt through the network, one sequence call per distinct prompt length (in
/// pieces of at most `positions` positions), and returns the last-step logits `[n, vocab]` and
/// the states, in prompt order.
fn prime(
    model: &CharRnn,
    prompts: &[Vec<u32>],
    labels: &[Option<u32>],
    positions: usize,
) -> Result<(Tensor, State)> {
    let device = model.device();
    let mut by_len: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, p) in prompts.iter().enumerate() {
        by_len.entry(p.len()).or_default().push(i);
    }
    let mut logits = Vec::new();
    let mut states = Vec::new();
    let mut order: Vec<usize> = Vec::with_capacity(prompts.len());
    for (len, rows) in &by_len {
        let label = label_tensor(rows.iter().map(|&i| labels[i]), device)?;
        let piece = (positions / rows.len()).max(1);
        let mut carried: Option<(Tensor, State)> = None;
        for start in (0..*len).step_by(piece) {
            let end = (start + piece).min(*len);
            let flat: Vec<i64> = rows
                .iter()
                .flat_map(|&i| prompts[i][start..end].iter().map(|&id| i64::from(id)))
                .collect();
            let input = Tensor::f_from_slice(&flat)?
                .f_view([rows.len() as i64, (end - start) as i64])?
                .f_to_device(device)?;
            // Encoded by the vocabulary, labels checked by `Batcher::check`.
            let (l, s) = model.forward_unchecked(
                &input,
                label.as_ref(),
                carried.as_ref().map(|(_, s)| s),
                false,
            )?;
            carried = Some((l.f_select(1, (end - start) as i64 - 1)?, s));
        }
        let Some((l, s)) = carried else {
            return Err(ModelError::InvalidInput(
                "an empty prompt reached the network".into(),
            ));
        };
        logits.push(l);
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
    let mut inverse = vec![0i64; order.len()];
    for (k, &i) in order.iter().enumerate() {
        inverse[i] = k as i64;
    }
    let index = Tensor::f_from_slice(&inverse)?.f_to_device(device)?;
    Ok((logits.f_index_select(0, &index)?, state.select(&index)?))
}

#[cfg(test)]
mod tests;
