//! Training: the loop, its budgets (epochs, steps, seconds), evaluation, checkpoints, exact
//! resume, and the observer hooks a front end turns into a progress bar and samples.
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use charrnn_data::{Batch, Examples, Streams, plan_epoch};
use charrnn_vocab::Vocab;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use crate::checkpoint::{load_optimizer, read_config};
use crate::data_parallel;
use crate::device::set_cpu_threads;
use crate::dist::ProcessGroup;
use crate::error::{ModelError, Result};
use crate::eval::{DeviceBatch, check_examples, loss_sum};
use crate::loss_window::Window;
use crate::model_config::ModelConfig;
use crate::network::CharRnn;
use crate::network::State;
use crate::observer::{EpochEnd, Observer, StepInfo};
use crate::optim::Optimizer;
use crate::precision::LossScaler;
use crate::records::{DataSettings, EvalRecord, METRICS_FILE, Progress, read_metrics};
use crate::run_dir::{clean_run_dir, run_holds_model};
use crate::train_config::TrainConfig;

/// The data of a run, and what to record about it in checkpoints.
#[derive(Clone, Copy)]
pub struct TrainData<'a> {
    /// Training examples: a `Vec<charrnn_data::Example>`, or examples read in place from a
    /// token store (`charrnn_data::StoreExamples`). Batches are collated on a separate thread,
    /// ahead of the step that uses them.
    pub train: &'a (dyn Examples + Sync),
    /// Validation examples (may be empty: the best checkpoint then follows the training loss).
    pub valid: &'a dyn Examples,
    /// The vocabulary the examples were encoded with (saved as tokenizer.json).
    pub vocab: &'a Vocab,
    /// Data settings to record in config.json.
    pub settings: &'a DataSettings,
    /// Data file checksums to record in config.json.
    pub checksums: &'a BTreeMap<String, String>,
}

/// The settings [`TrainData::new`] records: the defaults.
static DEFAULT_SETTINGS: std::sync::LazyLock<DataSettings> =
    std::sync::LazyLock::new(DataSettings::default);

/// The checksums [`TrainData::new`] records: none.
static NO_CHECKSUMS: BTreeMap<String, String> = BTreeMap::new();

impl<'a> TrainData<'a> {
    /// Training and validation examples encoded with `vocab`, recording the default data
    /// settings and no checksums. The settings are bookkeeping for `config.json`, except that
    /// the `charrnn` binary's `eval` and `generate` read their `<bos>` and window to prepare
    /// text as training did: examples made otherwise than the defaults (`<bos>` first, whole
    /// texts) want [`TrainData::with_settings`] and [`DataSettings::of_examples`].
    pub fn new(
        train: &'a (dyn Examples + Sync),
        valid: &'a dyn Examples,
        vocab: &'a Vocab,
    ) -> Self {
        TrainData {
            train,
            valid,
            vocab,
            settings: &DEFAULT_SETTINGS,
            checksums: &NO_CHECKSUMS,
        }
    }

    /// The same data, recording `settings` in the checkpoints.
    pub fn with_settings(self, settings: &'a DataSettings) -> Self {
        TrainData { settings, ..self }
    }
}

impl std::fmt::Debug for TrainData<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainData")
            .field("train", &self.train.len())
            .field("valid", &self.valid.len())
            .field("vocab", &self.vocab.len())
            .field("settings", &self.settings)
            .field("checksums", &self.checksums)
            .finish()
    }
}

/// An epoch's batches: a plan of example indices, or windows of parallel streams.
enum EpochPlan<'a> {
    Batches(Vec<Vec<usize>>),
    Streams(&'a Streams),
}

impl EpochPlan<'_> {
    fn len(&self) -> usize {
        match self {
            EpochPlan::Batches(b) => b.len(),
            EpochPlan::Streams(s) => s.batches(),
        }
    }

    /// Global batch `i`, or with `(rank, world)` this rank's slice of it.
    fn batch(&self, examples: &dyn Examples, i: usize, part: Option<(usize, usize)>) -> Batch {
        match (self, part) {
            (EpochPlan::Batches(b), None) => examples.collate(&b[i]),
            (EpochPlan::Batches(b), Some((rank, world))) => {
                examples.collate(&b[i][data_parallel::slice(b[i].len(), rank, world)])
            }
            (EpochPlan::Streams(s), None) => s.collate(examples, i),
            (EpochPlan::Streams(s), Some((rank, world))) => {
                s.collate_streams(examples, i, data_parallel::slice(s.streams(), rank, world))
            }
        }
    }
}

