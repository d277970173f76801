//! From text records to the examples a model trains or is scored on.

use std::path::Path;

use anyhow::{Context, Result, bail};
use charrnn_data::{
    Example, ExampleOptions, NullPolicy, ReadOptions, TextRecord, make_examples, read_texts,
};
use charrnn_model::DataSettings;
use charrnn_vocab::{Unknown, Vocab};

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
    let mut out = Vec::with_capacity(records.len());
    let mut ids = Vec::new();
    for (row, record) in records.iter().enumerate() {
        ids.clear();
        vocab.encode_into(&record.text, Unknown::Replace, &mut ids)?;
        let label = labels
            .index(record.label)
            .with_context(|| format!("{what} row {row}"))?;
        make_examples(&ids, label, opts, &mut out);
    }
    Ok(out)
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
