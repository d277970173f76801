//! Inputs of every supported format, streamed document by document.
//!
//! A [`Source`] is a file, a directory or a glob pattern, in one [`Format`] (detected from the
//! extension or the first bytes, or given), possibly gzip or zstd compressed. It is read as
//! [`Piece`]s (a long document comes in several pieces, so memory stays bounded by the piece
//! size) or as whole [`TextRecord`]s. Text inputs are decoded from their
//! [`Encoding`](crate::Encoding) as they stream out of the decompressor, before any parsing;
//! [`Source::encoding_doubts`] says which files' first bytes look like UTF-8 read in another
//! encoding; with [`Encoding::Auto`](crate::Encoding::Auto), [`Source::encodings_chosen`] says
//! which encoding each file is read in.
mod csv;
mod detect;
mod jsonl;
mod parquet;
mod text;
mod types;

use std::fs::File;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::encoding::{auto_head, decoding};
use crate::labels::{Distinct, LabelNames, LabelValues};
use crate::{DataError, Encoding, EncodingDoubt, TextRecord};

pub use types::{
    Compression, CsvHeader, Format, PIECE_BYTES, Piece, SourceFile, SourceOptions, TextUnit,
};
pub(crate) use types::{FileReader, io};

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
        Ok(detect::detect(first, Encoding::Utf8)?.1)
    }
}

/// The one file `path`, its compression told by the extension, else by the first bytes.
fn single_file(path: &Path) -> Result<SourceFile, DataError> {
    let (compression, _) = detect::detect(path, Encoding::Utf8)?;
    Ok(SourceFile {
        path: path.to_owned(),
        compression,
        bytes: 0,
    })
}

/// The bytes of the file `path`, decompressed as a source reads them and decoded from
/// `encoding` into UTF-8; UTF-8 itself is handed on unchecked, for a reader that checks it.
pub(crate) fn open_decompressed(
    path: &Path,
    encoding: Encoding,
) -> Result<Box<dyn BufRead>, DataError> {
    let reader = types::open_stream(&single_file(path)?)?.0;
    decoding(reader, encoding, false).map_err(|e| io(path, e))
}

impl CsvHeader {
    /// How [`Source::open`] reads the CSV file `path` (possibly compressed) with `opts`:
    /// [`SourceOptions::csv_header`] when it is given, else detected from the first record:
    /// a header when it names every column `opts` asks for (the text columns, `text` when
    /// none is given, and the label column); else the AG News layout when it has three fields,
    /// the first an integer; else a header.
    ///
    /// # Errors
    /// [`DataError::Options`] for a [`SourceOptions::delimiter`] that cannot be one;
    /// [`DataError::Io`] when the file cannot be read, [`DataError::Csv`] when its first record
    /// cannot be parsed.
    pub fn detect(path: &Path, opts: &SourceOptions) -> Result<CsvHeader, DataError> {
        opts.check_delimiter()?;
        csv::header(&single_file(path)?, opts)
    }
}

/// An input: one or more files of one format, read as documents.
#[derive(Clone, Debug)]
pub struct Source {
    given: PathBuf,
    files: Vec<SourceFile>,
    skipped: Vec<PathBuf>,
    format: Format,
    opts: SourceOptions,
    /// The dictionary of [`SourceOptions::label_names`], built once.
    label_names: Option<Arc<LabelNames>>,
}

