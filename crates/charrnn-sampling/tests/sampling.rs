//! Behaviour of `Sampler`: banned ids, filters, reproducibility, batching, distributions, errors.

use charrnn_sampling::{Sampler, SamplingConfig, SamplingError, Temperature};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Independent reference computations (std `exp`, full sorts), used to judge the sampler.

/// Allowed ids (not banned), ascending.
fn allowed(vocab: usize, banned: &[u32]) -> Vec<usize> {
    (0..vocab)
        .filter(|i| !banned.contains(&(*i as u32)))
        .collect()
}

/// First id with the largest logit among allowed ids.
fn argmax_ref(logits: &[f32], banned: &[u32]) -> usize {
    let ids = allowed(logits.len(), banned);
    let mut best = ids[0];
    for &i in &ids {
        if logits[i] > logits[best] {
            best = i;
        }
    }
    best
}

/// softmax(logits / t) over allowed ids (0 for banned).
fn softmax_ref(logits: &[f32], t: f64, banned: &[u32]) -> Vec<f64> {
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
fn sorted_desc(logits: &[f32], banned: &[u32]) -> Vec<usize> {
    let mut ids = allowed(logits.len(), banned);
    ids.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    ids
}

/// The k-th largest allowed logit (k clamped to the number of allowed ids).
fn kth_largest(logits: &[f32], banned: &[u32], k: usize) -> f32 {
    let ids = sorted_desc(logits, banned);
    logits[ids[k.min(ids.len()) - 1]]
}

/// Probability mass of ids ranked strictly before `id` (descending logit, then id).
fn mass_before(logits: &[f32], probs: &[f64], banned: &[u32], id: usize) -> f64 {
    sorted_desc(logits, banned)
        .iter()
        .take_while(|&&i| i != id)
        .map(|&i| probs[i])
        .sum()
}

/// Pearson chi-square statistic of `counts` against `probs` (infinite if an impossible id occurs).
fn chi_square(counts: &[u64], probs: &[f64]) -> f64 {
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

fn counts_of(sampler: &mut Sampler, logits: &[f32], draws: usize) -> Vec<u64> {
    let mut counts = vec![0u64; logits.len()];
    for _ in 0..draws {
        counts[sampler.sample_row(0, logits).unwrap() as usize] += 1;
    }
    counts
}

fn support(dist: &[f64]) -> Vec<usize> {
    (0..dist.len()).filter(|&i| dist[i] > 0.0).collect()
}

fn dist_of(sampler: &mut Sampler, logits: &[f32]) -> Vec<f64> {
    let mut out = vec![f64::NAN; logits.len()];
    sampler.distribution(0, logits, &mut out).unwrap();
    out
}

// ---------------------------------------------------------------------------------------------
// Strategies.

/// Logits on a coarse grid, so that ties happen often.
fn grid_logits(max_vocab: usize) -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec((-40i32..40).prop_map(|i| i as f32 / 4.0), 1..=max_vocab)
}

/// Logits, plus a banned list that leaves at least one id allowed.
fn logits_and_banned(max_vocab: usize) -> impl Strategy<Value = (Vec<f32>, Vec<u32>)> {
    prop_oneof![
        prop::collection::vec(-30.0f32..30.0, 1..=max_vocab),
        grid_logits(max_vocab)
    ]
    .prop_flat_map(|logits| {
        let n = logits.len();
        (Just(logits), prop::collection::vec(any::<bool>(), n), 0..n)
    })
    .prop_map(|(logits, mask, keep)| {
        let banned = (0..logits.len())
            .filter(|&i| mask[i] && i != keep)
            .map(|i| i as u32)
            .collect();
        (logits, banned)
    })
}

fn temperature() -> impl Strategy<Value = Temperature> {
    prop_oneof![
        Just(Temperature::Greedy),
        (0.05f32..5.0).prop_map(Temperature::Fixed),
        prop::collection::vec(0.05f32..5.0, 1..4).prop_map(Temperature::Schedule),
    ]
}

fn config(banned: Vec<u32>) -> impl Strategy<Value = SamplingConfig> {
    (
        temperature(),
        prop::option::of(1usize..12),
        prop::option::of(0.05f32..=1.0),
        prop::option::of(0.0f32..0.95),
    )
        .prop_map(move |(temperature, top_k, top_p, min_p)| SamplingConfig {
            temperature,
            top_k,
            top_p,
            min_p,
            banned: banned.clone(),
        })
}

fn case() -> impl Strategy<Value = (Vec<f32>, SamplingConfig, u64)> {
    logits_and_banned(40)
        .prop_flat_map(|(logits, banned)| (Just(logits), config(banned), any::<u64>()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn greedy_is_argmax_over_allowed_ids((logits, banned) in logits_and_banned(60), k in 1usize..5) {
        let expected = argmax_ref(&logits, &banned) as u32;
        for config in [
            SamplingConfig::greedy().banned(banned.clone()),
            SamplingConfig::greedy().banned(banned.clone()).top_k(k).top_p(0.3).min_p(0.5),
        ] {
            let mut s = Sampler::new(config, logits.len(), 1).unwrap();
            prop_assert_eq!(s.sample_row(0, &logits).unwrap(), expected);
            prop_assert_eq!(s.sample_row(9, &logits).unwrap(), expected);
        }
    }

    #[test]
    fn no_strategy_ever_returns_a_banned_id((logits, config, seed) in case()) {
        let vocab = logits.len();
        let banned = config.banned.clone();
        let mut s = Sampler::new(config, vocab, seed).unwrap();
        // A batch of 4 rows: the same row, shifted, with banned ids made the most likely.
        let mut batch = Vec::new();
        for r in 0..4 {
            batch.extend(logits.iter().enumerate().map(|(i, &l)| {
                if banned.contains(&(i as u32)) { 1e30 } else { l + r as f32 }
            }));
        }
        let mut out = [0u32; 4];
        for _ in 0..25 {
            s.sample_batch(&batch, &mut out).unwrap();
            for &id in &out {
                prop_assert!((id as usize) < vocab);
                prop_assert!(!banned.contains(&id), "drew banned id {}", id);
            }
        }
        let dist = dist_of(&mut s, &batch[..vocab]);
        for &b in &banned {
            prop_assert_eq!(dist[b as usize], 0.0);
        }
    }

    #[test]
    fn top_k_draws_only_among_the_k_largest(
        (logits, banned) in logits_and_banned(40), k in 1usize..8, t in 0.1f32..5.0, seed: u64,
    ) {
        let threshold = kth_largest(&logits, &banned, k);
        let config = SamplingConfig::with_temperature(t).top_k(k).banned(banned);
        let mut s = Sampler::new(config, logits.len(), seed).unwrap();
        for _ in 0..30 {
            let id = s.sample_row(0, &logits).unwrap() as usize;
            prop_assert!(logits[id] >= threshold, "id {} logit {} < k-th {}", id, logits[id], threshold);
        }
        for id in support(&dist_of(&mut s, &logits)) {
            prop_assert!(logits[id] >= threshold);
        }
    }

    #[test]
    fn top_p_draws_only_inside_the_nucleus(
        (logits, banned) in logits_and_banned(40), p in 0.05f32..1.0, t in 0.1f32..5.0, seed: u64,
    ) {
        let probs = softmax_ref(&logits, t as f64, &banned);
        let config = SamplingConfig::with_temperature(t).top_p(p).banned(banned.clone());
        let mut s = Sampler::new(config, logits.len(), seed).unwrap();
        // Inside the nucleus: the ids ranked before it hold less than p (tiny slack for rounding).
        let inside = |id: usize| mass_before(&logits, &probs, &banned, id) < p as f64 + 1e-9;
        for _ in 0..30 {
            let id = s.sample_row(0, &logits).unwrap() as usize;
            prop_assert!(inside(id), "id {} outside the nucleus", id);
        }
        let dist = dist_of(&mut s, &logits);
        for id in support(&dist) {
            prop_assert!(inside(id));
        }
        // And the nucleus kept really holds at least p of the mass.
        let kept: f64 = support(&dist).iter().map(|&i| probs[i]).sum();
        prop_assert!(kept >= p as f64 - 1e-9, "kept mass {} < p {}", kept, p);
    }

    #[test]
    fn large_vocabularies_keep_exactly_the_right_ids(
        logits in prop_oneof![
            prop::collection::vec(-4.0f32..4.0, 257..3000),
            prop::collection::vec((-64i32..64).prop_map(|i| i as f32 / 8.0), 257..3000),
        ],
        p in 0.05f32..1.0, t in 0.3f32..3.0, k in 1usize..120, seed: u64,
    ) {
        // Above 256 ids top-p buckets before sorting, and above a few thousand top-k bounds the
        // k-th logit with a sample first: both must keep exactly what the definitions say.
        let vocab = logits.len();
        let banned = vec![0u32, 1, 2, (vocab / 2) as u32];
        let ranked = sorted_desc(&logits, &banned);
        let threshold = kth_largest(&logits, &banned, k);
        let top_k_set: Vec<usize> = allowed(vocab, &banned)
            .into_iter()
            .filter(|&i| logits[i] >= threshold)
            .collect();
        let probs = softmax_ref(&logits, t as f64, &banned);

        // Top-k alone: exactly the allowed ids at least as good as the k-th (ties included).
        let config = SamplingConfig::with_temperature(t).top_k(k).banned(banned.clone());
        let mut s = Sampler::new(config, vocab, seed).unwrap();
        prop_assert_eq!(support(&dist_of(&mut s, &logits)), top_k_set.clone());

        // Top-p alone, then after top-k: a prefix of the ranking, the shortest reaching p.
        for with_k in [false, true] {
            let mut config = SamplingConfig::with_temperature(t).top_p(p).banned(banned.clone());
            let mut q = probs.clone();
            if with_k {
                config.top_k = Some(k);
                for (i, x) in q.iter_mut().enumerate() {
                    if !top_k_set.contains(&i) { *x = 0.0; }
                }
                let mass: f64 = q.iter().sum();
                q.iter_mut().for_each(|x| *x /= mass);
            }
            let mut s = Sampler::new(config, vocab, seed).unwrap();
            let dist = dist_of(&mut s, &logits);
            let kept = support(&dist);
            let mut prefix = ranked[..kept.len()].to_vec();
            prefix.sort_unstable();
            prop_assert_eq!(&kept, &prefix, "with_k {}", with_k);
            let kept_mass: f64 = kept.iter().map(|&i| q[i]).sum();
            let last = ranked[kept.len() - 1];
            prop_assert!(kept_mass >= p as f64 - 1e-9, "kept {} < p {}", kept_mass, p);
            prop_assert!(kept_mass - q[last] < p as f64 + 1e-9, "nucleus not minimal");
            for _ in 0..5 {
                let id = s.sample_row(0, &logits).unwrap() as usize;
                prop_assert!(dist[id] > 0.0);
            }
        }
    }

    #[test]
    fn min_p_draws_only_ids_near_the_top(
        (logits, banned) in logits_and_banned(40), min_p in 0.0f32..0.99, t in 0.1f32..5.0, seed: u64,
    ) {
        let probs = softmax_ref(&logits, t as f64, &banned);
        let top = probs.iter().cloned().fold(0.0, f64::max);
        let config = SamplingConfig::with_temperature(t).min_p(min_p).banned(banned);
        let mut s = Sampler::new(config, logits.len(), seed).unwrap();
        for _ in 0..30 {
            let id = s.sample_row(0, &logits).unwrap() as usize;
            prop_assert!(probs[id] >= min_p as f64 * top * (1.0 - 1e-9));
        }
    }

    #[test]
    fn very_low_temperature_is_greedy(
        logits in grid_logits(60), seed: u64, k in prop::option::of(1usize..5),
    ) {
        let max = logits[argmax_ref(&logits, &[])];
        let mut config = SamplingConfig::with_temperature(1e-3);
        config.top_k = k;
        let mut s = Sampler::new(config, logits.len(), seed).unwrap();
        for _ in 0..20 {
            let id = s.sample_row(0, &logits).unwrap() as usize;
            // Grid steps are 0.25, so anything but a tied maximum has weight < e^-250.
            prop_assert_eq!(logits[id], max);
        }
    }

    #[test]
    fn same_seed_gives_the_same_sequence((logits, config, seed) in case()) {
        let draws = |config: SamplingConfig| {
            let mut s = Sampler::new(config, logits.len(), seed).unwrap();
            (0..30).map(|_| s.sample_row(3, &logits).unwrap()).collect::<Vec<_>>()
        };
        prop_assert_eq!(draws(config.clone()), draws(config));
    }

    #[test]
    fn batched_equals_one_at_a_time(
        (logits, config, seed) in case(), rows in 1usize..6, steps in 1usize..6,
    ) {
        let vocab = logits.len();
        // Different logits per row and per step.
        let batch_at = |step: usize| -> Vec<f32> {
            (0..rows)
                .flat_map(|r| logits.iter().enumerate().map(move |(i, &l)| {
                    l + ((i * 7 + r * 3 + step * 5) % 11) as f32 * 0.3
                }))
                .collect()
        };
        let mut batched = Sampler::new(config.clone(), vocab, seed).unwrap();
        let mut single = Sampler::new(config.clone(), vocab, seed).unwrap();
        let mut subset = Sampler::new(config, vocab, seed).unwrap();
        let ids: Vec<usize> = (0..rows).rev().collect();
        for step in 0..steps {
            let batch = batch_at(step);
            let mut out = vec![0u32; rows];
            batched.sample_batch(&batch, &mut out).unwrap();
            // One at a time, rows in reverse order.
            for r in (0..rows).rev() {
                let one = single.sample_row(r, &batch[r * vocab..(r + 1) * vocab]).unwrap();
                prop_assert_eq!(one, out[r], "row {} step {}", r, step);
            }
            // Through `sample_rows`, with the buffer in reverse row order.
            let reversed: Vec<f32> = ids
                .iter()
                .flat_map(|&r| batch[r * vocab..(r + 1) * vocab].iter().copied())
                .collect();
            let mut out_rev = vec![0u32; rows];
            subset.sample_rows(&ids, &reversed, &mut out_rev).unwrap();
            for (j, &r) in ids.iter().enumerate() {
                prop_assert_eq!(out_rev[j], out[r]);
            }
        }
    }

    #[test]
    fn distribution_is_normalised_and_matches_softmax(
        (logits, banned) in logits_and_banned(40), t in 0.1f32..5.0,
    ) {
        let config = SamplingConfig::with_temperature(t).banned(banned.clone());
        let mut s = Sampler::new(config, logits.len(), 0).unwrap();
        let dist = dist_of(&mut s, &logits);
        let reference = softmax_ref(&logits, t as f64, &banned);
        prop_assert!((dist.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for (a, b) in dist.iter().zip(&reference) {
            prop_assert!((a - b).abs() < 1e-12, "{} vs {}", a, b);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Frequencies: chi-square at a fixed seed.

/// Chi-square critical value for 7 degrees of freedom at p = 0.001.
const CHI2_DF7_P001: f64 = 24.322;
const LOGITS8: [f32; 8] = [2.0, 1.0, 0.5, 0.0, -0.5, -1.0, 1.5, 0.25];
const DRAWS: usize = 20_000;

#[test]
fn frequencies_match_softmax_of_logits_over_temperature() {
    for (t, seed) in [(0.5f32, 11u64), (1.0, 12), (2.0, 13)] {
        let mut s = Sampler::new(SamplingConfig::with_temperature(t), 8, seed).unwrap();
        let counts = counts_of(&mut s, &LOGITS8, DRAWS);
        let stat = chi_square(&counts, &softmax_ref(&LOGITS8, t as f64, &[]));
        assert!(stat < CHI2_DF7_P001, "T = {t}: chi-square {stat}");
    }
}

#[test]
fn the_chi_square_check_catches_an_ignored_temperature() {
    // The same draws judged against softmax(logits), as an implementation that forgot the
    // temperature would produce them: the statistic must blow past the threshold.
    for (t, seed) in [(0.5f32, 11u64), (2.0, 13)] {
        let mut s = Sampler::new(SamplingConfig::with_temperature(t), 8, seed).unwrap();
        let counts = counts_of(&mut s, &LOGITS8, DRAWS);
        let wrong = chi_square(&counts, &softmax_ref(&LOGITS8, 1.0, &[]));
        assert!(
            wrong > 10.0 * CHI2_DF7_P001,
            "T = {t}: statistic {wrong} too small"
        );
    }
}

#[test]
fn frequencies_match_the_filtered_distribution() {
    // Reference distributions computed by hand from softmax(LOGITS8 / T).
    let renorm = |t: f64, keep: &[usize]| {
        let p = softmax_ref(&LOGITS8, t, &[]);
        let mass: f64 = keep.iter().map(|&i| p[i]).sum();
        (0..8)
            .map(|i| if keep.contains(&i) { p[i] / mass } else { 0.0 })
            .collect::<Vec<f64>>()
    };
    // Ranks of LOGITS8: 0 (2.0), 6 (1.5), 1 (1.0), 2 (0.5), 7 (0.25), 3 (0.0), 4, 5.
    let cases = [
        (
            SamplingConfig::with_temperature(1.0).top_k(3),
            renorm(1.0, &[0, 6, 1]),
        ),
        // softmax(T=1) top probabilities: .379, .230, .139, .085, ... → 0.7 needs 3 ids.
        (
            SamplingConfig::with_temperature(1.0).top_p(0.7),
            renorm(1.0, &[0, 6, 1]),
        ),
        (
            SamplingConfig::with_temperature(1.0).top_p(0.6),
            renorm(1.0, &[0, 6]),
        ),
        // p_i / p_max >= 0.2  ⟺  logit >= 2 + ln 0.2 ≈ 0.39.
        (
            SamplingConfig::with_temperature(1.0).min_p(0.2),
            renorm(1.0, &[0, 6, 1, 2]),
        ),
        // With T = 2 the same min-p keeps logit >= 2 + 2 ln 0.2 ≈ -1.22: everything.
        (
            SamplingConfig::with_temperature(2.0).min_p(0.2),
            renorm(2.0, &[0, 1, 2, 3, 4, 5, 6, 7]),
        ),
        (
            SamplingConfig::with_temperature(1.0).banned([0, 6]),
            renorm(1.0, &[1, 2, 3, 4, 5, 7]),
        ),
    ];
    for (i, (config, reference)) in cases.into_iter().enumerate() {
        let mut s = Sampler::new(config.clone(), 8, 100 + i as u64).unwrap();
        let dist = dist_of(&mut s, &LOGITS8);
        for (a, b) in dist.iter().zip(&reference) {
            assert!(
                (a - b).abs() < 1e-12,
                "{config:?}: {dist:?} vs {reference:?}"
            );
        }
        let counts = counts_of(&mut s, &LOGITS8, DRAWS);
        let stat = chi_square(&counts, &reference);
        assert!(stat < CHI2_DF7_P001, "{config:?}: chi-square {stat}");
    }
}

#[test]
fn frequencies_match_on_a_vocabulary_spanning_many_blocks() {
    // Dense draws skip whole blocks of 64 ids by their sums: put the mass on both sides of
    // block edges and check the frequencies.
    let live = [3usize, 63, 64, 127, 128, 150, 191, 299];
    let mut logits = vec![-200.0f32; 300];
    for (&id, &l) in live.iter().zip(&LOGITS8) {
        logits[id] = l;
    }
    let expected = softmax_ref(&logits, 0.7, &[]);
    let mut s = Sampler::new(SamplingConfig::with_temperature(0.7), 300, 21).unwrap();
    let counts = counts_of(&mut s, &logits, DRAWS);
    assert!(live.iter().all(|&id| counts[id] > 0), "{counts:?}");
    let stat = chi_square(&counts, &expected);
    assert!(stat < CHI2_DF7_P001, "chi-square {stat}");
}

// ---------------------------------------------------------------------------------------------
// Filter order and semantics on hand-made distributions.

/// Logits whose softmax (T = 1) is exactly `probs` up to rounding.
fn logits_for(probs: &[f64]) -> Vec<f32> {
    probs.iter().map(|p| p.ln() as f32).collect()
}

#[test]
fn filters_run_in_hugging_face_order() {
    let logits = logits_for(&[0.4, 0.3, 0.2, 0.1]);
    let check = |config: SamplingConfig, expected: &[usize]| {
        let mut s = Sampler::new(config.clone(), logits.len(), 0).unwrap();
        assert_eq!(support(&dist_of(&mut s, &logits)), expected, "{config:?}");
    };
    // top-p alone: 0.4 < 0.5, so the nucleus is {0, 1}.
    check(SamplingConfig::with_temperature(1.0).top_p(0.5), &[0, 1]);
    // top-k first renormalises to {0: 4/7, 1: 3/7}; then 4/7 >= 0.5 already: {0}.
    check(
        SamplingConfig::with_temperature(1.0).top_k(2).top_p(0.5),
        &[0],
    );
    // Temperature first: at T = 0.25 the top id holds 0.4^4 / Σ p^4 ≈ 0.74 >= 0.7.
    check(SamplingConfig::with_temperature(1.0).top_p(0.7), &[0, 1]);
    check(SamplingConfig::with_temperature(0.25).top_p(0.7), &[0]);
    // min-p against the top probability: 0.1 / 0.4 = 0.25 < 0.3 <= 0.2 / 0.4.
    check(SamplingConfig::with_temperature(1.0).min_p(0.3), &[0, 1, 2]);
    // min-p sees the temperature: at T = 4 the ratio 0.1/0.4 becomes 0.25^(1/4) ≈ 0.71.
    check(
        SamplingConfig::with_temperature(4.0).min_p(0.7),
        &[0, 1, 2, 3],
    );
    // All four together: top-k 3 → {0,1,2}; top-p 0.8 on (4/9, 3/9, 2/9) → {0,1}; min-p 0.8
    // keeps 0.3/0.4 = 0.75? no → {0}.
    check(
        SamplingConfig::with_temperature(1.0)
            .top_k(3)
            .top_p(0.8)
            .min_p(0.8),
        &[0],
    );
    check(
        SamplingConfig::with_temperature(1.0)
            .top_k(3)
            .top_p(0.8)
            .min_p(0.7),
        &[0, 1],
    );
    // The id that crosses p is kept: 0.4 + 0.3 = 0.7 < 0.75, so id 2 joins.
    check(
        SamplingConfig::with_temperature(1.0).top_p(0.75),
        &[0, 1, 2],
    );
    // top_p = 1 and min_p = 0 keep everything.
    check(
        SamplingConfig::with_temperature(1.0).top_p(1.0).min_p(0.0),
        &[0, 1, 2, 3],
    );
}

#[test]
fn top_k_keeps_ties_at_the_boundary_and_clamps_to_the_vocabulary() {
    let logits = [1.0, 3.0, 2.0, 2.0, 0.0];
    let check = |k: usize, banned: &[u32], expected: &[usize]| {
        let config = SamplingConfig::with_temperature(1.0)
            .top_k(k)
            .banned(banned);
        let mut s = Sampler::new(config, logits.len(), 0).unwrap();
        assert_eq!(support(&dist_of(&mut s, &logits)), expected, "k = {k}");
    };
    check(1, &[], &[1]);
    check(2, &[], &[1, 2, 3]); // 2.0 is tied at rank 2: both kept
    check(3, &[], &[1, 2, 3]);
    check(4, &[], &[0, 1, 2, 3]);
    check(100, &[], &[0, 1, 2, 3, 4]);
    check(1, &[1], &[2, 3]); // banned ids do not count towards k
    check(2, &[1, 2], &[0, 3]);

    // A large vocabulary (bounded by a sample first) with heavy ties: 4096 ids cycling through
    // 7 logits, so the best one (6.0) is held by 585 ids, all kept for any k up to 585.
    let logits: Vec<f32> = (0..4096).map(|i| (i % 7) as f32).collect();
    let sixes: Vec<usize> = (0..4096).filter(|i| i % 7 == 6).collect();
    let fives_and_sixes: Vec<usize> = (0..4096).filter(|i| i % 7 >= 5).collect();
    for (k, expected) in [
        (1, &sixes),
        (3, &sixes),
        (585, &sixes),
        (586, &fives_and_sixes),
    ] {
        let config = SamplingConfig::with_temperature(1.0).top_k(k);
        let mut s = Sampler::new(config, logits.len(), 0).unwrap();
        assert_eq!(&support(&dist_of(&mut s, &logits)), expected, "k = {k}");
    }
}

#[test]
fn padding_id_with_a_huge_logit_is_never_drawn() {
    // The notebook's `KeyError: 0`: id 0 (padding) sampled. Here it is banned and cannot be.
    let mut logits = vec![0.0f32; 84];
    logits[0] = 1e30;
    logits[1] = 50.0;
    logits[2] = 50.0;
    for config in [
        SamplingConfig::greedy(),
        SamplingConfig::with_temperature(1.0),
        SamplingConfig::with_temperature(100.0)
            .top_k(5)
            .top_p(0.99)
            .min_p(0.01),
    ] {
        let mut s = Sampler::new(config.banned([0, 1, 2]), 84, 3).unwrap();
        let mut out = vec![0u32; 16];
        let batch: Vec<f32> = logits.iter().copied().cycle().take(16 * 84).collect();
        for _ in 0..200 {
            s.sample_batch(&batch, &mut out).unwrap();
            assert!(out.iter().all(|&id| id > 2), "{out:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reproducibility.

#[test]
fn draws_are_pinned_for_a_fixed_seed() {
    // Golden values: the RNG (ChaCha20, key = seed LE, stream = row), the u64 → f64 conversion
    // and the exp are all platform-independent, so these are the same on every machine.
    let logits = [0.5f32, 1.0, 0.0, 2.0, 1.5, -1.0];
    let mut s = Sampler::new(SamplingConfig::with_temperature(1.0), 6, 2024).unwrap();
    let row0: Vec<u32> = (0..16).map(|_| s.sample_row(0, &logits).unwrap()).collect();
    let row1: Vec<u32> = (0..16).map(|_| s.sample_row(1, &logits).unwrap()).collect();
    assert_eq!(row0, GOLDEN_ROW0);
    assert_eq!(row1, GOLDEN_ROW1);
}
const GOLDEN_ROW0: [u32; 16] = [4, 4, 3, 4, 0, 3, 4, 4, 3, 4, 4, 1, 4, 1, 3, 4];
const GOLDEN_ROW1: [u32; 16] = [3, 4, 3, 1, 3, 4, 0, 4, 0, 3, 3, 2, 3, 3, 0, 4];

#[test]
fn the_stream_layout_is_the_documented_one() {
    // Rebuild the draws from the documented recipe: ChaCha20 keyed with the seed's little-endian
    // bytes, stream = row index, one u64 per draw, top 53 bits as a uniform, inverse CDF in id
    // order over softmax(logits / T).
    use rand::{RngCore, SeedableRng};
    let logits = [0.5f32, 1.0, 0.0, 2.0, 1.5, -1.0];
    let probs = softmax_ref(&logits, 1.0, &[]);
    for (row, golden) in [(0usize, GOLDEN_ROW0), (1, GOLDEN_ROW1)] {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&2024u64.to_le_bytes());
        let mut rng = rand_chacha::ChaCha20Rng::from_seed(key);
        rng.set_stream(row as u64);
        let draws: Vec<u32> = (0..16)
            .map(|_| {
                let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                let mut cum = 0.0;
                probs
                    .iter()
                    .position(|p| {
                        cum += p;
                        cum > u
                    })
                    .unwrap() as u32
            })
            .collect();
        assert_eq!(draws, golden, "row {row}");
    }
}

#[test]
fn different_seeds_and_rows_give_different_streams() {
    let logits = [0.0f32; 64];
    let draws = |seed: u64, row: usize| {
        let mut s = Sampler::new(SamplingConfig::with_temperature(1.0), 64, seed).unwrap();
        (0..32)
            .map(|_| s.sample_row(row, &logits).unwrap())
            .collect::<Vec<_>>()
    };
    assert_ne!(draws(1, 0), draws(2, 0));
    assert_ne!(draws(1, 0), draws(1, 1));
    assert_eq!(draws(1, 5), draws(1, 5));
}

#[test]
fn reset_replays_the_first_draws() {
    let logits = [0.0f32; 32];
    let mut s = Sampler::new(SamplingConfig::with_temperature(1.0), 32, 9).unwrap();
    let first: Vec<u32> = (0..20).map(|_| s.sample_row(0, &logits).unwrap()).collect();
    let more: Vec<u32> = (0..20).map(|_| s.sample_row(0, &logits).unwrap()).collect();
    assert_ne!(first, more);
    s.reset();
    let again: Vec<u32> = (0..20).map(|_| s.sample_row(0, &logits).unwrap()).collect();
    assert_eq!(first, again);
}

#[test]
fn far_row_indices_work_and_keep_their_own_stream() {
    let logits = [0.0f32; 16];
    let config = SamplingConfig::with_temperature(1.0);
    for row in [4095, 4096, 1 << 40, usize::MAX] {
        let mut a = Sampler::new(config.clone(), 16, 5).unwrap();
        let mut b = Sampler::new(config.clone(), 16, 5).unwrap();
        let alone: Vec<u32> = (0..10)
            .map(|_| a.sample_row(row, &logits).unwrap())
            .collect();
        let mut via_rows = Vec::new();
        for _ in 0..10 {
            let mut out = [0u32; 2];
            let both: Vec<f32> = logits.iter().chain(&logits).copied().collect();
            b.sample_rows(&[row, 0], &both, &mut out).unwrap();
            via_rows.push(out[0]);
        }
        assert_eq!(alone, via_rows, "row {row}");
    }
}

#[test]
fn schedule_cycles_per_step_and_per_row() {
    let logits = [2.0f32, 1.0, 0.0];
    let schedule = vec![0.5f32, 1.0, 3.0];
    let mut s = Sampler::new(
        SamplingConfig {
            temperature: Temperature::Schedule(schedule.clone()),
            ..SamplingConfig::greedy()
        },
        3,
        0,
    )
    .unwrap();
    let dist_at = |s: &mut Sampler, row: usize| {
        let mut out = [0.0; 3];
        s.distribution(row, &logits, &mut out).unwrap();
        out
    };
    let expect = |t: f32, got: [f64; 3]| {
        let want = softmax_ref(&logits, t as f64, &[]);
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() < 1e-12, "T = {t}: {got:?} vs {want:?}");
        }
    };
    for step in 0..7 {
        expect(schedule[step % 3], dist_at(&mut s, 0));
        s.sample_row(0, &logits).unwrap();
    }
    // Row 1 was never sampled: still at the first entry, while row 0 moved on.
    expect(schedule[0], dist_at(&mut s, 1));
    expect(schedule[7 % 3], dist_at(&mut s, 0));
}

// ---------------------------------------------------------------------------------------------
// Errors.

fn check_new(config: SamplingConfig, vocab: usize, expected: SamplingError) {
    let got = Sampler::new(config.clone(), vocab, 0).unwrap_err();
    // Compared through Display (NaN payloads are not equal to themselves).
    assert_eq!(got.to_string(), expected.to_string(), "{config:?}");
    assert!(!got.to_string().contains('\n'), "one line: {got}");
}

#[test]
fn every_validation_error() {
    let t = SamplingConfig::with_temperature;
    let schedule = |ts: &[f32]| SamplingConfig {
        temperature: Temperature::Schedule(ts.to_vec()),
        ..SamplingConfig::greedy()
    };
    check_new(t(0.0), 5, SamplingError::ZeroTemperature);
    check_new(t(-0.0), 5, SamplingError::ZeroTemperature);
    check_new(t(-1.0), 5, SamplingError::InvalidTemperature(-1.0));
    check_new(t(f32::NAN), 5, SamplingError::InvalidTemperature(f32::NAN));
    check_new(
        t(f32::INFINITY),
        5,
        SamplingError::InvalidTemperature(f32::INFINITY),
    );
    check_new(schedule(&[]), 5, SamplingError::EmptySchedule);
    check_new(
        schedule(&[1.0, 0.0]),
        5,
        SamplingError::InvalidScheduleTemperature {
            index: 1,
            value: 0.0,
        },
    );
    check_new(
        schedule(&[f32::NAN]),
        5,
        SamplingError::InvalidScheduleTemperature {
            index: 0,
            value: f32::NAN,
        },
    );
    check_new(t(1.0).top_k(0), 5, SamplingError::InvalidTopK);
    for p in [0.0, -0.1, 1.01, f32::NAN, f32::INFINITY] {
        check_new(t(1.0).top_p(p), 5, SamplingError::InvalidTopP(p));
    }
    for p in [1.0, -0.01, f32::NAN, 2.0] {
        check_new(t(1.0).min_p(p), 5, SamplingError::InvalidMinP(p));
    }
    check_new(t(1.0), 0, SamplingError::EmptyVocab);
    check_new(t(1.0), usize::MAX, SamplingError::VocabTooLarge(usize::MAX));
    check_new(
        t(1.0).banned([1, 5]),
        5,
        SamplingError::BannedOutOfRange {
            id: 5,
            vocab_size: 5,
        },
    );
    check_new(t(1.0).banned([0, 1, 2]), 3, SamplingError::AllBanned(3));
    check_new(
        SamplingConfig::greedy().banned([0]),
        1,
        SamplingError::AllBanned(1),
    );

    // The messages say what to do.
    assert!(
        SamplingError::ZeroTemperature
            .to_string()
            .contains("Greedy")
    );
    // validate() agrees with new() on config-only errors, and accepts the valid edges.
    assert_eq!(t(1.0).top_k(0).validate(), Err(SamplingError::InvalidTopK));
    for ok in [
        SamplingConfig::greedy(),
        t(1e-30).top_k(1).top_p(1.0).min_p(0.0),
        t(f32::MAX).top_p(f32::MIN_POSITIVE).min_p(0.999),
        schedule(&[0.1, 2.0]),
    ] {
        assert_eq!(ok.validate(), Ok(()), "{ok:?}");
        Sampler::new(ok, 3, 0).unwrap();
    }
}

#[test]
fn runtime_errors_leave_the_sampler_untouched() {
    let config = SamplingConfig::with_temperature(1.0).top_k(3);
    let mut s = Sampler::new(config.clone(), 4, 8).unwrap();
    let good = [0.0f32, 1.0, 2.0, 0.5];
    let mut out = [0u32; 2];
    let bad_row = |v: f32| [0.0, v, 2.0, 0.5];

    let err = s.sample_row(0, &good[..3]).unwrap_err();
    assert_eq!(
        err,
        SamplingError::RowLength {
            got: 3,
            vocab_size: 4
        }
    );
    let err = s.sample_batch(&good, &mut out).unwrap_err();
    assert_eq!(
        err,
        SamplingError::BatchShape {
            got: 4,
            rows: 2,
            vocab_size: 4
        }
    );
    let err = s.sample_rows(&[0], &good, &mut out).unwrap_err();
    assert_eq!(
        err,
        SamplingError::BatchShape {
            got: 4,
            rows: 1,
            vocab_size: 4
        }
    );
    let err = s.distribution(0, &good, &mut [0.0; 3]).unwrap_err();
    assert_eq!(
        err,
        SamplingError::OutputLength {
            got: 3,
            vocab_size: 4
        }
    );
    for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let err = s.sample_row(7, &bad_row(v)).unwrap_err();
        assert!(
            matches!(err, SamplingError::NonFiniteLogit { row: 7, id: 1, .. }),
            "{err:?}"
        );
        // In a batch, rows before the bad one are not sampled either.
        let batch: Vec<f32> = good.iter().chain(&bad_row(v)).copied().collect();
        out = [99, 99];
        let err = s.sample_batch(&batch, &mut out).unwrap_err();
        assert!(matches!(
            err,
            SamplingError::NonFiniteLogit { row: 1, id: 1, .. }
        ));
        assert_eq!(out, [99, 99]);
        let err = s.sample_rows(&[5, 9], &batch, &mut out).unwrap_err();
        assert!(matches!(
            err,
            SamplingError::NonFiniteLogit { row: 9, id: 1, .. }
        ));
    }
    // Nothing advanced: the sampler still draws what a fresh one does.
    let mut fresh = Sampler::new(config, 4, 8).unwrap();
    for row in [0, 1, 5, 7, 9] {
        for _ in 0..10 {
            assert_eq!(s.sample_row(row, &good), fresh.sample_row(row, &good));
        }
    }
    // Empty batches are fine.
    s.sample_batch(&[], &mut []).unwrap();
}

#[test]
fn extreme_but_finite_logits_are_handled() {
    let check = |logits: &[f32], t: f32, scaled: [f64; 3]| {
        let config = SamplingConfig::with_temperature(t);
        let mut s = Sampler::new(config, logits.len(), 0).unwrap();
        let dist = dist_of(&mut s, logits);
        let want = softmax_ref(&scaled.map(|x| x as f32), 1.0, &[]);
        for (a, b) in dist.iter().zip(&want) {
            assert!(
                (a - b).abs() < 1e-12,
                "{logits:?} / {t}: {dist:?} vs {want:?}"
            );
        }
        for _ in 0..20 {
            let id = s.sample_row(0, logits).unwrap() as usize;
            assert!(dist[id] > 0.0);
        }
    };
    // The spread of f32::MAX - f32::MIN overflows f32 but not the f64 arithmetic used.
    check(&[f32::MAX, f32::MIN, 0.0], 1.0, [0.0, -1e30, -1e30]);
    check(&[f32::MIN, f32::MAX, f32::MAX], f32::MAX, [-2.0, 0.0, 0.0]);
    // Subnormal logits and temperature.
    let tiny = f32::from_bits(1);
    check(&[-tiny, 0.0, tiny], tiny, [-2.0, -1.0, 0.0]);
    // Identical logits: exactly uniform.
    let mut s = Sampler::new(SamplingConfig::with_temperature(1.0), 4, 0).unwrap();
    assert_eq!(dist_of(&mut s, &[7.0; 4]), vec![0.25; 4]);
}
