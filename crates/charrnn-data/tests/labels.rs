//! Label columns that hold text (author names, "spam"/"ham"): `Source::label_values` finds the
//! distinct labels, `SourceOptions::label_names` reads each as its index in the list, in CSV,
//! JSON Lines and Parquet, plain or compressed, one file or several.
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, DictionaryArray};
use arrow::datatypes::{DataType, Int32Type};
use charrnn_data::{
    CsvHeader, DataError, Format, LabelValues, NullPolicy, Source, SourceOptions, parquet_columns,
    records_to_parquet,
};
use common::{ints, read, read_error, strings, write_parquet};

/// Options reading `text` with the label column `column`, and the label names when given.
fn opts(column: &str, names: Option<&[&str]>) -> SourceOptions {
    SourceOptions {
        label_column: Some(column.into()),
        label_names: names.map(|n| n.iter().map(|s| (*s).to_owned()).collect()),
        ..SourceOptions::default()
    }
}

/// The distinct labels of `path` read with `opts`.
fn values(path: &Path, opts: &SourceOptions) -> LabelValues {
    Source::open(path, opts).unwrap().label_values().unwrap()
}

/// The error of `label_values` on `path`, displayed.
fn values_error(path: &Path, opts: &SourceOptions) -> String {
    Source::open(path, opts)
        .unwrap()
        .label_values()
        .unwrap_err()
        .to_string()
}

fn text(names: &[&str]) -> LabelValues {
    LabelValues::Text(names.iter().map(|s| (*s).to_owned()).collect())
}

fn docs(rows: &[(&str, i64)]) -> Vec<(String, Option<i64>)> {
    rows.iter()
        .map(|(t, l)| ((*t).to_owned(), Some(*l)))
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// `content` written as `name`, and gzip and zstd compressed beside it.
fn plain_and_compressed(dir: &Path, name: &str, content: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (suffix, bytes) in [
        ("", content.to_vec()),
        (".gz", gzip(content)),
        (".zst", zstd::encode_all(content, 3).unwrap()),
    ] {
        let p = dir.join(format!("{name}{suffix}"));
        std::fs::write(&p, bytes).unwrap();
        out.push(p);
    }
    out
}

// --- CSV -------------------------------------------------------------------------------------

#[test]
fn csv_text_labels_are_found_sorted_and_read_as_their_index() {
    let dir = tempfile::tempdir().unwrap();
    let csv = b"text,author\nhello,Bob\nhi,Ann\nyo,Bob\nhey,\xc3\x89mile\n";
    for path in plain_and_compressed(dir.path(), "authors.csv", csv) {
        assert_eq!(
            values(&path, &opts("author", None)),
            text(&["Ann", "Bob", "Émile"]),
            "{}",
            path.display()
        );
        let names = opts("author", Some(&["Ann", "Bob", "Émile"]));
        assert_eq!(
            read(&path, &names),
            docs(&[("hello", 1), ("hi", 0), ("yo", 1), ("hey", 2)])
        );
        // Any order of names: the index in the list given.
        let names = opts("author", Some(&["Émile", "Bob", "Ann"]));
        assert_eq!(
            read(&path, &names),
            docs(&[("hello", 1), ("hi", 2), ("yo", 1), ("hey", 0)])
        );
    }
}

#[test]
fn csv_without_a_header_and_a_directory_of_csv_files_give_one_sorted_set() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    // The AG News layout (no header), its label column holding words.
    std::fs::write(
        data.join("a.csv"),
        "\"spam\",\"Win\",\"now\"\n\"ham\",\"Lunch\",\"at one\"\n",
    )
    .unwrap();
    std::fs::write(
        data.join("b.csv.gz"),
        gzip(b"\"eggs\",\"Breakfast\",\"soon\"\n\"spam\",\"Cheap\",\"pills\"\n"),
    )
    .unwrap();
    let read_opts = |names: Option<&[&str]>| SourceOptions {
        text_columns: vec!["title".into(), "description".into()],
        csv_header: Some(CsvHeader::AgNews),
        ..opts("label", names)
    };
    assert_eq!(
        values(&data, &read_opts(None)),
        text(&["eggs", "ham", "spam"])
    );
    assert_eq!(
        read(&data, &read_opts(Some(&["eggs", "ham", "spam"]))),
        docs(&[
            ("Win now", 2),
            ("Lunch at one", 1),
            ("Breakfast soon", 0),
            ("Cheap pills", 2)
        ])
    );
}

