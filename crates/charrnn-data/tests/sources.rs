//! Every input format, plain and compressed, round-trips through a token store: input →
//! store → decode gives the same texts (and labels); errors name the file and the line.
mod common;

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use charrnn_data::{
    BuildOptions, DataError, Format, Source, SourceOptions, Store, StoreStatus, TextUnit, store_key,
};
use common::{ints, strings, write_parquet};

/// A char-level codec that gives ids in order of first occurrence (from 1).
#[derive(Default)]
struct Codec {
    ids: RefCell<HashMap<char, u32>>,
}

impl Codec {
    fn encode(&self, text: &str, out: &mut Vec<u32>) -> Result<(), String> {
        let mut ids = self.ids.borrow_mut();
        for c in text.chars() {
            let next = ids.len() as u32 + 1;
            out.push(*ids.entry(c).or_insert(next));
        }
        Ok(())
    }

    fn decode(&self, ids: &[u32]) -> String {
        let map = self.ids.borrow();
        let back: HashMap<u32, char> = map.iter().map(|(&c, &i)| (i, c)).collect();
        ids.iter().map(|i| back[i]).collect()
    }
}

/// Builds a store of `source` and decodes every document back.
fn round_trip(source: &Source, dir: &Path) -> Vec<(String, Option<i64>)> {
    let codec = Codec::default();
    let key = store_key(source.fingerprint().unwrap(), b"test vocab");
    let opts = BuildOptions {
        vocab_size: 300,
        unk_id: None,
    };
    let path = dir.join("corpus.store");
    let mut encode = |t: &str, out: &mut Vec<u32>| codec.encode(t, out);
    let mut seen = Vec::new();
    let store = Store::build(&path, key, source, &opts, &mut encode, &mut |b| {
        seen.push(b)
    })
    .unwrap();
    assert_eq!(store.id_width(), 2, "300 ids need two bytes");
    assert_eq!(seen.last().copied(), Some(source.total_bytes()));
    (0..store.docs())
        .map(|d| (codec.decode(&store.doc_ids(d)), store.label(d)))
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

/// The same content plain, gzip and zstd, by extension and (without one) by magic bytes.
fn variants(dir: &Path, name: &str, ext: &str, content: &[u8]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for (suffix, bytes) in [
        (String::new(), content.to_vec()),
        (".gz".into(), gzip(content)),
        (".zst".into(), zstd(content)),
    ] {
        let p = dir.join(format!("{name}.{ext}{suffix}"));
        std::fs::write(&p, &bytes).unwrap();
        out.push(p);
    }
    // No extension at all: the magic bytes tell the compression.
    let p = dir.join(format!("{name}-{ext}-gz"));
    std::fs::write(&p, gzip(content)).unwrap();
    out.push(p);
    out
}

fn texts(docs: &[&str]) -> Vec<(String, Option<i64>)> {
    docs.iter().map(|d| ((*d).to_owned(), None)).collect()
}

#[test]
fn plain_text_round_trips_by_file_line_and_paragraph_compressed_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let content = "Call me Ishmael. Some years ago—\nnever mind how long\n\nprecisely—having little money, naïve 🐳\n";
    for path in variants(dir.path(), "novel", "txt", content.as_bytes()) {
        for (unit, expected) in [
            (TextUnit::File, texts(&[content])),
            (
                TextUnit::Line,
                texts(&[
                    "Call me Ishmael. Some years ago—",
                    "never mind how long",
                    "precisely—having little money, naïve 🐳",
                ]),
            ),
            (
                TextUnit::Paragraph,
                texts(&[
                    "Call me Ishmael. Some years ago—\nnever mind how long",
                    "precisely—having little money, naïve 🐳",
                ]),
            ),
        ] {
            let opts = SourceOptions {
                text_unit: unit,
                format: path.extension().is_none().then_some(Format::Text),
                ..SourceOptions::default()
            };
            let source = Source::open(&path, &opts).unwrap();
            assert_eq!(source.format(), Format::Text);
            assert_eq!(
                round_trip(&source, dir.path()),
                expected,
                "{path:?} {unit:?}"
            );
        }
    }
}

#[test]
fn jsonl_round_trips_with_labels_compressed_or_not() {
    let dir = tempfile::tempdir().unwrap();
    let content = concat!(
        "{\"text\": \"first \\\"quoted\\\" line\", \"label\": 3, \"extra\": [1, 2]}\n",
        "\n",
        "{\"label\": \"7\", \"text\": \"second, é\"}\r\n",
    );
    for path in variants(dir.path(), "data", "jsonl", content.as_bytes()) {
        let opts = SourceOptions {
            label_column: Some("label".into()),
            ..SourceOptions::default()
        };
        let source = Source::open(&path, &opts).unwrap();
        assert_eq!(source.format(), Format::Jsonl, "{path:?}");
        assert_eq!(
            round_trip(&source, dir.path()),
            [
                ("first \"quoted\" line".to_owned(), Some(3)),
                ("second, é".to_owned(), Some(7))
            ]
        );
    }
}

