//! [`Examples`]: anything batches can be cut from, in memory or in a store, and the parallel
//! streams of stateful training.
use std::ops::Range;

use crate::{Batch, DataError, Example};

/// A list of next-token examples that batches are collated from, without holding them as
/// `Vec`s: [`Example`]s in memory (`[Example]`, `Vec<Example>`) and windows of a token store
/// ([`StoreExamples`](crate::StoreExamples)) give the same batches for the same examples.
pub trait Examples {
    /// Number of examples.
    fn len(&self) -> usize;

    /// Whether there is no example.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Positions of example `i` (input length = target length); 0 outside `0..len`.
    fn example_len(&self, i: usize) -> usize;

    /// The label of example `i`, if it has one.
    fn label(&self, i: usize) -> Option<u32>;

    /// Appends the input and target ids of positions `range` of example `i` (within
    /// `0..example_len(i)`) to `input` and `target`.
    fn write(&self, i: usize, range: Range<usize>, input: &mut Vec<i64>, target: &mut Vec<i64>);

    /// Checks that the examples fit a model of `vocab_size` ids conditioned on `num_labels`
    /// classes (or none): ids inside the vocabulary, no `<pad>` (0) target, a label in range on
    /// every example when the model takes one, no empty example.
    ///
    /// # Errors
    /// [`DataError::BadExample`] naming the example (when one is at fault) and the problem.
    fn check(&self, vocab_size: usize, num_labels: Option<usize>) -> Result<(), DataError>;

    /// Every example's length, in order: what [`plan_epoch`](crate::plan_epoch) takes.
    fn lengths(&self) -> Vec<usize> {
        (0..self.len()).map(|i| self.example_len(i)).collect()
    }

    /// Pads examples `indices` to the longest of them, like [`collate`](crate::collate):
    /// indices out of range are left out, labels are kept only when every row has one.
    fn collate(&self, indices: &[usize]) -> Batch {
        let rows: Vec<(usize, Range<usize>)> = indices
            .iter()
            .filter(|&&i| i < self.len())
            .map(|&i| (i, 0..self.example_len(i)))
            .collect();
        collate_rows(self, &rows)
    }
}

/// Pads rows `(example, positions)` into a batch.
fn collate_rows<E: Examples + ?Sized>(examples: &E, rows: &[(usize, Range<usize>)]) -> Batch {
    let seq_len = rows.iter().map(|(_, r)| r.len()).max().unwrap_or(0);
    let cells = rows.len() * seq_len;
    let mut input = Vec::with_capacity(cells);
    let mut target = Vec::with_capacity(cells);
    let mut mask = Vec::with_capacity(cells);
    let mut lengths = Vec::with_capacity(rows.len());
    for (i, range) in rows {
        let n = range.len();
        examples.write(*i, range.clone(), &mut input, &mut target);
        input.resize(input.len() + seq_len - n, 0);
        target.resize(target.len() + seq_len - n, 0);
        mask.resize(mask.len() + n, 1.0);
        mask.resize(mask.len() + seq_len - n, 0.0);
        lengths.push(n as i64);
    }
    let labels = rows
        .iter()
        .map(|(i, _)| examples.label(*i).map(i64::from))
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

impl Examples for [Example] {
    fn len(&self) -> usize {
        <[Example]>::len(self)
    }

    fn example_len(&self, i: usize) -> usize {
        self.get(i).map_or(0, |e| e.input.len().min(e.target.len()))
    }

    fn label(&self, i: usize) -> Option<u32> {
        self.get(i).and_then(|e| e.label)
    }

    fn write(&self, i: usize, range: Range<usize>, input: &mut Vec<i64>, target: &mut Vec<i64>) {
        if let Some(e) = self.get(i) {
            input.extend(e.input[range.clone()].iter().map(|&id| i64::from(id)));
            target.extend(e.target[range].iter().map(|&id| i64::from(id)));
        }
    }

    fn check(&self, vocab_size: usize, num_labels: Option<usize>) -> Result<(), DataError> {
        for (i, e) in self.iter().enumerate() {
            let bad = |message: String| {
                Err(DataError::BadExample {
                    index: Some(i),
                    message,
                })
            };
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
                .find(|&&id| id as usize >= vocab_size)
            {
                return bad(format!(
                    "id {id} is outside the vocabulary of {vocab_size} ids"
                ));
            }
            if e.target.contains(&0) {
                return bad("a target is <pad> (id 0)".into());
            }
            check_label(num_labels, e.label).or_else(bad)?;
        }
        Ok(())
    }
}

/// Whether a label fits a model conditioned on `num_labels` classes (or none).
pub(crate) fn check_label(num_labels: Option<usize>, label: Option<u32>) -> Result<(), String> {
    match (num_labels, label) {
        (Some(n), Some(l)) if l as usize >= n => Err(format!("label {l} is outside 0..{n}")),
        (Some(_), None) => Err("no label, but the model is conditioned on one".into()),
        _ => Ok(()),
    }
}

impl Examples for Vec<Example> {
    fn len(&self) -> usize {
        <[Example]>::len(self)
    }

    fn example_len(&self, i: usize) -> usize {
        self.as_slice().example_len(i)
    }

    fn label(&self, i: usize) -> Option<u32> {
        self.as_slice().label(i)
    }

    fn write(&self, i: usize, range: Range<usize>, input: &mut Vec<i64>, target: &mut Vec<i64>) {
        self.as_slice().write(i, range, input, target);
    }

    fn check(&self, vocab_size: usize, num_labels: Option<usize>) -> Result<(), DataError> {
        self.as_slice().check(vocab_size, num_labels)
    }
}

/// The examples of another list, every one labelled `label`: a text scored under each class
/// of a label-conditioned model in turn (classifying by likelihood).
#[derive(Debug)]
pub struct WithLabel<'a, E: ?Sized> {
    inner: &'a E,
    label: u32,
}

