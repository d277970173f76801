//! Store-backed examples are the in-memory examples: same lengths, same batches for the same
//! seed and order; splits by document or, for a single stream, at the tail; stateful streams.
mod common;

use charrnn_data::{
    BuildOptions, Example, ExampleOptions, Examples, Order, Selection, Source, SourceOptions,
    Store, StoreExamples, Streams, TextUnit, Window, label_class, label_classes, make_examples,
    plan_epoch, split_store, split_tail,
};
use proptest::prelude::*;

/// Ids: `a` = 1, `b` = 2, ...; the vocabulary has 30 ids, `<eos>` = 28, `<bos>` = 29.
const EOS: u32 = 28;
const BOS: u32 = 29;

fn encode(text: &str, out: &mut Vec<u32>) -> Result<(), String> {
    out.extend(text.bytes().map(|b| u32::from(b - b'a') + 1));
    Ok(())
}

/// A store of `docs` (one per line; labels from JSON Lines when `labels`).
fn store_of(dir: &std::path::Path, docs: &[String], labels: Option<&[i64]>) -> Store {
    let (path, opts) = match labels {
        None => {
            let path = dir.join("docs.txt");
            let mut text = String::new();
            for d in docs {
                text.push_str(d);
                text.push('\n');
            }
            std::fs::write(&path, text).unwrap();
            let opts = SourceOptions {
                text_unit: TextUnit::Line,
                ..SourceOptions::default()
            };
            (path, opts)
        }
        Some(labels) => {
            let path = dir.join("docs.jsonl");
            let mut text = String::new();
            for (d, l) in docs.iter().zip(labels) {
                text.push_str(&format!("{{\"text\": \"{d}\", \"label\": {l}}}\n"));
            }
            std::fs::write(&path, text).unwrap();
            let opts = SourceOptions {
                label_column: Some("label".into()),
                ..SourceOptions::default()
            };
            (path, opts)
        }
    };
    let source = Source::open(&path, &opts).unwrap();
    let build = BuildOptions {
        vocab_size: 30,
        unk_id: None,
    };
    Store::build(
        &dir.join("s.store"),
        7,
        &source,
        &build,
        &mut encode,
        &mut |_| {},
    )
    .unwrap()
}

fn in_memory(docs: &[Vec<u32>], labels: &[Option<u32>], opts: &ExampleOptions) -> Vec<Example> {
    let mut out = Vec::new();
    for (ids, &label) in docs.iter().zip(labels) {
        make_examples(ids, label, opts, &mut out);
    }
    out
}

