//! Panics as values: where a panic is caught, what it becomes, and the one line it logs.
//!
//! A Rust panic is two events. When `panic!` runs, the process-wide *panic hook* prints
//! `thread 'x' panicked at src/demo.rs:42:5: boom`. Then the stack unwinds until a
//! `catch_unwind` stops it and hands over the payload — the message, but no longer the
//! place. A server that catches panics and logs them therefore logs each one twice, once
//! with the location and no request, once with the request and no location.
//!
//! [`catch`] joins the two halves. While a thread is inside `catch`, the hook (installed
//! by the first `catch`, wrapping whatever hook was there) prints nothing: it notes the
//! location, and a backtrace when `RUST_BACKTRACE` asks for one, in a thread-local that
//! `catch` picks up into the [`Panic`] it returns. Whoever caught it logs one line that
//! says both where the code panicked and what it was doing. A panic outside every `catch`
//! (in `main`, say) still goes to the previous hook and prints as usual.
//!
//! rasgi catches panics in three places, innermost first, and each gives the panic a
//! different outcome:
//!
//! | catch point | what it guards | the panic becomes | logged |
//! |---|---|---|---|
//! | `catch_panics` in the app layer (`src/app/mod.rs`) | a route's handler and the app's middleware | a 500 JSON response, as FastAPI's `ServerErrorMiddleware` | once, by the app: `GET /panic: handler panicked at …` |
//! | `run_app` in the server (`http/src/server/conn.rs`; `websocket.rs` for sessions) | any `App::call`, e.g. a raw ASGI-like app | a 500 if no response head was sent yet, else a closed connection; a WebSocket closes with 1011 | once, by the server: `GET /x: the application panicked at …` |
//! | `run_task` for [`spawn`](crate::spawn) (`join.rs`), the pool thread for [`spawn_blocking`](crate::spawn_blocking) | one task or blocking job | [`JoinError::Panicked`](crate::JoinError) for whoever awaits it | by whoever awaits it; if nobody can any more, once: `task 'x' panicked at … and nobody awaited it` |
//!
//! The last row is asyncio's rule: an exception stays in its `Task` until someone awaits
//! it, and "Task exception was never retrieved" is logged when the task is dropped
//! unawaited. A panic caught by an inner point never reaches an outer one: a handler's
//! panic is the app layer's 500, and the server sees an ordinary response.

use std::any::Any;
use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::{Cell, RefCell};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// How many [`catch`] calls this thread is inside. The hook stays quiet while it is
    /// above zero. (A count, not a flag: the three catch points nest.)
    static CATCHING: Cell<u32> = const { Cell::new(0) };
    /// Where the latest quiet panic on this thread happened; taken by the `catch` that
    /// stops it. Empty unless a panic is unwinding towards a `catch`.
    static HOOK_NOTE: RefCell<Option<Note>> = const { RefCell::new(None) };
}

/// Installs the hook once per process.
static INSTALL: Once = Once::new();

/// What the hook remembers of a panic it did not print.
struct Note {
    /// `file:line:column` of the `panic!`.
    location: Option<String>,
    /// Captured only when `RUST_BACKTRACE` (or `RUST_LIB_BACKTRACE`) asks for it, as the
    /// default hook does.
    backtrace: Option<Backtrace>,
}

/// A caught panic: its payload, and where it happened when the hook saw it.
pub struct Panic {
    /// What `panic!` was given: a `&'static str` or a `String` for `panic!("...")`.
    payload: Box<dyn Any + Send + 'static>,
    /// `file:line:column`, when the panic was caught by [`catch`] (not by a bare
    /// `catch_unwind`) and the hook had a location.
    location: Option<String>,
    /// The backtrace, when `RUST_BACKTRACE` asked for one.
    backtrace: Option<Backtrace>,
}

impl Panic {
    /// A panic caught elsewhere, from its payload alone (no location).
    pub fn from_payload(payload: Box<dyn Any + Send + 'static>) -> Panic {
        Panic { payload, location: None, backtrace: None }
    }

    /// The message, when the payload is a string (as `panic!("...")` makes it).
    pub fn message(&self) -> Option<&str> {
        panic_message(self.payload.as_ref())
    }

