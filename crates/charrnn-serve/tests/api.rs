//! The server against real HTTP on 127.0.0.1: a checkpoint made here (random weights, `<eos>`
//! made unlikely so lengths are controlled), the server on a free port in a thread, and a
//! small HTTP/1.1 client over `TcpStream`.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use charrnn_model::tch::Device;
use charrnn_model::{
    CharRnn, Checkpoint, CheckpointConfig, GenerateOptions, ModelConfig, generate,
};
use charrnn_sampling::SamplingConfig;
use charrnn_serve::{ServeConfig, serve};
use charrnn_vocab::{Vocab, VocabOptions};
use serde_json::{Value, json};

const TEXTS: [&str; 3] = [
    "the quick brown fox jumps over the lazy dog",
    "pack my box with five dozen liquor jugs",
    "sphinx of black quartz judge my vow",
];

/// Writes a checkpoint with `<eos>` almost never sampled (unless `eos` is set).
fn checkpoint(dir: &Path, labels: Option<usize>) {
    let vocab = Vocab::build(TEXTS, &VocabOptions::default()).unwrap();
    let mut config = ModelConfig::new(vocab.len());
    config.hidden = 16;
    config.num_layers = 1;
    config.num_labels = labels;
    if let Some(n) = labels {
        config.label_names = (0..n).map(|i| format!("class{i}")).collect();
    }
    let model = CharRnn::new(&config, Device::Cpu, 3).unwrap();
    {
        let _guard = charrnn_model::tch::no_grad_guard();
        for (name, t) in model.named_parameters() {
            if name == "output.bias" {
                let _ = t
                    .shallow_clone()
                    .get(i64::from(vocab.eos_id()))
                    .fill_(-30.0);
            }
        }
    }
    let ckpt = Checkpoint {
        config: CheckpointConfig::new(config),
        model,
        vocab,
    };
    ckpt.save(dir).unwrap();
}

struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(config: ServeConfig, labels: Option<usize>) -> Server {
        let dir = tempfile::tempdir().unwrap();
        checkpoint(dir.path(), labels);
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let path = dir.path().to_owned();
        let thread = std::thread::spawn(move || {
            serve(
                &path,
                Device::Cpu,
                &ServeConfig {
                    addr: "127.0.0.1:0".parse().unwrap(),
                    ..config
                },
                |addr| addr_tx.send(addr).unwrap(),
                async move {
                    let _ = stop_rx.await;
                },
            )
            .unwrap();
        });
        let addr = addr_rx.recv_timeout(Duration::from_secs(60)).unwrap();
        Server {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
            _dir: dir,
        }
    }

    fn post(&self, body: &Value) -> Reply {
        http(self.addr, "POST", "/v1/completions", &[], &body.to_string())
    }

    fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The `data:` payloads of a server-sent event stream.
    fn events(&self) -> Vec<String> {
        self.body
            .lines()
            .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
            .map(str::to_owned)
            .collect()
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    out
}

