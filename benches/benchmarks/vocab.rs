//! Benchmarks of charrnn-vocab: char-level encoding of AG News titles, fast path against the
//! `tokenizers` pipeline, and building the vocabulary.
//!
//! Titles come from `/work/shared/data/ag_news/train.csv` (or `$CHARRNN_AG_NEWS_CSV`) when
//! readable, else 10,000 titles are generated deterministically.
use std::hint::black_box;

use charrnn_vocab::{Unknown, Vocab, VocabOptions};
use criterion::{Criterion, Throughput};

const AG_NEWS_CSV: &str = "/work/shared/data/ag_news/train.csv";
const TITLES: usize = 10_000;

pub fn benches(c: &mut Criterion) {
    let titles = titles();
    let bytes: usize = titles.iter().map(String::len).sum();
    let vocab = Vocab::build(titles.iter().map(String::as_str), &VocabOptions::default())
        .expect("titles give a vocabulary");

    let mut group = c.benchmark_group("vocab/encode_char");
    group.throughput(Throughput::Bytes(bytes as u64));
    let mut out = Vec::with_capacity(bytes);
    group.bench_function("fast", |b| {
        b.iter(|| {
            out.clear();
            for title in &titles {
                vocab
                    .encode_into(black_box(title), Unknown::Replace, &mut out)
                    .expect("Replace never fails");
            }
            black_box(out.len())
        })
    });
    group.bench_function("pipeline", |b| {
        b.iter(|| {
            let mut n = 0;
            for title in &titles {
                n += vocab
                    .pipeline_encode(black_box(title))
                    .expect("pipeline encodes")
                    .len();
            }
            black_box(n)
        })
    });
    group.finish();

    let mut group = c.benchmark_group("vocab/build_char");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(20);
    group.bench_function("build", |b| {
        b.iter(|| {
            Vocab::build(titles.iter().map(String::as_str), &VocabOptions::default())
                .expect("titles give a vocabulary")
                .len()
        })
    });
    group.finish();
}

/// Up to [`TITLES`] AG News titles, or generated ones.
fn titles() -> Vec<String> {
    let path = std::env::var("CHARRNN_AG_NEWS_CSV").unwrap_or_else(|_| AG_NEWS_CSV.to_owned());
    let from_csv: Vec<String> = std::fs::read_to_string(&path)
        .map(|csv| csv.lines().filter_map(title_of).take(TITLES).collect())
        .unwrap_or_default();
    if from_csv.len() >= TITLES / 2 {
        eprintln!("vocab benches: {} titles from {path}", from_csv.len());
        from_csv
    } else {
        eprintln!("vocab benches: {TITLES} generated titles");
        generated_titles(TITLES)
    }
}

/// The second field of an AG News line `"class","title","description"`.
fn title_of(line: &str) -> Option<String> {
    let rest = line.strip_prefix('"')?;
    let rest = &rest[rest.find("\",\"")? + 3..];
    let mut title = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        if c == '"' {
            match chars.next() {
                Some('"') => title.push('"'),
                _ => return Some(title),
            }
        } else {
            title.push(c);
        }
    }
    None
}

/// Deterministic news-like titles (a fixed linear congruential generator over word lists).
fn generated_titles(n: usize) -> Vec<String> {
    const WORDS: &str = "Oil prices Stocks rally as Fed holds rates steady Iraq election Microsoft \
        unveils new Windows update Yankees beat Red Sox in extra innings NASA probe \
        finds water on Mars EU court rules against Google China's economy grows 8.5% Q3 \
        (Reuters) (AP) - Café naïve São Paulo Zürich talks résumé";
    let words: Vec<&str> = WORDS.split(' ').collect();
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    (0..n)
        .map(|_| {
            let len = 4 + next() % 9;
            (0..len)
                .map(|_| words[next() % words.len()])
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}
