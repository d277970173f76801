//! CSV → Parquet → records round trips, header CSVs, streaming across batches, AG News.
mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use charrnn_data::{
    CsvHeader, CsvOptions, NullPolicy, ReadOptions, TextReader, TextRecord, csv_to_parquet,
    parquet_columns, read_texts,
};
use common::{ag_news_csv, dir_names, quote, strings, write_parquet};
use proptest::prelude::*;

fn rows_fixture() -> Vec<(i64, String, String)> {
    vec![
        (
            3,
            "Wall St. Bears Claw Back".into(),
            "Reuters - Short-sellers, \"ultra-cynics\"".into(),
        ),
        (
            1,
            "Quotes \"\" and \"one\"".into(),
            "comma, comma,, end,".into(),
        ),
        (
            2,
            "back\\slash \\$5 dwindling\\band".into(),
            "#39;s  quot;  amp;  &lt;b&gt;".into(),
        ),
        (
            4,
            "line\nbreak inside".into(),
            "crlf\r\ninside and lone \r too".into(),
        ),
        (2, "non-ASCII: café, 漢字, 😀, Ωmega".into(), String::new()),
        (1, String::new(), "only a description".into()),
        (-7, "  runs   of   spaces  ".into(), "\"".into()),
    ]
}

fn read_all(path: &Path, opts: &ReadOptions) -> Vec<TextRecord> {
    read_texts(path, opts).expect("read back")
}

#[test]
fn ag_news_round_trip_is_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let rows = rows_fixture();
    let csv = dir.path().join("train.csv");
    std::fs::write(&csv, ag_news_csv(&rows)).unwrap();
    let pq = dir.path().join("train.parquet");
    let stats = csv_to_parquet(&csv, &pq, &CsvOptions::default()).unwrap();
    assert_eq!(stats.rows, rows.len() as u64);
    assert_eq!(stats.columns, ["label", "title", "description"]);
    assert_eq!(
        parquet_columns(&pq).unwrap(),
        [
            ("label".to_string(), "Int64".to_string()),
            ("title".into(), "Utf8".into()),
            ("description".into(), "Utf8".into()),
        ]
    );

    let check = |opts: ReadOptions, expected: Vec<TextRecord>| {
        assert_eq!(read_all(&pq, &opts), expected, "{opts:?}");
    };
    check(
        ReadOptions::text("title").with_label("label"),
        rows.iter()
            .map(|(l, t, _)| TextRecord {
                text: t.clone(),
                label: Some(*l),
            })
            .collect(),
    );
    check(
        ReadOptions::text("description"),
        rows.iter()
            .map(|(_, _, d)| TextRecord {
                text: d.clone(),
                label: None,
            })
            .collect(),
    );
    check(
        ReadOptions::columns(&["title", "description"]).with_label("label"),
        rows.iter()
            .map(|(l, t, d)| TextRecord {
                text: format!("{t} {d}"),
                label: Some(*l),
            })
            .collect(),
    );
    // Only the output is left in the directory: no temporary file.
    assert_eq!(dir_names(dir.path()), ["train.csv", "train.parquet"]);
}

#[test]
fn other_delimiters_convert_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [("héllo, world", "0"), ("a;b|c", "12")];
    let mut expected = Vec::new();
    for (name, delimiter, given) in [
        ("semi.csv", ';', Some(b';')),
        ("pipe.csv", '|', Some(b'|')),
        ("tabs.tsv", '\t', None),
    ] {
        let csv = dir.path().join(name);
        let mut text = format!("text{delimiter}label\n");
        for (t, l) in rows {
            text.push_str(&format!("{}{delimiter}{l}\n", quote(t)));
        }
        std::fs::write(&csv, text).unwrap();
        let pq = dir.path().join(format!("{name}.parquet"));
        let opts = CsvOptions {
            header: CsvHeader::FromFile,
            delimiter: given,
            ..CsvOptions::default()
        };
        let stats = csv_to_parquet(&csv, &pq, &opts).unwrap();
        assert_eq!(stats.columns, ["text", "label"], "{name}");
        let got = read_all(&pq, &ReadOptions::text("text").with_label("label"));
        if expected.is_empty() {
            expected = got.clone();
            assert_eq!(got[1].text, "a;b|c");
        }
        assert_eq!(got, expected, "{name}");
    }
    // Read with commas, the semicolon file is one column.
    let opts = CsvOptions {
        header: CsvHeader::FromFile,
        ..CsvOptions::default()
    };
    let one = csv_to_parquet(
        &dir.path().join("semi.csv"),
        &dir.path().join("x.parquet"),
        &opts,
    )
    .unwrap();
    assert_eq!(one.columns, ["text;label"]);
}

