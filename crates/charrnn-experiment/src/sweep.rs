//! The sweep's variants, how their flags combine with the user's, and how a time budget is
//! shared by the runs.
use crate::error::{ExperimentError, Result};

/// Total seconds of training of a sweep given neither a time budget nor a step limit.
pub const DEFAULT_SWEEP_BUDGET_SECS: f64 = 1800.0;

/// One variant of the sweep: a name and the train flags that make it.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// The variant's name (also its run directory's, made plain).
    pub name: String,
    /// `charrnn train` flags.
    pub flags: Vec<String>,
    /// Train on title and description (windows of 256 characters) instead of titles.
    pub full_text: bool,
}

impl Variant {
    /// A variant named `name` made by `flags`.
    pub fn new(name: &str, flags: &[&str], full_text: bool) -> Self {
        Self {
            name: name.into(),
            flags: flags.iter().map(|f| (*f).to_owned()).collect(),
            full_text,
        }
    }
}

/// The notebook's suggested variants, a subset that covers each axis once around a two-layer
/// LSTM of 256: cell, depth, width, and titles against full text.
pub fn default_variants() -> Vec<Variant> {
    let lstm = |layers: &str, hidden: &str| {
        Variant::new(
            &format!("lstm-{layers}x{hidden}"),
            &["--cell", "lstm", "--layers", layers, "--hidden", hidden],
            false,
        )
    };
    vec![
        lstm("1", "256"),
        lstm("2", "256"),
        lstm("3", "256"),
        lstm("2", "128"),
        lstm("2", "512"),
        Variant::new(
            "gru-2x256",
            &["--cell", "gru", "--layers", "2", "--hidden", "256"],
            false,
        ),
        Variant::new(
            "gru-1x512",
            &["--cell", "gru", "--layers", "1", "--hidden", "512"],
            false,
        ),
        Variant::new(
            "lstm-2x256-fulltext",
            &["--cell", "lstm", "--layers", "2", "--hidden", "256"],
            true,
        ),
    ]
}

/// `base` without any flag of `overrides` (and its value), then `overrides`: a sweep variant's
/// flags replace the same flags among the extra train flags.
pub fn override_flags(base: &[String], overrides: &[String]) -> Vec<String> {
    let replaced: Vec<&str> = overrides
        .iter()
        .filter(|f| f.starts_with("--"))
        .map(|f| f.split('=').next().unwrap_or(f))
        .collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < base.len() {
        let arg = &base[i];
        let flag = arg.split('=').next().unwrap_or(arg);
        if arg.starts_with("--") && replaced.contains(&flag) {
            // `--flag value` drops the value too; `--flag=value` is one argument.
            let takes_next =
                !arg.contains('=') && base.get(i + 1).is_some_and(|v| !v.starts_with("--"));
            i += if takes_next { 2 } else { 1 };
            continue;
        }
        out.push(arg.clone());
        i += 1;
    }
    out.extend(overrides.iter().cloned());
    out
}

/// Each run's budget: seconds of training and steps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    /// Seconds of training of each run (`None`: the preset's budget decides).
    pub per_run_secs: Option<f64>,
    /// Seconds of training of all runs together.
    pub total_secs: Option<f64>,
    /// Steps of each run.
    pub max_steps: Option<u64>,
}

/// Splits `time_budget` evenly over `runs` runs. A sweep with neither budget nor step limit gets
/// [`DEFAULT_SWEEP_BUDGET_SECS`], so that its runs share one budget of time and their curves
/// can be compared against time.
pub fn split_budget(
    time_budget: Option<f64>,
    max_steps: Option<u64>,
    runs: usize,
    sweep: bool,
) -> Result<Budget> {
    if let Some(t) = time_budget
        && !(t.is_finite() && t > 0.0)
    {
        return Err(ExperimentError::InvalidOptions(format!(
            "--time-budget must be a positive number of seconds, not {t}"
        )));
    }
    if max_steps == Some(0) {
        return Err(ExperimentError::InvalidOptions(
            "--max-steps must be at least 1".into(),
        ));
    }
    let total = match (time_budget, sweep, max_steps) {
        (Some(t), _, _) => Some(t),
        (None, true, None) => Some(DEFAULT_SWEEP_BUDGET_SECS),
        (None, _, _) => None,
    };
    Ok(Budget {
        per_run_secs: total.map(|t| t / runs.max(1) as f64),
        total_secs: total,
        max_steps,
    })
}