/// Why training stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopCause {
    /// `epochs` epochs were done.
    Epochs,
    /// `max_steps` steps were done.
    Steps,
    /// `max_seconds` passed.
    Time,
    /// `patience` evaluations in a row did not improve the validation loss (early stopping).
    Patience,
    /// The flag given to [`Trainer::interrupt_on`] was raised (e.g. by Ctrl-C).
    Interrupted,
}

impl StopCause {
    /// Why the run stopped, in words.
    pub fn describe(self) -> &'static str {
        match self {
            StopCause::Epochs => "its epochs are done",
            StopCause::Steps => "its steps are done",
            StopCause::Time => "its time is up",
            StopCause::Patience => "validation stopped improving (early stopping)",
            StopCause::Interrupted => "it was interrupted",
        }
    }
}

/// The outcome of [`Trainer::fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct TrainSummary {
    /// Where the run stands now.
    pub progress: Progress,
    /// The last evaluation.
    pub last: EvalRecord,
    /// Why it stopped.
    pub stopped_by: StopCause,
    /// Training losses read back during this call, as (step, mean nats per char since the
    /// previous read-back): one per `log_every` steps.
    pub losses: Vec<(u64, f64)>,
    /// Where this call's time went.
    pub phases: Phases,
}

/// Where a [`Trainer::fit`] call's wall-clock time went, in seconds, measured on the host.
///
/// On CUDA the host only queues the device's work, so `steps` is the time to queue it and
/// `readback` includes waiting for the device to finish what was queued; `data_wait` is time
/// the loop spent waiting for the next batch, which the collating thread should keep near 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Phases {
    /// Waiting for the next collated batch.
    pub data_wait: f64,
    /// Forward, backward and update of every step (copies of the batch to the device included).
    pub steps: f64,
    /// Reading the training loss back every `log_every` steps.
    pub readback: f64,
    /// Evaluations, checkpoints and epoch-end hooks (outside the training clock).
    pub eval: f64,
}

/// Trains a [`CharRnn`], writing `best/`, `last/` and `metrics.jsonl` into a run directory,
/// and with [`TrainConfig::checkpoint_every`] a history of checkpoints, `checkpoints/step-N/`.
#[derive(Debug)]
pub struct Trainer {
    pub(crate) model: CharRnn,
    pub(crate) config: TrainConfig,
    pub(crate) optimizer: Optimizer,
    pub(crate) progress: Progress,
    pub(crate) run_dir: PathBuf,
    pub(crate) metrics: Vec<EvalRecord>,
    /// Stateful training: the state at the end of the previous window.
    carried: Option<State>,
    /// Stateful training, tests only: (state in, state out) of every step.
    #[cfg(test)]
    pub(crate) trace: Vec<(Option<State>, State)>,
    /// Resumed from the run directory, or allowed to replace the model it holds.
    may_replace: bool,
    /// Data-parallel training: this process's group ([`Trainer::join_group`]).
    pub(crate) group: Option<ProcessGroup>,
    /// Mixed precision ([`TrainConfig::precision`]): the loss scale.
    scaler: Option<LossScaler>,
    /// Raised to stop at the next step ([`Trainer::interrupt_on`]).
    interrupt: Option<Arc<AtomicBool>>,
    /// A new run (step 0) that has saved nothing yet: its first save deletes the history of
    /// checkpoints a previous run left in the directory.
    pub(crate) unsaved: bool,
    /// The step of the history checkpoint written last, so that each is written once.
    pub(crate) history_saved: Option<u64>,
}

/// Evaluations since the one with the lowest validation bits per character (0 when the last
/// one is the best, or when none has a validation score).
fn evaluations_since_best(metrics: &[EvalRecord]) -> usize {
    let mut best: Option<(usize, f64)> = None;
    for (i, r) in metrics.iter().enumerate() {
        if let Some(v) = r.val_bpc
            && best.is_none_or(|(_, b)| v < b)
        {
            best = Some((i, v));
        }
    }
    best.map_or(0, |(i, _)| metrics.len() - 1 - i)
}

/// Batches collated ahead of the step that trains on them.
const PREFETCH: usize = 2;

