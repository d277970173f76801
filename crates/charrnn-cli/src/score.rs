//! `charrnn eval --per-text` and `--classify`: each text's own score, and each text's class by
//! likelihood under a label-conditioned model.

use anyhow::{Context, Result};
use charrnn_data::{Examples, Format, Source, SourceOptions, StoreExamples, TextUnit, WithLabel};
use charrnn_experiment::{Classification, Event, Score, TextScore};
use charrnn_model::{CharRnn, evaluate_each};

use crate::output::{Output, stdout_line};

/// What to score and how to show it.
pub struct Request<'a> {
    /// The main classes of a label-conditioned model, in its order (empty: none).
    pub classes: &'a [String],
    /// Score every text under every class and predict the likeliest.
    pub classify: bool,
    /// Print every text's line.
    pub per_text: bool,
    /// Texts per evaluation batch.
    pub batch_size: usize,
    /// The data the texts were read from (the store's source): `--per-text` names each text
    /// from it.
    pub source: &'a Source,
    /// Whether the model cuts the texts into windows (the total then counts them).
    pub windowed: bool,
}

/// Characters of a text shown to name it.
const START_CHARS: usize = 40;

/// What tells a text apart in `--per-text` output.
#[derive(Debug, Default)]
struct Name {
    /// The file it is, when each document is a whole plain text file.
    file: Option<String>,
    /// Its first [`START_CHARS`] characters.
    start: String,
    /// Whether it has more characters than `start`.
    cut: bool,
}

impl Name {
    /// The TSV field: the file, else the start with its tabs and line breaks escaped (and `…`
    /// when the text goes on).
    fn field(&self) -> String {
        match &self.file {
            Some(file) => escape(file),
            None if self.cut => format!("{}…", escape(&self.start)),
            None => escape(&self.start),
        }
    }
}

/// `text` on one TSV field: a backslash, tab, newline or carriage return written as `\\`, `\t`,
/// `\n` or `\r`, other control characters as `\u{..}`.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// Whether each document of `source` is one whole plain text file.
fn file_per_document(source: &Source) -> bool {
    source.format() == Format::Text && source.options().text_unit == TextUnit::File
}

/// The names of documents `wanted` (store indices, ascending) of `source`, in that order,
/// read again from the data (documents are counted in reading order, as the store holds
/// them). Documents that are whole files are named by their file: the file's first piece is
/// all that is read.
fn names(source: &Source, wanted: &[usize]) -> Result<Vec<Name>> {
    let mut out: Vec<Name> = Vec::with_capacity(wanted.len());
    let mut want = wanted.iter().copied().peekable();
    let cannot = || {
        format!(
            "cannot read {} again to name its texts",
            source.path().display()
        )
    };
    if file_per_document(source) {
        // A file is one document, or none when it holds no text.
        let opts = SourceOptions {
            format: Some(source.format()),
            ..source.options().clone()
        };
        let mut document = 0;
        for file in source.files() {
            let Some(&next) = want.peek() else { break };
            let one = Source::open(&file.path, &opts).with_context(cannot)?;
            let Some(piece) = one.pieces().next().transpose().with_context(cannot)? else {
                continue;
            };
            if document == next {
                want.next();
                let mut name = start(&piece.text, !piece.end);
                name.file = Some(file.path.display().to_string());
                out.push(name);
            }
            document += 1;
        }
    } else {
        let (mut document, mut in_document) = (0, false);
        let mut pieces = source.pieces();
        while let Some(&next) = want.peek() {
            let Some(piece) = pieces.next().transpose().with_context(cannot)? else {
                break;
            };
            if document == next {
                if !in_document {
                    out.push(Name::default());
                }
                // A long text comes in pieces: its start may take more than the first.
                if let Some(name) = out.last_mut().filter(|n| !n.cut) {
                    let room = START_CHARS - name.start.chars().count();
                    let mut chars = piece.text.chars();
                    name.start.extend(chars.by_ref().take(room));
                    name.cut = chars.next().is_some();
                }
            }
            in_document = !piece.end;
            if piece.end {
                if document == next {
                    want.next();
                }
                document += 1;
            }
        }
    }
    if out.len() != wanted.len() {
        anyhow::bail!(
            "{} changed while it was scored: it holds fewer texts than its token store",
            source.path().display()
        );
    }
    Ok(out)
}

