//! What a person (or a script, with --json) sees while a model trains.

use std::io::IsTerminal;

use charrnn_experiment::{EpochSample, Event};
use charrnn_model::{EpochEnd, EvalRecord, GenerateOptions, Observer, StepInfo};
use charrnn_sampling::SamplingConfig;
use indicatif::{ProgressBar, ProgressStyle};

use crate::output::Output;

/// Turns the trainer's hooks into a progress bar, evaluation lines and samples (at epoch ends
/// and at validations inside an epoch).
pub struct TrainProgress<'a> {
    bar: Option<ProgressBar>,
    out: &'a Output,
    prompts: Vec<String>,
    temperatures: Vec<f32>,
}

const BAR_LEN: u64 = 10_000;

impl<'a> TrainProgress<'a> {
    pub fn new(
        out: &'a Output,
        prompts: &[String],
        temperatures: &[f32],
        _start_step: u64,
    ) -> Self {
        // A bar only where a person watches: indicatif hides itself (and what it would
        // print) when stderr is not a terminal, and lines then go to stderr directly.
        let bar = (out.shows_progress() && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(BAR_LEN);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} {percent:>3}% eta {eta:>4} | {msg}")
                    .expect("the progress template is valid"),
            );
            bar
        });
        TrainProgress {
            bar,
            out,
            // By default the model's own start, as `generate`'s: any text's vocabulary has it.
            prompts: if prompts.is_empty() {
                vec![String::new()]
            } else {
                prompts.to_vec()
            },
            temperatures: if temperatures.is_empty() {
                vec![0.8]
            } else {
                temperatures.to_vec()
            },
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// A line for people: above the bar, or straight to stderr; nothing with --quiet/--json.
    fn line(&self, text: String) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None if self.out.shows_progress() => eprintln!("{text}"),
            None => {}
        }
    }
}

impl Observer for TrainProgress<'_> {
    fn on_step(&mut self, info: &StepInfo) {
        if let Some(bar) = &self.bar {
            bar.set_position((info.fraction_done.clamp(0.0, 1.0) * BAR_LEN as f64) as u64);
            bar.set_message(format!(
                "step {} epoch {} | loss {:.3} bpc | {:.0} chars/s | lr {:.2e}",
                info.step,
                info.epoch + 1,
                info.loss / std::f64::consts::LN_2,
                info.chars_per_sec,
                info.lr
            ));
        }
    }

    fn on_eval(&mut self, r: &EvalRecord) {
        let _ = self.out.record(Event::Eval { record: r.clone() });
        let fmt = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
        self.line(format!(
            "step {:>6}  epoch {:>3}  train {} bpc  valid {} bpc  {:.0} chars/s{}",
            r.step,
            r.epoch_number(),
            fmt(r.train_bpc),
            fmt(r.val_bpc),
            r.chars_per_sec,
            if r.best { "  (best)" } else { "" }
        ));
    }

    fn on_epoch_end(&mut self, end: &EpochEnd<'_>) {
        self.samples(end);
    }

    /// A validation inside a long epoch samples too, so the first samples do not wait for
    /// the end of the first epoch.
    fn on_validation(&mut self, at: &EpochEnd<'_>) {
        self.samples(at);
    }
}

impl TrainProgress<'_> {
    /// Samples of the model at `end`, one for each prompt and temperature.
    fn samples(&mut self, end: &EpochEnd<'_>) {
        // Samples are for people watching, or for programs reading the events.
        if !self.out.shows_progress() && !self.out.machine() {
            return;
        }
        let prompts: Vec<&str> = self.prompts.iter().map(String::as_str).collect();
        for &t in &self.temperatures {
            let options = GenerateOptions {
                sampling: SamplingConfig::with_temperature(t),
                max_len: 100,
                label: end.model.config().num_labels.map(|_| 0),
                seed: end.step,
                ..GenerateOptions::default()
            };
            match end.generate(&prompts, &options) {
                Ok(samples) => {
                    for (prompt, sample) in prompts.iter().zip(samples) {
                        let text = format!("{prompt}{}", sample.text);
                        self.line(format!("  sample (T={t}) {prompt:?} → {text:?}"));
                        let _ = self.out.record(Event::Sample(EpochSample {
                            epoch: end.epoch,
                            temperature: t,
                            prompt: (*prompt).to_owned(),
                            text,
                        }));
                    }
                }
                Err(err) => self.line(format!("  (no sample: {err})")),
            }
        }
    }
}

/// Where training stands, as a person counts: "3 epoch(s) done" or "epoch 4, 12 batch(es)
/// into it". `epoch` is the current epoch (0-based); a checkpoint saved on an epoch's last
/// step is still in that epoch, with all its batches done.
pub fn position(p: &charrnn_model::Progress) -> String {
    match p.batch_in_epoch {
        0 => format!("{} epoch(s) done", p.epoch),
        b => format!("epoch {}, {b} batch(es) into it", p.epoch + 1),
    }
}
