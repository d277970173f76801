//! The `charrnn` binary end to end on a tiny generated data set: prepare → vocab → train →
//! generate → eval, and one clear error line (no panic) for each user mistake.

use std::{path::PathBuf, process::Command};

use serde_json::Value;

mod common;

use common::{TITLES, charrnn, json_lines, ok};

/// A directory with `train.csv` (AG News layout, repeated so there is something to learn) and
/// its Parquet conversion.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let mut csv = String::new();
        for _ in 0..4 {
            for (label, title) in TITLES {
                csv.push_str(&format!(
                    "\"{label}\",\"{title}\",\"A description, with \"\"quotes\"\".\"\n"
                ));
            }
        }
        std::fs::write(dir.path().join("train.csv"), csv).unwrap();
        let f = Fixture { dir };
        let out = ok(&["prepare", f.s("train.csv"), f.s("train.parquet"), "--json"]);
        assert_eq!(json_lines(&out)[0]["rows"], 32);
        f
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> &'static str {
        // Leaked once per test: keeps the argument lists readable.
        Box::leak(
            self.path(name)
                .to_string_lossy()
                .into_owned()
                .into_boxed_str(),
        )
    }

    fn train(&self, run: &str, steps: &str, extra: &[&str]) -> Value {
        let mut args = vec![
            "train",
            "--train",
            self.s("train.parquet"),
            "--valid-fraction",
            "0.25",
            "--out",
            self.s(run),
            "--hidden",
            "24",
            "--layers",
            "1",
            "--embed-dim",
            "8",
            "--batch-size",
            "8",
            "--max-steps",
            steps,
            "--eval-every",
            "6",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--json",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let lines = json_lines(&ok(&args));
        lines.last().expect("a done line").clone()
    }
}

#[test]
fn prepare_vocab_train_generate_eval() {
    let f = Fixture::new();

    ok(&[
        "vocab",
        "build",
        f.s("train.parquet"),
        "--column",
        "title",
        "--output",
        f.s("tokenizer.json"),
    ]);
    let shown = json_lines(&ok(&["vocab", "show", f.s("tokenizer.json"), "--json"]))[0].clone();
    let chars: std::collections::BTreeSet<char> =
        TITLES.iter().flat_map(|(_, t)| t.chars()).collect();
    assert_eq!(
        shown["size"],
        chars.len() + 4,
        "characters plus <pad>, <eos>, <unk>, <bos>"
    );
    assert_eq!(shown["tokens"][0]["token"], "<pad>");

    let done = f.train("run", "12", &["--vocab", f.s("tokenizer.json")]);
    assert_eq!(done["event"], "done");
    assert_eq!(done["steps"], 12);
    assert!(done["best_val_bpc"].as_f64().unwrap().is_finite());
    for part in [
        "best/model.safetensors",
        "best/config.json",
        "best/tokenizer.json",
        "last/optimizer.safetensors",
    ] {
        assert!(f.path("run").join(part).is_file(), "{part} missing");
    }
    // 24 training titles in batches of 8: an epoch ends every 3 steps, too soon after the last
    // validation (fewer than 50 steps) to validate; --eval-every 6 validates.
    let metrics = std::fs::read_to_string(f.path("run/metrics.jsonl")).unwrap();
    let steps: Vec<u64> = json_lines(&metrics)
        .iter()
        .map(|m| m["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [6, 12]);

    // Two prompts × two samples × two temperatures, seeded, with `extra` flags.
    let seeded = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            f.s("run"),
            "--prompt",
            "Stocks",
            "--prompt",
            "",
            "-n",
            "2",
            "--temperature",
            "0.5,1.5",
            "--max-len",
            "20",
            "--seed",
            "3",
            "--json",
        ];
        args.extend_from_slice(extra);
        json_lines(&ok(&args))
    };
    let samples = seeded(&[]);
    assert_eq!(samples.len(), 2 * 2 * 2, "prompts × samples × temperatures");
    for s in &samples {
        let (prompt, text, generated) = (
            s["prompt"].as_str().unwrap(),
            s["text"].as_str().unwrap(),
            s["generated"].as_str().unwrap(),
        );
        assert_eq!(text, format!("{prompt}{generated}"));
        assert!(generated.chars().count() <= 20);
        assert!(
            generated.chars().all(|c| chars.contains(&c)),
            "only known characters: {generated:?}"
        );
        assert!(!text.contains("<pad>") && !text.contains("<bos>"));
    }
    // The same seed gives the same samples.
    assert_eq!(samples, seeded(&[]));
    // Sampling on the device (CPU tensors here) follows the same streams, in blocks of any
    // length.
    for sync in ["1", "7"] {
        let on_device = seeded(&["--sampler", "device", "--sync-every", sync]);
        assert_eq!(samples, on_device, "--sync-every {sync}");
    }

    let greedy = ok(&[
        "generate",
        f.s("run"),
        "--prompt",
        "Oil",
        "--greedy",
        "--max-len",
        "10",
    ]);
    assert!(greedy.starts_with("Oil"), "{greedy:?}");

    let eval = json_lines(&ok(&[
        "eval",
        f.s("run"),
        "--data",
        f.s("train.parquet"),
        "--json",
    ]))[0]
        .clone();
    let bpc = eval["bits_per_char"].as_f64().unwrap();
    assert!(bpc.is_finite() && bpc > 0.0, "{eval}");
    let expected_chars: usize = TITLES
        .iter()
        .map(|(_, t)| t.chars().count() + 1)
        .sum::<usize>()
        * 4;
    assert_eq!(
        eval["chars"], expected_chars,
        "every character and each <eos> is scored"
    );
}

