//! The report's Markdown.
use std::fmt::Write as _;

use charrnn_model::EvalRecord;

use super::types::{CURVES_FILE, Report, SWEEP_CURVES_FILE, SWEEP_TIME_CURVES_FILE};
use crate::events::{Classification, TrainDone, Validation};
use crate::stats::{LOOP_MIN_CHARS, LOOP_MIN_REPEATS};

/// Most rows the training table shows; longer runs show every epoch end, the last row, and
/// evenly spaced rows in between.
pub(crate) const MAX_TABLE_ROWS: usize = 40;

/// Which metrics rows the table shows (indices, ascending).
pub(crate) fn table_rows(metrics: &[EvalRecord]) -> Vec<usize> {
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
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
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

/// What the budget of a run was, and whether its result depends on the machine's speed.
fn budget_sentence(t: &TrainDone) -> String {
    let mut parts = Vec::new();
    if let Some(steps) = t.max_steps {
        parts.push(format!("{} optimizer steps", group_thousands(steps)));
    }
    if let Some(epochs) = t.max_epochs {
        parts.push(format!("{epochs} epochs"));
    }
    if let Some(secs) = t.max_seconds {
        parts.push(format!("{} s of training", num(Some(secs), 0)));
    }
    let budget = if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(" or ")
    };
    if t.max_seconds.is_some() {
        format!(
            "Budget: {budget}, whichever ran out first. A time budget makes the number of \
             steps, and so the result, depend on how fast and how busy the machine is."
        )
    } else {
        let threads = match t.threads {
            0 => String::new(),
            n => format!(" ({n} here)"),
        };
        format!(
            "Budget: {budget}. The budget counts steps, not seconds, so the result does not \
             depend on the machine's speed or load: the same command and seed repeat the run \
             bit for bit on the same CPU with as many libtorch threads{threads}. Another CPU or \
             thread count may add numbers in another order (1 to 4 threads gave identical runs \
             on this project's 2-core machine, 8 did not), and the curves then drift apart by \
             rounding."
        )
    }
}

fn validation_cell(v: &Validation) -> String {
    match v {
        Validation::File { path } => format!("`{}`", cell(&path.display().to_string())),
        Validation::HeldOut { fraction, seed, .. } => format!(
            "{}% of the training rows, held out (seed {seed})",
            num(Some(fraction * 100.0), 1)
        ),
    }
}

/// The markdown of the report.
pub fn render_markdown(r: &Report) -> String {
    let mut md = String::new();
    let t = &r.train;
    let best = r.metrics.iter().rev().find(|m| m.best);
    let _ = writeln!(md, "# charrnn experiment `{}`\n", r.name);
    let _ = writeln!(
        md,
        "Test bits per character: **{}** on {} test titles, after {} steps ({} epochs, {} s of \
         training on {}), by the checkpoint that validation chose{}.\n",
        num(Some(r.test.bits_per_char), 4),
        group_thousands(r.test.examples as u64),
        group_thousands(t.steps),
        num(Some(t.epochs), 2),
        num(Some(t.elapsed_secs), 1),
        t.device,
        best.map_or_else(String::new, |b| format!(
            " (step {})",
            group_thousands(b.step)
        )),
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
    let valid_rows = match &t.validation {
        Validation::HeldOut { rows, .. } => Some(*rows as u64),
        _ => None,
    };
    md.push_str("## Data\n\n| | training | validation | test |\n| --- | --- | --- | --- |\n");
    let _ = writeln!(
        md,
        "| file | `{}` | {} | `{}` |",
        cell(&d.train_file),
        validation_cell(&t.validation),
        cell(&d.test_file)
    );
    let _ = writeln!(
        md,
        "| rows | {} | {} | {} |",
        int(Some(d.train_rows.saturating_sub(valid_rows.unwrap_or(0)))),
        int(valid_rows),
        group_thousands(d.test_rows)
    );
    let _ = writeln!(
        md,
        "| examples | {} | {} | {} |",
        group_thousands(t.train_examples as u64),
        group_thousands(t.valid_examples as u64),
        group_thousands(r.test.examples as u64)
    );
    let _ = writeln!(
        md,
        "| characters to predict (<eos> included) | {} | – | {} |",
        group_thousands(t.train_chars as u64),
        group_thousands(r.test.chars as u64)
    );
    md.push_str(
        "\nValidation picks the `best/` checkpoint during training; the test titles are \
         scored once, at the end, by that checkpoint, and never steer training.\n",
    );
    let _ = writeln!(
        md,
        "\nVocabulary: {} tokens ({}-level, built from the training titles); the training titles \
         hold {} distinct words.\n",
        group_thousands(d.vocab_size as u64),
        d.vocab_level,
        group_thousands(d.title_words as u64),
    );
    for note in &d.notes {
        let _ = writeln!(md, "> Note: {}\n", one_line(note));
    }

    md.push_str("## Training\n\n");
    let _ = writeln!(
        md,
        "{} steps, {} epochs, {} parameters; final train bpc {}, best validation bpc {}.\n",
        group_thousands(t.steps),
        num(Some(t.epochs), 2),
        group_thousands(t.params as u64),
        num(t.final_train_bpc, 4),
        num(t.best_val_bpc, 4),
    );
    let _ = writeln!(md, "{}\n", budget_sentence(t));
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
                m.epoch_number(),
                if m.epoch_end { "yes" } else { "" },
                num(m.train_bpc, 4),
                num(m.val_bpc, 4),
                rate(Some(m.chars_per_sec)),
                num(Some(m.elapsed), 1),
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
        rate(Some(t.chars_per_sec)),
        t.device,
        num(Some(t.elapsed_secs), 1),
        group_thousands(t.steps),
    );

    md.push_str("## Test\n\n");
    let _ = writeln!(
        md,
        "| bits per character | nats per character | characters | titles |\n\
         | ---: | ---: | ---: | ---: |\n| {} | {} | {} | {} |\n",
        num(Some(r.test.bits_per_char), 4),
        num(Some(r.test.nats_per_char), 4),
        group_thousands(r.test.chars as u64),
        group_thousands(r.test.examples as u64)
    );
    if let Some(c) = &r.classification {
        classification(&mut md, c);
    }

    samples(&mut md, r);
    sweep(&mut md, r);

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
            "- `{SWEEP_CURVES_FILE}`, `{SWEEP_TIME_CURVES_FILE}` and `sweep/`: the sweep's curves \
             and runs."
        );
    }
    md
}

