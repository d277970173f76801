//! `charrnn experiment` end to end, the `--json` events as the experiment library reads them,
//! and the presets and library types the flags parse into.
//!
//! The run on the real AG News is gated by `CHARRNN_AG_NEWS_CSV`: a directory holding AG News
//! `train.csv` and `test.csv` (e.g. a mirror). Without it the test says so and passes.

use std::{
    fs,
    path::{Path, PathBuf},
};

use charrnn_experiment::{Event, Stop};

mod common;

use common::{charrnn, ok, s};

/// The environment variable naming a directory with AG News `train.csv` and `test.csv`.
const AG_NEWS_ENV: &str = "CHARRNN_AG_NEWS_CSV";

/// The shared titles, and one holding every character of the experiment's prompts.
fn titles() -> Vec<(u8, &'static str)> {
    let mut titles = common::TITLES.to_vec();
    titles.push((
        1,
        "Today: On Sunday in Moscow, the President read Little red riding hood",
    ));
    titles
}

/// Every stdout line, read as the experiment reads it.
fn events(stdout: &str) -> Vec<Event> {
    stdout
        .lines()
        .map(|l| Event::from_json(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect()
}

/// `train.parquet` (the titles four times over) and `test.parquet` (once) in `dir`, AG News
/// layout.
fn small_ag_news(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let titles = titles();
    for (name, copies) in [("train", 4), ("test", 1)] {
        let mut csv = String::new();
        for _ in 0..copies {
            for (label, title) in &titles {
                csv.push_str(&format!("\"{label}\",\"{title}\",\"A description.\"\n"));
            }
        }
        let csv_path = dir.join(format!("{name}.csv"));
        fs::write(&csv_path, csv).unwrap();
        let parquet = dir.join(format!("{name}.parquet"));
        let out = ok(&["prepare", &s(&csv_path), &s(&parquet), "--json"]);
        match &events(&out)[..] {
            [Event::Prepared(p)] => assert_eq!(p.rows, copies * titles.len() as u64),
            other => panic!("{other:?}"),
        }
    }
}

/// The experiment's arguments for a tiny run reading `data` and writing under `out`.
fn tiny_experiment<'a>(data: &'a str, out: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "experiment",
        "--data",
        data,
        "--out",
        out,
        "--max-steps",
        "8",
        "--samples",
        "1",
        "--device",
        "cpu",
        "--threads",
        "1",
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "--",
        // Epochs of a few steps: each end validates, for the report's epoch-end column.
        "--min-eval-gap",
        "1",
        "--hidden",
        "16",
        "--layers",
        "1",
        "--embed-dim",
        "8",
        "--batch-size",
        "8",
        "--eval-every",
        "3",
    ]);
    args
}

/// Checks the report's sections, budget sentence, validation and (when `epoch_ends`, else
/// none) the epoch-end column.
fn check_report(report: &Path, steps: u64, epoch_ends: bool) -> String {
    let md = fs::read_to_string(report).unwrap();
    for heading in [
        "## Configuration",
        "## Data",
        "## Training",
        "## Throughput",
        "## Test",
        "## Samples",
        "### greedy",
        "## Sample statistics",
        "## Files",
    ] {
        assert!(
            md.contains(&format!("\n{heading}\n")),
            "no {heading:?} in\n{md}"
        );
    }
    assert!(
        md.contains(&format!(
            "Budget: {steps} optimizer steps. The budget counts steps"
        )),
        "{md}"
    );
    assert!(md.contains("held out (seed 1)"), "{md}");
    // The epoch-end column is filled from metrics.jsonl.
    assert_eq!(
        md.lines()
            .any(|l| l.starts_with("| ") && l.contains(" | yes | ")),
        epoch_ends,
        "epoch ends in\n{md}"
    );
    let dir = report.parent().unwrap();
    let svg = fs::read_to_string(dir.join("bpc.svg")).unwrap();
    assert!(svg.contains("</svg>"));
    md
}

