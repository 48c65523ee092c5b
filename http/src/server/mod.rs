//! The server: uvicorn's role.
//!
//! [`start`] runs `--workers N` event loops, each on its own thread with its own
//! `SO_REUSEPORT` listener and its own instance of the application — nothing shared,
//! the way uvicorn runs worker processes. Each loop:
//!
//! 1. builds the application and runs its lifespan startup (no connection is accepted
//!    before it completes; a failure stops the server with the application's message);
//! 2. binds its listener (or adopts the socket it inherited: `--fd N`, or systemd's
//!    `LISTEN_FDS`, so that a supervisor can restart the server without ever closing the
//!    port) and accepts connections, one task per connection (`conn.rs`);
//! 3. on shutdown stops accepting, closes idle connections, waits for in-flight
//!    requests (bounded by `--timeout-graceful-shutdown`), then runs lifespan shutdown.

pub(crate) mod buffer;
mod config;
pub(crate) mod conn;
mod encode;
pub mod proxy;
pub(crate) mod receive;
pub(crate) mod respond;
pub(crate) mod shutdown;
mod signal;
mod socket;
mod stall;
pub(crate) mod websocket;

use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use rasgi_executor::reactor::net::{inherit_listener, ListenOptions, TcpListener, UnixListener};
use rasgi_executor::{log_debug, log_error, log_info, log_warn, select, sleep, spawn_named, timeout, Builder};

pub use config::{Config, USAGE};
pub use encode::reason_phrase;
pub use shutdown::ShutdownTrigger;

use crate::asgi::{App, LifespanEvent, State};
use crate::error::ServerError;
use shutdown::Connections;
use socket::Listener;

/// What every connection task of one loop shares.
pub(crate) struct LoopContext<A> {
    /// This loop's instance of the application.
    pub(crate) app: A,
    /// The settings.
    pub(crate) config: Arc<Config>,
    /// Lifespan state, handed to every request's scope.
    pub(crate) state: Rc<State>,
    /// `--root-path`, shared by every scope.
    pub(crate) root_path: Rc<str>,
    /// Open connections, for the concurrency limit and shutdown.
    pub(crate) connections: Rc<Connections>,
    /// The name connection tasks carry between requests.
    pub(crate) task_name: Rc<str>,
}

/// A running server: its address, and the means to stop it and wait for it.
pub struct ServerHandle {
    addr: SocketAddr,
    trigger: Arc<ShutdownTrigger>,
    workers: Vec<thread::JoinHandle<Result<(), ServerError>>>,
    /// The Unix-domain socket's path (`--uds`), removed when the server has stopped.
    uds: Option<std::path::PathBuf>,
}

impl ServerHandle {
    /// The address the server listens on (with the real port if 0 was asked for); the
    /// unspecified address `0.0.0.0:0` when it listens on a Unix-domain socket.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Unix-domain socket's path, with `--uds`.
    pub fn unix_path(&self) -> Option<&std::path::Path> {
        self.uds.as_deref()
    }

    /// Starts a graceful shutdown, as SIGTERM does.
    pub fn shutdown(&self) {
        self.trigger.pull();
    }

    /// Waits until every worker has stopped; returns the first error any reported.
    pub fn join(self) -> Result<(), ServerError> {
        let mut result = Ok(());
        for worker in self.workers {
            let outcome =
                worker.join().unwrap_or_else(|_| Err(ServerError::Startup("a worker thread panicked".into())));
            if result.is_ok() {
                result = outcome;
            }
        }
        if let Some(path) = &self.uds {
            let _ = std::fs::remove_file(path);
        }
        result
    }
}

/// Runs the server until SIGINT/SIGTERM (if `config.handle_signals`) and every loop has
/// shut down: the whole of `uvicorn main:app`.
pub fn run<A, F>(config: Config, make_app: F) -> Result<(), ServerError>
where
    A: App,
    F: Fn() -> A + Send + Sync + 'static,
{
    let handle = start(config, make_app)?;
    handle.join()
}

