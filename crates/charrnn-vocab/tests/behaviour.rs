//! Building, encoding, decoding and errors on small hand-made data.
use charrnn_vocab::{BOS, EOS, Level, PAD, PAD_ID, UNK, Unknown, Vocab, VocabError, VocabOptions};

fn opts(level: Level, lowercase: bool, min_freq: u64, max_size: Option<usize>) -> VocabOptions {
    VocabOptions {
        level,
        lowercase,
        min_freq,
        max_size,
    }
}

/// Builds from `corpus` and checks the ordinary tokens (ids 1..=n), written out by hand, and the
/// counts per id (pad, tokens..., eos, unk, bos).
fn check(corpus: &[&str], opts: VocabOptions, tokens: &[&str], counts: &[u64]) {
    let vocab = Vocab::build(corpus.iter().copied(), &opts).unwrap();
    let mut expected = vec![PAD];
    expected.extend_from_slice(tokens);
    expected.extend([EOS, UNK, BOS]);
    assert_eq!(vocab.tokens(), expected, "{corpus:?} {opts:?}");
    assert_eq!(vocab.counts(), Some(counts), "{corpus:?} {opts:?}");
    let n = tokens.len() as u32;
    assert_eq!(vocab.len(), tokens.len() + 4);
    assert_eq!(vocab.special_ids(), [0, n + 1, n + 2, n + 3]);
    assert_eq!(
        (vocab.eos_id(), vocab.unk_id(), vocab.bos_id()),
        (n + 1, n + 2, n + 3)
    );
    for (id, token) in expected.iter().enumerate() {
        assert_eq!(vocab.id_of(token), Some(id as u32));
        assert_eq!(vocab.token(id as u32), Some(*token));
    }
}

#[test]
fn keras_order() {
    let char = |lowercase, min_freq, max_size| opts(Level::Char, lowercase, min_freq, max_size);
    // a:6 b:3 r:2 c:2 d:1; r before c because r occurs first.
    check(
        &["abracadabra", "cab"],
        char(false, 1, None),
        &["a", "b", "r", "c", "d"],
        &[0, 6, 3, 2, 2, 1, 0, 0, 0],
    );
    // All ties: first occurrence order, across texts.
    check(
        &["xy", "zx", "yz"],
        char(false, 1, None),
        &["x", "y", "z"],
        &[0, 2, 2, 2, 0, 0, 0],
    );
    check(
        &["ba", "", "ab"],
        char(false, 1, None),
        &["b", "a"],
        &[0, 2, 2, 0, 0, 0],
    );
    // Unicode scalar values are single tokens.
    check(
        &["é—東🙂é", "e\u{301}"],
        char(false, 1, None),
        &["é", "—", "東", "🙂", "e", "\u{301}"],
        &[0, 2, 1, 1, 1, 1, 1, 0, 0, 0],
    );
    // Case matters unless lowercasing.
    check(
        &["AaB", "b"],
        char(false, 1, None),
        &["A", "a", "B", "b"],
        &[0, 1, 1, 1, 1, 0, 0, 0],
    );
    check(
        &["AaB", "b"],
        char(true, 1, None),
        &["a", "b"],
        &[0, 2, 2, 0, 0, 0],
    );
    // Lowercasing is per character: 'İ' becomes "i\u{307}", final 'Σ' becomes 'σ'.
    check(
        &["İΣ"],
        char(true, 1, None),
        &["i", "\u{307}", "σ"],
        &[0, 1, 1, 1, 0, 0, 0],
    );
    // min_freq and max_size send the rest to <unk>, whose count sums what was dropped.
    check(
        &["abracadabra", "cab"],
        char(false, 2, None),
        &["a", "b", "r", "c"],
        &[0, 6, 3, 2, 2, 0, 1, 0],
    );
    check(
        &["abracadabra", "cab"],
        char(false, 0, Some(2)),
        &["a", "b"],
        &[0, 6, 3, 0, 5, 0],
    );
    check(
        &["abracadabra", "cab"],
        char(false, 3, Some(1)),
        &["a"],
        &[0, 6, 0, 8, 0],
    );
    // Words: the Whitespace pre-tokenizer splits punctuation off.
    check(
        &["the cat sat on the mat.", "The cat!"],
        opts(Level::Word, false, 1, None),
        &["the", "cat", "sat", "on", "mat", ".", "The", "!"],
        &[0, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0],
    );
    check(
        &["the cat sat on the mat.", "The cat!"],
        opts(Level::Word, true, 2, None),
        &["the", "cat"],
        &[0, 3, 2, 0, 5, 0],
    );
    // Text spelling a special is plain text: characters, or the words '<', 'eos', '>'.
    check(
        &["<eos>"],
        char(false, 1, None),
        &["<", "e", "o", "s", ">"],
        &[0, 1, 1, 1, 1, 1, 0, 0, 0],
    );
    check(
        &["<eos> <pad>"],
        opts(Level::Word, false, 1, None),
        &["<", ">", "eos", "pad"],
        &[0, 2, 2, 1, 1, 0, 0, 0],
    );
}

