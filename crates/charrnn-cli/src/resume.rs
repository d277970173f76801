//! `train --resume DIR`: the run's recorded data settings fill in what the command line leaves
//! out, so that a resume reads the same data the same way; a setting given that differs from
//! the run's is refused (it would train or validate on other examples).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use charrnn_data::Encoding;
use charrnn_model::CheckpointConfig;

use crate::flags::TrainArgs;
use crate::paths;

/// The fraction of training documents held out for validation when nothing says otherwise.
pub const DEFAULT_VALID_FRACTION: f64 = 0.05;

impl TrainArgs {
    /// The training data (after [`fill_in`], always given).
    pub fn train_path(&self) -> &Path {
        self.train.as_deref().unwrap_or(Path::new(""))
    }

    /// The run directory (after [`fill_in`], always given).
    pub fn out_dir(&self) -> &Path {
        self.out.as_deref().unwrap_or(Path::new(""))
    }

    /// The fraction held out for validation when there is no --valid file.
    pub fn valid_fraction(&self) -> f64 {
        self.valid_fraction.unwrap_or(DEFAULT_VALID_FRACTION)
    }
}

/// `args` for the resume of the run in `dir`, whose last checkpoint recorded `saved`: the data,
/// the run directory, the reading options, windows and extra columns the command line leaves
/// out are the run's, and so is the seed; one given that differs from the run's is refused.
pub fn fill_in(args: &TrainArgs, dir: &Path, saved: &CheckpointConfig) -> Result<TrainArgs> {
    let d = &saved.data;
    let mut a = args.clone();
    if a.out.is_none() {
        a.out = Some(dir.to_owned());
    }
    if a.train.is_none() {
        let Some(path) = &d.train else {
            bail!(
                "--resume {}: the run does not record its training data: give --train",
                dir.display()
            );
        };
        if !path.exists() {
            bail!(
                "--resume {}: the run trained on {}, which is not there: give --train",
                dir.display(),
                path.display()
            );
        }
        a.train = Some(path.clone());
    }
    match (&args.valid, &d.valid) {
        (None, _) => a.valid = d.valid.clone(),
        (Some(given), Some(theirs)) if same_path(given, theirs) => {}
        (Some(given), theirs) => bail!(
            "--valid {} is not the run's validation data ({}): a resume validates as the run did \
             (leave --valid out)",
            given.display(),
            theirs.as_ref().map_or_else(
                || "a held-out part of the training data".to_owned(),
                |p| p.display().to_string()
            )
        ),
    }
    match (args.valid_fraction, d.valid_fraction) {
        (Some(given), Some(theirs)) if given != theirs => bail!(
            "--valid-fraction {given} is not the run's {theirs}: a resume validates as the run \
             did (leave --valid-fraction out)"
        ),
        (None, theirs) => a.valid_fraction = theirs,
        _ => {}
    }
    if a.text.columns.is_empty() {
        a.text.columns = d.columns.clone();
    }
    if a.text.label_column.is_none() {
        a.text.label_column = d.label_column.clone();
    }
    if a.text.format.is_none() {
        a.text.format = recorded(d.format.as_deref(), dir, "input format")?;
    }
    if a.text.text_unit.is_none() {
        a.text.text_unit = recorded(d.text_unit.as_deref(), dir, "text unit")?;
    }
    // A run from before the encoding was recorded read UTF-8.
    let encoding: Encoding = recorded(d.encoding.as_deref(), dir, "encoding")?.unwrap_or_default();
    match args.text.encoding {
        Some(given) if given != encoding => bail!(
            "--encoding {given} is not the run's ({encoding}): a resume reads the data as the run \
             did (leave --encoding out)"
        ),
        _ => a.text.encoding = Some(encoding),
    }
    let delimiter = match d.delimiter.as_deref() {
        None => None,
        Some(name) => Some(crate::checks::delimiter(name).map_err(|e| {
            anyhow::anyhow!(
                "--resume {}: the run's CSV delimiter {name:?} is not one: {e}",
                dir.display()
            )
        })?),
    };
    match (args.text.delimiter, delimiter) {
        (Some(given), theirs) if Some(given) != theirs => bail!(
            "--delimiter {:?} is not the run's ({}): a resume reads the data as the run did \
             (leave --delimiter out)",
            char::from(given),
            theirs.map_or("the default".to_owned(), |d| format!("{:?}", char::from(d)))
        ),
        _ => a.text.delimiter = delimiter,
    }
    a.text.skip_nulls |= d.skip_nulls;
    if args.extra_columns.is_empty() {
        a.extra_columns = d.extra_columns.clone();
    } else if args.extra_columns != d.extra_columns {
        bail!(
            "--extra-column {} is not the run's extra columns ({}): a resume reads the data as \
             the run did (leave --extra-column out)",
            args.extra_columns.join(" --extra-column "),
            listed(&d.extra_columns)
        );
    }
    refuse_other("--window", args.window, d.window)?;
    refuse_other("--stride", args.stride, d.stride)?;
    a.window = d.window;
    a.stride = d.stride;
    if args.stateful && !d.stateful {
        bail!(
            "--stateful: the run was not trained stateful: a resume reads the data as the run \
             did (leave --stateful out)"
        );
    }
    a.stateful = d.stateful;
    // The seed is the run's: 0, the default, stands for "not given".
    if let Some(t) = &saved.training {
        if args.run.seed != 0 && args.run.seed != t.seed {
            bail!(
                "--seed {} is not the run's seed {}: a resume keeps its seed (leave --seed out)",
                args.run.seed,
                t.seed
            );
        }
        a.run.seed = t.seed;
    }
    Ok(a)
}

/// The run's recorded `what` (`name`, if it recorded one) read back.
fn recorded<T>(name: Option<&str>, dir: &Path, what: &str) -> Result<Option<T>>
where
    T: std::str::FromStr<Err = String>,
{
    name.map(|n| {
        n.parse()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("--resume {}: the run's {what}", dir.display()))
    })
    .transpose()
}

/// Refuses `flag` given as `given` when the run had `theirs`.
fn refuse_other(flag: &str, given: Option<usize>, theirs: Option<usize>) -> Result<()> {
    match given {
        Some(g) if Some(g) != theirs => bail!(
            "{flag} {g} is not the run's ({}): a resume reads the data as the run did (leave \
             {flag} out)",
            theirs.map_or_else(|| "none".to_owned(), |t| t.to_string())
        ),
        _ => Ok(()),
    }
}

fn listed(columns: &[String]) -> String {
    if columns.is_empty() {
        "none".to_owned()
    } else {
        columns.join(", ")
    }
}

/// Whether two spellings name the same file (or, when either is missing, the same text).
fn same_path(a: &Path, b: &Path) -> bool {
    a == b || paths::same_file(a, b)
}

/// `path` made absolute against the current directory (not resolving links), so that a run
/// can be resumed from anywhere; as given when that fails.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