#[test]
fn a_csv_label_outside_the_names_is_an_error_naming_the_file_row_value_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authors.csv");
    std::fs::write(&path, "text,author\nhello,Ann\nhi,Zed\n").unwrap();
    let err = read_error(&path, &opts("author", Some(&["Ann", "Bob"])));
    assert_eq!(
        err,
        format!(
            "{}: row 3: label `Zed` in column `author` is not one of the label names: `Ann`, `Bob`",
            path.display()
        )
    );
    // Exact match: case and surrounding spaces count.
    std::fs::write(&path, "text,author\nhello, Ann\n").unwrap();
    let err = read_error(&path, &opts("author", Some(&["Ann"])));
    assert!(err.contains("row 2: label ` Ann`"), "{err}");
    assert_eq!(values(&path, &opts("author", None)), text(&[" Ann"]));
}

#[test]
fn csv_integer_labels_report_integers_and_read_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ints.csv");
    std::fs::write(&path, "text,label\na,3\nb, 7 \nc,-1\n").unwrap();
    assert_eq!(values(&path, &opts("label", None)), LabelValues::Integers);
    assert_eq!(
        read(&path, &opts("label", None)),
        docs(&[("a", 3), ("b", 7), ("c", -1)])
    );
    // One word among the numbers makes the column text; its numbers are names as written.
    std::fs::write(&path, "text,label\na,3\nb,03\nc,none\n").unwrap();
    assert_eq!(
        values(&path, &opts("label", None)),
        text(&["03", "3", "none"])
    );
    assert_eq!(
        read(&path, &opts("label", Some(&["3", "03", "none"]))),
        docs(&[("a", 0), ("b", 1), ("c", 2)])
    );
}

#[test]
fn an_empty_csv_label_is_skipped_or_an_error_as_reading_treats_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gaps.csv");
    std::fs::write(&path, "text,author\nhello,Bob\nhi,\nyo,Ann\n").unwrap();
    let err = values_error(&path, &opts("author", None));
    assert_eq!(
        err,
        format!("{}: row 3: column `author` is null", path.display())
    );
    let skip = SourceOptions {
        nulls: NullPolicy::Skip,
        ..opts("author", None)
    };
    assert_eq!(values(&path, &skip), text(&["Ann", "Bob"]));
    let skip_named = SourceOptions {
        label_names: Some(vec!["Ann".into(), "Bob".into()]),
        ..skip
    };
    assert_eq!(read(&path, &skip_named), docs(&[("hello", 1), ("yo", 0)]));
}

// --- JSON Lines ------------------------------------------------------------------------------

#[test]
fn jsonl_text_labels_numbers_and_booleans_are_found_by_their_text_and_read_as_their_index() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = concat!(
        "{\"text\": \"a\", \"author\": \"Bob\", \"meta\": {\"author\": \"nested\"}}\n",
        "\n",
        "{\"author\": \"Ann\", \"text\": \"b\", \"tags\": [\"x\", {\"y\": 1}]}\n",
        "{\"text\": \"c\", \"author\": 2}\n",
        "{\"text\": \"d\", \"author\": true}\n",
        "{\"text\": \"e\", \"author\": 2.5}\n",
        "{\"text\": \"f\", \"auth\\u006fr\": \"B\\u00f6b\"}\n",
    );
    for path in plain_and_compressed(dir.path(), "authors.jsonl", jsonl.as_bytes()) {
        let names = ["2", "2.5", "Ann", "Bob", "Böb", "true"];
        assert_eq!(
            values(&path, &opts("author", None)),
            text(&names),
            "{}",
            path.display()
        );
        assert_eq!(
            read(&path, &opts("author", Some(&names))),
            docs(&[("a", 3), ("b", 2), ("c", 0), ("d", 5), ("e", 1), ("f", 4)])
        );
    }
}

