//! Ctrl-C during training. The first SIGINT (or SIGTERM) asks the trainer to stop before its
//! next step, validate and save `last/`, as a spent budget would; a second one quits at once,
//! without saving (the checkpoints already written stay whole: they are replaced by rename).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

/// A training that stopped because it was interrupted, after saving: `main` exits with
/// [`EXIT_INTERRUPTED`] and prints nothing more.
#[derive(Debug)]
pub struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// Starts watching for Ctrl-C: the flag returned is raised by the first one. A second one
/// ends the process with [`EXIT_INTERRUPTED`].
pub fn watch() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let raised = Arc::clone(&flag);
    let (ready, listening) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(_) => {
                let _ = ready.send(());
                return;
            }
        };
        runtime.block_on(async move {
            let mut signals = match Signals::new() {
                Ok(s) => s,
                Err(_) => {
                    let _ = ready.send(());
                    return;
                }
            };
            // The handlers are installed: an interrupt from now on is seen.
            let _ = ready.send(());
            signals.next().await;
            raised.store(true, Ordering::Relaxed);
            eprintln!(
                "interrupted: stopping after this step to validate and save last/ (interrupt \
                 again to quit without saving)"
            );
            signals.next().await;
            eprintln!("error: interrupted again: quitting without saving this step");
            std::process::exit(i32::from(EXIT_INTERRUPTED));
        });
    });
    // Once this returns, the handlers are in place (or could not be, and Ctrl-C kills).
    let _ = listening.recv();
    flag
}

/// SIGINT and SIGTERM, listened to from their creation on.
#[cfg(unix)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn next(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {},
            _ = self.terminate.recv() => {},
        }
    }
}

/// Ctrl-C where there are no Unix signals.
#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> std::io::Result<Signals> {
        Ok(Signals)
    }

    async fn next(&mut self) {
        let _ = tokio::signal::ctrl_c().await;
    }
}
