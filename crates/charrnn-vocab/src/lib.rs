//! Character (and word) vocabularies for charrnn, built on Hugging Face [`tokenizers`].
//!
//! # What this crate knows
//!
//! - **Building** a vocabulary from any iterator of `&str`. At [`Level::Char`] a token is one
//!   Unicode scalar value (`é`, `—`, a CJK character, an emoji are one token each). Ids follow
//!   Keras' `Tokenizer(char_level=True, lower=False)` order: most frequent first, ties broken by
//!   first occurrence. [`Level::Word`] splits like the `tokenizers` `Whitespace` pre-tokenizer
//!   (`\w+|[^\w\s]+`) and orders words the same way.
//! - **The id layout**, fixed: `0` = [`PAD`] (never produced by [`Vocab::encode`]), `1..=n` = the
//!   `n` kept tokens, then [`EOS`] = `n + 1`, [`UNK`] = `n + 2`, [`BOS`] = `n + 3`;
//!   [`Vocab::len`] is `n + 4`.
//! - **Encoding and decoding**, with [`Unknown::Replace`] (unknown tokens become `<unk>`) or
//!   [`Unknown::Error`] (an error naming every unknown token and its char position). Decoding
//!   drops the specials (or keeps them, [`Vocab::decode_keep_special`]) and skips ids outside
//!   `0..len`.
//! - **tokenizer.json**: [`Vocab::save`] writes a file the Python `tokenizers` package loads and
//!   that gives the same ids (char level: a BPE model with single-character tokens and no merges,
//!   optional `Lowercase` normalizer, `Fuse` decoder; word level: a `WordLevel` model with the
//!   `Whitespace` pre-tokenizer). The specials live in the model's vocabulary and are also
//!   registered as special `added_tokens` at the same ids, so Python's
//!   `decode(ids, skip_special_tokens=True)` drops them as [`Vocab::decode`] does. Text that
//!   happens to spell `<eos>` is encoded as its characters (or as the words `<`, `eos`, `>`); in
//!   Python that needs `tokenizer.encode_special_tokens = True`, a flag tokenizer.json does not
//!   keep. Files written before the specials were registered (empty `added_tokens`) still load.
//!   Token counts go to a small companion
//!   file, [`Vocab::counts_path`] (`tokenizer.counts.json`), since `tokenizers` rejects unknown
//!   keys in tokenizer.json.
//! - **A fast path**: [`Vocab::encode`] does not run the `tokenizers` pipeline at char level but a
//!   lookup table (ASCII array plus a hash map) that gives exactly the ids of
//!   [`Vocab::pipeline_encode`].
//!
//! # What it does not know
//!
//! Tensors, models, datasets, CSV or Parquet, batching, padding of sequences, where
//! `<bos>`/`<eos>` go in a training example: those belong to the other charrnn crates. The only
//! files it reads or writes are a tokenizer.json and its counts file.
//!
//! # Example
//!
//! ```
//! use charrnn_vocab::{PAD_ID, Unknown, Vocab, VocabOptions};
//!
//! let corpus = ["hello world", "hold the door"];
//! let vocab = Vocab::build(corpus, &VocabOptions::default())?;
//! // 'o' (5 times) comes first, then 'l' (4), then the ties in order of first occurrence.
//! assert_eq!(vocab.token(1), Some("o"));
//! assert_eq!(vocab.token(2), Some("l"));
//! assert_eq!(vocab.len(), 9 + 4); // h e l o w r d t and the space
//!
//! let ids = vocab.encode("hello", Unknown::Error)?;
//! assert!(!ids.contains(&PAD_ID));
//! assert_eq!(vocab.decode(&ids), "hello");
//! assert_eq!(ids, vocab.pipeline_encode("hello")?);
//!
//! // Unknown characters: replaced by <unk>, or reported with their char positions.
//! let ids = vocab.encode("hey!", Unknown::Replace)?;
//! assert_eq!(vocab.decode_keep_special(&ids), "he<unk><unk>");
//! let err = vocab.encode("hey!", Unknown::Error).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "unknown characters 'y' at position 2, '!' at position 3 (not in the vocabulary)"
//! );
//!
//! // Round trip through tokenizer.json.
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("tokenizer.json");
//! vocab.save(&path)?;
//! let loaded = Vocab::load(&path)?;
//! assert_eq!(loaded.encode("hello", Unknown::Error)?, vocab.encode("hello", Unknown::Error)?);
//! assert_eq!(loaded.counts(), vocab.counts());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod count;
mod error;
mod file;
mod table;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use tokenizers::{OffsetReferential, OffsetType, Tokenizer};

