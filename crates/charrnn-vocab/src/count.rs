//! Counting tokens in a corpus and ordering them the way Keras' `Tokenizer` does.

use std::collections::HashMap;

use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::{OffsetReferential, OffsetType, PreTokenizedString, PreTokenizer};

use crate::VocabError;

/// Token counts in order of first occurrence.
#[derive(Debug)]
pub(crate) struct Counter {
    /// `(token, count)` in order of first occurrence.
    entries: Vec<(String, u64)>,
    /// Index into `entries` of each non-ASCII char (char level) or word (word level).
    index: HashMap<String, usize>,
    /// Index into `entries` of each ASCII char, plus one (0 = not seen); char level only.
    ascii: [usize; 128],
    /// Counts of the ASCII chars, added to their `entries` by [`Counter::finish`]: the hot
    /// loop increments one array slot per byte.
    ascii_counts: [u64; 128],
}

impl Default for Counter {
    fn default() -> Self {
        Counter {
            entries: Vec::new(),
            index: HashMap::new(),
            ascii: [0; 128],
            ascii_counts: [0; 128],
        }
    }
}

impl Counter {
    pub(crate) fn add_chars(&mut self, text: &str, lowercase: bool) {
        if !lowercase {
            return self.add_chars_as_is(text);
        }
        for c in text.chars() {
            if c.is_ascii() {
                let c = if lowercase { c.to_ascii_lowercase() } else { c };
                self.add_ascii(c);
            } else if lowercase {
                for lc in c.to_lowercase() {
                    if lc.is_ascii() {
                        self.add_ascii(lc);
                    } else {
                        self.add_other(lc.encode_utf8(&mut [0; 4]));
                    }
                }
            } else {
                self.add_other(c.encode_utf8(&mut [0; 4]));
            }
        }
    }

    pub(crate) fn add_words(&mut self, text: &str, lowercase: bool) -> Result<(), VocabError> {
        let pre = word_splits(text, lowercase)?;
        for (word, _, _) in pre.get_splits(OffsetReferential::Normalized, OffsetType::None) {
            self.add_other(word);
        }
        Ok(())
    }

    /// Without lowercasing: ASCII bytes counted in place, other chars decoded one by one.
    fn add_chars_as_is(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            if b.is_ascii() {
                let b = usize::from(b);
                if self.ascii[b] == 0 {
                    self.entries.push((char::from(b as u8).to_string(), 0));
                    self.ascii[b] = self.entries.len();
                }
                self.ascii_counts[b] += 1;
                i += 1;
            } else {
                // `i` is at a char boundary: ASCII bytes and whole chars are consumed.
                let Some(c) = text.get(i..).and_then(|rest| rest.chars().next()) else {
                    break;
                };
                self.add_other(c.encode_utf8(&mut [0; 4]));
                i += c.len_utf8();
            }
        }
    }

    fn add_ascii(&mut self, c: char) {
        let b = c as usize;
        if self.ascii[b] == 0 {
            self.entries.push((c.to_string(), 0));
            self.ascii[b] = self.entries.len();
        }
        self.ascii_counts[b] += 1;
    }

    fn add_other(&mut self, token: &str) {
        let i = match self.index.get(token) {
            Some(&i) => i,
            None => {
                self.entries.push((token.to_owned(), 0));
                self.index.insert(token.to_owned(), self.entries.len() - 1);
                self.entries.len() - 1
            }
        };
        self.entries[i].1 += 1;
    }

    /// The kept tokens in Keras order (count descending, ties by first occurrence) with their
    /// counts, and the total count of the tokens that were dropped.
    pub(crate) fn finish(
        self,
        min_freq: u64,
        max_size: Option<usize>,
        is_special: impl Fn(&str) -> bool,
    ) -> (Vec<(String, u64)>, u64) {
        let mut entries = self.entries;
        for (slot, count) in self.ascii.iter().zip(self.ascii_counts) {
            if let Some(entry) = slot.checked_sub(1).and_then(|i| entries.get_mut(i)) {
                entry.1 += count;
            }
        }
        // A stable sort keeps first-occurrence order among equal counts.
        entries.sort_by_key(|e| std::cmp::Reverse(e.1));
        let mut kept = Vec::with_capacity(entries.len());
        let mut dropped = 0u64;
        let max = max_size.unwrap_or(usize::MAX);
        for (token, count) in entries {
            if count >= min_freq && kept.len() < max && !is_special(&token) {
                kept.push((token, count));
            } else {
                dropped = dropped.saturating_add(count);
            }
        }
        (kept, dropped)
    }
}

/// Splits `text` the way the word-level `tokenizers` pipeline does: optional `Lowercase`
/// normalizer, then the `Whitespace` pre-tokenizer (`\w+|[^\w\s]+`).
pub(crate) fn word_splits(text: &str, lowercase: bool) -> Result<PreTokenizedString, VocabError> {
    let mut pre = PreTokenizedString::from(text);
    if lowercase {
        pre.normalize(|n| {
            n.lowercase();
            Ok(())
        })
        .map_err(VocabError::Tokenizers)?;
    }
    Whitespace
        .pre_tokenize(&mut pre)
        .map_err(VocabError::Tokenizers)?;
    Ok(pre)
}
