//! Errors.

use charrnn_sampling::{Sampler, SamplingConfig, SamplingError, Temperature};

use crate::reference::*;

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
    // (-inf is a masked id, not an error: see `masking`.)
    for v in [f32::NAN, f32::INFINITY] {
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