pub use error::VocabError;

use count::Counter;
use table::CharTable;

/// Id of [`PAD`]; never produced by encoding.
pub const PAD_ID: u32 = 0;
/// Padding token (id 0).
pub const PAD: &str = "<pad>";
/// End-of-sequence token (id `n + 1`).
pub const EOS: &str = "<eos>";
/// Unknown-token token (id `n + 2`).
pub const UNK: &str = "<unk>";
/// Beginning-of-sequence token (id `n + 3`).
pub const BOS: &str = "<bos>";

fn is_special_token(token: &str) -> bool {
    matches!(token, PAD | EOS | UNK | BOS)
}

/// What a token is: one character, or one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Level {
    /// One Unicode scalar value per token.
    Char,
    /// One word (or run of punctuation) per token, as the `Whitespace` pre-tokenizer splits.
    Word,
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Char => "char",
            Level::Word => "word",
        })
    }
}

impl FromStr for Level {
    type Err = String;

    /// Parses `char` or `word` (any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "char" => Ok(Level::Char),
            "word" => Ok(Level::Word),
            _ => Err(format!(
                "unknown level {s:?} (expected \"char\" or \"word\")"
            )),
        }
    }
}

/// How [`Vocab::build`] builds a vocabulary.
#[derive(Clone, Debug)]
pub struct VocabOptions {
    /// Characters or words.
    pub level: Level,
    /// Lowercase the text before counting and before every encoding (character by character,
    /// as the `tokenizers` `Lowercase` normalizer does).
    pub lowercase: bool,
    /// Tokens seen fewer times are left out (and encode as `<unk>`); 0 acts as 1.
    pub min_freq: u64,
    /// Keep at most this many ordinary tokens (ids `1..=max_size`, specials not counted); the
    /// rarer ones encode as `<unk>`.
    pub max_size: Option<usize>,
}

impl Default for VocabOptions {
    fn default() -> Self {
        VocabOptions {
            level: Level::Char,
            lowercase: false,
            min_freq: 1,
            max_size: None,
        }
    }
}

/// What to do with a token that is not in the vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unknown {
    /// Encode it as `<unk>`.
    Replace,
    /// Fail with [`VocabError::UnknownTokens`], listing every unknown token and its position.
    Error,
}

/// A vocabulary: tokens and ids in the fixed layout, a fast encoder, and the equivalent
/// `tokenizers` pipeline.
#[derive(Clone, Debug)]
pub struct Vocab {
    level: Level,
    lowercase: bool,
    /// Every token by id, specials included.
    tokens: Vec<String>,
    counts: Option<Vec<u64>>,
    /// Token → id, specials included.
    ids: HashMap<String, u32>,
    /// Char level only.
    table: Option<CharTable>,
    tokenizer: Tokenizer,
}

/// Builds a vocabulary from texts fed one at a time, so a corpus can be streamed through it
/// without being held: [`Vocab::build`] is this builder over an iterator. A text may be fed in
/// pieces cut between characters (and, at word level, at whitespace) with the same result.
#[derive(Debug)]
pub struct VocabBuilder {
    opts: VocabOptions,
    counter: Counter,
}

impl VocabBuilder {
    /// An empty count with the options the vocabulary will be built with.
    pub fn new(opts: &VocabOptions) -> Self {
        VocabBuilder {
            opts: opts.clone(),
            counter: Counter::default(),
        }
    }

    /// Counts the tokens of `text`.
    pub fn add(&mut self, text: &str) -> Result<(), VocabError> {
        match self.opts.level {
            Level::Char => self.counter.add_chars(text, self.opts.lowercase),
            Level::Word => self.counter.add_words(text, self.opts.lowercase)?,
        }
        Ok(())
    }