/// `eval --per-text` scores each title (their characters and bits add up to the total);
/// `--classify` scores each under every class and predicts the likeliest: a model that has
/// learnt its titles classifies them, with or without the data's labels.
#[test]
fn eval_scores_each_text_and_classifies_by_likelihood() {
    let f = Fixture::new();
    f.train("run", "150", &["--label-column", "label", "--lr", "0.02"]);
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", f.s("run"), "--data", f.s("train.csv"), "--json"];
        args.extend_from_slice(extra);
        json_lines(&ok(&args))
    };
    let per_text = eval(&["--per-text"]);
    let (texts, total) = per_text.split_at(per_text.len() - 1);
    assert_eq!(texts.len(), 32);
    assert_eq!(total[0]["event"], "score");
    let chars: u64 = texts.iter().map(|t| t["chars"].as_u64().unwrap()).sum();
    assert_eq!(Some(chars), total[0]["chars"].as_u64());
    let bits: f64 = texts
        .iter()
        .map(|t| t["bits_per_char"].as_f64().unwrap() * t["chars"].as_f64().unwrap())
        .sum();
    let mean = total[0]["bits_per_char"].as_f64().unwrap();
    assert!((bits / chars as f64 - mean).abs() < 1e-9, "{bits} {mean}");
    let plain = eval(&[]);
    let whole = plain[0]["bits_per_char"].as_f64().unwrap();
    assert!((whole - mean).abs() < 1e-6, "{whole} vs {mean}");
    for (i, t) in texts.iter().enumerate() {
        assert_eq!(t["text"], i);
        let class = ["World", "Sports", "Business", "Sci/Tech"][TITLES[i % 8].0 as usize - 1];
        assert_eq!(t["label"], class);
    }

    let classified = eval(&["--classify", "--label-column", "label"]);
    let summary = classified.last().unwrap();
    assert_eq!(summary["event"], "classification");
    assert_eq!(summary["texts"], 32);
    let confusion: Vec<Vec<u64>> = serde_json::from_value(summary["confusion"].clone()).unwrap();
    let right: u64 = (0..4).map(|c| confusion[c][c]).sum();
    assert_eq!(confusion.iter().flatten().sum::<u64>(), 32);
    let accuracy = summary["accuracy"].as_f64().unwrap();
    assert!((accuracy - right as f64 / 32.0).abs() < 1e-12);
    assert!(
        accuracy >= 0.75,
        "a model of its own titles classifies them: {accuracy}"
    );
    // The same texts without their labels: the same predictions, no accuracy.
    let blind = eval(&["--classify", "--per-text"]);
    let blind_summary = blind.last().unwrap();
    assert_eq!(blind_summary["predicted"], summary["predicted"]);
    assert!(blind_summary.get("accuracy").is_none());
    for t in blind.iter().filter(|e| e["event"] == "text_score") {
        let by_class: Vec<f64> = serde_json::from_value(t["class_bits_per_char"].clone()).unwrap();
        let best = by_class.iter().copied().fold(f64::INFINITY, f64::min);
        assert_eq!(t["bits_per_char"].as_f64(), Some(best));
        assert!(t.get("label").is_none());
    }
    f.train("plain", "2", &[]);
    check_error(
        &[
            "eval",
            f.s("plain"),
            "--data",
            f.s("train.csv"),
            "--classify",
        ],
        "--classify needs a label-conditioned model",
    );
}

