//! Each row of the table: training throughput, time to a bits-per-character goal, and
//! generation, each measured on both sides.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::options::{DataFiles, Options, Part, fresh_dir};
use super::sides::{Sides, done_event, num, stats_event};
use super::spec::{Spec, seed_spec, steps_within_epoch, strings, train_specs, ttb_budget};
use super::table::{Goal, Row, fmt_num, target};

/// The generation prompt of both sides.
const PROMPT: &str = "Today ";

/// Where a run first reached a validation bpc.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Reached {
    pub(crate) step: u64,
    pub(crate) elapsed_secs: f64,
    pub(crate) val_bpc: f64,
}

/// The first line of `metrics.jsonl` text whose `val_bpc` is at most `goal` (and that has an
/// `elapsed`), and the best validation bpc of the whole run.
pub(crate) fn time_to_bpc(metrics: &str, goal: f64) -> Result<(Option<Reached>, Option<f64>)> {
    let rows = metrics
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str::<Value>(l)
                .with_context(|| format!("metrics line {} is not JSON", n + 1))
        })
        .collect::<Result<Vec<Value>>>()?;
    let best = rows
        .iter()
        .filter_map(|r| r["val_bpc"].as_f64())
        .fold(None, |best: Option<f64>, v| {
            Some(best.map_or(v, |b| b.min(v)))
        });
    let reached = rows.iter().find_map(|r| {
        let elapsed = r["elapsed"].as_f64().or_else(|| r["elapsed_secs"].as_f64());
        match (r["val_bpc"].as_f64(), elapsed, r["step"].as_u64()) {
            (Some(v), Some(elapsed), Some(step)) if v <= goal => Some(Reached {
                step,
                elapsed_secs: elapsed,
                val_bpc: v,
            }),
            _ => None,
        }
    });
    Ok((reached, best))
}

/// `charrnn train` flags every run shares.
pub(crate) fn train_common(opts: &Options, data: &DataFiles, out: &Path) -> Vec<String> {
    let mut a = strings(&["train", "--train"]);
    a.push(data.train_parquet.to_string_lossy().into_owned());
    a.push("--valid".into());
    a.push(data.test_parquet.to_string_lossy().into_owned());
    a.extend(strings(&["--column", "title", "--out"]));
    a.push(out.to_string_lossy().into_owned());
    a.extend(strings(&[
        "--device",
        &opts.device,
        "--threads",
        &opts.threads.to_string(),
        "--seed",
        &opts.seed.to_string(),
        "--json",
        "--quiet",
    ]));
    a
}

/// The reference's flags every run shares.
pub(crate) fn reference_common(opts: &Options, data: &DataFiles) -> Vec<String> {
    let mut a = vec![
        "--train".to_owned(),
        data.train_csv.to_string_lossy().into(),
    ];
    a.extend(strings(&[
        "--device",
        &opts.device,
        "--threads",
        &opts.threads.to_string(),
        "--seed",
        &opts.seed.to_string(),
    ]));
    a
}

