//! Property tests: round trips, the unknown policies, the fast path against the `tokenizers`
//! pipeline, and loading never panics.
use std::collections::HashSet;

use charrnn_vocab::{Level, PAD_ID, Unknown, Vocab, VocabError, VocabOptions};
use proptest::prelude::*;
use proptest::sample::select;

/// Characters that stress the lookup: ASCII (upper and lower), accents, combining marks, CJK,
/// emoji, characters whose lowercase is longer ('İ') or ASCII ('K' Kelvin), Greek sigma, the
/// pieces of "<eos>", whitespace.
const ALPHABET: &[char] = &[
    'a',
    'b',
    'c',
    'A',
    'B',
    'Z',
    'e',
    'o',
    's',
    '<',
    '>',
    ' ',
    '\n',
    '\t',
    '.',
    ',',
    '!',
    '0',
    '9',
    'é',
    'É',
    'ñ',
    '\u{301}',
    '—',
    '東',
    '京',
    '🙂',
    '🚀',
    'İ',
    'i',
    '\u{212A}',
    'k',
    'Σ',
    'σ',
    'ς',
    '\u{0}',
    '\u{10FFFF}',
];

fn text_from(chars: impl Strategy<Value = char>, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(chars, 0..max).prop_map(|cs| cs.into_iter().collect())
}

/// Mostly alphabet characters, some arbitrary ones.
fn mixed_text(max: usize) -> impl Strategy<Value = String> {
    text_from(prop_oneof![4 => select(ALPHABET), 1 => any::<char>()], max)
}

fn corpus() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(text_from(select(ALPHABET), 30), 1..6)
}

fn options() -> impl Strategy<Value = VocabOptions> {
    (
        prop_oneof![Just(Level::Char), Just(Level::Word)],
        any::<bool>(),
        0u64..3,
        prop::option::of(1usize..12),
    )
        .prop_map(|(level, lowercase, min_freq, max_size)| VocabOptions {
            level,
            lowercase,
            min_freq,
            max_size,
        })
}

fn build(corpus: &[String], opts: &VocabOptions) -> Option<Vocab> {
    match Vocab::build(corpus.iter().map(String::as_str), opts) {
        Ok(v) => Some(v),
        Err(VocabError::EmptyVocab) => None,
        Err(e) => panic!("{e}"),
    }
}

