//! The filters (banned ids, top-k, top-p, min-p, in Hugging Face's order) and the draws from
//! the weights they keep, over reusable scratch buffers.

use std::ops::Range;

use crate::SamplingError;
use crate::math::exp_nonpos;

/// Vocabularies up to this size find the top-p nucleus by sorting every id.
pub(crate) const NUCLEUS_SORT_ALL: usize = 256;
/// Buckets of `(max - logit) / T` used to find the nucleus of larger vocabularies.
pub(crate) const NUCLEUS_BUCKETS: usize = 1024;
const NUCLEUS_BUCKETS_PER_NAT: f64 = 16.0;
/// Minimum strided sample used to bound the `k`-th best logit on large vocabularies.
const TOP_K_SAMPLE: usize = 256;

/// The banned mask and the active filters, normalised so that no-op settings are `None`.
pub(crate) struct Filters {
    pub(crate) vocab_size: usize,
    /// Banned ids, ascending, without repeats.
    pub(crate) banned_ids: Vec<usize>,
    /// Maximal runs of consecutive allowed ids, ascending.
    pub(crate) runs: Vec<Range<usize>>,
    /// Allowed ids, ascending.
    pub(crate) candidates: Vec<u32>,
    /// Only when smaller than the number of allowed ids.
    pub(crate) top_k: Option<usize>,
    /// Only when < 1.
    pub(crate) top_p: Option<f64>,
    /// Only when > 0.
    pub(crate) min_p: Option<f64>,
}

/// Buffers reused by every draw (sized at construction).
pub(crate) struct Scratch {
    /// One weight per id (dense path).
    pub(crate) weights: Vec<f64>,
    /// Sort keys of candidate ids (see [`sort_key`]; the low 32 bits are the id); after a
    /// sparse fill, the kept ids.
    pub(crate) keys: Vec<u64>,
    /// Weights of `keys[..len]` (sparse path).
    pub(crate) sparse: Vec<f64>,
    /// Top-p on large vocabularies: bucket of each id, mass of each bucket, and the sort keys
    /// of the bucket where the nucleus ends (empty unless top-p runs without top-k).
    pub(crate) buckets: Vec<u16>,
    pub(crate) bucket_mass: Vec<f64>,
    pub(crate) boundary: Vec<u64>,
}

/// Where the filtered, unnormalised weights of a row are and what they sum to (always > 0:
/// the top id has weight exactly 1 and survives every filter).
#[derive(Clone, Copy)]
pub(crate) enum Kept {
    /// `scratch.weights[id]` for every id, summed with [`dense_total`].
    Dense { total: f64 },
    /// `scratch.sparse[j]` is the weight of id `scratch.keys[j] as u32`, `j < len`, summed in
    /// that order (descending logit, except that the bucketed top-p path lists the buckets it
    /// takes whole first, in id order).
    Sparse { len: usize, total: f64 },
}

impl Scratch {
    /// Buffers sized for `filters`: one weight per id, a key and a sparse weight per allowed
    /// id, and the top-p buckets when top-p runs without top-k on a large vocabulary.
    ///
    /// # Errors
    /// [`SamplingError::VocabTooLarge`] when the memory cannot be reserved.
    pub(crate) fn new(filters: &Filters) -> Result<Scratch, SamplingError> {
        let vocab_size = filters.vocab_size;
        let allowed = filters.candidates.len();
        let too_large = |_| SamplingError::VocabTooLarge(vocab_size);
        let mut weights: Vec<f64> = Vec::new();
        weights.try_reserve_exact(vocab_size).map_err(too_large)?;
        weights.resize(vocab_size, 0.0);
        let mut keys: Vec<u64> = Vec::new();
        keys.try_reserve_exact(allowed).map_err(too_large)?;
        let mut sparse: Vec<f64> = Vec::new();
        sparse.try_reserve_exact(allowed).map_err(too_large)?;
        let (mut buckets, mut bucket_mass) = (Vec::new(), Vec::new());
        let mut boundary: Vec<u64> = Vec::new();
        if filters.top_p.is_some() && filters.top_k.is_none() && vocab_size > NUCLEUS_SORT_ALL {
            buckets.try_reserve_exact(vocab_size).map_err(too_large)?;
            buckets.resize(vocab_size, 0u16);
            bucket_mass.resize(NUCLEUS_BUCKETS, 0.0f64);
            boundary.try_reserve_exact(allowed).map_err(too_large)?;
        }
        Ok(Scratch {
            weights,
            keys,
            sparse,
            buckets,
            bucket_mass,
            boundary,
        })
    }
}

