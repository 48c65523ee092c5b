//! Dates and times: `date`, `time`, `timestamp`, `timestamptz` — asyncpg's
//! `codecs/datetime.pyx`, which returns Python `date`, `time` and `datetime` objects.
//!
//! On the wire (binary) each is one integer counted from PostgreSQL's epoch, 2000-01-01:
//! a `date` is an `i32` of days, a `time` an `i64` of microseconds since midnight, a
//! `timestamp` and a `timestamptz` an `i64` of microseconds (a `timestamptz` in UTC: the session
//! time zone only affects the *text* format, one more reason to use binary). `i32::MAX`/`i64::MAX`
//! and the minimums stand for `infinity` and `-infinity`.
//!
//! The four types here keep exactly that integer, so they round-trip every value PostgreSQL can
//! hold, and convert to calendar fields with Howard Hinnant's `days_from_civil` algorithm. A
//! production program would likely use `chrono` or `time`; rasgi keeps to its six dependencies.
//! `Display` is ISO 8601 the way Python's `isoformat()` writes it (microseconds only when
//! non-zero, `+00:00` for UTC), which is also what `Row::to_json` emits. Years before 1 AD use
//! ISO 8601's astronomical numbering (year 0 = 1 BC).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, BytesMut};

use crate::pg::types::{fixed, mismatch, utf8, write_text, Encoded, Format, FromSql, ToSql, Type};

/// Days from 1970-01-01 to 2000-01-01.
const UNIX_TO_PG_DAYS: i64 = 10_957;
const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A calendar date, as days since 2000-01-01.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Date(pub i32);

/// A time of day without time zone, as microseconds since midnight (0 ..= 24:00:00).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Time(pub i64);

/// A date and time without time zone, as microseconds since 2000-01-01 00:00:00.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Timestamp(pub i64);

/// An instant, as microseconds since 2000-01-01 00:00:00 UTC.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct TimestampTz(pub i64);

impl Date {
    /// `infinity`.
    pub const INFINITY: Date = Date(i32::MAX);
    /// `-infinity`.
    pub const NEG_INFINITY: Date = Date(i32::MIN);

    /// The date of a (proleptic Gregorian) year, month and day; `None` if there is no such day.
    pub fn from_ymd(year: i32, month: u32, day: u32) -> Option<Date> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        i32::try_from(days_from_civil(year as i64, month, day) - UNIX_TO_PG_DAYS).ok().map(Date)
    }

    /// Year, month (1-12) and day (1-31).
    pub fn ymd(self) -> (i32, u32, u32) {
        let (y, m, d) = civil_from_days(self.0 as i64 + UNIX_TO_PG_DAYS);
        (y as i32, m, d)
    }
}

impl Time {
    /// A time of day; `None` when a field is out of range.
    pub fn from_hms_micro(hour: u32, minute: u32, second: u32, micro: u32) -> Option<Time> {
        if hour > 23 || minute > 59 || second > 59 || micro > 999_999 {
            return None;
        }
        Some(Time(((hour as i64 * 60 + minute as i64) * 60 + second as i64) * 1_000_000 + micro as i64))
    }

    /// Hour, minute, second and microsecond.
    pub fn hms_micro(self) -> (u32, u32, u32, u32) {
        let micros = self.0.rem_euclid(MICROS_PER_DAY + 1);
        let secs = micros / 1_000_000;
        ((secs / 3600) as u32, (secs / 60 % 60) as u32, (secs % 60) as u32, (micros % 1_000_000) as u32)
    }
}

impl Timestamp {
    /// `infinity`.
    pub const INFINITY: Timestamp = Timestamp(i64::MAX);
    /// `-infinity`.
    pub const NEG_INFINITY: Timestamp = Timestamp(i64::MIN);

    /// A date at a time of day. Dates beyond the range of a timestamp (about 292,000 years
    /// around 2000) saturate to ±infinity, as `Date::INFINITY` maps to `Timestamp::INFINITY`.
    pub fn new(date: Date, time: Time) -> Timestamp {
        Timestamp((date.0 as i64).saturating_mul(MICROS_PER_DAY).saturating_add(time.0))
    }

    /// The date part.
    pub fn date(self) -> Date {
        Date(self.0.div_euclid(MICROS_PER_DAY) as i32)
    }

    /// The time-of-day part.
    pub fn time(self) -> Time {
        Time(self.0.rem_euclid(MICROS_PER_DAY))
    }

    fn is_infinite(self) -> bool {
        self == Timestamp::INFINITY || self == Timestamp::NEG_INFINITY
    }
}

impl TimestampTz {
    /// `infinity`.
    pub const INFINITY: TimestampTz = TimestampTz(i64::MAX);
    /// `-infinity`.
    pub const NEG_INFINITY: TimestampTz = TimestampTz(i64::MIN);

