//! Inputs in encodings other than UTF-8: the same text written as UTF-8, UTF-16 (either byte
//! order, with or without a byte-order mark), Latin-1 and Windows-1252 reads back as the same
//! documents in plain text, CSV and JSON Lines, compressed or not; characters split between two
//! reads decode whole; bad bytes are one-line errors naming the line and the byte offset; the
//! encoding is part of the source's fingerprint, so a store decoded otherwise is not reused;
//! UTF-8 read as Latin-1, Windows-1252 or UTF-16 is doubted from a file's first bytes.
mod common;

use std::io::{BufReader, Read, Write};
use std::path::Path;

use charrnn_data::{
    BuildOptions, CsvHeader, CsvOptions, DataError, Encoding, EncodingDoubt, Format, ReadOptions,
    Source, SourceOptions, Store, StoreStatus, TextUnit, csv_to_parquet, read_texts, store_key,
};
use common::{quote, read, read_error, strings, write_parquet};
use proptest::prelude::*;

/// Text with Windows-1252's own characters (curly quotes, €, dashes, ™, Ÿ) and Latin-1's, and
/// Windows line endings.
const WINDOWS_TEXT: &str =
    "“Curly quotes” cost 5 €… naïve café\r\nsecond ‘line’ – dash\r\n\r\nthird paragraph™ Ÿ\r\n";

/// Text that Latin-1 can hold.
const LATIN_TEXT: &str = "naïve café, señor Ñandú ¿qué? ½ ©\nsecond line ÿ\n\nthird paragraph\n";

/// Windows-1252's `0x80..=0x9F` that are characters of their own (WHATWG).
const WINDOWS_1252: [(u8, char); 27] = [
    (0x80, '€'),
    (0x82, '‚'),
    (0x83, 'ƒ'),
    (0x84, '„'),
    (0x85, '…'),
    (0x86, '†'),
    (0x87, '‡'),
    (0x88, 'ˆ'),
    (0x89, '‰'),
    (0x8A, 'Š'),
    (0x8B, '‹'),
    (0x8C, 'Œ'),
    (0x8E, 'Ž'),
    (0x91, '‘'),
    (0x92, '’'),
    (0x93, '“'),
    (0x94, '”'),
    (0x95, '•'),
    (0x96, '–'),
    (0x97, '—'),
    (0x98, '˜'),
    (0x99, '™'),
    (0x9A, 'š'),
    (0x9B, '›'),
    (0x9C, 'œ'),
    (0x9E, 'ž'),
    (0x9F, 'Ÿ'),
];

fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
    let units = bom.then_some(0xFEFF).into_iter().chain(text.encode_utf16());
    units
        .flat_map(|u| {
            if big_endian {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            }
        })
        .collect()
}

fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).expect("a Latin-1 character"))
        .collect()
}

fn windows_1252(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match WINDOWS_1252.iter().find(|(_, w)| *w == c) {
            Some((b, _)) => *b,
            None => {
                let b = u8::try_from(u32::from(c)).expect("a Windows-1252 character");
                assert!(!(0x80..=0x9F).contains(&b), "{c:?}");
                b
            }
        })
        .collect()
}

/// The `text` column of the CSV file at `path` (a header, `rows` rows) in `encoding`,
/// converted to Parquet beside it: Parquet's strings are UTF-8 whatever the CSV's encoding.
fn via_parquet(path: &Path, encoding: Encoding, rows: u64) -> Vec<String> {
    let pq = path.with_extension("csv.parquet");
    let convert = CsvOptions {
        header: CsvHeader::FromFile,
        encoding,
        ..CsvOptions::default()
    };
    assert_eq!(csv_to_parquet(path, &pq, &convert).unwrap().rows, rows);
    read_texts(&pq, &ReadOptions::text("text"))
        .unwrap()
        .into_iter()
        .map(|r| r.text)
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// `text` in every encoding that can hold it: what it is called, the encoding to read it with,
/// and its bytes. UTF-16 with a byte-order mark is read with the default too (detected).
fn encoded(text: &str) -> Vec<(&'static str, Encoding, Vec<u8>)> {
    let mut out = vec![
        ("utf-8", Encoding::Utf8, text.as_bytes().to_vec()),
        (
            "utf-16le bom, detected",
            Encoding::Utf8,
            utf16(text, false, true),
        ),
        (
            "utf-16be bom, detected",
            Encoding::Utf8,
            utf16(text, true, true),
        ),
        ("utf-16 le bom", Encoding::Utf16, utf16(text, false, true)),
        ("utf-16 be bom", Encoding::Utf16, utf16(text, true, true)),
        ("utf-16 no bom", Encoding::Utf16, utf16(text, false, false)),
        ("utf-16le", Encoding::Utf16Le, utf16(text, false, false)),
        ("utf-16le bom", Encoding::Utf16Le, utf16(text, false, true)),
        ("utf-16be", Encoding::Utf16Be, utf16(text, true, false)),
        ("utf-16be bom", Encoding::Utf16Be, utf16(text, true, true)),
        ("windows-1252", Encoding::Windows1252, windows_1252(text)),
    ];
    if text.chars().all(|c| u32::from(c) < 0x100) {
        out.push(("latin-1", Encoding::Latin1, latin1(text)));
    }
    out
}

fn with_encoding(encoding: Encoding, opts: SourceOptions) -> SourceOptions {
    SourceOptions { encoding, ..opts }
}

#[test]
fn plain_text_in_every_encoding_reads_back_the_same_documents() {
    let dir = tempfile::tempdir().unwrap();
    for text in [WINDOWS_TEXT, LATIN_TEXT] {
        let utf8 = dir.path().join("utf8.txt");
        std::fs::write(&utf8, text).unwrap();
        for unit in [TextUnit::File, TextUnit::Line, TextUnit::Paragraph] {
            let opts = SourceOptions {
                text_unit: unit,
                ..SourceOptions::default()
            };
            let want = read(&utf8, &opts);
            assert!(want.len() >= 2 || unit == TextUnit::File, "{want:?}");
            for (name, encoding, bytes) in encoded(text) {
                let path = dir.path().join(format!("{name}.txt"));
                std::fs::write(&path, &bytes).unwrap();
                let got = read(&path, &with_encoding(encoding, opts.clone()));
                assert_eq!(got, want, "{name}, {unit:?}");
            }
        }
    }
    let windows = dir.path().join("excel.txt");
    std::fs::write(&windows, windows_1252(WINDOWS_TEXT)).unwrap();
    let lines = read(
        &windows,
        &SourceOptions {
            text_unit: TextUnit::Line,
            encoding: Encoding::Windows1252,
            ..SourceOptions::default()
        },
    );
    assert_eq!(lines[0].0, "“Curly quotes” cost 5 €… naïve café");
}

#[test]
fn csv_with_a_header_in_every_encoding_reads_back_the_same_rows() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [
        ("“Curly quotes”, 5 €", 1),
        ("a \"quoted\" word – naïve", 2),
        ("line\r\nbreak ‘inside’ ™", 3),
    ];
    let mut text = "text,label\r\n".to_owned();
    for (t, label) in rows {
        text.push_str(&format!("{},{label}\r\n", quote(t)));
    }
    let opts = SourceOptions {
        text_columns: vec!["text".into()],
        label_column: Some("label".into()),
        ..SourceOptions::default()
    };
    let want: Vec<(String, Option<i64>)> = rows
        .iter()
        .map(|(t, l)| ((*t).to_owned(), Some(*l)))
        .collect();
    for (name, encoding, bytes) in encoded(&text) {
        let path = dir.path().join(format!("{name}.csv"));
        std::fs::write(&path, &bytes).unwrap();
        let opts = with_encoding(encoding, opts.clone());
        // The header is found through the decoding, not mistaken for AG News.
        assert_eq!(
            CsvHeader::detect(&path, &opts).unwrap(),
            CsvHeader::FromFile,
            "{name}"
        );
        assert_eq!(read(&path, &opts), want, "{name}");
        // Converted to Parquet, the strings are UTF-8.
        let texts = via_parquet(&path, encoding, 3);
        assert_eq!(texts, rows.map(|(t, _)| t.to_owned()), "{name}");
    }
}

