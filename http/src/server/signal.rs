//! SIGINT and SIGTERM, turned into a graceful shutdown.
//!
//! A signal handler may only do async-signal-safe things — no locks, no allocation —
//! which rules out almost everything useful. So rasgi does not install a handler at
//! all: it *blocks* the two signals in every thread (the mask is inherited by threads
//! created later, so this happens before the workers start) and dedicates one thread to
//! `sigwait`, which receives them as ordinary return values. That thread can then do
//! anything: log, pull the shutdown trigger, or, on the second signal, exit at once.

use std::io;
use std::sync::Arc;

use rasgi_executor::{log_info, log_warn};

use super::shutdown::ShutdownTrigger;

/// Blocks SIGINT and SIGTERM in the calling thread (and so in threads it starts later)
/// and starts the thread that waits for them.
pub(crate) fn install(trigger: Arc<ShutdownTrigger>) -> io::Result<()> {
    let set = signal_set();
    // SAFETY: `set` is a valid, initialised sigset_t; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    std::thread::Builder::new().name("rasgi-signals".into()).spawn(move || wait_for_signals(set, trigger))?;
    Ok(())
}

fn signal_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set before sigaddset reads it; both only
    // write within the set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

fn wait_for_signals(set: libc::sigset_t, trigger: Arc<ShutdownTrigger>) {
    let mut received = 0;
    loop {
        let mut signal: libc::c_int = 0;
        // SAFETY: `set` is initialised and `signal` is a valid place for the result.
        let rc = unsafe { libc::sigwait(&set, &mut signal) };
        if rc != 0 {
            continue;
        }
        received += 1;
        let name = if signal == libc::SIGINT { "SIGINT" } else { "SIGTERM" };
        if received == 1 {
            log_info!("{name} received: shutting down gracefully (send it again to exit at once)");
            trigger.pull();
        } else {
            log_warn!("{name} received again: exiting now");
            std::process::exit(1);
        }
    }
}