#[test]
fn csv_with_a_header_or_in_the_ag_news_layout_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let header = "id,body,class\n1,\"Hello, world\",2\n2,\"Line\nbreak \"\"q\"\"\",5\n";
    for path in variants(dir.path(), "h", "csv", header.as_bytes()) {
        let opts = SourceOptions {
            text_columns: vec!["body".into()],
            label_column: Some("class".into()),
            format: Some(Format::Csv),
            ..SourceOptions::default()
        };
        let source = Source::open(&path, &opts).unwrap();
        assert_eq!(
            round_trip(&source, dir.path()),
            [
                ("Hello, world".to_owned(), Some(2)),
                ("Line\nbreak \"q\"".to_owned(), Some(5))
            ]
        );
    }
    let ag = common::ag_news_csv(&[
        (3, "Stocks rally".into(), "Oil falls.".into()),
        (1, "Talks stall".into(), "In Geneva.".into()),
    ]);
    let path = dir.path().join("ag.csv.zst");
    std::fs::write(&path, zstd(ag.as_bytes())).unwrap();
    let opts = SourceOptions {
        text_columns: vec!["title".into(), "description".into()],
        label_column: Some("label".into()),
        ..SourceOptions::default()
    };
    let source = Source::open(&path, &opts).unwrap();
    assert_eq!(
        round_trip(&source, dir.path()),
        [
            ("Stocks rally Oil falls.".to_owned(), Some(3)),
            ("Talks stall In Geneva.".to_owned(), Some(1))
        ]
    );
}

#[test]
fn a_parquet_directory_of_two_shards_reads_in_order_and_a_glob_picks_shards() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    write_parquet(
        &data.join("train-00000-of-00002.parquet"),
        vec![
            ("text", strings(&[Some("alpha"), Some("beta")])),
            ("label", ints(&[Some(0), Some(1)])),
        ],
        1,
    );
    write_parquet(
        &data.join("train-00001-of-00002.parquet"),
        vec![
            ("text", strings(&[Some("gamma")])),
            ("label", ints(&[Some(2)])),
        ],
        1,
    );
    let opts = SourceOptions {
        label_column: Some("label".into()),
        ..SourceOptions::default()
    };
    let source = Source::open(&data, &opts).unwrap();
    assert_eq!(source.files().len(), 2);
    assert_eq!(
        round_trip(&source, dir.path()),
        [
            ("alpha".to_owned(), Some(0)),
            ("beta".to_owned(), Some(1)),
            ("gamma".to_owned(), Some(2))
        ]
    );
    let glob = data.join("train-00001-*.parquet");
    let source = Source::open(&glob, &opts).unwrap();
    assert_eq!(
        round_trip(&source, dir.path()),
        [("gamma".to_owned(), Some(2))]
    );
    // A gzip-compressed shard reads the same.
    let gz = dir.path().join("one.parquet.gz");
    std::fs::write(
        &gz,
        gzip(&std::fs::read(data.join("train-00001-of-00002.parquet")).unwrap()),
    )
    .unwrap();
    let source = Source::open(&gz, &opts).unwrap();
    assert_eq!(
        round_trip(&source, dir.path()),
        [("gamma".to_owned(), Some(2))]
    );
}

