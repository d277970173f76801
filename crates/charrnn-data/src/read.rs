//! Streaming reader of text (and label) columns from any Parquet file.
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch};
use arrow::compute::{CastOptions, cast_with_options};
use arrow::datatypes::{DataType, Int64Type, Schema};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::DataError;
use crate::error::shorten;
use crate::error::{check_label, one_line};
use crate::labels::{Distinct, LabelNames};

/// What the reader does with a row whose text or label is null.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NullPolicy {
    /// Leave the row out and count it ([`TextReader::skipped_nulls`]).
    Skip,
    /// Stop with [`DataError::Null`] naming the column and the row.
    Fail,
}

/// Which columns [`TextReader`] reads and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// Text columns, in order. Several are joined with a single space: `["title",
    /// "description"]` gives `title + " " + description` (full-text mode).
    pub text_columns: Vec<String>,
    /// An optional label column: any integer type (Int8 to UInt64, or a dictionary of them),
    /// or strings holding integers such as a header CSV converted with every column Utf8
    /// (surrounding spaces are ignored). Other strings, e.g. category names like `"World"`,
    /// are a [`DataError::BadLabel`]: map names to numbers before converting. The lowest i64
    /// (`i64::MIN`), which the token store reserves for "no label", is a [`DataError::Parquet`]
    /// naming the row.
    pub label_column: Option<String>,
    /// What a null in any of the read columns does.
    pub nulls: NullPolicy,
    /// Rows decoded at a time: the reader's memory is bounded by this and by the file's row
    /// group size, never by the file size.
    pub batch_rows: usize,
}

impl ReadOptions {
    /// Reads one text column, no label, skipping nulls, 8192 rows at a time.
    pub fn text(column: &str) -> Self {
        Self::columns(&[column])
    }

    /// Reads several text columns joined by single spaces (e.g. `["title", "description"]`).
    pub fn columns(columns: &[&str]) -> Self {
        Self {
            text_columns: columns.iter().map(|c| (*c).to_string()).collect(),
            label_column: None,
            nulls: NullPolicy::Skip,
            batch_rows: 8192,
        }
    }

    /// The same options, also reading `column` as the label.
    #[must_use]
    pub fn with_label(mut self, column: &str) -> Self {
        self.label_column = Some(column.to_string());
        self
    }

    /// The same options with another null policy.
    #[must_use]
    pub fn with_nulls(mut self, nulls: NullPolicy) -> Self {
        self.nulls = nulls;
        self
    }
}

/// One row of a dataset: its text and its optional label, exactly as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextRecord {
    /// The text (several columns joined by single spaces).
    pub text: String,
    /// The label, when a label column was asked for: the integer the file holds (or the index
    /// of a text label among [`SourceOptions::label_names`](crate::SourceOptions::label_names)).
    /// [`label_classes`](crate::label_classes) and [`label_class`](crate::label_class) turn
    /// labels into the class ids `0..n` of [`Example::label`](crate::Example::label).
    pub label: Option<i64>,
}

/// A text column of the current batch, whatever its string layout.
enum TextColumn {
    Utf8(ArrayRef),
    Large(ArrayRef),
    View(ArrayRef),
}

impl TextColumn {
    fn new(array: ArrayRef) -> Result<Self, String> {
        Ok(match array.data_type() {
            DataType::Utf8 => Self::Utf8(array),
            DataType::LargeUtf8 => Self::Large(array),
            DataType::Utf8View => Self::View(array),
            DataType::Dictionary(_, _) => {
                Self::Utf8(cast_with_options(&array, &DataType::Utf8, &STRICT).map_err(one_line)?)
            }
            other => return Err(format!("unexpected type {other}")),
        })
    }

    fn get(&self, i: usize) -> Option<&str> {
        let array = match self {
            Self::Utf8(a) | Self::Large(a) | Self::View(a) => a,
        };
        if array.is_null(i) {
            return None;
        }
        Some(match self {
            Self::Utf8(a) => a.as_string::<i32>().value(i),
            Self::Large(a) => a.as_string::<i64>().value(i),
            Self::View(a) => a.as_string_view().value(i),
        })
    }
}

/// The label column of the current batch.
enum LabelColumn {
    Int(Int64Array),
    Text(TextColumn),
}

const STRICT: CastOptions<'static> = CastOptions {
    safe: false,
    format_options: arrow::util::display::FormatOptions::new(),
};

fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

fn is_integer(t: &DataType) -> bool {
    match t {
        DataType::Dictionary(_, v) => is_integer(v),
        other => other.is_integer(),
    }
}

/// The decoded batch the reader is walking through.
struct Current {
    texts: Vec<TextColumn>,
    label: Option<LabelColumn>,
    rows: usize,
    next: usize,
}

