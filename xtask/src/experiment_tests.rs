use std::path::Path;

use charrnn_data::{CsvOptions, csv_to_parquet};
use clap::Parser;
use serde_json::json;

use super::*;
use crate::report::{CURVES_FILE, REPORT_FILE, SWEEP_CURVES_FILE};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn variant_flags_replace_extra_train_flags() {
    let check = |base: &[&str], overrides: &[&str], expected: &[&str]| {
        assert_eq!(
            override_flags(&strings(base), &strings(overrides)),
            strings(expected),
            "{base:?} + {overrides:?}"
        );
    };
    check(&[], &["--cell", "gru"], &["--cell", "gru"]);
    check(&["--dropout", "0.2"], &[], &["--dropout", "0.2"]);
    check(
        &["--hidden", "32", "--dropout", "0.1", "--hidden=64"],
        &["--hidden", "256", "--layers", "2"],
        &["--dropout", "0.1", "--hidden", "256", "--layers", "2"],
    );
    // A flag without a value (next is another flag) is dropped alone.
    check(
        &["--layers", "--lr", "0.01"],
        &["--layers", "3"],
        &["--lr", "0.01", "--layers", "3"],
    );
    // --hidden-size is not --hidden.
    check(
        &["--hidden-size", "5"],
        &["--hidden", "8"],
        &["--hidden-size", "5", "--hidden", "8"],
    );
}

#[test]
fn budgets_split_evenly() {
    let b = split_budget(Some(900.0), None, 9, true).unwrap();
    assert_eq!(b.per_run_secs, Some(100.0));
    assert_eq!(b.total_secs, Some(900.0));
    let b = split_budget(None, None, 4, true).unwrap();
    assert_eq!(b.per_run_secs, Some(DEFAULT_SWEEP_BUDGET_SECS / 4.0));
    // A sweep with a step limit and no time budget runs each to its steps.
    let b = split_budget(None, Some(20), 4, true).unwrap();
    assert_eq!((b.per_run_secs, b.max_steps), (None, Some(20)));
    // Without a sweep nothing is invented.
    let b = split_budget(None, None, 1, false).unwrap();
    assert_eq!(
        (b.per_run_secs, b.total_secs, b.max_steps),
        (None, None, None)
    );
    assert_eq!(
        split_budget(Some(60.0), None, 1, false)
            .unwrap()
            .per_run_secs,
        Some(60.0)
    );
    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let err = split_budget(Some(bad), None, 1, false).unwrap_err();
        assert!(err.to_string().contains("--time-budget"), "{err}");
    }
    assert!(split_budget(None, Some(0), 1, false).is_err());
}

#[test]
fn the_default_sweep_covers_each_axis() {
    let variants = default_variants();
    assert!((6..=8).contains(&variants.len()));
    let mut names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), variants.len(), "names are unique");
    let value_of = |v: &Variant, flag: &str| {
        let i = v.flags.iter().position(|f| f == flag)?;
        v.flags.get(i + 1).cloned()
    };
    for (flag, values) in [
        ("--cell", &["lstm", "gru"][..]),
        ("--layers", &["1", "2", "3"][..]),
        ("--hidden", &["128", "256", "512"][..]),
    ] {
        for value in values {
            assert!(
                variants
                    .iter()
                    .any(|v| value_of(v, flag).as_deref() == Some(*value)),
                "no variant with {flag} {value}"
            );
        }
    }
    assert_eq!(variants.iter().filter(|v| v.full_text).count(), 1);
}