pub(crate) fn train_row(
    sides: &mut Sides,
    opts: &Options,
    data: &DataFiles,
    runs: &Path,
    spec: &Spec,
    asked: u64,
    train_rows: u64,
) -> Result<(Row, PathBuf, Value)> {
    let steps = steps_within_epoch(asked, train_rows, spec.batch);
    if steps < asked {
        sides.say(&format!(
            "{asked} steps of {} cross an epoch of {train_rows} titles, where charrnn \
             validates: timing {steps} steps",
            spec.batch
        ));
    }
    sides.say(&format!(
        "training throughput, {}: {steps} steps",
        spec.label
    ));
    let dir = runs.join(spec.key);
    fresh_dir(&dir)?;
    let mut ours = train_common(opts, data, &dir);
    ours.extend(spec.ours(steps));
    let precision = strings(&["--precision", opts.precision.flag()]);
    ours.extend(precision.iter().cloned());
    let done = done_event(&sides.charrnn(&ours)?.stdout)?;
    let mut theirs = reference_common(opts, data);
    theirs.extend(spec.reference_train());
    theirs.extend(["--steps".into(), steps.to_string()]);
    theirs.extend(precision);
    let reference = sides.reference("train", &theirs)?;
    let row = Row {
        part: "train",
        metric: format!("training, {} ({steps} steps)", spec.label),
        unit: "chars/s",
        charrnn: Some(num(&done, "chars_per_sec", "charrnn train")?),
        reference: Some(num(&reference, "chars_per_sec", "the reference's train")?),
        target: target(Goal::Train { batch: spec.batch }, opts.cuda()),
        charrnn_rss_mib: done["peak_rss_mib"].as_f64(),
        reference_rss_mib: reference["peak_rss_mib"].as_f64(),
        note: format!(
            "{:.1} s vs {:.1} s of training{}",
            done["elapsed_secs"].as_f64().unwrap_or(f64::NAN),
            reference["elapsed_secs"].as_f64().unwrap_or(f64::NAN),
            if steps < asked {
                format!("; {asked} steps asked, one epoch is {steps}")
            } else {
                String::new()
            }
        ),
    };
    Ok((row, dir, json!({"charrnn": done, "reference": reference})))
}

pub(crate) fn ttb_row(
    sides: &mut Sides,
    opts: &Options,
    data: &DataFiles,
    runs: &Path,
) -> Result<(Row, Value)> {
    let seed = seed_spec();
    sides.say(&format!(
        "time to bpc: the reference's seed recipe ({})",
        opts.ttb_ref_secs
            .map_or_else(|| "one epoch".to_owned(), |s| format!("{s} s"))
    ));
    let mut theirs = reference_common(opts, data);
    theirs.extend(seed.reference_train());
    theirs.extend(["--valid".into(), data.test_csv.to_string_lossy().into()]);
    theirs.extend(["--epochs".into(), "1".into()]);
    if let Some(secs) = opts.ttb_ref_secs {
        theirs.extend(["--seconds".into(), secs.to_string()]);
    }
    let reference = sides.reference("train", &theirs)?;
    let goal = num(&reference, "val_bpc", "the reference's seed recipe")?;
    let ref_secs = num(&reference, "elapsed_secs", "the reference's seed recipe")?;
    let ref_steps = reference["steps"].as_u64().unwrap_or(0);
    let budget = ttb_budget(opts.ttb_budget, ref_secs);

    sides.say(&format!(
        "time to bpc: charrnn --preset default until validation bpc ≤ {goal:.4} (at most {} s)",
        fmt_num(budget)
    ));
    let dir = runs.join("ttb-default");
    fresh_dir(&dir)?;
    let mut ours = train_common(opts, data, &dir);
    ours.extend(strings(&[
        "--preset",
        "default",
        "--eval-every",
        &opts.ttb_eval_every.to_string(),
        "--time-budget",
        &format!("{budget:.1}"),
    ]));
    let done = done_event(&sides.charrnn(&ours)?.stdout)?;
    let metrics_path = dir.join("metrics.jsonl");
    let metrics = fs::read_to_string(&metrics_path)
        .with_context(|| format!("cannot read {}", metrics_path.display()))?;
    let (reached, best) =
        time_to_bpc(&metrics, goal).with_context(|| format!("bad {}", metrics_path.display()))?;
    let ours_note = match &reached {
        Some(r) => format!(
            "charrnn: val bpc {:.4} at step {} (default preset, validating every {} steps; \
             training time, validation not counted)",
            r.val_bpc, r.step, opts.ttb_eval_every
        ),
        None => format!(
            "charrnn: not reached within {} s (best val bpc {})",
            fmt_num(budget),
            best.map_or_else(|| "–".to_owned(), |b| format!("{b:.4}"))
        ),
    };
    let row = Row {
        part: "ttb",
        metric: format!("time to the seed recipe's val bpc {goal:.4} (lower is better)"),
        unit: "s",
        charrnn: reached.as_ref().map(|r| r.elapsed_secs),
        reference: Some(ref_secs),
        target: target(Goal::TimeToBpc, opts.cuda()),
        charrnn_rss_mib: done["peak_rss_mib"].as_f64(),
        reference_rss_mib: reference["peak_rss_mib"].as_f64(),
        note: format!(
            "reference: seed recipe, {ref_steps} steps of {} titles{} → val bpc {goal:.4}; \
             {ours_note}",
            seed.batch,
            if opts.ttb_ref_secs.is_some() {
                ", time-limited"
            } else {
                ", one epoch"
            }
        ),
    };
    let value = json!({
        "reference": reference,
        "charrnn": done,
        "charrnn_reached": reached.as_ref().map(|r| json!({
            "step": r.step, "elapsed_secs": r.elapsed_secs, "val_bpc": r.val_bpc
        })),
        "charrnn_best_val_bpc": best,
        "charrnn_budget_secs": budget,
    });
    Ok((row, value))
}

