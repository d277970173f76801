//! Figures for the data pipeline that a benchmark cannot give.
//!
//! ```text
//! data_report gen PATH ROWS      write a Parquet file of ROWS synthetic AG News-like titles
//! data_report stream PATH        stream it (read, encode, examples, batches of 64) and print
//!                                rows/s and the peak resident memory (VmHWM) of this process
//! data_report epoch PATH         time the in-memory path phase by phase: read all titles,
//!                                encode + examples, plan a bucketed epoch, pad every batch
//! data_report padding CSV...     padding efficiency of Shuffled vs Bucketed batching (batch 64)
//!                                on the titles of AG News CSV files
//! ```
//! Run `gen` and `stream` as separate processes so that VmHWM measures streaming alone.
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use charrnn_data::{
    CsvOptions, Example, ExampleOptions, Order, ReadOptions, TextReader, collate, csv_to_parquet,
    make_examples, padding_efficiency, plan_epoch, read_texts,
};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

type Error = Box<dyn std::error::Error>;

#[path = "common/titles.rs"]
mod titles;
use titles::title;

fn generate(path: &Path, rows: usize) -> Result<(), Error> {
    let schema = Arc::new(arrow::datatypes::Schema::new(vec![
        arrow::datatypes::Field::new("label", arrow::datatypes::DataType::Int64, false),
        arrow::datatypes::Field::new("title", arrow::datatypes::DataType::Utf8, false),
    ]));
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_size(65_536)
        .build();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(path)?, schema.clone(), Some(props))?;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut done = 0;
    while done < rows {
        let n = (rows - done).min(65_536);
        let titles: Vec<String> = (0..n).map(|_| title(&mut state)).collect();
        let labels: Vec<i64> = (0..n).map(|i| ((done + i) % 4 + 1) as i64).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(labels)),
            Arc::new(StringArray::from(titles)),
        ];
        writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
        done += n;
    }
    writer.close()?;
    Ok(())
}

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn stream(path: &Path) -> Result<(), Error> {
    let start = Instant::now();
    let opts = ExampleOptions {
        eos: 2,
        bos: Some(1),
        window: None,
    };
    let reader = TextReader::open(path, &ReadOptions::text("title").with_label("label"))?;
    let (mut rows, mut cells, mut ids) = (0u64, 0usize, Vec::new());
    let mut examples: Vec<Example> = Vec::with_capacity(64);
    for record in reader {
        let record = record?;
        ids.clear();
        ids.extend(record.text.chars().map(|c| 4 + (c as u32) % 250));
        let label = record.label.and_then(|l| u32::try_from(l - 1).ok());
        make_examples(&ids, label, &opts, &mut examples);
        rows += 1;
        if examples.len() == 64 {
            let batch = collate(&examples, &(0..64).collect::<Vec<_>>());
            cells += batch.input.len();
            examples.clear();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "streamed {rows} rows ({cells} batch cells) in {secs:.2} s = {:.0} rows/s; VmHWM {} KiB",
        rows as f64 / secs,
        vm_hwm_kib().unwrap_or(0)
    );
    Ok(())
}

fn epoch(path: &Path) -> Result<(), Error> {
    let opts = ExampleOptions {
        eos: 2,
        bos: Some(1),
        window: None,
    };
    let t = Instant::now();
    let records = read_texts(path, &ReadOptions::text("title").with_label("label"))?;
    let read = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut examples = Vec::with_capacity(records.len());
    let mut ids = Vec::new();
    for record in &records {
        ids.clear();
        ids.extend(record.text.chars().map(|c| 4 + (c as u32) % 250));
        let label = record.label.and_then(|l| u32::try_from(l - 1).ok());
        make_examples(&ids, label, &opts, &mut examples);
    }
    let encode = t.elapsed().as_secs_f64();
    let lengths: Vec<usize> = examples.iter().map(Example::len).collect();
    let t = Instant::now();
    let plan = plan_epoch(&lengths, 64, Order::Bucketed { window_batches: 16 }, 7, 0);
    let planned = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let cells: usize = plan.iter().map(|b| collate(&examples, b).input.len()).sum();
    let collated = t.elapsed().as_secs_f64();
    let n = records.len() as f64;
    println!(
        "{} rows: read {read:.3} s, encode+examples {encode:.3} s, plan {planned:.3} s, \
         collate {collated:.3} s ({cells} cells); total {:.0} rows/s",
        records.len(),
        n / (read + encode + planned + collated)
    );
    Ok(())
}

fn padding(csvs: &[String]) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    for csv in csvs {
        let pq = dir.path().join("titles.parquet");
        csv_to_parquet(Path::new(csv), &pq, &CsvOptions::default())?;
        let titles = read_texts(&pq, &ReadOptions::text("title"))?;
        // Example length with <bos>: characters + 1.
        let lengths: Vec<usize> = titles.iter().map(|t| t.text.chars().count() + 1).collect();
        let mut line = format!("{csv}: {} titles, batch 64:", titles.len());
        let mean = |order: Order| {
            (0..5)
                .map(|epoch| {
                    padding_efficiency(&lengths, &plan_epoch(&lengths, 64, order, 1, epoch))
                })
                .sum::<f64>()
                / 5.0
        };
        line.push_str(&format!(" Shuffled {:.3}", mean(Order::Shuffled)));
        for window_batches in [1, 4, 16, 64] {
            let eff = mean(Order::Bucketed { window_batches });
            line.push_str(&format!(", Bucketed(w={window_batches}) {eff:.3}"));
        }
        println!("{line}");
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["gen", path, rows] => generate(Path::new(path), rows.parse()?),
        ["stream", path] => stream(Path::new(path)),
        ["epoch", path] => epoch(Path::new(path)),
        ["padding", ..] => padding(&args[1..]),
        _ => Err(
            "usage: data_report gen PATH ROWS | stream PATH | epoch PATH | padding CSV...".into(),
        ),
    }
}
