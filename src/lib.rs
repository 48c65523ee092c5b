//! # rasgi
//!
//! An ASGI-like async web runtime for Rust, built from first principles.
#![warn(missing_docs)]

pub mod app;
pub mod demo;
pub mod pg;
