//! The result: rows with both sides' figures, their ratio, the target and the verdict, and
//! the machine they ran on; written as `bench.md` and `bench.json`.

use std::{
    fmt::Write as _,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use serde_json::{Value, json};

/// A goal on the ratio charrnn / reference.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Target {
    /// Met when the ratio is at least this.
    AtLeast(f64),
    /// Met when the ratio is at most this.
    AtMost(f64),
}

impl Target {
    pub(crate) fn met(self, ratio: f64) -> bool {
        match self {
            Target::AtLeast(x) => ratio >= x,
            Target::AtMost(x) => ratio <= x,
        }
    }

    fn text(self) -> String {
        match self {
            Target::AtLeast(x) => format!("≥ {}×", trim_float(x)),
            Target::AtMost(x) => format!("≤ {}×", trim_float(x)),
        }
    }
}

/// `1.0` → `1.0`, `0.1` → `0.1`, `100.0` → `100`.
pub(crate) fn trim_float(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() >= 10.0 {
        format!("{x:.0}")
    } else {
        format!("{x}")
    }
}

/// The targets, by row and device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Goal {
    /// Training throughput at this batch size.
    Train { batch: u32 },
    /// Time to the seed recipe's validation bpc.
    TimeToBpc,
    /// Batched generation against the reference's carried-state loop.
    GenBatched,
    /// Batched generation against the notebook's loop.
    GenNotebook,
    /// Single-sample latency: reported, no target.
    Latency,
}

/// The target of `goal` on a CUDA (`cuda`) or CPU machine.
pub(crate) fn target(goal: Goal, cuda: bool) -> Option<Target> {
    match (goal, cuda) {
        (Goal::Train { batch }, false) if batch <= 8 => Some(Target::AtLeast(1.2)),
        // The notebook's batches of 8 leave a GPU mostly waiting on the host: the reference's
        // eager loop pays that per step, charrnn's flat optimiser and prefetching should not.
        (Goal::Train { batch }, true) if batch <= 8 => Some(Target::AtLeast(1.5)),
        (Goal::Train { .. }, _) => Some(Target::AtLeast(1.0)),
        (Goal::TimeToBpc, _) => Some(Target::AtMost(0.1)),
        (Goal::GenBatched, false) => Some(Target::AtLeast(1.0)),
        (Goal::GenBatched, true) => Some(Target::AtLeast(2.0)),
        (Goal::GenNotebook, _) => Some(Target::AtLeast(100.0)),
        (Goal::Latency, _) => None,
    }
}

/// Whether a row met its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Pass,
    Miss,
    /// The row has no target.
    NoTarget,
}

impl Verdict {
    fn text(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Miss => "miss",
            Verdict::NoTarget => "–",
        }
    }
}

/// One line of the table.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row {
    /// train, ttb or gen.
    pub(crate) part: &'static str,
    pub(crate) metric: String,
    /// The unit of `charrnn` and `reference`.
    pub(crate) unit: &'static str,
    /// `None`: not measured (or, for time-to-bpc, never reached).
    pub(crate) charrnn: Option<f64>,
    pub(crate) reference: Option<f64>,
    pub(crate) target: Option<Target>,
    pub(crate) charrnn_rss_mib: Option<f64>,
    pub(crate) reference_rss_mib: Option<f64>,
    pub(crate) note: String,
}

impl Row {
    /// charrnn / reference, when both are known and the reference is positive.
    pub(crate) fn ratio(&self) -> Option<f64> {
        match (self.charrnn, self.reference) {
            (Some(ours), Some(theirs)) if theirs > 0.0 && ours.is_finite() => Some(ours / theirs),
            _ => None,
        }
    }

    /// Pass when the ratio meets the target; a row with a target but no ratio is a miss.
    pub(crate) fn verdict(&self) -> Verdict {
        match (self.target, self.ratio()) {
            (None, _) => Verdict::NoTarget,
            (Some(t), Some(r)) if t.met(r) => Verdict::Pass,
            (Some(_), _) => Verdict::Miss,
        }
    }
}

/// What the benchmark ran on.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Machine {
    pub(crate) cpu: String,
    pub(crate) cores: usize,
    pub(crate) device: String,
    pub(crate) gpu: Option<String>,
    pub(crate) threads: u32,
    /// UTC, ISO 8601.
    pub(crate) date: String,
    /// /proc/loadavg's 1-minute figure when the benchmark started and ended (other work on
    /// the machine skews every timing).
    pub(crate) load_at_start: Option<f64>,
    pub(crate) load_at_end: Option<f64>,
    pub(crate) python_torch: Option<String>,
}

