//! The network, the masked loss and device parsing.

use crate::common::{TITLES, config, examples, vocab};
use charrnn_model::tch::{Device, Kind, Tensor};
use charrnn_model::{
    Cell, CharRnn, InputMode, ModelConfig, ModelError, evaluate, evaluate_each, parse_device,
};

fn ids_tensor(ids: &[Vec<u32>]) -> Tensor {
    let t = ids[0].len();
    let flat: Vec<i64> = ids.iter().flatten().map(|&i| i64::from(i)).collect();
    Tensor::from_slice(&flat).view([ids.len() as i64, t as i64])
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// Logits of whole sequences equal those of the same sequences fed one step at a time with
/// the state carried, for every cell and input mode, with and without a label.
#[test]
fn step_by_step_logits_equal_whole_sequence_logits() {
    let vocab = vocab();
    let ex = examples(&vocab, &TITLES[..3], true);
    let len = ex.iter().map(|e| e.len()).min().unwrap();
    let rows: Vec<Vec<u32>> = ex.iter().map(|e| e.input[..len].to_vec()).collect();
    let input = ids_tensor(&rows);
    let labels = Tensor::from_slice(&[0i64, 3, 1]);
    let check = |cell: Cell, mode: InputMode, labelled: bool| {
        let mut cfg = config(vocab.len(), cell, mode);
        if labelled {
            cfg.num_labels = Some(4);
        }
        let model = CharRnn::new(&cfg, Device::Cpu, 7).unwrap();
        let labels = labelled.then_some(&labels);
        let _guard = charrnn_model::tch::no_grad_guard();
        let (whole, _) = model.forward(&input, labels, None, false).unwrap();
        let mut state = None;
        let mut steps = Vec::new();
        for t in 0..len as i64 {
            let x = input.narrow(1, t, 1);
            let (logits, s) = model.forward(&x, labels, state.as_ref(), false).unwrap();
            steps.push(logits);
            state = Some(s);
        }
        let stepped = Tensor::cat(&steps, 1);
        assert_eq!(whole.size(), [3, len as i64, vocab.len() as i64]);
        let diff = max_abs_diff(&whole, &stepped);
        assert!(
            diff < 1e-5,
            "{cell} {mode:?} labelled={labelled}: diff {diff}"
        );
        // Two halves with the state carried also agree.
        let half = len as i64 / 2;
        let (a, s) = model
            .forward(&input.narrow(1, 0, half), labels, None, false)
            .unwrap();
        let (b, _) = model
            .forward(
                &input.narrow(1, half, len as i64 - half),
                labels,
                Some(&s),
                false,
            )
            .unwrap();
        assert!(max_abs_diff(&whole, &Tensor::cat(&[a, b], 1)) < 1e-5);
    };
    for cell in [Cell::Lstm, Cell::Gru, Cell::Rnn] {
        check(cell, InputMode::Embedding { dim: 8 }, false);
        check(cell, InputMode::OneHot, false);
        check(cell, InputMode::Embedding { dim: 8 }, true);
    }
}

/// The labels change the logits (the conditioning is wired in).
#[test]
fn labels_condition_the_output() {
    let vocab = vocab();
    let mut cfg = config(vocab.len(), Cell::Lstm, InputMode::OneHot);
    cfg.num_labels = Some(4);
    let model = CharRnn::new(&cfg, Device::Cpu, 3).unwrap();
    let input = Tensor::from_slice(&[1i64, 2, 3, 1, 2, 3]).view([2, 3]);
    let (out, _) = model
        .forward(&input, Some(&Tensor::from_slice(&[0i64, 2])), None, false)
        .unwrap();
    assert!(max_abs_diff(&out.get(0), &out.get(1)) > 1e-4);
    // A labelled model without a label, or an unlabelled one with a label: clear errors.
    let err = model.forward(&input, None, None, false).unwrap_err();
    assert!(err.to_string().contains("conditioned on a label"), "{err}");
    let plain = CharRnn::new(
        &config(vocab.len(), Cell::Gru, InputMode::OneHot),
        Device::Cpu,
        3,
    )
    .unwrap();
    let err = plain
        .forward(&input, Some(&Tensor::from_slice(&[0i64, 2])), None, false)
        .unwrap_err();
    assert!(err.to_string().contains("takes no label"), "{err}");
}

/// Same seed, same initial weights; another seed, other weights.
#[test]
fn initialisation_depends_only_on_the_seed() {
    let cfg = config(20, Cell::Lstm, InputMode::Embedding { dim: 5 });
    let weights = |seed| {
        let m = CharRnn::new(&cfg, Device::Cpu, seed).unwrap();
        m.named_parameters()
            .map(|(n, t)| (n.to_owned(), t.copy()))
            .collect::<Vec<_>>()
    };
    let (a, b, c) = (weights(1), weights(1), weights(2));
    assert_eq!(a.len(), 4 * 2 + 3);
    for ((na, ta), (nb, tb)) in a.iter().zip(&b) {
        assert_eq!(na, nb);
        assert_eq!(max_abs_diff(ta, tb), 0.0);
    }
    assert!(max_abs_diff(&a[0].1, &c[0].1) > 0.0);
    let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"rnn.weight_ih_l0") && names.contains(&"output.bias"));
    let model = CharRnn::new(&cfg, Device::Cpu, 1).unwrap();
    // 2 layers of 4·24 gates: (24·5 + 24·24 + 2·24)·4 + (24·24·2 + 2·24)·4, plus embedding
    // and output layers.
    let rnn = 4 * 24 * (5 + 24 + 2) + 4 * 24 * (24 + 24 + 2);
    assert_eq!(model.num_parameters(), rnn + 20 * 5 + 20 * 24 + 20);
}

