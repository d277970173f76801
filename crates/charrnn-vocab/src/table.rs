//! The char-level hot path: an ASCII array plus a hash map for every other character.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Marks "not in the vocabulary" in the ASCII arrays.
const NONE: u32 = u32::MAX;

/// A multiplicative hasher for `char` keys (one `u32` each); not for untrusted bulk keys.
#[derive(Default)]
pub(crate) struct CharHasher(u64);

impl Hasher for CharHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Lookup of char ids, giving exactly what the `tokenizers` pipeline (optional `Lowercase`
/// normalizer, then a merge-free BPE over single characters) gives.
#[derive(Clone, Debug)]
pub(crate) struct CharTable {
    /// Id of each ASCII char as it stands in the vocabulary (after normalization).
    ascii_exact: [u32; 128],
    /// Id of each ASCII char of the input, after normalization (lowercasing) if any.
    ascii_input: [u32; 128],
    /// Ids of the non-ASCII chars of the vocabulary.
    other: HashMap<char, u32, BuildHasherDefault<CharHasher>>,
    lowercase: bool,
    unk: u32,
}

/// What one input character encodes to.
enum Lookup {
    One(u32),
    /// A character whose lowercase form is several chars (e.g. 'İ'): each id or `None`.
    Many(Vec<Option<u32>>),
    Unknown,
}

impl CharTable {
    /// `tokens` are `(char, id)` pairs of the ordinary tokens.
    pub(crate) fn new(
        tokens: impl IntoIterator<Item = (char, u32)>,
        lowercase: bool,
        unk: u32,
    ) -> Self {
        let mut ascii_exact = [NONE; 128];
        let mut other = HashMap::default();
        for (c, id) in tokens {
            if c.is_ascii() {
                ascii_exact[c as usize] = id;
            } else {
                other.insert(c, id);
            }
        }
        let mut ascii_input = ascii_exact;
        if lowercase {
            for (b, slot) in ascii_input.iter_mut().enumerate() {
                *slot = ascii_exact[usize::from((b as u8).to_ascii_lowercase())];
            }
        }
        CharTable {
            ascii_exact,
            ascii_input,
            other,
            lowercase,
            unk,
        }
    }

    /// Id of a character as it stands after normalization.
    fn exact(&self, c: char) -> Option<u32> {
        if c.is_ascii() {
            let id = self.ascii_exact[c as usize];
            (id != NONE).then_some(id)
        } else {
            self.other.get(&c).copied()
        }
    }

    /// What a non-ASCII input character encodes to.
    fn lookup_non_ascii(&self, c: char) -> Lookup {
        if !self.lowercase {
            return match self.other.get(&c) {
                Some(&id) => Lookup::One(id),
                None => Lookup::Unknown,
            };
        }
        let mut lower = c.to_lowercase();
        match (lower.next(), lower.len()) {
            (Some(l), 0) => match self.exact(l) {
                Some(id) => Lookup::One(id),
                None => Lookup::Unknown,
            },
            _ => Lookup::Many(c.to_lowercase().map(|l| self.exact(l)).collect()),
        }
    }

    /// Appends the ids of `text`, unknown characters as `<unk>`.
    pub(crate) fn encode_replace(&self, text: &str, out: &mut Vec<u32>) {
        out.reserve(text.len());
        for c in text.chars() {
            if c.is_ascii() {
                let id = self.ascii_input[c as usize];
                out.push(if id == NONE { self.unk } else { id });
            } else {
                match self.lookup_non_ascii(c) {
                    Lookup::One(id) => out.push(id),
                    Lookup::Unknown => out.push(self.unk),
                    Lookup::Many(ids) => {
                        out.extend(ids.into_iter().map(|id| id.unwrap_or(self.unk)))
                    }
                }
            }
        }
    }

    /// Appends the ids of `text`; on the first unknown character returns `false` (what was
    /// appended so far stays; the caller truncates).
    pub(crate) fn encode_strict(&self, text: &str, out: &mut Vec<u32>) -> bool {
        out.reserve(text.len());
        for c in text.chars() {
            if c.is_ascii() {
                let id = self.ascii_input[c as usize];
                if id == NONE {
                    return false;
                }
                out.push(id);
            } else {
                match self.lookup_non_ascii(c) {
                    Lookup::One(id) => out.push(id),
                    Lookup::Unknown => return false,
                    Lookup::Many(ids) => {
                        for id in ids {
                            match id {
                                Some(id) => out.push(id),
                                None => return false,
                            }
                        }
                    }
                }
            }
        }
        true
    }

    /// Every unknown character of `text` with its char index.
    pub(crate) fn unknowns(&self, text: &str) -> Vec<(usize, String)> {
        let mut found = Vec::new();
        for (pos, c) in text.chars().enumerate() {
            let known = if c.is_ascii() {
                self.ascii_input[c as usize] != NONE
            } else {
                match self.lookup_non_ascii(c) {
                    Lookup::One(_) => true,
                    Lookup::Unknown => false,
                    Lookup::Many(ids) => ids.iter().all(Option::is_some),
                }
            };
            if !known {
                found.push((pos, c.to_string()));
            }
        }
        found
    }
}
