//! The training configurations both sides run, described once and turned into each side's
//! flags, and the steps and budgets they run for.

/// The embedding width of the embedding configurations (the reference's default).
const EMBED_DIM: u32 = 64;
/// An evaluation interval no timed run reaches: no validation while the clock runs.
const NO_EVAL: u64 = 1_000_000_000;
/// The range of our time-to-bpc budget when it follows the reference's time.
const TTB_BUDGET_RANGE: (f64, f64) = (30.0, 600.0);

/// One training configuration, described once and turned into both sides' flags.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Spec {
    /// Short name: run directories and JSON keys.
    pub(crate) key: &'static str,
    /// What the table calls it.
    pub(crate) label: &'static str,
    pub(crate) one_hot: bool,
    pub(crate) hidden: u32,
    pub(crate) layers: u32,
    pub(crate) batch: u32,
    /// adam or rmsprop.
    pub(crate) optimizer: &'static str,
}

impl Spec {
    /// The learning rate both sides use (it does not change the speed, but keeps the
    /// configurations identical).
    fn lr(&self) -> &'static str {
        if self.optimizer == "adam" {
            "0.002"
        } else {
            "0.001"
        }
    }

    /// `charrnn train` flags: the notebook preset (no clipping, no dropout, shuffled batches)
    /// overridden to this configuration, `steps` steps, no validation while timed.
    pub(crate) fn ours(&self, steps: u64) -> Vec<String> {
        let mut flags = strings(&["--preset", "notebook", "--cell", "lstm", "--input"]);
        if self.one_hot {
            flags.push("onehot".into());
        } else {
            flags.extend(strings(&[
                "embedding",
                "--embed-dim",
                &EMBED_DIM.to_string(),
            ]));
        }
        flags.extend(strings(&[
            "--hidden",
            &self.hidden.to_string(),
            "--layers",
            &self.layers.to_string(),
            "--dropout",
            "0",
            "--batch-size",
            &self.batch.to_string(),
            "--optimizer",
            self.optimizer,
            "--lr",
            self.lr(),
            "--clip",
            "0",
            "--order",
            "shuffled",
            "--max-steps",
            &steps.to_string(),
            "--eval-every",
            &NO_EVAL.to_string(),
        ]));
        flags
    }

    /// The reference's model flags for the same configuration (its `generate` takes these;
    /// its `train` validates only at the end, and only with `--valid`).
    pub(crate) fn reference(&self) -> Vec<String> {
        strings(&[
            "--cell",
            "lstm",
            "--input",
            if self.one_hot { "onehot" } else { "embedding" },
            "--embed-dim",
            &EMBED_DIM.to_string(),
            "--hidden",
            &self.hidden.to_string(),
            "--layers",
            &self.layers.to_string(),
            "--dropout",
            "0",
            "--optimizer",
            self.optimizer,
            "--lr",
            self.lr(),
        ])
    }

    /// The reference's `train` flags: the model's and the batch size.
    pub(crate) fn reference_train(&self) -> Vec<String> {
        let mut flags = self.reference();
        flags.extend(["--batch-size".to_owned(), self.batch.to_string()]);
        flags
    }
}

pub(crate) fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// The three throughput configurations, in table order.
pub(crate) fn train_specs() -> [Spec; 3] {
    [
        Spec {
            key: "seed-b8",
            label: "seed config: one-hot LSTM 128, batch 8, RMSprop",
            one_hot: true,
            hidden: 128,
            layers: 1,
            batch: 8,
            optimizer: "rmsprop",
        },
        Spec {
            key: "lstm128-b256",
            label: "embedding LSTM 128, batch 256, Adam",
            one_hot: false,
            hidden: 128,
            layers: 1,
            batch: 256,
            optimizer: "adam",
        },
        Spec {
            key: "lstm2x512-b256",
            label: "embedding 2-layer LSTM 512, batch 256, Adam",
            one_hot: false,
            hidden: 512,
            layers: 2,
            batch: 256,
            optimizer: "adam",
        },
    ]
}