/// Starts the server in background threads and returns once every loop is listening
/// (or one failed to start).
pub fn start<A, F>(config: Config, make_app: F) -> Result<ServerHandle, ServerError>
where
    A: App,
    F: Fn() -> A + Send + Sync + 'static,
{
    rasgi_executor::log::set_level(config.log_level);
    raise_open_file_limit();
    let trigger = ShutdownTrigger::new();
    if config.handle_signals {
        signal::install(trigger.clone())?;
    }
    // Where the socket comes from: a Unix-domain socket (`--uds`), an inherited one
    // (`--fd`, or systemd's socket activation), or one bound here from `--host`/`--port`.
    let unix = match &config.uds {
        Some(path) => Some(bind_unix(path)?),
        None => None,
    };
    let inherited = match (config.fd, &unix) {
        (Some(fd), None) => Some(adopt_fd(fd, "--fd")?),
        (Some(_), Some(_)) => return Err(ServerError::Config("--fd and --uds are exclusive".into())),
        (None, None) => socket_activation()?,
        (None, Some(_)) => None,
    };
    let mut addr = match (&inherited, &unix) {
        (Some(listener), _) => {
            listener.local_addr().map_err(|e| ServerError::Config(format!("inherited socket: {e}")))?
        }
        (None, Some(_)) => SocketAddr::from(([0, 0, 0, 0], 0)),
        (None, None) => resolve(&config.host, config.port)?,
    };
    let config = Arc::new(config);
    let make_app = Arc::new(make_app);
    let mut workers: Vec<thread::JoinHandle<Result<(), ServerError>>> = Vec::new();
    // Workers start one after another: the first may bind port 0 and so learn the real
    // port, which the others must then share.
    for index in 0..config.workers {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (worker_config, worker_app, worker_trigger) = (config.clone(), make_app.clone(), trigger.clone());
        // An inherited socket is shared: each worker gets its own descriptor for it (a
        // `dup`), and the kernel hands each new connection to one of the loops waiting.
        let listen = match (&inherited, &unix) {
            (Some(listener), _) => Listen::Inherited(listener.try_clone()?),
            (None, Some(listener)) => Listen::Unix(listener.try_clone()?),
            (None, None) => Listen::Bind(addr),
        };
        let worker = thread::Builder::new()
            .name(format!("rasgi-worker-{index}"))
            .spawn(move || run_worker(worker_config, worker_app, worker_trigger, listen, ready_tx))?;
        match ready_rx.recv() {
            Ok(Ok(bound)) => addr = bound,
            // The worker failed before listening: stop the ones already running.
            Ok(Err(())) | Err(_) => {
                trigger.pull();
                let failure =
                    worker.join().unwrap_or_else(|_| Err(ServerError::Startup("worker thread panicked".into())));
                for w in workers {
                    let _ = w.join();
                }
                return Err(failure
                    .err()
                    .unwrap_or_else(|| ServerError::Startup("worker stopped during startup".into())));
            }
        }
        workers.push(worker);
    }
    let workers_note = format!("with {} worker loop(s) (press CTRL+C to quit)", config.workers);
    match &config.uds {
        Some(path) => log_info!("rasgi running on unix socket {} {workers_note}", path.display()),
        None => log_info!("rasgi running on http://{addr} {workers_note}"),
    }
    Ok(ServerHandle { addr, trigger, workers, uds: config.uds.clone() })
}

/// Where a worker's listener comes from.
enum Listen {
    /// Bind this address (with `SO_REUSEPORT` when there are several workers).
    Bind(SocketAddr),
    /// Serve on this already-listening socket.
    Inherited(std::net::TcpListener),
    /// Serve on this Unix-domain socket (bound once, shared by the workers).
    Unix(std::os::unix::net::UnixListener),
}