#[test]
fn a_jsonl_label_outside_the_names_is_an_error_naming_the_file_line_value_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authors.jsonl");
    std::fs::write(
        &path,
        "{\"text\": \"a\", \"author\": \"Ann\"}\n\n{\"text\": \"b\", \"author\": \"Cy\"}\n",
    )
    .unwrap();
    let err = read_error(&path, &opts("author", Some(&["Ann", "Bob"])));
    assert_eq!(
        err,
        format!(
            "{}: line 3: label `Cy` in field `author` is not one of the label names: `Ann`, `Bob`",
            path.display()
        )
    );
    // Without names, the text label is the error it always was.
    let err = read_error(&path, &opts("author", None));
    assert!(
        err.ends_with("line 1: label `Ann` in field `author` is not an integer"),
        "{err}"
    );
}

#[test]
fn jsonl_integer_labels_report_integers_and_bad_lines_and_nulls_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ints.jsonl");
    std::fs::write(
        &path,
        "{\"text\": \"a\", \"label\": 3}\n{\"text\": \"b\", \"label\": \" 7\"}\n",
    )
    .unwrap();
    assert_eq!(values(&path, &opts("label", None)), LabelValues::Integers);

    std::fs::write(
        &path,
        "{\"text\": \"a\", \"label\": \"x\"}\n{\"text\": \"b\"}\n{\"text\": \"c\", \"label\": null}\n",
    )
    .unwrap();
    let missing = values_error(&path, &opts("label", None));
    assert_eq!(
        missing,
        format!("{}: line 2: no field `label`", path.display())
    );
    let skip = SourceOptions {
        nulls: NullPolicy::Skip,
        ..opts("label", None)
    };
    assert_eq!(values(&path, &skip), text(&["x"]));

    std::fs::write(&path, "{\"text\": \"a\", \"label\": [1]}\n").unwrap();
    let err = values_error(&path, &opts("label", None));
    assert!(
        err.ends_with("line 1: label field `label` holds an array, not a label"),
        "{err}"
    );
    std::fs::write(&path, "{\"text\": \"a\", \"label\": \"x\"}\n[1, 2]\n").unwrap();
    let err = values_error(&path, &opts("label", None));
    assert!(err.contains("line 2: not a JSON object"), "{err}");
    std::fs::write(&path, "{\"text\": \"a\", \"label\": \"x\"} 7\n").unwrap();
    let err = values_error(&path, &opts("label", None));
    assert!(err.contains("line 1: not a JSON object"), "{err}");
}

// --- Parquet ---------------------------------------------------------------------------------

fn dictionary(values: &[Option<&str>]) -> ArrayRef {
    Arc::new(
        values
            .iter()
            .copied()
            .collect::<DictionaryArray<Int32Type>>(),
    )
}

#[test]
fn parquet_utf8_and_dictionary_labels_in_shards_are_found_and_read_as_their_index() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_parquet(
        &data.join("a.parquet"),
        vec![
            ("text", strings(&[Some("one"), Some("two"), Some("three")])),
            (
                "sentiment",
                strings(&[Some("neg"), Some("pos"), Some("neg")]),
            ),
        ],
        2,
    );
    write_parquet(
        &data.join("b.parquet"),
        vec![
            ("text", strings(&[Some("four")])),
            ("sentiment", strings(&[Some("mixed")])),
        ],
        2,
    );
    assert_eq!(
        values(&data, &opts("sentiment", None)),
        text(&["mixed", "neg", "pos"])
    );
    assert_eq!(
        read(&data, &opts("sentiment", Some(&["neg", "pos", "mixed"]))),
        docs(&[("one", 0), ("two", 1), ("three", 0), ("four", 2)])
    );
    // A gzip-compressed shard reads the same.
    let gz = dir.path().join("a.parquet.gz");
    std::fs::write(&gz, gzip(&std::fs::read(data.join("a.parquet")).unwrap())).unwrap();
    assert_eq!(values(&gz, &opts("sentiment", None)), text(&["neg", "pos"]));
    assert_eq!(
        read(&gz, &opts("sentiment", Some(&["pos", "neg"]))),
        docs(&[("one", 1), ("two", 0), ("three", 1)])
    );

    let dict = dir.path().join("dict.parquet");
    write_parquet(
        &dict,
        vec![
            ("text", strings(&[Some("x"), Some("y"), Some("z")])),
            ("sentiment", dictionary(&[Some("pos"), None, Some("neg")])),
        ],
        8,
    );
    let skip = SourceOptions {
        nulls: NullPolicy::Skip,
        ..opts("sentiment", None)
    };
    assert_eq!(values(&dict, &skip), text(&["neg", "pos"]));
    let err = values_error(&dict, &opts("sentiment", None));
    assert_eq!(
        err,
        format!("{}: row 2: column `sentiment` is null", dict.display())
    );
    let named = SourceOptions {
        label_names: Some(vec!["neg".into(), "pos".into()]),
        ..skip
    };
    assert_eq!(read(&dict, &named), docs(&[("x", 1), ("z", 0)]));
}

