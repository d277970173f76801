use std::path::PathBuf;

use charrnn_model::StopCause;

use super::markdown::{MAX_TABLE_ROWS, table_rows};
use super::*;
use crate::events::{Classification, GeneratedSample, Score, Stop, TrainDone, Validation};
use crate::stats::{SampleText, TrainingCorpus, sample_stats};

fn metric(step: u64, train: f64, val: Option<f64>, epoch_end: bool) -> EvalRecord {
    EvalRecord {
        step,
        epoch: (step / 100) as usize,
        train_bpc: Some(train),
        val_bpc: val,
        val_nats: val.map(|v| v * std::f64::consts::LN_2),
        chars_per_sec: 123_456.7,
        elapsed: step as f64 / 10.0,
        lr: 1e-3,
        best: val.is_some(),
        epoch_end,
    }
}

pub(crate) fn done(steps: u64, params: usize) -> TrainDone {
    TrainDone {
        preset: "notebook".into(),
        steps,
        epochs: 2.5,
        stopped_by: StopCause::Steps,
        max_epochs: None,
        max_steps: Some(steps),
        max_seconds: None,
        best_val_bpc: Some(2.625),
        final_train_bpc: Some(2.5),
        final_val_bpc: Some(2.625),
        chars_per_sec: 98_765.4,
        elapsed_secs: 25.0,
        train_examples: 114_000,
        valid_examples: 6_000,
        validation: Validation::HeldOut {
            fraction: 0.05,
            seed: 1,
            rows: 6_000,
        },
        train_chars: 5_000_000,
        vocab_size: 98,
        params,
        device: "cpu".into(),
        threads: 2,
        labels: Vec::new(),
        run_dir: PathBuf::from("run"),
        peak_rss_mib: 0.0,
        setup_secs: 0.0,
        train_data: None,
        valid_data: None,
        phases: None,
    }
}

fn sample(prompt: &str, generated: &str, temperature: Option<f32>) -> GeneratedSample {
    GeneratedSample {
        prompt: prompt.into(),
        temperature,
        label: None,
        text: format!("{prompt}{generated}"),
        generated: generated.into(),
        stop: Stop::Eos,
    }
}

fn made_up_report(sweep: bool) -> Report {
    let corpus = TrainingCorpus::new(["Stocks rise on oil news"]);
    let group = |title: &str, samples: Vec<GeneratedSample>| {
        let texts: Vec<SampleText> = samples.iter().map(SampleText::from).collect();
        SampleGroup {
            title: title.into(),
            stats: sample_stats(&texts, &corpus),
            samples,
        }
    };
    let metrics = vec![
        metric(100, 3.5, Some(3.25), false),
        metric(200, 2.75, Some(2.625), true),
        metric(250, 2.5, None, false),
    ];
    let mut sweep_done = done(77, 5555);
    sweep_done.best_val_bpc = Some(3.0);
    sweep_done.chars_per_sec = 1000.0;
    sweep_done.elapsed_secs = 12.5;
    Report {
        name: "demo".into(),
        preset: "notebook".into(),
        settings: vec![("max steps".into(), "250".into())],
        commands: vec!["charrnn train --preset notebook".into()],
        data: DataStats {
            train_file: "data/ag_news/train.parquet".into(),
            test_file: "data/ag_news/test.parquet".into(),
            train_rows: 120_000,
            test_rows: 7_600,
            vocab_size: 98,
            vocab_level: "char".into(),
            title_words: 4321,
            notes: vec!["train.csv: a partial\ncopy".into()],
        },
        train: done(250, 1_234_567),
        metrics: metrics.clone(),
        test: Score {
            bits_per_char: 2.6251,
            nats_per_char: 1.8196,
            chars: 400_000,
            examples: 7_600,
        },
        classification: sweep.then(|| Classification {
            classes: vec!["World".into(), "Sci/Tech".into()],
            texts: 4_000,
            predicted: vec![2_100, 1_900],
            accuracy: Some(0.75),
            confusion: vec![vec![1_600, 400], vec![500, 1_500]],
        }),
        samples: vec![
            group(
                "greedy",
                vec![sample("Today ", "the | best ```code``` day", None)],
            ),
            group(
                "T = 0.8",
                vec![
                    sample("Today ", "Stocks\nrise", Some(0.8)),
                    sample("", "Stocks rise on oil news", Some(0.8)),
                ],
            ),
        ],
        class_note: Some("Per-class samples skipped: the model has no labels.".into()),
        sweep: sweep.then(|| {
            vec![
                SweepRow {
                    name: "gru".into(),
                    flags: "--cell gru".into(),
                    run_dir: "sweep/gru".into(),
                    outcome: Ok(SweepResult {
                        train: sweep_done,
                        test_bpc: 3.125,
                        metrics,
                    }),
                },
                SweepRow {
                    name: "broken".into(),
                    flags: "--hidden 8".into(),
                    run_dir: "sweep/broken".into(),
                    outcome: Err("error: out of | memory".into()),
                },
            ]
        }),
        sweep_budget_secs: sweep.then_some(600.0),
        run_dir: "run".into(),
    }
}

