//! `cargo xtask bench --serve`: `charrnn serve` under load from a Rust load generator on the
//! loopback address, against offline batched generation (`charrnn generate -n N`) measured in
//! the same run.
//!
//! For each count N of concurrent streaming clients (1, 16 and 64 by default), every client
//! sends the same number of requests one after another (`--serve-requests` each, so the
//! request count is bounded), each for `--serve-length` characters with `ignore_eos`. It
//! reports the aggregate characters per second and its ratio to the steady rate of `charrnn
//! generate -n N --ignore-eos` (runs of the length and of four times it, differenced, the
//! median of three), the time to the first character (p50, p99), the
//! per-character latency of one client against one offline sample, and errors. Then a soak of
//! `--soak-secs` seconds with 16 clients compares the server's RSS after warm-up with its RSS
//! at the end, and checks that every request got exactly one complete answer of its own.
//! The table goes to `serve.md` and `serve.json` in the bench directory, and to stdout.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};

use crate::bench_corpus::status_field;

/// The serving benchmark's flags (part of `cargo xtask bench`).
#[derive(Args, Debug)]
pub(crate) struct ServeBenchArgs {
    /// Run the serving benchmark (load generator against `charrnn serve`) instead.
    #[arg(long)]
    pub(crate) serve: bool,
    /// Numbers of concurrent streaming clients, each at least 1.
    #[arg(long, value_name = "N[,N..]", value_delimiter = ',', default_values_t = [1u64, 16, 64])]
    pub(crate) serve_clients: Vec<u64>,
    /// Requests each client sends, one after another, at least 1 (fewer make the phase's
    /// ramp-up and tail, when not every client has a request running, weigh more).
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub(crate) serve_requests: u64,
    /// Characters each request asks for (max_tokens, with ignore_eos), at least 1.
    #[arg(long, value_name = "CHARS", default_value_t = 300)]
    pub(crate) serve_length: u64,
    /// Seconds of the soak with 16 clients (0: no soak).
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub(crate) soak_secs: u64,
    /// The run or checkpoint to serve [default: a 2×LSTM-256 trained here for 5 steps on
    /// generated text; the weights do not change the speed].
    #[arg(long, value_name = "RUN")]
    pub(crate) serve_model: Option<PathBuf>,
}

const PROMPT: &str = "Today ";

/// One request's outcome, as a client saw it.
#[derive(Clone, Debug, Default)]
struct Outcome {
    /// Characters streamed.
    chars: u64,
    /// Seconds from sending to the first character.
    ttfc: Option<f64>,
    /// Seconds from sending to `[DONE]`.
    total: f64,
    /// The completion's id.
    id: String,
    /// What went wrong, if anything.
    error: Option<String>,
}

/// Runs the serving benchmark with `bin`, writing `serve.md` and `serve.json` into `out`.
pub(crate) fn run(args: &ServeBenchArgs, bin: &Path, out: &Path, threads: u32) -> Result<()> {
    if args.serve_clients.contains(&0) || args.serve_requests == 0 || args.serve_length == 0 {
        bail!("--serve-clients, --serve-requests and --serve-length must be at least 1");
    }
    let dir = out.join("serve");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let model = match &args.serve_model {
        Some(m) => m.clone(),
        None => train_model(bin, &dir, threads)?,
    };
    let max_clients = args.serve_clients.iter().copied().max().unwrap_or(1);
    let threads_s = threads.to_string();
    let max_batch = max_clients.max(16).to_string();
    let mut server = Server::start(
        bin,
        &[
            "serve",
            &model.to_string_lossy(),
            "--addr",
            "127.0.0.1:0",
            "--threads",
            &threads_s,
            "--max-batch",
            &max_batch,
        ],
    )?;
    eprintln!("bench serve: charrnn serve on {}", server.addr);
    // Warm-up: one short request, so that the first phase does not pay for first touches.
    let warm = request(&server.addr, 20, 0);
    if let Some(e) = warm.error {
        bail!("the warm-up request failed: {e}");
    }

    let mut rows = Vec::new();
    for &n in &args.serve_clients {
        let (outcomes, wall) = phase(&server.addr, n, args.serve_requests, args.serve_length);
        let offline = offline_rate(bin, &model, n, args.serve_length, &threads_s)?;
        let row = Row::new(n, &outcomes, wall, offline);
        eprintln!("bench serve: {}", row.summary());
        rows.push(row);
    }

    let soak = if args.soak_secs > 0 {
        Some(soak(&mut server, args.soak_secs, args.serve_length)?)
    } else {
        None
    };
    server.stop();

    let md = markdown(&rows, soak.as_ref(), args, threads);
    print!("{md}");
    fs::write(dir.join("serve.md"), &md).context("cannot write serve.md")?;
    let json = json!({
        "rows": rows.iter().map(Row::json).collect::<Vec<_>>(),
        "soak": soak.as_ref().map(Soak::json),
        "length": args.serve_length,
        "requests_per_client": args.serve_requests,
        "threads": threads,
    });
    fs::write(dir.join("serve.json"), serde_json::to_string_pretty(&json)?)
        .context("cannot write serve.json")?;
    eprintln!("bench serve: wrote {}", dir.join("serve.md").display());
    Ok(())
}

