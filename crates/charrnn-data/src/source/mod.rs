//! Inputs of every supported format, streamed document by document.
//!
//! A [`Source`] is a file, a directory or a glob pattern, in one [`Format`] (detected from the
//! extension or the first bytes, or given), possibly gzip or zstd compressed. It is read as
//! [`Piece`]s (a long document comes in several pieces, so memory stays bounded by the piece
//! size) or as whole [`TextRecord`]s.
mod csv;
mod detect;
mod jsonl;
mod parquet;
mod text;

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::{CsvHeader, DataError, NullPolicy, TextRecord};

pub use detect::Compression;

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
    /// JSON Lines: one JSON object per line.
    Jsonl,
    /// Plain UTF-8 text; [`TextUnit`] says what one document is.
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

impl Format {
    /// The format [`Source::open`] would detect for `path` (that of its first file).
    ///
    /// # Errors
    /// As [`Source::open`] when nothing matches or the first file cannot be read.
    pub fn detect(path: &Path) -> Result<Format, DataError> {
        let paths = detect::expand(path)?;
        let first = paths.first().ok_or_else(|| DataError::Input {
            path: path.to_owned(),
            message: "no file to read".into(),
        })?;
        Ok(detect::detect(first)?.1)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    /// `parquet`, `csv`, `jsonl` (or `json`, `ndjson`), `text` (or `txt`), any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "parquet" | "pq" => Ok(Format::Parquet),
            "csv" => Ok(Format::Csv),
            "jsonl" | "json" | "ndjson" => Ok(Format::Jsonl),
            "text" | "txt" => Ok(Format::Text),
            _ => Err(format!(
                "unknown format {s:?} (expected parquet, csv, jsonl or text)"
            )),
        }
    }
}

/// What one document of a plain text input is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TextUnit {
    /// A whole file, byte for byte (a novel, a source file).
    #[default]
    File,
    /// A non-empty line, without its line ending (`\n` or `\r\n`).
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

/// How [`Source::open`] reads an input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceOptions {
    /// The format; `None`: detected from the extension, else from the first bytes.
    pub format: Option<Format>,
    /// Text columns (Parquet, CSV) or fields (JSON Lines), joined by single spaces; empty:
    /// `text`. Ignored for plain text.
    pub text_columns: Vec<String>,
    /// An integer label column or field (strings holding integers are accepted). Ignored for
    /// plain text.
    pub label_column: Option<String>,
    /// What a null (or, in JSON Lines, a missing field) does.
    pub nulls: NullPolicy,
    /// What one document of plain text is.
    pub text_unit: TextUnit,
    /// CSV only: `None` detects a header (the first row names every requested column) or the
    /// AG News layout (three fields, the first an integer).
    pub csv_header: Option<CsvHeader>,
}

impl Default for SourceOptions {
    fn default() -> Self {
        Self {
            format: None,
            text_columns: Vec::new(),
            label_column: None,
            nulls: NullPolicy::Fail,
            text_unit: TextUnit::File,
            csv_header: None,
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
}

/// One file of a [`Source`].
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

/// An input: one or more files of one format, read as documents.
#[derive(Clone, Debug)]
pub struct Source {
    given: PathBuf,
    files: Vec<SourceFile>,
    format: Format,
    opts: SourceOptions,
}

impl Source {
    /// Resolves `path` (a file, a directory read recursively in name order without hidden
    /// entries, or a glob pattern such as `data/train-*.parquet`) and detects the format and
    /// compression of its files. Parquet shards must share a schema; CSV headers are checked.
    ///
    /// # Errors
    /// [`DataError::Input`] when nothing matches, the format cannot be told or the files of a
    /// directory have different formats; [`DataError::Io`]; for Parquet, the errors of
    /// [`TextReader::open`](crate::TextReader::open) and [`DataError::SchemaMismatch`].
    pub fn open(path: &Path, opts: &SourceOptions) -> Result<Source, DataError> {
        let paths = detect::expand(path)?;
        let mut files = Vec::with_capacity(paths.len());
        let mut format: Option<(Format, PathBuf)> = opts.format.map(|f| (f, path.to_owned()));
        for p in paths {
            let (compression, detected) = detect::detect(&p)?;
            let bytes = std::fs::metadata(&p).map_err(|e| io(&p, e))?.len();
            match (&format, opts.format) {
                (_, Some(_)) => {}
                (None, None) => format = Some((detected, p.clone())),
                (Some((f, first)), None) if *f != detected => {
                    return Err(DataError::Input {
                        path: path.to_owned(),
                        message: format!(
                            "{} looks like {detected} but {} like {f}; give the format",
                            p.display(),
                            first.display()
                        ),
                    });
                }
                _ => {}
            }
            files.push(SourceFile {
                path: p,
                compression,
                bytes,
            });
        }
        let Some((format, _)) = format else {
            return Err(DataError::Input {
                path: path.to_owned(),
                message: "no file to read".into(),
            });
        };
        let source = Source {
            given: path.to_owned(),
            files,
            format,
            opts: opts.clone(),
        };
        match format {
            Format::Parquet => parquet::check_shards(&source)?,
            Format::Csv => {
                for f in &source.files {
                    csv::layout(f, &source.opts)?;
                }
            }
            Format::Jsonl | Format::Text => {}
        }
        Ok(source)
    }

    /// The path or pattern it was opened with.
    pub fn path(&self) -> &Path {
        &self.given
    }

    /// Its format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The options it reads with.
    pub fn options(&self) -> &SourceOptions {
        &self.opts
    }

    /// Its files, in reading order.
    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// The size of its files on disk (compressed sizes for compressed files).
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|f| f.bytes).sum()
    }

