//! Independent reference computations (std `exp`, full sorts), used to judge the sampler.

use charrnn_sampling::Sampler;

/// Allowed ids (not banned), ascending.
pub(crate) fn allowed(vocab: usize, banned: &[u32]) -> Vec<usize> {
    (0..vocab)
        .filter(|i| !banned.contains(&(*i as u32)))
        .collect()
}

/// First id with the largest logit among allowed ids.
pub(crate) fn argmax_ref(logits: &[f32], banned: &[u32]) -> usize {
    let ids = allowed(logits.len(), banned);
    let mut best = ids[0];
    for &i in &ids {
        if logits[i] > logits[best] {
            best = i;
        }
    }
    best
}

/// The inverse-CDF draw in id order: the first id whose cumulative probability exceeds `u`.
pub(crate) fn inverse_cdf_ref(probs: &[f64], u: f64) -> u32 {
    let mut cum = 0.0;
    probs
        .iter()
        .position(|p| {
            cum += p;
            cum > u
        })
        .unwrap() as u32
}

/// softmax(logits / t) over allowed ids (0 for banned).
pub(crate) fn softmax_ref(logits: &[f32], t: f64, banned: &[u32]) -> Vec<f64> {
    let max = logits[argmax_ref(logits, banned)] as f64;
    let mut p: Vec<f64> = (0..logits.len())
        .map(|i| {
            if banned.contains(&(i as u32)) {
                0.0
            } else {
                ((logits[i] as f64 - max) / t).exp()
            }
        })
        .collect();
    let total: f64 = p.iter().sum();
    p.iter_mut().for_each(|x| *x /= total);
    p
}

/// Allowed ids sorted by descending logit, then ascending id.
pub(crate) fn sorted_desc(logits: &[f32], banned: &[u32]) -> Vec<usize> {
    let mut ids = allowed(logits.len(), banned);
    ids.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    ids
}

/// The k-th largest allowed logit (k clamped to the number of allowed ids).
pub(crate) fn kth_largest(logits: &[f32], banned: &[u32], k: usize) -> f32 {
    let ids = sorted_desc(logits, banned);
    logits[ids[k.min(ids.len()) - 1]]
}

/// Probability mass of ids ranked strictly before `id` (descending logit, then id).
pub(crate) fn mass_before(logits: &[f32], probs: &[f64], banned: &[u32], id: usize) -> f64 {
    sorted_desc(logits, banned)
        .iter()
        .take_while(|&&i| i != id)
        .map(|&i| probs[i])
        .sum()
}

/// Pearson chi-square statistic of `counts` against `probs` (infinite if an impossible id occurs).
pub(crate) fn chi_square(counts: &[u64], probs: &[f64]) -> f64 {
    let n: u64 = counts.iter().sum();
    counts
        .iter()
        .zip(probs)
        .map(|(&c, &p)| {
            let expected = p * n as f64;
            if expected == 0.0 {
                if c == 0 { 0.0 } else { f64::INFINITY }
            } else {
                (c as f64 - expected).powi(2) / expected
            }
        })
        .sum()
}

pub(crate) fn counts_of(sampler: &mut Sampler, logits: &[f32], draws: usize) -> Vec<u64> {
    let mut counts = vec![0u64; logits.len()];
    for _ in 0..draws {
        counts[sampler.sample_row(0, logits).unwrap() as usize] += 1;
    }
    counts
}

pub(crate) fn support(dist: &[f64]) -> Vec<usize> {
    (0..dist.len()).filter(|&i| dist[i] > 0.0).collect()
}

pub(crate) fn dist_of(sampler: &mut Sampler, logits: &[f32]) -> Vec<f64> {
    let mut out = vec![f64::NAN; logits.len()];
    sampler.distribution(0, logits, &mut out).unwrap();
    out
}