/// Binds `--uds PATH`. A socket file left by a server that died is replaced; any other
/// file at that path is an error rather than something to delete. The socket is made
/// readable and writable by everyone, as uvicorn does, so that a proxy running as
/// another user can connect; the directory's permissions are the place to restrict it.
fn bind_unix(path: &std::path::Path) -> Result<std::os::unix::net::UnixListener, ServerError> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let fail = |what: &str, e: std::io::Error| ServerError::Config(format!("--uds {}: {what}: {e}", path.display()));
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => std::fs::remove_file(path).map_err(|e| fail("remove", e))?,
        Ok(_) => return Err(ServerError::Config(format!("--uds {}: exists and is not a socket", path.display()))),
        Err(_) => {}
    }
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(|e| fail("bind", e))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666)).map_err(|e| fail("chmod", e))?;
    Ok(listener)
}

/// Takes ownership of descriptor `fd`, which must be a listening TCP socket.
fn adopt_fd(fd: i32, origin: &str) -> Result<std::net::TcpListener, ServerError> {
    // SAFETY: fcntl(F_GETFD) takes no pointers; it only asks whether `fd` is open.
    if fd < 0 || unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(ServerError::Config(format!("{origin}: file descriptor {fd} is not open")));
    }
    // SAFETY: the descriptor is open (checked above) and was handed to this process by
    // its parent for it to serve on; nothing else in the process owns it, so the
    // `OwnedFd` may close it.
    let owned = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    inherit_listener(owned).map_err(|e| ServerError::Config(format!("{origin}: file descriptor {fd}: {e}")))
}

/// systemd's socket activation: `LISTEN_PID` names this process and `LISTEN_FDS` says
/// how many sockets it was given, starting at descriptor 3. The variables are removed,
/// as `sd_listen_fds(1)` does, so that child processes do not believe they are meant.
fn socket_activation() -> Result<Option<std::net::TcpListener>, ServerError> {
    let (Ok(pid), Ok(fds)) = (std::env::var("LISTEN_PID"), std::env::var("LISTEN_FDS")) else { return Ok(None) };
    if pid.parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(None);
    }
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_FDNAMES");
    match fds.parse::<i32>() {
        Ok(0) | Err(_) => Err(ServerError::Config(format!("LISTEN_FDS={fds:?}: expected a count of sockets"))),
        Ok(n) => {
            if n > 1 {
                log_warn!("LISTEN_FDS={n}: serving on the first socket (descriptor 3) only");
            }
            adopt_fd(3, "LISTEN_FDS").map(Some)
        }
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, ServerError> {
    (host, port)
        .to_socket_addrs()
        .map_err(|e| ServerError::Config(format!("cannot resolve --host {host:?}: {e}")))?
        .next()
        .ok_or_else(|| ServerError::Config(format!("--host {host:?} resolves to no address")))
}

/// One worker thread: a runtime and one server loop in it.
fn run_worker<A, F>(
    config: Arc<Config>,
    make_app: Arc<F>,
    trigger: Arc<ShutdownTrigger>,
    listen: Listen,
    ready: mpsc::Sender<Result<SocketAddr, ()>>,
) -> Result<(), ServerError>
where
    A: App,
    F: Fn() -> A + Send + Sync + 'static,
{
    let mut builder = Builder::new();
    if let Some(ms) = config.slow_poll_ms {
        builder = builder.slow_poll_threshold(Duration::from_millis(ms));
    }
    let runtime = match builder.build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(()));
            return Err(e.into());
        }
    };
    runtime.block_on(serve_loop(config, make_app(), trigger, listen, ready))
}