impl Source {
    /// Resolves `path` (a file, a directory read recursively in name order without hidden
    /// entries, or a glob pattern such as `data/train-*.parquet`) and detects the format and
    /// compression of its files. Parquet shards must share a schema; CSV headers are checked.
    /// Read as text, the binary files of a directory or pattern (a NUL byte in their first
    /// 8 KiB: an image beside the sources) are left out, and listed by [`Source::skipped`]; a
    /// file named on its own is always read.
    ///
    /// # Errors
    /// [`DataError::Options`] when [`SourceOptions::label_names`] gives a name twice, or
    /// [`SourceOptions::delimiter`] is `"`, `\n`, `\r` or not ASCII;
    /// [`DataError::Input`] when nothing matches, the format cannot be told, the files of a
    /// directory have different formats or [`SourceOptions::encoding`] is neither UTF-8 nor
    /// [`Encoding::Auto`] for Parquet; [`DataError::Io`]; for Parquet, the errors of
    /// [`TextReader::open`](crate::TextReader::open) and [`DataError::SchemaMismatch`].
    pub fn open(path: &Path, opts: &SourceOptions) -> Result<Source, DataError> {
        opts.check_delimiter()?;
        let label_names = match &opts.label_names {
            None => None,
            Some(names) => Some(Arc::new(
                LabelNames::new(names).map_err(DataError::Options)?,
            )),
        };
        let paths = detect::expand(path)?;
        let expanded = !path.is_file();
        let mut files = Vec::with_capacity(paths.len());
        let mut skipped = Vec::new();
        let mut format: Option<(Format, PathBuf)> = opts.format.map(|f| (f, path.to_owned()));
        for p in paths {
            let (compression, detected) = detect::detect(&p, opts.encoding)?;
            if expanded
                && opts.format.unwrap_or(detected) == Format::Text
                && detect::is_binary(&p, compression, opts.encoding)?
            {
                skipped.push(p);
                continue;
            }
            let bytes = std::fs::metadata(&p).map_err(|e| io(&p, e))?.len();
            match (&format, opts.format) {
                (_, Some(_)) => {}
                (None, None) => format = Some((detected, p.clone())),
                (Some((f, first)), None) if *f != detected => {
                    return Err(DataError::Input {
                        path: path.to_owned(),
                        message: format!(
                            "{} looks like {detected} but {} like {f}; name the format to read them \
                             all as (naming {f} reads every file as {f})",
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
        let (Some((format, _)), false) = (format, files.is_empty()) else {
            let message = match skipped.len() {
                0 => "no file to read".to_owned(),
                n => format!("no file to read: its {n} file(s) are binary (NUL bytes)"),
            };
            return Err(DataError::Input {
                path: path.to_owned(),
                message,
            });
        };
        // Auto reads each file in what it is, and Parquet is UTF-8.
        if format == Format::Parquet && !matches!(opts.encoding, Encoding::Utf8 | Encoding::Auto) {
            return Err(DataError::Input {
                path: path.to_owned(),
                message: format!(
                    "Parquet's strings are UTF-8 by format: the encoding {} does not apply \
                     (read Parquet with the default encoding, UTF-8)",
                    opts.encoding
                ),
            });
        }
        let source = Source {
            given: path.to_owned(),
            files,
            skipped,
            format,
            opts: opts.clone(),
            label_names,
        };
        match format {
            Format::Parquet => parquet::check_shards(&source.files, &source.opts)?,
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

    /// The files of its directory or pattern left out as binary, in name order (see
    /// [`Source::open`]).
    pub fn skipped(&self) -> &[PathBuf] {
        &self.skipped
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
            skipped_before: 0,
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

    /// What the label column holds ([`SourceOptions::label_column`], whatever
    /// [`SourceOptions::label_names`] says): [`LabelValues::Integers`] when every label that is
    /// not null reads as an integer, else [`LabelValues::Text`] with the distinct labels, which
    /// given as [`SourceOptions::label_names`] read the source.
    ///
    /// One pass over the files in reading order, reading the label column alone where the
    /// format allows it (CSV and Parquet; JSON Lines objects are parsed only to find the field),
    /// holding only the distinct labels. Nulls (in CSV an empty field, in JSON Lines a missing
    /// field too) are skipped with [`NullPolicy::Skip`](crate::NullPolicy::Skip), and are the
    /// error reading would give with [`NullPolicy::Fail`](crate::NullPolicy::Fail). The rows
    /// that reading skips for a null text are not told apart: their labels count.
    ///
    /// # Errors
    /// [`DataError::Input`] naming the source when there is no label column (none given, or
    /// plain text); the errors of reading the files ([`DataError::Io`],
    /// [`DataError::MissingColumn`], [`DataError::Csv`], [`DataError::Line`],
    /// [`DataError::Null`], [`DataError::Parquet`], ...), naming the file and the row or line.
    pub fn label_values(&self) -> Result<LabelValues, DataError> {
        let column = match (&self.opts.label_column, self.format) {
            (Some(column), Format::Parquet | Format::Csv | Format::Jsonl) => column,
            (None, _) => {
                return Err(DataError::Input {
                    path: self.given.clone(),
                    message: "no label column to read the labels of (none was given)".into(),
                });
            }
            (Some(column), Format::Text) => {
                return Err(DataError::Input {
                    path: self.given.clone(),
                    message: format!(
                        "no label column `{column}` to read: plain text has no columns"
                    ),
                });
            }
        };
        let mut distinct = Distinct::default();
        for file in &self.files {
            match self.format {
                Format::Parquet => parquet::labels(file, &self.opts, column, &mut distinct)?,
                Format::Csv => csv::labels(file, &self.opts, column, &mut distinct)?,
                Format::Jsonl => jsonl::labels(file, &self.opts, column, &mut distinct)?,
                Format::Text => {}
            }
        }
        Ok(distinct.finish())
    }

    /// The files whose first bytes doubt [`SourceOptions::encoding`]: for each file, in
    /// reading order, its first [`EncodingDoubt::CHECKED_BYTES`] bytes after decompression
    /// (and no more: a file of gigabytes is not read whole) asked [`Encoding::doubt`], with
    /// the doubts found. UTF-8 in a Latin-1 or Windows-1252 source, for instance, would read as
    /// mojibake (`é` as `Ã©`) without an error. Empty for the default encoding, UTF-8, for
    /// [`Encoding::Auto`] (which chooses per file; see [`Source::encodings_chosen`]) and for
    /// Parquet (whose strings are UTF-8 by format); nothing is read then.
    ///
    /// # Errors
    /// [`DataError::Io`] when a file cannot be opened, read or decompressed.
    pub fn encoding_doubts(&self) -> Result<Vec<(PathBuf, EncodingDoubt)>, DataError> {
        let encoding = self.opts.encoding;
        if matches!(encoding, Encoding::Utf8 | Encoding::Auto) || self.format == Format::Parquet {
            return Ok(Vec::new());
        }
        let mut doubts = Vec::new();
        for f in &self.files {
            let (reader, _) = types::open_stream(f)?;
            let mut prefix = Vec::with_capacity(EncodingDoubt::CHECKED_BYTES);
            reader
                .take(EncodingDoubt::CHECKED_BYTES as u64)
                .read_to_end(&mut prefix)
                .map_err(|e| io(&f.path, e))?;
            if let Some(doubt) = encoding.doubt(&prefix) {
                doubts.push((f.path.clone(), doubt));
            }
        }
        Ok(doubts)
    }

    /// The encoding each file is read in, in reading order: with [`Encoding::Auto`], the one it
    /// chooses for the file ([`Encoding::resolve`]; never `Auto`) from its first
    /// [`Encoding::AUTO_BYTES`] bytes after decompression, and no more (a file of gigabytes is
    /// not read whole). Nothing is read for Parquet, whose files are all [`Encoding::Utf8`] (its
    /// strings are UTF-8 by format), nor for an encoding named: every file is in it as named
    /// (the UTF-16 byte-order mark that [`Encoding::Utf8`] and [`Encoding::Utf16`] obey is not
    /// looked for).
    ///
    /// What a command line prints after choosing, such as "3 files read as utf-8, 2 as
    /// windows-1252: a.txt, b.txt".
    ///
    /// # Errors
    /// [`DataError::Io`] when a file cannot be opened, read or decompressed.
    pub fn encodings_chosen(&self) -> Result<Vec<(PathBuf, Encoding)>, DataError> {
        let encoding = match (self.format, self.opts.encoding) {
            (Format::Parquet, _) => Some(Encoding::Utf8),
            (_, Encoding::Auto) => None,
            (_, named) => Some(named),
        };
        let mut chosen = Vec::with_capacity(self.files.len());
        for f in &self.files {
            let encoding = match encoding {
                Some(encoding) => encoding,
                None => {
                    let (mut reader, _) = types::open_stream(f)?;
                    let (head, whole) = auto_head(&mut reader).map_err(|e| io(&f.path, e))?;
                    Encoding::Auto.resolve(&head, whole)
                }
            };
            chosen.push((f.path.clone(), encoding));
        }
        Ok(chosen)
    }

    /// A 128-bit fingerprint of everything that decides the documents: the format and options
    /// (the [`SourceOptions::encoding`] among them, and for CSV the delimiter each file is read
    /// with, [`SourceOptions::csv_delimiter`]), the size and content of every file
    /// (xxh3-128 over the bytes on disk; the names do not count, so moving the files keeps it),
    /// and for plain text holding a `\r` (or compressed) that its line endings are read as
    /// `\n`.
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
        // Label names change the ids; without them the fingerprint is what it always was.
        if let Some(names) = &o.label_names {
            h.write(b"|label-names|");
            h.write(&(names.len() as u64).to_le_bytes());
            for name in names {
                h.write(&(name.len() as u64).to_le_bytes());
                h.write(name.as_bytes());
            }
        }
        // An encoding other than the default decodes the same bytes into other documents; the
        // default leaves the fingerprint what it always was.
        if o.encoding != Encoding::Utf8 {
            h.write(b"|encoding|");
            h.write(o.encoding.name().as_bytes());
        }
        let mut buf = vec![0u8; 1 << 20];
        // Plain text is read with universal newlines; an older reader kept its `\r`. Text that
        // holds one (or is compressed: those bytes are not searched) says so, so that stores and
        // vocabularies built by the older reader are not reused; other text keeps its
        // fingerprint (and a resume on it still runs).
        let mut newlines_translated = false;
        for f in &self.files {
            let text = self.format == Format::Text;
            newlines_translated |= text && f.compression != Compression::None;
            // Another delimiter cuts the same bytes into other fields; a comma leaves the
            // fingerprint what it always was.
            let delimiter = o.csv_delimiter(&f.path);
            if self.format == Format::Csv && delimiter != b',' {
                h.write(b"|delimiter|");
                h.write(&[delimiter]);
            }
            let mut file = File::open(&f.path).map_err(|e| io(&f.path, e))?;
            let mut n = 0u64;
            loop {
                let k = file.read(&mut buf).map_err(|e| io(&f.path, e))?;
                if k == 0 {
                    break;
                }
                h.write(&buf[..k]);
                if text && !newlines_translated {
                    newlines_translated = buf[..k].contains(&b'\r');
                }
                n += k as u64;
            }
            h.write(&n.to_le_bytes());
        }
        if newlines_translated {
            h.write(b"|universal-newlines");
        }
        Ok(h.finish_128())
    }
}

/// The [`Piece`]s of a [`Source`], file after file. After an error it is finished.
pub struct Pieces<'a> {
    source: &'a Source,
    next_file: usize,
    current: Option<Box<dyn FileReader + 'a>>,
    bytes_before: u64,
    skipped_before: u64,
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

    /// Rows left out so far with [`NullPolicy::Skip`](crate::NullPolicy::Skip) because their
    /// text or label is null (in JSON Lines, also missing; in CSV, where an empty text field
    /// reads as empty text, the label alone), in every file read so far. Once the iteration
    /// has ended, the rows of the whole source: what a command line reports as "skipped N rows
    /// with a null". Always 0 for plain text and with [`NullPolicy::Fail`](crate::NullPolicy::Fail).
    pub fn skipped_rows(&self) -> u64 {
        self.skipped_before + self.current.as_ref().map_or(0, |c| c.skipped_rows())
    }

    fn open_next(&mut self) -> Result<bool, DataError> {
        let Some(file) = self.source.files.get(self.next_file) else {
            return Ok(false);
        };
        self.next_file += 1;
        let opts = &self.source.opts;
        let names = self.source.label_names.as_ref();
        self.current = Some(match self.source.format {
            Format::Parquet => Box::new(parquet::ShardReader::open(file, opts, names)?),
            Format::Csv => Box::new(csv::CsvFileReader::open(file, opts, names)?),
            Format::Jsonl => Box::new(jsonl::JsonlReader::open(file, opts, names)?),
            Format::Text => Box::new(text::TextFileReader::open(
                file,
                opts.text_unit,
                opts.encoding,
            )?),
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
                        self.skipped_before += current.skipped_rows();
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

    /// Rows left out so far for a null (see [`Pieces::skipped_rows`]).
    pub fn skipped_rows(&self) -> u64 {
        self.pieces.skipped_rows()
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
