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
         kept; try a lower learning rate or gradient clipping (--divergence-factor 0 turns the \
         bound off)"
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
        "{} already holds a trained model: resume it (--resume), choose another directory, \
         or replace it (--overwrite)", .0.display()
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
    /// An error from libtorch.
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// An error from the vocabulary (unknown characters in a prompt, a bad tokenizer.json...).
    #[error(transparent)]
    Vocab(#[from] charrnn_vocab::VocabError),
    /// An error from the sampler (bad temperature, top-p...).
    #[error(transparent)]
    Sampling(#[from] charrnn_sampling::SamplingError),
}

impl ModelError {
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
