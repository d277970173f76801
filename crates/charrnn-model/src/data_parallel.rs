//! Data-parallel training over a [`ProcessGroup`]: what a [`Trainer`](crate::Trainer) does
//! differently when it has one. Every rank holds the same parameters (broadcast from rank 0
//! when it joins), takes its own slice of each global batch of the same epoch plan, divides
//! its loss sum by the number of real targets of the whole global batch, and sums the flat
//! gradient buffer over the ranks before clipping: each step is then the step one process
//! makes on the whole batch, and the optimizers stay in step without talking.
use std::hash::Hasher;

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
    if config.stateful.is_some() {
        return Err(ModelError::Distributed(
            "stateful training is not data-parallel yet".into(),
        ));
    }
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
