//! Character-level recurrent language models on libtorch (through `tch`): the only crate of
//! charrnn that knows tensors.
//!
//! # What this crate knows
//!
//! - **The network** ([`CharRnn`], [`ModelConfig`]): a learned embedding or a one-hot input,
//!   optionally concatenated at every step with a learned label embedding (conditioning on a
//!   class, e.g. an AG News topic), a stack of LSTM, GRU or tanh-RNN layers run by libtorch's
//!   fused whole-sequence kernels (cuDNN on CUDA), dropout between layers and before the output,
//!   and a linear layer to logits. The recurrent [`State`] can be carried between calls.
//! - **The loss** ([`evaluate`], [`Eval`]): cross-entropy summed over real target characters
//!   (padding `0` ignored, `<eos>` counted) divided by their number, in nats and bits per
//!   character.
//! - **Training** ([`Trainer`], [`TrainConfig`]): Adam, RMSprop or SGD written over one flat
//!   parameter buffer (a fixed handful of kernels per step, whatever the number of tensors),
//!   learning-rate schedules, gradient-norm clipping on the device, budgets in epochs, steps
//!   and seconds (every one set applies; the first reached stops), shuffled or length-bucketed batches, evaluation every N steps and at each
//!   epoch end, `best/` and `last/` checkpoints, `metrics.jsonl`, a history of checkpoints
//!   every N steps (`checkpoints/step-NNNNNNN/`, the newest few kept; [`checkpoint_history`]
//!   lists them), exact resume, a stop with a clear error on a NaN loss, a stop on Ctrl-C
//!   ([`Trainer::interrupt_on`]), and an [`Observer`] for progress bars and samples (at epoch
//!   ends and validations).
//!   The loss is read back from the device only every `log_every` steps. Stateful training
//!   (`TrainConfig::stateful`) carries the recurrent state across consecutive windows of
//!   parallel streams (truncated backpropagation through time). Decoupled weight decay
//!   (`TrainConfig::weight_decay`, AdamW's order) applies with any optimiser. Early stopping
//!   (`TrainConfig::patience`) ends a run once validation stops improving, and
//!   [`TrainSummary::phases`] says where the time went ([`Phases`]). Mixed precision
//!   ([`Precision::Bf16`]) runs the forward pass under autocast with dynamic loss scaling.
//! - **Data-parallel training** ([`ProcessGroup`], [`Rendezvous`], [`Trainer::join_group`]):
//!   process groups on PyTorch's own c10d (a `TCPStore`, all-reduce over Gloo) through a small
//!   C++ shim built when Gloo's headers are installed; each rank trains on its slice of every
//!   batch and one all-reduce of the flat gradient buffer keeps the ranks in step.
//! - **Checkpoints** ([`Checkpoint`]): a directory with `model.safetensors`, `config.json`,
//!   `tokenizer.json` and (when training) `optimizer.safetensors`, written whole and renamed
//!   into place; loading checks that the parts agree and says what does not.
//! - **Generation** ([`generate`], [`GenerateOptions`]): incremental (state carried, linear cost),
//!   batched, with every strategy of `charrnn-sampling`, stop at `<eos>`, stop strings or a
//!   length, and a streaming callback. Ids are drawn on the host, or on the model's device
//!   ([`SampleOn`]; the default on CUDA) with the same filters as tensor ops and the host
//!   sampler's own random streams, the ids copied back once per block of steps.
//! - **Devices** ([`parse_device`]): `auto`, `cpu`, `cuda`, `cuda:N`, with a clear error when
//!   CUDA is asked for and absent.
//!
//! # What it does not know
//!
//! Files of text, CSV or Parquet, how examples are cut from texts (it takes any
//! `charrnn_data::Examples`: `Example`s built by the caller, normally with `<bos>` in front, or
//! examples read in place from a memory-mapped token store), how a
//! vocabulary is built (it takes a `charrnn_vocab::Vocab`), what the sampling strategies mean
//! (`charrnn-sampling` defines them, draws on the host and hands out its random numbers to the
//! device sampler here), and command lines, progress bars or plots.
//!
//! # Using this crate in your own project
//!
//! - **libtorch 2.11.0, exactly** (what tch 0.24 binds): `export LIBTORCH=/path/to/libtorch`
//!   (a directory with `lib/` and `include/`: an unzipped libtorch, or the `torch` directory
//!   of a Python `site-packages` with `torch==2.11.0`), or `export LIBTORCH_USE_PYTORCH=1` to
//!   use the torch of the active `python3`. `tch` itself is re-exported as
//!   `charrnn_model::tch`, so you need not depend on it.
//! - **A `build.rs` in each package of yours that depends on this crate and has binaries,
//!   tests or examples.** This crate's build script computes the link arguments that give an
//!   executable a RUNPATH to libtorch's `lib/` and keep `libtorch_cuda` linked (the linker
//!   would drop it, nothing naming its symbols, and CUDA would then be invisible). Cargo
//!   applies them to this package's own targets only and hands them to direct dependents as
//!   `DEP_CHARRNN_TORCH_LINK_ARGS`; re-emit them (as the `charrnn` binary's package does):
//!
//! ```ignore
//! // build.rs, beside the Cargo.toml that depends on charrnn-model
//! fn main() {
//!     println!("cargo:rerun-if-env-changed=DEP_CHARRNN_TORCH_LINK_ARGS");
//!     if let Ok(args) = std::env::var("DEP_CHARRNN_TORCH_LINK_ARGS") {
//!         for arg in args.split('\t').filter(|a| !a.is_empty()) {
//!             println!("cargo:rustc-link-arg={arg}");
//!         }
//!     }
//! }
//! ```
//!
//! Without it your binaries build but stop at start (`libtorch_cpu.so: cannot open shared
//! object file`) unless `LD_LIBRARY_PATH` names libtorch's `lib/`, and even then a CUDA
//! libtorch's GPUs stay unseen.
//!
//! # Example
//!
//! Training stops at the first budget reached: the default's 10 epochs would come long before
//! 200 steps on two titles, so the example clears them ([`TrainConfig::for_steps`] says the
//! same).
//!
//! ```no_run
//! use charrnn_data::{ExampleOptions, make_examples};
//! use charrnn_model::{
//!     Checkpoint, CharRnn, DataSettings, GenerateOptions, ModelConfig, TrainConfig, TrainData,
//!     Trainer, generate, parse_device,
//! };
//! use charrnn_sampling::SamplingConfig;
//! use charrnn_vocab::{Unknown, Vocab, VocabOptions};
//!
//! let titles = ["Stocks rally as oil falls", "Team wins the cup final"];
//! let vocab = Vocab::build(titles, &VocabOptions::default())?;
//! let opts = ExampleOptions { eos: vocab.eos_id(), bos: Some(vocab.bos_id()), window: None };
//! let mut examples = Vec::new();
//! for t in titles {
//!     make_examples(&vocab.encode(t, Unknown::Error)?, None, &opts, &mut examples);
//! }
//!
//! let device = parse_device("auto")?;
//! let model = CharRnn::new(&ModelConfig::new(vocab.len()), device, 42)?;
//! let config = TrainConfig { max_steps: Some(200), epochs: None, ..TrainConfig::default() };
//! let mut trainer = Trainer::new(model, config, "runs/demo")?;
//! // Recorded in the checkpoints: how the examples were made (`<bos>`, windows).
//! let settings = DataSettings::of_examples(&opts);
//! let data = TrainData::new(&examples, &examples, &vocab).with_settings(&settings);
//! let summary = trainer.fit(&data, &mut ())?;
//! println!("validation bits/char: {:?}", summary.last.val_bpc);
//!
//! let best = Checkpoint::load("runs/demo".as_ref(), device)?; // prefers runs/demo/best
//! let options = GenerateOptions { sampling: SamplingConfig::greedy(), ..Default::default() };
//! for sample in generate(&best.model, &best.vocab, &["Stocks", "Team"], &options)? {
//!     println!("{}", sample.text);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

