//! Deterministic AG News-like titles for the data benchmark and `data_report` (one generator,
//! so both measure the same text). Not an example of its own: both include it with `#[path]`.

const WORDS: &[&str] = &[
    "Stocks",
    "oil",
    "prices",
    "rise",
    "after",
    "talks",
    "Iraq",
    "election",
    "Google",
    "IPO",
    "wins",
    "title",
    "Red",
    "Sox",
    "beat",
    "Yankees",
    "in",
    "the",
    "of",
    "to",
    "new",
    "chip",
    "Intel",
    "says",
    "U.S.",
    "deficit",
    "record",
    "NASA",
    "probe",
    "Mars",
    "hurricane",
    "Florida",
    "quot;",
    "#39;s",
    "\\$5",
    "Microsoft",
    "patch",
    "Olympic",
    "gold",
    "for",
    "Greece",
    "profit",
];

/// A deterministic AG News-like title: 3 to 12 words (about 40 characters on average).
pub fn title(state: &mut u64) -> String {
    let mut next = || {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    };
    let words = 3 + next() % 10;
    let mut out = String::new();
    for w in 0..words {
        if w > 0 {
            out.push(' ');
        }
        out.push_str(WORDS[(next() % WORDS.len() as u64) as usize]);
    }
    out
}