#[test]
fn markdown_has_every_section_and_the_numbers() {
    let md = render_markdown(&made_up_report(true));
    let mut last = 0;
    for heading in [
        "# charrnn experiment `demo`",
        "## Configuration",
        "## Data",
        "## Training",
        "## Throughput",
        "## Test",
        "## Samples",
        "### greedy",
        "### T = 0.8",
        "## Sample statistics",
        "## Sweep",
        "## Files",
    ] {
        let at = md
            .find(&format!("{heading}\n"))
            .unwrap_or_else(|| panic!("no {heading:?} in\n{md}"));
        assert!(at >= last, "{heading:?} out of order");
        last = at;
    }
    for needle in [
        "**2.6251** on 7,600 test titles, after 250 steps",
        "by the checkpoint that validation chose (step 200)",
        "| file | `data/ag_news/train.parquet` | 5.0% of the training rows, held out (seed 1) | \
         `data/ag_news/test.parquet` |",
        "| rows | 114,000 | 6,000 | 7,600 |",
        "| examples | 114,000 | 6,000 | 7,600 |",
        "| characters to predict (<eos> included) | 5,000,000 | – | 400,000 |",
        "the test titles are scored once, at the end, by that checkpoint, and never steer training",
        "Vocabulary: 98 tokens (char-level",
        "hold 4,321 distinct words",
        "> Note: train.csv: a partial copy\n",
        "1,234,567 parameters",
        "Budget: 250 optimizer steps. The budget counts steps, not seconds, so the result does \
         not depend on the machine's speed",
        "bit for bit on the same CPU with as many libtorch threads (2 here)",
        "![bits per character against step](bpc.svg)",
        "| 200 | 2 | yes | 2.7500 | 2.6250 | 123,457 | 20.0 |",
        "| 250 | 3 |  | 2.5000 | – |",
        "98,765 training characters per second on cpu",
        "| 2.6251 | 1.8196 | 400,000 | 7,600 |",
        "### Classification by likelihood",
        "**75.00 %** right (3,100 of 4,000; one class in 2 by chance)",
        "| true \\ predicted | World | Sci/Tech |\n| --- | ---: | ---: |\n| World | 1,600 | 400 |\n\
         | Sci/Tech | 500 | 1,500 |\n",
        "Today Stocks⏎rise",
        // The sample holding ``` gets a longer fence.
        "````text\nToday the | best ```code``` day\n````",
        // T = 0.8: lengths 11 and 23; all 7 words known; 2-grams: 4 distinct of 5; one of
        // the two samples copies a title; none loops.
        "| T = 0.8 | 2 | 17.0 | 100.0% | 100.0% | 0.800 | 1.000 | 50.0% | 0.0% |",
        "Per-class samples skipped",
        "sharing one time budget of 600 s evenly, so that their curves can be read against \
         training time",
        "![sweep validation curves against step](sweep.svg)",
        "![sweep validation curves against training time](sweep-time.svg)",
        "| gru | `--cell gru` | 5,555 | 77 | 12.5 | 3.0000 | 3.1250 | 1,000 | `sweep/gru` |",
        "| broken | `--hidden 8` | failed: error: out of \\| memory |",
        "`run/`: the run",
    ] {
        assert!(md.contains(needle), "no {needle:?} in\n{md}");
    }
    let plain = render_markdown(&made_up_report(false));
    assert!(!plain.contains("## Sweep"));
    assert!(!plain.contains("Classification"));
    assert!(!plain.contains("sweep.svg"));
}

