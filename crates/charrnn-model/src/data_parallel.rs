//! Data-parallel training over a [`ProcessGroup`]: what a [`Trainer`](crate::Trainer) does
//! differently when it has one. Every rank holds the same parameters (broadcast from rank 0
//! when it joins), takes its own slice of each global batch of the same epoch plan, divides
//! its loss sum by the number of real targets of the whole global batch, and sums the flat
//! gradient buffer over the ranks before clipping: each step is then the step one process
//! makes on the whole batch, and the optimizers stay in step without talking.
use std::hash::Hasher;
use std::ops::Range;

use charrnn_data::{DataError, Examples};

use tch::{Kind, Tensor};

use crate::dist::ProcessGroup;
use crate::error::{ModelError, Result};
use crate::network::CharRnn;
use crate::train_config::TrainConfig;

/// Rows `lo..hi` of a global batch of `n` rows that rank `rank` of `world` takes.
pub(crate) fn slice(n: usize, rank: usize, world: usize) -> std::ops::Range<usize> {
    (n * rank / world)..(n * (rank + 1) / world)
}

/// Checks that every rank trains the same thing, then gives every rank rank 0's parameters.
///
/// # Errors
/// [`ModelError::Distributed`] on every rank when one rank's model configuration, training
/// configuration or data key differs from rank 0's, or a collective fails.
pub(crate) fn join(
    group: &mut ProcessGroup,
    model: &CharRnn,
    config: &TrainConfig,
    data_key: u64,
) -> Result<()> {
    // SipHash with fixed keys: the same on every rank of the same binary.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(format!("{:?}|{:?}|{data_key}", model.config(), config).as_bytes());
    let own = h.finish() as i64;
    let mut theirs = Tensor::from_slice(&[own]);
    group.broadcast(&mut theirs, 0)?;
    let differs = i64::from(theirs.int64_value(&[0]) != own);
    let mut count = Tensor::from_slice(&[differs]);
    group.all_reduce(&mut count, false)?;
    let ranks = count.int64_value(&[0]);
    if ranks > 0 {
        return Err(ModelError::Distributed(format!(
            "{ranks} rank(s) have another model, training configuration or data than rank 0 \
             (this is rank {}): every rank must run the same command on the same data",
            group.rank()
        )));
    }
    let _guard = tch::no_grad_guard();
    let mut flat = model.flat().shallow_clone();
    group.broadcast(&mut flat, 0)
}

/// The real targets of the whole global batch, of which this rank holds `own`.
pub(crate) fn global_count(group: &mut ProcessGroup, own: usize) -> Result<usize> {
    let mut t = Tensor::from_slice(&[own as f64]);
    group.all_reduce(&mut t, false)?;
    Ok(t.double_value(&[0]).round() as usize)
}

/// Sums `(nats, chars)` over the ranks: a loss or an evaluation measured on each rank's part.
pub(crate) fn sum_loss(group: &mut ProcessGroup, nats: f64, chars: usize) -> Result<(f64, usize)> {
    let mut t = Tensor::from_slice(&[nats, chars as f64]);
    group.all_reduce(&mut t, false)?;
    Ok((t.double_value(&[0]), t.double_value(&[1]).round() as usize))
}

/// Every `world`-th example of `inner` from `rank` on: this rank's share of an evaluation.
pub(crate) struct Strided<'a> {
    inner: &'a dyn Examples,
    rank: usize,
    world: usize,
}

impl<'a> Strided<'a> {
    pub(crate) fn new(inner: &'a dyn Examples, rank: usize, world: usize) -> Self {
        Self {
            inner,
            rank,
            world: world.max(1),
        }
    }

    fn at(&self, i: usize) -> usize {
        self.rank.saturating_add(i.saturating_mul(self.world))
    }
}

impl Examples for Strided<'_> {
    fn len(&self) -> usize {
        self.inner
            .len()
            .saturating_sub(self.rank)
            .div_ceil(self.world)
    }

    fn example_len(&self, i: usize) -> usize {
        self.inner.example_len(self.at(i))
    }

    fn label(&self, i: usize) -> Option<u32> {
        self.inner.label(self.at(i))
    }

    fn write(&self, i: usize, range: Range<usize>, input: &mut Vec<i64>, target: &mut Vec<i64>) {
        self.inner.write(self.at(i), range, input, target);
    }

    fn check(
        &self,
        vocab_size: usize,
        num_labels: Option<usize>,
    ) -> std::result::Result<(), DataError> {
        self.inner.check(vocab_size, num_labels)
    }
}

/// Sums the flat gradient buffer over the ranks, in place.
pub(crate) fn sum_grads(group: &mut ProcessGroup, model: &CharRnn) -> Result<()> {
    let mut grad = model.flat_grad().shallow_clone();
    if grad.kind() != Kind::Float && grad.kind() != Kind::Double {
        return Err(ModelError::Distributed(format!(
            "gradients of kind {:?} cannot be reduced",
            grad.kind()
        )));
    }
    group.all_reduce(&mut grad, false)
}

#[cfg(test)]
mod tests {
    use super::slice;

    #[test]
    fn strided_shares_cover_every_example_once() {
        use super::Strided;
        use charrnn_data::{Example, Examples};
        let examples: Vec<Example> = (1..=7)
            .map(|n| Example {
                input: vec![1; n],
                target: vec![2; n],
                label: None,
            })
            .collect();
        for world in 1..5 {
            let mut seen: Vec<usize> = (0..world)
                .flat_map(|r| {
                    let part = Strided::new(&examples, r, world);
                    (0..part.len())
                        .map(|i| part.example_len(i))
                        .collect::<Vec<_>>()
                })
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (1..=7).collect::<Vec<_>>(), "world {world}");
        }
    }

    #[test]
    fn slices_cover_a_batch_once_in_order() {
        for n in 0..20 {
            for world in 1..5 {
                let parts: Vec<_> = (0..world).map(|r| slice(n, r, world)).collect();
                assert_eq!(parts[0].start, 0);
                assert_eq!(parts[world - 1].end, n);
                for w in parts.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                }
            }
        }
    }
}
