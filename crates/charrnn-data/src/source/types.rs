//! The vocabulary of inputs that the format readers and [`super::Source`] share: formats,
//! compression, text units, options, files, pieces, and the decompressing (and decoding) byte
//! stream. A leaf: it imports nothing from its siblings.
use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::encoding::{Encoding, decoding, without_bom};
use crate::error::read_error;
use crate::{DataError, NullPolicy};

/// How a file is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip (`.gz`, or the bytes `1f 8b`); several members are read one after the other.
    Gzip,
    /// Zstandard (`.zst`, or the bytes `28 b5 2f fd`); several frames are read one after the
    /// other.
    Zstd,
}

/// How many bytes of one document a [`Piece`] holds at most (a little more when a character or
/// a line straddles the limit).
pub const PIECE_BYTES: usize = 1 << 20;

/// The format of an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Apache Parquet: one file, or shards of one data set with the same schema.
    Parquet,
    /// CSV with a header naming the columns, or in the AG News layout (no header;
    /// `label,title,description`).
    Csv,
    /// JSON Lines: one JSON object per line. A file whose first character (after a byte-order
    /// mark and whitespace) is `[` is read as one JSON array of objects instead, each element
    /// a record as one line would be (streaming: the file is never held whole).
    Jsonl,
    /// Plain text (UTF-8, or the [`SourceOptions::encoding`]); [`TextUnit`] says what one
    /// document is.
    Text,
}

impl Format {
    /// The name used on command lines and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
            Format::Jsonl => "jsonl",
            Format::Text => "text",
        }
    }
}
impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    /// `parquet`, `csv` (or `tsv`), `jsonl` (or `json`, `ndjson`: JSON Lines, or a JSON
    /// array of objects), `text` (or `txt`), any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "parquet" | "pq" => Ok(Format::Parquet),
            "csv" | "tsv" => Ok(Format::Csv),
            "jsonl" | "json" | "ndjson" => Ok(Format::Jsonl),
            "text" | "txt" => Ok(Format::Text),
            _ => Err(format!(
                "unknown format {s:?} (expected parquet, csv, jsonl or text)"
            )),
        }
    }
}

/// How the first line of a CSV file is understood.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CsvHeader {
    /// AG News layout: no header; three columns `label` (integer, stored as Int64), `title`
    /// and `description` (stored as Utf8).
    #[default]
    AgNews,
    /// The first record is a header naming the columns; every column is stored as Utf8.
    FromFile,
}

/// What one document of a plain text input is.
///
/// Whatever the unit, line endings are read as Python's text mode (universal newlines) reads
/// them: `\r\n` and a lone `\r` become `\n`, so a Windows file gives the documents of its
/// Unix twin.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TextUnit {
    /// A whole file (a novel, a source file), byte for byte but for its line endings.
    #[default]
    File,
    /// A non-empty line, without its line ending (`\n`, `\r\n` or `\r`).
    Line,
    /// A paragraph: lines up to a blank line, joined by `\n`.
    Paragraph,
}

impl TextUnit {
    /// The name used on command lines and in messages.
    pub fn name(self) -> &'static str {
        match self {
            TextUnit::File => "file",
            TextUnit::Line => "line",
            TextUnit::Paragraph => "paragraph",
        }
    }
}

impl FromStr for TextUnit {
    type Err = String;

    /// `file`, `line` or `paragraph`, any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "file" => Ok(TextUnit::File),
            "line" => Ok(TextUnit::Line),
            "paragraph" => Ok(TextUnit::Paragraph),
            _ => Err(format!(
                "unknown text unit {s:?} (expected file, line or paragraph)"
            )),
        }
    }
}

