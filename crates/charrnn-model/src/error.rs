//! The one error type of this crate.
use std::path::PathBuf;

/// Everything that can go wrong while building, training, saving, loading or sampling a model.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A model configuration that cannot describe a network (zero sizes, dropout outside [0, 1)...).
    #[error("invalid model configuration: {0}")]
    InvalidConfig(String),
    /// A training configuration that cannot run (no budget, zero batch size...).
    #[error("invalid training configuration: {0}")]
    InvalidTrainConfig(String),
    /// Input that does not fit the model: ids outside the vocabulary, a missing label...
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A prompt given to [`generate`](crate::generate) that the vocabulary cannot encode
    /// (characters outside it, with `Unknown::Error`); `source` says which, and where.
    #[error("invalid input: prompt {index} ({prompt:?}): {source}")]
    Prompt {
        /// The prompt's index among those given.
        index: usize,
        /// The prompt as given.
        prompt: String,
        /// The vocabulary's error: `VocabError::UnknownTokens` lists each unknown character
        /// with its position in the prompt.
        source: charrnn_vocab::VocabError,
    },
    /// A distributed group could not be made or a collective failed: a rank that did not
    /// arrive or went away, a timeout, a launcher environment that does not add up.
    #[error("distributed training: {0}")]
    Distributed(String),
    /// A device string other than `auto`, `cpu`, `cuda` or `cuda:N`.
    #[error("unknown device {0:?}: expected auto, cpu, cuda or cuda:N")]
    UnknownDevice(String),
    /// CUDA was asked for on a machine (or build) without it.
    #[error("device {requested:?} was requested but {reason}")]
    CudaUnavailable {
        /// The device string as given.
        requested: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A checkpoint directory that is missing, corrupt, or whose parts disagree.
    #[error("checkpoint {}: {problem}", path.display())]
    Checkpoint {
        /// The directory or file at fault.
        path: PathBuf,
        /// What is wrong, in words.
        problem: String,
        /// The error behind it, when there is one (a JSON or vocabulary error…).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Training produced a NaN or infinite loss; nothing was saved after the last good checkpoint.
    #[error(
        "training diverged: the {what} became {value} at step {step} (epoch {epoch}); \
         the last good checkpoint, if any, was kept; try a lower learning rate or gradient clipping"
    )]
    NonFiniteLoss {
        /// Which quantity: "training loss" or "validation loss".
        what: &'static str,
        /// The value read back (NaN or ±inf).
        value: f64,
        /// The optimiser step at which it was seen.
        step: u64,
        /// The epoch at which it was seen.
        epoch: usize,
    },
    /// Training went on but its loss rose above the divergence bound
    /// (`TrainConfig::divergence_factor`).
    #[error(
        "training diverged: the {what} reached {value:.4} nats per character at step {step} \
         (epoch {epoch}), above the bound of {bound:.4}; the last good checkpoint, if any, was \
         kept; try a lower learning rate or gradient clipping (`divergence_factor: None` in the \
         `TrainConfig` turns the bound off)"
    )]
    Diverged {
        /// Which quantity: "training loss" or "validation loss".
        what: &'static str,
        /// The value read back, in nats per character.
        value: f64,
        /// The bound it exceeded.
        bound: f64,
        /// The optimiser step at which it was seen.
        step: u64,
        /// The epoch at which it was seen.
        epoch: usize,
    },
    /// A new run would replace the trained model of an existing run directory.
    #[error(
        "{} already holds a trained model: resume it (`Trainer::resume`), choose another \
         directory, or replace it (`Trainer::overwrite(true)`)", .0.display()
    )]
    RunExists(PathBuf),
    /// Training was interrupted ([`Trainer::interrupt_on`](crate::Trainer::interrupt_on))
    /// before a new run that replaces the model of its directory had saved anything: nothing
    /// was saved, and the model there is as it was.
    #[error(
        "interrupted before this run saved anything: the model in {} is as it was",
        .0.display()
    )]
    InterruptedUnsaved(PathBuf),
    /// A file-system error, with the path involved.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An error from libtorch. Its text is the first line of libtorch's message, without the
    /// C++ backtrace (`Exception raised from ...`, `frame #N: ...`) that libtorch appends; the
    /// whole text is the inner error's (its `Display` and `Debug`, and
    /// [`ModelError::full_text`]).
    #[error("libtorch: {}", first_line(.0))]
    Torch(tch::TchError),
    /// An error from the vocabulary (a bad tokenizer.json, a vocabulary that does not fit the
    /// model...). A prompt that [`generate`](crate::generate) cannot encode is
    /// [`ModelError::Prompt`].
    #[error(transparent)]
    Vocab(#[from] charrnn_vocab::VocabError),
    /// An error from `charrnn-data` (reading a dataset, a token store...), so that `?` works
    /// on its calls in code that returns this crate's [`Result`].
    #[error(transparent)]
    Data(#[from] charrnn_data::DataError),
    /// An error from the sampler (bad temperature, top-p...).
    #[error(transparent)]
    Sampling(#[from] charrnn_sampling::SamplingError),
}

impl From<tch::TchError> for ModelError {
    fn from(e: tch::TchError) -> Self {
        ModelError::Torch(e)
    }
}

/// The first line of libtorch's message: what went wrong, without the C++ backtrace.
fn first_line(e: &tch::TchError) -> String {
    let text = e.to_string();
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_owned()
}

impl ModelError {
    /// The error's whole text: its `Display`, except for [`ModelError::Torch`], whose
    /// `Display` keeps the first line of libtorch's message and whose whole text (the C++
    /// backtrace included, for a bug report) this is.
    pub fn full_text(&self) -> String {
        match self {
            ModelError::Torch(e) => format!("libtorch: {e}"),
            other => other.to_string(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn checkpoint(path: impl Into<PathBuf>, problem: impl Into<String>) -> Self {
        ModelError::Checkpoint {
            path: path.into(),
            problem: problem.into(),
            source: None,
        }
    }

    /// [`ModelError::checkpoint`] with the error that caused it kept as the source.
    pub(crate) fn checkpoint_caused(
        path: impl Into<PathBuf>,
        problem: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        ModelError::Checkpoint {
            path: path.into(),
            problem: problem.into(),
            source: Some(Box::new(source)),
        }
    }
}

/// This crate's result type.
pub type Result<T, E = ModelError> = std::result::Result<T, E>;
