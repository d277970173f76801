//! CSV read directly (streaming), with a header or in the AG News layout.
use std::cell::{Cell, RefCell};
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::csv::reader::{BufReader as CsvBatches, Format as CsvFormat};
use arrow::datatypes::{DataType, Field, Schema};

use super::types::{CsvHeader, FileReader, Piece, SourceFile, SourceOptions, open_decoded};
use crate::encoding::Watched;
use crate::error::check_label;
use crate::error::{csv_error, decoding_error, shorten};
use crate::labels::{Distinct, LabelNames};
use crate::{DataError, NullPolicy};

/// The columns of a CSV file and whether its first record names them.
pub(crate) struct Layout {
    names: Vec<String>,
    has_header: bool,
}

/// The fields of the first record of `file` split at `delimiter`, as a header would name the
/// columns.
fn first_record(
    file: &SourceFile,
    opts: &SourceOptions,
    delimiter: u8,
) -> Result<Vec<String>, DataError> {
    let (header, _) = infer(file, opts, delimiter, true, 0)?;
    Ok(header.fields().iter().map(|f| f.name().clone()).collect())
}

/// The schema Arrow infers from the first `records` records of `file` split at `delimiter`
/// (after its header, when `header`); text that is not valid in its encoding is named as such,
/// not as a CSV error.
fn infer(
    file: &SourceFile,
    opts: &SourceOptions,
    delimiter: u8,
    header: bool,
    records: usize,
) -> Result<(Schema, usize), DataError> {
    let (reader, _) = open_decoded(file, opts.encoding)?;
    let mut reader = Watched::new(reader);
    CsvFormat::default()
        .with_header(header)
        .with_delimiter(delimiter)
        .infer_schema(&mut reader, Some(records))
        .map_err(|e| match reader.failure() {
            Some(failure) => decoding_error(&file.path, failure),
            None => csv_error(&file.path, Some(1), &e),
        })
}

/// How `file` is read when [`SourceOptions::csv_header`] is `None`: with a header when its
/// first record (`first`) names every column the options ask for; else in the AG News layout
/// when that record has three fields, the first an integer; else with a header.
pub(crate) fn detect_header(
    file: &SourceFile,
    opts: &SourceOptions,
    first: &[String],
) -> Result<CsvHeader, DataError> {
    let mut wanted = opts.columns().into_iter().chain(opts.label_column.clone());
    if wanted.all(|w| first.contains(&w)) {
        return Ok(CsvHeader::FromFile);
    }
    let (record, _) = infer(file, opts, opts.csv_delimiter(&file.path), false, 1)?;
    let integer_first = record
        .fields()
        .first()
        .is_some_and(|f| f.data_type().is_integer());
    Ok(if record.fields().len() == 3 && integer_first {
        CsvHeader::AgNews
    } else {
        CsvHeader::FromFile
    })
}

/// How `file` is read with `opts`: [`SourceOptions::csv_header`], or detected when it is
/// `None` (see [`detect_header`]).
pub(crate) fn header(file: &SourceFile, opts: &SourceOptions) -> Result<CsvHeader, DataError> {
    match opts.csv_header {
        Some(header) => Ok(header),
        None => {
            let first = first_record(file, opts, opts.csv_delimiter(&file.path))?;
            detect_header(file, opts, &first)
        }
    }
}

/// The other delimiters a header may be written with, as messages name them and as
/// [`SourceOptions::delimiter`] is given.
const OTHER_DELIMITERS: [(u8, &str, &str); 4] = [
    (b';', ";", ";"),
    (b'\t', "tab", "\\t"),
    (b'|', "|", "|"),
    (b',', ",", ","),
];

/// When the header of `file` does not name `column` but split at `;`, a tab, `|` or `,` (other
/// than the delimiter read with) it would, the hint that says so.
fn delimiter_hint(file: &SourceFile, opts: &SourceOptions, column: &String) -> Option<String> {
    let current = opts.csv_delimiter(&file.path);
    OTHER_DELIMITERS
        .iter()
        .filter(|(d, _, _)| *d != current)
        .find(|(d, _, _)| first_record(file, opts, *d).is_ok_and(|names| names.contains(column)))
        .map(|(_, looks, given)| {
            format!(
                "the header looks {looks}-separated: name the delimiter \
                 (SourceOptions::delimiter): {given}"
            )
        })
}

