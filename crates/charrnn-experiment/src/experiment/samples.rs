//! The report's samples: greedy, at each temperature, and per class for a label-conditioned
//! model, each group with its statistics.
use std::collections::BTreeMap;
use std::path::Path;

use super::options::GREEDY_PROMPT;
use super::runs::CommonRun;
use crate::error::Result;
use crate::events::{GeneratedSample, TrainDone};
use crate::report::SampleGroup;
use crate::runner::{Commands, path, s};
use crate::stats::{SampleText, TrainingCorpus, sample_stats};

/// The temperature of the per-class samples.
pub const CLASS_TEMPERATURE: f64 = 0.8;

/// Draws every group of samples from `run`; returns them and, when there are no per-class
/// samples, why.
pub(crate) fn draw(
    common: &CommonRun<'_>,
    cli: &mut Commands<'_>,
    run: &Path,
    done: &TrainDone,
    corpus: &TrainingCorpus,
) -> Result<(Vec<SampleGroup>, Option<String>)> {
    let opts = common.opts;
    let mut groups = Vec::new();
    let greedy = cli.generate(&generate_args(
        common,
        run,
        &[s(GREEDY_PROMPT)],
        1,
        None,
        None,
    ))?;
    groups.push(group("greedy".into(), greedy, corpus));
    let drawn = cli.generate(&generate_args(
        common,
        run,
        &opts.prompts,
        opts.samples_per_prompt,
        Some(&opts.temperatures),
        None,
    ))?;
    for (t, samples) in by_temperature(drawn, &opts.temperatures) {
        groups.push(group(format!("T = {t:?}"), samples, corpus));
    }
    if done.labels.is_empty() {
        let note = "No per-class samples: the model is not label-conditioned (the notebook preset \
                    never is; the default preset is unless told not to be).";
        return Ok((groups, Some(note.into())));
    }
    for class in &done.labels {
        let args = generate_args(
            common,
            run,
            &[String::new()],
            opts.samples_per_prompt,
            Some(&[CLASS_TEMPERATURE]),
            Some(class),
        );
        let samples = cli.generate(&args)?;
        groups.push(group(
            format!("{class}, T = {CLASS_TEMPERATURE}"),
            samples,
            corpus,
        ));
    }
    Ok((groups, None))
}

fn generate_args(
    common: &CommonRun<'_>,
    run: &Path,
    prompts: &[String],
    n: usize,
    temperatures: Option<&[f64]>,
    label: Option<&str>,
) -> Vec<String> {
    let mut args = vec![s("generate"), path(run)];
    for p in prompts {
        args.extend([s("--prompt"), p.clone()]);
    }
    args.extend([s("-n"), n.to_string()]);
    match temperatures {
        None => args.push(s("--greedy")),
        Some(ts) => {
            let list: Vec<String> = ts.iter().map(f64::to_string).collect();
            args.extend([s("--temperature"), list.join(",")]);
        }
    }
    if let Some(label) = label {
        args.extend([s("--label"), label.to_owned()]);
    }
    args.extend([
        s("--max-len"),
        common.opts.max_len.to_string(),
        s("--seed"),
        common.opts.seed.to_string(),
    ]);
    common.run_flags(&mut args);
    args
}

/// Groups samples by their temperature, in the order of `temperatures` (a printed temperature
/// is matched to the nearest asked one: the CLI keeps it as an f32).
pub(crate) fn by_temperature(
    samples: Vec<GeneratedSample>,
    temperatures: &[f64],
) -> Vec<(f64, Vec<GeneratedSample>)> {
    let mut groups: BTreeMap<usize, Vec<GeneratedSample>> = BTreeMap::new();
    for sample in samples {
        let Some(t) = sample.temperature.map(f64::from) else {
            continue;
        };
        let nearest = temperatures
            .iter()
            .enumerate()
            .min_by(|a, b| (a.1 - t).abs().total_cmp(&(b.1 - t).abs()))
            .map(|(i, _)| i);
        if let Some(i) = nearest {
            groups.entry(i).or_default().push(sample);
        }
    }
    temperatures
        .iter()
        .enumerate()
        .map(|(i, &t)| (t, groups.remove(&i).unwrap_or_default()))
        .collect()
}

fn group(title: String, samples: Vec<GeneratedSample>, corpus: &TrainingCorpus) -> SampleGroup {
    let texts: Vec<SampleText> = samples.iter().map(SampleText::from).collect();
    SampleGroup {
        title,
        stats: sample_stats(&texts, corpus),
        samples,
    }
}
