//! # rasgi
//!
//! An ASGI-like async web runtime for Rust, built from first principles. This crate is
//! the top layer: the FastAPI-like application layer, the Postgres wire client, and
//! the seed's demo application. The layers below are `rasgi-reactor` (waiting),
//! `rasgi-executor` (running) and `rasgi-http` (the server, the ASGI-like contract and
//! the HTTPS client). The README is the reading guide.
//!
//! # Layout
//!
//! | module | concept |
//! |---|---|
//! | [`app`] | FastAPI's role: routes, parameters, JSON, `call_next` middleware, errors |
//! | [`pg`] | asyncpg's role: the Postgres wire protocol on rasgi's loop |
//! | [`demo`] | the seed's application, route for route |
//! | [`chat`] | the demo's WebSocket routes: `/ws/echo`, chat rooms on a broadcast channel, `/chat` |
//! | [`loopview`] | the live loop view at `/_rasgi/`: tasks, sockets, timers, the blocking pool |
//! | [`timeline`] | the loop's timeline as rows and as Chrome Trace Event JSON (`/_rasgi/trace.json`, `RASGI_TRACE_FILE`) |
//! | [`reload`] | `--reload`: a supervisor that keeps the socket open while it rebuilds and replaces the server |
#![warn(missing_docs)]

pub mod app;
pub mod chat;
pub mod demo;
pub mod loopview;
pub mod pg;
pub mod reload;
pub mod timeline;

/// The README's Rust examples, compiled and run as doctests so the guide cannot drift
/// from the code.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
