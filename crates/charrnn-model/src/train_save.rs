//! What a [`Trainer`] writes while it trains: evaluation records (scored in shares when
//! data-parallel), `last/`, `best/`, `metrics.jsonl` and the history of checkpoints
//! (`checkpoints/step-N/`), on rank 0 only.
use crate::checkpoint::{CheckpointConfig, write_checkpoint, write_file_atomically};
use crate::data_parallel;
use crate::error::Result;
use crate::eval::{Eval, evaluate_checked};
use crate::loss_window::Window;
use crate::records::{EvalRecord, METRICS_FILE, metrics_text};
use crate::run_dir::{CHECKPOINTS_DIR, history_name, prune_history, remove_history};
use crate::train::{TrainData, Trainer};

impl Trainer {
    pub(crate) fn checkpoint_config(
        &self,
        data: &TrainData<'_>,
        record: Option<&EvalRecord>,
    ) -> CheckpointConfig {
        let mut config = CheckpointConfig::new(self.model.config().clone());
        config.training = Some(self.config.clone());
        config.data = data.settings.clone();
        config.data_checksums = data.checksums.clone();
        config.metrics = record.cloned();
        config.progress = Some(self.progress.clone());
        config
    }

    pub(crate) fn save_last(&mut self, data: &TrainData<'_>) -> Result<()> {
        if !self.writes() {
            return Ok(());
        }
        let record = self.metrics.last().cloned();
        self.save(data, "last", record.as_ref())
    }

    /// Writes `best/` again with the latest record, when that evaluation was the best: an
    /// evaluation on an epoch's last step saved it before the epoch ended, and the epoch's end
    /// then records the epochs done. Holds the weights validation used (the average, with
    /// weight averaging), as when it was first written.
    pub(crate) fn resave_best(&mut self, data: &TrainData<'_>) -> Result<()> {
        let Some(record) = self.metrics.last().cloned().filter(|r| r.best) else {
            return Ok(());
        };
        if !self.writes() {
            return Ok(());
        }
        self.with_validated_weights(|t| t.save(data, "best", Some(&record)))
    }

    /// Before a new run's first write: deletes the history of checkpoints the run it replaces
    /// left (then, and not before, so that a new run that saves nothing changes nothing).
    fn begin_saving(&mut self) -> Result<()> {
        if std::mem::take(&mut self.unsaved) {
            remove_history(&self.run_dir)?;
        }
        Ok(())
    }

    /// Writes the model, the vocabulary and the optimiser's state as checkpoint `name` of the
    /// run directory, recording `record`.
    fn save(
        &mut self,
        data: &TrainData<'_>,
        name: &str,
        record: Option<&EvalRecord>,
    ) -> Result<()> {
        self.begin_saving()?;
        let mut config = self.checkpoint_config(data, record);
        write_checkpoint(
            &self.run_dir.join(name),
            &self.model,
            data.vocab,
            &mut config,
            Some(&self.optimizer),
        )
    }

    /// Writes the history checkpoint of this step, `checkpoints/step-NNNNNNN/`, when the step
    /// is a multiple of `checkpoint_every` (rank 0, once a step): the weights validation uses
    /// (the average, with weight averaging), no optimiser state, the latest evaluation
    /// recorded. Then deletes the oldest beyond `keep_checkpoints`, and writes `last/` too
    /// when this step was not validated (a validation wrote it), so that a killed run resumes
    /// from the newest history checkpoint.
    pub(crate) fn save_history(&mut self, data: &TrainData<'_>) -> Result<()> {
        let step = self.progress.step;
        let due = self
            .config
            .checkpoint_every
            .is_some_and(|n| n > 0 && step.is_multiple_of(n as u64));
        if !due || step == 0 || !self.writes() || self.history_saved == Some(step) {
            return Ok(());
        }
        self.begin_saving()?;
        let mut config = self.checkpoint_config(data, self.metrics.last());
        let dir = self.run_dir.join(CHECKPOINTS_DIR).join(history_name(step));
        self.with_validated_weights(|t| {
            write_checkpoint(&dir, &t.model, data.vocab, &mut config, None)
        })?;
        self.history_saved = Some(step);
        prune_history(&self.run_dir, self.config.keep_checkpoints)?;
        // A process killed before its next validation resumes from here: `last/` (with the
        // optimiser's state) is as new as the history.
        if !self.evaluated_now() {
            self.save_last(data)?;
        }
        Ok(())
    }