    /// Where the panic happened: `src/demo.rs:42:5`.
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// The payload, to re-raise it with `std::panic::resume_unwind`.
    pub fn into_payload(self) -> Box<dyn Any + Send + 'static> {
        self.payload
    }
}

/// `panicked at src/demo.rs:42:5: boom`, then the backtrace on the lines below if one was
/// captured: the tail of a log line whose head says what was running.
impl fmt::Display for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("panicked")?;
        if let Some(location) = &self.location {
            write!(f, " at {location}")?;
        }
        write!(f, ": {}", self.message().unwrap_or("(no message)"))?;
        if let Some(backtrace) = &self.backtrace {
            write!(f, "\nstack backtrace:\n{backtrace}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Panic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Panic").field("message", &self.message()).field("location", &self.location).finish()
    }
}

/// Extracts the text of a panic payload, if it has one.
pub fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload.downcast_ref::<&'static str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// Runs `f`, turning a panic inside it into `Err(Panic)` — `catch_unwind` that also
/// keeps the location and keeps the panic hook from printing it (see the module
/// documentation). The caller logs it, once.
///
/// Like `catch_unwind(AssertUnwindSafe(f))`, it is the caller's promise that nothing `f`
/// left half-updated is used afterwards: every catch point in rasgi drops the future that
/// panicked and never polls it again.
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Panic> {
    // `call_once` is one atomic load once the hook is in place, cheap enough for a
    // catch point that runs on every poll.
    INSTALL.call_once(install_hook);
    CATCHING.with(|depth| depth.set(depth.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|depth| depth.set(depth.get() - 1));
    result.map_err(|payload| {
        let note = HOOK_NOTE.with(|note| note.borrow_mut().take());
        let (location, backtrace) = note.map_or((None, None), |n| (n.location, n.backtrace));
        Panic { payload, location, backtrace }
    })
}

/// Wraps the current hook in one that stays quiet inside [`catch`].
fn install_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        // `try_with`: a panic while the thread's locals are being torn down must still
        // be reported, by the previous hook.
        let quiet = CATCHING.try_with(|depth| depth.get() > 0).unwrap_or(false);
        if !quiet {
            return previous(info);
        }
        let backtrace = Backtrace::capture();
        let note = Note {
            location: info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column())),
            backtrace: (backtrace.status() == BacktraceStatus::Captured).then_some(backtrace),
        };
        let _ = HOOK_NOTE.try_with(|slot| *slot.borrow_mut() = Some(note));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_panic_keeps_its_message_and_location() {
        let line = line!() + 1;
        let caught = catch(|| -> u32 { panic!("boom {}", 7) }).unwrap_err();
        assert_eq!(caught.message(), Some("boom 7"));
        assert_eq!(caught.location(), Some(format!("executor/src/panic.rs:{line}:40").as_str()));
        // The first line; a backtrace follows it when `RUST_BACKTRACE` is set.
        let text = caught.to_string();
        assert_eq!(text.lines().next(), Some(format!("panicked at executor/src/panic.rs:{line}:40: boom 7").as_str()));
    }

    #[test]
    fn no_panic_passes_the_value_through_and_leaves_the_depth_at_zero() {
        assert_eq!(catch(|| 41 + 1).unwrap(), 42);
        assert_eq!(CATCHING.with(Cell::get), 0);
    }

    #[test]
    fn nested_catches_each_see_their_own_panic() {
        let outer = catch(|| {
            let inner = catch(|| panic!("inner")).unwrap_err();
            assert_eq!(inner.message(), Some("inner"));
            assert_eq!(CATCHING.with(Cell::get), 1);
            panic!("outer")
        })
        .unwrap_err();
        assert_eq!(outer.message(), Some("outer"));
        assert!(outer.location().is_some_and(|l| l.starts_with("executor/src/panic.rs:")));
        assert_eq!(CATCHING.with(Cell::get), 0);
    }

    #[test]
    fn a_payload_that_is_not_a_string_has_no_message() {
        let caught = catch(|| std::panic::panic_any(17_u8)).unwrap_err();
        assert_eq!(caught.message(), None);
        let text = caught.to_string();
        assert!(text.lines().next().is_some_and(|l| l.ends_with(": (no message)")), "{text}");
        assert_eq!(caught.into_payload().downcast_ref::<u8>(), Some(&17));
    }
}
