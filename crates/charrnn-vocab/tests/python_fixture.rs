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
