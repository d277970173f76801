//! Training on one's own text: plain text, JSON Lines, Parquet shards, compressed; the token
//! store is reused, rebuilt when the input changes, and never left half-written.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;

use common::{charrnn, json_lines, s};

/// Runs `charrnn` and reads every stdout line as JSON.
fn ok(args: &[&str]) -> Vec<Value> {
    json_lines(&common::ok(args))
}

/// A small model, a few steps, on the CPU, as JSON: the `done` line.
fn train(train: &Path, out: &Path, extra: &[&str]) -> Value {
    train_lines(train, out, extra)
        .last()
        .expect("a done line")
        .clone()
}

/// A small model on the CPU, one thread.
const SMALL_MODEL: &[&str] = &[
    "--hidden",
    "16",
    "--layers",
    "1",
    "--embed-dim",
    "8",
    "--device",
    "cpu",
    "--threads",
    "1",
];

/// As [`train`], every JSON line printed.
fn train_lines(train: &Path, out: &Path, extra: &[&str]) -> Vec<Value> {
    train_steps(train, out, 3, extra)
}

/// As [`train_lines`], for `steps` steps.
fn train_steps(train: &Path, out: &Path, steps: u32, extra: &[&str]) -> Vec<Value> {
    let (train, out, steps) = (s(train), s(out), steps.to_string());
    let mut args = vec!["train", "--train", &train, "--out", &out];
    args.extend_from_slice(SMALL_MODEL);
    args.extend([
        "--batch-size",
        "4",
        "--max-steps",
        &steps,
        "--json",
        "--quiet",
        "--overwrite",
    ]);
    args.extend_from_slice(extra);
    ok(&args)
}

