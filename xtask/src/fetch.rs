//! `cargo xtask fetch`: get AG News, verify it, and convert it to Parquet.
//!
//! What is fetched, from where, with which checksums and row counts, lives in the manifest
//! `data/ag_news.json`. Each CSV is either downloaded (to `NAME.partial`, checked against the
//! manifest's MD5, and only then renamed, so a final name never holds a partial or corrupt
//! file) or, with `--mirror DIR`, read from a local directory and checked against that
//! directory's `SHA256SUMS`. Each CSV then becomes `label,title,description` Parquet through
//! `charrnn prepare` (a subprocess: xtask links no Parquet library). `SOURCE.json` in the
//! output directory records the checksums that produced each Parquet file, and what a mirror's
//! copy was warned about; a rerun that finds them up to date touches neither the network nor
//! the files.
//!
//! The manifest (`manifest`), checksums (`verify`), downloads (`download`), the record
//! (`record`) and files written through `.partial` (`files`) each have a module.

mod download;
mod files;
mod manifest;
mod record;
#[cfg(test)]
mod tests;
mod verify;

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;

use self::download::{agent, download};
use self::files::{RemoveOnDrop, partial_path};
pub(crate) use self::manifest::{FileSpec, Manifest};
use self::record::Record;
pub(crate) use self::record::SOURCE_FILE;
use self::verify::{Digests, SUMS_FILE, hash_file, read_sha256sums, verify_mirror_file};
use crate::workspace;

/// Environment variable that replaces the manifest's URLs by `BASE/NAME` (like `--base-url`).
pub(crate) const BASE_URL_ENV: &str = "CHARRNN_AG_NEWS_BASE_URL";

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
pub(crate) fn run(root: &Path, args: FetchArgs) -> Result<()> {
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
    let prepare = Prepare {
        bin: workspace::charrnn_bin(root, false)?,
    };
    let reports = fetch(&manifest, &out, &source, args.force, &prepare)?;
    for report in &reports {
        let state = if report.up_to_date {
            "up to date"
        } else {
            "written"
        };
        let warned = match report.warnings.len() {
            0 => String::new(),
            n => format!(", with {n} warning(s) above (kept in {SOURCE_FILE})"),
        };
        eprintln!(
            "fetch: {} -> {} ({} rows): {state}{warned}",
            report.name,
            report.parquet.display(),
            report.rows
        );
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

/// Fetches AG News (the workspace's manifest) into `out` from `mirror`, or from the network,
/// converting with the `charrnn` binary `bin`; returns what fetch warned about.
pub(crate) fn fetch_ag_news(
    root: &Path,
    out: &Path,
    mirror: Option<&Path>,
    bin: &Path,
) -> Result<Vec<FileReport>> {
    let manifest = Manifest::load(&root.join("data").join("ag_news.json"))?;
    let source = match mirror {
        Some(dir) => Source::Mirror(dir.to_path_buf()),
        None => Source::Network {
            base_url: env::var(BASE_URL_ENV).ok().filter(|b| !b.is_empty()),
        },
    };
    eprintln!("fetch: {} ({})", manifest.name, manifest.licence);
    let prepare = Prepare {
        bin: bin.to_path_buf(),
    };
    fetch(&manifest, out, &source, false, &prepare)
}

/// The rows `SOURCE.json` in `dir` records for the CSV file `name`, if it records any.
pub(crate) fn recorded_rows(dir: &Path, name: &str) -> Option<u64> {
    Record::load(&dir.join(SOURCE_FILE))
        .entry(name)
        .map(record::Entry::rows)
}

/// Turns one CSV file into Parquet.
pub(crate) trait Convert {
    /// Converts the AG News CSV `csv` (no header) into the Parquet file `parquet`; returns the
    /// rows and the columns written.
    fn convert(&self, csv: &Path, parquet: &Path) -> Result<(u64, Vec<String>)>;
}

/// Converts with `charrnn prepare`.
pub(crate) struct Prepare {
    /// The `charrnn` binary.
    pub(crate) bin: PathBuf,
}

impl Convert for Prepare {
    fn convert(&self, csv: &Path, parquet: &Path) -> Result<(u64, Vec<String>)> {
        let out = Command::new(&self.bin)
            .arg("prepare")
            .arg(csv)
            .arg(parquet)
            // data/ is xtask's own: a fetch (--force) converts again over its last output.
            .args(["--overwrite", "--json", "--quiet"])
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {}", self.bin.display()))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let reason = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            bail!(
                "charrnn prepare {} failed ({}): {}",
                csv.display(),
                out.status,
                reason.trim()
            );
        }
        parse_prepared(&String::from_utf8_lossy(&out.stdout))
            .with_context(|| format!("charrnn prepare {} said no rows and columns", csv.display()))
    }
}

/// The rows and columns of `charrnn prepare --json`'s last JSON line.
pub(crate) fn parse_prepared(stdout: &str) -> Result<(u64, Vec<String>)> {
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .context("no JSON line")?;
    let value: Value = serde_json::from_str(line).context("not JSON")?;
    let rows = value["rows"].as_u64().context("no `rows`")?;
    let columns = value["columns"]
        .as_array()
        .and_then(|c| c.iter().map(|n| n.as_str().map(str::to_owned)).collect())
        .context("no `columns`")?;
    Ok((rows, columns))
}

/// Fetches every file of `manifest` from `source` into `out` and converts it to Parquet with
/// `converter`, skipping files whose Parquet is up to date unless `force`.
pub(crate) fn fetch(
    manifest: &Manifest,
    out: &Path,
    source: &Source,
    force: bool,
    converter: &dyn Convert,
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
                if !force
                    && let Some(done) = record.current(spec, &parquet, |e| e.md5() == spec.md5)
                {
                    reports.push(up_to_date(spec, parquet, done.rows(), Vec::new()));
                    continue;
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
                let rows = convert(converter, &csv, &parquet, &manifest.columns, |rows| {
                    if rows == spec.rows {
                        return Ok(());
                    }
                    bail!(
                        "{} has the manifest's MD5 but converted to {rows} rows, not {}",
                        csv.display(),
                        spec.rows
                    )
                })?;
                record.set(spec, &digests, rows, &url, &parquet, &[])?;
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
                if !force
                    && let Some(done) =
                        record.current(spec, &parquet, |e| e.sha256() == digests.sha256)
                {
                    let warnings = mirror_warnings(spec, &digests, done.rows());
                    for warning in &warnings {
                        eprintln!("warning: {warning}");
                    }
                    reports.push(up_to_date(spec, parquet, done.rows(), warnings));
                    continue;
                }
                let rows = convert(converter, &csv, &parquet, &manifest.columns, |_| Ok(()))?;
                let warnings = mirror_warnings(spec, &digests, rows);
                for warning in &warnings {
                    eprintln!("warning: {warning}");
                }
                let origin = format!("mirror {}", dir.display());
                record.set(spec, &digests, rows, &origin, &parquet, &warnings)?;
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
    converter: &dyn Convert,
    csv: &Path,
    parquet: &Path,
    columns: &[String],
    check: impl FnOnce(u64) -> Result<()>,
) -> Result<u64> {
    let partial = partial_path(parquet);
    let guard = RemoveOnDrop(Some(partial.clone()));
    let (rows, written) = converter.convert(csv, &partial)?;
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
