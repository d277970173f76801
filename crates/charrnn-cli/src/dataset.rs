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
