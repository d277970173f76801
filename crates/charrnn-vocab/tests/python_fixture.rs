//! The tokenizer.json files agree with the Python `tokenizers` package (see fixtures/README.md).
use std::path::{Path, PathBuf};

use charrnn_vocab::{Level, Unknown, Vocab, VocabOptions};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

const VOCABS: [(&str, Level, bool); 4] = [
    ("char", Level::Char, false),
    ("char_lower", Level::Char, true),
    ("word", Level::Word, false),
    ("word_lower", Level::Word, true),
];

#[test]
fn building_the_corpus_still_writes_the_fixture() {
    let corpus = read("corpus.txt");
    for (name, level, lowercase) in VOCABS {
        let opts = VocabOptions {
            level,
            lowercase,
            ..VocabOptions::default()
        };
        let vocab = Vocab::build(corpus.lines(), &opts).unwrap();
        assert_eq!(
            vocab.to_json().unwrap(),
            read(&format!("{name}.json")),
            "{name}.json is stale: regenerate the fixture (fixtures/README.md)"
        );
    }
}

#[test]
fn ids_match_python() {
    let expected: Value = serde_json::from_str(&read("expected.json")).unwrap();
    let texts: Vec<String> = serde_json::from_str(&read("texts.json")).unwrap();
    for (name, level, lowercase) in VOCABS {
        let rows = expected["vocabularies"][name].as_array().unwrap();
        assert_eq!(rows.len(), texts.len(), "{name}");
        for file in [format!("{name}.json"), format!("python/{name}.json")] {
            let vocab = Vocab::load(&fixtures().join(&file)).unwrap();
            assert_eq!(
                (vocab.level(), vocab.lowercase()),
                (level, lowercase),
                "{file}"
            );
            assert_eq!(
                vocab.counts(),
                None,
                "{file}: no counts file in the fixture"
            );
            for (row, text) in rows.iter().zip(&texts) {
                assert_eq!(row["text"].as_str(), Some(text.as_str()));
                let ids: Vec<u32> = serde_json::from_value(row["ids"].clone()).unwrap();
                assert_eq!(
                    vocab.encode(text, Unknown::Replace).unwrap(),
                    ids,
                    "{file}: {text:?}"
                );
                assert_eq!(
                    vocab.pipeline_encode(text).unwrap(),
                    ids,
                    "{file}: {text:?}"
                );
                assert_eq!(
                    Some(vocab.decode_keep_special(&ids).as_str()),
                    row["decoded"].as_str(),
                    "{file}: {text:?}"
                );
                // Python's skip_special_tokens drops exactly what charrnn's decode drops.
                assert_eq!(
                    Some(vocab.decode(&ids).as_str()),
                    row["decoded_skip"].as_str(),
                    "{file}: {text:?}"
                );
            }
        }
    }
}

#[test]
fn python_resave_keeps_every_token_and_id() {
    for (name, _, _) in VOCABS {
        let ours = Vocab::load(&fixtures().join(format!("{name}.json"))).unwrap();
        let theirs = Vocab::load(&fixtures().join(format!("python/{name}.json"))).unwrap();
        assert_eq!(ours.tokens(), theirs.tokens(), "{name}");
    }
}

#[test]
fn files_written_before_the_specials_were_registered_still_load() {
    // v1/: the same vocabularies with an empty added_tokens, as charrnn wrote them until the
    // specials became registered special tokens.
    let texts: Vec<String> = serde_json::from_str(&read("texts.json")).unwrap();
    for (name, _, _) in VOCABS {
        let old = Vocab::load(&fixtures().join(format!("v1/{name}.json"))).unwrap();
        let new = Vocab::load(&fixtures().join(format!("{name}.json"))).unwrap();
        assert_eq!(old.tokens(), new.tokens(), "{name}");
        for text in &texts {
            assert_eq!(
                old.pipeline_encode(text).unwrap(),
                new.pipeline_encode(text).unwrap(),
                "{name}: {text:?}"
            );
        }
        // Saved again, an old file gets the specials registered.
        assert_eq!(
            old.to_json().unwrap(),
            read(&format!("{name}.json")),
            "{name}"
        );
        let v1: Value = serde_json::from_str(&read(&format!("v1/{name}.json"))).unwrap();
        assert_eq!(v1["added_tokens"], serde_json::json!([]), "{name}");
    }
}

#[test]
fn the_specials_are_registered_special_tokens_at_their_ids() {
    for (name, _, _) in VOCABS {
        let v: Value = serde_json::from_str(&read(&format!("{name}.json"))).unwrap();
        let vocab = Vocab::load(&fixtures().join(format!("{name}.json"))).unwrap();
        let added: Vec<(u64, &str, bool)> = v["added_tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].as_u64().unwrap(),
                    t["content"].as_str().unwrap(),
                    t["special"].as_bool().unwrap(),
                )
            })
            .collect();
        let n = vocab.len() as u64;
        assert_eq!(
            added,
            [
                (0, "<pad>", true),
                (n - 3, "<eos>", true),
                (n - 2, "<unk>", true),
                (n - 1, "<bos>", true)
            ],
            "{name}"
        );
    }
}
