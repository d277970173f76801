//! The one error type of the crate.

/// Everything that can go wrong when configuring a [`Sampler`](crate::Sampler) or drawing ids.
///
/// Construction errors come from [`SamplingConfig::validate`](crate::SamplingConfig::validate) and
/// [`Sampler::new`](crate::Sampler::new); the rest are reported per call, before any state
/// (RNG stream, schedule step) is touched, so a failed call can simply be retried with fixed input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SamplingError {
    /// A fixed temperature of exactly 0 (or -0) was asked for.
    #[error("temperature 0 is not a distribution; use Temperature::Greedy for argmax decoding")]
    ZeroTemperature,
    /// A fixed temperature that is negative, NaN or infinite.
    #[error(
        "temperature must be finite and > 0, got {0} (greedy decoding is asked for apart, not as a temperature)"
    )]
    InvalidTemperature(f32),
    /// A temperature schedule with no entries.
    #[error("temperature schedule is empty; give at least one temperature")]
    EmptySchedule,
    /// An entry of a temperature schedule that is not finite and > 0.
    #[error(
        "temperature schedule entry {index} must be finite and > 0, got {value} (greedy decoding is asked for apart, not as a temperature)"
    )]
    InvalidScheduleTemperature {
        /// Position of the bad entry in the schedule.
        index: usize,
        /// The bad entry.
        value: f32,
    },
    /// `top_k` was `Some(0)`.
    #[error("top_k must be at least 1, got 0 (leave top-k out to disable it)")]
    InvalidTopK,
    /// `top_p` outside (0, 1] or NaN.
    #[error("top_p must be in (0, 1], got {0} (leave top-p out to disable it)")]
    InvalidTopP(f32),
    /// `min_p` outside [0, 1) or NaN.
    #[error("min_p must be in [0, 1), got {0} (leave min-p out to disable it)")]
    InvalidMinP(f32),
    /// `vocab_size` was 0.
    #[error("vocab_size must be at least 1")]
    EmptyVocab,
    /// `vocab_size` does not fit `u32` ids, or its scratch buffers could not be allocated.
    #[error(
        "vocab_size {0} is too large (ids are u32 and the sampler needs scratch memory per id)"
    )]
    VocabTooLarge(usize),
    /// A banned id is not a valid id of the vocabulary.
    #[error("banned id {id} is outside the vocabulary of {vocab_size} ids")]
    BannedOutOfRange {
        /// The offending id.
        id: u32,
        /// The sampler's vocabulary size.
        vocab_size: usize,
    },
    /// Every id of the vocabulary is banned, so no row could ever be sampled.
    #[error("all {0} ids of the vocabulary are banned; nothing can be sampled")]
    AllBanned(usize),
    /// A single row of logits has the wrong length.
    #[error("logits row holds {got} floats, expected vocab_size = {vocab_size}")]
    RowLength {
        /// Length that was passed.
        got: usize,
        /// The sampler's vocabulary size.
        vocab_size: usize,
    },
    /// A batch buffer is not `rows × vocab_size` floats.
    #[error(
        "logits buffer holds {got} floats, but {rows} rows of {vocab_size} ids need rows × vocab_size"
    )]
    BatchShape {
        /// Length of the logits buffer.
        got: usize,
        /// Number of rows (length of the output buffer).
        rows: usize,
        /// The sampler's vocabulary size.
        vocab_size: usize,
    },
    /// The buffer for a probability distribution has the wrong length.
    #[error("probability buffer holds {got} slots, expected vocab_size = {vocab_size}")]
    OutputLength {
        /// Length that was passed.
        got: usize,
        /// The sampler's vocabulary size.
        vocab_size: usize,
    },
    /// A logit is NaN or `+inf` (the model output is broken). `-inf` is not an error: it is
    /// probability 0, the usual way to mask an id.
    #[error(
        "row {row}: logit of id {id} is {value}; logits must be finite or -inf (NaN or +inf means a broken model output)"
    )]
    NonFiniteLogit {
        /// Row of the batch (or the row index passed to a single-row call).
        row: usize,
        /// Id whose logit is NaN or `+inf`.
        id: usize,
        /// The value itself.
        value: f32,
    },
    /// Every id of a row is masked (logit `-inf`) or banned: no id can be drawn from it.
    #[error(
        "row {row}: every logit is -inf or banned; nothing can be sampled (leave at least one id unmasked)"
    )]
    AllMasked {
        /// Row of the batch (or the row index passed to a single-row call).
        row: usize,
    },
}
