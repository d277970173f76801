//! Examples, epoch plans, padding and splits: table tests and properties.
use charrnn_data::{
    Chain, Example, ExampleOptions, Examples, Order, Window, collate, holdout_split, make_examples,
    padding_efficiency, plan_epoch,
};
use proptest::prelude::*;

const EOS: u32 = 2;
const BOS: u32 = 1;

fn examples_of(ids: &[u32], bos: Option<u32>, window: Option<Window>) -> Vec<(Vec<u32>, Vec<u32>)> {
    let mut out = Vec::new();
    let opts = ExampleOptions {
        eos: EOS,
        bos,
        window,
    };
    make_examples(ids, Some(9), &opts, &mut out);
    assert!(out.iter().all(|e| e.label == Some(9)));
    out.into_iter().map(|e| (e.input, e.target)).collect()
}

#[test]
fn examples_table() {
    type Pairs = &'static [(&'static [u32], &'static [u32])];
    let check = |ids: &[u32], bos: Option<u32>, window: Option<Window>, expected: Pairs| {
        let expected: Vec<(Vec<u32>, Vec<u32>)> = expected
            .iter()
            .map(|(i, t)| (i.to_vec(), t.to_vec()))
            .collect();
        assert_eq!(
            examples_of(ids, bos, window),
            expected,
            "{ids:?} {bos:?} {window:?}"
        );
    };
    let w = |num_chars, stride| Some(Window { num_chars, stride });
    // The notebook's examples: target = input shifted by one, ended with <eos>.
    check(&[5, 6, 7], None, None, &[(&[5, 6, 7], &[6, 7, 2])]);
    check(&[5], None, None, &[(&[5], &[2])]);
    // With <bos> the first character is predicted too.
    check(
        &[5, 6, 7],
        Some(BOS),
        None,
        &[(&[1, 5, 6, 7], &[5, 6, 7, 2])],
    );
    // Empty texts give nothing, with or without <bos>.
    check(&[], None, None, &[]);
    check(&[], Some(BOS), w(4, 4), &[]);
    // Windows tile the text; only the last one ends with <eos>.
    check(
        &[5, 6, 7, 8, 9],
        None,
        w(2, 2),
        &[(&[5, 6], &[6, 7]), (&[7, 8], &[8, 9]), (&[9], &[2])],
    );
    check(
        &[5, 6, 7, 8],
        None,
        w(2, 2),
        &[(&[5, 6], &[6, 7]), (&[7, 8], &[8, 2])],
    );
    check(
        &[5, 6, 7, 8],
        Some(BOS),
        w(3, 3),
        &[(&[1, 5, 6], &[5, 6, 7]), (&[7, 8], &[8, 2])],
    );
    // Overlapping windows stop at the first one that reaches the end.
    check(
        &[5, 6, 7, 8],
        None,
        w(3, 1),
        &[(&[5, 6, 7], &[6, 7, 8]), (&[6, 7, 8], &[7, 8, 2])],
    );
    // A stride longer than the window skips positions.
    check(
        &[5, 6, 7, 8, 9],
        None,
        w(1, 3),
        &[(&[5], &[6]), (&[8], &[9])],
    );
    // A window longer than the text is one example; zero sizes act as 1.
    check(&[5, 6], None, w(256, 256), &[(&[5, 6], &[6, 2])]);
    check(&[5, 6], None, w(0, 0), &[(&[5], &[6]), (&[6], &[2])]);
}

