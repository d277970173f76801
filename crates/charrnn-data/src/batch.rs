//! Epoch planning (orders, bucketing), padding and validation splits.
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::Example;

/// The order of an epoch's examples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// Index order, cut into consecutive batches (seed and epoch are ignored).
    Sequential,
    /// A seeded random permutation cut into batches.
    Shuffled,
    /// Length bucketing: the same permutation as [`Order::Shuffled`], then within each window
    /// of `window_batches` batches the examples are grouped by length into batches, and finally
    /// the batches are shuffled. 0 is treated as 1 (which is plain shuffling).
    Bucketed {
        /// Batches per sorting window: larger cuts more padding but makes batches less random.
        window_batches: usize,
    },
}

/// The random stream of `(seed, stream)`: ChaCha8 seeded through `seed_from_u64`, whose output
/// is specified bit for bit, so every platform gets the same orders.
fn rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// A uniform integer in `0..bound` (`bound >= 1`), by Lemire's multiply-and-reject, written
/// here so that the order depends only on the ChaCha stream and not on a library's choice.
fn below(rng: &mut ChaCha8Rng, bound: u64) -> u64 {
    let threshold = bound.wrapping_neg() % bound;
    loop {
        let product = u128::from(rng.next_u64()) * u128::from(bound);
        if (product as u64) >= threshold {
            return (product >> 64) as u64;
        }
    }
}

/// Fisher–Yates shuffle.
fn shuffle<T>(items: &mut [T], rng: &mut ChaCha8Rng) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// Plans one epoch: batches of indices into `lengths` (each example's number of positions),
/// every index exactly once, all batches of `batch_size` except possibly one smaller batch.
///
/// The plan depends only on `(lengths, batch_size, order, seed, epoch)`: the same arguments
/// give the same plan on every platform, and each epoch gets its own ChaCha stream.
/// `batch_size` 0 is treated as 1.
///
/// Bucketing never makes padding worse than [`Order::Shuffled`] with the same seed and epoch:
/// each window holds exactly the examples of the corresponding shuffled batches, and they are
/// regrouped by length into batches of the same sizes (in the last, partial window the smaller
/// batch is put where it saves the most padding).
pub fn plan_epoch(
    lengths: &[usize],
    batch_size: usize,
    order: Order,
    seed: u64,
    epoch: u64,
) -> Vec<Vec<usize>> {
    let batch_size = batch_size.max(1);
    let mut indices: Vec<usize> = (0..lengths.len()).collect();
    let mut rng = rng(seed, epoch);
    match order {
        Order::Sequential => indices.chunks(batch_size).map(<[usize]>::to_vec).collect(),
        Order::Shuffled => {
            shuffle(&mut indices, &mut rng);
            indices.chunks(batch_size).map(<[usize]>::to_vec).collect()
        }
        Order::Bucketed { window_batches } => {
            shuffle(&mut indices, &mut rng);
            let window = batch_size.saturating_mul(window_batches.max(1));
            let mut batches = Vec::with_capacity(lengths.len().div_ceil(batch_size));
            for chunk in indices.chunks_mut(window) {
                // Longest first; ties keep the shuffled order (stable sort).
                chunk.sort_by(|&a, &b| lengths[b].cmp(&lengths[a]));
                let short = chunk.len() % batch_size;
                let full = chunk.len() / batch_size;
                let slot = if short == 0 {
                    full
                } else {
                    best_short_slot(chunk, lengths, batch_size, short)
                };
                let mut start = 0;
                for b in 0..=full {
                    let size = if b == slot { short } else { batch_size };
                    if size == 0 || start >= chunk.len() {
                        continue;
                    }
                    batches.push(chunk[start..start + size].to_vec());
                    start += size;
                }
            }
            shuffle(&mut batches, &mut rng);
            batches
        }
    }
}