/// The seed recipe the reference runs for time-to-bpc (one epoch unless time-limited).
pub(crate) fn seed_spec() -> Spec {
    train_specs()[0].clone()
}

/// `asked` steps, but no more than one epoch of `rows` examples in batches of `batch`: charrnn
/// validates at every epoch's end, inside its training clock.
pub(crate) fn steps_within_epoch(asked: u64, rows: u64, batch: u32) -> u64 {
    let per_epoch = rows.div_ceil(u64::from(batch.max(1)));
    if per_epoch == 0 {
        asked
    } else {
        asked.min(per_epoch)
    }
}

/// Our time-to-bpc budget: the flag's, else the reference's time within
/// [`TTB_BUDGET_RANGE`] (beyond the reference's time the ratio is above 1 anyway).
pub(crate) fn ttb_budget(flag: Option<f64>, reference_secs: f64) -> f64 {
    let (lo, hi) = TTB_BUDGET_RANGE;
    flag.unwrap_or_else(|| {
        if reference_secs.is_finite() {
            reference_secs.clamp(lo, hi)
        } else {
            lo
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag<'a>(flags: &'a [String], name: &str) -> Option<&'a str> {
        flags
            .iter()
            .position(|f| f == name)
            .and_then(|i| flags.get(i + 1))
            .map(String::as_str)
    }

    #[test]
    fn both_sides_get_the_same_configuration() {
        for spec in train_specs() {
            let ours = spec.ours(40);
            let theirs = spec.reference_train();
            assert_eq!(flag(&spec.reference(), "--batch-size"), None);
            for name in [
                "--cell",
                "--input",
                "--hidden",
                "--layers",
                "--dropout",
                "--batch-size",
                "--optimizer",
                "--lr",
            ] {
                assert!(flag(&ours, name).is_some(), "{} {name}", spec.key);
                assert_eq!(
                    flag(&ours, name),
                    flag(&theirs, name),
                    "{} {name}",
                    spec.key
                );
            }
            if !spec.one_hot {
                assert_eq!(flag(&ours, "--embed-dim"), flag(&theirs, "--embed-dim"));
            }
            assert_eq!(flag(&ours, "--max-steps"), Some("40"));
            assert_eq!(flag(&ours, "--clip"), Some("0"));
            assert_eq!(flag(&ours, "--order"), Some("shuffled"));
            let every: u64 = flag(&ours, "--eval-every").unwrap().parse().unwrap();
            assert!(every > 1_000_000, "{every}");
        }
        let [seed, b256, big] = train_specs();
        assert_eq!(
            (seed.one_hot, seed.hidden, seed.batch, seed.optimizer),
            (true, 128, 8, "rmsprop")
        );
        assert_eq!((b256.hidden, b256.layers, b256.batch), (128, 1, 256));
        assert_eq!((big.hidden, big.layers, big.batch), (512, 2, 256));
        assert_eq!(seed_spec(), seed);
    }

    #[test]
    fn timed_steps_stay_within_one_epoch() {
        let check = |asked: u64, rows: u64, batch: u32, want: u64| {
            assert_eq!(
                steps_within_epoch(asked, rows, batch),
                want,
                "{asked} {rows} {batch}"
            );
        };
        // 12,505 titles: 1,564 batches of 8 (the last one partial), 49 of 256.
        check(1500, 12_505, 8, 1500);
        check(3000, 12_505, 8, 1564);
        check(40, 12_505, 256, 40);
        check(100, 12_505, 256, 49);
        check(100, 120_000, 256, 100);
        check(5, 0, 8, 5);
    }

    #[test]
    fn the_time_to_bpc_budget_follows_the_reference() {
        assert_eq!(ttb_budget(Some(12.0), 500.0), 12.0);
        assert_eq!(ttb_budget(None, 95.5), 95.5);
        assert_eq!(ttb_budget(None, 3.0), 30.0);
        assert_eq!(ttb_budget(None, 5000.0), 600.0);
        assert_eq!(ttb_budget(None, f64::NAN), 30.0);
    }
}
