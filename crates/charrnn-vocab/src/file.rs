//! The `tokenizers` pipeline behind a vocabulary, and its `tokenizer.json` form.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokenizers::decoders::fuse::Fuse;
use tokenizers::models::bpe::BPE;
use tokenizers::models::wordlevel::WordLevel;
use tokenizers::normalizers::utils::Lowercase;
use tokenizers::pre_tokenizers::whitespace::Whitespace;
use tokenizers::{
    AddedToken, DecoderWrapper, Model, ModelWrapper, NormalizerWrapper, PreTokenizerWrapper,
    Tokenizer,
};

use crate::{BOS, EOS, Level, PAD, UNK, VocabError};

/// Version of the counts sidecar format.
const COUNTS_FORMAT: u32 = 1;

/// The counts sidecar (`tokenizer.counts.json`). `tokenizers` rejects unknown keys in
/// tokenizer.json (its visitors skip the key but not the value), so the counts live next to it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CountsFile {
    format: u32,
    /// Every token by id, specials included: the counts apply only to exactly this vocabulary.
    tokens: Vec<String>,
    /// Corpus count per id.
    counts: Vec<u64>,
}

/// Where [`crate::Vocab::save`] puts the counts of a vocabulary saved at `path`:
/// `dir/tokenizer.json` → `dir/tokenizer.counts.json`; a name not ending in `.json` gets
/// `.counts.json` appended.
pub(crate) fn counts_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".json").unwrap_or(&name);
    path.with_file_name(format!("{stem}.counts.json"))
}

/// The sidecar text for `tokens` and their `counts`.
pub(crate) fn counts_to_json(tokens: &[String], counts: &[u64]) -> Result<String, VocabError> {
    let file = CountsFile {
        format: COUNTS_FORMAT,
        tokens: tokens.to_vec(),
        counts: counts.to_vec(),
    };
    serde_json::to_string(&file).map_err(|e| VocabError::Tokenizers(Box::new(e)))
}

/// The counts in a sidecar, if they belong to exactly `tokens`; `None` otherwise (a stale
/// sidecar left by another vocabulary).
pub(crate) fn counts_from_json(
    json: &str,
    tokens: &[String],
) -> Result<Option<Vec<u64>>, VocabError> {
    let file: CountsFile =
        serde_json::from_str(json).map_err(|source| VocabError::InvalidJson {
            file: "counts file",
            source,
        })?;
    if file.format != COUNTS_FORMAT {
        return Err(VocabError::Unsupported(format!(
            "counts file format {} (this version reads {COUNTS_FORMAT})",
            file.format
        )));
    }
    let fits = file.tokens == tokens && file.counts.len() == tokens.len();
    Ok(fits.then_some(file.counts))
}

/// The canonical `tokenizers` pipeline for a vocabulary whose tokens are `tokens` (by id).
///
/// `<pad>`, `<eos>`, `<unk>` and `<bos>` are registered as special added tokens with the ids
/// they have in the model's vocabulary, so `decode(ids, skip_special_tokens=True)` drops them
/// as [`crate::Vocab::decode`] does. `encode_special_tokens` is set, so that text spelling
/// `<eos>` is encoded as its characters, as the fast path does (`tokenizers` does not save
/// that flag in tokenizer.json: in Python, set `tokenizer.encode_special_tokens = True`).
pub(crate) fn pipeline(
    level: Level,
    lowercase: bool,
    tokens: &[String],
) -> Result<Tokenizer, VocabError> {
    let tok_err = VocabError::Tokenizers;
    let mut tokenizer = match level {
        Level::Char => {
            let vocab: tokenizers::models::bpe::Vocab = tokens
                .iter()
                .enumerate()
                .map(|(id, t)| (t.clone(), id as u32))
                .collect();
            let bpe = BPE::builder()
                .vocab_and_merges(vocab, Vec::new())
                .unk_token(UNK.to_owned())
                .build()
                .map_err(tok_err)?;
            let mut t = Tokenizer::new(bpe);
            t.with_decoder(Some(Fuse::new()));
            t
        }
        Level::Word => {
            let model = WordLevel::builder()
                .vocab(
                    tokens
                        .iter()
                        .enumerate()
                        .map(|(id, t)| (t.clone(), id as u32))
                        .collect(),
                )
                .unk_token(UNK.to_owned())
                .build()
                .map_err(tok_err)?;
            let mut t = Tokenizer::new(model);
            t.with_pre_tokenizer(Some(Whitespace));
            t
        }
    };
    if lowercase {
        tokenizer.with_normalizer(Some(Lowercase));
    }
    let specials: Vec<AddedToken> = [PAD, EOS, UNK, BOS]
        .into_iter()
        .map(|t| AddedToken::from(t, true))
        .collect();
    tokenizer.add_special_tokens(&specials);
    tokenizer.set_encode_special_tokens(true);
    Ok(tokenizer)
}

/// The tokenizer.json text of `tokenizer`.
pub(crate) fn to_json(tokenizer: &Tokenizer) -> Result<String, VocabError> {
    tokenizer.to_string(true).map_err(VocabError::Tokenizers)
}

/// What a tokenizer.json says, once checked against the layout.
pub(crate) struct Parsed {
    pub(crate) level: Level,
    pub(crate) lowercase: bool,
    /// All tokens by id, specials included.
    pub(crate) tokens: Vec<String>,
}

