//! What the `charrnn` commands say to scripts: one [`Event`] per line of `--json` output,
//! tagged by its `event` field. The CLI writes these and the experiment reads them; both use
//! these definitions, so a field cannot be written under one name and read under another.
use std::path::PathBuf;

use charrnn_model::{CheckpointConfig, EvalRecord, StopCause};
use serde::{Deserialize, Serialize};

/// One line of `charrnn --json` output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// `charrnn prepare`: a CSV file became Parquet.
    Prepared(Prepared),
    /// `charrnn vocab build`: a vocabulary was written.
    VocabBuilt(VocabBuilt),
    /// `charrnn vocab show`: a vocabulary's ids and tokens.
    Vocab(VocabInfo),
    /// `charrnn train`: an evaluation during training (a line of `metrics.jsonl`).
    Eval {
        /// The evaluation.
        record: EvalRecord,
    },
    /// `charrnn train`: a sample generated at the end of an epoch.
    Sample(EpochSample),
    /// `charrnn train`: training is over.
    Done(Box<TrainDone>),
    /// `charrnn generate`: one generated sample.
    Generated(GeneratedSample),
    /// `charrnn generate --interactive`: a line of standard input that got no samples.
    Skipped(SkippedLine),
    /// `charrnn eval`: bits per character of a checkpoint on a data file.
    Score(Score),
    /// `charrnn eval --per-text`: one text's score (and, with `--classify`, its class).
    TextScore(TextScore),
    /// `charrnn eval --classify`: how the texts were classified.
    Classification(Classification),
    /// `charrnn generate --stats` (on stderr): how fast generation was.
    Stats(GenerateStats),
    /// `charrnn experiment`: the experiment is over.
    Experiment(ExperimentDone),
    /// `charrnn serve`: the server listens.
    Listening(Listening),
    /// `charrnn info`: what a checkpoint holds.
    Info(Box<ModelInfo>),
}

impl Event {
    /// The event as one JSON line (no newline).
    pub fn to_json(&self) -> serde_json::Result<String> {
        serde_json::to_string(self)
    }

    /// Parses one line of `--json` output.
    pub fn from_json(line: &str) -> serde_json::Result<Event> {
        serde_json::from_str(line)
    }
}

/// `charrnn prepare`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Prepared {
    /// Rows written.
    pub rows: u64,
    /// The Parquet columns, in order.
    pub columns: Vec<String>,
    /// The Parquet file written.
    pub output: PathBuf,
}

/// `charrnn vocab build`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VocabBuilt {
    /// Ids in the vocabulary, specials included.
    pub size: usize,
    /// Input files it was built from.
    pub files: usize,
    /// Their format (`parquet`, `csv`, `jsonl`, `text`).
    pub format: String,
    /// Tokens counted.
    pub chars: u64,
    /// Tokens left out of the vocabulary (they become `<unk>`).
    pub unk_chars: u64,
    /// The tokenizer.json written.
    pub output: PathBuf,
}

/// `charrnn vocab show`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VocabInfo {
    /// Ids in the vocabulary, specials included.
    pub size: usize,
    /// `char` or `word`.
    pub level: String,
    /// Whether text is lowercased before encoding.
    pub lowercase: bool,
    /// Every id with its token and, when recorded, its count in the training texts.
    pub tokens: Vec<TokenInfo>,
}

/// One id of a vocabulary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// The id.
    pub id: u32,
    /// Its token.
    pub token: Option<String>,
    /// How often it occurred in the texts the vocabulary was built from.
    pub count: Option<u64>,
}

/// A sample `charrnn train` generates at the end of an epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochSample {
    /// The epoch just finished (0-based).
    pub epoch: usize,
    /// The sampling temperature.
    pub temperature: f32,
    /// The prompt.
    pub prompt: String,
    /// Prompt and continuation.
    pub text: String,
}

