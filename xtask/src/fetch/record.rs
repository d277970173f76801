//! `SOURCE.json`, kept beside the Parquet files: what produced each of them.

use std::{collections::BTreeMap, fs, path::Path};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::files::{RemoveOnDrop, partial_path};
use super::manifest::FileSpec;
use super::verify::Digests;

/// What produced the Parquet files, kept next to them.
pub(crate) const SOURCE_FILE: &str = "SOURCE.json";

/// `SOURCE.json`: for each CSV, the checksums and row count of what produced its Parquet file,
/// and what the fetch warned about it (which `charrnn experiment` repeats in its report).
#[derive(Debug, Default)]
pub(crate) struct Record {
    entries: BTreeMap<String, Entry>,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The URL or mirror the CSV came from.
    from: String,
    md5: String,
    sha256: String,
    /// The CSV's size.
    bytes: u64,
    rows: u64,
    parquet: String,
    parquet_bytes: u64,
    /// Warnings about the copy (a mirror's partial train split).
    warnings: Vec<String>,
}

impl Entry {
    /// Rows of the CSV (and of its Parquet file).
    pub(crate) fn rows(&self) -> u64 {
        self.rows
    }

    /// The MD5 of the CSV.
    pub(crate) fn md5(&self) -> &str {
        &self.md5
    }

    /// The SHA-256 of the CSV.
    pub(crate) fn sha256(&self) -> &str {
        &self.sha256
    }
}

impl Record {
    /// A missing or unreadable record is an empty one: everything gets redone.
    pub(crate) fn load(path: &Path) -> Self {
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
                    warnings: e["warnings"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|w| w.as_str().map(str::to_owned))
                        .collect(),
                })
            })();
            if let Some(entry) = entry {
                entries.insert(name.clone(), entry);
            }
        }
        Record { entries }
    }

    /// The entry of the CSV called `name`, whatever its state.
    pub(crate) fn entry(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    /// The entry for `spec` when its Parquet file is the one recorded and `same_source` holds.
    pub(crate) fn current(
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

    pub(crate) fn set(
        &mut self,
        spec: &FileSpec,
        digests: &Digests,
        rows: u64,
        from: &str,
        parquet: &Path,
        warnings: &[String],
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
            warnings: warnings.to_vec(),
        };
        self.entries.insert(spec.name.clone(), entry);
        Ok(())
    }

    /// Writes the record atomically (temporary file in the same directory, then rename).
    pub(crate) fn save(&self, path: &Path) -> Result<()> {
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
                    "warnings": e.warnings,
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