    /// The instant `utc` (a wall-clock time read in UTC).
    pub fn from_utc(utc: Timestamp) -> TimestampTz {
        TimestampTz(utc.0)
    }

    /// The wall-clock time in UTC.
    pub fn to_utc(self) -> Timestamp {
        Timestamp(self.0)
    }

    /// Converts from the system clock's type (microsecond precision).
    pub fn from_system_time(t: SystemTime) -> TimestampTz {
        let pg_epoch = UNIX_TO_PG_DAYS * MICROS_PER_DAY;
        let micros = match t.duration_since(UNIX_EPOCH) {
            Ok(after) => after.as_micros() as i64,
            Err(before) => -(before.duration().as_micros() as i64),
        };
        TimestampTz(micros - pg_epoch)
    }

    /// Converts to the system clock's type; `None` for ±infinity.
    pub fn to_system_time(self) -> Option<SystemTime> {
        if self == TimestampTz::INFINITY || self == TimestampTz::NEG_INFINITY {
            return None;
        }
        let unix_micros = self.0.checked_add(UNIX_TO_PG_DAYS * MICROS_PER_DAY)?;
        if unix_micros >= 0 {
            UNIX_EPOCH.checked_add(Duration::from_micros(unix_micros as u64))
        } else {
            UNIX_EPOCH.checked_sub(Duration::from_micros(unix_micros.unsigned_abs()))
        }
    }
}

// ---- calendar arithmetic ----

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's `days_from_civil`): count
/// whole 400-year eras, then days within the era with March as the first month, so the leap
/// day falls at the end of the year.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month as i64 + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_from_march + 2) / 5 + 1) as u32;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 } as u32;
    let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// ---- text ----

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Date::INFINITY => f.write_str("infinity"),
            Date::NEG_INFINITY => f.write_str("-infinity"),
            _ => {
                let (y, m, d) = self.ymd();
                if (0..=9999).contains(&y) {
                    write!(f, "{y:04}-{m:02}-{d:02}")
                } else {
                    write!(f, "{y:+05}-{m:02}-{d:02}")
                }
            }
        }
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, m, s, us) = self.hms_micro();
        write!(f, "{h:02}:{m:02}:{s:02}")?;
        if us != 0 {
            write!(f, ".{us:06}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Timestamp::INFINITY => f.write_str("infinity"),
            Timestamp::NEG_INFINITY => f.write_str("-infinity"),
            _ => write!(f, "{}T{}", self.date(), self.time()),
        }
    }
}

impl fmt::Display for TimestampTz {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let utc = self.to_utc();
        if utc.is_infinite() {
            return fmt::Display::fmt(&utc, f);
        }
        write!(f, "{utc}+00:00")
    }
}

/// Parses `YYYY-MM-DD` (optionally followed by ` BC`, as PostgreSQL's text output has it).
fn parse_date(s: &str) -> Option<Date> {
    match s {
        "infinity" => return Some(Date::INFINITY),
        "-infinity" => return Some(Date::NEG_INFINITY),
        _ => {}
    }
    let (s, bc) = match s.strip_suffix(" BC") {
        Some(s) => (s, true),
        None => (s, false),
    };
    let mut parts = s.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month = parts.next()?.parse().ok()?;
    let day = parts.next()?.parse().ok()?;
    Date::from_ymd(if bc { 1 - year } else { year }, month, day)
}

/// Parses `HH:MM:SS[.ffffff]`.
fn parse_time(s: &str) -> Option<Time> {
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut parts = hms.splitn(3, ':');
    let h = parts.next()?.parse().ok()?;
    let m = parts.next()?.parse().ok()?;
    let sec = parts.next().unwrap_or("0").parse().ok()?;
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let micro = if frac.is_empty() { 0 } else { format!("{frac:0<6}").parse().ok()? };
    if h == 24 && m == 0 && sec == 0 && micro == 0 {
        return Some(Time(MICROS_PER_DAY));
    }
    Time::from_hms_micro(h, m, sec, micro)
}

/// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]` (space or `T`).
fn parse_timestamp(s: &str) -> Option<Timestamp> {
    match s {
        "infinity" => return Some(Timestamp::INFINITY),
        "-infinity" => return Some(Timestamp::NEG_INFINITY),
        _ => {}
    }
    let (date, time) = s.split_once([' ', 'T'])?;
    Some(Timestamp::new(parse_date(date)?, parse_time(time)?))
}

