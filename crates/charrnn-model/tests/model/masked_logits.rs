//! Logits of `-inf` (masked ids) in generation: neither sampler ever draws a masked id, and
//! the device sampler (here on CPU tensors, the same code as on CUDA) gives the host
//! sampler's samples.

use std::collections::BTreeSet;

use crate::common::{config, vocab};
use charrnn_model::tch::{self, Device, Tensor};
use charrnn_model::{Cell, CharRnn, GenerateOptions, Generated, InputMode, SampleOn, generate};
use charrnn_sampling::{SamplingConfig, Temperature};

fn model(vocab_size: usize) -> CharRnn {
    CharRnn::new(
        &config(vocab_size, Cell::Lstm, InputMode::Embedding { dim: 8 }),
        Device::Cpu,
        3,
    )
    .unwrap()
}

/// Sets the output bias of `masked` ids to `-inf`: their logit is then `-inf` at every step.
fn mask(model: &CharRnn, masked: &[u32]) {
    let (name, bias) = model.named_parameters().last().unwrap();
    assert_eq!(name, "output.bias");
    let index: Vec<i64> = masked.iter().map(|&id| i64::from(id)).collect();
    let index = Tensor::from_slice(&index);
    tch::no_grad(|| {
        let mut bias = bias.shallow_clone();
        let _ = bias.f_index_fill_(0, &index, f64::NEG_INFINITY).unwrap();
    });
}

fn options(sampling: &SamplingConfig, on: SampleOn, sync_every: Option<usize>) -> GenerateOptions {
    GenerateOptions {
        sampling: sampling.clone(),
        max_len: 30,
        seed: 17,
        sample_on: Some(on),
        sync_every,
        ..GenerateOptions::default()
    }
}

fn ids(generated: &[Generated]) -> BTreeSet<u32> {
    generated
        .iter()
        .flat_map(|g| g.ids.iter().copied())
        .collect()
}

#[test]
fn masked_ids_are_never_drawn_and_the_device_sampler_agrees_with_the_host() {
    let vocab = vocab();
    let prompts: Vec<&str> = ["sto", "", "team wins", "t", "rain", "big "]
        .into_iter()
        .cycle()
        .take(18)
        .collect();
    let greedy = SamplingConfig::greedy();
    // Unmasked, greedy decoding draws these ids (masking them changes what it draws), and
    // some frequent characters.
    let m = model(vocab.len());
    let before = generate(
        &m,
        &vocab,
        &prompts,
        &options(&greedy, SampleOn::Host, None),
    )
    .unwrap();
    let mut masked: Vec<u32> = ids(&before)
        .into_iter()
        .filter(|&id| id != vocab.eos_id())
        .collect();
    masked.extend(vocab.encode("e a", charrnn_vocab::Unknown::Error).unwrap());
    masked.sort_unstable();
    masked.dedup();
    assert!(masked.len() >= 3, "{masked:?}");
    assert!(
        masked.len() + 5 < vocab.len(),
        "{masked:?} of {}",
        vocab.len()
    );
    mask(&m, &masked);

    let samplings = [
        greedy.clone(),
        SamplingConfig::with_temperature(1.0),
        // Hot: every id left is about as likely as any other, the masked ones still never.
        SamplingConfig::with_temperature(50.0),
        SamplingConfig::with_temperature(1e6).top_k(vocab.len()),
        SamplingConfig::with_temperature(1.2).top_k(4),
        SamplingConfig {
            temperature: Temperature::Schedule(vec![0.5, 2.0]),
            top_p: Some(0.9),
            min_p: Some(0.02),
            ..SamplingConfig::greedy()
        },
    ];
    for sampling in &samplings {
        let host = generate(
            &m,
            &vocab,
            &prompts,
            &options(sampling, SampleOn::Host, None),
        )
        .unwrap();
        let drawn = ids(&host);
        assert!(
            drawn.iter().all(|id| masked.binary_search(id).is_err()),
            "host, {sampling:?}: drew {drawn:?}, masked {masked:?}"
        );
        if sampling == &greedy {
            assert_ne!(host, before, "masking changed nothing");
        }
        for sync_every in [Some(1), Some(4), None] {
            let device = generate(
                &m,
                &vocab,
                &prompts,
                &options(sampling, SampleOn::Device, sync_every),
            )
            .unwrap();
            let drawn = ids(&device);
            assert!(
                drawn.iter().all(|id| masked.binary_search(id).is_err()),
                "device, {sampling:?}: drew {drawn:?}, masked {masked:?}"
            );
            assert_eq!(device, host, "{sampling:?}, sync every {sync_every:?}");
        }
    }
}
