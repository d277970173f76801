//! Datasets for character-level language models: inputs of every common format streamed as
//! documents, a memory-mapped token store, next-character examples, padding and (bucketed or
//! stateful) batching.
//!
//! What this crate knows:
//! - Inputs ([`Source`]): Parquet (a file, or a directory or glob of shards sharing a schema),
//!   CSV (with a header, or AG News; `,`, a tab for `.tsv`/`.tab`, or any
//!   [`SourceOptions::delimiter`]), JSON Lines (named fields, nested ones as `meta.title`; a
//!   `.json` file holding one array of objects reads the same, streaming) and plain text (a
//!   file, a line or a paragraph per document, [`TextUnit`]), each possibly gzip or zstd
//!   compressed, detected from the extension or the first bytes ([`Format`]). Read as bounded
//!   [`Piece`]s or whole [`TextRecord`]s, streaming: errors name the file and the row or line
//!   (a CSV quote or a JSON string left open, by the line it opens on); the rows
//!   [`NullPolicy::Skip`] leaves out are counted ([`Pieces::skipped_rows`],
//!   [`Store::skipped_rows`]). Labels
//!   are integers, or text read through a list of names ([`SourceOptions::label_names`]) that
//!   [`Source::label_values`] finds. Text is UTF-8 by default (a file that starts with a
//!   UTF-16 byte-order mark is read as UTF-16); [`SourceOptions::encoding`] names another
//!   ([`Encoding`]: UTF-16, Latin-1, Windows-1252), decoded as the bytes stream out of the
//!   decompressor, before any parsing. Latin-1 and Windows-1252 read any bytes, so
//!   [`Source::encoding_doubts`] looks at the first 64 KiB of each file for signs that it is
//!   UTF-8 after all ([`Encoding::doubt`], an [`EncodingDoubt`] to warn with).
//!   [`Encoding::Auto`] chooses per file from its first 64 KiB (a byte-order mark, UTF-16,
//!   UTF-8, else Windows-1252), for folders of mixed encodings; [`Source::encodings_chosen`]
//!   says what it chose.
//! - The token store ([`Store`]): a corpus encoded once, streaming, by the caller's encoder
//!   into one file of 1-, 2- or 4-byte ids with document offsets and labels, written
//!   atomically, keyed ([`store_key`]) by the inputs' content, the reading options and the
//!   vocabulary, checked completely when opened (a damaged or foreign store is rebuilt, never
//!   trusted) and memory-mapped.
//! - [`Examples`]: what batches are cut from, in memory (`Vec<Example>`) or read in place from
//!   a store ([`StoreExamples`], documents or windows computed from the offsets alone), split
//!   by document or, for a single stream, at its tail ([`split_store`]); and [`Streams`], the
//!   parallel-stream layout of stateful (truncated backpropagation through time) training.
//! - CSV → Parquet ([`csv_to_parquet`]): the AG News layout (no header; `label` Int64, `title`
//!   and `description` Utf8) or any CSV with a header (all columns Utf8), plain or gzip/zstd
//!   compressed, to zstd-compressed Parquet, in
//!   row groups, written atomically. Text is kept byte for byte; nothing is cleaned.
//! - Reading any Parquet file ([`TextReader`], [`read_texts`], [`parquet_columns`]): one or
//!   several text columns (joined by single spaces), an optional label (integer, or a name of
//!   [`SourceOptions::label_names`] in a string column), record batch by
//!   record batch with column projection, so memory does not grow with the file.
//! - Examples ([`make_examples`]): `target[i] = input[i + 1]`, ended by `<eos>`, with an
//!   optional `<bos>` in front and optional fixed windows for long texts.
//! - Batches ([`plan_epoch`], [`collate`]): seeded, platform-independent orders (ChaCha8),
//!   length bucketing that cuts padding, right padding with `<pad>` = 0, masks and lengths,
//!   [`padding_efficiency`], seeded validation splits of texts ([`holdout_split`]) and the
//!   held-out tail of one long text ([`split_tail`], the in-memory [`split_store`]).
//! - Labels to classes: a record's label is the `i64` its file holds
//!   ([`TextRecord::label`]), an example's is a class id `0..n` ([`Example::label`], `u32`);
//!   [`label_classes`] lists the distinct labels in order and [`label_class`] maps a label to
//!   its index there, as [`StoreExamples`] does.
//!
//! What it does not know: characters and vocabularies (it works on text and on ids that the
//! caller already encoded, and the caller passes the `<eos>`/`<bos>` ids; only `<pad>` = 0 is
//! fixed), tensors or devices (batches are plain `Vec<i64>`/`Vec<f32>` buffers with a shape),
//! and the network (files are local; downloading is someone else's job).
//!
//! From ids to batches:
//!
//! ```
//! use charrnn_data::{collate, make_examples, plan_epoch, Example, ExampleOptions, Order};
//!
//! // Two texts already encoded by a vocabulary in which <eos> = 2 and <bos> = 1.
//! let texts: [&[u32]; 2] = [&[5, 6, 7], &[8, 9]];
//! let opts = ExampleOptions { eos: 2, bos: Some(1), window: None };
//! let mut examples: Vec<Example> = Vec::new();
//! for ids in texts {
//!     make_examples(ids, Some(0), &opts, &mut examples);
//! }
//! assert_eq!(examples[0].input, [1, 5, 6, 7]);
//! assert_eq!(examples[0].target, [5, 6, 7, 2]);
//!
//! let lengths: Vec<usize> = examples.iter().map(Example::len).collect();
//! let plan = plan_epoch(&lengths, 2, Order::Bucketed { window_batches: 8 }, 42, 0);
//! assert_eq!(plan.len(), 1);
//! let batch = collate(&examples, &plan[0]);
//! assert_eq!((batch.batch_size, batch.seq_len), (2, 4));
//! assert_eq!(batch.real_targets(), 7); // one padding cell
//! ```
//!
//! From a text file to batches, with a vocabulary of `charrnn-vocab` (any encoder that turns
//! text into `u32` ids does as well): read the documents, build the vocabulary, hold out the
//! end of the text, cut overlapping windows, plan an epoch and pad its batches.
//!
//! ```
//! use charrnn_data::{
//!     collate, make_examples, plan_epoch, split_tail, Example, ExampleOptions, Order, Source,
//!     SourceOptions, Window,
//! };
//! use charrnn_vocab::{Unknown, Vocab, VocabOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("novel.txt");
//! let novel = "It was a dark and stormy night; the rain fell in torrents. ".repeat(20);
//! std::fs::write(&path, &novel)?;
//!
//! // The whole file is one document (`TextUnit::File`, the default; `Line` and `Paragraph`
//! // make a document of each line or paragraph). Text is UTF-8 unless
//! // `SourceOptions::encoding` says otherwise.
//! let source = Source::open(&path, &SourceOptions::default())?;
//! let records = source.records().collect::<Result<Vec<_>, _>>()?;
//! assert_eq!(records.len(), 1);
//! let vocab = Vocab::build(records.iter().map(|r| r.text.as_str()), &VocabOptions::default())?;
//!
//! // The last tenth of the text is held out whole, so that no training window overlaps it.
//! let ids = vocab.encode(&records[0].text, Unknown::Error)?;
//! let (train_ids, valid_ids) = split_tail(&ids, 0.1);
//! let opts = ExampleOptions {
//!     eos: vocab.eos_id(),
//!     bos: Some(vocab.bos_id()),
//!     window: Some(Window { num_chars: 64, stride: 48 }),
//! };
//! let (mut train, mut valid): (Vec<Example>, Vec<Example>) = (Vec::new(), Vec::new());
//! make_examples(train_ids, None, &opts, &mut train);
//! make_examples(valid_ids, None, &opts, &mut valid);
//!
//! let lengths: Vec<usize> = train.iter().map(Example::len).collect();
//! for epoch in 0..2 {
//!     for indices in plan_epoch(&lengths, 8, Order::Shuffled, 42, epoch) {
//!         let batch = collate(&train, &indices);
//!         assert!(batch.seq_len <= 64);
//!         assert_eq!(batch.input.len(), batch.batch_size * batch.seq_len);
//!         // batch.input, batch.target (i64, `<pad>` = 0), batch.mask and batch.lengths go
//!         // to the model; every id is below vocab.len().
//!         assert!(batch.input.iter().all(|&id| (id as usize) < vocab.len()));
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]
mod batch;
mod convert;
mod encoding;
mod error;
mod examples;
mod labels;
mod parquet_out;
mod read;
mod source;
mod store;
mod view;

pub use batch::{Batch, Order, collate, holdout_split, padding_efficiency, plan_epoch, split_tail};
pub use convert::{ConvertStats, CsvOptions, csv_to_parquet};
pub use encoding::{Encoding, EncodingDoubt};
pub use error::DataError;
pub use examples::{Example, ExampleOptions, Window, make_examples};
pub use labels::{LabelValues, label_class, label_classes};
pub use parquet_out::records_to_parquet;
pub use read::{NullPolicy, ReadOptions, TextReader, TextRecord, parquet_columns, read_texts};
pub use source::{
    Compression, CsvHeader, Format, PIECE_BYTES, Piece, Pieces, Records, Source, SourceFile,
    SourceOptions, TextUnit,
};
pub use store::{
    BuildOptions, Encoder, STORE_VERSION, Selection, Store, StoreExamples, StoreStatus,
    split_store, store_key,
};
pub use view::{Chain, Examples, Streams, WithLabel};
