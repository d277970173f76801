//! The experiment's report: `report.md` with its loss curves as SVG (drawn with `plotters`)
//! beside it. Everything here works on plain numbers and strings the experiment collected; it
//! runs nothing.

use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result, anyhow};
use plotters::prelude::*;
use serde_json::Value;

use crate::experiment_metrics::{LOOP_MIN_CHARS, LOOP_MIN_REPEATS, SampleStats, SampleText};

/// The report's file name.
pub(crate) const REPORT_FILE: &str = "report.md";
/// The loss curves of the main run.
pub(crate) const CURVES_FILE: &str = "bpc.svg";
/// The validation curves of every sweep run.
pub(crate) const SWEEP_CURVES_FILE: &str = "sweep.svg";

/// One line of a run's `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct MetricRow {
    pub(crate) step: u64,
    pub(crate) epoch: Option<f64>,
    pub(crate) epoch_end: bool,
    pub(crate) train_bpc: Option<f64>,
    pub(crate) val_bpc: Option<f64>,
    pub(crate) chars_per_sec: Option<f64>,
    pub(crate) elapsed_secs: Option<f64>,
}

impl MetricRow {
    /// Reads one `metrics.jsonl` object; only `step` is required (`elapsed` is accepted for
    /// `elapsed_secs`).
    pub(crate) fn from_json(value: &Value) -> Result<Self> {
        Ok(Self {
            step: value["step"]
                .as_u64()
                .context("a metrics line has no integer `step`")?,
            epoch: value["epoch"].as_f64(),
            epoch_end: value["epoch_end"].as_bool().unwrap_or(false),
            train_bpc: value["train_bpc"].as_f64(),
            val_bpc: value["val_bpc"].as_f64(),
            chars_per_sec: value["chars_per_sec"].as_f64(),
            elapsed_secs: value["elapsed_secs"]
                .as_f64()
                .or_else(|| value["elapsed"].as_f64()),
        })
    }
}

/// Parses a whole `metrics.jsonl` (blank lines ignored); errors name the line.
pub(crate) fn parse_metrics(text: &str) -> Result<Vec<MetricRow>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            let value: Value = serde_json::from_str(line)
                .with_context(|| format!("metrics line {} is not JSON", n + 1))?;
            MetricRow::from_json(&value).with_context(|| format!("metrics line {}", n + 1))
        })
        .collect()
}

/// The `{"event":"done",...}` line of `charrnn train --json`. Fields the binary did not print
/// stay `None` (the report shows a dash).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TrainSummary {
    pub(crate) steps: Option<u64>,
    pub(crate) epochs: Option<f64>,
    pub(crate) best_val_bpc: Option<f64>,
    pub(crate) final_train_bpc: Option<f64>,
    pub(crate) chars_per_sec: Option<f64>,
    pub(crate) elapsed_secs: Option<f64>,
    pub(crate) train_examples: Option<u64>,
    pub(crate) valid_examples: Option<u64>,
    pub(crate) train_chars: Option<u64>,
    pub(crate) params: Option<u64>,
    pub(crate) device: Option<String>,
}

impl TrainSummary {
    pub(crate) fn from_json(value: &Value) -> Self {
        Self {
            steps: value["steps"].as_u64(),
            epochs: value["epochs"].as_f64(),
            best_val_bpc: value["best_val_bpc"].as_f64(),
            final_train_bpc: value["final_train_bpc"].as_f64(),
            chars_per_sec: value["chars_per_sec"].as_f64(),
            elapsed_secs: value["elapsed_secs"].as_f64(),
            train_examples: value["train_examples"].as_u64(),
            valid_examples: value["valid_examples"].as_u64(),
            train_chars: value["train_chars"].as_u64(),
            params: value["params"].as_u64(),
            device: value["device"].as_str().map(str::to_owned),
        }
    }
}

/// `charrnn eval --json`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct EvalResult {
    pub(crate) bits_per_char: f64,
    pub(crate) nats_per_char: Option<f64>,
    pub(crate) chars: Option<u64>,
    pub(crate) examples: Option<u64>,
}

