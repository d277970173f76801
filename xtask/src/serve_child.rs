//! `charrnn serve` as a child process of an xtask command: where it listens.
use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result};

/// Reads the server's stderr until it says `listening on http://ADDR`; later lines go on to
/// this process's stderr, prefixed `serve: `, when `echo`.
pub(crate) fn listening_addr(child: &mut Child, echo: bool) -> Result<String> {
    let stderr = child.stderr.take().context("no stderr to read")?;
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            match (line.strip_prefix("listening on http://"), tx.take()) {
                (Some(addr), Some(t)) => {
                    let _ = t.send(addr.to_owned());
                }
                (_, t) => {
                    tx = t;
                    if echo {
                        eprintln!("serve: {line}");
                    }
                }
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(120))
        .context("charrnn serve did not say where it listens within 120 s")
}
