//! What to sample: temperature, filters and banned ids, validated once.

use crate::SamplingError;

/// How logits are turned into a distribution before the filters run.
#[derive(Clone, Debug, PartialEq)]
pub enum Temperature {
    /// Always pick the highest-scoring allowed id (argmax, lowest id on ties); draws no random
    /// numbers and ignores every filter (the argmax survives all of them anyway).
    Greedy,
    /// Sample from `softmax(logits / T)`; `T` must be finite and > 0.
    Fixed(f32),
    /// A list of temperatures cycled per step, separately for each row: the `n`-th draw of a row
    /// uses entry `n % len` (as textgenrnn's temperature lists do).
    Schedule(Vec<f32>),
}

impl Temperature {
    /// The temperatures cycled through (one entry for `Fixed`), or `None` for greedy.
    pub(crate) fn as_slice(&self) -> Option<&[f32]> {
        match self {
            Temperature::Greedy => None,
            Temperature::Fixed(t) => Some(std::slice::from_ref(t)),
            Temperature::Schedule(ts) => Some(ts),
        }
    }
}

/// Everything that decides which id is drawn from a row of logits.
///
/// Filters run in Hugging Face `generate` order: temperature, then top-k, then top-p, then min-p,
/// each on what the previous one left (renormalised). `None` disables a filter.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingConfig {
    /// Temperature (or greedy decoding).
    pub temperature: Temperature,
    /// Keep only ids whose logit is at least the `k`-th largest allowed logit (ties at the
    /// boundary are all kept, as in Hugging Face). Must be ≥ 1; larger than the vocabulary is fine.
    pub top_k: Option<usize>,
    /// Nucleus sampling: keep the smallest set of most likely ids whose probability sums to at
    /// least `p` (the id that crosses `p` is kept). Must be in (0, 1]; 1 keeps everything.
    pub top_p: Option<f32>,
    /// Keep only ids whose probability is at least `min_p` times the top probability.
    /// Must be in [0, 1); 0 keeps everything.
    pub min_p: Option<f32>,
    /// Ids that can never be drawn, whatever their logit (padding, unknown, begin-of-sequence…).
    pub banned: Vec<u32>,
}

impl SamplingConfig {
    /// Argmax decoding, no filters, nothing banned.
    pub fn greedy() -> Self {
        Self {
            temperature: Temperature::Greedy,
            top_k: None,
            top_p: None,
            min_p: None,
            banned: Vec::new(),
        }
    }

    /// Plain `softmax(logits / t)` sampling, no filters, nothing banned (validated later, by
    /// [`validate`](Self::validate) or [`Sampler::new`](crate::Sampler::new)).
    pub fn with_temperature(t: f32) -> Self {
        Self {
            temperature: Temperature::Fixed(t),
            ..Self::greedy()
        }
    }

    /// Sets `top_k`.
    pub fn top_k(mut self, k: usize) -> Self {
        self.top_k = Some(k);
        self
    }

    /// Sets `top_p`.
    pub fn top_p(mut self, p: f32) -> Self {
        self.top_p = Some(p);
        self
    }

    /// Sets `min_p`.
    pub fn min_p(mut self, p: f32) -> Self {
        self.min_p = Some(p);
        self
    }

    /// Sets the banned ids.
    pub fn banned(mut self, ids: impl Into<Vec<u32>>) -> Self {
        self.banned = ids.into();
        self
    }

    /// Checks every parameter that does not depend on the vocabulary: temperatures finite
    /// and positive, `top_k` ≥ 1, `top_p` in (0, 1], `min_p` in [0, 1). Banned ids are checked against the
    /// vocabulary by [`Sampler::new`](crate::Sampler::new).
    pub fn validate(&self) -> Result<(), SamplingError> {
        match &self.temperature {
            Temperature::Greedy => {}
            Temperature::Fixed(t) => {
                if *t == 0.0 {
                    return Err(SamplingError::ZeroTemperature);
                }
                if !valid_temperature(*t) {
                    return Err(SamplingError::InvalidTemperature(*t));
                }
            }
            Temperature::Schedule(ts) => {
                if ts.is_empty() {
                    return Err(SamplingError::EmptySchedule);
                }
                if let Some((index, &value)) =
                    ts.iter().enumerate().find(|(_, t)| !valid_temperature(**t))
                {
                    return Err(SamplingError::InvalidScheduleTemperature { index, value });
                }
            }
        }
        if self.top_k == Some(0) {
            return Err(SamplingError::InvalidTopK);
        }
        match self.top_p {
            Some(p) if !(p > 0.0 && p <= 1.0) => return Err(SamplingError::InvalidTopP(p)),
            _ => {}
        }
        match self.min_p {
            Some(p) if !(0.0..1.0).contains(&p) => return Err(SamplingError::InvalidMinP(p)),
            _ => {}
        }
        Ok(())
    }
}

impl Default for SamplingConfig {
    /// Same as [`SamplingConfig::greedy`].
    fn default() -> Self {
        Self::greedy()
    }
}

fn valid_temperature(t: f32) -> bool {
    t.is_finite() && t > 0.0
}