#[test]
fn json_lines_in_every_encoding_read_back_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for (i, t) in ["“Curly quotes” 5 €", "naïve café – ™", "Ÿ … ‘x’"]
        .iter()
        .enumerate()
    {
        // serde_json leaves non-ASCII characters as they are: the encoding must carry them.
        text.push_str(&serde_json::json!({"text": t, "label": i}).to_string());
        text.push_str("\r\n");
    }
    assert!(text.contains('€'));
    let opts = SourceOptions {
        label_column: Some("label".into()),
        ..SourceOptions::default()
    };
    let utf8 = dir.path().join("utf8.jsonl");
    std::fs::write(&utf8, &text).unwrap();
    let want = read(&utf8, &opts);
    assert_eq!(want.len(), 3);
    assert_eq!(want[0].0, "“Curly quotes” 5 €");
    for (name, encoding, bytes) in encoded(&text) {
        let path = dir.path().join(format!("{name}.jsonl"));
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(
            read(&path, &with_encoding(encoding, opts.clone())),
            want,
            "{name}"
        );
    }
    // Without an extension, the first characters tell JSON Lines from text once decoded.
    let bare = dir.path().join("records");
    std::fs::write(&bare, utf16(&text, true, true)).unwrap();
    assert_eq!(Format::detect(&bare).unwrap(), Format::Jsonl);
    let bare_le = dir.path().join("records-le");
    std::fs::write(&bare_le, utf16(&text, false, false)).unwrap();
    let source = Source::open(&bare_le, &with_encoding(Encoding::Utf16Le, opts)).unwrap();
    assert_eq!(source.format(), Format::Jsonl);
}

#[test]
fn gzip_compressed_utf16_reads_as_the_plain_file_and_is_no_binary_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("corpus");
    std::fs::create_dir(&files).unwrap();
    std::fs::write(files.join("a.txt"), WINDOWS_TEXT).unwrap();
    std::fs::write(
        files.join("b.txt.gz"),
        gzip(&utf16(WINDOWS_TEXT, false, true)),
    )
    .unwrap();
    std::fs::write(files.join("c-gz"), gzip(&utf16(WINDOWS_TEXT, true, true))).unwrap();
    let source = Source::open(&files, &SourceOptions::default()).unwrap();
    // UTF-16 holds NUL bytes, but a byte-order mark says it is text.
    assert!(source.skipped().is_empty(), "{:?}", source.skipped());
    let docs = read(&files, &SourceOptions::default());
    assert_eq!(docs.len(), 3);
    let want = WINDOWS_TEXT.replace("\r\n", "\n");
    assert!(docs.iter().all(|(t, _)| *t == want), "{docs:?}");
}

/// A reader that hands out its bytes in reads of the given sizes, in turn.
struct Chunked {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    next: usize,
}