/// A CSV file of `header` and `rows` (lines without their line ending) at `path`.
fn write_csv(path: &Path, header: &str, rows: impl IntoIterator<Item = String>) {
    let mut text = format!("{header}\n");
    for row in rows {
        text.push_str(&row);
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

const NOVEL: &str = "It was the best of times, it was the worst of times, it was the age of \
wisdom, it was the age of foolishness, it was the epoch of belief, it was the epoch of \
incredulity, it was the season of Light, it was the season of Darkness.\n";

#[test]
fn a_plain_text_file_trains_in_two_commands_and_its_store_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let novel = dir.path().join("novel.txt");
    std::fs::write(&novel, NOVEL.repeat(20)).unwrap();
    let run = dir.path().join("run");
    let done = train(&novel, &run, &["--window", "64"]);
    let data = &done["train_data"];
    assert_eq!(data["documents"], 1, "one file, one document");
    assert_eq!(data["chars"], NOVEL.len() as u64 * 20);
    assert_eq!(data["reused"], false);
    assert_eq!(data["unk"], 0);
    assert!(run.join("store/train.store").is_file());
    assert!(
        done["valid_examples"].as_u64().unwrap() >= 1,
        "the stream's tail validates"
    );
    let samples = ok(&[
        "generate",
        &s(&run),
        "--prompt",
        "It was",
        "--max-len",
        "20",
        "--json",
        "--device",
        "cpu",
    ]);
    assert!(samples[0]["text"].is_string(), "{samples:?}");
    // Scored text by text, the windows of the one document are one text.
    let scored = ok(&[
        "eval",
        &s(&run),
        "--data",
        &s(&novel),
        "--per-text",
        "--json",
        "--device",
        "cpu",
    ]);
    assert_eq!(scored.len(), 2, "{scored:?}");
    assert_eq!(scored[0]["text"], 0);
    assert_eq!(scored[0]["chars"], scored[1]["chars"]);
    assert!(scored[1]["examples"].as_u64().unwrap() > 1, "windows");
    // The same input again: the store (and the vocabulary) are reused.
    let again = train(&novel, &run, &["--window", "64"]);
    assert_eq!(again["train_data"]["reused"], true);
    assert_eq!(again["vocab_size"], done["vocab_size"]);
    // Changed content: rebuilt.
    std::fs::write(&novel, NOVEL.repeat(21)).unwrap();
    let changed = train(&novel, &run, &["--window", "64"]);
    assert_eq!(changed["train_data"]["reused"], false);
    assert_eq!(changed["train_data"]["chars"], NOVEL.len() as u64 * 21);
    // A rarer-character cut: --min-freq maps them to <unk>.
    let rare = train(
        &novel,
        &dir.path().join("rare"),
        &["--window", "64", "--min-freq", "100"],
    );
    assert!(rare["vocab_size"].as_u64() < done["vocab_size"].as_u64());
    assert!(rare["train_data"]["unk"].as_u64().unwrap() > 0);
    // Stateful training over the same text.
    let stateful = train(
        &novel,
        &dir.path().join("tbptt"),
        &["--window", "16", "--stateful"],
    );
    assert_eq!(stateful["steps"], 3);
    // A text too long to be one example trains in windows of 256 (as char-rnn cuts any
    // text), recorded for eval and a resume.
    let long = dir.path().join("long.txt");
    std::fs::write(&long, NOVEL.repeat(40)).unwrap();
    let long_run = dir.path().join("long");
    let out = charrnn(&[
        "train",
        "--train",
        &s(&long),
        "--out",
        &s(&long_run),
        "--max-steps",
        "1",
        "--hidden",
        "8",
        "--layers",
        "1",
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    let done = json_lines(&stdout)
        .into_iter()
        .find(|e| e["event"] == "done")
        .unwrap();
    let chars = NOVEL.chars().count() as u64 * 40;
    assert!(
        done["train_examples"].as_u64().unwrap() >= chars * 9 / 10 / 256,
        "{done}"
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(long_run.join("last/config.json")).unwrap())
            .unwrap();
    assert_eq!(config["data"]["window"], 256);
}

/// `--init-from` fine-tunes a trained model on another text: its weights, shape and vocabulary
/// (new characters count as <unk>), a new run; what would break it is refused.
#[test]
fn a_semicolon_csv_trains_resumes_and_evaluates_with_its_delimiter() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("notes.csv");
    let mut rows: Vec<String> = (0..24)
        .map(|i| {
            format!(
                "\"note {i}, about ham; or spam\";{}",
                ["ham", "spam"][i % 2]
            )
        })
        .collect();
    // A row without a label, left out with --skip-nulls and counted.
    rows.push("\"a note without a class\";".to_owned());
    write_csv(&csv, "text;label", rows);
    let run = dir.path().join("run");
    // Read with commas, the header is one column: the error names the delimiter to give.
    let vocab = dir.path().join("v.json");
    let out = charrnn(&[
        "vocab",
        "build",
        &s(&csv),
        "--column",
        "text",
        "--output",
        &s(&vocab),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--delimiter"), "{stderr}");
    let read = [
        "--column",
        "text",
        "--label-column",
        "label",
        "--skip-nulls",
    ];
    let mut args = vec!["--delimiter", ";"];
    args.extend(read);
    let done = train(&csv, &run, &args);
    assert_eq!(done["event"], "done", "{done}");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("last/config.json")).unwrap())
            .unwrap();
    assert_eq!(config["data"]["delimiter"], ";");
    // info says how the rows were read.
    let info = String::from_utf8(charrnn(&["info", &s(&run)]).stdout).unwrap();
    assert!(
        info.contains(
            "column(s) text, label column label, delimiter \";\", rows with nulls skipped"
        ),
        "{info}"
    );
    assert_eq!(
        config["data"]["label_names"],
        serde_json::json!(["ham", "spam"])
    );
    // The resume reads the data as the run did, semicolons included; a comma is refused.
    let out = charrnn(&["train", "--resume", &s(&run), "--max-steps", "4", "--quiet"]);
    assert!(out.status.success(), "{out:?}");
    let out = charrnn(&[
        "train",
        "--resume",
        &s(&run),
        "--delimiter",
        ",",
        "--max-steps",
        "5",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--delimiter ','"), "{stderr}");
    // eval reads the run's delimiter, and says how many rows it left out.
    let out = charrnn(&["eval", &s(&run), "--data", &s(&csv), "--skip-nulls"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("24 documents (1 row(s) with a null"),
        "{stderr}"
    );
}

#[test]
fn eval_reads_text_as_the_model_was_trained_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let book = dir.path().join("book.txt");
    std::fs::write(&book, NOVEL.replace(", it", ".\n\nIt")).unwrap();
    let paragraphs = NOVEL.matches(", it").count() + 1;
    let run = dir.path().join("run");
    train(&book, &run, &["--text-unit", "paragraph"]);
    // Without --text-unit, eval reads paragraphs, as training did; a flag still says otherwise.
    for (extra, documents) in [(None, paragraphs), (Some("file"), 1)] {
        let mut args = vec![
            "eval",
            run.to_str().unwrap(),
            "--data",
            book.to_str().unwrap(),
        ];
        args.extend(["--json", "--device", "cpu"]);
        if let Some(unit) = extra {
            args.extend(["--text-unit", unit]);
        }
        let score = ok(&args).pop().unwrap();
        assert_eq!(score["examples"], documents, "{extra:?}: {score}");
    }
}

#[test]
fn fine_tuning_starts_from_the_trained_model() {
    let dir = tempfile::tempdir().unwrap();
    let novel = dir.path().join("novel.txt");
    std::fs::write(&novel, NOVEL.repeat(20)).unwrap();
    let other = dir.path().join("other.txt");
    std::fs::write(
        &other,
        "It was the age of Light; it was the epoch of Darkness!\n".repeat(30),
    )
    .unwrap();
    let base = dir.path().join("base");
    let trained = train_steps(&novel, &base, 60, &["--window", "64", "--lr", "0.02"])
        .pop()
        .unwrap();
    let bpc = |run: &Path, data: &Path| {
        let scored = ok(&[
            "eval",
            &s(run),
            "--data",
            &s(data),
            "--json",
            "--device",
            "cpu",
        ]);
        scored[0]["bits_per_char"].as_f64().unwrap()
    };
    // A learning rate too small to move the weights: the run is the model it started from.
    let tune_args = |out: &Path, steps: &str, extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "train",
            "--train",
            &s(&other),
            "--out",
            &s(out),
            "--window",
            "64",
            "--lr",
            "1e-9",
            "--max-steps",
            steps,
            "--batch-size",
            "4",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--json",
            "--quiet",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        args.extend(extra.iter().map(|a| a.to_string()));
        args
    };
    let tune_raw = |out: &Path, extra: &[&str]| -> std::process::Output {
        let args = tune_args(out, "1", extra);
        charrnn(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let tune = |out: &Path, extra: &[&str]| -> Value {
        let run = tune_raw(out, extra);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{stderr}");
        json_lines(&String::from_utf8(run.stdout).unwrap())
            .pop()
            .unwrap()
    };
    let tokenizer = |run: &Path| std::fs::read(run.join("best/tokenizer.json")).unwrap();
    // --keep-vocab: the model's vocabulary, the new characters as <unk>, the same scores.
    let kept = dir.path().join("kept");
    let run = tune_raw(&kept, &["--init-from", &s(&base), "--keep-vocab"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    // ... and a warning that they train as <unk>, before training.
    assert!(
        stderr.contains("(60 of 1650) are outside the vocabulary; they train as <unk>"),
        "{stderr}"
    );
    let done = json_lines(&String::from_utf8(run.stdout).unwrap())
        .pop()
        .unwrap();
    assert_eq!(done["vocab_size"], trained["vocab_size"]);
    assert!(
        done["train_data"]["unk"].as_u64().unwrap() > 0,
        "';' and '!' are new"
    );
    assert_eq!(tokenizer(&kept), tokenizer(&base));
    let (from, now) = (bpc(&base, &other), bpc(&kept, &other));
    assert!((from - now).abs() < 1e-4, "{from} vs {now}");
    // By default the new characters grow the vocabulary: nothing is <unk>, and on the old
    // text the grown model scores as before but for the little the new ids take.
    let grown = dir.path().join("grown");
    let done = tune(&grown, &["--init-from", &s(&base), "--dropout", "0.5"]);
    let size = trained["vocab_size"].as_u64().unwrap();
    assert_eq!(done["vocab_size"].as_u64(), Some(size + 2), "';' and '!'");
    assert_eq!(done["train_data"]["unk"], 0);
    let (from, now) = (bpc(&base, &novel), bpc(&grown, &novel));
    assert!(from < now && now < from + 0.2, "{from} vs {now}");
    let config = std::fs::read_to_string(grown.join("best/config.json")).unwrap();
    let config: Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["model"]["dropout"], 0.5);
    assert_eq!(config["model"]["hidden"], 16);
    // Where the weights came from is recorded, and kept by a resume.
    let origin = |run: &Path| {
        let info = ok(&["info", &s(run), "--json"]);
        info[0]["config"]["training"]["init_from"].clone()
    };
    assert_eq!(origin(&grown), s(&base));
    let resume = tune_args(&grown, "2", &["--resume", &s(&grown)]);
    let resumed = ok(&resume.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(resumed.last().unwrap()["steps"], 2);
    assert_eq!(origin(&grown.join("last")), s(&base));
    // The same run from fresh weights of the same shape and seed scores otherwise.
    let fresh = dir.path().join("fresh");
    let vocab = s(&base.join("best/tokenizer.json"));
    // SMALL_MODEL's shape (its device and threads are tune's).
    let fresh_flags: Vec<&str> = SMALL_MODEL[..6]
        .iter()
        .copied()
        .chain(["--vocab", &vocab])
        .collect();
    tune(&fresh, &fresh_flags);
    let (from, scratch) = (bpc(&base, &other), bpc(&fresh, &other));
    assert!((scratch - from).abs() > 1e-2, "{scratch} vs {from}");

    let refused = |out: std::process::Output, code: i32, needle: &str| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(needle),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
    };
    let before = std::fs::read(base.join("best/model.safetensors")).unwrap();
    refused(
        tune_raw(&base, &["--init-from", &s(&base), "--overwrite"]),
        1,
        "is a checkpoint of --out",
    );
    assert_eq!(
        std::fs::read(base.join("best/model.safetensors")).unwrap(),
        before
    );
    refused(
        tune_raw(
            &dir.path().join("x"),
            &["--init-from", &s(&base), "--hidden", "8"],
        ),
        2,
        "cannot be used with",
    );
    let labelled = dir.path().join("labelled.csv");
    write_csv(
        &labelled,
        "label,title",
        (0..20).map(|i| format!("{},It was the age {i}", i % 2)),
    );
    let out = charrnn(&[
        "train",
        "--train",
        &s(&labelled),
        "--label-column",
        "label",
        "--init-from",
        &s(&base),
        "--out",
        &s(&dir.path().join("y")),
        "--max-steps",
        "1",
        "--device",
        "cpu",
        "--quiet",
    ]);
    refused(
        out,
        1,
        "was trained on no classes, but these data have the classes",
    );
    refused(
        tune_raw(
            &dir.path().join("z"),
            &["--init-from", &s(&dir.path().join("nothing"))],
        ),
        1,
        "--init-from",
    );
    refused(
        tune_raw(&dir.path().join("w"), &["--keep-vocab"]),
        2,
        "--init-from",
    );
}

#[test]
fn json_lines_gzip_parquet_shards_and_eval_on_any_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut jsonl = String::new();
    for i in 0..40 {
        jsonl.push_str(&format!(
            "{{\"body\": \"{} number {i}\", \"topic\": {}}}\n",
            NOVEL.trim(),
            i % 2
        ));
    }
    let path = dir.path().join("docs.jsonl");
    std::fs::write(&path, &jsonl).unwrap();
    let gz = dir.path().join("docs.jsonl.gz");
    std::fs::write(&gz, flate2_like_gzip(jsonl.as_bytes())).unwrap();
    let run = dir.path().join("run");
    let done = train(
        &gz,
        &run,
        &[
            "--column",
            "body",
            "--label-column",
            "topic",
            "--valid-fraction",
            "0.25",
        ],
    );
    assert_eq!(done["train_data"]["documents"], 40);
    assert_eq!(done["labels"], serde_json::json!(["0", "1"]));
    assert_eq!(done["valid_examples"], 10, "a quarter of the documents");
    // prepare: any input to Parquet, then shards of it train the same way.
    let shards = dir.path().join("shards");
    std::fs::create_dir(&shards).unwrap();
    for (i, half) in [&jsonl[..jsonl.len() / 2], &jsonl[jsonl.len() / 2..]]
        .iter()
        .enumerate()
    {
        let part = dir.path().join(format!("part{i}.jsonl"));
        let start = half.find('{').unwrap();
        let end = half.rfind('\n').unwrap() + 1;
        std::fs::write(&part, &half[start..end]).unwrap();
        let rows = ok(&[
            "prepare",
            &s(&part),
            &s(&shards.join(format!("train-0000{i}-of-00002.parquet"))),
            "--column",
            "body",
            "--json",
        ]);
        assert_eq!(rows[0]["columns"], serde_json::json!(["text"]));
    }
    let from_shards = train(&shards, &dir.path().join("run2"), &["--column", "text"]);
    let documents = from_shards["train_data"]["documents"].as_u64().unwrap();
    assert!((38..=40).contains(&documents), "{documents}");
    // eval reads the columns the model was trained on, from any format.
    let scored = ok(&[
        "eval",
        &s(&run),
        "--data",
        &s(&path),
        "--json",
        "--device",
        "cpu",
    ]);
    assert!(scored[0]["bits_per_char"].as_f64().unwrap() > 0.0);
    assert_eq!(scored[0]["examples"], 40);
}

/// On a text that has none of the AG News prompt's letters (DNA), each epoch still shows a
/// sample: by default from the model's own start, else from `--sample-prompt`.
#[test]
fn epoch_samples_suit_any_alphabet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dna.txt");
    let mut state = 7u32;
    let lines = (0..4).map(|_| {
        (0..24)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                b"ACGT"[(state >> 16) as usize % 4] as char
            })
            .collect::<String>()
    });
    let lines_text = lines.collect::<Vec<_>>().join("\n");
    std::fs::write(&path, &lines_text).unwrap();
    let s_of = |v: &Value| v.as_str().unwrap().to_owned();
    let samples = |extra: &[&str]| -> Vec<(String, String)> {
        // Every epoch end validates and samples (the epochs are one step each).
        let mut flags = vec!["--text-unit", "line", "--min-eval-gap", "1"];
        flags.extend_from_slice(extra);
        train_lines(&path, &dir.path().join("run"), &flags)
            .into_iter()
            .filter(|e| e["event"] == "sample")
            .map(|e| (s_of(&e["prompt"]), s_of(&e["text"])))
            .collect()
    };
    let own = samples(&[]);
    assert!(own.len() >= 2, "a sample per epoch: {own:?}");
    for (prompt, text) in &own {
        assert_eq!(prompt, "");
        assert!(text.chars().all(|c| "ACGT".contains(c)), "{text:?}");
    }
    // Validations inside a long epoch sample too: 6 steps of an epoch of 10 batches.
    let long: String = (0..40)
        .map(|i| format!("{}\n", ["ACGTAC", "GGTACA"][i % 2]))
        .collect();
    std::fs::write(&path, long).unwrap();
    let inside: Vec<Value> = train_steps(
        &path,
        &dir.path().join("long"),
        6,
        &["--text-unit", "line", "--eval-every", "2"],
    )
    .into_iter()
    .filter(|e| e["event"] == "sample")
    .collect();
    assert_eq!(inside.len(), 3, "samples at steps 2, 4 and 6: {inside:?}");
    assert!(inside.iter().all(|e| e["epoch"] == 0), "{inside:?}");
    std::fs::write(&path, lines_text.clone()).unwrap();
    let prompted = samples(&["--sample-prompt", "GA"]);
    assert_eq!(prompted.len(), own.len());
    for (prompt, text) in &prompted {
        assert_eq!(prompt, "GA");
        assert!(text.starts_with("GA"), "{text:?}");
    }
}

/// A folder of sources with an image in it builds a vocabulary from the sources and says
/// which file it left out.
#[test]
fn a_folder_with_an_image_reads_its_text_and_names_what_it_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a.txt"), "abc\n").unwrap();
    std::fs::write(src.join("logo.png"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap();
    let vocab = dir.path().join("vocab.json");
    let out = charrnn(&["vocab", "build", &s(&src), "--output", &s(&vocab), "--json"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.starts_with("warning: ") && stderr.contains("left out 1 binary file(s)"),
        "{stderr}"
    );
    assert!(stderr.contains("logo.png"), "{stderr}");
    let built = &json_lines(&String::from_utf8(out.stdout).unwrap())[0];
    assert_eq!(
        (built["files"].as_u64(), built["chars"].as_u64()),
        (Some(1), Some(4))
    );
}

/// gzip without a dependency: a stored (uncompressed) deflate stream, which every gzip reader
/// accepts.
fn flate2_like_gzip(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];
    for (i, chunk) in data.chunks(65_535).enumerate() {
        let last = (i + 1) * 65_535 >= data.len();
        out.push(u8::from(last));
        let n = chunk.len() as u16;
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&(!n).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn temporary_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.to_string_lossy().ends_with(".tmp"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn killing_the_store_build_leaves_no_store_and_the_next_run_builds_it() {
    let dir = tempfile::tempdir().unwrap();
    // Large enough that encoding takes a while; the vocabulary is given, so encoding is the
    // first pass over the text.
    let sample = dir.path().join("sample.txt");
    std::fs::write(&sample, NOVEL).unwrap();
    let vocab = dir.path().join("tokenizer.json");
    ok(&[
        "vocab",
        "build",
        &s(&sample),
        "--output",
        &s(&vocab),
        "--json",
    ]);
    let big = dir.path().join("big.txt");
    std::fs::write(&big, NOVEL.repeat(200_000)).unwrap();
    let store_dir = dir.path().join("stores");
    let (bigs, run, vocabs, stores) = (
        s(&big),
        s(&dir.path().join("run")),
        s(&vocab),
        s(&store_dir),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_charrnn"))
        .args([
            "train",
            "--train",
            &bigs,
            "--out",
            &run,
            "--vocab",
            &vocabs,
            "--store-dir",
            &stores,
            "--text-unit",
            "line",
            "--max-steps",
            "1",
            "--device",
            "cpu",
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if !temporary_files(&store_dir).is_empty() {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before the store was built"
        );
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no store build started"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let store = store_dir.join("train.store");
    assert!(
        !store.exists(),
        "a killed build left a store under its final name"
    );
    let leftovers = temporary_files(&store_dir);
    assert!(!leftovers.is_empty(), "the half-written file is temporary");
    // The next run builds it.
    let done = train(
        &big,
        &dir.path().join("run"),
        &[
            "--vocab",
            &vocabs,
            "--store-dir",
            &stores,
            "--text-unit",
            "line",
            "--valid-fraction",
            "0.001",
        ],
    );
    assert_eq!(done["train_data"]["reused"], false);
    assert_eq!(done["train_data"]["documents"], 200_000);
    assert!(store.is_file());
    // ...and sweeps the killed build's temporary file, which nobody holds locked any more.
    let left = temporary_files(&store_dir);
    assert!(
        leftovers.iter().all(|f| !left.contains(f)),
        "the killed build's {leftovers:?} is still there: {left:?}"
    );
}

/// Whether charrnn was built with c10d: its build script compiles the shim when Gloo's
/// headers are there (`cargo xtask setup` installs them).
fn c10d_built() -> bool {
    let include = std::env::var("GLOO_INCLUDE").unwrap_or_else(|_| "/usr/include".into());
    let built = Path::new(&include).join("gloo/algorithm.h").is_file();
    if !built {
        eprintln!("skipped: no Gloo headers, so no c10d in this build (cargo xtask setup)");
    }
    built
}

/// 200 short titles, one per line, into `path`.
fn write_titles(path: &Path) {
    let lines: Vec<String> = (0..200)
        .map(|i| {
            format!(
                "title {} of the {} news",
                i % 17,
                ["world", "sports", "tech"][i % 3]
            )
        })
        .collect();
    std::fs::write(path, lines.join("\n")).unwrap();
}

/// A port nobody listens on now, as text.
fn free_port() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string()
}

/// `charrnn`, told by the environment (as torchrun tells it) that it is `rank` of 2 with
/// rank 0's store on 127.0.0.1:`port`.
fn rank_of_two(rank: &str, port: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_charrnn"));
    cmd.env("RANK", rank)
        .env("WORLD_SIZE", "2")
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port);
    cmd
}

/// The one `done` line of a run's JSON lines: in a group, only rank 0 reports.
fn the_done_line(lines: &[Value]) -> &Value {
    let done: Vec<&Value> = lines.iter().filter(|v| v["event"] == "done").collect();
    assert_eq!(done.len(), 1, "one done line, rank 0's: {lines:?}");
    done[0]
}

/// `--nproc 2` trains as one process does (the same validation and training bpc, each summed
/// over the ranks' shares), with one `done` line: rank 1 prints and writes nothing. A group
/// of one (`--nproc 1`) trains exactly as no group.
#[test]
fn local_groups_of_one_and_two_train_as_one_process() {
    if !c10d_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("titles.txt");
    write_titles(&text);
    let common = ["--text-unit", "line", "--dropout", "0"];
    let alone = train(&text, &dir.path().join("alone"), &common);
    let mut two = common.to_vec();
    two.extend(["--nproc", "2"]);
    let lines = train_lines(&text, &dir.path().join("two"), &two);
    let done = the_done_line(&lines);
    assert_eq!(done["steps"], 3);
    // Each rank scores its share of the validation set: the sums, added in another order,
    // agree to rounding.
    let (two, one) = (
        done["final_val_bpc"].as_f64().unwrap(),
        alone["final_val_bpc"].as_f64().unwrap(),
    );
    assert!((two - one).abs() < 1e-6, "{two} vs {one}");
    let (two, one) = (
        done["final_train_bpc"].as_f64().unwrap(),
        alone["final_train_bpc"].as_f64().unwrap(),
    );
    assert!(
        (two - one).abs() < 1e-5,
        "training loss over both ranks: {two} vs {one}"
    );
    assert!(dir.path().join("two/best").is_dir());
    // Throughput is the group's: rank 0 counts every rank's characters.
    let chars =
        |v: &Value| v["chars_per_sec"].as_f64().unwrap() * v["elapsed_secs"].as_f64().unwrap();
    let (two, one) = (chars(done), chars(&alone));
    assert!(
        (two - one).abs() < 1e-6 * one,
        "characters trained: {two} vs {one}"
    );

    let mut one = common.to_vec();
    one.extend(["--nproc", "1"]);
    let lines = train_lines(&text, &dir.path().join("one"), &one);
    let done = the_done_line(&lines);
    for key in ["final_val_bpc", "final_train_bpc"] {
        assert_eq!(done[key], alone[key], "{key} of a group of one");
    }
    // Where freed memory goes changes the speed, never the numbers.
    let mut keep = common.to_vec();
    keep.push("--keep-host-memory");
    let kept = train(&text, &dir.path().join("keep"), &keep);
    for key in ["final_val_bpc", "final_train_bpc"] {
        assert_eq!(kept[key], alone[key], "{key} with --keep-host-memory");
    }
}

/// `--precision bf16` trains within a hundredth of a bit of fp32 without being fp32 (autocast
/// ran), and the run's configuration records it. A GRU: libtorch runs it in bf16 on every
/// CPU; an LSTM it cannot run (oneDNN without AVX-512 or AMX) is one `error:` line up front.
#[test]
fn bf16_trains_within_a_hundredth_of_a_bit_of_fp32() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("titles.txt");
    write_titles(&text);
    let (text_s, lstm) = (s(&text), s(&dir.path().join("lstm")));
    let mut args = vec![
        "train",
        "--train",
        &text_s,
        "--out",
        &lstm,
        "--text-unit",
        "line",
    ];
    args.extend_from_slice(SMALL_MODEL);
    args.extend(["--max-steps", "1", "--precision", "bf16", "--quiet"]);
    let out = charrnn(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("cannot run the lstm on cpu") && stderr.contains("--precision fp32"),
            "{stderr}"
        );
    }
    let common = ["--text-unit", "line", "--cell", "gru"];
    let fp32 = train(&text, &dir.path().join("fp32"), &common);
    let mut mixed = common.to_vec();
    mixed.extend(["--precision", "bf16"]);
    let bf16 = train(&text, &dir.path().join("bf16"), &mixed);
    let bpc = |v: &Value| v["final_val_bpc"].as_f64().unwrap();
    let (a, b) = (bpc(&fp32), bpc(&bf16));
    assert!((a - b).abs() < 0.01 && a != b, "fp32 {a} vs bf16 {b}");
    let config = std::fs::read_to_string(dir.path().join("bf16/last/config.json")).unwrap();
    let config: Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["training"]["precision"], "bf16", "{config}");
}

/// The progress lines number epochs from 1, and an evaluation at an epoch's end carries the
/// epoch that ended: 190 training titles in batches of 95 are two steps an epoch, validated
/// at each epoch's end and at step 3.
#[test]
fn progress_lines_name_the_epoch_each_step_belongs_to() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("titles.txt");
    write_titles(&text);
    let (text, out) = (s(&text), s(&dir.path().join("run")));
    let mut args = vec![
        "train",
        "--train",
        &text,
        "--text-unit",
        "line",
        "--out",
        &out,
        "--batch-size",
        "95",
        "--epochs",
        "2",
        "--eval-every",
        "3",
        "--min-eval-gap",
        "1",
    ];
    args.extend_from_slice(SMALL_MODEL);
    let run = charrnn(&args);
    assert!(run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    let epochs: Vec<(&str, &str)> = stderr
        .lines()
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words.first() == Some(&"step")).then(|| (words[1], words[3]))
        })
        .collect();
    assert_eq!(epochs, [("2", "1"), ("3", "2"), ("4", "2")], "{stderr}");
}

/// An extra column trains on the same rows as the main column: the rows held out for
/// validation are held out of it too. Each description is its title twice, so it has twice
/// the title's positions plus two, and the extra text of exactly the training rows makes the
/// training characters three times the titles' alone.
#[test]
fn an_extra_column_leaves_the_validation_rows_out() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("news.csv");
    // Titles of different lengths, so that other rows would change the count.
    write_csv(
        &csv,
        "title,description",
        (0..40).map(|i| {
            let title = format!("story {i} {}", "x".repeat(i % 7));
            format!("{title},{title} {title}")
        }),
    );
    let split = ["--column", "title", "--valid-fraction", "0.25"];
    let alone = train(&csv, &dir.path().join("alone"), &split);
    let mut with_extra = split.to_vec();
    with_extra.extend(["--extra-column", "description"]);
    let both = train(&csv, &dir.path().join("both"), &with_extra);
    let n = |v: &Value, key: &str| v[key].as_u64().unwrap();
    assert_eq!(n(&alone, "train_examples"), 30);
    assert_eq!(n(&both, "train_examples"), 60);
    assert_eq!(n(&both, "valid_examples"), n(&alone, "valid_examples"));
    assert_eq!(n(&both, "train_chars"), 3 * n(&alone, "train_chars"));

    // Two rows split by tokens (the last row's tail validates): that row's extra text is
    // held out, and the first row's trains.
    let pair = dir.path().join("pair.csv");
    std::fs::write(
        &pair,
        "title,description\na first story told,its account\na second story told,its own\n",
    )
    .unwrap();
    let mut pair_flags = with_extra.clone();
    pair_flags[3] = "0.2";
    let two = train(&pair, &dir.path().join("pair"), &pair_flags);
    assert_eq!(n(&two, "train_examples"), 3, "{two}");

    // With validation from its own file, every row's extra text trains.
    let valid = dir.path().join("valid.csv");
    std::fs::write(&valid, "title,description\nheld out,held out held out\n").unwrap();
    let mut own_file = vec!["--column", "title", "--extra-column", "description"];
    let valid_arg = s(&valid);
    own_file.extend(["--valid", &valid_arg]);
    let all = train(&csv, &dir.path().join("all"), &own_file);
    assert_eq!(n(&all, "train_examples"), 80);
}

