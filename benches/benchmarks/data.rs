//! Benchmarks of charrnn-data on 1,000,000 titles: reading the Parquet file; the streaming
//! path (read, encode with the char vocabulary, make `<bos>`…`<eos>` examples, pad each run of
//! 64 into a batch); and the in-memory path in two parts (read + encode + examples into a
//! `Vec`, then plan a bucketed epoch and pad every batch of 64).
//!
//! The Parquet file is generated once (deterministic AG News-like titles, written as AG News
//! CSV and converted with `csv_to_parquet`) under `target/<profile>/bench-data/`.
//! Peak memory and padding figures come from `cargo run --release -p charrnn-data --example
//! data_report` (a fresh process is needed to read a meaningful VmHWM).
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};

use charrnn_data::{
    CsvOptions, Example, ExampleOptions, Order, ReadOptions, TextReader, collate, csv_to_parquet,
    make_examples, plan_epoch,
};
use charrnn_vocab::{Unknown, Vocab, VocabOptions};
use criterion::{Criterion, Throughput};

const ROWS: usize = 1_000_000;
const BATCH: usize = 64;

// Shared with charrnn-data's `data_report` example, so both measure the same text.
#[path = "../../crates/charrnn-data/examples/common/titles.rs"]
mod titles;
use titles::title;

fn data_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("bench-data")))
        .unwrap_or_else(|| std::env::temp_dir().join("charrnn-bench-data"))
}

/// The 1M-title Parquet file, generated on first use.
fn titles_parquet() -> PathBuf {
    let dir = data_dir();
    let path = dir.join("titles-1m-v1.parquet");
    if path.is_file() {
        return path;
    }
    std::fs::create_dir_all(&dir).expect("bench data directory");
    let csv = dir.join("titles-1m-v1.csv");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&csv).expect("bench CSV"));
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..ROWS {
        let t = title(&mut state).replace('"', "\"\"");
        writeln!(out, "\"{}\",\"{t}\",\"\"", i % 4 + 1).expect("write bench CSV");
    }
    out.flush().expect("flush bench CSV");
    drop(out);
    csv_to_parquet(&csv, &path, &CsvOptions::default()).expect("convert bench CSV");
    std::fs::remove_file(&csv).ok();
    path
}

/// Read + encode + examples: every title of the file as one `<bos>`…`<eos>` example.
fn read_encode(path: &Path, vocab: &Vocab, opts: &ExampleOptions) -> Vec<Example> {
    let reader = TextReader::open(path, &ReadOptions::text("title").with_label("label"))
        .expect("bench parquet opens");
    let mut examples = Vec::with_capacity(ROWS);
    let mut ids = Vec::with_capacity(256);
    for record in reader {
        let record = record.expect("bench parquet reads");
        ids.clear();
        vocab
            .encode_into(&record.text, Unknown::Replace, &mut ids)
            .expect("Replace never fails");
        let label = record.label.and_then(|l| u32::try_from(l - 1).ok());
        make_examples(&ids, label, opts, &mut examples);
    }
    examples
}

/// The streaming path, memory bounded: read, encode, make examples and pad each run of 64
/// consecutive examples into a batch as soon as it is complete; returns the cells produced.
fn stream_batches(path: &Path, vocab: &Vocab, opts: &ExampleOptions) -> usize {
    let reader = TextReader::open(path, &ReadOptions::text("title").with_label("label"))
        .expect("bench parquet opens");
    let all: Vec<usize> = (0..BATCH).collect();
    let (mut examples, mut ids, mut cells) = (Vec::with_capacity(BATCH + 1), Vec::new(), 0);
    for record in reader {
        let record = record.expect("bench parquet reads");
        ids.clear();
        vocab
            .encode_into(&record.text, Unknown::Replace, &mut ids)
            .expect("Replace never fails");
        let label = record.label.and_then(|l| u32::try_from(l - 1).ok());
        make_examples(&ids, label, opts, &mut examples);
        if examples.len() >= BATCH {
            cells += collate(&examples, &all).input.len();
            examples.clear();
        }
    }
    let rest: Vec<usize> = (0..examples.len()).collect();
    cells + collate(&examples, &rest).input.len()
}

/// Plan a bucketed epoch and pad every batch; returns the cells produced.
fn plan_and_collate(examples: &[Example], lengths: &[usize]) -> usize {
    let plan = plan_epoch(lengths, BATCH, Order::Bucketed { window_batches: 16 }, 7, 0);
    plan.iter()
        .map(|indices| collate(examples, indices).input.len())
        .sum()
}

pub fn benches(c: &mut Criterion) {
    let path = titles_parquet();
    let sample: Vec<String> = TextReader::open(&path, &ReadOptions::text("title"))
        .expect("bench parquet opens")
        .take(10_000)
        .map(|r| r.expect("bench parquet reads").text)
        .collect();
    let vocab = Vocab::build(sample.iter().map(String::as_str), &VocabOptions::default())
        .expect("titles give a vocabulary");
    let opts = ExampleOptions {
        eos: vocab.eos_id(),
        bos: Some(vocab.bos_id()),
        window: None,
    };

    let mut group = c.benchmark_group("data/1M_titles");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(10);
    group.bench_function("read", |b| {
        b.iter(|| {
            TextReader::open(&path, &ReadOptions::text("title").with_label("label"))
                .expect("bench parquet opens")
                .map(|r| r.expect("bench parquet reads").text.len())
                .sum::<usize>()
        })
    });
    group.bench_function("read_encode_examples", |b| {
        b.iter(|| read_encode(black_box(&path), &vocab, &opts).len())
    });
    let examples = read_encode(&path, &vocab, &opts);
    let lengths: Vec<usize> = examples.iter().map(Example::len).collect();
    group.bench_function("plan_collate_bucketed", |b| {
        b.iter(|| plan_and_collate(black_box(&examples), &lengths))
    });
    group.bench_function("read_encode_batch_streaming", |b| {
        b.iter(|| stream_batches(black_box(&path), &vocab, &opts))
    });
    group.finish();
}