fn text_of(reply: &Reply) -> Vec<String> {
    let v = reply.json();
    v["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap().to_owned())
        .collect()
}

/// The text of each choice in a stream, and whether it ended with `[DONE]`.
fn streamed(reply: &Reply, n: usize) -> (Vec<String>, bool) {
    let mut texts = vec![String::new(); n];
    let events = reply.events();
    for e in &events {
        if e == "[DONE]" {
            continue;
        }
        let v: Value = serde_json::from_str(e).unwrap();
        for c in v["choices"].as_array().unwrap() {
            texts[c["index"].as_u64().unwrap() as usize].push_str(c["text"].as_str().unwrap());
        }
    }
    (texts, events.last().map(String::as_str) == Some("[DONE]"))
}

#[test]
fn completions_streams_seeds_and_match_offline_generation() {
    let server = Server::start(ServeConfig::default(), None);
    let body = json!({"prompt": "the ", "max_tokens": 40, "seed": 7, "temperature": 0.9});
    let reply = server.post(&body);
    assert_eq!(reply.status, 200, "{reply:?}");
    let v = reply.json();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 40);
    assert_eq!(v["usage"]["prompt_tokens"], 4);
    let text = text_of(&reply)[0].clone();
    assert_eq!(text.chars().count(), 40);
    // The same seed gives the same text, streamed or not.
    assert_eq!(text_of(&server.post(&body)), vec![text.clone()]);
    let mut stream_body = body.clone();
    stream_body["stream"] = true.into();
    let reply = server.post(&stream_body);
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/event-stream")
    );
    let (texts, done) = streamed(&reply, 1);
    assert!(done, "the stream ends with [DONE]: {:?}", reply.body);
    assert_eq!(texts, vec![text.clone()]);
    // Offline generation with the same settings and seed gives the same text.
    let ckpt = Checkpoint::load(server._dir.path(), Device::Cpu).unwrap();
    let offline = generate(
        &ckpt.model,
        &ckpt.vocab,
        &["the "],
        &GenerateOptions {
            sampling: SamplingConfig::with_temperature(0.9),
            max_len: 40,
            seed: 7,
            ..GenerateOptions::default()
        },
    )
    .unwrap();
    assert_eq!(offline[0].text, text);

    // n > 1 over a list of prompts: prompt-major choices, stream k of the seed each.
    let reply = server.post(
        &json!({"prompt": ["the ", "a"], "n": 3, "max_tokens": 12, "seed": 7, "temperature": 0.9}),
    );
    let texts = text_of(&reply);
    assert_eq!(texts.len(), 6);
    assert_eq!(texts[0], text.chars().take(12).collect::<String>());
    assert_ne!(texts[0], texts[1], "samples differ");
    let indices: Vec<u64> = reply.json()["choices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [0, 1, 2, 3, 4, 5]);
    // Each choice draws the stream of its index in the request, as `charrnn generate` draws
    // sample K's: the second prompt's samples are not the first one's streams again.
    let each = ["the ", "the ", "the ", "a", "a", "a"];
    let offline = generate(
        &ckpt.model,
        &ckpt.vocab,
        &each,
        &GenerateOptions {
            sampling: SamplingConfig::with_temperature(0.9),
            max_len: 12,
            seed: 7,
            ..GenerateOptions::default()
        },
    )
    .unwrap();
    let offline: Vec<String> = offline.into_iter().map(|s| s.text).collect();
    assert_eq!(texts, offline);

    // A server sampling on the device (CPU tensors here, the CUDA default) answers the same.
    let on_device = Server::start(
        ServeConfig {
            sample_on: Some(charrnn_model::SampleOn::Device),
            ..ServeConfig::default()
        },
        None,
    );
    assert_eq!(text_of(&on_device.post(&body)), vec![text.clone()]);
    let (texts, done) = streamed(&on_device.post(&stream_body), 1);
    assert!(done);
    assert_eq!(texts, vec![text]);
}

#[test]
fn stop_strings_end_a_choice_before_them() {
    let server = Server::start(ServeConfig::default(), None);
    let greedy = json!({"prompt": "pack ", "max_tokens": 30, "temperature": 0});
    let full = text_of(&server.post(&greedy))[0].clone();
    let stop: String = full.chars().skip(5).take(2).collect();
    let cut = full.find(&stop).unwrap();
    let mut with_stop = greedy.clone();
    with_stop["stop"] = json!([stop]);
    let reply = server.post(&with_stop);
    assert_eq!(text_of(&reply)[0], full[..cut]);
    assert_eq!(reply.json()["choices"][0]["finish_reason"], "stop");
}

#[test]
fn a_short_request_does_not_wait_for_a_long_one() {
    let server = Server::start(ServeConfig::default(), None);
    let addr = server.addr;
    let long = std::thread::spawn(move || {
        http(
            addr,
            "POST",
            "/v1/completions",
            &[],
            &json!({"prompt": "the", "max_tokens": 4096, "stream": true}).to_string(),
        )
    });
    std::thread::sleep(Duration::from_millis(100));
    let short = server.post(&json!({"prompt": "the", "max_tokens": 3}));
    assert_eq!(short.status, 200);
    assert!(!long.is_finished(), "the short request finished first");
    let long = long.join().unwrap();
    let (texts, done) = streamed(&long, 1);
    assert!(done);
    assert_eq!(texts[0].chars().count(), 4096);
}