/// With a label column, an extra column's texts are classes of their own: the model knows
/// whether it writes a title or a description. Generation without --label writes the label
/// column's classes only, and evaluation of titles works as before.
#[test]
fn an_extra_column_with_labels_is_conditioned_as_classes_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("news.csv");
    write_csv(
        &csv,
        "label,title,description",
        (0..40).map(|i| {
            format!(
                "{},story {i} here,a longer account of story {i}.",
                3 + i % 2
            )
        }),
    );
    let run = dir.path().join("run");
    let flags = [
        "--column",
        "title",
        "--label-column",
        "label",
        "--extra-column",
        "description",
    ];
    train(&csv, &run, &flags);
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("best/config.json")).unwrap())
            .unwrap();
    assert_eq!(config["model"]["num_labels"], 4);
    assert_eq!(
        config["model"]["label_names"],
        serde_json::json!(["3", "4", "3 (description)", "4 (description)"])
    );
    let samples = ok(&[
        "generate",
        &s(&run),
        "--max-len",
        "8",
        "--json",
        "--device",
        "cpu",
    ]);
    let labels: Vec<&Value> = samples.iter().map(|v| &v["label"]).collect();
    assert_eq!(
        labels,
        [&Value::from("3"), &Value::from("4")],
        "{samples:?}"
    );
    let described = ok(&[
        "generate",
        &s(&run),
        "--label",
        "4 (description)",
        "--max-len",
        "8",
        "--json",
        "--device",
        "cpu",
    ]);
    assert_eq!(described[0]["label"], "4 (description)");
    let scored = ok(&[
        "eval",
        &s(&run),
        "--data",
        &s(&csv),
        "--json",
        "--device",
        "cpu",
    ]);
    assert!(
        scored[0]["bits_per_char"].as_f64().unwrap().is_finite(),
        "{scored:?}"
    );
}

