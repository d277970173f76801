//! A generation server for charrnn checkpoints.
//!
//! - **Continuous batching.** The model and one running batch live on a generation thread
//!   ([`charrnn_model::Batcher`]). Each step, requests that arrived are checked, primed (one
//!   network call per prompt length) and join the batch; finished ones leave. A short request
//!   never waits for a long one, and a seeded request samples exactly what `charrnn generate`
//!   samples with the same settings.
//! - **An OpenAI-style API.** `POST /v1/completions` (`prompt` as a string or a list,
//!   `max_tokens`, `temperature` (0 is greedy), `top_p`, `n`, `stop`, `seed`, `stream` as
//!   server-sent events ending with `data: [DONE]` (the first character at once, then what
//!   arrived in each 20 ms as one event per choice; with `stream_options.include_usage`, a
//!   last chunk with no choices and the `usage`), `usage`; and charrnn's `top_k`, `min_p`,
//!   `label`), `GET /v1/models`, `GET /health`. At most `4 × max_n` choices (prompts × `n`) a
//!   request. Errors are JSON in OpenAI's shape: 400 for a bad request (`param` names the
//!   field, unknown prompt characters are named), 401 without the API key, 413 for a body
//!   over the limit, 429 with `Retry-After` when the queue is full, 503 while shutting down.
//! - **A web playground** at `/`: one page embedded in the binary, its inputs bounded by the
//!   server's `max_n` and `max_tokens`.
//! - **Shutdown** when `shutdown` resolves: no new requests, requests in flight finish, up to
//!   a grace period.
//!
//! The HTTP handlers never touch a tensor: they talk to the generation thread over channels.
#![warn(
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]
mod api;
mod coalesce;
mod engine;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use charrnn_model::Checkpoint;
use charrnn_model::tch::Device;

/// How to serve.
#[derive(Clone, Debug, PartialEq)]
pub struct ServeConfig {
    /// Where to listen (port 0: any free port).
    pub addr: SocketAddr,
    /// The bearer token `/v1/*` requires (`None`: no authentication).
    pub api_key: Option<String>,
    /// Requests waiting to join the batch before new ones get 429 (at most [`MAX_QUEUE`]).
    pub max_queue: usize,
    /// Most rows (samples) generated together.
    pub max_batch: usize,
    /// The largest `max_tokens` a request may ask for.
    pub max_tokens: usize,
    /// The largest `n`.
    pub max_n: usize,
    /// The largest request body, in bytes.
    pub max_body_bytes: usize,
    /// A request's rows are ended after this long (at most a century: longer is a century).
    pub request_timeout: Duration,
    /// After shutdown begins, requests in flight get this long to finish.
    pub shutdown_grace: Duration,
    /// The model's name in the API (`model` in requests and responses).
    pub model_name: String,
    /// Where ids are drawn (`None`: on the device for CUDA, on the host for the CPU; both
    /// give the same samples).
    pub sample_on: Option<charrnn_model::SampleOn>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            api_key: None,
            max_queue: 256,
            max_batch: 128,
            max_tokens: 4096,
            max_n: 16,
            max_body_bytes: 1 << 20,
            request_timeout: Duration::from_secs(300),
            shutdown_grace: Duration::from_secs(10),
            model_name: "charrnn".into(),
            sample_on: None,
        }
    }
}

/// The longest queue [`ServeConfig::max_queue`] may set: its slots are allocated when the
/// server starts (about 60 bytes each), and a million waiting requests are more than a process
/// has connections for.
pub const MAX_QUEUE: usize = 1 << 20;

/// The longest request timeout, a century: no timeout in practice, yet a deadline that an
/// [`std::time::Instant`] holds (`Duration::MAX` from now overflows one).
const LONGEST_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// What can stop the server from starting or running.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The checkpoint could not be loaded.
    #[error(transparent)]
    Model(#[from] charrnn_model::ModelError),
    /// The address could not be bound, or the server failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A setting out of range.
    #[error("invalid server setting: {0}")]
    Config(String),
}

