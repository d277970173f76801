use std::path::{Path, PathBuf};

use charrnn_data::{CsvOptions, csv_to_parquet};
use charrnn_model::{EvalRecord, StopCause};

use super::samples::by_temperature;
use super::*;
use crate::error::BoxError;
use crate::events::{
    Classification, Event, GeneratedSample, Score, Stop, TrainDone, Validation, VocabBuilt,
    VocabInfo,
};
use crate::presets::Preset;
use crate::report::{CURVES_FILE, REPORT_FILE, SWEEP_CURVES_FILE, SWEEP_TIME_CURVES_FILE};
use crate::sweep::Variant;

const CLASSES: [&str; 4] = ["World", "Sports", "Business", "Sci/Tech"];

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// A stand-in for `charrnn` that follows its contract with canned answers: it logs each call,
/// fails on `--hidden 13`, and generates a training title at T = 0.3 (and greedily), a loop at
/// T = 1.8 and unknown words otherwise.
#[derive(Default)]
struct Fake {
    calls: Vec<String>,
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).map(String::as_str)
}

fn flags<'a>(args: &'a [String], name: &str) -> Vec<&'a str> {
    args.windows(2)
        .filter(|w| w[0] == name)
        .map(|w| w[1].as_str())
        .collect()
}

fn record(step: u64, train: f64, val: f64, epoch_end: bool) -> EvalRecord {
    EvalRecord {
        step,
        epoch: usize::from(epoch_end),
        train_bpc: Some(train),
        val_bpc: Some(val),
        val_nats: Some(val * std::f64::consts::LN_2),
        chars_per_sec: 1000.0 + step as f64 * 5.0,
        elapsed: step as f64 / 10.0,
        lr: 1e-3,
        best: true,
        epoch_end,
    }
}

impl Fake {
    fn train(args: &[String]) -> Vec<Event> {
        let out = PathBuf::from(flag(args, "--out").unwrap());
        let hidden: usize = flag(args, "--hidden").map_or(64, |h| h.parse().unwrap());
        fs::create_dir_all(out.join("best")).unwrap();
        let records = [record(10, 4.5, 4.25, false), record(20, 3.5, 3.25, true)];
        let text: String = records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        fs::write(out.join("metrics.jsonl"), text).unwrap();
        let labels = if flag(args, "--label-column").is_some() {
            strings(&CLASSES)
        } else {
            Vec::new()
        };
        let fraction: f64 = flag(args, "--valid-fraction").unwrap().parse().unwrap();
        vec![
            Event::Eval {
                record: records[0].clone(),
            },
            Event::Done(Box::new(TrainDone {
                preset: flag(args, "--preset").unwrap().to_owned(),
                steps: 20,
                epochs: 1.0,
                stopped_by: StopCause::Steps,
                max_epochs: None,
                max_steps: flag(args, "--max-steps").map(|s| s.parse().unwrap()),
                max_seconds: flag(args, "--time-budget").map(|s| s.parse().unwrap()),
                best_val_bpc: Some(3.25),
                final_train_bpc: Some(3.5),
                final_val_bpc: Some(3.25),
                chars_per_sec: 1050.0,
                elapsed_secs: 2.0,
                train_examples: 3,
                valid_examples: 1,
                validation: Validation::HeldOut {
                    fraction,
                    seed: 1,
                    rows: 1,
                },
                train_chars: 90,
                vocab_size: 42,
                params: hidden,
                device: "cpu".into(),
                threads: 2,
                labels,
                run_dir: out,
                peak_rss_mib: 1.0,
                setup_secs: 0.0,
                train_data: None,
                valid_data: None,
                phases: None,
            })),
        ]
    }