fn samples(md: &mut String, r: &Report) {
    md.push_str("## Samples\n\n");
    md.push_str(
        "One sample per line, prompt included (a line break inside a sample shows as `⏎`).\n\n",
    );
    for group in &r.samples {
        let _ = writeln!(md, "### {}\n", group.title);
        let lines: Vec<String> = group
            .samples
            .iter()
            .map(|s| s.text.replace('\n', "⏎"))
            .collect();
        if lines.is_empty() {
            md.push_str("No samples.\n\n");
        } else {
            code_block(md, &lines);
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
}

fn sweep(md: &mut String, r: &Report) {
    let Some(rows) = &r.sweep else {
        return;
    };
    md.push_str("## Sweep\n\n");
    let _ = writeln!(
        md,
        "{} runs sharing one time budget of {} s evenly, so that their curves can be read \
         against training time as well as against steps. Validation bpc is on the validation \
         data each run trained with (full-text runs: title and description); test bpc is \
         always on the test titles.\n",
        rows.len(),
        num(r.sweep_budget_secs, 0)
    );
    let _ = writeln!(
        md,
        "![sweep validation curves against step]({SWEEP_CURVES_FILE})\n"
    );
    let _ = writeln!(
        md,
        "![sweep validation curves against training time]({SWEEP_TIME_CURVES_FILE})\n"
    );
    md.push_str(
        "| run | flags | params | steps | train s | best val bpc | test bpc (titles) | chars/s | \
         run dir |\n| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n",
    );
    for row in rows {
        match &row.outcome {
            Ok(res) => {
                let _ = writeln!(
                    md,
                    "| {} | `{}` | {} | {} | {} | {} | {} | {} | `{}` |",
                    cell(&row.name),
                    cell(&row.flags),
                    group_thousands(res.train.params as u64),
                    group_thousands(res.train.steps),
                    num(Some(res.train.elapsed_secs), 1),
                    num(res.train.best_val_bpc, 4),
                    num(Some(res.test_bpc), 4),
                    rate(Some(res.train.chars_per_sec)),
                    cell(&row.run_dir),
                );
            }
            Err(message) => {
                let _ = writeln!(
                    md,
                    "| {} | `{}` | failed: {} | | | | | | `{}` |",
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

/// The test titles classified by likelihood: the accuracy and the confusion matrix.
fn classification(md: &mut String, c: &Classification) {
    let Some(accuracy) = c.accuracy else {
        return;
    };
    let right: usize = (0..c.confusion.len()).map(|k| c.confusion[k][k]).sum();
    let _ = writeln!(
        md,
        "### Classification by likelihood

Scored under each class in turn, each test title \
         given the class under which the model finds it likeliest (`charrnn eval --classify`): \
         **{:.2} %** right ({} of {}; one class in {} by chance).
",
        accuracy * 100.0,
        group_thousands(right as u64),
        group_thousands(c.texts as u64),
        c.classes.len()
    );
    md.push_str("| true \\ predicted |");
    for class in &c.classes {
        let _ = write!(md, " {} |", cell(class));
    }
    md.push_str("\n| --- |");
    md.push_str(&" ---: |".repeat(c.classes.len()));
    md.push('\n');
    for (class, row) in c.classes.iter().zip(&c.confusion) {
        let _ = write!(md, "| {} |", cell(class));
        for n in row {
            let _ = write!(md, " {} |", group_thousands(*n as u64));
        }
        md.push('\n');
    }
    md.push('\n');
}
