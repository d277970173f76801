//! The training configuration: budgets, batch order, optimiser and schedule, evaluation and
//! logging intervals. Saved in every checkpoint, so that a resume continues with it.
use std::fmt;
use std::str::FromStr;

use charrnn_data::Order;
use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};
use crate::optim::{LrSchedule, OptimizerConfig};
use crate::precision::Precision;

/// The order of the training examples within an epoch (see `charrnn_data::Order`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum BatchOrder {
    /// The examples' own order.
    Sequential,
    /// A seeded shuffle per epoch.
    Shuffled,
    /// A seeded shuffle, then batches of similar lengths inside windows of `window_batches`
    /// batches (less padding, hence faster), batches shuffled.
    Bucketed {
        /// Batches per sorting window.
        window_batches: usize,
    },
}

impl From<BatchOrder> for Order {
    fn from(o: BatchOrder) -> Order {
        match o {
            BatchOrder::Sequential => Order::Sequential,
            BatchOrder::Shuffled => Order::Shuffled,
            BatchOrder::Bucketed { window_batches } => Order::Bucketed { window_batches },
        }
    }
}

/// Everything about a training run except the model's shape and the data.
///
/// # Budgets
///
/// [`epochs`](TrainConfig::epochs), [`max_steps`](TrainConfig::max_steps) and
/// [`max_seconds`](TrainConfig::max_seconds) are budgets: every one that is set applies, and
/// training stops at the first one reached (at least one must be set). The default sets
/// `epochs: Some(10)`, so `TrainConfig { max_steps: Some(200), ..TrainConfig::default() }`
/// still stops after 10 epochs when they come first. For a budget of steps alone, clear the
/// others, or start from [`TrainConfig::for_steps`] (or [`TrainConfig::for_epochs`]):
///
/// ```
/// use charrnn_model::TrainConfig;
///
/// let config = TrainConfig { batch_size: 16, ..TrainConfig::for_steps(200) };
/// assert_eq!((config.max_steps, config.epochs, config.max_seconds), (Some(200), None, None));
/// let same = TrainConfig { max_steps: Some(200), epochs: None, ..TrainConfig::default() };
/// assert_eq!(same.max_steps, config.max_steps);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    /// The optimiser (default Adam).
    pub optimizer: OptimizerConfig,
    /// The initial learning rate.
    pub learning_rate: f64,
    /// How the learning rate moves.
    pub lr_schedule: LrSchedule,
    /// Clip the global gradient L2 norm to this (computed on the device; `None`: no clipping).
    pub clip_grad_norm: Option<f64>,
    /// Decoupled weight decay, as `torch.optim.AdamW` applies it: before each update every
    /// parameter is multiplied by `1 − lr · weight_decay` (0: none; with any optimiser).
    pub weight_decay: f64,
    /// Stop after this many epochs (default 10; `None`: no budget of epochs). Like every
    /// budget, it applies together with the others: the first reached stops training.
    pub epochs: Option<usize>,
    /// Stop after this many optimiser steps (counted over the whole run, resumes included;
    /// default `None`). The default's 10 epochs still apply unless `epochs` is `None`.
    pub max_steps: Option<u64>,
    /// Stop once this much wall-clock training time has passed (resumes included; default
    /// `None`). The other budgets that are set still apply.
    pub max_seconds: Option<f64>,
    /// Examples per training batch.
    pub batch_size: usize,
    /// Examples per evaluation batch.
    pub eval_batch_size: usize,
    /// Batch order.
    pub order: BatchOrder,
    /// Seed of the data order and of dropout (reseeded every step from `(seed, step)`).
    pub seed: u64,
    /// Evaluate and checkpoint every this many steps, besides at epoch ends (see
    /// [`TrainConfig::epoch_eval_min_steps`]).
    pub eval_every: Option<u64>,
    /// An epoch end evaluates, checkpoints and calls [`Observer::on_epoch_end`](crate::Observer::on_epoch_end)
    /// only when at least this many steps were taken since the last evaluation (default 50;
    /// 0 or 1: every epoch end). Epochs of a few batches (a small text) then do not write the
    /// model and print samples every few steps; long epochs (AG News's 186 steps at batch 64)
    /// end with an evaluation as before. The run's last step is always evaluated.
    pub epoch_eval_min_steps: u64,
    /// Keep a history of checkpoints: every this many steps (of the whole run, resumes
    /// included), also write the model as `checkpoints/step-NNNNNNN/` of the run directory
    /// (the step, 7 digits zero-padded; the weights validation uses, no optimiser state),
    /// recording the latest evaluation. At least 1; `None` (the default, and what older
    /// checkpoints' configurations load as): no history.
    pub checkpoint_every: Option<usize>,
    /// With [`TrainConfig::checkpoint_every`]: keep only this many of the newest history
    /// checkpoints, deleting older ones as new ones are written; 0 keeps them all (default 5,
    /// also for older checkpoints' configurations).
    pub keep_checkpoints: usize,
    /// Read the loss back from the device (and call `Observer::on_step`) every this many steps.
    pub log_every: u64,
    /// CPU threads for libtorch (0: libtorch's default).
    pub threads: usize,
    /// Stateful training (truncated backpropagation through time) over windows of this many
    /// positions: the training examples are laid end to end and cut into `batch_size` parallel
    /// streams (`charrnn_data::Streams`), and the recurrent state is carried, detached, from
    /// one window of a stream to the next; it starts from zeros at every epoch (and resume).
    /// `None`: every example starts from zeros (the per-text mode), ordered by `order`.
    pub stateful: Option<usize>,
    /// Stop with [`ModelError::Diverged`] when the mean training (or validation) loss exceeds
    /// this many times `ln(vocab_size)`, the loss of a uniform guess (char-rnn stops at 3x its
    /// first loss). `None`: no bound (a NaN or infinite loss still stops training).
    pub divergence_factor: Option<f64>,
    /// Early stopping: stop once this many evaluations in a row have not lowered the best
    /// validation bits per character (the `best/` checkpoint keeps the best model). Needs
    /// validation data. `None`: never.
    pub patience: Option<usize>,
    /// The arithmetic of the forward pass: float32, or mixed precision with bfloat16 and loss
    /// scaling ([`Precision::Bf16`]).
    pub precision: Precision,
    /// Weight averaging: keep an exponential moving average of the parameters with this decay
    /// per step, in (0, 1) (e.g. 0.999; ramped up over the first steps), and validate, keep as
    /// `best/` and hand over at the end the averaged weights. `last/` keeps the trained
    /// weights, with the average among the optimiser's state, so that a resume is exact.
    /// `None`: no averaging.
    pub ema: Option<f64>,
    /// Fine-tuning: the checkpoint the weights started from, as its user named it (recorded,
    /// not read: the caller loads the model; a resume keeps it).
    pub init_from: Option<String>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            optimizer: OptimizerConfig::adam(),
            learning_rate: 2e-3,
            lr_schedule: LrSchedule::Constant,
            clip_grad_norm: Some(5.0),
            weight_decay: 0.0,
            epochs: Some(10),
            max_steps: None,
            max_seconds: None,
            batch_size: 64,
            eval_batch_size: 256,
            order: BatchOrder::Bucketed { window_batches: 50 },
            seed: 42,
            eval_every: None,
            epoch_eval_min_steps: DEFAULT_EPOCH_EVAL_MIN_STEPS,
            checkpoint_every: None,
            keep_checkpoints: DEFAULT_KEEP_CHECKPOINTS,
            log_every: 50,
            threads: 0,
            stateful: None,
            divergence_factor: Some(3.0),
            patience: None,
            precision: Precision::Fp32,
            ema: None,
            init_from: None,
        }
    }
}

