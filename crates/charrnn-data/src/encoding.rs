//! Text encodings of the inputs ([`Encoding`]) and the byte-stream adapter that turns a file's
//! bytes into UTF-8 after decompression and before any parsing, so that the plain text, CSV and
//! JSON Lines readers above it see UTF-8 whatever the file holds. A leaf: it imports nothing
//! from the crate.
//!
//! Latin-1 and Windows-1252 read any bytes, so a UTF-8 file read in one of them is no error:
//! it is mojibake (`é` becomes `Ã©`). [`Encoding::doubt`] looks at a file's first bytes (after
//! decompression) and says, as an [`EncodingDoubt`], when they read as UTF-8 rather than as the
//! encoding given: UTF-8 with a character of several bytes, read as Latin-1 or Windows-1252; or
//! UTF-8 without a single NUL byte, read as UTF-16 without a byte-order mark.
//! [`Source::encoding_doubts`](crate::Source::encoding_doubts) asks it about every file of a
//! source.
//!
//! [`Encoding::Auto`] decides per file, from its first [`Encoding::AUTO_BYTES`] bytes (after
//! decompression): a byte-order mark, UTF-16 without one, UTF-8, else Windows-1252
//! ([`Encoding::resolve`]); [`Source::encodings_chosen`](crate::Source::encodings_chosen) says
//! what it chose for each file of a source.
use std::fmt;
use std::io::{self, BufRead, Read};
use std::str::FromStr;

/// The character encoding of a text input: plain text, CSV or JSON Lines (Parquet's strings
/// are UTF-8 by format, and a [`Source`](crate::Source) of Parquet refuses any other but
/// [`Encoding::Auto`], which reads each file in what it is).
///
/// Whatever the encoding, the readers get UTF-8: the bytes are decoded as they stream out of
/// the decompressor. A byte sequence that is not text in the encoding is an error naming its
/// line and byte offset; Latin-1 and Windows-1252 read any bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// UTF-8, strictly; a UTF-8 byte-order mark is dropped. A file that starts with a UTF-16
    /// byte-order mark (`FF FE` or `FE FF`) is read as UTF-16 (the mark leaves no doubt).
    #[default]
    Utf8,
    /// UTF-16 in the byte order its byte-order mark gives (the mark is dropped); little-endian
    /// without one.
    Utf16,
    /// UTF-16, little-endian (a leading `FF FE` is dropped; a big-endian mark is an error).
    Utf16Le,
    /// UTF-16, big-endian (a leading `FE FF` is dropped; a little-endian mark is an error).
    Utf16Be,
    /// ISO-8859-1: each byte is the code point of the same number.
    Latin1,
    /// Windows-1252 ("ANSI" on Western Windows, Excel's CSV): Latin-1 but for `0x80..=0x9F`,
    /// read as the WHATWG Encoding Standard reads them (`0x80` is `€`, `0x93` is `“`); its five
    /// undefined bytes (`0x81`, `0x8D`, `0x8F`, `0x90`, `0x9D`) are the C1 controls of the same
    /// numbers, as in that standard.
    Windows1252,
    /// Decided per file, from its first [`Encoding::AUTO_BYTES`] bytes after decompression
    /// (see [`Encoding::resolve`]): a UTF-16 byte-order mark makes it UTF-16 in the mark's
    /// byte order (the mark is dropped), a UTF-8 one UTF-8; UTF-16 without a mark (a NUL byte
    /// at every other position of the first 64 bytes) is UTF-16 in the byte order the NULs
    /// give; first bytes that are valid UTF-8 (a character cut at their end allowed) make it
    /// UTF-8, checked strictly to the end of the file (bytes that are not UTF-8 further on are
    /// an error saying what Auto chose, and from how many bytes); anything else is
    /// Windows-1252, which reads any byte (Latin-1 text is Windows-1252 but for
    /// `0x80..=0x9F`, invisible C1 controls in Latin-1, so Windows-1252 is the better guess).
    Auto,
}

impl Encoding {
    /// Every encoding, in the order of [`Encoding::name`]s a help text lists
    /// ([`Encoding::Auto`] last).
    pub const ALL: [Encoding; 7] = [
        Encoding::Utf8,
        Encoding::Utf16,
        Encoding::Utf16Le,
        Encoding::Utf16Be,
        Encoding::Latin1,
        Encoding::Windows1252,
        Encoding::Auto,
    ];

    /// How many of a file's first bytes (after decompression) [`Encoding::Auto`] looks at to
    /// choose its encoding: 64 KiB (fewer when the file is shorter).
    pub const AUTO_BYTES: usize = 64 * 1024;

