//! Filter order and semantics on hand-made distributions.

use charrnn_sampling::{Sampler, SamplingConfig};

use crate::reference::*;

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

#[test]
fn active_filters_are_the_ones_that_remove_something() {
    // Five ids, two banned: top-k 3 keeps every allowed id, top-p 1 and min-p 0 keep all.
    let keeps_all = SamplingConfig::with_temperature(1.0)
        .top_k(3)
        .top_p(1.0)
        .min_p(0.0)
        .banned([4u32, 0, 4]);
    let s = Sampler::new(keeps_all, 5, 0).unwrap();
    let active = s.active_filters();
    assert_eq!(
        (active.top_k, active.top_p, active.min_p),
        (None, None, None)
    );
    assert_eq!(active.banned, [0, 4], "ascending, without repeats");
    let cuts = SamplingConfig::with_temperature(1.0)
        .top_k(2)
        .top_p(0.5)
        .min_p(0.25)
        .banned([4u32]);
    let top_k = Sampler::new(cuts, 5, 0).unwrap().active_filters().top_k;
    assert_eq!(top_k, Some(2));
    let s = Sampler::new(
        SamplingConfig::with_temperature(1.0).top_p(0.5).min_p(0.25),
        5,
        0,
    )
    .unwrap();
    assert_eq!(
        (s.active_filters().top_p, s.active_filters().min_p),
        (Some(0.5), Some(0.25))
    );
}
