//! CSV to Parquet conversion.
use std::fs::File;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::csv::ReaderBuilder;
use arrow::csv::reader::Format;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::encoding::Watched;
use crate::error::{csv_error, decoding_error, one_line, shorten};
use crate::{CsvHeader, DataError, Encoding};

/// Rows the CSV reader decodes at a time (independent of the row group size).
const CSV_BATCH_ROWS: usize = 8192;

/// Options of [`csv_to_parquet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvOptions {
    /// How to name and type the columns.
    pub header: CsvHeader,
    /// Rows per Parquet row group (the unit a reader decodes and projects at once).
    pub row_group_rows: usize,
    /// The CSV file's encoding (default UTF-8, a UTF-16 byte-order mark read as UTF-16; or
    /// [`Encoding::Auto`], chosen from the file's first bytes); the Parquet file's strings are
    /// UTF-8.
    pub encoding: Encoding,
    /// The character between fields; `None`: `,`, or a tab for a `.tsv` or `.tab` file (as
    /// [`SourceOptions::csv_delimiter`](crate::SourceOptions::csv_delimiter) reads it).
    pub delimiter: Option<u8>,
}

impl Default for CsvOptions {
    fn default() -> Self {
        Self {
            header: CsvHeader::AgNews,
            row_group_rows: 65_536,
            encoding: Encoding::Utf8,
            delimiter: None,
        }
    }
}

/// What [`csv_to_parquet`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvertStats {
    /// Data rows written (a header is not counted).
    pub rows: u64,
    /// Column names of the Parquet file, in order.
    pub columns: Vec<String>,
}

/// Converts a CSV file into a zstd-compressed Parquet file, streaming (memory is bounded by the
/// row group size, not by the file size).
///
/// The CSV file may be gzip or zstd compressed, as every input of a
/// [`Source`](crate::Source) may: told by its extension (`.gz`, `.gzip`, `.zst`, `.zstd`), else
/// by its first bytes.
///
/// Field text is kept byte for byte (once decoded from [`CsvOptions::encoding`]): quotes are
/// undone (`""` becomes `"`) and nothing else is cleaned. A CSV field cannot tell an empty value from a missing one, so empty text fields are
/// stored as empty strings; an empty AG News label is stored as null.
///
/// The output appears atomically: it is written to a temporary file in the same directory and
/// renamed over `parquet` only once complete, so a reader never sees half a file and a failed
/// conversion leaves any previous file untouched.
///
/// # Errors
/// [`DataError::Io`] when a file cannot be read or written, [`DataError::Csv`] naming the file
/// and the record for a row with the wrong number of fields, bytes that are not UTF-8, a label
/// that is not an integer or a bad header, [`DataError::Line`] for bytes that are not text in
/// a UTF-16 encoding (naming the byte), [`DataError::NoRows`] for a file without data rows,
/// [`DataError::Options`] for `row_group_rows == 0`.
pub fn csv_to_parquet(
    csv: &Path,
    parquet: &Path,
    opts: &CsvOptions,
) -> Result<ConvertStats, DataError> {
    if opts.row_group_rows == 0 {
        return Err(DataError::Options(
            "row_group_rows must be at least 1".into(),
        ));
    }
    let reading = crate::SourceOptions {
        delimiter: opts.delimiter,
        ..crate::SourceOptions::default()
    };
    reading.check_delimiter()?;
    let delimiter = reading.csv_delimiter(csv);
    let (names, has_header) = match opts.header {
        CsvHeader::AgNews => (
            vec!["label".to_string(), "title".into(), "description".into()],
            false,
        ),
        CsvHeader::FromFile => (read_header(csv, opts.encoding, delimiter)?, true),
    };
    let label_column = matches!(opts.header, CsvHeader::AgNews).then_some(0);

    // Everything is read as nullable Utf8; labels are parsed here so the row is known exactly.
    let read_schema = Arc::new(Schema::new(
        names
            .iter()
            .map(|n| Field::new(n, DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ));
    let out_schema: SchemaRef = Arc::new(Schema::new(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                if Some(i) == label_column {
                    Field::new(n, DataType::Int64, true)
                } else {
                    Field::new(n, DataType::Utf8, false)
                }
            })
            .collect::<Vec<_>>(),
    ));

    let reader = ReaderBuilder::new(read_schema)
        .with_header(has_header)
        .with_delimiter(delimiter)
        .with_batch_size(CSV_BATCH_ROWS)
        .build_buffered(open_csv(csv, opts.encoding)?)
        .map_err(|e| csv_error(csv, None, &e))?;

    let out = AtomicFile::new(parquet)?;
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_size(opts.row_group_rows)
        .build();
    let pq = |e: parquet::errors::ParquetError| DataError::Parquet {
        path: parquet.to_path_buf(),
        message: one_line(e),
    };
    let mut writer =
        ArrowWriter::try_new(out.file(), out_schema.clone(), Some(props)).map_err(pq)?;

    let first_data_record = 1 + u64::from(has_header);
    let mut rows: u64 = 0;
    for batch in reader {
        let batch = batch.map_err(|e| csv_error(csv, None, &e))?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
        for (i, column) in batch.columns().iter().enumerate() {
            let strings = column
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| DataError::Csv {
                    path: csv.to_path_buf(),
                    row: None,
                    message: "the CSV reader returned a non-string column".into(),
                })?;
            if Some(i) == label_column {
                columns.push(Arc::new(parse_labels(
                    csv,
                    strings,
                    first_data_record + rows,
                )?));
            } else {
                columns.push(Arc::new(without_nulls(strings)));
            }
        }
        let batch =
            RecordBatch::try_new(out_schema.clone(), columns).map_err(|e| DataError::Parquet {
                path: parquet.to_path_buf(),
                message: one_line(e),
            })?;
        rows += batch.num_rows() as u64;
        writer.write(&batch).map_err(pq)?;
    }
    if rows == 0 {
        return Err(DataError::NoRows {
            path: csv.to_path_buf(),
        });
    }
    writer.into_inner().map_err(pq)?;
    out.commit()?;
    Ok(ConvertStats {
        rows,
        columns: names,
    })
}

