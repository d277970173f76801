//! What a training loop tells its front end: progress every few steps, every evaluation, and
//! each epoch's end with the model at hand for samples.
use charrnn_vocab::Vocab;

use crate::error::Result;
use crate::generate::{GenerateOptions, Generated, generate};
use crate::network::CharRnn;
use crate::records::EvalRecord;

/// What [`Observer::on_step`] is told every `log_every` steps.
#[derive(Clone, Debug, PartialEq)]
pub struct StepInfo {
    /// Optimiser steps done.
    pub step: u64,
    /// Current epoch (0-based).
    pub epoch: usize,
    /// Mean training loss over the steps since the previous call, in nats per character.
    pub loss: f64,
    /// Real training characters per second since the previous call.
    pub chars_per_sec: f64,
    /// Fraction of the budget spent (the largest of steps, epochs and seconds).
    pub fraction_done: f64,
    /// The learning rate in use.
    pub lr: f64,
}

/// What [`Observer::on_epoch_end`] gets: enough to generate samples with the model.
pub struct EpochEnd<'a> {
    /// The epoch just finished (0-based).
    pub epoch: usize,
    /// Optimiser steps done.
    pub step: u64,
    /// The model (use it for inference only): with weight averaging, the average, the weights
    /// that `record` validated.
    pub model: &'a CharRnn,
    /// The vocabulary.
    pub vocab: &'a Vocab,
    /// The evaluation made at this epoch end.
    pub record: &'a EvalRecord,
}

impl EpochEnd<'_> {
    /// Generates continuations of `prompts` with the current model (see [`generate`]).
    pub fn generate(&self, prompts: &[&str], options: &GenerateOptions) -> Result<Vec<Generated>> {
        generate(self.model, self.vocab, prompts, options)
    }
}

/// Hooks called during training; every method does nothing by default. `()` observes nothing.
pub trait Observer {
    /// Every `log_every` steps, after reading the loss back.
    fn on_step(&mut self, info: &StepInfo) {
        let _ = info;
    }
    /// After every evaluation (and its checkpoint).
    fn on_eval(&mut self, record: &EvalRecord) {
        let _ = record;
    }
    /// At every epoch end, after its evaluation: e.g. generate a few samples.
    fn on_epoch_end(&mut self, end: &EpochEnd<'_>) {
        let _ = end;
    }
    /// After an evaluation inside an epoch (every `eval_every` steps, not at the epoch's end),
    /// with the weights it validated: e.g. samples during a long epoch. `at.epoch` is the
    /// epoch under way.
    fn on_validation(&mut self, at: &EpochEnd<'_>) {
        let _ = at;
    }
}

impl Observer for () {}
