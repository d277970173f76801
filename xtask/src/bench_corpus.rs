//! `cargo xtask bench --corpus`: training on a generated plain-text corpus of each size (10 MB
//! and 1 GB by default) through the token store. For each size it reports the encode
//! throughput, the time to the first optimizer step with a cold store (built) and with a warm
//! one (reused), peak memory (the process's own VmHWM, and anonymous memory, `RssAnon`, sampled
//! from `/proc/<pid>/status`: the store's file-backed pages belong to the page cache) and
//! training steps per second. It drives the `charrnn` binary as a subprocess and links no
//! workspace crate.

use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};

/// The corpus benchmark's flags (part of `cargo xtask bench`).
#[derive(Args, Debug)]
pub(crate) struct CorpusArgs {
    /// Run the corpus benchmark (generated plain text, token store, memory) instead.
    #[arg(long)]
    pub(crate) corpus: bool,
    /// Corpus sizes in MB (1 MB = 10^6 bytes).
    #[arg(long, value_name = "MB[,MB]", value_delimiter = ',', default_values_t = [10u64, 1000])]
    pub(crate) corpus_mb: Vec<u64>,
    /// Optimizer steps of each training run.
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) corpus_steps: u64,
}

/// What one size measured.
struct Row {
    mb: u64,
    cold: Value,
    warm: Value,
    cold_anon_mib: f64,
    warm_anon_mib: f64,
}

/// Runs the corpus benchmark with `bin`, writing `corpus.md` and `corpus.json` into `out`.
pub(crate) fn run(
    args: &CorpusArgs,
    bin: &Path,
    out: &Path,
    threads: u32,
    seed: u64,
) -> Result<()> {
    let dir = out.join("corpus");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut rows = Vec::new();
    for &mb in &args.corpus_mb {
        if mb == 0 {
            bail!("--corpus-mb: sizes must be at least 1");
        }
        let text = dir.join(format!("corpus-{mb}MB.txt"));
        generate(&text, mb * 1_000_000, seed)?;
        let store = dir.join(format!("store-{mb}MB"));
        let _ = fs::remove_dir_all(&store);
        let train = |name: &str| -> Result<(Value, f64)> {
            let run = dir.join(format!("run-{mb}MB-{name}"));
            // A run directory of an earlier benchmark holds a model, which train refuses.
            let _ = fs::remove_dir_all(&run);
            let args = train_args(&text, &run, &store, args.corpus_steps, threads, seed);
            eprintln!("$ charrnn {}", args.join(" "));
            measure(bin, &args)
        };
        let (cold, cold_anon_mib) = train("cold")?;
        let (warm, warm_anon_mib) = train("warm")?;
        if warm["train_data"]["reused"] != true {
            bail!("the second run at {mb} MB did not reuse the store");
        }
        rows.push(Row {
            mb,
            cold,
            warm,
            cold_anon_mib,
            warm_anon_mib,
        });
    }
    let (md, js) = report(&rows);
    fs::write(out.join("corpus.md"), &md)?;
    fs::write(
        out.join("corpus.json"),
        serde_json::to_string_pretty(&js)? + "\n",
    )?;
    println!("{md}");
    eprintln!("wrote {}", out.join("corpus.md").display());
    Ok(())
}

