//! Diagnostics on stderr: warnings from the loop (a slow poll), the server's access log.
//!
//! A deliberately tiny logger — a global level and four macros — because a web runtime
//! needs exactly this much, and the `log`/`tracing` facades would add a dependency for a
//! feature a reader can see whole in one screen. Messages go to stderr, one line each,
//! written with a single `write` call so lines from several worker threads never
//! interleave.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

/// How much to log, in increasing verbosity (uvicorn's `--log-level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Nothing at all.
    Off = 0,
    /// Something failed.
    Error = 1,
    /// Something is wrong but the program goes on (a slow poll).
    Warn = 2,
    /// What a person running the server wants to see (startup, access log).
    Info = 3,
    /// Details for whoever is debugging.
    Debug = 4,
}

impl Level {
    /// Parses a level name as uvicorn spells them (`critical` and `error` are the same
    /// here; `trace` is `debug`).
    pub fn parse(name: &str) -> Option<Level> {
        Some(match name.to_ascii_lowercase().as_str() {
            "off" | "none" => Level::Off,
            "critical" | "error" => Level::Error,
            "warning" | "warn" => Level::Warn,
            "info" => Level::Info,
            "debug" | "trace" => Level::Debug,
            _ => return None,
        })
    }

    fn label(self) -> &'static str {
        match self {
            Level::Off => "",
            Level::Error => "ERROR",
            Level::Warn => "WARNING",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

/// The current level; `Info` until changed.
static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the process-wide log level.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// True when messages at `level` are written. The macros check this before formatting,
/// so a disabled message costs one atomic load.
#[inline]
pub fn enabled(level: Level) -> bool {
    level != Level::Off && level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one line at `level`. Prefer the macros, which skip the formatting when the
/// level is off.
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    let line = format!("{:<8} {}\n", format!("{}:", level.label()), args);
    // A closed stderr is not worth crashing a server for.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Logs at error level.
#[macro_export]
macro_rules! log_error {
    ($($arg:tt)*) => { if $crate::log::enabled($crate::log::Level::Error) { $crate::log::write($crate::log::Level::Error, format_args!($($arg)*)) } };
}

/// Logs at warning level.
#[macro_export]
macro_rules! log_warn {
    ($($arg:tt)*) => { if $crate::log::enabled($crate::log::Level::Warn) { $crate::log::write($crate::log::Level::Warn, format_args!($($arg)*)) } };
}

/// Logs at info level.
#[macro_export]
macro_rules! log_info {
    ($($arg:tt)*) => { if $crate::log::enabled($crate::log::Level::Info) { $crate::log::write($crate::log::Level::Info, format_args!($($arg)*)) } };
}

/// Logs at debug level.
#[macro_export]
macro_rules! log_debug {
    ($($arg:tt)*) => { if $crate::log::enabled($crate::log::Level::Debug) { $crate::log::write($crate::log::Level::Debug, format_args!($($arg)*)) } };
}
