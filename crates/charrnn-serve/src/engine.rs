//! The generation thread: it owns the model and one running batch. Requests arrive over a
//! bounded channel; each step, newly arrived ones are checked, primed and joined to the batch,
//! every row advances one character, and finished, timed-out or abandoned rows leave. A short
//! request therefore never waits for a long one.
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use charrnn_model::{Batcher, CharRnn, ModelError, RowRequest, SampleOn};
use charrnn_sampling::StopReason;
use charrnn_vocab::Vocab;
use tokio::sync::mpsc::UnboundedSender;

/// One request: `prompts.len() × n` rows, each sampled with the same settings.
#[derive(Debug)]
pub(crate) struct Job {
    /// One row request per choice, in choice order (prompt-major, then sample).
    pub rows: Vec<RowRequest>,
    /// Rows per prompt (the request's `n`): a prompt's tokens are counted once.
    pub per_prompt: usize,
    /// Where the job's updates go.
    pub reply: UnboundedSender<Update>,
    /// When its rows are ended, finished or not.
    pub deadline: Instant,
}

/// Why a choice ended, in the OpenAI vocabulary (plus `timeout`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Finish {
    /// `<eos>` or a stop string.
    Stop,
    /// `max_tokens` reached.
    Length,
    /// The request's time ran out.
    Timeout,
}

impl Finish {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::Timeout => "timeout",
        }
    }
}

/// What the generation thread tells a request.
#[derive(Debug)]
pub(crate) enum Update {
    /// The job was checked and joined the batch; its prompts hold this many characters.
    Accepted { prompt_tokens: usize },
    /// The job was refused (a 400): what is wrong.
    Refused(String),
    /// New text of one choice.
    Piece { index: usize, text: String },
    /// A choice ended after `tokens` generated ids.
    Done {
        index: usize,
        finish: Finish,
        tokens: usize,
    },
}

struct Owner {
    reply: UnboundedSender<Update>,
    index: usize,
    deadline: Instant,
}

/// Runs the batch until the channel closes and every row has ended.
pub(crate) fn run(
    model: &CharRnn,
    vocab: &Vocab,
    jobs: &Receiver<Job>,
    max_rows: usize,
    sample_on: Option<SampleOn>,
) {
    let Ok(mut batcher) = Batcher::new(model, vocab) else {
        return;
    };
    if let Some(on) = sample_on
        && batcher.sample_on(on).is_err()
    {
        return;
    }
    let mut owners: HashMap<u64, Owner> = HashMap::new();
    let mut next_key: u64 = 0;
    let mut open = true;
    while open || !batcher.is_empty() {
        // Take in what arrived: wait while idle, never while rows are running.
        let mut arrived = Vec::new();
        if batcher.is_empty() {
            match jobs.recv_timeout(Duration::from_millis(200)) {
                Ok(job) => arrived.push(job),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        }
        while open && batcher.len() + arrived.iter().map(|j| j.rows.len()).sum::<usize>() < max_rows
        {
            match jobs.try_recv() {
                Ok(job) => arrived.push(job),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => open = false,
            }
        }
        for job in arrived {
            admit(&mut batcher, &mut owners, &mut next_key, job);
        }
        // Rows whose client went away or whose time ran out leave before the step.
        let now = Instant::now();
        let mut gone = Vec::new();
        for (&key, owner) in &owners {
            if owner.reply.is_closed() {
                gone.push(key);
            } else if now >= owner.deadline {
                let _ = owner.reply.send(Update::Done {
                    index: owner.index,
                    finish: Finish::Timeout,
                    tokens: 0,
                });
                gone.push(key);
            }
        }
        if !gone.is_empty() {
            for key in &gone {
                owners.remove(key);
            }
            if batcher.remove(&gone).is_err() {
                fail_all(&mut batcher, &mut owners, "the batch could not drop a row");
                continue;
            }
        }
        let events = match batcher.step() {
            Ok(events) => events,
            Err(e) => {
                fail_all(&mut batcher, &mut owners, &e.to_string());
                continue;
            }
        };
        for event in events {
            let Some(owner) = owners.get(&event.key) else {
                continue;
            };
            if !event.piece.is_empty() {
                let _ = owner.reply.send(Update::Piece {
                    index: owner.index,
                    text: event.piece,
                });
            }
            if let Some(reason) = event.done {
                let finish = match reason {
                    StopReason::MaxLen => Finish::Length,
                    StopReason::Eos | StopReason::StopString(_) => Finish::Stop,
                };
                let _ = owner.reply.send(Update::Done {
                    index: owner.index,
                    finish,
                    tokens: event.generated - usize::from(reason == StopReason::Eos),
                });
                owners.remove(&event.key);
            }
        }
    }
}

/// Checks a job's rows and joins them to the batch, or refuses the whole job.
fn admit(
    batcher: &mut Batcher<'_>,
    owners: &mut HashMap<u64, Owner>,
    next_key: &mut u64,
    job: Job,
) {
    let mut prompt_tokens = 0;
    for (i, row) in job.rows.iter().enumerate() {
        match batcher.check(row) {
            // Prompts are counted once, not once per sample; `<bos>` is not counted.
            Ok(ids) if i % job.per_prompt.max(1) == 0 => {
                prompt_tokens += ids.len() - usize::from(row.prepend_bos)
            }
            Ok(_) => {}
            Err(e) => {
                let _ = job.reply.send(Update::Refused(refusal(&e)));
                return;
            }
        }
    }
    if job.reply.is_closed() {
        return;
    }
    let first = *next_key;
    *next_key += job.rows.len() as u64;
    let rows: Vec<(u64, RowRequest)> = (first..).zip(job.rows).collect();
    if let Err(e) = batcher.join(rows) {
        let _ = job.reply.send(Update::Refused(refusal(&e)));
        return;
    }
    let _ = job.reply.send(Update::Accepted { prompt_tokens });
    for index in 0..(*next_key - first) as usize {
        owners.insert(
            first + index as u64,
            Owner {
                reply: job.reply.clone(),
                index,
                deadline: job.deadline,
            },
        );
    }
}

fn refusal(e: &ModelError) -> String {
    match e {
        ModelError::InvalidInput(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Ends every running row with an error (the batch's tensors are not trusted any more).
fn fail_all(batcher: &mut Batcher<'_>, owners: &mut HashMap<u64, Owner>, message: &str) {
    let keys: Vec<u64> = owners.keys().copied().collect();
    for owner in owners.values() {
        let _ = owner
            .reply
            .send(Update::Refused(format!("generation failed: {message}")));
    }
    owners.clear();
    let _ = batcher.remove(&keys);
}
