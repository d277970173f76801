//! The input problems a user trial met: CSV separated by `;` or tabs, nested JSON fields, files
//! holding one JSON array, the messages for a quote or a string left open, and the rows that
//! skipping nulls leaves out.
mod common;

use std::path::Path;

use charrnn_data::{
    BuildOptions, CsvHeader, DataError, Format, LabelValues, NullPolicy, Source, SourceOptions,
    Store, StoreStatus, store_key,
};
use common::{
    gzip, ints, open_error, read, read_counting_skips, read_error, strings, write, write_parquet,
    zstd,
};
use serde_json::{Value, json};

fn opts(columns: &[&str], label: Option<&str>) -> SourceOptions {
    SourceOptions {
        text_columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        label_column: label.map(str::to_owned),
        ..SourceOptions::default()
    }
}

fn with_delimiter(delimiter: Option<u8>, opts: SourceOptions) -> SourceOptions {
    SourceOptions { delimiter, ..opts }
}

fn docs(d: &[(&str, i64)]) -> Vec<(String, Option<i64>)> {
    d.iter().map(|(t, l)| ((*t).to_owned(), Some(*l))).collect()
}

// --- CSV delimiters ----------------------------------------------------------------------------

#[test]
fn semicolon_and_tab_separated_files_read_with_the_delimiter_named_or_told_by_the_extension() {
    let dir = tempfile::tempdir().unwrap();
    // The other delimiters inside quotes, a comma outside.
    let content = |d: &str| {
        format!("id{d}text{d}label\n1{d}\"a; b\t| \"\"c\"\"\"{d}3\n2{d}plain, with a comma{d}4\n")
    };
    let (semi, tab) = (content(";"), content("\t"));
    let expected = docs(&[("a; b\t| \"c\"", 3), ("plain, with a comma", 4)]);
    let cases: [(&str, Vec<u8>, Option<u8>); 6] = [
        ("semi.csv", semi.as_bytes().to_vec(), Some(b';')),
        ("semi.csv.gz", gzip(semi.as_bytes()), Some(b';')),
        ("data.tsv", tab.clone().into_bytes(), None),
        ("data.tsv.gz", gzip(tab.as_bytes()), None),
        ("DATA.TAB.zst", zstd(tab.as_bytes()), None),
        ("tabs.csv", tab.clone().into_bytes(), Some(b'\t')),
    ];
    for (name, bytes, delimiter) in cases {
        let path = write(dir.path(), name, bytes);
        let o = with_delimiter(delimiter, opts(&["text"], Some("label")));
        assert_eq!(Format::detect(&path).unwrap(), Format::Csv, "{name}");
        assert_eq!(read(&path, &o), expected, "{name}");
        let source = Source::open(&path, &o).unwrap();
        assert_eq!(
            source.label_values().unwrap(),
            LabelValues::Integers,
            "{name}"
        );
        assert_eq!(CsvHeader::detect(&path, &o).unwrap(), CsvHeader::FromFile);
    }
    // A delimiter named wins over the extension: a comma splits no tab-separated header.
    let path = dir.path().join("data.tsv");
    let err = open_error(&path, &with_delimiter(Some(b','), opts(&["text"], None)));
    assert!(matches!(err, DataError::MissingColumn { .. }), "{err:?}");
}

#[test]
fn a_header_that_another_delimiter_would_split_into_the_column_says_which() {
    let dir = tempfile::tempdir().unwrap();
    let labelled = opts(&["text"], Some("label"));
    let hint = |looks: &str, given: &str| {
        format!(
            ": the header looks {looks}-separated: name the delimiter \
             (SourceOptions::delimiter): {given}"
        )
    };
    // (file, content, options, the end of the message, or None for no hint)
    let cases = [
        (
            "semi.csv",
            "text;label\nhello;1\n",
            &labelled,
            Some(hint(";", ";")),
        ),
        (
            "tabs.csv",
            "text\tlabel\nhello\t1\n",
            &labelled,
            Some(hint("tab", "\\t")),
        ),
        (
            "pipes.csv",
            "text|label\nhello|1\n",
            &labelled,
            Some(hint("|", "|")),
        ),
        (
            "semi.tsv",
            "text;label\nhello;1\n",
            &labelled,
            Some(hint(";", ";")),
        ),
        (
            "commas.tsv",
            "text,label\nhello,1\n",
            &labelled,
            Some(hint(",", ",")),
        ),
        // The other delimiter does not find the column either: no hint.
        ("body.csv", "body;label\nhello;1\n", &labelled, None),
        ("commas.csv", "body,label\nhello,1\n", &labelled, None),
    ];
    for (name, content, o, end) in cases {
        let path = write(dir.path(), name, content);
        let err = open_error(&path, o);
        assert!(matches!(err, DataError::MissingColumn { .. }), "{err:?}");
        let message = err.to_string();
        assert!(!message.contains('\n'), "{message}");
        assert!(message.starts_with(&format!("{}: no column `text`", path.display())));
        match end {
            Some(end) => assert!(message.ends_with(&end), "{name}: {message}"),
            None => assert!(!message.contains("looks"), "{name}: {message}"),
        }
    }
}

