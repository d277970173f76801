//! tokenizer.json and counts files: round trips, atomic writes, rejected inputs.
use charrnn_vocab::{Level, Unknown, Vocab, VocabError, VocabOptions};
use serde_json::{Value, json};

fn sample(level: Level, lowercase: bool) -> Vocab {
    let opts = VocabOptions {
        level,
        lowercase,
        min_freq: 1,
        max_size: Some(30),
    };
    Vocab::build(
        [
            "The quick brown fox — jumps over the lazy dog. 東京 🙂",
            "Über naïve café!",
        ],
        &opts,
    )
    .unwrap()
}

#[test]
fn save_load_round_trip_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let text = "the lazy café 🙂 jumps — OVER ñ";
    for level in [Level::Char, Level::Word] {
        for lowercase in [false, true] {
            let vocab = sample(level, lowercase);
            let path = dir.path().join(format!("{level}-{lowercase}.json"));
            vocab.save(&path).unwrap();
            let loaded = Vocab::load(&path).unwrap();
            assert_eq!(loaded.tokens(), vocab.tokens());
            assert_eq!(loaded.counts(), vocab.counts());
            assert!(loaded.counts().is_some());
            assert_eq!((loaded.level(), loaded.lowercase()), (level, lowercase));
            assert_eq!(
                loaded.encode(text, Unknown::Replace).unwrap(),
                vocab.encode(text, Unknown::Replace).unwrap()
            );
            // from_json alone has no counts.
            let from_text = Vocab::from_json(&vocab.to_json().unwrap()).unwrap();
            assert_eq!(from_text.tokens(), vocab.tokens());
            assert_eq!(from_text.counts(), None);
        }
    }
}

#[test]
fn save_is_atomic_and_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokenizer.json");
    let counts_path = Vocab::counts_path(&path);
    assert_eq!(counts_path, dir.path().join("tokenizer.counts.json"));
    assert_eq!(
        Vocab::counts_path(std::path::Path::new("vocab")),
        std::path::Path::new("vocab.counts.json")
    );

    sample(Level::Word, false).save(&path).unwrap();
    let char_vocab = sample(Level::Char, false);
    char_vocab.save(&path).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["tokenizer.counts.json", "tokenizer.json"],
        "no temporary file left"
    );
    assert_eq!(Vocab::load(&path).unwrap().tokens(), char_vocab.tokens());

    // Saving a vocabulary without counts removes the old counts file.
    let no_counts = Vocab::from_json(&char_vocab.to_json().unwrap()).unwrap();
    no_counts.save(&path).unwrap();
    assert!(!counts_path.exists());
    assert_eq!(Vocab::load(&path).unwrap().counts(), None);

    // A directory that does not exist: an error naming the path, no panic.
    let missing = dir.path().join("no/such/dir/tokenizer.json");
    let err = char_vocab.save(&missing).unwrap_err();
    assert!(matches!(err, VocabError::Io { .. }), "{err}");
    assert!(err.to_string().contains("no/such/dir"), "{err}");
}

#[test]
fn counts_file_must_match_the_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    sample(Level::Char, false).save(&a).unwrap();
    sample(Level::Char, true).save(&b).unwrap();
    // b's counts next to a's tokenizer: not a's counts.
    std::fs::copy(Vocab::counts_path(&b), Vocab::counts_path(&a)).unwrap();
    assert_eq!(Vocab::load(&a).unwrap().counts(), None);
    // Not JSON: an error.
    std::fs::write(Vocab::counts_path(&a), "{oops").unwrap();
    let err = Vocab::load(&a).unwrap_err();
    assert!(err.to_string().contains("counts file"), "{err}");
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.json");
    let err = Vocab::load(&path).unwrap_err();
    assert!(matches!(err, VocabError::Io { .. }));
    assert!(err.to_string().starts_with("cannot read "), "{err}");
    assert!(err.to_string().contains("nope.json"), "{err}");
}

/// Applies `edit` to the JSON of a char-level (or word-level) vocabulary and checks that loading
/// fails with a message containing `expected`.
fn check(level: Level, edit: impl FnOnce(&mut Value), expected: &str) {
    let mut value: Value = serde_json::from_str(&sample(level, false).to_json().unwrap()).unwrap();
    edit(&mut value);
    let err = Vocab::from_json(&value.to_string()).unwrap_err();
    assert!(
        err.to_string().contains(expected),
        "{expected:?} not in {err}"
    );
    assert!(!err.to_string().contains('\n'), "one line: {err}");
}