#[test]
fn collate_pads_on_the_right_with_zero() {
    let ex = |input: &[u32], label: Option<u32>| Example {
        input: input.to_vec(),
        target: input.iter().map(|i| i + 100).collect(),
        label,
    };
    let examples = vec![
        ex(&[5, 6, 7], Some(1)),
        ex(&[8], Some(0)),
        ex(&[9, 10], None),
    ];
    let batch = collate(&examples, &[1, 0]);
    assert_eq!((batch.batch_size, batch.seq_len), (2, 3));
    assert_eq!(batch.input, [8, 0, 0, 5, 6, 7]);
    assert_eq!(batch.target, [108, 0, 0, 105, 106, 107]);
    assert_eq!(batch.mask, [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
    assert_eq!(batch.lengths, [1, 3]);
    assert_eq!(batch.labels, Some(vec![0, 1]));
    assert_eq!(batch.real_targets(), 4);
    assert!((batch.efficiency() - 4.0 / 6.0).abs() < 1e-12);
    // One example without a label: no labels for the batch.
    assert_eq!(collate(&examples, &[0, 2]).labels, None);
    // Out-of-range indices are left out; nothing at all is an empty batch.
    let batch = collate(&examples, &[7, 2]);
    assert_eq!(
        (batch.batch_size, batch.seq_len, batch.input.len()),
        (1, 2, 2)
    );
    let empty = collate(&examples, &[]);
    assert_eq!(
        (empty.batch_size, empty.seq_len, empty.labels),
        (0, 0, None)
    );
}

#[test]
fn plans_are_pinned_so_every_platform_gets_the_same_order() {
    let lengths = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3];
    let plan = |order| plan_epoch(&lengths, 3, order, 7, 0);
    assert_eq!(
        plan(Order::Sequential),
        [vec![0, 1, 2], vec![3, 4, 5], vec![6, 7, 8], vec![9]]
    );
    assert_eq!(plan(Order::Shuffled), PINNED_SHUFFLED);
    assert_eq!(plan(Order::Bucketed { window_batches: 2 }), PINNED_BUCKETED);
    let (train, valid) = holdout_split(10, 0.3, 7);
    assert_eq!((train.as_slice(), valid.as_slice()), PINNED_SPLIT);
}

// ChaCha8 (seed_from_u64(7), stream 0) with the crate's own Fisher–Yates. Bucketed: the
// shuffled order regrouped by length within windows of 6, the lone 9 as the small batch.
const PINNED_SHUFFLED: [&[usize]; 4] = [&[4, 6, 2], &[0, 8, 3], &[7, 5, 9], &[1]];
const PINNED_BUCKETED: [&[usize]; 4] = [&[0, 6, 3], &[5], &[4, 8, 2], &[7, 9, 1]];
const PINNED_SPLIT: (&[usize], &[usize]) = (&[1, 2, 3, 4, 5, 6, 8], &[0, 7, 9]);

#[test]
fn epochs_and_seeds_change_the_order() {
    let lengths: Vec<usize> = (0..100).collect();
    let base = plan_epoch(&lengths, 10, Order::Shuffled, 1, 0);
    assert_eq!(base, plan_epoch(&lengths, 10, Order::Shuffled, 1, 0));
    assert_ne!(base, plan_epoch(&lengths, 10, Order::Shuffled, 1, 1));
    assert_ne!(base, plan_epoch(&lengths, 10, Order::Shuffled, 2, 0));
    assert_ne!(holdout_split(100, 0.1, 1), holdout_split(100, 0.1, 2));
}

#[test]
fn bucketing_puts_the_small_batch_where_it_costs_least() {
    // With one window, a plan that always sorted longest-first would pair 10 with a 1 here,
    // and one that sorted shortest-first would pair the two 10s apart; both waste cells.
    for lengths in [[10, 1, 1], [10, 10, 1], [1, 10, 1]] {
        let plan = plan_epoch(&lengths, 2, Order::Bucketed { window_batches: 4 }, 3, 0);
        assert_eq!(
            padding_efficiency(&lengths, &plan),
            1.0,
            "{lengths:?}: {plan:?}"
        );
    }
}

#[test]
fn padding_efficiency_counts_real_over_all_cells() {
    let lengths = [4, 2, 3, 3];
    assert_eq!(
        padding_efficiency(&lengths, &[vec![0, 1], vec![2, 3]]),
        12.0 / 14.0
    );
    assert_eq!(
        padding_efficiency(&lengths, &[vec![0], vec![1, 2, 3]]),
        1.0 * 12.0 / 13.0
    );
    assert_eq!(padding_efficiency(&lengths, &[]), 1.0);
}

#[test]
fn holdout_split_sizes() {
    let check = |n: usize, fraction: f64, valid: usize| {
        let (t, v) = holdout_split(n, fraction, 11);
        assert_eq!((t.len(), v.len()), (n - valid, valid), "{n} {fraction}");
    };
    check(100, 0.1, 10);
    check(7600, 0.05, 380);
    check(10, 0.04, 0);
    check(10, 0.05, 1);
    check(10, -1.0, 0);
    check(10, 2.0, 10);
    check(10, f64::NAN, 0);
    check(0, 0.5, 0);
}

fn order_strategy() -> impl Strategy<Value = Order> {
    prop_oneof![
        Just(Order::Sequential),
        Just(Order::Shuffled),
        (0usize..6).prop_map(|window_batches| Order::Bucketed { window_batches }),
    ]
}

fn texts_strategy() -> impl Strategy<Value = Vec<Vec<u32>>> {
    proptest::collection::vec(proptest::collection::vec(3u32..60, 0..30), 0..40)
}

fn window_strategy() -> impl Strategy<Value = Option<Window>> {
    proptest::option::of(
        (1usize..12, 1usize..12).prop_map(|(num_chars, stride)| Window { num_chars, stride }),
    )
}

proptest! {
    #[test]
    fn every_batch_is_well_formed(
        texts in texts_strategy(),
        bos in proptest::option::of(Just(BOS)),
        window in window_strategy(),
        batch_size in 1usize..9,
        order in order_strategy(),
        seed in any::<u64>(),
        epoch in 0u64..4,
    ) {
        let opts = ExampleOptions { eos: EOS, bos, window };
        let mut examples = Vec::new();
        for (i, ids) in texts.iter().enumerate() {
            make_examples(ids, Some(i as u32), &opts, &mut examples);
        }
        let lengths: Vec<usize> = examples.iter().map(Example::len).collect();
        let plan = plan_epoch(&lengths, batch_size, order, seed, epoch);

        // Every example exactly once; all batches full but at most one.
        let mut seen: Vec<usize> = plan.iter().flatten().copied().collect();
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..examples.len()).collect::<Vec<_>>());
        prop_assert!(plan.iter().all(|b| !b.is_empty() && b.len() <= batch_size));
        prop_assert!(plan.iter().filter(|b| b.len() < batch_size).count() <= 1);

        for indices in &plan {
            let batch = collate(&examples, indices);
            prop_assert_eq!(batch.batch_size, indices.len());
            prop_assert_eq!(batch.seq_len, indices.iter().map(|&i| lengths[i]).max().unwrap());
            prop_assert_eq!(batch.input.len(), batch.batch_size * batch.seq_len);
            for (r, &i) in indices.iter().enumerate() {
                let e = &examples[i];
                let row = r * batch.seq_len..(r + 1) * batch.seq_len;
                let (input, target, mask) =
                    (&batch.input[row.clone()], &batch.target[row.clone()], &batch.mask[row]);
                let n = e.len();
                prop_assert_eq!(batch.lengths[r], n as i64);
                prop_assert!(n > 0);
                // Real positions: the example itself, each target the next input id, the last
                // one the next id of the text (windows) or <eos>.
                for j in 0..n {
                    prop_assert_eq!(input[j], i64::from(e.input[j]));
                    prop_assert_eq!(mask[j], 1.0);
                    if j + 1 < n {
                        prop_assert_eq!(target[j], input[j + 1]);
                    } else {
                        prop_assert!(target[j] == i64::from(EOS) || window.is_some());
                    }
                    prop_assert_ne!(input[j], 0);
                    prop_assert_ne!(target[j], 0);
                }
                // Padding only after the length.
                prop_assert!(input[n..].iter().all(|&x| x == 0));
                prop_assert!(target[n..].iter().all(|&x| x == 0));
                prop_assert!(mask[n..].iter().all(|&x| x == 0.0));
            }
            prop_assert_eq!(batch.real_targets(), indices.iter().map(|&i| lengths[i]).sum::<usize>());
        }
        // Plans are reproducible.
        prop_assert_eq!(&plan, &plan_epoch(&lengths, batch_size, order, seed, epoch));
    }

    #[test]
    fn bucketing_is_a_permutation_never_worse_than_shuffling(
        (lengths, batch_size, window_batches) in prop_oneof![
            (proptest::collection::vec(1usize..300, 0..400), 1usize..70, 0usize..20),
            // Few distinct lengths, small batches and windows: where a careless regrouping
            // loses to plain shuffling.
            (proptest::collection::vec(1usize..5, 0..12), 1usize..4, 1usize..4),
        ],
        seed in any::<u64>(),
        epoch in 0u64..3,
    ) {
        let shuffled = plan_epoch(&lengths, batch_size, Order::Shuffled, seed, epoch);
        let bucketed =
            plan_epoch(&lengths, batch_size, Order::Bucketed { window_batches }, seed, epoch);
        let mut seen: Vec<usize> = bucketed.iter().flatten().copied().collect();
        seen.sort_unstable();
        prop_assert_eq!(seen, (0..lengths.len()).collect::<Vec<_>>());
        prop_assert_eq!(bucketed.len(), shuffled.len());
        prop_assert!(
            padding_efficiency(&lengths, &bucketed) >= padding_efficiency(&lengths, &shuffled)
        );
    }

    #[test]
    fn windows_reassemble_the_text(
        ids in proptest::collection::vec(3u32..1000, 1..200),
        bos in proptest::option::of(Just(BOS)),
        num_chars in 1usize..40,
        stride_part in 1usize..=40,
    ) {
        let stride = 1 + (stride_part - 1) % num_chars; // stride <= num_chars: full coverage
        let window = Some(Window { num_chars, stride });
        let got = examples_of(&ids, bos, window);
        let s: Vec<u32> = bos.into_iter().chain(ids.iter().copied()).collect();
        let t: Vec<u32> = s[1..].iter().copied().chain([EOS]).collect();
        // Window k is exactly s[k·stride..], t[k·stride..], cut at num_chars or the end.
        for (k, (input, target)) in got.iter().enumerate() {
            let start = k * stride;
            let end = (start + num_chars).min(s.len());
            prop_assert_eq!(input.as_slice(), &s[start..end]);
            prop_assert_eq!(target.as_slice(), &t[start..end]);
        }
        // The last window reaches the end, no earlier one does.
        let ends: Vec<usize> = (0..got.len()).map(|k| (k * stride + num_chars).min(s.len())).collect();
        prop_assert_eq!(ends.iter().filter(|&&e| e == s.len()).count(), 1);
        prop_assert_eq!(*ends.last().unwrap(), s.len());
        // Tiling windows concatenate back to the original.
        if stride == num_chars {
            let inputs: Vec<u32> = got.iter().flat_map(|(i, _)| i.clone()).collect();
            let targets: Vec<u32> = got.iter().flat_map(|(_, t)| t.clone()).collect();
            prop_assert_eq!(inputs, s);
            prop_assert_eq!(targets, t);
        }
    }

    #[test]
    fn holdout_is_a_seeded_partition(n in 0usize..500, fraction in 0.0f64..=1.0, seed in any::<u64>()) {
        let (train, valid) = holdout_split(n, fraction, seed);
        prop_assert_eq!(valid.len(), ((n as f64) * fraction).round() as usize);
        let mut all: Vec<usize> = train.iter().chain(&valid).copied().collect();
        prop_assert!(train.windows(2).all(|w| w[0] < w[1]));
        prop_assert!(valid.windows(2).all(|w| w[0] < w[1]));
        all.sort_unstable();
        prop_assert_eq!(all, (0..n).collect::<Vec<_>>());
        prop_assert_eq!((train, valid), holdout_split(n, fraction, seed));
    }
}