/// The whole result.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Table {
    pub(crate) machine: Machine,
    pub(crate) rows: Vec<Row>,
    /// Notes under the table (how each side was measured).
    pub(crate) notes: Vec<String>,
    /// Every side's own JSON output, kept in bench.json.
    pub(crate) raw: Value,
}

/// A figure with about four significant digits and no exponent.
pub(crate) fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if !x.is_finite() {
        format!("{x}")
    } else if a >= 1000.0 {
        group_thousands(x.round() as i64)
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

pub(crate) fn group_thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

pub(crate) fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r >= 10.0 => format!("{r:.0}×"),
        Some(r) if r >= 0.1 => format!("{r:.2}×"),
        Some(r) => format!("{r:.3}×"),
        None => "–".into(),
    }
}

pub(crate) fn fmt_opt(x: Option<f64>) -> String {
    x.map_or_else(|| "–".to_owned(), fmt_num)
}

/// A Markdown table cell: no pipes or newlines.
pub(crate) fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The table as Markdown.
pub(crate) fn markdown(table: &Table) -> String {
    let m = &table.machine;
    let mut out = String::from("# charrnn vs the PyTorch reference\n\n");
    let _ = writeln!(out, "- date: {}", m.date);
    let _ = writeln!(out, "- CPU: {} ({} cores)", m.cpu, m.cores);
    let _ = writeln!(out, "- device: {}", m.device);
    if let Some(gpu) = &m.gpu {
        let _ = writeln!(out, "- GPU: {gpu}");
    }
    let _ = writeln!(out, "- threads (both sides): {}", m.threads);
    if m.load_at_start.is_some() || m.load_at_end.is_some() {
        let _ = writeln!(
            out,
            "- load average (1 min) at start / end: {} / {}",
            fmt_opt(m.load_at_start),
            fmt_opt(m.load_at_end)
        );
    }
    if let Some(torch) = &m.python_torch {
        let _ = writeln!(out, "- reference: PyTorch {torch}");
    }
    out.push_str(
        "\n| metric | unit | charrnn | reference | charrnn / reference | target | result \
         | peak RSS MiB (charrnn / reference) | note |\n\
         |---|---|--:|--:|--:|---|---|--:|---|\n",
    );
    for row in &table.rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} / {} | {} |",
            cell(&row.metric),
            row.unit,
            fmt_opt(row.charrnn),
            fmt_opt(row.reference),
            fmt_ratio(row.ratio()),
            row.target.map_or_else(|| "–".to_owned(), Target::text),
            row.verdict().text(),
            fmt_opt(row.charrnn_rss_mib),
            fmt_opt(row.reference_rss_mib),
            cell(&row.note),
        );
    }
    if !table.notes.is_empty() {
        out.push_str("\nNotes:\n\n");
        for note in &table.notes {
            let _ = writeln!(out, "- {note}");
        }
    }
    out
}

/// The table as JSON (bench.json).
pub(crate) fn to_json(table: &Table) -> Value {
    let m = &table.machine;
    let rows: Vec<Value> = table
        .rows
        .iter()
        .map(|r| {
            let verdict = r.verdict();
            json!({
                "part": r.part,
                "metric": r.metric,
                "unit": r.unit,
                "charrnn": r.charrnn,
                "reference": r.reference,
                "ratio": r.ratio(),
                "target": r.target.map(|t| match t {
                    Target::AtLeast(x) => json!({"at_least": x}),
                    Target::AtMost(x) => json!({"at_most": x}),
                }),
                "met": match verdict {
                    Verdict::Pass => Some(true),
                    Verdict::Miss => Some(false),
                    Verdict::NoTarget => None,
                },
                "charrnn_peak_rss_mib": r.charrnn_rss_mib,
                "reference_peak_rss_mib": r.reference_rss_mib,
                "note": r.note,
            })
        })
        .collect();
    json!({
        "machine": {
            "cpu": m.cpu,
            "cores": m.cores,
            "device": m.device,
            "gpu": m.gpu,
            "threads": m.threads,
            "date": m.date,
            "load_at_start": m.load_at_start,
            "load_at_end": m.load_at_end,
            "python_torch": m.python_torch,
        },
        "rows": rows,
        "notes": table.notes,
        "raw": table.raw,
    })
}

/// Writes `bench.md` and `bench.json` into `dir`, each through a temporary file and a rename;
/// returns their paths.
pub(crate) fn write_table(table: &Table, dir: &Path) -> Result<(PathBuf, PathBuf)> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let md = dir.join("bench.md");
    let js = dir.join("bench.json");
    write_atomic(&md, markdown(table).as_bytes())?;
    let text = serde_json::to_string_pretty(&to_json(table)).context("cannot encode bench.json")?;
    write_atomic(&js, format!("{text}\n").as_bytes())?;
    Ok((md, js))
}

pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| {
        let _ = fs::remove_file(&tmp);
        format!("cannot rename {} to {}", tmp.display(), path.display())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(charrnn: Option<f64>, reference: Option<f64>, target: Option<Target>) -> Row {
        Row {
            part: "train",
            metric: "m".into(),
            unit: "chars/s",
            charrnn,
            reference,
            target,
            charrnn_rss_mib: Some(100.0),
            reference_rss_mib: Some(600.0),
            note: String::new(),
        }
    }

    #[test]
    fn verdicts_follow_the_ratio_and_the_target_direction() {
        let check = |ours: Option<f64>, theirs: Option<f64>, t: Option<Target>, want: Verdict| {
            let r = row(ours, theirs, t);
            assert_eq!(r.verdict(), want, "{ours:?} / {theirs:?} against {t:?}");
        };
        let at_least = Some(Target::AtLeast(1.2));
        check(Some(1200.0), Some(1000.0), at_least, Verdict::Pass);
        check(Some(1199.0), Some(1000.0), at_least, Verdict::Miss);
        check(Some(5000.0), Some(1000.0), at_least, Verdict::Pass);
        let at_most = Some(Target::AtMost(0.1));
        check(Some(10.0), Some(100.0), at_most, Verdict::Pass);
        check(Some(10.5), Some(100.0), at_most, Verdict::Miss);
        // Not reached, or the reference did not measure: a target is missed.
        check(None, Some(100.0), at_most, Verdict::Miss);
        check(Some(1.0), None, at_least, Verdict::Miss);
        check(Some(1.0), Some(0.0), at_least, Verdict::Miss);
        check(Some(1.0), Some(2.0), None, Verdict::NoTarget);
        check(None, None, None, Verdict::NoTarget);
    }

    #[test]
    fn ratios() {
        assert_eq!(row(Some(3.0), Some(2.0), None).ratio(), Some(1.5));
        assert_eq!(row(None, Some(2.0), None).ratio(), None);
        assert_eq!(row(Some(3.0), Some(0.0), None).ratio(), None);
        assert_eq!(row(Some(f64::INFINITY), Some(2.0), None).ratio(), None);
    }

    #[test]
    fn targets_by_device() {
        let check = |goal: Goal, cuda: bool, want: Option<Target>| {
            assert_eq!(target(goal, cuda), want, "{goal:?} cuda={cuda}");
        };
        check(Goal::Train { batch: 8 }, false, Some(Target::AtLeast(1.2)));
        check(
            Goal::Train { batch: 256 },
            false,
            Some(Target::AtLeast(1.0)),
        );
        check(Goal::Train { batch: 8 }, true, Some(Target::AtLeast(1.5)));
        check(Goal::Train { batch: 256 }, true, Some(Target::AtLeast(1.0)));
        check(Goal::TimeToBpc, false, Some(Target::AtMost(0.1)));
        check(Goal::TimeToBpc, true, Some(Target::AtMost(0.1)));
        check(Goal::GenBatched, false, Some(Target::AtLeast(1.0)));
        check(Goal::GenBatched, true, Some(Target::AtLeast(2.0)));
        check(Goal::GenNotebook, false, Some(Target::AtLeast(100.0)));
        check(Goal::Latency, false, None);
        check(Goal::Latency, true, None);
    }

    fn machine() -> Machine {
        Machine {
            cpu: "Intel(R) Xeon(R) Processor".into(),
            cores: 2,
            device: "cpu".into(),
            gpu: None,
            threads: 2,
            date: "2025-01-02T03:04:05Z".into(),
            load_at_start: Some(0.5),
            load_at_end: Some(1.25),
            python_torch: Some("2.11.0+cu130".into()),
        }
    }

    fn made_up_table() -> Table {
        Table {
            machine: machine(),
            rows: vec![
                Row {
                    metric: "training, seed | b8".into(),
                    target: target(Goal::Train { batch: 8 }, false),
                    ..row(Some(1_500.0), Some(1_000.0), None)
                },
                Row {
                    metric: "training, b256".into(),
                    target: target(Goal::Train { batch: 256 }, false),
                    ..row(Some(9_000.0), Some(10_000.0), None)
                },
                Row {
                    part: "ttb",
                    metric: "time to bpc".into(),
                    unit: "s",
                    target: target(Goal::TimeToBpc, false),
                    note: "charrnn: not reached".into(),
                    ..row(None, Some(240.0), None)
                },
                Row {
                    part: "gen",
                    metric: "latency".into(),
                    unit: "ms/char",
                    ..row(Some(0.25), Some(0.5), None)
                },
            ],
            notes: vec!["a note".into()],
            raw: json!({"train/seed-b8": {"charrnn": {"steps": 3}}}),
        }
    }

    #[test]
    fn markdown_shows_figures_ratios_targets_and_verdicts() {
        let md = markdown(&made_up_table());
        let lines: Vec<&str> = md.lines().collect();
        assert!(
            lines.contains(&"- CPU: Intel(R) Xeon(R) Processor (2 cores)"),
            "{md}"
        );
        assert!(lines.contains(&"- date: 2025-01-02T03:04:05Z"), "{md}");
        assert!(lines.contains(&"- threads (both sides): 2"), "{md}");
        assert!(lines.contains(&"- reference: PyTorch 2.11.0+cu130"), "{md}");
        assert!(
            lines.contains(&"- load average (1 min) at start / end: 0.500 / 1.25"),
            "{md}"
        );
        let rows: Vec<&&str> = lines.iter().filter(|l| l.starts_with("| ")).collect();
        // Header + 4 rows (the separator starts with "|-").
        assert_eq!(rows.len(), 5, "{md}");
        assert_eq!(
            *rows[1],
            "| training, seed \\| b8 | chars/s | 1,500 | 1,000 | 1.50× | ≥ 1.2× | pass \
             | 100 / 600 |  |"
        );
        assert_eq!(
            *rows[2],
            "| training, b256 | chars/s | 9,000 | 10,000 | 0.90× | ≥ 1× | miss | 100 / 600 |  |"
        );
        assert_eq!(
            *rows[3],
            "| time to bpc | s | – | 240 | – | ≤ 0.1× | miss | 100 / 600 | charrnn: not reached |"
        );
        assert_eq!(
            *rows[4],
            "| latency | ms/char | 0.250 | 0.500 | 0.50× | – | – | 100 / 600 |  |"
        );
        assert!(md.ends_with("Notes:\n\n- a note\n"), "{md}");
    }

    #[test]
    fn json_keeps_figures_verdicts_machine_and_raw_outputs() {
        let v = to_json(&made_up_table());
        assert_eq!(v["machine"]["cpu"], "Intel(R) Xeon(R) Processor");
        assert_eq!(v["machine"]["cores"], 2);
        assert_eq!(v["machine"]["device"], "cpu");
        assert_eq!(v["machine"]["threads"], 2);
        assert_eq!(v["machine"]["date"], "2025-01-02T03:04:05Z");
        assert_eq!(v["machine"]["load_at_end"], 1.25);
        let rows = v["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0]["ratio"], 1.5);
        assert_eq!(rows[0]["target"], json!({"at_least": 1.2}));
        assert_eq!(rows[0]["met"], true);
        assert_eq!(rows[1]["met"], false);
        assert_eq!(rows[2]["charrnn"], Value::Null);
        assert_eq!(rows[2]["ratio"], Value::Null);
        assert_eq!(rows[2]["target"], json!({"at_most": 0.1}));
        assert_eq!(rows[2]["met"], false);
        assert_eq!(rows[3]["met"], Value::Null);
        assert_eq!(rows[3]["target"], Value::Null);
        assert_eq!(rows[0]["reference_peak_rss_mib"], 600.0);
        assert_eq!(v["raw"]["train/seed-b8"]["charrnn"]["steps"], 3);
        assert_eq!(v["notes"], json!(["a note"]));
    }

    #[test]
    fn the_table_is_written_as_markdown_and_json() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nested").join("bench");
        let table = made_up_table();
        let (md, js) = write_table(&table, &out).unwrap();
        assert_eq!(fs::read_to_string(&md).unwrap(), markdown(&table));
        let back: Value = serde_json::from_str(&fs::read_to_string(&js).unwrap()).unwrap();
        assert_eq!(back, to_json(&table));
        // Only the two files: no temporary file is left behind.
        let mut names: Vec<String> = fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["bench.json", "bench.md"]);
        // A second write replaces both.
        let mut other = table.clone();
        other.rows.truncate(1);
        write_table(&other, &out).unwrap();
        let back: Value = serde_json::from_str(&fs::read_to_string(&js).unwrap()).unwrap();
        assert_eq!(back["rows"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn numbers_are_printed_with_about_four_digits() {
        let check = |x: f64, want: &str| assert_eq!(fmt_num(x), want, "{x}");
        check(123_456.7, "123,457");
        check(1_000.0, "1,000");
        check(999.6, "1000");
        check(123.4, "123");
        check(12.34, "12.3");
        check(1.234, "1.23");
        check(0.1234, "0.123");
        check(-4_321.0, "-4,321");
        assert_eq!(fmt_ratio(Some(250.0)), "250×");
        assert_eq!(fmt_ratio(Some(1.234)), "1.23×");
        assert_eq!(fmt_ratio(Some(0.05)), "0.050×");
        assert_eq!(fmt_ratio(None), "–");
    }
}
