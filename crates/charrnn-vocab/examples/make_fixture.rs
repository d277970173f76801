//! Writes the tokenizer.json files of the Python fixture (see tests/fixtures/README.md):
//! `cargo run -p charrnn-vocab --example make_fixture -- crates/charrnn-vocab/tests/fixtures`.
use std::path::PathBuf;

use charrnn_vocab::{Level, Vocab, VocabOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: make_fixture FIXTURE_DIR")?,
    );
    let corpus = std::fs::read_to_string(dir.join("corpus.txt"))?;
    for (name, level, lowercase) in [
        ("char", Level::Char, false),
        ("char_lower", Level::Char, true),
        ("word", Level::Word, false),
        ("word_lower", Level::Word, true),
    ] {
        let opts = VocabOptions {
            level,
            lowercase,
            ..VocabOptions::default()
        };
        let vocab = Vocab::build(corpus.lines(), &opts)?;
        std::fs::write(dir.join(format!("{name}.json")), vocab.to_json()?)?;
        println!("{name}.json: {} ids", vocab.len());
    }
    Ok(())
}