/// The end of `charrnn train`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainDone {
    /// The preset the settings started from.
    pub preset: String,
    /// Optimiser steps done.
    pub steps: u64,
    /// Epochs done, with the fraction of the current one.
    pub epochs: f64,
    /// Why training stopped.
    pub stopped_by: StopCause,
    /// The budget in epochs, if any.
    pub max_epochs: Option<usize>,
    /// The budget in optimiser steps, if any.
    pub max_steps: Option<u64>,
    /// The budget in seconds of training, if any.
    pub max_seconds: Option<f64>,
    /// The best validation bits per character (the `best/` checkpoint's).
    pub best_val_bpc: Option<f64>,
    /// Training bits per character at the last evaluation.
    pub final_train_bpc: Option<f64>,
    /// Validation bits per character at the last evaluation.
    pub final_val_bpc: Option<f64>,
    /// Real training characters per second of training time.
    pub chars_per_sec: f64,
    /// Seconds of training (evaluations and checkpoints not counted).
    pub elapsed_secs: f64,
    /// Training examples.
    pub train_examples: usize,
    /// Validation examples.
    pub valid_examples: usize,
    /// Where the validation examples came from: a file, or a held-out part of the training
    /// rows.
    pub validation: Validation,
    /// Real target characters in the training examples.
    pub train_chars: usize,
    /// Ids in the vocabulary.
    pub vocab_size: usize,
    /// Trainable parameters.
    pub params: usize,
    /// The device trained on.
    pub device: String,
    /// The CPU threads libtorch used (0 where unknown). On the CPU, another thread count
    /// rounds differently, so the same seed repeats a run bit for bit only with the same count.
    #[serde(default)]
    pub threads: usize,
    /// The label names of a label-conditioned model (empty otherwise).
    pub labels: Vec<String>,
    /// The run directory.
    pub run_dir: PathBuf,
    /// The process's peak resident memory, in MiB (0 where unknown).
    pub peak_rss_mib: f64,
    /// Seconds before the first optimizer step: reading, vocabulary, token store, model.
    #[serde(default)]
    pub setup_secs: f64,
    /// What was read for training: documents, characters, the token store and whether it
    /// was reused.
    #[serde(default)]
    pub train_data: Option<serde_json::Value>,
    /// The same for a validation file.
    #[serde(default)]
    pub valid_data: Option<serde_json::Value>,
    /// Where the training time went: waiting for batches, steps, loss read-backs, and
    /// evaluations (seconds).
    #[serde(default)]
    pub phases: Option<charrnn_model::Phases>,
}

/// Where validation examples came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Validation {
    /// A file of their own.
    File {
        /// The file.
        path: PathBuf,
    },
    /// Rows of the training file held out by a seeded shuffle.
    HeldOut {
        /// The fraction of the training rows held out.
        fraction: f64,
        /// The seed of the shuffle.
        seed: u64,
        /// Rows held out.
        rows: usize,
    },
}

/// A line of `charrnn generate --interactive`'s input that got no samples, so that a program
/// waiting for its answer gets one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkippedLine {
    /// The line's number in standard input, from 1.
    pub line: u64,
    /// Why: the error line also written on stderr, without its `error: ` prefix.
    pub message: String,
}

/// One sample of `charrnn generate`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratedSample {
    /// The prompt.
    pub prompt: String,
    /// The sampling temperature (`None`: greedy or a temperature schedule).
    pub temperature: Option<f32>,
    /// The class it was conditioned on, by name.
    pub label: Option<String>,
    /// Prompt and generated text together.
    pub text: String,
    /// Only the generated text.
    pub generated: String,
    /// Why generation stopped.
    pub stop: Stop,
}

/// Why generation of a sample stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Stop {
    /// The model produced `<eos>`.
    Eos,
    /// The text ended with a stop string.
    StopString,
    /// The length limit was reached.
    MaxLen,
}

/// `charrnn eval`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// Mean bits per real target character.
    pub bits_per_char: f64,
    /// The same in nats.
    pub nats_per_char: f64,
    /// Real target characters scored.
    pub chars: usize,
    /// Texts (or windows) scored.
    pub examples: usize,
}

/// `charrnn eval --per-text`: one text of the data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextScore {
    /// The text's index in the data (0-based, in reading order, counting every document read).
    pub text: usize,
    /// Real target characters scored (its characters and `<eos>`).
    pub chars: usize,
    /// Its bits per character: under its own class for a label-conditioned model, or with
    /// `--classify` under the class predicted.
    pub bits_per_char: f64,
    /// Its class in the data, if the data give one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// With `--classify`: the class under which it is likeliest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicted: Option<String>,
    /// With `--classify`: its bits per character under each class, in the classes' order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub class_bits_per_char: Vec<f64>,
    /// The file it is, when each document is a whole plain text file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Its first characters (at most 40, as they are in the data), to tell which text it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
}