/// Loads `checkpoint` (a run or checkpoint directory) on `device`, binds `config.addr`, calls
/// `on_ready` with the bound address, and serves until `shutdown` resolves and the requests in
/// flight are done (or the grace period ends). Blocks the calling thread.
pub fn serve(
    checkpoint: &Path,
    device: Device,
    config: &ServeConfig,
    on_ready: impl FnOnce(SocketAddr),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    if config.max_queue == 0 || config.max_batch == 0 || config.max_tokens == 0 || config.max_n == 0
    {
        return Err(ServeError::Config(
            "queue, batch, max_tokens and n limits must be at least 1".into(),
        ));
    }
    if config.max_queue > MAX_QUEUE {
        return Err(ServeError::Config(format!(
            "the queue limit must be at most {MAX_QUEUE} (got {})",
            config.max_queue
        )));
    }
    // An empty key would be no authentication at all: a request without the header matches it.
    if config.api_key.as_deref() == Some("") {
        return Err(ServeError::Config(
            "the API key is empty (None serves without authentication)".into(),
        ));
    }
    // Load on the calling thread first, so a bad checkpoint is an error before binding.
    let ckpt = Checkpoint::load(checkpoint, device)?;
    let labels = ckpt.model.config().label_names.clone();
    let labels = if labels.is_empty() {
        (0..ckpt.model.config().num_labels.unwrap_or(0))
            .map(|i| i.to_string())
            .collect()
    } else {
        labels
    };
    let (jobs, queue) = std::sync::mpsc::sync_channel(config.max_queue);
    let max_rows = config.max_batch;
    let sample_on = config.sample_on;
    let generator = std::thread::Builder::new()
        .name("charrnn-generate".into())
        .spawn(move || engine::run(&ckpt.model, &ckpt.vocab, &queue, max_rows, sample_on))
        .map_err(|source| ServeError::Io {
            what: "cannot start the generation thread".into(),
            source,
        })?;
    let shared = Arc::new(api::Shared {
        jobs,
        model_name: config.model_name.clone(),
        labels,
        api_key: config.api_key.clone(),
        max_tokens: config.max_tokens,
        max_n: config.max_n,
        request_timeout: config.request_timeout.min(LONGEST_TIMEOUT),
        playground: api::playground_page(config.max_n, config.max_tokens),
        shutting_down: AtomicBool::new(false),
        next_id: AtomicU64::new(1),
    });
    let app = Router::new()
        .route(
            "/",
            get(api::playground).fallback(|| async { api::wrong_method("GET", "/") }),
        )
        .route(
            "/health",
            get(api::health).fallback(|| async { api::wrong_method("GET", "/health") }),
        )
        .route(
            "/v1/models",
            get(api::models).fallback(|| async { api::wrong_method("GET", "/v1/models") }),
        )
        .route(
            "/v1/completions",
            post(api::completions)
                .fallback(|| async { api::wrong_method("POST", "/v1/completions") }),
        )
        .fallback(api::not_found)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(Arc::clone(&shared));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| ServeError::Io {
            what: "cannot start the async runtime".into(),
            source,
        })?;
    let grace = config.shutdown_grace;
    let addr = config.addr;
    let flag = Arc::clone(&shared);
    let result = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Io {
                what: format!("cannot listen on {addr}"),
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| ServeError::Io {
            what: "cannot read the bound address".into(),
            source,
        })?;
        on_ready(bound);
        let (begun_tx, begun_rx) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            shutdown.await;
            flag.shutting_down.store(true, Ordering::Relaxed);
            let _ = begun_tx.send(());
        });
        let deadline = async move {
            if begun_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            served = server => served.map_err(|source| ServeError::Io { what: "the server failed".into(), source }),
            () = deadline => Ok(()),
        }
    });
    // Closing the queue ends the generation thread once its rows are done.
    drop(shared);
    drop(runtime);
    let _ = generator.join();
    result
}

/// A future that resolves on SIGINT or SIGTERM (Ctrl-C elsewhere).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
