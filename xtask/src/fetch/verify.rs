//! Checksums: MD5 and SHA-256 of a file in one pass, and a mirror's `SHA256SUMS`.

use std::{
    collections::BTreeMap,
    fs::{self, File},
    io::{self, Read},
    path::Path,
};

use anyhow::{Context, Result, bail};
use md5::{Digest, Md5};
use sha2::Sha256;

/// The checksum list a mirror directory must hold (`sha256sum` output).
pub(crate) const SUMS_FILE: &str = "SHA256SUMS";

/// Checksums and size of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Digests {
    pub(crate) md5: String,
    pub(crate) sha256: String,
    pub(crate) bytes: u64,
}

#[derive(Default)]
pub(crate) struct Hasher {
    md5: Md5,
    sha256: Sha256,
    bytes: u64,
}

impl Hasher {
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        self.sha256.update(data);
        self.bytes += data.len() as u64;
    }

    pub(crate) fn finish(self) -> Digests {
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

pub(crate) fn hash_file(path: &Path) -> Result<Digests> {
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
pub(crate) fn verify_mirror_file(
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
