use std::{
    io::{BufRead, BufReader, Write},
    net::TcpListener,
    thread,
};

use serde_json::json;

use super::verify::Hasher;
use super::*;

/// The first line of what [`FakePrepare`] writes in place of Parquet.
const FAKE_PARQUET: &str = "fake parquet of";

/// Stands in for `charrnn prepare` (tested in the CLI): "converts" a CSV by copying it under a
/// header line, one row per line, into the AG News columns.
struct FakePrepare;

impl Convert for FakePrepare {
    fn convert(&self, csv: &Path, parquet: &Path) -> Result<(u64, Vec<String>)> {
        let bytes = fs::read(csv)?;
        let mut file = fs::File::create(parquet)?;
        writeln!(file, "{FAKE_PARQUET} {}", csv.display())?;
        file.write_all(&bytes)?;
        let rows = bytes.iter().filter(|&&b| b == b'\n').count() as u64;
        Ok((
            rows,
            ["label", "title", "description"].map(String::from).to_vec(),
        ))
    }
}

fn fetch(manifest: &Manifest, out: &Path, source: &Source, force: bool) -> Result<Vec<FileReport>> {
    super::fetch(manifest, out, source, force, &FakePrepare)
}

const TRAIN: &[u8] = b"\"1\",\"Talks resume (Reuters)\",\"Reuters - Negotiators met again\\on Monday, saying \"\"progress\"\" was made.\"
\"2\",\"Late goal wins it\",\"A header in the 90th minute settled the match.\"
\"3\",\"Stocks rally\",\"Shares rose  #36;2 as oil fell.\"
\"4\",\"New chip unveiled\",\"The company said the part, due in 2005, is faster.\"
\"1\",\"Election day\",\"Voters queued, some for hours,\\at polling stations.\"
\"2\",\"Record broken\",\"A sprinter ran 9.7 seconds.\"
";
const TEST: &[u8] = b"\"3\",\"Fed holds rates\",\"The central bank left rates unchanged.\"
\"4\",\"Probe reaches orbit\",\"A small probe reached orbit on Tuesday.\"
\"1\",\"Summit ends\",\"Leaders signed a short statement.\"
";

fn digests(bytes: &[u8]) -> Digests {
    let mut hasher = Hasher::default();
    hasher.update(bytes);
    hasher.finish()
}

/// A manifest (through the real parser) for `(name, md5, rows)`, with unusable URLs.
fn manifest(files: &[(&str, &str, u64)]) -> Manifest {
    let files: Vec<Value> = files
        .iter()
        .map(|(name, md5, rows)| {
            json!({
                "name": name,
                "url": format!("http://127.0.0.1:9/{name}"),
                "md5": md5,
                "rows": rows,
                "parquet": name.replace(".csv", ".parquet"),
            })
        })
        .collect();
    let text = json!({
        "name": "ag_news",
        "licence": "test only",
        "columns": ["label", "title", "description"],
        "files": files,
    });
    Manifest::parse(&text.to_string()).unwrap()
}

/// The manifest of the two fixture files, with their true checksums and row counts.
fn fixture_manifest() -> Manifest {
    manifest(&[
        ("train.csv", &digests(TRAIN).md5, 6),
        ("test.csv", &digests(TEST).md5, 3),
    ])
}

#[derive(Clone, Copy)]
enum Serve {
    Whole,
    /// Announce the whole Content-Length, send half the body, close the connection.
    Half,
}