    /// `reader`'s bytes in this encoding, read as UTF-8: the adapter a [`Source`](crate::Source)
    /// reads its text files through (after decompression, before any parsing), buffered.
    /// A byte-order mark is dropped and decides as [`Encoding`]'s variants say (with
    /// [`Encoding::Utf8`], a UTF-16 one makes it UTF-16); UTF-8 is checked. A character split
    /// between two reads of `reader` is decoded whole. [`Encoding::Auto`] reads the first
    /// [`Encoding::AUTO_BYTES`] bytes of `reader` before the first byte comes out, to choose.
    ///
    /// # Errors
    /// An [`io::Error`] of kind [`InvalidData`](io::ErrorKind::InvalidData) for input that is
    /// not text in the encoding (bytes that are not UTF-8, an unpaired UTF-16 surrogate, an odd
    /// number of UTF-16 bytes, a UTF-16 byte-order mark of the other byte order), its message
    /// naming the line and the byte offset; the errors of `reader`. Text before bad input is
    /// read first: the error comes when it is reached.
    pub fn decode<'a>(self, reader: impl BufRead + 'a) -> io::Result<Box<dyn BufRead + 'a>> {
        without_bom(decoding(Box::new(reader), self, true)?)
    }

    /// The name used on command lines, in records and in messages: `utf-8`, `utf-16`,
    /// `utf-16le`, `utf-16be`, `latin-1`, `windows-1252` or `auto`.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf16 => "utf-16",
            Encoding::Utf16Le => "utf-16le",
            Encoding::Utf16Be => "utf-16be",
            Encoding::Latin1 => "latin-1",
            Encoding::Windows1252 => "windows-1252",
            Encoding::Auto => "auto",
        }
    }

    /// The encoding a file whose first bytes (after decompression) are `prefix` is read in:
    /// for [`Encoding::Auto`], the one it chooses (never `Auto`); any other encoding is itself.
    /// `whole` says that `prefix` is the whole file; else a character cut at its end is no
    /// evidence against UTF-8. A source hands it the first [`Encoding::AUTO_BYTES`] bytes.
    ///
    /// [`Encoding::Auto`] chooses, in this order:
    /// 1. [`Encoding::Utf16Le`] for a leading `FF FE`, [`Encoding::Utf16Be`] for `FE FF`, and
    ///    [`Encoding::Utf8`] for the UTF-8 byte-order mark (`EF BB BF`);
    /// 2. [`Encoding::Utf16Le`] or [`Encoding::Utf16Be`] for UTF-16 without a mark: the first
    ///    64 bytes hold a NUL at three quarters or more of the odd positions (little-endian) or
    ///    of the even ones (big-endian), and at almost none of the others (what
    ///    [`Encoding::Utf8`] refuses as UTF-16 without a mark);
    /// 3. [`Encoding::Utf8`] when `prefix` is valid UTF-8 (an empty one included);
    /// 4. else [`Encoding::Windows1252`].
    ///
    /// Pure: it reads nothing but `prefix`.
    pub fn resolve(self, prefix: &[u8], whole: bool) -> Encoding {
        match self {
            Encoding::Auto => auto_choice(prefix, whole).0,
            other => other,
        }
    }
}

/// Why [`Encoding::Auto`] chose what it chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AutoReason {
    /// A byte-order mark.
    Mark,
    /// NUL bytes at every other position.
    Nuls,
    /// The first bytes are valid UTF-8.
    ValidUtf8,
    /// The first bytes are not UTF-8.
    NotUtf8,
}

/// What [`Encoding::Auto`] reads a file whose first bytes are `prefix` in (see
/// [`Encoding::resolve`]), and why.
fn auto_choice(prefix: &[u8], whole: bool) -> (Encoding, AutoReason) {
    match prefix.get(..2).unwrap_or_default() {
        [0xFF, 0xFE] => return (Encoding::Utf16Le, AutoReason::Mark),
        [0xFE, 0xFF] => return (Encoding::Utf16Be, AutoReason::Mark),
        _ if prefix.starts_with(&BOM) => return (Encoding::Utf8, AutoReason::Mark),
        _ => {}
    }
    match utf16_without_mark(&prefix[..prefix.len().min(HEAD_BYTES)]) {
        Some(Order::Little) => return (Encoding::Utf16Le, AutoReason::Nuls),
        Some(Order::Big) => return (Encoding::Utf16Be, AutoReason::Nuls),
        None => {}
    }
    let utf8 = if whole {
        std::str::from_utf8(prefix).is_ok()
    } else {
        utf8_prefix(prefix).is_some()
    };
    if utf8 {
        (Encoding::Utf8, AutoReason::ValidUtf8)
    } else {
        (Encoding::Windows1252, AutoReason::NotUtf8)
    }
}

/// Reads the first bytes [`Encoding::Auto`] looks at from the front of `reader` (consumed):
/// up to [`Encoding::AUTO_BYTES`], and whether they are the whole stream.
pub(crate) fn auto_head(reader: &mut dyn BufRead) -> io::Result<(Vec<u8>, bool)> {
    let head = first_bytes(reader, Encoding::AUTO_BYTES)?;
    let whole = head.len() < Encoding::AUTO_BYTES || reader.fill_buf()?.is_empty();
    Ok((head, whole))
}

