//! `cargo xtask e2e`: the playground of `charrnn serve` driven in a real headless Chromium.
//!
//! It installs Debian's `chromium` and `chromium-driver` when they are missing, serves a
//! model (`--model RUN`, or a tiny one it trains on a generated text), opens the playground
//! through ChromeDriver's WebDriver API, types a prompt, asks for three samples, waits until
//! each pane has streamed text and the request has ended, and saves a screenshot as
//! `target/e2e/playground.png`. It fails when a pane stays empty, the page shows an error, or
//! no step of the streaming was ever seen part-way. Not part of CI: it needs a browser.

use std::{
    env, fs,
    io::Read,
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::workspace;

/// `cargo xtask e2e` flags.
#[derive(clap::Args, Debug)]
pub(crate) struct E2eArgs {
    /// A run or checkpoint directory to serve (default: a tiny model trained here for 150
    /// steps on a generated text).
    #[arg(long, value_name = "RUN")]
    model: Option<PathBuf>,
    /// The prompt typed into the playground.
    #[arg(long, default_value = "Today ")]
    prompt: String,
    /// Seconds to wait for the samples to finish streaming, above 0.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
}

/// The W3C WebDriver key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Runs `cargo xtask e2e`.
pub(crate) fn run(root: &Path, args: &E2eArgs) -> Result<()> {
    let (chromium, driver) = browser()?;
    let bin = workspace::charrnn_bin(root, false)?;
    let dir = workspace::target_dir(root).join("e2e");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let model = match &args.model {
        Some(m) => m.clone(),
        None => tiny_model(&bin, &dir)?,
    };

    let mut server = Guard(
        Command::new(&bin)
            .args(["serve", &model.to_string_lossy(), "--addr", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run {}", bin.display()))?,
    );
    let addr = crate::serve_child::listening_addr(&mut server.0, true)?;
    eprintln!("e2e: charrnn serve listens on {addr}");

    let port = free_port()?;
    let _driver = Guard(
        Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot run {}", driver.display()))?,
    );
    let wd = WebDriver::new(port)?;
    let profile = dir.join("profile");
    let _ = fs::remove_dir_all(&profile);
    let session = wd.post(
        "/session",
        &json!({"capabilities": {"alwaysMatch": {"browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1100,480",
                format!("--user-data-dir={}", profile.display())]}}}}),
    )?;
    let sid = session["sessionId"]
        .as_str()
        .context("ChromeDriver gave no session id")?
        .to_owned();
    let s = |path: &str| format!("/session/{sid}{path}");
    let outcome = (|| -> Result<Vec<String>> {
        wd.post(&s("/url"), &json!({"url": format!("http://{addr}/")}))?;
        let prompt = wd.element(&sid, "#prompt")?;
        wd.post(&s(&format!("/element/{prompt}/clear")), &json!({}))?;
        wd.post(
            &s(&format!("/element/{prompt}/value")),
            &json!({"text": args.prompt}),
        )?;
        let n = wd.element(&sid, "#n")?;
        wd.post(&s(&format!("/element/{n}/clear")), &json!({}))?;
        wd.post(&s(&format!("/element/{n}/value")), &json!({"text": "3"}))?;
        let go = wd.element(&sid, "#go")?;
        wd.post(&s(&format!("/element/{go}/click")), &json!({}))?;

        let script = "const panes = [...document.querySelectorAll('#samples .pane')];\
            return {texts: panes.map(p => (p.querySelector('.text') || {}).textContent || ''),\
            done: panes.filter(p => p.querySelector('.meta')).length,\
            error: document.getElementById('error').textContent};";
        let deadline = Instant::now() + Duration::from_secs(args.timeout);
        let mut partial_seen = 0;
        loop {
            let v = wd.post(&s("/execute/sync"), &json!({"script": script, "args": []}))?;
            let texts: Vec<String> = v["texts"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let error = v["error"].as_str().unwrap_or_default();
            if !error.is_empty() {
                bail!("the playground shows an error: {error}");
            }
            let done = v["done"].as_u64().unwrap_or(0) as usize;
            if texts.len() == 3 && done == 3 {
                if texts.iter().any(String::is_empty) {
                    bail!("a sample ended empty: {texts:?}");
                }
                if partial_seen == 0 {
                    bail!("the samples appeared whole: no streaming was seen");
                }
                eprintln!("e2e: {partial_seen} polls saw the samples part-way");
                return Ok(texts);
            }
            if texts.iter().any(|t| !t.is_empty()) {
                partial_seen += 1;
            }
            if Instant::now() > deadline {
                bail!(
                    "the samples did not finish in {} s: {texts:?}",
                    args.timeout
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    })();
    let shot = wd.get(&s("/screenshot"));
    let _ = wd.delete(&format!("/session/{sid}"));
    let texts = outcome?;
    let png = base64_decode(shot?.as_str().context("the screenshot is not a string")?)?;
    let path = dir.join("playground.png");
    fs::write(&path, png).with_context(|| format!("cannot write {}", path.display()))?;
    for (i, t) in texts.iter().enumerate() {
        eprintln!(
            "e2e: sample {}: {:?}",
            i + 1,
            t.chars().take(80).collect::<String>()
        );
    }
    eprintln!("e2e: screenshot {}", path.display());
    Ok(())
}

/// A child process killed when dropped.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Chromium and ChromeDriver, installed with apt when missing.
fn browser() -> Result<(PathBuf, PathBuf)> {
    let find = |name: &str| -> Option<PathBuf> {
        env::var_os("PATH").and_then(|paths| {
            env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    };
    let found = || Some((find("chromium")?, find("chromedriver")?));
    if let Some(both) = found() {
        return Ok(both);
    }
    eprintln!("e2e: installing chromium and chromium-driver with apt-get");
    for args in [
        &["update", "-q"][..],
        &[
            "install",
            "-y",
            "-q",
            "--no-install-recommends",
            "chromium",
            "chromium-driver",
        ][..],
    ] {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("cannot run apt-get: install chromium and chromedriver by hand")?;
        if !status.success() {
            bail!("`apt-get {}` failed ({status})", args.join(" "));
        }
    }
    found().context("apt-get installed chromium but chromium or chromedriver is not on PATH")
}

/// Trains a tiny model on a generated text, for a playground with something to show.
fn tiny_model(bin: &Path, dir: &Path) -> Result<PathBuf> {
    let text = dir.join("tiny.txt");
    let mut lines = String::new();
    for i in 0..400 {
        let who = ["Stocks", "Markets", "Teams", "Leaders", "Scientists"][i % 5];
        let what = ["rise", "fall", "win", "meet", "find water"][(i / 5) % 5];
        let when = ["today", "on Sunday", "in Moscow", "after talks"][(i / 25) % 4];
        lines.push_str(&format!("Today {who} {what} {when}\n"));
    }
    fs::write(&text, lines).with_context(|| format!("cannot write {}", text.display()))?;
    let run = dir.join("tiny-run");
    let _ = fs::remove_dir_all(&run);
    let status = Command::new(bin)
        .args(["train", "--train", &text.to_string_lossy(), "--out"])
        .arg(&run)
        .args(["--text-unit", "line", "--max-steps", "150", "--quiet"])
        .stdout(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {}", bin.display()))?;
    if !status.success() {
        bail!("training the tiny model failed ({status})");
    }
    Ok(run)
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(l.local_addr()?.port())
}

/// A client of ChromeDriver's W3C WebDriver API on 127.0.0.1.
struct WebDriver {
    base: String,
    agent: ureq::Agent,
}

impl WebDriver {
    /// Connects, waiting up to 30 s for the driver to be ready.
    fn new(port: u16) -> Result<Self> {
        let wd = Self {
            base: format!("http://127.0.0.1:{port}"),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .into(),
        };
        let start = Instant::now();
        loop {
            if let Ok(v) = wd.get("/status")
                && v["ready"] == true
            {
                return Ok(wd);
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!("chromedriver did not become ready on port {port} within 30 s");
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn answer(
        what: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value> {
        let mut r = r.with_context(|| format!("WebDriver {what}"))?;
        let status = r.status();
        let mut body = String::new();
        r.body_mut()
            .as_reader()
            .read_to_string(&mut body)
            .with_context(|| format!("WebDriver {what}: reading the answer"))?;
        let v: Value = serde_json::from_str(&body)
            .with_context(|| format!("WebDriver {what}: not JSON: {body}"))?;
        if !status.is_success() {
            bail!("WebDriver {what}: {status}: {}", v["value"]["message"]);
        }
        Ok(v["value"].clone())
    }

    fn get(&self, path: &str) -> Result<Value> {
        Self::answer(path, self.agent.get(format!("{}{path}", self.base)).call())
    }

    fn delete(&self, path: &str) -> Result<Value> {
        Self::answer(
            path,
            self.agent.delete(format!("{}{path}", self.base)).call(),
        )
    }

    fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let r = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .send(body.to_string());
        Self::answer(path, r)
    }

    /// The reference of the element a CSS selector finds.
    fn element(&self, sid: &str, css: &str) -> Result<String> {
        let v = self.post(
            &format!("/session/{sid}/element"),
            &json!({"using": "css selector", "value": css}),
        )?;
        v[ELEMENT]
            .as_str()
            .map(String::from)
            .with_context(|| format!("no element {css} on the page"))
    }
}

/// Standard base64 (with padding), as WebDriver sends screenshots.
fn base64_decode(text: &str) -> Result<Vec<u8>> {
    let value = |c: u8| -> Result<u32> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => bail!("not base64: byte {c}"),
        }
        .into())
    };
    let bytes: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let data: Vec<u8> = chunk.iter().copied().take_while(|&b| b != b'=').collect();
        let mut acc = 0u32;
        for &b in &data {
            acc = (acc << 6) | value(b)?;
        }
        acc <<= 6 * (4 - data.len() as u32);
        let keep = data.len().saturating_sub(1);
        out.extend_from_slice(&acc.to_be_bytes()[1..1 + keep]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::base64_decode;

    #[test]
    fn base64_decodes_with_and_without_padding() {
        for (text, bytes) in [
            ("", &b""[..]),
            ("TQ==", b"M"),
            ("TWE=", b"Ma"),
            ("TWFu", b"Man"),
            ("iVBORw0KGgo=", b"\x89PNG\r\n\x1a\n"),
        ] {
            assert_eq!(base64_decode(text).unwrap(), bytes, "{text}");
        }
        assert!(base64_decode("T$==").is_err());
    }
}