impl Filters {
    /// Highest allowed logit and its id (lowest id on ties).
    ///
    /// Two vectorisable passes: the maximum of order-preserving integer keys, then the first id
    /// holding it.
    pub(crate) fn argmax(&self, logits: &[f32]) -> (usize, f32) {
        let top = self
            .runs
            .iter()
            .map(|run| {
                logits[run.clone()]
                    .iter()
                    .map(|&l| ordered_key(l))
                    .fold(i32::MIN, i32::max)
            })
            .fold(i32::MIN, i32::max);
        for run in &self.runs {
            let run_logits = &logits[run.clone()];
            for (b, block) in run_logits.chunks(BLOCK).enumerate() {
                if block
                    .iter()
                    .fold(false, |hit, &l| hit | (ordered_key(l) == top))
                {
                    let i = block
                        .iter()
                        .position(|&l| ordered_key(l) == top)
                        .unwrap_or(0);
                    let best = run.start + b * BLOCK + i;
                    return (best, logits[best]);
                }
            }
        }
        // Unreachable: `top` is the key of some allowed logit.
        let best = self.candidates[0] as usize;
        (best, logits[best])
    }

    /// Computes the unnormalised probabilities after temperature, top-k, top-p and min-p.
    ///
    /// Weights are `exp((logit - max) / T)`, so the top id has weight exactly 1. Without top-k
    /// or top-p every id gets a weight in id order (no sorting at all); with them only the
    /// survivors are kept. Whatever is sorted or selected is ordered by descending logit, ties
    /// by ascending id: a total order, so the result never depends on how `sort_unstable` or
    /// `select_nth_unstable` are implemented.
    pub(crate) fn weigh(
        &self,
        scratch: &mut Scratch,
        logits: &[f32],
        max: f32,
        inv_t: f64,
    ) -> Kept {
        let max = f64::from(max);
        let min_p = self.min_p.unwrap_or(0.0);
        match (self.top_k, self.top_p) {
            (None, None) => {
                self.dense_weights(&mut scratch.weights, logits, max, inv_t, min_p);
                Kept::Dense {
                    total: dense_total(&scratch.weights),
                }
            }
            (Some(k), top_p) => {
                self.top_k_keys(&mut scratch.keys, logits, k);
                let keys = &scratch.keys;
                let sparse = &mut scratch.sparse;
                sparse.clear();
                sparse.extend(keys.iter().map(|&key| {
                    exp_nonpos((f64::from(logits[key as u32 as usize]) - max) * inv_t)
                }));
                let mut len = keys.len();
                if let Some(p) = top_p {
                    // Renormalised over the top-k: the nucleus of what top-k left.
                    let limit = p * sparse.iter().sum::<f64>();
                    let mut cum = 0.0;
                    len = sparse
                        .iter()
                        .position(|&w| {
                            let outside = cum >= limit;
                            cum += w;
                            outside
                        })
                        .unwrap_or(len);
                }
                sparse_tail(&mut scratch.sparse[..len], min_p)
            }
            (None, Some(p)) => {
                self.dense_weights(&mut scratch.weights, logits, max, inv_t, 0.0);
                let limit = p * dense_total(&scratch.weights);
                let len = nucleus(scratch, logits, max, inv_t, limit);
                let sparse = &mut scratch.sparse;
                sparse.clear();
                sparse.extend(
                    scratch.keys[..len]
                        .iter()
                        .map(|&key| scratch.weights[key as u32 as usize]),
                );
                sparse_tail(sparse, min_p)
            }
        }
    }

