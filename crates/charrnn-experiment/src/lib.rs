//! The charrnn experiment, as a library: what `charrnn experiment` (and `cargo xtask
//! experiment`, through it) runs.
//!
//! # What this crate knows
//!
//! - **Presets** ([`Preset`], [`Recipe`]): the named training recipes `charrnn train
//!   --preset` starts from. The default one is budgeted in optimizer steps, so that its result
//!   does not depend on the machine's speed.
//! - **The experiment** ([`run_experiment`], [`Options`]): vocabulary of the training titles →
//!   training with a preset, validating on a seeded held-out part of the training titles →
//!   bits per character on the test titles, once, by the checkpoint validation chose →
//!   samples (greedy, several temperatures, per class for label-conditioned models) → an
//!   optional sweep of model variants ([`Variant`]) sharing one time budget.
//! - **Sample statistics** ([`sample_stats`], [`TrainingCorpus`]): known words, distinct-n,
//!   copies of training titles and loops.
//! - **The report** ([`write_report`], [`Report`]): Markdown with SVG loss curves.
//! - **The CLI's output records** ([`Event`]): one definition of every `--json` line, used by
//!   the CLI to write them and by the experiment to read them.
//!
//! # What it does not know
//!
//! How a command is carried out: the experiment asks a [`Runner`] to run `charrnn` command
//! lines and reads back their [`Event`]s. The `charrnn` binary runs them in its own process;
//! tests answer with canned events. It does not download data either (`cargo xtask fetch`
//! does): it reads `train.parquet` and `test.parquet` from a data directory.
//!
//! # Example
//!
//! ```no_run
//! use charrnn_experiment::{BoxError, Event, Options, Preset, Runner, run_experiment};
//!
//! /// Runs each command by some means and returns its events.
//! struct MyRunner;
//!
//! impl Runner for MyRunner {
//!     fn run(&mut self, args: &[String]) -> Result<Vec<Event>, BoxError> {
//!         Err(format!("cannot run charrnn {}", args.join(" ")).into())
//!     }
//!     fn describe(&self) -> String {
//!         "my runner".into()
//!     }
//! }
//!
//! let mut opts = Options::new(Preset::Default, "data/ag_news", "experiments");
//! opts.max_steps = Some(100);
//! let outcome = run_experiment(&opts, &mut MyRunner)?;
//! println!("test bpc {:.4}, report {}", outcome.test_bpc, outcome.report.display());
//! # Ok::<(), charrnn_experiment::ExperimentError>(())
//! ```
#![warn(
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod error;
mod events;
mod experiment;
mod presets;
mod report;
mod runner;
mod stats;
mod sweep;

pub use error::{BoxError, ExperimentError, Result};
pub use events::{
    Classification, EpochSample, Event, ExperimentDone, GenerateStats, GeneratedSample,
    HistoryEntry, Listening, ModelInfo, Prepared, Score, SkippedLine, Stop, TextScore, TokenInfo,
    TrainDone, Validation, VocabBuilt, VocabInfo,
};
pub use experiment::{
    CLASS_TEMPERATURE, GREEDY_PROMPT, Options, Outcome, PROMPTS, SOURCE_FILE, TEMPERATURES,
    TEST_FILE, TRAIN_FILE, VALID_FRACTION, data_notes, run_experiment,
};
pub use presets::{
    DEFAULT_PRESET_STEPS, GPU_PRESET_EMA, GPU_PRESET_EPOCHS, GPU_PRESET_PATIENCE, Preset, Recipe,
    UnknownPreset,
};
pub use report::{
    CURVES_FILE, Curve, DataStats, REPORT_FILE, Report, SWEEP_CURVES_FILE, SWEEP_TIME_CURVES_FILE,
    SampleGroup, SweepResult, SweepRow, bpc_curves, plot_svg, render_markdown, write_atomic,
    write_report,
};
pub use runner::{Runner, command_line, shell_quote};
pub use stats::{
    LOOP_MIN_CHARS, LOOP_MIN_REPEATS, SampleStats, SampleText, TrainingCorpus, distinct_n, is_loop,
    sample_stats, words,
};
pub use sweep::{
    Budget, DEFAULT_SWEEP_BUDGET_SECS, Variant, default_variants, override_flags, split_budget,
};
