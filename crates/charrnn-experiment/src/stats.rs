//! Numbers about generated text beyond eyeballing it: how many generated words the training
//! titles know, how varied the word n-grams are, how often a sample copies a training title, and
//! how often it loops.
//!
//! Words are whitespace-separated tokens, lowercased, with leading and trailing characters that
//! are neither letters nor digits stripped (`"Moscow,"` is `moscow`, `"U.S."` is `u.s`); tokens
//! that strip to nothing (`-`, `...`) are not words.

use std::collections::{HashMap, HashSet};

use crate::events::{GeneratedSample, Stop};

/// Length in characters of the shortest repeat that counts as a loop.
pub const LOOP_MIN_CHARS: usize = 12;
/// How many non-overlapping occurrences of such a repeat make a sample a loop.
pub const LOOP_MIN_REPEATS: usize = 3;

/// The normalised words of `text` (see the module docs).
pub fn words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .map(|token| {
            token
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// What the training titles know: every title (trimmed) and every word in them.
#[derive(Debug, Default)]
pub struct TrainingCorpus {
    titles: HashSet<String>,
    words: HashSet<String>,
}

impl TrainingCorpus {
    /// The corpus of `titles`.
    pub fn new<I, S>(titles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut corpus = Self::default();
        for title in titles {
            let title = title.as_ref().trim();
            corpus.words.extend(words(title));
            corpus.titles.insert(title.to_owned());
        }
        corpus
    }

    /// Number of distinct words in the training titles.
    pub fn vocabulary_size(&self) -> usize {
        self.words.len()
    }

    /// Whether `text`, trimmed, is exactly one of the training titles.
    pub fn is_copy(&self, text: &str) -> bool {
        self.titles.contains(text.trim())
    }

    /// Share of the normalised words of `texts` that occur in the training titles; `None` when
    /// `texts` hold no word at all.
    pub fn known_word_share<S: AsRef<str>>(&self, texts: &[S]) -> Option<f64> {
        let mut known = 0usize;
        let mut total = 0usize;
        for text in texts {
            for word in words(text.as_ref()) {
                total += 1;
                known += usize::from(self.words.contains(&word));
            }
        }
        ratio(known, total)
    }
}

/// distinct-n over a set of texts: distinct word n-grams divided by all word n-grams (n-grams
/// do not cross text boundaries); `None` when no text has `n` words.
pub fn distinct_n<S: AsRef<str>>(texts: &[S], n: usize) -> Option<f64> {
    if n == 0 {
        return None;
    }
    let mut seen: HashSet<Vec<String>> = HashSet::new();
    let mut total = 0usize;
    for text in texts {
        let ws = words(text.as_ref());
        for gram in ws.windows(n) {
            total += 1;
            seen.insert(gram.to_vec());
        }
    }
    ratio(seen.len(), total)
}

/// Whether `text` loops: some substring of at least [`LOOP_MIN_CHARS`] characters occurs
/// [`LOOP_MIN_REPEATS`] times without overlapping itself, as in
/// `for the strike for the strike for the strike`.
///
/// A longer repeat always contains a repeat of exactly the minimum length as often, so only
/// windows of that length are counted (left to right, greedily, which maximises the count of
/// non-overlapping occurrences).
pub fn is_loop(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() < LOOP_MIN_CHARS * LOOP_MIN_REPEATS {
        return false;
    }
    // For each window: (occurrences counted so far, index where the last counted one ends).
    let mut counts: HashMap<&[char], (usize, usize)> = HashMap::new();
    for (start, window) in chars.windows(LOOP_MIN_CHARS).enumerate() {
        let entry = counts.entry(window).or_insert((0, 0));
        if entry.0 == 0 || start >= entry.1 {
            entry.0 += 1;
            entry.1 = start + LOOP_MIN_CHARS;
            if entry.0 >= LOOP_MIN_REPEATS {
                return true;
            }
        }
    }
    false
}

/// One generated sample as the statistics need it.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleText {
    /// Prompt and generated text together.
    pub text: String,
    /// Only the newly generated text.
    pub generated: String,
    /// Why generation stopped.
    pub stop: Stop,
}

impl From<&GeneratedSample> for SampleText {
    fn from(sample: &GeneratedSample) -> Self {
        SampleText {
            text: sample.text.clone(),
            generated: sample.generated.clone(),
            stop: sample.stop,
        }
    }
}

/// Statistics of a group of samples (one temperature).
#[derive(Clone, Debug, PartialEq)]
pub struct SampleStats {
    /// Samples in the group.
    pub samples: usize,
    /// Mean length in characters of the generated part.
    pub mean_generated_chars: Option<f64>,
    /// Share of samples that ended with `<eos>`.
    pub eos_share: Option<f64>,
    /// Share of generated words found among the words of the training titles.
    pub known_words: Option<f64>,
    /// distinct-2 of the generated parts (see [`distinct_n`]).
    pub distinct_2: Option<f64>,
    /// distinct-3 of the generated parts.
    pub distinct_3: Option<f64>,
    /// Share of samples whose whole text is a training title.
    pub copies: Option<f64>,
    /// Share of samples that loop (see [`is_loop`]).
    pub loops: Option<f64>,
}

/// Computes [`SampleStats`] for `samples` against the training titles in `corpus`. Word
/// statistics look at the generated part only (the prompt is ours, not the model's); copies and
/// loops look at the whole text.
pub fn sample_stats(samples: &[SampleText], corpus: &TrainingCorpus) -> SampleStats {
    let n = samples.len();
    let generated: Vec<&str> = samples.iter().map(|s| s.generated.as_str()).collect();
    let total_chars: usize = generated.iter().map(|g| g.chars().count()).sum();
    SampleStats {
        samples: n,
        mean_generated_chars: (n > 0).then(|| total_chars as f64 / n as f64),
        eos_share: ratio(samples.iter().filter(|s| s.stop == Stop::Eos).count(), n),
        known_words: corpus.known_word_share(&generated),
        distinct_2: distinct_n(&generated, 2),
        distinct_3: distinct_n(&generated, 3),
        copies: ratio(
            samples.iter().filter(|s| corpus.is_copy(&s.text)).count(),
            n,
        ),
        loops: ratio(samples.iter().filter(|s| is_loop(&s.text)).count(), n),
    }
}

fn ratio(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(actual: Option<f64>, expected: Option<f64>) {
        match (actual, expected) {
            (Some(a), Some(e)) => assert!((a - e).abs() < 1e-12, "{a} != {e}"),
            _ => assert_eq!(actual, expected),
        }
    }

    #[test]
    fn words_are_normalised() {
        assert_eq!(
            words("Moscow, (AP) U.S. -- Stocks ... rise!"),
            ["moscow", "ap", "u.s", "stocks", "rise"]
        );
        assert!(words("  - ... ").is_empty());
    }

    #[test]
    fn loop_detection() {
        let check = |text: &str, expected: bool| assert_eq!(is_loop(text), expected, "{text:?}");
        check("for the strike for the strike for the strike", true);
        check("Workers vote for the strike at the plant", false);
        // Two repeats are not a loop; three are.
        check("Oil prices rise; oil prices rise.", false);
        check("Oil prices rise; Oil prices rise; Oil prices rise", true);
        // A unit of 11 characters needs six rounds to hold 12 characters three times apart.
        check(&"abcdefghijk".repeat(4), false);
        check(&"abcdefghijk".repeat(6), true);
        check("abcdefghijklabcdefghijklabcdefghijkl", true);
        // Overlapping occurrences do not count: 14 equal characters hold the 12-character run
        // three times, but only once without overlap.
        check(&"a".repeat(14), false);
        check(&"a".repeat(36), true);
        check(&"a".repeat(35), false);
        // Characters, not bytes.
        check(&"éèêëéèêëéèêë ".repeat(3), true);
        check("", false);
    }

    #[test]
    fn distinct_n_counts_grams_within_texts() {
        let texts = ["the cat sat", "the cat ran"];
        // 2-grams: the cat, cat sat, the cat, cat ran -> 3 distinct of 4.
        close(distinct_n(&texts, 2), Some(0.75));
        // 3-grams: 2 distinct of 2.
        close(distinct_n(&texts, 3), Some(1.0));
        // 1-grams: the, cat, sat, ran of 6.
        close(distinct_n(&texts, 1), Some(4.0 / 6.0));
        // No gram spans two texts, and short texts have none.
        close(distinct_n(&["a b", "c"], 3), None);
        close(distinct_n(&["go go go go"], 2), Some(1.0 / 3.0));
        close(distinct_n::<&str>(&[], 2), None);
        close(distinct_n(&["a b"], 0), None);
    }

    #[test]
    fn copies_and_known_words() {
        let corpus = TrainingCorpus::new([
            "Fears for T N pension after talks",
            " Stocks rise on oil news ",
        ]);
        assert_eq!(corpus.vocabulary_size(), 12);
        assert!(corpus.is_copy("Fears for T N pension after talks"));
        assert!(corpus.is_copy("Stocks rise on oil news\n"));
        assert!(!corpus.is_copy("Fears for T N pension after talks today"));
        assert!(!corpus.is_copy("fears for t n pension after talks"));
        // fears, stocks, news known; zebra unknown; "--" is no word.
        close(
            corpus.known_word_share(&["Fears -- zebra", "STOCKS news,"]),
            Some(0.75),
        );
        close(corpus.known_word_share(&["", " ... "]), None);
    }

    #[test]
    fn stats_of_a_group() {
        let corpus = TrainingCorpus::new(["Stocks rise on oil news", "Oil falls"]);
        let sample = |text: &str, generated: &str, stop: Stop| SampleText {
            text: text.into(),
            generated: generated.into(),
            stop,
        };
        let samples = [
            sample("Stocks rise on oil news", "rise on oil news", Stop::Eos),
            sample(
                "Today for the strike for the strike for the strike",
                "for the strike for the strike for the strike",
                Stop::MaxLen,
            ),
            sample("Today zebras", "zebras", Stop::Eos),
            sample("Today ", "", Stop::StopString),
        ];
        let stats = sample_stats(&samples, &corpus);
        assert_eq!(stats.samples, 4);
        close(stats.mean_generated_chars, Some((16.0 + 44.0 + 6.0) / 4.0));
        close(stats.eos_share, Some(0.5));
        close(stats.copies, Some(0.25));
        close(stats.loops, Some(0.25));
        // rise on oil news (4 known) + for the strike x3 (0 known) + zebras (unknown).
        close(stats.known_words, Some(4.0 / 14.0));
        // 2-grams: 3 from the first, 8 (3 distinct) from the loop.
        close(stats.distinct_2, Some(6.0 / 11.0));
        let empty = sample_stats(&[], &corpus);
        assert_eq!(empty.samples, 0);
        assert_eq!(empty.copies, None);
        assert_eq!(empty.known_words, None);
    }
}
