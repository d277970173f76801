//! The label classes of a run, and how much of some text a vocabulary covers.

use anyhow::{Result, bail};
use charrnn_data::Store;
use charrnn_model::DataSettings;
use charrnn_vocab::{Level, Unknown, Vocab};

/// The class names of AG News, whose label column holds 1 to 4.
const AG_NEWS_CLASSES: [&str; 4] = ["World", "Sports", "Business", "Sci/Tech"];

/// The label classes of a run: the distinct values of the label column, in order.
#[derive(Default)]
pub struct Labels {
    pub values: Vec<i64>,
    pub names: Vec<String>,
}

impl Labels {
    /// The distinct labels of a store's documents (none without a label column), named by
    /// `names` (a text label column's values, by id) when given.
    pub fn of_store(
        store: &Store,
        column: Option<&str>,
        names: Option<&[String]>,
    ) -> Result<Labels> {
        let Some(column) = column else {
            return Ok(Labels::default());
        };
        let mut values: Vec<i64> = (0..store.docs()).filter_map(|d| store.label(d)).collect();
        values.sort_unstable();
        values.dedup();
        if values.is_empty() {
            bail!("the label column {column:?} holds no values");
        }
        let names = if let Some(names) = names {
            values
                .iter()
                .map(|&v| {
                    usize::try_from(v)
                        .ok()
                        .and_then(|i| names.get(i))
                        .cloned()
                        .unwrap_or_else(|| v.to_string())
                })
                .collect()
        } else if values == [1, 2, 3, 4] {
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

    /// What to warn of when the label `column` of `docs` documents looks like no label: more
    /// than [`MANY_CLASSES`] classes with fewer than [`FEW_PER_CLASS`] documents each on
    /// average (a year, an id or a score column: each value becomes a class the model must
    /// be told).
    pub fn doubtful(&self, column: &str, docs: usize) -> Option<String> {
        let classes = self.values.len();
        (classes > MANY_CLASSES && docs < classes * FEW_PER_CLASS).then(|| {
            format!(
                "--label-column {column}: {classes} classes from {docs} documents ({:.1} a \
                 class): is it a label? Each value is a class the model is conditioned on",
                docs as f64 / classes as f64
            )
        })
    }
}

/// More classes than this in a label column, few documents each, are warned of.
const MANY_CLASSES: usize = 100;

/// Fewer documents than this per class, on average, with many classes, are warned of.
const FEW_PER_CLASS: usize = 10;

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

    /// The counts of a token store's text (without the characters: the store keeps ids).
    pub fn of_store(store: &Store) -> Coverage {
        Coverage {
            total: store.tokens() as usize,
            unknown: store.unk_count() as usize,
            ..Coverage::default()
        }
    }

    /// Over 1 % unknown: what to tell the user, `what` naming the text.
    pub fn outside(&self, what: &str) -> Option<String> {
        if self.share() <= 0.01 {
            return None;
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
        Some(text)
    }

    /// Over 1 % unknown: a warning on stderr, or with `strict` an error. `what` names the text.
    pub fn check(&self, what: &str, strict: bool) -> Result<()> {
        let Some(text) = self.outside(what) else {
            return Ok(());
        };
        if strict {
            bail!("--strict: {text}");
        }
        eprintln!("warning: {text}; they count as <unk> (--strict refuses such input)");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_classes_of_few_documents_are_doubted() {
        let labels = |n: i64| Labels {
            values: (0..n).collect(),
            names: Vec::new(),
        };
        // 297 years from 1,000 rows: doubted, naming the column and the counts.
        let doubt = labels(297).doubtful("year", 1000).unwrap();
        assert!(
            doubt.starts_with("--label-column year: 297 classes from 1000 documents (3.4 a class)"),
            "{doubt}"
        );
        // Four classes, or many classes of many documents each, are labels.
        assert_eq!(labels(4).doubtful("label", 12), None);
        assert_eq!(labels(297).doubtful("author", 29_700), None);
        assert_eq!(labels(100).doubtful("x", 100), None);
    }
}
