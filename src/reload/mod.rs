//! `--reload`: uvicorn's reloader, rebuilt for a compiled language — a supervisor that
//! owns the listening socket while the server is rebuilt and replaced underneath it.
//!
//! `uvicorn main:app --reload` starts a supervisor that binds the socket, hands it to a
//! server child, watches the sources, and on a change terminates that child and only
//! then starts a fresh one, which imports the new code. The socket survives in the
//! supervisor, so clients queue in the backlog meanwhile; but nobody accepts them until
//! the new child has imported everything, and if the new code is broken the new child
//! dies on import and the app is down until the next save. Python's gap is an import;
//! Rust's would be a compile, seconds to minutes — and `cargo watch -x run` is worse
//! still: it kills the server, so the port itself closes and clients are refused. So
//! here the order is reversed, and the old server serves until its successor is up:
//!
//! 1. The supervisor binds `--host`/`--port` once and clears `FD_CLOEXEC` on the socket,
//!    so every child inherits it; the child serves it through `--fd N`.
//! 2. On a change it waits for a quiet period (a save is often several writes), then runs
//!    `cargo build` while the **old server keeps serving**.
//! 3. If the build fails, the compiler's errors are printed and nothing else happens —
//!    the old server is still there. (uvicorn would restart into an `ImportError`.)
//! 4. If it succeeds, the new child starts on the same socket. Until it logs that it is
//!    running, the old child is still accepting; after that, both accept from the one
//!    kernel queue for a moment. Then the old child gets SIGTERM, stops accepting,
//!    finishes its in-flight requests and exits.
//!
//! The socket itself never closes, so the kernel keeps completing handshakes into its
//! listen backlog throughout: a client is never refused, at worst it waits.
//!
//! # One loop for files and sockets
//!
//! The supervisor is an ordinary rasgi program on an ordinary rasgi loop. File changes
//! arrive on an inotify descriptor, SIGINT/SIGTERM on a signalfd; both are registered
//! with the reactor through `mio::unix::SourceFd` exactly as a TCP socket is, and read by
//! the same edge-triggered `poll_io` (read until `WouldBlock`, then leave a waker). The
//! loop that waits for a client's bytes is the loop that waits for a saved file: one
//! `epoll_wait` for everything, which is the whole idea of a reactor. Children's exits
//! (`waitpid`) and their log pipes run on the blocking pool, the `run_in_executor` of
//! rasgi, so no call here ever blocks the loop.
//!
//! # Layout
//!
//! | file | concept |
//! |---|---|
//! | `mod.rs` | the flags (`--reload`, `--reload-dir`, `--reload-include`, `--reload-exclude`), binding and handing over the socket |
//! | `supervisor.rs` | the loop: debounce, build, start the next child, wait until ready, drain the old one |
//! | `watch.rs` | [`watch::Watcher`]: recursive inotify watches, read through the reactor |
//! | `signals.rs` | SIGINT/SIGTERM as a readable signalfd on the same loop |
//! | `fd.rs` | [`fd::AsyncFd`]: any non-socket descriptor waited on by the reactor |
//! | `glob.rs` | the `fnmatch`-style patterns of the include and exclude flags |

pub mod fd;
pub mod glob;
pub mod signals;
pub mod supervisor;
pub mod watch;

use std::fmt;
use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Duration;

use rasgi_executor::log::Level;
use rasgi_http::server::Config;

use self::supervisor::Plan;
use self::watch::{Filter, Watcher};

