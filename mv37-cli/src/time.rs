//! Wall-clock times: parsing `--since`/`--until` and printing record times, in UTC.
//!
//! Record times are Unix nanoseconds. Arguments are RFC 3339 (`2026-05-01T12:00:00Z`,
//! `2026-05-01T14:00:00.5+02:00`), a bare date (`2026-05-01`, midnight UTC), or Unix
//! seconds (`1777636800`, `1777636800.25`).

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::Timestamp;

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// Parses a `--since`/`--until` value into Unix nanoseconds.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let nanos = if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !text.is_empty() {
        parse_unix_seconds(text)
    } else if let Ok(timestamp) = text.parse::<Timestamp>() {
        Some(timestamp.as_nanosecond())
    } else {
        parse_date(text)
    };
    let nanos = nanos.ok_or_else(|| {
        format!("invalid time {text:?}: expected RFC 3339 (2026-05-01T12:00:00Z), a date (2026-05-01) or Unix seconds")
    })?;
    u64::try_from(nanos).map_err(|_| format!("invalid time {text:?}: before 1970 or too far in the future"))
}

/// A bare date (`2026-05-01`) as its midnight in UTC. jiff would read a date-time
/// without offset as its date too: that one is refused, being ambiguous.
fn parse_date(text: &str) -> Option<i128> {
    let date = text.parse::<Date>().ok().filter(|_| text.len() == 10)?;
    let midnight = TimeZone::UTC.to_timestamp(date.to_datetime(Time::midnight())).ok()?;
    Some(midnight.as_nanosecond())
}

/// Unix seconds with an optional fraction (`1777636800.25`); digits past nanoseconds
/// are ignored.
fn parse_unix_seconds(text: &str) -> Option<i128> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || fraction.contains('.') {
        return None;
    }
    let seconds: i128 = whole.parse().ok()?;
    let nanos = format!("{:0<9}", fraction.get(..fraction.len().min(9))?);
    seconds.checked_mul(NANOS_PER_SECOND)?.checked_add(nanos.parse().ok()?)
}

/// Unix nanoseconds as RFC 3339 in UTC with milliseconds: `2026-11-25T14:04:25.986Z`.
pub fn format_time(unix_nanos: u64) -> String {
    // Past jiff's range (year 9999) is shown as its last instant.
    let timestamp = Timestamp::from_nanosecond(i128::from(unix_nanos)).unwrap_or(Timestamp::MAX);
    format!("{timestamp:.3}")
}

/// A duration in nanoseconds, short and readable: `850ns`, `15.8µs`, `2.3ms`, `1.25s`, `3m05s`.
pub fn format_duration(nanos: u64) -> String {
    let value = nanos as f64;
    if nanos < 1_000 {
        format!("{nanos}ns")
    } else if nanos < 1_000_000 {
        format!("{:.1}µs", value / 1e3)
    } else if nanos < 1_000_000_000 {
        format!("{:.1}ms", value / 1e6)
    } else if nanos < 60_000_000_000 {
        format!("{:.2}s", value / 1e9)
    } else {
        let seconds = nanos / 1_000_000_000;
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_offset_and_fraction_is_parsed_to_utc_nanos() {
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Ok(0));
        assert_eq!(parse_time("1970-01-01T01:00:00.5+01:00"), Ok(500_000_000));
        assert_eq!(parse_time("2026-05-01"), Ok(1_777_593_600 * 1_000_000_000));
        assert_eq!(parse_time("2026-05-01T00:00:00Z"), parse_time("1777593600"));
        assert_eq!(parse_time("1.25"), Ok(1_250_000_000));
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2026-13-01").is_err());
        assert_eq!(parse_time("2026-05-01 00:00:00z"), parse_time("2026-05-01"));
        assert_eq!(parse_time("2026-05-01t02:00:00+02:00"), parse_time("2026-05-01"));
        assert!(
            parse_time("2026-05-01T12:00:00").is_err(),
            "a time without its offset is ambiguous"
        );
        assert!(parse_time("1969-12-31T23:59:59Z").is_err());
    }

    #[test]
    fn formatting_inverts_parsing() {
        let nanos = parse_time("2024-02-29T23:59:58.123Z").unwrap_or_default();
        assert_eq!(format_time(nanos), "2024-02-29T23:59:58.123Z");
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_duration(15_774), "15.8µs");
        assert_eq!(format_duration(185_000_000_000), "3m05s");
    }
}