#[test]
fn shards_with_different_schemas_are_a_clear_error_naming_the_shard() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(
        &dir.path().join("a.parquet"),
        vec![("text", strings(&[Some("x")])), ("label", ints(&[Some(1)]))],
        1,
    );
    write_parquet(
        &dir.path().join("b.parquet"),
        vec![
            ("text", strings(&[Some("y")])),
            ("label", strings(&[Some("1")])),
        ],
        1,
    );
    let err = Source::open(dir.path(), &SourceOptions::default()).unwrap_err();
    assert!(matches!(err, DataError::SchemaMismatch { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("b.parquet"), "{message}");
    assert!(message.contains("a.parquet"), "{message}");
    assert!(message.contains("label: Utf8"), "{message}");
}

#[test]
fn errors_name_the_file_and_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad_utf8 = dir.path().join("bad.txt");
    std::fs::write(&bad_utf8, b"fine\nstill fine\nbroken \xff here\n").unwrap();
    for unit in [TextUnit::File, TextUnit::Line, TextUnit::Paragraph] {
        let opts = SourceOptions {
            text_unit: unit,
            ..SourceOptions::default()
        };
        let source = Source::open(&bad_utf8, &opts).unwrap();
        let err = source.records().find_map(Result::err).unwrap().to_string();
        assert!(err.contains("bad.txt: line 3: "), "{unit:?}: {err}");
        assert!(err.contains("UTF-8"), "{err}");
    }
    let jsonl = dir.path().join("bad.jsonl.gz");
    std::fs::write(
        &jsonl,
        gzip(b"{\"text\": \"ok\"}\n{\"txt\": \"no\"}\n{\"text\": 5}\n"),
    )
    .unwrap();
    let source = Source::open(&jsonl, &SourceOptions::default()).unwrap();
    let errors: Vec<String> = source
        .records()
        .filter_map(Result::err)
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errors.len(), 1, "the reader stops at the first error");
    assert!(
        errors[0].contains("bad.jsonl.gz: line 2: no field `text`"),
        "{}",
        errors[0]
    );
    let not_json = dir.path().join("x.jsonl");
    std::fs::write(&not_json, "{\"text\": \"a\"}\n[1, 2\n").unwrap();
    let source = Source::open(&not_json, &SourceOptions::default()).unwrap();
    let err = source.records().find_map(Result::err).unwrap().to_string();
    assert!(
        err.starts_with(&format!(
            "{}: line 2: not a JSON object",
            not_json.display()
        )),
        "{err}"
    );
    let csv = dir.path().join("rows.csv");
    std::fs::write(&csv, "text,label\na,1\nb,2,3\n").unwrap();
    let opts = SourceOptions {
        label_column: Some("label".into()),
        ..SourceOptions::default()
    };
    let source = Source::open(&csv, &opts).unwrap();
    let err = source.records().find_map(Result::err).unwrap().to_string();
    assert!(err.contains("rows.csv: row 3"), "{err}");
    let missing = Source::open(&dir.path().join("nothing-*.txt"), &SourceOptions::default())
        .unwrap_err()
        .to_string();
    assert!(missing.contains("no file matches"), "{missing}");
}

#[test]
fn a_directory_of_mixed_formats_asks_for_the_format() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "text").unwrap();
    std::fs::write(dir.path().join("b.jsonl"), "{\"text\": \"x\"}\n").unwrap();
    let err = Source::open(dir.path(), &SourceOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("name the format to read them all as"), "{err}");
    assert!(!err.contains("--"), "no command-line flag: {err}");
    // Forced to text, both are documents.
    let opts = SourceOptions {
        format: Some(Format::Text),
        ..SourceOptions::default()
    };
    let source = Source::open(dir.path(), &opts).unwrap();
    assert_eq!(
        round_trip(&source, dir.path()),
        texts(&["text", "{\"text\": \"x\"}\n"])
    );
}