fn doc_strategy() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[a-z]{1,40}", 1..24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn store_batches_equal_in_memory_batches(
        docs in doc_strategy(),
        window in proptest::option::of((1usize..12, 1usize..14)),
        bos in any::<bool>(),
        batch in 1usize..6,
        seed in 0u64..1000,
        bucketed in any::<bool>(),
        labelled in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let raw_labels: Vec<i64> = (0..docs.len() as i64).map(|i| 10 + i % 3).collect();
        let store = store_of(dir.path(), &docs, labelled.then_some(raw_labels.as_slice()));
        let opts = ExampleOptions {
            eos: EOS,
            bos: bos.then_some(BOS),
            window: window.map(|(n, stride)| Window { num_chars: n, stride }),
        };
        let values = [10i64, 11, 12];
        let view = StoreExamples::new(&store, &Selection::All, opts, labelled.then_some(&values[..])).unwrap();
        let ids: Vec<Vec<u32>> = docs.iter().map(|d| { let mut v = Vec::new(); encode(d, &mut v).unwrap(); v }).collect();
        let labels: Vec<Option<u32>> = raw_labels.iter().map(|&l| labelled.then_some((l - 10) as u32)).collect();
        let memory = in_memory(&ids, &labels, &opts);
        prop_assert_eq!(view.len(), memory.len());
        let lengths = view.lengths();
        prop_assert_eq!(&lengths, &memory.lengths());
        let order = if bucketed { Order::Bucketed { window_batches: 3 } } else { Order::Shuffled };
        for epoch in 0..2 {
            for indices in plan_epoch(&lengths, batch, order, seed, epoch) {
                prop_assert_eq!(view.collate(&indices), charrnn_data::collate(&memory, &indices));
            }
        }
        // A selection of documents is the in-memory examples of those documents.
        let (train, valid) = split_store(&store, 0.3, seed);
        for selection in [train, valid] {
            let Selection::Docs(chosen) = &selection else { continue };
            let view = StoreExamples::new(&store, &selection, opts, labelled.then_some(&values[..])).unwrap();
            let picked_ids: Vec<Vec<u32>> = chosen.iter().map(|&d| ids[d as usize].clone()).collect();
            let picked_labels: Vec<Option<u32>> = chosen.iter().map(|&d| labels[d as usize]).collect();
            let memory = in_memory(&picked_ids, &picked_labels, &opts);
            let all: Vec<usize> = (0..memory.len()).collect();
            prop_assert_eq!(view.collate(&all), charrnn_data::collate(&memory, &all));
        }
    }

    #[test]
    fn stream_rows_continue_each_other_and_cover_the_stream(
        docs in doc_strategy(),
        streams in 1usize..5,
        window in 1usize..9,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = store_of(dir.path(), &docs, None);
        let opts = ExampleOptions { eos: EOS, bos: Some(BOS), window: None };
        let view = StoreExamples::new(&store, &Selection::All, opts, None).unwrap();
        // The whole stream, as make_examples would lay the documents end to end.
        let mut stream_in = Vec::new();
        let mut stream_out = Vec::new();
        for i in 0..view.len() {
            view.write(i, 0..view.example_len(i), &mut stream_in, &mut stream_out);
        }
        let layout = Streams::new(&view, streams, window);
        let len = layout.stream_len() as usize;
        for b in 0..layout.streams() {
            let mut row_in = Vec::new();
            let mut row_out = Vec::new();
            for k in 0..layout.batches() {
                let batch = layout.collate(&view, k);
                prop_assert_eq!(batch.batch_size, layout.streams());
                prop_assert!(batch.mask.iter().all(|&m| m == 1.0), "no padding in stream batches");
                let w = batch.seq_len;
                row_in.extend_from_slice(&batch.input[b * w..(b + 1) * w]);
                row_out.extend_from_slice(&batch.target[b * w..(b + 1) * w]);
            }
            prop_assert_eq!(&row_in[..], &stream_in[b * len..(b + 1) * len]);
            prop_assert_eq!(&row_out[..], &stream_out[b * len..(b + 1) * len]);
        }
    }
}

/// The store examples copied into memory (to compare with the in-memory path).
fn view_as_memory(view: &StoreExamples<'_>) -> Vec<Example> {
    (0..view.len())
        .map(|i| {
            let (mut input, mut target) = (Vec::new(), Vec::new());
            view.write(i, 0..view.example_len(i), &mut input, &mut target);
            Example {
                input: input.iter().map(|&x| x as u32).collect(),
                target: target.iter().map(|&x| x as u32).collect(),
                label: view.label(i),
            }
        })
        .collect()
}

/// How many tokens of `store` a selection holds.
fn tokens_in(store: &Store, selection: &Selection) -> u64 {
    match selection {
        Selection::All => store.tokens(),
        Selection::Docs(docs) => docs
            .iter()
            .map(|&d| {
                let r = store.doc_range(d as usize);
                r.end - r.start
            })
            .sum(),
        Selection::Head(cut) => *cut,
        Selection::Tail(cut) => store.tokens() - cut,
    }
}

#[test]
fn validation_holds_about_its_fraction_of_the_text_not_of_the_documents() {
    // 39 short lines and one long paragraph of 90% of the text: drawn by documents, the long
    // one would be all of validation or none of it.
    let dir = tempfile::tempdir().unwrap();
    let mut docs: Vec<String> = (0..39).map(|_| "abcdefghij".to_owned()).collect();
    docs.insert(17, "k".repeat(3510));
    let store = store_of(dir.path(), &docs, None);
    for seed in 0..40 {
        let (train, valid) = split_store(&store, 0.05, seed);
        let share = tokens_in(&store, &valid) as f64 / store.tokens() as f64;
        assert!(
            (share - 0.05).abs() <= 0.025,
            "seed {seed}: {share} of the text held out"
        );
        assert_eq!(
            tokens_in(&store, &train) + tokens_in(&store, &valid),
            store.tokens()
        );
    }
    // Documents of like sizes are still held out whole, by document.
    let dir = tempfile::tempdir().unwrap();
    let docs: Vec<String> = (0..40)
        .map(|i| "abcdefghij"[..5 + i % 6].to_owned())
        .collect();
    let store = store_of(dir.path(), &docs, None);
    let (_, valid) = split_store(&store, 0.1, 3);
    assert!(
        matches!(&valid, Selection::Docs(d) if d.len() == 4),
        "{valid:?}"
    );
}