/// Parses a timestamp with a trailing UTC offset (`+02`, `-05:30`, `+00:00`, `Z`).
fn parse_timestamptz(s: &str) -> Option<TimestampTz> {
    match s {
        "infinity" => return Some(TimestampTz::INFINITY),
        "-infinity" => return Some(TimestampTz::NEG_INFINITY),
        _ => {}
    }
    if let Some(local) = s.strip_suffix('Z') {
        return parse_timestamp(local).map(TimestampTz::from_utc);
    }
    // The offset starts at the last '+' or '-' after the time part.
    let at = s.rfind(['+', '-']).filter(|&i| i > 10)?;
    let (local, offset) = s.split_at(at);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let mut fields = offset[1..].split(':');
    let hours: i64 = fields.next()?.parse().ok()?;
    let minutes: i64 = fields.next().unwrap_or("0").parse().ok()?;
    let local = parse_timestamp(local)?;
    let offset = hours.checked_mul(3600)?.checked_add(minutes.checked_mul(60)?)?.checked_mul(1_000_000)?;
    Some(TimestampTz(local.0.saturating_sub(sign * offset)))
}

// ---- codecs ----

macro_rules! temporal_codec {
    ($rust:ident, $ty:ident, $int:ty, $parse:ident) => {
        impl ToSql for $rust {
            fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
                if ty == Type::$ty {
                    out.put_slice(&self.0.to_be_bytes());
                    Ok(Encoded::Binary)
                } else {
                    write_text(self, out)
                }
            }
        }

        impl FromSql<'_> for $rust {
            fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<$rust, String> {
                match (ty, format) {
                    (Type::$ty, Format::Binary) => Ok($rust(<$int>::from_be_bytes(fixed(raw)?))),
                    (Type::$ty, Format::Text) => {
                        let text = utf8(raw)?;
                        $parse(text).ok_or_else(|| format!("bad {} text {text:?}", Type::$ty))
                    }
                    _ => mismatch(stringify!($rust), ty),
                }
            }
        }

        impl std::str::FromStr for $rust {
            type Err = String;

            fn from_str(s: &str) -> Result<$rust, String> {
                $parse(s).ok_or_else(|| format!("{s:?} is not a valid {}", Type::$ty))
            }
        }
    };
}

temporal_codec!(Date, DATE, i32, parse_date);
temporal_codec!(Time, TIME, i64, parse_time);
temporal_codec!(Timestamp, TIMESTAMP, i64, parse_timestamp);
temporal_codec!(TimestampTz, TIMESTAMPTZ, i64, parse_timestamptz);

impl ToSql for SystemTime {
    fn to_sql(&self, ty: Type, out: &mut BytesMut) -> Result<Encoded, String> {
        TimestampTz::from_system_time(*self).to_sql(ty, out)
    }
}

impl FromSql<'_> for SystemTime {
    fn from_sql(ty: Type, format: Format, raw: &[u8]) -> Result<SystemTime, String> {
        TimestampTz::from_sql(ty, format, raw)?
            .to_system_time()
            .ok_or_else(|| "an infinite timestamptz has no SystemTime".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        assert_eq!(Date::from_ymd(2000, 1, 1), Some(Date(0)));
        assert_eq!(Date::from_ymd(1999, 12, 31), Some(Date(-1)));
        assert_eq!(Date::from_ymd(2024, 2, 29).map(|d| d.ymd()), Some((2024, 2, 29)));
        assert_eq!(Date::from_ymd(2023, 2, 29), None);
        for days in [-800_000, -1, 0, 59, 60, 366, 10_000, 2_000_000] {
            let (y, m, d) = Date(days).ymd();
            assert_eq!(Date::from_ymd(y, m, d), Some(Date(days)));
        }
    }

    #[test]
    fn iso_text() {
        let date = Date::from_ymd(2024, 1, 31).unwrap();
        let time = Time::from_hms_micro(13, 5, 9, 120_000).unwrap();
        assert_eq!(Timestamp::new(date, time).to_string(), "2024-01-31T13:05:09.120000");
        assert_eq!(TimestampTz::from_utc(Timestamp::new(date, Time(0))).to_string(), "2024-01-31T00:00:00+00:00");
        assert_eq!(Date::from_ymd(0, 3, 1).unwrap().to_string(), "0000-03-01");
        assert_eq!(parse_date("0044-03-15 BC"), Date::from_ymd(-43, 3, 15));
        assert_eq!(
            parse_timestamptz("2024-01-31 02:00:00+02"),
            Some(TimestampTz::from_utc(Timestamp::new(date, Time(0))))
        );
    }

    #[test]
    fn extremes_saturate() {
        assert_eq!(Timestamp::new(Date::INFINITY, Time(0)), Timestamp::INFINITY);
        assert_eq!(Timestamp::new(Date::NEG_INFINITY, Time(0)).0, i64::MIN);
        assert_eq!(parse_timestamptz("2024-01-31 00:00:00+99999999999999"), None);
    }

    #[test]
    fn system_time() {
        let t = UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(TimestampTz::from_system_time(t).to_system_time(), Some(t));
    }
}
