//! The sampler: per-row RNG streams and schedule steps, reusable scratch buffers, the filters.

use std::collections::HashMap;
use std::fmt;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::filters::{Filters, Kept, Scratch, draw_dense, draw_sparse};
use crate::math::unit_f64;
use crate::{SamplingConfig, SamplingError};

/// Rows below this index keep their state in a vector; higher ones (rare) in a hash map, so a
/// huge row index costs one entry instead of a huge allocation.
const DENSE_ROWS: usize = 4096;

/// The filters a [`Sampler`] applies ([`Sampler::active_filters`]), each `None` where it
/// would keep every id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActiveFilters<'a> {
    /// Keep the `k` best allowed ids (only when `k` is below the number of allowed ids).
    pub top_k: Option<usize>,
    /// The nucleus mass (only when below 1).
    pub top_p: Option<f64>,
    /// The min-p ratio (only when above 0).
    pub min_p: Option<f64>,
    /// The banned ids, ascending, without repeats.
    pub banned: &'a [usize],
}

/// Draws ids from rows of logits according to a validated [`SamplingConfig`].
///
/// Each row index `r` owns a ChaCha20 stream (key = the seed's 8 little-endian bytes followed by
/// zeros, stream number = `r`) and a schedule step, created the first time `r` is sampled. A row
/// therefore draws the same ids whether it is sampled alone or inside any batch, and whatever
/// the other rows do. Every non-greedy draw consumes exactly one `u64` of its row's stream.
///
/// Scratch buffers are sized once for the vocabulary, so sampling allocates nothing per step
/// (only the first use of a new row index creates that row's state).
///
/// Logits may be `-inf`, the usual way to mask ids: such an id gets probability exactly 0 under
/// every strategy (greedy, any temperature, top-k, top-p, min-p), as if it were banned for that
/// row alone. NaN and `+inf` logits are refused ([`SamplingError::NonFiniteLogit`]), and so is a
/// row where every id that is not banned is `-inf` ([`SamplingError::AllMasked`]): nothing could
/// be drawn from it.
pub struct Sampler {
    config: SamplingConfig,
    seed: u64,
    filters: Filters,
    scratch: Scratch,
    rows: Rows,
}

impl fmt::Debug for Sampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sampler")
            .field("config", &self.config)
            .field("vocab_size", &self.filters.vocab_size)
            .field("seed", &self.seed)
            .field("rows_started", &self.rows.len())
            .finish()
    }
}

impl Sampler {
    /// Validates `config` against a vocabulary of `vocab_size` ids and prepares the scratch
    /// buffers. Fails on any invalid parameter, on a banned id `≥ vocab_size`, or when every id is
    /// banned.
    pub fn new(
        config: SamplingConfig,
        vocab_size: usize,
        seed: u64,
    ) -> Result<Self, SamplingError> {
        config.validate()?;
        if vocab_size == 0 {
            return Err(SamplingError::EmptyVocab);
        }
        if u32::try_from(vocab_size - 1).is_err() {
            return Err(SamplingError::VocabTooLarge(vocab_size));
        }
        let too_large = |_| SamplingError::VocabTooLarge(vocab_size);
        let mut banned: Vec<bool> = Vec::new();
        banned.try_reserve_exact(vocab_size).map_err(too_large)?;
        banned.resize(vocab_size, false);
        for &id in &config.banned {
            match banned.get_mut(id as usize) {
                Some(slot) => *slot = true,
                None => return Err(SamplingError::BannedOutOfRange { id, vocab_size }),
            }
        }
        let allowed = banned.iter().filter(|b| !**b).count();
        if allowed == 0 {
            return Err(SamplingError::AllBanned(vocab_size));
        }
        let mut candidates: Vec<u32> = Vec::new();
        candidates.try_reserve_exact(allowed).map_err(too_large)?;
        candidates.extend((0..vocab_size).filter(|&i| !banned[i]).map(|i| i as u32));
        let banned_ids: Vec<usize> = (0..vocab_size).filter(|&i| banned[i]).collect();
        let mut runs = Vec::new();
        let mut start = 0;
        for &b in banned_ids.iter().chain(std::iter::once(&vocab_size)) {
            if start < b {
                runs.push(start..b);
            }
            start = b + 1;
        }
        let filters = Filters {
            top_k: config.top_k.filter(|&k| k < allowed),
            top_p: config.top_p.map(f64::from).filter(|&p| p < 1.0),
            min_p: config.min_p.map(f64::from).filter(|&p| p > 0.0),
            vocab_size,
            banned_ids,
            runs,
            candidates,
        };
        let scratch = Scratch::new(&filters)?;
        Ok(Self {
            config,
            seed,
            filters,
            scratch,
            rows: Rows::default(),
        })
    }

    /// The configuration this sampler was built from.
    pub fn config(&self) -> &SamplingConfig {
        &self.config
    }