/// Parses and checks a tokenizer.json: the model, normalizer and pre-tokenizer must be the ones
/// [`pipeline`] builds (so that the fast path gives the same ids), and the ids must follow the
/// layout `<pad>`, tokens, `<eos>`, `<unk>`, `<bos>`.
pub(crate) fn parse(json: &str) -> Result<Parsed, VocabError> {
    let tokenizer: Tokenizer =
        serde_json::from_str(json).map_err(|source| VocabError::InvalidJson {
            file: "tokenizer.json",
            source,
        })?;
    let unsupported = |what: &str| Err(VocabError::Unsupported(what.to_owned()));

    if tokenizer.get_truncation().is_some() || tokenizer.get_padding().is_some() {
        return unsupported("truncation or padding is set (they would change the ids)");
    }
    if tokenizer.get_post_processor().is_some() {
        return unsupported("a post-processor is set (it would add ids)");
    }
    let added = tokenizer.get_added_tokens_decoder();
    let lowercase = match tokenizer.get_normalizer() {
        None => false,
        Some(NormalizerWrapper::Lowercase(_)) => true,
        Some(_) => return unsupported("the normalizer must be absent or Lowercase"),
    };
    let level = match (tokenizer.get_model(), tokenizer.get_pre_tokenizer()) {
        (ModelWrapper::BPE(_), None) => Level::Char,
        (ModelWrapper::WordLevel(_), Some(PreTokenizerWrapper::Whitespace(_))) => Level::Word,
        (ModelWrapper::BPE(_), Some(_)) => {
            return unsupported("a char-level (BPE) vocabulary must have no pre-tokenizer");
        }
        (ModelWrapper::WordLevel(_), _) => {
            return unsupported("a word-level vocabulary must use the Whitespace pre-tokenizer");
        }
        _ => return unsupported("the model must be BPE (char level) or WordLevel (word level)"),
    };
    if let Some(decoder) = tokenizer.get_decoder() {
        let fits = matches!((level, decoder), (Level::Char, DecoderWrapper::Fuse(_)));
        if !fits {
            return unsupported("the decoder must be Fuse (char level) or absent (word level)");
        }
    }

    let tokens = tokens_by_id(tokenizer.get_model().get_vocab())?;
    if level == Level::Char
        && let Some(bad) = tokens[1..tokens.len() - 3]
            .iter()
            .find(|t| t.chars().count() != 1)
    {
        return Err(VocabError::Unsupported(format!(
            "char-level token {:?} is not a single character",
            bad
        )));
    }
    // Everything else about the model (unk token, merges, dropout, prefixes, fallbacks) must be
    // exactly what we build, or the ids could differ from the fast path's.
    let canonical = pipeline(level, lowercase, &tokens)?;
    // added_tokens: the four specials as `pipeline` registers them, or (files written before
    // they were registered) none.
    if !added.is_empty() && added != canonical.get_added_tokens_decoder() {
        return unsupported(
            "added_tokens must be empty or exactly the special tokens <pad>, <eos>, <unk>, <bos> \
             at their vocabulary ids (special, not normalized, no stripping)",
        );
    }
    if canonical.get_model() != tokenizer.get_model() {
        return unsupported(
            "model options differ from charrnn's (need unk_token \"<unk>\", no merges, no dropout, \
             no subword prefix/suffix, no fuse_unk, no byte_fallback, no ignore_merges)",
        );
    }

    Ok(Parsed {
        level,
        lowercase,
        tokens,
    })
}

/// Orders a token → id map by id and checks the layout.
fn tokens_by_id(vocab: std::collections::HashMap<String, u32>) -> Result<Vec<String>, VocabError> {
    let n = vocab.len();
    let mut tokens: Vec<Option<String>> = vec![None; n];
    for (token, id) in vocab {
        match tokens.get_mut(id as usize) {
            Some(slot @ None) => *slot = Some(token),
            Some(Some(other)) => {
                return Err(VocabError::Unsupported(format!(
                    "tokens {other:?} and {token:?} share id {id}"
                )));
            }
            None => {
                return Err(VocabError::Unsupported(format!(
                    "token {token:?} has id {id}, outside 0..{n} (ids must be dense)"
                )));
            }
        }
    }
    // Ids are unique and below n, so every slot is filled.
    let tokens: Vec<String> = tokens.into_iter().flatten().collect();
    if tokens.len() < 5 {
        return Err(VocabError::Unsupported(format!(
            "{} tokens: need <pad>, at least one token, <eos>, <unk>, <bos>",
            tokens.len()
        )));
    }
    let n = tokens.len();
    let expected = [(0, PAD), (n - 3, EOS), (n - 2, UNK), (n - 1, BOS)];
    for (id, special) in expected {
        if tokens[id] != special {
            return Err(VocabError::Unsupported(format!(
                "id {id} is {:?}, expected {special:?} (layout: <pad>=0, tokens, <eos>, <unk>, <bos>)",
                tokens[id]
            )));
        }
    }
    if let Some(t) = tokens[1..n - 3].iter().find(|t| crate::is_special_token(t)) {
        return Err(VocabError::Unsupported(format!(
            "special token {t:?} among the ordinary tokens"
        )));
    }
    Ok(tokens)
}

/// Writes `contents` to `path` through a temporary file in the same directory, then a rename.
pub(crate) fn write_atomic(path: &Path, contents: &str) -> Result<(), VocabError> {
    let io = |source| VocabError::Io {
        action: "cannot write",
        path: path.to_owned(),
        source,
    };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        // Said plainly: the temporary file's name would mean nothing to the user.
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("the directory {} does not exist", dir.display()),
        )));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = keeper(&format!(".{name}.")).tempfile_in(dir).map_err(io)?;
    tmp.write_all(contents.as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// A temporary-file builder whose file gets the mode of a file the user keeps: readable by
/// all, as `File::create` makes it (the umask still applies), not a temporary file's 0600.
fn keeper(prefix: &str) -> tempfile::Builder<'_, 'static> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix).suffix(".tmp");
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    builder
}