/// Reads the header record of a CSV file: the column names.
fn read_header(csv: &Path, encoding: Encoding, delimiter: u8) -> Result<Vec<String>, DataError> {
    let mut reader = Watched::new(open_csv(csv, encoding)?);
    let (schema, _) = Format::default()
        .with_header(true)
        .with_delimiter(delimiter)
        .infer_schema(&mut reader, Some(0))
        .map_err(|e| match reader.failure() {
            Some(failure) => decoding_error(csv, failure),
            None => csv_error(csv, Some(1), &e),
        })?;
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    if names.is_empty() || names.len() == 1 && names[0].is_empty() {
        return Err(DataError::NoRows {
            path: csv.to_path_buf(),
        });
    }
    for (i, name) in names.iter().enumerate() {
        let bad = |message: String| DataError::Csv {
            path: csv.to_path_buf(),
            row: Some(1),
            message,
        };
        if name.is_empty() {
            return Err(bad(format!("header: column {} has no name", i + 1)));
        }
        if names[..i].contains(name) {
            return Err(bad(format!("header: column name `{name}` appears twice")));
        }
    }
    Ok(names)
}

/// The bytes of the CSV file `csv`, decompressed (gzip members or zstd frames one after the
/// other) as a [`Source`](crate::Source) reads them, decoded from `encoding`, and buffered.
fn open_csv(csv: &Path, encoding: Encoding) -> Result<Box<dyn BufRead>, DataError> {
    crate::source::open_decompressed(csv, encoding)
}

/// Parses the AG News class column; an empty field is null.
fn parse_labels(
    csv: &Path,
    strings: &StringArray,
    first_row: u64,
) -> Result<Int64Array, DataError> {
    let mut out = Vec::with_capacity(strings.len());
    for i in 0..strings.len() {
        if strings.is_null(i) {
            out.push(None);
            continue;
        }
        let raw = strings.value(i);
        let value = raw.trim();
        match value.parse::<i64>() {
            Ok(v) => out.push(Some(v)),
            Err(_) => {
                return Err(DataError::Csv {
                    path: csv.to_path_buf(),
                    row: Some(first_row + i as u64),
                    message: format!("label `{}` is not an integer", shorten(raw)),
                });
            }
        }
    }
    Ok(Int64Array::from(out))
}

/// The CSV reader turns empty fields into nulls; CSV cannot express null, so they become `""`
/// again. Null slots hold zero bytes, so dropping the validity bitmap is enough.
fn without_nulls(strings: &StringArray) -> StringArray {
    if strings.null_count() == 0 {
        return strings.clone();
    }
    let (offsets, values, _) = strings.clone().into_parts();
    StringArray::new(offsets, values, None)
}