/// A streaming iterator over the rows of a Parquet file: record batch by record batch, reading
/// only the requested columns (a [`ProjectionMask`]), so unread columns are never decoded and
/// memory does not grow with the file.
///
/// Rows with a null in a read column are skipped and counted, or end the iteration with an
/// error, as [`ReadOptions::nulls`] says. After an error the iterator is finished.
pub struct TextReader {
    path: PathBuf,
    batches: ParquetRecordBatchReader,
    text_columns: Vec<String>,
    label_column: Option<String>,
    label_names: Option<Arc<LabelNames>>,
    nulls: NullPolicy,
    total_rows: u64,
    skipped: u64,
    rows_before: u64,
    current: Option<Current>,
    finished: bool,
}

impl std::fmt::Debug for TextReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextReader")
            .field("path", &self.path)
            .field("text_columns", &self.text_columns)
            .field("label_column", &self.label_column)
            .field("total_rows", &self.total_rows)
            .field("skipped_nulls", &self.skipped)
            .finish_non_exhaustive()
    }
}

fn open_builder(path: &Path) -> Result<ParquetRecordBatchReaderBuilder<File>, DataError> {
    let file = File::open(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    builder_for(file, path)
}

fn builder_for(
    file: File,
    path: &Path,
) -> Result<ParquetRecordBatchReaderBuilder<File>, DataError> {
    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| DataError::NotParquet {
        path: path.to_path_buf(),
        message: one_line(e),
    })
}

/// The top-level columns of a Parquet file with their Arrow types (`"Utf8"`, `"Int64"`, ...).
///
/// # Errors
/// [`DataError::Io`] or [`DataError::NotParquet`].
pub fn parquet_columns(path: &Path) -> Result<Vec<(String, String)>, DataError> {
    let builder = open_builder(path)?;
    Ok(builder
        .schema()
        .fields()
        .iter()
        .map(|f| (f.name().clone(), f.data_type().to_string()))
        .collect())
}

impl TextReader {
    /// Opens `path` and checks that the requested columns exist with usable types.
    ///
    /// # Errors
    /// [`DataError::Io`]; [`DataError::NotParquet`] for a file that is not Parquet or is
    /// truncated; [`DataError::MissingColumn`] listing the columns that exist;
    /// [`DataError::WrongType`] naming the type found; [`DataError::NoRows`] for a file of zero
    /// rows; [`DataError::Options`] for no text column or `batch_rows == 0`.
    pub fn open(path: &Path, opts: &ReadOptions) -> Result<Self, DataError> {
        let file = File::open(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::open_file(file, path, opts, None)
    }

    /// [`TextReader::open`] on a file already open (`path` names it in errors); with
    /// `label_names`, a label is read as its index among them.
    pub(crate) fn open_file(
        file: File,
        path: &Path,
        opts: &ReadOptions,
        label_names: Option<Arc<LabelNames>>,
    ) -> Result<Self, DataError> {
        if opts.text_columns.is_empty() {
            return Err(DataError::Options("no text column to read".into()));
        }
        if opts.batch_rows == 0 {
            return Err(DataError::Options("batch_rows must be at least 1".into()));
        }
        let builder = builder_for(file, path)?;
        let schema = builder.schema().clone();
        let find = |column: &str| column_index(&schema, path, column);
        let mut roots = Vec::new();
        for column in &opts.text_columns {
            let i = find(column)?;
            let found = schema.field(i).data_type();
            if !is_text(found) {
                return Err(DataError::WrongType {
                    path: path.to_path_buf(),
                    column: column.clone(),
                    found: found.to_string(),
                    expected: "a string type (Utf8, LargeUtf8, Utf8View or a string dictionary)",
                });
            }
            roots.push(i);
        }
        if let Some(column) = &opts.label_column {
            let i = find(column)?;
            let found = schema.field(i).data_type();
            if !is_integer(found) && !is_text(found) {
                return Err(DataError::WrongType {
                    path: path.to_path_buf(),
                    column: column.clone(),
                    found: found.to_string(),
                    expected: match label_names {
                        None => "an integer type, or strings holding integers",
                        Some(_) => "an integer or a string type",
                    },
                });
            }
            roots.push(i);
        }
        let total_rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        if total_rows == 0 {
            return Err(DataError::NoRows {
                path: path.to_path_buf(),
            });
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), roots);
        let batches = builder
            .with_projection(mask)
            .with_batch_size(opts.batch_rows)
            .build()
            .map_err(|e| DataError::Parquet {
                path: path.to_path_buf(),
                message: one_line(e),
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            batches,
            text_columns: opts.text_columns.clone(),
            label_column: opts.label_column.clone(),
            label_names,
            nulls: opts.nulls,
            total_rows,
            skipped: 0,
            rows_before: 0,
            current: None,
            finished: false,
        })
    }