#[test]
fn a_single_stream_gives_up_its_tail_for_validation() {
    let dir = tempfile::tempdir().unwrap();
    let docs = vec!["abcdefghijklmnopqrst".to_owned()];
    let store = store_of(dir.path(), &docs, None);
    let (train, valid) = split_store(&store, 0.25, 1);
    assert_eq!(
        (&train, &valid),
        (&Selection::Head(15), &Selection::Tail(15))
    );
    let opts = ExampleOptions {
        eos: EOS,
        bos: Some(BOS),
        window: None,
    };
    let head = view_as_memory(&StoreExamples::new(&store, &train, opts, None).unwrap());
    let tail = view_as_memory(&StoreExamples::new(&store, &valid, opts, None).unwrap());
    let mut whole = Vec::new();
    make_examples(&(1..=20).collect::<Vec<u32>>(), None, &opts, &mut whole);
    // The two parts are the whole example cut in two, at the 15th character.
    assert_eq!(head.len(), 1);
    assert_eq!(tail.len(), 1);
    assert_eq!(head[0].input, whole[0].input[..16]);
    assert_eq!(head[0].target, whole[0].target[..16]);
    assert_eq!(tail[0].input, whole[0].input[16..]);
    assert_eq!(tail[0].target, whole[0].target[16..]);
    assert_eq!(
        tail[0].input[0], 16,
        "the tail starts with the character after the cut, no <bos>"
    );
    assert_eq!(*tail[0].target.last().unwrap(), EOS);
    // Several documents but too few to hold one out: the cut falls inside the last one.
    let dir = tempfile::tempdir().unwrap();
    let store = store_of(
        dir.path(),
        &["abcd".to_owned(), "efghijkl".to_owned()],
        None,
    );
    let (train, valid) = split_store(&store, 0.2, 1);
    assert_eq!(
        (&train, &valid),
        (&Selection::Head(10), &Selection::Tail(10))
    );
    let head = view_as_memory(&StoreExamples::new(&store, &train, opts, None).unwrap());
    let tail = view_as_memory(&StoreExamples::new(&store, &valid, opts, None).unwrap());
    assert_eq!(head.len(), 2);
    assert_eq!(head[1].input, [BOS, 5, 6, 7, 8, 9, 10]);
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].input, [11, 12]);
    assert_eq!(tail[0].target, [12, EOS]);
}

#[test]
fn store_examples_check_what_the_model_needs() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_of(
        dir.path(),
        &["abc".to_owned(), "zz".to_owned()],
        Some(&[4, 9]),
    );
    let opts = ExampleOptions {
        eos: EOS,
        bos: Some(BOS),
        window: None,
    };
    let view = StoreExamples::new(&store, &Selection::All, opts, Some(&[4, 9])).unwrap();
    assert!(view.check(30, Some(2)).is_ok());
    let err = view.check(29, Some(2)).unwrap_err().to_string();
    assert!(
        err.contains("id 29 is outside the vocabulary of 29 ids"),
        "{err}"
    );
    assert!(
        view.check(30, Some(1))
            .unwrap_err()
            .to_string()
            .contains("label 1 is outside 0..1")
    );
    assert_eq!((view.label(0), view.label(1)), (Some(0), Some(1)));
    let err = StoreExamples::new(&store, &Selection::All, opts, Some(&[4])).unwrap_err();
    assert!(err.to_string().contains("document 1 has label 9"), "{err}");
    let unlabelled = StoreExamples::new(&store, &Selection::All, opts, None).unwrap();
    assert!(
        unlabelled
            .check(30, Some(2))
            .unwrap_err()
            .to_string()
            .contains("no label")
    );
}