    /// Reads the documents as [`Piece`]s, file after file.
    pub fn pieces(&self) -> Pieces<'_> {
        Pieces {
            source: self,
            next_file: 0,
            current: None,
            bytes_before: 0,
            finished: false,
        }
    }

    /// Reads whole documents (a long plain text document is held whole: prefer
    /// [`Source::pieces`] for those).
    pub fn records(&self) -> Records<'_> {
        Records {
            pieces: self.pieces(),
        }
    }

    /// A 128-bit fingerprint of everything that decides the documents: the format and options,
    /// and the size and content of every file (xxh3-128 over the bytes on disk; the names do
    /// not count, so moving the files keeps it).
    ///
    /// # Errors
    /// [`DataError::Io`] when a file cannot be read.
    pub fn fingerprint(&self) -> Result<u128, DataError> {
        let mut h = twox_hash::XxHash3_128::new();
        let o = &self.opts;
        let description = format!(
            "charrnn-source-1|{}|{:?}|{:?}|{:?}|{}|{:?}|{}",
            self.format,
            o.columns(),
            o.label_column,
            o.nulls,
            o.text_unit.name(),
            o.csv_header,
            self.files.len()
        );
        h.write(description.as_bytes());
        let mut buf = vec![0u8; 1 << 20];
        for f in &self.files {
            let mut file = File::open(&f.path).map_err(|e| io(&f.path, e))?;
            let mut n = 0u64;
            loop {
                let k = file.read(&mut buf).map_err(|e| io(&f.path, e))?;
                if k == 0 {
                    break;
                }
                h.write(&buf[..k]);
                n += k as u64;
            }
            h.write(&n.to_le_bytes());
        }
        Ok(h.finish_128())
    }
}

/// What a file reader of one format yields.
pub(crate) trait FileReader: Iterator<Item = Result<Piece, DataError>> {
    /// Bytes of the file on disk consumed so far (an estimate for Parquet).
    fn bytes_read(&self) -> u64;
}

/// The [`Piece`]s of a [`Source`], file after file. After an error it is finished.
pub struct Pieces<'a> {
    source: &'a Source,
    next_file: usize,
    current: Option<Box<dyn FileReader + 'a>>,
    bytes_before: u64,
    finished: bool,
}

impl std::fmt::Debug for Pieces<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pieces")
            .field("source", &self.source.given)
            .field("next_file", &self.next_file)
            .finish_non_exhaustive()
    }
}

impl Pieces<'_> {
    /// Bytes of the source's files on disk read so far, for progress and throughput.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_before + self.current.as_ref().map_or(0, |c| c.bytes_read())
    }

    fn open_next(&mut self) -> Result<bool, DataError> {
        let Some(file) = self.source.files.get(self.next_file) else {
            return Ok(false);
        };
        self.next_file += 1;
        let opts = &self.source.opts;
        self.current = Some(match self.source.format {
            Format::Parquet => Box::new(parquet::ShardReader::open(file, opts)?),
            Format::Csv => Box::new(csv::CsvFileReader::open(file, opts)?),
            Format::Jsonl => Box::new(jsonl::JsonlReader::open(file, opts)?),
            Format::Text => Box::new(text::TextFileReader::open(file, opts.text_unit)?),
        });
        Ok(true)
    }
}

impl Iterator for Pieces<'_> {
    type Item = Result<Piece, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        loop {
            if let Some(current) = self.current.as_mut() {
                match current.next() {
                    Some(Ok(piece)) => return Some(Ok(piece)),
                    Some(Err(e)) => {
                        self.finished = true;
                        return Some(Err(e));
                    }
                    None => {
                        if let Some(f) = self.source.files.get(self.next_file - 1) {
                            self.bytes_before += f.bytes;
                        }
                        self.current = None;
                    }
                }
            }
            match self.open_next() {
                Ok(true) => {}
                Ok(false) => {
                    self.finished = true;
                    return None;
                }
                Err(e) => {
                    self.finished = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

/// Whole documents of a [`Source`] (pieces joined).
#[derive(Debug)]
pub struct Records<'a> {
    pieces: Pieces<'a>,
}

impl Records<'_> {
    /// Bytes of the source's files on disk read so far.
    pub fn bytes_read(&self) -> u64 {
        self.pieces.bytes_read()
    }
}

impl Iterator for Records<'_> {
    type Item = Result<TextRecord, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut text = String::new();
        loop {
            match self.pieces.next()? {
                Err(e) => return Some(Err(e)),
                Ok(piece) => {
                    text.push_str(&piece.text);
                    if piece.end {
                        return Some(Ok(TextRecord {
                            text,
                            label: piece.label,
                        }));
                    }
                }
            }
        }
    }
}

pub(crate) fn io(path: &Path, source: std::io::Error) -> DataError {
    DataError::Io {
        path: path.to_owned(),
        source,
    }
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
