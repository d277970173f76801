//! Ctrl-C during training. The first SIGINT (or SIGTERM) asks the trainer to stop before its
//! next step, validate and save `last/`, as a spent budget would; a second one quits at once,
//! without saving (the checkpoints already written stay whole: they are replaced by rename).
//! Before training (reading the data, building the vocabulary and the token store), Ctrl-C
//! quits at once, after the clean-ups registered with [`on_quit`]: a run directory this
//! process made is not left behind empty or holding half a store.

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

/// A clean-up to run if Ctrl-C ends the process, registered by [`on_quit`].
type CleanUp = Box<dyn Fn() + Send>;

/// The clean-ups to run before quitting, by registration number, with what to say then.
static CLEAN_UPS: Mutex<Vec<(u64, &'static str, CleanUp)>> = Mutex::new(Vec::new());

/// Runs `clean_up` if Ctrl-C (or SIGTERM) ends the process while the returned guard lives,
/// and says `said` (the newest registration's words: "interrupted: ..."); the guard's drop
/// unregisters it. Listening starts here, if it had not: from now on Ctrl-C no longer kills
/// the process before the clean-up.
pub fn on_quit(said: &'static str, clean_up: impl Fn() + Send + 'static) -> QuitGuard {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut list) = CLEAN_UPS.lock() {
        list.push((id, said, Box::new(clean_up)));
    }
    install();
    QuitGuard { id }
}

/// A clean-up registered by [`on_quit`], for as long as this lives.
pub struct QuitGuard {
    id: u64,
}

impl Drop for QuitGuard {
    fn drop(&mut self) {
        if let Ok(mut list) = CLEAN_UPS.lock() {
            list.retain(|(id, _, _)| *id != self.id);
        }
    }
}

/// Runs the registered clean-ups (once: they are taken out of the list).
fn clean_up() {
    let taken = match CLEAN_UPS.lock() {
        Ok(mut list) => std::mem::take(&mut *list),
        Err(_) => return,
    };
    for (_, _, f) in taken {
        f();
    }
}

/// Installs the signal listener, once.
fn install() {
    static LISTENER: OnceLock<()> = OnceLock::new();
    LISTENER.get_or_init(listen);
}

/// Starts watching for Ctrl-C on behalf of a training: the first one raises the returned
/// watch's flag; another one, or one while no training is watched, ends the process with
/// [`EXIT_INTERRUPTED`].
pub fn watch() -> Watch {
    let flag = Arc::new(AtomicBool::new(false));
    if let Ok(mut active) = ACTIVE.lock() {
        *active = Some(Arc::clone(&flag));
    }
    install();
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
                        clean_up();
                        quit_now();
                    }
                    None => {
                        let said = CLEAN_UPS
                            .lock()
                            .ok()
                            .and_then(|l| l.last().map(|(_, said, _)| *said))
                            .unwrap_or("interrupted");
                        eprintln!("error: {said}");
                        clean_up();
                        quit_now();
                    }
                }
            }
        });
    });
    let _ = listening.recv();
}

/// Ends the process at once with [`EXIT_INTERRUPTED`], from the signal thread, while the
/// main thread may be inside libtorch: `_exit` runs no exit handlers and no static destructors.
/// (`std::process::exit` ran libtorch's destructors under its running kernels: a segmentation
/// fault, exit 139, in most tries.) Files are written to a temporary name and renamed, so
/// nothing is left half-written.
fn quit_now() -> ! {
    use std::io::Write;
    let _ = std::io::stderr().flush();
    // SAFETY: `_exit` only ends the process; it touches no memory of this one.
    #[allow(unsafe_code)]
    unsafe {
        libc::_exit(i32::from(EXIT_INTERRUPTED))
    }
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