/// `name` made safe as a directory name.
pub(crate) fn plain(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn variant_flags_replace_extra_train_flags() {
        let check = |base: &[&str], overrides: &[&str], expected: &[&str]| {
            assert_eq!(
                override_flags(&strings(base), &strings(overrides)),
                strings(expected),
                "{base:?} + {overrides:?}"
            );
        };
        check(&[], &["--cell", "gru"], &["--cell", "gru"]);
        check(&["--dropout", "0.2"], &[], &["--dropout", "0.2"]);
        check(
            &["--hidden", "32", "--dropout", "0.1", "--hidden=64"],
            &["--hidden", "256", "--layers", "2"],
            &["--dropout", "0.1", "--hidden", "256", "--layers", "2"],
        );
        // A flag without a value (next is another flag) is dropped alone.
        check(
            &["--layers", "--lr", "0.01"],
            &["--layers", "3"],
            &["--lr", "0.01", "--layers", "3"],
        );
        // --hidden-size is not --hidden.
        check(
            &["--hidden-size", "5"],
            &["--hidden", "8"],
            &["--hidden-size", "5", "--hidden", "8"],
        );
    }

    #[test]
    fn budgets_split_evenly() {
        let b = split_budget(Some(900.0), None, 9, true).unwrap();
        assert_eq!(b.per_run_secs, Some(100.0));
        assert_eq!(b.total_secs, Some(900.0));
        let b = split_budget(None, None, 4, true).unwrap();
        assert_eq!(b.per_run_secs, Some(DEFAULT_SWEEP_BUDGET_SECS / 4.0));
        // A sweep with a step limit and no time budget runs each to its steps.
        let b = split_budget(None, Some(20), 4, true).unwrap();
        assert_eq!((b.per_run_secs, b.max_steps), (None, Some(20)));
        // Without a sweep nothing is invented.
        let b = split_budget(None, None, 1, false).unwrap();
        assert_eq!(
            (b.per_run_secs, b.total_secs, b.max_steps),
            (None, None, None)
        );
        assert_eq!(
            split_budget(Some(60.0), None, 1, false)
                .unwrap()
                .per_run_secs,
            Some(60.0)
        );
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = split_budget(Some(bad), None, 1, false).unwrap_err();
            assert!(err.to_string().contains("--time-budget"), "{err}");
        }
        assert!(split_budget(None, Some(0), 1, false).is_err());
    }

    #[test]
    fn the_default_sweep_covers_each_axis() {
        let variants = default_variants();
        assert!((6..=8).contains(&variants.len()));
        let mut names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), variants.len(), "names are unique");
        let value_of = |v: &Variant, flag: &str| {
            let i = v.flags.iter().position(|f| f == flag)?;
            v.flags.get(i + 1).cloned()
        };
        for (flag, values) in [
            ("--cell", &["lstm", "gru"][..]),
            ("--layers", &["1", "2", "3"][..]),
            ("--hidden", &["128", "256", "512"][..]),
        ] {
            for value in values {
                assert!(
                    variants
                        .iter()
                        .any(|v| value_of(v, flag).as_deref() == Some(*value)),
                    "no variant with {flag} {value}"
                );
            }
        }
        assert_eq!(variants.iter().filter(|v| v.full_text).count(), 1);
        assert_eq!(plain("lstm-2x256 full/text"), "lstm-2x256_full_text");
    }
}
