//! SIGINT and SIGTERM during `apply`: the first stops new changes from starting and lets the
//! ones in flight finish (for at most [`GRACE`]), so plumb can say what was done and release
//! its lock; a second one exits at once.
//!
//! Only `apply` installs the handler: `plan`, `drift` and the rest change nothing, so the
//! default behaviour (stop at once) is right for them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use crate::error::EXIT_INTERRUPTED;
use crate::output;

/// How long changes already in flight get to finish after the first signal.
pub const GRACE: Duration = Duration::from_secs(30);

/// A signal came.
static SIGNALLED: AtomicBool = AtomicBool::new(false);
/// plumb stopped the apply itself ([`stop`]): the user's first signal after it is still a
/// first one, not the second that exits at once.
static STOPPED: AtomicBool = AtomicBool::new(false);
static NOTIFY: Notify = Notify::const_new();

/// Starts listening for SIGINT and SIGTERM (on Unix; Ctrl-C elsewhere).
pub fn install() {
    tokio::spawn(async {
        let Ok(mut signals) = Signals::new() else {
            return; // no signal handling here: the default behaviour stays
        };
        loop {
            signals.next().await;
            if SIGNALLED.swap(true, Ordering::SeqCst) {
                output::stderr(
                    "\nSecond interrupt: exiting now. Changes in flight may be half done and the \
                     apply lock is left in place: run `plumb unlock`, then `plumb plan`.\n",
                );
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
            output::stderr(
                "\nInterrupted: starting no new changes, finishing the ones in flight \
                 (interrupt again to exit at once).\n",
            );
            NOTIFY.notify_waiters();
        }
    });
}

/// The signals that stop an apply, registered once (a signal between two waits is kept).
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
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

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

/// Stops the apply as a first signal does, for a reason plumb found itself (its apply lock
/// is lost); the caller says why.
pub fn stop() {
    STOPPED.store(true, Ordering::SeqCst);
    NOTIFY.notify_waiters();
}

/// Whether a signal asked plumb to stop.
pub fn requested() -> bool {
    SIGNALLED.load(Ordering::SeqCst) || STOPPED.load(Ordering::SeqCst)
}

/// Resolves when a signal asks plumb to stop (at once if one already has).
pub async fn wait() {
    let notified = NOTIFY.notified();
    if requested() {
        return;
    }
    notified.await;
}

/// Resolves [`GRACE`] after a signal asked plumb to stop.
pub async fn grace_over() {
    wait().await;
    tokio::time::sleep(GRACE).await;
}
