//! `-inf` logits: a masked id is never drawn, whatever the strategy; masking is banning for
//! one row; NaN, `+inf` and rows with nothing left are still errors.

use charrnn_sampling::{Sampler, SamplingConfig, SamplingError, Temperature};
use proptest::prelude::*;

use crate::reference::*;

const NEG: f32 = f32::NEG_INFINITY;

/// Every strategy, from greedy to very hot, with and without each filter.
fn strategies() -> Vec<SamplingConfig> {
    let t = SamplingConfig::with_temperature;
    vec![
        SamplingConfig::greedy(),
        SamplingConfig::greedy().top_k(2).top_p(0.5).min_p(0.5),
        t(0.5),
        t(1.0),
        t(50.0),
        t(1e30),
        t(f32::MAX),
        SamplingConfig {
            temperature: Temperature::Schedule(vec![0.1, 1e6, f32::MAX]),
            ..SamplingConfig::greedy()
        },
        t(1e6).top_k(1),
        t(1e6).top_k(3),
        // More than the ids left unmasked: the masked ones tie at the k-th place.
        t(1e6).top_k(1000),
        t(1e6).top_p(0.5),
        t(1e6).top_p(0.999_999),
        t(1e6).min_p(0.1),
        t(1e6).min_p(0.0),
        t(1e6).top_k(5).top_p(0.99).min_p(0.01),
        t(1e6).banned([0u32, 2]),
        t(1e6).top_k(1000).top_p(0.999).banned([0u32]),
    ]
}