/// Where the one smaller batch of a sorted (longest first) window costs the least padding:
/// with it at slot `p`, batch `b < p` starts at `b·B`, the small one at `p·B`, and batch `b > p`
/// at `b·B − B + short`. A batch costs its size times its first (longest) length.
fn best_short_slot(sorted: &[usize], lengths: &[usize], batch: usize, short: usize) -> usize {
    let full = sorted.len() / batch;
    let len = |i: usize| lengths[sorted[i]] as u128;
    let (batch_w, short_w) = (batch as u128, short as u128);
    // after[p] = cost of full batches p..full when they come after the small one.
    let mut after = vec![0u128; full + 1];
    for b in (0..full).rev() {
        after[b] = after[b + 1] + batch_w * len(b * batch + short);
    }
    let mut before = 0u128;
    let mut best = (u128::MAX, full);
    for (p, &after_p) in after.iter().enumerate() {
        let cost = before + short_w * len(p * batch) + after_p;
        if cost < best.0 {
            best = (cost, p);
        }
        if p < full {
            before += batch_w * len(p * batch);
        }
    }
    best.1
}

/// One padded minibatch, as plain row-major buffers of shape `[batch_size, seq_len]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Input ids, right-padded with `<pad>` = 0.
    pub input: Vec<i64>,
    /// Target ids, right-padded with 0.
    pub target: Vec<i64>,
    /// 1.0 at real positions, 0.0 at padding.
    pub mask: Vec<f32>,
    /// Real length of each row.
    pub lengths: Vec<i64>,
    /// Each row's label, when every example of the batch has one.
    pub labels: Option<Vec<i64>>,
    /// Rows.
    pub batch_size: usize,
    /// Columns: the longest example of the batch.
    pub seq_len: usize,
}

impl Batch {
    /// Real (non-padding) target positions.
    pub fn real_targets(&self) -> usize {
        self.lengths.iter().map(|&l| l.max(0) as usize).sum()
    }

    /// Real target positions divided by all cells (1.0 for an empty batch).
    pub fn efficiency(&self) -> f64 {
        let cells = self.batch_size * self.seq_len;
        if cells == 0 {
            1.0
        } else {
            self.real_targets() as f64 / cells as f64
        }
    }
}

/// Pads `examples[indices]` to the longest of them (`<pad>` = 0 on the right).
///
/// Indices out of range are left out (the batch is then smaller); labels are kept only when
/// every example of the batch has one; an example whose input and target lengths differ (only
/// possible for one built by hand) is cut to the shorter.
pub fn collate(examples: &[Example], indices: &[usize]) -> Batch {
    let rows: Vec<&Example> = indices.iter().filter_map(|&i| examples.get(i)).collect();
    let seq_len = rows
        .iter()
        .map(|e| e.input.len().min(e.target.len()))
        .max()
        .unwrap_or(0);
    let cells = rows.len() * seq_len;
    // Each cell is written once, row by row (no zeroing pass before the copy).
    let mut input = Vec::with_capacity(cells);
    let mut target = Vec::with_capacity(cells);
    let mut mask = Vec::with_capacity(cells);
    let mut lengths = Vec::with_capacity(rows.len());
    for e in &rows {
        let n = e.input.len().min(e.target.len());
        let pad = seq_len - n;
        input.extend(e.input[..n].iter().map(|&id| i64::from(id)));
        input.resize(input.len() + pad, 0);
        target.extend(e.target[..n].iter().map(|&id| i64::from(id)));
        target.resize(target.len() + pad, 0);
        mask.resize(mask.len() + n, 1.0);
        mask.resize(mask.len() + pad, 0.0);
        lengths.push(n as i64);
    }
    let labels = rows
        .iter()
        .map(|e| e.label.map(i64::from))
        .collect::<Option<Vec<i64>>>()
        .filter(|_| !rows.is_empty());
    Batch {
        input,
        target,
        mask,
        lengths,
        labels,
        batch_size: rows.len(),
        seq_len,
    }
}

/// Real positions over all cells of a plan's batches: how much of the compute is not padding
/// (1.0 when there are no cells). Indices out of range are ignored.
pub fn padding_efficiency(lengths: &[usize], batches: &[Vec<usize>]) -> f64 {
    let (mut real, mut cells) = (0u128, 0u128);
    for batch in batches {
        let ls = batch.iter().filter_map(|&i| lengths.get(i).copied());
        let (mut n, mut sum, mut max) = (0u128, 0u128, 0u128);
        for l in ls {
            n += 1;
            sum += l as u128;
            max = max.max(l as u128);
        }
        real += sum;
        cells += n * max;
    }
    if cells == 0 {
        1.0
    } else {
        real as f64 / cells as f64
    }
}