/// How [`Source::open`](crate::Source::open) reads an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceOptions {
    /// The format; `None`: detected from the extension, else from the first bytes.
    pub format: Option<Format>,
    /// Text columns (Parquet, CSV) or fields (JSON Lines), joined by single spaces; empty:
    /// `text`. Ignored for plain text. A JSON field named with dots, `a.b`, is the key `a.b`
    /// when the object has one, else the field `b` of the object under `a` (and so on down).
    pub text_columns: Vec<String>,
    /// An integer label column or field (strings holding integers are accepted; the lowest i64,
    /// which the token store reserves, is an error), or with [`SourceOptions::label_names`] a
    /// column of text. Ignored for plain text. A JSON field may be nested, as the text fields.
    pub label_column: Option<String>,
    /// Classes of a label column that holds text: a label is read as its index in this list
    /// (0, 1, ...); a label not in the list is an error naming it and the list. `None`: labels
    /// are integers.
    ///
    /// A label matches a name exactly (no trimming, no case folding): a CSV field or a Parquet
    /// string as it is, a JSON string, or a JSON number or boolean by its JSON text (`3`,
    /// `2.5`, `true`), an integer Parquet column by its decimal text. A name given twice is an
    /// error of [`Source::open`](crate::Source::open).
    /// [`Source::label_values`](crate::Source::label_values) finds the names of a column.
    pub label_names: Option<Vec<String>>,
    /// What a null (or, in JSON Lines, a missing field) does.
    pub nulls: NullPolicy,
    /// What one document of plain text is.
    pub text_unit: TextUnit,
    /// CSV only: `None` detects a header (the first row names every requested column) or the
    /// AG News layout (three fields, the first an integer).
    pub csv_header: Option<CsvHeader>,
    /// The encoding of plain text, CSV and JSON Lines files (default UTF-8, a UTF-16
    /// byte-order mark read as UTF-16), or [`Encoding::Auto`] to choose per file. Parquet's
    /// strings are UTF-8 by format: another encoding is refused there (`Auto` is accepted).
    pub encoding: Encoding,
    /// CSV only: the byte that separates fields, an ASCII character other than `"`, `\n` and
    /// `\r` (another is an error of [`Source::open`](crate::Source::open)). `None`: `,`, but a
    /// tab for files named `.tsv` or `.tab` (also `.tsv.gz`, `.tab.zst`, ...); see
    /// [`SourceOptions::csv_delimiter`].
    pub delimiter: Option<u8>,
}

impl Default for SourceOptions {
    fn default() -> Self {
        Self {
            format: None,
            text_columns: Vec::new(),
            label_column: None,
            label_names: None,
            nulls: NullPolicy::Fail,
            text_unit: TextUnit::File,
            csv_header: None,
            encoding: Encoding::Utf8,
            delimiter: None,
        }
    }
}

impl SourceOptions {
    /// The text columns to read: the given ones, or `["text"]`.
    pub fn columns(&self) -> Vec<String> {
        if self.text_columns.is_empty() {
            vec!["text".to_owned()]
        } else {
            self.text_columns.clone()
        }
    }

    /// The delimiter the CSV file `path` is read with: [`SourceOptions::delimiter`] when it is
    /// given, else a tab when the name ends in `.tsv` or `.tab` (before a `.gz`, `.gzip`, `.zst`
    /// or `.zstd`), else `,`.
    pub fn csv_delimiter(&self, path: &Path) -> u8 {
        if let Some(d) = self.delimiter {
            return d;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let inner = [".gz", ".gzip", ".zst", ".zstd"]
            .iter()
            .find_map(|c| name.strip_suffix(c))
            .unwrap_or(&name);
        if inner.ends_with(".tsv") || inner.ends_with(".tab") {
            b'\t'
        } else {
            b','
        }
    }

    /// [`DataError::Options`] when [`SourceOptions::delimiter`] cannot separate CSV fields.
    pub(crate) fn check_delimiter(&self) -> Result<(), DataError> {
        match self.delimiter {
            Some(d @ (b'"' | b'\n' | b'\r' | 0x80..)) => Err(DataError::Options(format!(
                "the CSV delimiter {} cannot separate fields: name an ASCII character other than \
                 `\"`, `\\n` and `\\r` (SourceOptions::delimiter)",
                delimiter_name(d)
            ))),
            _ => Ok(()),
        }
    }
}

/// A delimiter as messages show it: the character in backquotes, `\t` for a tab, the byte in
/// hexadecimal when it is not a printable ASCII character.
pub(crate) fn delimiter_name(d: u8) -> String {
    match d {
        b'\t' => "`\\t`".to_owned(),
        b'\n' => "`\\n`".to_owned(),
        b'\r' => "`\\r`".to_owned(),
        0x21..=0x7e | b' ' => format!("`{}`", d as char),
        _ => format!("byte 0x{d:02x}"),
    }
}

/// One file of a [`Source`](crate::Source).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFile {
    /// Where it is.
    pub path: PathBuf,
    /// How it is compressed.
    pub compression: Compression,
    /// Its size on disk.
    pub bytes: u64,
}

