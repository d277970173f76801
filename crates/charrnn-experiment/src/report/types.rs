//! What the report shows, as plain records the experiment collects.
use charrnn_model::EvalRecord;

use crate::events::{Classification, GeneratedSample, Score, TrainDone};
use crate::stats::SampleStats;

/// The report's file name.
pub const REPORT_FILE: &str = "report.md";
/// The loss curves of the main run, against steps.
pub const CURVES_FILE: &str = "bpc.svg";
/// The validation curves of every sweep run, against steps.
pub const SWEEP_CURVES_FILE: &str = "sweep.svg";
/// The validation curves of every sweep run, against seconds of training.
pub const SWEEP_TIME_CURVES_FILE: &str = "sweep-time.svg";

/// A group of samples drawn the same way, with its statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleGroup {
    /// How they were drawn: `greedy`, `T = 0.8`, `World, T = 0.8`.
    pub title: String,
    /// The samples.
    pub samples: Vec<GeneratedSample>,
    /// Their statistics.
    pub stats: SampleStats,
}

/// One run of the sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepRow {
    /// The variant's name.
    pub name: String,
    /// The flags that make this run differ from the preset.
    pub flags: String,
    /// The run directory, relative to the report.
    pub run_dir: String,
    /// `Err(message)` when the run failed (the sweep goes on).
    pub outcome: Result<SweepResult, String>,
}

/// What a sweep run gave.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepResult {
    /// The end of its training.
    pub train: TrainDone,
    /// Bits per character on the test titles (comparable across runs, whatever the run
    /// trained on).
    pub test_bpc: f64,
    /// Its evaluations.
    pub metrics: Vec<EvalRecord>,
}

/// Sizes of the data, from the Parquet files, `vocab show` and the fetch record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataStats {
    /// The training file.
    pub train_file: String,
    /// The test file.
    pub test_file: String,
    /// Rows of the training file (validation rows included).
    pub train_rows: u64,
    /// Rows of the test file.
    pub test_rows: u64,
    /// Ids in the vocabulary.
    pub vocab_size: usize,
    /// `char` or `word`.
    pub vocab_level: String,
    /// Distinct words in the training titles (what the "known words" statistic checks
    /// against).
    pub title_words: usize,
    /// What fetching the data warned about (e.g. a mirror's partial train split).
    pub notes: Vec<String>,
}

/// Everything the report shows.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The experiment's name.
    pub name: String,
    /// The preset of the main run.
    pub preset: String,
    /// Settings as (name, value), in order.
    pub settings: Vec<(String, String)>,
    /// Command lines that were run, for reproduction.
    pub commands: Vec<String>,
    /// The data.
    pub data: DataStats,
    /// The end of the main run's training.
    pub train: TrainDone,
    /// The main run's evaluations.
    pub metrics: Vec<EvalRecord>,
    /// The main run's best checkpoint on the test titles.
    pub test: Score,
    /// A label-conditioned main run's classification of the test titles by likelihood.
    pub classification: Option<Classification>,
    /// The samples, by group.
    pub samples: Vec<SampleGroup>,
    /// Why there are no per-class samples (when there are none).
    pub class_note: Option<String>,
    /// `None` without a sweep.
    pub sweep: Option<Vec<SweepRow>>,
    /// The sweep's whole time budget, shared by its runs.
    pub sweep_budget_secs: Option<f64>,
    /// The main run's directory, relative to the report.
    pub run_dir: String,
}
