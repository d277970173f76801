//! `charrnn generate` and `charrnn eval`: a checkpoint put to use.

use std::path::Path;
use std::{io::Write, time::Instant};

use anyhow::{Context, Result, bail};
use charrnn_data::{ExampleOptions, Examples, Selection, StoreExamples, Window};
use charrnn_experiment::{Event, GenerateStats, GeneratedSample, Score, SkippedLine, Stop};
use charrnn_model::{Checkpoint, GenerateOptions, evaluate, parse_device, set_cpu_threads};
use charrnn_sampling::{SamplingConfig, StopReason, Temperature};
use charrnn_vocab::Unknown;

use crate::{
    corpus::{self, open_source},
    dataset::{Coverage, Labels},
    flags::{EvalArgs, GenerateArgs},
    output::{Output, invalid_value, peak_rss_mib},
};

/// One sampling configuration per requested temperature (or the greedy or scheduled one).
fn sampling_configs(args: &GenerateArgs) -> Vec<(Option<f32>, SamplingConfig)> {
    let base = |temperature: Temperature| SamplingConfig {
        temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        banned: Vec::new(),
    };
    if args.greedy {
        return vec![(None, base(Temperature::Greedy))];
    }
    if !args.temperature_schedule.is_empty() {
        return vec![(
            None,
            base(Temperature::Schedule(args.temperature_schedule.clone())),
        )];
    }
    let temps = if args.temperature.is_empty() {
        vec![1.0]
    } else {
        args.temperature.clone()
    };
    temps
        .into_iter()
        .map(|t| (Some(t), base(Temperature::Fixed(t))))
        .collect()
}

/// Checks the whole sampling configuration (each flag was checked alone when parsed).
fn check_sampling(configs: &[(Option<f32>, SamplingConfig)]) -> Result<()> {
    for (_, config) in configs {
        config.validate()?;
    }
    Ok(())
}

pub fn generate(args: &GenerateArgs, out: &Output) -> Result<()> {
    let device = parse_device(&args.run.device)?;
    set_cpu_threads(args.run.threads);
    let ckpt = Checkpoint::load(&args.checkpoint, device)?;
    let config = ckpt.model.config();
    // The classes to generate for: the one asked for; every class in turn for a
    // label-conditioned model asked for none; no class for an unconditioned model.
    let labels: Vec<Option<u32>> = match (&args.label, config.num_labels) {
        (None, None) => vec![None],
        // The label column's classes: not those an extra column's texts were trained as.
        (None, Some(n)) => {
            let main = ckpt.config.data.label_values.len();
            let n = if main > 0 && main < n { main } else { n };
            (0..n as u32).map(Some).collect()
        }
        // A label the model has no class for is a usage error (exit 2) naming the classes.
        (Some(name), Some(n)) => match config.label_id(name) {
            Some(id) => vec![Some(id)],
            None => {
                let numbered = config
                    .label_names
                    .iter()
                    .any(|l| l.trim().parse::<i64>().is_ok());
                let index = match numbered {
                    true => String::new(),
                    false => format!("; or an index from 0 to {}", n.saturating_sub(1)),
                };
                let reason = format!(
                    "not a class of this model (classes: {}{index})",
                    config.label_names.join(", ")
                );
                return Err(invalid_value("generate", "label", name, &reason).into());
            }
        },
        (Some(name), None) => {
            let reason = "this model was trained without labels";
            return Err(invalid_value("generate", "label", name, reason).into());
        }
    };
    if args.num_samples == 0 {
        bail!("-n must be at least 1");
    }
    let mut configs = sampling_configs(args);
    if args.ignore_eos {
        let [pad, eos, unk, bos] = ckpt.vocab.special_ids();
        for (_, config) in &mut configs {
            config.banned = vec![pad, eos, unk, bos];
        }
    }
    check_sampling(&configs)?;
    let unknown = if args.strict {
        Unknown::Error
    } else {
        Unknown::Replace
    };
    let job = Job {
        args,
        ckpt: &ckpt,
        labels,
        configs,
        unknown,
    };
    if args.interactive {
        return interactive(&job, out);
    }
    let given = all_prompts(args)?;
    let samples = given.len() * job.samples_per_prompt();
    if samples > crate::checks::MAX_SAMPLES {
        // The flag named is the file's when there is one, else -n.
        let (flag, value, advice) = match &args.prompt_file {
            Some(file) => ("prompt_file", file.display().to_string(), "split the file"),
            None => (
                "num_samples",
                args.num_samples.to_string(),
                "ask for fewer and run again",
            ),
        };
        let reason = format!(
            "{} prompt(s) × -n {} × {} temperature(s) × {} class(es) is {samples} samples, more \
             than {}: {advice}",
            given.len(),
            args.num_samples,
            job.configs.len(),
            job.labels.len(),
            crate::checks::MAX_SAMPLES,
        );
        return Err(invalid_value("generate", flag, &value, &reason).into());
    }
    // Everything is checked before anything is printed: prompts outside the vocabulary are
    // refused (--strict) or warned about here, not after the first sample went out.
    job.check_prompts(&given)?;
    if args.stats {
        // Steady-state figures: kernel and library set-up on the first call (hundreds of
        // milliseconds on CUDA) stays off the clock, as in the benchmark's reference.
        let warm_up = GenerateOptions {
            sampling: job.configs[0].1.clone(),
            // The prompt's pass and one step of one character: both shapes of the loop.
            max_len: 2,
            label: job.labels[0],
            seed: args.run.seed,
            unknown,
            sample_on: args.sampler,
            ..GenerateOptions::default()
        };
        charrnn_model::generate(&ckpt.model, &ckpt.vocab, &[given[0].as_str()], &warm_up)?;
    }
    let started = Instant::now();
    let generated_chars = job.sample(&given, args.run.seed, out)?;
    if args.stats {
        let secs = started.elapsed().as_secs_f64();
        let stats = Event::Stats(GenerateStats {
            samples: given.len() * args.num_samples,
            chars: generated_chars,
            elapsed_secs: secs,
            chars_per_sec: generated_chars as f64 / secs.max(1e-9),
            peak_rss_mib: peak_rss_mib(),
        });
        eprintln!("{}", stats.to_json()?);
    }
    Ok(())
}