impl TrainConfig {
    /// The default configuration with one budget: `steps` optimiser steps, and no budget of
    /// epochs or seconds (see [Budgets](TrainConfig#budgets)).
    pub fn for_steps(steps: u64) -> Self {
        TrainConfig {
            epochs: None,
            max_steps: Some(steps),
            max_seconds: None,
            ..TrainConfig::default()
        }
    }

    /// The default configuration with one budget: `epochs` epochs, and no budget of steps or
    /// seconds (see [Budgets](TrainConfig#budgets)).
    pub fn for_epochs(epochs: usize) -> Self {
        TrainConfig {
            epochs: Some(epochs),
            max_steps: None,
            max_seconds: None,
            ..TrainConfig::default()
        }
    }

    /// Checks that the configuration can run.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(ModelError::InvalidTrainConfig(m.to_owned()));
        self.optimizer.validate()?;
        self.lr_schedule.validate()?;
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return bad("learning_rate must be finite and positive");
        }
        if self
            .clip_grad_norm
            .is_some_and(|c| !(c.is_finite() && c > 0.0))
        {
            return bad("clip_grad_norm must be finite and positive");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay must be finite and at least 0");
        }
        if self.epochs.is_none() && self.max_steps.is_none() && self.max_seconds.is_none() {
            return bad("no budget: set epochs, max_steps or max_seconds");
        }
        if self.epochs == Some(0) || self.max_steps == Some(0) {
            return bad("epochs and max_steps must be at least 1");
        }
        if self.patience == Some(0) {
            return bad("patience must be at least 1");
        }
        if self
            .divergence_factor
            .is_some_and(|f| !(f.is_finite() && f > 1.0))
        {
            return bad("divergence_factor must be finite and above 1");
        }
        if self
            .max_seconds
            .is_some_and(|s| !(s.is_finite() && s > 0.0))
        {
            return bad("max_seconds must be finite and positive");
        }
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            return bad("batch sizes must be at least 1");
        }
        if self.log_every == 0 || self.eval_every == Some(0) {
            return bad("log_every and eval_every must be at least 1");
        }
        if self.checkpoint_every == Some(0) {
            return bad("checkpoint_every must be at least 1 (None: no history of checkpoints)");
        }
        if self.stateful == Some(0) {
            return bad("the stateful window must be at least 1");
        }
        if self.ema.is_some_and(|d| !(d > 0.0 && d < 1.0)) {
            return bad("the weight average's decay (ema) must be inside (0, 1)");
        }
        Ok(())
    }
}

