//! Examples read in place from a store: documents (or windows of them), computed from the
//! document offsets alone.
use std::ops::Range;

use super::file::Store;
use crate::batch::{clamp_fraction, tail_cut};
use crate::labels::label_class;
use crate::view::check_label;
use crate::{DataError, ExampleOptions, Examples, holdout_split};

/// Which part of a store a [`StoreExamples`] covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every document.
    All,
    /// These documents (indices, ascending).
    Docs(Vec<u32>),
    /// The stream up to this token position: the document it falls in is cut there.
    Head(u64),
    /// The stream from this token position on.
    Tail(u64),
}

/// A deterministic (train, validation) split of a store: by document, seeded, as
/// [`holdout_split`] draws them, when there are at least two documents, `fraction` of them
/// rounds to at least one, and the documents drawn hold about `fraction` of the text (within
/// half of it either way); otherwise (a single stream, a few long
/// documents, one document much longer than the rest) the validation part is the last
/// `fraction` of the tokens. `fraction` is clamped to `[0, 1]`; 0 gives no validation. For ids
/// in memory, [`split_tail`](crate::split_tail) cuts one sequence at the same place.
///
/// The share is checked because a split by documents holds out documents, not text: a corpus
/// of a few huge paragraphs among many short ones could otherwise lose most of its text to
/// validation, or validate on a few lines.
pub fn split_store(store: &Store, fraction: f64, seed: u64) -> (Selection, Selection) {
    let fraction = clamp_fraction(fraction);
    if fraction == 0.0 {
        return (Selection::All, Selection::Docs(Vec::new()));
    }
    let n = store.docs();
    let k = (n as f64 * fraction).round() as usize;
    if n >= 2 && k >= 1 {
        let (train, valid) = holdout_split(n, fraction, seed);
        let held: u64 = valid
            .iter()
            .map(|&d| {
                let r = store.doc_range(d);
                r.end - r.start
            })
            .sum();
        if balanced_share(held, store.tokens(), fraction) {
            let ids = |v: Vec<usize>| Selection::Docs(v.into_iter().map(|d| d as u32).collect());
            return (ids(train), ids(valid));
        }
    }
    let cut = tail_cut(store.tokens(), fraction);
    (Selection::Head(cut), Selection::Tail(cut))
}

/// Whether `held` of `total` tokens is close enough to `fraction` of them for a split by
/// documents: within `fraction / 2` of it, either way.
fn balanced_share(held: u64, total: u64, fraction: f64) -> bool {
    if total == 0 {
        return true;
    }
    let share = held as f64 / total as f64;
    (share - fraction).abs() <= fraction / 2.0
}

/// The examples of part of a [`Store`], exactly those [`make_examples`](crate::make_examples)
/// makes from the same documents (same `<bos>`/`<eos>` framing and windows), without copying
/// any id: each is computed from the document offsets when it is collated. A document cut by
/// [`Selection::Head`] or [`Selection::Tail`] keeps its own positions: the head ends with the
/// real next character as its last target (no `<eos>`), the tail starts without `<bos>`.
#[derive(Debug)]
pub struct StoreExamples<'s> {
    store: &'s Store,
    /// Documents with at least one example, in order.
    docs: Vec<u32>,
    /// A document cut by a head or tail selection: its index in `docs` and its positions.
    clip: Option<(usize, Range<u64>)>,
    opts: ExampleOptions,
    /// Windowed: the first example of each entry of `docs`, then the total (4 bytes a
    /// document: this index is what grows with the corpus).
    first: Option<Vec<u32>>,
    /// Label values, ascending: a document's label is its index here.
    label_values: Option<Vec<i64>>,
    len: usize,
}

