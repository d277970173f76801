//! The HTTP API in the OpenAI completions shape: request and response types, their checks,
//! and the handlers, which talk to the generation thread over channels.
use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{Html, IntoResponse, Response};
use charrnn_model::RowRequest;
use charrnn_sampling::{SamplingConfig, Temperature};
use charrnn_vocab::Unknown;
use futures_util::stream::{self, Stream};
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::coalesce;
use crate::engine::{Job, Update};

/// What the handlers share.
pub(crate) struct Shared {
    pub jobs: SyncSender<Job>,
    pub model_name: String,
    pub labels: Vec<String>,
    pub api_key: Option<String>,
    pub max_tokens: usize,
    pub max_n: usize,
    pub request_timeout: Duration,
    /// The playground page, with this server's limits in its inputs ([`playground_page`]).
    pub playground: String,
    pub shutting_down: AtomicBool,
    pub next_id: AtomicU64,
}

/// A prompt: one string or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Prompts {
    One(String),
    Many(Vec<String>),
}

/// A label: a class name or its index.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Label {
    Index(u64),
    Name(String),
}

/// `POST /v1/completions`, as OpenAI defines it, with charrnn's `top_k`, `min_p`, `label`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CompletionRequest {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    prompt: Option<Prompts>,
    #[serde(default)]
    max_tokens: Option<usize>,
    #[serde(default)]
    temperature: Option<f32>,
    #[serde(default)]
    top_p: Option<f32>,
    #[serde(default)]
    n: Option<usize>,
    #[serde(default)]
    stop: Option<Prompts>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    top_k: Option<usize>,
    #[serde(default)]
    min_p: Option<f32>,
    #[serde(default)]
    label: Option<Label>,
    /// Never stop at `<eos>` (as vLLM's extension): every choice runs to `max_tokens`.
    #[serde(default)]
    ignore_eos: Option<bool>,
    // Accepted as clients send them: at their neutral values only (see `check`).
    #[serde(default)]
    user: Option<Value>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    logprobs: Option<Value>,
    #[serde(default)]
    best_of: Option<usize>,
    #[serde(default)]
    echo: Option<bool>,
    #[serde(default)]
    presence_penalty: Option<f32>,
    #[serde(default)]
    frequency_penalty: Option<f32>,
}

/// The fields of [`CompletionRequest`], as requests name them (a test keeps the two equal):
/// what a deserialization error's path must start with to be taken for a parameter.
const FIELDS: [&str; 20] = [
    "model",
    "prompt",
    "max_tokens",
    "temperature",
    "top_p",
    "n",
    "stop",
    "seed",
    "stream",
    "top_k",
    "min_p",
    "label",
    "ignore_eos",
    "user",
    "stream_options",
    "logprobs",
    "best_of",
    "echo",
    "presence_penalty",
    "frequency_penalty",
];

/// `stream_options`: what OpenAI's streaming takes. Other keys (`include_obfuscation`) are
/// ignored, as the whole object was before `include_usage` was read.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamOptions {
    /// Ends a stream with one more chunk: no choices, and the request's `usage`.
    #[serde(default)]
    include_usage: Option<bool>,
}

/// A request body: a JSON object read as a `T`, or any other JSON value, refused as a whole.
/// A plain `T` would also take an array, filling a struct's fields in order (`[null, "the",
/// 3]` as model, prompt and max_tokens).
pub(crate) enum Body<T> {
    /// A JSON object, read as a `T`.
    Object(T),
    /// An array, a string, a number, a boolean or null.
    NotObject,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Body<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor<T>(PhantomData<T>);

        impl<'de, T: Deserialize<'de>> Visitor<'de> for BodyVisitor<T> {
            type Value = Body<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Body<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(Body::Object)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Body<T>, A::Error> {
                // Read to its end, so that the JSON is still checked to be well-formed.
                IgnoredAny.visit_seq(seq).map(|_| Body::NotObject)
            }

            fn visit_unit<E: de::Error>(self) -> Result<Body<T>, E> {
                Ok(Body::NotObject)
            }

            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Body<T>, E> {
                Ok(Body::NotObject)
            }

            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Body<T>, E> {
                Ok(Body::NotObject)
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Body<T>, E> {
                Ok(Body::NotObject)
            }

            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Body<T>, E> {
                Ok(Body::NotObject)
            }

            fn visit_str<E: de::Error>(self, _: &str) -> Result<Body<T>, E> {
                Ok(Body::NotObject)
            }
        }