impl<'a, E: Examples + ?Sized> WithLabel<'a, E> {
    /// `inner`'s examples, labelled `label` (their own labels, if any, are ignored).
    pub fn new(inner: &'a E, label: u32) -> Self {
        WithLabel { inner, label }
    }
}

impl<E: Examples + ?Sized> Examples for WithLabel<'_, E> {
    fn len(&self) -> usize {
        self.inner.len()
    }

    fn example_len(&self, i: usize) -> usize {
        self.inner.example_len(i)
    }

    fn label(&self, i: usize) -> Option<u32> {
        (i < self.len()).then_some(self.label)
    }

    fn write(&self, i: usize, range: Range<usize>, input: &mut Vec<i64>, target: &mut Vec<i64>) {
        self.inner.write(i, range, input, target);
    }

    fn check(&self, vocab_size: usize, num_labels: Option<usize>) -> Result<(), DataError> {
        self.inner.check(vocab_size, None)?;
        let label = match num_labels {
            Some(_) => Some(self.label),
            None => {
                return Err(DataError::BadExample {
                    index: None,
                    message: format!("label {}, but the model takes none", self.label),
                });
            }
        };
        check_label(num_labels, label).map_err(|message| DataError::BadExample {
            index: None,
            message,
        })
    }
}

/// Several example lists one after the other (e.g. a main column and extra columns); shared
/// between threads, as the parts are.
pub struct Chain<'a> {
    parts: Vec<&'a (dyn Examples + Sync)>,
    /// Index of each part's first example, then the total.
    starts: Vec<usize>,
    /// What each part's labels are shifted by ([`Chain::conditioned`]).
    label_offsets: Vec<u32>,
}

impl std::fmt::Debug for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("starts", &self.starts)
            .finish()
    }
}

impl<'a> Chain<'a> {
    /// The examples of `parts`, in order.
    pub fn new(parts: Vec<&'a (dyn Examples + Sync)>) -> Self {
        let mut starts = vec![0];
        for p in &parts {
            starts.push(starts[starts.len() - 1] + p.len());
        }
        let label_offsets = vec![0; parts.len()];
        Self {
            parts,
            starts,
            label_offsets,
        }
    }

    /// The examples of `parts`, in order, each part's labels classes of its own: part `k`'s
    /// label `l` (of `classes`) becomes `k · classes + l`, so that a model conditioned on
    /// `parts.len() · classes` labels knows which part (a column: titles, descriptions) an
    /// example comes from as well as its class.
    pub fn conditioned(parts: Vec<&'a (dyn Examples + Sync)>, classes: u32) -> Self {
        let mut chain = Self::new(parts);
        for (k, offset) in chain.label_offsets.iter_mut().enumerate() {
            *offset = (k as u32).saturating_mul(classes);
        }
        chain
    }

    /// Example `i`'s part, its index there and the part's label offset.
    fn locate(&self, i: usize) -> Option<(&'a (dyn Examples + Sync), usize, u32)> {
        let part = self.starts.partition_point(|&s| s <= i).checked_sub(1)?;
        let p = *self.parts.get(part)?;
        Some((p, i - self.starts[part], self.label_offsets[part]))
    }
}

impl Examples for Chain<'_> {
    fn len(&self) -> usize {
        self.starts.last().copied().unwrap_or(0)
    }

    fn example_len(&self, i: usize) -> usize {
        self.locate(i).map_or(0, |(p, j, _)| p.example_len(j))
    }

    fn label(&self, i: usize) -> Option<u32> {
        self.locate(i)
            .and_then(|(p, j, offset)| p.label(j).map(|l| l.saturating_add(offset)))
    }

    fn write(&self, i: usize, range: Range<usize>, input: &mut Vec<i64>, target: &mut Vec<i64>) {
        if let Some((p, j, _)) = self.locate(i) {
            p.write(j, range, input, target);
        }
    }

    fn check(&self, vocab_size: usize, num_labels: Option<usize>) -> Result<(), DataError> {
        for (k, p) in self.parts.iter().enumerate() {
            // The part's own labels must stay below what is left above its offset.
            let offset = self.label_offsets[k] as usize;
            let num_labels = num_labels.map(|n| n.saturating_sub(offset));
            if num_labels == Some(0) {
                return Err(DataError::BadExample {
                    index: Some(self.starts[k]),
                    message: format!("its part's labels start at {offset}, past the model's"),
                });
            }
            p.check(vocab_size, num_labels).map_err(|e| match e {
                DataError::BadExample { index, message } => DataError::BadExample {
                    index: index.map(|i| i + self.starts[k]),
                    message,
                },
                other => other,
            })?;
        }
        Ok(())
    }
}

