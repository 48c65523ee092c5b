//! The supervisor's loop: start a server child on the inherited listener, and on every
//! change rebuild, start the next child, wait until it is ready, then stop the old one.
//!
//! Everything the supervisor waits for is a future on one single-threaded loop: the
//! inotify descriptor and the signalfd through the reactor, the children's exits and
//! their log lines through the blocking pool (a `waitpid` or a pipe `read` parked on a
//! pool thread, as `run_in_executor` would). Nothing here blocks the loop, so a SIGINT
//! during a two-minute build is answered at once.

use std::future::{poll_fn, Future};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::pin::{pin, Pin};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::task::Poll;
use std::time::Duration;

use rasgi_executor::blocking::BlockingTask;
use rasgi_executor::{log_error, log_info, log_warn, sleep, spawn, spawn_blocking, JoinHandle};

use super::signals::{self, Signals};
use super::watch::Watcher;
use super::ReloadError;

/// The line a server logs once every loop is accepting: the readiness signal. A child
/// that has logged it is taking connections, so the old one may go.
pub const READY_MARK: &str = "rasgi running on";

/// Everything the supervisor needs to build and start servers.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The server binary; rebuilt in place by `build`, so the same path always names the
    /// newest build.
    pub exe: PathBuf,
    /// The server's arguments, `--fd N` included and the reload flags removed.
    pub server_args: Vec<String>,
    /// The build command: program, then arguments (`cargo build [--release] --bin …`).
    pub build: Vec<String>,
    /// How long the sources must stay untouched before a rebuild starts: one save often
    /// is several writes (and an editor's swap files), and a `git checkout` is hundreds.
    pub quiet: Duration,
    /// False when `--log-level` hides [`READY_MARK`]; a child then counts as ready once
    /// it has stayed up for [`SETTLE`].
    pub ready_mark_visible: bool,
}

/// How long a child that cannot announce itself must stay alive to count as ready.
pub const SETTLE: Duration = Duration::from_secs(2);

/// One running server child.
struct Server {
    /// The child's process id; signalled only while `exited` has not completed, so it
    /// never names a reaped (and possibly reused) process.
    pid: i32,
    /// `waitpid` on a pool thread; completes once, when the child exits. Polled again
    /// after that it would never wake, so a completed server is dropped at once.
    exited: BlockingTask<io::Result<ExitStatus>>,
}