/// Dropout's seed for `step`: a SplitMix64 mix of the run seed and the step.
fn step_seed(seed: u64, step: u64) -> i64 {
    let mut z = seed ^ step.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

/// Refuses a run directory that is a file, or that a file stands in the way of (a file where
/// a directory above it should be), naming the file.
fn refuse_file_in_the_way(run_dir: &Path) -> Result<()> {
    let Some(file) = run_dir
        .ancestors()
        .filter(|p| !p.as_os_str().is_empty())
        .find(|p| p.exists())
        .filter(|p| !p.is_dir())
    else {
        return Ok(());
    };
    let problem = if file == run_dir {
        "the run directory is a file, not a directory".to_owned()
    } else {
        format!(
            "a file stands where a directory above the run directory {} should be",
            run_dir.display()
        )
    };
    Err(ModelError::io(
        file,
        std::io::Error::new(std::io::ErrorKind::NotADirectory, problem),
    ))
}

/// What [`Trainer::train_step`] refuses in a batch made by its caller (the batches of
/// [`Trainer::fit`] come from checked examples): buffers that do not match the batch's shape,
/// ids outside the vocabulary, a label missing or outside the model's classes.
fn check_batch(batch: &Batch, config: &ModelConfig) -> Result<()> {
    let bad = |m: String| Err(ModelError::InvalidInput(m));
    let cells = batch.batch_size.checked_mul(batch.seq_len);
    if cells != Some(batch.input.len()) || cells != Some(batch.target.len()) {
        return bad(format!(
            "a batch of {} rows of {} positions has {} input and {} target ids",
            batch.batch_size,
            batch.seq_len,
            batch.input.len(),
            batch.target.len()
        ));
    }
    if batch.lengths.len() != batch.batch_size {
        return bad(format!(
            "a batch of {} rows has {} lengths",
            batch.batch_size,
            batch.lengths.len()
        ));
    }
    let vocab = config.vocab_size;
    let outside = |ids: &[i64], bound: usize| {
        ids.iter()
            .position(|&id| usize::try_from(id).map_or(true, |id| id >= bound))
    };
    for (what, ids) in [("input", &batch.input), ("target", &batch.target)] {
        if let Some(at) = outside(ids, vocab) {
            return bad(format!(
                "{what} id {} (row {}, position {}) is outside the vocabulary (0..{vocab})",
                ids[at],
                at / batch.seq_len.max(1),
                at % batch.seq_len.max(1)
            ));
        }
    }
    match (config.num_labels, &batch.labels) {
        (Some(n), Some(labels)) => {
            if labels.len() != batch.batch_size {
                return bad(format!(
                    "a batch of {} rows has {} labels",
                    batch.batch_size,
                    labels.len()
                ));
            }
            if let Some(row) = outside(labels, n) {
                return bad(format!(
                    "label {} (row {row}) is outside the model's classes (0..{n})",
                    labels[row]
                ));
            }
        }
        (Some(n), None) if batch.batch_size > 0 => {
            return bad(format!(
                "the model is conditioned on a label (0..{n}) but the batch has none"
            ));
        }
        _ => {}
    }
    Ok(())
}

impl Trainer {
    /// A new run of `model` into `run_dir` (created if needed). A directory that already
    /// holds a trained model ([`run_holds_model`]) is refused by [`Trainer::fit`] unless
    /// [`Trainer::overwrite`] allows replacing it.
    ///
    /// # Errors
    /// [`ModelError::InvalidTrainConfig`] for a configuration that cannot run;
    /// [`ModelError::Io`] when `run_dir`, or a directory above it, is a file.
    pub fn new(model: CharRnn, config: TrainConfig, run_dir: impl Into<PathBuf>) -> Result<Self> {
        config.validate()?;
        let run_dir = run_dir.into();
        refuse_file_in_the_way(&run_dir)?;
        let optimizer =
            Optimizer::new(&config.optimizer, &model)?.with_average(&model, config.ema)?;
        let scaler = match config.precision.is_mixed() {
            true => {
                // Refuses a device, a build or a CPU without it now, not at the first step.
                crate::precision::check_runs(config.precision, &model)?;
                Some(LossScaler::new(model.device())?)
            }
            false => None,
        };
        Ok(Trainer {
            model,
            config,
            optimizer,
            progress: Progress::default(),
            run_dir,
            metrics: Vec::new(),
            carried: None,
            #[cfg(test)]
            trace: Vec::new(),
            may_replace: false,
            group: None,
            scaler,
            interrupt: None,
            unsaved: false,
            history_saved: None,
        })
    }

    /// Stops training at the next step once `flag` is raised (a Ctrl-C handler raises it), as
    /// a spent budget would: the run is evaluated, `last/` (and `best/`, when better) written,
    /// and [`Trainer::fit`] returns with [`StopCause::Interrupted`], so a resume continues
    /// from that step. A new run replacing a trained model ([`Trainer::overwrite`]) that has
    /// saved nothing yet saves nothing: [`ModelError::InterruptedUnsaved`], the old model kept.
    /// Not for data-parallel groups: their ranks must stop at the same step.
    pub fn interrupt_on(mut self, flag: Arc<AtomicBool>) -> Self {
        self.interrupt = Some(flag);
        self
    }

    /// Allows this new run to replace the `best/`, `last/` and `metrics.jsonl` of a run
    /// directory that already holds a model (they are replaced as training writes new ones),
    /// and its history of checkpoints (`checkpoints/`, deleted when the new run first saves).
    pub fn overwrite(mut self, allow: bool) -> Self {
        self.may_replace |= allow;
        self
    }

    /// Continues the run in `run_dir` from its `last/` checkpoint (weights, optimizer state,
    /// step, epoch and position in the epoch), on `device`. `config` replaces the saved training
    /// configuration (e.g. a larger `max_steps`); it must keep the same optimiser.
    pub fn resume(run_dir: &Path, device: Device, config: Option<TrainConfig>) -> Result<Self> {
        clean_run_dir(run_dir)?;
        let last = run_dir.join("last");
        let saved = read_config(&last)?;
        let model = crate::Checkpoint::load(&last, device)?.model;
        let config = match (config, saved.training.clone()) {
            // Where the weights first came from stays recorded.
            (Some(c), Some(s)) if c.init_from.is_none() => TrainConfig {
                init_from: s.init_from,
                ..c
            },
            (Some(c), _) => c,
            (None, Some(c)) => c,
            (None, None) => {
                return Err(ModelError::checkpoint(
                    &last,
                    "no training configuration recorded: cannot resume",
                ));
            }
        };
        let progress = saved.progress.clone().ok_or_else(|| {
            ModelError::checkpoint(&last, "no training progress recorded: cannot resume")
        })?;
        if saved.training.as_ref().map(|t| &t.optimizer) != Some(&config.optimizer) {
            return Err(ModelError::InvalidTrainConfig(
                "a resumed run must keep its optimizer and its hyper-parameters".into(),
            ));
        }
        if saved.training.as_ref().map(|t| t.ema.is_some()) != Some(config.ema.is_some()) {
            return Err(ModelError::InvalidTrainConfig(
                "a resumed run must keep weight averaging (ema) on or off, as it was".into(),
            ));
        }
        let mut trainer = Trainer::new(model, config, run_dir)?;
        load_optimizer(
            &last,
            &saved,
            &trainer.model,
            &mut trainer.optimizer,
            progress.step,
        )?;
        trainer.progress = progress;
        trainer.metrics = read_metrics(&run_dir.join(METRICS_FILE))?;
        trainer.may_replace = true;
        Ok(trainer)
    }

    /// The model being trained.
    pub fn model(&self) -> &CharRnn {
        &self.model
    }

    /// The model, giving up the trainer: with weight averaging ([`TrainConfig::ema`]), the
    /// averaged weights (as validated and kept in `best/`); [`Trainer::model`] has the trained
    /// ones.
    pub fn into_model(mut self) -> Result<CharRnn> {
        self.optimizer.swap_average(&self.model)?;
        Ok(self.model)
    }

    /// Where the run stands.
    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// The training configuration.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Every evaluation of the run so far (as in `metrics.jsonl`).
    pub fn metrics(&self) -> &[EvalRecord] {
        &self.metrics
    }

    fn fraction_done(&self, batches_per_epoch: usize) -> f64 {
        let p = &self.progress;
        let mut f: f64 = 0.0;
        if let Some(m) = self.config.max_steps {
            f = f.max(p.step as f64 / m.max(1) as f64);
        }
        if let Some(e) = self.config.epochs {
            let within = p.batch_in_epoch as f64 / batches_per_epoch.max(1) as f64;
            f = f.max((p.epoch as f64 + within) / e.max(1) as f64);
        }
        if let Some(s) = self.config.max_seconds {
            f = f.max(p.elapsed_secs / s);
        }
        f.min(1.0)
    }

    fn lr(&self, batches_per_epoch: usize) -> f64 {
        self.config.lr_schedule.rate(
            self.config.learning_rate,
            self.progress.epoch,
            self.fraction_done(batches_per_epoch),
        )
    }

    /// Whether the run should stop before its next step: a spent budget, or an interrupt
    /// after at least one step of this run.
    fn should_stop(&self, first_step: u64) -> Option<StopCause> {
        let interrupted = self
            .interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed));
        if interrupted && self.progress.step > first_step {
            return Some(StopCause::Interrupted);
        }
        self.budget_spent()
    }

    fn budget_spent(&self) -> Option<StopCause> {
        let p = &self.progress;
        if self.config.max_steps.is_some_and(|m| p.step >= m) {
            Some(StopCause::Steps)
        } else if self.config.epochs.is_some_and(|e| p.epoch >= e) {
            Some(StopCause::Epochs)
        } else if self.config.max_seconds.is_some_and(|s| p.elapsed_secs >= s) {
            Some(StopCause::Time)
        } else if self
            .config
            .patience
            .is_some_and(|n| evaluations_since_best(&self.metrics) >= n)
        {
            Some(StopCause::Patience)
        } else {
            None
        }
    }

    /// Trains until a budget runs out. Evaluates (and writes `last/`, `best/` when better, and
    /// `metrics.jsonl`) every `eval_every` steps, at every epoch end `epoch_eval_min_steps` or
    /// more steps after the last evaluation, and at the end. Every
    /// `checkpoint_every` steps it writes a history checkpoint (after the evaluation of that
    /// step, if there is one, which it records), keeping the newest `keep_checkpoints`.
    ///
    /// The loss stays on the device and is read back every `log_every` steps; a NaN or
    /// infinite loss then stops training with [`ModelError::NonFiniteLoss`], before anything
    /// else is written. With the same seed, a CPU run gives the same losses every time, and a
    /// run resumed from `last/` gives the losses the uninterrupted run would have.
    pub fn fit(
        &mut self,
        data: &TrainData<'_>,
        observer: &mut dyn Observer,
    ) -> Result<TrainSummary> {
        self.config.validate()?;
        set_cpu_threads(self.config.threads);
        if data.train.is_empty() {
            return Err(ModelError::InvalidInput("no training examples".into()));
        }
        if data.vocab.len() != self.model.config().vocab_size {
            return Err(ModelError::InvalidInput(format!(
                "the vocabulary has {} ids but the model was built for {}",
                data.vocab.len(),
                self.model.config().vocab_size
            )));
        }
        check_examples(self.model.config(), data.train, "training")?;
        check_examples(self.model.config(), data.valid, "validation")?;
        if self.config.patience.is_some() && data.valid.is_empty() {
            return Err(ModelError::InvalidTrainConfig(
                "early stopping (patience) needs validation data".into(),
            ));
        }
        if !self.may_replace && run_holds_model(&self.run_dir) {
            return Err(ModelError::RunExists(self.run_dir.clone()));
        }
        if let Some(cause) = self.budget_spent() {
            return Err(ModelError::InvalidTrainConfig(format!(
                "the budget is already spent ({} steps done, epoch {}: {}): nothing to train, \
                 nothing written; give a larger budget to train on",
                self.progress.step,
                self.progress.epoch,
                cause.describe()
            )));
        }
        // A new run over a trained model (--overwrite): an interrupt before it saved anything
        // keeps that model rather than replace it with a few steps' worth.
        let replacing = self.progress.step == 0 && self.writes() && run_holds_model(&self.run_dir);
        // A new run starts a history of its own, when it first saves.
        self.unsaved = self.progress.step == 0 && self.writes();
        if self.writes() {
            refuse_file_in_the_way(&self.run_dir)?;
            fs::create_dir_all(&self.run_dir).map_err(|e| ModelError::io(&self.run_dir, e))?;
            clean_run_dir(&self.run_dir)?;
        }

        let device = self.model.device();
        let bs = self.config.batch_size;
        let (lengths, streams) = match self.config.stateful {
            None => (data.train.lengths(), None),
            Some(window) => (Vec::new(), Some(Streams::new(data.train, bs, window))),
        };
        let batches_per_epoch = streams
            .as_ref()
            .map_or(data.train.len().div_ceil(bs), Streams::batches);
        self.carried = None;

        let mut window = Window::new(device)?;
        let mut log = Window::new(device)?;
        // `chars_seen` when `log` last restarted: its characters, the group's in a group.
        let mut log_seen = self.progress.chars_seen;
        let mut losses = Vec::new();
        let mut phases = Phases::default();
        // The training clock: wall time minus evaluations, checkpoints and epoch-end hooks, so
        // that budgets and `elapsed` measure training alone however often one validates.
        let clock = Instant::now();
        let mut paused = 0.0;
        let base_elapsed = self.progress.elapsed_secs;
        let first_step = self.progress.step;
        let stopped_by = 'run: loop {
            let plan = match &streams {
                Some(s) => EpochPlan::Streams(s),
                None => EpochPlan::Batches(plan_epoch(
                    &lengths,
                    bs,
                    self.config.order.into(),
                    self.config.seed,
                    self.progress.epoch as u64,
                )),
            };
            let part = self.group.as_ref().map(|g| (g.rank(), g.world()));
            let first = self.progress.batch_in_epoch;
            let stopped = std::thread::scope(|scope| -> Result<Option<StopCause>> {
                // The epoch's batches are collated on their own thread, PREFETCH ahead of the
                // step, so the device does not wait on the host between steps.
                let (ready, batches) = std::sync::mpsc::sync_channel::<Batch>(PREFETCH);
                let plan = &plan;
                let train = data.train;
                scope.spawn(move || {
                    for i in first..plan.len() {
                        if ready.send(plan.batch(train, i, part)).is_err() {
                            break; // the step loop stopped early
                        }
                    }
                });
                while self.progress.batch_in_epoch < plan.len() {
                    if let Some(cause) = self.should_stop(first_step) {
                        return Ok(Some(cause));
                    }
                    let lr = self.lr(batches_per_epoch);
                    let waited = Instant::now();
                    let batch = batches.recv().map_err(|_| {
                        ModelError::InvalidInput("the batch-collating thread stopped".into())
                    })?;
                    phases.data_wait += waited.elapsed().as_secs_f64();
                    let stepped = Instant::now();
                    let (sum, real) = if streams.is_some() {
                        let carried = self.carried.take();
                        let (sum, real, state) = self.step_on(&batch, lr, carried.as_ref())?;
                        #[cfg(test)]
                        self.trace.push((carried, state.detach()));
                        self.carried = Some(state);
                        (sum, real)
                    } else {
                        let (sum, real, _) = self.step_on(&batch, lr, None)?;
                        (sum, real)
                    };
                    window.add(&sum, real)?;
                    log.add(&sum, real)?;
                    phases.steps += stepped.elapsed().as_secs_f64();
                    self.progress.batch_in_epoch += 1;
                    self.progress.elapsed_secs =
                        base_elapsed + clock.elapsed().as_secs_f64() - paused;

                    if self.progress.step.is_multiple_of(self.config.log_every) {
                        let read = Instant::now();
                        let (nats, chars, secs) = log.take()?;
                        phases.readback += read.elapsed().as_secs_f64();
                        let seen = self.progress.chars_seen - log_seen;
                        log_seen = self.progress.chars_seen;
                        let loss = nats / chars.max(1) as f64;
                        self.check_finite("training loss", loss)?;
                        losses.push((self.progress.step, loss));
                        observer.on_step(&StepInfo {
                            step: self.progress.step,
                            epoch: self.progress.epoch,
                            loss,
                            chars_per_sec: seen as f64 / secs.max(1e-9),
                            fraction_done: self.fraction_done(batches_per_epoch),
                            lr,
                        });
                    }
                    if self
                        .config
                        .eval_every
                        .is_some_and(|n| self.progress.step.is_multiple_of(n))
                    {
                        let pause = Instant::now();
                        let record = self.evaluate_and_save(data, &mut window, lr, false)?;
                        observer.on_eval(&record);
                        // Inside the epoch (its end has hooks of its own): the weights just
                        // validated, the average if any.
                        if self.progress.batch_in_epoch < plan.len() {
                            let epoch = self.progress.epoch;
                            self.show_validated(epoch, data.vocab, &record, |at| {
                                observer.on_validation(at);
                            })?;
                        }
                        log.restart();
                        log_seen = self.progress.chars_seen;
                        window.restart();
                        paused += pause.elapsed().as_secs_f64();
                    }
                    // A step evaluated later (at the epoch's end, or the run's) goes into the
                    // history after that evaluation, which it records.
                    if self.progress.batch_in_epoch < plan.len()
                        && self.should_stop(first_step).is_none()
                    {
                        let pause = Instant::now();
                        self.save_history(data)?;
                        paused += pause.elapsed().as_secs_f64();
                    }
                }
                Ok(None)
            })?;
            if let Some(cause) = stopped {
                if cause == StopCause::Interrupted && replacing && self.unsaved {
                    return Err(ModelError::InterruptedUnsaved(self.run_dir.clone()));
                }
                break 'run cause;
            }
            // Epoch end.
            let pause = Instant::now();
            let lr = self.lr(batches_per_epoch);
            let finished_epoch = self.progress.epoch;
            self.progress.epoch += 1;
            self.progress.batch_in_epoch = 0;
            self.carried = None;
            // A short epoch (a few batches of a small text) ends without an evaluation
            // unless enough steps were taken since the last one.
            let since = self.progress.step
                - self
                    .metrics
                    .last()
                    .map_or(first_step, |r| r.step.max(first_step));
            let evaluate = self.evaluated_now() || since >= self.config.epoch_eval_min_steps;
            let record = if !evaluate {
                None
            } else if self.evaluated_now() {
                // Evaluated at this very step: that evaluation closes the epoch; record it and
                // the new epoch position (epochs done, as an epoch-end evaluation records).
                if let Some(last) = self.metrics.last_mut() {
                    last.epoch_end = true;
                    last.epoch = self.progress.epoch;
                }
                self.write_metrics()?;
                self.save_last(data)?;
                self.resave_best(data)?;
                self.metrics.last().cloned()
            } else {
                let record = self.evaluate_and_save(data, &mut window, lr, true)?;
                observer.on_eval(&record);
                Some(record)
            };
            if let Some(record) = record {
                self.show_validated(finished_epoch, data.vocab, &record, |end| {
                    observer.on_epoch_end(end);
                })?;
            }
            self.save_history(data)?;
            if evaluate {
                log.restart();
                log_seen = self.progress.chars_seen;
                window.restart();
            }
            paused += pause.elapsed().as_secs_f64();
            if self.progress.step == 0 {
                return Err(ModelError::InvalidInput("an epoch had no batches".into()));
            }
        };
        if !self.evaluated_now() {
            let pause = Instant::now();
            let lr = self.lr(batches_per_epoch);
            let record = self.evaluate_and_save(data, &mut window, lr, false)?;
            observer.on_eval(&record);
            paused += pause.elapsed().as_secs_f64();
        }
        let pause = Instant::now();
        self.save_history(data)?;
        paused += pause.elapsed().as_secs_f64();
        let last = self
            .metrics
            .last()
            .cloned()
            .ok_or_else(|| ModelError::InvalidInput("nothing was evaluated".into()))?;
        phases.eval = paused;
        Ok(TrainSummary {
            progress: self.progress.clone(),
            last,
            stopped_by,
            losses,
            phases,
        })
    }

    /// Runs `f` on the trainer with the weights validation uses in the model (the average,
    /// with weight averaging), putting the trained weights back afterwards, whatever `f` gives.
    pub(crate) fn with_validated_weights<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T>,
    ) -> Result<T> {
        let averaged = self.optimizer.swap_average(&self.model)?;
        let done = f(self);
        if averaged {
            self.optimizer.swap_average(&self.model)?;
        }
        done
    }

    /// Hands `hook` the model with the weights `record` validated (the average, with weight
    /// averaging; the trained weights are back in place afterwards), at `epoch`: samples come
    /// from the model that was scored.
    fn show_validated(
        &mut self,
        epoch: usize,
        vocab: &Vocab,
        record: &EvalRecord,
        hook: impl FnOnce(&EpochEnd<'_>),
    ) -> Result<()> {
        self.with_validated_weights(|t| {
            hook(&EpochEnd {
                epoch,
                step: t.progress.step,
                model: &t.model,
                vocab,
                record,
            });
            Ok(())
        })
    }

    /// One optimisation step on `batch` (a `charrnn_data::collate` output) at learning rate
    /// `lr`: forward with dropout, masked loss, backward, clipping, update. Counts as a step
    /// of the run (the step counter and characters seen move on) but does not move the
    /// position in the epoch, evaluate or read anything back from the device: for benchmarks
    /// and custom loops.
    ///
    /// # Errors
    /// [`ModelError::InvalidInput`], before libtorch sees anything, for a learning rate that
    /// is negative or not finite, a batch whose buffers do not match its `batch_size` and
    /// `seq_len`, an input or target id outside `0..vocab_size`, or a label missing or outside
    /// `0..num_labels`. The checks read the host buffers only: nothing waits for the device.
    pub fn train_step(&mut self, batch: &Batch, lr: f64) -> Result<()> {
        if !(lr.is_finite() && lr >= 0.0) {
            return Err(ModelError::InvalidInput(format!(
                "the learning rate must be finite and at least 0, got {lr}"
            )));
        }
        check_batch(batch, self.model.config())?;
        self.step_on(batch, lr, None).map(|_| ())
    }

    /// [`Trainer::train_step`] from the recurrent state `state` (zeros when `None`), returning
    /// the loss sum (on the device), the real targets and the state after the batch's last
    /// position, detached from the graph.
    fn step_on(
        &mut self,
        batch: &Batch,
        lr: f64,
        state: Option<&State>,
    ) -> Result<(Tensor, usize, State)> {
        let device = self.model.device();
        if batch.batch_size == 0 {
            // A data-parallel rank whose slice of a small last batch is empty.
            return self.empty_step(lr, device);
        }
        let batch = DeviceBatch::new(batch, self.model.config(), device)?;
        if self.model.config().dropout > 0.0 {
            tch::manual_seed(step_seed(self.config.seed, self.progress.step));
        }
        let autocast = self.config.precision.autocast(device)?;
        let (logits, state) =
            self.model
                .forward_unchecked(&batch.input, batch.labels.as_ref(), state, true)?;
        drop(autocast);
        let (logits, state) = match self.config.precision.is_mixed() {
            true => (logits.f_to_kind(Kind::Float)?, state.to_float()?),
            false => (logits, state),
        };
        let sum = loss_sum(&logits, &batch.target)?;
        let real = match &mut self.group {
            Some(g) => data_parallel::global_count(g, batch.real)?,
            None => batch.real,
        };
        let mean = sum.f_div_scalar(real.max(1) as f64)?;
        match &self.scaler {
            Some(scaler) => scaler.scale_loss(&mean)?.f_backward()?,
            None => mean.f_backward()?,
        }
        if let Some(g) = &mut self.group {
            data_parallel::sum_grads(g, &self.model)?;
        }
        self.update(lr)?;
        // In a group, the whole global batch's: every rank's throughput is the group's.
        self.progress.chars_seen += real as u64;
        Ok((sum.f_detach()?, batch.real, state.detach()))
    }

    /// The update once the gradients are in: clipping, weight decay, the optimiser's step.
    /// With mixed precision the gradients are unscaled first, and a step whose gradients are
    /// not finite is taken back on the device.
    fn update(&mut self, lr: f64) -> Result<()> {
        // With a scaler: whether a gradient overflowed, and what to go back to if one did.
        let undo = match &self.scaler {
            Some(scaler) => Some((
                scaler.unscale(self.model.flat_grad())?,
                self.optimizer.snapshot(&self.model)?,
            )),
            None => None,
        };
        if let Some(max_norm) = self.config.clip_grad_norm {
            Optimizer::clip_grad_norm(&self.model, max_norm)?;
        }
        Optimizer::decay(&self.model, lr, self.config.weight_decay)?;
        self.optimizer.step(&self.model, lr)?;
        if let (Some((found, saved)), Some(scaler)) = (&undo, &mut self.scaler) {
            self.optimizer.undo_where(&self.model, found, saved)?;
            scaler.update(found)?;
        }
        self.progress.step += 1;
        Ok(())
    }

    /// A step with no rows of this rank's own: it takes part in the collectives with zero
    /// gradients, so every rank makes the same update.
    fn empty_step(&mut self, lr: f64, device: Device) -> Result<(Tensor, usize, State)> {
        let group = self
            .group
            .as_mut()
            .ok_or_else(|| ModelError::InvalidInput("an empty batch".into()))?;
        let _ = self.model.flat_grad().shallow_clone().f_zero_()?;
        let real = data_parallel::global_count(group, 0)?;
        data_parallel::sum_grads(group, &self.model)?;
        self.update(lr)?;
        self.progress.chars_seen += real as u64;
        let zero = Tensor::f_zeros([], (tch::Kind::Float, device))?;
        Ok((zero, 0, self.model.zero_state(0)?))
    }

    /// Joins a data-parallel group: checks that every rank trains the same model on the same
    /// data (`data_key`, a fingerprint of the inputs) and takes rank 0's parameters. From
    /// then on each rank trains on its slice of every batch, and only rank 0 writes.
    ///
    /// # Errors
    /// [`ModelError::Distributed`] (on every rank) for a mismatch or a failed collective.
    pub fn join_group(&mut self, mut group: ProcessGroup, data_key: u64) -> Result<()> {
        data_parallel::join(&mut group, &self.model, &self.config, data_key)?;
        self.group = Some(group);
        Ok(())
    }

    /// Whether this process writes the run directory: without a group, or as rank 0.
    pub(crate) fn writes(&self) -> bool {
        self.group.as_ref().is_none_or(|g| g.rank() == 0)
    }

    /// Whether the current step was evaluated (the last record is this step's).
    pub(crate) fn evaluated_now(&self) -> bool {
        self.metrics
            .last()
            .is_some_and(|r| r.step == self.progress.step)
    }

    /// Stops training on a NaN or infinite loss, or one above the divergence bound, before
    /// anything more is written (the last good checkpoint stays).
    pub(crate) fn check_finite(&self, what: &'static str, value: f64) -> Result<()> {
        if !value.is_finite() {
            return Err(ModelError::NonFiniteLoss {
                what,
                value,
                step: self.progress.step,
                epoch: self.progress.epoch,
            });
        }
        if let Some(factor) = self.config.divergence_factor {
            let bound = factor * (self.model.config().vocab_size as f64).ln();
            if value > bound {
                return Err(ModelError::Diverged {
                    what,
                    value,
                    bound,
                    step: self.progress.step,
                    epoch: self.progress.epoch,
                });
            }
        }
        Ok(())
    }
}