    /// Sets `keys` to the sort keys of the `k` best allowed ids plus any tied with the `k`-th
    /// (Hugging Face keeps ties), sorted. `k` is less than the number of allowed ids.
    ///
    /// Top-k does not depend on the temperature, so it works on the raw logits. On large
    /// vocabularies a strided sample comes first: its `k`-th best logit is no better than the
    /// true `k`-th best, so the ids at least as good as it are a superset of the answer (ties
    /// included), usually a small one, and only those are selected from.
    pub(crate) fn top_k_keys(&self, keys: &mut Vec<u64>, logits: &[f32], k: usize) {
        let key_of = |id: u32| sort_key(logits[id as usize], id);
        let n = self.candidates.len();
        let sample = (8 * k).max(TOP_K_SAMPLE);
        keys.clear();
        if n >= 4 * sample {
            keys.extend((0..sample).map(|i| {
                let at = (i as u64 * n as u64 / sample as u64) as usize;
                key_of(self.candidates[at])
            }));
            keys.select_nth_unstable(k - 1);
            let bound = keys[k - 1] >> 32;
            keys.clear();
            keys.extend(
                self.candidates
                    .iter()
                    .map(|&id| key_of(id))
                    .filter(|key| key >> 32 <= bound),
            );
        } else {
            keys.extend(self.candidates.iter().map(|&id| key_of(id)));
        }
        if k < keys.len() {
            keys.select_nth_unstable(k - 1);
            let kth_logit = keys[k - 1] >> 32;
            let mut len = k;
            for j in k..keys.len() {
                if keys[j] >> 32 == kth_logit {
                    keys.swap(len, j);
                    len += 1;
                }
            }
            keys.truncate(len);
        }
        keys.sort_unstable();
    }

    /// `weights[id] = exp((logit - max) / T)`, or 0 when banned or under `min_p`.
    pub(crate) fn dense_weights(
        &self,
        weights: &mut [f64],
        logits: &[f32],
        max: f64,
        inv_t: f64,
        min_p: f64,
    ) {
        for (w, &l) in weights.iter_mut().zip(logits) {
            let e = exp_nonpos((f64::from(l) - max) * inv_t);
            *w = if e < min_p { 0.0 } else { e };
        }
        for &id in &self.banned_ids {
            weights[id] = 0.0;
        }
    }
}

/// Applies min-p to sparse weights (compared with the top weight, exactly 1, so the
/// renormalisation of earlier filters does not matter) and sums them in order.
pub(crate) fn sparse_tail(sparse: &mut [f64], min_p: f64) -> Kept {
    let mut total = 0.0;
    for w in sparse.iter_mut() {
        if *w < min_p {
            *w = 0.0;
        }
        total += *w;
    }
    Kept::Sparse {
        len: sparse.len(),
        total,
    }
}

/// An `i32` whose order is the order of `f32`s that are not NaN (`-inf` below every finite
/// value; `-0.0` and `0.0` map to the same key).
#[inline]
pub(crate) fn ordered_key(logit: f32) -> i32 {
    let bits = (logit + 0.0).to_bits() as i32; // + 0.0 turns -0.0 into 0.0
    bits ^ (((bits >> 31) as u32) >> 1) as i32
}

/// Sort key of an id: ascending keys are descending logits, ties by ascending id (`-0.0` and
/// `0.0` count as equal). A total order on distinct ids; the low 32 bits are the id.
#[inline]
pub(crate) fn sort_key(logit: f32, id: u32) -> u64 {
    let ascending = (ordered_key(logit) as u32) ^ (1 << 31);
    (u64::from(!ascending) << 32) | u64::from(id)
}