        deserializer.deserialize_any(BodyVisitor(PhantomData))
    }
}

/// An error in the OpenAI shape.
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    param: Option<Cow<'static, str>>,
    retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn bad(param: Option<&'static str>, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            param: param.map(Cow::Borrowed),
            retry_after: None,
        }
    }

    fn status(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            param: None,
            retry_after: None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = match self.status {
            StatusCode::BAD_REQUEST
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::METHOD_NOT_ALLOWED => "invalid_request_error",
            StatusCode::UNAUTHORIZED => "authentication_error",
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            StatusCode::NOT_FOUND => "not_found_error",
            _ => "server_error",
        };
        let body = json!({"error": {"message": self.message, "type": kind, "param": self.param, "code": null}});
        let mut response = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        response
    }
}

/// The parameter that a request body's deserialization error is about: the path that
/// axum's `Json` (through `serde_path_to_error`) writes before serde's message
/// (`max_tokens: invalid type: ...`, `stream_options.include_usage: invalid type: ...`) when
/// it starts with a field of the request, or else the name serde's message quotes
/// (``unknown field `x`, expected ...``, ``duplicate field `x` ...``). `None` when neither
/// names one (a syntax error, a body that is not an object).
fn param_of(error: &str) -> Option<String> {
    for quoting in ["unknown field `", "duplicate field `", "missing field `"] {
        if let Some(at) = error.find(quoting) {
            let rest = &error[at + quoting.len()..];
            return rest.find('`').map(|end| rest[..end].to_owned());
        }
    }
    let (path, _) = error.split_once(": ")?;
    let first = path.split(['.', '[']).next()?;
    FIELDS.contains(&first).then(|| path.to_owned())
}

/// Compares two strings in time that depends on their lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the bearer token when the server has one.
pub(crate) fn authorize(shared: &Shared, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(key) = &shared.api_key else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if constant_time_eq(given.as_bytes(), key.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::status(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API key (send Authorization: Bearer KEY)",
        ))
    }
}

/// The checked request: its rows, and how to answer.
struct Checked {
    rows: Vec<RowRequest>,
    /// Samples per prompt (`n`).
    per_prompt: usize,
    stream: bool,
    /// A stream ends with a chunk of `usage` and no choices (`stream_options.include_usage`).
    include_usage: bool,
    choices: usize,
}

