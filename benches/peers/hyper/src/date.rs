//! The `Date` header, formatted at most once per second.
//!
//! Formatting an IMF-fixdate on every response is measurable at 100k+ requests per second, and
//! every serious server (hyper's own server, nginx, rasgi) caches it. The runtime has one thread,
//! so a thread-local cache needs no lock.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use hyper::header::HeaderValue;

thread_local! {
    /// (unix second the value was formatted for, the formatted header). Refreshed whenever the
    /// clock's second differs, so it is never more than one second stale.
    static CACHED: RefCell<(u64, HeaderValue)> = const {
        RefCell::new((0, HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT")))
    };
}

/// The current `Date` header value. Cloning a `HeaderValue` only bumps a reference count.
pub fn now() -> HeaderValue {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != second {
            let text = httpdate::fmt_http_date(now);
            cached.1 = HeaderValue::from_str(&text).expect("an HTTP date is valid header text");
            cached.0 = second;
        }
        cached.1.clone()
    })
}