#[test]
fn nothing_kept_is_an_error() {
    let cases: [(&[&str], VocabOptions); 5] = [
        (&[], VocabOptions::default()),
        (&["", ""], VocabOptions::default()),
        (&["abc"], opts(Level::Char, false, 2, None)),
        (&["abc"], opts(Level::Char, false, 1, Some(0))),
        (&["  \n\t "], opts(Level::Word, false, 1, None)),
    ];
    for (corpus, opts) in cases {
        let err = Vocab::build(corpus.iter().copied(), &opts).unwrap_err();
        assert!(matches!(err, VocabError::EmptyVocab), "{corpus:?}: {err}");
        assert!(err.to_string().starts_with("empty vocabulary"));
    }
}

#[test]
fn unknown_characters_are_replaced_or_reported() {
    let vocab = Vocab::build(["hello world"], &VocabOptions::default()).unwrap();
    let unk = vocab.unk_id();
    let ids = vocab.encode("hell yeah", Unknown::Replace).unwrap();
    assert_eq!(ids.len(), 9);
    assert_eq!(ids.iter().filter(|&&id| id == unk).count(), 2);
    assert_eq!(vocab.decode_keep_special(&ids), "hell <unk>e<unk>h");
    assert_eq!(vocab.decode(&ids), "hell eh");

    let err = vocab
        .encode("hello wörld, señor", Unknown::Error)
        .unwrap_err();
    let VocabError::UnknownTokens { unknown } = &err else {
        panic!("{err:?}")
    };
    let expected: Vec<(usize, String)> = [(7, "ö"), (11, ","), (13, "s"), (15, "ñ")]
        .map(|(p, c)| (p, c.to_owned()))
        .into();
    assert_eq!(unknown, &expected);
    assert_eq!(
        err.to_string(),
        "unknown characters 'ö' at position 7, ',' at position 11, 's' at position 13, 'ñ' at position 15 (not in the vocabulary)"
    );
    let err = vocab
        .encode("señor\n", Unknown::Error)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "unknown characters 's' at position 0, 'ñ' at position 2, '\\n' at position 5 (not in the vocabulary)"
    );
    let err = vocab.encode("ñ", Unknown::Error).unwrap_err().to_string();
    assert_eq!(
        err,
        "unknown character 'ñ' at position 0 (not in the vocabulary)"
    );

    // encode_into appends, and leaves the buffer alone on error.
    let mut out = vec![7, 7];
    vocab.encode_into("he", Unknown::Error, &mut out).unwrap();
    assert_eq!(out.len(), 4);
    assert!(vocab.encode_into("hex", Unknown::Error, &mut out).is_err());
    assert_eq!(out.len(), 4);
}

#[test]
fn lowercase_reports_what_was_typed() {
    let vocab = Vocab::build(["abc"], &opts(Level::Char, true, 1, None)).unwrap();
    assert_eq!(
        vocab.encode("ABC", Unknown::Error).unwrap(),
        vocab.encode("abc", Unknown::Error).unwrap()
    );
    // 'İ' lowercases to "i\u{307}": unknown, reported once as typed.
    let err = vocab.encode("AİB", Unknown::Error).unwrap_err();
    let VocabError::UnknownTokens { unknown } = err else {
        panic!()
    };
    assert_eq!(unknown, vec![(1, "İ".to_owned())]);
    // Replace: one <unk> per lowercased character, as the tokenizers pipeline does.
    let ids = vocab.encode("AİB", Unknown::Replace).unwrap();
    assert_eq!(ids, vocab.pipeline_encode("AİB").unwrap());
    assert_eq!(vocab.decode_keep_special(&ids), "a<unk><unk>b");
    // A lowercased char that is known: 'K' (Kelvin sign) is 'k'.
    let vocab = Vocab::build(["k"], &opts(Level::Char, true, 1, None)).unwrap();
    assert_eq!(
        vocab.encode("\u{212A}K", Unknown::Error).unwrap(),
        vec![1, 1]
    );
}

