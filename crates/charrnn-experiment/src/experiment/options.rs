//! What an experiment is asked for, and what it gives back.
use std::path::PathBuf;

use crate::events::TrainDone;
use crate::presets::Preset;
use crate::sweep::Variant;

/// The prompt of the greedy sample and of the samples printed at each epoch's end.
pub const GREEDY_PROMPT: &str = "Today ";
/// The prompts of the report's temperature samples.
pub const PROMPTS: [&str; 5] = [
    "Today ",
    "On Sunday ",
    "Moscow, ",
    "President ",
    "Little red riding hood ",
];
/// The report's sampling temperatures.
pub const TEMPERATURES: [f64; 5] = [0.3, 0.8, 1.0, 1.3, 1.8];
/// The share of the training titles held out for validation.
pub const VALID_FRACTION: f64 = 0.05;
/// The training data file of a data directory.
pub const TRAIN_FILE: &str = "train.parquet";
/// The test data file of a data directory.
pub const TEST_FILE: &str = "test.parquet";
/// The record of where a data directory's files came from (written by `cargo xtask fetch`).
pub const SOURCE_FILE: &str = "SOURCE.json";

/// Everything an experiment needs.
#[derive(Clone, Debug)]
pub struct Options {
    /// The preset of the main run (and of the sweep's variants).
    pub preset: Preset,
    /// The experiment's name: it goes to `out_root/name/`.
    pub name: String,
    /// The directory holding [`TRAIN_FILE`] and [`TEST_FILE`] (AG News layout: `label`,
    /// `title`, `description`).
    pub data_dir: PathBuf,
    /// Where experiments go.
    pub out_root: PathBuf,
    /// Steps of each run (replaces the preset's budget).
    pub max_steps: Option<u64>,
    /// Seconds of training (replaces the preset's budget); with a sweep, the total shared
    /// evenly by all runs.
    pub time_budget: Option<f64>,
    /// `Some` runs a sweep of these variants.
    pub sweep: Option<Vec<Variant>>,
    /// `auto`, `cpu`, `cuda` or `cuda:N` (`None`: the CLI's default).
    pub device: Option<String>,
    /// CPU threads for libtorch (`None`: libtorch's default).
    pub threads: Option<usize>,
    /// Condition the model on the AG News class.
    pub labels: bool,
    /// Seed of training, of the validation split and of sampling.
    pub seed: u64,
    /// The share of the training titles held out for validation.
    pub valid_fraction: f64,
    /// More `charrnn train` flags (a sweep variant's flags replace the same ones).
    pub train_args: Vec<String>,
    /// Prompts of the temperature samples.
    pub prompts: Vec<String>,
    /// Temperatures of the samples.
    pub temperatures: Vec<f64>,
    /// Samples per prompt and temperature.
    pub samples_per_prompt: usize,
    /// Characters generated at most per sample.
    pub max_len: usize,
    /// Print no progress.
    pub quiet: bool,
    /// Replace an earlier experiment of the same name (otherwise it is refused).
    pub overwrite: bool,
}

impl Options {
    /// The defaults for `preset`, reading `data_dir` and writing under `out_root`.
    pub fn new(preset: Preset, data_dir: impl Into<PathBuf>, out_root: impl Into<PathBuf>) -> Self {
        Self {
            preset,
            name: preset.name().into(),
            data_dir: data_dir.into(),
            out_root: out_root.into(),
            max_steps: None,
            time_budget: None,
            sweep: None,
            device: None,
            threads: None,
            labels: preset.labels_by_default(),
            seed: 1,
            valid_fraction: VALID_FRACTION,
            train_args: Vec::new(),
            prompts: PROMPTS.iter().map(|p| (*p).to_owned()).collect(),
            temperatures: TEMPERATURES.to_vec(),
            samples_per_prompt: 4,
            max_len: 300,
            quiet: false,
            overwrite: false,
        }
    }
}

/// What an experiment produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The report.
    pub report: PathBuf,
    /// The main run's directory.
    pub run_dir: PathBuf,
    /// Bits per character on the test titles, by the checkpoint validation chose.
    pub test_bpc: f64,
    /// The end of the main run's training.
    pub train: TrainDone,
}
