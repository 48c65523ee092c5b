//! Random `World` ids (1..=10,000) without a `rand` dependency.
//!
//! The benchmark needs uniformly spread ids, not cryptographic quality: an xorshift generator
//! per thread is a few instructions and keeps the peer's dependency list to what it compares.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    /// xorshift64 state; never zero (zero is xorshift's only fixed point).
    static STATE: Cell<u64> = Cell::new(
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0x9E37_79B9, |d| d.as_nanos() as u64) | 1,
    );
}

/// A random id in 1..=10_000, as TechEmpower's `World` table holds.
pub fn world_id() -> i32 {
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x % 10_000) as i32 + 1
    })
}