    /// The vocabulary of everything counted (see [`Vocab::build`]).
    ///
    /// Fails with [`VocabError::EmptyVocab`] when no token is kept.
    pub fn finish(self) -> Result<Vocab, VocabError> {
        let opts = self.opts;
        let (kept, dropped) =
            self.counter
                .finish(opts.min_freq.max(1), opts.max_size, is_special_token);
        if kept.is_empty() {
            return Err(VocabError::EmptyVocab);
        }
        let mut tokens = Vec::with_capacity(kept.len() + 4);
        let mut counts = Vec::with_capacity(kept.len() + 4);
        tokens.push(PAD.to_owned());
        counts.push(0);
        for (token, count) in kept {
            tokens.push(token);
            counts.push(count);
        }
        tokens.extend([EOS, UNK, BOS].map(str::to_owned));
        counts.extend([0, dropped, 0]);
        Vocab::assemble(opts.level, opts.lowercase, tokens, Some(counts))
    }
}

impl Vocab {
    /// Builds a vocabulary from a corpus.
    ///
    /// Fails with [`VocabError::EmptyVocab`] when no token is kept (empty corpus, or `min_freq`
    /// / `max_size` leave nothing).
    pub fn build<'a>(
        texts: impl IntoIterator<Item = &'a str>,
        opts: &VocabOptions,
    ) -> Result<Vocab, VocabError> {
        let mut builder = VocabBuilder::new(opts);
        for text in texts {
            builder.add(text)?;
        }
        builder.finish()
    }

    /// Builds the lookup structures; `tokens` already follow the layout.
    fn assemble(
        level: Level,
        lowercase: bool,
        tokens: Vec<String>,
        counts: Option<Vec<u64>>,
    ) -> Result<Vocab, VocabError> {
        let tokenizer = file::pipeline(level, lowercase, &tokens)?;
        let ids: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(id, t)| (t.clone(), id as u32))
            .collect();
        let n = tokens.len();
        let table = (level == Level::Char).then(|| {
            let ordinary = tokens[1..n - 3].iter().enumerate().filter_map(|(i, t)| {
                let mut chars = t.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Some((c, i as u32 + 1)),
                    _ => None,
                }
            });
            CharTable::new(ordinary, lowercase, n as u32 - 2)
        });
        Ok(Vocab {
            level,
            lowercase,
            tokens,
            counts,
            ids,
            table,
            tokenizer,
        })
    }

    /// This vocabulary grown by `tokens` (with their counts): those it has already, the
    /// specials, and at char level anything but one character, are skipped. The new tokens
    /// take the ids after its own, in the order given, and the specials move up behind them,
    /// so a model of it can be grown to match (fine-tuning on a text with new characters).
    /// Returns the new vocabulary and, for every old id, its new id.
    ///
    /// # Errors
    /// [`VocabError::Tokenizers`] when the `tokenizers` pipeline cannot be built.
    pub fn extended<'a>(
        &self,
        tokens: impl IntoIterator<Item = (&'a str, u64)>,
    ) -> Result<(Vocab, Vec<u32>), VocabError> {
        let n = self.len() - 4;
        let mut seen: std::collections::HashSet<&str> = std::collections::HashSet::new();
        let added: Vec<(&str, u64)> = tokens
            .into_iter()
            .filter(|(t, _)| {
                !is_special_token(t)
                    && !self.ids.contains_key(*t)
                    && (self.level == Level::Word || t.chars().count() == 1)
                    && !t.is_empty()
                    && seen.insert(t)
            })
            .collect();
        let m = added.len();
        let mut tokens = self.tokens[..=n].to_vec();
        tokens.extend(added.iter().map(|(t, _)| (*t).to_owned()));
        tokens.extend_from_slice(&self.tokens[n + 1..]);
        let counts = self.counts.as_ref().map(|c| {
            let mut counts = c[..=n].to_vec();
            counts.extend(added.iter().map(|(_, k)| *k));
            counts.extend_from_slice(&c[n + 1..]);
            counts
        });
        let ids = (0..self.len() as u32)
            .map(|id| if id as usize <= n { id } else { id + m as u32 })
            .collect();
        Ok((
            Vocab::assemble(self.level, self.lowercase, tokens, counts)?,
            ids,
        ))
    }

    /// Number of ids, specials included (`n + 4`).
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Always `false`: a vocabulary holds at least one token and the four specials.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Characters or words.
    pub fn level(&self) -> Level {
        self.level
    }

    /// Whether text is lowercased before encoding.
    pub fn lowercase(&self) -> bool {
        self.lowercase
    }

    /// Id of [`EOS`] (`len - 3`).
    pub fn eos_id(&self) -> u32 {
        self.len() as u32 - 3
    }

    /// Id of [`UNK`] (`len - 2`).
    pub fn unk_id(&self) -> u32 {
        self.len() as u32 - 2
    }

    /// Id of [`BOS`] (`len - 1`).
    pub fn bos_id(&self) -> u32 {
        self.len() as u32 - 1
    }

    /// `[pad, eos, unk, bos]` ids.
    pub fn special_ids(&self) -> [u32; 4] {
        [PAD_ID, self.eos_id(), self.unk_id(), self.bos_id()]
    }

    /// Whether `id` is one of the four specials (ids outside `0..len` are not).
    pub fn is_special(&self, id: u32) -> bool {
        id == PAD_ID || (id >= self.eos_id() && (id as usize) < self.len())
    }

    /// Every token by id, specials included.
    pub fn tokens(&self) -> &[String] {
        &self.tokens
    }

    /// The token of `id`, or `None` outside `0..len`.
    pub fn token(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The id of `token` (specials included), as stored: no lowercasing is applied.
    pub fn id_of(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// Corpus count per id: ordinary tokens their count, `<unk>` the total count of the tokens
    /// that were left out, the other specials 0. `None` after [`Vocab::from_json`], or after
    /// [`Vocab::load`] without a matching counts file (e.g. a tokenizer.json re-saved by Python).
    pub fn counts(&self) -> Option<&[u64]> {
        self.counts.as_deref()
    }

    /// Encodes `text` (fast path; same ids as [`Vocab::pipeline_encode`] with
    /// [`Unknown::Replace`]). Never yields [`PAD_ID`].
    pub fn encode(&self, text: &str, unknown: Unknown) -> Result<Vec<u32>, VocabError> {
        let mut out = Vec::new();
        self.encode_into(text, unknown, &mut out)?;
        Ok(out)
    }

    /// Appends the ids of `text` to `out`. On error `out` is left as it was.
    pub fn encode_into(
        &self,
        text: &str,
        unknown: Unknown,
        out: &mut Vec<u32>,
    ) -> Result<(), VocabError> {
        match &self.table {
            Some(table) => match unknown {
                Unknown::Replace => {
                    table.encode_replace(text, out);
                    Ok(())
                }
                Unknown::Error => {
                    let start = out.len();
                    if table.encode_strict(text, out) {
                        Ok(())
                    } else {
                        out.truncate(start);
                        Err(VocabError::UnknownTokens {
                            unknown: table.unknowns(text),
                        })
                    }
                }
            },
            None => self.encode_words(text, unknown, out),
        }
    }

    fn encode_words(
        &self,
        text: &str,
        unknown: Unknown,
        out: &mut Vec<u32>,
    ) -> Result<(), VocabError> {
        let pre = count::word_splits(text, self.lowercase)?;
        let start = out.len();
        let unk = self.unk_id();
        let mut missing = Vec::new();
        // Char position of byte offset `byte`, counted incrementally (offsets only grow).
        let (mut seen_bytes, mut seen_chars) = (0usize, 0usize);
        for (word, (from, to), _) in pre.get_splits(OffsetReferential::Original, OffsetType::Byte) {
            if let Some(&id) = self.ids.get(word) {
                out.push(id);
                continue;
            }
            match unknown {
                Unknown::Replace => out.push(unk),
                Unknown::Error => {
                    if let Some(skipped) = text.get(seen_bytes..from) {
                        seen_chars += skipped.chars().count();
                        seen_bytes = from;
                    }
                    let original = text.get(from..to).unwrap_or(word);
                    missing.push((seen_chars, original.to_owned()));
                }
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            out.truncate(start);
            Err(VocabError::UnknownTokens { unknown: missing })
        }
    }

    /// Encodes `text` through the `tokenizers` pipeline that [`Vocab::save`] writes (unknown
    /// tokens become `<unk>`). Slower than [`Vocab::encode`]; the reference it is tested against.
    pub fn pipeline_encode(&self, text: &str) -> Result<Vec<u32>, VocabError> {
        let encoding = self
            .tokenizer
            .encode_fast(text, false)
            .map_err(VocabError::Tokenizers)?;
        Ok(encoding.get_ids().to_vec())
    }

    /// Decodes `ids`, dropping the specials and any id outside `0..len`. Char level concatenates
    /// the characters; word level joins the words with single spaces.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.decode_with(ids, false)
    }

    /// Decodes `ids` like [`Vocab::decode`] but writes the specials out (`<unk>`, `<eos>`, ...);
    /// ids outside `0..len` are still skipped.
    pub fn decode_keep_special(&self, ids: &[u32]) -> String {
        self.decode_with(ids, true)
    }

    fn decode_with(&self, ids: &[u32], keep_special: bool) -> String {
        let kept = ids
            .iter()
            .filter(|&&id| keep_special || !self.is_special(id))
            .filter_map(|&id| self.token(id));
        let mut out = String::with_capacity(ids.len());
        let sep = match self.level {
            Level::Char => "",
            Level::Word => " ",
        };
        for (i, token) in kept.enumerate() {
            if i > 0 {
                out.push_str(sep);
            }
            out.push_str(token);
        }
        out
    }

    /// The tokenizer.json text (pretty-printed). Counts are not part of it (see
    /// [`Vocab::save`]).
    pub fn to_json(&self) -> Result<String, VocabError> {
        file::to_json(&self.tokenizer)
    }

    /// Reads a vocabulary from tokenizer.json text ([`Vocab::counts`] is then `None`). Accepts
    /// what [`Vocab::to_json`] writes and the same pipeline re-saved by Python `tokenizers`;
    /// anything whose ids could differ from the fast path's is [`VocabError::Unsupported`].
    pub fn from_json(json: &str) -> Result<Vocab, VocabError> {
        let parsed = file::parse(json)?;
        Vocab::assemble(parsed.level, parsed.lowercase, parsed.tokens, None)
    }

    /// Where [`Vocab::save`] keeps the counts of a vocabulary saved at `path`:
    /// `tokenizer.json` → `tokenizer.counts.json` in the same directory.
    pub fn counts_path(path: &Path) -> PathBuf {
        file::counts_path(path)
    }

    /// Writes the tokenizer.json to `path`, and the counts (if any) to
    /// [`Vocab::counts_path`]`(path)`, each atomically (temporary file in the same directory,
    /// then rename). `tokenizers` rejects unknown keys in tokenizer.json, hence the second file.
    /// Without counts, a counts file left at that path is removed.
    pub fn save(&self, path: &Path) -> Result<(), VocabError> {
        if path.is_dir() {
            return Err(VocabError::Io {
                action: "cannot write",
                path: path.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::IsADirectory,
                    "is a directory; name a file such as tokenizer.json",
                ),
            });
        }
        // tokenizer.json first: when it cannot be written, nothing is.
        file::write_atomic(path, &self.to_json()?)?;
        let counts_path = file::counts_path(path);
        match &self.counts {
            Some(counts) => {
                file::write_atomic(&counts_path, &file::counts_to_json(&self.tokens, counts)?)?
            }
            None => match std::fs::remove_file(&counts_path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(VocabError::Io {
                        action: "cannot remove",
                        path: counts_path,
                        source: e,
                    });
                }
                _ => {}
            },
        }
        Ok(())
    }

    /// Reads a tokenizer.json file (see [`Vocab::from_json`]), and the counts from
    /// [`Vocab::counts_path`]`(path)` when that file exists and was written for exactly these
    /// tokens (otherwise [`Vocab::counts`] is `None`; a counts file that is not valid JSON is an
    /// error).
    pub fn load(path: &Path) -> Result<Vocab, VocabError> {
        let read = |path: &Path| {
            std::fs::read_to_string(path).map_err(|source| VocabError::Io {
                action: "cannot read",
                path: path.to_owned(),
                source,
            })
        };
        let mut vocab = Vocab::from_json(&read(path)?)?;
        let counts_path = file::counts_path(path);
        if counts_path.is_file() {
            vocab.counts = file::counts_from_json(&read(&counts_path)?, &vocab.tokens)?;
        }
        Ok(vocab)
    }
}