#[test]
fn command_line_fills_the_options() {
    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ExperimentArgs,
    }
    let parse = |line: &[&str]| Wrapper::try_parse_from(line).map(|w| Options::from_args(w.args));
    let opts = parse(&["x"]).unwrap();
    assert_eq!(
        (opts.preset.as_str(), opts.name.as_str()),
        ("default", "default")
    );
    assert!(opts.sweep.is_none());
    assert_eq!(opts.prompts.len(), 5);
    assert_eq!(opts.temperatures, TEMPERATURES);
    assert!(
        opts.out_root.ends_with("target/experiments") || env::var_os("CARGO_TARGET_DIR").is_some()
    );
    let opts = parse(&[
        "x",
        "--preset",
        "seed",
        "--sweep",
        "--time-budget",
        "600",
        "--max-steps",
        "50",
        "--threads",
        "2",
        "--device",
        "cpu",
        "--mirror",
        "/m",
        "--",
        "--hidden",
        "32",
    ])
    .unwrap();
    assert_eq!((opts.preset.as_str(), opts.name.as_str()), ("seed", "seed"));
    assert_eq!(opts.sweep, Some(default_variants()));
    assert_eq!(opts.time_budget, Some(600.0));
    assert_eq!(opts.max_steps, Some(50));
    assert_eq!(opts.threads, Some(2));
    assert_eq!(opts.device.as_deref(), Some("cpu"));
    assert_eq!(opts.mirror.as_deref(), Some(Path::new("/m")));
    assert_eq!(opts.train_args, strings(&["--hidden", "32"]));
    assert_eq!(parse(&["x", "--name", "mine"]).unwrap().name, "mine");
    assert!(parse(&["x", "--preset", "huge"]).is_err());
}

#[test]
fn names_must_be_plain() {
    for bad in ["", ".", "..", "a/b", "a\\b", "x\ny"] {
        assert!(check_name(bad).is_err(), "{bad:?}");
    }
    for good in ["default", "seed-2", "lstm 512"] {
        check_name(good).unwrap();
    }
    assert_eq!(plain("lstm-2x256 full/text"), "lstm-2x256_full_text");
}

#[test]
fn shell_quoting() {
    assert_eq!(shell_quote("--hidden"), "--hidden");
    assert_eq!(shell_quote("/a/b.parquet"), "/a/b.parquet");
    assert_eq!(shell_quote("Today "), "'Today '");
    assert_eq!(shell_quote(""), "''");
    assert_eq!(shell_quote("it's"), r"'it'\''s'");
}

#[test]
fn json_output_is_read_line_by_line() {
    let values = json_lines("progress\n{\"a\":1}\n\n  {\"b\":2}\n").unwrap();
    assert_eq!(values, vec![json!({"a": 1}), json!({"b": 2})]);
    assert!(json_lines("{\"a\":").is_err());
    assert!(json_lines("").unwrap().is_empty());
}

#[test]
fn samples_group_by_the_nearest_temperature() {
    let sample = |t: Option<f64>, text: &str| Sample {
        prompt: String::new(),
        temperature: t,
        label: None,
        text: SampleText {
            text: text.into(),
            generated: text.into(),
            stop: "eos".into(),
        },
    };
    let groups = by_temperature(
        vec![
            sample(Some(1.8), "a"),
            sample(Some(0.300_000_011_920_928_96), "b"),
            sample(None, "greedy"),
            sample(Some(1.8), "c"),
        ],
        &[0.3, 1.0, 1.8],
    );
    let texts: Vec<(f64, Vec<&str>)> = groups
        .iter()
        .map(|(t, s)| (*t, s.iter().map(|s| s.text.text.as_str()).collect()))
        .collect();
    assert_eq!(
        texts,
        vec![(0.3, vec!["b"]), (1.0, vec![]), (1.8, vec!["a", "c"])]
    );
}

#[test]
fn label_conditioning_is_read_from_done_or_config() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    // Nothing says: unknown.
    assert_eq!(label_conditioned(&json!({"event": "done"}), run), None);
    fs::create_dir_all(run.join("best")).unwrap();
    let config = |value: Value| {
        fs::write(run.join("best/config.json"), value.to_string()).unwrap();
    };
    config(json!({"model": {"cell": "lstm", "num_labels": 4}}));
    assert_eq!(label_conditioned(&json!({}), run), Some(true));
    config(json!({"model": {"num_labels": null}}));
    assert_eq!(label_conditioned(&json!({}), run), Some(false));
    config(json!({"model": [{"num_labels": 0}]}));
    assert_eq!(label_conditioned(&json!({}), run), Some(false));
    // The done event wins over the config.
    assert_eq!(
        label_conditioned(&json!({"label_conditioned": true}), run),
        Some(true)
    );
    assert_eq!(
        label_conditioned(&json!({"event": "done", "labels": []}), run),
        Some(false)
    );
    config(json!({"model": {"label_names": ["World", "Sports"]}}));
    assert_eq!(label_conditioned(&json!({}), run), Some(true));
    fs::write(run.join("best/config.json"), "not json").unwrap();
    assert_eq!(label_conditioned(&json!({}), run), None);
}

