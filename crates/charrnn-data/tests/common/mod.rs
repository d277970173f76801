//! Helpers shared by the integration tests: CSV quoting, small Parquet files, reading a source.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch};
use charrnn_data::{Source, SourceOptions};
use parquet::arrow::ArrowWriter;

/// One CSV field, always double-quoted, inner quotes doubled (the AG News convention).
pub fn quote(field: &str) -> String {
    format!("\"{}\"", field.replace('"', "\"\""))
}

/// AG News style CSV text of `(label, title, description)` rows.
pub fn ag_news_csv(rows: &[(i64, String, String)]) -> String {
    let mut out = String::new();
    for (label, title, description) in rows {
        out.push_str(&format!(
            "{},{},{}\n",
            quote(&label.to_string()),
            quote(title),
            quote(description)
        ));
    }
    out
}

/// Writes the named columns as one Parquet file (several row groups when `row_group_rows` is
/// smaller than the data).
pub fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>, row_group_rows: usize) {
    let batch = RecordBatch::try_from_iter(columns).expect("valid test batch");
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_size(row_group_rows)
        .build();
    let file = std::fs::File::create(path).expect("create test parquet");
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

/// A column of optional strings.
pub fn strings(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(arrow::array::StringArray::from(values.to_vec()))
}

/// A column of optional i64.
pub fn ints(values: &[Option<i64>]) -> ArrayRef {
    Arc::new(arrow::array::Int64Array::from(values.to_vec()))
}

/// Names of the files in a directory, sorted.
pub fn dir_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every document of `path` read with `opts`: (text, label).
pub fn read(path: &Path, opts: &SourceOptions) -> Vec<(String, Option<i64>)> {
    Source::open(path, opts)
        .unwrap()
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r.text, r.label)
        })
        .collect()
}

/// The first error met while reading `path` with `opts`, displayed.
pub fn read_error(path: &Path, opts: &SourceOptions) -> String {
    Source::open(path, opts)
        .unwrap()
        .records()
        .find_map(Result::err)
        .unwrap()
        .to_string()
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write test file");
    path
}

/// `bytes` gzip-compressed.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).expect("gzip");
    e.finish().expect("gzip")
}

/// `bytes` zstd-compressed.
pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).expect("zstd")
}

/// The error of opening `path` with `opts`.
pub fn open_error(path: &Path, opts: &SourceOptions) -> charrnn_data::DataError {
    Source::open(path, opts).unwrap_err()
}

/// The rows of `path` that reading with `opts` skips for a null, as the pieces count them
/// once the iteration has ended, with the documents read.
pub fn read_counting_skips(path: &Path, opts: &SourceOptions) -> (Vec<String>, u64) {
    let source = Source::open(path, opts).unwrap();
    let mut pieces = source.pieces();
    let texts = pieces.by_ref().map(|p| p.unwrap().text).collect();
    (texts, pieces.skipped_rows())
}
