//! The server: uvicorn's role.
//!
//! [`start`] runs `--workers N` event loops, each on its own thread with its own
//! `SO_REUSEPORT` listener and its own instance of the application — nothing shared,
//! the way uvicorn runs worker processes. Each loop:
//!
//! 1. builds the application and runs its lifespan startup (no connection is accepted
//!    before it completes; a failure stops the server with the application's message);
//! 2. binds its listener and accepts connections, one task per connection
//!    (`conn.rs`);
//! 3. on shutdown stops accepting, closes idle connections, waits for in-flight
//!    requests (bounded by `--timeout-graceful-shutdown`), then runs lifespan shutdown.

pub(crate) mod buffer;
mod config;
pub(crate) mod conn;
pub(crate) mod receive;
pub(crate) mod respond;
pub(crate) mod shutdown;
mod signal;
pub(crate) mod websocket;

use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use rasgi_executor::reactor::net::{ListenOptions, TcpListener};
use rasgi_executor::{log_error, log_info, select, sleep, spawn_named, timeout, Builder};

pub use config::{Config, USAGE};
pub use respond::reason_phrase;
pub use shutdown::ShutdownTrigger;

use crate::asgi::{App, LifespanEvent, State};
use crate::error::ServerError;
use shutdown::Connections;

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
}

impl ServerHandle {
    /// The address the server listens on (with the real port if 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
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
    let trigger = ShutdownTrigger::new();
    if config.handle_signals {
        signal::install(trigger.clone())?;
    }
    let mut addr = resolve(&config.host, config.port)?;
    let config = Arc::new(config);
    let make_app = Arc::new(make_app);
    let mut workers: Vec<thread::JoinHandle<Result<(), ServerError>>> = Vec::new();
    // Workers start one after another: the first may bind port 0 and so learn the real
    // port, which the others must then share.
    for index in 0..config.workers {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (worker_config, worker_app, worker_trigger) = (config.clone(), make_app.clone(), trigger.clone());
        let worker = thread::Builder::new()
            .name(format!("rasgi-worker-{index}"))
            .spawn(move || run_worker(worker_config, worker_app, worker_trigger, addr, ready_tx))?;
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
    log_info!("rasgi running on http://{addr} with {} worker loop(s) (press CTRL+C to quit)", config.workers);
    Ok(ServerHandle { addr, trigger, workers })
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
    addr: SocketAddr,
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
    runtime.block_on(serve_loop(config, make_app(), trigger, addr, ready))
}

/// The life of one loop: startup, accept until told to stop, drain, shutdown.
async fn serve_loop<A: App>(
    config: Arc<Config>,
    app: A,
    trigger: Arc<ShutdownTrigger>,
    addr: SocketAddr,
    ready: mpsc::Sender<Result<SocketAddr, ()>>,
) -> Result<(), ServerError> {
    let state = Rc::new(State::default());
    if let Err(message) = app.lifespan(LifespanEvent::Startup, &state).await {
        log_error!("application startup failed: {message}");
        let _ = ready.send(Err(()));
        return Err(ServerError::Startup(message));
    }
    let options = ListenOptions { reuse_port: config.workers > 1, backlog: config.backlog };
    let listener = match TcpListener::bind_with(addr, options) {
        Ok(listener) => listener,
        Err(source) => {
            let _ = ready.send(Err(()));
            // Lifespan shutdown runs even when binding fails: startup opened resources.
            let _ = app.lifespan(LifespanEvent::Shutdown, &state).await;
            return Err(ServerError::Bind { addr, source });
        }
    };
    let _ = ready.send(listener.local_addr().map_err(|_| ()));

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
async fn accept_loop<A: App>(ctx: Rc<LoopContext<A>>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                drop(spawn_named(ctx.task_name.clone(), conn::serve_connection(ctx.clone(), stream, peer)));
            }
            Err(e) => {
                // Usually EMFILE (out of file descriptors). Retrying at once would spin;
                // pause so that closing connections can free some.
                log_error!("accept failed: {e}; pausing 50 ms");
                sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