fn check(shared: &Shared, req: CompletionRequest) -> Result<Checked, ApiError> {
    if let Some(model) = &req.model
        && model != &shared.model_name
    {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            message: format!(
                "model {model:?} is not served here (this server has {:?})",
                shared.model_name
            ),
            param: Some(Cow::Borrowed("model")),
            retry_after: None,
        });
    }
    // What this server does not do is refused, not ignored: a client asking for log
    // probabilities or penalties would otherwise take plain samples for what it asked.
    if req
        .logprobs
        .as_ref()
        .is_some_and(|v| !v.is_null() && v != &Value::Bool(false))
    {
        return Err(ApiError::bad(
            Some("logprobs"),
            "logprobs is not supported (score texts with `charrnn eval --per-text`)",
        ));
    }
    if req.echo == Some(true) {
        return Err(ApiError::bad(Some("echo"), "echo is not supported"));
    }
    // Generating `best_of` candidates and returning the `n` most likely needs log
    // probabilities; `best_of` equal to `n` (as many candidates as choices returned) is what
    // every request does.
    let n = req.n.unwrap_or(1);
    if let Some(best_of) = req.best_of
        && best_of != n
    {
        return Err(ApiError::bad(
            Some("best_of"),
            format!("best_of is not supported (only equal to n, {n}; got {best_of})"),
        ));
    }
    for (param, value) in [
        ("presence_penalty", req.presence_penalty),
        ("frequency_penalty", req.frequency_penalty),
    ] {
        if value.is_some_and(|v| v != 0.0) {
            return Err(ApiError::bad(
                Some(param),
                format!("{param} is not supported (only 0)"),
            ));
        }
    }
    let prompts = match req.prompt {
        None => vec![String::new()],
        Some(Prompts::One(p)) => vec![p],
        Some(Prompts::Many(ps)) if ps.is_empty() => {
            return Err(ApiError::bad(Some("prompt"), "prompt is an empty list"));
        }
        Some(Prompts::Many(ps)) => ps,
    };
    let max_tokens = req.max_tokens.unwrap_or(100);
    if max_tokens == 0 || max_tokens > shared.max_tokens {
        return Err(ApiError::bad(
            Some("max_tokens"),
            format!(
                "max_tokens must be in 1..={} (got {max_tokens})",
                shared.max_tokens
            ),
        ));
    }
    if n == 0 || n > shared.max_n {
        return Err(ApiError::bad(
            Some("n"),
            format!("n must be in 1..={} (got {n})", shared.max_n),
        ));
    }
    // Saturating: `--max-n` may be as large as usize holds.
    let most_choices = shared.max_n.saturating_mul(4);
    if prompts.len().saturating_mul(n) > most_choices {
        return Err(ApiError::bad(
            Some("prompt"),
            format!(
                "{} prompts × n = {n} is more than {most_choices} choices",
                prompts.len(),
            ),
        ));
    }
    // OpenAI's convention: temperature 0 is greedy decoding.
    let temperature = match req.temperature {
        None => Temperature::Fixed(1.0),
        Some(0.0) => Temperature::Greedy,
        Some(t) => Temperature::Fixed(t),
    };
    let sampling = SamplingConfig {
        temperature,
        top_k: req.top_k,
        top_p: req.top_p.filter(|&p| p != 1.0),
        min_p: req.min_p.filter(|&p| p != 0.0),
        banned: Vec::new(),
    };
    if let Err(e) = sampling.validate() {
        let text = e.to_string();
        let param = ["temperature", "top_k", "top_p", "min_p"]
            .into_iter()
            .find(|p| text.contains(p));
        return Err(ApiError::bad(param, text));
    }
    let stop = match req.stop {
        None => Vec::new(),
        Some(Prompts::One(s)) => vec![s],
        Some(Prompts::Many(s)) => s,
    };
    if stop.len() > 4 || stop.iter().any(String::is_empty) {
        return Err(ApiError::bad(
            Some("stop"),
            "stop takes at most 4 non-empty strings",
        ));
    }
    let label = match req.label {
        None => None,
        Some(Label::Index(i)) => Some(u32::try_from(i).unwrap_or(u32::MAX)),
        Some(Label::Name(name)) => Some(label_index(&shared.labels, &name)?),
    };
    let seed = req
        .seed
        .unwrap_or_else(|| shared.next_id.load(Ordering::Relaxed));
    let mut rows = Vec::with_capacity(prompts.len() * n);
    for prompt in &prompts {
        for _ in 0..n {
            rows.push(RowRequest {
                prompt: prompt.clone(),
                label,
                sampling: sampling.clone(),
                seed,
                // The sample's index in the whole request, as `charrnn generate` numbers
                // its samples: every prompt's samples draw streams of their own.
                stream: rows.len(),
                max_len: max_tokens,
                stop_strings: stop.clone(),
                unknown: Unknown::Error,
                prepend_bos: true,
                ignore_eos: req.ignore_eos.unwrap_or(false),
            });
        }
    }
    let _ = req.user;
    Ok(Checked {
        choices: rows.len(),
        per_prompt: n,
        rows,
        stream: req.stream.unwrap_or(false),
        include_usage: req
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
    })
}