impl Chunked {
    fn new(data: Vec<u8>, sizes: &[usize]) -> BufReader<Chunked> {
        BufReader::new(Chunked {
            data,
            pos: 0,
            sizes: sizes.to_vec(),
            next: 0,
        })
    }
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let size = self.sizes[self.next % self.sizes.len()].max(1);
        self.next += 1;
        let n = size.min(buf.len()).min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Everything `encoding` makes of `bytes` handed out in reads of `sizes`.
fn decode(bytes: Vec<u8>, encoding: Encoding, sizes: &[usize]) -> std::io::Result<String> {
    let mut out = String::new();
    encoding
        .decode(Chunked::new(bytes, sizes))?
        .read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn characters_split_between_reads_decode_whole() {
    // Surrogate pairs (🐳, 𝄞), three-byte UTF-8 (€) and four-byte UTF-8.
    let text = "a🐳b€c𝄞\r\nd “e” 🐳🐳 ÿ";
    for sizes in [&[1][..], &[2], &[3], &[1, 2], &[3, 1, 4], &[5, 7]] {
        for big in [false, true] {
            let bytes = utf16(text, big, true);
            assert_eq!(decode(bytes, Encoding::Utf16, sizes).unwrap(), text);
        }
        let bytes = utf16(text, false, false);
        assert_eq!(decode(bytes, Encoding::Utf16Le, sizes).unwrap(), text);
        assert_eq!(
            decode(text.as_bytes().to_vec(), Encoding::Utf8, sizes).unwrap(),
            text
        );
        let latin = "ÿ€“”…";
        assert_eq!(
            decode(windows_1252(latin), Encoding::Windows1252, sizes).unwrap(),
            latin
        );
    }
}

/// `decode` drops a UTF-8 byte-order mark, even handed out a byte at a time, but only at the
/// start; Latin-1 reads the same bytes as the characters they are.
#[test]
fn decode_drops_a_leading_utf8_byte_order_mark() {
    let marked = b"\xEF\xBB\xBFcaf\xC3\xA9 \xEF\xBB\xBF".to_vec();
    for sizes in [&[1][..], &[2], &[64]] {
        assert_eq!(
            decode(marked.clone(), Encoding::Utf8, sizes).unwrap(),
            "café \u{feff}"
        );
        assert_eq!(
            decode(marked.clone(), Encoding::Latin1, sizes).unwrap(),
            "ï»¿cafÃ© ï»¿"
        );
    }
    assert_eq!(
        decode(vec![0xEF, 0xBB], Encoding::Utf8, &[1])
            .unwrap_err()
            .kind(),
        std::io::ErrorKind::InvalidData
    );
}

#[test]
fn a_surrogate_pair_across_the_file_read_buffer_decodes_whole() {
    // The stream under the readers reads 256 KiB at a time: after the 2-byte mark and 131,070
    // units, the pair's high surrogate ends the first read and its low one starts the next.
    let mut text = "a".repeat(131_070);
    text.push_str("🐳 whale\nnext line 🐳\n");
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("plain.txt", utf16(&text, false, true)),
        ("big.txt", utf16(&text, true, true)),
        ("packed.txt.gz", gzip(&utf16(&text, false, true))),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let lines = read(
            &path,
            &SourceOptions {
                text_unit: TextUnit::Line,
                ..SourceOptions::default()
            },
        );
        let got: Vec<&str> = lines.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(
            got,
            [&text[..text.find('\n').unwrap()], "next line 🐳"],
            "{name}"
        );
    }
}

#[test]
fn bytes_that_are_not_utf8_name_the_line_and_the_byte_and_suggest_an_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let text = "fine\nstill fine\r\nbroken “here”\n";
    let bytes = windows_1252(text);
    // "fine\n" (5) + "still fine\r\n" (12) + "broken " (7): the quote is byte 24.
    assert_eq!(bytes[24], 0x93);
    let path = dir.path().join("bad.txt");
    std::fs::write(&path, &bytes).unwrap();
    for unit in [TextUnit::File, TextUnit::Line, TextUnit::Paragraph] {
        let opts = SourceOptions {
            text_unit: unit,
            ..SourceOptions::default()
        };
        let err = read_error(&path, &opts);
        assert!(err.contains("bad.txt: line 3: "), "{unit:?}: {err}");
        assert!(err.contains("not valid UTF-8 at byte 24 (0x93)"), "{err}");
        assert!(
            err.contains("name it (SourceOptions::encoding): windows-1252"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        let read_back = read(&path, &with_encoding(Encoding::Windows1252, opts));
        assert!(read_back.iter().any(|(t, _)| t.contains("broken “here”")));
    }
    // Compressed: the offset is in the decompressed text.
    let packed = dir.path().join("bad.txt.gz");
    std::fs::write(&packed, gzip(&bytes)).unwrap();
    let err = read_error(&packed, &SourceOptions::default());
    assert!(
        err.contains("line 3: the text is not valid UTF-8 at byte 24 (0x93)"),
        "{err}"
    );
    // CSV and JSON Lines alike.
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, windows_1252("text,label\n“x”,1\n")).unwrap();
    let opts = SourceOptions {
        text_columns: vec!["text".into()],
        ..SourceOptions::default()
    };
    let err = read_error(&csv, &opts);
    assert!(err.contains("bad.csv: line 2: "), "{err}");
    assert!(err.contains("at byte 11 (0x93)"), "{err}");
    assert!(
        err.contains("name it (SourceOptions::encoding): windows-1252"),
        "{err}"
    );
    // In the header itself, found while the header is looked for.
    let head = dir.path().join("head.csv");
    std::fs::write(&head, windows_1252("“text”,label\nx,1\n")).unwrap();
    let err = Source::open(&head, &opts).unwrap_err().to_string();
    assert!(err.contains("head.csv: line 1: "), "{err}");
    assert!(err.contains("at byte 0 (0x93)"), "{err}");
    let jsonl = dir.path().join("bad.jsonl");
    std::fs::write(
        &jsonl,
        windows_1252("{\"text\": \"ok\"}\n{\"text\": \"“x”\"}\n"),
    )
    .unwrap();
    let err = read_error(&jsonl, &SourceOptions::default());
    assert!(err.contains("bad.jsonl: line 2: "), "{err}");
    assert!(err.contains("at byte 25 (0x93)"), "{err}");
    // A character cut short by the end of the file.
    let cut = dir.path().join("cut.txt");
    std::fs::write(&cut, b"ok \xE2\x82").unwrap();
    let err = read_error(&cut, &SourceOptions::default());
    assert!(err.contains("at byte 3 (0xE2 0x82"), "{err}");
}

#[test]
fn bad_utf16_names_the_byte() {
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, bytes: &[u8], encoding: Encoding, words: &[&str]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = read_error(&path, &with_encoding(encoding, SourceOptions::default()));
        for w in words {
            assert!(err.contains(w), "{name}: {err}");
        }
        assert!(!err.contains('\n'), "{err}");
    };
    // An odd number of bytes: the last one is half a code unit.
    let mut odd = utf16("ab\nc", false, true);
    odd.push(b'd');
    check(
        "odd.txt",
        &odd,
        Encoding::Utf8,
        &[
            "odd.txt: line 2: ",
            "not valid UTF-16 at byte 10",
            "odd number of bytes",
        ],
    );
    check(
        "odd-le.txt",
        &[b'a', 0, b'b'],
        Encoding::Utf16Le,
        &["at byte 2", "odd number of bytes"],
    );
    // A high surrogate followed by a letter, a low one alone, a high one at the end.
    check(
        "high.txt",
        &[0xFF, 0xFE, b'a', 0, 0x00, 0xD8, b'b', 0],
        Encoding::Utf8,
        &["line 1: ", "at byte 4", "unpaired surrogate (0xD800)"],
    );
    check(
        "low.txt",
        &[0xFE, 0xFF, 0xDC, 0x00],
        Encoding::Utf16,
        &["at byte 2", "unpaired surrogate (0xDC00)"],
    );
    check(
        "end.txt",
        &[0xD8, 0x3D],
        Encoding::Utf16Be,
        &["at byte 0", "unpaired surrogate (0xD83D)"],
    );
    // A mark of the other byte order than the one named.
    check(
        "other.txt",
        &utf16("x", true, true),
        Encoding::Utf16Le,
        &["UTF-16BE byte-order mark", "utf-16le"],
    );
}

