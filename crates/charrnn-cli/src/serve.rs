//! `charrnn serve`: flags → `charrnn_serve::serve`.

use std::time::Duration;

use anyhow::Result;
use charrnn_model::{parse_device, set_cpu_threads};
use charrnn_serve::{ServeConfig, serve as run_server, shutdown_signal};
use serde_json::json;

use crate::{
    flags::ServeArgs,
    run::{Output, stdout_line},
};

pub fn serve(args: &ServeArgs, out: &Output) -> Result<()> {
    let device = parse_device(&args.run.device)?;
    set_cpu_threads(args.run.threads);
    let api_key = args
        .api_key
        .clone()
        .or_else(|| std::env::var("CHARRNN_API_KEY").ok())
        .filter(|k| !k.is_empty());
    let model_name = args.model_name.clone().unwrap_or_else(|| {
        args.checkpoint
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "charrnn".into())
    });
    let config = ServeConfig {
        addr: args.addr,
        api_key,
        max_queue: args.max_queue,
        max_batch: args.max_batch,
        max_tokens: args.max_tokens,
        max_n: args.max_n,
        max_body_bytes: args.max_body_kib * 1024,
        request_timeout: Duration::from_secs_f64(args.request_timeout),
        shutdown_grace: Duration::from_secs_f64(args.shutdown_grace),
        model_name,
    };
    let json = out.json;
    run_server(
        &args.checkpoint,
        device,
        &config,
        |addr| {
            if json {
                let _ = stdout_line(json!({"event": "listening", "addr": addr.to_string()}));
            }
            // Always said, even with --quiet: a script waits for this line to know the port.
            eprintln!("listening on http://{addr}");
        },
        shutdown_signal(),
    )?;
    Ok(())
}