/// A model grown for a larger vocabulary (fine-tuning on new characters) computes exactly what
/// it did on the old ids, now at their new places, and gives each new id the lowest trained
/// output bias; one-hot inputs keep their label columns. Bad id maps are refused.
#[test]
fn a_grown_vocabulary_keeps_what_the_model_knew() {
    for (input, labels) in [
        (InputMode::Embedding { dim: 5 }, None),
        (InputMode::OneHot, Some(3)),
    ] {
        let mut cfg = config(20, Cell::Lstm, input);
        cfg.num_labels = labels;
        let model = CharRnn::new(&cfg, Device::Cpu, 7).unwrap();
        // Ids 17..20 (the specials) move up by 3; 17, 18 and 19 are new.
        let ids: Vec<u32> = (0..20).map(|i| if i < 17 { i } else { i + 3 }).collect();
        let grown = model.with_vocab(&ids, 23).unwrap();
        assert_eq!(grown.config().vocab_size, 23);
        let old_input = [3i64, 1, 18, 4, 19, 9, 2, 17];
        let new_input: Vec<i64> = old_input
            .iter()
            .map(|&i| i64::from(ids[i as usize]))
            .collect();
        let label = labels.map(|_| Tensor::from_slice(&[2i64, 1]));
        let logits = |m: &CharRnn, input: &[i64]| {
            let input = Tensor::from_slice(input).view([2, 4]);
            m.forward(&input, label.as_ref(), None, false).unwrap().0
        };
        let before = logits(&model, &old_input);
        let after = logits(&grown, &new_input);
        let index = Tensor::from_slice(&ids.iter().map(|&i| i64::from(i)).collect::<Vec<_>>());
        assert!(max_abs_diff(&before, &after.index_select(2, &index)) < 1e-5);
        let bias = model
            .named_parameters()
            .find(|(n, _)| *n == "output.bias")
            .unwrap()
            .1
            .min();
        for new in 17..20 {
            let column = after.select(2, new);
            assert!(max_abs_diff(&column, &bias.expand_as(&column)) < 1e-6);
        }
    }
    let model = CharRnn::new(&config(5, Cell::Gru, InputMode::OneHot), Device::Cpu, 1).unwrap();
    for (ids, size) in [
        (vec![0u32, 1, 2, 3], 6),
        (vec![0, 1, 2, 3, 3], 6),
        (vec![0, 1, 2, 3, 6], 6),
    ] {
        let err = model.with_vocab(&ids, size).err().unwrap();
        assert!(matches!(err, ModelError::InvalidInput(_)), "{err}");
    }
}