pub use tch;

mod batcher;
mod checkpoint;
mod data_parallel;
mod device;
mod device_sampling;
mod dist;
mod error;
mod eval;
mod generate;
mod host_memory;
mod loss_window;
mod model_config;
mod network;
mod observer;
mod optim;
mod precision;
mod records;
mod run_dir;
#[cfg(any(charrnn_c10d, charrnn_autocast))]
mod shim;
mod train;
mod train_config;
mod train_save;

pub use batcher::{Batcher, RowEvent, RowRequest};
pub use checkpoint::{CHECKPOINT_FORMAT, Checkpoint, CheckpointConfig, resolve};
pub use device::{cpu_threads, device_name, parse_device, set_cpu_threads};
pub use device_sampling::SampleOn;
pub use dist::{ProcessGroup, Rendezvous};
pub use error::{ModelError, Result};
pub use eval::{Eval, evaluate, evaluate_each};
pub use generate::{GenerateOptions, Generated, generate, generate_streaming};
pub use host_memory::{HostMemory, tune_host_memory};
pub use model_config::{Cell, DEFAULT_EMBED_DIM, InputMode, MAX_PARAMETERS, ModelConfig};
pub use network::{CharRnn, State};
pub use observer::{EpochEnd, Observer, StepInfo};
pub use optim::{LrSchedule, OptimizerConfig};
pub use precision::Precision;
pub use records::{DataSettings, EvalRecord, METRICS_FILE, Progress, parse_metrics, read_metrics};
pub use run_dir::{
    CHECKPOINTS_DIR, HistoryCheckpoint, Leftover, checkpoint_history, clean_run_dir,
    foreign_run_entries, history_name, run_holds_model,
};
pub use train::{Phases, StopCause, TrainData, TrainSummary, Trainer};
pub use train_config::{
    BatchOrder, DEFAULT_EPOCH_EVAL_MIN_STEPS, DEFAULT_KEEP_CHECKPOINTS, DEFAULT_WINDOW_BATCHES,
    TrainConfig,
};

#[cfg(test)]
mod smoke;
#[cfg(test)]
mod stateful_tests;
