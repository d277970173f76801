//! Frequencies: chi-square at a fixed seed.

use charrnn_sampling::{Sampler, SamplingConfig};

use crate::reference::*;

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
