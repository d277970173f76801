//! `charrnn serve`: flags → `charrnn_serve::serve`.

use std::ffi::OsStr;
use std::time::Duration;

use anyhow::{Result, bail};
use charrnn_experiment::{Event, Listening};
use charrnn_model::{parse_device, set_cpu_threads};
use charrnn_serve::{MAX_QUEUE, ServeConfig, serve as run_server, shutdown_signal};

use crate::{
    flags::ServeArgs,
    output::{Output, exit_usage, invalid_value, stdout_line},
};

/// The environment variable that holds the API key when `--api-key` is not given.
const API_KEY_VAR: &str = "CHARRNN_API_KEY";

/// Runs `charrnn serve`. A flag whose value the server cannot use (a body limit whose bytes
/// overflow, seconds too many for a duration, a queue too long to allocate, an empty API key) is a usage error naming the
/// flag (exit 2), before anything starts.
pub fn serve(args: &ServeArgs, out: &Output) -> Result<()> {
    let limits = match Limits::of(args) {
        Ok(limits) => limits,
        Err(usage) => exit_usage(usage),
    };
    let api_key = api_key(
        args.api_key.as_deref(),
        std::env::var_os(API_KEY_VAR).as_deref(),
    )?;
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
        max_body_bytes: limits.max_body_bytes,
        request_timeout: limits.request_timeout,
        shutdown_grace: limits.shutdown_grace,
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
        async {
            shutdown_signal().await;
            eprintln!(
                "interrupted: taking no new requests; finishing those under way (at most \
                 --shutdown-grace)"
            );
        },
    )?;
    Ok(())
}

/// The flags' values in the units the server takes, each checked for what its value parser
/// cannot see: that the converted value fits its type, and that an API key is not empty.
#[derive(Debug)]
struct Limits {
    max_body_bytes: usize,
    request_timeout: Duration,
    shutdown_grace: Duration,
}

impl Limits {
    /// `args`' limits, or the usage error of the first flag whose value the server cannot use.
    fn of(args: &ServeArgs) -> Result<Self, clap::Error> {
        if args.api_key.as_deref() == Some("") {
            return Err(usage_error(
                "api_key",
                "",
                "an empty key would let every request in (leave --api-key out to serve \
                 without authentication)",
            ));
        }
        // The server allocates its queue when it starts: a huge one would abort it.
        if args.max_queue > MAX_QUEUE {
            return Err(usage_error(
                "max_queue",
                &args.max_queue.to_string(),
                &format!("more waiting requests than a server holds (at most {MAX_QUEUE})"),
            ));
        }
        let max_body_bytes = args.max_body_kib.checked_mul(1024).ok_or_else(|| {
            usage_error(
                "max_body_kib",
                &args.max_body_kib.to_string(),
                &format!(
                    "more bytes than this machine can address (at most {} KiB)",
                    usize::MAX / 1024
                ),
            )
        })?;
        let seconds = |id: &str, secs: f64| {
            Duration::try_from_secs_f64(secs).map_err(|_| {
                let reason = format!("more seconds than a duration holds (at most {})", u64::MAX);
                usage_error(id, &format!("{secs:e}"), &reason)
            })
        };
        Ok(Limits {
            max_body_bytes,
            request_timeout: seconds("request_timeout", args.request_timeout)?,
            shutdown_grace: seconds("shutdown_grace", args.shutdown_grace)?,
        })
    }
}

/// A usage error (exit 2) for the `serve` flag `id`, as its value parser would have made it:
/// `error: invalid value '<value>' for '--flag <FLAG>': <reason>`.
fn usage_error(id: &str, value: &str, reason: &str) -> clap::Error {
    invalid_value("serve", id, value, reason)
}

