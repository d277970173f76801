//! Inputs to token stores: opening a source with the flags, building (or reusing) the
//! vocabulary and the store, with progress bars.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use charrnn_data::{
    BuildOptions, CsvHeader, DataError, Encoding, Format, LabelValues, NullPolicy, Source,
    SourceOptions, Store, StoreStatus, store_key,
};
use charrnn_vocab::{Unknown, Vocab, VocabBuilder, VocabOptions};
use indicatif::{ProgressBar, ProgressStyle};

use crate::dataset::Coverage;
use crate::flags::TextColumns;
use crate::output::Output;

/// The reading options the flags say, the text columns defaulting by format (`title` for
/// Parquet and CSV, as AG News has; `text` for JSON Lines).
pub fn source_options(path: &Path, text: &TextColumns) -> Result<SourceOptions> {
    let format = text.format;
    let detected = match format {
        Some(f) => f,
        None => Format::detect(path)?,
    };
    let columns = if text.columns.is_empty() {
        match detected {
            Format::Parquet | Format::Csv => vec!["title".to_owned()],
            Format::Jsonl | Format::Text => vec!["text".to_owned()],
        }
    } else {
        text.columns.clone()
    };
    Ok(SourceOptions {
        format,
        text_columns: columns,
        label_column: text.label_column.clone(),
        nulls: if text.skip_nulls {
            NullPolicy::Skip
        } else {
            NullPolicy::Fail
        },
        text_unit: text.text_unit.unwrap_or_default(),
        csv_header: None,
        label_names: text.label_names.clone(),
        encoding: text.encoding.unwrap_or_default(),
        delimiter: text.delimiter,
    })
}

/// The warning for a CSV converted into one column named like a header of several (`id;title`):
/// its fields were separated by another delimiter than the one read with.
pub fn one_column_warning(columns: &[String], output: &Path) -> Option<String> {
    let [only] = columns else { return None };
    let d = delimiter_in(only)?;
    Some(format!(
        "{}: one column, `{}`: if the CSV's fields are separated by `{d}`, convert it again with \
         --delimiter '{d}' --overwrite",
        output.display(),
        only.escape_debug()
    ))
}

/// The delimiter a CSV header of one column seems to use, when `e` is a missing column there
/// and the library found no column under another delimiter to point to.
fn other_delimiter(e: &DataError) -> Option<&'static str> {
    match e {
        DataError::MissingColumn {
            available,
            hint: None,
            ..
        } if available.len() == 1 => delimiter_in(&available[0]),
        _ => None,
    }
}

/// The other delimiter a one-column header holds, as `--delimiter` takes it: `;`, `\t` or `|`.
fn delimiter_in(header: &str) -> Option<&'static str> {
    [(';', ";"), ('\t', "\\t"), ('|', "|")]
        .into_iter()
        .find(|(c, _)| header.contains(*c))
        .map(|(_, name)| name)
}

/// The most classes a label column of text may name: more is a column of free text.
const MAX_TEXT_CLASSES: usize = 1000;

/// Opens `path` as the flags say, warning of the binary files a directory's text leaves out.
/// A label column of text, whose classes `text` does not give, is read once for them (its
/// distinct values, sorted): the source then reads each label as its class's index.
pub fn open_source(path: &Path, text: &TextColumns) -> Result<Source> {
    let mut options = source_options(path, text)?;
    let mut source = match Source::open(path, &options) {
        Ok(source) => source,
        // No --column and no `title`: the column named `text`, if there is one (as in most
        // published corpora); otherwise the error says how to name one.
        Err(DataError::MissingColumn { available, .. })
            if text.columns.is_empty() && available.iter().any(|c| c == "text") =>
        {
            options.text_columns = vec!["text".to_owned()];
            Source::open(path, &options)?
        }
        // A header of one column holding `;`, a tab or `|`: a CSV with another delimiter.
        Err(e @ DataError::MissingColumn { .. }) if other_delimiter(&e).is_some() => {
            let d = other_delimiter(&e).unwrap_or_default();
            match is_csv(path, text)? {
                true => bail!(
                    "{e} (the header is one column: its fields look separated by `{d}`: give \
                     --delimiter '{d}')"
                ),
                // A Parquet (or JSON) column named like a CSV header: converted wrongly.
                false => bail!(
                    "{e} (that one column looks like a CSV header whose fields are separated \
                     by `{d}`: convert the CSV again with `charrnn prepare --delimiter '{d}'`, \
                     or train on the CSV itself)"
                ),
            }
        }
        Err(e @ DataError::MissingColumn { .. }) if text.columns.is_empty() => {
            bail!("{e} (--column NAME names the text column; the default is `title`, else `text`)");
        }
        Err(e) => return Err(e.into()),
    };
    if options.label_column.is_some()
        && options.label_names.is_none()
        && let LabelValues::Text(names) = source.label_values()?
    {
        if names.len() > MAX_TEXT_CLASSES {
            bail!(
                "--label-column {}: {} holds {} distinct values, more than the {MAX_TEXT_CLASSES} \
                 classes a label column may name (is it a text column?)",
                options.label_column.as_deref().unwrap_or_default(),
                path.display(),
                names.len()
            );
        }
        options.label_names = Some(names);
        source = Source::open(path, &options)?;
    }
    let skipped = source.skipped();
    if !skipped.is_empty() {
        eprintln!(
            "warning: {}: left out {} binary file(s) (NUL bytes): {}",
            path.display(),
            skipped.len(),
            first_three(skipped)
        );
    }
    // A file that reads as UTF-8 under another --encoding would train on mojibake.
    let doubts = source.encoding_doubts()?;
    if let Some((file, doubt)) = doubts.first() {
        let more = match doubts.len() {
            1 => String::new(),
            n => format!("; so do {} more file(s)", n - 1),
        };
        eprintln!(
            "warning: {}: {doubt} (--encoding {}){more}",
            file.display(),
            doubt.likely
        );
    }
    Ok(source)
}