/// Examples laid out as parallel streams for stateful training (truncated backpropagation
/// through time, as char-rnn trains): the examples are concatenated in order into one stream
/// of positions, which is cut into `streams` equal parts (the few positions left over are
/// dropped); batch `k` holds window `k` (positions `k·window..(k+1)·window`) of every part, so
/// row `b` of batch `k + 1` continues row `b` of batch `k` exactly and the recurrent state can
/// be carried from one batch to the next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Streams {
    /// Start of each example in the concatenated stream, then the total.
    starts: Vec<u64>,
    streams: usize,
    window: usize,
    stream_len: u64,
}

impl Streams {
    /// Lays `examples` out as `streams` parallel streams read `window` positions at a time
    /// (both at least 1; fewer streams when there are fewer positions than streams).
    pub fn new<E: Examples + ?Sized>(examples: &E, streams: usize, window: usize) -> Self {
        let mut starts = Vec::with_capacity(examples.len() + 1);
        let mut total = 0u64;
        starts.push(0);
        for i in 0..examples.len() {
            total += examples.example_len(i) as u64;
            starts.push(total);
        }
        let streams = (streams.max(1) as u64).min(total.max(1)) as usize;
        Self {
            starts,
            streams,
            window: window.max(1),
            stream_len: total / streams as u64,
        }
    }

    /// Number of parallel streams (rows of every batch).
    pub fn streams(&self) -> usize {
        self.streams
    }

    /// Positions per stream.
    pub fn stream_len(&self) -> u64 {
        self.stream_len
    }

    /// Batches per pass over the streams (the last may be shorter than the window).
    pub fn batches(&self) -> usize {
        self.stream_len.div_ceil(self.window as u64) as usize
    }

    /// The stream positions that row `row` of batch `k` covers.
    pub fn range(&self, k: usize, row: usize) -> Range<u64> {
        let base = row as u64 * self.stream_len;
        let from = (k as u64 * self.window as u64).min(self.stream_len);
        let to = (from + self.window as u64).min(self.stream_len);
        base + from..base + to
    }

    /// Batch `k`: window `k` of every stream, all rows of the same length (no padding).
    /// Labels are those of the example each row starts in.
    pub fn collate<E: Examples + ?Sized>(&self, examples: &E, k: usize) -> Batch {
        self.collate_streams(examples, k, 0..self.streams)
    }

    /// Rows `streams` of batch `k` (a data-parallel rank's share of the streams, which it
    /// keeps from window to window, and so its own recurrent state).
    pub fn collate_streams<E: Examples + ?Sized>(
        &self,
        examples: &E,
        k: usize,
        streams: Range<usize>,
    ) -> Batch {
        let rows: Vec<Range<u64>> = streams
            .filter(|&b| b < self.streams)
            .map(|b| self.range(k, b))
            .collect();
        let seq_len = rows
            .iter()
            .map(|r| (r.end - r.start) as usize)
            .max()
            .unwrap_or(0);
        let cells = rows.len() * seq_len;
        let mut input = Vec::with_capacity(cells);
        let mut target = Vec::with_capacity(cells);
        let mut labels = Some(Vec::with_capacity(rows.len()));
        let mut lengths = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut pos = r.start;
            let first = self.starts.partition_point(|&s| s <= pos).saturating_sub(1);
            labels = labels.and_then(|mut l: Vec<i64>| {
                l.push(i64::from(examples.label(first)?));
                Some(l)
            });
            let mut i = first;
            while pos < r.end && i + 1 < self.starts.len() {
                let (s, e) = (self.starts[i], self.starts[i + 1]);
                let to = e.min(r.end);
                if to > pos {
                    examples.write(
                        i,
                        (pos - s) as usize..(to - s) as usize,
                        &mut input,
                        &mut target,
                    );
                    pos = to;
                }
                i += 1;
            }
            let n = (r.end - r.start) as usize;
            input.resize(input.len() + seq_len - n, 0);
            target.resize(target.len() + seq_len - n, 0);
            lengths.push(n as i64);
        }
        let mask = lengths
            .iter()
            .flat_map(|&n| {
                let n = n as usize;
                std::iter::repeat_n(1.0, n).chain(std::iter::repeat_n(0.0, seq_len - n))
            })
            .collect();
        Batch {
            input,
            target,
            mask,
            lengths,
            labels: labels.filter(|l| !l.is_empty()),
            batch_size: rows.len(),
            seq_len,
        }
    }
}
