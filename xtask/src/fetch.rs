//! `cargo xtask fetch`: get AG News, verify it, and convert it to Parquet.
//!
//! What is fetched, from where, with which checksums and row counts, lives in the manifest
//! `data/ag_news.json`. Each CSV is either downloaded (to `NAME.partial`, checked against the
//! manifest's MD5, and only then renamed, so a final name never holds a partial or corrupt
//! file) or, with `--mirror DIR`, read from a local directory and checked against that
//! directory's `SHA256SUMS`. Each CSV then becomes `label,title,description` Parquet through
//! `charrnn-data`. `SOURCE.json` in the output directory records the checksums that produced
//! each Parquet file; a rerun that finds them up to date touches neither the network nor the
//! files.

use std::{
    collections::BTreeMap,
    env,
    fs::{self, File},
    io::{self, IsTerminal, Read, Write},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context, Result, bail};
use clap::Args;
use md5::{Digest, Md5};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::project_root;

/// Environment variable that replaces the manifest's URLs by `BASE/NAME` (like `--base-url`).
pub(crate) const BASE_URL_ENV: &str = "CHARRNN_AG_NEWS_BASE_URL";
/// What produced the Parquet files, kept next to them.
const SOURCE_FILE: &str = "SOURCE.json";
/// The checksum list a mirror directory must hold (`sha256sum` output).
const SUMS_FILE: &str = "SHA256SUMS";
/// What to do without network, said by every download failure.
const MIRROR_HINT: &str = "without network access, run `cargo xtask fetch --mirror DIR` \
                           with DIR holding the CSV files and their SHA256SUMS";

/// `cargo xtask fetch [--out DIR] [--mirror DIR] [--force]`
#[derive(Args, Debug)]
pub(crate) struct FetchArgs {
    /// Where the CSV and Parquet files go [default: data/ag_news in the workspace].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Read the CSV files from this local directory, checked against its SHA256SUMS,
    /// instead of downloading them.
    #[arg(long, value_name = "DIR")]
    mirror: Option<PathBuf>,
    /// Fetch and convert again even when the Parquet files are up to date.
    #[arg(long)]
    force: bool,
    /// Download BASE/NAME instead of each manifest URL (also CHARRNN_AG_NEWS_BASE_URL).
    #[arg(long, value_name = "BASE", hide = true, conflicts_with = "mirror")]
    base_url: Option<String>,
}

/// Runs `cargo xtask fetch` with the workspace's manifest.
pub(crate) fn run(args: FetchArgs) -> Result<()> {
    let root = project_root();
    let manifest = Manifest::load(&root.join("data").join("ag_news.json"))?;
    let out = args
        .out
        .unwrap_or_else(|| root.join("data").join(&manifest.name));
    let source = match args.mirror {
        Some(dir) => Source::Mirror(dir),
        None => Source::Network {
            base_url: args
                .base_url
                .or_else(|| env::var(BASE_URL_ENV).ok().filter(|b| !b.is_empty())),
        },
    };
    eprintln!("fetch: {}: {}", manifest.name, manifest.licence);
    let reports = fetch(&manifest, &out, &source, args.force)?;
    for report in &reports {
        let state = if report.up_to_date {
            "up to date"
        } else {
            "written"
        };
        eprintln!(
            "fetch: {} -> {} ({} rows): {state}",
            report.name,
            report.parquet.display(),
            report.rows
        );
    }
    Ok(())
}

/// A dataset's manifest: where each file comes from and what it must be.
#[derive(Debug, Clone)]
pub(crate) struct Manifest {
    /// The dataset's name, also the default output directory under `data/`.
    pub(crate) name: String,
    /// The terms of use, shown on every run.
    pub(crate) licence: String,
    /// The Parquet columns each CSV becomes.
    pub(crate) columns: Vec<String>,
    pub(crate) files: Vec<FileSpec>,
}

/// One file of a [`Manifest`].
#[derive(Debug, Clone)]
pub(crate) struct FileSpec {
    /// The CSV's file name (also its name in a mirror and under the output directory).
    pub(crate) name: String,
    pub(crate) url: String,
    /// Lowercase hex MD5 of the canonical file.
    pub(crate) md5: String,
    /// Data rows of the canonical file.
    pub(crate) rows: u64,
    /// The Parquet file name it becomes.
    pub(crate) parquet: String,
}

impl Manifest {
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let text = fs::read_to_string(path)
            .with_context(|| format!("cannot read the manifest {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("bad manifest {}", path.display()))
    }

    pub(crate) fn parse(text: &str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).context("not JSON")?;
        let text_of = |v: &Value, key: &str| -> Result<String> {
            v[key]
                .as_str()
                .map(str::to_owned)
                .with_context(|| format!("`{key}` is missing or not a string"))
        };
        let name = text_of(&value, "name")?;
        check_plain_name(&name)?;
        let licence = text_of(&value, "licence")?;
        let columns = value["columns"]
            .as_array()
            .and_then(|c| c.iter().map(|n| n.as_str().map(str::to_owned)).collect())
            .context("`columns` is missing or not a list of names")?;
        let mut files = Vec::new();
        for (i, file) in value["files"]
            .as_array()
            .context("`files` is missing or not a list")?
            .iter()
            .enumerate()
        {
            let spec = (|| -> Result<FileSpec> {
                let name = text_of(file, "name")?;
                check_plain_name(&name)?;
                let parquet = text_of(file, "parquet")?;
                check_plain_name(&parquet)?;
                let md5 = text_of(file, "md5")?.to_ascii_lowercase();
                if md5.len() != 32 || !md5.bytes().all(|b| b.is_ascii_hexdigit()) {
                    bail!("`md5` is not 32 hex digits: {md5:?}");
                }
                let rows = file["rows"]
                    .as_u64()
                    .context("`rows` is missing or not a count")?;
                Ok(FileSpec {
                    url: text_of(file, "url")?,
                    name,
                    md5,
                    rows,
                    parquet,
                })
            })()
            .with_context(|| format!("files[{i}]"))?;
            files.push(spec);
        }
        if files.is_empty() {
            bail!("`files` is empty");
        }
        Ok(Manifest {
            name,
            licence,
            columns,
            files,
        })
    }
}