/// Decides the layout of `file` for the options (see [`SourceOptions::csv_header`]); a header
/// naming a column twice is refused.
pub(crate) fn layout(file: &SourceFile, opts: &SourceOptions) -> Result<Layout, DataError> {
    let names = first_record(file, opts, opts.csv_delimiter(&file.path))?;
    let header = match opts.csv_header {
        Some(header) => header,
        None => detect_header(file, opts, &names)?,
    };
    let layout = match header {
        CsvHeader::AgNews => Layout {
            names: vec!["label".into(), "title".into(), "description".into()],
            has_header: false,
        },
        CsvHeader::FromFile => Layout {
            names,
            has_header: true,
        },
    };
    // As the converter: a name given twice would read only its first column.
    if layout.has_header {
        let names = &layout.names;
        if let Some(name) =
            (1..names.len()).find_map(|i| names[..i].contains(&names[i]).then_some(&names[i]))
        {
            return Err(DataError::Csv {
                path: file.path.clone(),
                row: Some(1),
                message: format!("header: column name `{name}` appears twice"),
            });
        }
    }
    for column in opts.columns().iter().chain(opts.label_column.iter()) {
        if !layout.names.contains(column) {
            let hint = if layout.has_header {
                delimiter_hint(file, opts, column)
            } else {
                None
            };
            return Err(DataError::MissingColumn {
                path: file.path.clone(),
                column: column.clone(),
                available: layout.names.clone(),
                hint,
            });
        }
    }
    Ok(layout)
}

/// Where the CSV reader stands among quotes, from the bytes it has consumed: csv-core's rules
/// (a field is quoted when its first byte is `"`; in it, `""` is a quote and a lone `"` closes
/// it), so that a quote never closed, which swallows the rest of the file into one field, is
/// told by the line it opens on rather than by a field count further on.
#[derive(Debug)]
struct Quotes {
    delimiter: u8,
    /// The line (1-based) of the next byte.
    line: u64,
    /// The next byte starts a field.
    field_start: bool,
    /// Inside a quoted field.
    quoted: bool,
    /// Inside a quoted field, just after a `"` (which closes it unless a `"` follows).
    after_quote: bool,
    /// The line the quoted field began on.
    opened: u64,
    /// The reader met the end of the file.
    eof: bool,
}

impl Quotes {
    fn new(delimiter: u8) -> Self {
        Self {
            delimiter,
            line: 1,
            field_start: true,
            quoted: false,
            after_quote: false,
            opened: 0,
            eof: false,
        }
    }

    fn scan(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.line += 1;
            }
            if self.quoted {
                if self.after_quote {
                    self.after_quote = false;
                    if b == b'"' {
                        continue;
                    }
                    self.quoted = false;
                } else {
                    self.after_quote = b == b'"';
                    continue;
                }
            }
            if b == self.delimiter || b == b'\n' || b == b'\r' {
                self.field_start = true;
            } else if self.field_start && b == b'"' {
                self.quoted = true;
                self.opened = self.line;
                self.field_start = false;
            } else {
                self.field_start = false;
            }
        }
    }

    /// The line of a quote still open at the end of the file.
    fn unclosed(&self) -> Option<u64> {
        (self.eof && self.quoted && !self.after_quote).then_some(self.opened)
    }
}

/// A reader that follows the [`Quotes`] of what its consumer consumes.
struct QuoteWatch {
    inner: Box<dyn BufRead>,
    quotes: Rc<RefCell<Quotes>>,
}