/// A reason to think that a file is not in the [`Encoding`] it is read in, but in another
/// (so far always UTF-8): what [`Encoding::doubt`] finds in its first bytes. Its `Display` is
/// one English sentence (no `warning:` in front, no file name) saying so and showing the
/// evidence: some bytes, what they are in the likely encoding and what the encoding given
/// makes of them.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncodingDoubt {
    /// The encoding the file is read in.
    pub encoding: Encoding,
    /// The encoding the bytes look like: [`Encoding::Utf8`].
    pub likely: Encoding,
    /// How many of the file's first bytes were looked at.
    pub checked: usize,
    /// The byte offset of [`EncodingDoubt::bytes`] in the (decompressed) file.
    pub offset: usize,
    /// The evidence: for Latin-1 and Windows-1252, the first character of several bytes in
    /// UTF-8; for UTF-16, the first whole UTF-8 characters, two bytes or more.
    pub bytes: Vec<u8>,
    /// What [`EncodingDoubt::bytes`] are in [`EncodingDoubt::likely`] (`é`).
    pub as_likely: String,
    /// What [`EncodingDoubt::encoding`] makes of [`EncodingDoubt::bytes`] (`Ã©` in Latin-1);
    /// half a UTF-16 code unit, or a surrogate without its pair, is `U+FFFD`.
    pub as_read: String,
}

impl EncodingDoubt {
    /// How many of a file's first bytes (after decompression)
    /// [`Source::encoding_doubts`](crate::Source::encoding_doubts) looks at: 64 KiB.
    pub const CHECKED_BYTES: usize = 64 * 1024;
}

impl fmt::Display for EncodingDoubt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (read, likely) = (self.encoding, self.likely);
        write!(f, "the text looks like UTF-8, not {read}: ")?;
        if matches!(
            read,
            Encoding::Utf16 | Encoding::Utf16Le | Encoding::Utf16Be
        ) {
            write!(
                f,
                "its first {} bytes hold no NUL byte and no byte-order mark (UTF-16 text almost \
                 always does) and are valid UTF-8; ",
                self.checked
            )?;
        }
        write!(
            f,
            "the bytes {} at byte {} are \"{}\" in UTF-8 but \"{}\" in {read}; if the file is \
             UTF-8, read it as {likely}",
            hex(&self.bytes),
            self.offset,
            self.as_likely.escape_debug(),
            self.as_read.escape_debug()
        )
    }
}

impl Encoding {
    /// Whether `prefix`, the first bytes of a file after decompression (any number of them; a
    /// character may be cut at its end), say that the file is not in this encoding but in
    /// UTF-8:
    /// - [`Encoding::Latin1`] and [`Encoding::Windows1252`]: `prefix` is valid UTF-8 and holds
    ///   a character of several bytes (the first one is named). Latin-1 or Windows-1252 text
    ///   with a letter that is not ASCII is almost never valid UTF-8 (`é` alone is `0xE9`, a
    ///   UTF-8 lead byte that wants two more bytes that are not letters); ASCII reads alike in
    ///   all three, so raises no doubt.
    /// - [`Encoding::Utf16`], [`Encoding::Utf16Le`] and [`Encoding::Utf16Be`]: `prefix` has no
    ///   byte-order mark, at least 8 bytes, not a single NUL byte, and is valid UTF-8. (UTF-16
    ///   holds a NUL byte in every ASCII character, spaces and line breaks included; shorter
    ///   text is left alone.)
    /// - [`Encoding::Utf8`]: never (bytes that are not UTF-8 are an error of the readers).
    /// - [`Encoding::Auto`]: never (it chooses per file, from the same first bytes).
    ///
    /// Pure: it reads nothing but `prefix`.
    pub fn doubt(self, prefix: &[u8]) -> Option<EncodingDoubt> {
        let valid = utf8_prefix(prefix)?;
        let (offset, bytes, as_read) = match self {
            Encoding::Utf8 | Encoding::Auto => return None,
            Encoding::Latin1 | Encoding::Windows1252 => {
                let (offset, c) = valid.char_indices().find(|(_, c)| c.len_utf8() > 1)?;
                let bytes = &prefix[offset..offset + c.len_utf8()];
                let single = |b: &u8| match self {
                    Encoding::Windows1252 => windows_1252_char(*b),
                    _ => char::from(*b),
                };
                (offset, bytes, bytes.iter().map(single).collect())
            }
            Encoding::Utf16 | Encoding::Utf16Le | Encoding::Utf16Be => {
                let marked = prefix.starts_with(&[0xFF, 0xFE]) || prefix.starts_with(&[0xFE, 0xFF]);
                if marked || prefix.len() < MIN_UTF16_DOUBT_BYTES || prefix.contains(&0) {
                    return None;
                }
                // Whole characters, until they are two bytes or more: an even number (whole
                // code units) unless that takes more than 8.
                let mut end = 0;
                for (i, c) in valid.char_indices() {
                    if end >= 2 && (end % 2 == 0 || end >= 8) {
                        break;
                    }
                    end = i + c.len_utf8();
                }
                if end < 2 {
                    return None;
                }
                let order = match self {
                    Encoding::Utf16Be => Order::Big,
                    _ => Order::Little,
                };
                let bytes = &prefix[..end];
                (0, bytes, utf16_lossy(bytes, order))
            }
        };
        Some(EncodingDoubt {
            encoding: self,
            likely: Encoding::Utf8,
            checked: prefix.len(),
            offset,
            as_likely: String::from_utf8_lossy(bytes).into_owned(),
            bytes: bytes.to_vec(),
            as_read,
        })
    }
}