#[test]
fn a_delimiter_that_cannot_separate_fields_is_refused_when_the_source_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.csv", "text\nx\n");
    assert!(Source::open(&path, &with_delimiter(Some(b'|'), opts(&[], None))).is_ok());
    for (delimiter, shown) in [
        (b'"', "`\"`"),
        (b'\n', "`\\n`"),
        (b'\r', "`\\r`"),
        (0xe9, "byte 0xe9"),
    ] {
        let o = with_delimiter(Some(delimiter), opts(&[], None));
        let err = open_error(&path, &o);
        let message = err.to_string();
        assert!(matches!(err, DataError::Options(_)), "{err:?}");
        assert!(
            message.starts_with(&format!(
                "invalid options: the CSV delimiter {shown} cannot separate fields"
            )),
            "{message}"
        );
        assert!(message.contains("(SourceOptions::delimiter)"), "{message}");
        assert!(!message.contains('\n'), "{message}");
        let detect = CsvHeader::detect(&path, &o).unwrap_err();
        assert!(matches!(detect, DataError::Options(_)), "{detect:?}");
    }
}

#[test]
fn the_fingerprint_follows_the_delimiter_each_file_is_read_with() {
    let dir = tempfile::tempdir().unwrap();
    let content = "text\nx;y\tz\n";
    let csv = write(dir.path(), "one.csv", content);
    let tsv = write(dir.path(), "one.tsv", content);
    let fingerprint = |path: &Path, delimiter: Option<u8>| {
        Source::open(path, &with_delimiter(delimiter, opts(&[], None)))
            .unwrap()
            .fingerprint()
            .unwrap()
    };
    assert_eq!(fingerprint(&csv, None), fingerprint(&csv, Some(b',')));
    assert_ne!(fingerprint(&csv, None), fingerprint(&csv, Some(b';')));
    // The same bytes named `.tsv` are cut at tabs: other documents, another fingerprint.
    assert_ne!(fingerprint(&tsv, None), fingerprint(&csv, None));
    assert_eq!(fingerprint(&tsv, None), fingerprint(&csv, Some(b'\t')));
}

// --- Nested JSON fields -------------------------------------------------------------------------