fn label_index(labels: &[String], name: &str) -> Result<u32, ApiError> {
    if let Some(i) = labels.iter().position(|l| l.eq_ignore_ascii_case(name)) {
        return Ok(i as u32);
    }
    // By index only when no class is named by a number, and within the classes.
    let numbered = labels.iter().any(|l| l.trim().parse::<i64>().is_ok());
    if let Ok(i) = name.trim().parse::<u32>()
        && !numbered
        && (i as usize) < labels.len()
    {
        return Ok(i);
    }
    Err(ApiError::bad(
        Some("label"),
        if labels.is_empty() {
            format!("label {name:?}: this model takes no label")
        } else {
            format!(
                "label {name:?} is not a class of this model ({})",
                labels.join(", ")
            )
        },
    ))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `POST /v1/completions`.
pub(crate) async fn completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Json<Body<CompletionRequest>>, JsonRejection>,
) -> Result<Response, ApiError> {
    authorize(&shared, &headers)?;
    let Json(body) = body.map_err(|e| {
        let status = e.status();
        // Only a data error (the JSON is well-formed) can be about a field; its source is
        // serde's error with its path, without axum's preamble.
        let param = match &e {
            JsonRejection::JsonDataError(data) => std::error::Error::source(data)
                .and_then(|inner| param_of(&inner.to_string()))
                .map(Cow::Owned),
            _ => None,
        };
        // A body over the limit is 413 however axum noticed it (a declared length, or one
        // found while reading a chunked body).
        let text = e.body_text();
        let too_large = status == StatusCode::PAYLOAD_TOO_LARGE || text.contains("length limit");
        ApiError {
            status: if too_large {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            },
            message: match too_large {
                true => "the request body is larger than the server takes (its --max-body-kib)"
                    .to_owned(),
                false => plain_words(&text),
            },
            param,
            retry_after: None,
        }
    })?;
    let Body::Object(req) = body else {
        return Err(ApiError::bad(
            None,
            "the request body must be a JSON object",
        ));
    };
    let checked = check(&shared, req)?;
    if shared.shutting_down.load(Ordering::Relaxed) {
        return Err(ApiError::status(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        ));
    }
    let (reply, mut updates) = unbounded_channel();
    let job = Job {
        rows: checked.rows,
        per_prompt: checked.per_prompt,
        reply,
        deadline: Instant::now() + shared.request_timeout,
    };
    match shared.jobs.try_send(job) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            return Err(ApiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: "the queue is full; retry shortly".into(),
                param: None,
                retry_after: Some(1),
            });
        }
        Err(TrySendError::Disconnected(_)) => {
            return Err(ApiError::status(
                StatusCode::SERVICE_UNAVAILABLE,
                "the generator has stopped",
            ));
        }
    }
    let prompt_tokens = match updates.recv().await {
        Some(Update::Accepted { prompt_tokens }) => prompt_tokens,
        Some(Update::Refused(message)) => {
            let param = if message.contains("label") {
                Some("label")
            } else {
                Some("prompt")
            };
            return Err(ApiError::bad(param, message));
        }
        _ => {
            return Err(ApiError::status(
                StatusCode::SERVICE_UNAVAILABLE,
                "the generator has stopped",
            ));
        }
    };
    let id = format!("cmpl-{}", shared.next_id.fetch_add(1, Ordering::Relaxed));
    let head = Head {
        id,
        created: now_secs(),
        model: shared.model_name.clone(),
    };
    if checked.stream {
        let stream = sse_stream(
            head,
            updates,
            checked.choices,
            prompt_tokens,
            checked.include_usage,
        );
        Ok(Sse::new(stream).into_response())
    } else {
        collect(head, updates, checked.choices, prompt_tokens).await
    }
}

struct Head {
    id: String,
    created: u64,
    model: String,
}

#[derive(Serialize)]
struct Choice {
    text: String,
    index: usize,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

fn usage(prompt_tokens: usize, completion_tokens: usize) -> Value {
    json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
           "total_tokens": prompt_tokens + completion_tokens})
}

async fn collect(
    head: Head,
    mut updates: UnboundedReceiver<Update>,
    n: usize,
    prompt_tokens: usize,
) -> Result<Response, ApiError> {
    let mut choices: Vec<Choice> = (0..n)
        .map(|index| Choice {
            text: String::new(),
            index,
            logprobs: None,
            finish_reason: None,
        })
        .collect();
    let mut open = n;
    let mut completion_tokens = 0;
    while open > 0 {
        match updates.recv().await {
            Some(Update::Piece { index, text }) => choices[index].text.push_str(&text),
            Some(Update::Done {
                index,
                finish,
                tokens,
            }) => {
                choices[index].finish_reason = Some(finish.as_str());
                completion_tokens += tokens;
                open -= 1;
            }
            Some(Update::Refused(message)) => {
                return Err(ApiError::status(StatusCode::INTERNAL_SERVER_ERROR, message));
            }
            Some(Update::Accepted { .. }) => {}
            None => {
                return Err(ApiError::status(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the generator has stopped",
                ));
            }
        }
    }
    let body = json!({"id": head.id, "object": "text_completion", "created": head.created,
                      "model": head.model, "choices": choices,
                      "usage": usage(prompt_tokens, completion_tokens)});
    Ok(Json(body).into_response())
}