impl EvalResult {
    pub(crate) fn from_json(value: &Value) -> Result<Self> {
        Ok(Self {
            bits_per_char: value["bits_per_char"]
                .as_f64()
                .context("eval printed no `bits_per_char`")?,
            nats_per_char: value["nats_per_char"].as_f64(),
            chars: value["chars"].as_u64(),
            examples: value["examples"].as_u64(),
        })
    }
}

/// One line of `charrnn generate --json`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sample {
    pub(crate) prompt: String,
    pub(crate) temperature: Option<f64>,
    pub(crate) label: Option<String>,
    pub(crate) text: SampleText,
}

impl Sample {
    pub(crate) fn from_json(value: &Value) -> Result<Self> {
        let text = value["text"]
            .as_str()
            .context("a generated sample has no `text`")?
            .to_owned();
        let prompt = value["prompt"].as_str().unwrap_or_default().to_owned();
        let generated = match value["generated"].as_str() {
            Some(g) => g.to_owned(),
            None => text.strip_prefix(&prompt).unwrap_or(&text).to_owned(),
        };
        let label = match &value["label"] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        Ok(Self {
            prompt,
            temperature: value["temperature"].as_f64(),
            label,
            text: SampleText {
                text,
                generated,
                stop: value["stop"].as_str().unwrap_or("unknown").to_owned(),
            },
        })
    }
}

/// A group of samples drawn the same way, with its statistics.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SampleGroup {
    /// How they were drawn: `greedy`, `T = 0.8`, `World, T = 0.8`.
    pub(crate) title: String,
    pub(crate) samples: Vec<Sample>,
    pub(crate) stats: SampleStats,
}

/// One run of the sweep.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SweepRow {
    pub(crate) name: String,
    /// The flags that make this run differ from the preset.
    pub(crate) flags: String,
    /// The run directory, relative to the report.
    pub(crate) run_dir: String,
    /// `Err(message)` when the run failed (the sweep goes on).
    pub(crate) outcome: Result<SweepResult, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SweepResult {
    pub(crate) train: TrainSummary,
    /// bpc on the test titles (comparable across runs, whatever the run trained on).
    pub(crate) test_bpc: Option<f64>,
    pub(crate) metrics: Vec<MetricRow>,
}

/// Everything the report shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Report {
    pub(crate) name: String,
    pub(crate) preset: String,
    /// Settings as (name, value), in order.
    pub(crate) settings: Vec<(String, String)>,
    /// Command lines that were run, for reproduction.
    pub(crate) commands: Vec<String>,
    pub(crate) data: DataStats,
    pub(crate) train: TrainSummary,
    pub(crate) metrics: Vec<MetricRow>,
    pub(crate) test: Option<EvalResult>,
    pub(crate) samples: Vec<SampleGroup>,
    /// Why there are no per-class samples (when there are none).
    pub(crate) class_note: Option<String>,
    /// `None` without `--sweep`.
    pub(crate) sweep: Option<Vec<SweepRow>>,
    pub(crate) sweep_budget_secs: Option<f64>,
    /// The main run's directory, relative to the report.
    pub(crate) run_dir: String,
}

/// Sizes of the data, from the Parquet files, `vocab show` and the train done event.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct DataStats {
    pub(crate) train_file: String,
    pub(crate) valid_file: String,
    pub(crate) train_rows: Option<u64>,
    pub(crate) valid_rows: Option<u64>,
    pub(crate) vocab_size: Option<u64>,
    pub(crate) vocab_level: Option<String>,
    /// Distinct words in the training titles (what the "known words" statistic checks against).
    pub(crate) title_words: Option<u64>,
    /// What fetching the data warned about (e.g. a mirror's partial train split).
    pub(crate) notes: Vec<String>,
}