/// Serves `files` at `BASE/NAME` on 127.0.0.1 for the rest of the test run; returns BASE.
fn serve(files: Vec<(&'static str, Vec<u8>)>, mode: Serve) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let Ok(clone) = stream.try_clone() else {
                continue;
            };
            let mut reader = BufReader::new(clone);
            let mut request = String::new();
            if reader.read_line(&mut request).is_err() {
                continue;
            }
            loop {
                let mut header = String::new();
                match reader.read_line(&mut header) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if header == "\r\n" => break,
                    Ok(_) => {}
                }
            }
            let path = request.split_whitespace().nth(1).unwrap_or_default();
            let found = files.iter().find(|(name, _)| path == format!("/{name}"));
            let _ = match found {
                Some((_, body)) => {
                    let sent = match mode {
                        Serve::Whole => body.len(),
                        Serve::Half => body.len() / 2,
                    };
                    write!(
                        stream,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .and_then(|()| stream.write_all(&body[..sent]))
                }
                None => stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    base
}

/// A URL base on a local port nothing listens on: every connection is refused.
fn closed_base() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn network(base: &str) -> Source {
    Source::Network {
        base_url: Some(base.to_owned()),
    }
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// The CSV rows a (fake) Parquet file holds.
fn parquet_rows(path: &Path) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert!(
        lines.next().unwrap().starts_with(FAKE_PARQUET),
        "{}",
        path.display()
    );
    lines.map(str::to_owned).collect()
}

fn check_parquet(path: &Path, rows: usize) {
    assert_eq!(parquet_rows(path).len(), rows, "{}", path.display());
}

#[test]
fn downloads_verifies_converts_and_then_does_nothing() {
    let base = serve(
        vec![("train.csv", TRAIN.to_vec()), ("test.csv", TEST.to_vec())],
        Serve::Whole,
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ag_news");
    let reports = fetch(&fixture_manifest(), &out, &network(&base), false).unwrap();
    let summary: Vec<_> = reports
        .iter()
        .map(|r| (r.name.as_str(), r.rows, r.up_to_date, r.warnings.len()))
        .collect();
    assert_eq!(
        summary,
        [("train.csv", 6, false, 0), ("test.csv", 3, false, 0)]
    );
    assert_eq!(
        names_in(&out),
        [
            "SOURCE.json",
            "test.csv",
            "test.parquet",
            "train.csv",
            "train.parquet"
        ]
    );
    assert_eq!(fs::read(out.join("train.csv")).unwrap(), TRAIN);
    check_parquet(&out.join("train.parquet"), 6);
    check_parquet(&out.join("test.parquet"), 3);
    // The converter was given the downloaded CSV, whole.
    let first = &parquet_rows(&out.join("train.parquet"))[0];
    assert!(
        first.contains("saying \"\"progress\"\" was made"),
        "{first:?}"
    );
    let record: Value =
        serde_json::from_str(&fs::read_to_string(out.join(SOURCE_FILE)).unwrap()).unwrap();
    assert_eq!(record["files"]["train.csv"]["md5"], digests(TRAIN).md5);
    assert_eq!(record["files"]["test.csv"]["rows"], 3);

    // Up to date: a rerun needs no network and rewrites nothing.
    let before = fs::metadata(out.join("train.parquet"))
        .unwrap()
        .modified()
        .unwrap();
    let offline = network(&closed_base());
    let again = fetch(&fixture_manifest(), &out, &offline, false).unwrap();
    assert!(again.iter().all(|r| r.up_to_date), "{again:?}");
    assert_eq!(again[0].rows, 6);
    let after = fs::metadata(out.join("train.parquet"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);

    // --force fetches again, and a failed forced fetch leaves the previous files alone.
    let err = fetch(&fixture_manifest(), &out, &offline, true).unwrap_err();
    assert!(format!("{err:#}").contains("--mirror DIR"), "{err:#}");
    check_parquet(&out.join("train.parquet"), 6);
    assert!(!names_in(&out).iter().any(|n| n.ends_with(".partial")));

    // A manifest with another checksum makes the record stale: it is fetched again.
    let changed = manifest(&[("test.csv", &digests(TRAIN).md5, 6)]);
    let err = fetch(&changed, &out, &offline, false).unwrap_err();
    assert!(format!("{err:#}").contains("test.csv"), "{err:#}");
}

#[test]
fn a_kept_verified_csv_is_converted_without_downloading() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("train.csv"), TRAIN).unwrap();
    fs::write(dir.path().join("test.csv"), TEST).unwrap();
    let offline = network(&closed_base());
    let reports = fetch(&fixture_manifest(), dir.path(), &offline, false).unwrap();
    assert!(reports.iter().all(|r| !r.up_to_date));
    check_parquet(&dir.path().join("test.parquet"), 3);
}

#[test]
fn a_checksum_mismatch_leaves_nothing_under_the_final_name() {
    let base = serve(vec![("train.csv", TEST.to_vec())], Serve::Whole);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(&fixture_manifest(), dir.path(), &network(&base), false).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("MD5"), "{msg}");
    assert!(msg.contains(&digests(TRAIN).md5), "{msg}");
    assert_eq!(names_in(dir.path()), Vec::<String>::new());
}