impl<'s> StoreExamples<'s> {
    /// The examples of `selection` of `store`, cut as `opts` says. With `label_values`
    /// (ascending, without repeats: [`label_classes`](crate::label_classes) of the labels),
    /// each example's label is the index of its document's label there
    /// ([`label_class`](crate::label_class)), and every selected document must have one of
    /// them.
    ///
    /// # Errors
    /// [`DataError::BadExample`] for a document without a label or with one not in
    /// `label_values`; [`DataError::Options`] for a document index out of range or a store of
    /// more than `u32::MAX` documents.
    pub fn new(
        store: &'s Store,
        selection: &Selection,
        opts: ExampleOptions,
        label_values: Option<&[i64]>,
    ) -> Result<Self, DataError> {
        let n = u32::try_from(store.docs())
            .map_err(|_| DataError::Options("more than 2^32 documents".into()))?;
        let off = u64::from(opts.bos.is_some());
        let positions = |d: u32| {
            let r = store.doc_range(d as usize);
            let ids = r.end - r.start;
            if ids == 0 { 0 } else { ids + off }
        };
        let mut docs = Vec::new();
        let mut clip = None;
        match selection {
            Selection::All => docs.extend((0..n).filter(|&d| positions(d) > 0)),
            Selection::Docs(list) => {
                for &d in list {
                    if d >= n {
                        return Err(DataError::Options(format!(
                            "document {d} is not in a store of {n}"
                        )));
                    }
                    if positions(d) > 0 {
                        docs.push(d);
                    }
                }
            }
            Selection::Head(cut) | Selection::Tail(cut) => {
                let head = matches!(selection, Selection::Head(_));
                for d in 0..n {
                    let r = store.doc_range(d as usize);
                    if r.start == r.end {
                        continue;
                    }
                    let len = positions(d);
                    if r.end <= *cut {
                        if head {
                            docs.push(d);
                        }
                    } else if r.start >= *cut {
                        if !head {
                            docs.push(d);
                        }
                    } else {
                        let at = cut - r.start + off;
                        let range = if head { 0..at } else { at..len };
                        clip = Some((docs.len(), range));
                        docs.push(d);
                    }
                }
            }
        }
        if let Some(values) = label_values {
            for &d in &docs {
                match store.label(d as usize) {
                    Some(l) if label_class(values, l).is_some() => {}
                    Some(l) => {
                        return Err(DataError::BadExample {
                            index: None,
                            message: format!(
                                "document {d} has label {l}, which is not one of {values:?}"
                            ),
                        });
                    }
                    None => {
                        return Err(DataError::BadExample {
                            index: None,
                            message: format!("document {d} has no label"),
                        });
                    }
                }
            }
        }
        let mut view = Self {
            store,
            docs,
            clip,
            opts,
            first: None,
            label_values: label_values.map(<[i64]>::to_vec),
            len: 0,
        };
        match opts.window {
            None => view.len = view.docs.len(),
            Some(w) => {
                let (size, stride) = (w.num_chars.max(1) as u64, w.stride.max(1) as u64);
                let too_many = || {
                    DataError::Options(format!(
                        "more than 2^32 windows of {size} characters: use larger windows or a \
                         larger stride"
                    ))
                };
                let mut first = Vec::with_capacity(view.docs.len() + 1);
                let mut total = 0u64;
                for k in 0..view.docs.len() {
                    first.push(u32::try_from(total).map_err(|_| too_many())?);
                    let r = view.span(k);
                    total += windows(r.end - r.start, size, stride);
                }
                first.push(u32::try_from(total).map_err(|_| too_many())?);
                view.len = usize::try_from(total).map_err(|_| too_many())?;
                view.first = Some(first);
            }
        }
        Ok(view)
    }

    /// The store it reads.
    pub fn store(&self) -> &Store {
        self.store
    }

    /// Number of documents it covers (a cut one included).
    pub fn docs(&self) -> usize {
        self.docs.len()
    }

    /// The store document example `i` comes from (its index in the input, in reading order,
    /// counting the documents the store holds), or `None` outside `0..len`.
    pub fn document(&self, i: usize) -> Option<usize> {
        self.locate(i).map(|(k, _)| self.docs[k] as usize)
    }

    /// Real target positions in all examples (characters, `<eos>` included).
    pub fn positions(&self) -> u64 {
        (0..self.len).map(|i| self.example_len(i) as u64).sum()
    }