/// Writes `report.md`, `bpc.svg` and (with a sweep) `sweep.svg` into `dir`, each atomically;
/// returns the report's path.
pub(crate) fn write_report(dir: &Path, report: &Report) -> Result<PathBuf> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let curves = bpc_curves(&report.metrics);
    let svg = plot_svg(
        &format!("{}: bits per character", report.name),
        "step",
        &curves,
    )
    .context("cannot draw the loss curves")?;
    write_atomic(&dir.join(CURVES_FILE), svg.as_bytes())?;
    if let Some(rows) = &report.sweep {
        let curves: Vec<Curve> = rows
            .iter()
            .filter_map(|row| {
                let result = row.outcome.as_ref().ok()?;
                Some(Curve {
                    label: row.name.clone(),
                    points: points(&result.metrics, |m| m.val_bpc),
                })
            })
            .collect();
        let svg = plot_svg("sweep: validation bits per character", "step", &curves)
            .context("cannot draw the sweep curves")?;
        write_atomic(&dir.join(SWEEP_CURVES_FILE), svg.as_bytes())?;
    }
    let path = dir.join(REPORT_FILE);
    write_atomic(&path, render_markdown(report).as_bytes())?;
    Ok(path)
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?;
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = fs::write(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, path))
        .with_context(|| format!("cannot write {}", path.display()));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// One named line of a plot.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Curve {
    pub(crate) label: String,
    pub(crate) points: Vec<(f64, f64)>,
}

fn points(metrics: &[MetricRow], value: impl Fn(&MetricRow) -> Option<f64>) -> Vec<(f64, f64)> {
    metrics
        .iter()
        .filter_map(|m| Some((m.step as f64, value(m).filter(|v| v.is_finite())?)))
        .collect()
}

/// The train and validation bpc curves of a run.
pub(crate) fn bpc_curves(metrics: &[MetricRow]) -> Vec<Curve> {
    vec![
        Curve {
            label: "train".into(),
            points: points(metrics, |m| m.train_bpc),
        },
        Curve {
            label: "validation".into(),
            points: points(metrics, |m| m.val_bpc),
        },
    ]
}

