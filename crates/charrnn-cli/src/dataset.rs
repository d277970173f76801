//! From text records to the examples a model trains or is scored on.

use std::path::Path;

use anyhow::{Context, Result, bail};
use charrnn_data::{
    Example, ExampleOptions, NullPolicy, ReadOptions, TextRecord, make_examples, read_texts,
};
use charrnn_model::DataSettings;
use charrnn_vocab::{Level, Unknown, Vocab};

use crate::flags::TextColumns;

/// Reads the text (and label) columns of a Parquet file.
pub fn read_records(path: &Path, text: &TextColumns) -> Result<Vec<TextRecord>> {
    let opts = ReadOptions {
        text_columns: text.columns.clone(),
        label_column: text.label_column.clone(),
        nulls: if text.skip_nulls {
            NullPolicy::Skip
        } else {
            NullPolicy::Fail
        },
        ..ReadOptions::text(&text.columns[0])
    };
    Ok(read_texts(path, &opts)?)
}

/// The class names of AG News, whose label column holds 1 to 4.
const AG_NEWS_CLASSES: [&str; 4] = ["World", "Sports", "Business", "Sci/Tech"];

/// The label classes of a run: the distinct values of the label column, in order.
#[derive(Default)]
pub struct Labels {
    pub values: Vec<i64>,
    pub names: Vec<String>,
}

impl Labels {
    pub fn of(records: &[TextRecord], column: Option<&str>) -> Result<Labels> {
        let Some(column) = column else {
            return Ok(Labels::default());
        };
        let mut values: Vec<i64> = records.iter().filter_map(|r| r.label).collect();
        values.sort_unstable();
        values.dedup();
        if values.is_empty() {
            bail!("the label column {column:?} holds no values");
        }
        let names = if values == [1, 2, 3, 4] {
            AG_NEWS_CLASSES.iter().map(|s| s.to_string()).collect()
        } else {
            values.iter().map(|v| v.to_string()).collect()
        };
        Ok(Labels { values, names })
    }

    /// The classes recorded in a checkpoint's data settings (`label_values`), if any.
    pub fn saved(settings: &DataSettings, names: &[String]) -> Labels {
        Labels {
            values: settings.label_values.clone(),
            names: names.to_vec(),
        }
    }

    pub fn is_some(&self) -> bool {
        !self.values.is_empty()
    }

    fn index(&self, value: Option<i64>) -> Result<Option<u32>> {
        if !self.is_some() {
            return Ok(None);
        }
        let value = value.context("a row has no label")?;
        match self.values.binary_search(&value) {
            Ok(i) => Ok(Some(i as u32)),
            Err(_) => bail!(
                "label {value} was not seen in the training data (known: {:?})",
                self.values
            ),
        }
    }
}

pub fn examples(
    records: &[TextRecord],
    vocab: &Vocab,
    labels: &Labels,
    opts: &ExampleOptions,
    what: &str,
) -> Result<Vec<Example>> {
    examples_with_coverage(records, vocab, labels, opts, what).map(|(e, _)| e)
}

/// How much of some text the vocabulary covers: characters (tokens) encoded, how many of them
/// became `<unk>`, and a few of the characters that did.
#[derive(Debug, Default)]
pub struct Coverage {
    pub total: usize,
    pub unknown: usize,
    pub examples: std::collections::BTreeSet<char>,
}

impl Coverage {
    /// The share of unknown tokens, in [0, 1].
    pub fn share(&self) -> f64 {
        self.unknown as f64 / self.total.max(1) as f64
    }

    /// Counts one text and its encoding.
    pub fn add(&mut self, text: &str, ids: &[u32], vocab: &Vocab) {
        let unk = vocab.unk_id();
        let unknown = ids.iter().filter(|&&id| id == unk).count();
        self.total += ids.len();
        self.unknown += unknown;
        if unknown > 0 && self.examples.len() < 8 && vocab.level() == Level::Char {
            let mut buf = [0u8; 4];
            for c in text.chars() {
                if self.examples.len() >= 8 {
                    break;
                }
                if vocab
                    .encode(c.encode_utf8(&mut buf), Unknown::Error)
                    .is_err()
                {
                    self.examples.insert(c);
                }
            }
        }
    }

    /// Over 1 % unknown: a warning on stderr, or with `strict` an error. `what` names the text.
    pub fn check(&self, what: &str, strict: bool) -> Result<()> {
        if self.share() <= 0.01 {
            return Ok(());
        }
        let chars: Vec<String> = self.examples.iter().map(|c| format!("{c:?}")).collect();
        let text = format!(
            "{:.1} % of the characters of {what} ({} of {}) are outside the vocabulary{}",
            100.0 * self.share(),
            self.unknown,
            self.total,
            if chars.is_empty() {
                String::new()
            } else {
                format!(" ({})", chars.join(", "))
            }
        );
        if strict {
            bail!("--strict: {text}");
        }
        eprintln!("warning: {text}; they count as <unk> (--strict refuses such input)");
        Ok(())
    }
}

/// [`examples`], with how much of the text the vocabulary covers.
pub fn examples_with_coverage(
    records: &[TextRecord],
    vocab: &Vocab,
    labels: &Labels,
    opts: &ExampleOptions,
    what: &str,
) -> Result<(Vec<Example>, Coverage)> {
    let mut out = Vec::with_capacity(records.len());
    let mut coverage = Coverage::default();
    let mut ids = Vec::new();
    for (row, record) in records.iter().enumerate() {
        ids.clear();
        vocab.encode_into(&record.text, Unknown::Replace, &mut ids)?;
        coverage.add(&record.text, &ids, vocab);
        let label = labels
            .index(record.label)
            .with_context(|| format!("{what} row {row}"))?;
        make_examples(&ids, label, opts, &mut out);
    }
    Ok((out, coverage))
}

pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(format!("{:x}", hasher.finalize()))
}
