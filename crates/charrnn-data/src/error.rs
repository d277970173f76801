//! The one error type of the crate.
use std::path::{Path, PathBuf};

use arrow::error::ArrowError;

use crate::encoding::{DecodeError, ENCODING_HINT, decode_failure};

/// Everything that can go wrong while converting or reading a dataset.
///
/// Every variant names the file it is about, and where it makes sense the column and the row, so
/// its one-line `Display` is enough for a user to find the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened, read, written or renamed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The CSV file is malformed: a row with the wrong number of fields, bytes that are not
    /// UTF-8, a label that is not an integer (or is the lowest i64, which the token store
    /// reserves), a bad header (a column named twice).
    #[error("{}: {}{message}", path.display(), row.map(|r| format!("row {r}: ")).unwrap_or_default())]
    Csv {
        /// The CSV file.
        path: PathBuf,
        /// The 1-based record number in the file (a header, when there is one, is record 1;
        /// a line break inside a quoted field does not start a new record), when known.
        row: Option<u64>,
        /// What is wrong.
        message: String,
    },
    /// The file holds a header or a schema but not a single data row.
    #[error("{} has no rows", path.display())]
    NoRows {
        /// The empty file.
        path: PathBuf,
    },
    /// The file is not Parquet at all, or is truncated, or its footer is damaged.
    #[error("{} is not a readable Parquet file (not Parquet, or truncated): {message}", path.display())]
    NotParquet {
        /// The file.
        path: PathBuf,
        /// The Parquet library's diagnosis.
        message: String,
    },
    /// A Parquet or Arrow error while reading data pages or writing the output; or a label that
    /// is the lowest i64 (reserved by the token store), with its row.
    #[error("{}: {message}", path.display())]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The library's diagnosis.
        message: String,
    },
    /// A requested column does not exist.
    #[error(
        "{}: no column `{column}`; the columns are: {}{}",
        path.display(),
        available.join(", "),
        hint.as_ref().map(|h| format!(": {h}")).unwrap_or_default()
    )]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column asked for.
        column: String,
        /// The columns the file does have.
        available: Vec<String>,
        /// What would find it, when something would: for a CSV header that another delimiter
        /// splits into the columns asked for, `the header looks ;-separated: name the delimiter
        /// (SourceOptions::delimiter): ;`.
        hint: Option<String>,
    },
    /// A column exists but its type cannot be used for what it was asked for.
    #[error("{}: column `{column}` has type {found}, expected {expected}", path.display())]
    WrongType {
        /// The file.
        path: PathBuf,
        /// The column.
        column: String,
        /// The type the file has, as Arrow writes it.
        found: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// A null value where [`NullPolicy::Fail`](crate::NullPolicy::Fail) forbids one.
    #[error("{}: row {row}: column `{column}` is null", path.display())]
    Null {
        /// The file.
        path: PathBuf,
        /// The column holding the null.
        column: String,
        /// The 1-based row number in the file.
        row: u64,
    },
    /// A string label that does not parse as an integer.
    #[error("{}: row {row}: label `{value}` in column `{column}` is not an integer", path.display())]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// The label column.
        column: String,
        /// The 1-based row number in the file.
        row: u64,
        /// The offending value.
        value: String,
    },
    /// The options make no sense (no text column, the same column twice, a zero row count, a
    /// CSV delimiter that cannot separate fields).
    #[error("invalid options: {0}")]
    Options(String),
    /// A line of a text or JSON Lines file cannot be used: bytes that are not UTF-8, a line
    /// that is not a JSON object (or a string left open on it), a missing field or one of the
    /// wrong type, a label that is the lowest i64 (which the token store reserves). In a file
    /// holding one JSON array, the line an element starts on, the message naming the element
    /// (`element 3: ...`), or a truncated array. In CSV, the line a quoted field that is never
    /// closed opens on. Also, in any text input (CSV too), bytes that are not text in the
    /// [`Encoding`](crate::Encoding) read: the message names their byte offset in the
    /// (decompressed) file.
    #[error("{}: line {line}: {message}", path.display())]
    Line {
        /// The file (for a compressed file, the compressed file).
        path: PathBuf,
        /// The 1-based line number in the (decompressed) text.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A Parquet shard whose schema differs from the first shard's.
    #[error("{}: its schema differs from that of {}: {message}", path.display(), first.display())]
    SchemaMismatch {
        /// The shard that differs.
        path: PathBuf,
        /// The first shard, whose schema the others must have.
        first: PathBuf,
        /// The difference.
        message: String,
    },
    /// The input cannot be used as a whole: no file matches, the format cannot be told, the
    /// files of a directory have different formats.
    #[error("{}: {message}", path.display())]
    Input {
        /// The path or pattern given.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A token store that cannot be used (and is rebuilt by [`Store::open_or_build`](crate::Store::open_or_build)):
    /// truncated, damaged, of another format version, or built from other inputs.
    #[error("{}: {message}", path.display())]
    Store {
        /// The store file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The encoder passed to the store builder failed or returned an id that cannot be stored.
    #[error("{}: encoding failed: {message}", path.display())]
    Encode {
        /// The store being built.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// An example that does not fit a model (see [`Examples::check`](crate::Examples::check)).
    #[error("{}{message}", index.map(|i| format!("example {i}: ")).unwrap_or_default())]
    BadExample {
        /// The example's index, when one example is at fault.
        index: Option<usize>,
        /// What is wrong.
        message: String,
    },
}

/// Keeps a library message on one line.
pub(crate) fn one_line(message: impl std::fmt::Display) -> String {
    message
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The label value the token store reserves for "no label": the lowest i64.
pub(crate) const NO_LABEL: i64 = i64::MIN;

/// `label` read from `column`, unless it is the value the token store reserves for "no label"
/// ([`NO_LABEL`]): then the message that says so.
pub(crate) fn check_label(label: i64, column: &str) -> Result<i64, String> {
    if label == NO_LABEL {
        return Err(format!(
            "label {label} in column `{column}` is out of range (the lowest i64 is reserved)"
        ));
    }
    Ok(label)
}

/// Maps an Arrow CSV error, recovering the record number from its message when present: the
/// message then leaves it to the row (`row 3: incorrect number of fields: expected 3, got 4`,
/// not `row 3: incorrect number of fields for line 3, expected 3 got 4`).
pub(crate) fn csv_error(csv: &Path, row: Option<u64>, e: &ArrowError) -> DataError {
    if let ArrowError::IoError(_, io) = e
        && let Some(failure) = decode_failure(io)
    {
        return decoding_error(csv, failure);
    }
    let message = match e {
        ArrowError::CsvError(m) | ArrowError::ParseError(m) => one_line(m),
        ArrowError::IoError(m, _) => one_line(m),
        other => one_line(other),
    };
    let (mut message, row) = match (without_line(&message), row) {
        (Some((line, rest)), None) => (rest, Some(line)),
        (Some((line, rest)), Some(given)) if line == given => (rest, row),
        _ => (message, row),
    };
    if message.ends_with("is not valid UTF-8") {
        message = format!("{message}; {ENCODING_HINT}");
    }
    DataError::Csv {
        path: csv.to_path_buf(),
        row,
        message,
    }
}

/// The error of `path` for text that is not valid in its encoding.
pub(crate) fn decoding_error(path: &Path, failure: &DecodeError) -> DataError {
    DataError::Line {
        path: path.to_owned(),
        line: failure.line,
        message: failure.message.clone(),
    }
}

/// An I/O error of reading `path`: [`DataError::Line`] for text that is not valid in its
/// encoding, else [`DataError::Io`].
pub(crate) fn read_error(path: &Path, source: std::io::Error) -> DataError {
    match decode_failure(&source) {
        Some(failure) => decoding_error(path, failure),
        None => DataError::Io {
            path: path.to_owned(),
            source,
        },
    }
}

/// Finds `line N` in an Arrow CSV message (arrow counts records from 1, a header included) and
/// returns N with the message reworded without it, or `None` when there is no such number.
pub(crate) fn without_line(message: &str) -> Option<(u64, String)> {
    let at = message.find("line ")?;
    let digits: String = message[at + 5..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let line: u64 = digits.parse().ok()?;
    let before = &message[..at];
    let after = &message[at + 5 + digits.len()..];
    let rest = if let Some(stem) = before.strip_suffix(" for ")
        && let Some(counts) = after.strip_prefix(", expected ")
        && let Some((expected, got)) = counts.split_once(" got ")
    {
        // "incorrect number of fields for line N, expected A got B"
        format!("{stem}: expected {expected}, got {got}")
    } else if before.ends_with("invalid UTF-8 data for ")
        && let Some(field) = after.strip_prefix(" and field ")
    {
        // "Encountered invalid UTF-8 data for line N and field F"
        format!("field {field} is not valid UTF-8")
    } else if let Some(stem) = before.strip_suffix(" at ") {
        // "... at line N" or "... at line N. Row data: ..."
        format!("{stem}{after}")
    } else {
        return Some((line, message.to_owned()));
    };
    Some((line, rest))
}

/// A value quoted in an error message: at most 40 characters, control characters escaped.
pub(crate) fn shorten(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(40)
        .collect::<String>()
        .escape_debug()
        .to_string();
    if value.chars().nth(40).is_some() {
        out.push('…');
    }
    out
}