/// One chunk of a stream: `choices` (one, or none in the usage chunk) and `usage` (null but
/// in the usage chunk), as OpenAI streams them.
fn chunk(head: &Head, choices: &[Choice], usage: Option<Value>) -> Event {
    let body = json!({"id": head.id, "object": "text_completion", "created": head.created,
                      "model": head.model, "choices": choices, "usage": usage});
    Event::default().data(body.to_string())
}

/// The events of a streamed request: the first character at once, then what arrives in
/// batches ([`coalesce`]), one event per choice, then (with
/// `include_usage`) a chunk with no choices and the request's `usage`, then `[DONE]`.
fn sse_stream(
    head: Head,
    updates: UnboundedReceiver<Update>,
    n: usize,
    prompt_tokens: usize,
    include_usage: bool,
) -> impl Stream<Item = Result<Event, std::convert::Infallible>> {
    struct S {
        head: Head,
        updates: UnboundedReceiver<Update>,
        pending: VecDeque<Update>,
        started: bool,
        open: usize,
        completion_tokens: usize,
        prompt_tokens: usize,
        /// The usage chunk is still to be sent: asked for, and no choice failed.
        usage_due: bool,
        ended: bool,
    }
    let state = S {
        head,
        updates,
        pending: VecDeque::new(),
        started: false,
        open: n,
        completion_tokens: 0,
        prompt_tokens,
        usage_due: include_usage,
        ended: false,
    };
    stream::unfold(state, |mut s| async move {
        if s.ended {
            return None;
        }
        loop {
            let Some(update) = s.pending.pop_front() else {
                if s.open == 0 {
                    if s.usage_due {
                        s.usage_due = false;
                        let usage = usage(s.prompt_tokens, s.completion_tokens);
                        return Some((Ok(chunk(&s.head, &[], Some(usage))), s));
                    }
                    s.ended = true;
                    return Some((Ok(Event::default().data("[DONE]")), s));
                }
                let batch = coalesce::next_batch(&mut s.updates, s.started).await;
                if batch.is_empty() {
                    // The generator went away with choices open: their usage is not known.
                    s.open = 0;
                    s.usage_due = false;
                }
                s.pending.extend(batch);
                continue;
            };
            let event = match update {
                Update::Piece { index, text } => {
                    s.started = true;
                    chunk(
                        &s.head,
                        &[Choice {
                            text,
                            index,
                            logprobs: None,
                            finish_reason: None,
                        }],
                        None,
                    )
                }
                Update::Done {
                    index,
                    finish,
                    tokens,
                } => {
                    s.open = s.open.saturating_sub(1);
                    s.completion_tokens += tokens;
                    chunk(
                        &s.head,
                        &[Choice {
                            text: String::new(),
                            index,
                            logprobs: None,
                            finish_reason: Some(finish.as_str()),
                        }],
                        None,
                    )
                }
                Update::Accepted { .. } => continue,
                Update::Refused(message) => {
                    s.open = 0;
                    s.usage_due = false;
                    s.pending.clear();
                    Event::default().data(
                        json!({"error": {"message": message, "type": "server_error"}}).to_string(),
                    )
                }
            };
            return Some((Ok(event), s));
        }
    })
}

/// `GET /v1/models`.
pub(crate) async fn models(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    authorize(&shared, &headers)?;
    Ok(Json(json!({"object": "list", "data": [{
        "id": shared.model_name, "object": "model", "created": 0, "owned_by": "charrnn",
        "labels": shared.labels,
    }]})))
}

/// `GET /health`.
pub(crate) async fn health(State(shared): State<Arc<Shared>>) -> Response {
    if shared.shutting_down.load(Ordering::Relaxed) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "shutting_down"})),
        )
            .into_response()
    } else {
        Json(json!({"status": "ok", "model": shared.model_name})).into_response()
    }
}

/// The playground page for a server with these limits: its `samples` and `length` inputs go
/// up to `max_n` and `max_tokens`, and start at 3 and 200 or the limit when lower.
pub(crate) fn playground_page(max_n: usize, max_tokens: usize) -> String {
    include_str!("playground.html")
        .replace("{{max_n}}", &max_n.to_string())
        .replace("{{n}}", &max_n.min(3).to_string())
        .replace("{{max_tokens}}", &max_tokens.to_string())
        .replace("{{tokens}}", &max_tokens.min(200).to_string())
}

/// `GET /`: the playground.
pub(crate) async fn playground(State(shared): State<Arc<Shared>>) -> Html<String> {
    Html(shared.playground.clone())
}