/// How many bytes text must have at least for [`Encoding::doubt`] to doubt that it is UTF-16
/// (as many as [`utf16_without_mark`] wants to tell UTF-16 without a mark).
const MIN_UTF16_DOUBT_BYTES: usize = 8;

/// `prefix` as UTF-8, without a character cut at its end; `None` when it is not UTF-8.
fn utf8_prefix(prefix: &[u8]) -> Option<&str> {
    match std::str::from_utf8(prefix) {
        Ok(text) => Some(text),
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&prefix[..e.valid_up_to()]).ok(),
        Err(_) => None,
    }
}

/// `bytes` read as UTF-16 in `order`; what is no character (a lone surrogate, a last odd
/// byte) is `U+FFFD`.
fn utf16_lossy(bytes: &[u8], order: Order) -> String {
    let pairs = bytes.chunks_exact(2);
    let odd = !pairs.remainder().is_empty();
    let units = pairs.map(|pair| match order {
        Order::Little => u16::from_le_bytes([pair[0], pair[1]]),
        Order::Big => u16::from_be_bytes([pair[0], pair[1]]),
    });
    let mut text: String = char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    if odd {
        text.push(char::REPLACEMENT_CHARACTER);
    }
    text
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Encoding {
    type Err = String;

    /// An [`Encoding::name`], or `iso-8859-1` (Latin-1) or `cp1252` (Windows-1252), any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "utf-8" => Ok(Encoding::Utf8),
            "utf-16" => Ok(Encoding::Utf16),
            "utf-16le" => Ok(Encoding::Utf16Le),
            "utf-16be" => Ok(Encoding::Utf16Be),
            "latin-1" | "iso-8859-1" => Ok(Encoding::Latin1),
            "windows-1252" | "cp1252" => Ok(Encoding::Windows1252),
            "auto" => Ok(Encoding::Auto),
            _ => Err(format!(
                "unknown encoding {s:?} (expected utf-8, utf-16, utf-16le, utf-16be, latin-1 \
                 (iso-8859-1), windows-1252 (cp1252) or auto)"
            )),
        }
    }
}

/// Text that is not valid in its encoding: the payload of the [`io::Error`] a decoding stream
/// returns, which the readers turn into an error naming the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// The 1-based line (counted as universal newlines count them) of the bad bytes.
    pub(crate) line: u64,
    /// What is wrong, the byte offset in the (decompressed) file included.
    pub(crate) message: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for DecodeError {}