/// A folder of sources with an image beside them trains on the sources: binary files (a NUL
/// byte, even gzip-compressed) are left out of a directory or pattern and listed, but a binary
/// file named on its own is read, and a folder of nothing else is an error.
#[test]
fn binary_files_of_a_directory_are_left_out_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("src");
    std::fs::create_dir_all(root.join("docs")).unwrap();
    std::fs::write(root.join("a.rs"), "fn main() {}\n").unwrap();
    let image = root.join("docs/logo.png");
    std::fs::write(&image, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let packed = root.join("docs/blob.bin.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"text, then\0").unwrap();
    std::fs::write(&packed, gz.finish().unwrap()).unwrap();
    std::fs::write(root.join("z.md"), "# notes\n").unwrap();
    for opts in [
        SourceOptions::default(),
        SourceOptions {
            format: Some(Format::Text),
            ..SourceOptions::default()
        },
    ] {
        let source = Source::open(&root, &opts).unwrap();
        assert_eq!(source.skipped(), [packed.clone(), image.clone()]);
        assert_eq!(
            round_trip(&source, dir.path()),
            texts(&["fn main() {}\n", "# notes\n"])
        );
        let pattern = Source::open(&root.join("docs/*"), &opts).map(|s| s.skipped().len());
        let err = pattern.unwrap_err().to_string();
        assert!(err.contains("its 2 file(s) are binary"), "{err}");
    }
    let named = Source::open(&image, &SourceOptions::default()).unwrap();
    assert!(named.skipped().is_empty());
    assert_eq!(named.files().len(), 1);
}

#[test]
fn the_store_is_reused_rebuilt_when_its_key_changes_and_never_trusted_when_damaged() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "one line\nanother line\n").unwrap();
    let opts = SourceOptions {
        text_unit: TextUnit::Line,
        ..SourceOptions::default()
    };
    let source = Source::open(&input, &opts).unwrap();
    let codec = Codec::default();
    let build = BuildOptions {
        vocab_size: 40,
        unk_id: Some(39),
    };
    let path = dir.path().join("s").join("train.store");
    let key = store_key(source.fingerprint().unwrap(), b"v1");
    let open = |key: u128| {
        let mut encode = |t: &str, out: &mut Vec<u32>| codec.encode(t, out);
        Store::open_or_build(&path, key, &source, &build, &mut encode, &mut |_| {}).unwrap()
    };
    let (store, status) = open(key);
    assert_eq!(
        status,
        StoreStatus::Built {
            reason: "no store yet".into()
        }
    );
    assert_eq!((store.docs(), store.tokens(), store.id_width()), (2, 20, 1));
    drop(store);
    assert_eq!(open(key).1, StoreStatus::Reused);
    // Another vocabulary, or other options, or other content: another key.
    let other = store_key(source.fingerprint().unwrap(), b"v2");
    assert!(
        matches!(open(other).1, StoreStatus::Built { reason } if reason.contains("other inputs"))
    );
    let by_file = Source::open(&input, &SourceOptions::default()).unwrap();
    assert_ne!(
        by_file.fingerprint().unwrap(),
        source.fingerprint().unwrap()
    );
    // Damage: every byte of the file matters.
    let good = std::fs::read(&path).unwrap();
    for (what, at) in [("header", 20), ("ids", 130), ("offsets", good.len() - 3)] {
        let mut bad = good.clone();
        bad[at] ^= 0x40;
        std::fs::write(&path, &bad).unwrap();
        let (store, status) = open(other);
        assert!(
            matches!(&status, StoreStatus::Built { reason } if reason.contains("checksum")),
            "{what}: {status:?}"
        );
        assert_eq!(store.tokens(), 20);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            good,
            "{what}: rebuilt byte for byte"
        );
    }
    for len in [0, 100, good.len() - 1] {
        std::fs::write(&path, &good[..len]).unwrap();
        let (_, status) = open(other);
        assert!(
            matches!(&status, StoreStatus::Built { reason } if reason.contains("truncated")),
            "{len}: {status:?}"
        );
    }
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 8]);
    std::fs::write(&path, &longer).unwrap();
    assert!(matches!(open(other).1, StoreStatus::Built { .. }));
    // A store for another vocabulary size is not opened either.
    assert!(Store::open(&path, other, 41).is_err());
    assert!(Store::open(&path, other, 40).is_ok());
    // No temporary file is left behind.
    assert_eq!(common::dir_names(path.parent().unwrap()), ["train.store"]);
}

#[test]
fn the_encoder_may_not_return_padding_or_ids_outside_the_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.txt");
    std::fs::write(&input, "abc").unwrap();
    let source = Source::open(&input, &SourceOptions::default()).unwrap();
    let path = dir.path().join("x.store");
    for id in [0u32, 10] {
        let mut encode = |_: &str, out: &mut Vec<u32>| {
            out.push(id);
            Ok(())
        };
        let build = BuildOptions {
            vocab_size: 10,
            unk_id: None,
        };
        let err = Store::build(&path, 1, &source, &build, &mut encode, &mut |_| {}).unwrap_err();
        assert!(
            err.to_string().contains(&format!("id {id}, not in 1..10")),
            "{err}"
        );
        assert!(!path.exists());
    }
    assert!(common::dir_names(dir.path()) == ["in.txt"]);
}

/// Reads every document of `path` as `unit`.
fn documents(path: &Path, unit: TextUnit) -> Vec<String> {
    let opts = SourceOptions {
        text_unit: unit,
        format: Some(Format::Text),
        ..SourceOptions::default()
    };
    Source::open(path, &opts)
        .unwrap()
        .records()
        .map(|r| r.unwrap().text)
        .collect()
}

