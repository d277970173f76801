//! `cargo xtask bench --dist`: what data-parallel training costs, with `charrnn train` on the
//! AG News titles at the benchmark's LSTM 128 × batch 256 configuration. Two comparisons, each
//! in the same run, alternating the two sides and taking the median of `--dist-repeats`:
//! - a group of one (`--nproc 1`: Gloo on the CPU, NCCL on CUDA) against no group, the cost
//!   of the group itself (its collectives each step, the heartbeats);
//! - on the CPU only, 2 ranks × 1 thread against 1 process × 2 threads on the same global batch.
//!
//! Writes `dist.md` and `dist.json` into the benchmark's directory.

use std::{fmt::Write as _, fs, path::Path};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::options::{DataFiles, DistBenchArgs, Options, fresh_dir};
use super::rows::train_common;
use super::sides::{Sides, done_event, num};
use super::spec::train_specs;

/// One comparison: the side under test, the side it is measured against, their medians.
struct Row {
    metric: String,
    with: f64,
    without: f64,
    /// Met when `with / without` is at least this.
    target: Option<f64>,
    note: String,
}

/// Runs the data-parallel benchmark with `sides.bin` on `data`, writing into `out`.
pub(crate) fn run(
    args: &DistBenchArgs,
    opts: &Options,
    sides: &mut Sides,
    data: &DataFiles,
    out: &Path,
) -> Result<()> {
    let spec = &train_specs()[1];
    // Several epochs: the evaluation at each epoch's end is off the training clock.
    let steps = args
        .dist_steps
        .unwrap_or(if opts.cuda() { 500 } else { 150 });
    let repeats = args.dist_repeats;
    let dir = out.join("dist");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut raw = serde_json::Map::new();
    let ctx = Ctx {
        opts,
        data,
        dir: &dir,
        steps,
        repeats,
    };

    let backend = if opts.cuda() { "NCCL" } else { "Gloo" };
    sides.say(&format!(
        "data-parallel: a group of one ({backend}) against none, {steps} steps × {repeats}"
    ));
    let threads = opts.threads;
    let (with, without) = ctx.pair(
        sides,
        &mut raw,
        "group-of-one",
        (&["--nproc", "1"], threads),
        (&[], threads),
    )?;
    let mut rows = vec![Row {
        metric: format!("a group of one ({backend}) / no group, {}", spec.label),
        with,
        without,
        target: Some(0.95),
        note: "the group's cost: at most 5 %".into(),
    }];
    if !opts.cuda() {
        sides.say("data-parallel: 2 ranks × 1 thread against 1 process × 2 threads");
        let (with, without) = ctx.pair(
            sides,
            &mut raw,
            "two-ranks",
            (&["--nproc", "2"], 1),
            (&[], 2),
        )?;
        rows.push(Row {
            metric: format!("2 ranks × 1 thread / 1 process × 2 threads, {}", spec.label),
            with,
            without,
            target: None,
            note: "the same global batch".into(),
        });
    }

    let table = markdown(&rows, opts, steps, repeats);
    let md = dir.join("dist.md");
    fs::write(&md, &table).with_context(|| format!("cannot write {}", md.display()))?;
    let js = dir.join("dist.json");
    let value = json!({
        "device": opts.device,
        "threads": opts.threads,
        "steps": steps,
        "repeats": repeats,
        "rows": rows.iter().map(|r| json!({
            "metric": r.metric, "with_chars_per_sec": r.with,
            "without_chars_per_sec": r.without, "ratio": r.with / r.without,
            "target_at_least": r.target,
        })).collect::<Vec<_>>(),
        "runs": raw,
        "commands": sides.log,
    });
    fs::write(&js, serde_json::to_string_pretty(&value)?)
        .with_context(|| format!("cannot write {}", js.display()))?;
    println!("{table}");
    println!("written: {} and {}", md.display(), js.display());
    Ok(())
}

/// What every timed run shares.
struct Ctx<'a> {
    opts: &'a Options,
    data: &'a DataFiles,
    dir: &'a Path,
    steps: u64,
    repeats: u32,
}

impl Ctx<'_> {
    /// One `charrnn train` of the benchmark's configuration with `threads` CPU threads and
    /// the `extra` flags; its chars/s and its `done` event.
    fn time(
        &self,
        sides: &mut Sides,
        name: &str,
        extra: &[&str],
        threads: u32,
    ) -> Result<(f64, Value)> {
        let run = self.dir.join(name);
        fresh_dir(&run)?;
        let opts = Options {
            threads,
            ..self.opts.clone()
        };
        let mut a = train_common(&opts, self.data, &run);
        a.extend(train_specs()[1].ours(self.steps));
        a.extend(extra.iter().map(|s| (*s).to_owned()));
        let done = done_event(&sides.charrnn(&a)?.stdout)?;
        Ok((num(&done, "chars_per_sec", "charrnn train")?, done))
    }

    /// Runs the two sides (`(flags, threads)` each) in turn, `repeats` times; their medians.
    /// Every run's `done` event goes into `raw` under `key`.
    fn pair(
        &self,
        sides: &mut Sides,
        raw: &mut serde_json::Map<String, Value>,
        key: &str,
        with: (&[&str], u32),
        without: (&[&str], u32),
    ) -> Result<(f64, f64)> {
        let (mut a, mut b, mut log) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..self.repeats {
            let (x, dx) = self.time(sides, &format!("{key}-with-{i}"), with.0, with.1)?;
            let (y, dy) = self.time(sides, &format!("{key}-without-{i}"), without.0, without.1)?;
            a.push(x);
            b.push(y);
            log.push(json!({"with": dx, "without": dy}));
        }
        raw.insert(key.to_owned(), Value::Array(log));
        Ok((median(&mut a), median(&mut b)))
    }
}

/// The middle value (the mean of the middle two for an even count); NaN when empty.
fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

fn markdown(rows: &[Row], opts: &Options, steps: u64, repeats: u32) -> String {
    let mut s = format!(
        "Data-parallel training on {}, {steps} steps per run, medians of {repeats} (chars/s)\n\n\
         | comparison | with | without | ratio | target | met | note |\n\
         |---|---:|---:|---:|---:|:---:|---|\n",
        opts.device
    );
    for r in rows {
        let ratio = r.with / r.without;
        let (target, met) = match r.target {
            Some(t) => (format!("≥ {t}×"), if ratio >= t { "yes" } else { "no" }),
            None => ("—".to_owned(), "—"),
        };
        let _ = writeln!(
            s,
            "| {} | {:.0} | {:.0} | {ratio:.3}× | {target} | {met} | {} |",
            r.metric, r.with, r.without, r.note
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&mut []).is_nan());
    }
}
