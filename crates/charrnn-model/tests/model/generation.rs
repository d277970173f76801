//! Incremental, batched generation.

use crate::common::{config, vocab};
use charrnn_model::tch::{Device, Kind, Tensor};
use charrnn_model::{
    Cell, CharRnn, GenerateOptions, InputMode, ModelError, generate, generate_streaming,
};
use charrnn_sampling::{SamplingConfig, StopReason, Temperature};
use charrnn_vocab::PAD_ID;

fn model(vocab_size: usize, cell: Cell, seed: u64) -> CharRnn {
    CharRnn::new(
        &config(vocab_size, cell, InputMode::Embedding { dim: 8 }),
        Device::Cpu,
        seed,
    )
    .unwrap()
}

fn greedy(max_len: usize) -> GenerateOptions {
    GenerateOptions {
        sampling: SamplingConfig::greedy(),
        max_len,
        ..GenerateOptions::default()
    }
}

const PROMPTS: [&str; 5] = ["sto", "", "team wins", "t", "sto"];

/// Batched greedy generation (prompts of different lengths, an empty one included) gives what
/// generating each prompt alone gives, for every cell.
#[test]
fn batched_greedy_equals_one_at_a_time() {
    let vocab = vocab();
    for cell in [Cell::Lstm, Cell::Gru, Cell::Rnn] {
        let m = model(vocab.len(), cell, 5);
        let batched = generate(&m, &vocab, &PROMPTS, &greedy(40)).unwrap();
        assert_eq!(batched.len(), PROMPTS.len());
        for (p, b) in PROMPTS.iter().zip(&batched) {
            let alone = generate(&m, &vocab, &[p], &greedy(40)).unwrap();
            assert_eq!(&alone[0], b, "{cell} prompt {p:?}");
            assert!(!b.ids.is_empty() && b.ids.len() <= 40);
        }
        assert_eq!(batched[0], batched[4]);
    }
}

/// Generation carries the state: each greedy id is the argmax (over allowed ids) of the logits
/// obtained by re-running the whole prefix, as the notebook does.
#[test]
fn incremental_generation_matches_rerunning_the_prefix() {
    let vocab = vocab();
    let m = model(vocab.len(), Cell::Lstm, 8);
    let out = generate(&m, &vocab, &["rain"], &greedy(15)).unwrap();
    let mut prefix: Vec<i64> = std::iter::once(vocab.bos_id())
        .chain(vocab.encode("rain", charrnn_vocab::Unknown::Error).unwrap())
        .map(i64::from)
        .collect();
    let banned = [PAD_ID, vocab.unk_id(), vocab.bos_id()];
    for &id in &out[0].ids {
        let input = Tensor::from_slice(&prefix).view([1, prefix.len() as i64]);
        let (logits, _) = m.forward(&input, None, None, false).unwrap();
        let last = logits
            .get(0)
            .get(prefix.len() as i64 - 1)
            .to_kind(Kind::Double);
        let best = (0..vocab.len() as u32)
            .filter(|i| !banned.contains(i))
            .max_by(|&a, &b| {
                let (x, y) = (
                    last.double_value(&[a as i64]),
                    last.double_value(&[b as i64]),
                );
                x.partial_cmp(&y).unwrap().then(b.cmp(&a))
            })
            .unwrap();
        assert_eq!(id, best);
        prefix.push(i64::from(id));
    }
}

/// Same seed, same samples; another seed, other samples. Special ids other than <eos> are
/// never drawn by default, however hot the temperature.
#[test]
fn sampling_is_seeded_and_specials_are_banned() {
    let vocab = vocab();
    let m = model(vocab.len(), Cell::Gru, 2);
    let options = |seed| GenerateOptions {
        sampling: SamplingConfig {
            temperature: Temperature::Schedule(vec![5.0, 3.0]),
            top_k: Some(20),
            ..SamplingConfig::greedy()
        },
        max_len: 30,
        seed,
        ..GenerateOptions::default()
    };
    let prompts = ["the"; 8];
    let a = generate(&m, &vocab, &prompts, &options(1)).unwrap();
    assert_eq!(a, generate(&m, &vocab, &prompts, &options(1)).unwrap());
    assert_ne!(a, generate(&m, &vocab, &prompts, &options(2)).unwrap());
    // Rows use their own streams: eight samples of one prompt differ.
    assert!(a.iter().any(|g| g.text != a[0].text));
    for g in &a {
        for id in &g.ids {
            assert!(![PAD_ID, vocab.unk_id(), vocab.bos_id()].contains(id));
        }
        assert_eq!(g.text, vocab.decode(&g.ids));
        match g.stop {
            StopReason::Eos => assert_eq!(g.ids.last(), Some(&vocab.eos_id())),
            StopReason::MaxLen => assert_eq!(g.ids.len(), 30),
            StopReason::StopString(_) => panic!("no stop string was given"),
        }
    }
}

/// Stop strings end a sample and are cut from its text; the streamed pieces add up to the
/// final text (a stop string's start is held back until it is known not to be one).
#[test]
fn stop_strings_and_streaming() {
    let vocab = vocab();
    let m = model(vocab.len(), Cell::Lstm, 4);
    let free = generate(&m, &vocab, &["a", "s"], &greedy(40)).unwrap();
    // Stop at the two characters found at positions 3..5 of the first sample.
    let chars: Vec<char> = free[0].text.chars().collect();
    assert!(chars.len() >= 6, "{:?}", free[0]);
    let stop: String = chars[3..5].iter().collect();
    let options = GenerateOptions {
        stop_strings: vec!["#never#".into(), stop.clone()],
        ..greedy(40)
    };
    let mut streamed = vec![String::new(); 2];
    let out = generate_streaming(&m, &vocab, &["a", "s"], &options, &mut |i, piece| {
        streamed[i].push_str(piece)
    })
    .unwrap();
    assert_eq!(out[0].stop, StopReason::StopString(1));
    let cut = free[0].text.find(&stop).unwrap();
    assert_eq!(out[0].text, free[0].text[..cut]);
    for (s, o) in streamed.iter().zip(&out) {
        assert_eq!(s, &o.text);
    }
}