/// The API key: `--api-key` (`flag`, which [`Limits::of`] has checked is not empty), else the
/// `CHARRNN_API_KEY` variable (`env`), else none. An empty variable would be no
/// authentication at all, so it is refused, naming the variable, rather than taken for "no
/// key" (as is one that is not UTF-8).
fn api_key(flag: Option<&str>, env: Option<&OsStr>) -> Result<Option<String>> {
    if let Some(key) = flag {
        return Ok(Some(key.to_owned()));
    }
    match env.map(|v| v.to_owned().into_string()) {
        None => Ok(None),
        Some(Ok(key)) if key.is_empty() => bail!(
            "{API_KEY_VAR} is set but empty, which would let every request in: set it to the \
             key, or unset it to serve without authentication"
        ),
        Some(Ok(key)) => Ok(Some(key)),
        Some(Err(_)) => bail!("{API_KEY_VAR} is not valid UTF-8"),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::flags::{Cli, Command};

    fn serve_args(flags: &[&str]) -> ServeArgs {
        let argv = ["charrnn", "serve", "run"].iter().chain(flags);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(args) => args,
            other => panic!("{other:?}"),
        }
    }

    /// The error's one `error:` line, after checking that it is a usage error (exit 2).
    fn usage_line(err: &clap::Error) -> String {
        assert_eq!(err.exit_code(), 2, "{err}");
        let text = err.render().to_string();
        let lines: Vec<&str> = text.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(lines.len(), 1, "{text}");
        lines[0].to_owned()
    }

    #[test]
    fn a_body_limit_whose_bytes_overflow_is_a_usage_error_naming_the_flag() {
        let most = usize::MAX / 1024;
        let limits = Limits::of(&serve_args(&["--max-body-kib", &most.to_string()])).unwrap();
        assert_eq!(limits.max_body_bytes, most * 1024);
        for kib in [most + 1, 1 << 54, usize::MAX] {
            let err = Limits::of(&serve_args(&["--max-body-kib", &kib.to_string()])).unwrap_err();
            let line = usage_line(&err);
            assert!(line.contains("--max-body-kib"), "{line}");
            assert!(line.contains(&kib.to_string()), "{line}");
        }
    }

    #[test]
    fn a_queue_too_long_to_allocate_is_a_usage_error_naming_the_flag() {
        assert!(Limits::of(&serve_args(&["--max-queue", &MAX_QUEUE.to_string()])).is_ok());
        for queue in [MAX_QUEUE + 1, usize::MAX] {
            let err = Limits::of(&serve_args(&["--max-queue", &queue.to_string()])).unwrap_err();
            let line = usage_line(&err);
            assert!(line.contains("--max-queue"), "{line}");
        }
    }

    #[test]
    fn seconds_too_many_for_a_duration_are_a_usage_error_naming_the_flag() {
        for flag in ["--request-timeout", "--shutdown-grace"] {
            for secs in ["1e20", "1e300", "1.7976931348623157e308"] {
                let err = Limits::of(&serve_args(&[flag, secs])).unwrap_err();
                let line = usage_line(&err);
                assert!(line.contains(flag), "{line}");
            }
        }
        let limits = Limits::of(&serve_args(&["--request-timeout", "1e9"])).unwrap();
        assert_eq!(limits.request_timeout, Duration::from_secs(1_000_000_000));
    }

    #[test]
    fn an_empty_api_key_is_refused_never_taken_for_no_authentication() {
        // The flag wins over the variable; neither: no authentication.
        assert_eq!(
            api_key(Some("k"), Some(OsStr::new(""))).unwrap(),
            Some("k".into())
        );
        assert_eq!(
            api_key(None, Some(OsStr::new("v"))).unwrap(),
            Some("v".into())
        );
        assert_eq!(api_key(None, None).unwrap(), None);
        let err = api_key(None, Some(OsStr::new(""))).unwrap_err().to_string();
        assert!(err.contains(API_KEY_VAR), "{err}");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let err = api_key(None, Some(OsStr::from_bytes(b"\xff"))).unwrap_err();
            assert!(err.to_string().contains(API_KEY_VAR), "{err}");
        }
        let err = Limits::of(&serve_args(&["--api-key", ""])).unwrap_err();
        let line = usage_line(&err);
        assert!(line.contains("--api-key"), "{line}");
        assert!(Limits::of(&serve_args(&["--api-key", "k"])).is_ok());
    }
}
