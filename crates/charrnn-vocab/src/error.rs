//! The crate's error type.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong while building, using, saving or loading a [`crate::Vocab`].
///
/// Every variant displays as one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VocabError {
    /// [`crate::Unknown::Error`] met tokens that are not in the vocabulary. Each entry is the
    /// position (a char index into the text as given) and the text as given there: one character
    /// at char level, one word at word level.
    #[error("{}", UnknownList(unknown))]
    UnknownTokens {
        /// `(char index, token as written)` for every unknown token, in text order.
        unknown: Vec<(usize, String)>,
    },
    /// The corpus yielded no token that the options keep.
    #[error(
        "empty vocabulary: the corpus has no token that the options keep (empty corpus, or min_freq/max_size too strict)"
    )]
    EmptyVocab,
    /// The text is not JSON, or not a tokenizer.json (or counts file) the `tokenizers` crate
    /// and this crate accept.
    #[error("invalid {file}: {source}")]
    InvalidJson {
        /// Which file: `tokenizer.json` or `counts file`.
        file: &'static str,
        /// What the JSON parser said.
        #[source]
        source: serde_json::Error,
    },
    /// A valid tokenizer.json, but not the layout this crate writes and can encode exactly.
    #[error("unsupported tokenizer.json: {0}")]
    Unsupported(String),
    /// The `tokenizers` pipeline (or writing its JSON) failed.
    #[error("tokenizers failed: {0}")]
    Tokenizers(#[source] tokenizers::Error),
    /// Reading or writing a file failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done ("cannot read", "cannot write").
        action: &'static str,
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// Displays `unknown character 'ñ' at position 23 (not in the vocabulary)`, listing every entry.
struct UnknownList<'a>(&'a [(usize, String)]);

impl fmt::Display for UnknownList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let all_chars = self.0.iter().all(|(_, t)| t.chars().count() == 1);
        let noun = if all_chars { "character" } else { "token" };
        let plural = if self.0.len() == 1 { "" } else { "s" };
        write!(f, "unknown {noun}{plural} ")?;
        if self.0.is_empty() {
            write!(f, "(none listed)")?;
        }
        for (i, (pos, token)) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "'{}' at position {pos}", token.escape_debug())?;
        }
        write!(f, " (not in the vocabulary)")
    }
}
