//! `charrnn eval --per-text` and `--classify`: each text's own score, and each text's class by
//! likelihood under a label-conditioned model.

use anyhow::Result;
use charrnn_data::{Examples, StoreExamples, WithLabel};
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
        stdout_line(header)?;
    }
    // The total: each text under its own class, else (classifying unlabelled texts) under
    // the one predicted.
    let (mut nats, mut chars) = (0.0, 0);
    for text in &texts {
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
            format!(
                "{bits_per_char:.4} bits per character over {chars} characters ({} texts{})",
                texts.len(),
                if unlabelled {
                    ", each under its predicted class"
                } else {
                    ""
                }
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