/// What woke the supervisor.
enum Wake {
    /// SIGINT or SIGTERM, by name.
    Signal(&'static str),
    /// A watched file changed.
    Change(PathBuf),
    /// The current server exited on its own.
    Exited(String),
    /// The debounce period passed with no change.
    Quiet,
}

/// Runs the supervisor until SIGINT or SIGTERM. `signals` and `watcher` belong to the
/// current runtime. If the supervisor itself fails (its signalfd or inotify descriptor
/// stops reading), it returns the error at once: its children, started with a parent-death
/// signal, then get SIGTERM from the kernel and drain as they would on a normal stop.
pub async fn supervise(plan: Plan, signals: Signals, mut watcher: Watcher) -> Result<(), ReloadError> {
    log_info!("watching {} directories for changes (rebuilds with `{}`)", watcher.watched(), plan.build.join(" "));
    let mut draining: Vec<JoinHandle<()>> = Vec::new();
    let mut current = match start(&plan, &signals).await? {
        Started::Ready(server) => Some(server),
        Started::Failed(why) => return Err(ReloadError::FirstServer(why)),
        Started::Interrupted(server, name) => {
            log_info!("{name} received: stopping");
            stop(server, &signals).await;
            return Ok(());
        }
    };
    loop {
        let first = match next_wake(&signals, &mut watcher, current.as_mut(), None).await? {
            Wake::Signal(name) => {
                log_info!("{name} received: stopping the server, then the supervisor");
                break;
            }
            Wake::Exited(status) => {
                log_warn!("the server exited on its own ({status}); the next change starts a new one");
                current = None;
                continue;
            }
            Wake::Change(path) => path,
            Wake::Quiet => continue,
        };
        // Debounce: wait until the tree has been quiet for `plan.quiet`.
        let mut changes = 1usize;
        loop {
            match next_wake(&signals, &mut watcher, current.as_mut(), Some(plan.quiet)).await? {
                Wake::Change(_) => changes += 1,
                Wake::Quiet => break,
                Wake::Exited(status) => {
                    log_warn!("the server exited on its own ({status})");
                    current = None;
                }
                Wake::Signal(name) => {
                    log_info!("{name} received: stopping the server, then the supervisor");
                    return finish(current, draining, &signals).await;
                }
            }
        }
        let more = if changes > 1 { format!(" and {} more", changes - 1) } else { String::new() };
        log_info!("{} changed{more}: rebuilding", first.display());
        match build(&plan, &signals).await? {
            Built::Ok => {}
            Built::Failed(status) => {
                let keeps = if current.is_some() { "the running server keeps serving" } else { "no server is running" };
                log_error!("the build failed ({status}); {keeps}; fix the error above and save again");
                continue;
            }
            Built::Interrupted(name) => {
                log_info!("{name} received: build stopped; stopping the server, then the supervisor");
                break;
            }
        }
        match start(&plan, &signals).await? {
            Started::Ready(next) => {
                if let Some(old) = current.replace(next) {
                    // Stopped in the background: its in-flight requests finish while the
                    // new child already accepts.
                    draining.retain(|h| !h.is_finished());
                    draining.push(spawn(async move {
                        let pid = old.pid;
                        terminate(pid);
                        let status = describe(old.exited.await);
                        log_info!("the previous server (pid {pid}) has drained and exited ({status})");
                    }));
                }
            }
            Started::Failed(why) => {
                let keeps =
                    if current.is_some() { "the previous server keeps serving" } else { "no server is running" };
                log_error!("the new server did not start ({why}); {keeps}");
            }
            Started::Interrupted(next, name) => {
                log_info!("{name} received: stopping the servers, then the supervisor");
                stop(next, &signals).await;
                break;
            }
        }
    }
    finish(current, draining, &signals).await
}

/// Stops the current server and waits for the draining ones.
async fn finish(current: Option<Server>, draining: Vec<JoinHandle<()>>, signals: &Signals) -> Result<(), ReloadError> {
    if let Some(server) = current {
        stop(server, signals).await;
    }
    for handle in draining {
        let _ = handle.await;
    }
    Ok(())
}

/// Waits for whichever comes first: a signal, a watched change, the current server's
/// exit, or (with `quiet`) a quiet period.
async fn next_wake(
    signals: &Signals,
    watcher: &mut Watcher,
    mut current: Option<&mut Server>,
    quiet: Option<Duration>,
) -> Result<Wake, ReloadError> {
    let mut signal = pin!(signals.next());
    let mut change = pin!(watcher.next());
    let mut nap = quiet.map(|d| Box::pin(sleep(d)));
    poll_fn(|cx| {
        if let Poll::Ready(r) = signal.as_mut().poll(cx) {
            return Poll::Ready(r.map(Wake::Signal).map_err(ReloadError::Signals));
        }
        if let Poll::Ready(r) = change.as_mut().poll(cx) {
            return Poll::Ready(r.map(Wake::Change).map_err(ReloadError::Watch));
        }
        if let Some(server) = current.as_deref_mut() {
            if let Poll::Ready(status) = Pin::new(&mut server.exited).poll(cx) {
                return Poll::Ready(Ok(Wake::Exited(describe(status))));
            }
        }
        if let Some(nap) = nap.as_mut() {
            if nap.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(Wake::Quiet));
            }
        }
        Poll::Pending
    })
    .await
}

/// How a build ended.
enum Built {
    /// The new binary is in place.
    Ok,
    /// The compiler said no (its messages went to stderr); the exit status.
    Failed(String),
    /// A signal arrived during the build; the build was stopped.
    Interrupted(&'static str),
}

/// Runs the build command with the supervisor's stdout and stderr, so compiler errors
/// appear as the user would see them from `cargo build`.
async fn build(plan: &Plan, signals: &Signals) -> Result<Built, ReloadError> {
    let (program, args) = plan.build.split_first().ok_or_else(|| ReloadError::Build(io::Error::other("empty")))?;
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null());
    unblock_signals(&mut command);
    let child = command.spawn().map_err(ReloadError::Build)?;
    let pid = child.id() as i32;
    let mut exited = wait_for(child);
    match rasgi_executor::select(signals.next(), &mut exited).await {
        rasgi_executor::Either::Left(signal) => {
            terminate(pid);
            let _ = exited.await;
            Ok(Built::Interrupted(signal.map_err(ReloadError::Signals)?))
        }
        rasgi_executor::Either::Right(status) => match status {
            Ok(Ok(status)) if status.success() => Ok(Built::Ok),
            other => Ok(Built::Failed(describe(other))),
        },
    }
}

