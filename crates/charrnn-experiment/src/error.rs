//! The one error type of this crate.
use std::path::PathBuf;

/// An error a command run by the experiment returned, whatever its type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can stop an experiment.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExperimentError {
    /// Options that cannot make an experiment (a name that is not a plain directory name,
    /// zero samples, a bad budget...).
    #[error("{0}")]
    InvalidOptions(String),
    /// A `charrnn` command failed.
    #[error("{command} failed: {source}")]
    Command {
        /// The command, e.g. `charrnn train`.
        command: String,
        /// Why it failed.
        source: BoxError,
    },
    /// A command succeeded but did not say what the experiment needs (e.g. no `done` event).
    #[error("{command} {problem}")]
    MissingOutput {
        /// The command, e.g. `charrnn train`.
        command: String,
        /// What is missing, in words.
        problem: String,
    },
    /// A file-system error, with the path involved.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A data file could not be read.
    #[error(transparent)]
    Data(#[from] charrnn_data::DataError),
    /// A run's records could not be read.
    #[error(transparent)]
    Model(#[from] charrnn_model::ModelError),
    /// A record could not be written or read as JSON.
    #[error("{}: {source}", path.display())]
    Json {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// Drawing a plot failed.
    #[error("cannot draw {what}: {message}")]
    Plot {
        /// Which plot.
        what: String,
        /// What plotters said.
        message: String,
    },
}

impl ExperimentError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ExperimentError::Io {
            path: path.into(),
            source,
        }
    }
}

/// This crate's result type.
pub type Result<T, E = ExperimentError> = std::result::Result<T, E>;
