//! Wall-clock times: parsing `--since`/`--until` and printing record times, in UTC.
//!
//! Record times are Unix nanoseconds. Arguments are RFC 3339 (`2026-05-01T12:00:00Z`,
//! `2026-05-01T14:00:00.5+02:00`), a bare date (`2026-05-01`, midnight UTC), or Unix
//! seconds (`1777636800`, `1777636800.25`).

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// Parses a `--since`/`--until` value into Unix nanoseconds.
pub fn parse_time(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let nanos = if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !text.is_empty() {
        parse_unix_seconds(text)
    } else {
        parse_rfc3339(text)
    };
    let nanos = nanos.ok_or_else(|| {
        format!("invalid time {text:?}: expected RFC 3339 (2026-05-01T12:00:00Z), a date (2026-05-01) or Unix seconds")
    })?;
    u64::try_from(nanos).map_err(|_| format!("invalid time {text:?}: before 1970 or too far in the future"))
}

fn parse_unix_seconds(text: &str) -> Option<i128> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() || fraction.contains('.') {
        return None;
    }
    let seconds: i128 = whole.parse().ok()?;
    Some(seconds.checked_mul(NANOS_PER_SECOND)? + parse_fraction(fraction)?)
}

/// Digits after the decimal point as nanoseconds (extra digits are ignored).
fn parse_fraction(digits: &str) -> Option<i128> {
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut nanos: i128 = 0;
    for position in 0..9 {
        let digit = digits.as_bytes().get(position).map_or(0, |b| i128::from(b - b'0'));
        nanos = nanos * 10 + digit;
    }
    Some(nanos)
}

fn number(text: &str, range: std::ops::RangeInclusive<i64>) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|n| range.contains(n))
}

fn parse_rfc3339(text: &str) -> Option<i128> {
    let date = text.get(..10)?;
    let rest = text.get(10..)?;
    let mut parts = date.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    let days = days_from_civil(number(year, 0..=9999)?, number(month, 1..=12)?, number(day, 1..=31)?);
    if rest.is_empty() {
        return Some(i128::from(days) * 86_400 * NANOS_PER_SECOND);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let time = rest.get(..8)?;
    let mut rest = rest.get(8..)?;
    let mut fields = time.split(':');
    let (hour, minute, second) = (fields.next()?, fields.next()?, fields.next()?);
    if hour.len() != 2 || minute.len() != 2 || second.len() != 2 {
        return None;
    }
    let seconds_of_day = number(hour, 0..=23)? * 3600 + number(minute, 0..=59)? * 60 + number(second, 0..=60)?;
    let mut fraction = 0;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let digits = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        fraction = parse_fraction(&after_dot[..digits])?;
        rest = &after_dot[digits..];
    }
    let offset_seconds = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (hours, minutes) = rest.get(1..)?.split_once(':')?;
            if hours.len() != 2 || minutes.len() != 2 {
                return None;
            }
            sign * (number(hours, 0..=23)? * 3600 + number(minutes, 0..=59)? * 60)
        }
    };
    let seconds = i128::from(days) * 86_400 + i128::from(seconds_of_day) - i128::from(offset_seconds);
    Some(seconds * NANOS_PER_SECOND + fraction)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (years counted from March, so
/// that the leap day is the last day of the year).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01; the inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Unix nanoseconds as RFC 3339 in UTC with milliseconds: `2026-11-25T14:04:25.986Z`.
pub fn format_time(unix_nanos: u64) -> String {
    let seconds = i64::try_from(unix_nanos / 1_000_000_000).unwrap_or(i64::MAX);
    let millis = (unix_nanos / 1_000_000) % 1000;
    let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
    let second_of_day = seconds.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    )
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
    }

    #[test]
    fn formatting_inverts_parsing() {
        let nanos = parse_time("2024-02-29T23:59:58.123Z").unwrap_or_default();
        assert_eq!(format_time(nanos), "2024-02-29T23:59:58.123Z");
        assert_eq!(format_duration(15_774), "15.8µs");
        assert_eq!(format_duration(185_000_000_000), "3m05s");
    }
}
