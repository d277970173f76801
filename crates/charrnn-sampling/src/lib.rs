//! Seeded, batched sampling of the next id from plain logits: greedy, temperature (fixed or a
//! per-step schedule), top-k, top-p (nucleus) and min-p, combined in Hugging Face `generate`
//! order (temperature → top-k → top-p → min-p), with ids that can never be drawn, plus a small
//! [`StopCriteria`] helper.
//!
//! # What this crate knows
//!
//! - Logits are `f32` slices, one row of `vocab_size` values per sequence (`[batch, vocab]`
//!   row-major for batches). Probabilities are computed in `f64`, max-subtracted, with an `exp`
//!   built only from IEEE `+ - * /`, and uniforms come from the top 53 bits of a ChaCha20 `u64`:
//!   the same seed and logits give the same ids on every platform.
//! - Each row index has its own RNG stream (and schedule step), so a row sampled inside a batch
//!   draws exactly what it draws when sampled alone with the same seed and row index.
//! - Banned ids get probability 0 by construction; a sampler whose vocabulary is entirely banned
//!   cannot be built.
//! - A logit of `-inf` (the usual masking idiom) is probability 0 under every strategy, greedy
//!   and every filter included, at any temperature: as if that id were banned for that row
//!   alone. Finite logits are sampled exactly as they would be without the masked ids around.
//! - Invalid parameters, wrong buffer lengths, NaN or `+inf` logits, and a row where every id is
//!   `-inf` or banned are [`SamplingError`]s, never panics or garbage.
//!
//! # What it does not know
//!
//! - No tensors and no device: the caller copies logits to a host slice.
//! - No vocabulary: ids are just indices into a row. Which ids are padding, unknown or `<eos>`,
//!   and how ids become text, is the caller's business (it passes them as `banned`, or to
//!   [`StopCriteria`] along with the decoded text).
//! - No model state, beam search or repetition penalties.
//!
//! # Example
//!
//! ```
//! use charrnn_sampling::{Sampler, SamplingConfig, StopCriteria, StopReason};
//!
//! // Id 0 is padding: never drawn, however large its logit.
//! let config = SamplingConfig::with_temperature(0.8).top_k(3).top_p(0.95).banned([0]);
//! let mut sampler = Sampler::new(config, 5, 42)?;
//!
//! // Two sequences, five ids each: one id per row.
//! let logits = [9.0, 2.0, 1.0, 0.5, -1.0, /* row 1 */ 9.0, -1.0, 0.0, 3.0, 2.5];
//! let mut next = [0u32; 2];
//! sampler.sample_batch(&logits, &mut next)?;
//! assert!(next.iter().all(|&id| id != 0));
//!
//! // Row 1 alone, same seed and row index: same draw as inside the batch.
//! let mut alone = Sampler::new(sampler.config().clone(), 5, 42)?;
//! assert_eq!(alone.sample_row(1, &logits[5..])?, next[1]);
//!
//! // -inf masks an id for this row only; NaN, +inf and a row with nothing left are errors.
//! let masked = [0.0, f32::NEG_INFINITY, 5.0, f32::NEG_INFINITY, 1.0];
//! for _ in 0..10 {
//!     assert!([2, 4].contains(&sampler.sample_row(0, &masked)?));
//! }
//! assert!(sampler.sample_row(0, &[f32::NAN, 0.0, 0.0, 0.0, 0.0]).is_err());
//! assert!(sampler.sample_row(0, &[f32::INFINITY, 0.0, 0.0, 0.0, 0.0]).is_err());
//! assert!(sampler.sample_row(0, &[f32::NEG_INFINITY; 5]).is_err());
//! assert!(SamplingConfig::with_temperature(0.0).validate().is_err());
//!
//! let stop = StopCriteria::new(100).with_eos(4).with_stop_string("\n\n");
//! assert_eq!(stop.check(1, 7, "hello\n\n"), Some(StopReason::StopString(0)));
//! assert_eq!(stop.check(4, 8, "hello"), Some(StopReason::Eos));
//! assert_eq!(stop.check(1, 3, "hel"), None);
//! # Ok::<(), charrnn_sampling::SamplingError>(())
//! ```
#![warn(
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

mod config;
mod error;
mod filters;
mod math;
mod sampler;
mod stop;

pub use config::{SamplingConfig, Temperature};
pub use error::SamplingError;
pub use sampler::{ActiveFilters, Sampler};
pub use stop::{StopCriteria, StopReason};
