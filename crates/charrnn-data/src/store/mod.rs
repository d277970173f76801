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
mod file;
mod header;
mod mmap;
mod view;

use std::path::Path;

use crate::DataError;

pub use build::{BuildOptions, Encoder};
pub use file::Store;
pub use header::STORE_VERSION;
pub use view::{Selection, StoreExamples, split_store};

/// The key a store is built for: xxh3-128 of the source's fingerprint
/// ([`Source::fingerprint`](crate::Source::fingerprint)) and `vocab_bytes`. Any change to the
/// inputs, the columns, the format options or these bytes changes it, and the store is
/// rebuilt.
///
/// `vocab_bytes` stand for the encoder: the store hashes them and never reads them, so they
/// must change whenever the ids it gives could. With a `charrnn-vocab` vocabulary, pass the
/// UTF-8 bytes of its `tokenizer.json` text, `vocab.to_json()?.as_bytes()`
/// (`charrnn_vocab::Vocab::to_json`: the tokens, their ids and the pipeline, without the
/// frequency counts that `Vocab::save` keeps in a file apart). That is what the `charrnn` binary passes, so a store it built is reused by a
/// library caller with the same source, options and vocabulary, and the other way round.
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

impl Store {
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
}
