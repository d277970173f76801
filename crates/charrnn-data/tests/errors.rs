//! Every bad input gives its own error, naming the file (and the column or row), never a panic.
mod common;

use std::path::Path;

use charrnn_data::{
    CsvHeader, CsvOptions, DataError, NullPolicy, ReadOptions, TextReader, csv_to_parquet,
    parquet_columns, read_texts,
};
use common::{dir_names, ints, strings, write_parquet};

/// Converts `csv_bytes` and returns the error (and checks nothing was left behind).
fn convert_error(csv_bytes: &[u8], header: CsvHeader) -> DataError {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, csv_bytes).unwrap();
    let pq = dir.path().join("bad.parquet");
    let opts = CsvOptions {
        header,
        ..CsvOptions::default()
    };
    let err = csv_to_parquet(&csv, &pq, &opts).expect_err("conversion must fail");
    assert_eq!(
        dir_names(dir.path()),
        ["bad.csv"],
        "no output and no temporary file"
    );
    assert!(err.to_string().contains("bad.csv"), "{err}");
    assert!(!err.to_string().contains('\n'), "one line: {err}");
    err
}

#[test]
fn bad_csv_names_file_and_row() {
    let check = |bytes: &[u8], header: CsvHeader, row: Option<u64>, words: &str| {
        let err = convert_error(bytes, header);
        match &err {
            DataError::Csv {
                row: got, message, ..
            } => {
                assert_eq!(*got, row, "{err}");
                assert!(message.contains(words), "{err}");
                // The row says where, once: arrow's "for line N" is not repeated.
                assert!(!message.contains("line"), "{err}");
            }
            other => panic!("expected a CSV error, got {other:?}"),
        }
    };
    let good = "\"1\",\"t\",\"d\"\n";
    // Wrong column count in the third record (the second record spans two lines).
    let short = format!("{good}\"2\",\"multi\nline\",\"d\"\n\"3\",\"only two\"\n{good}");
    check(
        short.as_bytes(),
        CsvHeader::AgNews,
        Some(3),
        "incorrect number of fields",
    );
    let long = format!("{good}{good}\"3\",\"a\",\"b\",\"c\"\n");
    check(
        long.as_bytes(),
        CsvHeader::AgNews,
        Some(3),
        "expected 3, got 4",
    );
    // A header forced into the AG News layout: one clear statement of where and what.
    let err = convert_error(b"id,text,label,note\n1,a,0,x\n", CsvHeader::AgNews);
    assert!(
        err.to_string()
            .ends_with("bad.csv: row 1: incorrect number of fields: expected 3, got 4"),
        "{err}"
    );
    // Not UTF-8 in record 2.
    let mut latin1 = good.as_bytes().to_vec();
    latin1.extend_from_slice(b"\"2\",\"caf\xe9\",\"d\"\n");
    check(&latin1, CsvHeader::AgNews, Some(2), "UTF-8");
    // A label that is not an integer, in record 4.
    let label = format!("{good}{good}{good}\"World\",\"t\",\"d\"\n");
    check(
        label.as_bytes(),
        CsvHeader::AgNews,
        Some(4),
        "`World` is not an integer",
    );
    // Header files: records count the header line.
    let header = "a,b\n1,2\n3\n";
    check(
        header.as_bytes(),
        CsvHeader::FromFile,
        Some(3),
        "incorrect number of fields",
    );
    check(
        b"a,b,a\n1,2,3\n",
        CsvHeader::FromFile,
        Some(1),
        "`a` appears twice",
    );
    check(
        b"a,,c\n1,2,3\n",
        CsvHeader::FromFile,
        Some(1),
        "column 2 has no name",
    );
}

#[test]
fn csv_without_rows_is_an_error() {
    for (bytes, header) in [
        (&b""[..], CsvHeader::AgNews),
        (&b""[..], CsvHeader::FromFile),
        (&b"title,label\n"[..], CsvHeader::FromFile),
    ] {
        let err = convert_error(bytes, header);
        assert!(matches!(err, DataError::NoRows { .. }), "{err:?}");
        assert!(err.to_string().ends_with("bad.csv has no rows"), "{err}");
    }
}