/// What `generate` samples with, checked: the model, the classes, the sampling
/// configurations (one per temperature) and the policy for characters outside the vocabulary.
struct Job<'a> {
    args: &'a GenerateArgs,
    ckpt: &'a Checkpoint,
    labels: Vec<Option<u32>>,
    configs: Vec<(Option<f32>, SamplingConfig)>,
    unknown: Unknown,
}

impl Job<'_> {
    /// How many samples each prompt gets: -n for every temperature and class.
    fn samples_per_prompt(&self) -> usize {
        self.args.num_samples * self.configs.len() * self.labels.len()
    }

    /// Refuses (--strict) or warns about prompts with characters outside the vocabulary.
    fn check_prompts(&self, given: &[String]) -> Result<()> {
        let mut coverage = Coverage::default();
        for prompt in given {
            let ids = self.ckpt.vocab.encode(prompt, Unknown::Replace)?;
            coverage.add(prompt, &ids, &self.ckpt.vocab);
        }
        coverage.check("the prompts", self.args.strict)
    }

    /// The class's name, for a label-conditioned model.
    fn label_name(&self, label: Option<u32>) -> Option<String> {
        let names = &self.ckpt.model.config().label_names;
        label.and_then(|l| names.get(l as usize).cloned())
    }

    /// Samples -n continuations of every prompt in `given` (checked), for every class and
    /// temperature, with `seed`, and shows them; returns how many characters were generated.
    fn sample(&self, given: &[String], seed: u64, out: &Output) -> Result<usize> {
        let (args, ckpt) = (self.args, self.ckpt);
        let prompts: Vec<&str> = given
            .iter()
            .flat_map(|p| std::iter::repeat_n(p.as_str(), args.num_samples))
            .collect();
        // One sample for a person: stream it to the terminal as it comes.
        let stream = !out.machine()
            && prompts.len() == 1
            && self.configs.len() == 1
            && self.labels.len() == 1;
        let mut generated_chars = 0usize;
        // Shown to a person, several samples are numbered: each after a header line.
        let total = given.len() * self.samples_per_prompt();
        let mut number = 0;
        for (label, (temperature, sampling)) in self
            .labels
            .iter()
            .flat_map(|&l| self.configs.iter().map(move |c| (l, c.clone())))
        {
            let options = GenerateOptions {
                sampling,
                max_len: args.max_len,
                stop_strings: args.stop.clone(),
                label,
                seed,
                unknown: self.unknown,
                sample_on: args.sampler,
                // A person watching sees every character as it comes.
                sync_every: if stream { Some(1) } else { args.sync_every },
                ..GenerateOptions::default()
            };
            let samples = if stream {
                let mut stdout = std::io::stdout().lock();
                write!(stdout, "{}", prompts[0])?;
                let samples = charrnn_model::generate_streaming(
                    &ckpt.model,
                    &ckpt.vocab,
                    &prompts,
                    &options,
                    &mut |_, piece| {
                        let _ = write!(stdout, "{piece}");
                        let _ = stdout.flush();
                    },
                )?;
                writeln!(stdout)?;
                samples
            } else {
                charrnn_model::generate(&ckpt.model, &ckpt.vocab, &prompts, &options)?
            };
            for (prompt, sample) in prompts.iter().zip(&samples) {
                generated_chars += sample.ids.len();
                if stream {
                    continue;
                }
                let stop = match sample.stop {
                    StopReason::Eos => Stop::Eos,
                    StopReason::StopString(_) => Stop::StopString,
                    StopReason::MaxLen => Stop::MaxLen,
                };
                let text = format!("{prompt}{}", sample.text);
                number += 1;
                let event = Event::Generated(GeneratedSample {
                    prompt: (*prompt).to_owned(),
                    temperature,
                    label: self.label_name(label),
                    text: text.clone(),
                    generated: sample.text.clone(),
                    stop,
                });
                out.result(event, || {
                    let mut tags = Vec::new();
                    if let Some(name) = self.label_name(label) {
                        tags.push(name);
                    }
                    if let Some(t) = temperature {
                        tags.push(format!("T={t}"));
                    }
                    shown(number, total, &tags, prompt, &text)
                })?;
            }
        }
        Ok(generated_chars)
    }
}