/// A stand-in for `charrnn` that follows the CLI contract with canned answers: it logs each
/// call to `calls.log` beside itself, fails on `--hidden 13`, and generates a training title at
/// T = 0.3 (and greedily), a loop at T = 1.8 and unknown words otherwise.
const FAKE_CHARRNN: &str = r#"#!/usr/bin/env bash
set -u
here="$(cd "$(dirname "$0")" && pwd)"
printf '%s\n' "$*" >> "$here/calls.log"
prev=""
for a in "$@"; do
  if [ "$prev" = "--hidden" ] && [ "$a" = "13" ]; then
    echo "progress 50%" >&2
    echo "error: hidden size 13 is unlucky" >&2
    exit 1
  fi
  prev="$a"
done
cmd="$1"; shift
case "$cmd" in
vocab)
  sub="$1"; shift
  if [ "$sub" = build ]; then
    out=""
    while [ $# -gt 0 ]; do [ "$1" = --output ] && out="$2"; shift; done
    echo '{"fake":true}' > "$out"
  else
    echo '{"size":42,"level":"char","tokens":[{"id":0,"token":"<pad>","count":null}]}'
  fi ;;
train)
  out=""; hidden=64; labels=null
  while [ $# -gt 0 ]; do
    case "$1" in
      --out) out="$2" ;;
      --hidden) hidden="$2" ;;
      --label-column) labels=4 ;;
    esac
    shift
  done
  mkdir -p "$out/best" "$out/last"
  echo "{\"model\":{\"num_labels\":$labels}}" > "$out/best/config.json"
  echo '{"step":10,"epoch":0.5,"epoch_end":false,"train_bpc":4.5,"val_bpc":4.25,"chars_per_sec":1000.0,"elapsed_secs":1.0}' > "$out/metrics.jsonl"
  echo '{"step":20,"epoch":1,"epoch_end":true,"train_bpc":3.5,"val_bpc":3.25,"chars_per_sec":1100.0,"elapsed_secs":2.0}' >> "$out/metrics.jsonl"
  echo "training..." >&2
  echo '{"event":"eval","step":10,"val_bpc":4.25}'
  echo "{\"event\":\"done\",\"steps\":20,\"epochs\":1.0,\"best_val_bpc\":3.25,\"final_train_bpc\":3.5,\"chars_per_sec\":1050.0,\"elapsed_secs\":2.0,\"train_examples\":4,\"valid_examples\":2,\"train_chars\":90,\"params\":$hidden,\"device\":\"cpu\"}"
  ;;
eval)
  echo '{"bits_per_char":3.375,"nats_per_char":2.339,"chars":40,"examples":2}' ;;
generate)
  prompts=(); n=1; temps=""; label=null
  while [ $# -gt 0 ]; do
    case "$1" in
      --prompt) prompts+=("$2"); shift ;;
      -n) n="$2"; shift ;;
      --temperature) temps="$2"; shift ;;
      --greedy) temps=greedy ;;
      --label) label="\"$2\""; shift ;;
    esac
    shift
  done
  if [ "$temps" = greedy ]; then tlist=(null); else IFS=, read -ra tlist <<< "$temps"; fi
  for t in "${tlist[@]}"; do
    case "$t" in
      null|0.3) gen="stocks rise" ;;
      1.8) gen="for the strike for the strike for the strike" ;;
      *) gen="zebras dance" ;;
    esac
    shown="$t"
    [ "$t" = 0.3 ] && shown=0.30000001192092896
    for p in "${prompts[@]}"; do
      for ((i = 0; i < n; i++)); do
        echo "{\"prompt\":\"$p\",\"temperature\":$shown,\"label\":$label,\"text\":\"$p$gen\",\"generated\":\"$gen\",\"stop\":\"eos\"}"
      done
    done
  done ;;
*)
  echo "error: unknown command $cmd" >&2; exit 2 ;;
esac
"#;