#[test]
fn label_conditioned_models_take_a_class() {
    let f = Fixture::new();
    let done = f.train("run", "12", &["--label-column", "label"]);
    assert_eq!(
        done["labels"],
        serde_json::json!(["World", "Sports", "Business", "Sci/Tech"])
    );
    // `info` describes the checkpoint: as people read it, and whole as JSON.
    let info = json_lines(&ok(&["info", f.s("run"), "--json"]));
    assert_eq!(info[0]["event"], "info");
    assert!(info[0]["checkpoint"].as_str().unwrap().ends_with("best"));
    assert_eq!(info[0]["config"]["model"]["hidden"], 24);
    assert_eq!(info[0]["config"]["data"]["label_column"], "label");
    assert!(info[0]["config"]["progress"]["step"].as_u64().unwrap() <= 12);
    assert!(info[0]["parameters"].as_u64().unwrap() > 0);
    let text = ok(&["info", f.s("run")]);
    for needle in [
        "model: lstm of 1 layer(s) x 24",
        "classes World, Sports, Business, Sci/Tech",
        "recipe: adam",
        "validated on a held-out 25%",
    ] {
        assert!(text.contains(needle), "{needle:?} in {text}");
    }
    check_error(&["info", f.s("nothing")], "does not exist");
    let out = ok(&[
        "generate",
        f.s("run"),
        "--label",
        "sports",
        "--greedy",
        "--max-len",
        "5",
        "--json",
    ]);
    assert_eq!(json_lines(&out).len(), 1);
    assert_eq!(json_lines(&out)[0]["label"], "Sports");
    // Without --label, one sample per class, each saying which.
    let every = json_lines(&ok(&[
        "generate",
        f.s("run"),
        "--greedy",
        "--max-len",
        "5",
        "--json",
    ]));
    let classes: Vec<&str> = every.iter().map(|s| s["label"].as_str().unwrap()).collect();
    assert_eq!(classes, ["World", "Sports", "Business", "Sci/Tech"]);
    // A class the model lacks, by name or index, is a usage error naming the classes.
    for label in ["Weather", "4"] {
        let culprit = format!("invalid value '{label}' for '--label <LABEL>'");
        check_usage(
            &["generate", f.s("run"), "--label", label],
            &[
                culprit.as_str(),
                "classes: World, Sports, Business, Sci/Tech; or an index from 0 to 3",
            ],
        );
    }
}

#[test]
fn resume_continues_a_run() {
    let f = Fixture::new();
    f.train("run", "6", &[]);
    let done = f.train("run", "12", &["--resume", f.s("run")]);
    assert_eq!(done["steps"], 12);
    let metrics = std::fs::read_to_string(f.path("run/metrics.jsonl")).unwrap();
    let steps: Vec<u64> = json_lines(&metrics)
        .iter()
        .map(|m| m["step"].as_u64().unwrap())
        .collect();
    assert_eq!(
        steps,
        [6, 12],
        "the resumed run keeps the first run's evaluations"
    );
}

/// Runs `args` expecting failure: exit code 1 or 2, one `error:`/usage message containing
/// `needle` on stderr, and no panic.
fn check_error(args: &[&str], needle: &str) {
    let out = charrnn(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "charrnn {args:?} succeeded");
    assert!(
        matches!(out.status.code(), Some(1 | 2)),
        "{args:?}: exit {:?}",
        out.status.code()
    );
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{args:?} panicked: {stderr}"
    );
    assert!(
        stderr.contains(needle),
        "{args:?}: expected {needle:?} in {stderr:?}"
    );
    // Usage errors (2) too: clap's own message, its tips folded in, no usage block.
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{args:?}: one line, got {stderr:?}"
    );
    assert!(stderr.starts_with("error: "), "{stderr:?}");
}

/// Runs `args` expecting a usage error: exit 2, nothing on stdout, and on stderr exactly one
/// line, `error: ...`, containing every one of `needles` (the flag at fault first).
fn check_usage(args: &[&str], needles: &[&str]) {
    let out = charrnn(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "charrnn {args:?}: {stderr}");
    assert!(
        out.stdout.is_empty(),
        "charrnn {args:?} wrote {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.starts_with("error: ") && stderr.ends_with('\n'),
        "charrnn {args:?}: {stderr:?}"
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "charrnn {args:?}: one line, got {stderr:?}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "charrnn {args:?}: expected {needle:?} in {stderr:?}"
        );
    }
}

