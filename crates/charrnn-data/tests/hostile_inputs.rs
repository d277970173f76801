//! Inputs built to trip the readers: symbolic link loops in a directory, the label value the
//! token store reserves, a CSV header naming a column twice, UTF-8 byte-order marks.
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use charrnn_data::{
    CsvHeader, CsvOptions, Format, Source, SourceOptions, TextUnit, csv_to_parquet,
};
use common::{ints, read, read_error, strings, write_parquet};

/// The error of the second record of `path` (label column `label`), whose first record reads
/// with label `first`.
fn error_after_one(path: &Path, first: i64) -> String {
    let source = Source::open(path, &labelled()).unwrap();
    let mut records = source.records();
    assert_eq!(records.next().unwrap().unwrap().label, Some(first));
    records.next().unwrap().unwrap_err().to_string()
}

fn labelled() -> SourceOptions {
    SourceOptions {
        label_column: Some("label".into()),
        ..SourceOptions::default()
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

// --- Symbolic link loops ------------------------------------------------------------------

/// `d/self -> .` used to read `d/a.txt` 41 times (until the kernel's link limit); a second
/// link to the same file read it twice.
#[cfg(unix)]
#[test]
fn a_directory_linking_to_itself_is_walked_once_and_a_linked_file_read_once() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("d");
    std::fs::create_dir(&d).unwrap();
    std::fs::write(d.join("a.txt"), "alpha").unwrap();
    symlink(".", d.join("self")).unwrap();
    symlink("a.txt", d.join("again.txt")).unwrap();
    let source = Source::open(&d, &SourceOptions::default()).unwrap();
    let files: Vec<PathBuf> = source.files().iter().map(|f| f.path.clone()).collect();
    assert_eq!(files, [d.join("a.txt")]);
    assert_eq!(
        read(&d, &SourceOptions::default()),
        [("alpha".into(), None)]
    );
    // A pattern matching the file and its link reads it once too.
    let pattern = Source::open(&d.join("*.txt"), &SourceOptions::default()).unwrap();
    assert_eq!(pattern.files().len(), 1);
}

/// `e/sub/up -> ..` and `e/sub/again -> ../sub` used to make the walk branch without end
/// (memory growing); now each directory is walked once and the walk ends.
#[cfg(unix)]
#[test]
fn links_up_and_sideways_end_the_walk_and_each_file_is_read_once() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let e = dir.path().join("e");
    std::fs::create_dir_all(e.join("sub")).unwrap();
    std::fs::write(e.join("sub/x.txt"), "inner").unwrap();
    std::fs::write(e.join("top.txt"), "outer").unwrap();
    symlink("..", e.join("sub/up")).unwrap();
    symlink("../sub", e.join("sub/again")).unwrap();
    let source = Source::open(&e, &SourceOptions::default()).unwrap();
    let files: Vec<PathBuf> = source.files().iter().map(|f| f.path.clone()).collect();
    assert_eq!(files, [e.join("sub/x.txt"), e.join("top.txt")]);
    assert_eq!(
        read(&e, &SourceOptions::default()),
        [("inner".into(), None), ("outer".into(), None)]
    );
}

// --- The reserved label ---------------------------------------------------------------------

const RESERVED: &str =
    "label -9223372036854775808 in column `label` is out of range (the lowest i64 is reserved)";

/// i64::MIN is the token store's "no label": read as a label it used to make training fail
/// with "document 0 has no label", naming neither file nor column. The next value is fine.
#[test]
fn the_lowest_i64_label_is_refused_naming_the_file_the_line_or_row_and_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let lowest_ok = i64::MIN + 1;

    let jsonl = dir.path().join("m.jsonl");
    std::fs::write(
        &jsonl,
        "{\"text\": \"a\", \"label\": -9223372036854775807}\n\
         {\"text\": \"b\", \"label\": -9223372036854775808}\n",
    )
    .unwrap();
    let err = error_after_one(&jsonl, lowest_ok);
    assert_eq!(err, format!("{}: line 2: {RESERVED}", jsonl.display()));

    let quoted = dir.path().join("q.jsonl");
    std::fs::write(
        &quoted,
        "{\"text\": \"a\", \"label\": \" -9223372036854775808\"}\n",
    )
    .unwrap();
    let err = read_error(&quoted, &labelled());
    assert_eq!(err, format!("{}: line 1: {RESERVED}", quoted.display()));

    let csv = dir.path().join("rows.csv");
    std::fs::write(
        &csv,
        "text,label\na,-9223372036854775807\nb,-9223372036854775808\n",
    )
    .unwrap();
    let err = error_after_one(&csv, lowest_ok);
    assert_eq!(err, format!("{}: row 3: {RESERVED}", csv.display()));

    let parquet = dir.path().join("p.parquet");
    write_parquet(
        &parquet,
        vec![
            ("text", strings(&[Some("a"), Some("b")])),
            ("label", ints(&[Some(lowest_ok), Some(i64::MIN)])),
        ],
        10,
    );
    let err = error_after_one(&parquet, lowest_ok);
    assert_eq!(err, format!("{}: row 2: {RESERVED}", parquet.display()));

    let text_labels = dir.path().join("s.parquet");
    write_parquet(
        &text_labels,
        vec![
            ("text", strings(&[Some("a")])),
            ("label", strings(&[Some("-9223372036854775808")])),
        ],
        10,
    );
    let err = read_error(&text_labels, &labelled());
    assert_eq!(err, format!("{}: row 1: {RESERVED}", text_labels.display()));
}

