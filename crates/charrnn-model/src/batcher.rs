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
use crate::eval::upload;
use crate::network::{CharRnn, State};

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
                let configs: Vec<&SamplingConfig> =
                    rows.iter().map(|r| r.sampler.config()).collect();
                Some(DeviceFilters::new(
                    &configs,
                    self.model.config().vocab_size,
                    self.model.device(),
                )?)
            }
        };
        let (logits, state) = prime(self.model, &prompts, &labels)?;
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
            .forward(&input, labels.as_ref(), Some(&state), false)?;
        self.next = Some((l.f_select(1, 0)?, s));
        Ok(events)
    }
}

impl Batcher<'_> {
    /// [`Batcher::step_block`] sampling on the device.
    fn device_block(&mut self, steps: usize) -> Result<Vec<RowEvent>> {
        let Some((mut logits, mut state)) = self.next.take() else {
            return Ok(Vec::new());
        };
        let Some(filters) = &self.filters else {
            return Err(ModelError::InvalidInput(
                "device sampling without the rows' filters".into(),
            ));
        };
        let _guard = tch::no_grad_guard();
        let device = self.model.device();
        let n = self.rows.len();
        let longest = self
            .rows
            .iter()
            .map(|r| r.stop.max_len.saturating_sub(r.ids.len()));
        let k = steps.clamp(1, longest.max().unwrap_or(1).max(1));
        // The block's random numbers and temperatures, from each row's host stream: what the
        // host sampler would draw with, so both placements follow the same streams.
        let mut u = vec![0f64; n * k];
        let mut inv_t = vec![1f64; n * k];
        for (r, row) in self.rows.iter_mut().enumerate() {
            for j in 0..k {
                if let Some((t, x)) = row.sampler.next_draw(row.stream) {
                    u[r * k + j] = x;
                    inv_t[r * k + j] = 1.0 / f64::from(t);
                }
            }
        }
        let u = upload(
            Tensor::f_from_slice(&u)?.f_view([n as i64, k as i64])?,
            device,
        )?;
        let inv_t = upload(
            Tensor::f_from_slice(&inv_t)?.f_view([n as i64, k as i64])?,
            device,
        )?;
        let labels = label_tensor(self.rows.iter().map(|r| r.label), device)?;
        let mut ids = Vec::with_capacity(k);
        for j in 0..k as i64 {
            let id = filters.sample(&logits, &u.f_select(1, j)?, &inv_t.f_narrow(1, j, 1)?)?;
            let (l, s) = self.model.forward(
                &id.f_view([n as i64, 1])?,
                labels.as_ref(),
                Some(&state),
                false,
            )?;
            logits = l.f_select(1, 0)?;
            state = s;
            ids.push(id);
        }
        // The one copy back of the block.
        let block = Tensor::f_stack(&ids, 1)?.f_to_device(Device::Cpu)?;
        let mut host = vec![0i64; n * k];
        block.f_copy_data(&mut host, n * k)?;
        let mut events = Vec::with_capacity(n * k);
        let mut done = vec![false; n];
        for j in 0..k {
            for (r, row) in self.rows.iter_mut().enumerate() {
                if done[r] {
                    continue;
                }
                let id = u32::try_from(host[r * k + j]).map_err(|_| {
                    ModelError::InvalidInput(format!(
                        "the device sampler drew id {}",
                        host[r * k + j]
                    ))
                })?;
                let event = row.advance(id, self.vocab);
                done[r] = event.done.is_some();
                events.push(event);
            }
        }
        let keep: Vec<usize> = (0..n).filter(|&r| !done[r]).collect();
        self.next = match self.retain(&keep)? {
            None => Some((logits, state)),
            Some(_) if self.rows.is_empty() => None,
            Some(index) => Some((logits.f_index_select(0, &index)?, state.select(&index)?)),
        };
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

/// Runs every prompt through the network, one sequence call per distinct prompt length, and
/// returns the last-step logits `[n, vocab]` and the states, in prompt order.
fn prime(model: &CharRnn, prompts: &[Vec<u32>], labels: &[Option<u32>]) -> Result<(Tensor, State)> {
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
        let label = label_tensor(rows.iter().map(|&i| labels[i]), device)?;
        let (l, s) = model.forward(&input, label.as_ref(), None, false)?;
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
    let mut inverse = vec![0i64; order.len()];
    for (k, &i) in order.iter().enumerate() {
        inverse[i] = k as i64;
    }
    let index = Tensor::f_from_slice(&inverse)?.f_to_device(device)?;
    Ok((logits.f_index_select(0, &index)?, state.select(&index)?))
}

#[cfg(test)]
mod tests {
    use charrnn_vocab::VocabOptions;

    use super::*;
    use crate::ModelConfig;

    fn request(prompt: &str, seed: u64, stream: usize, max_len: usize) -> RowRequest {
        RowRequest {
            prompt: prompt.into(),
            label: None,
            sampling: SamplingConfig::with_temperature(1.0),
            seed,
            stream,
            max_len,
            stop_strings: Vec::new(),
            unknown: Unknown::Error,
            prepend_bos: true,
            ignore_eos: false,
        }
    }

    /// Runs the batch to the end; `later` joins after `delay` steps. Returns each key's ids.
    fn run(
        batcher: &mut Batcher<'_>,
        first: Vec<(u64, RowRequest)>,
        later: Vec<(u64, RowRequest)>,
        delay: usize,
    ) -> BTreeMap<u64, Vec<u32>> {
        let mut out: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
        batcher.join(first).unwrap();
        let mut later = Some(later);
        let mut step = 0;
        while !batcher.is_empty() || later.is_some() {
            if step == delay {
                batcher.join(later.take().unwrap_or_default()).unwrap();
            }
            for e in batcher.step().unwrap() {
                out.entry(e.key).or_default().push(e.id);
            }
            step += 1;
        }
        out
    }

    /// A row samples the same ids alone, in a batch, and when others join or leave mid-way.
    #[test]
    fn joining_and_leaving_never_change_a_rows_samples() {
        let texts = [
            "the cat sat on the mat",
            "a dog ran far away",
            "zebras eat grass",
        ];
        let vocab = Vocab::build(texts.iter().copied(), &VocabOptions::default()).unwrap();
        let mut config = ModelConfig::new(vocab.len());
        config.hidden = 12;
        config.num_layers = 2;
        let model = CharRnn::new(&config, Device::Cpu, 7).unwrap();
        let mut on_host = None;
        for on in [SampleOn::Host, SampleOn::Device] {
            let mut batcher = Batcher::new(&model, &vocab).unwrap();
            batcher.sample_on(on).unwrap();
            let alone = run(
                &mut batcher,
                vec![(1, request("the ", 5, 0, 30))],
                vec![],
                0,
            );
            // Both placements follow the same streams.
            assert_eq!(on_host.get_or_insert_with(|| alone.clone()), &alone, "{on}");
            for delay in [0, 3, 11] {
                let mixed = run(
                    &mut batcher,
                    vec![(1, request("the ", 5, 0, 30)), (2, request("", 9, 1, 4))],
                    vec![
                        (3, request("zebras eat", 1, 0, 40)),
                        (4, request("a", 5, 0, 2)),
                    ],
                    delay,
                );
                assert_eq!(mixed[&1], alone[&1], "joined at step {delay}");
                assert!(
                    mixed[&2].len() <= 4 && mixed[&4].len() <= 2,
                    "length limits hold"
                );
            }
            // The same seed and stream give the same samples whatever the key.
            let again = run(
                &mut batcher,
                vec![(9, request("the ", 5, 0, 30))],
                vec![],
                0,
            );
            assert_eq!(again[&9], alone[&1]);
            // A removed row stops; the others go on.
            batcher
                .join(vec![
                    (1, request("the ", 5, 0, 30)),
                    (2, request("a", 2, 0, 30)),
                ])
                .unwrap();
            batcher.step().unwrap();
            batcher.remove(&[2]).unwrap();
            assert_eq!(batcher.len(), 1);
            let events = batcher.step().unwrap();
            assert!(events.iter().all(|e| e.key == 1));
        }
    }

    #[test]
    fn bad_requests_are_refused_and_nothing_joins() {
        let vocab = Vocab::build(["abc"], &VocabOptions::default()).unwrap();
        let mut config = ModelConfig::new(vocab.len());
        config.hidden = 4;
        config.num_layers = 1;
        let model = CharRnn::new(&config, Device::Cpu, 0).unwrap();
        let mut batcher = Batcher::new(&model, &vocab).unwrap();
        let mut labelled = request("ab", 0, 0, 5);
        labelled.label = Some(1);
        assert!(
            batcher.check(&labelled).is_err(),
            "an unlabelled model takes no label"
        );
        let err = batcher
            .join(vec![
                (1, request("ab", 0, 0, 5)),
                (2, request("xyz", 0, 0, 5)),
            ])
            .unwrap_err()
            .to_string();
        assert!(err.contains('x'), "{err}");
        assert!(batcher.is_empty());
    }
}