/// `charrnn eval --classify`: each text given the class under which the label-conditioned
/// model finds it likeliest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Classification {
    /// The classes, in the model's order.
    pub classes: Vec<String>,
    /// Texts classified.
    pub texts: usize,
    /// How many texts each class was predicted for.
    pub predicted: Vec<usize>,
    /// With the data's own classes: the share predicted right.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f64>,
    /// With the data's own classes: `confusion[true][predicted]` counts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub confusion: Vec<Vec<usize>>,
}

/// `charrnn info`: a checkpoint described.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The checkpoint directory (a run's `best/` or `last/`, or the directory named).
    pub checkpoint: PathBuf,
    /// Scalar parameters of the network.
    pub parameters: usize,
    /// Its `config.json`: shape, training settings, data, latest evaluation, progress.
    pub config: CheckpointConfig,
    /// For a run directory, its history of checkpoints (`checkpoints/step-N/`), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<HistoryEntry>,
}

/// One checkpoint of a run's history, as `charrnn info` lists it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The step it was written at.
    pub step: u64,
    /// Its directory, `RUN/checkpoints/step-NNNNNNN`.
    pub checkpoint: PathBuf,
    /// Validation bits per character, when the run was validated at that step.
    #[serde(default)]
    pub val_bpc: Option<f64>,
}

/// `charrnn generate --stats`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateStats {
    /// Samples generated.
    pub samples: usize,
    /// Characters generated.
    pub chars: usize,
    /// Seconds generating.
    pub elapsed_secs: f64,
    /// Characters per second.
    pub chars_per_sec: f64,
    /// The process's peak resident memory, in MiB (0 where unknown).
    pub peak_rss_mib: f64,
}

/// `charrnn serve` is ready.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Listening {
    /// The address it listens on, `host:port`.
    pub addr: String,
}

/// The end of `charrnn experiment`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExperimentDone {
    /// The report written.
    pub report: PathBuf,
    /// The main run's directory.
    pub run_dir: PathBuf,
    /// Bits per character on the test data, by the checkpoint validation chose.
    pub test_bpc: f64,
    /// Optimiser steps of the main run.
    pub steps: u64,
    /// Seconds of training of the main run.
    pub elapsed_secs: f64,
    /// The device trained on.
    pub device: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_and_round_trip() {
        let events = [
            Event::Generated(GeneratedSample {
                prompt: "Today ".into(),
                temperature: Some(0.8),
                label: Some("Sports".into()),
                text: "Today we win".into(),
                generated: "we win".into(),
                stop: Stop::Eos,
            }),
            Event::Score(Score {
                bits_per_char: 2.5,
                nats_per_char: 1.75,
                chars: 40,
                examples: 2,
            }),
            Event::Eval {
                record: EvalRecord {
                    step: 1,
                    epoch: 0,
                    train_bpc: None,
                    val_bpc: Some(3.0),
                    val_nats: Some(2.0),
                    chars_per_sec: 10.0,
                    elapsed: 0.5,
                    lr: 0.1,
                    best: true,
                    epoch_end: false,
                },
            },
        ];
        for event in events {
            let line = event.to_json().unwrap();
            assert!(!line.contains('\n'), "{line}");
            assert_eq!(Event::from_json(&line).unwrap(), event, "{line}");
        }
        let line = Event::Generated(GeneratedSample {
            prompt: String::new(),
            temperature: None,
            label: None,
            text: "a".into(),
            generated: "a".into(),
            stop: Stop::MaxLen,
        })
        .to_json()
        .unwrap();
        assert!(line.starts_with("{\"event\":\"generated\","), "{line}");
        assert!(line.contains("\"stop\":\"max_len\""), "{line}");
        let held_out = serde_json::to_string(&Validation::HeldOut {
            fraction: 0.05,
            seed: 1,
            rows: 6,
        })
        .unwrap();
        assert_eq!(
            held_out,
            "{\"from\":\"held_out\",\"fraction\":0.05,\"seed\":1,\"rows\":6}"
        );
        assert!(Event::from_json("{\"event\":\"nonsense\"}").is_err());
    }
}