/// Writes small AG News Parquet files into `dir`.
fn small_ag_news(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let train = "\"3\",\"Today stocks rise\",\"Markets gain.\"\n\
                 \"2\",\"Team wins the cup\",\"A great match.\"\n\
                 \"1\",\"Talks resume in Moscow\",\"Diplomats meet.\"\n\
                 \"4\",\"New chip is fast\",\"It is.\"\n";
    let test = "\"1\",\"Moscow talks\",\"More talks.\"\n\"2\",\"Cup final\",\"Goals.\"\n";
    for (name, text) in [("train", train), ("test", test)] {
        let csv = dir.join(format!("{name}.csv"));
        fs::write(&csv, text).unwrap();
        csv_to_parquet(
            &csv,
            &dir.join(format!("{name}.parquet")),
            &CsvOptions::default(),
        )
        .unwrap();
    }
}

#[cfg(unix)]
fn fake_setup() -> (tempfile::TempDir, Options) {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin").join("charrnn");
    fs::create_dir_all(bin.parent().unwrap()).unwrap();
    fs::write(&bin, FAKE_CHARRNN).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    small_ag_news(&tmp.path().join("data"));
    let mut opts = Options::new("seed");
    opts.name = "fake".into();
    opts.data_dir = tmp.path().join("data");
    opts.out_root = tmp.path().join("experiments");
    opts.bin = Some(bin);
    opts.prompts = strings(&["Today ", "Moscow, "]);
    opts.temperatures = vec![0.3, 1.8];
    opts.samples_per_prompt = 1;
    opts.max_steps = Some(20);
    opts.threads = Some(1);
    opts.quiet = true;
    (tmp, opts)
}

/// The cells of the sample-statistics row titled `title`.
fn stats_row(md: &str, title: &str) -> Vec<String> {
    let stats = &md[md.find("## Sample statistics").unwrap()..];
    let line = stats
        .lines()
        .find(|l| l.starts_with(&format!("| {title} |")))
        .unwrap_or_else(|| panic!("no statistics row {title:?} in\n{stats}"));
    line.split('|').map(|c| c.trim().to_owned()).collect()
}