/// The life of one loop: startup, accept until told to stop, drain, shutdown.
async fn serve_loop<A: App>(
    config: Arc<Config>,
    app: A,
    trigger: Arc<ShutdownTrigger>,
    listen: Listen,
    ready: mpsc::Sender<Result<SocketAddr, ()>>,
) -> Result<(), ServerError> {
    let state = Rc::new(State::default());
    if let Err(message) = app.lifespan(LifespanEvent::Startup, &state).await {
        log_error!("application startup failed: {message}");
        let _ = ready.send(Err(()));
        return Err(ServerError::Startup(message));
    }
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    let (bound, addr) = match listen {
        Listen::Bind(addr) => {
            let options = ListenOptions { reuse_port: config.workers > 1, backlog: config.backlog };
            (TcpListener::bind_with(addr, options).map(Listener::Tcp), addr)
        }
        Listen::Inherited(std) => {
            let addr = std.local_addr().unwrap_or(unspecified);
            (TcpListener::from_std(std).map(Listener::Tcp), addr)
        }
        Listen::Unix(std) => (UnixListener::from_std(std).map(Listener::Unix), unspecified),
    };
    let listener = match bound {
        Ok(listener) => listener,
        Err(source) => {
            let _ = ready.send(Err(()));
            // Lifespan shutdown runs even when binding fails: startup opened resources.
            let _ = app.lifespan(LifespanEvent::Shutdown, &state).await;
            return Err(ServerError::Bind { addr, source });
        }
    };
    let _ = ready.send(match &listener {
        Listener::Tcp(tcp) => tcp.local_addr().map_err(|_| ()),
        Listener::Unix(_) => Ok(unspecified),
    });

    let ctx = Rc::new(LoopContext {
        app,
        root_path: Rc::from(config.root_path.as_str()),
        config,
        state,
        connections: Rc::new(Connections::default()),
        task_name: Rc::from("http connection"),
    });
    // Accept until the trigger is pulled; dropping the accept loop closes the listener,
    // so new clients are refused from here on.
    select(accept_loop(ctx.clone(), listener), trigger.pulled()).await;

    ctx.connections.stop();
    let open = ctx.connections.open();
    if open > 0 {
        log_info!("waiting for {open} connection(s) to finish");
    }
    if timeout(ctx.config.timeout_graceful_shutdown, ctx.connections.drained()).await.is_err() {
        log_error!(
            "graceful shutdown timed out after {:?}; closing {} connection(s)",
            ctx.config.timeout_graceful_shutdown,
            ctx.connections.open()
        );
    }
    if let Err(message) = ctx.app.lifespan(LifespanEvent::Shutdown, &ctx.state).await {
        log_error!("application shutdown failed: {message}");
    }
    Ok(())
}

/// Accepts connections forever, one task each.
async fn accept_loop<A: App>(ctx: Rc<LoopContext<A>>, listener: Listener) {
    // Accept errors come in floods (every retry fails the same way until connections
    // close), so they are logged once per interval with a count, not once each.
    let mut failures = FailureLog::default();
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let guard = ctx.connections.add();
                drop(spawn_named(ctx.task_name.clone(), conn::serve_connection(ctx.clone(), stream, peer, guard)));
            }
            Err(e) => {
                // Usually EMFILE (out of file descriptors). Retrying at once would spin;
                // pause so that closing connections can free some.
                failures.record(&e);
                sleep(ACCEPT_PAUSE).await;
            }
        }
    }
}

/// How long the accept loop pauses after a failed accept.
const ACCEPT_PAUSE: Duration = Duration::from_millis(50);
/// At most one accept-error line per this interval.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Rate-limits the accept loop's error lines.
#[derive(Default)]
struct FailureLog {
    /// When the last line was written; `None` before the first failure.
    last_line: Option<std::time::Instant>,
    /// Failures since that line, not yet reported.
    unreported: u64,
}

impl FailureLog {
    fn record(&mut self, error: &std::io::Error) {
        self.unreported += 1;
        let now = std::time::Instant::now();
        if self.last_line.is_some_and(|at| now.duration_since(at) < ACCEPT_LOG_INTERVAL) {
            return;
        }
        let count = std::mem::take(&mut self.unreported);
        let since = if self.last_line.is_some() { " in the last interval" } else { "" };
        log_error!("accept failed {count} time(s){since}: {error}; retrying every {ACCEPT_PAUSE:?}");
        self.last_line = Some(now);
    }
}

/// Raises the soft limit on open files to the hard limit, as Go's runtime does at start:
/// the soft limit (often 1024) is a compatibility default for programs that use
/// `select(2)`, and a server on epoll only runs out of descriptors sooner with it.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `getrlimit` writes one `rlimit` through a valid, exclusive pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 || limit.rlim_cur >= limit.rlim_max {
        return;
    }
    let soft = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: `setrlimit` reads one initialised `rlimit` through a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0 {
        log_debug!("raised the open-file limit from {soft} to {}", limit.rlim_max);
    }
}
