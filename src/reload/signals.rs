//! SIGINT and SIGTERM as readable events: a signalfd on the supervisor's loop.
//!
//! The server dedicates a thread to `sigwait`; the supervisor's loop already waits on
//! inotify and on its children, so it turns the two signals into one more descriptor
//! for the same `epoll_wait`. As with `sigwait`, the signals must be blocked first
//! (otherwise their default action kills the process before the descriptor sees them),
//! and children must get them unblocked again ([`unblock_in_child`]) — a blocked signal
//! mask survives `exec`. asyncio's `loop.add_signal_handler` is the counterpart (it uses
//! a self-pipe instead: signalfd is Linux-only).
//!
//! A signal the parent set to *ignored* is discarded by the kernel before it could be
//! queued, blocked or not: a supervisor started with `&` from a non-interactive shell (or
//! under `nohup`) does not see SIGINT, exactly as any other program would not; SIGTERM
//! still stops it. That choice of the parent is respected rather than undone.

use std::future::poll_fn;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use super::fd::AsyncFd;

/// The signals that stop the supervisor, blocked for the whole process while it lives.
pub struct Signals {
    /// A non-blocking, close-on-exec signalfd for SIGINT and SIGTERM, registered with
    /// this thread's reactor.
    fd: AsyncFd,
}

/// SIGINT and SIGTERM.
fn stop_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set before sigaddset touches it; both
    // write only within the set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        set
    }
}

/// Blocks SIGINT and SIGTERM in the calling thread, and so in every thread it starts
/// afterwards. Call it before any other thread exists, or a signal may be delivered to
/// a thread that still has them unblocked and kill the process.
pub fn block() -> io::Result<()> {
    let set = stop_set();
    // SAFETY: `set` is initialised; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Undoes [`block`] in a forked child before it execs. Only async-signal-safe calls
/// (`sigemptyset`, `sigaddset`, `sigprocmask`) are allowed between fork and exec, and
/// these are.
pub fn unblock_in_child() -> io::Result<()> {
    // A server child outlives nothing: if the supervisor dies (even by SIGKILL), the
    // kernel sends the child SIGTERM and it drains and exits instead of lingering in its
    // own process group with nobody to stop it.
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes integers only and is a plain system call,
    // safe between fork and exec.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let set = stop_set();
    // SAFETY: `set` is initialised; a null old-set pointer is allowed; sigprocmask is
    // async-signal-safe, which a `pre_exec` hook requires.
    let rc = unsafe { libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Signals {
    /// Opens the signalfd; [`block`] must have run first.
    pub fn new() -> io::Result<Signals> {
        let set = stop_set();
        // SAFETY: -1 asks for a new descriptor; `set` is initialised.
        let raw = unsafe { libc::signalfd(-1, &set, libc::SFD_NONBLOCK | libc::SFD_CLOEXEC) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` was just returned by the kernel and is owned by nothing else.
        let owned = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Signals { fd: AsyncFd::new(owned)? })
    }

    /// Waits for the next SIGINT or SIGTERM and returns its name.
    pub async fn next(&self) -> io::Result<&'static str> {
        // One `struct signalfd_siginfo` is 128 bytes; its first field is the number.
        let mut info = [0u8; 128];
        loop {
            let n = poll_fn(|cx| self.fd.poll_read(cx, &mut info)).await?;
            if n < 4 {
                continue;
            }
            let signo = u32::from_ne_bytes([info[0], info[1], info[2], info[3]]) as i32;
            return Ok(if signo == libc::SIGINT { "SIGINT" } else { "SIGTERM" });
        }
    }
}