#[cfg(unix)]
#[test]
fn experiment_drives_the_cli_by_its_contract() {
    let (tmp, mut opts) = fake_setup();
    opts.labels = true;
    opts.time_budget = Some(90.0);
    opts.train_args = strings(&["--dropout", "0.1"]);
    opts.sweep = Some(vec![
        Variant::new(
            "lstm-1x32-fulltext",
            &["--layers", "1", "--hidden", "32"],
            true,
        ),
        Variant::new("unlucky", &["--hidden", "13"], false),
    ]);
    let outcome = experiment(&opts).unwrap();
    let exp = tmp.path().join("experiments").join("fake");
    assert_eq!(outcome.report, exp.join(REPORT_FILE));
    assert_eq!(outcome.run_dir, exp.join("run"));
    assert_eq!(outcome.test_bpc, 3.375);
    assert_eq!(outcome.steps, Some(20));
    for file in [CURVES_FILE, SWEEP_CURVES_FILE] {
        assert!(exp.join(file).is_file(), "{file} missing");
    }

    let calls = fs::read_to_string(tmp.path().join("bin/calls.log")).unwrap();
    let calls: Vec<&str> = calls.lines().collect();
    let data = tmp.path().join("data");
    let trains: Vec<&&str> = calls.iter().filter(|c| c.starts_with("train ")).collect();
    assert_eq!(trains.len(), 3, "{calls:#?}");
    for call in &trains {
        for needle in [
            format!("--train {}", data.join("train.parquet").display()),
            format!("--valid {}", data.join("test.parquet").display()),
            "--preset seed".into(),
            "--max-steps 20".into(),
            // 90 s shared by the main run and two variants.
            "--time-budget 30 ".into(),
            "--threads 1".into(),
            "--label-column label".into(),
            "--dropout 0.1".into(),
            "--json".into(),
            "--quiet".into(),
        ] {
            assert!(call.contains(&needle), "{needle:?} not in {call}");
        }
    }
    assert!(trains[0].contains("--column title --label-column"));
    assert!(trains[1].contains("--column title --column description"));
    assert!(trains[1].ends_with("--layers 1 --hidden 32 --window 256 --json"));
    assert!(trains[1].contains("tokenizer-fulltext.json"));
    let vocab_builds: Vec<&&str> = calls
        .iter()
        .filter(|c| c.starts_with("vocab build"))
        .collect();
    assert_eq!(vocab_builds.len(), 2);
    assert!(vocab_builds[0].ends_with(&format!(
        "--column title --output {} --quiet",
        exp.join("tokenizer.json").display()
    )));
    let evals: Vec<&&str> = calls.iter().filter(|c| c.starts_with("eval ")).collect();
    assert_eq!(evals.len(), 2, "the failed variant is not evaluated");
    assert!(
        evals
            .iter()
            .all(|c| c.contains("--column title --label-column label"))
    );
    for class in CLASSES {
        assert!(
            calls
                .iter()
                .any(|c| c.starts_with("generate ") && c.contains(&format!("--label {class} "))),
            "no samples for {class}"
        );
    }
    assert!(
        calls.iter().any(|c| c.starts_with("generate ")
            && c.contains("--prompt Today  -n 1 --greedy --max-len 300"))
    );
    assert!(calls.iter().any(|c| c.contains("--temperature 0.3,1.8")));

    let md = fs::read_to_string(&outcome.report).unwrap();
    for heading in [
        "## Configuration",
        "## Data",
        "## Training",
        "## Throughput",
        "## Test",
        "## Samples",
        "### greedy",
        "### T = 0.3",
        "### T = 1.8",
        "### World, T = 0.8",
        "### Sci/Tech, T = 0.8",
        "## Sample statistics",
        "## Sweep",
        "## Files",
    ] {
        assert!(
            md.contains(&format!("\n{heading}\n")),
            "no {heading:?} in\n{md}"
        );
    }
    for needle in [
        "**3.3750** on 2 test titles, after 20 steps",
        "| rows | 4 | 2 |",
        "Vocabulary: 42 tokens (char-level",
        "hold 15 distinct words",
        "| 20 | 1.00 | yes | 3.5000 | 3.2500 | 1,100 | 2.0 |",
        "1,050 training characters per second on cpu",
        "Today stocks rise\nMoscow, stocks rise\n",
        "| preset seed | `--dropout 0.1` | 64 | 20 | 3.2500 | 3.3750 |",
        "| lstm-1x32-fulltext | `--layers 1 --hidden 32 --column title --column description \
         --window 256` | 32 |",
        "| unlucky | `--hidden 13` | failed: charrnn train failed (exit status: 1): error: \
         hidden size 13 is unlucky |",
        "| label-conditioned | true |",
    ] {
        assert!(md.contains(needle), "no {needle:?} in\n{md}");
    }
    // Columns: title, n, mean length, eos, known words, distinct-2, distinct-3, copies, loops.
    let greedy = stats_row(&md, "greedy");
    assert_eq!((greedy[2].as_str(), greedy[8].as_str()), ("1", "100.0%"));
    let cold = stats_row(&md, "T = 0.3");
    assert_eq!(
        &cold[2..],
        [
            "2", "11.0", "100.0%", "100.0%", "0.500", "–", "50.0%", "0.0%", ""
        ]
    );
    let hot = stats_row(&md, "T = 1.8");
    // "the" is a training word; "for" and "strike" are not.
    assert_eq!(&hot[5..], ["33.3%", "0.188", "0.214", "0.0%", "100.0%", ""]);
    let world = stats_row(&md, "World, T = 0.8");
    assert_eq!(&world[5..], ["0.0%", "1.000", "–", "0.0%", "0.0%", ""]);
}