#[test]
fn failed_conversion_keeps_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("x.csv");
    let pq = dir.path().join("x.parquet");
    std::fs::write(&csv, "\"1\",\"t\"\n").unwrap();
    std::fs::write(&pq, b"previous").unwrap();
    assert!(csv_to_parquet(&csv, &pq, &CsvOptions::default()).is_err());
    assert_eq!(std::fs::read(&pq).unwrap(), b"previous");
    assert_eq!(dir_names(dir.path()), ["x.csv", "x.parquet"]);
}

#[test]
fn missing_files_and_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.csv");
    let err = csv_to_parquet(
        &missing,
        &dir.path().join("o.parquet"),
        &CsvOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Io { .. }) && err.to_string().contains("missing.csv"));
    let zero = CsvOptions {
        row_group_rows: 0,
        ..CsvOptions::default()
    };
    let err = csv_to_parquet(&missing, &dir.path().join("o.parquet"), &zero).unwrap_err();
    assert!(matches!(err, DataError::Options(_)), "{err:?}");

    let err =
        TextReader::open(&dir.path().join("missing.parquet"), &ReadOptions::text("t")).unwrap_err();
    assert!(matches!(err, DataError::Io { .. }) && err.to_string().contains("missing.parquet"));
}

fn sample_parquet(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("sample.parquet");
    write_parquet(
        &path,
        vec![
            ("title", strings(&[Some("a"), Some("b"), None, Some("d")])),
            (
                "description",
                strings(&[Some("x"), Some("y"), Some("z"), Some("w")]),
            ),
            ("label", ints(&[Some(1), None, Some(3), Some(4)])),
            (
                "topic",
                strings(&[Some("1"), Some("2"), Some("World"), Some("4")]),
            ),
            (
                "score",
                std::sync::Arc::new(arrow::array::Float64Array::from(vec![0.1; 4])),
            ),
        ],
        2,
    );
    path
}

fn open_error(path: &Path, opts: &ReadOptions) -> DataError {
    let err = TextReader::open(path, opts).expect_err("open must fail");
    assert!(!err.to_string().contains('\n'), "one line: {err}");
    err
}

/// The first error met while iterating.
fn read_error(path: &Path, opts: &ReadOptions) -> DataError {
    let err = read_texts(path, opts).expect_err("reading must fail");
    assert!(!err.to_string().contains('\n'), "one line: {err}");
    err
}

#[test]
fn missing_column_lists_the_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_parquet(dir.path());
    for opts in [
        ReadOptions::text("text"),
        ReadOptions::text("title").with_label("class"),
    ] {
        let err = open_error(&path, &opts);
        assert!(matches!(err, DataError::MissingColumn { .. }), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("sample.parquet"), "{msg}");
        assert!(
            msg.ends_with("the columns are: title, description, label, topic, score"),
            "{msg}"
        );
    }
}

#[test]
fn wrong_types_name_the_type_found() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_parquet(dir.path());
    let check = |opts: ReadOptions, column: &str, found: &str| {
        let err = open_error(&path, &opts);
        match &err {
            DataError::WrongType {
                column: c,
                found: f,
                ..
            } => {
                assert_eq!((c.as_str(), f.as_str()), (column, found), "{err}");
            }
            other => panic!("expected WrongType, got {other:?}"),
        }
        assert!(
            err.to_string().contains(&format!("has type {found}")),
            "{err}"
        );
    };
    check(ReadOptions::text("label"), "label", "Int64");
    check(ReadOptions::text("score"), "score", "Float64");
    check(
        ReadOptions::text("title").with_label("score"),
        "score",
        "Float64",
    );
}

#[test]
fn nulls_fail_with_column_and_row_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_parquet(dir.path());
    let check = |opts: ReadOptions, column: &str, row: u64| {
        let err = read_error(&path, &opts.with_nulls(NullPolicy::Fail));
        match &err {
            DataError::Null {
                column: c, row: r, ..
            } => assert_eq!((c.as_str(), *r), (column, row)),
            other => panic!("expected Null, got {other:?}"),
        }
        assert!(
            err.to_string()
                .contains(&format!("row {row}: column `{column}` is null"))
        );
    };
    let mut one_row = ReadOptions::text("title");
    one_row.batch_rows = 1;
    check(one_row, "title", 3);
    check(ReadOptions::columns(&["description", "title"]), "title", 3);
    check(
        ReadOptions::text("description").with_label("label"),
        "label",
        2,
    );
    // Skipping is the other choice: see convert_read.rs; here only the count.
    let mut reader = TextReader::open(&path, &ReadOptions::text("title")).unwrap();
    assert_eq!(reader.by_ref().filter(Result::is_ok).count(), 3);
    assert_eq!(reader.skipped_nulls(), 1);
}