/// `--interactive`: continues each line of standard input as it arrives (its escapes undone,
/// as in a prompt file) and shows its samples before reading the next, so that a person at a
/// terminal, or a program holding both pipes, gets answers line by line. Line K (from 0)
/// samples with seed + K: a prompt given twice gets two samples, and the same input always
/// the same output. A line that cannot be used (not UTF-8; outside the vocabulary with
/// --strict; one the model fails on) gets an `error:` line on stderr, and with --json a
/// `skipped` event on stdout, and is skipped; the exit status is then 1.
fn interactive(job: &Job<'_>, out: &Output) -> Result<()> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    let person = stdin.is_terminal();
    let mut input = stdin.lock();
    let mut failed = 0usize;
    // A line that gets no samples still gets an answer: an `error:` line on stderr, and for a
    // program reading --json, a `skipped` event in its place on stdout.
    let mut skip = |k: u64, message: String| -> Result<()> {
        eprintln!("error: --interactive: line {}: {message}", k + 1);
        failed += 1;
        out.record(Event::Skipped(SkippedLine {
            line: k + 1,
            message,
        }))
    };
    let mut line = Vec::new();
    for k in 0u64.. {
        if person {
            eprint!("> ");
        }
        line.clear();
        let read = input
            .read_until(b'\n', &mut line)
            .context("--interactive: cannot read standard input")?;
        if read == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        // A byte-order mark is no part of the first prompt.
        let text = match k {
            0 => text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text),
            _ => text,
        };
        let prompt = match std::str::from_utf8(text) {
            Ok(text) => unescape(text),
            Err(e) => {
                let byte = e.valid_up_to() + 1;
                skip(k, format!("not UTF-8 text (byte {byte})"))?;
                continue;
            }
        };
        let given = [prompt];
        if let Err(e) = job.check_prompts(&given) {
            skip(k, crate::output::one_line(&e))?;
            continue;
        }
        // Numbered samples of one line are set off from the last line's by a blank line.
        let several = job.samples_per_prompt() > 1;
        if k > 0 && several && !out.machine() {
            crate::output::stdout_line("")?;
        }
        match job.sample(&given, job.args.run.seed.wrapping_add(k), out) {
            // The model refused or failed on this line (a prompt too long for memory): the
            // next line may do.
            Err(e) if e.downcast_ref::<charrnn_model::ModelError>().is_some() => {
                skip(k, crate::output::one_line(&e))?;
            }
            done => {
                done?;
            }
        }
    }
    if person {
        eprintln!();
    }
    if failed > 0 {
        bail!("--interactive: {failed} line(s) of standard input were skipped (see above)");
    }
    Ok(())
}

