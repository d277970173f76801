//! The command line, as clap definitions only: no behaviour lives here. Options whose values
//! name a library type (cell, input, optimizer, batch order, vocabulary level, preset) parse
//! into that type directly, through its `FromStr`.

use std::path::PathBuf;
use std::str::FromStr;

use charrnn_data::{Encoding, Format, TextUnit};
use charrnn_experiment::Preset;
use charrnn_model::{BatchOrder, Cell, InputMode, OptimizerConfig, Precision};
use charrnn_vocab::Level;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand};

/// A parser that accepts `values` (listed in `--help`) and makes a `T` of the one given.
fn library<T>(values: &[&'static str]) -> impl TypedValueParser<Value = T>
where
    T: FromStr + Clone + Send + Sync + 'static,
    T::Err: Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
{
    PossibleValuesParser::new(values.iter().map(|v| PossibleValue::new(*v)))
        .try_map(|s| s.parse::<T>())
}

/// `--sampler`: host or device (`cpu` and `gpu` are accepted too, unlisted), in any case.
fn sampler_parser() -> impl TypedValueParser<Value = charrnn_model::SampleOn> {
    PossibleValuesParser::new([
        PossibleValue::new("host").alias("cpu"),
        PossibleValue::new("device").alias("gpu"),
    ])
    .try_map(|s| s.parse::<charrnn_model::SampleOn>())
}

/// `--preset`: notebook, default or gpu; `seed`, the notebook's old name, still works but is not
/// listed.
fn preset_parser() -> impl TypedValueParser<Value = Preset> {
    PossibleValuesParser::new([
        PossibleValue::new("notebook").help("the notebook: one-hot LSTM 128, RMSprop, batch 8, 1 epoch"),
        PossibleValue::new("default").help(
            "2 LSTM layers of 256, Adam with cosine decay and weight decay 0.1, batch 64, 6,500 steps (about 9 to 10 minutes of training on 2 cores)",
        ),
        PossibleValue::new("gpu").help(
            "for one CUDA GPU: 3 LSTM layers of 512, dropout 0.3, batch 128, up to 30 epochs with early stopping (patience 3) on a weight average (--ema 0.999); the experiment adds the descriptions as extra text, conditioned as classes of their own",
        ),
        PossibleValue::new("seed").hide(true),
    ])
    .try_map(|s| s.parse::<Preset>())
}

/// `--encoding`: the library's [`Encoding`], each value with its help line (and the other
/// names it goes by, also accepted).
fn encoding_parser() -> impl TypedValueParser<Value = Encoding> {
    PossibleValuesParser::new([
        PossibleValue::new("utf-8").help("UTF-8 (default); a UTF-16 byte-order mark is detected"),
        PossibleValue::new("utf-16")
            .help("UTF-16, the byte order from the byte-order mark (little-endian without one)"),
        PossibleValue::new("utf-16le").help("UTF-16, little-endian"),
        PossibleValue::new("utf-16be").help("UTF-16, big-endian"),
        PossibleValue::new("latin-1")
            .alias("iso-8859-1")
            .help("ISO-8859-1 (also: iso-8859-1): any bytes, each one character"),
        PossibleValue::new("windows-1252").alias("cp1252").help(
            "Windows \"ANSI\", Excel's CSV (also: cp1252): Latin-1 with € and “curly quotes”",
        ),
        PossibleValue::new("auto").help(
            "each file its own, from its first 64 KiB: a byte-order mark, UTF-16, else UTF-8 if \
             they are, else windows-1252",
        ),
    ])
    .try_map(|s| s.parse::<Encoding>())
}

/// `--text-unit`: the library's [`TextUnit`], each value with its help line.
fn text_unit_parser() -> impl TypedValueParser<Value = TextUnit> {
    PossibleValuesParser::new([
        PossibleValue::new("file").help("a whole file (a novel, a source file)"),
        PossibleValue::new("line").help("a non-empty line"),
        PossibleValue::new("paragraph").help("lines up to a blank line"),
    ])
    .try_map(|s| s.parse::<TextUnit>())
}

use crate::checks;

#[derive(Parser, Debug)]
#[command(
    name = "charrnn",
    version,
    about = "Character-level RNN language models: prepare data, train, generate, evaluate",
    after_help = "Exit status: 0 success; 1 runtime error (bad data, a corrupt checkpoint, a \
                  diverged training...); 2 usage error (an unknown flag or a value out of range); \
                  130 a training stopped by Ctrl-C, after saving (resume it with --resume). \
                  Errors are one line on stderr starting with `error:`; nothing is written to \
                  stdout then, and no file the user had is changed."
)]
pub struct Cli {
    /// Print no progress, evaluations or samples on stderr (errors and warnings still go there).
    #[arg(long, global = true)]
    pub quiet: bool,
    /// Machine-readable output on stdout (JSON).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Convert any input (CSV, JSON Lines, text, Parquet shards; gzip/zstd) to one Parquet file.
    Prepare(PrepareArgs),
    /// Build or show a vocabulary (tokenizer.json).
    #[command(subcommand)]
    Vocab(VocabCommand),
    /// Train a model on any input (Parquet, CSV, JSON Lines or plain text; gzip/zstd).
    Train(Box<TrainArgs>),
    /// Generate text from a trained model.
    Generate(GenerateArgs),
    /// Bits per character of a trained model on any input.
    Eval(EvalArgs),
    /// Describe a trained model: its shape, vocabulary, classes, training and data.
    Info {
        /// A run directory (its best checkpoint) or a checkpoint directory.
        checkpoint: PathBuf,
    },
    /// The whole job on AG News: vocabulary, train (validating on held-out training titles),
    /// test bits per character, samples, optional sweep, and a Markdown report.
    Experiment(Box<ExperimentArgs>),
    /// Serve a model over HTTP: an OpenAI-style completions API (with streaming), continuous
    /// batching, and a web playground at `/`. On the CPU, `--threads 0` means half the cores
    /// (at least 1): the other half serve HTTP.
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// A run directory (its best checkpoint) or a checkpoint directory.
    pub checkpoint: PathBuf,
    /// Address to listen on, host:port: an IP address or a host name (localhost:8080; a name
    /// is resolved, its first IPv4 address preferred). Port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:8080", value_parser = checks::socket_addr)]
    pub addr: std::net::SocketAddr,
    /// Bearer token required on /v1/* (default: the CHARRNN_API_KEY environment variable;
    /// neither: no authentication).
    #[arg(long)]
    pub api_key: Option<String>,
    /// Requests waiting to join the batch before new ones get 429, at least 1.
    #[arg(long, default_value_t = 256, value_parser = checks::count)]
    pub max_queue: usize,
    /// Most samples generated together, at least 1.
    #[arg(long, default_value_t = 128, value_parser = checks::count)]
    pub max_batch: usize,
    /// The largest max_tokens (characters) a request may ask for, at least 1.
    #[arg(long, default_value_t = 4096, value_parser = checks::count)]
    pub max_tokens: usize,
    /// The largest n (samples per prompt) a request may ask for, 1 to 65,536 (as `generate
    /// -n`: each sample is a row of the running batch).
    #[arg(long, default_value_t = 16, value_parser = checks::samples, allow_negative_numbers = true)]
    pub max_n: usize,
    /// The largest request body, in KiB, at least 1.
    #[arg(long, default_value_t = 1024, value_parser = checks::count)]
    pub max_body_kib: usize,
    /// Seconds after which a request's samples are ended, above 0.
    #[arg(long, default_value_t = 300.0, value_parser = checks::positive)]
    pub request_timeout: f64,
    /// Seconds that requests in flight get to finish after SIGINT/SIGTERM, at least 0.
    #[arg(long, default_value_t = 10.0, value_parser = checks::non_negative)]
    pub shutdown_grace: f64,
    /// The model's name in the API (default: the checkpoint directory's name).
    #[arg(long)]
    pub model_name: Option<String>,
    /// Where characters are drawn: host (the logits copied back every step) or device
    /// (tensor ops on the model's device); both give the same samples. Default: device on
    /// CUDA, host on the CPU.
    #[arg(long, value_name = "host|device", ignore_case = true, value_parser = sampler_parser())]
    pub sampler: Option<charrnn_model::SampleOn>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// The input: a file, a directory or a glob pattern. A CSV file is converted whole (every
    /// column); anything else becomes a `text` column (and `label` with --label-column).
    pub input: PathBuf,
    /// Where to write the Parquet file (a new file; an existing one only with --overwrite).
    pub output: PathBuf,
    /// Replace OUTPUT if it exists (it is replaced whole, once the new file is complete).
    #[arg(long)]
    pub overwrite: bool,
    /// The CSV has a header row naming its columns (otherwise: AG News, label,title,description).
    #[arg(long)]
    pub header: bool,
    #[command(flatten)]
    pub text: TextColumns,
}