#[test]
fn an_interrupted_transfer_leaves_no_file() {
    let base = serve(vec![("train.csv", TRAIN.to_vec())], Serve::Half);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(&fixture_manifest(), dir.path(), &network(&base), false).unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains(&format!("{base}/train.csv")), "{msg}");
    assert_eq!(names_in(dir.path()), Vec::<String>::new());
}

#[test]
fn without_network_the_error_is_one_line_suggesting_a_mirror() {
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(
        &fixture_manifest(),
        dir.path(),
        &network(&closed_base()),
        false,
    )
    .unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("--mirror DIR"), "{msg}");
    assert!(!msg.contains('\n'), "{msg}");
    assert_eq!(names_in(dir.path()), Vec::<String>::new());
}

/// A mirror directory holding `files` and a SHA256SUMS of them.
fn mirror(files: &[(&str, &[u8])]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut sums = String::new();
    for (name, bytes) in files {
        fs::write(dir.path().join(name), bytes).unwrap();
        sums += &format!("{}  {name}\n", digests(bytes).sha256);
    }
    fs::write(dir.path().join(SUMS_FILE), sums).unwrap();
    dir
}

#[test]
fn a_mirror_is_verified_converted_and_warned_about() {
    let src = mirror(&[("train.csv", TRAIN), ("test.csv", TEST)]);
    let out = tempfile::tempdir().unwrap();
    // The canonical train split is bigger than the mirror's: a warning, not an error.
    let canonical = manifest(&[
        ("train.csv", "b1a00f826fdfbd249f79597b59e1dc12", 120_000),
        ("test.csv", &digests(TEST).md5, 3),
    ]);
    let source = Source::Mirror(src.path().to_path_buf());
    let reports = fetch(&canonical, out.path(), &source, false).unwrap();
    assert_eq!(reports[0].rows, 6);
    assert!(!reports[0].up_to_date);
    let warning = reports[0].warnings.join("\n");
    assert!(
        warning.contains("6 rows") && warning.contains("120000"),
        "{warning}"
    );
    assert!(reports[1].warnings.is_empty(), "{:?}", reports[1].warnings);
    check_parquet(&out.path().join("train.parquet"), 6);
    check_parquet(&out.path().join("test.parquet"), 3);
    // The mirror's CSVs are read where they are, not copied.
    assert_eq!(
        names_in(out.path()),
        ["SOURCE.json", "test.parquet", "train.parquet"]
    );

    // The record keeps the warning, for the experiment's report.
    let record: Value =
        serde_json::from_str(&fs::read_to_string(out.path().join(SOURCE_FILE)).unwrap()).unwrap();
    assert_eq!(
        record["files"]["train.csv"]["warnings"],
        json!(reports[0].warnings)
    );
    assert_eq!(record["files"]["test.csv"]["warnings"], json!([]));
    assert_eq!(recorded_rows(out.path(), "train.csv"), Some(6));
    assert_eq!(recorded_rows(out.path(), "other.csv"), None);

    // Rerun: up to date, still warned about.
    let again = fetch(&canonical, out.path(), &source, false).unwrap();
    assert!(again.iter().all(|r| r.up_to_date), "{again:?}");
    assert_eq!(again[0].warnings, reports[0].warnings);

    // The same bytes from the network count as up to date; other bytes do not.
    let offline = network(&closed_base());
    let from_net = fetch(&fixture_manifest(), out.path(), &offline, false).unwrap();
    assert!(from_net.iter().all(|r| r.up_to_date), "{from_net:?}");

    // A changed mirror file is converted again; the unchanged one is left alone.
    let mut test = TEST.to_vec();
    test.extend_from_slice(b"\"2\",\"Final whistle\",\"It ended 1-1.\"\n");
    let changed = mirror(&[("train.csv", TRAIN), ("test.csv", &test)]);
    let source = Source::Mirror(changed.path().to_path_buf());
    let third = fetch(&canonical, out.path(), &source, false).unwrap();
    let fresh: Vec<_> = third.iter().map(|r| (r.up_to_date, r.rows)).collect();
    assert_eq!(fresh, [(true, 6), (false, 4)]);
    assert_eq!(third[1].warnings.len(), 1, "{:?}", third[1].warnings);
    check_parquet(&out.path().join("test.parquet"), 4);
}