/// A 2×LSTM-256 trained for a few steps on generated text.
fn train_model(bin: &Path, dir: &Path, threads: u32) -> Result<PathBuf> {
    let text = dir.join("text.txt");
    let mut s = String::new();
    for i in 0..2000u64 {
        let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
        let _ = writeln!(
            s,
            "Today {} markets {} after talks in {}",
            x % 97,
            x % 13,
            x % 7
        );
    }
    fs::write(&text, s).with_context(|| format!("cannot write {}", text.display()))?;
    let run = dir.join("run");
    let _ = fs::remove_dir_all(&run);
    let status = Command::new(bin)
        .args(["train", "--train", &text.to_string_lossy(), "--out"])
        .arg(&run)
        .args([
            "--text-unit",
            "line",
            "--preset",
            "default",
            "--max-steps",
            "5",
        ])
        .args(["--threads", &threads.to_string(), "--quiet"])
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !status.success() {
        bail!("training the benchmark's model failed ({status})");
    }
    Ok(run)
}

/// Offline batched generation's steady rate at batch `n`, in characters per second: the
/// extra characters of a run of `4 × length` over one of `length`, divided by its extra
/// seconds, so that the first steps' one-time costs (the server had its warm-up) cancel out;
/// the median of three such pairs.
fn offline_rate(bin: &Path, model: &Path, n: u64, length: u64, threads: &str) -> Result<f64> {
    let secs = |v: &Value| v["elapsed_secs"].as_f64().unwrap_or(f64::NAN);
    let chars = |v: &Value| v["chars"].as_f64().unwrap_or(f64::NAN);
    let mut rates = Vec::new();
    for _ in 0..3 {
        let short = offline(bin, model, n, length, threads)?;
        let long = offline(bin, model, n, 4 * length, threads)?;
        let extra = secs(&long) - secs(&short);
        rates.push(if extra > 0.0 {
            (chars(&long) - chars(&short)) / extra
        } else {
            chars(&long) / secs(&long)
        });
    }
    rates.sort_by(f64::total_cmp);
    Ok(rates[1])
}