#[test]
fn usage_errors_are_one_line_naming_the_flag() {
    let train = |extra: &[&'static str]| {
        let mut line = vec!["train", "--train", "x.parquet", "--out", "run"];
        line.extend_from_slice(extra);
        line
    };
    // A value out of range, before the missing required flags.
    check_usage(
        &["train", "--window", "0"],
        &["--window", "must be at least 1"],
    );
    check_usage(
        &train(&["--cell", "lstmx"]),
        &["'--cell <CELL>'", "[possible values: lstm, gru, rnn]"],
    );
    // An unknown flag or subcommand; clap's tip on the same line.
    check_usage(&train(&["--data", "x"]), &["'--data'"]);
    check_usage(
        &["trian"],
        &["'trian'", "(tip: a similar subcommand exists: 'train')"],
    );
    // Missing required flags, listed on the one line.
    let out = charrnn(&["train"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: the following required arguments were not provided: --train <TRAIN>, --out \
         <OUT>\n"
    );
    check_usage(&["train"], &["--train <TRAIN>", "--out <OUT>"]);
    // Flags that cannot go together.
    check_usage(
        &train(&["--init-from", "a", "--resume", "b"]),
        &["--init-from", "--resume"],
    );
    check_usage(
        &["generate", "run", "--greedy", "--temperature", "1"],
        &["--greedy", "--temperature"],
    );
    // A negative seed is a value of --seed out of range, not an unknown flag '-5'.
    for line in [
        train(&["--seed", "-5"]),
        vec!["generate", "run", "--seed", "-5"],
        vec!["serve", "run", "--seed", "-1"],
        vec!["experiment", "--seed", "-5"],
    ] {
        check_usage(&line, &["'--seed <SEED>'", "0 to 18446744073709551615"]);
    }
    check_usage(&train(&["--seed", "18446744073709551616"]), &["--seed"]);
    // train has no --greedy to point to.
    check_usage(
        &train(&["--sample-temperature", "0.8,0"]),
        &["--sample-temperature", "generate --greedy"],
    );
    // Errors found after parsing go the same way: the train flags of an experiment, and a
    // serve limit the server cannot hold.
    check_usage(
        &["experiment", "--", "--hidden", "0"],
        &["--hidden", "must be at least 1"],
    );
    check_usage(
        &["serve", "run", "--max-queue", "99999999999"],
        &["--max-queue", "at most"],
    );
    // Help and version are not errors.
    let help = charrnn(&["train", "--help"]);
    assert!(help.status.success() && help.stderr.is_empty());
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage: charrnn train"));
    let version = charrnn(&["--version"]);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("charrnn "));
}

