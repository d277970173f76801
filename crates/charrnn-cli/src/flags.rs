//! The command line, as clap definitions only: no behaviour lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "charrnn",
    version,
    about = "Character-level RNN language models: prepare data, train, generate, evaluate"
)]
pub struct Cli {
    /// Print no progress (errors still go to stderr).
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
}

#[derive(Args, Debug)]
pub struct PrepareArgs {
    /// The input: a file, a directory or a glob pattern. A CSV file is converted whole (every
    /// column); anything else becomes a `text` column (and `label` with --label-column).
    pub input: PathBuf,
    /// Where to write the Parquet file.
    pub output: PathBuf,
    /// The CSV has a header row naming its columns (otherwise: AG News, label,title,description).
    #[arg(long)]
    pub header: bool,
    #[command(flatten)]
    pub text: TextColumns,
}

#[derive(Subcommand, Debug)]
pub enum VocabCommand {
    /// Build a vocabulary from text columns of a Parquet file.
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
    /// --column description). Default: `title` for Parquet and CSV, `text` for JSON Lines.
    #[arg(long = "column")]
    pub columns: Vec<String>,
    /// Integer label column, for label-conditioned models.
    #[arg(long)]
    pub label_column: Option<String>,
    /// Skip rows whose text is null instead of failing.
    #[arg(long)]
    pub skip_nulls: bool,
    /// The input format (default: from the extension, else from the first bytes).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Plain text: what one document is.
    #[arg(long, value_enum, default_value_t = TextUnitArg::File)]
    pub text_unit: TextUnitArg,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    Parquet,
    Csv,
    Jsonl,
    Text,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextUnitArg {
    /// A whole file (a novel, a source file).
    File,
    /// A non-empty line.
    Line,
    /// Lines up to a blank line.
    Paragraph,
}

#[derive(Args, Debug)]
pub struct VocabBuildArgs {
    /// The input to read (a file, a directory or a glob pattern).
    pub data: PathBuf,
    #[command(flatten)]
    pub text: TextColumns,
    /// Characters or whitespace-separated words.
    #[arg(long, value_enum, default_value_t = LevelArg::Char)]
    pub level: LevelArg,
    /// Lowercase text before building and encoding.
    #[arg(long)]
    pub lowercase: bool,
    /// Tokens seen fewer times map to <unk>.
    #[arg(long, default_value_t = 1)]
    pub min_freq: u64,
    /// Keep at most this many tokens (the most frequent).
    #[arg(long)]
    pub max_size: Option<usize>,
    /// Where to write the tokenizer.json.
    #[arg(long, short)]
    pub output: PathBuf,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LevelArg {
    Char,
    Word,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// The notebook: one-hot input, LSTM 128, batch 8, RMSprop, 1 epoch.
    Seed,
    /// The best recipe found for about 10 minutes on 2 CPU cores.
    Default,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellArg {
    Lstm,
    Gru,
    Rnn,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputArg {
    Embedding,
    Onehot,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerArg {
    Adam,
    Rmsprop,
    Sgd,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderArg {
    Shuffled,
    Bucketed,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Training data: a file, a directory or a glob pattern, in any supported format.
    #[arg(long)]
    pub train: PathBuf,
    /// Validation data; otherwise --valid-fraction of the training documents is held out (or,
    /// for a single document, its last part).
    #[arg(long)]
    pub valid: Option<PathBuf>,
    /// Fraction of training documents held out for validation when --valid is not given.
    #[arg(long, default_value_t = 0.05)]
    pub valid_fraction: f64,
    #[command(flatten)]
    pub text: TextColumns,
    /// Also train on this column's texts as examples of their own (e.g. `description` beside
    /// titles: more text of the same kind; validation still uses --column only).
    #[arg(long = "extra-column")]
    pub extra_columns: Vec<String>,
    /// A vocabulary to use (tokenizer.json); otherwise one is built from the training texts.
    #[arg(long)]
    pub vocab: Option<PathBuf>,
    /// Building the vocabulary: characters seen fewer times become <unk>.
    #[arg(long, default_value_t = 1)]
    pub min_freq: u64,
    /// Building the vocabulary: keep at most this many characters (the most frequent).
    #[arg(long)]
    pub max_size: Option<usize>,
    /// Where the token stores (and the built vocabulary) are kept and reused (default:
    /// OUT/store).
    #[arg(long)]
    pub store_dir: Option<PathBuf>,
    /// The run directory: best/ and last/ checkpoints and metrics.jsonl.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in this directory exactly where its last checkpoint stopped.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Start from a named recipe; other flags override its settings.
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    pub preset: Preset,
    #[arg(long, value_enum)]
    pub cell: Option<CellArg>,
    #[arg(long, value_enum)]
    pub input: Option<InputArg>,
    #[arg(long)]
    pub embed_dim: Option<usize>,
    #[arg(long)]
    pub hidden: Option<usize>,
    #[arg(long)]
    pub layers: Option<usize>,
    #[arg(long)]
    pub dropout: Option<f64>,
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimizerArg>,
    /// Learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Multiply the learning rate by this factor after each epoch.
    #[arg(long)]
    pub lr_decay: Option<f64>,
    /// Clip the gradient norm to this value (0 = no clipping).
    #[arg(long)]
    pub clip: Option<f64>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Stop after this many optimizer steps.
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Stop after this many seconds of training.
    #[arg(long)]
    pub time_budget: Option<f64>,
    #[arg(long, value_enum)]
    pub order: Option<OrderArg>,
    /// Validate every N steps (and at each epoch end).
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Cut texts into windows of this many characters (full-text mode) instead of one example per text.
    #[arg(long)]
    pub window: Option<usize>,
    /// Step between windows (default: the window).
    #[arg(long)]
    pub stride: Option<usize>,
    /// Truncated backpropagation through time: lay the training text out as --batch-size
    /// parallel streams and carry the recurrent state from one --window to the next.
    #[arg(long, requires = "window")]
    pub stateful: bool,
    #[command(flatten)]
    pub run: RunArgs,
    /// Prompts for the samples printed after each epoch.
    #[arg(long = "sample-prompt")]
    pub sample_prompts: Vec<String>,
    /// Temperatures for the samples printed after each epoch.
    #[arg(long = "sample-temperature")]
    pub sample_temperatures: Vec<f32>,
}

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// auto (CUDA when available), cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// CPU threads for libtorch (0: libtorch's default).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// A run directory (its best checkpoint) or a checkpoint directory.
    pub checkpoint: PathBuf,
    /// Prompt(s) to continue; may be empty. Repeat for several.
    #[arg(long = "prompt", default_values_t = [String::new()])]
    pub prompts: Vec<String>,
    /// Samples per prompt and temperature.
    #[arg(short = 'n', long = "num-samples", default_value_t = 1)]
    pub num_samples: usize,
    /// Always pick the most likely next character.
    #[arg(long, conflicts_with = "temperature")]
    pub greedy: bool,
    /// Sampling temperature(s), comma-separated: one set of samples per value.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true)]
    pub temperature: Vec<f32>,
    /// Cycle these temperatures, one per generated character.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, conflicts_with_all = ["temperature", "greedy"])]
    pub temperature_schedule: Vec<f32>,
    #[arg(long)]
    pub top_k: Option<usize>,
    #[arg(long)]
    pub top_p: Option<f32>,
    #[arg(long)]
    pub min_p: Option<f32>,
    /// Condition on a label: a class name (World, Sports, Business, Sci/Tech) or its 0-based
    /// index. A label-conditioned model given none generates for every class in turn.
    #[arg(long)]
    pub label: Option<String>,
    /// Generate at most this many characters after the prompt.
    #[arg(long, default_value_t = 300)]
    pub max_len: usize,
    /// Also stop when the text ends with this string.
    #[arg(long = "stop")]
    pub stop: Vec<String>,
    /// Never end a sample at <eos>: every sample runs to --max-len (for benchmarks).
    #[arg(long)]
    pub ignore_eos: bool,
    /// Print timing and memory figures as one JSON line on stderr when done.
    #[arg(long)]
    pub stats: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run directory (its best checkpoint) or a checkpoint directory.
    pub checkpoint: PathBuf,
    /// The Parquet file to score.
    #[arg(long)]
    pub data: PathBuf,
    #[command(flatten)]
    pub text: TextColumns,
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Where to build the token store (default: a temporary directory, removed afterwards).
    #[arg(long)]
    pub store_dir: Option<PathBuf>,
    #[command(flatten)]
    pub run: RunArgs,
}