/// `charrnn generate -n N` of `length` characters: its stats line.
fn offline(bin: &Path, model: &Path, n: u64, length: u64, threads: &str) -> Result<Value> {
    let o = Command::new(bin)
        .args(["generate", &model.to_string_lossy(), "--prompt", PROMPT])
        .args(["-n", &n.to_string(), "--max-len", &length.to_string()])
        .args([
            "--ignore-eos",
            "--stats",
            "--seed",
            "1",
            "--threads",
            threads,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !o.status.success() {
        bail!(
            "charrnn generate failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    super::sides::stats_event(&String::from_utf8_lossy(&o.stderr))
}

/// `charrnn serve` as a child process, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(bin: &Path, args: &[&str]) -> Result<Self> {
        let mut child = Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        let addr = crate::serve_child::listening_addr(&mut child, false)?;
        Ok(Self { child, addr })
    }

    /// The server's resident memory now, in MiB.
    fn rss_mib(&self) -> Option<f64> {
        let status = fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status_field(&status, "VmRSS:").map(|kb| kb as f64 / 1024.0)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One streaming request of `length` characters, seeded with `seed`.
fn request(addr: &str, length: u64, seed: u64) -> Outcome {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(600)))
        .build()
        .into();
    let body = json!({"prompt": PROMPT, "max_tokens": length, "stream": true,
        "temperature": 1.0, "seed": seed, "ignore_eos": true});
    let start = Instant::now();
    let mut out = Outcome::default();
    let response = agent
        .post(format!("http://{addr}/v1/completions"))
        .header("content-type", "application/json")
        .send(body.to_string());
    let mut response = match response {
        Ok(r) => r,
        Err(e) => {
            out.error = Some(e.to_string());
            return out;
        }
    };
    if !response.status().is_success() {
        out.error = Some(format!("HTTP {}", response.status()));
        return out;
    }
    let reader = BufReader::new(response.body_mut().as_reader());
    let mut done = false;
    for line in reader.lines() {
        let Ok(line) = line else {
            out.error = Some("the stream broke".into());
            return out;
        };
        let Some(data) = line.strip_prefix("data: ") else {
            continue;
        };
        if data == "[DONE]" {
            done = true;
            break;
        }
        let Ok(v) = serde_json::from_str::<Value>(data) else {
            out.error = Some(format!("not JSON: {data}"));
            return out;
        };
        if out.id.is_empty() {
            out.id = v["id"].as_str().unwrap_or_default().to_owned();
        }
        let text = v["choices"][0]["text"].as_str().unwrap_or_default();
        let n = text.chars().count() as u64;
        if n > 0 && out.ttfc.is_none() {
            out.ttfc = Some(start.elapsed().as_secs_f64());
        }
        out.chars += n;
    }
    out.total = start.elapsed().as_secs_f64();
    if !done {
        out.error = Some("the stream ended without [DONE]".into());
    } else if out.chars != length {
        out.error = Some(format!("{} characters, not {length}", out.chars));
    }
    out
}

/// `clients` clients sending `requests` requests each: every outcome and the wall time.
fn phase(addr: &str, clients: u64, requests: u64, length: u64) -> (Vec<Outcome>, f64) {
    let start = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let addr = addr.to_owned();
            thread::spawn(move || {
                (0..requests)
                    .map(|r| request(&addr, length, 1 + c * requests + r))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let outcomes = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap_or_default())
        .collect();
    (outcomes, start.elapsed().as_secs_f64())
}

/// What one client count measured.
struct Row {
    clients: u64,
    requests: usize,
    errors: usize,
    chars_per_sec: f64,
    offline_chars_per_sec: f64,
    ttfc_p50_ms: f64,
    ttfc_p99_ms: f64,
    /// Seconds per character of one stream, after its first character.
    per_char_ms: f64,
    offline_per_char_ms: f64,
    first_error: Option<String>,
}

impl Row {
    fn new(clients: u64, outcomes: &[Outcome], wall: f64, offline_cps: f64) -> Self {
        let ok: Vec<&Outcome> = outcomes.iter().filter(|o| o.error.is_none()).collect();
        let chars: u64 = ok.iter().map(|o| o.chars).sum();
        let mut ttfc: Vec<f64> = ok.iter().filter_map(|o| o.ttfc).collect();
        ttfc.sort_by(f64::total_cmp);
        let per_char: Vec<f64> = ok
            .iter()
            .filter_map(|o| {
                let first = o.ttfc?;
                (o.chars > 1).then(|| (o.total - first) / (o.chars - 1) as f64)
            })
            .collect();
        Self {
            clients,
            requests: outcomes.len(),
            errors: outcomes.len() - ok.len(),
            chars_per_sec: chars as f64 / wall,
            offline_chars_per_sec: offline_cps,
            ttfc_p50_ms: 1e3 * quantile(&ttfc, 0.50),
            ttfc_p99_ms: 1e3 * quantile(&ttfc, 0.99),
            per_char_ms: 1e3 * per_char.iter().sum::<f64>() / per_char.len().max(1) as f64,
            // One sample's characters come one per step of the batch.
            offline_per_char_ms: 1e3 * clients as f64 / offline_cps,
            first_error: outcomes.iter().find_map(|o| o.error.clone()),
        }
    }

    fn summary(&self) -> String {
        format!(
            "{} client(s): {:.0} chars/s ({:.2}× offline {:.0}), TTFC p50 {:.1} ms p99 {:.1} ms, \
             {:.2} ms/char (offline {:.2}), {} error(s) of {}",
            self.clients,
            self.chars_per_sec,
            self.chars_per_sec / self.offline_chars_per_sec,
            self.offline_chars_per_sec,
            self.ttfc_p50_ms,
            self.ttfc_p99_ms,
            self.per_char_ms,
            self.offline_per_char_ms,
            self.errors,
            self.requests
        )
    }

    fn json(&self) -> Value {
        json!({"clients": self.clients, "requests": self.requests, "errors": self.errors,
            "chars_per_sec": self.chars_per_sec,
            "offline_chars_per_sec": self.offline_chars_per_sec,
            "ratio": self.chars_per_sec / self.offline_chars_per_sec,
            "ttfc_p50_ms": self.ttfc_p50_ms, "ttfc_p99_ms": self.ttfc_p99_ms,
            "per_char_ms": self.per_char_ms, "offline_per_char_ms": self.offline_per_char_ms,
            "first_error": self.first_error})
    }
}

/// The `q` quantile of sorted values (nearest rank); NaN when there are none.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// What the soak measured.
struct Soak {
    secs: u64,
    requests: usize,
    errors: usize,
    duplicate_ids: usize,
    rss_start_mib: f64,
    rss_end_mib: f64,
    first_error: Option<String>,
}

impl Soak {
    fn json(&self) -> Value {
        json!({"secs": self.secs, "requests": self.requests, "errors": self.errors,
            "duplicate_ids": self.duplicate_ids, "rss_start_mib": self.rss_start_mib,
            "rss_end_mib": self.rss_end_mib, "first_error": self.first_error})
    }
}

/// 16 clients sending requests until `secs` have passed; the server's RSS after the first
/// round of requests (warm) and at the end.
fn soak(server: &mut Server, secs: u64, length: u64) -> Result<Soak> {
    const CLIENTS: u64 = 16;
    eprintln!("bench serve: soak of {secs} s with {CLIENTS} clients");
    let (warm, _) = phase(&server.addr, CLIENTS, 1, length);
    let rss_start = server.rss_mib().context("cannot read the server's RSS")?;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let handles: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let addr = server.addr.clone();
            thread::spawn(move || {
                let mut outcomes = Vec::new();
                let mut r = 0;
                while Instant::now() < deadline {
                    outcomes.push(request(&addr, length, 1_000_000 + c * 1_000_000 + r));
                    r += 1;
                }
                outcomes
            })
        })
        .collect();
    let mut outcomes = warm;
    for h in handles {
        outcomes.extend(h.join().unwrap_or_default());
    }
    let rss_end = server.rss_mib().context("cannot read the server's RSS")?;
    let mut ids = HashSet::new();
    let duplicate_ids = outcomes
        .iter()
        .filter(|o| o.error.is_none() && !ids.insert(o.id.clone()))
        .count();
    Ok(Soak {
        secs,
        requests: outcomes.len(),
        errors: outcomes.iter().filter(|o| o.error.is_some()).count(),
        duplicate_ids,
        rss_start_mib: rss_start,
        rss_end_mib: rss_end,
        first_error: outcomes.iter().find_map(|o| o.error.clone()),
    })
}

fn markdown(rows: &[Row], soak: Option<&Soak>, args: &ServeBenchArgs, threads: u32) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# charrnn serve under load\n\n{} clients' requests of {} characters each ({} per \
         client, streamed, ignore_eos), {threads} thread(s), on the loopback address; the load \
         generator runs on the same machine. Offline: `charrnn generate -n N --ignore-eos`, in \
         the same run, its steady rate (runs of the length and four times it, differenced, so \
         the first steps' one-time costs cancel as the server's warm-up does; median of 3).\n",
        args.serve_clients
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join("/"),
        args.serve_length,
        args.serve_requests
    );
    md.push_str(
        "| clients | requests | errors | chars/s | offline chars/s (batch = clients) | ratio | \
         TTFC p50 ms | TTFC p99 ms | ms/char per stream | offline ms/char per sample |\n\
         |--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.0} | {:.0} | {:.2} | {:.1} | {:.1} | {:.2} | {:.2} |",
            r.clients,
            r.requests,
            r.errors,
            r.chars_per_sec,
            r.offline_chars_per_sec,
            r.chars_per_sec / r.offline_chars_per_sec,
            r.ttfc_p50_ms,
            r.ttfc_p99_ms,
            r.per_char_ms,
            r.offline_per_char_ms
        );
    }
    if let Some(e) = rows.iter().find_map(|r| r.first_error.as_ref()) {
        let _ = writeln!(md, "\nFirst error: {e}");
    }
    if let Some(s) = soak {
        let _ = writeln!(
            md,
            "\nSoak: {} s with 16 clients, {} requests, {} error(s), {} answered twice; RSS \
             {:.1} MiB after warm-up, {:.1} MiB at the end ({:+.1} %).",
            s.secs,
            s.requests,
            s.errors,
            s.duplicate_ids,
            s.rss_start_mib,
            s.rss_end_mib,
            100.0 * (s.rss_end_mib / s.rss_start_mib - 1.0)
        );
        if let Some(e) = &s.first_error {
            let _ = writeln!(md, "First soak error: {e}");
        }
    }
    md
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v[..1], 0.99), 1.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