#[test]
fn parquet_refuses_another_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("titles.parquet");
    write_parquet(&path, vec![("text", strings(&[Some("a")]))], 10);
    assert!(Source::open(&path, &SourceOptions::default()).is_ok());
    let err = Source::open(
        &path,
        &with_encoding(Encoding::Latin1, SourceOptions::default()),
    )
    .unwrap_err();
    assert!(matches!(err, DataError::Input { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("titles.parquet"), "{message}");
    assert!(message.contains("UTF-8 by format"), "{message}");
    assert!(message.contains("latin-1"), "{message}");
    assert!(!message.contains("--"), "no command-line flag: {message}");
}

/// The store of `source` at `path`, and whether it was reused.
fn store(path: &Path, source: &Source) -> (Vec<u32>, bool) {
    let key = store_key(source.fingerprint().unwrap(), b"vocab");
    let opts = BuildOptions {
        vocab_size: 70_000,
        unk_id: None,
    };
    let mut encode = |t: &str, out: &mut Vec<u32>| {
        out.extend(t.chars().map(|c| u32::from(c) % 65_536 + 1));
        Ok(())
    };
    let (store, status) =
        Store::open_or_build(path, key, source, &opts, &mut encode, &mut |_| {}).unwrap();
    (store.doc_ids(0).to_vec(), status == StoreStatus::Reused)
}

#[test]
fn another_encoding_is_another_fingerprint_and_rebuilds_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.txt");
    std::fs::write(&path, windows_1252("“quoted” €")).unwrap();
    let open = |encoding| Source::open(&path, &with_encoding(encoding, SourceOptions::default()));
    let latin = open(Encoding::Latin1).unwrap();
    let windows = open(Encoding::Windows1252).unwrap();
    let default = open(Encoding::Utf8).unwrap();
    let prints = [&latin, &windows, &default].map(|s| s.fingerprint().unwrap());
    assert_ne!(prints[0], prints[1]);
    assert_ne!(prints[0], prints[2]);
    assert_ne!(prints[1], prints[2]);
    // The default options keep the fingerprint they always had: no encoding is written.
    assert_eq!(
        prints[2],
        Source::open(&path, &SourceOptions::default())
            .unwrap()
            .fingerprint()
            .unwrap()
    );
    let store_path = dir.path().join("t.store");
    let (as_latin, reused) = store(&store_path, &latin);
    assert!(!reused);
    assert!(store(&store_path, &latin).1, "the same reading reuses it");
    let (as_windows, reused) = store(&store_path, &windows);
    assert!(!reused, "another encoding rebuilds it");
    assert_ne!(as_latin, as_windows);
    assert_eq!(as_windows[0], u32::from('“') + 1);
}

#[test]
fn encoding_names_read_back() {
    for (name, encoding) in [
        ("utf-8", Encoding::Utf8),
        ("UTF-16", Encoding::Utf16),
        ("utf-16le", Encoding::Utf16Le),
        ("Utf-16BE", Encoding::Utf16Be),
        ("latin-1", Encoding::Latin1),
        ("ISO-8859-1", Encoding::Latin1),
        ("windows-1252", Encoding::Windows1252),
        ("CP1252", Encoding::Windows1252),
    ] {
        assert_eq!(name.parse::<Encoding>(), Ok(encoding));
        assert_eq!(encoding.to_string().parse::<Encoding>(), Ok(encoding));
    }
    assert_eq!(Encoding::default(), Encoding::Utf8);
    let err = "koi8-r".parse::<Encoding>().unwrap_err();
    assert!(err.contains("windows-1252"), "{err}");
}

proptest! {
    /// Any text in UTF-16 with a byte-order mark, handed out in reads of any sizes, reads back
    /// as itself, with the encoding named or detected from the mark.
    #[test]
    fn any_text_in_utf16_reads_back_whatever_the_reads(
        text in any::<String>(),
        sizes in proptest::collection::vec(1usize..10, 1..6),
        big_endian in any::<bool>(),
        named in any::<bool>(),
    ) {
        let encoding = if named { Encoding::Utf16 } else { Encoding::Utf8 };
        let bytes = utf16(&text, big_endian, true);
        prop_assert_eq!(decode(bytes, encoding, &sizes).unwrap(), text.clone());
        let bytes = utf16(&text, big_endian, false);
        let order = if big_endian { Encoding::Utf16Be } else { Encoding::Utf16Le };
        // Without a mark, the byte order is the one named (a text that starts with U+FEFF or
        // U+FFFE would begin with a mark).
        if !text.starts_with(['\u{FEFF}', '\u{FFFE}']) {
            prop_assert_eq!(decode(bytes, order, &sizes).unwrap(), text);
        }
    }
}