// --- Duplicate CSV header names ---------------------------------------------------------------

/// The converter refused `title,title`, but the streaming reader silently read the first
/// `title`; now both refuse it with the same one-line error.
#[test]
fn a_csv_header_naming_a_column_twice_is_refused_as_the_converter_refuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("dup.csv");
    std::fs::write(&csv, "title,title\nfirst,second\n").unwrap();
    let opts = SourceOptions {
        text_columns: vec!["title".into()],
        ..SourceOptions::default()
    };
    let err = Source::open(&csv, &opts).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: row 1: header: column name `title` appears twice",
            csv.display()
        )
    );
    let convert = CsvOptions {
        header: CsvHeader::FromFile,
        ..CsvOptions::default()
    };
    let converted = csv_to_parquet(&csv, &dir.path().join("out.parquet"), &convert)
        .unwrap_err()
        .to_string();
    assert_eq!(err, converted);
    // A duplicate beside the column read is refused too: the header is wrong as a whole.
    let other = dir.path().join("other.csv");
    std::fs::write(&other, "text,note,note\nhello,x,y\n").unwrap();
    let err = Source::open(&other, &SourceOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("row 1: header: column name `note` appears twice"),
        "{err}"
    );
}

// --- UTF-8 byte-order marks -------------------------------------------------------------------

const BOM: &[u8] = b"\xef\xbb\xbf";
const JSONL: &[u8] =
    b"{\"text\": \"h\xc3\xa9llo\", \"label\": 3}\n{\"text\": \"b\", \"label\": 4}\n";

fn with_bom(content: &[u8]) -> Vec<u8> {
    [BOM, content].concat()
}

fn jsonl_records() -> Vec<(String, Option<i64>)> {
    vec![("héllo".into(), Some(3)), ("b".into(), Some(4))]
}

/// A JSON Lines file starting with a byte-order mark used to fail with "line 1: not a JSON
/// object: expected value (column 1)".
#[test]
fn a_jsonl_file_with_a_byte_order_mark_reads_its_records() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("m.jsonl");
    std::fs::write(&plain, with_bom(JSONL)).unwrap();
    assert_eq!(read(&plain, &labelled()), jsonl_records());
    // Compressed, and with the mark split across two gzip members (the decompressor hands
    // out its first byte alone).
    let packed = dir.path().join("m.jsonl.gz");
    std::fs::write(&packed, gzip(&with_bom(JSONL))).unwrap();
    assert_eq!(read(&packed, &labelled()), jsonl_records());
    let split = dir.path().join("split.jsonl.gz");
    std::fs::write(
        &split,
        [gzip(&BOM[..1]), gzip(&with_bom(JSONL)[1..])].concat(),
    )
    .unwrap();
    assert_eq!(read(&split, &labelled()), jsonl_records());
}

/// Without an extension, the format is sniffed from the first bytes: the mark used to hide
/// the `{` and the file was read as plain text.
#[test]
fn a_jsonl_file_with_a_byte_order_mark_and_no_extension_is_detected_as_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("m");
    std::fs::write(&bare, with_bom(JSONL)).unwrap();
    let packed = dir.path().join("m-gz");
    std::fs::write(&packed, gzip(&with_bom(JSONL))).unwrap();
    for path in [bare, packed] {
        assert_eq!(Format::detect(&path).unwrap(), Format::Jsonl, "{path:?}");
        let source = Source::open(&path, &labelled()).unwrap();
        assert_eq!(source.format(), Format::Jsonl);
        assert_eq!(read(&path, &labelled()), jsonl_records());
    }
}

/// In plain text the mark used to become a character of the text, and so of the vocabulary.
#[test]
fn a_text_file_with_a_byte_order_mark_leaves_it_out_of_the_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.txt");
    std::fs::write(&path, with_bom(b"hello\nworld\n\nagain\n")).unwrap();
    let bare = dir.path().join("t");
    std::fs::write(&bare, with_bom(b"hello\n")).unwrap();
    assert_eq!(Format::detect(&bare).unwrap(), Format::Text);
    for (unit, expected) in [
        (TextUnit::File, vec!["hello\nworld\n\nagain\n"]),
        (TextUnit::Line, vec!["hello", "world", "again"]),
        (TextUnit::Paragraph, vec!["hello\nworld", "again"]),
    ] {
        let opts = SourceOptions {
            text_unit: unit,
            ..SourceOptions::default()
        };
        let texts: Vec<String> = read(&path, &opts).into_iter().map(|(t, _)| t).collect();
        assert!(
            texts.iter().all(|t| !t.contains('\u{feff}')),
            "{unit:?}: {texts:?}"
        );
        assert_eq!(texts, expected, "{unit:?}");
    }
    let texts: Vec<String> = read(&bare, &SourceOptions::default())
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(texts, ["hello\n"]);
    // Only a leading mark is one: elsewhere U+FEFF is text, kept as it is.
    let inner = dir.path().join("inner.txt");
    std::fs::write(&inner, "a\u{feff}b").unwrap();
    let texts: Vec<String> = read(&inner, &SourceOptions::default())
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(texts, ["a\u{feff}b"]);
}