/// Our `generate` of `samples` × `length` from `run_dir`, with `extra` flags; returns its
/// stats line.
pub(crate) fn our_generate(
    sides: &mut Sides,
    opts: &Options,
    run_dir: &Path,
    samples: u64,
    length: u64,
    extra: &[&str],
) -> Result<Value> {
    let mut a = vec!["generate".to_owned(), run_dir.to_string_lossy().into()];
    a.extend(strings(&[
        "--prompt",
        PROMPT,
        "-n",
        &samples.to_string(),
        "--max-len",
        &length.to_string(),
        "--temperature",
        "1.0",
        "--ignore-eos",
        "--stats",
        "--json",
        "--device",
        &opts.device,
        "--threads",
        &opts.threads.to_string(),
        "--seed",
        &opts.seed.to_string(),
    ]));
    a.extend(strings(extra));
    stats_event(&sides.charrnn(&a)?.stderr)
}

pub(crate) fn gen_rows(
    sides: &mut Sides,
    opts: &Options,
    data: &DataFiles,
    run_dir: &Path,
) -> Result<(Vec<Row>, Value)> {
    // The best checkpoint when the run validated, else the last one.
    let ckpt = if run_dir.join("best").is_dir() || !run_dir.join("last").is_dir() {
        run_dir.to_path_buf()
    } else {
        run_dir.join("last")
    };
    let (n, len) = (opts.gen_samples, opts.gen_length);
    sides.say(&format!("generation: {n} samples × {len} characters"));
    let batched = our_generate(sides, opts, &ckpt, n, len, &[])?;
    let single = our_generate(sides, opts, &ckpt, 1, len, &[])?;
    // On CUDA the default draws on the device; the host sampler (logits copied back every
    // step) is measured beside it.
    let host_sampler = if opts.cuda() {
        Some(our_generate(
            sides,
            opts,
            &ckpt,
            n,
            len,
            &["--sampler", "host"],
        )?)
    } else {
        None
    };
    let spec = &train_specs()[1];
    let mut theirs = reference_common(opts, data);
    theirs.extend(spec.reference());
    theirs.extend(strings(&[
        "--samples",
        &n.to_string(),
        "--length",
        &len.to_string(),
        "--notebook-length",
        &opts.notebook_length.to_string(),
        "--temperature",
        "1.0",
    ]));
    let reference = sides.reference("generate", &theirs)?;

    let ours_cps = num(&batched, "chars_per_sec", "charrnn generate")?;
    let ours_chars = batched["chars"].as_u64().unwrap_or(0);
    let ours_secs = num(&batched, "elapsed_secs", "charrnn generate")?;
    let ref_batched = num(
        &reference,
        "batched_chars_per_sec",
        "the reference's generate",
    )?;
    let ref_secs = (n * len) as f64 / ref_batched;
    let single_chars = num(&single, "chars", "charrnn generate -n 1")?;
    let single_ms = if single_chars > 0.0 {
        Some(num(&single, "elapsed_secs", "charrnn generate -n 1")? * 1000.0 / single_chars)
    } else {
        None
    };
    let ours_rss = batched["peak_rss_mib"].as_f64();
    let ref_rss = reference["peak_rss_mib"].as_f64();
    let cuda = opts.cuda();
    let mut rows = vec![
        Row {
            part: "gen",
            metric: format!(
                "generation, {n} samples × {len} chars, batched, vs the reference's \
                 carried-state loop"
            ),
            unit: "chars/s",
            charrnn: Some(ours_cps),
            reference: Some(ref_batched),
            target: target(Goal::GenBatched, cuda),
            charrnn_rss_mib: ours_rss,
            reference_rss_mib: ref_rss,
            note: format!(
                "both run every sample to its length (charrnn: --ignore-eos): {ours_chars} of {} \
                 chars in {} s; the reference: {} in {} s",
                n * len,
                fmt_num(ours_secs),
                n * len,
                fmt_num(ref_secs),
            ),
        },
        Row {
            part: "gen",
            metric: format!(
                "generation, charrnn batched ({n} samples) vs the notebook's loop \
                 (re-runs the prefix per char, 1 sample × {} chars)",
                opts.notebook_length.min(len)
            ),
            unit: "chars/s",
            charrnn: Some(ours_cps),
            reference: Some(num(
                &reference,
                "notebook_chars_per_sec",
                "the reference's generate",
            )?),
            target: target(Goal::GenNotebook, cuda),
            charrnn_rss_mib: ours_rss,
            reference_rss_mib: ref_rss,
            note: String::new(),
        },
        Row {
            part: "gen",
            metric: format!("single-sample latency, 1 × {len} chars (lower is better)"),
            unit: "ms/char",
            charrnn: single_ms,
            reference: Some(num(
                &reference,
                "single_ms_per_char",
                "the reference's generate",
            )?),
            target: target(Goal::Latency, cuda),
            charrnn_rss_mib: single["peak_rss_mib"].as_f64(),
            reference_rss_mib: ref_rss,
            note: format!(
                "charrnn: {single_chars:.0} chars generated (--ignore-eos), priming included"
            ),
        },
    ];
    if let Some(host) = &host_sampler {
        rows.push(Row {
            part: "gen",
            metric: format!(
                "generation, {n} samples × {len} chars, sampler on the device vs on the host"
            ),
            unit: "chars/s",
            charrnn: Some(ours_cps),
            reference: Some(num(
                host,
                "chars_per_sec",
                "charrnn generate --sampler host",
            )?),
            target: None,
            charrnn_rss_mib: ours_rss,
            reference_rss_mib: host["peak_rss_mib"].as_f64(),
            note: "both charrnn, same seed and samples; \"reference\" is --sampler host".into(),
        });
    }
    let value = json!({
        "checkpoint": ckpt,
        "charrnn_batched": batched,
        "charrnn_single": single,
        "charrnn_host_sampler": host_sampler,
        "reference": reference,
    });
    Ok((rows, value))
}