#[test]
fn header_csv_keeps_names_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("h.csv");
    let mut text = "text,label,extra\n".to_string();
    let rows = [("héllo, \"world\"", "0"), ("multi\nline", "12"), ("", "3")];
    for (t, l) in rows {
        text.push_str(&format!("{},{l},{}\n", quote(t), quote("x")));
    }
    std::fs::write(&csv, text).unwrap();
    let pq = dir.path().join("h.parquet");
    let opts = CsvOptions {
        header: CsvHeader::FromFile,
        ..CsvOptions::default()
    };
    let stats = csv_to_parquet(&csv, &pq, &opts).unwrap();
    assert_eq!(stats.rows, 3);
    assert_eq!(stats.columns, ["text", "label", "extra"]);
    let types: Vec<String> = parquet_columns(&pq)
        .unwrap()
        .into_iter()
        .map(|c| c.1)
        .collect();
    assert_eq!(types, ["Utf8", "Utf8", "Utf8"]);
    // String labels holding integers are accepted.
    let got = read_all(&pq, &ReadOptions::text("text").with_label("label"));
    let expected: Vec<TextRecord> = rows
        .iter()
        .map(|(t, l)| TextRecord {
            text: (*t).into(),
            label: Some(l.parse().unwrap()),
        })
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn conversion_replaces_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("a.csv");
    let pq = dir.path().join("a.parquet");
    std::fs::write(&pq, b"old contents").unwrap();
    std::fs::write(&csv, ag_news_csv(&[(1, "new".into(), "row".into())])).unwrap();
    csv_to_parquet(&csv, &pq, &CsvOptions::default()).unwrap();
    let got = read_all(&pq, &ReadOptions::text("title"));
    assert_eq!(
        got,
        [TextRecord {
            text: "new".into(),
            label: None
        }]
    );
}

#[test]
fn streaming_across_row_groups_and_batches_gives_every_row_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<(i64, String, String)> = (0..103)
        .map(|i| (i % 4 + 1, format!("title {i}"), format!("description {i}")))
        .collect();
    let csv = dir.path().join("s.csv");
    std::fs::write(&csv, ag_news_csv(&rows)).unwrap();
    let pq = dir.path().join("s.parquet");
    let opts = CsvOptions {
        header: CsvHeader::AgNews,
        row_group_rows: 10,
        ..CsvOptions::default()
    };
    csv_to_parquet(&csv, &pq, &opts).unwrap();
    let meta = parquet::file::reader::FileReader::metadata(
        &parquet::file::reader::SerializedFileReader::new(std::fs::File::open(&pq).unwrap())
            .unwrap(),
    )
    .clone();
    assert_eq!(meta.num_row_groups(), 11);
    for batch_rows in [1, 3, 10, 64, 1000] {
        let mut opts = ReadOptions::text("title").with_label("label");
        opts.batch_rows = batch_rows;
        let reader = TextReader::open(&pq, &opts).unwrap();
        assert_eq!(reader.total_rows(), 103);
        let got: Vec<TextRecord> = reader.map(Result::unwrap).collect();
        let expected: Vec<TextRecord> = rows
            .iter()
            .map(|(l, t, _)| TextRecord {
                text: t.clone(),
                label: Some(*l),
            })
            .collect();
        assert_eq!(got, expected, "batch_rows {batch_rows}");
    }
}