#[test]
fn user_mistakes_get_one_clear_line() {
    let f = Fixture::new();
    f.train("run", "12", &[]);
    let run = f.s("run");
    let data = f.s("train.parquet");

    check_error(
        &["prepare", f.s("missing.csv"), f.s("x.parquet")],
        "missing.csv",
    );
    check_error(
        &[
            "train",
            "--train",
            data,
            "--out",
            f.s("r2"),
            "--column",
            "headline",
        ],
        "headline",
    );
    // A CSV file is read directly now; forced to another format it is a clear error.
    check_error(
        &[
            "train",
            "--train",
            f.s("train.csv"),
            "--out",
            f.s("r2"),
            "--format",
            "jsonl",
        ],
        "train.csv: line 1: not a JSON object",
    );
    check_error(
        &[
            "train",
            "--train",
            f.s("train.csv"),
            "--out",
            f.s("r2"),
            "--column",
            "headline",
        ],
        "headline",
    );
    check_error(
        &[
            "train",
            "--train",
            data,
            "--out",
            f.s("r2"),
            "--hidden",
            "0",
            "--max-steps",
            "1",
        ],
        "hidden",
    );
    check_error(
        &[
            "train",
            "--train",
            data,
            "--out",
            f.s("r2"),
            "--batch-size",
            "many",
        ],
        "--batch-size",
    );
    check_error(
        &[
            "generate",
            run,
            "--prompt",
            "Little red riding hood ñ",
            "--strict",
        ],
        "'ñ'",
    );
    check_error(&["generate", run, "--temperature", "0"], "greedy");
    check_error(&["generate", run, "--temperature", "-1"], "temperature");
    check_error(&["generate", run, "--top-p", "2"], "top_p");
    check_error(&["generate", f.s("nowhere")], "nowhere");
    check_usage(
        &["generate", run, "--label", "Sports"],
        &["'--label <LABEL>'", "without labels"],
    );
    check_error(
        &["eval", run, "--data", f.s("nothing.parquet")],
        "nothing.parquet",
    );
    check_error(&["vocab", "show", f.s("nowhere")], "nowhere");
    if !charrnn_model::tch::Cuda::is_available() {
        check_error(&["generate", run, "--device", "cuda"], "CUDA");
    }
    check_error(&["generate", run, "--device", "tpu"], "tpu");

    // A truncated weights file is reported, not a crash.
    let weights = f.path("run/best/model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    check_error(&["generate", f.s("run/best")], "model.safetensors");
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let f = Fixture::new();
    ok(&[
        "vocab",
        "build",
        f.s("train.parquet"),
        "--output",
        f.s("tokenizer.json"),
    ]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_charrnn"))
        .args(["vocab", "show", f.s("tokenizer.json")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away at once, like `| head -0`
    let out = child.wait_with_output().unwrap();
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    assert!(out.status.success());
}

#[test]
fn prepare_detects_a_csv_header_as_train_does() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| common::s(&dir.path().join(name));
    // The columns a Parquet file really has: those a missing column's error lists.
    let columns_of = |parquet: &str| {
        let vocab = path("v.tokenizer.json");
        let args = [
            "vocab", "build", parquet, "--column", "nope", "--output", &vocab,
        ];
        let out = charrnn(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let (_, columns) = stderr
            .trim_end()
            .split_once("the columns are: ")
            .unwrap_or_else(|| panic!("{stderr}"));
        columns.to_owned()
    };
    let mut headed = String::from("id,text,label,note\n");
    for i in 0..200 {
        headed.push_str(&format!("{i},\"Row {i}, said the text\",{},n{i}\n", i % 4));
    }
    std::fs::write(dir.path().join("short.csv"), headed).unwrap();
    let out = ok(&[
        "prepare",
        &path("short.csv"),
        &path("short.parquet"),
        "--json",
    ]);
    let prepared = &json_lines(&out)[0];
    assert_eq!(prepared["rows"], 200);
    assert_eq!(
        prepared["columns"],
        serde_json::json!(["id", "text", "label", "note"])
    );
    assert_eq!(columns_of(&path("short.parquet")), "id, text, label, note");

    // The AG News layout has no header, and still converts without one.
    let mut ag = String::new();
    for (label, title) in TITLES {
        ag.push_str(&format!("\"{label}\",\"{title}\",\"A description.\"\n"));
    }
    std::fs::write(dir.path().join("ag.csv"), ag).unwrap();
    let out = ok(&["prepare", &path("ag.csv"), &path("ag.parquet"), "--json"]);
    let prepared = &json_lines(&out)[0];
    assert_eq!(prepared["rows"], TITLES.len());
    assert_eq!(columns_of(&path("ag.parquet")), "label, title, description");

    // --header still forces a header: the first AG News row names the columns.
    let out = ok(&[
        "prepare",
        &path("ag.csv"),
        &path("forced.parquet"),
        "--header",
        "--json",
    ]);
    let prepared = &json_lines(&out)[0];
    assert_eq!(prepared["rows"], TITLES.len() - 1);
    assert_eq!(prepared["columns"][1], TITLES[0].1);
}

/// `n` with its thousands grouped, as `eval` prints counts: `1,234`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `eval --per-text` names each text: a directory's texts by their files (an empty file gives
/// none, so the index alone would not tell which), a CSV's by their first characters, escaped
/// so the TSV keeps one line per text; the totals count texts and, for a windowed model, the
/// windows.
#[test]
fn eval_per_text_names_each_text_and_counts_texts_and_windows() {
    let f = Fixture::new();
    let texts = f.path("texts");
    std::fs::create_dir(&texts).unwrap();
    std::fs::write(
        texts.join("a.txt"),
        "Stocks rally as oil prices fall.\nTeam wins the cup final at home.\n",
    )
    .unwrap();
    std::fs::write(texts.join("b.txt"), "").unwrap();
    std::fs::write(
        texts.join("c.txt"),
        "Leaders meet\tfor talks on trade.\n".repeat(40),
    )
    .unwrap();
    std::fs::write(texts.join("d.txt"), "New chip doubles battery life\n").unwrap();
    let named = ["a.txt", "c.txt", "d.txt"].map(|n| common::s(&texts.join(n)));
    ok(&[
        "train",
        "--train",
        f.s("texts"),
        "--valid-fraction",
        "0.25",
        "--out",
        f.s("run"),
        "--hidden",
        "16",
        "--layers",
        "1",
        "--embed-dim",
        "8",
        "--batch-size",
        "8",
        "--max-steps",
        "2",
        "--eval-every",
        "2",
        "--window",
        "16",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--json",
        "--quiet",
    ]);
    let eval = |data: &str, extra: &[&str]| {
        let mut args = vec![
            "eval",
            f.s("run"),
            "--data",
            data,
            "--device",
            "cpu",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        ok(&args)
    };
    // The score as JSON: `examples` still counts the windows scored.
    let total = |data: &str| {
        let lines = json_lines(&eval(data, &["--json"]));
        let score = lines.last().unwrap().clone();
        assert_eq!(score["event"], "score");
        let (chars, windows) = (
            score["chars"].as_u64().unwrap(),
            score["examples"].as_u64().unwrap(),
        );
        let bpc = score["bits_per_char"].as_f64().unwrap();
        (bpc, chars, windows)
    };

    let (bpc, chars, windows) = total(f.s("texts"));
    assert!(chars > 1000 && windows > 3, "{chars} {windows}");
    let line = format!(
        "{bpc:.4} bits per character over {} characters (3 texts, {} windows)",
        grouped(chars),
        grouped(windows)
    );
    assert_eq!(eval(f.s("texts"), &[]), format!("{line}\n"));
    let per_text = eval(f.s("texts"), &["--per-text"]);
    let rows: Vec<Vec<&str>> = per_text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 5, "{per_text}");
    assert_eq!(rows[0], ["text", "chars", "bits_per_char", "file"]);
    for (k, row) in rows[1..4].iter().enumerate() {
        assert_eq!(row.len(), 4, "{row:?}");
        assert_eq!(row[0], k.to_string());
        assert_eq!(row[3], named[k], "the empty b.txt holds no text");
    }
    let summed: u64 = rows[1..4]
        .iter()
        .map(|r| r[1].parse::<u64>().unwrap())
        .sum();
    assert_eq!(summed, chars);
    assert_eq!(rows[4], [line.as_str()], "the same total, texts counted");
    let events = json_lines(&eval(f.s("texts"), &["--per-text", "--json"]));
    assert_eq!(events.len(), 4);
    for (k, t) in events[..3].iter().enumerate() {
        assert_eq!(t["event"], "text_score");
        assert_eq!(t["text"], k);
        assert_eq!(t["file"], named[k].as_str());
    }
    assert_eq!(
        events[1]["start"],
        "Leaders meet\tfor talks on trade.\nLeaders"
    );
    assert_eq!(events[2]["start"], "New chip doubles battery life\n");

    // One file: one text, not "1 texts".
    let (bpc, chars, windows) = total(&named[2]);
    assert_eq!(
        eval(&named[2], &[]),
        format!(
            "{bpc:.4} bits per character over {chars} characters (1 text, {windows} windows)\n"
        )
    );

    // A CSV's texts by their start: 40 characters at most, tabs, line breaks and backslashes
    // escaped, `…` when the text goes on.
    let csv = f.path("texts.csv");
    std::fs::write(
        &csv,
        "text\nShort one\n\"Two\nlines\tand a tab, then more than forty characters in all\"\n\
         back\\slash\n",
    )
    .unwrap();
    let csv = common::s(&csv);
    let per_text = eval(&csv, &["--per-text"]);
    let rows: Vec<Vec<&str>> = per_text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 5, "{per_text}");
    assert_eq!(rows[0], ["text", "chars", "bits_per_char", "start"]);
    let starts: Vec<&str> = rows[1..4].iter().map(|r| r[3]).collect();
    assert_eq!(
        starts,
        [
            "Short one",
            "Two\\nlines\\tand a tab, then more than fort…",
            "back\\\\slash",
        ]
    );
    let (bpc, chars, windows) = total(&csv);
    assert_eq!(
        rows[4],
        [format!(
            "{bpc:.4} bits per character over {chars} characters (3 texts, {windows} windows)"
        )]
    );
    let events = json_lines(&eval(&csv, &["--per-text", "--json"]));
    let starts: Vec<&str> = events[..3]
        .iter()
        .map(|t| t["start"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "Short one",
            "Two\nlines\tand a tab, then more than fort",
            "back\\slash"
        ]
    );
    assert!(events[..3].iter().all(|t| t.get("file").is_none()));
}

/// Several samples printed for a person are told apart, however many lines each holds: each
/// comes after a header line numbering it and saying how it was made, the next one after a
/// blank line; their texts are those `--json` gives.
#[test]
fn generate_numbers_several_samples_under_a_header_each() {
    let f = Fixture::new();
    f.train("run", "2", &[]);
    let generate = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            f.s("run"),
            "--prompt",
            "Oil\nprices",
            "--prompt",
            "",
            "-n",
            "2",
            "--temperature",
            "0.5,1.5",
            "--max-len",
            "12",
            "--seed",
            "3",
            "--device",
            "cpu",
        ];
        args.extend_from_slice(extra);
        ok(&args)
    };
    let samples = json_lines(&generate(&["--json"]));
    assert_eq!(samples.len(), 8);
    let mut expected = String::new();
    for (i, s) in samples.iter().enumerate() {
        if i > 0 {
            expected.push('\n');
        }
        let (t, prompt) = (&s["temperature"], s["prompt"].as_str().unwrap());
        expected.push_str(&format!(
            "--- sample {} of 8 (T={t}, prompt {prompt:?}) ---\n{}\n",
            i + 1,
            s["text"].as_str().unwrap()
        ));
    }
    assert!(
        expected.contains("--- sample 1 of 8 (T=0.5, prompt \"Oil\\nprices\") ---\nOil\nprices")
    );
    assert!(expected.contains("--- sample 8 of 8 (T=1.5, prompt \"\") ---\n"));
    assert_eq!(generate(&[]), expected);
    // A long prompt is named by its start and length: the sample below holds it whole.
    let long = "Oil prices ".repeat(20);
    let shown = ok(&[
        "generate",
        f.s("run"),
        "--prompt",
        &long,
        "-n",
        "2",
        "--max-len",
        "3",
        "--device",
        "cpu",
    ]);
    let header = shown.lines().next().unwrap();
    assert_eq!(
        header,
        format!(
            "--- sample 1 of 2 (T=1, prompt {:?}… (220 characters)) ---",
            &long[..60]
        )
    );
    assert!(shown.contains(&format!("---\n{long}")), "{shown}");
}

/// Without --column, a CSV with no `title` column reads its `text` column (and its validation
/// file the same one); with neither, the error says how to name one.
#[test]
fn a_csv_without_title_reads_its_text_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = |name: &str, header: &str| {
        let mut text = format!("{header}\n");
        for (label, title) in TITLES.iter().cycle().take(40) {
            text.push_str(&format!("{label},\"{title}\",\"x\"\n"));
        }
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let (train, valid) = (
        csv("train.csv", "label,text,note"),
        csv("valid.csv", "label,text,note"),
    );
    let run = dir.path().join("run").display().to_string();
    let mut args = vec![
        "train",
        "--train",
        &train,
        "--valid",
        &valid,
        "--out",
        &run,
        "--hidden",
        "8",
        "--layers",
        "1",
        "--max-steps",
        "1",
        "--device",
        "cpu",
        "--json",
    ];
    let done = json_lines(&ok(&args));
    // Validation text the vocabulary does not cover is warned about (here: digits only).
    let digits = dir.path().join("digits.csv");
    std::fs::write(&digits, "label,text\n1,0123456789\n2,9876543210\n").unwrap();
    let mut other = args.clone();
    other[4] = digits.to_str().unwrap();
    other[6] = dir
        .path()
        .join("digits_run")
        .to_str()
        .unwrap()
        .to_owned()
        .leak();
    let warned = charrnn(&other);
    assert!(warned.status.success());
    let stderr = String::from_utf8_lossy(&warned.stderr);
    assert!(
        stderr.contains("warning: 100.0 % of the characters of --valid"),
        "{stderr}"
    );
    let info = json_lines(&ok(&["info", &run, "--json"]));
    assert_eq!(
        info[0]["config"]["data"]["columns"],
        serde_json::json!(["text"])
    );
    assert_eq!(done.last().unwrap()["event"], "done");
    let body = csv("body.csv", "label,body,note");
    args[2] = &body;
    args[4] = &body;
    args.push("--overwrite");
    check_error(&args, "--column NAME names the text column");
    // A CSV separated by semicolons (as a European Excel saves it) is named as such.
    let semi = csv("semi.csv", "label;text;note");
    args[2] = &semi;
    args[4] = &semi;
    check_error(&args, "separated by `;`: give --delimiter ';'");
}

/// `--interactive` answers each line of standard input before it reads the next: a program
/// holding both pipes gets line 1's sample while line 2 is not written yet. Line K samples
/// with --seed + K, and a line it cannot use is skipped with an `error:` line and exit 1.
#[test]
fn interactive_answers_line_by_line() {
    use std::io::{BufRead, Write};
    let f = Fixture::new();
    f.train("run", "2", &[]);
    let base = [
        "generate",
        f.s("run"),
        "--max-len",
        "12",
        "--json",
        "--device",
        "cpu",
        "--seed",
        "7",
    ];
    let mut args = base.to_vec();
    args.extend(["--interactive", "--strict"]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_charrnn"))
        .args(&args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    // A deadlock guard, not a speed limit: a reader of the whole input never answers here.
    let mut answers = Vec::new();
    for line in ["Oil", "Oil", "\u{e9}t\u{e9}", "Stocks fall"] {
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
        match rx.recv_timeout(std::time::Duration::from_secs(120)) {
            Ok(answer) => answers.push(answer),
            Err(_) => {
                let _ = child.kill();
                let done = child.wait_with_output().unwrap();
                panic!(
                    "no answer to {line:?} while standard input stays open: {}",
                    String::from_utf8_lossy(&done.stderr)
                );
            }
        }
    }
    drop(stdin);
    let done = child.wait_with_output().unwrap();
    assert_eq!(
        done.status.code(),
        Some(1),
        "a skipped line makes the exit status 1"
    );
    let stderr = String::from_utf8(done.stderr).unwrap();
    assert!(
        stderr.contains("error: --interactive: line 3: --strict"),
        "{stderr}"
    );
    assert!(rx.try_recv().is_err(), "one answer a line");
    let mut events: Vec<serde_json::Value> = answers
        .iter()
        .map(|a| serde_json::from_str(a).unwrap())
        .collect();
    // The line it cannot use is answered too: a program waiting for it does not wait forever.
    let skipped = events.remove(2);
    assert_eq!(skipped["event"], "skipped", "{skipped}");
    assert_eq!(skipped["line"], 3);
    assert!(skipped["message"].as_str().unwrap().starts_with("--strict"));
    let prompts: Vec<&str> = events
        .iter()
        .map(|e| e["prompt"].as_str().unwrap())
        .collect();
    assert_eq!(prompts, ["Oil", "Oil", "Stocks fall"]);
    // Line K is the sample that --seed 7 + K gives.
    for (k, (prompt, event)) in [
        ("Oil", &events[0]),
        ("Oil", &events[1]),
        ("Stocks fall", &events[2]),
    ]
    .into_iter()
    .enumerate()
    {
        let k = if k == 2 { 3 } else { k };
        let seed = (7 + k).to_string();
        let mut alone = base[..base.len() - 1].to_vec();
        alone.extend([seed.as_str(), "--prompt", prompt]);
        let expected = json_lines(&ok(&alone));
        assert_eq!(expected.len(), 1);
        assert_eq!(&expected[0], event, "line {k}");
    }
}

/// Prompts from a file, or from standard input, one a line, with `\n` for a line break: the
/// same samples as the same prompts given with --prompt.
#[test]
fn prompts_come_from_a_file_or_standard_input() {
    let f = Fixture::new();
    f.train("run", "2", &[]);
    let file = f.path("prompts.txt");
    std::fs::write(&file, "Oil\nStocks\\nfall\nback\\\\slash\n").unwrap();
    let base = [
        "generate",
        f.s("run"),
        "--greedy",
        "--max-len",
        "8",
        "--json",
        "--device",
        "cpu",
    ];
    let prompts_of = |out: &str| -> Vec<String> {
        json_lines(out)
            .iter()
            .map(|e| e["prompt"].as_str().unwrap().to_owned())
            .collect()
    };
    let mut from_file = base.to_vec();
    from_file.extend(["--prompt-file", f.s("prompts.txt")]);
    let out = ok(&from_file);
    assert_eq!(prompts_of(&out), ["Oil", "Stocks\nfall", "back\\slash"]);
    let mut given = base.to_vec();
    given.extend([
        "--prompt",
        "Oil",
        "--prompt",
        "Stocks\nfall",
        "--prompt",
        "back\\slash",
    ]);
    assert_eq!(ok(&given), out, "the same samples as --prompt");
    // Standard input, after a --prompt.
    let mut piped = base.to_vec();
    piped.extend(["--prompt", "Oil", "--prompt-file", "-"]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_charrnn"))
        .args(&piped)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"Stocks\n").unwrap();
    let piped_out = child.wait_with_output().unwrap();
    assert!(piped_out.status.success());
    assert_eq!(
        prompts_of(&String::from_utf8(piped_out.stdout).unwrap()),
        ["Oil", "Stocks"]
    );
    // A byte-order mark is no part of the first prompt; a UTF-16 file (its mark says so) and
    // a Latin-1 one given --encoding read as the same prompts.
    std::fs::write(&file, b"\xEF\xBB\xBFOil\nStocks\\nfall\nback\\\\slash\n").unwrap();
    assert_eq!(ok(&from_file), out, "UTF-8 with a byte-order mark");
    let utf16: Vec<u8> = [0xFEFF_u16]
        .into_iter()
        .chain("Oil\nStocks\\nfall\nback\\\\slash\n".encode_utf16())
        .flat_map(u16::to_le_bytes)
        .collect();
    std::fs::write(&file, utf16).unwrap();
    assert_eq!(ok(&from_file), out, "UTF-16 with a byte-order mark");
    std::fs::write(&file, b"Oil\xE9\n").unwrap();
    check_error(&from_file, "--prompt-file");
    let mut latin = from_file.clone();
    latin.extend(["--encoding", "latin-1", "--strict"]);
    let err = String::from_utf8(charrnn(&latin).stderr).unwrap();
    assert!(
        err.contains("'é'") || err.contains("é"),
        "decoded as latin-1: {err}"
    );
    let mut no_file = base.to_vec();
    no_file.extend(["--encoding", "latin-1"]);
    check_usage(&no_file, &["--encoding", "--prompt-file"]);
    // Too many samples in all is a usage error naming the flag.
    std::fs::write(&file, "a\n".repeat(40)).unwrap();
    let mut many = base.to_vec();
    many.extend(["--prompt-file", f.s("prompts.txt"), "-n", "2000"]);
    check_usage(&many, &["--prompt-file", "80000 samples"]);
}
