//! Encoding a source into a store, streaming, written atomically.
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use super::file::Store;
use super::header::{Checksum, HEADER_BYTES, Header, NO_LABEL, STORE_VERSION, id_width};
use crate::convert::AtomicFile;
use crate::{DataError, Source};

/// The encoder a store is built with: appends the ids of a text to the vector (never id 0,
/// `<pad>`), or says why it cannot. Pieces of one long document are encoded one by one.
pub type Encoder<'a> = dyn FnMut(&str, &mut Vec<u32>) -> Result<(), String> + 'a;

/// What [`Store::build`] needs to know about the vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    /// Number of ids: every id must be below it, and it chooses the id width.
    pub vocab_size: usize,
    /// The `<unk>` id, to count unknown characters ([`Store::unk_count`]).
    pub unk_id: Option<u32>,
}

/// Progress is reported every this many bytes of text.
const PROGRESS_EVERY: u64 = 1 << 20;

impl Store {
    /// Encodes every document of `source` into a new store at `path`, then opens it.
    ///
    /// The file is written under a temporary name in the same directory and renamed over
    /// `path` only when complete (and synced), so an interrupted build never leaves a store
    /// under its final name. Memory holds one piece of text, its ids and 8 bytes per document
    /// (offsets), 16 with labels; never the corpus. `progress` is called with the bytes of the
    /// source read so far, about every MiB of text. The store returned tells how many rows the
    /// source left out for a null ([`Store::skipped_rows`]; the file does not keep it).
    ///
    /// # Errors
    /// The source's errors; [`DataError::Encode`] when the encoder fails or returns an id
    /// that is 0 or not below `vocab_size`; [`DataError::Io`]; [`DataError::Options`] for a
    /// vocabulary of more than `u32::MAX` ids.
    pub fn build(
        path: &Path,
        key: u128,
        source: &Source,
        opts: &BuildOptions,
        encode: &mut Encoder<'_>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<Store, DataError> {
        let vocab_size = u32::try_from(opts.vocab_size)
            .map_err(|_| DataError::Options("a vocabulary of more than 2^32 ids".into()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| DataError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        let io = |source| DataError::Io {
            path: path.to_owned(),
            source,
        };
        let out = AtomicFile::new(path)?;
        let width = id_width(opts.vocab_size);
        let mut w = BufWriter::with_capacity(1 << 20, out.file());
        w.write_all(&[0u8; HEADER_BYTES]).map_err(io)?;

        let mut ids_sum = Checksum::default();
        let mut offsets: Vec<u64> = vec![0];
        let mut labels: Vec<i64> = Vec::new();
        let mut has_labels = false;
        let (mut tokens, mut max_id, mut text_bytes, mut chars, mut unk) =
            (0u64, 0u32, 0u64, 0u64, 0u64);
        let mut in_doc = false;
        let mut ids: Vec<u32> = Vec::new();
        let mut bytes: Vec<u8> = Vec::new();
        let mut next_report = PROGRESS_EVERY;
        let mut pieces = source.pieces();
        progress(0);
        while let Some(piece) = pieces.next() {
            let piece = piece?;
            if !in_doc {
                has_labels |= piece.label.is_some();
                labels.push(piece.label.unwrap_or(NO_LABEL));
            }
            in_doc = !piece.end;
            ids.clear();
            encode(&piece.text, &mut ids).map_err(|message| DataError::Encode {
                path: path.to_owned(),
                message,
            })?;
            bytes.clear();
            for &id in &ids {
                if id == 0 || id >= vocab_size {
                    return Err(DataError::Encode {
                        path: path.to_owned(),
                        message: format!("the encoder returned id {id}, not in 1..{vocab_size}"),
                    });
                }
                max_id = max_id.max(id);
                unk += u64::from(Some(id) == opts.unk_id);
                match width {
                    1 => bytes.push(id as u8),
                    2 => bytes.extend_from_slice(&(id as u16).to_le_bytes()),
                    _ => bytes.extend_from_slice(&id.to_le_bytes()),
                }
            }
            ids_sum.add(&bytes);
            w.write_all(&bytes).map_err(io)?;
            tokens += ids.len() as u64;
            text_bytes += piece.text.len() as u64;
            chars += piece.text.chars().count() as u64;
            if piece.end {
                offsets.push(tokens);
            }
            if text_bytes >= next_report {
                progress(pieces.bytes_read());
                next_report = text_bytes + PROGRESS_EVERY;
            }
        }
        progress(pieces.bytes_read());
        let ids_len = tokens * u64::from(width);
        let pad = (ids_len.next_multiple_of(8) - ids_len) as usize;
        let zeros = [0u8; 8];
        ids_sum.add(&zeros[..pad]);
        w.write_all(&zeros[..pad]).map_err(io)?;
        let mut tail = Checksum::default();
        let mut section = Vec::with_capacity(8 * offsets.len());
        for o in &offsets {
            section.extend_from_slice(&o.to_le_bytes());
        }
        if has_labels {
            for l in &labels {
                section.extend_from_slice(&l.to_le_bytes());
            }
        }
        tail.add(&section);
        w.write_all(&section).map_err(io)?;
        drop(section);
        let header = Header {
            version: STORE_VERSION,
            id_width: width,
            docs: offsets.len() as u64 - 1,
            tokens,
            key,
            vocab_size,
            max_id,
            has_labels,
            text_bytes,
            chars,
            unk,
            ids_checksum: ids_sum.value(),
            tail_checksum: tail.value(),
        };
        let mut file = w.into_inner().map_err(|e| io(e.into_error()))?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(&header.encode()).map_err(io)?;
        out.commit()?;
        let mut store = Store::open(path, key, opts.vocab_size)?;
        store.skipped_rows = Some(pieces.skipped_rows());
        Ok(store)
    }
}