/// File names from the manifest become paths: keep them inside their directory.
fn check_plain_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(['/', '\\'])
        || name.chars().any(char::is_control)
    {
        bail!("{name:?} is not a plain file name");
    }
    Ok(())
}

/// Where the CSV files come from.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    /// Download each manifest URL, or `BASE/NAME` when a base URL is given.
    Network { base_url: Option<String> },
    /// Read `DIR/NAME`, checked against `DIR/SHA256SUMS`.
    Mirror(PathBuf),
}

/// What `fetch` did for one file.
#[derive(Debug, Clone)]
pub(crate) struct FileReport {
    /// The CSV's name.
    pub(crate) name: String,
    pub(crate) parquet: PathBuf,
    /// Rows in the Parquet file.
    pub(crate) rows: u64,
    /// True when the Parquet file was already up to date and nothing was done.
    pub(crate) up_to_date: bool,
    /// Things the user should know that did not stop the fetch (a mirror's partial copy).
    pub(crate) warnings: Vec<String>,
}

/// Fetches every file of `manifest` from `source` into `out` and converts it to Parquet,
/// skipping files whose Parquet is up to date unless `force`.
pub(crate) fn fetch(
    manifest: &Manifest,
    out: &Path,
    source: &Source,
    force: bool,
) -> Result<Vec<FileReport>> {
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let record_path = out.join(SOURCE_FILE);
    let mut record = Record::load(&record_path);
    let mut reports = Vec::new();
    match source {
        Source::Network { base_url } => {
            let agent = agent();
            for spec in &manifest.files {
                let url = match base_url {
                    Some(base) => format!("{}/{}", base.trim_end_matches('/'), spec.name),
                    None => spec.url.clone(),
                };
                let parquet = out.join(&spec.parquet);
                if !force {
                    if let Some(done) = record.current(spec, &parquet, |e| e.md5 == spec.md5) {
                        reports.push(up_to_date(spec, parquet, done.rows, Vec::new()));
                        continue;
                    }
                }
                let csv = out.join(&spec.name);
                let kept = if force {
                    None
                } else {
                    hash_file(&csv).ok().filter(|d| d.md5 == spec.md5)
                };
                let digests = match kept {
                    Some(digests) => {
                        eprintln!(
                            "fetch: {} is already downloaded and verified",
                            csv.display()
                        );
                        digests
                    }
                    None => download(&agent, &url, &csv, &spec.md5)?,
                };
                let rows = convert(&csv, &parquet, &manifest.columns, |rows| {
                    if rows == spec.rows {
                        return Ok(());
                    }
                    bail!(
                        "{} has the manifest's MD5 but converted to {rows} rows, not {}",
                        csv.display(),
                        spec.rows
                    )
                })?;
                record.set(spec, &digests, rows, &url, &parquet)?;
                record.save(&record_path)?;
                reports.push(written(spec, parquet, rows, Vec::new()));
            }
        }
        Source::Mirror(dir) => {
            let sums = read_sha256sums(dir)?;
            for spec in &manifest.files {
                let csv = dir.join(&spec.name);
                let digests = verify_mirror_file(&csv, &sums, &dir.join(SUMS_FILE))?;
                let parquet = out.join(&spec.parquet);
                if !force {
                    if let Some(done) =
                        record.current(spec, &parquet, |e| e.sha256 == digests.sha256)
                    {
                        let warnings = mirror_warnings(spec, &digests, done.rows);
                        for warning in &warnings {
                            eprintln!("warning: {warning}");
                        }
                        reports.push(up_to_date(spec, parquet, done.rows, warnings));
                        continue;
                    }
                }
                let rows = convert(&csv, &parquet, &manifest.columns, |_| Ok(()))?;
                let warnings = mirror_warnings(spec, &digests, rows);
                for warning in &warnings {
                    eprintln!("warning: {warning}");
                }
                let origin = format!("mirror {}", dir.display());
                record.set(spec, &digests, rows, &origin, &parquet)?;
                record.save(&record_path)?;
                reports.push(written(spec, parquet, rows, warnings));
            }
        }
    }
    Ok(reports)
}

fn up_to_date(spec: &FileSpec, parquet: PathBuf, rows: u64, warnings: Vec<String>) -> FileReport {
    FileReport {
        name: spec.name.clone(),
        parquet,
        rows,
        up_to_date: true,
        warnings,
    }
}

fn written(spec: &FileSpec, parquet: PathBuf, rows: u64, warnings: Vec<String>) -> FileReport {
    FileReport {
        up_to_date: false,
        ..up_to_date(spec, parquet, rows, warnings)
    }
}