impl DecodeError {
    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// The [`DecodeError`] an I/O error of a decoding stream carries, if it is one.
pub(crate) fn decode_failure(e: &io::Error) -> Option<&DecodeError> {
    e.get_ref()?.downcast_ref::<DecodeError>()
}

/// `reader`'s bytes in `encoding`, as UTF-8. With [`Encoding::Utf8`] and no UTF-16 byte-order
/// mark, the bytes are checked only when `check_utf8` (else handed on as they are, for a
/// reader that checks them itself); UTF-8 that [`Encoding::Auto`] chose is always checked, so
/// that an error says it was chosen.
///
/// # Errors
/// The error of reading the first bytes, or a [`DecodeError`] when they are a UTF-16
/// byte-order mark of the other byte order than the one given.
pub(crate) fn decoding<'a>(
    mut reader: Box<dyn BufRead + 'a>,
    encoding: Encoding,
    check_utf8: bool,
) -> io::Result<Box<dyn BufRead + 'a>> {
    let mut auto = None;
    let (head, encoding) = match encoding {
        Encoding::Auto => {
            let (head, whole) = auto_head(&mut reader)?;
            let (chosen, reason) = auto_choice(&head, whole);
            auto = Some(Chosen {
                looked_at: head.len(),
                reason,
            });
            (head, chosen)
        }
        Encoding::Latin1 | Encoding::Windows1252 => (Vec::new(), encoding),
        _ => (first_bytes(&mut reader, HEAD_BYTES)?, encoding),
    };
    let check_utf8 = check_utf8 || auto.is_some();
    let mark = match head.get(..2).unwrap_or_default() {
        [0xFF, 0xFE] => Some(Order::Little),
        [0xFE, 0xFF] => Some(Order::Big),
        _ => None,
    };
    let scheme = match (encoding, mark) {
        (Encoding::Utf8 | Encoding::Utf16, Some(order)) => Scheme::Utf16(order),
        (Encoding::Utf8, None)
            if let Some(order) = utf16_without_mark(&head[..head.len().min(HEAD_BYTES)]) =>
        {
            return Err(DecodeError {
                line: 1,
                message: format!(
                    "the text looks like UTF-16{} without a byte-order mark (a NUL byte at every \
                     other position of its first bytes); name its encoding \
                     (SourceOptions::encoding): utf-16{}",
                    order.name(),
                    order.name().to_lowercase()
                ),
            }
            .into_io());
        }
        (Encoding::Utf8, None) if !check_utf8 => {
            return Ok(Box::new(io::Cursor::new(head).chain(reader)));
        }
        (Encoding::Utf8, None) => Scheme::Utf8,
        (Encoding::Utf16 | Encoding::Utf16Le, None) => Scheme::Utf16(Order::Little),
        (Encoding::Utf16Be, None) => Scheme::Utf16(Order::Big),
        (Encoding::Utf16Le, Some(Order::Little)) => Scheme::Utf16(Order::Little),
        (Encoding::Utf16Be, Some(Order::Big)) => Scheme::Utf16(Order::Big),
        (Encoding::Utf16Le | Encoding::Utf16Be, Some(order)) => {
            return Err(DecodeError {
                line: 1,
                message: format!(
                    "the file starts with a UTF-16{} byte-order mark ({}) but the encoding given \
                     is {encoding}; utf-16 reads the byte order from the mark",
                    order.name(),
                    hex(&head[..2])
                ),
            }
            .into_io());
        }
        (Encoding::Latin1, _) => Scheme::Latin1,
        (Encoding::Windows1252, _) => Scheme::Windows1252,
        // `auto_choice` never chooses itself; read as it reads bytes that are not UTF-8.
        (Encoding::Auto, _) => Scheme::Windows1252,
    };
    let skip = if mark.is_some() && matches!(scheme, Scheme::Utf16(_)) {
        2
    } else {
        0
    };
    let mut state = State::new(scheme, skip as u64);
    state.auto = auto;
    state.feed(&head[skip..]);
    Ok(Box::new(Decoder {
        inner: reader,
        state,
    }))
}

/// How many of a stream's first bytes `decoding` looks at: a byte-order mark, and whether
/// the text looks like UTF-16 without one ([`Encoding::Auto`] looks at more, to tell UTF-8).
const HEAD_BYTES: usize = 64;

/// What [`Encoding::Auto`] chose from, for the message of UTF-8 it chose that turns out not
/// to be.
#[derive(Clone, Copy, Debug)]
struct Chosen {
    /// How many first bytes it looked at.
    looked_at: usize,
    reason: AutoReason,
}

impl Chosen {
    /// What a UTF-8 error adds: why UTF-8 was read.
    fn note(self) -> String {
        match self.reason {
            AutoReason::Mark => {
                "encoding auto chose utf-8 from the file's UTF-8 byte-order mark; ".to_owned()
            }
            _ => format!(
                "encoding auto chose utf-8 from the first {} bytes, which are valid UTF-8; ",
                self.looked_at
            ),
        }
    }
}

/// The byte order of UTF-16 text without a byte-order mark, told by its first bytes: a NUL
/// at three quarters or more of the odd positions (little-endian: ASCII's high bytes) or of
/// the even ones (big-endian), and at almost none of the others. Text in UTF-8 holds no NUL.
fn utf16_without_mark(head: &[u8]) -> Option<Order> {
    let pairs = head.len() / 2;
    if pairs < 4 {
        return None;
    }
    let nul_at = |parity: usize| {
        head.chunks_exact(2)
            .filter(|pair| pair[parity] == 0)
            .count()
    };
    let (even, odd) = (nul_at(0), nul_at(1));
    let many = |n: usize| 4 * n >= 3 * pairs;
    let few = |n: usize| 8 * n <= pairs;
    match (many(odd) && few(even), many(even) && few(odd)) {
        (true, _) => Some(Order::Little),
        (_, true) => Some(Order::Big),
        _ => None,
    }
}

/// Reads up to `n` bytes from the front of `reader` (consumed), however the stream hands
/// them out.
fn first_bytes(reader: &mut dyn BufRead, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    while head.len() < n {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let k = buf.len().min(n - head.len());
        head.extend_from_slice(&buf[..k]);
        reader.consume(k);
    }
    Ok(head)
}