#[derive(Subcommand, Debug)]
pub enum VocabCommand {
    /// Build a vocabulary from any input (Parquet, CSV, JSON Lines or plain text; gzip/zstd),
    /// read as `train` reads it.
    Build(VocabBuildArgs),
    /// Show a vocabulary's ids, tokens and frequencies.
    Show {
        /// A tokenizer.json file, or a checkpoint or run directory holding one.
        path: PathBuf,
    },
}

#[derive(Args, Debug, Clone)]
pub struct TextColumns {
    /// Text column(s) or JSON field(s); several are joined with a space (e.g. --column title
    /// --column description). Default: `title` for Parquet and CSV (`text` when there is no
    /// `title`), `text` for JSON Lines.
    #[arg(long = "column")]
    pub columns: Vec<String>,
    /// Label column, for label-conditioned models: integers, or text (author names, "spam" and
    /// "ham"...), whose distinct values, sorted, become the classes.
    #[arg(long)]
    pub label_column: Option<String>,
    /// The classes of a text label column, when they are known already (a run's, for its
    /// validation data or eval); otherwise read from the data.
    #[arg(skip)]
    pub label_names: Option<Vec<String>>,
    /// Skip rows whose text or label is null (or, in JSON, missing) instead of failing; the
    /// data note counts them.
    #[arg(long)]
    pub skip_nulls: bool,
    /// The input format (default: from the extension, else from the first bytes).
    #[arg(long, value_parser = library::<Format>(&["parquet", "csv", "jsonl", "text"]))]
    pub format: Option<Format>,
    /// Plain text: what one document is (default: file; a resume, and eval of a model: the
    /// run's).
    #[arg(long, value_parser = text_unit_parser())]
    pub text_unit: Option<TextUnit>,
    /// The text's encoding (plain text, CSV, JSON Lines), decoded after decompression.
    /// Default: utf-8, and a file that starts with a UTF-16 byte-order mark is read as UTF-16;
    /// a resume, and eval of a model: the run's. `auto` decides per file (a folder of mixed
    /// encodings). Parquet's strings are UTF-8 by format (another encoding named for Parquet,
    /// but auto, is refused).
    #[arg(long, value_name = "NAME", ignore_case = true, value_parser = encoding_parser())]
    pub encoding: Option<Encoding>,
    /// CSV: the character between fields, one ASCII character (`;`, `|`; `tab` or `\t` for a
    /// tab). Default: `,`, a tab for `.tsv` and `.tab` files; a resume, and eval of a model:
    /// the run's.
    #[arg(long, value_name = "CHAR", value_parser = checks::delimiter)]
    pub delimiter: Option<u8>,
}