/// How a start attempt ended.
enum Started {
    /// The child announced it is accepting.
    Ready(Server),
    /// It exited (or could not be spawned) before that; why.
    Failed(String),
    /// A signal arrived while waiting; the child is returned to be stopped.
    Interrupted(Server, &'static str),
}

/// Starts a server child on the listener and waits until it is ready.
async fn start(plan: &Plan, signals: &Signals) -> Result<Started, ReloadError> {
    let mut command = Command::new(&plan.exe);
    command.args(&plan.server_args).stdin(Stdio::null()).stderr(Stdio::piped());
    // Its own process group: a CTRL+C in the terminal reaches the supervisor only, which
    // then sends the child one SIGTERM. Sharing the group, the child would get the SIGINT
    // *and* the SIGTERM, and a server takes a second signal as "exit now".
    command.process_group(0);
    unblock_signals(&mut command);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return Ok(Started::Failed(format!("cannot run {}: {e}", plan.exe.display()))),
    };
    let pid = child.id() as i32;
    let stderr = child.stderr.take();
    let mut server = Server { pid, exited: wait_for(child) };
    let Some(stderr) = stderr else { return Ok(Started::Failed("no stderr pipe".into())) };
    let mut ready: Pin<Box<dyn Future<Output = bool>>> = if plan.ready_mark_visible {
        // The pool thread reads the child's log up to the ready line and hands the pipe
        // back; its later lines are forwarded by another pool thread.
        let reading = spawn_blocking(move || forward_until_ready(stderr));
        Box::pin(async move {
            match reading.await {
                Ok((true, pipe)) => {
                    drop(spawn_blocking(move || forward_rest(pipe)));
                    true
                }
                _ => false,
            }
        })
    } else {
        drop(spawn_blocking(move || forward_rest(BufReader::new(stderr))));
        Box::pin(async {
            sleep(SETTLE).await;
            true
        })
    };
    let mut signal = pin!(signals.next());
    let outcome = poll_fn(|cx| {
        if let Poll::Ready(r) = signal.as_mut().poll(cx) {
            return Poll::Ready(Err(r));
        }
        if let Poll::Ready(status) = Pin::new(&mut server.exited).poll(cx) {
            return Poll::Ready(Ok(Some(describe(status))));
        }
        if let Poll::Ready(up) = ready.as_mut().poll(cx) {
            // A closed pipe without the ready line means the child is exiting: its exit
            // status (polled above on the next wake) is the better message.
            return if up { Poll::Ready(Ok(None)) } else { Poll::Pending };
        }
        Poll::Pending
    })
    .await;
    match outcome {
        Ok(None) => {
            log_info!("server pid {pid} is ready");
            Ok(Started::Ready(server))
        }
        Ok(Some(status)) => Ok(Started::Failed(format!("it exited: {status}"))),
        Err(signal) => Ok(Started::Interrupted(server, signal.map_err(ReloadError::Signals)?)),
    }
}

/// SIGTERM to a server, then waits for it to drain and exit; a second SIGINT/SIGTERM to
/// the supervisor meanwhile kills it at once.
async fn stop(mut server: Server, signals: &Signals) {
    terminate(server.pid);
    match rasgi_executor::select(&mut server.exited, signals.next()).await {
        rasgi_executor::Either::Left(status) => log_info!("server pid {} exited ({})", server.pid, describe(status)),
        rasgi_executor::Either::Right(_) => {
            log_warn!("signal received again: killing server pid {}", server.pid);
            // SAFETY: kill takes a pid and a signal number; the child is not yet reaped
            // (`exited` has not completed), so the pid still names it.
            unsafe { libc::kill(server.pid, libc::SIGKILL) };
            let _ = server.exited.await;
        }
    }
}

/// Sends SIGTERM to `pid`, a child not yet reaped.
fn terminate(pid: i32) {
    // SAFETY: kill takes a pid and a signal number; callers pass only children whose
    // `waitpid` has not returned, so the pid cannot have been reused.
    let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
    if rc != 0 {
        log_warn!("cannot signal pid {pid}: {}", io::Error::last_os_error());
    }
}

/// `waitpid` on the blocking pool.
fn wait_for(mut child: Child) -> BlockingTask<io::Result<ExitStatus>> {
    spawn_blocking(move || child.wait())
}

/// A child's end, for a log line.
fn describe(status: Result<io::Result<ExitStatus>, rasgi_executor::JoinError>) -> String {
    match status {
        Ok(Ok(status)) => match (status.code(), status.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            _ => status.to_string(),
        },
        Ok(Err(e)) => format!("cannot wait for it: {e}"),
        Err(e) => format!("cannot wait for it: {e}"),
    }
}

/// Children start with SIGINT and SIGTERM unblocked, whatever the supervisor's mask.
fn unblock_signals(command: &mut Command) {
    // SAFETY: the hook runs between fork and exec, where only async-signal-safe calls
    // are allowed; `unblock_in_child` makes only such calls and allocates nothing.
    unsafe {
        command.pre_exec(signals::unblock_in_child);
    }
}

/// Copies the child's log to stderr until the ready line (true) or the end (false).
fn forward_until_ready(pipe: ChildStderr) -> (bool, BufReader<ChildStderr>) {
    let mut reader = BufReader::new(pipe);
    let mut line = String::new();
    loop {
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return (false, reader),
            Ok(_) => {
                let _ = io::stderr().lock().write_all(line.as_bytes());
                if line.contains(READY_MARK) {
                    return (true, reader);
                }
            }
        }
    }
}

/// Copies the rest of the child's log to stderr until the pipe closes.
fn forward_rest(mut reader: BufReader<ChildStderr>) {
    let _ = io::copy(&mut reader, &mut io::stderr());
}