#[test]
fn windows_line_endings_read_as_python_text_mode_reads_them_whatever_the_unit() {
    let dir = tempfile::tempdir().unwrap();
    let lf =
        "Call me Ishmael.\nSome years ago\n\n  \nnever mind how long\nprecisely\n\n\nnaïve 🐳\n";
    let crlf = lf.replace('\n', "\r\n");
    // Old Mac line endings, and a mix: Python's universal newlines read `\r` as `\n` too.
    let cr = lf.replace('\n', "\r");
    let mixed = "Call me Ishmael.\r\nSome years ago\r\r\n  \nnever mind how long\rprecisely\n\r\n\nnaïve 🐳\r";
    let lf_dir = dir.path().join("lf");
    std::fs::create_dir(&lf_dir).unwrap();
    let lf_paths = variants(&lf_dir, "novel", "txt", lf.as_bytes());
    for (name, content) in [("crlf", crlf.as_str()), ("cr", &cr), ("mixed", mixed)] {
        let sub = dir.path().join(name);
        std::fs::create_dir(&sub).unwrap();
        for (path, lf_path) in variants(&sub, "novel", "txt", content.as_bytes())
            .iter()
            .zip(&lf_paths)
        {
            for unit in [TextUnit::File, TextUnit::Line, TextUnit::Paragraph] {
                let got = documents(path, unit);
                assert_eq!(got, documents(lf_path, unit), "{path:?} {unit:?}");
                assert!(got.iter().all(|d| !d.contains('\r')), "{path:?} {unit:?}");
            }
        }
    }
    assert_eq!(
        documents(&lf_paths[0], TextUnit::Paragraph),
        [
            "Call me Ishmael.\nSome years ago",
            "never mind how long\nprecisely",
            "naïve 🐳"
        ]
    );
    assert_eq!(documents(&lf_paths[0], TextUnit::File), [lf]);
    // A field of a CSV file is data: its `\r\n` stays.
    let csv = dir.path().join("f.csv");
    std::fs::write(&csv, "id,text\r\n1,\"two\r\nlines\"\r\n").unwrap();
    let opts = SourceOptions {
        text_columns: vec!["text".into()],
        ..SourceOptions::default()
    };
    let source = Source::open(&csv, &opts).unwrap();
    assert_eq!(round_trip(&source, dir.path()), texts(&["two\r\nlines"]));
}

#[test]
fn fingerprints_of_text_change_only_where_the_line_endings_read_differently() {
    let dir = tempfile::tempdir().unwrap();
    let fingerprint = |content: &[u8]| {
        let path = dir.path().join("t.txt");
        std::fs::write(&path, content).unwrap();
        Source::open(&path, &SourceOptions::default())
            .unwrap()
            .fingerprint()
            .unwrap()
    };
    // The values are those of the reader before `\r` was read as `\n`.
    // Text without `\r` reads as before: its stores, vocabularies and resumes stay valid.
    assert_eq!(
        fingerprint(b"one\ntwo\n"),
        227_185_023_001_094_041_219_201_969_478_503_665_813
    );
    // With `\r` its documents changed: a store built from it before is not reused.
    assert_ne!(
        fingerprint(b"one\r\ntwo\r\n"),
        317_721_023_302_071_644_274_160_494_196_359_625_578
    );
}

#[test]
fn csv_header_detection_is_the_one_source_open_uses() {
    use charrnn_data::CsvHeader;
    let dir = tempfile::tempdir().unwrap();
    let detect = |name: &str, bytes: &[u8], opts: &SourceOptions| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        CsvHeader::detect(&path, opts).unwrap()
    };
    let titles = SourceOptions {
        text_columns: vec!["title".into()],
        ..SourceOptions::default()
    };
    let ag = common::ag_news_csv(&[(3, "Stocks rally".into(), "Oil falls.".into())]);
    let headed = b"id,text,label,note\n1,hello,0,x\n";
    assert_eq!(detect("ag.csv", ag.as_bytes(), &titles), CsvHeader::AgNews);
    assert_eq!(
        detect("ag.csv.gz", &gzip(ag.as_bytes()), &titles),
        CsvHeader::AgNews
    );
    // Four fields: not AG News, whatever columns are asked for.
    assert_eq!(detect("h.csv", headed, &titles), CsvHeader::FromFile);
    // Three fields, the first not an integer.
    let three = b"label,title,description\n1,a,b\n";
    assert_eq!(detect("t.csv", three, &titles), CsvHeader::FromFile);
    assert_eq!(
        detect("t.csv", b"id,x,y\n1,a,b\n", &titles),
        CsvHeader::FromFile
    );
    // Given, it is not detected.
    let forced = SourceOptions {
        csv_header: Some(CsvHeader::AgNews),
        ..titles.clone()
    };
    assert_eq!(detect("h.csv", headed, &forced), CsvHeader::AgNews);
    // Source::open reads the headed file by its header.
    let path = dir.path().join("h.csv");
    let opts = SourceOptions {
        text_columns: vec!["text".into(), "note".into()],
        label_column: Some("label".into()),
        ..SourceOptions::default()
    };
    let source = Source::open(&path, &opts).unwrap();
    assert_eq!(
        round_trip(&source, dir.path()),
        [("hello x".to_owned(), Some(0))]
    );
}