#[test]
fn foreign_or_broken_json_is_rejected() {
    for text in [
        "",
        "{",
        "[]",
        "null",
        "{\"model\": 3}",
        "{\"version\": \"2.0\"}",
    ] {
        let err = Vocab::from_json(text).unwrap_err();
        assert!(
            matches!(err, VocabError::InvalidJson { .. }),
            "{text:?}: {err}"
        );
        // The parser's own error is kept as the source, not flattened into the message.
        assert!(std::error::Error::source(&err).is_some(), "{text:?}");
    }
    let c = Level::Char;
    let w = Level::Word;
    check(
        c,
        |v| v["normalizer"] = json!({"type": "NFC"}),
        "normalizer",
    );
    check(
        c,
        |v| v["pre_tokenizer"] = json!({"type": "Whitespace"}),
        "no pre-tokenizer",
    );
    check(
        w,
        |v| v["pre_tokenizer"] = json!({"type": "WhitespaceSplit"}),
        "Whitespace pre-tokenizer",
    );
    check(w, |v| v["decoder"] = json!({"type": "Fuse"}), "decoder");
    check(c, |v| v["model"]["dropout"] = json!(0.5), "model options");
    check(
        c,
        |v| v["model"]["ignore_merges"] = json!(true),
        "model options",
    );
    check(c, |v| v["model"]["fuse_unk"] = json!(true), "model options");
    check(
        c,
        |v| v["model"]["byte_fallback"] = json!(true),
        "model options",
    );
    check(
        c,
        |v| v["model"]["unk_token"] = json!("<eos>"),
        "model options",
    );
    check(
        w,
        |v| v["model"]["unk_token"] = json!("<eos>"),
        "model options",
    );
    check(
        c,
        |v| v["model"]["merges"] = json!([["T", "h"]]),
        "invalid tokenizer.json",
    );
    check(
        c,
        |v| {
            let vocab = v["model"]["vocab"].as_object_mut().unwrap();
            let id = vocab.remove("T").unwrap();
            vocab.insert("Tx".into(), id);
        },
        "not a single character",
    );
    check(
        c,
        |v| {
            v["post_processor"] = json!({"type": "ByteLevel", "add_prefix_space": false,
            "trim_offsets": false, "use_regex": false})
        },
        "post-processor",
    );
    check(
        c,
        |v| {
            v["added_tokens"] = json!([{"id": 0, "content": "<pad>", "single_word": false,
                "lstrip": false, "rstrip": false, "normalized": false, "special": true}])
        },
        "added_tokens",
    );
    // All four registered, but <eos> not special: Python would print it.
    check(
        c,
        |v| {
            let tokens = v["added_tokens"].as_array_mut().unwrap();
            assert_eq!(tokens.len(), 4, "the specials are registered");
            tokens[1]["special"] = json!(false);
        },
        "added_tokens",
    );
    check(
        c,
        |v| {
            v["padding"] = json!({"strategy": "BatchLongest", "direction": "Right",
            "pad_to_multiple_of": null, "pad_id": 0, "pad_type_id": 0, "pad_token": "<pad>"})
        },
        "padding",
    );
    check(
        c,
        |v| v["model"]["type"] = json!("WordPiece"),
        "invalid tokenizer.json",
    );
    // Layout: <pad> first, <eos> <unk> <bos> last, dense unique ids.
    check(c, |v| v["model"]["vocab"]["<pad>"] = json!(1000), "dense");
    check(c, |v| v["model"]["vocab"]["<pad>"] = json!(1), "share id");
    check(
        c,
        |v| {
            let vocab = v["model"]["vocab"].as_object_mut().unwrap();
            let (eos, bos) = (vocab["<eos>"].clone(), vocab["<bos>"].clone());
            vocab.insert("<eos>".into(), bos);
            vocab.insert("<bos>".into(), eos);
        },
        "expected \"<eos>\"",
    );
    check(
        c,
        |v| {
            let vocab = v["model"]["vocab"].as_object_mut().unwrap();
            vocab.retain(|k, _| k.starts_with('<'));
            vocab.insert("<pad>".into(), json!(0));
            vocab.insert("<eos>".into(), json!(1));
            vocab.insert("<unk>".into(), json!(2));
            vocab.insert("<bos>".into(), json!(3));
        },
        "at least one token",
    );
}

#[test]
fn saving_into_a_missing_directory_names_it_not_a_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nodir").join("tokenizer.json");
    let err = sample(Level::Char, false)
        .save(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nodir does not exist"), "{err}");
    assert!(!err.contains(".tokenizer.json."), "{err}");
}
