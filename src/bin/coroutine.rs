//! The seed's first snippet, on rasgi's loop:
//!
//! ```python
//! async def my_coroutine():
//!     print("Starting coroutine")
//!     await asyncio.sleep(1)
//!     print("Coroutine finished")
//! ```
//!
//! `cargo run --release --bin coroutine`. The coroutine itself lives in
//! `executor/src/coroutine.rs`, next to its hand-desugared twin.

use std::time::Duration;

fn main() {
    rasgi_executor::block_on(rasgi_executor::coroutine::my_coroutine(
        |line| println!("{line}"),
        Duration::from_secs(1),
    ));
}