proptest! {
    #[test]
    fn fast_path_equals_pipeline(corpus in corpus(), opts in options(), text in mixed_text(60)) {
        let Some(vocab) = build(&corpus, &opts) else { return Ok(()) };
        let fast = vocab.encode(&text, Unknown::Replace).unwrap();
        prop_assert_eq!(&fast, &vocab.pipeline_encode(&text).unwrap());
        prop_assert!(!fast.contains(&PAD_ID));
        prop_assert!(fast.iter().all(|&id| (id as usize) < vocab.len()));
        // Error policy: the same ids when nothing is unknown, else exactly the <unk> places.
        match vocab.encode(&text, Unknown::Error) {
            Ok(ids) => prop_assert_eq!(ids, fast),
            Err(VocabError::UnknownTokens { unknown }) => {
                prop_assert!(!unknown.is_empty());
                prop_assert!(fast.contains(&vocab.unk_id()));
            }
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn build_layout_is_dense_and_keras_ordered(corpus in corpus(), opts in options()) {
        let Some(vocab) = build(&corpus, &opts) else { return Ok(()) };
        let n = vocab.len() - 4;
        prop_assert!(n >= 1);
        prop_assert!(opts.max_size.is_none_or(|m| n <= m));
        let counts = vocab.counts().unwrap();
        prop_assert_eq!(counts.len(), vocab.len());
        prop_assert!(counts[1..=n].windows(2).all(|w| w[0] >= w[1]), "{:?}", counts);
        prop_assert!(counts[1..=n].iter().all(|&c| c >= opts.min_freq.max(1)));
        let mut seen = HashSet::new();
        for id in 0..vocab.len() as u32 {
            let token = vocab.token(id).unwrap();
            prop_assert!(seen.insert(token.to_owned()), "duplicate {:?}", token);
            prop_assert_eq!(vocab.id_of(token), Some(id));
            prop_assert_eq!(vocab.is_special(id), id == 0 || id as usize > n);
        }
        // Every token of the corpus is counted once: kept ones under their id, the rest in <unk>.
        let total: u64 = corpus.iter().map(|t| vocab.pipeline_encode(t).unwrap().len() as u64).sum();
        prop_assert_eq!(counts.iter().sum::<u64>(), total);
        // Ties are broken by first occurrence: equal counts appear in corpus order.
        let stream: Vec<u32> = corpus.iter().flat_map(|t| vocab.pipeline_encode(t).unwrap()).collect();
        let first = |id: u32| stream.iter().position(|&x| x == id).unwrap();
        for id in 1..n as u32 {
            if counts[id as usize] == counts[id as usize + 1] {
                prop_assert!(first(id) < first(id + 1));
            }
        }
    }

    #[test]
    fn char_round_trip_over_vocabulary(corpus in corpus(), picks in prop::collection::vec(any::<prop::sample::Index>(), 0..40)) {
        let opts = VocabOptions::default();
        let Some(vocab) = build(&corpus, &opts) else { return Ok(()) };
        let chars = &vocab.tokens()[1..vocab.len() - 3];
        let text: String = picks.iter().map(|i| i.get(chars).as_str()).collect();
        let ids = vocab.encode(&text, Unknown::Error).unwrap();
        prop_assert_eq!(ids.len(), text.chars().count());
        prop_assert_eq!(vocab.decode(&ids), text.clone());
        prop_assert_eq!(vocab.decode_keep_special(&ids), text);
    }

    #[test]
    fn lowercase_round_trip_gives_the_lowercased_text(corpus in corpus(), text in text_from(select(ALPHABET), 40)) {
        let opts = VocabOptions { lowercase: true, ..VocabOptions::default() };
        let Some(vocab) = build(&corpus, &opts) else { return Ok(()) };
        let lowered: String = text.chars().flat_map(char::to_lowercase).collect();
        let ids = vocab.encode(&text, Unknown::Replace).unwrap();
        let kept: String = lowered.chars().filter(|c| vocab.id_of(c.encode_utf8(&mut [0; 4])).is_some()).collect();
        prop_assert_eq!(vocab.decode(&ids), kept);
    }

    #[test]
    fn unknown_policies_agree(corpus in corpus(), text in mixed_text(40)) {
        let opts = VocabOptions::default();
        let Some(vocab) = build(&corpus, &opts) else { return Ok(()) };
        let known = |c: char| vocab.id_of(c.encode_utf8(&mut [0; 4])).is_some();
        let expected: Vec<(usize, String)> = text
            .chars()
            .enumerate()
            .filter(|&(_, c)| !known(c))
            .map(|(i, c)| (i, c.to_string()))
            .collect();
        // Replace: <unk> exactly where the unknown characters were.
        let ids = vocab.encode(&text, Unknown::Replace).unwrap();
        let shown: String = text.chars().map(|c| if known(c) { c.to_string() } else { "<unk>".into() }).collect();
        prop_assert_eq!(vocab.decode_keep_special(&ids), shown);
        let dropped: String = text.chars().filter(|&c| known(c)).collect();
        prop_assert_eq!(vocab.decode(&ids), dropped);
        // Error: exactly the unknown characters and their char positions.
        match vocab.encode(&text, Unknown::Error) {
            Ok(_) => prop_assert!(expected.is_empty()),
            Err(VocabError::UnknownTokens { unknown }) => prop_assert_eq!(unknown, expected),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn word_round_trip_over_vocabulary(corpus in corpus(), lowercase in any::<bool>(), picks in prop::collection::vec(any::<prop::sample::Index>(), 0..20)) {
        let opts = VocabOptions { level: Level::Word, lowercase, ..VocabOptions::default() };
        let Some(vocab) = build(&corpus, &opts) else { return Ok(()) };
        let words = &vocab.tokens()[1..vocab.len() - 3];
        let text = picks.iter().map(|i| i.get(words).as_str()).collect::<Vec<_>>().join(" ");
        let ids = vocab.encode(&text, Unknown::Error).unwrap();
        prop_assert_eq!(ids.len(), picks.len());
        // Lowercasing a lowercased word may still change it (e.g. 'İ'), hence the re-encoding.
        prop_assert_eq!(vocab.encode(&vocab.decode(&ids), Unknown::Error).unwrap(), ids.clone());
        if !lowercase {
            prop_assert_eq!(vocab.decode(&ids), text);
        }
    }

    #[test]
    fn save_load_gives_identical_encodings(corpus in corpus(), opts in options(), texts in prop::collection::vec(mixed_text(30), 1..5)) {
        let Some(vocab) = build(&corpus, &opts) else { return Ok(()) };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        vocab.save(&path).unwrap();
        let loaded = Vocab::load(&path).unwrap();
        prop_assert_eq!(loaded.tokens(), vocab.tokens());
        prop_assert_eq!(loaded.counts(), vocab.counts());
        for text in &texts {
            prop_assert_eq!(loaded.encode(text, Unknown::Replace).unwrap(), vocab.encode(text, Unknown::Replace).unwrap());
            prop_assert_eq!(loaded.pipeline_encode(text).unwrap(), vocab.pipeline_encode(text).unwrap());
        }
    }

    /// A vocabulary grown by another corpus's tokens (fine-tuning) keeps every old token at
    /// the id it maps to, knows every token of the new corpus, encodes as its pipeline does,
    /// and survives a save and load.
    #[test]
    fn extended_vocab_keeps_the_old_ids_and_knows_the_new(
        old_corpus in corpus(),
        new_corpus in corpus(),
        opts in options(),
        text in mixed_text(40),
    ) {
        let Some(old) = build(&old_corpus, &opts) else { return Ok(()) };
        let counting = VocabOptions { min_freq: 1, max_size: None, ..opts.clone() };
        let Some(counted) = build(&new_corpus, &counting) else { return Ok(()) };
        let counts = counted.counts().unwrap();
        let tokens = (1..counted.len() - 3).map(|id| (counted.tokens()[id].as_str(), counts[id]));
        let (grown, ids) = old.extended(tokens).unwrap();
        prop_assert_eq!(ids.len(), old.len());
        for (id, &new) in ids.iter().enumerate() {
            prop_assert_eq!(old.token(id as u32), grown.token(new));
        }
        prop_assert_eq!(grown.level(), old.level());
        prop_assert_eq!(grown.lowercase(), old.lowercase());
        for piece in &new_corpus {
            let ids = grown.encode(piece, Unknown::Replace).unwrap();
            prop_assert!(!ids.contains(&grown.unk_id()), "{:?} in {:?}", piece, grown.tokens());
        }
        let fast = grown.encode(&text, Unknown::Replace).unwrap();
        prop_assert_eq!(&fast, &grown.pipeline_encode(&text).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokenizer.json");
        grown.save(&path).unwrap();
        let loaded = Vocab::load(&path).unwrap();
        prop_assert_eq!(loaded.tokens(), grown.tokens());
        prop_assert_eq!(loaded.encode(&text, Unknown::Replace).unwrap(), fast);
    }

    #[test]
    fn loading_never_panics(text in ".{0,200}") {
        let _ = Vocab::from_json(&text);
    }

    /// A valid file whose vocabulary ids are scrambled: loads only when the layout holds.
    #[test]
    fn scrambled_vocab_never_panics(level in prop_oneof![Just(Level::Char), Just(Level::Word)], ids in prop::collection::vec(0u64..12, 1..12), lowercase in any::<bool>()) {
        let opts = VocabOptions { level, lowercase, ..VocabOptions::default() };
        let vocab = build(&["abcdefg".to_owned()], &opts).unwrap();
        let mut value: serde_json::Value = serde_json::from_str(&vocab.to_json().unwrap()).unwrap();
        let map = value["model"]["vocab"].as_object_mut().unwrap();
        for (slot, id) in map.values_mut().zip(&ids) {
            *slot = serde_json::json!(id);
        }
        if let Ok(loaded) = Vocab::from_json(&value.to_string()) {
            prop_assert_eq!(loaded.token(0), Some(charrnn_vocab::PAD));
            prop_assert_eq!(loaded.token(loaded.unk_id()), Some(charrnn_vocab::UNK));
            let fast = loaded.encode("abc xyz", Unknown::Replace).unwrap();
            prop_assert_eq!(fast, loaded.pipeline_encode("abc xyz").unwrap());
        }
    }
}