/// UTF-16 without a byte-order mark is no UTF-8 full of NUL characters: read by default, it
/// is refused with its byte order named; named, it reads. Text shorter than 8 bytes, or with
/// NULs at no regular position, is left to the UTF-8 check.
#[test]
fn utf16_without_a_byte_order_mark_is_named_not_read_as_nul_characters() {
    let dir = tempfile::tempdir().unwrap();
    let text = "It was the best of times,\nit was the worst of times.\n";
    for (big, order, encoding) in [
        (false, "UTF-16LE", Encoding::Utf16Le),
        (true, "UTF-16BE", Encoding::Utf16Be),
    ] {
        let path = dir.path().join(format!("{order}.txt"));
        std::fs::write(&path, utf16(text, big, false)).unwrap();
        let err = read_error(&path, &SourceOptions::default());
        assert!(
            err.contains(&format!("looks like {order} without a byte-order mark")),
            "{err}"
        );
        assert!(
            err.contains(&format!(
                "(SourceOptions::encoding): {}",
                order.to_lowercase()
            )),
            "{err}"
        );
        let named = read(&path, &with_encoding(encoding, SourceOptions::default()));
        assert_eq!(named, read_plain(text, dir.path()));
    }
    // Too short to tell, and plain ASCII, read as before.
    let short = dir.path().join("short.txt");
    std::fs::write(&short, utf16("ab", false, false)).unwrap();
    assert_eq!(read(&short, &SourceOptions::default()).len(), 1);
}

/// `text` read as a plain UTF-8 file of its own.
fn read_plain(text: &str, dir: &Path) -> Vec<(String, Option<i64>)> {
    let path = dir.join("plain.txt");
    std::fs::write(&path, text).unwrap();
    read(&path, &SourceOptions::default())
}

/// The doubt `encoding` has about `bytes`, which there must be.
fn doubt(encoding: Encoding, bytes: &[u8]) -> EncodingDoubt {
    encoding
        .doubt(bytes)
        .unwrap_or_else(|| panic!("{encoding} doubts {:?}", String::from_utf8_lossy(bytes)))
}

#[test]
fn utf8_read_as_latin1_or_windows_1252_is_doubted_at_its_first_character_of_several_bytes() {
    let text = "plain café, “quoted”\n".as_bytes();
    for encoding in [Encoding::Latin1, Encoding::Windows1252] {
        let d = doubt(encoding, text);
        assert_eq!(d.encoding, encoding);
        assert_eq!(d.likely, Encoding::Utf8);
        assert_eq!(d.checked, text.len());
        assert_eq!(d.offset, 9);
        assert_eq!(d.bytes, [0xC3, 0xA9]);
        assert_eq!((d.as_likely.as_str(), d.as_read.as_str()), ("é", "Ã©"));
        let message = d.to_string();
        for words in [
            "looks like UTF-8",
            "0xC3 0xA9 at byte 9",
            "\"é\" in UTF-8",
            &format!("\"Ã©\" in {encoding}"),
            "if the file is UTF-8, read it as utf-8",
        ] {
            assert!(message.contains(words), "{words:?}: {message}");
        }
        assert!(!message.contains("--"), "no command-line flag: {message}");
        assert!(!message.to_lowercase().starts_with("warning"), "{message}");
        assert!(!message.contains('\n'), "{message}");
    }
    // Where the two differ, each shows its own reading of the same bytes.
    let quote = "“quoted”".as_bytes();
    let windows = doubt(Encoding::Windows1252, quote);
    let latin = doubt(Encoding::Latin1, quote);
    assert_eq!(windows.bytes, [0xE2, 0x80, 0x9C]);
    assert_eq!(windows.as_read, "â€œ");
    assert_eq!(latin.as_read, "â\u{80}\u{9C}");
    assert!(
        windows.to_string().contains("\"â€œ\" in windows-1252"),
        "{windows}"
    );
    // The control characters Latin-1 makes of them are escaped, not written out.
    assert!(
        latin.to_string().contains("\"â\\u{80}\\u{9c}\" in latin-1"),
        "{latin}"
    );
}

#[test]
fn real_latin1_windows_1252_ascii_and_utf8_raise_no_doubt() {
    assert_eq!(Encoding::Latin1.doubt(b"caf\xE9 au lait"), None);
    assert_eq!(Encoding::Windows1252.doubt(b"\x93caf\xE9\x94"), None);
    for text in [WINDOWS_TEXT, LATIN_TEXT] {
        for (name, encoding, bytes) in encoded(text) {
            assert_eq!(encoding.doubt(&bytes), None, "{name}");
        }
    }
    let ascii = b"It was the best of times,\r\nit was the worst of times.\n";
    for encoding in [Encoding::Utf8, Encoding::Latin1, Encoding::Windows1252] {
        assert_eq!(encoding.doubt(ascii), None, "{encoding}");
        assert_eq!(encoding.doubt(b""), None, "{encoding}");
    }
    // UTF-8 is never doubted, whatever the bytes.
    for bytes in [
        WINDOWS_TEXT.as_bytes(),
        &latin1(LATIN_TEXT),
        &[0, 0xFF, 0xFE],
    ] {
        assert_eq!(Encoding::Utf8.doubt(bytes), None);
    }
}

#[test]
fn a_character_cut_at_the_end_of_the_first_bytes_is_no_failure() {
    // "…é ok €" cut inside the euro sign: what comes before it is valid UTF-8.
    let mut prefix = "déjà vu, ok ".as_bytes().to_vec();
    prefix.extend_from_slice(&"€".as_bytes()[..2]);
    for encoding in [Encoding::Latin1, Encoding::Windows1252] {
        let d = doubt(encoding, &prefix);
        assert_eq!((d.offset, d.as_likely.as_str()), (1, "é"));
        assert_eq!(d.checked, prefix.len());
    }
    // The cut character alone is no evidence (a Latin-1 file may end in "Ã"), and no error.
    assert_eq!(Encoding::Latin1.doubt(b"plain ascii \xC3"), None);
    assert_eq!(Encoding::Windows1252.doubt(b"plain ascii \xE2\x82"), None);
    let d = doubt(Encoding::Utf16Le, b"plain ascii \xE2\x82");
    assert_eq!(d.offset, 0);
    // A character cut by the 64 KiB a source looks at, after an é: the é is named.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.txt");
    let mut text = "résumé ".to_owned();
    text.push_str(&"a".repeat(EncodingDoubt::CHECKED_BYTES - text.len() - 1));
    text.push_str("€ and more");
    assert_eq!(text.as_bytes()[EncodingDoubt::CHECKED_BYTES - 1], 0xE2);
    std::fs::write(&path, &text).unwrap();
    let source = Source::open(
        &path,
        &with_encoding(Encoding::Latin1, SourceOptions::default()),
    )
    .unwrap();
    let doubts = source.encoding_doubts().unwrap();
    assert_eq!(doubts.len(), 1, "{doubts:?}");
    assert_eq!(doubts[0].0, path);
    assert_eq!(
        (doubts[0].1.offset, doubts[0].1.as_read.as_str()),
        (1, "Ã©")
    );
    assert_eq!(doubts[0].1.checked, EncodingDoubt::CHECKED_BYTES);
}