#[test]
fn other_string_layouts_and_integer_widths_are_read() {
    use arrow::array::{ArrayRef, DictionaryArray, Int8Array, LargeStringArray, UInt16Array};
    use arrow::datatypes::Int32Type;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("layouts.parquet");
    let dict: DictionaryArray<Int32Type> = vec!["b", "a", "b"].into_iter().collect();
    write_parquet(
        &path,
        vec![
            (
                "large",
                Arc::new(LargeStringArray::from(vec!["x", "yy", "zzz"])) as ArrayRef,
            ),
            ("dict", Arc::new(dict) as ArrayRef),
            (
                "small",
                Arc::new(Int8Array::from(vec![-1, 0, 1])) as ArrayRef,
            ),
            (
                "unsigned",
                Arc::new(UInt16Array::from(vec![7, 8, 9])) as ArrayRef,
            ),
            // A column nobody reads, of a type the reader would refuse as text.
            (
                "floats",
                Arc::new(arrow::array::Float64Array::from(vec![0.5, 1.5, 2.5])) as ArrayRef,
            ),
        ],
        2,
    );
    let check = |text: &[&str], label: &str, expected: &[(&str, i64)]| {
        let got = read_all(&path, &ReadOptions::columns(text).with_label(label));
        let expected: Vec<TextRecord> = expected
            .iter()
            .map(|(t, l)| TextRecord {
                text: (*t).into(),
                label: Some(*l),
            })
            .collect();
        assert_eq!(got, expected, "{text:?} {label}");
    };
    check(&["large"], "small", &[("x", -1), ("yy", 0), ("zzz", 1)]);
    check(
        &["dict", "large"],
        "unsigned",
        &[("b x", 7), ("a yy", 8), ("b zzz", 9)],
    );
}

#[test]
fn null_rows_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nulls.parquet");
    write_parquet(
        &path,
        vec![
            (
                "title",
                strings(&[Some("a"), None, Some("c"), Some("d"), None]),
            ),
            (
                "label",
                common::ints(&[Some(1), Some(2), None, Some(4), Some(5)]),
            ),
        ],
        2,
    );
    let mut opts = ReadOptions::text("title");
    opts.batch_rows = 2;
    let mut reader = TextReader::open(&path, &opts).unwrap();
    let texts: Vec<String> = reader.by_ref().map(|r| r.unwrap().text).collect();
    assert_eq!(texts, ["a", "c", "d"]);
    assert_eq!(reader.skipped_nulls(), 2);

    let opts = opts.with_label("label").with_nulls(NullPolicy::Skip);
    let mut reader = TextReader::open(&path, &opts).unwrap();
    let got: Vec<(String, Option<i64>)> = reader
        .by_ref()
        .map(|r| r.unwrap())
        .map(|r| (r.text, r.label))
        .collect();
    assert_eq!(got, [("a".to_string(), Some(1)), ("d".into(), Some(4))]);
    assert_eq!(reader.skipped_nulls(), 3);
}

/// `../../../shared/data/ag_news/test.csv` from the crate, if the data mirror is present.
fn ag_news_test_csv() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ag_news/test.csv");
    path.canonicalize().ok().filter(|p| p.is_file())
}

