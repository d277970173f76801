//! The runs of an experiment: `charrnn train` with the shared settings, `charrnn eval` of the
//! checkpoint validation chose, and the sweep's variants.
use std::path::{Path, PathBuf};

use charrnn_model::{EvalRecord, METRICS_FILE, read_metrics};

use super::options::{GREEDY_PROMPT, Options};
use crate::error::Result;
use crate::events::{Classification, Score, TrainDone};
use crate::report::{SweepResult, SweepRow};
use crate::runner::{Commands, path, s};
use crate::sweep::{Budget, Variant, override_flags, plain};

/// The main run's directory, in the experiment's.
pub(crate) const RUN_DIR: &str = "run";
/// The sweep's runs' directory, in the experiment's.
pub(crate) const SWEEP_DIR: &str = "sweep";

/// What every run of one experiment shares.
pub(crate) struct CommonRun<'a> {
    pub(crate) opts: &'a Options,
    budget: Budget,
    train_data: &'a Path,
    test_data: &'a Path,
}

impl<'a> CommonRun<'a> {
    pub(crate) fn new(
        opts: &'a Options,
        budget: Budget,
        train_data: &'a Path,
        test_data: &'a Path,
    ) -> Self {
        CommonRun {
            opts,
            budget,
            train_data,
            test_data,
        }
    }

    pub(crate) fn run_flags(&self, args: &mut Vec<String>) {
        if let Some(device) = &self.opts.device {
            args.extend([s("--device"), device.clone()]);
        }
        if let Some(threads) = self.opts.threads {
            args.extend([s("--threads"), threads.to_string()]);
        }
    }

    fn label_flags(&self, args: &mut Vec<String>) {
        if self.opts.labels {
            args.extend([s("--label-column"), s("label")]);
        }
    }

    /// `charrnn train` into `out`; `flags` override the extra train flags. Returns the done
    /// event and the run's `metrics.jsonl`.
    pub(crate) fn train(
        &self,
        cli: &mut Commands<'_>,
        out: &Path,
        vocab: &Path,
        columns: &[String],
        flags: &[String],
    ) -> Result<(TrainDone, Vec<EvalRecord>)> {
        let opts = self.opts;
        let mut args = vec![s("train"), s("--train"), path(self.train_data)];
        for c in columns {
            args.extend([s("--column"), c.clone()]);
        }
        for extra in opts.preset.extra_columns() {
            if !columns.iter().any(|c| c == extra) {
                args.extend([s("--extra-column"), s(extra)]);
            }
        }
        self.label_flags(&mut args);
        args.extend([
            s("--valid-fraction"),
            opts.valid_fraction.to_string(),
            s("--vocab"),
            path(vocab),
            s("--out"),
            path(out),
            s("--preset"),
            opts.preset.to_string(),
            s("--overwrite"),
        ]);
        if let Some(steps) = self.budget.max_steps {
            args.extend([s("--max-steps"), steps.to_string()]);
        }
        if let Some(secs) = self.budget.per_run_secs {
            args.extend([s("--time-budget"), format!("{secs}")]);
        }
        self.run_flags(&mut args);
        args.extend([s("--seed"), opts.seed.to_string()]);
        // The notebook's epoch samples continue its greedy prompt.
        if !opts
            .train_args
            .iter()
            .any(|a| a.starts_with("--sample-prompt"))
        {
            args.extend([s("--sample-prompt"), s(GREEDY_PROMPT)]);
        }
        if opts.quiet {
            args.push(s("--quiet"));
        }
        args.extend(override_flags(&opts.train_args, flags));
        let (done, reported) = cli.train(&args)?;
        // metrics.jsonl holds the whole run; the events only what this call reported.
        let metrics = read_metrics(&out.join(METRICS_FILE))?;
        Ok((
            done,
            if metrics.is_empty() {
                reported
            } else {
                metrics
            },
        ))
    }

    /// `charrnn eval` of the main run's best checkpoint on the test titles; a label-conditioned
    /// model also classifies them (`--classify`: its accuracy as a generative classifier).
    pub(crate) fn test(
        &self,
        cli: &mut Commands<'_>,
        run: &Path,
    ) -> Result<(Score, Option<Classification>)> {
        let mut args = self.eval_args(run);
        if self.opts.labels {
            args.push(s("--classify"));
        }
        cli.eval_classified(&args)
    }

    /// `charrnn eval` of `run`'s best checkpoint on the test titles.
    pub(crate) fn eval(&self, cli: &mut Commands<'_>, run: &Path) -> Result<Score> {
        cli.eval(&self.eval_args(run))
    }

    fn eval_args(&self, run: &Path) -> Vec<String> {
        let mut args = vec![
            s("eval"),
            path(run),
            s("--data"),
            path(self.test_data),
            s("--column"),
            s("title"),
        ];
        self.label_flags(&mut args);
        self.run_flags(&mut args);
        args
    }

    /// Trains and scores each variant into `exp_dir/sweep/`; a failed run is a row saying
    /// why, and the sweep goes on.
    pub(crate) fn sweep(
        &self,
        cli: &mut Commands<'_>,
        variants: &[Variant],
        exp_dir: &Path,
        title_vocab: &Path,
        say: &dyn Fn(&str),
    ) -> Vec<SweepRow> {
        let mut rows = Vec::new();
        let mut full_vocab: Option<PathBuf> = None;
        for (i, variant) in variants.iter().enumerate() {
            say(&format!(
                "sweep {}/{}: {}",
                i + 1,
                variants.len(),
                variant.name
            ));
            let dir_name = plain(&variant.name);
            let dir = exp_dir.join(SWEEP_DIR).join(&dir_name);
            let outcome = (|| -> Result<SweepResult> {
                let (vocab, columns) = if variant.full_text {
                    let columns = vec![s("title"), s("description")];
                    let path = match &full_vocab {
                        Some(path) => path.clone(),
                        None => {
                            let path = exp_dir.join("tokenizer-fulltext.json");
                            cli.vocab_build(self.train_data, &columns, &path)?;
                            full_vocab.insert(path).clone()
                        }
                    };
                    (path, columns)
                } else {
                    (title_vocab.to_owned(), vec![s("title")])
                };
                let mut flags = variant.flags.clone();
                if variant.full_text {
                    flags.extend([s("--window"), s("256")]);
                }
                let (train, metrics) = self.train(cli, &dir, &vocab, &columns, &flags)?;
                let test = self.eval(cli, &dir)?;
                Ok(SweepResult {
                    train,
                    test_bpc: test.bits_per_char,
                    metrics,
                })
            })();
            let mut flags = variant.flags.join(" ");
            if variant.full_text {
                flags.push_str(" --column title --column description --window 256");
            }
            rows.push(SweepRow {
                name: variant.name.clone(),
                flags,
                run_dir: format!("{SWEEP_DIR}/{dir_name}"),
                outcome: outcome.map_err(|e| {
                    let msg = one_line(&e.to_string());
                    say(&format!("sweep run {} failed: {msg}", variant.name));
                    msg
                }),
            });
        }
        rows
    }
}

/// A (possibly multi-line) message on one line.
pub(crate) fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