#[test]
fn dotted_json_fields_read_nested_objects_unless_the_object_has_the_dotted_key() {
    let dir = tempfile::tempdir().unwrap();
    let content = concat!(
        "{\"meta\": {\"title\": \"T1\", \"label\": 2, \"kind\": \"pos\"}, \"a.b\": \"literal\", ",
        "\"a\": {\"b\": \"nested\"}}\n",
        "{\"a\": {\"b\": \"only nested\"}, \"meta\": {\"kind\": \"neg\", \"title\": \"T2\", ",
        "\"label\": \"5\"}}\n",
        "{\"a\": {\"b\": \"deep\"}, \"meta\": {\"title\": {\"x.y\": \"T3\"}, \"label\": 1, ",
        "\"kind\": \"pos\"}}\n",
    );
    let path = write(dir.path(), "nested.jsonl", content);
    // A JSON array of the same objects reads the same (its label scan included).
    let records: Vec<Value> = content
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let array = write(
        dir.path(),
        "nested.json",
        serde_json::to_string_pretty(&records).unwrap(),
    );
    for path in [path, array] {
        // `meta.title` of the third record is an object: read it through `meta.title.x.y`.
        let two = opts(&["meta.title", "a.b"], Some("meta.label"));
        let err = read_error(&path, &two);
        assert!(
            err.contains(
                "field `meta.title` holds an object, not text: name a field inside it, \
                 as `meta.title.x.y`"
            ),
            "{err}"
        );
        let three = SourceOptions {
            nulls: NullPolicy::Skip,
            ..opts(&["meta.title.x.y", "a.b"], Some("meta.label"))
        };
        assert_eq!(read(&path, &three), docs(&[("T3 deep", 1)]));
        let kinds = opts(&["a.b"], Some("meta.kind"));
        let source = Source::open(&path, &kinds).unwrap();
        assert_eq!(
            source.label_values().unwrap(),
            LabelValues::Text(vec!["neg".into(), "pos".into()])
        );
        let named = SourceOptions {
            label_names: Some(vec!["neg".into(), "pos".into()]),
            ..kinds
        };
        assert_eq!(
            read(&path, &named),
            docs(&[("literal", 1), ("only nested", 0), ("deep", 1)])
        );
        let integers = opts(&["a.b"], Some("meta.label"));
        let source = Source::open(&path, &integers).unwrap();
        assert_eq!(source.label_values().unwrap(), LabelValues::Integers);
        assert_eq!(
            read(&path, &integers),
            docs(&[("literal", 2), ("only nested", 5), ("deep", 1)])
        );
        // A path that leads nowhere is a missing field.
        let err = read_error(&path, &opts(&["a.c"], None));
        assert!(err.contains(": no field `a.c`"), "{err}");
    }
}

#[test]
fn a_json_field_holding_an_object_or_an_array_says_what_it_holds_and_where() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "meta.jsonl",
        concat!(
            "{\"meta\": \"plain\", \"tags\": 1}\n",
            "\n",
            "{\"meta\": {\"id\": 3, \"title\": \"T\"}, \"tags\": [\"a\"]}\n",
        ),
    );
    let named = SourceOptions {
        label_names: Some(vec!["plain".into()]),
        ..opts(&["meta"], Some("meta"))
    };
    let cases = [
        (
            opts(&["meta"], None),
            "field `meta` holds an object, not text: name a field inside it, as `meta.title`",
        ),
        (
            opts(&["meta"], Some("tags")),
            "label field `tags` holds an array, not an integer",
        ),
        (
            named.clone(),
            "field `meta` holds an object, not a label: name a field inside it, as `meta.id`",
        ),
    ];
    for (o, message) in cases {
        assert_eq!(
            read_error(&path, &o),
            format!("{}: line 3: {message}", path.display())
        );
    }
    // The label scan says the same of the label field.
    let source = Source::open(&path, &opts(&["meta"], Some("meta"))).unwrap();
    assert_eq!(
        source.label_values().unwrap_err().to_string(),
        format!(
            "{}: line 3: field `meta` holds an object, not a label: name a field inside it, as \
             `meta.id`",
            path.display()
        )
    );
}

// --- JSON arrays --------------------------------------------------------------------------------

/// Records with strings full of what an array scan must not cut at.
fn tricky_records() -> Vec<Value> {
    vec![
        json!({"text": "plain", "label": 1}),
        json!({"label": 2, "text": "a , ] } [ { \"quoted\" and \\ a backslash\\",
               "extra": {"deep": [1, {"x": "],"}], "e": []}}),
        json!({"text": "line\nbreak, é 🐳", "label": "3", "list": [[], {}, "\\\""]}),
    ]
}