#[test]
fn bad_requests_get_their_status_and_an_openai_error() {
    let server = Server::start(
        ServeConfig {
            max_tokens: 100,
            max_body_bytes: 2000,
            ..ServeConfig::default()
        },
        Some(2),
    );
    let cases = [
        (json!({"prompt": "Zürich", "label": "class0"}), 400, "ü"),
        (
            json!({"prompt": "the", "label": "class0", "temperature": -1}),
            400,
            "temperature",
        ),
        (
            json!({"prompt": "the", "label": "class0", "top_p": 2}),
            400,
            "top_p",
        ),
        (
            json!({"prompt": "the", "label": "class0", "max_tokens": 101}),
            400,
            "max_tokens",
        ),
        (
            json!({"prompt": "the", "label": "nope"}),
            400,
            "class0, class1",
        ),
        (json!({"prompt": "the"}), 400, "label"),
        (
            json!({"prompt": "the", "label": "class0", "n": 0}),
            400,
            "n must",
        ),
        (
            json!({"prompt": "the", "label": "class0", "bogus": 1}),
            400,
            "bogus",
        ),
        (
            json!({"prompt": "the", "label": "class0", "model": "gpt-4"}),
            404,
            "gpt-4",
        ),
        // Asked for, what the server does not do is refused rather than ignored.
        (
            json!({"prompt": "the", "label": "class0", "logprobs": 2}),
            400,
            "logprobs is not supported",
        ),
        (
            json!({"prompt": "the", "label": "class0", "echo": true}),
            400,
            "echo is not supported",
        ),
        (
            json!({"prompt": "the", "label": "class0", "frequency_penalty": 0.5}),
            400,
            "frequency_penalty",
        ),
        (
            json!({"prompt": "the", "label": "class0", "presence_penalty": -1}),
            400,
            "presence_penalty",
        ),
        (
            json!({"prompt": "the", "label": "class0", "best_of": 2}),
            400,
            "best_of is not supported",
        ),
        (
            json!({"prompt": "the", "label": "class0", "n": 2, "best_of": 3}),
            400,
            "best_of is not supported",
        ),
        (
            json!({"prompt": "x".repeat(3000), "label": "class0"}),
            413,
            "larger than the server takes (its --max-body-kib)",
        ),
        // Only an object is a request: an array would fill the fields in order (model,
        // prompt, max_tokens, ..., label), the last one a request that was answered.
        (json!([]), 400, "the request body must be a JSON object"),
        (
            json!(["nope"]),
            400,
            "the request body must be a JSON object",
        ),
        (
            json!([null, "Stocks", 3]),
            400,
            "the request body must be a JSON object",
        ),
        (
            json!([
                null, "the", 3, null, null, null, null, null, null, null, null, "class0"
            ]),
            400,
            "the request body must be a JSON object",
        ),
        (json!("the"), 400, "the request body must be a JSON object"),
        (json!(null), 400, "the request body must be a JSON object"),
        (json!(3), 400, "the request body must be a JSON object"),
        // A wrong type is told in the API's words, not Rust's.
        (
            json!({"prompt": 3, "label": "class0"}),
            400,
            "prompt: expected a string or an array of strings",
        ),
        (
            json!({"prompt": "the", "label": [1]}),
            400,
            "label: expected a class name (a string) or a class index",
        ),
        (
            json!({"prompt": "the", "label": "class0", "max_tokens": "a"}),
            400,
            "expected a whole number from 0",
        ),
    ];
    for (body, status, needle) in cases {
        let reply = server.post(&body);
        assert_eq!(reply.status, status, "{body}: {reply:?}");
        let error = &reply.json()["error"];
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(needle), "{body}: {error}");
        for jargon in ["untagged", "usize", "Failed to deserialize"] {
            assert!(!message.contains(jargon), "{body}: {error}");
        }
        assert!(error["type"].is_string());
    }
    // A chunked body, whose length is found over the limit only while it is read: 413 too.
    let body = json!({"prompt": "x".repeat(3000), "label": "class0"}).to_string();
    let mut stream = TcpStream::connect(server.addr).unwrap();
    let request = format!(
        "POST /v1/completions HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{body}\r\n0\r\n\r\n",
        server.addr,
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("--max-body-kib"), "{reply}");
    // A method an endpoint does not take: 405, an error body and the method it takes.
    for (method, path, allow) in [
        ("GET", "/v1/completions", "POST"),
        ("POST", "/v1/models", "GET"),
        ("DELETE", "/health", "GET"),
    ] {
        let reply = http(server.addr, method, path, &[], "");
        assert_eq!(reply.status, 405, "{method} {path}: {reply:?}");
        assert_eq!(reply.header("allow"), Some(allow), "{method} {path}");
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(&format!("takes {allow}")), "{message}");
    }
    // Malformed JSON is a syntax error even where it is not an object; a field given twice is
    // still refused.
    for (body, needle) in [
        ("{not json", "key must be a string"),
        ("[1, 2", "EOF"),
        ("[1] 2", "trailing characters"),
        (
            "{\"prompt\": \"the\", \"label\": \"class0\", \"prompt\": \"a\"}",
            "duplicate field `prompt`",
        ),
    ] {
        let reply = http(server.addr, "POST", "/v1/completions", &[], body);
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        let message = reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains(needle), "{body}: {message}");
    }
    let reply = server.post(&json!({"prompt": "the", "label": "CLASS1", "max_tokens": 5}));
    assert_eq!(reply.status, 200, "labels by name, any case: {reply:?}");
    // Their neutral values, as some clients send them every time, are accepted.
    let neutral = json!({
        "prompt": "the", "label": "class0", "max_tokens": 5, "logprobs": null, "echo": false,
        "presence_penalty": 0, "frequency_penalty": 0.0, "user": "u1", "best_of": 1
    });
    let reply = server.post(&neutral);
    assert_eq!(reply.status, 200, "{reply:?}");
    for best_of in [json!(null), json!(2)] {
        let body = json!({"prompt": "the", "label": "class0", "max_tokens": 5, "n": 2,
                          "best_of": best_of});
        let reply = server.post(&body);
        assert_eq!(reply.status, 200, "best_of {best_of} with n = 2: {reply:?}");
        assert_eq!(text_of(&reply).len(), 2);
    }
    let models = http(server.addr, "GET", "/v1/models", &[], "").json();
    assert_eq!(models["data"][0]["labels"], json!(["class0", "class1"]));
}