#[test]
fn the_experiment_runs_every_step_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    small_ag_news(&data);
    let out = tmp.path().join("experiments");
    let stdout = ok(&tiny_experiment(
        &s(&data),
        &s(&out),
        &["--json", "--name", "tiny"],
    ));
    let done = match &events(&stdout)[..] {
        [Event::Experiment(done)] => done.clone(),
        other => panic!("one experiment event, not {other:?}"),
    };
    assert_eq!(done.steps, 8);
    assert_eq!(done.report, out.join("tiny").join("report.md"));
    assert!(done.test_bpc.is_finite() && done.test_bpc > 0.0, "{done:?}");
    let md = check_report(&done.report, 8, true);
    // The default preset is label-conditioned: a group of samples per class.
    for class in ["World", "Sports", "Business", "Sci/Tech"] {
        assert!(md.contains(&format!("### {class}, T = 0.8")), "{md}");
    }
    // 36 titles, 5 % held out: 34 train, 2 validate; the 9 test titles are scored once.
    assert!(md.contains("| rows | 34 | 2 | 9 |"), "{md}");
    assert!(
        md.contains(&format!("**{:.4}** on 9 test titles", done.test_bpc)),
        "{md}"
    );
    let run = out.join("tiny").join("run");
    assert!(run.join("best").join("model.safetensors").is_file());
    // Run again and failing (a mistyped train flag, a diverging loss), the experiment leaves
    // the previous run whole.
    let kept = [
        "best/model.safetensors",
        "last/model.safetensors",
        "metrics.jsonl",
    ]
    .map(|f| fs::read(run.join(f)).unwrap());
    let (data_s, out_s) = (s(&data), s(&out));
    for extra in [["--hidden", "0"], ["--lr", "1e30"]] {
        let mut args = tiny_experiment(&data_s, &out_s, &["--name", "tiny", "--quiet"]);
        args.extend(extra);
        let failed = charrnn(&args);
        assert!(!failed.status.success(), "{extra:?}");
        if extra[0] == "--hidden" {
            // A mistyped train flag is a usage error, before anything runs.
            assert_eq!(failed.status.code(), Some(2));
        }
        let now = [
            "best/model.safetensors",
            "last/model.safetensors",
            "metrics.jsonl",
        ]
        .map(|f| fs::read(run.join(f)).unwrap());
        assert!(now == kept, "{extra:?} changed the previous run");
    }
    // The commands in the report rerun each step; none trains on the test file.
    let train_line = md
        .lines()
        .find(|l| l.starts_with("charrnn train "))
        .unwrap_or_else(|| panic!("no train command in\n{md}"));
    assert!(!train_line.contains("test.parquet"), "{train_line}");
    assert!(train_line.contains("--valid-fraction 0.05"), "{train_line}");

    // --no-labels and the notebook preset train unconditioned models.
    let stdout = ok(&tiny_experiment(
        &s(&data),
        &s(&out),
        &["--json", "--preset", "notebook", "--no-labels"],
    ));
    let Event::Experiment(done) = &events(&stdout)[0] else {
        panic!("{stdout}");
    };
    let md = fs::read_to_string(&done.report).unwrap();
    assert!(md.contains("No per-class samples"), "{md}");
    assert!(md.contains("| preset | `notebook` |"), "{md}");

    // Bad options are one clear error.
    let out_dir = s(&out);
    let bad = charrnn(&tiny_experiment("/nonexistent", &out_dir, &[]));
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("cargo xtask fetch"), "{stderr}");
    let bad = charrnn(&tiny_experiment(&s(&data), &out_dir, &["--name", "../up"]));
    assert_eq!(bad.status.code(), Some(1));
}

#[test]
fn json_events_are_what_the_experiment_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    small_ag_news(&data);
    let train = s(&data.join("train.parquet"));
    let vocab = s(&tmp.path().join("tokenizer.json"));
    let run = s(&tmp.path().join("run"));
    let built = ok(&["vocab", "build", &train, "--output", &vocab, "--json"]);
    assert!(
        matches!(&events(&built)[..], [Event::VocabBuilt(v)] if v.files == 1 && v.format == "parquet" && v.chars > 0)
    );
    let shown = ok(&["vocab", "show", &vocab, "--json"]);
    let [Event::Vocab(info)] = &events(&shown)[..] else {
        panic!("{shown}");
    };
    assert_eq!(
        (info.level.as_str(), info.tokens.len()),
        ("char", info.size)
    );
    let trained = ok(&[
        "train",
        "--train",
        &train,
        "--vocab",
        &vocab,
        "--out",
        &run,
        "--label-column",
        "label",
        "--hidden",
        "16",
        "--layers",
        "1",
        "--batch-size",
        "8",
        "--max-steps",
        "6",
        "--eval-every",
        "3",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--json",
    ]);
    let trained = events(&trained);
    let evals = trained
        .iter()
        .filter(|e| matches!(e, Event::Eval { .. }))
        .count();
    assert!(evals >= 2, "{trained:?}");
    let Some(Event::Done(done)) = trained.last() else {
        panic!("{trained:?}");
    };
    assert_eq!(
        (done.steps, done.max_steps, done.max_seconds),
        (6, Some(6), None)
    );
    assert_eq!(done.preset, "default");
    assert_eq!(done.labels, ["World", "Sports", "Business", "Sci/Tech"]);
    let scored = ok(&[
        "eval",
        &run,
        "--data",
        &s(&data.join("test.parquet")),
        "--json",
    ]);
    assert!(matches!(&events(&scored)[..], [Event::Score(score)] if score.examples == 9));
    let generated = ok(&[
        "generate",
        &run,
        "--prompt",
        "Te",
        "-n",
        "2",
        "--label",
        "Sports",
        "--max-len",
        "5",
        "--temperature",
        "0.5,1",
        "--json",
    ]);
    let samples = events(&generated);
    assert_eq!(samples.len(), 4);
    for event in samples {
        let Event::Generated(sample) = event else {
            panic!("{event:?}");
        };
        assert_eq!(sample.label.as_deref(), Some("Sports"));
        assert_eq!(sample.text, format!("Te{}", sample.generated));
        assert!(
            matches!(sample.stop, Stop::Eos | Stop::MaxLen),
            "{sample:?}"
        );
    }
}