pub(crate) fn notes(opts: &Options) -> Vec<String> {
    let mut notes = vec![
        "ratio = charrnn / reference; for rows marked \"lower is better\" a ratio below 1 \
         favours charrnn."
            .to_owned(),
        format!(
            "both sides run back to back on {} with {} thread(s), same seed and configuration \
             (LSTM, no dropout, no clipping, shuffled random batches, same learning rate).",
            opts.device, opts.threads
        ),
    ];
    if opts.precision != super::options::Precision::Fp32 {
        notes.push(format!(
            "training throughput in {} mixed precision on both sides: charrnn --precision {0} \
             (with loss scaling) against the reference under torch.autocast (without).",
            opts.precision.flag()
        ));
    }
    notes.push(
        "timings assume an otherwise idle machine: with other processes on the cores, \
         libtorch's multi-threaded CPU kernels slow down by up to tens of times on both sides \
         (the load average above includes the benchmark's own processes)."
            .into(),
    );
    if opts.parts.contains(&Part::Train) {
        notes.push(
            "training: real target characters per second (padding not counted) over a fixed \
             number of steps, no validation while timed; charrnn's figure is its done event's \
             chars_per_sec (training time only), the reference's covers its training loop."
                .into(),
        );
    }
    if opts.parts.contains(&Part::Ttb) {
        notes.push(format!(
            "time to bpc: the reference trains the seed recipe (one-hot LSTM 128, batch 8, \
             RMSprop) for {} and reports val bpc on the test titles; charrnn trains \
             `--preset default` (validating every {} steps) for {} and the time is the \
             `elapsed` of the first metrics.jsonl line at or below that bpc (charrnn's training \
             clock leaves its validation passes out). Both times are training time, without \
             data loading.",
            opts.ttb_ref_secs
                .map_or_else(|| "one epoch".to_owned(), |s| format!("{s} s")),
            opts.ttb_eval_every,
            opts.ttb_budget.map_or_else(
                || "as long as the reference took (30-600 s)".to_owned(),
                |b| format!("at most {b} s")
            ),
        ));
    }
    if opts.parts.contains(&Part::Gen) {
        notes.push(
            "generation: charrnn samples from the LSTM 128 batch-256 run's checkpoint, \
             prompt \"Today \", temperature 1.0, with <eos> banned (--ignore-eos) so that every \
             sample runs to its full length, as the reference's do (elapsed includes priming \
             the prompt; both sides generate two warm-up characters before their clocks, so \
             first-call set-up is left out); the reference builds an untrained model of the \
             same shape (speed does not depend on the weights) and generates exactly the \
             requested length per sample."
                .into(),
        );
    }
    if opts.cuda() {
        notes.push(
            "CUDA: GPU memory is not in the RSS column; the reference's peak_gpu_mib is in \
             bench.json."
                .into(),
        );
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_to_bpc_takes_the_first_evaluation_at_or_below_the_goal() {
        let metrics = "\
{\"step\":50,\"epoch\":0,\"train_bpc\":3.1,\"val_bpc\":3.0,\"chars_per_sec\":9000,\"elapsed\":4.5}
{\"step\":100,\"epoch\":0,\"train_bpc\":2.6,\"val_bpc\":2.5,\"chars_per_sec\":9000,\"elapsed\":9.0}

{\"step\":150,\"epoch\":0,\"train_bpc\":2.4,\"val_bpc\":2.7,\"chars_per_sec\":9000,\"elapsed\":13.5}
{\"step\":200,\"epoch\":0,\"val_bpc\":2.2,\"chars_per_sec\":9000,\"elapsed_secs\":18.0}
";
        let check = |goal: f64, want: Option<(u64, f64)>| {
            let (reached, best) = time_to_bpc(metrics, goal).unwrap();
            assert_eq!(
                reached.map(|r| (r.step, r.elapsed_secs)),
                want,
                "goal {goal}"
            );
            assert_eq!(best, Some(2.2));
        };
        check(3.5, Some((50, 4.5)));
        check(3.0, Some((50, 4.5)));
        check(2.6, Some((100, 9.0)));
        // The first line at or below, not the best one.
        check(2.5, Some((100, 9.0)));
        check(2.3, Some((200, 18.0)));
        check(2.1, None);

        // Lines without validation (or without a time) are skipped.
        let no_val = "{\"step\":10,\"train_bpc\":3.0,\"elapsed\":1.0}\n\
                      {\"step\":20,\"val_bpc\":1.0}\n\
                      {\"step\":30,\"val_bpc\":1.5,\"elapsed\":3.0}\n";
        let (reached, best) = time_to_bpc(no_val, 2.0).unwrap();
        assert_eq!(
            reached,
            Some(Reached {
                step: 30,
                elapsed_secs: 3.0,
                val_bpc: 1.5
            })
        );
        assert_eq!(best, Some(1.0));
        assert_eq!(time_to_bpc("", 2.0).unwrap(), (None, None));
        let err = time_to_bpc("{\"step\":1}\nnot json\n", 2.0).unwrap_err();
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }
}