/// The name of a text beginning with `text`: its first [`START_CHARS`] characters; `cut` when
/// it goes on (`more`: more pieces follow).
fn start(text: &str, more: bool) -> Name {
    let mut chars = text.chars();
    let start: String = chars.by_ref().take(START_CHARS).collect();
    Name {
        file: None,
        start,
        cut: more || chars.next().is_some(),
    }
}

/// `n` with its thousands grouped: `48,007`.
fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `n` and the noun, singular or plural: `1 text`, `751 windows`.
fn count(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        _ => format!("{} {noun}s", grouped(n)),
    }
}

/// The total's line: `3.1110 bits per character over 48,007 characters (1 text, 751
/// windows)`; `windows` only for a model that cuts windows, `note` added inside the brackets.
pub fn total_line(
    bits_per_char: f64,
    chars: usize,
    texts: usize,
    windows: Option<usize>,
    note: &str,
) -> String {
    let mut what = count(texts, "text");
    if let Some(w) = windows {
        what.push_str(", ");
        what.push_str(&count(w, "window"));
    }
    format!(
        "{bits_per_char:.4} bits per character over {} ({what}{note})",
        count(chars, "character")
    )
}

/// One text: its document, characters, nats under each scored class, and its own class.
struct Text {
    document: usize,
    chars: usize,
    nats: Vec<f64>,
    label: Option<u32>,
}

impl Text {
    /// The class with the lowest loss (the first among equals).
    fn predicted(&self) -> usize {
        let mut best = 0;
        for (c, &n) in self.nats.iter().enumerate() {
            if n < self.nats[best] {
                best = c;
            }
        }
        best
    }

    /// Bits per character under class index `c` of the scored ones.
    fn bits(&self, c: usize) -> f64 {
        self.nats[c] / self.chars.max(1) as f64 / std::f64::consts::LN_2
    }
}

/// Scores `examples` text by text (the windows of a long text summed into it), prints what
/// `request` asks for, then the total.
pub fn texts(
    model: &CharRnn,
    examples: &StoreExamples<'_>,
    request: &Request<'_>,
    out: &Output,
) -> Result<()> {
    let scored = if request.classify {
        (0..request.classes.len() as u32)
            .map(|c| evaluate_each(model, &WithLabel::new(examples, c), request.batch_size))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        vec![evaluate_each(model, examples, request.batch_size)?]
    };
    let mut texts: Vec<Text> = Vec::new();
    for i in 0..examples.len() {
        let document = examples.document(i).unwrap_or(i);
        if texts.last().is_none_or(|t| t.document != document) {
            texts.push(Text {
                document,
                chars: 0,
                nats: vec![0.0; scored.len()],
                label: examples.label(i),
            });
        }
        if let Some(text) = texts.last_mut() {
            text.chars += scored[0][i].chars;
            for (sum, class) in text.nats.iter_mut().zip(&scored) {
                *sum += class[i].nats_per_char * class[i].chars as f64;
            }
        }
    }
    let name = |c: u32| {
        request
            .classes
            .get(c as usize)
            .cloned()
            .unwrap_or_else(|| c.to_string())
    };
    let labelled = texts.iter().all(|t| t.label.is_some());
    if request.per_text && !out.machine() {
        let mut header = vec!["text", "chars", "bits_per_char"];
        if labelled && !request.classes.is_empty() {
            header.push("label");
        }
        if request.classify {
            header.push("predicted");
        }
        let mut header = header.join("\t");
        if request.classify {
            for class in request.classes {
                header.push_str(&format!("\tbits_per_char:{class}"));
            }
        }
        match file_per_document(request.source) {
            true => header.push_str("\tfile"),
            false => header.push_str("\tstart"),
        }
        stdout_line(header)?;
    }
    let names = match request.per_text {
        true => {
            let documents: Vec<usize> = texts.iter().map(|t| t.document).collect();
            names(request.source, &documents)?
        }
        false => Vec::new(),
    };
    // The total: each text under its own class, else (classifying unlabelled texts) under
    // the one predicted.
    let (mut nats, mut chars) = (0.0, 0);
    for (i, text) in texts.iter().enumerate() {
        let scored_as = match (request.classify, text.label) {
            (true, Some(l)) => l as usize,
            (true, None) => text.predicted(),
            (false, _) => 0,
        };
        nats += text.nats[scored_as];
        chars += text.chars;
        if !request.per_text {
            continue;
        }
        let predicted = request.classify.then(|| text.predicted());
        let bits = text.bits(predicted.unwrap_or(0));
        let label = text.label.filter(|_| !request.classes.is_empty()).map(name);
        let named = names.get(i);
        let event = TextScore {
            text: text.document,
            chars: text.chars,
            bits_per_char: bits,
            label: label.clone(),
            predicted: predicted.map(|p| name(p as u32)),
            class_bits_per_char: match request.classify {
                true => (0..text.nats.len()).map(|c| text.bits(c)).collect(),
                false => Vec::new(),
            },
            file: named.and_then(|n| n.file.clone()),
            start: named.map(|n| n.start.clone()),
        };
        out.result(Event::TextScore(event.clone()), || {
            let mut line = format!("{}\t{}\t{bits:.4}", text.document, text.chars);
            for field in label.iter().chain(&event.predicted) {
                line.push('\t');
                line.push_str(field);
            }
            for b in &event.class_bits_per_char {
                line.push_str(&format!("\t{b:.4}"));
            }
            if let Some(named) = named {
                line.push('\t');
                line.push_str(&named.field());
            }
            line
        })?;
    }
    let bits_per_char = nats / chars.max(1) as f64 / std::f64::consts::LN_2;
    let unlabelled = request.classify && !labelled;
    out.result(
        Event::Score(Score {
            bits_per_char,
            nats_per_char: nats / chars.max(1) as f64,
            chars,
            examples: examples.len(),
        }),
        || {
            total_line(
                bits_per_char,
                chars,
                texts.len(),
                request.windowed.then_some(examples.len()),
                if unlabelled {
                    ", each under its predicted class"
                } else {
                    ""
                },
            )
        },
    )?;
    if request.classify {
        classification(&texts, request.classes, labelled, out)?;
    }
    Ok(())
}