#[test]
fn a_file_holding_one_json_array_reads_as_the_same_records_in_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let records = tricky_records();
    let lines: String = records.iter().map(|r| format!("{r}\n")).collect();
    let jsonl = write(dir.path(), "records.jsonl", &lines);
    let pretty = serde_json::to_string_pretty(&records).unwrap();
    let compact = serde_json::to_string(&records).unwrap();
    let o = opts(&["text"], Some("label"));
    let expected = read(&jsonl, &o);
    assert_eq!(expected.len(), 3);
    let bom = [
        &[0xef, 0xbb, 0xbf][..],
        b"\n\n  ",
        pretty.as_bytes(),
        b"\n\n",
    ]
    .concat();
    for (name, bytes) in [
        ("pretty.json", pretty.clone().into_bytes()),
        ("compact.json", compact.clone().into_bytes()),
        ("compact.json.gz", gzip(compact.as_bytes())),
        ("pretty.jsonl.zst", zstd(pretty.as_bytes())),
        ("bom.json", bom),
        // No extension: `[` then `{` is detected as JSON.
        ("no-extension", pretty.clone().into_bytes()),
    ] {
        let path = write(dir.path(), name, bytes);
        let source = Source::open(&path, &o).unwrap();
        assert_eq!(source.format(), Format::Jsonl, "{name}");
        assert_eq!(read(&path, &o), expected, "{name}");
        assert_eq!(
            source.label_values().unwrap(),
            LabelValues::Integers,
            "{name}"
        );
    }
    // Many records, so that elements straddle the reader's buffers (plain and compressed).
    let many: Vec<Value> = (0..3000)
        .map(|i| {
            let text = format!("{i}: a , ] }} [ {{ \"q\" \\ {}", "x".repeat(i % 500));
            json!({"text": text, "label": i, "extra": {"list": [i, {"s": "],"}]}})
        })
        .collect();
    let lines: String = many.iter().map(|r| format!("{r}\n")).collect();
    let expected = read(&write(dir.path(), "many.jsonl", &lines), &o);
    assert_eq!(expected.len(), 3000);
    let pretty = serde_json::to_string_pretty(&many).unwrap();
    for (name, bytes) in [
        ("many.json", pretty.clone().into_bytes()),
        ("many.json.gz", gzip(pretty.as_bytes())),
    ] {
        let path = write(dir.path(), name, bytes);
        assert_eq!(read(&path, &o), expected, "{name}");
    }
    for empty in ["[]", " [ \n ] \n"] {
        let path = write(dir.path(), "empty.json", empty);
        assert!(read(&path, &o).is_empty(), "{empty:?}");
    }
    // A text file that starts with `[` but no object is still text.
    let ini = write(dir.path(), "settings", "[section]\nkey = value\n");
    assert_eq!(Format::detect(&ini).unwrap(), Format::Text);
}

#[test]
fn a_broken_json_array_is_a_one_line_error_naming_the_element_and_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[\n  {\"text\": \"a\"},\n  {\"text\": \"b\"",
            "line 3: element 2: the file ends inside it: the JSON array is not closed (a \
             truncated file?)",
        ),
        (
            "[\n  {\"text\": \"a\"},\n",
            "line 3: the file ends before the JSON array's closing `]` (a truncated file?)",
        ),
        (
            "[",
            "line 1: the file ends before the JSON array's closing `]` (a truncated file?)",
        ),
        (
            "[\n  {\"text\": \"a\"},\n  {\"txt\": \"b\"}\n]",
            "line 3: element 2: no field `text` (its fields: txt)",
        ),
        (
            "[{\"text\": \"a\"},\n]",
            "line 2: element 2: nothing before this `]` (a `,` too many?)",
        ),
        (
            "[{\"text\": \"a\"}, , {\"text\": \"b\"}]",
            "line 1: element 2: nothing before this `,` (a `,` too many?)",
        ),
        (
            "[{\"text\": \"a\"}]\n{\"text\": \"b\"}\n",
            "line 2: text after the JSON array's closing `]` (a JSON file holds one array)",
        ),
        (
            "\"just a string\"\n",
            "line 1: not a JSON object: it holds a string (each record is an object, as \
             {\"text\": \"...\"})",
        ),
        (
            "[\n 1, 2]",
            "line 2: element 1: not a JSON object: it holds a number (each record is an object, \
             as {\"text\": \"...\"})",
        ),
        (
            "[\n  {\"text\": \"a\"},\n  {\"text\": \"a\" \"b\"}\n]",
            "line 3: element 2: not a JSON object: expected `,` or `}` (line 3, column 16)",
        ),
        (
            "[\n  {\"text\": \"a\",\n   \"x\": tru}\n]",
            "line 2: element 1: not a JSON object: expected ident (line 3, column 12)",
        ),
        (
            "[\n  {\"text\": \"a\n  b\"}\n]",
            "line 2: element 1: a string opened on line 2 is not closed on that line (a line \
             break inside a string is written \\n)",
        ),
    ];
    for (content, expected) in cases {
        let path = write(dir.path(), "bad.json", content);
        let err = read_error(&path, &opts(&["text"], None));
        assert_eq!(
            err,
            format!("{}: {expected}", path.display()),
            "{content:?}"
        );
    }
}