/// Under each class in turn (`WithLabel`), a labelled model scores the same texts as if they
/// carried that class; a label out of range, or one for an unconditioned model, is refused.
#[test]
fn texts_score_under_each_class() {
    let vocab = vocab();
    let labelled = examples(&vocab, &["oil falls", "team wins the cup", "rain"], true);
    let plain = examples(&vocab, &["oil falls", "team wins the cup", "rain"], false);
    let mut cfg = config(vocab.len(), Cell::Lstm, InputMode::Embedding { dim: 6 });
    cfg.num_labels = Some(4);
    let model = CharRnn::new(&cfg, Device::Cpu, 5).unwrap();
    let mut by_class = Vec::new();
    for class in 0..4 {
        let each = evaluate_each(&model, &charrnn_data::WithLabel::new(&plain, class), 2).unwrap();
        by_class.push(each);
    }
    // Example i carries label i % 4: its own score is its class's.
    let own = evaluate_each(&model, &labelled, 2).unwrap();
    for (i, e) in own.iter().enumerate() {
        assert!((e.nats_per_char - by_class[i % 4][i].nats_per_char).abs() < 1e-9);
        assert!((e.nats_per_char - by_class[(i + 1) % 4][i].nats_per_char).abs() > 1e-6);
    }
    let out_of_range = evaluate_each(&model, &charrnn_data::WithLabel::new(&plain, 4), 2);
    assert!(
        out_of_range
            .unwrap_err()
            .to_string()
            .contains("label 4 is outside 0..4")
    );
    let unconditioned = CharRnn::new(
        &config(vocab.len(), Cell::Lstm, InputMode::OneHot),
        Device::Cpu,
        5,
    )
    .unwrap();
    let err = evaluate_each(&unconditioned, &charrnn_data::WithLabel::new(&plain, 0), 2);
    assert!(err.unwrap_err().to_string().contains("takes none"));
}

/// Dropout can change on a built model (for fine-tuning): training-mode outputs change, the
/// inference outputs and the weights do not; a probability outside [0, 1) is refused.
#[test]
fn dropout_changes_without_touching_the_weights() {
    let cfg = config(20, Cell::Gru, InputMode::Embedding { dim: 5 });
    let mut model = CharRnn::new(&cfg, Device::Cpu, 3).unwrap();
    let input = Tensor::from_slice(&[3i64, 1, 4, 1, 5, 9, 2, 6]).view([2, 4]);
    let run = |m: &CharRnn, train: bool| {
        charrnn_model::tch::manual_seed(0);
        m.forward(&input, None, None, train).unwrap().0
    };
    let (plain, trained) = (run(&model, false), run(&model, true));
    assert_eq!(max_abs_diff(&plain, &trained), 0.0, "no dropout yet");
    model.set_dropout(0.5).unwrap();
    assert_eq!(model.config().dropout, 0.5);
    assert_eq!(max_abs_diff(&plain, &run(&model, false)), 0.0);
    assert!(max_abs_diff(&plain, &run(&model, true)) > 0.0);
    for bad in [1.0, -0.1, f64::NAN] {
        assert!(matches!(
            model.set_dropout(bad),
            Err(ModelError::InvalidConfig(_))
        ));
    }
    assert_eq!(model.config().dropout, 0.5);
}

/// The loss is the sum of -log p(target) over real targets divided by their number: checked
/// against a hand computation from the logits of each example run alone (so padding in the
/// evaluated batch changes nothing).
#[test]
fn masked_loss_equals_hand_computation_and_ignores_padding() {
    let vocab = vocab();
    let ex = examples(&vocab, &["oil falls", "team wins the cup", "rain"], false);
    let model = CharRnn::new(
        &config(vocab.len(), Cell::Lstm, InputMode::Embedding { dim: 6 }),
        Device::Cpu,
        11,
    )
    .unwrap();
    let mut nats = 0.0;
    let mut chars = 0;
    let mut per_example = Vec::new();
    for e in &ex {
        let input = ids_tensor(std::slice::from_ref(&e.input));
        let (logits, _) = model.forward(&input, None, None, false).unwrap();
        let logp = logits.log_softmax(-1, Kind::Double);
        let mut sum = 0.0;
        for (t, &target) in e.target.iter().enumerate() {
            sum -= logp.double_value(&[0, t as i64, i64::from(target)]);
        }
        per_example.push(sum / e.target.len() as f64);
        nats += sum;
        chars += e.target.len();
    }
    // All three in one padded batch, in batches of two, and one by one.
    for batch_size in [3, 2, 1] {
        let eval = evaluate(&model, &ex, batch_size).unwrap();
        assert_eq!(eval.chars, chars);
        assert!((eval.nats_per_char - nats / chars as f64).abs() < 1e-5);
        assert!((eval.bits_per_char - eval.nats_per_char / std::f64::consts::LN_2).abs() < 1e-12);
    }
    for (e, expected) in ex.iter().zip(&per_example) {
        let alone = evaluate(&model, std::slice::from_ref(e), 1).unwrap();
        assert!((alone.nats_per_char - expected).abs() < 1e-5);
    }
    // Each example's own score, in order, whatever the batching.
    for batch_size in [3, 2, 1] {
        let each = evaluate_each(&model, &ex, batch_size).unwrap();
        assert_eq!(each.len(), ex.len());
        for ((got, expected), e) in each.iter().zip(&per_example).zip(&ex) {
            assert_eq!(got.chars, e.target.len());
            assert!(
                (got.nats_per_char - expected).abs() < 1e-5,
                "{got:?} vs {expected}"
            );
        }
    }
    // An untrained model is close to uniform: about ln(V) nats per char.
    let uniform = (vocab.len() as f64).ln();
    assert!((nats / chars as f64 - uniform).abs() < 1.0);
}