    /// The positions (in `[bos?] ++ ids`) of the `k`-th covered document.
    fn span(&self, k: usize) -> Range<u64> {
        if let Some((c, r)) = &self.clip
            && *c == k
        {
            return r.clone();
        }
        let r = self.store.doc_range(self.docs[k] as usize);
        0..(r.end - r.start) + u64::from(self.opts.bos.is_some())
    }

    /// Example `i`: its document (index in `docs`) and its positions.
    fn locate(&self, i: usize) -> Option<(usize, Range<u64>)> {
        if i >= self.len {
            return None;
        }
        match (&self.first, self.opts.window) {
            (Some(first), Some(w)) => {
                let k = first.partition_point(|&f| u64::from(f) <= i as u64) - 1;
                let span = self.span(k);
                let j = i as u64 - u64::from(first[k]);
                let start = span.start + j * w.stride.max(1) as u64;
                let end = (start + w.num_chars.max(1) as u64).min(span.end);
                Some((k, start..end))
            }
            _ => Some((i, self.span(i))),
        }
    }
}

/// How many windows `make_examples` cuts from `len` positions.
fn windows(len: u64, size: u64, stride: u64) -> u64 {
    if len == 0 {
        return 0;
    }
    let last = len.saturating_sub(size).div_ceil(stride);
    len.div_ceil(stride).min(last + 1)
}

impl Examples for StoreExamples<'_> {
    fn len(&self) -> usize {
        self.len
    }

    fn example_len(&self, i: usize) -> usize {
        self.locate(i)
            .map_or(0, |(_, r)| (r.end - r.start) as usize)
    }

    fn label(&self, i: usize) -> Option<u32> {
        let values = self.label_values.as_ref()?;
        let (k, _) = self.locate(i)?;
        let l = self.store.label(self.docs[k] as usize)?;
        label_class(values, l)
    }

    fn write(&self, i: usize, range: Range<usize>, input: &mut Vec<i64>, target: &mut Vec<i64>) {
        let Some((k, r)) = self.locate(i) else {
            return;
        };
        let doc = self.store.doc_range(self.docs[k] as usize);
        let off = u64::from(self.opts.bos.is_some());
        let len = doc.end - doc.start + off;
        let a = (r.start + range.start as u64).min(r.end);
        let b = (r.start + range.end as u64).min(r.end);
        if a >= b {
            return;
        }
        // input[p] = <bos> at p = 0 (with bos), else id p - off of the document.
        let mut p = a;
        if let Some(bos) = self.opts.bos
            && p == 0
        {
            input.push(i64::from(bos));
            p = 1;
        }
        if p < b {
            self.store
                .extend_ids(doc.start + p - off..doc.start + b - off, input);
        }
        // target[p] = id p + 1 - off below len - 1, then <eos>.
        let body_end = b.min(len - 1);
        if a < body_end {
            self.store.extend_ids(
                doc.start + a + 1 - off..doc.start + body_end + 1 - off,
                target,
            );
        }
        if b == len {
            target.push(i64::from(self.opts.eos));
        }
    }

    fn check(&self, vocab_size: usize, num_labels: Option<usize>) -> Result<(), DataError> {
        let bad = |message: String| {
            Err(DataError::BadExample {
                index: None,
                message,
            })
        };
        let specials = [Some(self.opts.eos), self.opts.bos];
        let max = specials
            .iter()
            .flatten()
            .copied()
            .chain((self.store.tokens() > 0).then_some(self.store.max_id()))
            .max()
            .unwrap_or(0);
        if max as usize >= vocab_size {
            return bad(format!(
                "id {max} is outside the vocabulary of {vocab_size} ids"
            ));
        }
        if self.opts.eos == 0 {
            return bad("a target is <pad> (id 0): <eos> is 0".into());
        }
        match (num_labels, &self.label_values) {
            (Some(n), Some(values)) if values.len() > n => {
                check_label(Some(n), Some(values.len() as u32 - 1)).or_else(bad)
            }
            (Some(n), None) if !self.is_empty() => check_label(Some(n), None).or_else(bad),
            _ => Ok(()),
        }
    }
}
