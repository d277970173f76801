//! Any source to one Parquet file (`text`, and `label` when the source reads one).
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression as PqCompression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::convert::AtomicFile;
use crate::error::one_line;
use crate::{ConvertStats, DataError, Source};

/// Rows written at a time.
const CHUNK_ROWS: usize = 8192;

/// Writes the documents of `source` to a zstd-compressed Parquet file: a `text` column, and a
/// `label` column when the source reads labels: Int64, or with
/// [`SourceOptions::label_names`](crate::SourceOptions::label_names) the names themselves
/// (Utf8), so the file keeps the labels as the source spells them. Streams (one chunk of rows
/// in memory) and writes atomically (temporary file, then rename).
///
/// # Errors
/// The source's errors; [`DataError::NoRows`] when it has no document; [`DataError::Io`] or
/// [`DataError::Parquet`] while writing.
pub fn records_to_parquet(source: &Source, parquet: &Path) -> Result<ConvertStats, DataError> {
    let labels = source.options().label_column.is_some();
    let names = source.options().label_names.as_deref();
    let mut fields = vec![Field::new("text", DataType::Utf8, false)];
    if labels {
        let label_type = match names {
            Some(_) => DataType::Utf8,
            None => DataType::Int64,
        };
        fields.push(Field::new("label", label_type, true));
    }
    let schema = Arc::new(Schema::new(fields));
    let pq = |e: parquet::errors::ParquetError| DataError::Parquet {
        path: parquet.to_path_buf(),
        message: one_line(e),
    };
    let out = AtomicFile::new(parquet)?;
    let props = WriterProperties::builder()
        .set_compression(PqCompression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = ArrowWriter::try_new(out.file(), schema.clone(), Some(props)).map_err(pq)?;
    let mut texts: Vec<String> = Vec::with_capacity(CHUNK_ROWS);
    let mut values: Vec<Option<i64>> = Vec::with_capacity(CHUNK_ROWS);
    let mut rows = 0u64;
    let flush = |texts: &mut Vec<String>,
                 values: &mut Vec<Option<i64>>,
                 writer: &mut ArrowWriter<&std::fs::File>|
     -> Result<(), DataError> {
        if texts.is_empty() {
            return Ok(());
        }
        let mut columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(std::mem::take(texts)))];
        match (labels, names) {
            (false, _) => {}
            (true, None) => columns.push(Arc::new(Int64Array::from(std::mem::take(values)))),
            (true, Some(names)) => {
                let mut spelled: Vec<Option<&str>> = Vec::with_capacity(values.len());
                for id in values.drain(..) {
                    spelled.push(match id {
                        None => None,
                        Some(id) => Some(name_of(names, id, parquet)?),
                    });
                }
                columns.push(Arc::new(StringArray::from(spelled)));
            }
        }
        let batch =
            RecordBatch::try_new(schema.clone(), columns).map_err(|e| DataError::Parquet {
                path: parquet.to_path_buf(),
                message: one_line(e),
            })?;
        writer.write(&batch).map_err(pq)
    };
    for record in source.records() {
        let record = record?;
        texts.push(record.text);
        values.push(record.label);
        rows += 1;
        if texts.len() == CHUNK_ROWS {
            flush(&mut texts, &mut values, &mut writer)?;
            values.clear();
        }
    }
    flush(&mut texts, &mut values, &mut writer)?;
    if rows == 0 {
        return Err(DataError::NoRows {
            path: source.path().to_owned(),
        });
    }
    writer.into_inner().map_err(pq)?;
    out.commit()?;
    let mut columns = vec!["text".to_owned()];
    if labels {
        columns.push("label".into());
    }
    Ok(ConvertStats { rows, columns })
}

/// The name of label `id` (its index in `names`).
fn name_of<'a>(names: &'a [String], id: i64, parquet: &Path) -> Result<&'a str, DataError> {
    usize::try_from(id)
        .ok()
        .and_then(|i| names.get(i))
        .map(String::as_str)
        .ok_or_else(|| DataError::Parquet {
            path: parquet.to_path_buf(),
            message: format!(
                "label id {id} has no name among the {} label names",
                names.len()
            ),
        })
}