#[test]
fn words_encode_decode_and_report() {
    let vocab = Vocab::build(
        ["Hello, world! Hello again."],
        &opts(Level::Word, true, 1, None),
    )
    .unwrap();
    assert_eq!(vocab.tokens()[1..6], ["hello", ",", "world", "!", "again"]);
    let ids = vocab.encode("HELLO   world,again", Unknown::Error).unwrap();
    assert_eq!(ids, [1, 3, 2, 5]);
    assert_eq!(vocab.decode(&ids), "hello world , again");
    let err = vocab
        .encode("Hello, Wörld?! again", Unknown::Error)
        .unwrap_err();
    let VocabError::UnknownTokens { unknown } = &err else {
        panic!()
    };
    assert_eq!(unknown, &[(7, "Wörld".to_owned()), (12, "?!".to_owned())]);
    assert_eq!(
        err.to_string(),
        "unknown tokens 'Wörld' at position 7, '?!' at position 12 (not in the vocabulary)"
    );
    let ids = vocab
        .encode("Hello, Wörld?! again", Unknown::Replace)
        .unwrap();
    assert_eq!(vocab.decode_keep_special(&ids), "hello , <unk> <unk> again");
    assert_eq!(vocab.decode(&ids), "hello , again");
}

#[test]
fn decode_drops_specials_and_skips_bad_ids() {
    let vocab = Vocab::build(["ab"], &VocabOptions::default()).unwrap();
    let [pad, eos, unk, bos] = vocab.special_ids();
    assert_eq!([pad, eos, unk, bos], [PAD_ID, 3, 4, 5]);
    let ids = [bos, 1, pad, 2, unk, eos, 6, u32::MAX, 1];
    assert_eq!(vocab.decode(&ids), "aba");
    assert_eq!(vocab.decode_keep_special(&ids), "<bos>a<pad>b<unk><eos>a");
    assert_eq!(vocab.decode(&[]), "");
    assert!(
        (0..6)
            .map(|id| vocab.is_special(id))
            .eq([true, false, false, true, true, true])
    );
    assert!(!vocab.is_special(6) && !vocab.is_special(u32::MAX));
    assert_eq!(vocab.token(6), None);
    assert_eq!(vocab.id_of("c"), None);
    assert!(!vocab.is_empty());
}

#[test]
fn level_parses_and_prints() {
    for (text, level) in [("char", Level::Char), ("WORD", Level::Word)] {
        assert_eq!(text.parse::<Level>(), Ok(level));
        assert_eq!(level.to_string(), text.to_ascii_lowercase());
    }
    assert!("byte".parse::<Level>().is_err());
}

/// Growing a vocabulary keeps every old token's id, appends the new ones in the order given,
/// moves the specials behind them, and skips what it has or cannot hold.
#[test]
fn extended_appends_new_tokens_before_the_specials() {
    let vocab = Vocab::build(["aab"], &VocabOptions::default()).unwrap();
    let (grown, ids) = vocab
        .extended([
            ("c", 5),
            ("a", 9),
            ("<eos>", 1),
            ("dé", 1),
            ("é", 2),
            ("c", 1),
            ("", 3),
        ])
        .unwrap();
    assert_eq!(
        grown.tokens(),
        ["<pad>", "a", "b", "c", "é", "<eos>", "<unk>", "<bos>"]
    );
    assert_eq!(ids, [0, 1, 2, 5, 6, 7]);
    for (old, new) in ids.iter().enumerate() {
        assert_eq!(vocab.token(old as u32), grown.token(*new));
    }
    assert_eq!(grown.counts().unwrap(), [0, 2, 1, 5, 2, 0, 0, 0]);
    let text = "abcé";
    let encoded = grown.encode(text, Unknown::Error).unwrap();
    assert_eq!(encoded, [1, 2, 3, 4]);
    assert_eq!(encoded, grown.pipeline_encode(text).unwrap());
    assert_eq!(grown.decode(&encoded), text);
    assert_eq!(grown.eos_id(), 5);
    // Nothing new: the same vocabulary, every id its own.
    let (same, ids) = vocab.extended([("a", 1)]).unwrap();
    assert_eq!(same.tokens(), vocab.tokens());
    assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
    // Words at word level.
    let words = Vocab::build(["to be"], &opts(Level::Word, false, 1, None)).unwrap();
    let (grown, _) = words.extended([("or", 1), ("not", 1)]).unwrap();
    assert_eq!(
        grown.encode("to be or not", Unknown::Error).unwrap(),
        [1, 2, 3, 4]
    );
}