/// A mirror may hold a partial or different copy: say so, but go on.
fn mirror_warnings(spec: &FileSpec, digests: &Digests, rows: u64) -> Vec<String> {
    if rows != spec.rows {
        vec![format!(
            "{}: the mirror's copy has {rows} rows, not the canonical {}; \
             it is a partial or different copy (MD5 {}, canonical {})",
            spec.name, spec.rows, digests.md5, spec.md5
        )]
    } else if digests.md5 != spec.md5 {
        vec![format!(
            "{}: the mirror's copy has the canonical {rows} rows but differs from the \
             canonical file (MD5 {}, canonical {})",
            spec.name, digests.md5, spec.md5
        )]
    } else {
        Vec::new()
    }
}

/// Converts `csv` into `parquet` through `PARQUET.partial`, renaming only once `check` accepts
/// the row count; returns the rows written.
fn convert(
    csv: &Path,
    parquet: &Path,
    columns: &[String],
    check: impl FnOnce(u64) -> Result<()>,
) -> Result<u64> {
    let partial = partial_path(parquet);
    let guard = RemoveOnDrop(Some(partial.clone()));
    let (rows, written) = csv_to_parquet(csv, &partial)?;
    if written != columns {
        bail!(
            "{} became columns {written:?}, but the manifest expects {columns:?}",
            csv.display()
        );
    }
    check(rows)?;
    fs::rename(&partial, parquet)
        .with_context(|| format!("cannot rename {} into place", partial.display()))?;
    guard.disarm();
    Ok(rows)
}

/// One AG News CSV (no header; label, title, description) to Parquet; returns the rows and
/// the columns written.
fn csv_to_parquet(csv: &Path, parquet: &Path) -> Result<(u64, Vec<String>)> {
    let stats = charrnn_data::csv_to_parquet(csv, parquet, &charrnn_data::CsvOptions::default())
        .with_context(|| format!("cannot convert {} to Parquet", csv.display()))?;
    Ok((stats.rows, stats.columns))
}

/// `PATH.partial`: where a file is written before it is checked and renamed to `PATH`.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Removes a file when dropped, unless disarmed: a failed write leaves nothing behind.
struct RemoveOnDrop(Option<PathBuf>);

impl RemoveOnDrop {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            // It may never have been created.
            let _ = fs::remove_file(path);
        }
    }
}

/// Checksums and size of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Digests {
    pub(crate) md5: String,
    pub(crate) sha256: String,
    pub(crate) bytes: u64,
}

#[derive(Default)]
struct Hasher {
    md5: Md5,
    sha256: Sha256,
    bytes: u64,
}

impl Hasher {
    fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.sha256.update(data);
        self.bytes += data.len() as u64;
    }

    fn finish(self) -> Digests {
        Digests {
            md5: hex(&self.md5.finalize()),
            sha256: hex(&self.sha256.finalize()),
            bytes: self.bytes,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_file(path: &Path) -> Result<Digests> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Hasher::default();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finish())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_per_read(Some(Duration::from_secs(60)))
        // Plain bytes, so that the progress total is the file's size.
        .accept_encoding("identity")
        .build()
        .into()
}

/// Downloads `url` to `dest` through `DEST.partial`, showing progress; renames it to `dest`
/// only when its MD5 is `md5`, and leaves no partial file behind on failure.
fn download(agent: &ureq::Agent, url: &str, dest: &Path, md5: &str) -> Result<Digests> {
    let name = dest
        .file_name()
        .map_or_else(|| url.to_owned(), |n| n.to_string_lossy().into_owned());
    let mut response = agent
        .get(url)
        .call()
        .map_err(|e| anyhow::anyhow!("cannot download {url}: {e}; {MIRROR_HINT}"))?;
    let total = response.body().content_length();
    let partial = partial_path(dest);
    let guard = RemoveOnDrop(Some(partial.clone()));
    let mut file =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    eprintln!("fetch: downloading {url}");
    let mut progress = Progress::new(&name, total, io::stderr().is_terminal());
    let mut reader = response.body_mut().as_reader();
    let mut hasher = Hasher::default();
    let mut buf = vec![0; 1 << 16];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprint!("{}", progress.finish());
                let of = total.map_or_else(String::new, |t| format!(" of {t}"));
                bail!(
                    "downloading {url} failed after {}{of} bytes: {e}; run it again, or {MIRROR_HINT}",
                    progress.done
                );
            }
        };
        file.write_all(&buf[..n])
            .with_context(|| format!("cannot write {}", partial.display()))?;
        hasher.update(&buf[..n]);
        if let Some(text) = progress.advance(n as u64) {
            eprint!("{text}");
        }
    }
    eprint!("{}", progress.finish());
    if let Some(total) = total.filter(|&t| t != progress.done) {
        bail!(
            "downloading {url} stopped after {} of {total} bytes; run it again, or {MIRROR_HINT}",
            progress.done
        );
    }
    file.sync_all()
        .with_context(|| format!("cannot write {}", partial.display()))?;
    drop(file);
    let digests = hasher.finish();
    if digests.md5 != md5 {
        bail!(
            "{url}: MD5 is {} but the manifest expects {md5}; the download was discarded",
            digests.md5
        );
    }
    fs::rename(&partial, dest)
        .with_context(|| format!("cannot rename {} into place", partial.display()))?;
    guard.disarm();
    Ok(digests)
}

/// A download's progress line: redrawn in place on a terminal, an occasional line otherwise.
struct Progress {
    name: String,
    total: Option<u64>,
    done: u64,
    tty: bool,
    /// The text shown last (a terminal redraw happens only when it changes).
    shown: String,
    /// Without a terminal, the next byte count that earns a line.
    next_line: u64,
}

