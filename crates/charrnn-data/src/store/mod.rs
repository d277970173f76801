//! The token store: a corpus encoded once into one memory-mapped file of ids.
//!
//! Layout (little-endian), all sections checked against the header when opened:
//!
//! | bytes | what |
//! |---|---|
//! | 0..128 | header: magic `CRNNTOKS`, format version, id width (1, 2 or 4 bytes, from the vocabulary size), documents, tokens, the 128-bit key, vocabulary size, largest id, label flag, text bytes, characters, `<unk>` count, checksums of the ids and of the offsets and labels, and a checksum of the header itself |
//! | 128.. | the ids, `tokens × width` bytes, zero-padded to a multiple of 8 |
//! | then | `documents + 1` document offsets (u64, in tokens; the first 0, the last `tokens`) |
//! | then | with labels, one i64 per document (`i64::MIN`: none) |
mod build;
mod header;
mod mmap;
mod view;

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::DataError;
use header::{Checksum, HEADER_BYTES, Header, NO_LABEL, id_width};
use mmap::Map;

pub use build::{BuildOptions, Encoder};
pub use header::STORE_VERSION;
pub use view::{Selection, StoreExamples, split_store};

/// The key a store is built for: xxh3-128 of the source's fingerprint
/// ([`Source::fingerprint`](crate::Source::fingerprint)) and the vocabulary's serialized
/// bytes. Any change to the inputs, the columns, the format options or the vocabulary changes
/// it, and the store is rebuilt.
pub fn store_key(source_fingerprint: u128, vocab_bytes: &[u8]) -> u128 {
    let mut h = twox_hash::XxHash3_128::new();
    h.write(b"charrnn-store-key");
    h.write(&STORE_VERSION.to_le_bytes());
    h.write(&source_fingerprint.to_le_bytes());
    h.write(&(vocab_bytes.len() as u64).to_le_bytes());
    h.write(vocab_bytes);
    h.finish_128()
}

/// Whether [`Store::open_or_build`] reused a store or built one, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreStatus {
    /// A store with the right key was found and passed every check.
    Reused,
    /// The store was built; `reason` says why the file at the path (if any) was not used.
    Built {
        /// `"no store yet"`, or what was wrong with the old file.
        reason: String,
    },
}

/// A token store, memory-mapped: ids, document offsets and labels, read without copying.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    map: Map,
    header: Header,
    offsets_at: usize,
    labels_at: usize,
}

impl Store {
    /// Opens the store at `path` and checks it completely: header checksum, format version,
    /// `key`, `vocab_size`, the file length the header implies, the checksums of the ids and
    /// of the offsets and labels, and offsets that start at 0, never decrease and end at the
    /// token count. Nothing in a store is trusted before that.
    ///
    /// # Errors
    /// [`DataError::Io`] when the file cannot be read; [`DataError::Store`] saying what does
    /// not match.
    pub fn open(path: &Path, key: u128, vocab_size: usize) -> Result<Store, DataError> {
        let bad = |message: String| DataError::Store {
            path: path.to_owned(),
            message,
        };
        let file = File::open(path).map_err(|source| DataError::Io {
            path: path.to_owned(),
            source,
        })?;
        let len = file
            .metadata()
            .map_err(|source| DataError::Io {
                path: path.to_owned(),
                source,
            })?
            .len();
        if len < HEADER_BYTES as u64 {
            return Err(bad(format!("truncated: {len} bytes")));
        }
        let map = Map::new(&file).map_err(|source| DataError::Io {
            path: path.to_owned(),
            source,
        })?;
        let bytes = map.bytes();
        let header = Header::decode(bytes).map_err(bad)?;
        if header.key != key {
            return Err(bad("built from other inputs or another vocabulary".into()));
        }
        if header.vocab_size as usize != vocab_size || header.id_width != id_width(vocab_size) {
            return Err(bad(format!(
                "built for a vocabulary of {} ids, not {vocab_size}",
                header.vocab_size
            )));
        }
        let (Some(offsets_at), Some(labels_at), Some(file_len)) =
            (header.offsets_at(), header.labels_at(), header.file_len())
        else {
            return Err(bad("the header's counts overflow".into()));
        };
        if file_len as u64 != len {
            return Err(bad(format!(
                "{len} bytes where the header implies {file_len} (truncated or damaged)"
            )));
        }
        let mut ids = Checksum::default();
        ids.add(&bytes[HEADER_BYTES..offsets_at]);
        if ids.value() != header.ids_checksum {
            return Err(bad("the ids' checksum does not match (damaged ids)".into()));
        }
        let mut tail = Checksum::default();
        tail.add(&bytes[offsets_at..]);
        if tail.value() != header.tail_checksum {
            return Err(bad(
                "the offsets' checksum does not match (damaged offsets or labels)".into(),
            ));
        }
        let store = Store {
            path: path.to_owned(),
            map,
            header,
            offsets_at,
            labels_at,
        };
        let mut previous = 0;
        for d in 0..=store.header.docs {
            let o = store.offset(d);
            if o < previous || (d == 0 && o != 0) {
                return Err(bad(format!("document offset {d} goes backwards")));
            }
            previous = o;
        }
        if previous != store.header.tokens {
            return Err(bad("the last offset is not the token count".into()));
        }
        if store.header.tokens > 0 && store.header.max_id as usize >= vocab_size {
            return Err(bad(format!(
                "holds id {} outside the vocabulary",
                store.header.max_id
            )));
        }
        Ok(store)
    }

