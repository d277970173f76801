//! The store as a memory-mapped file: opening and checking it, and reading ids, offsets
//! and labels. A leaf of the `store` module (building and views import it).
use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::header::{Checksum, HEADER_BYTES, Header, NO_LABEL, id_width};
use super::mmap::Map;
use crate::DataError;
use std::io::{Read, Seek, SeekFrom};

/// A token store, memory-mapped: ids, document offsets and labels, read without copying.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    map: Map,
    header: Header,
    offsets_at: usize,
    labels_at: usize,
    /// Rows the source left out for a null, when this value built the store.
    pub(super) skipped_rows: Option<u64>,
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
        // The ids are checked through reads, not through the map: touching every page of the
        // map would count the whole store in the process's resident memory (the pages stay
        // in the page cache either way); training then maps only the pages it reads.
        let ids = checksum_of(
            &file,
            HEADER_BYTES as u64,
            (offsets_at - HEADER_BYTES) as u64,
        )
        .map_err(|source| DataError::Io {
            path: path.to_owned(),
            source,
        })?;
        if ids != header.ids_checksum {
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
            skipped_rows: None,
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

    /// The rows of the source that [`Store::build`] left out because their text or label is
    /// null ([`NullPolicy::Skip`](crate::NullPolicy::Skip); see
    /// [`Pieces::skipped_rows`](crate::Pieces::skipped_rows)): `Some` for a store that
    /// [`Store::build`] (or [`Store::open_or_build`], when it built) returned, `None` for one
    /// opened from its file, which does not keep the count.
    pub fn skipped_rows(&self) -> Option<u64> {
        self.skipped_rows
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

    /// Appends the ids at token positions `range` to `out`, as i64 (what batches hold). The
    /// pages read are unmapped again afterwards, so that the process's resident memory does
    /// not grow with the part of the store training has visited (the page cache keeps them).
    pub fn extend_ids(&self, range: Range<u64>, out: &mut Vec<i64>) {
        let b = self.map.bytes();
        let w = self.id_width();
        let at = HEADER_BYTES + range.start as usize * w..HEADER_BYTES + range.end as usize * w;
        self.copy_ids(&b[at.clone()], out);
        self.map.release(at);
    }

    fn copy_ids(&self, bytes: &[u8], out: &mut Vec<i64>) {
        let w = self.id_width();
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

/// The checksum of `len` bytes of `file` from `start`, read in 1 MiB chunks.
fn checksum_of(mut file: &File, start: u64, len: u64) -> std::io::Result<u64> {
    file.seek(SeekFrom::Start(start))?;
    let mut sum = Checksum::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = len;
    while left > 0 {
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        file.read_exact(&mut buf[..n])?;
        sum.add(&buf[..n]);
        left -= n as u64;
    }
    Ok(sum.value())
}