#[test]
fn mirror_problems_are_errors_naming_the_file() {
    let train_sum = digests(TRAIN).sha256;
    let test_sum = digests(TEST).sha256;
    let check = |sums: Option<String>, files: &[(&str, &[u8])], wanted: &[&str]| {
        let src = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            fs::write(src.path().join(name), bytes).unwrap();
        }
        if let Some(sums) = &sums {
            fs::write(src.path().join(SUMS_FILE), sums).unwrap();
        }
        let out = tempfile::tempdir().unwrap();
        let source = Source::Mirror(src.path().to_path_buf());
        let err = fetch(&fixture_manifest(), out.path(), &source, false).unwrap_err();
        let msg = format!("{err:#}");
        for want in wanted {
            assert!(msg.contains(want), "{sums:?}: {msg:?} lacks {want:?}");
        }
        assert!(!msg.contains('\n'), "{msg}");
        assert!(
            !names_in(out.path()).iter().any(|n| n.ends_with(".partial")),
            "{sums:?}"
        );
    };
    let both: &[(&str, &[u8])] = &[("train.csv", TRAIN), ("test.csv", TEST)];
    // A malformed line (a hash one digit short).
    check(
        Some(format!(
            "{}  train.csv\n{test_sum}  test.csv\n",
            &train_sum[1..]
        )),
        both,
        &["SHA256SUMS", "line 1", "train.csv"],
    );
    check(
        Some(format!("{train_sum}\ttrain.csv\n{test_sum}  test.csv\n")),
        both,
        &["SHA256SUMS", "line 1", "train.csv"],
    );
    check(
        Some(format!("{train_sum}  train.csv\nnot a checksum line\n")),
        both,
        &["SHA256SUMS", "line 2"],
    );
    // A missing line.
    check(
        Some(format!("{train_sum}  train.csv\n")),
        both,
        &["SHA256SUMS", "no line for test.csv"],
    );
    // A mismatch.
    check(
        Some(format!("{test_sum}  train.csv\n{test_sum}  test.csv\n")),
        both,
        &["train.csv", "SHA-256", &train_sum],
    );
    // A missing file.
    check(
        Some(format!("{train_sum}  train.csv\n{test_sum}  test.csv\n")),
        &[("train.csv", TRAIN)],
        &["test.csv", "missing"],
    );
    // No SHA256SUMS at all.
    check(None, both, &["SHA256SUMS"]);
}

#[test]
fn columns_other_than_the_manifests_are_an_error() {
    let src = mirror(&[("train.csv", TRAIN), ("test.csv", TEST)]);
    let out = tempfile::tempdir().unwrap();
    let mut wrong = fixture_manifest();
    wrong.columns = vec!["label".into(), "text".into()];
    let source = Source::Mirror(src.path().to_path_buf());
    let err = fetch(&wrong, out.path(), &source, false).unwrap_err();
    let msg = format!("{err:#}");
    assert!(
        msg.contains("\"text\"") && msg.contains("train.csv"),
        "{msg}"
    );
    assert_eq!(names_in(out.path()), Vec::<String>::new());
}

#[test]
fn prepare_output_is_read_for_rows_and_columns() {
    let (rows, columns) = parse_prepared(
        "note\n{\"event\":\"prepared\",\"rows\":6,\"columns\":[\"label\",\"title\"],\"output\":\"x\"}\n",
    )
    .unwrap();
    assert_eq!(
        (rows, columns),
        (6, vec!["label".to_owned(), "title".to_owned()])
    );
    assert!(parse_prepared("").is_err());
    assert!(parse_prepared("{\"rows\":1}").is_err());
}

#[test]
fn a_failing_converter_leaves_no_parquet() {
    struct Broken;
    impl Convert for Broken {
        fn convert(&self, _: &Path, parquet: &Path) -> Result<(u64, Vec<String>)> {
            fs::write(parquet, "half")?;
            bail!("disk full")
        }
    }
    let src = mirror(&[("train.csv", TRAIN), ("test.csv", TEST)]);
    let out = tempfile::tempdir().unwrap();
    let source = Source::Mirror(src.path().to_path_buf());
    let err = super::fetch(&fixture_manifest(), out.path(), &source, false, &Broken).unwrap_err();
    assert!(format!("{err:#}").contains("disk full"), "{err:#}");
    assert_eq!(names_in(out.path()), Vec::<String>::new());
}