#[test]
fn an_error_names_the_parameter_it_is_about() {
    let server = Server::start(ServeConfig::default(), None);
    let cases = [
        // Refused by serde while the body is read.
        (json!({"prompt": "the", "bogus": 1}), json!("bogus")),
        (
            json!({"prompt": "the", "max_tokens": "a"}),
            json!("max_tokens"),
        ),
        (json!({"prompt": 3}), json!("prompt")),
        (json!({"prompt": "the", "best_of": "x"}), json!("best_of")),
        (
            json!({"prompt": "the", "stream": true, "stream_options": {"include_usage": "yes"}}),
            json!("stream_options.include_usage"),
        ),
        // Refused by the server's own checks.
        (json!({"prompt": "the", "best_of": 4}), json!("best_of")),
        (json!({"prompt": "the", "n": 0}), json!("n")),
        // Not about a field.
        (json!([1]), Value::Null),
    ];
    for (body, param) in cases {
        let reply = server.post(&body);
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert_eq!(reply.json()["error"]["param"], param, "{body}: {reply:?}");
    }
    for (body, param) in [
        (r#"{"prompt": "the", "prompt": "a"}"#, json!("prompt")),
        ("{not json", Value::Null),
        (r#"{"prompt": "the"} 2"#, Value::Null),
    ] {
        let reply = http(server.addr, "POST", "/v1/completions", &[], body);
        assert_eq!(reply.status, 400, "{body}: {reply:?}");
        assert_eq!(reply.json()["error"]["param"], param, "{body}: {reply:?}");
    }
}

#[test]
fn include_usage_ends_a_stream_with_a_usage_chunk_without_choices() {
    let server = Server::start(ServeConfig::default(), None);
    let body = json!({"prompt": "the", "n": 2, "max_tokens": 5, "stream": true,
                      "stream_options": {"include_usage": true}});
    let reply = server.post(&body);
    assert_eq!(reply.status, 200, "{reply:?}");
    let events = reply.events();
    let (texts, done) = streamed(&reply, 2);
    assert!(done, "{events:?}");
    assert!(texts.iter().all(|t| t.chars().count() == 5), "{texts:?}");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let (last, choices) = chunks.split_last().unwrap();
    assert_eq!(last["choices"], json!([]), "{last}");
    assert_eq!(
        last["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 10, "total_tokens": 13})
    );
    assert_eq!(last["object"], "text_completion");
    assert_eq!(last["id"], choices[0]["id"]);
    for c in choices {
        assert_eq!(c["usage"], Value::Null, "{c}");
        assert_eq!(c["choices"].as_array().unwrap().len(), 1, "{c}");
    }
    let finished = choices
        .iter()
        .filter(|c| c["choices"][0]["finish_reason"] == "length")
        .count();
    assert_eq!(finished, 2);

    // Without it (absent, or false) no chunk carries usage and every chunk has a choice.
    for options in [Value::Null, json!({"include_usage": false})] {
        let mut body = body.clone();
        body["stream_options"] = options;
        let reply = server.post(&body);
        let events = reply.events();
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        for e in &events[..events.len() - 1] {
            let c: Value = serde_json::from_str(e).unwrap();
            assert_eq!(c["usage"], Value::Null, "{e}");
            assert_eq!(c["choices"].as_array().unwrap().len(), 1, "{e}");
        }
    }
}

#[test]
fn the_playground_and_the_errors_carry_the_servers_limits() {
    let server = Server::start(
        ServeConfig {
            max_n: 2,
            max_tokens: 50,
            ..ServeConfig::default()
        },
        None,
    );
    let page = http(server.addr, "GET", "/", &[], "");
    assert_eq!(page.status, 200);
    assert!(
        page.body
            .contains(r#"id="n" type="number" min="1" max="2" value="2""#),
        "{}",
        page.body
    );
    assert!(
        page.body
            .contains(r#"id="max_tokens" type="number" min="1" max="50" value="50""#),
        "{}",
        page.body
    );
    // A request makes at most 4 × max_n choices; the refusal says how many and why.
    let reply = server.post(&json!({"prompt": ["a", "b", "c", "d", "e"], "n": 2, "max_tokens": 3}));
    assert_eq!(reply.status, 400, "{reply:?}");
    let error = &reply.json()["error"];
    assert_eq!(error["message"], "5 prompts × n = 2 is more than 8 choices");
    assert_eq!(error["param"], "prompt");
    let reply = server.post(&json!({"prompt": ["a", "b", "c", "d"], "n": 2, "max_tokens": 3}));
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[test]
fn a_full_queue_answers_429_with_retry_after() {
    let server = Server::start(
        ServeConfig {
            max_queue: 1,
            max_batch: 1,
            ..ServeConfig::default()
        },
        None,
    );
    let addr = server.addr;
    let long = |tokens: usize| {
        std::thread::spawn(move || {
            http(
                addr,
                "POST",
                "/v1/completions",
                &[],
                &json!({"prompt": "a", "max_tokens": tokens}).to_string(),
            )
        })
    };
    let running = long(4000);
    std::thread::sleep(Duration::from_millis(200));
    let queued = long(5);
    std::thread::sleep(Duration::from_millis(200));
    let refused = server.post(&json!({"prompt": "a", "max_tokens": 5}));
    assert_eq!(refused.status, 429, "{refused:?}");
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert_eq!(refused.json()["error"]["type"], "rate_limit_error");
    assert_eq!(running.join().unwrap().status, 200);
    assert_eq!(
        queued.join().unwrap().status,
        200,
        "the queued request is served after"
    );
}

#[test]
fn the_api_key_guards_the_api_but_not_health() {
    let server = Server::start(
        ServeConfig {
            api_key: Some("s3cret".into()),
            ..ServeConfig::default()
        },
        None,
    );
    let body = json!({"prompt": "the", "max_tokens": 3}).to_string();
    let none = http(server.addr, "POST", "/v1/completions", &[], &body);
    assert_eq!(none.status, 401);
    let wrong = http(
        server.addr,
        "POST",
        "/v1/completions",
        &[("Authorization", "Bearer nope")],
        &body,
    );
    assert_eq!(wrong.status, 401);
    let right = http(
        server.addr,
        "POST",
        "/v1/completions",
        &[("Authorization", "Bearer s3cret")],
        &body,
    );
    assert_eq!(right.status, 200);
    assert_eq!(http(server.addr, "GET", "/v1/models", &[], "").status, 401);
    assert_eq!(http(server.addr, "GET", "/health", &[], "").status, 200);
    let page = http(server.addr, "GET", "/", &[], "");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("charrnn playground"));
}

#[test]
fn an_empty_api_key_is_refused_not_taken_for_no_authentication() {
    let dir = tempfile::tempdir().unwrap();
    checkpoint(dir.path(), None);
    let config = ServeConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        api_key: Some(String::new()),
        ..ServeConfig::default()
    };
    let served = serve(dir.path(), Device::Cpu, &config, |_| {}, async {});
    let err = served.expect_err("an empty key served").to_string();
    assert!(err.contains("API key"), "{err}");
}

#[test]
fn a_queue_too_long_to_allocate_is_refused_before_the_server_starts() {
    let dir = tempfile::tempdir().unwrap();
    checkpoint(dir.path(), None);
    for max_queue in [charrnn_serve::MAX_QUEUE + 1, usize::MAX] {
        let config = ServeConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            max_queue,
            ..ServeConfig::default()
        };
        let served = serve(dir.path(), Device::Cpu, &config, |_| {}, async {});
        let err = served.expect_err("the queue was allocated").to_string();
        assert!(err.contains("queue"), "{err}");
    }
}

#[test]
fn limits_as_large_as_their_types_hold_do_not_overflow() {
    let server = Server::start(
        ServeConfig {
            max_n: usize::MAX,
            max_tokens: usize::MAX,
            max_body_bytes: usize::MAX,
            request_timeout: Duration::MAX,
            shutdown_grace: Duration::MAX,
            ..ServeConfig::default()
        },
        None,
    );
    let reply = server.post(&json!({"prompt": ["the", "a"], "max_tokens": 3, "n": 2}));
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(text_of(&reply).len(), 4);
}

#[test]
fn shutdown_finishes_requests_in_flight() {
    // A grace far longer than the request needs, even on a loaded machine (the default 10 s
    // was not always enough for 3000 characters with the other tests running).
    let mut server = Server::start(
        ServeConfig {
            shutdown_grace: Duration::from_secs(120),
            ..ServeConfig::default()
        },
        None,
    );
    let addr = server.addr;
    let in_flight = std::thread::spawn(move || {
        http(
            addr,
            "POST",
            "/v1/completions",
            &[],
            &json!({"prompt": "the", "max_tokens": 3000, "stream": true}).to_string(),
        )
    });
    std::thread::sleep(Duration::from_millis(150));
    server.stop();
    let reply = in_flight.join().unwrap();
    let (texts, done) = streamed(&reply, 1);
    assert!(
        done,
        "the request in flight completed: {}",
        reply.body.len()
    );
    assert_eq!(texts[0].chars().count(), 3000);
    assert!(
        TcpStream::connect(addr).is_err(),
        "no new connections after shutdown"
    );
}