/// Sets `scratch.keys[..n]` to the top-p nucleus of the dense weights and returns `n`: the
/// ids ranked (descending logit, then id) before the first one at which the running mass
/// reaches `limit`, that one included.
///
/// Small vocabularies are simply sorted. Larger ones are first bucketed by
/// `(max - logit) / T` in steps of 1/16 (a monotone map, so buckets follow the ranking); whole
/// buckets are taken while their mass stays under `limit`, and only the bucket where it is
/// reached is sorted. The running mass is summed bucket by bucket, then in rank order inside
/// the boundary bucket: a fixed order, so the result is reproducible.
pub(crate) fn nucleus(
    scratch: &mut Scratch,
    logits: &[f32],
    max: f64,
    inv_t: f64,
    limit: f64,
) -> usize {
    let Scratch {
        weights,
        keys,
        buckets,
        bucket_mass,
        boundary,
        ..
    } = scratch;
    keys.clear();
    let mut cum = 0.0;
    if weights.len() <= NUCLEUS_SORT_ALL {
        keys.extend(
            weights
                .iter()
                .enumerate()
                .filter(|(_, w)| **w > 0.0)
                .map(|(id, _)| sort_key(logits[id], id as u32)),
        );
        keys.sort_unstable();
        return keys
            .iter()
            .position(|&key| {
                let outside = cum >= limit;
                cum += weights[key as u32 as usize];
                outside
            })
            .unwrap_or(keys.len());
    }

    bucket_mass.clear();
    bucket_mass.resize(NUCLEUS_BUCKETS, 0.0);
    let last_bucket = (NUCLEUS_BUCKETS - 1) as f64;
    for ((slot, &w), &l) in buckets.iter_mut().zip(weights.iter()).zip(logits) {
        // Negative depths (banned ids above the max) saturate to bucket 0, infinite ones
        // (`-inf` logits) to the last bucket; the weight of both is 0.
        let depth = (max - f64::from(l)) * inv_t * NUCLEUS_BUCKETS_PER_NAT;
        let b = depth.min(last_bucket) as usize;
        *slot = b as u16;
        bucket_mass[b] += w;
    }
    let mut edge = NUCLEUS_BUCKETS - 1;
    for (b, &mass) in bucket_mass.iter().enumerate() {
        if cum + mass >= limit {
            edge = b;
            break;
        }
        cum += mass;
    }
    boundary.clear();
    for (id, (&w, &b)) in weights.iter().zip(buckets.iter()).enumerate() {
        if w > 0.0 {
            let b = usize::from(b);
            if b < edge {
                keys.push(sort_key(logits[id], id as u32));
            } else if b == edge {
                boundary.push(sort_key(logits[id], id as u32));
            }
        }
    }
    boundary.sort_unstable();
    // `cum < limit` here, so the boundary's first id always joins.
    for &key in boundary.iter() {
        if cum >= limit {
            break;
        }
        cum += weights[key as u32 as usize];
        keys.push(key);
    }
    keys.len()
}

/// Weights are summed in blocks of this many ids (a fixed order, so totals are reproducible).
const BLOCK: usize = 64;

/// Sum of one block: eight interleaved partial sums combined pairwise (vectorisable, and the
/// same on every platform because the order is spelled out).
#[inline]
pub(crate) fn block_sum(block: &[f64]) -> f64 {
    let mut acc = [0.0f64; 8];
    let mut lanes = block.chunks_exact(8);
    for lane in &mut lanes {
        for (a, &w) in acc.iter_mut().zip(lane) {
            *a += w;
        }
    }
    for (a, &w) in acc.iter_mut().zip(lanes.remainder()) {
        *a += w;
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// Sum of dense weights: block sums added in id order.
pub(crate) fn dense_total(weights: &[f64]) -> f64 {
    weights.chunks(BLOCK).map(block_sum).fold(0.0, |a, b| a + b)
}

/// Inverse-CDF draw over dense weights in id order, consistent with [`dense_total`]: whole
/// blocks are skipped by their sums, and the block where `u * total` falls is scanned.
pub(crate) fn draw_dense(weights: &[f64], total: f64, u: f64) -> usize {
    let target = u * total;
    let mut cum = 0.0;
    for (b, block) in weights.chunks(BLOCK).enumerate() {
        let sum = block_sum(block);
        if cum + sum > target {
            // `sum > 0` here, so the block has a positive weight to fall back on when the
            // running sum misses `target` by a rounding error.
            let mut last = 0;
            for (i, &w) in block.iter().enumerate() {
                if w > 0.0 {
                    cum += w;
                    last = i;
                    if cum > target {
                        break;
                    }
                }
            }
            return b * BLOCK + last;
        }
        cum += sum;
    }
    // Only reachable when rounding put `target` at `total`: the last id with weight wins.
    weights.iter().rposition(|&w| w > 0.0).unwrap_or(0)
}

/// Inverse-CDF draw over the sparse weights, in their stored order.
pub(crate) fn draw_sparse(keys: &[u64], weights: &[f64], total: f64, u: f64) -> u32 {
    let target = u * total;
    let mut cum = 0.0;
    let mut last = 0;
    for (j, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            cum += w;
            last = j;
            if cum > target {
                break;
            }
        }
    }
    keys[last] as u32
}
