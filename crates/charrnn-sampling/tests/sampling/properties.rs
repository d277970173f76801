//! Strategies, and the properties every sampler must keep on any input.

use charrnn_sampling::{Sampler, SamplingConfig, Temperature};
use proptest::prelude::*;

use crate::reference::*;

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
