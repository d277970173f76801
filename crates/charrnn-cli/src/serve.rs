//! `charrnn serve`: flags → `charrnn_serve::serve`.

use std::time::Duration;

use anyhow::Result;
use charrnn_experiment::{Event, Listening};
use charrnn_model::{parse_device, set_cpu_threads};
use charrnn_serve::{ServeConfig, serve as run_server, shutdown_signal};

use crate::{
    flags::ServeArgs,
    output::{Output, stdout_line},
};

pub fn serve(args: &ServeArgs, out: &Output) -> Result<()> {
    let device = parse_device(&args.run.device)?;
    // The generation thread shares the cores with the HTTP workers (and, often, the clients):
    // with libtorch's default of one thread per core, its threads wait on each other whenever
    // those run. Measured on 2 cores with 64 streaming clients: 51,000 chars/s with one
    // thread, 39,000 with two.
    let threads = match args.run.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
        n => n,
    };
    set_cpu_threads(threads);
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
        sample_on: args.sampler,
    };
    let json = out.json();
    run_server(
        &args.checkpoint,
        device,
        &config,
        |addr| {
            if json {
                let event = Event::Listening(Listening {
                    addr: addr.to_string(),
                });
                if let Ok(line) = event.to_json() {
                    let _ = stdout_line(line);
                }
            }
            // Always said, even with --quiet: a script waits for this line to know the port.
            eprintln!("listening on http://{addr}");
        },
        shutdown_signal(),
    )?;
    Ok(())
}