// --- Quotes and strings left open ---------------------------------------------------------------

#[test]
fn a_csv_quote_never_closed_is_named_by_the_line_it_opens_on() {
    let dir = tempfile::tempdir().unwrap();
    let labelled = opts(&["text"], Some("label"));
    let text_only = opts(&["text"], None);
    let cases = [
        // arrow saw a record of one field.
        ("text,label\na,1\n\"b,2\nc,3\n", &labelled, 3),
        // The quote swallows the rest into the label, which is no integer.
        ("text,label\na,\"1\nb,2\n", &labelled, 2),
        // The rest of the file became one text, read without a word before.
        ("text\na\n\"b\nc\n", &text_only, 3),
        // A quoted line break and a doubled quote are no open quote.
        ("text,label\n\"multi\nline\",1\n\"x\"\"y,2\n", &labelled, 4),
        // Tab-separated, from the extension.
        ("text\tlabel\n\"a\tb\"\t1\n\"c\t2\n", &labelled, 3),
    ];
    for (i, (content, o, line)) in cases.into_iter().enumerate() {
        let name = if content.contains('\t') {
            "q.tsv"
        } else {
            "q.csv"
        };
        let path = write(dir.path(), &format!("{i}-{name}"), content);
        let expected = format!(
            "{}: line {line}: a quoted field opened here is never closed (a `\"` inside a \
             field is written `\"\"`)",
            path.display()
        );
        assert_eq!(read_error(&path, o), expected, "{content:?}");
        if o.label_column.is_some() {
            let source = Source::open(&path, o).unwrap();
            assert_eq!(source.label_values().unwrap_err().to_string(), expected);
        }
    }
    // Many quoted fields with line breaks and doubled quotes, across the reader's buffers.
    let mut many = String::from("text,label\n");
    let mut expected = Vec::new();
    for i in 0..3000i64 {
        let text = format!(
            "{i}, \"{}\"\n{}",
            "y".repeat(i as usize % 300),
            "z".repeat(i as usize % 7)
        );
        many.push_str(&format!("{},{i}\n", common::quote(&text)));
        expected.push((text, Some(i)));
    }
    for (name, bytes) in [
        ("many.csv", many.clone().into_bytes()),
        ("many.csv.zst", zstd(many.as_bytes())),
    ] {
        let path = write(dir.path(), name, bytes);
        assert_eq!(read(&path, &labelled), expected, "{name}");
    }
    // A quote left open after all that is found on its line.
    many.push_str("\"open,1\nmore,2\n");
    let path = write(dir.path(), "many-open.csv", &many);
    let err = read_error(&path, &labelled);
    assert!(
        err.starts_with(&format!("{}: line 6002: a quoted field", path.display())),
        "{err}"
    );
    // Closed quotes, at the end of the file too, read as they always did.
    let path = write(
        dir.path(),
        "ok.csv",
        "text,label\n\"a \"\"b\"\"\",1\n\"c\",\"2\"",
    );
    assert_eq!(read(&path, &labelled), docs(&[("a \"b\"", 1), ("c", 2)]));
}

#[test]
fn a_json_lines_string_left_open_says_so_and_other_errors_give_the_real_column() {
    let dir = tempfile::tempdir().unwrap();
    let open = "a string is not closed on this line (JSON Lines keeps each record on one line: a \
                line break inside a string is written \\n)";
    let cases = [
        (
            "{\"text\": \"ok\"}\n{\"text\": \"broken}\n{\"text\": \"x\"}\n",
            format!("line 2: {open}"),
        ),
        (
            "{\"text\": \"ok\"}\r\n\r\n{\"text\": \"a\\\"}\r\n",
            format!("line 3: {open}"),
        ),
        (
            "{\"text\": \"a\" \"b\"}\n",
            "line 1: not a JSON object: expected `,` or `}` (column 14)".to_owned(),
        ),
        (
            "\n\n{\"text\": \"a\"\n",
            "line 3: not a JSON object: the line ends inside an object (column 12): JSON Lines \
             keeps each record on one line"
                .to_owned(),
        ),
    ];
    for (content, expected) in cases {
        let path = write(dir.path(), "bad.jsonl", content);
        let err = read_error(&path, &opts(&["text"], None));
        assert_eq!(
            err,
            format!("{}: {expected}", path.display()),
            "{content:?}"
        );
        assert!(!err.contains("at line"), "{err}");
    }
}