/// A file written under a temporary name in the target's directory and renamed into place by
/// [`AtomicFile::commit`]; dropped without committing, the temporary file is removed.
///
/// The writer holds an exclusive lock on its temporary file for as long as it lives. A
/// process killed outright (`kill -9`, power loss) cannot remove its file, so each new
/// writer of the same target first removes the leftovers nobody holds a lock on: a killed
/// 1 GB store build does not keep its gigabyte on disk, and a build running beside it in
/// another process is left alone.
pub(crate) struct AtomicFile {
    target: PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl AtomicFile {
    pub(crate) fn new(target: &Path) -> Result<Self, DataError> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !dir.is_dir() {
            // Said plainly: the temporary file's name would mean nothing to the user.
            return Err(DataError::Io {
                path: target.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    format!("the directory {} does not exist", dir.display()),
                ),
            });
        }
        let prefix = format!(".{name}.");
        sweep_leftovers(dir, &prefix);
        let tmp = keeper(&prefix)
            .tempfile_in(dir)
            .map_err(|source| DataError::Io {
                path: target.to_path_buf(),
                source,
            })?;
        tmp.as_file().lock().map_err(|source| DataError::Io {
            path: tmp.path().to_path_buf(),
            source,
        })?;
        Ok(Self {
            target: target.to_path_buf(),
            tmp,
        })
    }

    pub(crate) fn file(&self) -> &File {
        self.tmp.as_file()
    }

    pub(crate) fn commit(self) -> Result<(), DataError> {
        let io = |source| DataError::Io {
            path: self.target.clone(),
            source,
        };
        let mut f = self.tmp.as_file();
        f.flush().map_err(io)?;
        f.sync_all().map_err(io)?;
        let target = self.target.clone();
        self.tmp.persist(&target).map_err(|e| DataError::Io {
            path: target,
            source: e.error,
        })?;
        Ok(())
    }
}

/// Removes the temporary files `prefix*.tmp` in `dir` that no living writer holds locked:
/// those of writers that were killed. Best effort: a file that cannot be opened, locked or
/// removed is left where it is.
fn sweep_leftovers(dir: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !(name.starts_with(prefix) && name.ends_with(".tmp")) {
            continue;
        }
        let path = entry.path();
        if let Ok(file) = File::open(&path)
            && file.try_lock().is_ok()
        {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// A temporary-file builder whose file gets the mode of a file the user keeps: readable by
/// all, as `File::create` makes it (the umask still applies), not a temporary file's 0600.
fn keeper(prefix: &str) -> tempfile::Builder<'_, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    builder
}

#[cfg(test)]
mod tests {
    use super::AtomicFile;
    use crate::error::without_line;
    use std::io::Write;

    #[test]
    fn arrow_messages_leave_the_record_number_to_the_row() {
        let cases = [
            (
                "incorrect number of fields for line 1, expected 3 got 4",
                "incorrect number of fields: expected 3, got 4",
            ),
            (
                "incorrect number of fields for line 12, expected 3 got more than 5",
                "incorrect number of fields: expected 3, got more than 5",
            ),
            (
                "Encountered invalid UTF-8 data for line 1 and field 2",
                "field 2 is not valid UTF-8",
            ),
            (
                "Encountered unequal lengths between records on CSV file. Expected 3 records, \
                 found 2 records at line 1",
                "Encountered unequal lengths between records on CSV file. Expected 3 records, \
                 found 2 records",
            ),
        ];
        for (arrow, ours) in cases {
            let (line, message) = without_line(arrow).unwrap();
            assert_eq!(message, ours);
            assert_eq!(line, if arrow.contains("line 12") { 12 } else { 1 });
        }
        assert_eq!(without_line("no number here"), None);
    }

    #[test]
    fn a_new_writer_sweeps_only_the_leftovers_nobody_holds() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.store");
        let dead = dir.path().join(".out.store.dead01.tmp");
        let live = dir.path().join(".out.store.live01.tmp");
        let other = dir.path().join(".other.store.dead02.tmp");
        for f in [&dead, &live, &other] {
            std::fs::write(f, b"half-written").unwrap();
        }
        // A writer in another process holds its file locked; here, another open file.
        let holder = std::fs::File::open(&live).unwrap();
        holder.lock().unwrap();

        let out = AtomicFile::new(&target).unwrap();
        assert!(!dead.exists(), "an unlocked leftover is swept");
        assert!(live.exists(), "a locked one belongs to a running writer");
        assert!(other.exists(), "another target's files are not ours");
        // Our own temporary file is locked while we write, so a writer beside us keeps it.
        let second = AtomicFile::new(&target).unwrap();
        let ours = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(ours, 4, "live, other and the two writers' files");
        second.file().write_all(b"two").unwrap();
        second.commit().unwrap();
        out.file().write_all(b"one").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"one");

        drop(holder);
        let _third = AtomicFile::new(&target).unwrap();
        assert!(!live.exists(), "released, it is a leftover");
    }
}