#[cfg(unix)]
#[test]
fn experiment_without_labels_reruns_and_reports_failures() {
    let (tmp, opts) = fake_setup();
    let first = experiment(&opts).unwrap();
    let stale = first.run_dir.join("stale.txt");
    fs::write(&stale, "from the first run").unwrap();
    let second = experiment(&opts).unwrap();
    assert!(!stale.exists(), "a rerun replaces the run directory");
    let md = fs::read_to_string(&second.report).unwrap();
    assert!(md.contains("No per-class samples: the model is not label-conditioned"));
    assert!(!md.contains("## Sweep"));
    assert!(
        !tmp.path()
            .join("experiments/fake")
            .join(SWEEP_CURVES_FILE)
            .exists()
    );
    let calls = fs::read_to_string(tmp.path().join("bin/calls.log")).unwrap();
    assert!(!calls.contains("--label"), "{calls}");
    // Without --time-budget nothing limits the run's time.
    assert!(!calls.contains("--time-budget"), "{calls}");

    let mut failing = opts.clone();
    failing.train_args = strings(&["--hidden", "13"]);
    let err = format!("{:#}", experiment(&failing).unwrap_err());
    assert_eq!(
        err,
        "charrnn train failed (exit status: 1): error: hidden size 13 is unlucky"
    );

    let mut missing = opts.clone();
    missing.bin = Some(tmp.path().join("no-such-charrnn"));
    let err = format!("{:#}", experiment(&missing).unwrap_err());
    assert!(err.contains("does not exist"), "{err}");
    let mut bad_name = opts;
    bad_name.name = "../escape".into();
    assert!(experiment(&bad_name).is_err());
}

/// The `charrnn` binary for the end-to-end test: `CHARRNN_BIN`, else the debug build (built
/// when missing).
fn charrnn_for_tests() -> PathBuf {
    if let Some(bin) = env::var_os(BIN_ENV).filter(|b| !b.is_empty()) {
        return PathBuf::from(bin);
    }
    let root = project_root();
    let bin = target_dir(&root)
        .join("debug")
        .join(format!("charrnn{}", env::consts::EXE_SUFFIX));
    if !bin.is_file() {
        crate::cargo(&root, &["build", "-p", "charrnn-cli"]).unwrap();
    }
    bin
}

#[test]
fn experiment_end_to_end_on_the_ag_news_mirror() {
    let mirror = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/ag_news");
    if !mirror.join("SHA256SUMS").is_file() {
        eprintln!(
            "note: no AG News mirror at {}; end-to-end experiment skipped",
            mirror.display()
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = Options::new("seed");
    opts.name = "e2e".into();
    opts.mirror = Some(mirror);
    opts.data_dir = tmp.path().join("data");
    opts.out_root = tmp.path().join("experiments");
    opts.bin = Some(charrnn_for_tests());
    opts.max_steps = Some(20);
    opts.threads = Some(1);
    opts.device = Some("cpu".into());
    opts.train_args = strings(&["--hidden", "32"]);
    opts.prompts = strings(&["Today "]);
    opts.temperatures = vec![0.8];
    opts.samples_per_prompt = 2;
    opts.max_len = 60;
    opts.quiet = true;
    let outcome = experiment(&opts).unwrap();

    assert!(
        outcome.test_bpc.is_finite() && outcome.test_bpc > 0.0 && outcome.test_bpc < 10.0,
        "{}",
        outcome.test_bpc
    );
    assert_eq!(outcome.steps, Some(20));
    assert!(outcome.run_dir.join("best").is_dir());
    assert!(outcome.run_dir.join("metrics.jsonl").is_file());
    let exp = outcome.report.parent().unwrap();
    let svg = fs::read_to_string(exp.join(CURVES_FILE)).unwrap();
    assert!(svg.contains("</svg>"));
    let md = fs::read_to_string(&outcome.report).unwrap();
    for heading in [
        "## Configuration",
        "## Data",
        "## Training",
        "## Throughput",
        "## Test",
        "## Samples",
        "### greedy",
        "### T = 0.8",
        "## Sample statistics",
        "## Files",
    ] {
        assert!(
            md.contains(&format!("\n{heading}\n")),
            "no {heading:?} in\n{md}"
        );
    }
    // The mirror's partial train split and the full test split.
    assert!(md.contains("| rows | 12,505 | 7,600 |"), "{md}");
    // fetch's warning that the mirror's train split is partial is repeated.
    assert!(md.contains("> Note: train.csv"), "{md}");
    assert!(md.contains("on 7,600 test titles, after 20 steps"), "{md}");
    assert!(md.contains("![bits per character against step](bpc.svg)"));
    let t08 = stats_row(&md, "T = 0.8");
    assert_eq!(t08[2], "2");
}