/// Without a terminal and without a known size, a line per this many bytes.
const LINE_EVERY: u64 = 16 << 20;

impl Progress {
    fn new(name: &str, total: Option<u64>, tty: bool) -> Self {
        let mut progress = Progress {
            name: name.to_owned(),
            total,
            done: 0,
            tty,
            shown: String::new(),
            next_line: 0,
        };
        progress.next_line = progress.step();
        progress
    }

    /// Bytes between lines without a terminal: a tenth of the file, or [`LINE_EVERY`].
    fn step(&self) -> u64 {
        self.total.map_or(LINE_EVERY, |t| (t / 10).max(1))
    }

    fn text(&self) -> String {
        match self.total {
            Some(total) if total > 0 => format!(
                "fetch: {} {} / {} ({}%)",
                self.name,
                human_bytes(self.done),
                human_bytes(total),
                self.done.min(total) * 100 / total
            ),
            _ => format!("fetch: {} {}", self.name, human_bytes(self.done)),
        }
    }

    /// Counts `n` more bytes; returns what to print, if anything.
    fn advance(&mut self, n: u64) -> Option<String> {
        self.done += n;
        let text = self.text();
        if self.tty {
            if text == self.shown {
                return None;
            }
            let pad = self.shown.len().saturating_sub(text.len());
            self.shown = text;
            Some(format!("\r{}{:pad$}", self.shown, ""))
        } else {
            if self.done < self.next_line {
                return None;
            }
            let step = self.step();
            self.next_line = (self.done / step + 1) * step;
            self.shown = text;
            Some(format!("{}\n", self.shown))
        }
    }

    /// Ends the display: the final count on its own line, unless that line was just printed.
    fn finish(&mut self) -> String {
        let text = self.text();
        if self.tty {
            let pad = self.shown.len().saturating_sub(text.len());
            self.shown = text;
            format!("\r{}{:pad$}\n", self.shown, "")
        } else if text == self.shown {
            String::new()
        } else {
            self.shown = text;
            format!("{}\n", self.shown)
        }
    }
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Reads `DIR/SHA256SUMS` (`sha256sum` output: `<64 hex>  <name>` per line) into name -> hash.
/// Every line must be well formed.
pub(crate) fn read_sha256sums(dir: &Path) -> Result<BTreeMap<String, String>> {
    let path = dir.join(SUMS_FILE);
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {}: a mirror holds the CSV files and their SHA256SUMS",
            path.display()
        )
    })?;
    parse_sha256sums(&text).with_context(|| format!("{} is malformed", path.display()))
}

fn parse_sha256sums(text: &str) -> Result<BTreeMap<String, String>> {
    let mut sums = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        // `HASH  NAME` (text mode) or `HASH *NAME` (binary mode).
        let parsed = line
            .split_at_checked(64)
            .filter(|(hash, _)| hash.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|(hash, rest)| {
                let name = rest
                    .strip_prefix("  ")
                    .or_else(|| rest.strip_prefix(" *"))?;
                (!name.is_empty()).then(|| (hash.to_ascii_lowercase(), name.to_owned()))
            });
        let Some((hash, name)) = parsed else {
            // Name the file the line is about when it can be made out.
            let about = line
                .split_once(char::is_whitespace)
                .map(|(_, name)| name.trim().trim_start_matches('*'))
                .filter(|name| !name.is_empty())
                .map_or_else(String::new, |name| format!(" (for {name})"));
            bail!(
                "line {}{about} is not `<64 hex digits>  <file name>`",
                i + 1
            );
        };
        if sums.insert(name.clone(), hash).is_some() {
            bail!("line {}: {name} is listed twice", i + 1);
        }
    }
    Ok(sums)
}

/// Checks a mirror's `csv` against its line in `sums` (read from `sums_path`).
fn verify_mirror_file(
    csv: &Path,
    sums: &BTreeMap<String, String>,
    sums_path: &Path,
) -> Result<Digests> {
    let name = csv
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let expected = sums
        .get(&name)
        .with_context(|| format!("{} has no line for {name}", sums_path.display()))?;
    if !csv.is_file() {
        bail!("the mirror has no {name}: {} is missing", csv.display());
    }
    let digests = hash_file(csv)?;
    if digests.sha256 != *expected {
        bail!(
            "{}: SHA-256 is {} but {} says {expected}",
            csv.display(),
            digests.sha256,
            sums_path.display()
        );
    }
    eprintln!("fetch: {} matches {}", csv.display(), sums_path.display());
    Ok(digests)
}

/// `SOURCE.json`: for each CSV, the checksums and row count of what produced its Parquet file.
#[derive(Debug, Default)]
struct Record {
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    /// The URL or mirror the CSV came from.
    from: String,
    md5: String,
    sha256: String,
    /// The CSV's size.
    bytes: u64,
    rows: u64,
    parquet: String,
    parquet_bytes: u64,
}

impl Record {
    /// A missing or unreadable record is an empty one: everything gets redone.
    fn load(path: &Path) -> Self {
        let value: Value = fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        let mut entries = BTreeMap::new();
        for (name, e) in value["files"].as_object().into_iter().flatten() {
            let text = |key: &str| e[key].as_str().map(str::to_owned);
            let entry = (|| {
                Some(Entry {
                    from: text("from")?,
                    md5: text("md5")?,
                    sha256: text("sha256")?,
                    bytes: e["bytes"].as_u64()?,
                    rows: e["rows"].as_u64()?,
                    parquet: text("parquet")?,
                    parquet_bytes: e["parquet_bytes"].as_u64()?,
                })
            })();
            if let Some(entry) = entry {
                entries.insert(name.clone(), entry);
            }
        }
        Record { entries }
    }