#[test]
fn split_tail_cuts_one_text_in_memory_where_split_store_cuts_the_stream() {
    let text = "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq";
    let dir = tempfile::tempdir().unwrap();
    let store = store_of(dir.path(), &[text.to_owned()], None);
    let mut ids = Vec::new();
    encode(text, &mut ids).unwrap();
    for fraction in [0.1, 0.25, 0.3, 0.5, 0.77, 0.99, 1.0, 2.0] {
        let (train, valid) = split_tail(&ids, fraction);
        assert_eq!([train, valid].concat(), ids, "{fraction}");
        let cut = train.len() as u64;
        assert_eq!(
            split_store(&store, fraction, 3),
            (Selection::Head(cut), Selection::Tail(cut)),
            "{fraction}"
        );
        // The store's head and tail hold the same ids as the two slices.
        let opts = ExampleOptions {
            eos: EOS,
            bos: None,
            window: None,
        };
        let ids_of = |selection: &Selection| -> Vec<u32> {
            let view = StoreExamples::new(&store, selection, opts, None).unwrap();
            view_as_memory(&view)
                .into_iter()
                .flat_map(|e| e.input)
                .collect()
        };
        assert_eq!(ids_of(&Selection::Head(cut)), train, "{fraction}");
        assert_eq!(ids_of(&Selection::Tail(cut)), valid, "{fraction}");
        // Made from the slices, the tail is the store's tail; the head differs in its last
        // target only (`<eos>` for the store's next character).
        let view = |selection: &Selection| {
            view_as_memory(&StoreExamples::new(&store, selection, opts, None).unwrap())
        };
        let mut tail = Vec::new();
        make_examples(valid, None, &opts, &mut tail);
        assert_eq!(view(&Selection::Tail(cut)), tail, "{fraction}");
        let mut head = Vec::new();
        make_examples(train, None, &opts, &mut head);
        let store_head = view(&Selection::Head(cut));
        assert_eq!(store_head.len(), head.len());
        if let (Some(mine), Some(theirs)) = (head.first_mut(), store_head.first()) {
            assert_eq!(mine.input, theirs.input);
            assert_eq!(mine.target.pop(), Some(EOS));
            assert_eq!(mine.target[..], theirs.target[..mine.target.len()]);
            assert_eq!(theirs.target.last(), valid.first());
        }
    }
    // Nothing held out: the store keeps every document, the slices keep every id.
    for fraction in [0.0, -1.0, f64::NAN] {
        assert_eq!(split_tail(&ids, fraction), (&ids[..], &[][..]));
        assert_eq!(
            split_store(&store, fraction, 3),
            (Selection::All, Selection::Docs(Vec::new()))
        );
    }
    // Overlapping windows of the training part never reach into the held-out part, as the
    // windows `holdout_split` holds out would: here every id is its own position.
    let positions: Vec<u32> = (1..=27).collect();
    let (train, valid) = split_tail(&positions, 0.3);
    assert_eq!((train.len(), valid.len()), (19, 8));
    let opts = ExampleOptions {
        eos: EOS,
        bos: Some(BOS),
        window: Some(Window {
            num_chars: 8,
            stride: 3,
        }),
    };
    let mut examples = Vec::new();
    make_examples(train, None, &opts, &mut examples);
    assert!(examples.len() > 3);
    for e in &examples {
        let text = e
            .input
            .iter()
            .chain(&e.target)
            .filter(|&&id| id != BOS && id != EOS);
        assert!(text.into_iter().all(|&id| id <= 19), "{e:?}");
    }
}

#[test]
fn label_classes_give_in_memory_examples_the_classes_of_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let docs: Vec<String> = ["abc", "zz", "hello", "ab", "q"].map(String::from).into();
    let labels = [4i64, 9, 4, -2, 9];
    let store = store_of(dir.path(), &docs, Some(&labels));
    // The records as a library caller reads them: i64 labels, as the file holds them.
    let source = Source::open(
        &dir.path().join("docs.jsonl"),
        &SourceOptions {
            label_column: Some("label".into()),
            ..SourceOptions::default()
        },
    )
    .unwrap();
    let records: Vec<_> = source.records().map(Result::unwrap).collect();
    let classes = label_classes(records.iter().filter_map(|r| r.label));
    assert_eq!(classes, [-2, 4, 9]);
    assert_eq!(
        (
            label_class(&classes, -2),
            label_class(&classes, 4),
            label_class(&classes, 9)
        ),
        (Some(0), Some(1), Some(2))
    );
    assert_eq!(label_class(&classes, 5), None);
    assert_eq!(label_class(&[], 0), None);
    assert!(label_classes([]).is_empty());
    assert_eq!(label_classes([3, 3, 3]), [3]);

    let opts = ExampleOptions {
        eos: EOS,
        bos: Some(BOS),
        window: Some(Window::new(2)),
    };
    let mut in_memory = Vec::new();
    for r in &records {
        let mut ids = Vec::new();
        encode(&r.text, &mut ids).unwrap();
        let class = r.label.and_then(|l| label_class(&classes, l));
        make_examples(&ids, class, &opts, &mut in_memory);
    }
    let view = StoreExamples::new(&store, &Selection::All, opts, Some(&classes)).unwrap();
    assert_eq!(view_as_memory(&view), in_memory);
    assert!(view.check(30, Some(classes.len())).is_ok());
}