#[test]
fn utf16_named_for_utf8_without_a_byte_order_mark_is_doubted() {
    let text = "It was the best of times,\nit was the worst of times.\n";
    for (encoding, as_read) in [
        (Encoding::Utf16Le, "\u{7449}"),
        (Encoding::Utf16, "\u{7449}"),
        (Encoding::Utf16Be, "\u{4974}"),
    ] {
        let d = doubt(encoding, text.as_bytes());
        assert_eq!((d.offset, d.bytes.as_slice()), (0, &b"It"[..]));
        assert_eq!((d.as_likely.as_str(), d.as_read.as_str()), ("It", as_read));
        assert_eq!(d.likely, Encoding::Utf8);
        let message = d.to_string();
        assert!(message.contains(&format!("not {encoding}")), "{message}");
        assert!(message.contains("no NUL byte"), "{message}");
        assert!(message.contains("read it as utf-8"), "{message}");
        // Real UTF-16, with a mark or without, is not doubted.
        for big in [false, true] {
            for bom in [false, true] {
                let bytes = utf16(text, big, bom);
                assert_eq!(encoding.doubt(&bytes), None, "{encoding} {big} {bom}");
            }
        }
        // Nor is text too short to tell, nor a mark, nor bytes that are no UTF-8.
        assert_eq!(encoding.doubt(b"It was"), None);
        assert_eq!(encoding.doubt(b"\xFF\xFEIt was the best"), None);
        assert_eq!(
            encoding.doubt(&utf16("中文的文字中文的文字", false, false)),
            None
        );
    }
    // Text that starts with a character of three bytes shows whole code units.
    let d = doubt(Encoding::Utf16Le, "€uro zone text".as_bytes());
    assert_eq!(d.as_likely, "€u");
    assert_eq!(d.bytes.len(), 4);
    assert_eq!(d.as_read.chars().count(), 2);
}

#[test]
fn a_source_doubts_only_its_utf8_files() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("corpus");
    std::fs::create_dir(&files).unwrap();
    let utf8 = files.join("a-utf8.txt");
    std::fs::write(&utf8, LATIN_TEXT).unwrap();
    std::fs::write(files.join("b-latin.txt"), latin1(LATIN_TEXT)).unwrap();
    std::fs::write(files.join("c-ascii.txt"), "plain text\n").unwrap();
    let latin = with_encoding(Encoding::Latin1, SourceOptions::default());
    let source = Source::open(&files, &latin).unwrap();
    assert_eq!(source.files().len(), 3);
    let doubts = source.encoding_doubts().unwrap();
    assert_eq!(doubts.len(), 1, "{doubts:?}");
    let (path, d) = &doubts[0];
    assert_eq!(path, &utf8);
    // "naïve": the ï is bytes 2 and 3.
    assert_eq!(
        (d.offset, d.as_likely.as_str(), d.as_read.as_str()),
        (2, "ï", "Ã¯")
    );
    // Read as UTF-8 (the default), nothing is doubted.
    let source = Source::open(&utf8, &SourceOptions::default()).unwrap();
    assert!(source.encoding_doubts().unwrap().is_empty());
    // The same for CSV.
    let csv = dir.path().join("rows.csv");
    std::fs::write(&csv, "text,label\nsmörgåsbord,1\n").unwrap();
    let opts = SourceOptions {
        text_columns: vec!["text".into()],
        ..with_encoding(Encoding::Windows1252, SourceOptions::default())
    };
    let doubts = Source::open(&csv, &opts)
        .unwrap()
        .encoding_doubts()
        .unwrap();
    assert_eq!(doubts.len(), 1, "{doubts:?}");
    assert_eq!(
        (doubts[0].1.offset, doubts[0].1.as_read.as_str()),
        (13, "Ã¶")
    );
}

#[test]
fn a_compressed_file_is_doubted_after_decompression() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("packed.txt.gz");
    std::fs::write(&path, gzip("plain café\n".as_bytes())).unwrap();
    let opts = with_encoding(Encoding::Windows1252, SourceOptions::default());
    let doubts = Source::open(&path, &opts)
        .unwrap()
        .encoding_doubts()
        .unwrap();
    assert_eq!(doubts.len(), 1, "{doubts:?}");
    assert_eq!(
        (doubts[0].1.offset, doubts[0].1.bytes.as_slice()),
        (9, &[0xC3, 0xA9][..])
    );
    assert_eq!(doubts[0].1.checked, "plain café\n".len());
}

#[test]
fn only_the_first_64_kib_are_looked_at() {
    let dir = tempfile::tempdir().unwrap();
    let opts = with_encoding(Encoding::Latin1, SourceOptions::default());
    // The é starts at the first byte not looked at, then at the last one looked at (cut).
    for (name, ascii, doubted) in [
        ("late.txt", EncodingDoubt::CHECKED_BYTES, false),
        ("cut.txt", EncodingDoubt::CHECKED_BYTES - 1, false),
        ("early.txt", EncodingDoubt::CHECKED_BYTES - 2, true),
    ] {
        let path = dir.path().join(name);
        let text = format!("{}é{}", "a".repeat(ascii), "b".repeat(100_000));
        std::fs::write(&path, &text).unwrap();
        for path in [path.clone(), dir.path().join(format!("{name}.gz"))] {
            if path.extension().is_some_and(|e| e == "gz") {
                std::fs::write(&path, gzip(text.as_bytes())).unwrap();
            }
            let doubts = Source::open(&path, &opts)
                .unwrap()
                .encoding_doubts()
                .unwrap();
            assert_eq!(doubts.len(), usize::from(doubted), "{name}: {doubts:?}");
            if let Some((_, d)) = doubts.first() {
                assert_eq!(d.offset, ascii);
                assert_eq!(d.checked, EncodingDoubt::CHECKED_BYTES);
            }
        }
    }
}