/// The configuration: 2×LSTM-256 (the default preset), windows of 256, batch 64.
fn train_args(
    text: &Path,
    run: &Path,
    store: &Path,
    steps: u64,
    threads: u32,
    seed: u64,
) -> Vec<String> {
    let s = |p: &Path| p.to_string_lossy().into_owned();
    [
        "train",
        "--train",
        &s(text),
        "--text-unit",
        "paragraph",
        "--out",
        &s(run),
        "--store-dir",
        &s(store),
        "--window",
        "256",
        "--batch-size",
        "64",
        "--max-steps",
        &steps.to_string(),
        "--eval-every",
        "1000000000",
        "--valid-fraction",
        "0.0005",
        "--device",
        "cpu",
        "--threads",
        &threads.to_string(),
        "--seed",
        &seed.to_string(),
        "--json",
        "--quiet",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect()
}

/// Runs `charrnn ARGS`, sampling its `RssAnon` every 20 ms; returns its `done` line and the
/// largest anonymous memory seen, in MiB.
fn measure(bin: &Path, args: &[String]) -> Result<(Value, f64)> {
    let mut child = Command::new(bin)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    let status_path = PathBuf::from(format!("/proc/{}/status", child.id()));
    let stdout = child.stdout.take().context("no stdout")?;
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    let mut anon_kib = 0u64;
    let status = loop {
        if let Ok(text) = fs::read_to_string(&status_path) {
            anon_kib = anon_kib.max(status_field(&text, "RssAnon:").unwrap_or(0));
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let lines = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reading charrnn's output failed"))?;
    if !status.success() {
        bail!("charrnn {} failed ({status})", args.join(" "));
    }
    let done = lines
        .iter()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l)
                .ok()
                .filter(|v| v["event"] == "done")
        })
        .context("charrnn printed no done line")?;
    Ok((done, anon_kib as f64 / 1024.0))
}

/// A `Name:   123 kB` field of `/proc/<pid>/status`, in kB.
pub(crate) fn status_field(status: &str, name: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        l.strip_prefix(name)?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    })
}

/// Writes `bytes` of generated English-like prose (paragraphs separated by blank lines, a
/// fixed seed) to `path`, unless a file of that size is there already. Written to a temporary
/// name and renamed.
pub(crate) fn generate(path: &Path, bytes: u64, seed: u64) -> Result<()> {
    if fs::metadata(path).is_ok_and(|m| m.len() == bytes) {
        return Ok(());
    }
    let tmp = path.with_extension("txt.tmp");
    let file =
        fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let mut written = 0u64;
    let mut chunk = String::with_capacity(1 << 16);
    while written < bytes {
        chunk.clear();
        // A paragraph of 2 to 7 sentences of 4 to 18 words.
        for s in 0..2 + next(6) {
            if s > 0 {
                chunk.push(' ');
            }
            let words = 4 + next(15);
            for i in 0..words {
                let word = WORDS[next(WORDS.len())];
                if i == 0 {
                    let mut c = word.chars();
                    if let Some(first) = c.next() {
                        chunk.extend(first.to_uppercase());
                        chunk.push_str(c.as_str());
                    }
                } else {
                    chunk.push(' ');
                    chunk.push_str(word);
                }
                if i + 1 < words && next(9) == 0 {
                    chunk.push(',');
                }
            }
            chunk.push(['.', '.', '.', '?', '!'][next(5)]);
        }
        chunk.push_str("\n\n");
        let take = (bytes - written).min(chunk.len() as u64) as usize;
        // The last chunk is cut on a character boundary and padded with spaces.
        let mut cut = take;
        while !chunk.is_char_boundary(cut) {
            cut -= 1;
        }
        w.write_all(&chunk.as_bytes()[..cut])?;
        w.write_all(&b"   "[..take - cut])?;
        written += take as u64;
    }
    w.flush()?;
    drop(w);
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "that",
    "it",
    "was",
    "he",
    "for",
    "on",
    "are",
    "as",
    "with",
    "his",
    "they",
    "at",
    "be",
    "this",
    "from",
    "have",
    "or",
    "by",
    "one",
    "had",
    "not",
    "but",
    "what",
    "all",
    "were",
    "when",
    "we",
    "there",
    "can",
    "an",
    "your",
    "which",
    "their",
    "said",
    "if",
    "do",
    "will",
    "each",
    "about",
    "how",
    "up",
    "out",
    "them",
    "then",
    "she",
    "many",
    "some",
    "so",
    "these",
    "would",
    "other",
    "into",
    "has",
    "more",
    "her",
    "two",
    "like",
    "him",
    "see",
    "time",
    "could",
    "no",
    "make",
    "than",
    "first",
    "been",
    "its",
    "who",
    "now",
    "people",
    "my",
    "made",
    "over",
    "did",
    "down",
    "only",
    "way",
    "find",
    "use",
    "may",
    "water",
    "long",
    "little",
    "very",
    "after",
    "words",
    "called",
    "just",
    "where",
    "most",
    "know",
    "river",
    "market",
    "ship",
    "harbour",
    "winter",
    "letter",
    "morning",
    "garden",
    "captain",
    "mother",
    "village",
    "mountain",
    "station",
    "evening",
    "question",
    "answer",
    "government",
    "company",
    "children",
    "wonderful",
    "quietly",
    "suddenly",
    "never",
    "always",
    "whale",
    "lighthouse",
    "Thursday",
    "London",
    "café",
    "naïve",
];