/// Any other path.
/// A method an endpoint does not take: 405, with the `Allow` header and a message naming the
/// method it takes.
pub(crate) fn wrong_method(allow: &'static str, path: &'static str) -> Response {
    let mut response = ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        message: format!("{path} takes {allow} requests only"),
        param: None,
        retry_after: None,
    }
    .into_response();
    response
        .headers_mut()
        .insert(axum::http::header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// serde's words for a request body that does not parse, as a client's programmer reads them:
/// the types are the API's (a whole number, a string or an array of strings), not Rust's,
/// and axum's preamble goes.
fn plain_words(text: &str) -> String {
    const WORDS: [(&str, &str); 10] = [
        (
            "Failed to deserialize the JSON body into the target type: ",
            "",
        ),
        (
            "Failed to parse the request body as JSON: ",
            "the body is not valid JSON: ",
        ),
        (
            "data did not match any variant of untagged enum Prompts",
            "expected a string or an array of strings",
        ),
        (
            "data did not match any variant of untagged enum Label",
            "expected a class name (a string) or a class index (a whole number from 0)",
        ),
        ("expected usize", "expected a whole number from 0"),
        ("expected u64", "expected a whole number from 0"),
        ("expected u32", "expected a whole number from 0"),
        ("expected i64", "expected a whole number"),
        ("expected f32", "expected a number"),
        ("expected f64", "expected a number"),
    ];
    WORDS
        .iter()
        .fold(text.to_owned(), |t, (from, to)| t.replace(from, to))
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::status(
        StatusCode::NOT_FOUND,
        "no such endpoint (try POST /v1/completions)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_by_name_and_by_index_only_when_unambiguous() {
        let names = |n: &[&str]| n.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let news = names(&["World", "Sports"]);
        assert_eq!(label_index(&news, "sports").ok(), Some(1));
        assert_eq!(label_index(&news, "1").ok(), Some(1));
        assert!(label_index(&news, "2").is_err(), "out of range");
        // Classes named by numbers: names only, never an index that means another class.
        let numbered = names(&["1", "2"]);
        assert_eq!(label_index(&numbered, "1").ok(), Some(0));
        assert!(label_index(&numbered, "0").is_err());
        assert!(label_index(&[], "0").is_err(), "a model without classes");
    }

    #[test]
    fn fields_are_the_requests_fields() {
        let err = serde_json::from_str::<CompletionRequest>(r#"{"no such field": 1}"#)
            .expect_err("an unknown field was taken")
            .to_string();
        let (_, expected) = err.split_once("expected one of ").unwrap();
        let named: Vec<&str> = expected
            .split(", ")
            .map(|f| f.split('`').nth(1).unwrap())
            .collect();
        assert_eq!(named, FIELDS);
    }

    #[test]
    fn a_deserialization_error_names_its_parameter() {
        let cases = [
            (
                "max_tokens: invalid type: string \"a\", expected usize at line 1 column 20",
                Some("max_tokens"),
            ),
            (
                "stream_options.include_usage: invalid type: integer `1`, expected a boolean",
                Some("stream_options.include_usage"),
            ),
            (
                "prompt: data did not match any variant of untagged enum Prompts",
                Some("prompt"),
            ),
            (
                "bogus: unknown field `bogus`, expected one of `model`, `prompt`",
                Some("bogus"),
            ),
            (
                "unknown field `bogus`, expected one of `model`",
                Some("bogus"),
            ),
            (
                "duplicate field `prompt` at line 1 column 50",
                Some("prompt"),
            ),
            // Without a path, serde's own words before a colon are not a parameter.
            ("invalid type: map, expected usize at line 1 column 1", None),
            ("expected value at line 1 column 1", None),
        ];
        for (error, param) in cases {
            assert_eq!(param_of(error).as_deref(), param, "{error}");
        }
    }

    #[test]
    fn the_playground_carries_the_limits() {
        let page = playground_page(2, 50);
        assert!(page.contains(r#"id="n" type="number" min="1" max="2" value="2""#));
        assert!(page.contains(r#"id="max_tokens" type="number" min="1" max="50" value="50""#));
        assert!(!page.contains("{{"), "every placeholder is filled");
        let page = playground_page(16, 4096);
        assert!(page.contains(r#"max="16" value="3""#));
        assert!(page.contains(r#"max="4096" value="200""#));
    }

    #[test]
    fn keys_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
    }
}