    /// The filters this sampler applies, normalised against its vocabulary: a setting that
    /// would keep every id is `None`. For samplers that apply the same filters elsewhere.
    pub fn active_filters(&self) -> ActiveFilters<'_> {
        ActiveFilters {
            top_k: self.filters.top_k,
            top_p: self.filters.top_p,
            min_p: self.filters.min_p,
            banned: &self.filters.banned_ids,
        }
    }

    /// Number of ids per row of logits.
    pub fn vocab_size(&self) -> usize {
        self.filters.vocab_size
    }

    /// The seed all row streams derive from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Forgets every row's RNG position and schedule step: the next draws repeat the first ones.
    pub fn reset(&mut self) {
        self.rows = Rows::default();
    }

    /// Samples one id per row of `logits`, a row-major `[out.len(), vocab_size]` buffer; row `i`
    /// uses RNG stream `i` and its own schedule step.
    ///
    /// All rows are checked (shape, no NaN or `+inf`, something left that is not `-inf` or
    /// banned) before any is sampled, so on error nothing has advanced and `out` is untouched.
    pub fn sample_batch(&mut self, logits: &[f32], out: &mut [u32]) -> Result<(), SamplingError> {
        let vocab_size = self.vocab_size();
        if out.len().checked_mul(vocab_size) != Some(logits.len()) {
            return Err(SamplingError::BatchShape {
                got: logits.len(),
                rows: out.len(),
                vocab_size,
            });
        }
        check_logits(&self.filters, logits, |r| r)?;
        for (r, (row, slot)) in logits.chunks_exact(vocab_size).zip(out).enumerate() {
            *slot = self.sample_valid(r, row);
        }
        Ok(())
    }

    /// Like [`sample_batch`](Self::sample_batch), but row `j` of the buffer belongs to sequence
    /// `row_ids[j]` and uses that sequence's stream: for batches that shrink as sequences finish.
    /// `out.len()` must equal `row_ids.len()`; a repeated id advances that stream once per entry.
    pub fn sample_rows(
        &mut self,
        row_ids: &[usize],
        logits: &[f32],
        out: &mut [u32],
    ) -> Result<(), SamplingError> {
        let vocab_size = self.vocab_size();
        if out.len() != row_ids.len() || out.len().checked_mul(vocab_size) != Some(logits.len()) {
            return Err(SamplingError::BatchShape {
                got: logits.len(),
                rows: row_ids.len(),
                vocab_size,
            });
        }
        check_logits(&self.filters, logits, |j| row_ids[j])?;
        for ((&r, row), slot) in row_ids.iter().zip(logits.chunks_exact(vocab_size)).zip(out) {
            *slot = self.sample_valid(r, row);
        }
        Ok(())
    }

    /// Samples one id from a single row of `vocab_size` logits with the stream of row `row`.
    pub fn sample_row(&mut self, row: usize, logits: &[f32]) -> Result<u32, SamplingError> {
        self.check_row(row, logits)?;
        Ok(self.sample_valid(row, logits))
    }

    /// Writes into `out` (length `vocab_size`) the probabilities the next
    /// [`sample_row`](Self::sample_row)`(row, logits)` would draw from, after temperature (at the
    /// row's current schedule step) and every filter; banned and filtered ids get exactly 0.
    /// Greedy gives a one-hot vector. Advances nothing. The probabilities are `f64`, the
    /// precision the sampler weighs and draws in.
    ///
    /// It takes `&self`: the weights are computed in buffers of its own, allocated for the call
    /// (`O(vocab_size)`), so that it needs no exclusive access; the sampling calls keep using
    /// the sampler's buffers and allocate nothing.
    ///
    /// # Errors
    /// Those of [`sample_row`](Self::sample_row) for the row (its length, NaN or `+inf`, nothing
    /// left but `-inf` and banned ids), and [`SamplingError::OutputLength`] for `out`.
    pub fn distribution(
        &self,
        row: usize,
        logits: &[f32],
        out: &mut [f64],
    ) -> Result<(), SamplingError> {
        self.check_row(row, logits)?;
        if out.len() != self.vocab_size() {
            return Err(SamplingError::OutputLength {
                got: out.len(),
                vocab_size: self.vocab_size(),
            });
        }
        let (best, max) = self.filters.argmax(logits);
        let t = self
            .config
            .temperature
            .as_slice()
            .map(|ts| ts[self.rows.step(row) % ts.len()]);
        match t {
            None => {
                out.fill(0.0);
                out[best] = 1.0;
            }
            Some(t) => {
                let mut scratch = Scratch::new(&self.filters)?;
                let kept = self
                    .filters
                    .weigh(&mut scratch, logits, max, 1.0 / f64::from(t));
                match kept {
                    Kept::Dense { total } => {
                        for (o, &w) in out.iter_mut().zip(&scratch.weights) {
                            *o = w / total;
                        }
                    }
                    Kept::Sparse { len, total } => {
                        out.fill(0.0);
                        for (&key, &w) in scratch.keys[..len].iter().zip(&scratch.sparse) {
                            out[key as u32 as usize] = w / total;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Advances row `row` exactly as one [`sample_row`](Self::sample_row) would (its stream by
    /// one `u64`, its schedule by one step) and returns what that draw would use: the
    /// temperature and the uniform number in `[0, 1)`. `None` for greedy decoding, which draws
    /// nothing and advances nothing.
    ///
    /// This is for samplers that apply the same filters elsewhere (on a GPU, say): fed these
    /// numbers and an inverse-CDF draw in id order, they follow the same random streams as this
    /// sampler, so the same seed gives the same samples up to floating-point rounding.
    pub fn next_draw(&mut self, row: usize) -> Option<(f32, f64)> {
        let temperatures = self.config.temperature.as_slice()?;
        let state = self.rows.get_mut(self.seed, row);
        let t = temperatures[state.step % temperatures.len()];
        state.step = (state.step + 1) % temperatures.len();
        Some((t, unit_f64(state.rng.next_u64())))
    }

    fn check_row(&self, row: usize, logits: &[f32]) -> Result<(), SamplingError> {
        if logits.len() != self.vocab_size() {
            return Err(SamplingError::RowLength {
                got: logits.len(),
                vocab_size: self.vocab_size(),
            });
        }
        check_logits(&self.filters, logits, |_| row)
    }

    /// Samples a row already checked by [`check_logits`]; cannot fail.
    fn sample_valid(&mut self, row: usize, logits: &[f32]) -> u32 {
        let (best, max) = self.filters.argmax(logits);
        let temperatures = match self.config.temperature.as_slice() {
            None => return best as u32,
            Some(ts) => ts,
        };
        let state = self.rows.get_mut(self.seed, row);
        let t = temperatures[state.step % temperatures.len()];
        state.step = (state.step + 1) % temperatures.len();
        let kept = self
            .filters
            .weigh(&mut self.scratch, logits, max, 1.0 / f64::from(t));
        let u = unit_f64(state.rng.next_u64());
        match kept {
            Kept::Dense { total } => draw_dense(&self.scratch.weights, total, u) as u32,
            Kept::Sparse { len, total } => draw_sparse(
                &self.scratch.keys[..len],
                &self.scratch.sparse[..len],
                total,
                u,
            ),
        }
    }
}

/// Checks rows of logits (`logits` holds whole rows): NaN and `+inf` are refused, `-inf` is
/// probability 0, and every row must keep an id that is neither `-inf` nor banned. `row_of`
/// maps a row's position in `logits` to the row named in errors.
///
/// Rows without `-inf` (the usual case) cost one vectorised pass, as before `-inf` was
/// accepted; only buffers holding `-inf` are looked at again, row by row.
fn check_logits(
    filters: &Filters,
    logits: &[f32],
    row_of: impl Fn(usize) -> usize,
) -> Result<(), SamplingError> {
    // Block-wise, without early exit inside a block, so that the test vectorises.
    const CHECK_BLOCK: usize = 1024;
    let vocab_size = filters.vocab_size;
    let mut masked = false;
    for (b, block) in logits.chunks(CHECK_BLOCK).enumerate() {
        if block.iter().fold(true, |ok, v| ok & v.is_finite()) {
            continue;
        }
        // Not all finite: NaN or +inf is an error, -inf only asks for the row check below.
        if let Some(i) = block.iter().position(|v| v.is_nan() || *v == f32::INFINITY) {
            let pos = b * CHECK_BLOCK + i;
            return Err(SamplingError::NonFiniteLogit {
                row: row_of(pos / vocab_size),
                id: pos % vocab_size,
                value: logits[pos],
            });
        }
        masked = true;
    }
    if masked {
        for (r, row) in logits.chunks_exact(vocab_size).enumerate() {
            // No NaN or +inf is left, so finite means "not -inf".
            let open = filters
                .runs
                .iter()
                .any(|run| row[run.clone()].iter().any(|v| v.is_finite()));
            if !open {
                return Err(SamplingError::AllMasked { row: row_of(r) });
            }
        }
    }
    Ok(())
}

struct RowState {
    rng: ChaCha20Rng,
    step: usize,
}

impl RowState {
    fn new(seed: u64, row: usize) -> Self {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        let mut rng = ChaCha20Rng::from_seed(key);
        rng.set_stream(row as u64);
        Self { rng, step: 0 }
    }
}

#[derive(Default)]
struct Rows {
    dense: Vec<Option<RowState>>,
    sparse: HashMap<usize, RowState>,
}

impl Rows {
    fn get_mut(&mut self, seed: u64, row: usize) -> &mut RowState {
        if row < DENSE_ROWS {
            if self.dense.len() <= row {
                self.dense.resize_with(row + 1, || None);
            }
            self.dense[row].get_or_insert_with(|| RowState::new(seed, row))
        } else {
            self.sparse
                .entry(row)
                .or_insert_with(|| RowState::new(seed, row))
        }
    }

    fn step(&self, row: usize) -> usize {
        let state = if row < DENSE_ROWS {
            self.dense.get(row).and_then(Option::as_ref)
        } else {
            self.sparse.get(&row)
        };
        state.map_or(0, |s| s.step)
    }

    fn len(&self) -> usize {
        self.dense.iter().filter(|s| s.is_some()).count() + self.sparse.len()
    }
}