/// The reload flags, for `--help` after the server's.
pub const USAGE: &str =
    "  --reload                         rebuild and restart on source changes; the socket stays open throughout
  --reload-dir DIR                 watch DIR (repeatable; default: the current directory)
  --reload-include GLOB            also watch files matching GLOB (repeatable; default: *.rs *.toml *.html)
  --reload-exclude GLOB            ignore files and directories matching GLOB (repeatable; default: target/* .*)
";

/// Patterns watched unless `--reload-exclude` names them.
pub const DEFAULT_INCLUDE: [&str; 3] = ["*.rs", "*.toml", "*.html"];

/// Patterns ignored unless `--reload-include` names them.
pub const DEFAULT_EXCLUDE: [&str; 2] = ["target/*", ".*"];

/// The debounce period: how long the tree must stay untouched before a rebuild.
pub const QUIET: Duration = Duration::from_millis(300);

/// What went wrong starting or running the supervisor.
#[derive(Debug)]
pub enum ReloadError {
    /// A reload flag is malformed or misplaced, or the server's flags are invalid.
    Args(String),
    /// The listening socket could not be bound or prepared for handing over.
    Listen(String, io::Error),
    /// SIGINT/SIGTERM could not be routed to the loop.
    Signals(io::Error),
    /// inotify failed (often: the per-user watch limit, `fs.inotify.max_user_watches`).
    Watch(io::Error),
    /// The build command could not be run at all (is `cargo` on the PATH?).
    Build(io::Error),
    /// The supervisor's own loop could not start.
    Runtime(io::Error),
    /// The first server exited before it was ready; nothing was serving yet.
    FirstServer(String),
}

impl fmt::Display for ReloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReloadError::Args(m) => write!(f, "{m}"),
            ReloadError::Listen(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            ReloadError::Signals(e) => write!(f, "cannot receive SIGINT/SIGTERM: {e}"),
            ReloadError::Watch(e) => write!(
                f,
                "cannot watch the sources: {e} (if the watch limit is reached, raise fs.inotify.max_user_watches)"
            ),
            ReloadError::Build(e) => write!(f, "cannot run the build command: {e}"),
            ReloadError::Runtime(e) => write!(f, "cannot start the supervisor's loop: {e}"),
            ReloadError::FirstServer(why) => write!(f, "the server did not start: {why}"),
        }
    }
}

impl std::error::Error for ReloadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReloadError::Listen(_, e)
            | ReloadError::Signals(e)
            | ReloadError::Watch(e)
            | ReloadError::Build(e)
            | ReloadError::Runtime(e) => Some(e),
            ReloadError::Args(_) | ReloadError::FirstServer(_) => None,
        }
    }
}

/// The reload flags, parsed.
#[derive(Clone, Debug)]
pub struct Options {
    /// The directory trees to watch; never empty (the current directory by default).
    pub dirs: Vec<PathBuf>,
    /// What counts as a change.
    pub filter: Filter,
}

/// True if `args` ask for the reloader (any `--reload*` flag).
pub fn requested(args: &[String]) -> bool {
    args.iter().any(|a| a == "--reload" || a.starts_with("--reload-") || a.starts_with("--reload="))
}

/// Takes the reload flags out of `args`: the options, and the server's flags left over.
///
/// As in uvicorn, `--reload-include` and `--reload-exclude` add to the defaults, and
/// naming a pattern in one removes it from the other's defaults (`--reload-include '.*'`
/// watches hidden files).
pub fn split_args(args: Vec<String>) -> Result<(Options, Vec<String>), ReloadError> {
    let (mut reload, mut dirs, mut include, mut exclude) = (false, Vec::new(), Vec::new(), Vec::new());
    let mut rest = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--reload") => (f.to_owned(), Some(v.to_owned())),
            _ => (arg, None),
        };
        let mut value = |name: &str| {
            inline.clone().or_else(|| args.next()).ok_or_else(|| ReloadError::Args(format!("{name} needs a value")))
        };
        match flag.as_str() {
            "--reload" => reload = true,
            "--reload-dir" => dirs.push(PathBuf::from(value("--reload-dir")?)),
            "--reload-include" => include.push(value("--reload-include")?),
            "--reload-exclude" => exclude.push(value("--reload-exclude")?),
            "--fd" | "--uds" => {
                return Err(ReloadError::Args(format!(
                    "{flag} cannot be combined with --reload: the reloader binds --host/--port itself and hands the socket to each server"
                )))
            }
            _ => rest.push(flag),
        }
    }
    if !reload {
        return Err(ReloadError::Args("--reload-dir, --reload-include and --reload-exclude need --reload".into()));
    }
    if dirs.is_empty() {
        dirs.push(PathBuf::from("."));
    }
    let merged = |defaults: &[&str], given: &[String], other: &[String]| -> Vec<String> {
        let mut all: Vec<String> = defaults.iter().map(|p| p.to_string()).filter(|p| !other.contains(p)).collect();
        for pattern in given {
            if !all.contains(pattern) {
                all.push(pattern.clone());
            }
        }
        all
    };
    let filter = Filter {
        include: merged(&DEFAULT_INCLUDE, &include, &exclude),
        exclude: merged(&DEFAULT_EXCLUDE, &exclude, &include),
    };
    Ok((Options { dirs, filter }, rest))
}

/// Removes `--host` and `--port` (with their values) from the server's flags: the
/// children serve the inherited socket instead.
fn without_address(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--host" || arg == "--port" {
            args.next();
        } else if !(arg.starts_with("--host=") || arg.starts_with("--port=")) {
            out.push(arg.clone());
        }
    }
    out
}

/// Binds the socket every child will serve and makes it survive `exec`.
fn listen(config: &Config) -> Result<TcpListener, ReloadError> {
    let addr = format!("{}:{}", config.host, config.port);
    // std's bind sets SO_REUSEADDR, so a restarted supervisor can rebind at once.
    let listener = TcpListener::bind(&addr).map_err(|e| ReloadError::Listen(addr.clone(), e))?;
    let fd = listener.as_raw_fd();
    // SAFETY: `fd` is the listener's open descriptor; F_GETFD takes no argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    // SAFETY: as above; F_SETFD takes the new descriptor flags.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) } < 0 {
        return Err(ReloadError::Listen(addr, io::Error::last_os_error()));
    }
    let backlog = config.backlog;
    // A second listen() on a listening socket only changes its backlog: std's default is
    // smaller than --backlog, and the backlog is where clients wait during a handover.
    // SAFETY: `fd` is a bound, listening TCP socket.
    if unsafe { libc::listen(fd, backlog) } < 0 {
        return Err(ReloadError::Listen(addr, io::Error::last_os_error()));
    }
    Ok(listener)
}

/// Runs the reloader: `args` are the program's arguments (without the program name),
/// `--reload` among them; `own_flags` are the program's own value-less flags beside the
/// server's (passed on to every child, not checked here). Returns when SIGINT or SIGTERM
/// stopped it.
///
/// The current executable is the server: it is rebuilt in place by `cargo build` (the
/// same profile this binary was built with, `--bin` its name) and re-run as
/// `<exe> --fd N <the other flags>` after each successful build.
pub fn run(args: Vec<String>, own_flags: &[&str]) -> Result<(), ReloadError> {
    let (options, rest) = split_args(args)?;
    let server_flags = rest.iter().filter(|a| !own_flags.contains(&a.as_str())).cloned();
    let config = Config::from_args(server_flags).map_err(|e| ReloadError::Args(e.to_string()))?;
    rasgi_executor::log::set_level(config.log_level);
    // Before any thread starts, so that every thread inherits the blocked mask.
    signals::block().map_err(ReloadError::Signals)?;
    let listener = listen(&config)?;
    let exe =
        std::env::current_exe().map_err(|e| ReloadError::Args(format!("cannot find this program's path: {e}")))?;
    let name = exe.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = vec![cargo, "build".to_owned(), "--bin".to_owned(), name];
    if !cfg!(debug_assertions) {
        build.push("--release".to_owned());
    }
    let mut server_args = vec!["--fd".to_owned(), listener.as_raw_fd().to_string()];
    server_args.extend(without_address(&rest));
    let plan = Plan { exe, server_args, build, quiet: QUIET, ready_mark_visible: config.log_level >= Level::Info };
    let addr = listener.local_addr().map_err(|e| ReloadError::Listen(config.host.clone(), e))?;
    rasgi_executor::log_info!("reloader listening on http://{addr}; the socket stays open across rebuilds");
    let runtime = rasgi_executor::Runtime::new().map_err(ReloadError::Runtime)?;
    let outcome = runtime.block_on(async {
        let signals = signals::Signals::new().map_err(ReloadError::Signals)?;
        let watcher = Watcher::new(&options.dirs, options.filter).map_err(ReloadError::Watch)?;
        supervisor::supervise(plan, signals, watcher).await
    });
    // Held open until every child is gone: closing it earlier would refuse clients.
    drop(listener);
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_are_taken_out_and_defaults_merged() {
        let args = strings(&[
            "--port",
            "8000",
            "--reload",
            "--reload-dir",
            "src",
            "--reload-dir=static",
            "--reload-include",
            ".*",
            "--reload-exclude=*.html",
            "--workers",
            "2",
        ]);
        let (options, rest) = split_args(args).unwrap();
        assert_eq!(options.dirs, [PathBuf::from("src"), PathBuf::from("static")]);
        assert_eq!(options.filter.include, strings(&["*.rs", "*.toml", ".*"]));
        assert_eq!(options.filter.exclude, strings(&["target/*", "*.html"]));
        assert_eq!(rest, strings(&["--port", "8000", "--workers", "2"]));
        assert_eq!(
            without_address(&strings(&["--host", "0.0.0.0", "--port=1", "--workers", "2"])),
            strings(&["--workers", "2"])
        );
    }

    #[test]
    fn misuse_is_an_error_with_a_reason() {
        let e = split_args(strings(&["--reload-dir", "src"])).unwrap_err();
        assert_eq!(e.to_string(), "--reload-dir, --reload-include and --reload-exclude need --reload");
        let e = split_args(strings(&["--reload", "--reload-include"])).unwrap_err();
        assert_eq!(e.to_string(), "--reload-include needs a value");
        assert!(split_args(strings(&["--reload", "--fd", "3"])).unwrap_err().to_string().starts_with("--fd cannot"));
        let (options, _) = split_args(strings(&["--reload"])).unwrap();
        assert_eq!(options.dirs, [PathBuf::from(".")]);
        assert!(requested(&strings(&["--reload-exclude=x"])));
        assert!(!requested(&strings(&["--port", "1"])));
    }
}