impl Read for QuoteWatch {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let buf = self.fill_buf()?;
        let n = buf.len().min(out.len());
        out[..n].copy_from_slice(&buf[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for QuoteWatch {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        let buf = self.inner.fill_buf()?;
        if buf.is_empty() {
            self.quotes.borrow_mut().eof = true;
        }
        Ok(buf)
    }

    fn consume(&mut self, amount: usize) {
        // The buffer is not empty when something is consumed: this hands back the bytes the
        // consumer was given, without reading.
        if amount > 0
            && let Ok(buf) = self.inner.fill_buf()
        {
            self.quotes.borrow_mut().scan(&buf[..amount.min(buf.len())]);
        }
        self.inner.consume(amount);
    }
}

/// The error of a quoted field opened on `line` of `path` and never closed.
fn unclosed_quote(path: &Path, line: u64) -> DataError {
    DataError::Line {
        path: path.to_owned(),
        line,
        message: "a quoted field opened here is never closed (a `\"` inside a field is written \
                  `\"\"`)"
            .into(),
    }
}

/// The record batches of a CSV file, read as they are decompressed, with the quotes they
/// were read through.
struct Batches {
    path: PathBuf,
    inner: CsvBatches<QuoteWatch>,
    quotes: Rc<RefCell<Quotes>>,
}

impl Batches {
    /// The error of a quote never closed, once the file is read to its end with one open.
    fn unclosed(&self) -> Option<DataError> {
        self.quotes
            .borrow()
            .unclosed()
            .map(|line| unclosed_quote(&self.path, line))
    }

    /// The next batch: `Ok(None)` at the end of the file. A CSV error, or the end, met with a
    /// quote open is that quote's error.
    fn next_batch(&mut self) -> Result<Option<RecordBatch>, DataError> {
        match self.inner.next() {
            // arrow numbers the records of the whole file, a header included.
            Some(Err(e)) => Err(self
                .unclosed()
                .unwrap_or_else(|| csv_error(&self.path, None, &e))),
            Some(Ok(batch)) => Ok(Some(batch)),
            None => self.unclosed().map_or(Ok(None), Err),
        }
    }
}

/// The record batches of `file` holding the columns `wanted` (all read as strings), its byte
/// counter, and the number of its first data record (2 after a header, else 1).
fn batches<'a>(
    file: &SourceFile,
    opts: &SourceOptions,
    wanted: impl Iterator<Item = &'a String>,
) -> Result<(Batches, Rc<Cell<u64>>, u64), DataError> {
    let layout = layout(file, opts)?;
    let schema = Arc::new(Schema::new(
        layout
            .names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let mut projection: Vec<usize> = wanted
        .filter_map(|c| layout.names.iter().position(|n| n == c))
        .collect();
    projection.sort_unstable();
    projection.dedup();
    let (reader, counter) = open_decoded(file, opts.encoding)?;
    let delimiter = opts.csv_delimiter(&file.path);
    let quotes = Rc::new(RefCell::new(Quotes::new(delimiter)));
    let reader = QuoteWatch {
        inner: reader,
        quotes: quotes.clone(),
    };
    let inner = arrow::csv::ReaderBuilder::new(schema)
        .with_header(layout.has_header)
        .with_delimiter(delimiter)
        .with_batch_size(4096)
        .with_projection(projection)
        .build_buffered(reader)
        .map_err(|e| csv_error(&file.path, None, &e))?;
    let batches = Batches {
        path: file.path.clone(),
        inner,
        quotes,
    };
    Ok((batches, counter, 1 + u64::from(layout.has_header)))
}

/// Adds the labels of `column` in `file` to `out`, reading that column alone. An empty field
/// is a null: skipped, or with [`NullPolicy::Fail`] the [`DataError::Null`] that reading the
/// file would give.
pub(crate) fn labels(
    file: &SourceFile,
    opts: &SourceOptions,
    column: &String,
    out: &mut Distinct,
) -> Result<(), DataError> {
    let (mut batches, _, first_data_record) = batches(file, opts, std::iter::once(column))?;
    let mut rows_before = 0u64;
    while let Some(batch) = batches.next_batch()? {
        let strings = batch
            .column_by_name(column)
            .and_then(|c| c.as_string_opt::<i32>())
            .ok_or_else(|| DataError::Csv {
                path: file.path.clone(),
                row: Some(first_data_record + rows_before),
                message: format!("column `{column}` missing from a batch"),
            })?;
        for i in 0..strings.len() {
            if !strings.is_null(i) {
                out.add_text(strings.value(i));
            } else if opts.nulls == NullPolicy::Fail {
                return Err(DataError::Null {
                    path: file.path.clone(),
                    column: column.clone(),
                    row: first_data_record + rows_before + i as u64,
                });
            }
        }
        rows_before += batch.num_rows() as u64;
    }
    Ok(())
}

pub(crate) struct CsvFileReader {
    path: PathBuf,
    batches: Batches,
    counter: Rc<Cell<u64>>,
    columns: Vec<String>,
    label: Option<String>,
    names: Option<Arc<LabelNames>>,
    nulls: NullPolicy,
    first_data_record: u64,
    rows_before: u64,
    current: Option<(RecordBatch, usize)>,
    /// Rows left out for a null label ([`NullPolicy::Skip`]).
    skipped: u64,
    done: bool,
}

impl CsvFileReader {
    /// Reads `file` with `opts`; with `names`, a label is read as its index among them.
    pub(crate) fn open(
        file: &SourceFile,
        opts: &SourceOptions,
        names: Option<&Arc<LabelNames>>,
    ) -> Result<Self, DataError> {
        let columns = opts.columns();
        let wanted = columns.iter().chain(opts.label_column.iter());
        let (batches, counter, first_data_record) = batches(file, opts, wanted)?;
        Ok(Self {
            path: file.path.clone(),
            batches,
            counter,
            columns,
            label: opts.label_column.clone(),
            names: names.cloned(),
            nulls: opts.nulls,
            first_data_record,
            rows_before: 0,
            current: None,
            skipped: 0,
            done: false,
        })
    }

    fn row(&self, batch: &RecordBatch, i: usize) -> Result<Option<Piece>, DataError> {
        let record = self.first_data_record + self.rows_before + i as u64;
        let get = |name: &str| -> Result<Option<&str>, DataError> {
            let column = batch.column_by_name(name).ok_or_else(|| DataError::Csv {
                path: self.path.clone(),
                row: Some(record),
                message: format!("column `{name}` missing from a batch"),
            })?;
            let strings = column
                .as_string_opt::<i32>()
                .ok_or_else(|| DataError::Csv {
                    path: self.path.clone(),
                    row: Some(record),
                    message: "the CSV reader returned a non-string column".into(),
                })?;
            Ok((!strings.is_null(i)).then(|| strings.value(i)))
        };
        let label = match &self.label {
            None => None,
            Some(name) => match get(name)? {
                Some(raw) => {
                    let bad = |message| DataError::Csv {
                        path: self.path.clone(),
                        row: Some(record),
                        message,
                    };
                    if let Some(names) = &self.names {
                        let what = format!("column `{name}`");
                        Some(names.id(raw, &what).map_err(bad)?)
                    } else {
                        let label = raw.trim().parse::<i64>().map_err(|_| {
                            bad(format!("label `{}` is not an integer", shorten(raw)))
                        })?;
                        Some(check_label(label, name).map_err(bad)?)
                    }
                }
                None if self.nulls == NullPolicy::Skip => return Ok(None),
                None => {
                    return Err(DataError::Null {
                        path: self.path.clone(),
                        column: name.clone(),
                        row: record,
                    });
                }
            },
        };
        let mut text = String::new();
        for (k, name) in self.columns.iter().enumerate() {
            // CSV cannot tell an empty field from a missing one: both are "".
            let value = get(name)?.unwrap_or("");
            if k > 0 {
                text.push(' ');
            }
            text.push_str(value);
        }
        Ok(Some(Piece {
            text,
            label,
            end: true,
        }))
    }

    fn next_piece(&mut self) -> Result<Option<Piece>, DataError> {
        loop {
            if let Some((batch, next)) = self.current.take() {
                if next < batch.num_rows() {
                    // A quote never closed makes a field of the rest of the file: a label that
                    // is no integer, say. The quote is the error then.
                    let piece = self
                        .row(&batch, next)
                        .map_err(|e| self.batches.unclosed().unwrap_or(e))?;
                    self.current = Some((batch, next + 1));
                    match piece {
                        Some(p) => return Ok(Some(p)),
                        None => {
                            self.skipped += 1;
                            continue;
                        }
                    }
                }
                self.rows_before += batch.num_rows() as u64;
            }
            match self.batches.next_batch()? {
                None => return Ok(None),
                Some(batch) => self.current = Some((batch, 0)),
            }
        }
    }
}

impl Iterator for CsvFileReader {
    type Item = Result<Piece, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let result = self.next_piece();
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result.transpose()
    }
}

impl FileReader for CsvFileReader {
    fn bytes_read(&self) -> u64 {
        self.counter.get()
    }

    fn skipped_rows(&self) -> u64 {
        self.skipped
    }
}