    /// Opens the store at `path` when it was built for `key` and passes every check of
    /// [`Store::open`]; otherwise (missing, other key, damaged, truncated) builds it anew
    /// with [`Store::build`].
    ///
    /// # Errors
    /// Those of [`Store::build`].
    pub fn open_or_build(
        path: &Path,
        key: u128,
        source: &crate::Source,
        opts: &BuildOptions,
        encode: &mut Encoder<'_>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<(Store, StoreStatus), DataError> {
        let reason = match Store::open(path, key, opts.vocab_size) {
            Ok(store) => return Ok((store, StoreStatus::Reused)),
            Err(DataError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                "no store yet".to_owned()
            }
            Err(DataError::Store { message, .. }) => message,
            Err(e) => return Err(e),
        };
        let store = Store::build(path, key, source, opts, encode, progress)?;
        Ok((store, StoreStatus::Built { reason }))
    }

    fn u64_at(&self, at: usize) -> u64 {
        let b = self.map.bytes();
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(a)
    }

    fn offset(&self, doc: u64) -> u64 {
        self.u64_at(self.offsets_at + 8 * doc as usize)
    }

    /// Where the store is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key it was built for.
    pub fn key(&self) -> u128 {
        self.header.key
    }

    /// Bytes per id: 1, 2 or 4.
    pub fn id_width(&self) -> usize {
        self.header.id_width as usize
    }

    /// Number of documents.
    pub fn docs(&self) -> usize {
        self.header.docs as usize
    }

    /// Number of ids.
    pub fn tokens(&self) -> u64 {
        self.header.tokens
    }

    /// The vocabulary size it was built for.
    pub fn vocab_size(&self) -> usize {
        self.header.vocab_size as usize
    }

    /// The largest id it holds (0 when empty).
    pub fn max_id(&self) -> u32 {
        self.header.max_id
    }

    /// UTF-8 bytes of text encoded.
    pub fn text_bytes(&self) -> u64 {
        self.header.text_bytes
    }

    /// Characters (Unicode scalar values) of text encoded.
    pub fn chars(&self) -> u64 {
        self.header.chars
    }

    /// How many ids are the `<unk>` id given at build time.
    pub fn unk_count(&self) -> u64 {
        self.header.unk
    }

    /// Whether documents carry labels.
    pub fn has_labels(&self) -> bool {
        self.header.has_labels
    }

    /// The ids of document `doc` lie at `range` (token positions). Panics when `doc` is not
    /// below [`Store::docs`].
    pub fn doc_range(&self, doc: usize) -> Range<u64> {
        self.offset(doc as u64)..self.offset(doc as u64 + 1)
    }

    /// The label of document `doc`, if it has one.
    pub fn label(&self, doc: usize) -> Option<i64> {
        if !self.header.has_labels || doc >= self.docs() {
            return None;
        }
        let l = self.u64_at(self.labels_at + 8 * doc) as i64;
        (l != NO_LABEL).then_some(l)
    }

    /// The id at token position `pos` (below [`Store::tokens`]).
    pub fn id(&self, pos: u64) -> u32 {
        let b = self.map.bytes();
        let w = self.id_width();
        let at = HEADER_BYTES + pos as usize * w;
        match w {
            1 => u32::from(b[at]),
            2 => u32::from(u16::from_le_bytes([b[at], b[at + 1]])),
            _ => u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]),
        }
    }

    /// Appends the ids at token positions `range` to `out`, as i64 (what batches hold).
    pub fn extend_ids(&self, range: Range<u64>, out: &mut Vec<i64>) {
        let b = self.map.bytes();
        let w = self.id_width();
        let bytes =
            &b[HEADER_BYTES + range.start as usize * w..HEADER_BYTES + range.end as usize * w];
        match w {
            1 => out.extend(bytes.iter().map(|&x| i64::from(x))),
            2 => out.extend(
                bytes
                    .chunks_exact(2)
                    .map(|c| i64::from(u16::from_le_bytes([c[0], c[1]]))),
            ),
            _ => out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|c| i64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
            ),
        }
    }

    /// The ids of document `doc`, copied out (for tests and tools; training reads in place).
    pub fn doc_ids(&self, doc: usize) -> Vec<u32> {
        self.doc_range(doc).map(|p| self.id(p)).collect()
    }
}