#[test]
fn parquet_integer_labels_report_integers_and_read_through_names_by_their_decimal_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ints.parquet");
    write_parquet(
        &path,
        vec![
            ("text", strings(&[Some("a"), Some("b"), Some("c")])),
            ("label", ints(&[Some(5), Some(-3), Some(5)])),
        ],
        8,
    );
    assert_eq!(values(&path, &opts("label", None)), LabelValues::Integers);
    assert_eq!(
        read(&path, &opts("label", Some(&["5", "-3"]))),
        docs(&[("a", 0), ("b", 1), ("c", 0)])
    );
    // Strings holding integers are integers too.
    let held = dir.path().join("held.parquet");
    write_parquet(
        &held,
        vec![
            ("text", strings(&[Some("a")])),
            ("label", strings(&[Some(" 12 ")])),
        ],
        8,
    );
    assert_eq!(values(&held, &opts("label", None)), LabelValues::Integers);
}

#[test]
fn a_parquet_label_outside_the_names_is_an_error_naming_the_file_row_value_and_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.parquet");
    write_parquet(
        &path,
        vec![
            ("text", strings(&[Some("a"), Some("b")])),
            ("sentiment", strings(&[Some("pos"), Some("meh")])),
        ],
        1,
    );
    let err = read_error(&path, &opts("sentiment", Some(&["neg", "pos"])));
    assert_eq!(
        err,
        format!(
            "{}: row 2: label `meh` in column `sentiment` is not one of the label names: `neg`, `pos`",
            path.display()
        )
    );
    // A long list is cut and counted.
    let many: Vec<String> = (0..30).map(|i| format!("c{i:02}")).collect();
    let long = SourceOptions {
        label_names: Some(many),
        ..opts("sentiment", None)
    };
    let err = read_error(&path, &long);
    assert!(
        err.ends_with("row 1: label `pos` in column `sentiment` is not one of the label names: `c00`, `c01`, `c02`, `c03`, `c04`, `c05`, `c06`, `c07`, `c08`, `c09`, ... (30 in all)"),
        "{err}"
    );
    // A float column is no label column, names or not.
    let floats = dir.path().join("f.parquet");
    write_parquet(
        &floats,
        vec![
            ("text", strings(&[Some("a")])),
            (
                "score",
                Arc::new(arrow::array::Float64Array::from(vec![0.5])) as ArrayRef,
            ),
        ],
        1,
    );
    let err = Source::open(&floats, &opts("score", Some(&["0.5"])))
        .unwrap_err()
        .to_string();
    assert!(err.contains("column `score` has type Float64"), "{err}");
}

// --- Options, fingerprint, errors ------------------------------------------------------------

