//! Which files an input names, and how each is compressed and formatted.
use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::types::{Compression, Format, io};
use crate::DataError;
use crate::encoding::{BOM, Encoding, decode_failure, decoding};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// What makes a file or directory itself, whatever path reaches it: its device and inode on
/// Unix, its canonical path elsewhere.
#[cfg(unix)]
type FileId = (u64, u64);
#[cfg(not(unix))]
type FileId = PathBuf;

#[cfg(unix)]
fn file_id(_path: &Path, meta: &std::fs::Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn file_id(path: &Path, _meta: &std::fs::Metadata) -> FileId {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// The files `path` names: itself, the files under a directory (recursively, by name, hidden
/// entries left out), or the files a glob pattern matches (sorted). A directory or a file
/// reached again through a link (a symbolic link loop, two links to one file) is taken once,
/// where it is met first.
pub(crate) fn expand(path: &Path) -> Result<Vec<PathBuf>, DataError> {
    let none = |message: &str| DataError::Input {
        path: path.to_owned(),
        message: message.to_owned(),
    };
    if path.is_dir() {
        let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
        let mut seen = HashSet::from([file_id(path, &meta)]);
        let mut out = Vec::new();
        walk(path, &mut seen, &mut out)?;
        if out.is_empty() {
            return Err(none("the directory holds no file"));
        }
        return Ok(out);
    }
    if path.exists() {
        return Ok(vec![path.to_owned()]);
    }
    let text = path.to_string_lossy();
    if !text.contains(['*', '?', '[']) {
        return Err(io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or directory"),
        ));
    }
    let paths = glob::glob(&text).map_err(|e| none(&format!("bad pattern: {e}")))?;
    let mut out = Vec::new();
    for p in paths {
        let p = p.map_err(|e| io(e.path(), std::io::Error::other(e.to_string())))?;
        if p.is_file() {
            out.push(p);
        }
    }
    out.sort();
    let mut seen = HashSet::new();
    out.retain(|p| std::fs::metadata(p).map_or(true, |meta| seen.insert(file_id(p, &meta))));
    if out.is_empty() {
        return Err(none("no file matches the pattern"));
    }
    Ok(out)
}

/// Adds the files under `dir` to `out`, skipping the directories and files in `seen` (and
/// adding those it takes).
fn walk(dir: &Path, seen: &mut HashSet<FileId>, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    for p in entries {
        // A dangling link or an entry gone meanwhile is no file to read.
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if !(meta.is_dir() || meta.is_file()) || !seen.insert(file_id(&p, &meta)) {
            continue;
        }
        if meta.is_dir() {
            walk(&p, seen, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// The compression and the format of one file: from its extensions (`.jsonl.gz`), else from its
/// first bytes after a byte-order mark (Parquet's `PAR1`, a JSON object's `{` or an array of
/// objects' `[` then `{` once decoded from `encoding`, otherwise text).
pub(crate) fn detect(path: &Path, encoding: Encoding) -> Result<(Compression, Format), DataError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let (mut compression, inner) = if let Some(stem) = name.strip_suffix(".gz") {
        (Some(Compression::Gzip), stem.to_owned())
    } else if let Some(stem) = name.strip_suffix(".gzip") {
        (Some(Compression::Gzip), stem.to_owned())
    } else if let Some(stem) = name.strip_suffix(".zst") {
        (Some(Compression::Zstd), stem.to_owned())
    } else if let Some(stem) = name.strip_suffix(".zstd") {
        (Some(Compression::Zstd), stem.to_owned())
    } else {
        (None, name.clone())
    };
    let mut head = [0u8; 4];
    let n = read_head(path, &mut head)?;
    if compression.is_none() {
        compression = Some(if head[..n].starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else if n == 4 && head == ZSTD_MAGIC {
            Compression::Zstd
        } else {
            Compression::None
        });
    }
    let compression = compression.unwrap_or(Compression::None);
    let by_extension = match inner.rsplit_once('.').map(|(_, ext)| ext) {
        Some("parquet" | "pq") => Some(Format::Parquet),
        Some("csv" | "tsv" | "tab") => Some(Format::Csv),
        Some("jsonl" | "ndjson" | "json") => Some(Format::Jsonl),
        Some("txt" | "text" | "md") => Some(Format::Text),
        _ => None,
    };
    if let Some(format) = by_extension {
        return Ok((compression, format));
    }
    // From the first decompressed bytes.
    let file = super::types::SourceFile {
        path: path.to_owned(),
        compression,
        bytes: 0,
    };
    let (mut reader, _) = super::types::open_stream(&file)?;
    let mut first = [0u8; 64];
    let mut got = 0;
    while got < first.len() {
        let k = reader.read(&mut first[got..]).map_err(|e| io(path, e))?;
        if k == 0 {
            break;
        }
        got += k;
    }
    let first = first[..got].strip_prefix(&BOM).unwrap_or(&first[..got]);
    let text = decoded_head(first, encoding);
    let format = if first.starts_with(b"PAR1") {
        Format::Parquet
    } else if starts_json(&text) {
        Format::Jsonl
    } else {
        Format::Text
    };
    Ok((compression, format))
}

/// Whether text starts (after whitespace) with a JSON object, or an array whose first element
/// is an object (`[{`): not `[section]`, nor a Markdown link.
fn starts_json(text: &[u8]) -> bool {
    let mut rest = text.iter().skip_while(|b| b.is_ascii_whitespace());
    match rest.next() {
        Some(b'{') => true,
        Some(b'[') => rest.find(|b| !b.is_ascii_whitespace()) == Some(&b'{'),
        _ => false,
    }
}

/// What the first bytes of a file `head` read as in `encoding`, as far as they decode (the
/// bytes themselves for UTF-8).
fn decoded_head(head: &[u8], encoding: Encoding) -> Vec<u8> {
    let mut out = Vec::new();
    let stream = Box::new(std::io::Cursor::new(head.to_vec()));
    if let Ok(mut reader) = decoding(stream, encoding, false) {
        // The head may end inside a character: what came before it is enough.
        let _ = reader.read_to_end(&mut out);
    }
    out
}

/// Whether `path` looks binary: a NUL character in its first 8 KiB (decompressed and decoded
/// from `encoding`), as `grep` and ripgrep decide, or bytes that are no text in a UTF-16
/// encoding. Text in UTF-8 never holds one; images and archives do (and UTF-16 read as bytes,
/// but a UTF-16 byte-order mark, or a UTF-16 encoding given, reads it as text).
pub(crate) fn is_binary(
    path: &Path,
    compression: Compression,
    encoding: Encoding,
) -> Result<bool, DataError> {
    let file = super::types::SourceFile {
        path: path.to_owned(),
        compression,
        bytes: 0,
    };
    let (reader, _) = super::types::open_stream(&file)?;
    let reader = decoding(reader, encoding, false).map_err(|e| io(path, e))?;
    let mut head = Vec::with_capacity(8192);
    match reader.take(8192).read_to_end(&mut head) {
        Ok(_) => Ok(head.contains(&0)),
        Err(e) if decode_failure(&e).is_some() => Ok(true),
        Err(e) => Err(io(path, e)),
    }
}

fn read_head(path: &Path, head: &mut [u8; 4]) -> Result<usize, DataError> {
    let mut f = File::open(path).map_err(|e| io(path, e))?;
    let mut got = 0;
    while got < head.len() {
        let k = f.read(&mut head[got..]).map_err(|e| io(path, e))?;
        if k == 0 {
            break;
        }
        got += k;
    }
    Ok(got)
}