#[derive(Args, Debug)]
pub struct VocabBuildArgs {
    /// The input to read (a file, a directory or a glob pattern).
    pub data: PathBuf,
    #[command(flatten)]
    pub text: TextColumns,
    /// Characters, or whitespace-separated words: a word vocabulary is for other programs
    /// (`charrnn train` trains character-level models and refuses it).
    #[arg(long, default_value = "char", value_parser = library::<Level>(&["char", "word"]))]
    pub level: Level,
    /// Lowercase text before building and encoding.
    #[arg(long)]
    pub lowercase: bool,
    /// Tokens seen fewer times map to <unk>, at least 1.
    #[arg(long, default_value_t = 1, value_parser = checks::count_u64, allow_negative_numbers = true)]
    pub min_freq: u64,
    /// Keep at most this many tokens (the most frequent), at least 1 (default: all).
    #[arg(long, value_parser = checks::count, allow_negative_numbers = true)]
    pub max_size: Option<usize>,
    /// Where to write the tokenizer.json; the token counts go beside it, in NAME.counts.json
    /// (tokenizer.json's own format has no place for them). Existing files are replaced only
    /// with --overwrite.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Replace --output and its counts file if they exist (each replaced whole, once written).
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Args, Debug, Clone)]
pub struct TrainArgs {
    /// Training data: a file, a directory or a glob pattern, in any supported format (a resume:
    /// by default the run's).
    #[arg(long, required_unless_present = "resume")]
    pub train: Option<PathBuf>,
    /// Validation data; otherwise --valid-fraction of the training documents is held out (or,
    /// for a single document, its last part).
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Fraction of training documents held out for validation when --valid is not given, in
    /// (0, 1) (a single document gives up its last part instead); default 0.05.
    #[arg(long, value_parser = checks::fraction, allow_negative_numbers = true)]
    pub valid_fraction: Option<f64>,
    #[command(flatten)]
    pub text: TextColumns,
    /// Also train on this column's texts as examples of their own (e.g. `description` beside
    /// titles: more text of the same kind). Validation uses --column only, and the rows it
    /// holds out (--valid-fraction) are left out of this column's texts too. With
    /// --label-column, this column's texts are classes of their own ("World (description)"),
    /// so the model keeps the columns' styles apart.
    #[arg(long = "extra-column")]
    pub extra_columns: Vec<String>,
    /// A vocabulary to use (tokenizer.json); otherwise one is built from the training texts.
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// Building (or, with --init-from, growing) the vocabulary: characters seen fewer times
    /// become <unk>; at least 1.
    #[arg(long, default_value_t = 1, value_parser = checks::count_u64, allow_negative_numbers = true)]
    pub min_freq: u64,
    /// Building the vocabulary: keep at most this many characters (the most frequent), at
    /// least 1.
    #[arg(long, value_parser = checks::count, allow_negative_numbers = true)]
    pub max_size: Option<usize>,
    /// Where the token stores (and the built vocabulary) are kept and reused (default:
    /// OUT/store).
    #[arg(long)]
    pub store_dir: Option<PathBuf>,
    /// The run directory: best/ and last/ checkpoints, metrics.jsonl and, with
    /// --checkpoint-every, checkpoints/ (a resume: the resumed run's).
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Continue the run in this directory exactly where its last checkpoint stopped, on the
    /// same data and seed, with its own settings: `charrnn train --resume DIR` alone reads the
    /// data it read before, the same way (files, columns, labels, windows); flags given change
    /// the recipe (a budget, the learning rate...). The model's shape, the data and how they
    /// are read cannot change, and the vocabulary is the run's.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Fine-tune: start from this trained model (a run directory, for its best/, or a
    /// checkpoint directory) with its weights, shape, vocabulary and classes, as a new run in
    /// --out from step 0 with a fresh optimiser. Characters of the text it has not seen (at
    /// least --min-freq times) grow its vocabulary, starting as likely as its rarest one.
    #[arg(
        long,
        value_name = "RUN",
        conflicts_with_all = ["resume", "vocab", "max_size", "cell", "input", "embed_dim", "hidden", "layers"]
    )]
    pub init_from: Option<PathBuf>,
    /// With --init-from: keep the model's vocabulary; characters it has not seen count as
    /// <unk>.
    #[arg(long, requires = "init_from")]
    pub keep_vocab: bool,
    /// Replace the model of an --out directory that already holds one (otherwise refused).
    #[arg(long, conflicts_with = "resume")]
    pub overwrite: bool,
    /// Start from a named recipe; other flags override its settings.
    #[arg(long, default_value = "default", value_parser = preset_parser())]
    pub preset: Preset,
    /// The recurrent cell (default: the preset's; LSTM in all three presets).
    #[arg(long, value_parser = library::<Cell>(&["lstm", "gru", "rnn"]))]
    pub cell: Option<Cell>,
    /// How a character enters the network: a one-hot vector, or a learned embedding of
    /// --embed-dim (default: the preset's).
    #[arg(long, value_parser = library::<InputMode>(&["embedding", "onehot"]))]
    pub input: Option<InputMode>,
    /// Embedding width, at least 1 (default: the preset's, 64).
    #[arg(long, value_parser = checks::count, allow_negative_numbers = true)]
    pub embed_dim: Option<usize>,
    /// Units per recurrent layer, at least 1 (default: the preset's).
    #[arg(long, value_parser = checks::count, allow_negative_numbers = true)]
    pub hidden: Option<usize>,
    /// Recurrent layers, at least 1 (default: the preset's).
    #[arg(long, value_parser = checks::count, allow_negative_numbers = true)]
    pub layers: Option<usize>,
    /// Dropout probability in [0, 1) (default: the preset's).
    #[arg(long, value_parser = checks::below_one, allow_negative_numbers = true)]
    pub dropout: Option<f64>,
    /// The optimizer, with its usual hyper-parameters (sgd: momentum 0.9) (default: the
    /// preset's).
    #[arg(long, value_parser = library::<OptimizerConfig>(&["adam", "rmsprop", "sgd"]))]
    pub optimizer: Option<OptimizerConfig>,
    /// Learning rate, at least 1.2e-38 (float32's smallest normal number; default: the
    /// preset's).
    #[arg(long, value_parser = checks::learning_rate, allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Replace the preset's learning-rate schedule (a cosine decay for default and gpu, a
    /// constant rate for notebook) with an exponential decay: multiply the rate by this factor
    /// in (0, 1] after each epoch (1: a constant rate).
    #[arg(long, value_parser = checks::lr_decay, allow_negative_numbers = true)]
    pub lr_decay: Option<f64>,
    /// Clip the gradient norm to this value, at least 0 (0 = no clipping; default: the preset's).
    #[arg(long, value_parser = checks::non_negative, allow_negative_numbers = true)]
    pub clip: Option<f64>,
    /// Decoupled weight decay (AdamW's): each step multiplies every parameter by 1 − lr × this,
    /// at least 0 (default: the preset's: 0.1 for default and gpu, 0 for notebook).
    #[arg(long, value_parser = checks::non_negative, allow_negative_numbers = true)]
    pub weight_decay: Option<f64>,
    /// Examples per batch, at least 1 (default: the preset's).
    #[arg(long, value_parser = checks::count, allow_negative_numbers = true)]
    pub batch_size: Option<usize>,
    /// Stop after this many epochs, at least 1.
    #[arg(long, value_parser = checks::count, allow_negative_numbers = true)]
    pub epochs: Option<usize>,
    /// Stop after this many optimizer steps, at least 1.
    #[arg(long, value_parser = checks::count, allow_negative_numbers = true)]
    pub max_steps: Option<usize>,
    /// Stop after this many seconds of training, above 0.
    #[arg(long, value_parser = checks::positive, allow_negative_numbers = true)]
    pub time_budget: Option<f64>,
    /// The order of the examples in an epoch: a seeded shuffle, or shuffled batches of similar
    /// lengths (less padding) (default: the preset's).
    #[arg(long, value_parser = library::<BatchOrder>(&["shuffled", "bucketed"]))]
    pub order: Option<BatchOrder>,
    /// Weight averaging: keep an exponential moving average of the weights with this decay per
    /// step, inside (0, 1), e.g. 0.999 (about the last 1,000 steps); validation, best/ and
    /// generation use the average, last/ keeps the trained weights. 0: none. Default: the
    /// preset's (none for notebook and default).
    #[arg(long, value_parser = checks::below_one, allow_negative_numbers = true)]
    pub ema: Option<f64>,
    /// Early stopping: stop once this many validations in a row have not improved the best
    /// validation bits per character, at least 1 (default: the preset's; never for notebook
    /// and default). best/ keeps the best model.
    #[arg(long, value_parser = checks::count, allow_negative_numbers = true)]
    pub patience: Option<usize>,
    /// Validate (and print samples) every N steps, at least 1 (default: the preset's), and at
    /// each epoch end that comes --min-eval-gap steps or more after the last validation: epochs
    /// of a few batches (a small text) are not validated and saved every few steps.
    #[arg(long, value_parser = checks::count, allow_negative_numbers = true)]
    pub eval_every: Option<usize>,
    /// An epoch end validates (and prints samples) only when at least this many steps passed
    /// since the last validation, at least 1 (default 50; 1: every epoch end; a resume: the
    /// run's).
    #[arg(long, value_name = "STEPS", value_parser = checks::count, allow_negative_numbers = true)]
    pub min_eval_gap: Option<usize>,
    /// Keep a history: every this many steps, at least 1, also save the model (no optimizer
    /// state) as OUT/checkpoints/step-NNNNNNN, a checkpoint directory for `generate` or `eval`
    /// to pick later (default: off; a resume: the run's).
    #[arg(long, value_name = "STEPS", value_parser = checks::count, allow_negative_numbers = true)]
    pub checkpoint_every: Option<usize>,
    /// With --checkpoint-every: keep the newest N of those checkpoints, deleting older ones,
    /// at least 0 (0 = keep all; default: 5; a resume: the run's).
    #[arg(long, value_name = "N", value_parser = checks::whole, allow_negative_numbers = true)]
    pub keep_checkpoints: Option<usize>,
    /// Cut texts into windows of this many characters, at least 1 (full-text mode) instead of
    /// one example per text. Default: one example per text, unless a text is longer than
    /// 1,024 characters: then windows of 256.
    #[arg(long, value_parser = checks::count, allow_negative_numbers = true)]
    pub window: Option<usize>,
    /// Step between windows in characters, at least 1 (default: the window).
    #[arg(long, value_parser = checks::count, allow_negative_numbers = true, requires = "window")]
    pub stride: Option<usize>,
    /// Truncated backpropagation through time: lay the training text out as --batch-size
    /// parallel streams and carry the recurrent state from one --window to the next.
    #[arg(long, requires = "window", conflicts_with = "label_column")]
    pub stateful: bool,
    /// Processes to train data-parallel on this machine, each on its slice of every batch,
    /// meeting on 127.0.0.1 through c10d (Gloo on the CPU; NCCL on CUDA, rank N on cuda:N), at
    /// least 1; default: one process and no group (1: a group of one, which measures what the
    /// group costs). Under torchrun or Slurm the launcher's environment (WORLD_SIZE/RANK/LOCAL_RANK
    /// or SLURM_NTASKS/SLURM_PROCID/SLURM_LOCALID, with MASTER_ADDR and MASTER_PORT) decides
    /// instead.
    #[arg(long, value_parser = checks::count, allow_negative_numbers = true)]
    pub nproc: Option<usize>,
    /// Arithmetic of training: fp32, or bf16 mixed precision (the forward pass under autocast to
    /// bfloat16, with loss scaling; weights, optimizer state, checkpoints, validation and
    /// generation stay float32). On a CPU with AVX-512 BF16, bf16 trained 1.65× faster at batch
    /// 256 but slower at batch 8; without AVX-512 or AMX, an LSTM is refused (default: fp32).
    #[arg(long, value_parser = library::<Precision>(&["fp32", "bf16"]))]
    pub precision: Option<Precision>,
    /// On the CPU, keep all freed tensor memory for reuse instead of returning large blocks to
    /// the system: training ran 1.5-1.8× faster here (LSTM 128, batch 256), but peak memory can
    /// be up to twice as high. Default: off (blocks up to 32 MiB are reused, larger ones returned).
    #[arg(long)]
    pub keep_host_memory: bool,
    /// Seconds a data-parallel rank waits for the others, to meet and at every step, before
    /// it stops with an error naming the rank that did not come; above 0.
    #[arg(long, default_value_t = 300.0, value_parser = checks::positive)]
    pub dist_timeout: f64,
    /// Stop when the mean loss exceeds this many times ln(vocabulary size), the loss of a
    /// uniform guess; 0 turns the bound off (a NaN loss always stops training).
    #[arg(long, default_value_t = 3.0, value_parser = checks::divergence_factor, allow_negative_numbers = true)]
    pub divergence_factor: f64,
    #[command(flatten)]
    pub run: RunArgs,
    /// Prompts for the samples printed after each epoch and each validation inside one (a long
    /// epoch), one sample each (default: the empty prompt, the model's own start, as for
    /// `generate`).
    #[arg(long = "sample-prompt")]
    pub sample_prompts: Vec<String>,
    /// Temperatures for the samples printed after each epoch and validation, each above 0,
    /// comma-separated or the flag repeated: one set of samples per value (default 0.8).
    #[arg(long = "sample-temperature", value_delimiter = ',', value_parser = checks::sample_temperature, allow_negative_numbers = true)]
    pub sample_temperatures: Vec<f32>,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// auto (CUDA when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto", value_parser = checks::device)]
    pub device: String,
    /// Seed of initialisation, data order, dropout and sampling: a whole number from 0 to
    /// 18446744073709551615.
    #[arg(long, default_value_t = 0, value_parser = checks::seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// CPU threads for libtorch (0: libtorch's default).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// A run directory (its best checkpoint) or a checkpoint directory.
    pub checkpoint: PathBuf,
    /// Prompt(s) to continue; may be empty. Repeat for several. Taken as given: a backslash is
    /// a backslash (a line break is one in the argument, as bash's $'Dear Sir,\n' makes it;
    /// --prompt-file undoes escapes).
    #[arg(long = "prompt", default_values_t = [String::new()])]
    pub prompts: Vec<String>,
    /// Also continue every line of this file as a prompt (`-`: standard input, read to its
    /// end), after any --prompt; `\n`, `\t` and `\\` in a line stand for a line break, a tab
    /// and a backslash. At most 65,536 samples in all (prompts × -n × temperatures).
    #[arg(long, value_name = "FILE")]
    pub prompt_file: Option<PathBuf>,
    /// Continue each line of standard input as it arrives, showing its samples before reading
    /// the next (escapes as in --prompt-file): for a person at a terminal or a program on both
    /// pipes. Line K (from 0) samples with --seed + K. Ends at the end of input.
    #[arg(long, conflicts_with_all = ["prompt_file", "prompts", "stats", "encoding"])]
    pub interactive: bool,
    /// The encoding of --prompt-file (see train's --encoding for the names). Default: utf-8,
    /// and a file that starts with a UTF-16 byte-order mark is read as UTF-16; any byte-order
    /// mark is dropped.
    #[arg(long, value_name = "NAME", ignore_case = true, value_parser = encoding_parser())]
    pub encoding: Option<Encoding>,
    /// Samples per prompt and temperature, 1 to 65,536 (and 65,536 in all: prompts × -n ×
    /// temperatures × classes).
    #[arg(short = 'n', long = "num-samples", default_value_t = 1, value_parser = checks::samples, allow_negative_numbers = true)]
    pub num_samples: usize,
    /// Always pick the most likely next character.
    #[arg(long, conflicts_with = "temperature")]
    pub greedy: bool,
    /// Sampling temperature(s) above 0, comma-separated: one set of samples per value
    /// (default 1.0; use --greedy for argmax).
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, value_parser = checks::temperature)]
    pub temperature: Vec<f32>,
    /// Cycle these temperatures (each above 0), one per generated character.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, value_parser = checks::schedule_temperature, conflicts_with_all = ["temperature", "greedy"])]
    pub temperature_schedule: Vec<f32>,
    /// Sample only among the k most likely characters, at least 1 (default: all).
    #[arg(long, value_parser = checks::top_k, allow_negative_numbers = true)]
    pub top_k: Option<usize>,
    /// Sample only among the most likely characters whose probabilities add up to p, in (0, 1].
    #[arg(long, value_parser = checks::top_p, allow_negative_numbers = true)]
    pub top_p: Option<f32>,
    /// Drop characters less likely than p times the most likely one, p in [0, 1).
    #[arg(long, value_parser = checks::min_p, allow_negative_numbers = true)]
    pub min_p: Option<f32>,
    /// Condition on a label: a class name (World, Sports, Business, Sci/Tech) or its 0-based
    /// index. A label-conditioned model given none generates for every class in turn.
    #[arg(long)]
    pub label: Option<String>,
    /// Generate at most this many characters after the prompt, at least 1.
    #[arg(long, default_value_t = 300, value_parser = checks::count, allow_negative_numbers = true)]
    pub max_len: usize,
    /// Also stop when the text ends with this string.
    #[arg(long = "stop")]
    pub stop: Vec<String>,
    /// Never end a sample at <eos>: every sample runs to --max-len (for benchmarks).
    #[arg(long)]
    pub ignore_eos: bool,
    /// Where characters are drawn: host (the logits copied back every step; exact, the same
    /// on every platform) or device (tensor ops on the model's device, the same random
    /// streams). Default: device on CUDA, host on the CPU.
    #[arg(long, value_name = "host|device", ignore_case = true, value_parser = sampler_parser())]
    pub sampler: Option<charrnn_model::SampleOn>,
    /// With --sampler device, steps between two copies of the characters to the host, at
    /// least 1; changes no sample. Default: adaptive, 4 doubling up to 64 while few samples
    /// end (1 when streaming to a terminal).
    #[arg(long, value_name = "STEPS", value_parser = checks::count, allow_negative_numbers = true)]
    pub sync_every: Option<usize>,
    /// Print timing and memory figures as one JSON line on stderr when done; the clock starts
    /// after a two-character warm-up, so it leaves out first-call set-up (large on CUDA).
    #[arg(long)]
    pub stats: bool,
    /// Refuse prompt characters outside the vocabulary (otherwise they become <unk>, with a
    /// warning when they are over 1 % of the prompted characters).
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run directory (its best checkpoint) or a checkpoint directory.
    pub checkpoint: PathBuf,
    /// The data to score: a file, a directory or a glob pattern, in any supported format.
    /// It is read as the model's training data were (columns, text unit, encoding, delimiter,
    /// --skip-nulls) unless the flags below say otherwise.
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub text: TextColumns,
    /// Also print every text's score on stdout, before the total: a tab-separated table
    /// (text index, characters, bits per character, the classes, and the text's file or first
    /// 40 characters), or `text_score` events with --json.
    #[arg(long)]
    pub per_text: bool,
    /// Classify every text with the label-conditioned model: the class under which it is
    /// likeliest. Given --label-column, the data's own classes are compared (accuracy and a
    /// confusion matrix); otherwise the data need no labels.
    #[arg(long)]
    pub classify: bool,
    /// Texts per evaluation batch, at least 1.
    #[arg(long, default_value_t = 256, value_parser = checks::count, allow_negative_numbers = true)]
    pub batch_size: usize,
    /// Where to build the token store (default: a temporary directory, removed afterwards).
    #[arg(long)]
    pub store_dir: Option<PathBuf>,
    /// Refuse data whose characters are over 1 % outside the vocabulary (otherwise a warning).
    #[arg(long)]
    pub strict: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct ExperimentArgs {
    /// The directory holding AG News as train.parquet and test.parquet (label, title,
    /// description), as `cargo xtask fetch` writes it, or as `charrnn prepare` makes each from
    /// AG News's CSV file (`charrnn prepare train.csv DIR/train.parquet`).
    #[arg(long, value_name = "DIR", default_value = "data/ag_news")]
    pub data: PathBuf,
    /// Where experiments go: the report and the runs land in OUT/NAME/.
    #[arg(long, value_name = "DIR", default_value = "experiments")]
    pub out: PathBuf,
    /// The training recipe of the main run and of the sweep's variants.
    #[arg(long, default_value = "default", value_parser = preset_parser())]
    pub preset: Preset,
    /// Replace an earlier experiment of the same name in OUT (its model is replaced as the new
    /// run saves, so a run that fails leaves it whole).
    #[arg(long)]
    pub overwrite: bool,
    /// The experiment's name, a plain directory name (default: the preset's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Stop each run after this many optimizer steps, at least 1 (default: the preset's
    /// budget).
    #[arg(long, value_name = "N", value_parser = checks::count_u64, allow_negative_numbers = true)]
    pub max_steps: Option<u64>,
    /// Seconds of training, above 0; with --sweep, the total shared evenly by all runs
    /// (default: the preset's budget; with --sweep, 1800).
    #[arg(long, value_name = "SECS", value_parser = checks::positive, allow_negative_numbers = true)]
    pub time_budget: Option<f64>,
    /// Also train model variants (LSTM/GRU, 1-3 layers, hidden 128-512, full text) sharing
    /// one time budget, and tabulate them.
    #[arg(long)]
    pub sweep: bool,
    /// Do not condition the model on the AG News class (the default preset does, which lowers
    /// the test bpc and adds per-class samples; the notebook preset never does).
    #[arg(long)]
    pub no_labels: bool,
    /// The fraction of the training titles held out for validation, in (0, 1).
    #[arg(long, value_name = "F", default_value_t = 0.05, value_parser = checks::fraction, allow_negative_numbers = true)]
    pub valid_fraction: f64,
    /// Samples per prompt and temperature, at least 1.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = checks::count, allow_negative_numbers = true)]
    pub samples: usize,
    /// auto (CUDA when available), cpu, cuda or cuda:N (default: auto).
    #[arg(long, value_parser = checks::device)]
    pub device: Option<String>,
    /// CPU threads for libtorch, at least 1 (default: libtorch's).
    #[arg(long, value_name = "N", value_parser = checks::count, allow_negative_numbers = true)]
    pub threads: Option<usize>,
    /// Seed of training, of the validation split and of sampling: a whole number from 0 to
    /// 18446744073709551615.
    #[arg(long, default_value_t = 1, value_parser = checks::seed, allow_negative_numbers = true)]
    pub seed: u64,
    /// More `charrnn train` flags, after `--`, e.g. `-- --hidden 512 --dropout 0.3`.
    #[arg(last = true, value_name = "TRAIN FLAGS")]
    pub train_args: Vec<String>,
}