/// A byte order of UTF-16.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Order {
    Little,
    Big,
}

impl Order {
    fn name(self) -> &'static str {
        match self {
            Order::Little => "LE",
            Order::Big => "BE",
        }
    }
}

/// How bytes become UTF-8.
#[derive(Clone, Copy, Debug)]
enum Scheme {
    /// Checked and handed on.
    Utf8,
    Utf16(Order),
    Latin1,
    Windows1252,
}

/// Windows-1252's `0x80..=0x9F`, per the WHATWG index (the undefined five are C1 controls).
const WINDOWS_1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}',
    '\u{0090}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

/// The character Windows-1252 reads `b` as.
fn windows_1252_char(b: u8) -> char {
    match b {
        0x80..=0x9F => WINDOWS_1252_HIGH[usize::from(b - 0x80)],
        _ => char::from(b),
    }
}

/// The bytes as `0xE9 0x80`, for messages.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("0x{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What to do about text that is not UTF-8.
///
/// What a decoding error suggests: naming the encoding ([`SourceOptions::encoding`](crate::SourceOptions::encoding);
/// the `charrnn` binary shows its flag instead).
pub(crate) const ENCODING_HINT: &str = "if the file is in another encoding, name it (SourceOptions::encoding): windows-1252 or latin-1";

/// Line breaks counted as universal newlines count them (`\r\n`, `\r` and `\n` are one each),
/// across chunks.
#[derive(Debug, Default)]
struct Lines {
    breaks: u64,
    after_cr: bool,
}

impl Lines {
    fn count(&mut self, text: &[u8]) {
        let Some(&last) = text.last() else { return };
        if text.contains(&b'\r') {
            for &b in text {
                match b {
                    b'\r' => self.breaks += 1,
                    b'\n' if !self.after_cr => self.breaks += 1,
                    _ => {}
                }
                self.after_cr = b == b'\r';
            }
        } else {
            let mut n = text.iter().filter(|&&b| b == b'\n').count() as u64;
            if self.after_cr && text[0] == b'\n' {
                n -= 1;
            }
            self.breaks += n;
            self.after_cr = last == b'\r';
        }
    }

    /// The 1-based number of the line the next byte is on.
    fn line(&self) -> u64 {
        self.breaks + 1
    }
}

/// The decoding of a stream, fed one chunk after another.
#[derive(Debug)]
struct State {
    scheme: Scheme,
    /// Decoded bytes not yet consumed: `out[pos..]`.
    out: Vec<u8>,
    pos: usize,
    /// Input bytes fed so far (a byte-order mark included).
    fed: u64,
    /// UTF-8: the bytes of a character the last chunk ended inside.
    carry: Vec<u8>,
    /// UTF-16: the first byte of a code unit the last chunk ended inside.
    odd: Option<u8>,
    /// UTF-16: a high surrogate waiting for its low one, and the offset of its first byte.
    high: Option<(u16, u64)>,
    lines: Lines,
    /// Bad input met after the text before it: handed out once that text is consumed.
    failed: Option<DecodeError>,
    finished: bool,
    /// What [`Encoding::Auto`] chose from, when it chose.
    auto: Option<Chosen>,
}

impl State {
    fn new(scheme: Scheme, fed: u64) -> Self {
        Self {
            scheme,
            out: Vec::new(),
            pos: 0,
            fed,
            carry: Vec::new(),
            odd: None,
            high: None,
            lines: Lines::default(),
            failed: None,
            finished: false,
            auto: None,
        }
    }

    /// What a UTF-8 error suggests: naming the encoding, after why UTF-8 was read when
    /// [`Encoding::Auto`] chose it.
    fn utf8_hint(&self) -> String {
        let note = self.auto.map(Chosen::note).unwrap_or_default();
        format!("{note}{ENCODING_HINT}")
    }

    /// Decodes `chunk` (the next input bytes) after what `out` holds: the decoded text, up to
    /// the first bad input (then `failed`).
    fn feed(&mut self, chunk: &[u8]) {
        if self.failed.is_some() || chunk.is_empty() {
            return;
        }
        let before = self.out.len();
        let start = self.fed;
        self.fed += chunk.len() as u64;
        let failure = match self.scheme {
            Scheme::Utf8 => self.utf8(chunk, start),
            Scheme::Utf16(order) => self.utf16(chunk, start, order),
            Scheme::Latin1 => {
                self.single_bytes(chunk, char::from);
                None
            }
            Scheme::Windows1252 => {
                self.single_bytes(chunk, windows_1252_char);
                None
            }
        };
        self.lines.count(&self.out[before..]);
        if let Some(message) = failure {
            self.failed = Some(DecodeError {
                line: self.lines.line(),
                message,
            });
        }
    }

