//! The `Date` header, formatted once a second rather than once a response.
//!
//! Every response must carry `Date: Sun, 06 Nov 1994 08:49:37 GMT` (RFC 9110 §6.6.1).
//! Formatting a date costs more than the rest of a small response's head, and its value
//! changes only once a second, so each loop thread keeps the formatted bytes and the
//! instant at which they go stale, and redoes them then. The check uses the loop's own
//! clock ([`loop_time`]: the instant the loop last woke), so a response costs no clock
//! read at all; the date it carries is at most one loop turn old.

use std::cell::RefCell;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rasgi_reactor::loop_time;

/// `Sun, 06 Nov 1994 08:49:37 GMT` is 29 bytes.
const DATE_LEN: usize = 29;

/// The cached value of one thread.
struct DateCache {
    /// When the wall clock's second changes after the one `bytes` describes; `None`
    /// before the first use.
    stale_at: Option<Instant>,
    /// The formatted date.
    bytes: [u8; DATE_LEN],
}

thread_local! {
    static CACHE: RefCell<DateCache> = const { RefCell::new(DateCache { stale_at: None, bytes: [0; DATE_LEN] }) };
}

/// Appends the current HTTP date to `out`.
pub fn append_date(out: &mut Vec<u8>) {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !matches!(cache.stale_at, Some(at) if loop_time() < at) {
            let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
            cache.bytes = format_http_date(wall.as_secs());
            let rest_of_second = Duration::from_secs(1) - Duration::from_nanos(u64::from(wall.subsec_nanos()));
            cache.stale_at = Some(Instant::now() + rest_of_second);
        }
        out.extend_from_slice(&cache.bytes);
    });
}

/// Formats a Unix time as an IMF-fixdate.
pub fn format_http_date(unix: u64) -> [u8; DATE_LEN] {
    const DAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
    const MONTHS: [&[u8; 3]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    let mut out = [0u8; DATE_LEN];
    out[..3].copy_from_slice(DAYS[(days % 7) as usize]); // 1970-01-01 was a Thursday
    out[3..5].copy_from_slice(b", ");
    two_digits(&mut out[5..7], day);
    out[7] = b' ';
    out[8..11].copy_from_slice(MONTHS[(month - 1) as usize]);
    out[11] = b' ';
    let y = year as u32;
    two_digits(&mut out[12..14], y / 100);
    two_digits(&mut out[14..16], y % 100);
    out[16] = b' ';
    two_digits(&mut out[17..19], (secs / 3600) as u32);
    out[19] = b':';
    two_digits(&mut out[20..22], (secs / 60 % 60) as u32);
    out[22] = b':';
    two_digits(&mut out[23..25], (secs % 60) as u32);
    out[25..29].copy_from_slice(b" GMT");
    out
}

fn two_digits(out: &mut [u8], n: u32) {
    out[0] = b'0' + (n / 10 % 10) as u8;
    out[1] = b'0' + (n % 10) as u8;
}

/// Days since 1970-01-01 to (year, month, day): Howard Hinnant's `civil_from_days`.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_known_dates() {
        assert_eq!(&super::format_http_date(784_111_777), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(&super::format_http_date(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&super::format_http_date(1_709_164_800), b"Thu, 29 Feb 2024 00:00:00 GMT");
    }
}