/// A held-out fraction as the splits read it: clamped to `[0, 1]`, NaN as 0.
pub(crate) fn clamp_fraction(fraction: f64) -> f64 {
    if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    }
}

/// Where the last `fraction` of `len` positions starts: `len − round(len · fraction)`
/// (`fraction` as [`clamp_fraction`] reads it). [`split_tail`] and [`split_store`]'s
/// single-stream split cut there.
///
/// [`split_store`]: crate::split_store
pub(crate) fn tail_cut(len: u64, fraction: f64) -> u64 {
    let held = ((len as f64) * clamp_fraction(fraction)).round() as u64;
    len - held.min(len)
}

/// A seeded split of `0..n` into (train, valid) index lists, both sorted: `round(n · fraction)`
/// indices go to validation (`fraction` clamped to `[0, 1]`, NaN as 0). The same arguments give
/// the same split on every platform.
///
/// It is meant for independent examples: texts, or documents. Over the windows of one long
/// text it leaks: with [`Window::stride`](crate::Window::stride) below
/// [`Window::num_chars`](crate::Window::num_chars), consecutive windows share characters, so
/// every held-out window overlaps training windows and validation scores text the model was
/// trained on (and even tiling windows hold out scattered pieces of the same passages). To
/// hold out part of one long text, cut its ids with [`split_tail`] before making examples
/// (or, for a token store, use [`split_store`](crate::split_store), which does the same).
pub fn holdout_split(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let fraction = clamp_fraction(fraction);
    let k = ((n as f64) * fraction).round() as usize;
    let k = k.min(n);
    let mut indices: Vec<usize> = (0..n).collect();
    // A stream of its own, apart from the epoch streams of `plan_epoch`.
    let mut rng = rng(seed, u64::MAX);
    shuffle(&mut indices, &mut rng);
    let mut valid = indices[..k].to_vec();
    let mut train = indices[k..].to_vec();
    valid.sort_unstable();
    train.sort_unstable();
    (train, valid)
}

/// Splits one sequence (the ids of a long text, say) into its head, for training, and its
/// last `fraction`, held out: `round(len · fraction)` items go to the tail (`fraction`
/// clamped to `[0, 1]`, NaN as 0), so the two parts share nothing, whatever windows are cut
/// from them afterwards.
///
/// This is the in-memory counterpart of [`split_store`](crate::split_store) on a single
/// stream, and cuts at the same position ([`Selection::Head`](crate::Selection::Head) and
/// [`Selection::Tail`](crate::Selection::Tail) of the same `fraction`). Through
/// [`make_examples`](crate::make_examples), the tail made with `bos: None` gives exactly the
/// store's tail examples (it starts with the character after the cut as its first input); the
/// head gives the store's head examples but for its last target, `<eos>` where the store's
/// head predicts the first character of the tail.
///
/// ```
/// use charrnn_data::{make_examples, split_tail, ExampleOptions, Window};
///
/// let ids: Vec<u32> = (1..=100).collect();
/// let (train, valid) = split_tail(&ids, 0.1);
/// assert_eq!((train.len(), valid.len()), (90, 10));
/// assert_eq!(valid[0], 91);
///
/// // Overlapping windows of the training part never reach the held-out part.
/// let window = Window { num_chars: 16, stride: 8 };
/// let opts = ExampleOptions { eos: 200, bos: Some(201), window: Some(window) };
/// let mut examples = Vec::new();
/// make_examples(train, None, &opts, &mut examples);
/// assert!(examples.iter().all(|e| e.input.iter().all(|&id| id <= 90 || id == 201)));
/// ```
pub fn split_tail<T>(items: &[T], fraction: f64) -> (&[T], &[T]) {
    // `tail_cut` returns at most `len`, so the cut is inside the slice.
    let cut = tail_cut(items.len() as u64, fraction) as usize;
    items.split_at(cut)
}