    /// The end of the input: what was left half-read is an error.
    fn finish(&mut self) {
        self.finished = true;
        if self.failed.is_some() {
            return;
        }
        let message = if !self.carry.is_empty() {
            let at = self.fed - self.carry.len() as u64;
            Some(format!(
                "the text is not valid UTF-8 at byte {at} ({}: the file ends inside a \
                 character); {}",
                hex(&self.carry),
                self.utf8_hint()
            ))
        } else if self.odd.is_some() {
            Some(format!(
                "the text is not valid UTF-16 at byte {}: the file ends in half a code unit (an \
                 odd number of bytes)",
                self.fed - 1
            ))
        } else {
            self.high.map(|(unit, at)| unpaired(unit, at))
        };
        if let Some(message) = message {
            self.failed = Some(DecodeError {
                line: self.lines.line(),
                message,
            });
        }
    }

    fn utf8(&mut self, chunk: &[u8], start: u64) -> Option<String> {
        // `carry` holds the first bytes of a character `chunk` ends; they were fed before it.
        let base = start - self.carry.len() as u64;
        let from = self.out.len();
        self.out.append(&mut self.carry);
        self.out.extend_from_slice(chunk);
        let Err(e) = std::str::from_utf8(&self.out[from..]) else {
            return None;
        };
        let valid = from + e.valid_up_to();
        match e.error_len() {
            None => {
                self.carry.extend_from_slice(&self.out[valid..]);
                self.out.truncate(valid);
                None
            }
            Some(len) => {
                let bad = hex(&self.out[valid..valid + len]);
                self.out.truncate(valid);
                let at = base + (valid - from) as u64;
                Some(format!(
                    "the text is not valid UTF-8 at byte {at} ({bad}); {}",
                    self.utf8_hint()
                ))
            }
        }
    }

    fn utf16(&mut self, mut chunk: &[u8], start: u64, order: Order) -> Option<String> {
        let unit = |a: u8, b: u8| match order {
            Order::Little => u16::from_le_bytes([a, b]),
            Order::Big => u16::from_be_bytes([a, b]),
        };
        let mut at = start;
        if let Some(first) = self.odd.take() {
            // `chunk` is not empty: its first byte ends the unit.
            let u = unit(first, chunk[0]);
            chunk = &chunk[1..];
            if let Err(message) = self.unit(u, at - 1) {
                return Some(message);
            }
            at += 1;
        }
        let mut pairs = chunk.chunks_exact(2);
        for pair in &mut pairs {
            if let Err(message) = self.unit(unit(pair[0], pair[1]), at) {
                return Some(message);
            }
            at += 2;
        }
        if let [last] = pairs.remainder() {
            self.odd = Some(*last);
        }
        None
    }

    /// Decodes one UTF-16 code unit whose first byte is at offset `at`.
    fn unit(&mut self, u: u16, at: u64) -> Result<(), String> {
        if let Some((high, high_at)) = self.high.take() {
            if !(0xDC00..=0xDFFF).contains(&u) {
                return Err(unpaired(high, high_at));
            }
            let c = 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(u) - 0xDC00);
            push(
                &mut self.out,
                char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER),
            );
            return Ok(());
        }
        match u {
            0..=0x7F => self.out.push(u as u8),
            0xD800..=0xDBFF => self.high = Some((u, at)),
            0xDC00..=0xDFFF => return Err(unpaired(u, at)),
            _ => push(
                &mut self.out,
                char::from_u32(u32::from(u)).unwrap_or(char::REPLACEMENT_CHARACTER),
            ),
        }
        Ok(())
    }

    fn single_bytes(&mut self, chunk: &[u8], decode: impl Fn(u8) -> char) {
        self.out.reserve(chunk.len());
        for &b in chunk {
            if b.is_ascii() {
                self.out.push(b);
            } else {
                push(&mut self.out, decode(b));
            }
        }
    }
}

fn unpaired(unit: u16, at: u64) -> String {
    format!("the text is not valid UTF-16 at byte {at}: an unpaired surrogate (0x{unit:04X})")
}

fn push(out: &mut Vec<u8>, c: char) {
    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
}

/// A stream of bytes in some encoding read as UTF-8 (see [`decoding`]).
struct Decoder<R> {
    inner: R,
    state: State,
}

impl<R: BufRead> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Decoder<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        let s = &mut self.state;
        // A chunk may decode to nothing (half a character): read on.
        while s.pos == s.out.len() {
            if let Some(e) = &s.failed {
                return Err(e.clone().into_io());
            }
            if s.finished {
                break;
            }
            s.out.clear();
            s.pos = 0;
            let chunk = self.inner.fill_buf()?;
            if chunk.is_empty() {
                s.finish();
                continue;
            }
            let n = chunk.len();
            s.feed(chunk);
            self.inner.consume(n);
        }
        Ok(&s.out[s.pos..])
    }

    fn consume(&mut self, amount: usize) {
        let s = &mut self.state;
        s.pos = (s.pos + amount).min(s.out.len());
    }
}

