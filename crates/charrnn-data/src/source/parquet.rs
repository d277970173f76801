//! Parquet files and directories (or globs) of shards with one schema.
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use super::types::{Compression, FileReader, Piece, SourceFile, SourceOptions, io, open_stream};
use crate::labels::{Distinct, LabelNames};
use crate::read::scan_labels;
use crate::{DataError, ReadOptions, TextReader, parquet_columns};

/// Checks that every shard has the first shard's columns and types, and that the first has the
/// requested columns.
pub(crate) fn check_shards(files: &[SourceFile], opts: &SourceOptions) -> Result<(), DataError> {
    let Some(first) = files.first() else {
        return Ok(());
    };
    open_reader(first, opts, None)?;
    let columns = |f: &SourceFile| -> Result<Vec<(String, String)>, DataError> {
        match f.compression {
            Compression::None => parquet_columns(&f.path),
            _ => {
                let (file, path) = (decompressed(f)?, f.path.clone());
                let builder =
                    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
                        .map_err(|e| DataError::NotParquet {
                            path,
                            message: crate::error::one_line(e),
                        })?;
                Ok(builder
                    .schema()
                    .fields()
                    .iter()
                    .map(|f| (f.name().clone(), f.data_type().to_string()))
                    .collect())
            }
        }
    };
    let expected = columns(first)?;
    let show = |c: &[(String, String)]| {
        c.iter()
            .map(|(n, t)| format!("{n}: {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for f in &files[1..] {
        let found = columns(f)?;
        if found != expected {
            return Err(DataError::SchemaMismatch {
                path: f.path.clone(),
                first: first.path.clone(),
                message: format!("columns ({}) against ({})", show(&found), show(&expected)),
            });
        }
    }
    Ok(())
}

/// A compressed Parquet file decompressed into an anonymous temporary file (Parquet needs to
/// seek).
fn decompressed(f: &SourceFile) -> Result<File, DataError> {
    let (mut reader, _) = open_stream(f)?;
    let mut tmp = tempfile::tempfile().map_err(|e| io(&f.path, e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(|e| io(&f.path, e))?;
        if n == 0 {
            break;
        }
        tmp.write_all(&buf[..n]).map_err(|e| io(&f.path, e))?;
    }
    Ok(tmp)
}

fn read_options(opts: &SourceOptions) -> ReadOptions {
    ReadOptions {
        text_columns: opts.columns(),
        label_column: opts.label_column.clone(),
        nulls: opts.nulls,
        batch_rows: 8192,
    }
}

/// The file of `f` to read: itself, or decompressed into a temporary file.
fn readable(f: &SourceFile) -> Result<File, DataError> {
    match f.compression {
        Compression::None => File::open(&f.path).map_err(|e| io(&f.path, e)),
        _ => decompressed(f),
    }
}

fn open_reader(
    f: &SourceFile,
    opts: &SourceOptions,
    labels: Option<&Arc<LabelNames>>,
) -> Result<TextReader, DataError> {
    let read = read_options(opts);
    TextReader::open_file(readable(f)?, Path::new(&f.path), &read, labels.cloned())
}

/// Adds the labels of `column` in the shard `f` to `out`, reading that column alone.
pub(crate) fn labels(
    f: &SourceFile,
    opts: &SourceOptions,
    column: &str,
    out: &mut Distinct,
) -> Result<(), DataError> {
    scan_labels(readable(f)?, &f.path, column, opts.nulls, out)
}

pub(crate) struct ShardReader {
    inner: TextReader,
    bytes: u64,
}

impl ShardReader {
    pub(crate) fn open(
        f: &SourceFile,
        opts: &SourceOptions,
        labels: Option<&Arc<LabelNames>>,
    ) -> Result<Self, DataError> {
        Ok(Self {
            inner: open_reader(f, opts, labels)?,
            bytes: f.bytes,
        })
    }
}

impl Iterator for ShardReader {
    type Item = Result<Piece, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next().map(|r| {
            r.map(|record| Piece {
                text: record.text,
                label: record.label,
                end: true,
            })
        })
    }
}

impl FileReader for ShardReader {
    fn bytes_read(&self) -> u64 {
        let total = self.inner.total_rows().max(1);
        (u128::from(self.bytes) * u128::from(self.inner.rows_read().min(total)) / u128::from(total))
            as u64
    }

    fn skipped_rows(&self) -> u64 {
        self.inner.skipped_nulls()
    }
}