#[test]
fn the_fingerprint_changes_with_the_label_names_and_only_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authors.csv");
    std::fs::write(&path, "text,author\nhello,Bob\nhi,Ann\n").unwrap();
    let fingerprint = |names: Option<&[&str]>| {
        Source::open(&path, &opts("author", names))
            .unwrap()
            .fingerprint()
            .unwrap()
    };
    let ab = fingerprint(Some(&["Ann", "Bob"]));
    assert_eq!(ab, fingerprint(Some(&["Ann", "Bob"])));
    assert_ne!(ab, fingerprint(Some(&["Bob", "Ann"])));
    assert_ne!(ab, fingerprint(Some(&["Ann", "Bob", "Cy"])));
    // Names are told apart by their lengths, not run together.
    assert_ne!(
        fingerprint(Some(&["ab", "c"])),
        fingerprint(Some(&["a", "bc"]))
    );
    assert_ne!(ab, fingerprint(None));
    assert_ne!(fingerprint(Some(&[])), fingerprint(None));
}

#[test]
fn a_name_given_twice_is_refused_and_label_values_needs_a_label_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authors.csv");
    std::fs::write(&path, "text,author\nhello,Bob\n").unwrap();
    let err = Source::open(&path, &opts("author", Some(&["Ann", "Bob", "Ann"]))).unwrap_err();
    assert!(matches!(err, DataError::Options(_)), "{err:?}");
    assert!(err.to_string().contains("`Ann` is given twice"), "{err}");

    let none = Source::open(&path, &SourceOptions::default()).unwrap();
    let err = none.label_values().unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}: no label column to read the labels of (none was given)",
            path.display()
        )
    );
    let txt = dir.path().join("novel.txt");
    std::fs::write(&txt, "Call me Ishmael.\n").unwrap();
    let plain = SourceOptions {
        format: Some(Format::Text),
        ..opts("author", None)
    };
    let err = Source::open(&txt, &plain)
        .unwrap()
        .label_values()
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("no label column `author` to read: plain text has no columns"),
        "{err}"
    );
    // A column the file lacks is named with the columns it has.
    let err = Source::open(&path, &opts("writer", None))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no column `writer`"), "{err}");
}

// --- prepare's writer --------------------------------------------------------------------------

#[test]
fn the_parquet_writer_keeps_label_names_as_text_and_integers_as_int64() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("authors.jsonl");
    std::fs::write(
        &src,
        "{\"text\": \"a\", \"author\": \"Bob\"}\n{\"text\": \"b\", \"author\": \"Ann\"}\n{\"text\": \"c\", \"author\": null}\n",
    )
    .unwrap();
    let named = SourceOptions {
        nulls: NullPolicy::Skip,
        ..opts("author", Some(&["Ann", "Bob"]))
    };
    let out = dir.path().join("prepared.parquet");
    let stats = records_to_parquet(&Source::open(&src, &named).unwrap(), &out).unwrap();
    assert_eq!(stats.rows, 2);
    assert_eq!(
        parquet_columns(&out).unwrap(),
        [
            ("text".to_owned(), "Utf8".to_owned()),
            ("label".to_owned(), "Utf8".to_owned())
        ]
    );
    let file = std::fs::File::open(&out).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut labels = Vec::new();
    for batch in reader {
        let batch = batch.unwrap();
        let column = batch.column_by_name("label").unwrap();
        assert_eq!(column.data_type(), &DataType::Utf8);
        let strings = column.as_string::<i32>();
        labels.extend((0..strings.len()).map(|i| strings.value(i).to_owned()));
    }
    assert_eq!(labels, ["Bob", "Ann"]);
    // The prepared file reads back with the same names to the same ids, and finds them.
    let back = opts("label", Some(&["Ann", "Bob"]));
    assert_eq!(read(&out, &back), docs(&[("a", 1), ("b", 0)]));
    assert_eq!(values(&out, &opts("label", None)), text(&["Ann", "Bob"]));

    // Without names, an integer label stays Int64.
    let ints_src = dir.path().join("ints.jsonl");
    std::fs::write(&ints_src, "{\"text\": \"a\", \"label\": 4}\n").unwrap();
    let ints_out = dir.path().join("ints.parquet");
    records_to_parquet(
        &Source::open(&ints_src, &opts("label", None)).unwrap(),
        &ints_out,
    )
    .unwrap();
    assert_eq!(
        parquet_columns(&ints_out).unwrap()[1],
        ("label".to_owned(), "Int64".to_owned())
    );
    assert_eq!(read(&ints_out, &opts("label", None)), docs(&[("a", 4)]));
}