/// A part of a document, in reading order: a document is one or more pieces, the last with
/// `end` set. Only plain text documents longer than [`PIECE_BYTES`] come in several pieces;
/// they are cut after a whitespace where there is one (so words stay whole), else between two
/// characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    /// The text of this part.
    pub text: String,
    /// The document's label (the same on every piece of a document).
    pub label: Option<i64>,
    /// Whether this is the document's last piece.
    pub end: bool,
}
/// What a file reader of one format yields.
pub(crate) trait FileReader: Iterator<Item = Result<Piece, DataError>> {
    /// Bytes of the file on disk consumed so far (an estimate for Parquet).
    fn bytes_read(&self) -> u64;

    /// Rows left out so far for a null or missing text or label ([`NullPolicy::Skip`]).
    fn skipped_rows(&self) -> u64 {
        0
    }
}
/// An I/O error of reading `path`; text that is not valid in its encoding is a
/// [`DataError::Line`] naming the line and the byte.
pub(crate) fn io(path: &Path, source: std::io::Error) -> DataError {
    read_error(path, source)
}

/// [`open_decoded`] without a leading byte-order mark, for the formats read as UTF-8 text
/// lines (CSV strips its own).
pub(crate) fn open_text_stream(
    file: &SourceFile,
    encoding: Encoding,
) -> Result<(Box<dyn BufRead>, ByteCount), DataError> {
    let (reader, counter) = open_decoded(file, encoding)?;
    let reader = without_bom(reader).map_err(|e| io(&file.path, e))?;
    Ok((reader, counter))
}

/// The decompressed bytes of a file decoded from `encoding` into UTF-8 and checked (see
/// [`Encoding`]), buffered, counting the bytes read from disk.
pub(crate) fn open_decoded(
    file: &SourceFile,
    encoding: Encoding,
) -> Result<(Box<dyn BufRead>, ByteCount), DataError> {
    let (reader, counter) = open_stream(file)?;
    let reader = decoding(reader, encoding, true).map_err(|e| io(&file.path, e))?;
    Ok((reader, counter))
}

/// Bytes read from a file on disk so far, shared with its reader.
pub(crate) type ByteCount = std::rc::Rc<std::cell::Cell<u64>>;

/// The decompressed bytes of a file, buffered, counting the bytes read from disk.
pub(crate) fn open_stream(file: &SourceFile) -> Result<(Box<dyn BufRead>, ByteCount), DataError> {
    let f = File::open(&file.path).map_err(|e| io(&file.path, e))?;
    let counter = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let counted = Counting {
        inner: f,
        count: counter.clone(),
    };
    let raw = BufReader::with_capacity(1 << 18, counted);
    let reader: Box<dyn BufRead> = match file.compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            1 << 18,
            flate2::bufread::MultiGzDecoder::new(raw),
        )),
        Compression::Zstd => Box::new(BufReader::with_capacity(
            1 << 18,
            zstd::stream::read::Decoder::with_buffer(raw).map_err(|e| io(&file.path, e))?,
        )),
    };
    Ok((reader, counter))
}

/// A reader that counts what passes through it.
struct Counting<R> {
    inner: R,
    count: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get() + n as u64);
        Ok(n)
    }
}