/// A chain of parts reads as their concatenation; conditioned, each part's labels are classes
/// of its own, and a model must have room for all of them.
#[test]
fn a_conditioned_chain_gives_each_part_classes_of_its_own() {
    let ex = |ids: &[u32], label: u32| Example {
        input: ids.to_vec(),
        target: ids.iter().map(|i| i + 1).collect(),
        label: Some(label),
    };
    let titles = vec![ex(&[3, 4], 0), ex(&[5], 2)];
    let descriptions = vec![ex(&[6, 7, 8], 1)];
    let parts = || -> Vec<&(dyn Examples + Sync)> { vec![&titles, &descriptions] };
    let plain = Chain::new(parts());
    let conditioned = Chain::conditioned(parts(), 3);
    for chain in [&plain, &conditioned] {
        assert_eq!(chain.len(), 3);
        assert_eq!(chain.lengths(), [2, 1, 3]);
        assert_eq!(chain.collate(&[2]).input, [6, 7, 8]);
    }
    let labels = |c: &Chain<'_>| (0..3).map(|i| c.label(i)).collect::<Vec<_>>();
    assert_eq!(labels(&plain), [Some(0), Some(2), Some(1)]);
    assert_eq!(labels(&conditioned), [Some(0), Some(2), Some(4)]);
    assert_eq!(conditioned.collate(&[0, 2]).labels, Some(vec![0, 4]));
    conditioned.check(10, Some(6)).unwrap();
    // Five classes leave the second part two: its label 1 fits, as 4 of 5.
    conditioned.check(10, Some(5)).unwrap();
    let err = conditioned.check(10, Some(4)).unwrap_err().to_string();
    assert!(err.contains("example 2"), "{err}");
    let err = conditioned.check(10, Some(3)).unwrap_err().to_string();
    assert!(err.contains("past the model's"), "{err}");
}