// --- Rows skipped for a null ------------------------------------------------------------------

#[test]
fn the_rows_skipped_for_a_null_are_counted_by_the_pieces_and_the_store_built() {
    let dir = tempfile::tempdir().unwrap();
    let skip = SourceOptions {
        nulls: NullPolicy::Skip,
        ..opts(&["text"], Some("label"))
    };
    let texts = |t: &[&str]| t.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let csv = write(dir.path(), "n.csv", "text,label\na,1\nb,\nc,3\nd,\n");
    let jsonl = write(
        dir.path(),
        "n.jsonl",
        concat!(
            "{\"text\": \"a\", \"label\": 1}\n{\"label\": 2}\n{\"text\": null, \"label\": 3}\n",
            "{\"text\": \"d\", \"label\": null}\n{\"text\": \"e\"}\n{\"text\": \"f\", \"label\": 6}\n",
        ),
    );
    let array = write(
        dir.path(),
        "n.json",
        "[{\"text\": \"a\", \"label\": 1}, {\"label\": 2},\n {\"text\": \"c\", \"label\": 3}]",
    );
    let parquet = dir.path().join("n.parquet");
    write_parquet(
        &parquet,
        vec![
            ("text", strings(&[Some("a"), None, Some("c")])),
            ("label", ints(&[Some(1), Some(2), None])),
        ],
        2,
    );
    let folder = dir.path().join("both");
    std::fs::create_dir(&folder).unwrap();
    std::fs::copy(&csv, folder.join("1.csv")).unwrap();
    std::fs::copy(&csv, folder.join("2.csv")).unwrap();
    let text = write(dir.path(), "t.txt", "one\n\ntwo\n");
    let cases = [
        (&csv, &skip, texts(&["a", "c"]), 2),
        (&jsonl, &skip, texts(&["a", "f"]), 4),
        (&array, &skip, texts(&["a", "c"]), 1),
        (&parquet, &skip, texts(&["a"]), 2),
        (&folder, &skip, texts(&["a", "c", "a", "c"]), 4),
        (
            &text,
            &SourceOptions::default(),
            texts(&["one\n\ntwo\n"]),
            0,
        ),
    ];
    for (path, o, expected, skipped) in cases {
        assert_eq!(
            read_counting_skips(path, o),
            (expected, skipped),
            "{}",
            path.display()
        );
    }
    // Records count as the pieces do.
    let source = Source::open(&jsonl, &skip).unwrap();
    let mut records = source.records();
    assert_eq!(records.next().unwrap().unwrap().text, "a");
    assert_eq!(records.skipped_rows(), 0);
    assert_eq!(records.next().unwrap().unwrap().text, "f");
    assert_eq!(records.skipped_rows(), 4);

    // A store built says how many rows it left out; one opened from its file cannot.
    let source = Source::open(&folder, &skip).unwrap();
    let key = store_key(source.fingerprint().unwrap(), b"bytes");
    let build = BuildOptions {
        vocab_size: 256,
        unk_id: None,
    };
    let mut encode = |t: &str, out: &mut Vec<u32>| {
        out.extend(t.bytes().map(|b| u32::from(b.max(1))));
        Ok(())
    };
    let path = dir.path().join("n.store");
    let store = Store::build(&path, key, &source, &build, &mut encode, &mut |_| {}).unwrap();
    assert_eq!((store.docs(), store.skipped_rows()), (4, Some(4)));
    drop(store);
    assert_eq!(Store::open(&path, key, 256).unwrap().skipped_rows(), None);
    let (store, status) =
        Store::open_or_build(&path, key, &source, &build, &mut encode, &mut |_| {}).unwrap();
    assert_eq!((status, store.skipped_rows()), (StoreStatus::Reused, None));
    std::fs::remove_file(&path).unwrap();
    let (store, _) =
        Store::open_or_build(&path, key, &source, &build, &mut encode, &mut |_| {}).unwrap();
    assert_eq!(store.skipped_rows(), Some(4));
}