/// The classification's summary: predictions per class, and with the texts' own classes the
/// accuracy and the confusion matrix.
fn classification(texts: &[Text], classes: &[String], labelled: bool, out: &Output) -> Result<()> {
    let n = classes.len();
    let mut predicted = vec![0; n];
    let mut confusion = vec![vec![0usize; n]; if labelled { n } else { 0 }];
    let mut right = 0;
    for text in texts {
        let p = text.predicted();
        predicted[p] += 1;
        if let Some(l) = text.label.filter(|_| labelled) {
            confusion[l as usize][p] += 1;
            right += usize::from(l as usize == p);
        }
    }
    let accuracy = labelled.then(|| right as f64 / texts.len().max(1) as f64);
    let event = Classification {
        classes: classes.to_vec(),
        texts: texts.len(),
        predicted: predicted.clone(),
        accuracy,
        confusion: confusion.clone(),
    };
    out.result(Event::Classification(event), || {
        let longest = classes.iter().map(|c| c.chars().count()).max().unwrap_or(0);
        let (first, width) = (longest.max(16), longest.max(6));
        let mut lines = vec![match accuracy {
            Some(a) => format!(
                "classified {} texts: accuracy {a:.4} ({right} right)",
                texts.len()
            ),
            None => format!(
                "classified {} texts (the data give no classes)",
                texts.len()
            ),
        }];
        let mut head = format!("{:first$}", if labelled { "true \\ predicted" } else { "" });
        for class in classes {
            head.push_str(&format!("  {class:>width$}"));
        }
        lines.push(head);
        let rows: Vec<(&str, &[usize])> = if labelled {
            classes
                .iter()
                .map(String::as_str)
                .zip(confusion.iter().map(Vec::as_slice))
                .collect()
        } else {
            vec![("predicted", predicted.as_slice())]
        };
        for (name, counts) in rows {
            let mut line = format!("{name:first$}");
            for c in counts {
                line.push_str(&format!("  {c:>width$}"));
            }
            lines.push(line);
        }
        lines.join("\n")
    })
}