    fn generate(args: &[String]) -> Vec<Event> {
        let prompts = flags(args, "--prompt");
        let n: usize = flag(args, "-n").unwrap().parse().unwrap();
        let temperatures: Vec<Option<f32>> = match flag(args, "--temperature") {
            None => vec![None],
            Some(list) => list.split(',').map(|t| Some(t.parse().unwrap())).collect(),
        };
        let mut out = Vec::new();
        for t in temperatures {
            let generated = match t {
                None | Some(0.3) => "stocks rise",
                Some(1.8) => "for the strike for the strike for the strike",
                Some(_) => "zebras dance",
            };
            for p in &prompts {
                for _ in 0..n {
                    out.push(Event::Generated(GeneratedSample {
                        prompt: (*p).to_owned(),
                        temperature: t,
                        label: flag(args, "--label").map(str::to_owned),
                        text: format!("{p}{generated}"),
                        generated: generated.into(),
                        stop: Stop::Eos,
                    }));
                }
            }
        }
        out
    }
}

impl Runner for Fake {
    fn run(&mut self, args: &[String]) -> Result<Vec<Event>, BoxError> {
        self.calls.push(args.join(" "));
        if flag(args, "--hidden") == Some("13") {
            return Err("hidden size 13 is unlucky".into());
        }
        Ok(match (args[0].as_str(), args[1].as_str()) {
            ("vocab", "build") => {
                let output = PathBuf::from(flag(args, "--output").unwrap());
                fs::write(&output, "{\"fake\":true}").unwrap();
                vec![Event::VocabBuilt(VocabBuilt {
                    size: 42,
                    files: 1,
                    format: "parquet".into(),
                    chars: 100,
                    unk_chars: 0,
                    output,
                })]
            }
            ("vocab", "show") => vec![Event::Vocab(VocabInfo {
                size: 42,
                level: "char".into(),
                lowercase: false,
                tokens: Vec::new(),
            })],
            ("train", _) => Fake::train(args),
            ("eval", _) => {
                let mut events = vec![Event::Score(Score {
                    bits_per_char: 3.375,
                    nats_per_char: 2.339,
                    chars: 40,
                    examples: 2,
                })];
                if args.iter().any(|a| a == "--classify") {
                    events.push(Event::Classification(Classification {
                        classes: CLASSES.map(String::from).to_vec(),
                        texts: 2,
                        predicted: vec![1, 0, 1, 0],
                        accuracy: Some(0.5),
                        confusion: vec![
                            vec![1, 0, 0, 0],
                            vec![0, 0, 1, 0],
                            vec![0, 0, 0, 0],
                            vec![0, 0, 0, 0],
                        ],
                    }));
                }
                events
            }
            ("generate", _) => Fake::generate(args),
            (other, _) => return Err(format!("unknown command {other}").into()),
        })
    }

    fn describe(&self) -> String {
        "fake charrnn".into()
    }
}

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