#[test]
fn a_time_budget_is_said_to_depend_on_the_machine() {
    let mut report = made_up_report(false);
    report.train.max_steps = None;
    report.train.max_seconds = Some(540.0);
    report.train.validation = Validation::File {
        path: "valid.parquet".into(),
    };
    let md = render_markdown(&report);
    assert!(
        md.contains(
            "Budget: 540 s of training, whichever ran out first. A time budget makes the \
             number of steps, and so the result, depend on how fast"
        ),
        "{md}"
    );
    assert!(!md.contains("does not depend"), "{md}");
    assert!(md.contains("| file | `data/ag_news/train.parquet` | `valid.parquet` |"));
}

#[test]
fn long_runs_show_a_thinned_table() {
    let metrics: Vec<EvalRecord> = (1..=500)
        .map(|i| metric(i * 10, 3.0, Some(3.0), i % 100 == 0))
        .collect();
    let rows = table_rows(&metrics);
    assert!(rows.len() <= MAX_TABLE_ROWS + 5, "{}", rows.len());
    assert!(rows.len() >= MAX_TABLE_ROWS / 2);
    assert_eq!(rows.last(), Some(&499));
    for i in (99..500).step_by(100) {
        assert!(rows.contains(&i), "epoch end {i} missing");
    }
    assert!(rows.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(table_rows(&metrics[..7]), (0..7).collect::<Vec<_>>());
    let mut report = made_up_report(false);
    report.metrics = metrics;
    let md = render_markdown(&report);
    assert!(md.contains(&format!("{} of 500 evaluations shown", rows.len())));
}

#[test]
fn report_files_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_report(dir.path(), &made_up_report(true)).unwrap();
    assert_eq!(path, dir.path().join(REPORT_FILE));
    let md = fs::read_to_string(&path).unwrap();
    assert_eq!(md, render_markdown(&made_up_report(true)));
    for file in [CURVES_FILE, SWEEP_CURVES_FILE, SWEEP_TIME_CURVES_FILE] {
        let svg = fs::read_to_string(dir.path().join(file)).unwrap();
        assert!(
            svg.starts_with("<svg"),
            "{file}: {}",
            &svg[..svg.len().min(80)]
        );
        assert!(svg.trim_end().ends_with("</svg>"), "{file}");
        assert!(svg.contains("bits per character"), "{file}");
    }
    let svg = fs::read_to_string(dir.path().join(CURVES_FILE)).unwrap();
    assert!(svg.contains("validation") && svg.contains("train"));
    // Two curves, each a thick polyline with its points as circles (3 train + 2
    // validation); axis ticks and legend marks are thin.
    assert_eq!(svg.matches("stroke-width=\"2\"").count(), 2, "{svg}");
    assert_eq!(svg.matches("<circle").count(), 5, "{svg}");
    let by_time = fs::read_to_string(dir.path().join(SWEEP_TIME_CURVES_FILE)).unwrap();
    assert!(by_time.contains("seconds of training"), "{by_time}");
    // No temporary file is left behind.
    let names: Vec<String> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    assert_eq!(names.len(), 4, "{names:?}");
}

#[test]
fn empty_curves_still_make_a_plot() {
    let svg = plot_svg("nothing", "step", &bpc_curves(&[])).unwrap();
    assert!(svg.contains("</svg>"));
    assert_eq!(svg.matches("<circle").count(), 0);
    let one = plot_svg(
        "one",
        "step",
        &bpc_curves(&[metric(5, 2.0, Some(2.0), true)]),
    );
    assert_eq!(one.unwrap().matches("<circle").count(), 2);
}