/// A reader that keeps a copy of the [`DecodeError`] it passed on: for readers (the CSV header
/// inference) that turn I/O errors into text.
pub(crate) struct Watched<R> {
    inner: R,
    failure: Option<DecodeError>,
}

impl<R> Watched<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            failure: None,
        }
    }

    /// The decoding error met, if any.
    pub(crate) fn failure(&self) -> Option<&DecodeError> {
        self.failure.as_ref()
    }
}

impl<R: Read> Read for Watched<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if let Some(d) = decode_failure(e) {
                self.failure = Some(d.clone());
            }
        })
    }
}

/// The UTF-8 byte-order mark: dropped at the start of decoded text, sniffed past by format
/// detection.
pub(crate) const BOM: [u8; 3] = [0xef, 0xbb, 0xbf];

/// `reader` (UTF-8, decoded) without a leading byte-order mark. Its first bytes are read until
/// they are the mark or cannot begin it (a decompressor may hand them out one at a time).
pub(crate) fn without_bom<'a>(
    mut reader: Box<dyn BufRead + 'a>,
) -> io::Result<Box<dyn BufRead + 'a>> {
    let mut head = Vec::with_capacity(BOM.len());
    while head.len() < BOM.len() && BOM.starts_with(&head) {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min(BOM.len() - head.len());
        head.extend_from_slice(&buf[..n]);
        reader.consume(n);
    }
    if head == BOM {
        return Ok(reader);
    }
    Ok(Box::new(io::Cursor::new(head).chain(reader)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], encoding: Encoding) -> Result<String, DecodeError> {
        let inner = Box::new(io::BufReader::with_capacity(
            3,
            io::Cursor::new(bytes.to_vec()),
        ));
        let mut out = Vec::new();
        let mut reader =
            decoding(inner, encoding, true).map_err(|e| decode_failure(&e).cloned().unwrap())?;
        reader
            .read_to_end(&mut out)
            .map_err(|e| decode_failure(&e).cloned().unwrap())?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn every_windows_1252_byte_is_the_whatwg_code_point() {
        let all: Vec<u8> = (0..=255).collect();
        let text = decode_all(&all, Encoding::Windows1252).unwrap();
        let chars: Vec<char> = text.chars().collect();
        assert_eq!(chars.len(), 256);
        for (b, c) in all.iter().zip(&chars) {
            match b {
                0x80..=0x9F => assert_eq!(*c, WINDOWS_1252_HIGH[usize::from(b - 0x80)]),
                _ => assert_eq!(u32::from(*c), u32::from(*b)),
            }
        }
        assert_eq!(chars[0x80], '€');
        assert_eq!(chars[0x93], '“');
        assert_eq!(chars[0x9F], 'Ÿ');
        for undefined in [0x81, 0x8D, 0x8F, 0x90, 0x9D] {
            assert_eq!(u32::from(chars[undefined]), undefined as u32);
        }
        let latin = decode_all(&all, Encoding::Latin1).unwrap();
        assert!(latin.chars().zip(0u32..).all(|(c, b)| u32::from(c) == b));
    }

    #[test]
    fn lines_count_as_universal_newlines() {
        let mut lines = Lines::default();
        for part in [&b"a\r"[..], b"\nb\r", b"c\n", b"\n", b"\r", b"\r\n"] {
            lines.count(part);
        }
        // `a\r\nb\rc\n\n\r\r\n`: a, b, c, three empty lines, then the line after `\r\n`.
        assert_eq!(lines.line(), 7);
    }

    #[test]
    fn names_read_back() {
        for e in Encoding::ALL {
            assert_eq!(e.name().parse::<Encoding>(), Ok(e));
            assert_eq!(e.to_string().to_uppercase().parse::<Encoding>(), Ok(e));
        }
        assert_eq!("ISO-8859-1".parse(), Ok(Encoding::Latin1));
        assert_eq!("cp1252".parse(), Ok(Encoding::Windows1252));
        assert!("ebcdic".parse::<Encoding>().is_err());
    }

    #[test]
    fn a_byte_order_mark_of_the_other_order_is_refused() {
        let e = decode_all(&[0xFE, 0xFF, 0, b'a'], Encoding::Utf16Le).unwrap_err();
        assert!(e.message.contains("UTF-16BE byte-order mark"), "{e}");
        assert_eq!(
            decode_all(&[0xFE, 0xFF, 0, b'a'], Encoding::Utf16Be).unwrap(),
            "a"
        );
        assert_eq!(
            decode_all(&[0xFF, 0xFE, b'a', 0], Encoding::Utf16Le).unwrap(),
            "a"
        );
        assert_eq!(decode_all(&[b'a', 0], Encoding::Utf16).unwrap(), "a");
    }
}