#[test]
fn non_integer_string_label_names_row_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_parquet(dir.path());
    let err = read_error(&path, &ReadOptions::text("description").with_label("topic"));
    assert!(matches!(err, DataError::BadLabel { row: 3, .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("label `World` in column `topic` is not an integer")
    );
    // The rows before it were fine, and the iterator stops after the error.
    let mut reader =
        TextReader::open(&path, &ReadOptions::text("description").with_label("topic")).unwrap();
    assert!(reader.next().unwrap().is_ok());
    assert!(reader.next().unwrap().is_ok());
    assert!(reader.next().unwrap().is_err());
    assert!(reader.next().is_none());
}

#[test]
fn parquet_without_rows_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.parquet");
    write_parquet(&path, vec![("title", strings(&[]))], 10);
    assert_eq!(
        parquet_columns(&path).unwrap(),
        [("title".into(), "Utf8".into())]
    );
    let err = open_error(&path, &ReadOptions::text("title"));
    assert!(matches!(err, DataError::NoRows { .. }), "{err:?}");
    assert!(
        err.to_string().ends_with("empty.parquet has no rows"),
        "{err}"
    );
}

#[test]
fn not_parquet_and_truncated_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let good = sample_parquet(dir.path());
    let bytes = std::fs::read(&good).unwrap();
    let cases: [(&str, Vec<u8>); 4] = [
        ("empty.parquet", Vec::new()),
        ("text.parquet", b"label,title\n1,hello\n".to_vec()),
        ("half.parquet", bytes[..bytes.len() / 2].to_vec()),
        ("no_tail.parquet", bytes[..bytes.len() - 1].to_vec()),
    ];
    for (name, content) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let err = open_error(&path, &ReadOptions::text("title"));
        assert!(
            matches!(err, DataError::NotParquet { .. }),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(name), "{err}");
        let err = parquet_columns(&path).unwrap_err();
        assert!(
            matches!(err, DataError::NotParquet { .. }),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn damaged_data_pages_are_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let good = sample_parquet(dir.path());
    let bytes = std::fs::read(&good).unwrap();
    // Overwrite the bytes after the 4-byte magic (the first pages), keeping the footer intact.
    for garbage in [0x00u8, 0xff, 0x5a] {
        let mut damaged = bytes.clone();
        let end = (bytes.len() / 3).max(8);
        damaged[4..end].fill(garbage);
        let path = dir.path().join("damaged.parquet");
        std::fs::write(&path, &damaged).unwrap();
        match read_texts(&path, &ReadOptions::text("title")) {
            Ok(records) => panic!("damaged file read as {records:?}"),
            Err(err) => {
                assert!(err.to_string().contains("damaged.parquet"), "{err}");
                assert!(!err.to_string().contains('\n'), "{err}");
            }
        }
    }
}

#[test]
fn bad_read_options() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_parquet(dir.path());
    let err = open_error(&path, &ReadOptions::columns(&[]));
    assert!(matches!(err, DataError::Options(_)), "{err:?}");
    let mut zero = ReadOptions::text("title");
    zero.batch_rows = 0;
    let err = open_error(&path, &zero);
    assert!(matches!(err, DataError::Options(_)), "{err:?}");
}

#[test]
fn writing_into_a_missing_directory_names_it_not_a_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("x.csv");
    std::fs::write(&csv, "\"1\",\"t\",\"d\"\n").unwrap();
    let pq = dir.path().join("nodir").join("x.parquet");
    let err = csv_to_parquet(&csv, &pq, &CsvOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("nodir does not exist"), "{err}");
    assert!(!err.contains(".x.parquet."), "{err}");
}