#[test]
fn evaluation_rejects_examples_that_do_not_fit() {
    let vocab = vocab();
    let model = CharRnn::new(
        &config(vocab.len(), Cell::Gru, InputMode::OneHot),
        Device::Cpu,
        1,
    )
    .unwrap();
    let mut ex = examples(&vocab, &["oil"], false);
    assert!(matches!(
        evaluate(&model, &Vec::<charrnn_data::Example>::new(), 4),
        Err(ModelError::InvalidInput(_))
    ));
    ex[0].target[1] = vocab.len() as u32 + 5;
    let err = evaluate(&model, &ex, 4).unwrap_err().to_string();
    assert!(err.contains("outside the vocabulary"), "{err}");
}

#[test]
fn config_validation_names_the_problem() {
    let check = |edit: fn(&mut ModelConfig), needle: &str| {
        let mut cfg = ModelConfig::new(30);
        edit(&mut cfg);
        let err = CharRnn::new(&cfg, Device::Cpu, 0).unwrap_err().to_string();
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    };
    check(|c| c.hidden = 0, "hidden");
    check(|c| c.dropout = 1.0, "dropout");
    check(|c| c.vocab_size = 1, "vocab_size");
    check(|c| c.input = InputMode::Embedding { dim: 0 }, "embedding");
    check(|c| c.num_labels = Some(0), "num_labels");
    check(
        |c| {
            c.num_labels = Some(4);
            c.label_names = vec!["World".into()];
        },
        "label names",
    );
    assert!(ModelConfig::new(30).validate().is_ok());
    assert_eq!("GRU".parse::<Cell>().unwrap(), Cell::Gru);
    assert!("transformer".parse::<Cell>().is_err());

    let mut cfg = ModelConfig::new(30);
    cfg.num_labels = Some(4);
    cfg.label_names = ["World", "Sports", "Business", "Sci/Tech"]
        .map(String::from)
        .to_vec();
    assert_eq!(cfg.label_id("sports"), Some(1));
    assert_eq!(cfg.label_id("3"), Some(3));
    assert_eq!(cfg.label_id("4"), None);
    assert_eq!(cfg.label_id("weather"), None);
    // Classes named by numbers take their names only: an index would mean another class.
    cfg.num_labels = Some(2);
    cfg.label_names = vec!["1".into(), "2".into()];
    assert_eq!(cfg.label_id("1"), Some(0));
    assert_eq!(cfg.label_id("2"), Some(1));
    assert_eq!(cfg.label_id("0"), None);
}

#[test]
fn devices_parse_and_cuda_is_refused_when_absent() {
    assert_eq!(parse_device("cpu").unwrap(), Device::Cpu);
    assert_eq!(parse_device(" CPU ").unwrap(), Device::Cpu);
    let auto = parse_device("auto").unwrap();
    assert_eq!(auto.is_cuda(), charrnn_model::tch::Cuda::is_available());
    assert!(matches!(
        parse_device("tpu"),
        Err(ModelError::UnknownDevice(_))
    ));
    assert!(matches!(
        parse_device("cuda:x"),
        Err(ModelError::UnknownDevice(_))
    ));
    // A device index no machine has.
    let err = parse_device("cuda:999").unwrap_err();
    assert!(matches!(err, ModelError::CudaUnavailable { .. }), "{err}");
    if !charrnn_model::tch::Cuda::is_available() {
        for spec in ["cuda", "cuda:0", "gpu"] {
            let err = parse_device(spec).unwrap_err();
            assert!(matches!(err, ModelError::CudaUnavailable { .. }));
            assert!(err.to_string().contains("no CUDA device"), "{err}");
        }
    } else {
        assert_eq!(parse_device("cuda").unwrap(), Device::Cuda(0));
    }
}
