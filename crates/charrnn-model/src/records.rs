//! The records a training run writes for others to read: where a run stands ([`Progress`]),
//! one line of `metrics.jsonl` per evaluation ([`EvalRecord`]) and what the data were
//! ([`DataSettings`]). Each has this one definition, used by the writer and every reader.
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{ModelError, Result};

/// The file of a run directory that holds one [`EvalRecord`] per line.
pub const METRICS_FILE: &str = "metrics.jsonl";

/// Where a run stands; saved in every checkpoint so that a resume continues exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Optimiser steps done.
    pub step: u64,
    /// The current epoch (0-based).
    pub epoch: usize,
    /// Batches of the current epoch already done.
    pub batch_in_epoch: usize,
    /// Training seconds so far: wall-clock time less evaluations, checkpoints and epoch-end
    /// hooks (budgets count this).
    pub elapsed_secs: f64,
    /// Real target characters trained on so far (by the whole group, in data-parallel
    /// training).
    pub chars_seen: u64,
    /// The best validation (or, without validation data, training) bits per character so far.
    pub best_bpc: Option<f64>,
}

/// One evaluation: a line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Optimiser steps done.
    pub step: u64,
    /// Epoch (0-based) the step belongs to.
    pub epoch: usize,
    /// Mean training bits per character since the previous evaluation (with dropout; `None`
    /// when no step was taken since).
    pub train_bpc: Option<f64>,
    /// Validation bits per character (`None` without validation data).
    pub val_bpc: Option<f64>,
    /// Validation nats per character.
    pub val_nats: Option<f64>,
    /// Real training characters per second since the previous evaluation.
    pub chars_per_sec: f64,
    /// Training seconds so far (evaluations and checkpoints not counted).
    pub elapsed: f64,
    /// The learning rate in use.
    pub lr: f64,
    /// Whether this evaluation is the best so far (and was saved to `best/`).
    pub best: bool,
    /// Whether this evaluation closed an epoch (made at its end; then `epoch` is the next one).
    #[serde(default)]
    pub epoch_end: bool,
}

impl EvalRecord {
    /// The epoch (1-based) this evaluation belongs to: the one that ended, at an epoch's end.
    pub fn epoch_number(&self) -> usize {
        if self.epoch_end {
            self.epoch.max(1)
        } else {
            self.epoch + 1
        }
    }
}

/// What the examples of a run were made of, recorded in every checkpoint's `config.json`
/// (its `data` field) so that `eval` and `generate` can make examples the same way.
///
/// Every field has a default, so that checkpoints written before a field existed (or by
/// callers that recorded something else) still load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataSettings {
    /// The training data file.
    pub train: Option<PathBuf>,
    /// The validation data file (`None`: held out of the training rows).
    pub valid: Option<PathBuf>,
    /// The fraction of training rows held out for validation when there is no `valid` file.
    pub valid_fraction: Option<f64>,
    /// The text columns, joined by a space.
    pub columns: Vec<String>,
    /// Columns whose texts were trained on as examples of their own.
    pub extra_columns: Vec<String>,
    /// The integer label column of a label-conditioned model.
    pub label_column: Option<String>,
    /// The distinct values of the label column, in label-id order.
    pub label_values: Vec<i64>,
    /// The names of the labels, in label-id order.
    pub label_names: Vec<String>,
    /// Whether the label column held text: its values are the names, and a label's id is its
    /// index among the first `label_values.len()` names (otherwise the column held integers).
    pub label_text: bool,
    /// Texts were cut into windows of this many characters.
    pub window: Option<usize>,
    /// The step between windows (`None`: the window).
    pub stride: Option<usize>,
    /// Whether examples start with `<bos>`.
    pub bos: bool,
    /// The preset the training started from.
    pub preset: Option<String>,
    /// The input format (`parquet`, `csv`, `jsonl`, `text`).
    pub format: Option<String>,
    /// What one document of a text input was (`file`, `line`, `paragraph`).
    pub text_unit: Option<String>,
    /// The encoding the text inputs were read in (`utf-8`, `utf-16`, `utf-16le`, `utf-16be`,
    /// `latin-1`, `windows-1252`); `None` (runs from before it was recorded): `utf-8`.
    pub encoding: Option<String>,
    /// The CSV delimiter named for the inputs (`;`, `\t`); `None`: the default (`,`, or a tab
    /// for `.tsv` files).
    pub delimiter: Option<String>,
    /// Whether training carried the state across windows (truncated BPTT).
    pub stateful: bool,
    /// Whether rows with a null text were skipped.
    pub skip_nulls: bool,
    /// The vocabulary's `min_freq`, when it was built from the training data.
    pub min_freq: Option<u64>,
    /// The vocabulary's `max_size`, when it was built from the training data.
    pub max_size: Option<usize>,
}

