//! The manifest of a data set (`data/ag_news.json`): where each file comes from, its
//! checksum and row count, and the Parquet file it becomes.

use std::{fs, path::Path};

use anyhow::{Context, Result, bail};
use serde_json::Value;

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_workspace_manifest_names_the_canonical_files() {
        let manifest = Manifest::load(
            &crate::workspace::root()
                .unwrap()
                .join("data")
                .join("ag_news.json"),
        )
        .unwrap();
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