fn fake_setup() -> (tempfile::TempDir, Options) {
    let tmp = tempfile::tempdir().unwrap();
    small_ag_news(&tmp.path().join("data"));
    let mut opts = Options::new(
        Preset::Notebook,
        tmp.path().join("data"),
        tmp.path().join("experiments"),
    );
    opts.name = "fake".into();
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
    // The fetch record's warnings become notes.
    fs::write(
        tmp.path().join("data").join(SOURCE_FILE),
        r#"{"files": {"train.csv": {"rows": 4, "warnings": ["train.csv: a partial copy"]}}}"#,
    )
    .unwrap();
    let mut fake = Fake::default();
    let outcome = run_experiment(&opts, &mut fake).unwrap();
    let exp = tmp.path().join("experiments").join("fake");
    assert_eq!(outcome.report, exp.join(REPORT_FILE));
    assert_eq!(outcome.run_dir, exp.join("run"));
    assert_eq!(outcome.test_bpc, 3.375);
    assert_eq!(outcome.train.steps, 20);
    for file in [CURVES_FILE, SWEEP_CURVES_FILE, SWEEP_TIME_CURVES_FILE] {
        assert!(exp.join(file).is_file(), "{file} missing");
    }

    let calls = &fake.calls;
    let data = tmp.path().join("data");
    let trains: Vec<&String> = calls.iter().filter(|c| c.starts_with("train ")).collect();
    assert_eq!(trains.len(), 3, "{calls:#?}");
    for call in &trains {
        for needle in [
            format!("--train {}", data.join("train.parquet").display()),
            "--valid-fraction 0.05".into(),
            "--preset notebook".into(),
            "--max-steps 20".into(),
            // 90 s shared by the main run and two variants.
            "--time-budget 30 ".into(),
            "--threads 1".into(),
            "--label-column label".into(),
            "--dropout 0.1".into(),
            "--quiet".into(),
        ] {
            assert!(call.contains(&needle), "{needle:?} not in {call}");
        }
        // The test titles never reach training.
        assert!(
            !call.contains("test.parquet") && !call.contains("--valid "),
            "{call}"
        );
    }
    assert!(trains[0].contains("--column title --label-column"));
    assert!(trains[1].contains("--column title --column description"));
    assert!(trains[1].ends_with("--layers 1 --hidden 32 --window 256"));
    assert!(trains[1].contains("tokenizer-fulltext.json"));
    let vocab_builds: Vec<&String> = calls
        .iter()
        .filter(|c| c.starts_with("vocab build"))
        .collect();
    assert_eq!(vocab_builds.len(), 2);
    assert!(vocab_builds[0].ends_with(&format!(
        "--column title --output {} --overwrite",
        exp.join("tokenizer.json").display()
    )));
    let evals: Vec<&String> = calls.iter().filter(|c| c.starts_with("eval ")).collect();
    assert_eq!(evals.len(), 2, "the failed variant is not evaluated");
    // The main run's test also classifies the titles; the sweep's runs are only scored.
    assert!(evals[0].contains("--classify"), "{}", evals[0]);
    assert!(!evals[1].contains("--classify"), "{}", evals[1]);
    // The epoch samples of every run continue the notebook's prompt.
    let trains: Vec<&String> = calls.iter().filter(|c| c.starts_with("train ")).collect();
    assert!(!trains.is_empty());
    for call in trains {
        assert!(call.contains("--sample-prompt Today  "), "{call}");
    }
    for call in &evals {
        assert!(call.contains(&format!("--data {}", data.join("test.parquet").display())));
        assert!(
            call.contains("--column title --label-column label"),
            "{call}"
        );
    }
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
    assert!(md.contains("### Classification by likelihood"), "{md}");
    assert!(
        md.contains("**50.00 %** right (1 of 2; one class in 4 by chance)"),
        "{md}"
    );
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
        "| rows | 3 | 1 | 2 |",
        "Vocabulary: 42 tokens (char-level",
        "hold 15 distinct words",
        "> Note: train.csv: a partial copy",
        // The epoch-end column, from metrics.jsonl.
        "| 20 | 1 | yes | 3.5000 | 3.2500 | 1,100 | 2.0 |",
        "| 10 | 1 |  | 4.5000 | 4.2500 |",
        "Budget: 20 optimizer steps or 30 s of training, whichever ran out first.",
        "1,050 training characters per second on cpu",
        "Today stocks rise\nMoscow, stocks rise\n",
        "| preset notebook | `--dropout 0.1` | 64 | 20 | 2.0 | 3.2500 | 3.3750 |",
        "| lstm-1x32-fulltext | `--layers 1 --hidden 32 --column title --column description \
         --window 256` | 32 |",
        "| unlucky | `--hidden 13` | failed: charrnn train failed: hidden size 13 is unlucky |",
        "| label-conditioned | true |",
        "| charrnn | fake charrnn |",
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

#[test]
fn experiment_without_labels_reruns_and_reports_failures() {
    let (tmp, opts) = fake_setup();
    let first = run_experiment(&opts, &mut Fake::default()).unwrap();
    let stale = first.run_dir.join("stale.txt");
    fs::write(&stale, "from the first run").unwrap();
    // Without --overwrite, the earlier experiment is kept and the rerun refused at once.
    let mut refused = Fake::default();
    let err = run_experiment(&opts, &mut refused).unwrap_err().to_string();
    assert!(err.contains("holds an earlier experiment"), "{err}");
    assert!(err.contains("--overwrite"), "{err}");
    assert!(refused.calls.is_empty(), "{:?}", refused.calls);
    let opts = Options {
        overwrite: true,
        ..opts
    };
    let mut fake = Fake::default();
    let second = run_experiment(&opts, &mut fake).unwrap();
    // A rerun deletes nothing itself: its training replaces the run's checkpoints as it
    // saves (`--overwrite`), so a failed rerun leaves the previous run whole.
    assert!(stale.exists());
    assert!(
        fake.calls
            .iter()
            .filter(|c| c.starts_with("train "))
            .all(|c| c.contains("--overwrite")),
        "{:?}",
        fake.calls
    );
    let md = fs::read_to_string(&second.report).unwrap();
    assert!(md.contains("No per-class samples: the model is not label-conditioned"));
    assert!(md.contains("Budget: 20 optimizer steps. The budget counts steps, not seconds"));
    assert!(!md.contains("## Sweep"));
    assert!(
        !tmp.path()
            .join("experiments/fake")
            .join(SWEEP_CURVES_FILE)
            .exists()
    );
    let calls = fake.calls.join("\n");
    assert!(!calls.contains("--label"), "{calls}");
    // Without --time-budget nothing limits the run's time.
    assert!(!calls.contains("--time-budget"), "{calls}");

    let mut failing = opts.clone();
    failing.train_args = strings(&["--hidden", "13"]);
    let err = run_experiment(&failing, &mut Fake::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "charrnn train failed: hidden size 13 is unlucky"
    );

    let mut no_data = opts.clone();
    no_data.data_dir = tmp.path().join("nowhere");
    let err = run_experiment(&no_data, &mut Fake::default()).unwrap_err();
    assert!(err.to_string().contains("cargo xtask fetch"), "{err}");
    let mut bad_name = opts.clone();
    bad_name.name = "../escape".into();
    assert!(run_experiment(&bad_name, &mut Fake::default()).is_err());
    let mut no_samples = opts;
    no_samples.samples_per_prompt = 0;
    assert!(run_experiment(&no_samples, &mut Fake::default()).is_err());
}

#[test]
fn samples_group_by_the_nearest_temperature() {
    let sample = |t: Option<f32>, text: &str| GeneratedSample {
        prompt: String::new(),
        temperature: t,
        label: None,
        text: text.into(),
        generated: text.into(),
        stop: Stop::Eos,
    };
    let groups = by_temperature(
        vec![
            sample(Some(1.8), "a"),
            sample(Some(0.3), "b"),
            sample(None, "greedy"),
            sample(Some(1.8), "c"),
        ],
        &[0.3, 1.0, 1.8],
    );
    let texts: Vec<(f64, Vec<&str>)> = groups
        .iter()
        .map(|(t, s)| (*t, s.iter().map(|s| s.text.as_str()).collect()))
        .collect();
    assert_eq!(
        texts,
        vec![(0.3, vec!["b"]), (1.0, vec![]), (1.8, vec!["a", "c"])]
    );
}

#[test]
fn fetch_warnings_are_read_from_the_source_record() {
    let dir = tempfile::tempdir().unwrap();
    assert!(data_notes(dir.path()).is_empty());
    fs::write(
        dir.path().join(SOURCE_FILE),
        r#"{"files": {"test.csv": {"rows": 2}, "train.csv": {"warnings": ["partial", "odd"]}}}"#,
    )
    .unwrap();
    assert_eq!(data_notes(dir.path()), ["partial", "odd"]);
    fs::write(dir.path().join(SOURCE_FILE), "not json").unwrap();
    assert!(data_notes(dir.path()).is_empty());
}