#[test]
fn flags_parse_library_types_and_seed_is_a_hidden_alias() {
    let help = ok(&["train", "--help"]);
    for value in [
        "notebook",
        "default",
        "lstm, gru, rnn",
        "embedding, onehot",
        "adam, rmsprop, sgd",
    ] {
        assert!(help.contains(value), "{value:?} not in\n{help}");
    }
    assert!(
        !help.contains("- seed"),
        "the old name stays hidden:\n{help}"
    );
    let out = charrnn(&["train", "--train", "x", "--out", "y", "--cell", "lstmx"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("lstmx") && stderr.contains("lstm, gru, rnn"),
        "{stderr}"
    );

    // `seed` is the notebook, and the flags that name library types take effect.
    let tmp = tempfile::tempdir().unwrap();
    small_ag_news(tmp.path());
    let train = s(&tmp.path().join("train.parquet"));
    let run = |name: &str, preset: &str| {
        let dir = tmp.path().join(name);
        let stdout = ok(&[
            "train",
            "--train",
            &train,
            "--out",
            &s(&dir),
            "--preset",
            preset,
            "--cell",
            "gru",
            "--input",
            "embedding",
            "--embed-dim",
            "8",
            "--optimizer",
            "sgd",
            "--order",
            "bucketed",
            "--hidden",
            "8",
            "--max-steps",
            "4",
            "--device",
            "cpu",
            "--threads",
            "1",
            "--json",
        ]);
        let config = fs::read_to_string(dir.join("last").join("config.json")).unwrap();
        let config: serde_json::Value = serde_json::from_str(&config).unwrap();
        (events(&stdout), config)
    };
    let (seed, config) = run("seed", "seed");
    let (notebook, _) = run("notebook", "notebook");
    let losses = |events: &[Event]| -> Vec<Option<f64>> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Eval { record } => Some(record.train_bpc),
                _ => None,
            })
            .collect()
    };
    assert_eq!(losses(&seed), losses(&notebook));
    assert_eq!(config["model"]["cell"], "gru");
    assert_eq!(
        config["model"]["input"],
        serde_json::json!({"embedding": {"dim": 8}})
    );
    assert_eq!(config["training"]["optimizer"]["name"], "sgd");
    assert_eq!(config["training"]["order"]["name"], "bucketed");
    assert_eq!(config["data"]["preset"], "notebook");
    assert_eq!(config["data"]["columns"], serde_json::json!(["title"]));
}

#[test]
fn the_experiment_runs_on_ag_news_when_given_it() {
    let Some(csv_dir) = std::env::var_os(AG_NEWS_ENV).map(PathBuf::from) else {
        eprintln!(
            "note: {AG_NEWS_ENV} is not set; set it to a directory holding AG News train.csv \
             and test.csv to run the experiment on them. Skipped."
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    fs::create_dir_all(&data).unwrap();
    for name in ["train", "test"] {
        let csv = csv_dir.join(format!("{name}.csv"));
        ok(&[
            "prepare",
            &s(&csv),
            &s(&data.join(format!("{name}.parquet"))),
        ]);
    }
    let out = tmp.path().join("experiments");
    let stdout = ok(&tiny_experiment(&s(&data), &s(&out), &["--json"]));
    let Event::Experiment(done) = &events(&stdout)[0] else {
        panic!("{stdout}");
    };
    assert!(
        done.test_bpc.is_finite() && done.test_bpc < 10.0,
        "{done:?}"
    );
    // 8 steps of 64 titles are far from an epoch's end.
    let md = check_report(&done.report, 8, false);
    assert!(md.contains("test titles, after 8 steps"), "{md}");
}