/// `--ema` is recorded with the run, validation scores the average (not the trained weights,
/// which `last/` keeps), and `--ema 0` turns a preset's averaging off.
#[test]
fn weight_averaging_is_recorded_and_validated() {
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("titles.txt");
    write_titles(&text);
    let config = |run: &str| -> Value {
        let path = dir.path().join(run).join("last/config.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let plain = train(&text, &dir.path().join("plain"), &["--text-unit", "line"]);
    let averaged = train(
        &text,
        &dir.path().join("ema"),
        &["--text-unit", "line", "--ema", "0.5"],
    );
    assert_eq!(config("ema")["training"]["ema"], 0.5);
    assert_eq!(config("plain")["training"]["ema"], Value::Null);
    let bpc = |v: &Value| v["final_val_bpc"].as_f64().unwrap();
    assert_ne!(bpc(&plain), bpc(&averaged));
    let off = train(
        &text,
        &dir.path().join("off"),
        &["--text-unit", "line", "--ema", "0"],
    );
    assert_eq!(bpc(&off), bpc(&plain));
}

/// A rank whose peers never come stops with one error line naming the group, within
/// --dist-timeout, and leaves no model behind.
#[test]
fn a_rank_alone_stops_within_the_timeout() {
    if !c10d_built() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("titles.txt");
    std::fs::write(&text, "one title\nanother title\na third title\n").unwrap();
    let out = rank_of_two("0", &free_port())
        .args([
            "train",
            "--train",
            &s(&text),
            "--out",
            &s(&dir.path().join("run")),
        ])
        .args([
            "--text-unit",
            "line",
            "--max-steps",
            "2",
            "--dist-timeout",
            "2",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty());
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("rank 0 of 2"), "{stderr}");
    assert!(!dir.path().join("run/best").exists());
}

/// A rank killed mid-run (SIGKILL) makes the survivor stop, well within --dist-timeout, with
/// one error line naming the lost rank (rank 0 also serves the rendezvous store); the
/// checkpoint rank 0 wrote before still loads.
#[test]
fn killing_a_rank_stops_the_other_with_an_error_naming_it() {
    if !c10d_built() {
        return;
    }
    for victim in [1, 0] {
        let dir = tempfile::tempdir().unwrap();
        let error = kill_one_of_two(dir.path(), victim, "KILL");
        let named = if victim == 1 {
            "rank 1 is gone"
        } else {
            "rank 0 is gone (its rendezvous store does not answer)"
        };
        assert!(error.contains(named), "{error}");
        let sample = common::ok(&[
            "generate",
            &s(&dir.path().join("run")),
            "--max-len",
            "5",
            "--device",
            "cpu",
        ]);
        assert!(!sample.is_empty());
    }
}

/// A rank that stops answering without dying (SIGSTOP: a hung machine) makes the other stop
/// with an error naming it, from the heartbeat watch, long before --dist-timeout (60 s here),
/// where Gloo alone would wait out the whole timeout.
#[test]
fn a_stopped_rank_stops_the_other_long_before_the_timeout() {
    if !c10d_built() {
        return;
    }
    for (victim, named) in [(1, "rank 1 is gone"), (0, "rank 0 is gone")] {
        let dir = tempfile::tempdir().unwrap();
        let error = kill_one_of_two(dir.path(), victim, "STOP");
        assert!(error.contains(named), "{error}");
    }
}

/// Starts two ranks training into `dir/run`, sends `victim` the signal `signal` (`KILL`,
/// `STOP`) once rank 0 has reported an evaluation, and returns the survivor's one error line
/// (after checking that it exits 1 within 30 s, with nothing else on stderr).
fn kill_one_of_two(dir: &Path, victim: usize, signal: &str) -> String {
    use std::io::{BufRead, BufReader, Read};
    let text = dir.join("titles.txt");
    write_titles(&text);
    let run = dir.join("run");
    let port = free_port();
    let spawn = |rank: &str| {
        rank_of_two(rank, &port)
            .args(["train", "--train", &s(&text), "--out", &s(&run)])
            .args(["--text-unit", "line", "--hidden", "16", "--layers", "1"])
            .args(["--embed-dim", "8", "--batch-size", "4", "--dropout", "0"])
            .args(["--max-steps", "1000000", "--eval-every", "5"])
            .args(["--dist-timeout", "60", "--device", "cpu", "--threads", "1"])
            .args(["--json", "--quiet"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut ranks = [spawn("0"), spawn("1")];
    // Both ranks are in the training loop once rank 0 reports its first evaluation (and has
    // written best/ and last/).
    let mut stdout = BufReader::new(ranks[0].stdout.take().unwrap()).lines();
    loop {
        let line = stdout
            .next()
            .expect("rank 0 reports an evaluation")
            .unwrap();
        if line.contains(r#""event":"eval""#) {
            break;
        }
    }
    let drain = std::thread::spawn(move || stdout.count());
    let sent = Command::new("kill")
        .args([format!("-{signal}"), ranks[victim].id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let killed = Instant::now();
    let [first, second] = &mut ranks;
    let (survivor, stopped) = if victim == 0 {
        (second, first)
    } else {
        (first, second)
    };
    let status = loop {
        if let Some(status) = survivor.try_wait().unwrap() {
            break status;
        }
        if killed.elapsed() > Duration::from_secs(30) {
            survivor.kill().unwrap();
            stopped.kill().unwrap();
            panic!(
                "rank {} went on for 30 s after rank {victim} got SIG{signal}",
                1 - victim
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // A stopped rank is still there: end it (SIGKILL ends a stopped process too).
    let _ = stopped.kill();
    stopped.wait().unwrap();
    drain.join().unwrap();
    let mut stderr = String::new();
    survivor
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.starts_with("error:"), "{stderr}");
    stderr
}

/// A text label whose every text is null (left out by --skip-nulls) is no class of the
/// model; eval still reads the other names as the classes they were trained as.
#[test]
fn a_text_label_left_without_texts_shifts_no_class() {
    let dir = tempfile::tempdir().unwrap();
    let style = [
        ("Zoë", "\"rain falls on the old town\""),
        ("Bob", "null"),
        ("Ann", "\"the sun rises over the hills\""),
    ];
    let lines = |n: usize| -> String {
        (0..n)
            .map(|i| {
                let (author, text) = style[i % 3];
                format!("{{\"text\":{text},\"author\":\"{author}\"}}\n")
            })
            .collect()
    };
    let train_file = dir.path().join("authors.jsonl");
    std::fs::write(&train_file, lines(300)).unwrap();
    let test_file = dir.path().join("test.jsonl");
    let test: String = lines(30)
        .lines()
        .filter(|l| !l.contains("Bob"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&test_file, test).unwrap();
    let run = dir.path().join("run");
    let extra = ["--label-column", "author", "--skip-nulls"];
    let lines = train_steps(&train_file, &run, 300, &extra);
    assert_eq!(
        lines.last().unwrap()["labels"],
        serde_json::json!(["Ann", "Zoë"])
    );
    let base = ["eval", &s(&run), "--data", &s(&test_file), "--json"];
    let scored = ok(&base);
    assert!(scored.iter().any(|e| e["event"] == "score"), "{scored:?}");
    let mut classify = base.to_vec();
    classify.extend(["--label-column", "author", "--classify"]);
    let result = ok(&classify)
        .into_iter()
        .find(|e| e["event"] == "classification")
        .expect("a classification event");
    assert!(result["accuracy"].as_f64().unwrap() >= 0.9, "{result}");
}

/// A label column of text (authors' names) gives classes named by its values, sorted; a
/// model trained on it generates by name and classifies other texts under those names.
#[test]
fn a_text_label_column_gives_named_classes() {
    let dir = tempfile::tempdir().unwrap();
    let style = [
        ("Zoë", "rain falls on the old town"),
        ("Ann", "the sun rises over the hills"),
        ("Bob", "bits and bytes and code"),
    ];
    let lines = |n: usize| -> String {
        (0..n)
            .map(|i| {
                let (author, text) = style[i % 3];
                format!("{{\"text\":\"{text}\",\"author\":\"{author}\"}}\n")
            })
            .collect()
    };
    let train_file = dir.path().join("authors.jsonl");
    std::fs::write(&train_file, lines(300)).unwrap();
    let test_file = dir.path().join("test.jsonl");
    std::fs::write(&test_file, lines(30)).unwrap();
    let run = dir.path().join("run");
    let lines = train_steps(&train_file, &run, 400, &["--label-column", "author"]);
    let done = lines.last().unwrap();
    assert_eq!(done["labels"], serde_json::json!(["Ann", "Bob", "Zoë"]));
    // Generation by name.
    let generated = ok(&["generate", &s(&run), "--label", "Zoë", "--greedy", "--json"]);
    assert_eq!(generated[0]["label"], "Zoë", "{generated:?}");
    // Classification of labelled texts under the names.
    let classified = ok(&[
        "eval",
        &s(&run),
        "--data",
        &s(&test_file),
        "--label-column",
        "author",
        "--classify",
        "--json",
    ]);
    let result = classified
        .iter()
        .find(|e| e["event"] == "classification")
        .expect("a classification event");
    // Each text is scored under the class its name maps to: a wrong map would mix them up.
    assert!(result["accuracy"].as_f64().unwrap() >= 0.9, "{result}");
    // A name the model does not know is refused, naming it.
    std::fs::write(&test_file, "{\"text\":\"x\",\"author\":\"Eve\"}\n").unwrap();
    let out = charrnn(&["eval", &s(&run), "--data", &s(&test_file)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`Eve`"), "{stderr}");
    // A column of free text is no label column: more than 1,000 classes are refused.
    let free: String = (0..1001)
        .map(|i| format!("{{\"text\":\"abc\",\"author\":\"name {i}\"}}\n"))
        .collect();
    std::fs::write(&train_file, free).unwrap();
    let out = charrnn(&[
        "train",
        "--train",
        &s(&train_file),
        "--label-column",
        "author",
        "--out",
        &s(&dir.path().join("free")),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("1001 distinct values"), "{stderr}");
    assert!(!dir.path().join("free").exists());
}

/// `text` in Windows-1252 (what Excel writes), for the characters it holds.
fn windows_1252(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| match c {
            '€' => 0x80,
            '“' => 0x93,
            '”' => 0x94,
            '–' => 0x96,
            _ => u8::try_from(u32::from(c)).expect("a Latin-1 character"),
        })
        .collect()
}

#[test]
fn a_windows_1252_csv_trains_with_its_encoding_and_is_refused_without_it() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("excel.csv");
    let rows = (0..40).map(|i| format!("“Quoted” price {i} € – naïve café\n"));
    let text = format!("title\n{}", rows.collect::<String>());
    std::fs::write(&csv, windows_1252(&text)).unwrap();
    let run = dir.path().join("run");
    let done = train_steps(&csv, &run, 3, &["--encoding", "windows-1252"]);
    assert_eq!(done.last().unwrap()["train_data"]["unk"], 0, "{done:?}");
    let vocab = ok(&["vocab", "show", &s(&run), "--json"]);
    let tokens: Vec<&str> = vocab[0]["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["token"].as_str())
        .collect();
    for c in ["€", "“", "”", "–", "ï", "é"] {
        assert!(tokens.contains(&c), "{c} in {tokens:?}");
    }
    let info = ok(&["info", &s(&run), "--json"]);
    assert_eq!(
        info[0]["config"]["data"]["encoding"], "windows-1252",
        "{info:?}"
    );
    // A resume reads it as the run did, and refuses another encoding.
    let other = charrnn(&["train", "--resume", &s(&run), "--encoding", "latin-1"]);
    let stderr = String::from_utf8_lossy(&other.stderr);
    assert_eq!(other.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--encoding latin-1 is not the run's (windows-1252)"),
        "{stderr}"
    );
    // eval of the model reads its data in the run's encoding, unless told another.
    let scored = ok(&["eval", &s(&run), "--data", &s(&csv), "--json"]);
    assert!(scored.iter().any(|e| e["event"] == "score"), "{scored:?}");
    let utf8 = charrnn(&["eval", &s(&run), "--data", &s(&csv), "--encoding", "utf-8"]);
    assert_eq!(utf8.status.code(), Some(1));
    // Without it: one line naming the line, the byte and its value, and what to try.
    let no = dir.path().join("no");
    let out = charrnn(&["train", "--train", &s(&csv), "--out", &s(&no), "--quiet"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let error = stderr.lines().find(|l| l.starts_with("error:")).unwrap();
    assert!(
        error.contains("excel.csv: line 2: the text is not valid UTF-8 at byte 6 (0x93)"),
        "{stderr}"
    );
    assert!(error.contains("--encoding windows-1252"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A UTF-8 file read as Latin-1 would train on mojibake (`é` as `Ã©`): train warns, naming the
/// file, the bytes and the encoding to use, and trains as told; a real Latin-1 file gets no
/// such warning.
#[test]
fn utf8_text_read_as_latin_1_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let utf8 = dir.path().join("cafe.txt");
    std::fs::write(&utf8, "the café on the corner\n".repeat(40)).unwrap();
    let latin = dir.path().join("latin.txt");
    std::fs::write(&latin, b"the caf\xE9 on the corner\n".repeat(40)).unwrap();
    for (file, warned) in [(&utf8, true), (&latin, false)] {
        let run = dir.path().join("run");
        let (file_s, run_s) = (s(file), s(&run));
        let mut args = vec!["train", "--train", &file_s, "--out", &run_s, "--overwrite"];
        args.extend_from_slice(SMALL_MODEL);
        args.extend(["--max-steps", "1", "--encoding", "latin-1", "--quiet"]);
        let out = charrnn(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        let warning = stderr.lines().find(|l| l.starts_with("warning:"));
        match warned {
            true => {
                let w = warning.unwrap_or_else(|| panic!("no warning: {stderr}"));
                assert!(w.contains("cafe.txt"), "{w}");
                assert!(w.contains("\"é\" in UTF-8 but \"Ã©\" in latin-1"), "{w}");
                assert!(w.ends_with("(--encoding utf-8)"), "{w}");
            }
            false => assert_eq!(warning, None, "{stderr}"),
        }
    }
}

/// `--encoding auto` reads a folder of mixed encodings, each file in its own, and says which
/// was read as what; the default refuses the Windows-1252 file.
#[test]
fn a_folder_of_mixed_encodings_trains_with_encoding_auto() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("new.txt"), "the café opens\n".repeat(20)).unwrap();
    std::fs::write(
        notes.join("old.txt"),
        windows_1252("a “quoted” naïve line\n").repeat(20),
    )
    .unwrap();
    let utf16: Vec<u8> = [0xFEFF_u16]
        .into_iter()
        .chain("notepad unicode ÿ\n".repeat(20).encode_utf16())
        .flat_map(u16::to_le_bytes)
        .collect();
    std::fs::write(notes.join("pad.txt"), utf16).unwrap();
    let run = dir.path().join("run");
    let (notes_s, run_s) = (s(&notes), s(&run));
    let mut args = vec!["train", "--train", &notes_s, "--out", &run_s];
    args.extend_from_slice(SMALL_MODEL);
    args.extend(["--max-steps", "1"]);
    let refused = charrnn(&args);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("old.txt"));
    args.extend(["--encoding", "auto"]);
    let out = charrnn(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("read as utf-16le (1"), "{stderr}");
    assert!(stderr.contains("utf-8 (1"), "{stderr}");
    assert!(stderr.contains("windows-1252 (1"), "{stderr}");
    assert!(stderr.contains("old.txt"), "{stderr}");
    let vocab = ok(&["vocab", "show", &run_s, "--json"]);
    let tokens: Vec<&str> = vocab[0]["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["token"].as_str())
        .collect();
    for c in ["é", "“", "ï", "ÿ"] {
        assert!(tokens.contains(&c), "{c} in {tokens:?}");
    }
    assert!(!tokens.contains(&"Ã"), "no mojibake: {tokens:?}");
}
