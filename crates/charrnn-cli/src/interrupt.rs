//! Ctrl-C during training. The first SIGINT (or SIGTERM) asks the trainer to stop before its
//! next step, validate and save `last/`, as a spent budget would; a second one quits at once,
//! without saving (the checkpoints already written stay whole: they are replaced by rename).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

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

/// The flag of the training that Ctrl-C stops now, if one is under way.
static ACTIVE: Mutex<Option<Arc<AtomicBool>>> = Mutex::new(None);

/// A training that the next Ctrl-C stops gracefully, for as long as this lives; outside one
/// (before training, evaluating, generating), Ctrl-C ends the process at once, as usual.
pub struct Watch {
    flag: Arc<AtomicBool>,
}

impl Watch {
    /// The flag the first Ctrl-C raises.
    pub fn flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.flag)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if let Ok(mut active) = ACTIVE.lock() {
            *active = None;
        }
    }
}

/// Starts watching for Ctrl-C on behalf of a training: the first one raises the returned
/// watch's flag; another one, or one while no training is watched, ends the process with
/// [`EXIT_INTERRUPTED`].
pub fn watch() -> Watch {
    static LISTENER: OnceLock<()> = OnceLock::new();
    let flag = Arc::new(AtomicBool::new(false));
    if let Ok(mut active) = ACTIVE.lock() {
        *active = Some(Arc::clone(&flag));
    }
    LISTENER.get_or_init(listen);
    Watch { flag }
}

/// Installs the process's SIGINT/SIGTERM handlers (once), on a thread of their own, and
/// returns once they are in place (or could not be: then Ctrl-C ends the process as usual).
fn listen() {
    let (ready, listening) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            let _ = ready.send(());
            return;
        };
        runtime.block_on(async move {
            let Ok(mut signals) = Signals::new() else {
                let _ = ready.send(());
                return;
            };
            let _ = ready.send(());
            loop {
                signals.next().await;
                let active = ACTIVE.lock().ok().and_then(|a| a.clone());
                match active {
                    Some(flag) if !flag.swap(true, Ordering::Relaxed) => eprintln!(
                        "interrupted: stopping after this step to validate and save last/ \
                         (interrupt again to quit without saving)"
                    ),
                    Some(_) => {
                        eprintln!("error: interrupted again: quitting without saving this step");
                        std::process::exit(i32::from(EXIT_INTERRUPTED));
                    }
                    None => std::process::exit(i32::from(EXIT_INTERRUPTED)),
                }
            }
        });
    });
    let _ = listening.recv();
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