/// Checks that `logits` (with `masked` ids at `-inf`) never draw a masked id under any
/// strategy, alone or in a batch, and that their distribution gives them exactly 0.
fn never_drawn(logits: &[f32], masked: &[usize], draws: usize) {
    let vocab = logits.len();
    for config in strategies() {
        let mut s = Sampler::new(config.clone(), vocab, 7).unwrap();
        for _ in 0..draws {
            let id = s.sample_row(3, logits).unwrap() as usize;
            assert!(!masked.contains(&id), "{config:?} drew masked id {id}");
            assert!(!config.banned.contains(&(id as u32)), "{config:?}: {id}");
        }
        let batch: Vec<f32> = logits.iter().chain(logits).copied().collect();
        let mut out = [0u32; 2];
        for _ in 0..draws / 10 {
            s.sample_batch(&batch, &mut out).unwrap();
            assert!(out.iter().all(|&id| !masked.contains(&(id as usize))));
        }
        let mut dist = vec![f64::NAN; vocab];
        s.distribution(0, logits, &mut dist).unwrap();
        for &m in masked {
            assert_eq!(dist[m], 0.0, "{config:?}: id {m}");
        }
        assert!((dist.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{config:?}");
    }
}

#[test]
fn a_masked_id_is_never_drawn_under_any_strategy_even_when_hot() {
    // The masked ids sit first, last, and between the best ids.
    let logits = [NEG, 3.0, NEG, 2.9, -5.0, NEG, 1.0, 0.0, NEG];
    never_drawn(&logits, &[0, 2, 5, 8], 2000);

    // One id left: every strategy draws it.
    let one = [NEG, NEG, -100.0, NEG];
    for config in strategies().into_iter().filter(|c| !c.banned.contains(&2)) {
        let mut s = Sampler::new(config.clone(), 4, 1).unwrap();
        for _ in 0..50 {
            assert_eq!(s.sample_row(0, &one).unwrap(), 2, "{config:?}");
        }
    }

    // Large vocabularies take other paths: top-p buckets (over 256 ids) and top-k bounds
    // the k-th logit from a sample (a few thousand ids).
    for vocab in [300usize, 5000] {
        let mut logits: Vec<f32> = (0..vocab).map(|i| ((i * 37) % 101) as f32 / 10.0).collect();
        let masked: Vec<usize> = (0..vocab).filter(|i| i % 3 != 1).collect();
        for &m in &masked {
            logits[m] = NEG;
        }
        never_drawn(&logits, &masked, 200);
    }
}

#[test]
fn greedy_is_the_argmax_of_what_is_left() {
    let mut s = Sampler::new(SamplingConfig::greedy().banned([4u32]), 6, 0).unwrap();
    // The best finite logit wins; a banned id with a higher logit does not.
    assert_eq!(
        s.sample_row(0, &[NEG, -3.0, NEG, -2.0, 9.0, NEG]).unwrap(),
        3
    );
    // Ties among what is left go to the lowest id, as without masks.
    assert_eq!(
        s.sample_row(0, &[NEG, -3.0, -3.0, NEG, 9.0, NEG]).unwrap(),
        1
    );
    assert_eq!(
        s.sample_row(0, &[f32::MIN, NEG, NEG, NEG, NEG, NEG])
            .unwrap(),
        0
    );
}

#[test]
fn a_row_with_nothing_but_minus_infinity_or_banned_ids_is_an_error() {
    let config = SamplingConfig::with_temperature(1.0).banned([1u32]);
    let mut s = Sampler::new(config.clone(), 3, 5).unwrap();
    let all = [NEG; 3];
    // Id 1 is banned: a finite logit there does not count.
    let banned_left = [NEG, 4.0, NEG];
    let good = [0.0f32, 1.0, 2.0];
    for row in [all, banned_left] {
        let err = s.sample_row(9, &row).unwrap_err();
        assert_eq!(err, SamplingError::AllMasked { row: 9 });
        let message = err.to_string();
        assert!(message.starts_with("row 9: "), "{message}");
        assert!(message.contains("-inf or banned"), "{message}");
        assert!(!message.contains('\n'), "{message}");
        assert_eq!(
            s.distribution(9, &row, &mut [0.0; 3]).unwrap_err(),
            SamplingError::AllMasked { row: 9 }
        );
        // In a batch: the row named, nothing sampled, nothing advanced.
        let batch: Vec<f32> = good.iter().chain(&row).copied().collect();
        let mut out = [77u32; 2];
        let err = s.sample_batch(&batch, &mut out).unwrap_err();
        assert_eq!(err, SamplingError::AllMasked { row: 1 });
        assert_eq!(out, [77, 77]);
        let err = s.sample_rows(&[4, 6], &batch, &mut out).unwrap_err();
        assert_eq!(err, SamplingError::AllMasked { row: 6 });
    }
    // Greedy refuses it too (there is no argmax to take).
    let mut greedy = Sampler::new(SamplingConfig::greedy(), 3, 0).unwrap();
    assert_eq!(
        greedy.sample_row(0, &all).unwrap_err(),
        SamplingError::AllMasked { row: 0 }
    );
    // Nothing advanced: the sampler still draws what a fresh one does.
    let mut fresh = Sampler::new(config, 3, 5).unwrap();
    for row in [0, 1, 4, 6, 9] {
        for _ in 0..10 {
            assert_eq!(s.sample_row(row, &good), fresh.sample_row(row, &good));
        }
    }
}

#[test]
fn nan_and_plus_infinity_are_still_refused() {
    let mut s = Sampler::new(SamplingConfig::with_temperature(1.0).banned([0u32]), 4, 0).unwrap();
    for bad in [f32::NAN, f32::INFINITY] {
        // Beside -inf, and even on a banned id, as before.
        for (row, id) in [([0.0, NEG, bad, 1.0], 2), ([bad, NEG, 0.0, 1.0], 0)] {
            let err = s.sample_row(2, &row).unwrap_err();
            assert!(
                matches!(err, SamplingError::NonFiniteLogit { row: 2, id: i, .. } if i == id),
                "{err:?}"
            );
            let message = err.to_string();
            assert!(message.contains("must be finite or -inf"), "{message}");
        }
        // NaN or +inf wins over a row with nothing left, wherever it is.
        let batch = [NEG, NEG, NEG, NEG, 0.0, 1.0, bad, 2.0];
        let err = s.sample_batch(&batch, &mut [0u32; 2]).unwrap_err();
        assert!(
            matches!(err, SamplingError::NonFiniteLogit { row: 1, id: 2, .. }),
            "{err:?}"
        );
    }
}

#[test]
fn distribution_needs_no_mutable_sampler() {
    let s = Sampler::new(SamplingConfig::with_temperature(1.0).top_k(2), 3, 0).unwrap();
    let mut out = [0.0; 3];
    s.distribution(0, &[0.0, NEG, 1.0], &mut out).unwrap();
    let e = std::f64::consts::E;
    assert!((out[2] - e / (1.0 + e)).abs() < 1e-15, "{out:?}");
    assert_eq!(out[1], 0.0);
}

/// Logits, a mask that leaves at least one id, and a sampling configuration.
fn masked_case() -> impl Strategy<Value = (Vec<f32>, Vec<bool>, SamplingConfig)> {
    let logits = prop_oneof![
        prop::collection::vec(-30.0f32..30.0, 1..=40),
        prop::collection::vec((-40i32..40).prop_map(|i| i as f32 / 4.0), 1..=40),
        prop::collection::vec(-4.0f32..4.0, 257..400),
    ];
    let temperature = prop_oneof![
        Just(Temperature::Greedy),
        (0.05f32..5.0).prop_map(Temperature::Fixed),
        (1e3f32..1e30).prop_map(Temperature::Fixed),
    ];
    let config = (
        temperature,
        prop::option::of(1usize..50),
        prop::option::of(0.05f32..=1.0),
        prop::option::of(0.0f32..0.95),
    )
        .prop_map(|(temperature, top_k, top_p, min_p)| SamplingConfig {
            temperature,
            top_k,
            top_p,
            min_p,
            banned: Vec::new(),
        });
    let masked = logits
        .prop_flat_map(|logits| {
            let n = logits.len();
            (Just(logits), prop::collection::vec(any::<bool>(), n), 0..n)
        })
        .prop_map(|(logits, mut mask, keep)| {
            mask[keep] = false;
            (logits, mask)
        });
    (masked, config).prop_map(|((logits, mask), config)| (logits, mask, config))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Masking ids with `-inf` gives the distribution banning them gives: the same ids kept
    /// (exactly), the same probabilities (to rounding: with top-k larger than what is left,
    /// the masked row sums its weights in another order than the banned one).
    #[test]
    fn masking_with_minus_infinity_is_banning((logits, mask, config) in masked_case()) {
        let vocab = logits.len();
        let masked_ids: Vec<u32> = (0..vocab as u32).filter(|&i| mask[i as usize]).collect();
        let masked: Vec<f32> = logits
            .iter()
            .zip(&mask)
            .map(|(&l, &m)| if m { NEG } else { l })
            .collect();
        let by_mask = Sampler::new(config.clone(), vocab, 0).unwrap();
        let by_ban = Sampler::new(config.clone().banned(masked_ids.clone()), vocab, 0).unwrap();
        let (mut a, mut b) = (vec![f64::NAN; vocab], vec![f64::NAN; vocab]);
        by_mask.distribution(0, &masked, &mut a).unwrap();
        by_ban.distribution(0, &logits, &mut b).unwrap();
        prop_assert_eq!(support(&a), support(&b), "{:?} vs {:?}", &a, &b);
        for (x, y) in a.iter().zip(&b) {
            prop_assert!((x - y).abs() < 1e-12, "{} vs {}", x, y);
        }
        for &m in &masked_ids {
            prop_assert_eq!(a[m as usize], 0.0);
        }
    }
}
