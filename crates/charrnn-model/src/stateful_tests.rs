//! Stateful training carries the recurrent state across consecutive windows of a stream.
use charrnn_data::{Example, ExampleOptions, Streams, make_examples};
use charrnn_vocab::{Unknown, Vocab, VocabOptions};
use tch::{Device, Kind, Tensor};

use crate::{
    Cell, CharRnn, InputMode, ModelConfig, OptimizerConfig, TrainConfig, TrainData, Trainer,
};

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn the_state_carried_into_a_window_is_the_state_at_the_end_of_the_previous_one() {
    let texts = [
        "the cat sat on the mat",
        "a dog ran far",
        "birds sing at dawn",
    ];
    let vocab = Vocab::build(texts, &VocabOptions::default()).unwrap();
    let opts = ExampleOptions {
        eos: vocab.eos_id(),
        bos: Some(vocab.bos_id()),
        window: None,
    };
    let mut examples: Vec<Example> = Vec::new();
    for t in texts {
        make_examples(
            &vocab.encode(t, Unknown::Error).unwrap(),
            None,
            &opts,
            &mut examples,
        );
    }
    for cell in [Cell::Lstm, Cell::Gru] {
        let mut config = ModelConfig::new(vocab.len());
        config.cell = cell;
        config.input = InputMode::Embedding { dim: 6 };
        config.hidden = 8;
        config.num_layers = 2;
        config.dropout = 0.0;
        let model = CharRnn::new(&config, Device::Cpu, 3).unwrap();
        // A learning rate so small that no weight moves (each update is far below a float's
        // resolution): the carried state must then be exactly the state of the whole stream.
        let train = TrainConfig {
            optimizer: OptimizerConfig::sgd(0.0),
            learning_rate: 1e-30,
            clip_grad_norm: None,
            epochs: Some(2),
            batch_size: 2,
            stateful: Some(5),
            eval_every: None,
            ..TrainConfig::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let mut trainer = Trainer::new(model, train, dir.path()).unwrap();
        let data = TrainData {
            train: &examples,
            valid: &examples,
            vocab: &vocab,
            settings: &crate::DataSettings::default(),
            checksums: &Default::default(),
        };
        trainer.fit(&data, &mut ()).unwrap();
        let streams = Streams::new(&examples, 2, 5);
        let per_epoch = streams.batches();
        assert!(per_epoch >= 3, "several windows per stream");
        assert_eq!(trainer.trace.len(), 2 * per_epoch);
        let model = trainer.model();
        // The whole of each stream, window after window.
        let whole: Vec<Vec<i64>> = (0..2)
            .map(|b| {
                (0..per_epoch)
                    .flat_map(|k| {
                        let batch = streams.collate(&examples, k);
                        let w = batch.seq_len;
                        batch.input[b * w..(b + 1) * w].to_vec()
                    })
                    .collect()
            })
            .collect();
        for (step, (state_in, state_out)) in trainer.trace.iter().enumerate() {
            let k = step % per_epoch;
            if k == 0 {
                assert!(state_in.is_none(), "every epoch starts from zeros");
            } else {
                let previous = &trainer.trace[step - 1].1;
                let carried = state_in.as_ref().expect("a carried state");
                let (h, c) = carried.tensors();
                assert_eq!(
                    max_diff(h, previous.tensors().0),
                    0.0,
                    "{cell:?} step {step}"
                );
                if let (Some(c), Some(pc)) = (c, previous.tensors().1) {
                    assert_eq!(max_diff(c, pc), 0.0);
                }
                assert!(!h.requires_grad(), "the carried state is detached");
            }
            // The state at the end of window k is the state after the stream's first k + 1
            // windows run in one piece.
            let end = (k + 1) * 5;
            let end = end.min(streams.stream_len() as usize);
            let prefix: Vec<i64> = whole.iter().flat_map(|row| row[..end].to_vec()).collect();
            let input = Tensor::from_slice(&prefix).view([2, end as i64]);
            let (_, reference) = model.forward(&input, None, None, false).unwrap();
            let diff = max_diff(state_out.tensors().0, reference.tensors().0);
            assert!(diff < 1e-5, "{cell:?} window {k}: {diff}");
        }
        assert_eq!(trainer.trace[0].1.tensors().0.kind(), Kind::Float);
        assert_eq!(examples.len(), 3);
    }
}