    /// The entry for `spec` when its Parquet file is the one recorded and `same_source` holds.
    fn current(
        &self,
        spec: &FileSpec,
        parquet: &Path,
        same_source: impl Fn(&Entry) -> bool,
    ) -> Option<&Entry> {
        let entry = self.entries.get(&spec.name)?;
        let size = fs::metadata(parquet).ok()?.len();
        (entry.parquet == spec.parquet && entry.parquet_bytes == size && same_source(entry))
            .then_some(entry)
    }

    fn set(
        &mut self,
        spec: &FileSpec,
        digests: &Digests,
        rows: u64,
        from: &str,
        parquet: &Path,
    ) -> Result<()> {
        let parquet_bytes = fs::metadata(parquet)
            .with_context(|| format!("cannot stat {}", parquet.display()))?
            .len();
        let entry = Entry {
            from: from.to_owned(),
            md5: digests.md5.clone(),
            sha256: digests.sha256.clone(),
            bytes: digests.bytes,
            rows,
            parquet: spec.parquet.clone(),
            parquet_bytes,
        };
        self.entries.insert(spec.name.clone(), entry);
        Ok(())
    }

    /// Writes the record atomically (temporary file in the same directory, then rename).
    fn save(&self, path: &Path) -> Result<()> {
        let files: serde_json::Map<String, Value> = self
            .entries
            .iter()
            .map(|(name, e)| {
                let value = json!({
                    "from": e.from,
                    "md5": e.md5,
                    "sha256": e.sha256,
                    "bytes": e.bytes,
                    "rows": e.rows,
                    "parquet": e.parquet,
                    "parquet_bytes": e.parquet_bytes,
                });
                (name.clone(), value)
            })
            .collect();
        let text = serde_json::to_string_pretty(&json!({ "files": files }))? + "\n";
        let partial = partial_path(path);
        let guard = RemoveOnDrop(Some(partial.clone()));
        fs::write(&partial, text).with_context(|| format!("cannot write {}", partial.display()))?;
        fs::rename(&partial, path)
            .with_context(|| format!("cannot rename {} into place", partial.display()))?;
        guard.disarm();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::{
        io::{BufRead, BufReader},
        net::TcpListener,
        thread,
    };

    use charrnn_data::{ReadOptions, parquet_columns, read_texts};

    use super::*;

    const TRAIN: &[u8] = b"\"1\",\"Talks resume (Reuters)\",\"Reuters - Negotiators met again\\on Monday, saying \"\"progress\"\" was made.\"
\"2\",\"Late goal wins it\",\"A header in the 90th minute settled the match.\"
\"3\",\"Stocks rally\",\"Shares rose  #36;2 as oil fell.\"
\"4\",\"New chip unveiled\",\"The company said the part, due in 2005, is faster.\"
\"1\",\"Election day\",\"Voters queued, some for hours,\\at polling stations.\"
\"2\",\"Record broken\",\"A sprinter ran 9.7 seconds.\"
";
    const TEST: &[u8] = b"\"3\",\"Fed holds rates\",\"The central bank left rates unchanged.\"
\"4\",\"Probe reaches orbit\",\"A small probe reached orbit on Tuesday.\"
\"1\",\"Summit ends\",\"Leaders signed a short statement.\"
";

    fn digests(bytes: &[u8]) -> Digests {
        let mut hasher = Hasher::default();
        hasher.update(bytes);
        hasher.finish()
    }

    /// A manifest (through the real parser) for `(name, md5, rows)`, with unusable URLs.
    fn manifest(files: &[(&str, &str, u64)]) -> Manifest {
        let files: Vec<Value> = files
            .iter()
            .map(|(name, md5, rows)| {
                json!({
                    "name": name,
                    "url": format!("http://127.0.0.1:9/{name}"),
                    "md5": md5,
                    "rows": rows,
                    "parquet": name.replace(".csv", ".parquet"),
                })
            })
            .collect();
        let text = json!({
            "name": "ag_news",
            "licence": "test only",
            "columns": ["label", "title", "description"],
            "files": files,
        });
        Manifest::parse(&text.to_string()).unwrap()
    }

    /// The manifest of the two fixture files, with their true checksums and row counts.
    fn fixture_manifest() -> Manifest {
        manifest(&[
            ("train.csv", &digests(TRAIN).md5, 6),
            ("test.csv", &digests(TEST).md5, 3),
        ])
    }

    #[derive(Clone, Copy)]
    enum Serve {
        Whole,
        /// Announce the whole Content-Length, send half the body, close the connection.
        Half,
    }

    /// Serves `files` at `BASE/NAME` on 127.0.0.1 for the rest of the test run; returns BASE.
    fn serve(files: Vec<(&'static str, Vec<u8>)>, mode: Serve) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Ok(clone) = stream.try_clone() else {
                    continue;
                };
                let mut reader = BufReader::new(clone);
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                loop {
                    let mut header = String::new();
                    match reader.read_line(&mut header) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if header == "\r\n" => break,
                        Ok(_) => {}
                    }
                }
                let path = request.split_whitespace().nth(1).unwrap_or_default();
                let found = files.iter().find(|(name, _)| path == format!("/{name}"));
                let _ = match found {
                    Some((_, body)) => {
                        let sent = match mode {
                            Serve::Whole => body.len(),
                            Serve::Half => body.len() / 2,
                        };
                        write!(
                            stream,
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .and_then(|()| stream.write_all(&body[..sent]))
                    }
                    None => stream.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    ),
                };
            }
        });
        base
    }

    /// A URL base on a local port nothing listens on: every connection is refused.
    fn closed_base() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        format!("http://{addr}")
    }

    fn network(base: &str) -> Source {
        Source::Network {
            base_url: Some(base.to_owned()),
        }
    }

    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Rows of a Parquet file as (label, "title description").
    fn parquet_rows(path: &Path) -> Vec<(Option<i64>, String)> {
        let opts = ReadOptions::columns(&["title", "description"]).with_label("label");
        read_texts(path, &opts)
            .unwrap()
            .into_iter()
            .map(|r| (r.label, r.text))
            .collect()
    }

    fn check_parquet(path: &Path, rows: usize) {
        let columns: Vec<String> = parquet_columns(path)
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            columns,
            ["label", "title", "description"],
            "{}",
            path.display()
        );
        assert_eq!(parquet_rows(path).len(), rows, "{}", path.display());
    }

    #[test]
    fn downloads_verifies_converts_and_then_does_nothing() {
        let base = serve(
            vec![("train.csv", TRAIN.to_vec()), ("test.csv", TEST.to_vec())],
            Serve::Whole,
        );
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("ag_news");
        let reports = fetch(&fixture_manifest(), &out, &network(&base), false).unwrap();
        let summary: Vec<_> = reports
            .iter()
            .map(|r| (r.name.as_str(), r.rows, r.up_to_date, r.warnings.len()))
            .collect();
        assert_eq!(
            summary,
            [("train.csv", 6, false, 0), ("test.csv", 3, false, 0)]
        );
        assert_eq!(
            names_in(&out),
            [
                "SOURCE.json",
                "test.csv",
                "test.parquet",
                "train.csv",
                "train.parquet"
            ]
        );
        assert_eq!(fs::read(out.join("train.csv")).unwrap(), TRAIN);
        check_parquet(&out.join("train.parquet"), 6);
        check_parquet(&out.join("test.parquet"), 3);
        let first = &parquet_rows(&out.join("train.parquet"))[0];
        assert_eq!(first.0, Some(1));
        assert!(
            first.1.contains("saying \"progress\" was made"),
            "{first:?}"
        );
        let record: Value =
            serde_json::from_str(&fs::read_to_string(out.join(SOURCE_FILE)).unwrap()).unwrap();
        assert_eq!(record["files"]["train.csv"]["md5"], digests(TRAIN).md5);
        assert_eq!(record["files"]["test.csv"]["rows"], 3);

        // Up to date: a rerun needs no network and rewrites nothing.
        let before = fs::metadata(out.join("train.parquet"))
            .unwrap()
            .modified()
            .unwrap();
        let offline = network(&closed_base());
        let again = fetch(&fixture_manifest(), &out, &offline, false).unwrap();
        assert!(again.iter().all(|r| r.up_to_date), "{again:?}");
        assert_eq!(again[0].rows, 6);
        let after = fs::metadata(out.join("train.parquet"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(before, after);

        // --force fetches again, and a failed forced fetch leaves the previous files alone.
        let err = fetch(&fixture_manifest(), &out, &offline, true).unwrap_err();
        assert!(format!("{err:#}").contains("--mirror DIR"), "{err:#}");
        check_parquet(&out.join("train.parquet"), 6);
        assert!(!names_in(&out).iter().any(|n| n.ends_with(".partial")));

        // A manifest with another checksum makes the record stale: it is fetched again.
        let changed = manifest(&[("test.csv", &digests(TRAIN).md5, 6)]);
        let err = fetch(&changed, &out, &offline, false).unwrap_err();
        assert!(format!("{err:#}").contains("test.csv"), "{err:#}");
    }

    #[test]
    fn a_kept_verified_csv_is_converted_without_downloading() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("train.csv"), TRAIN).unwrap();
        fs::write(dir.path().join("test.csv"), TEST).unwrap();
        let offline = network(&closed_base());
        let reports = fetch(&fixture_manifest(), dir.path(), &offline, false).unwrap();
        assert!(reports.iter().all(|r| !r.up_to_date));
        check_parquet(&dir.path().join("test.parquet"), 3);
    }

    #[test]
    fn a_checksum_mismatch_leaves_nothing_under_the_final_name() {
        let base = serve(vec![("train.csv", TEST.to_vec())], Serve::Whole);
        let dir = tempfile::tempdir().unwrap();
        let err = fetch(&fixture_manifest(), dir.path(), &network(&base), false).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("MD5"), "{msg}");
        assert!(msg.contains(&digests(TRAIN).md5), "{msg}");
        assert_eq!(names_in(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn an_interrupted_transfer_leaves_no_file() {
        let base = serve(vec![("train.csv", TRAIN.to_vec())], Serve::Half);
        let dir = tempfile::tempdir().unwrap();
        let err = fetch(&fixture_manifest(), dir.path(), &network(&base), false).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(&format!("{base}/train.csv")), "{msg}");
        assert_eq!(names_in(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn without_network_the_error_is_one_line_suggesting_a_mirror() {
        let dir = tempfile::tempdir().unwrap();
        let err = fetch(
            &fixture_manifest(),
            dir.path(),
            &network(&closed_base()),
            false,
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("--mirror DIR"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
        assert_eq!(names_in(dir.path()), Vec::<String>::new());
    }

    /// A mirror directory holding `files` and a SHA256SUMS of them.
    fn mirror(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut sums = String::new();
        for (name, bytes) in files {
            fs::write(dir.path().join(name), bytes).unwrap();
            sums += &format!("{}  {name}\n", digests(bytes).sha256);
        }
        fs::write(dir.path().join(SUMS_FILE), sums).unwrap();
        dir
    }

    #[test]
    fn a_mirror_is_verified_converted_and_warned_about() {
        let src = mirror(&[("train.csv", TRAIN), ("test.csv", TEST)]);
        let out = tempfile::tempdir().unwrap();
        // The canonical train split is bigger than the mirror's: a warning, not an error.
        let canonical = manifest(&[
            ("train.csv", "b1a00f826fdfbd249f79597b59e1dc12", 120_000),
            ("test.csv", &digests(TEST).md5, 3),
        ]);
        let source = Source::Mirror(src.path().to_path_buf());
        let reports = fetch(&canonical, out.path(), &source, false).unwrap();
        assert_eq!(reports[0].rows, 6);
        assert!(!reports[0].up_to_date);
        let warning = reports[0].warnings.join("\n");
        assert!(
            warning.contains("6 rows") && warning.contains("120000"),
            "{warning}"
        );
        assert!(reports[1].warnings.is_empty(), "{:?}", reports[1].warnings);
        check_parquet(&out.path().join("train.parquet"), 6);
        check_parquet(&out.path().join("test.parquet"), 3);
        // The mirror's CSVs are read where they are, not copied.
        assert_eq!(
            names_in(out.path()),
            ["SOURCE.json", "test.parquet", "train.parquet"]
        );

        // Rerun: up to date, still warned about.
        let again = fetch(&canonical, out.path(), &source, false).unwrap();
        assert!(again.iter().all(|r| r.up_to_date), "{again:?}");
        assert_eq!(again[0].warnings, reports[0].warnings);

        // The same bytes from the network count as up to date; other bytes do not.
        let offline = network(&closed_base());
        let from_net = fetch(&fixture_manifest(), out.path(), &offline, false).unwrap();
        assert!(from_net.iter().all(|r| r.up_to_date), "{from_net:?}");

        // A changed mirror file is converted again; the unchanged one is left alone.
        let mut test = TEST.to_vec();
        test.extend_from_slice(b"\"2\",\"Final whistle\",\"It ended 1-1.\"\n");
        let changed = mirror(&[("train.csv", TRAIN), ("test.csv", &test)]);
        let source = Source::Mirror(changed.path().to_path_buf());
        let third = fetch(&canonical, out.path(), &source, false).unwrap();
        let fresh: Vec<_> = third.iter().map(|r| (r.up_to_date, r.rows)).collect();
        assert_eq!(fresh, [(true, 6), (false, 4)]);
        assert_eq!(third[1].warnings.len(), 1, "{:?}", third[1].warnings);
        check_parquet(&out.path().join("test.parquet"), 4);
    }

    #[test]
    fn mirror_problems_are_errors_naming_the_file() {
        let train_sum = digests(TRAIN).sha256;
        let test_sum = digests(TEST).sha256;
        let check = |sums: Option<String>, files: &[(&str, &[u8])], wanted: &[&str]| {
            let src = tempfile::tempdir().unwrap();
            for (name, bytes) in files {
                fs::write(src.path().join(name), bytes).unwrap();
            }
            if let Some(sums) = &sums {
                fs::write(src.path().join(SUMS_FILE), sums).unwrap();
            }
            let out = tempfile::tempdir().unwrap();
            let source = Source::Mirror(src.path().to_path_buf());
            let err = fetch(&fixture_manifest(), out.path(), &source, false).unwrap_err();
            let msg = format!("{err:#}");
            for want in wanted {
                assert!(msg.contains(want), "{sums:?}: {msg:?} lacks {want:?}");
            }
            assert!(!msg.contains('\n'), "{msg}");
            assert!(
                !names_in(out.path()).iter().any(|n| n.ends_with(".partial")),
                "{sums:?}"
            );
        };
        let both: &[(&str, &[u8])] = &[("train.csv", TRAIN), ("test.csv", TEST)];
        // A malformed line (a hash one digit short).
        check(
            Some(format!(
                "{}  train.csv\n{test_sum}  test.csv\n",
                &train_sum[1..]
            )),
            both,
            &["SHA256SUMS", "line 1", "train.csv"],
        );
        check(
            Some(format!("{train_sum}\ttrain.csv\n{test_sum}  test.csv\n")),
            both,
            &["SHA256SUMS", "line 1", "train.csv"],
        );
        check(
            Some(format!("{train_sum}  train.csv\nnot a checksum line\n")),
            both,
            &["SHA256SUMS", "line 2"],
        );
        // A missing line.
        check(
            Some(format!("{train_sum}  train.csv\n")),
            both,
            &["SHA256SUMS", "no line for test.csv"],
        );
        // A mismatch.
        check(
            Some(format!("{test_sum}  train.csv\n{test_sum}  test.csv\n")),
            both,
            &["train.csv", "SHA-256", &train_sum],
        );
        // A missing file.
        check(
            Some(format!("{train_sum}  train.csv\n{test_sum}  test.csv\n")),
            &[("train.csv", TRAIN)],
            &["test.csv", "missing"],
        );
        // No SHA256SUMS at all.
        check(None, both, &["SHA256SUMS"]);
    }

    #[test]
    fn columns_other_than_the_manifests_are_an_error() {
        let src = mirror(&[("train.csv", TRAIN), ("test.csv", TEST)]);
        let out = tempfile::tempdir().unwrap();
        let mut wrong = fixture_manifest();
        wrong.columns = vec!["label".into(), "text".into()];
        let source = Source::Mirror(src.path().to_path_buf());
        let err = fetch(&wrong, out.path(), &source, false).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("\"text\"") && msg.contains("train.csv"),
            "{msg}"
        );
        assert_eq!(names_in(out.path()), Vec::<String>::new());
    }

    #[test]
    fn sha256sums_parsing() {
        let hash = "A".repeat(64);
        let sums = parse_sha256sums(&format!("{hash}  a.csv\n\n{hash} *b file.csv\n")).unwrap();
        assert_eq!(sums.len(), 2);
        assert_eq!(sums["a.csv"], "a".repeat(64));
        assert!(sums.contains_key("b file.csv"));
        let twice = parse_sha256sums(&format!("{hash}  a.csv\n{hash}  a.csv\n")).unwrap_err();
        assert!(twice.to_string().contains("a.csv"), "{twice}");
        let no_name = parse_sha256sums(&format!("{hash}  \n")).unwrap_err();
        assert!(no_name.to_string().contains("line 1"), "{no_name}");
        let not_hex = parse_sha256sums(&format!("{}  a.csv\n", "g".repeat(64))).unwrap_err();
        assert!(not_hex.to_string().contains("a.csv"), "{not_hex}");
    }

    #[test]
    fn progress_without_a_terminal_prints_a_line_per_tenth() {
        let mut progress = Progress::new("train.csv", Some(1000), false);
        let lines: Vec<String> = (0..40).filter_map(|_| progress.advance(25)).collect();
        assert_eq!(lines.len(), 10, "{lines:?}");
        assert!(lines.iter().all(|l| l.ends_with('\n') && !l.contains('\r')));
        assert_eq!(lines[0], "fetch: train.csv 100 B / 1000 B (10%)\n");
        assert_eq!(lines[9], "fetch: train.csv 1000 B / 1000 B (100%)\n");
        // The last line already said it all.
        assert_eq!(progress.finish(), "");

        // Unknown size: a line per LINE_EVERY bytes, and the total at the end.
        let mut progress = Progress::new("test.csv", None, false);
        assert_eq!(progress.advance(LINE_EVERY - 1), None);
        assert_eq!(
            progress.advance(1).as_deref(),
            Some("fetch: test.csv 16.0 MiB\n")
        );
        assert_eq!(progress.advance(1 << 20), None);
        assert_eq!(progress.finish(), "fetch: test.csv 17.0 MiB\n");
    }

    #[test]
    fn progress_on_a_terminal_redraws_one_line() {
        let mut progress = Progress::new("train.csv", Some(4 << 20), true);
        let first = progress.advance(1 << 20).unwrap();
        assert_eq!(first, "\rfetch: train.csv 1.0 MiB / 4.0 MiB (25%)");
        // Nothing visible changed: no redraw.
        assert_eq!(progress.advance(1), None);
        let end = progress.finish();
        assert!(end.starts_with('\r') && end.ends_with('\n'), "{end:?}");
    }

    #[test]
    fn human_sizes() {
        let check = |bytes: u64, want: &str| assert_eq!(human_bytes(bytes), want, "{bytes}");
        check(0, "0 B");
        check(1023, "1023 B");
        check(1024, "1.0 KiB");
        check(29_470_338, "28.1 MiB");
        check(3 << 30, "3.0 GiB");
        check(5 << 40, "5120.0 GiB");
    }

    #[test]
    fn the_workspace_manifest_names_the_canonical_files() {
        let manifest = Manifest::load(&project_root().join("data").join("ag_news.json")).unwrap();
        assert!(manifest.licence.contains("non-commercial"));
        assert_eq!(manifest.columns, ["label", "title", "description"]);
        let files: Vec<_> = manifest
            .files
            .iter()
            .map(|f| (f.name.as_str(), f.md5.as_str(), f.rows, f.parquet.as_str()))
            .collect();
        assert_eq!(
            files,
            [
                (
                    "train.csv",
                    "b1a00f826fdfbd249f79597b59e1dc12",
                    120_000,
                    "train.parquet"
                ),
                (
                    "test.csv",
                    "d52ea96a97a2d943681189a97654912d",
                    7_600,
                    "test.parquet"
                ),
            ]
        );
        for f in &manifest.files {
            assert_eq!(
                f.url,
                format!(
                    "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/{}",
                    f.name
                )
            );
        }
    }

    #[test]
    fn manifests_with_unsafe_names_or_bad_checksums_are_refused() {
        let check = |name: &str, md5: &str, want: &str| {
            let text = json!({"name": "x", "licence": "l", "columns": ["a"], "files": [
                {"name": name, "url": "u", "md5": md5, "rows": 1, "parquet": "p.parquet"}
            ]});
            let err = Manifest::parse(&text.to_string()).unwrap_err();
            assert!(format!("{err:#}").contains(want), "{name} {md5}: {err:#}");
        };
        let md5 = "0".repeat(32);
        check("../x.csv", &md5, "not a plain file name");
        check("", &md5, "not a plain file name");
        check("a.csv", "abc", "32 hex digits");
        check("a.csv", &"z".repeat(32), "32 hex digits");
        assert!(Manifest::parse("{}").is_err());
        assert!(Manifest::parse("not json").is_err());
    }
}