#[test]
fn ag_news_test_split_converts_to_7600_rows() {
    let Some(csv) = ag_news_test_csv() else {
        println!("note: AG News mirror not found next to the workspace; test skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pq = dir.path().join("test.parquet");
    let stats = csv_to_parquet(&csv, &pq, &CsvOptions::default()).unwrap();
    assert_eq!(stats.rows, 7600);
    let records = read_all(&pq, &ReadOptions::text("title").with_label("label"));
    assert_eq!(records.len(), 7600);
    assert_eq!(records[0].text, "Fears for T N pension after talks");
    assert_eq!(records[0].label, Some(3));
    let mut per_class = [0usize; 5];
    for r in &records {
        per_class[usize::try_from(r.label.unwrap()).unwrap()] += 1;
    }
    assert_eq!(per_class, [0, 1900, 1900, 1900, 1900]);
    let full = read_all(&pq, &ReadOptions::columns(&["title", "description"]));
    assert!(
        full[0]
            .text
            .starts_with("Fears for T N pension after talks Unions representing")
    );
}

/// Every record batch of a Parquet file (each with its schema).
fn parquet_batches(path: &Path) -> Vec<arrow::array::RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn gzip_and_zstd_csvs_convert_as_the_plain_file() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let rows = rows_fixture();
    let mut headed = "text,label\n".to_string();
    for (label, title, _) in &rows {
        headed.push_str(&format!("{},{label}\n", quote(title)));
    }
    let gzip = |bytes: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    };
    let zstd = |bytes: &[u8]| zstd::encode_all(bytes, 3).unwrap();
    for (header, plain) in [
        (CsvHeader::AgNews, ag_news_csv(&rows)),
        (CsvHeader::FromFile, headed),
    ] {
        let bytes = plain.as_bytes();
        // Two gzip members, one after the other, as `cat a.gz b.gz` makes.
        let (head, tail) = bytes.split_at(bytes.len() / 2);
        let mut members = gzip(head);
        members.extend(gzip(tail));
        let inputs = [
            ("plain.csv", bytes.to_vec()),
            ("data.csv.gz", gzip(bytes)),
            ("data.csv.zst", zstd(bytes)),
            ("DATA.CSV.GZIP", gzip(bytes)),
            ("data.csv.zstd", zstd(bytes)),
            ("members.csv.gz", members),
            // Compressed under a plain name: told by the first bytes.
            ("gzip-inside.csv", gzip(bytes)),
            ("zstd-inside.csv", zstd(bytes)),
        ];
        let opts = CsvOptions {
            header,
            ..CsvOptions::default()
        };
        let mut converted = Vec::new();
        for (name, contents) in inputs {
            let csv = dir.path().join(name);
            std::fs::write(&csv, contents).unwrap();
            let pq = dir.path().join(format!("{name}.parquet"));
            let stats = csv_to_parquet(&csv, &pq, &opts)
                .unwrap_or_else(|e| panic!("{header:?} {name}: {e}"));
            converted.push((name, stats, parquet_batches(&pq)));
        }
        let (_, plain_stats, plain_batches) = &converted[0];
        assert_eq!(plain_stats.rows, rows.len() as u64, "{header:?}");
        let titles = plain_batches[0]
            .column_by_name(if header == CsvHeader::AgNews {
                "title"
            } else {
                "text"
            })
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::StringArray>()
            .unwrap()
            .iter()
            .map(|t| t.unwrap().to_owned())
            .collect::<Vec<_>>();
        let expected: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
        assert_eq!(titles, expected, "{header:?}");
        for (name, stats, batches) in &converted[1..] {
            assert_eq!(stats, plain_stats, "{header:?} {name}");
            assert_eq!(batches, plain_batches, "{header:?} {name}");
        }
    }
}

fn text_strategy() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 ,\"\\\\\n\r\téß漢😀#;&$]{0,24}").unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn any_text_survives_the_round_trip(
        rows in proptest::collection::vec((1i64..5, text_strategy(), text_strategy()), 1..30)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("p.csv");
        std::fs::write(&csv, ag_news_csv(&rows)).unwrap();
        let pq = dir.path().join("p.parquet");
        let stats = csv_to_parquet(&csv, &pq, &CsvOptions::default()).unwrap();
        prop_assert_eq!(stats.rows, rows.len() as u64);
        let got = read_all(&pq, &ReadOptions::columns(&["title", "description"]).with_label("label"));
        let expected: Vec<TextRecord> = rows
            .iter()
            .map(|(l, t, d)| TextRecord { text: format!("{t} {d}"), label: Some(*l) })
            .collect();
        prop_assert_eq!(got, expected);
    }
}