    /// Rows in the file (nulls included), from its footer.
    pub fn total_rows(&self) -> u64 {
        self.total_rows
    }

    /// Rows decoded so far (returned or skipped).
    pub(crate) fn rows_read(&self) -> u64 {
        self.rows_before + self.current.as_ref().map_or(0, |c| c.next as u64)
    }

    /// Rows skipped so far because of a null ([`NullPolicy::Skip`]).
    pub fn skipped_nulls(&self) -> u64 {
        self.skipped
    }

    fn parquet_error(&self, e: impl std::fmt::Display) -> DataError {
        DataError::Parquet {
            path: self.path.clone(),
            message: one_line(e),
        }
    }

    /// The id of the label `value` of row `row` among `names`.
    fn named(&self, names: &LabelNames, value: &str, row: u64) -> Result<i64, DataError> {
        let column = self.label_column.as_deref().unwrap_or_default();
        names
            .id(value, &format!("column `{column}`"))
            .map_err(|m| self.parquet_error(format!("row {row}: {m}")))
    }

    fn column(&self, batch: &RecordBatch, name: &str) -> Result<ArrayRef, DataError> {
        batch
            .column_by_name(name)
            .cloned()
            .ok_or_else(|| self.parquet_error(format!("column `{name}` missing from a batch")))
    }

    fn load(&self, batch: &RecordBatch) -> Result<Current, DataError> {
        let mut texts = Vec::with_capacity(self.text_columns.len());
        for name in &self.text_columns {
            texts.push(
                TextColumn::new(self.column(batch, name)?).map_err(|e| self.parquet_error(e))?,
            );
        }
        let label = match &self.label_column {
            None => None,
            Some(name) => {
                let array = self.column(batch, name)?;
                Some(if is_integer(array.data_type()) {
                    let ints = cast_with_options(&array, &DataType::Int64, &STRICT)
                        .map_err(|e| self.parquet_error(format!("label column `{name}`: {e}")))?;
                    LabelColumn::Int(ints.as_primitive::<Int64Type>().clone())
                } else {
                    LabelColumn::Text(TextColumn::new(array).map_err(|e| self.parquet_error(e))?)
                })
            }
        };
        Ok(Current {
            texts,
            label,
            rows: batch.num_rows(),
            next: 0,
        })
    }

    /// The row `i` of the current batch: `Ok(None)` when it is skipped for a null.
    fn row(&mut self, current: &Current, i: usize) -> Result<Option<TextRecord>, DataError> {
        let row = self.rows_before + i as u64 + 1;
        let null = |column: &str| DataError::Null {
            path: self.path.clone(),
            column: column.to_string(),
            row,
        };
        let label = match &current.label {
            None => None,
            Some(LabelColumn::Int(a)) => {
                if a.is_null(i) {
                    None
                } else if let Some(names) = &self.label_names {
                    Some(Some(self.named(names, &a.value(i).to_string(), row)?))
                } else {
                    Some(Some(a.value(i)))
                }
            }
            Some(LabelColumn::Text(t)) => match (t.get(i), &self.label_names) {
                (None, _) => None,
                (Some(s), Some(names)) => Some(Some(self.named(names, s, row)?)),
                (Some(s), None) => match s.trim().parse::<i64>() {
                    Ok(v) => Some(Some(v)),
                    Err(_) => {
                        return Err(DataError::BadLabel {
                            path: self.path.clone(),
                            column: self.label_column.clone().unwrap_or_default(),
                            row,
                            value: shorten(s),
                        });
                    }
                },
            },
        };
        let label = match (label, &self.label_column) {
            (Some(Some(l)), Some(column)) => {
                Some(check_label(l, column).map_err(|m| DataError::Parquet {
                    path: self.path.clone(),
                    message: format!("row {row}: {m}"),
                })?)
            }
            (Some(l), _) => l,
            (None, None) => None,
            (None, Some(column)) => {
                if self.nulls == NullPolicy::Fail {
                    return Err(null(column));
                }
                self.skipped += 1;
                return Ok(None);
            }
        };
        let mut text = String::new();
        for (k, column) in current.texts.iter().enumerate() {
            match column.get(i) {
                Some(s) => {
                    if k > 0 {
                        text.push(' ');
                    }
                    text.push_str(s);
                }
                None => {
                    if self.nulls == NullPolicy::Fail {
                        return Err(null(&self.text_columns[k]));
                    }
                    self.skipped += 1;
                    return Ok(None);
                }
            }
        }
        Ok(Some(TextRecord { text, label }))
    }
}