/// The prompts: `--prompt`'s, then each line of `--prompt-file` (its escapes undone). With a
/// file, the default empty prompt is left out.
fn all_prompts(args: &GenerateArgs) -> Result<Vec<String>> {
    let Some(path) = &args.prompt_file else {
        if let Some(encoding) = args.encoding {
            let reason = "it is the encoding of --prompt-file, and there is no --prompt-file";
            return Err(invalid_value("generate", "encoding", encoding.name(), reason).into());
        }
        return Ok(args.prompts.clone());
    };
    let bytes = if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)
            .context("--prompt-file -: cannot read standard input")?;
        bytes
    } else {
        std::fs::read(path).with_context(|| format!("--prompt-file {}", path.display()))?
    };
    use std::io::Read;
    // Decoded as the data's files are: a byte-order mark dropped, a UTF-16 one obeyed.
    let encoding = args.encoding.unwrap_or_default();
    let mut text = String::new();
    encoding
        .decode(bytes.as_slice())
        .and_then(|mut reader| reader.read_to_string(&mut text))
        .with_context(|| {
            format!(
                "--prompt-file {}: not {encoding} text (see --encoding)",
                path.display()
            )
        })?;
    let mut prompts = match args.prompts.as_slice() {
        [only] if only.is_empty() => Vec::new(),
        given => given.to_vec(),
    };
    prompts.extend(text.lines().map(unescape));
    if prompts.is_empty() {
        bail!("--prompt-file {}: no prompts (no lines)", path.display());
    }
    Ok(prompts)
}

/// A prompt file's line with `\n`, `\t` and `\\` undone (another backslash stays).
fn unescape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Sample `number` of `total` (from 1) as a person reads it. One sample on one line is its
/// text, after its `tags` in brackets (`[T=0.5] text`). Several, or one of several lines, each
/// get a header line saying which sample it is and how it was made, the next one after a
/// blank line, so that samples holding line breaks are told apart:
///
/// ```text
/// --- sample 2 of 4 (Sports, T=0.5, prompt "Today ") ---
/// Today we win
/// ```
fn shown(number: usize, total: usize, tags: &[String], prompt: &str, text: &str) -> String {
    if total == 1 && !text.contains(['\n', '\r']) {
        return match tags.is_empty() {
            true => text.to_owned(),
            false => format!("[{}] {text}", tags.join(" ")),
        };
    }
    let mut how = tags.to_vec();
    how.push(format!("prompt {}", prompt_label(prompt)));
    let gap = if number > 1 { "\n" } else { "" };
    format!(
        "{gap}--- sample {number} of {total} ({}) ---\n{text}",
        how.join(", ")
    )
}

/// How many characters of a prompt a sample's header quotes.
const PROMPT_SHOWN: usize = 60;

/// A prompt as a sample's header names it: quoted whole, or, past [`PROMPT_SHOWN`]
/// characters, its start and its length (the sample below holds it whole).
fn prompt_label(prompt: &str) -> String {
    let chars = prompt.chars().count();
    if chars <= PROMPT_SHOWN {
        return format!("{prompt:?}");
    }
    let start: String = prompt.chars().take(PROMPT_SHOWN).collect();
    format!("{start:?}… ({chars} characters)")
}