    pub(crate) fn write_metrics(&self) -> Result<()> {
        if !self.writes() {
            return Ok(());
        }
        let path = self.run_dir.join(METRICS_FILE);
        write_file_atomically(&path, &metrics_text(&self.metrics, &path)?)
    }

    /// Evaluates, appends to the metrics, writes `last/` (and `best/` when better).
    /// `epoch_end` marks an evaluation made at the end of an epoch.
    pub(crate) fn evaluate_and_save(
        &mut self,
        data: &TrainData<'_>,
        window: &mut Window,
        lr: f64,
        epoch_end: bool,
    ) -> Result<EvalRecord> {
        let (nats, chars, secs) = window.take()?;
        let (nats, chars) = match &mut self.group {
            Some(g) => data_parallel::sum_loss(g, nats, chars)?,
            None => (nats, chars),
        };
        let train = Eval::from_sum(nats, chars);
        if chars > 0 {
            self.check_finite("training loss", train.nats_per_char)?;
        }
        let train_bpc = (chars > 0).then_some(train.bits_per_char);
        // With weight averaging, the average is what is validated and kept as best/; last/
        // keeps the trained weights (the average is in its optimiser state).
        let record = self.with_validated_weights(|t| {
            t.score_and_keep_best(
                data,
                train_bpc,
                chars as f64 / secs.max(1e-9),
                lr,
                epoch_end,
            )
        })?;
        self.save_last(data)?;
        self.write_metrics()?;
        window.restart();
        Ok(record)
    }

    /// Validates the model as it is now, records the evaluation (`chars_per_sec`: the
    /// training throughput since the last one) and writes `best/` when it is the best so far.
    fn score_and_keep_best(
        &mut self,
        data: &TrainData<'_>,
        train_bpc: Option<f64>,
        chars_per_sec: f64,
        lr: f64,
        epoch_end: bool,
    ) -> Result<EvalRecord> {
        let val = if data.valid.is_empty() {
            None
        } else {
            let e = match &mut self.group {
                // Each rank scores its share; the sums are added up.
                Some(g) => {
                    let part = data_parallel::Strided::new(data.valid, g.rank(), g.world());
                    let e = evaluate_checked(&self.model, &part, self.config.eval_batch_size)?;
                    let (nats, chars) =
                        data_parallel::sum_loss(g, e.nats_per_char * e.chars as f64, e.chars)?;
                    Eval::from_sum(nats, chars)
                }
                None => evaluate_checked(&self.model, data.valid, self.config.eval_batch_size)?,
            };
            self.check_finite("validation loss", e.nats_per_char)?;
            Some(e)
        };
        let score = val.map(|v| v.bits_per_char).or(train_bpc);
        let best = score.is_some_and(|s| self.progress.best_bpc.is_none_or(|b| s < b));
        if best {
            self.progress.best_bpc = score;
        }
        let record = EvalRecord {
            step: self.progress.step,
            epoch: self.progress.epoch,
            train_bpc,
            val_bpc: val.map(|v| v.bits_per_char),
            val_nats: val.map(|v| v.nats_per_char),
            chars_per_sec,
            elapsed: self.progress.elapsed_secs,
            lr,
            best,
            epoch_end,
        };
        self.metrics.push(record.clone());
        if best && self.writes() {
            self.save(data, "best", Some(&record))?;
        }
        Ok(record)
    }
}
