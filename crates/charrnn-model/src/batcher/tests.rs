//! The batch: rows joining and leaving, refused requests, both sampler placements.
use charrnn_vocab::VocabOptions;

use super::*;
use crate::ModelConfig;

fn request(prompt: &str, seed: u64, stream: usize, max_len: usize) -> RowRequest {
    RowRequest {
        prompt: prompt.into(),
        label: None,
        sampling: SamplingConfig::with_temperature(1.0),
        seed,
        stream,
        max_len,
        stop_strings: Vec::new(),
        unknown: Unknown::Error,
        prepend_bos: true,
        ignore_eos: false,
    }
}

/// Runs the batch to the end; `later` joins after `delay` steps. Returns each key's ids.
fn run(
    batcher: &mut Batcher<'_>,
    first: Vec<(u64, RowRequest)>,
    later: Vec<(u64, RowRequest)>,
    delay: usize,
) -> BTreeMap<u64, Vec<u32>> {
    let mut out: BTreeMap<u64, Vec<u32>> = BTreeMap::new();
    batcher.join(first).unwrap();
    let mut later = Some(later);
    let mut step = 0;
    while !batcher.is_empty() || later.is_some() {
        if step == delay {
            batcher.join(later.take().unwrap_or_default()).unwrap();
        }
        for e in batcher.step().unwrap() {
            out.entry(e.key).or_default().push(e.id);
        }
        step += 1;
    }
    out
}

/// A row samples the same ids alone, in a batch, and when others join or leave mid-way.
#[test]
fn joining_and_leaving_never_change_a_rows_samples() {
    let texts = [
        "the cat sat on the mat",
        "a dog ran far away",
        "zebras eat grass",
    ];
    let vocab = Vocab::build(texts.iter().copied(), &VocabOptions::default()).unwrap();
    let mut config = ModelConfig::new(vocab.len());
    config.hidden = 12;
    config.num_layers = 2;
    let model = CharRnn::new(&config, Device::Cpu, 7).unwrap();
    let mut on_host = None;
    for on in [SampleOn::Host, SampleOn::Device] {
        let mut batcher = Batcher::new(&model, &vocab).unwrap();
        batcher.sample_on(on).unwrap();
        let alone = run(
            &mut batcher,
            vec![(1, request("the ", 5, 0, 30))],
            vec![],
            0,
        );
        // Both placements follow the same streams.
        assert_eq!(on_host.get_or_insert_with(|| alone.clone()), &alone, "{on}");
        for delay in [0, 3, 11] {
            let mixed = run(
                &mut batcher,
                vec![(1, request("the ", 5, 0, 30)), (2, request("", 9, 1, 4))],
                vec![
                    (3, request("zebras eat", 1, 0, 40)),
                    (4, request("a", 5, 0, 2)),
                ],
                delay,
            );
            assert_eq!(mixed[&1], alone[&1], "joined at step {delay}");
            assert!(
                mixed[&2].len() <= 4 && mixed[&4].len() <= 2,
                "length limits hold"
            );
        }
        // The same seed and stream give the same samples whatever the key.
        let again = run(
            &mut batcher,
            vec![(9, request("the ", 5, 0, 30))],
            vec![],
            0,
        );
        assert_eq!(again[&9], alone[&1]);
        // A removed row stops; the others go on.
        batcher
            .join(vec![
                (1, request("the ", 5, 0, 30)),
                (2, request("a", 2, 0, 30)),
            ])
            .unwrap();
        batcher.step().unwrap();
        batcher.remove(&[2]).unwrap();
        assert_eq!(batcher.len(), 1);
        let events = batcher.step().unwrap();
        assert!(events.iter().all(|e| e.key == 1));
    }
}