/// Draws `curves` (bpc against `x_label`) as an SVG document. Each curve is a line with a dot
/// on every point, so a single evaluation still shows; with no point at all the axes are drawn
/// empty.
pub(crate) fn plot_svg(caption: &str, x_label: &str, curves: &[Curve]) -> Result<String> {
    let all = curves.iter().flat_map(|c| c.points.iter());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for &(x, y) in all {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y0 = y0.min(y);
        y1 = y1.max(y);
    }
    if x0 > x1 {
        (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
    }
    if x1 - x0 < 1.0 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(0.01);
    let (y0, y1) = ((y0 - pad).max(0.0), y1 + pad);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("bits per character")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .map_err(plot_error)?;
        for (i, curve) in curves.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            chart
                .draw_series(LineSeries::new(
                    curve.points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(plot_error)?
                .label(curve.label.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart
                .draw_series(
                    curve
                        .points
                        .iter()
                        .map(|&p| Circle::new(p, 3, color.filled())),
                )
                .map_err(plot_error)?;
        }
        if !curves.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .draw()
                .map_err(plot_error)?;
        }
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

fn plot_error<E: std::fmt::Display>(err: E) -> anyhow::Error {
    anyhow!("plotting failed: {err}")
}

/// Most rows the training table shows; longer runs show every epoch end, the last row, and
/// evenly spaced rows in between.
const MAX_TABLE_ROWS: usize = 40;

/// Which metrics rows the table shows (indices, ascending).
pub(crate) fn table_rows(metrics: &[MetricRow]) -> Vec<usize> {
    let n = metrics.len();
    if n <= MAX_TABLE_ROWS {
        return (0..n).collect();
    }
    let every = n.div_ceil(MAX_TABLE_ROWS / 2);
    (0..n)
        .filter(|&i| metrics[i].epoch_end || i % every == 0 || i + 1 == n)
        .collect()
}

fn num(value: Option<f64>, decimals: usize) -> String {
    match value {
        Some(v) if v.is_finite() => format!("{v:.decimals$}"),
        Some(v) => v.to_string(),
        None => "–".into(),
    }
}

fn int(value: Option<u64>) -> String {
    value.map_or_else(|| "–".into(), group_thousands)
}

fn group_thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percent(value: Option<f64>) -> String {
    value.map_or_else(|| "–".into(), |v| format!("{:.1}%", v * 100.0))
}

fn rate(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() && v >= 0.0 => group_thousands(v.round() as u64),
        other => num(other, 0),
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Escapes text for a markdown table cell.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
}

/// A fenced code block that `text` cannot close early.
fn code_block(out: &mut String, lines: &[String]) {
    let mut longest = 0;
    for line in lines {
        let mut run = 0;
        for c in line.chars() {
            run = if c == '`' { run + 1 } else { 0 };
            longest = longest.max(run);
        }
    }
    let fence = "`".repeat(longest.max(2) + 1);
    let _ = writeln!(out, "{fence}text");
    for line in lines {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "{fence}\n");
}

/// The markdown of the report.
pub(crate) fn render_markdown(r: &Report) -> String {
    let mut md = String::new();
    let t = &r.train;
    let _ = writeln!(md, "# charrnn experiment `{}`\n", r.name);
    let _ = writeln!(
        md,
        "Test bits per character: **{}** on {} test titles, after {} steps ({} epochs, {} s of \
         training on {}).\n",
        num(r.test.as_ref().map(|e| e.bits_per_char), 4),
        int(r.test.as_ref().and_then(|e| e.examples)),
        int(t.steps),
        num(t.epochs, 2),
        num(t.elapsed_secs, 1),
        t.device.as_deref().unwrap_or("–"),
    );

    md.push_str("## Configuration\n\n| setting | value |\n| --- | --- |\n");
    let _ = writeln!(md, "| preset | `{}` |", cell(&r.preset));
    for (name, value) in &r.settings {
        let _ = writeln!(md, "| {} | {} |", cell(name), cell(value));
    }
    md.push('\n');
    if !r.commands.is_empty() {
        md.push_str("Commands run:\n\n");
        code_block(&mut md, &r.commands);
    }

    let d = &r.data;
    md.push_str("## Data\n\n| | training | validation (test) |\n| --- | --- | --- |\n");
    let _ = writeln!(
        md,
        "| file | `{}` | `{}` |",
        cell(&d.train_file),
        cell(&d.valid_file)
    );
    let _ = writeln!(
        md,
        "| rows | {} | {} |",
        int(d.train_rows),
        int(d.valid_rows)
    );
    let _ = writeln!(
        md,
        "| examples | {} | {} |",
        int(t.train_examples),
        int(t.valid_examples)
    );
    let _ = writeln!(
        md,
        "| characters | {} | {} |",
        int(t.train_chars),
        int(r.test.as_ref().and_then(|e| e.chars))
    );
    let _ = writeln!(
        md,
        "\nVocabulary: {} tokens ({}-level, built from the training titles); the training titles \
         hold {} distinct words.\n",
        int(d.vocab_size),
        d.vocab_level.as_deref().unwrap_or("char"),
        int(d.title_words),
    );
    for note in &d.notes {
        let _ = writeln!(md, "> Note: {}\n", one_line(note));
    }

    md.push_str("## Training\n\n");
    let _ = writeln!(
        md,
        "{} steps, {} epochs, {} parameters; final train bpc {}, best validation bpc {}.\n",
        int(t.steps),
        num(t.epochs, 2),
        int(t.params),
        num(t.final_train_bpc, 4),
        num(t.best_val_bpc, 4),
    );
    let _ = writeln!(md, "![bits per character against step]({CURVES_FILE})\n");
    if r.metrics.is_empty() {
        md.push_str("The run recorded no evaluation.\n\n");
    } else {
        md.push_str(
            "| step | epoch | epoch end | train bpc | validation bpc | chars/s | elapsed s |\n\
             | ---: | ---: | :---: | ---: | ---: | ---: | ---: |\n",
        );
        let shown = table_rows(&r.metrics);
        for &i in &shown {
            let m = &r.metrics[i];
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                group_thousands(m.step),
                num(m.epoch, 2),
                if m.epoch_end { "yes" } else { "" },
                num(m.train_bpc, 4),
                num(m.val_bpc, 4),
                rate(m.chars_per_sec),
                num(m.elapsed_secs, 1),
            );
        }
        if shown.len() < r.metrics.len() {
            let _ = writeln!(
                md,
                "\n{} of {} evaluations shown (every epoch end and evenly spaced ones); all are in \
                 `{}/metrics.jsonl`.",
                shown.len(),
                r.metrics.len(),
                r.run_dir
            );
        }
        md.push('\n');
    }

    md.push_str("## Throughput\n\n");
    let _ = writeln!(
        md,
        "{} training characters per second on {} ({} s for {} steps).\n",
        rate(t.chars_per_sec),
        t.device.as_deref().unwrap_or("–"),
        num(t.elapsed_secs, 1),
        int(t.steps),
    );

    md.push_str("## Test\n\n");
    match &r.test {
        Some(e) => {
            let _ = writeln!(
                md,
                "| bits per character | nats per character | characters | titles |\n\
                 | ---: | ---: | ---: | ---: |\n| {} | {} | {} | {} |\n",
                num(Some(e.bits_per_char), 4),
                num(e.nats_per_char, 4),
                int(e.chars),
                int(e.examples)
            );
        }
        None => md.push_str("Not evaluated.\n\n"),
    }

    md.push_str("## Samples\n\n");
    md.push_str(
        "One sample per line, prompt included (a line break inside a sample shows as `⏎`).\n\n",
    );
    for group in &r.samples {
        let _ = writeln!(md, "### {}\n", group.title);
        let lines: Vec<String> = group
            .samples
            .iter()
            .map(|s| s.text.text.replace('\n', "⏎"))
            .collect();
        if lines.is_empty() {
            md.push_str("No samples.\n\n");
        } else {
            code_block(&mut md, &lines);
        }
    }
    if let Some(note) = &r.class_note {
        let _ = writeln!(md, "{note}\n");
    }

    md.push_str("## Sample statistics\n\n");
    let _ = writeln!(
        md,
        "Words are lowercased whitespace tokens stripped of surrounding punctuation; word \
         statistics look at the generated part only. *Mean length*: characters generated after the \
         prompt. *Known words*: share found among the words \
         of the training titles. *distinct-n*: distinct word n-grams / all word n-grams. *Copies*: \
         samples that are exactly a training title. *Loops*: samples in which some stretch of at \
         least {LOOP_MIN_CHARS} characters occurs {LOOP_MIN_REPEATS} times without overlap.\n"
    );
    md.push_str(
        "| samples | n | mean length | ended at `<eos>` | known words | distinct-2 | distinct-3 | \
         copies | loops |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for group in &r.samples {
        let s = &group.stats;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            cell(&group.title),
            s.samples,
            num(s.mean_generated_chars, 1),
            percent(s.eos_share),
            percent(s.known_words),
            num(s.distinct_2, 3),
            num(s.distinct_3, 3),
            percent(s.copies),
            percent(s.loops),
        );
    }
    md.push('\n');

    if let Some(rows) = &r.sweep {
        md.push_str("## Sweep\n\n");
        let _ = writeln!(
            md,
            "{} runs sharing one time budget of {} s evenly. Validation bpc is on the validation \
             data each run trained with (full-text runs: title and description); test bpc is \
             always on the test titles.\n",
            rows.len(),
            num(r.sweep_budget_secs, 0)
        );
        let _ = writeln!(md, "![sweep validation curves]({SWEEP_CURVES_FILE})\n");
        md.push_str(
            "| run | flags | params | steps | best val bpc | test bpc (titles) | chars/s | run dir |\n\
             | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |\n",
        );
        for row in rows {
            match &row.outcome {
                Ok(res) => {
                    let _ = writeln!(
                        md,
                        "| {} | `{}` | {} | {} | {} | {} | {} | `{}` |",
                        cell(&row.name),
                        cell(&row.flags),
                        int(res.train.params),
                        int(res.train.steps),
                        num(res.train.best_val_bpc, 4),
                        num(res.test_bpc, 4),
                        rate(res.train.chars_per_sec),
                        cell(&row.run_dir),
                    );
                }
                Err(message) => {
                    let _ = writeln!(
                        md,
                        "| {} | `{}` | failed: {} | | | | | `{}` |",
                        cell(&row.name),
                        cell(&row.flags),
                        cell(message),
                        cell(&row.run_dir),
                    );
                }
            }
        }
        md.push('\n');
    }

    md.push_str("## Files\n\n");
    let _ = writeln!(
        md,
        "- `{run}/`: the run: `best/` and `last/` checkpoints (model.safetensors, config.json, \
         tokenizer.json, optimizer.safetensors) and `metrics.jsonl`.\n- `{CURVES_FILE}`: the loss \
         curves above.",
        run = r.run_dir
    );
    if r.sweep.is_some() {
        let _ = writeln!(
            md,
            "- `{SWEEP_CURVES_FILE}` and `sweep/`: the sweep's curves and runs."
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment_metrics::{TrainingCorpus, sample_stats};

    fn metric(step: u64, train: f64, val: Option<f64>, epoch_end: bool) -> MetricRow {
        MetricRow {
            step,
            epoch: Some(step as f64 / 100.0),
            epoch_end,
            train_bpc: Some(train),
            val_bpc: val,
            chars_per_sec: Some(123_456.7),
            elapsed_secs: Some(step as f64 / 10.0),
        }
    }

    fn sample(prompt: &str, generated: &str, temperature: Option<f64>) -> Sample {
        Sample {
            prompt: prompt.into(),
            temperature,
            label: None,
            text: SampleText {
                text: format!("{prompt}{generated}"),
                generated: generated.into(),
                stop: "eos".into(),
            },
        }
    }

    fn made_up_report(sweep: bool) -> Report {
        let corpus = TrainingCorpus::new(["Stocks rise on oil news"]);
        let group = |title: &str, samples: Vec<Sample>| {
            let texts: Vec<SampleText> = samples.iter().map(|s| s.text.clone()).collect();
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
        Report {
            name: "demo".into(),
            preset: "seed".into(),
            settings: vec![("max steps".into(), "250".into())],
            commands: vec!["charrnn train --preset seed".into()],
            data: DataStats {
                train_file: "data/ag_news/train.parquet".into(),
                valid_file: "data/ag_news/test.parquet".into(),
                train_rows: Some(120_000),
                valid_rows: Some(7_600),
                vocab_size: Some(98),
                vocab_level: Some("char".into()),
                title_words: Some(4321),
                notes: vec!["train.csv: a partial\ncopy".into()],
            },
            train: TrainSummary {
                steps: Some(250),
                epochs: Some(2.5),
                best_val_bpc: Some(2.625),
                final_train_bpc: Some(2.5),
                chars_per_sec: Some(98_765.4),
                elapsed_secs: Some(25.0),
                train_examples: Some(120_000),
                valid_examples: Some(7_600),
                train_chars: Some(5_000_000),
                params: Some(1_234_567),
                device: Some("cpu".into()),
            },
            metrics: metrics.clone(),
            test: Some(EvalResult {
                bits_per_char: 2.6251,
                nats_per_char: Some(1.8196),
                chars: Some(400_000),
                examples: Some(7_600),
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
                            train: TrainSummary {
                                params: Some(5555),
                                steps: Some(77),
                                best_val_bpc: Some(3.0),
                                chars_per_sec: Some(1000.0),
                                ..TrainSummary::default()
                            },
                            test_bpc: Some(3.125),
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
    fn metrics_lines_parse() {
        let rows = parse_metrics(
            "{\"step\":10,\"epoch\":0,\"epoch_end\":false,\"train_bpc\":4.5,\"val_bpc\":4.25,\
             \"chars_per_sec\":1000.5,\"elapsed_secs\":1.5}\n\n{\"step\":20,\"epoch\":1.0,\
             \"epoch_end\":true,\"train_bpc\":3.5,\"val_bpc\":null,\"elapsed\":2.5}\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].step, 10);
        assert_eq!(rows[0].epoch, Some(0.0));
        assert_eq!(rows[0].val_bpc, Some(4.25));
        assert!(rows[1].epoch_end);
        assert_eq!(rows[1].val_bpc, None);
        assert_eq!(rows[1].chars_per_sec, None);
        assert_eq!(
            (rows[0].elapsed_secs, rows[1].elapsed_secs),
            (Some(1.5), Some(2.5))
        );
        let err = parse_metrics("{\"step\":1}\nnot json\n").unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
        let err = parse_metrics("{\"epoch\":1}\n").unwrap_err();
        assert!(format!("{err:#}").contains("step"), "{err:#}");
    }

    #[test]
    fn samples_parse_with_or_without_generated() {
        let value: Value = serde_json::from_str(
            r#"{"prompt":"Today ","temperature":0.8,"label":"Sports","text":"Today we win","stop":"eos"}"#,
        )
        .unwrap();
        let s = Sample::from_json(&value).unwrap();
        assert_eq!(s.text.generated, "we win");
        assert_eq!(s.temperature, Some(0.8));
        assert_eq!(s.label.as_deref(), Some("Sports"));
        let value: Value = serde_json::from_str(
            r#"{"prompt":"A","temperature":null,"label":2,"text":"AB","generated":"B","stop":"max_len"}"#,
        )
        .unwrap();
        let s = Sample::from_json(&value).unwrap();
        assert_eq!((s.temperature, s.label.as_deref()), (None, Some("2")));
        assert_eq!(s.text.stop, "max_len");
        assert!(Sample::from_json(&serde_json::json!({"prompt": "x"})).is_err());
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
            "| rows | 120,000 | 7,600 |",
            "| characters | 5,000,000 | 400,000 |",
            "Vocabulary: 98 tokens (char-level",
            "hold 4,321 distinct words",
            "> Note: train.csv: a partial copy\n",
            "1,234,567 parameters",
            "![bits per character against step](bpc.svg)",
            "| 200 | 2.00 | yes | 2.7500 | 2.6250 | 123,457 | 20.0 |",
            "| 250 | 2.50 |  | 2.5000 | – |",
            "98,765 training characters per second on cpu",
            "| 2.6251 | 1.8196 | 400,000 | 7,600 |",
            "Today Stocks⏎rise",
            // The sample holding ``` gets a longer fence.
            "````text\nToday the | best ```code``` day\n````",
            // T = 0.8: lengths 11 and 23; all 7 words known; 2-grams: 4 distinct of 5; one of
            // the two samples copies a title; none loops.
            "| T = 0.8 | 2 | 17.0 | 100.0% | 100.0% | 0.800 | 1.000 | 50.0% | 0.0% |",
            "Per-class samples skipped",
            "![sweep validation curves](sweep.svg)",
            "| gru | `--cell gru` | 5,555 | 77 | 3.0000 | 3.1250 | 1,000 | `sweep/gru` |",
            "| broken | `--hidden 8` | failed: error: out of \\| memory |",
            "`run/`: the run",
        ] {
            assert!(md.contains(needle), "no {needle:?} in\n{md}");
        }
        let plain = render_markdown(&made_up_report(false));
        assert!(!plain.contains("## Sweep"));
        assert!(!plain.contains("sweep.svg"));
    }

    #[test]
    fn long_runs_show_a_thinned_table() {
        let metrics: Vec<MetricRow> = (1..=500)
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
        for file in [CURVES_FILE, SWEEP_CURVES_FILE] {
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
        // No temporary file is left behind.
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
        assert_eq!(names.len(), 3, "{names:?}");
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
}