fn report(rows: &[Row]) -> (String, Value) {
    let mut md = String::from(
        "| corpus | encode MB/s | first step, cold store (s) | first step, warm store (s) | peak RSS (MiB) | peak RssAnon (MiB) | steps/s | vocabulary |\n|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    let mut js = Vec::new();
    for r in rows {
        let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
        let bytes = f(&r.cold["train_data"]["bytes"]);
        let encode_secs = f(&r.cold["train_data"]["encode_secs"]);
        let encode = bytes / 1e6 / encode_secs.max(1e-9);
        let steps_per_sec = |d: &Value| f(&d["steps"]) / f(&d["elapsed_secs"]).max(1e-9);
        let rss = f(&r.cold["peak_rss_mib"]).max(f(&r.warm["peak_rss_mib"]));
        let anon = r.cold_anon_mib.max(r.warm_anon_mib);
        let _ = writeln!(
            md,
            "| {} MB | {encode:.0} | {:.2} | {:.2} | {rss:.0} | {anon:.0} | {:.2} | {} |",
            r.mb,
            f(&r.cold["setup_secs"]),
            f(&r.warm["setup_secs"]),
            steps_per_sec(&r.warm),
            r.cold["vocab_size"],
        );
        js.push(json!({
            "mb": r.mb, "encode_mb_per_sec": encode, "encode_secs": encode_secs,
            "first_step_cold_secs": r.cold["setup_secs"], "first_step_warm_secs": r.warm["setup_secs"],
            "peak_rss_mib": rss, "peak_rss_anon_mib": anon,
            "cold_rss_anon_mib": r.cold_anon_mib, "warm_rss_anon_mib": r.warm_anon_mib,
            "steps_per_sec": steps_per_sec(&r.warm), "vocab_size": r.cold["vocab_size"],
            "cold": r.cold, "warm": r.warm,
        }));
    }
    (md, Value::Array(js))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_corpus_has_the_size_asked_and_paragraphs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.txt");
        generate(&path, 100_000, 1).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.len(), 100_000);
        assert!(text.matches("\n\n").count() > 50);
        let again = dir.path().join("d.txt");
        generate(&again, 100_000, 1).unwrap();
        assert_eq!(fs::read(&again).unwrap(), text.as_bytes(), "seeded");
        generate(&again, 100_000, 2).unwrap();
        assert_eq!(
            fs::read(&again).unwrap(),
            text.as_bytes(),
            "an existing file is kept"
        );
        assert!(
            fs::read_dir(dir.path()).unwrap().count() == 2,
            "no temporary file left"
        );
    }

    #[test]
    fn status_fields_parse() {
        let status = "Name:\tcharrnn\nVmHWM:\t  204800 kB\nRssAnon:\t   51200 kB\n";
        assert_eq!(status_field(status, "RssAnon:"), Some(51200));
        assert_eq!(status_field(status, "VmHWM:"), Some(204_800));
        assert_eq!(status_field(status, "VmRSS:"), None);
    }
}