#[test]
fn a_file_gone_before_the_check_is_an_io_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.txt");
    std::fs::write(&path, "café").unwrap();
    let source = Source::open(
        &path,
        &with_encoding(Encoding::Latin1, SourceOptions::default()),
    )
    .unwrap();
    std::fs::remove_file(&path).unwrap();
    let err = source.encoding_doubts().unwrap_err();
    assert!(matches!(err, DataError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("gone.txt"), "{err}");
}

/// Every document of `path` read with `opts` in `encoding`.
fn read_in(path: &Path, encoding: Encoding, opts: &SourceOptions) -> Vec<(String, Option<i64>)> {
    read(path, &with_encoding(encoding, opts.clone()))
}

/// A folder of mixed encodings, read with `auto`, gives the documents of each file read in its
/// own encoding, and `encodings_chosen` names each file's.
#[test]
fn auto_reads_each_file_of_a_mixed_folder_in_its_own_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("notes");
    std::fs::create_dir(&files).unwrap();
    let texts = [
        "new note, café\nwith é twice: é\n",
        "“Curly quotes” and café\r\nold note – 5 €\r\n",
        "from Notepad: naïve ‘quotes’\r\nsecond line 🐳\r\n",
        "big-endian, no mark: résumé\nlast line\n",
    ];
    let written = [
        ("a-utf8.txt", texts[0].as_bytes().to_vec(), Encoding::Utf8),
        (
            "b-windows.txt",
            windows_1252(texts[1]),
            Encoding::Windows1252,
        ),
        (
            "c-utf16le-bom.txt",
            utf16(texts[2], false, true),
            Encoding::Utf16Le,
        ),
        (
            "d-utf16be.txt",
            utf16(texts[3], true, false),
            Encoding::Utf16Be,
        ),
    ];
    let opts = SourceOptions {
        text_unit: TextUnit::Line,
        ..SourceOptions::default()
    };
    let mut want = Vec::new();
    for (name, bytes, encoding) in &written {
        let path = files.join(name);
        std::fs::write(&path, bytes).unwrap();
        want.extend(read_in(&path, *encoding, &opts));
    }
    assert_eq!(want.len(), 8, "{want:?}");
    assert_eq!(want[2].0, "“Curly quotes” and café");
    let source = Source::open(&files, &with_encoding(Encoding::Auto, opts.clone())).unwrap();
    assert!(source.skipped().is_empty(), "{:?}", source.skipped());
    let got: Vec<(String, Option<i64>)> = source
        .records()
        .map(|r| r.map(|r| (r.text, r.label)).unwrap())
        .collect();
    assert_eq!(got, want);
    let chosen = source.encodings_chosen().unwrap();
    let expected: Vec<_> = written
        .iter()
        .map(|(name, _, encoding)| (files.join(name), *encoding))
        .collect();
    assert_eq!(chosen, expected);
    // It chose per file: nothing to doubt.
    assert!(source.encoding_doubts().unwrap().is_empty());
    // A named encoding is every file's, without reading them.
    let named = Source::open(&files, &with_encoding(Encoding::Windows1252, opts)).unwrap();
    assert!(
        named
            .encodings_chosen()
            .unwrap()
            .iter()
            .all(|(_, e)| *e == Encoding::Windows1252)
    );
}

/// UTF-8 that `auto` chose from the first 64 KiB and that breaks further on is an error naming
/// the line, what auto chose and from how many bytes, and the encoding to name.
#[test]
fn auto_utf8_that_breaks_after_the_first_64_kib_says_what_auto_chose() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = "é".repeat(40_000).into_bytes();
    assert!(bytes.len() > Encoding::AUTO_BYTES);
    bytes.extend_from_slice(b"\nsecond line\ncaf\xE9 au lait\n");
    let at = 80_000 + 1 + 12 + 3;
    assert_eq!(bytes[at], 0xE9);
    let path = dir.path().join("late.txt");
    std::fs::write(&path, &bytes).unwrap();
    let auto = with_encoding(Encoding::Auto, SourceOptions::default());
    let source = Source::open(&path, &auto).unwrap();
    assert_eq!(
        source.encodings_chosen().unwrap(),
        [(path.clone(), Encoding::Utf8)]
    );
    let err = read_error(&path, &auto);
    for words in [
        "late.txt: line 3: ",
        &format!("not valid UTF-8 at byte {at} (0xE9)"),
        "auto chose utf-8 from the first 65536 bytes",
        "windows-1252",
    ] {
        assert!(err.contains(words), "{words:?}: {err}");
    }
    assert!(!err.contains('\n'), "{err}");
    // A character cut by the end of the first 64 KiB is no evidence against UTF-8 ...
    let cut = dir.path().join("cut.txt");
    let mut text = "a".repeat(Encoding::AUTO_BYTES - 1);
    text.push_str("é and more\n");
    std::fs::write(&cut, &text).unwrap();
    assert_eq!(read(&cut, &auto), [(text.clone(), None)]);
    // ... but one cut by the end of a short file is no UTF-8.
    let short = dir.path().join("short.txt");
    std::fs::write(&short, b"caf\xE9").unwrap();
    assert_eq!(read(&short, &auto), [("café".to_owned(), None)]);
}

#[test]
fn auto_reads_gzip_compressed_windows_1252() {
    let dir = tempfile::tempdir().unwrap();
    let want = WINDOWS_TEXT.replace("\r\n", "\n");
    let auto = with_encoding(Encoding::Auto, SourceOptions::default());
    // Compression told by the extension, and by the first bytes.
    for name in ["notes.txt.gz", "notes-gz"] {
        let path = dir.path().join(name);
        std::fs::write(&path, gzip(&windows_1252(WINDOWS_TEXT))).unwrap();
        assert_eq!(read(&path, &auto), [(want.clone(), None)], "{name}");
        let source = Source::open(&path, &auto).unwrap();
        assert_eq!(
            source.encodings_chosen().unwrap(),
            [(path.clone(), Encoding::Windows1252)]
        );
    }
}