#[test]
fn prompts_and_labels_are_checked() {
    let vocab = vocab();
    let m = model(vocab.len(), Cell::Rnn, 1);
    let err = generate(&m, &vocab, &["ok", "héllo?"], &greedy(5)).unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ModelError::Prompt { index: 1, .. }),
        "{err:?}"
    );
    assert!(
        msg.contains("prompt 1") && msg.contains("'é'") && msg.contains("'?'"),
        "{msg}"
    );

    let no_bos = GenerateOptions {
        prepend_bos: false,
        ..greedy(5)
    };
    assert!(generate(&m, &vocab, &[""], &no_bos).is_err());
    assert_eq!(
        generate(&m, &vocab, &["st"], &no_bos).unwrap()[0].ids.len(),
        5
    );
    assert!(generate(&m, &vocab, &[], &greedy(5)).unwrap().is_empty());
    let zero = generate(&m, &vocab, &["st"], &greedy(0)).unwrap();
    assert!(zero[0].ids.is_empty() && zero[0].stop == StopReason::MaxLen);

    let with_label = GenerateOptions {
        label: Some(1),
        ..greedy(5)
    };
    let err = generate(&m, &vocab, &["st"], &with_label).unwrap_err();
    assert!(err.to_string().contains("takes no label"), "{err}");

    let mut cfg = config(vocab.len(), Cell::Lstm, InputMode::OneHot);
    cfg.num_labels = Some(4);
    cfg.label_names = ["World", "Sports", "Business", "Sci/Tech"]
        .map(String::from)
        .to_vec();
    let labelled = CharRnn::new(&cfg, Device::Cpu, 1).unwrap();
    let err = generate(&labelled, &vocab, &["st"], &greedy(5)).unwrap_err();
    assert!(
        err.to_string()
            .contains("World, Sports, Business, Sci/Tech"),
        "{err}"
    );
    let sports = generate(&labelled, &vocab, &["st"], &with_label).unwrap();
    let world = GenerateOptions {
        label: Some(0),
        ..greedy(5)
    };
    assert_eq!(sports[0].ids.len(), 5);
    assert!(generate(&labelled, &vocab, &["st"], &world).is_ok());
    let bad = GenerateOptions {
        label: Some(4),
        ..greedy(5)
    };
    assert!(generate(&labelled, &vocab, &["st"], &bad).is_err());

    let other = charrnn_vocab::Vocab::build(["xyz"], &Default::default()).unwrap();
    let err = generate(&m, &other, &["x"], &greedy(5)).unwrap_err();
    assert!(err.to_string().contains("vocabulary has 7 ids"), "{err}");
}

/// Sampling on the device (here CPU tensors, the same code as on CUDA) follows the host
/// sampler's streams: greedy, temperatures, schedules and every filter give the host path's
/// samples, and rows stop at `<eos>`, at stop strings and at the length limit exactly where
/// the host path stops them, whatever the number of steps between copies to the host.
#[test]
fn device_sampling_gives_the_host_samples_and_stops_whatever_the_block() {
    use charrnn_model::SampleOn;
    let vocab = vocab();
    let m = model(vocab.len(), Cell::Lstm, 3);
    let prompts: Vec<&str> = (0..24).map(|i| PROMPTS[i % PROMPTS.len()]).collect();
    let options = |sampling: &SamplingConfig, on, sync_every| GenerateOptions {
        sampling: sampling.clone(),
        max_len: 30,
        stop_strings: vec!["e ".into()],
        seed: 11,
        sample_on: Some(on),
        sync_every,
        ..GenerateOptions::default()
    };
    let samplings = [
        SamplingConfig::greedy(),
        SamplingConfig::with_temperature(1.5),
        SamplingConfig::with_temperature(1.0).top_k(5),
        SamplingConfig {
            temperature: Temperature::Schedule(vec![0.5, 2.0]),
            top_p: Some(0.9),
            min_p: Some(0.02),
            ..SamplingConfig::greedy()
        },
    ];
    let mut reasons = std::collections::BTreeSet::new();
    for sampling in &samplings {
        let host = generate(
            &m,
            &vocab,
            &prompts,
            &options(sampling, SampleOn::Host, None),
        )
        .unwrap();
        for sync_every in [Some(1), Some(3), Some(64), None] {
            let device = generate(
                &m,
                &vocab,
                &prompts,
                &options(sampling, SampleOn::Device, sync_every),
            )
            .unwrap();
            assert_eq!(device, host, "{sampling:?}, sync every {sync_every:?}");
        }
        for g in &host {
            reasons.insert(format!("{:?}", g.stop));
            match g.stop {
                StopReason::Eos => assert_eq!(g.ids.last(), Some(&vocab.eos_id())),
                StopReason::MaxLen => assert_eq!(g.ids.len(), 30),
                StopReason::StopString(_) => assert!(g.ids.len() <= 30),
            }
        }
    }
    // The rows above ended in every way a row can end.
    assert_eq!(reasons.len(), 3, "{reasons:?}");
}