#[test]
fn bad_requests_are_refused_and_nothing_joins() {
    let vocab = Vocab::build(["abc"], &VocabOptions::default()).unwrap();
    let mut config = ModelConfig::new(vocab.len());
    config.hidden = 4;
    config.num_layers = 1;
    let model = CharRnn::new(&config, Device::Cpu, 0).unwrap();
    let mut batcher = Batcher::new(&model, &vocab).unwrap();
    let mut labelled = request("ab", 0, 0, 5);
    labelled.label = Some(1);
    assert!(
        batcher.check(&labelled).is_err(),
        "an unlabelled model takes no label"
    );
    let err = batcher
        .join(vec![
            (1, request("ab", 0, 0, 5)),
            (2, request("xyz", 0, 0, 5)),
        ])
        .unwrap_err()
        .to_string();
    assert!(err.contains('x'), "{err}");
    assert!(batcher.is_empty());
}

/// Priming in pieces of a few positions gives the logits and states of priming whole, for
/// prompts of several lengths (two of the same length), in the prompts' order.
#[test]
fn priming_in_pieces_matches_priming_whole() {
    let vocab = Vocab::build(["the cat sat on the mat"], &VocabOptions::default()).unwrap();
    let mut config = ModelConfig::new(vocab.len());
    config.hidden = 8;
    config.num_layers = 2;
    let model = CharRnn::new(&config, Device::Cpu, 3).unwrap();
    let prompts: Vec<Vec<u32>> = ["the cat sat", "at", "on the mat", "the mat sat"]
        .iter()
        .map(|p| vocab.encode(p, Unknown::Error).unwrap())
        .collect();
    let labels = vec![None; prompts.len()];
    let _guard = tch::no_grad_guard();
    let (whole_logits, whole_state) = prime(&model, &prompts, &labels, PRIME_POSITIONS).unwrap();
    for positions in [1, 3, 7] {
        let (logits, state) = prime(&model, &prompts, &labels, positions).unwrap();
        let close = |a: &Tensor, b: &Tensor| {
            assert_eq!(a.size(), b.size());
            let diff = (a - b).abs().max().double_value(&[]);
            assert!(
                diff < 1e-5,
                "{positions} positions a call: differs by {diff}"
            );
        };
        close(&logits, &whole_logits);
        close(state.tensors().0, whole_state.tensors().0);
        close(state.tensors().1.unwrap(), whole_state.tensors().1.unwrap());
    }
    // The pieces carry the state: restarting each piece from zeros changes the logits.
    let last_piece: Vec<Vec<u32>> = prompts.iter().map(|p| p[p.len() - 1..].to_vec()).collect();
    let (fresh, _) = prime(&model, &last_piece, &labels, PRIME_POSITIONS).unwrap();
    let diff = (&fresh - &whole_logits).abs().max().double_value(&[]);
    assert!(diff > 1e-3, "the prompts' beginnings must matter");
}

/// A model whose logits are NaN fails generation on both placements, with the host sampler's
/// error on the host and the mark's on the device (found when the block's ids come back),
/// instead of text drawn from garbage.
#[test]
fn broken_logits_fail_on_both_placements() {
    let vocab = Vocab::build(["abc"], &VocabOptions::default()).unwrap();
    let mut config = ModelConfig::new(vocab.len());
    config.hidden = 4;
    config.num_layers = 1;
    let model = CharRnn::new(&config, Device::Cpu, 0).unwrap();
    {
        let _guard = tch::no_grad_guard();
        let mut weights = model.flat().shallow_clone();
        let _ = weights.fill_(f64::NAN);
    }
    for on in [SampleOn::Host, SampleOn::Device] {
        let mut batcher = Batcher::new(&model, &vocab).unwrap();
        batcher.sample_on(on).unwrap();
        batcher.join(vec![(7, request("ab", 0, 3, 20))]).unwrap();
        let err = batcher.step_block(4).unwrap_err();
        match on {
            SampleOn::Host => assert!(
                matches!(
                    err,
                    ModelError::Sampling(charrnn_sampling::SamplingError::NonFiniteLogit {
                        row: 3,
                        ..
                    })
                ),
                "{err}"
            ),
            _ => assert!(
                err.to_string()
                    .starts_with("invalid input: row 3: a logit is NaN or +inf"),
                "{err}"
            ),
        }
    }
}