/// The fewest steps since the last evaluation for an epoch end to evaluate, by default
/// ([`TrainConfig::epoch_eval_min_steps`]).
pub const DEFAULT_EPOCH_EVAL_MIN_STEPS: u64 = 50;

/// How many history checkpoints a run keeps by default ([`TrainConfig::keep_checkpoints`]).
pub const DEFAULT_KEEP_CHECKPOINTS: usize = 5;

/// The sorting window of `bucketed` when it is parsed from text.
pub const DEFAULT_WINDOW_BATCHES: usize = 50;

impl fmt::Display for BatchOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchOrder::Sequential => f.write_str("sequential"),
            BatchOrder::Shuffled => f.write_str("shuffled"),
            BatchOrder::Bucketed { window_batches }
                if *window_batches == DEFAULT_WINDOW_BATCHES =>
            {
                f.write_str("bucketed")
            }
            BatchOrder::Bucketed { window_batches } => write!(f, "bucketed:{window_batches}"),
        }
    }
}

impl FromStr for BatchOrder {
    type Err = ModelError;

    /// Parses `sequential`, `shuffled`, `bucketed` (windows of [`DEFAULT_WINDOW_BATCHES`]
    /// batches) or `bucketed:N`, in any case.
    fn from_str(s: &str) -> Result<Self> {
        let lower = s.to_ascii_lowercase();
        let bad = || {
            ModelError::InvalidTrainConfig(format!(
                "unknown batch order {s:?}: expected sequential, shuffled, bucketed or bucketed:N"
            ))
        };
        match lower.split_once(':') {
            None => match lower.as_str() {
                "sequential" => Ok(BatchOrder::Sequential),
                "shuffled" => Ok(BatchOrder::Shuffled),
                "bucketed" => Ok(BatchOrder::Bucketed {
                    window_batches: DEFAULT_WINDOW_BATCHES,
                }),
                _ => Err(bad()),
            },
            Some(("bucketed", n)) => match n.parse::<usize>() {
                Ok(window_batches) if window_batches > 0 => {
                    Ok(BatchOrder::Bucketed { window_batches })
                }
                _ => Err(bad()),
            },
            Some(_) => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model_config::{DEFAULT_EMBED_DIM, InputMode};

    #[test]
    fn names_parse_and_print_back() {
        for order in ["sequential", "shuffled", "bucketed", "bucketed:8"] {
            let parsed: BatchOrder = order.parse().unwrap();
            assert_eq!(parsed.to_string(), order);
        }
        assert_eq!(
            "Bucketed".parse::<BatchOrder>().unwrap(),
            BatchOrder::Bucketed {
                window_batches: DEFAULT_WINDOW_BATCHES
            }
        );
        for bad in ["", "random", "bucketed:0", "bucketed:x", "shuffled:2"] {
            let err = bad.parse::<BatchOrder>().unwrap_err().to_string();
            assert!(err.contains("expected sequential"), "{bad}: {err}");
        }
        for input in ["onehot", "embedding", "embedding:16"] {
            assert_eq!(input.parse::<InputMode>().unwrap().to_string(), input);
        }
        assert_eq!(
            "embedding".parse::<InputMode>().unwrap(),
            InputMode::Embedding {
                dim: DEFAULT_EMBED_DIM
            }
        );
        assert!("embedding:0".parse::<InputMode>().is_err());
        assert!("dense".parse::<InputMode>().is_err());
        for name in ["adam", "rmsprop", "sgd"] {
            let optimizer: OptimizerConfig = name.parse().unwrap();
            assert_eq!(optimizer.to_string(), name);
            optimizer.validate().unwrap();
        }
        assert_eq!(
            "RMSprop".parse::<OptimizerConfig>().unwrap(),
            OptimizerConfig::rmsprop()
        );
        assert!("lbfgs".parse::<OptimizerConfig>().is_err());
    }
}