/// A byte progress bar (MB/s and ETA) for a pass over `source`, hidden when quiet.
fn bar(out: &Output, source: &Source, what: &str) -> Option<ProgressBar> {
    if !out.shows_progress() {
        return None;
    }
    let bar = ProgressBar::new(source.total_bytes());
    bar.set_style(
        ProgressStyle::with_template(
            "{msg} {bar:30} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
        )
        .expect("the progress template is valid"),
    );
    bar.set_message(what.to_owned());
    Some(bar)
}

/// Builds a vocabulary from `source`, streaming (one document piece in memory at a time).
pub fn build_vocab(source: &Source, opts: &VocabOptions, out: &Output) -> Result<Vocab> {
    let bar = bar(out, source, "counting characters");
    let mut builder = VocabBuilder::new(opts);
    let mut pieces = source.pieces();
    let mut n = 0u64;
    let mut text = false;
    while let Some(piece) = pieces.next() {
        let piece = piece?;
        text |= !piece.text.is_empty();
        builder.add(&piece.text)?;
        n += 1;
        if n.is_multiple_of(64)
            && let Some(b) = &bar
        {
            b.set_position(pieces.bytes_read());
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if !text {
        bail!(
            "{}: no text to learn from: its {} file(s) hold not one character of text (empty \
             files, a CSV header without rows, or empty fields)",
            source.path().display(),
            source.files().len()
        );
    }
    builder
        .finish()
        .with_context(|| format!("no vocabulary from {}", source.path().display()))
}

/// The vocabulary built from `source` with `opts`, kept in `dir` as `NAME.tokenizer.json` and
/// reused while the source's content and the options are the same. Returns whether it was
/// reused.
pub fn cached_vocab(
    dir: &Path,
    name: &str,
    source: &Source,
    fingerprint: u128,
    opts: &VocabOptions,
    out: &Output,
) -> Result<(Vocab, bool)> {
    let path = dir.join(format!("{name}.tokenizer.json"));
    let key_path = dir.join(format!("{name}.vocab-key"));
    let key = format!(
        "{:032x}",
        store_key(fingerprint, format!("vocab-options {opts:?}").as_bytes())
    );
    if std::fs::read_to_string(&key_path).is_ok_and(|k| k.trim() == key)
        && let Ok(vocab) = Vocab::load(&path)
    {
        return Ok((vocab, true));
    }
    let vocab = build_vocab(source, opts, out)?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // The key last: a vocabulary whose key file is missing or stale is rebuilt.
    let _ = std::fs::remove_file(&key_path);
    vocab.save(&path)?;
    // A temporary name of this process's own: data-parallel ranks write the same key at once.
    charrnn_experiment::write_atomic(&key_path, key.as_bytes())?;
    Ok((vocab, false))
}

/// A store and what was done to get it.
pub struct Built {
    pub store: Store,
    pub status: StoreStatus,
    pub secs: f64,
}

/// Opens the store of `source` encoded with `vocab` at `path`, or builds it (progress bar with
/// MB/s and ETA), counting what the vocabulary covers into `coverage` when it builds.
pub fn store(
    path: &Path,
    source: &Source,
    fingerprint: u128,
    vocab: &Vocab,
    out: &Output,
    mut coverage: Option<&mut Coverage>,
) -> Result<Built> {
    let inputs: Vec<&Path> = source.files().iter().map(|f| f.path.as_path()).collect();
    crate::paths::refuse_input_as_output(path, "the token store", &inputs)?;
    let json = vocab.to_json()?;
    let key = store_key(fingerprint, json.as_bytes());
    let opts = BuildOptions {
        vocab_size: vocab.len(),
        unk_id: Some(vocab.unk_id()),
    };
    let bar = bar(out, source, "encoding");
    let mut encode = |text: &str, ids: &mut Vec<u32>| {
        vocab
            .encode_into(text, Unknown::Replace, ids)
            .map_err(|e| e.to_string())?;
        if let Some(c) = coverage.as_deref_mut() {
            c.add(text, ids, vocab);
        }
        Ok(())
    };
    let started = Instant::now();
    let result = Store::open_or_build(path, key, source, &opts, &mut encode, &mut |bytes| {
        if let Some(b) = &bar {
            b.set_position(bytes);
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    // Its errors name their file: the input at fault, or the store itself.
    let (store, status) = result?;
    Ok(Built {
        store,
        status,
        secs: started.elapsed().as_secs_f64(),
    })
}

/// One line about a store: what it holds and whether it was reused.
pub fn describe(what: &str, built: &Built, source: &Source) -> String {
    let s = &built.store;
    let unk = if s.tokens() == 0 {
        0.0
    } else {
        100.0 * s.unk_count() as f64 / s.tokens() as f64
    };
    let how = match &built.status {
        StoreStatus::Reused => "reused".to_owned(),
        StoreStatus::Built { reason } => format!(
            "built in {:.1} s, {:.0} MB/s ({reason})",
            built.secs,
            // Text read, after decompression and decoding (not the files' bytes).
            s.text_bytes() as f64 / 1e6 / built.secs.max(1e-9)
        ),
    };
    // Known when the store was built now (a reused one does not keep the count).
    let skipped = match s.skipped_rows() {
        Some(n) if n > 0 => format!(" ({n} row(s) with a null or missing text or label skipped)"),
        _ => String::new(),
    };
    format!(
        "{what}: {} documents{skipped}, {} characters ({}) from {} {} file(s){}; <unk> {unk:.3}% of ids; store {} ({how})",
        s.docs(),
        s.chars(),
        size(s.text_bytes()),
        source.files().len(),
        source.format(),
        chosen_encodings(source),
        s.path().display(),
    )
}

/// With `--encoding auto`, what each file was read as: ` read as utf-8 (3), windows-1252 (2:
/// notes/old.txt, notes/older.txt)`, the files named for all but the most common encoding (at
/// most three each). Empty for a named encoding.
fn chosen_encodings(source: &Source) -> String {
    if source.options().encoding != Encoding::Auto {
        return String::new();
    }
    let Ok(chosen) = source.encodings_chosen() else {
        return String::new();
    };
    let mut by: BTreeMap<&str, Vec<&Path>> = BTreeMap::new();
    for (path, encoding) in &chosen {
        by.entry(encoding.name()).or_default().push(path);
    }
    let most = by.values().map(Vec::len).max().unwrap_or(0);
    let mut named_most = false;
    let parts: Vec<String> = by
        .iter()
        .map(|(name, files)| {
            if files.len() == most && !named_most {
                named_most = true;
                return format!("{name} ({})", files.len());
            }
            format!("{name} ({}: {})", files.len(), first_three(files))
        })
        .collect();
    format!(" read as {}", parts.join(", "))
}

/// The first three of `paths` and how many more: `a.txt, b.txt, c.txt and 4 more`.
fn first_three(paths: &[impl AsRef<Path>]) -> String {
    let shown: Vec<String> = paths
        .iter()
        .take(3)
        .map(|p| p.as_ref().display().to_string())
        .collect();
    match paths.len() {
        n if n > 3 => format!("{} and {} more", shown.join(", "), n - 3),
        _ => shown.join(", "),
    }
}

/// A size in bytes for people: `480 B`, `48.0 kB`, `4.8 MB`, `4.8 GB`.
fn size(bytes: u64) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.1} GB", b / 1e9),
    }
}

/// JSON about a store, for `--json` output.
pub fn json(built: &Built) -> serde_json::Value {
    let s = &built.store;
    serde_json::json!({
        "documents": s.docs(), "chars": s.chars(), "bytes": s.text_bytes(), "tokens": s.tokens(),
        "unk": s.unk_count(), "store": s.path(), "reused": built.status == StoreStatus::Reused,
        "encode_secs": built.secs,
    })
}

/// Whether `path` is a CSV file `prepare` converts whole.
pub fn is_csv(path: &Path, text: &TextColumns) -> Result<bool> {
    Ok(match text.format {
        Some(f) => f == Format::Csv,
        None => Format::detect(path)? == Format::Csv,
    })
}

/// How `prepare` reads the CSV file `path`: with its header when `header` (`--header`) says
/// so, else as `train`, `eval` and `vocab build` read it with the same flags (a header, or the
/// AG News layout when the first row has three fields, the first an integer).
pub fn csv_header(path: &Path, text: &TextColumns, header: bool) -> Result<CsvHeader> {
    if header {
        return Ok(CsvHeader::FromFile);
    }
    Ok(CsvHeader::detect(path, &source_options(path, text)?)?)
}

/// The default store directory of a run.
pub fn default_store_dir(out: &Path) -> PathBuf {
    out.join("store")
}