impl DataSettings {
    /// The settings of examples made with `options` (`<bos>`, windows and stride), the rest
    /// default: what a caller that made its own examples records, so that the `charrnn`
    /// binary's `eval` and `generate` prepare text as training did.
    pub fn of_examples(options: &charrnn_data::ExampleOptions) -> Self {
        DataSettings {
            bos: options.bos.is_some(),
            window: options.window.map(|w| w.num_chars),
            stride: options
                .window
                .filter(|w| w.stride != w.num_chars)
                .map(|w| w.stride),
            ..DataSettings::default()
        }
    }
}

impl Default for DataSettings {
    fn default() -> Self {
        DataSettings {
            train: None,
            valid: None,
            valid_fraction: None,
            columns: Vec::new(),
            extra_columns: Vec::new(),
            label_column: None,
            label_values: Vec::new(),
            label_names: Vec::new(),
            label_text: false,
            window: None,
            stride: None,
            bos: true,
            preset: None,
            format: None,
            text_unit: None,
            encoding: None,
            delimiter: None,
            stateful: false,
            skip_nulls: false,
            min_freq: None,
            max_size: None,
        }
    }
}

/// Reads `null` (what checkpoints without data settings hold) as the default.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Parses `metrics.jsonl` text: one [`EvalRecord`] per non-blank line. `path` names the file
/// in errors, which also give the line number.
pub fn parse_metrics(text: &str, path: &Path) -> Result<Vec<EvalRecord>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, l)| {
            serde_json::from_str(l).map_err(|e| {
                ModelError::checkpoint_caused(
                    path,
                    format!("line {} is not a metrics record", n + 1),
                    e,
                )
            })
        })
        .collect()
}

/// Reads a run's `metrics.jsonl` (see [`parse_metrics`]); a missing file holds no record.
pub fn read_metrics(path: &Path) -> Result<Vec<EvalRecord>> {
    match fs::read_to_string(path) {
        Ok(text) => parse_metrics(&text, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(ModelError::io(path, e)),
    }
}

/// `records` as `metrics.jsonl` text, one JSON object per line.
pub(crate) fn metrics_text(records: &[EvalRecord], path: &Path) -> Result<String> {
    let mut text = String::new();
    for r in records {
        let line =
            serde_json::to_string(r).map_err(|e| ModelError::io(path, std::io::Error::other(e)))?;
        text.push_str(&line);
        text.push('\n');
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_lines_round_trip_and_old_lines_have_no_epoch_end() {
        let record = EvalRecord {
            step: 20,
            epoch: 1,
            train_bpc: Some(3.5),
            val_bpc: None,
            val_nats: None,
            chars_per_sec: 1000.0,
            elapsed: 2.5,
            lr: 1e-3,
            best: true,
            epoch_end: true,
        };
        // The record closed the first epoch (its `epoch` is already the next one).
        assert_eq!(record.epoch_number(), 1);
        let mid_second = EvalRecord {
            epoch_end: false,
            ..record.clone()
        };
        assert_eq!(mid_second.epoch_number(), 2);
        let path = Path::new("metrics.jsonl");
        let text = metrics_text(&[record.clone(), record.clone()], path).unwrap();
        assert_eq!(
            parse_metrics(&text, path).unwrap(),
            [record.clone(), record]
        );
        let old = "{\"step\":10,\"epoch\":0,\"train_bpc\":4.5,\"val_bpc\":4.25,\"val_nats\":2.9,\
                   \"chars_per_sec\":1000.5,\"elapsed\":1.5,\"lr\":0.001,\"best\":true}\n\n";
        let parsed = parse_metrics(old, path).unwrap();
        assert_eq!((parsed[0].step, parsed[0].epoch_end), (10, false));
        let err = parse_metrics("{\"step\":1}\nnot json\n", path).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        assert!(
            read_metrics(Path::new("/nonexistent/metrics.jsonl"))
                .unwrap()
                .is_empty()
        );
    }
}