pub fn eval(args: &EvalArgs, out: &Output) -> Result<()> {
    let device = parse_device(&args.run.device)?;
    set_cpu_threads(args.run.threads);
    let ckpt = Checkpoint::load(&args.checkpoint, device)?;
    let settings = &ckpt.config.data;
    let conditioned = ckpt.model.config().num_labels.is_some();
    if args.classify && !conditioned {
        bail!(
            "--classify needs a label-conditioned model: {} was trained without classes",
            args.checkpoint.display()
        );
    }
    let mut text = args.text.clone();
    // Classifying, the data's classes are read only when asked for: unlabelled text is what
    // one classifies.
    let model_labels = text.label_column.is_none() && conditioned && !args.classify;
    if model_labels {
        text.label_column = settings.label_column.clone();
    }
    if text.columns.is_empty() {
        // The columns the model was trained on.
        text.columns = settings.columns.clone();
    }
    if text.encoding.is_none() {
        // The encoding the model's data were read in (None: UTF-8).
        text.encoding = settings
            .encoding
            .as_deref()
            .and_then(|name| name.parse().ok());
    }
    if text.text_unit.is_none() {
        // What one document of plain text was for the model (None: a whole file).
        text.text_unit = settings
            .text_unit
            .as_deref()
            .and_then(|name| name.parse().ok());
    }
    // Rows the training left out for a null are left out here too.
    text.skip_nulls |= settings.skip_nulls;
    if text.delimiter.is_none() {
        // The CSV delimiter the model's data were read with.
        text.delimiter = settings
            .delimiter
            .as_deref()
            .and_then(|name| crate::checks::delimiter(name).ok());
    }
    // A text label column reads each label as its class's index among the model's names.
    if settings.label_text && text.label_column.is_some() {
        let classes = settings.label_values.len().min(settings.label_names.len());
        text.label_names = Some(settings.label_names[..classes].to_vec());
    }
    let source = match (open_source(&args.data, &text), &text.label_column) {
        (Err(e), Some(column)) if model_labels && format!("{e:#}").contains(column.as_str()) => {
            return Err(e.context(format!(
                "the model is label-conditioned: eval scores each text under its class, from \
                 the column `{column}` it was trained with (--label-column names another; \
                 --classify scores unlabelled text)"
            )));
        }
        (source, _) => source?,
    };
    let fingerprint = source
        .fingerprint()
        .with_context(|| format!("cannot read {}", args.data.display()))?;
    let tmp;
    let store_dir = match &args.store_dir {
        Some(dir) => dir.as_path(),
        None => {
            tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
            tmp.path()
        }
    };
    // Ctrl-C while the store is built: its temporary file goes, or the whole temporary
    // directory when it is eval's own.
    let store_path = store_dir.join("eval.store");
    let _clean = {
        let (path, own) = (store_path.clone(), args.store_dir.is_none());
        crate::interrupt::on_quit("interrupted", move || match (own, path.parent()) {
            (true, Some(dir)) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            _ => crate::paths::remove_temporaries(&path),
        })
    };
    let mut coverage = Coverage::default();
    let built = corpus::store(
        &store_path,
        &source,
        fingerprint,
        &ckpt.vocab,
        out,
        Some(&mut coverage),
    )
    .map_err(|e| {
        let about_columns = format!("{e:#}").contains("column");
        match args.text.columns.is_empty() && about_columns {
            true => e.context(format!(
                "eval reads the column(s) the model was trained on ({}; --column names others)",
                text.columns.join(", ")
            )),
            false => e,
        }
    })?;
    out.note(corpus::describe("data", &built, &source));
    let mut labels = Labels::saved(settings, &ckpt.model.config().label_names);
    // A text label column, read with the model's class names (above), gives each label its
    // class's index, not the id the training data's list of names gave it (a name none of
    // whose texts was kept is in that list and is no class).
    if settings.label_text && text.label_column.is_some() {
        let classes = settings.label_values.len().min(settings.label_names.len());
        labels.values = (0..classes as i64).collect();
    }
    let window = settings.window.map(|n| Window {
        num_chars: n,
        stride: settings.stride.unwrap_or(n),
    });
    let opts = ExampleOptions {
        eos: ckpt.vocab.eos_id(),
        bos: Some(ckpt.vocab.bos_id()),
        window,
    };
    let what = args.data.display().to_string();
    let values =
        (labels.is_some() && text.label_column.is_some()).then_some(labels.values.as_slice());
    let examples = StoreExamples::new(&built.store, &Selection::All, opts, values)
        .with_context(|| what.clone())?;
    if examples.is_empty() {
        bail!("{} has no text to score", args.data.display());
    }
    if coverage.total == 0 {
        // A reused store: its counts, without the characters.
        coverage = Coverage::of_store(&built.store);
    }
    coverage.check(&what, args.strict)?;
    if args.per_text || args.classify {
        // The label column's classes (a model conditioned on extra columns has more).
        let classes = &labels.names[..settings.label_values.len().min(labels.names.len())];
        let request = crate::score::Request {
            classes,
            classify: args.classify,
            per_text: args.per_text,
            batch_size: args.batch_size,
            source: &source,
            windowed: window.is_some(),
        };
        return crate::score::texts(&ckpt.model, &examples, &request, out);
    }
    let result = evaluate(&ckpt.model, &examples, args.batch_size)?;
    out.result(
        Event::Score(Score {
            bits_per_char: result.bits_per_char,
            nats_per_char: result.nats_per_char,
            chars: result.chars,
            examples: examples.len(),
        }),
        || {
            crate::score::total_line(
                result.bits_per_char,
                result.chars,
                examples.docs(),
                window.is_some().then_some(examples.len()),
                "",
            )
        },
    )
}