#[test]
fn auto_csv_and_json_lines_read_right_and_parquet_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let rows = [("“Curly quotes”, 5 €", 1), ("naïve café – ™", 2)];
    let want: Vec<(String, Option<i64>)> = rows
        .iter()
        .map(|(t, l)| ((*t).to_owned(), Some(*l)))
        .collect();
    let mut csv = "text,label\r\n".to_owned();
    let mut jsonl = String::new();
    for (t, label) in rows {
        csv.push_str(&format!("{},{label}\r\n", quote(t)));
        jsonl.push_str(&serde_json::json!({"text": t, "label": label}).to_string());
        jsonl.push('\n');
    }
    let opts = SourceOptions {
        text_columns: vec!["text".into()],
        label_column: Some("label".into()),
        encoding: Encoding::Auto,
        ..SourceOptions::default()
    };
    for (name, encoding, bytes) in [
        ("utf8.csv", Encoding::Utf8, csv.as_bytes().to_vec()),
        ("windows.csv", Encoding::Windows1252, windows_1252(&csv)),
        ("utf8.jsonl", Encoding::Utf8, jsonl.as_bytes().to_vec()),
        ("windows.jsonl", Encoding::Windows1252, windows_1252(&jsonl)),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(read(&path, &opts), want, "{name}");
        let source = Source::open(&path, &opts).unwrap();
        assert_eq!(
            source.encodings_chosen().unwrap(),
            [(path.clone(), encoding)],
            "{name}"
        );
        if name.ends_with(".csv") {
            assert_eq!(
                CsvHeader::detect(&path, &opts).unwrap(),
                CsvHeader::FromFile
            );
            let texts = via_parquet(&path, Encoding::Auto, 2);
            assert_eq!(texts, rows.map(|(t, _)| t.to_owned()), "{name}");
        }
    }
    // Without an extension, JSON Lines in UTF-16 without a mark is told from text once auto
    // has decoded its first bytes.
    let bare = dir.path().join("records");
    std::fs::write(&bare, utf16(&jsonl, true, false)).unwrap();
    let source = Source::open(&bare, &opts).unwrap();
    assert_eq!(source.format(), Format::Jsonl);
    assert_eq!(read(&bare, &opts), want);
    // Parquet is UTF-8 by format: auto is accepted (and chooses UTF-8), another is refused.
    let pq = dir.path().join("titles.parquet");
    write_parquet(&pq, vec![("text", strings(&[Some("“a” é")]))], 10);
    let auto = with_encoding(Encoding::Auto, SourceOptions::default());
    let source = Source::open(&pq, &auto).unwrap();
    assert_eq!(
        source.encodings_chosen().unwrap(),
        [(pq.clone(), Encoding::Utf8)]
    );
    assert!(source.encoding_doubts().unwrap().is_empty());
    assert_eq!(read(&pq, &auto), [("“a” é".to_owned(), None)]);
    let windows = with_encoding(Encoding::Windows1252, SourceOptions::default());
    assert!(Source::open(&pq, &windows).is_err());
}

#[test]
fn auto_is_named_auto_and_chooses_from_the_first_bytes() {
    assert_eq!("auto".parse::<Encoding>(), Ok(Encoding::Auto));
    assert_eq!("AUTO".parse::<Encoding>(), Ok(Encoding::Auto));
    assert_eq!(Encoding::Auto.name(), "auto");
    assert_eq!(Encoding::Auto.to_string().parse(), Ok(Encoding::Auto));
    assert!(Encoding::ALL.contains(&Encoding::Auto));
    assert_eq!(Encoding::default(), Encoding::Utf8);
    let err = "koi8-r".parse::<Encoding>().unwrap_err();
    assert!(err.contains("auto"), "{err}");
    // What it chooses, in order: a mark, UTF-16 without one, UTF-8, else Windows-1252.
    let text = "It was the best of times, café\n";
    for (bytes, whole, chosen) in [
        (utf16(text, false, true), true, Encoding::Utf16Le),
        (utf16(text, true, true), true, Encoding::Utf16Be),
        (utf16(text, false, false), true, Encoding::Utf16Le),
        (utf16(text, true, false), true, Encoding::Utf16Be),
        (b"\xEF\xBB\xBFcaf\xE9".to_vec(), true, Encoding::Utf8),
        (text.as_bytes().to_vec(), true, Encoding::Utf8),
        (Vec::new(), true, Encoding::Utf8),
        (b"caf\xC3".to_vec(), false, Encoding::Utf8),
        (b"caf\xC3".to_vec(), true, Encoding::Windows1252),
        (windows_1252(WINDOWS_TEXT), false, Encoding::Windows1252),
        (latin1(LATIN_TEXT), false, Encoding::Windows1252),
    ] {
        let shown = String::from_utf8_lossy(&bytes).into_owned();
        assert_eq!(Encoding::Auto.resolve(&bytes, whole), chosen, "{shown:?}");
        // Another encoding is itself, whatever the bytes.
        assert_eq!(Encoding::Latin1.resolve(&bytes, whole), Encoding::Latin1);
    }
    // It doubts nothing: it chose.
    assert_eq!(Encoding::Auto.doubt(text.as_bytes()), None);
    // `decode` chooses too, however the bytes are handed out.
    for sizes in [&[1][..], &[3], &[4096]] {
        let got = decode(windows_1252(WINDOWS_TEXT), Encoding::Auto, sizes).unwrap();
        assert_eq!(got, WINDOWS_TEXT);
        let got = decode(utf16(text, true, false), Encoding::Auto, sizes).unwrap();
        assert_eq!(got, text);
        let got = decode(utf16(text, false, true), Encoding::Auto, sizes).unwrap();
        assert_eq!(got, text);
    }
}