impl Iterator for TextReader {
    type Item = Result<TextRecord, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        loop {
            if let Some(current) = self.current.take() {
                if current.next < current.rows {
                    let i = current.next;
                    let result = self.row(&current, i);
                    self.current = Some(Current {
                        next: i + 1,
                        ..current
                    });
                    match result {
                        Ok(Some(record)) => return Some(Ok(record)),
                        Ok(None) => continue,
                        Err(e) => {
                            self.finished = true;
                            return Some(Err(e));
                        }
                    }
                }
                self.rows_before += current.rows as u64;
            }
            match self.batches.next() {
                None => {
                    self.finished = true;
                    return None;
                }
                Some(Err(e)) => {
                    self.finished = true;
                    return Some(Err(self.parquet_error(e)));
                }
                Some(Ok(batch)) => match self.load(&batch) {
                    Ok(current) => self.current = Some(current),
                    Err(e) => {
                        self.finished = true;
                        return Some(Err(e));
                    }
                },
            }
        }
    }
}

/// The index of `column` in the schema of the Parquet file `path`, or the error naming the
/// columns there are.
fn column_index(schema: &Schema, path: &Path, column: &str) -> Result<usize, DataError> {
    schema
        .fields()
        .iter()
        .position(|f| f.name() == column)
        .ok_or_else(|| DataError::MissingColumn {
            path: path.to_path_buf(),
            column: column.to_string(),
            available: schema.fields().iter().map(|f| f.name().clone()).collect(),
            hint: None,
        })
}

/// Adds the labels of `column` in the Parquet file `file` (`path` names it in errors) to `out`,
/// reading that column alone, record batch by record batch: an integer column by the decimal
/// text of its values, a string column as it is. A null is skipped, or with
/// [`NullPolicy::Fail`] the [`DataError::Null`] that reading the file would give.
///
/// # Errors
/// As [`TextReader::open`] for the label column, then the first error met while reading.
pub(crate) fn scan_labels(
    file: File,
    path: &Path,
    column: &str,
    nulls: NullPolicy,
    out: &mut Distinct,
) -> Result<(), DataError> {
    let builder = builder_for(file, path)?;
    let schema = builder.schema().clone();
    let i = column_index(&schema, path, column)?;
    let found = schema.field(i).data_type();
    let integer = is_integer(found);
    if !integer && !is_text(found) {
        return Err(DataError::WrongType {
            path: path.to_path_buf(),
            column: column.to_string(),
            found: found.to_string(),
            expected: "an integer or a string type",
        });
    }
    if builder.metadata().file_metadata().num_rows() <= 0 {
        return Err(DataError::NoRows {
            path: path.to_path_buf(),
        });
    }
    let error = |e: &dyn std::fmt::Display| DataError::Parquet {
        path: path.to_path_buf(),
        message: one_line(e),
    };
    let mask = ProjectionMask::roots(builder.parquet_schema(), [i]);
    let batches = builder
        .with_projection(mask)
        .with_batch_size(8192)
        .build()
        .map_err(|e| error(&e))?;
    let mut rows_before = 0u64;
    for batch in batches {
        let batch = batch.map_err(|e| error(&e))?;
        let array = batch
            .column_by_name(column)
            .cloned()
            .ok_or_else(|| error(&format!("column `{column}` missing from a batch")))?;
        let null = |k: usize| -> Result<(), DataError> {
            match nulls {
                NullPolicy::Skip => Ok(()),
                NullPolicy::Fail => Err(DataError::Null {
                    path: path.to_path_buf(),
                    column: column.to_string(),
                    row: rows_before + k as u64 + 1,
                }),
            }
        };
        if integer {
            let ints = cast_with_options(&array, &DataType::Int64, &STRICT)
                .map_err(|e| error(&format!("label column `{column}`: {e}")))?;
            let ints = ints.as_primitive::<Int64Type>();
            for k in 0..ints.len() {
                if ints.is_null(k) {
                    null(k)?;
                    continue;
                }
                out.add(&ints.value(k).to_string(), true);
            }
        } else {
            let strings = TextColumn::new(array).map_err(|e| error(&e))?;
            for k in 0..batch.num_rows() {
                match strings.get(k) {
                    Some(s) => out.add_text(s),
                    None => null(k)?,
                }
            }
        }
        rows_before += batch.num_rows() as u64;
    }
    Ok(())
}

/// Reads every row of `path` into memory: [`TextReader`] collected.
///
/// # Errors
/// As [`TextReader::open`], then the first error met while reading.
pub fn read_texts(path: &Path, opts: &ReadOptions) -> Result<Vec<TextRecord>, DataError> {
    let reader = TextReader::open(path, opts)?;
    // The footer's row count is only a hint: never trust it for a large allocation.
    let hint = usize::try_from(reader.total_rows().min(1 << 20)).unwrap_or(0);
    let mut out = Vec::with_capacity(hint);
    for record in reader {
        out.push(record?);
    }
    Ok(out)
}
