//! The fixed 128-byte header of a token store, and the layout it implies.
use std::hash::Hasher;

/// The first bytes of every store.
pub(crate) const MAGIC: [u8; 8] = *b"CRNNTOKS";
/// The store format this code reads and writes.
pub const STORE_VERSION: u32 = 1;
/// Size of the header.
pub(crate) const HEADER_BYTES: usize = 128;
/// A label slot of a document without a label (readers refuse that value as a label).
pub(crate) use crate::error::NO_LABEL;

/// What the header of a store says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub version: u32,
    pub id_width: u32,
    pub docs: u64,
    pub tokens: u64,
    pub key: u128,
    pub vocab_size: u32,
    pub max_id: u32,
    pub has_labels: bool,
    pub text_bytes: u64,
    pub chars: u64,
    pub unk: u64,
    pub ids_checksum: u64,
    pub tail_checksum: u64,
}

/// The id width for a vocabulary of `vocab_size` ids: 1, 2 or 4 bytes.
pub(crate) fn id_width(vocab_size: usize) -> u32 {
    if vocab_size <= 1 << 8 {
        1
    } else if vocab_size <= 1 << 16 {
        2
    } else {
        4
    }
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut b = [0u8; HEADER_BYTES];
        b[0..8].copy_from_slice(&MAGIC);
        b[8..12].copy_from_slice(&self.version.to_le_bytes());
        b[12..16].copy_from_slice(&self.id_width.to_le_bytes());
        b[16..24].copy_from_slice(&self.docs.to_le_bytes());
        b[24..32].copy_from_slice(&self.tokens.to_le_bytes());
        b[32..48].copy_from_slice(&self.key.to_le_bytes());
        b[48..52].copy_from_slice(&self.vocab_size.to_le_bytes());
        b[52..56].copy_from_slice(&self.max_id.to_le_bytes());
        b[56..60].copy_from_slice(&u32::from(self.has_labels).to_le_bytes());
        b[64..72].copy_from_slice(&self.text_bytes.to_le_bytes());
        b[72..80].copy_from_slice(&self.chars.to_le_bytes());
        b[80..88].copy_from_slice(&self.unk.to_le_bytes());
        b[88..96].copy_from_slice(&self.ids_checksum.to_le_bytes());
        b[96..104].copy_from_slice(&self.tail_checksum.to_le_bytes());
        let sum = twox_hash::XxHash3_64::oneshot(&b[..120]);
        b[120..128].copy_from_slice(&sum.to_le_bytes());
        b
    }

    /// Reads a header, checking its magic, version and checksum.
    pub(crate) fn decode(b: &[u8]) -> Result<Header, String> {
        if b.len() < HEADER_BYTES {
            return Err(format!(
                "{} bytes, shorter than a header ({HEADER_BYTES})",
                b.len()
            ));
        }
        if b[0..8] != MAGIC {
            return Err("not a charrnn token store (wrong magic bytes)".into());
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        let version = u32_at(8);
        if version != STORE_VERSION {
            return Err(format!(
                "store format {version}, this charrnn reads {STORE_VERSION}"
            ));
        }
        let sum = twox_hash::XxHash3_64::oneshot(&b[..120]);
        if sum != u64_at(120) {
            return Err("the header checksum does not match (damaged header)".into());
        }
        let mut key = [0u8; 16];
        key.copy_from_slice(&b[32..48]);
        let header = Header {
            version,
            id_width: u32_at(12),
            docs: u64_at(16),
            tokens: u64_at(24),
            key: u128::from_le_bytes(key),
            vocab_size: u32_at(48),
            max_id: u32_at(52),
            has_labels: u32_at(56) != 0,
            text_bytes: u64_at(64),
            chars: u64_at(72),
            unk: u64_at(80),
            ids_checksum: u64_at(88),
            tail_checksum: u64_at(96),
        };
        if !matches!(header.id_width, 1 | 2 | 4) {
            return Err(format!("id width {} (expected 1, 2 or 4)", header.id_width));
        }
        Ok(header)
    }

    /// Where the document offsets start (the ids padded to 8 bytes).
    pub(crate) fn offsets_at(&self) -> Option<usize> {
        let ids = usize::try_from(self.tokens.checked_mul(u64::from(self.id_width))?).ok()?;
        HEADER_BYTES.checked_add(ids.checked_next_multiple_of(8)?)
    }

    /// Where the labels start (after `docs + 1` offsets).
    pub(crate) fn labels_at(&self) -> Option<usize> {
        let offsets = usize::try_from(self.docs.checked_add(1)?.checked_mul(8)?).ok()?;
        self.offsets_at()?.checked_add(offsets)
    }

    /// The whole file's length: labels (when present) then nothing else.
    pub(crate) fn file_len(&self) -> Option<usize> {
        let labels = if self.has_labels {
            usize::try_from(self.docs.checked_mul(8)?).ok()?
        } else {
            0
        };
        self.labels_at()?.checked_add(labels)
    }
}

/// xxh3-64 of a byte section, streaming.
#[derive(Default)]
pub(crate) struct Checksum(twox_hash::XxHash3_64);

impl Checksum {
    pub(crate) fn add(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }

    pub(crate) fn value(&self) -> u64 {
        self.0.finish()
    }
}
