//! Calendar arithmetic for the Kaggle layout, without a date library.
//!
//! The data set holds two clocks (see DATA.md): `unix_time` (epoch seconds, in 2012/13) drives
//! every time-of-day, weekday and window computation; the `YYYY-MM-DD` strings (shifted by seven
//! calendar years) only serve for the age, because `dob` lives in that shifted calendar.

/// Seconds in a day.
pub const DAY: i64 = 86_400;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `(year, month, day)` of a day count since 1970-01-01 (inverse of [`days_from_civil`]).
pub fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
    (year, month, day)
}

fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        _ => 28,
    }
}

fn digits(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0, |acc, b| acc * 10 + u32::from(b - b'0')),
    )
}

/// Parses `YYYY-MM-DD` into days since 1970-01-01; `None` for any other shape or an impossible date.
pub fn parse_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year = digits(&b[0..4])? as i32;
    let month = digits(&b[5..7])?;
    let day = digits(&b[8..10])?;
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Parses `YYYY-MM-DD HH:MM:SS` into seconds since 1970-01-01 00:00:00.
pub fn parse_date_time(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 19 || b[10] != b' ' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let days = parse_date(&text[..10])?;
    let (h, m, s) = (
        digits(&b[11..13])?,
        digits(&b[14..16])?,
        digits(&b[17..19])?,
    );
    if h > 23 || m > 59 || s > 59 {
        return None;
    }
    Some(days * DAY + i64::from(h * 3600 + m * 60 + s))
}

/// Formats days since 1970-01-01 as `YYYY-MM-DD`.
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Formats epoch seconds as `YYYY-MM-DD HH:MM:SS`.
pub fn format_date_time(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(DAY), secs.rem_euclid(DAY));
    format!(
        "{} {:02}:{:02}:{:02}",
        format_date(days),
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The current time as RFC 3339 UTC (`2026-11-24T03:10:08Z`), for artifact creation stamps.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    format_date_time(secs).replace(' ', "T") + "Z"
}

/// Hour of day (0-23, UTC) of epoch seconds.
pub fn hour_of(unix_time: i64) -> u32 {
    (unix_time.rem_euclid(DAY) / 3600) as u32
}

/// Day of week of epoch seconds, Monday = 0 (1970-01-01 was a Thursday).
pub fn weekday_of(unix_time: i64) -> u32 {
    (unix_time.div_euclid(DAY) + 3).rem_euclid(7) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_over_four_centuries() {
        for days in (-200_000..200_000).step_by(7) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn parses_kaggle_dates_and_rejects_impossible_ones() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2012-01-01"), Some(15_340));
        assert_eq!(parse_date("2020-02-29"), Some(18_321));
        assert_eq!(parse_date("2019-02-29"), None);
        assert_eq!(parse_date("2019-13-01"), None);
        assert_eq!(parse_date("2019-04-31"), None);
        assert_eq!(parse_date("2019-1-01"), None);
        assert_eq!(parse_date("20l9-01-01"), None);
        assert_eq!(
            parse_date_time("2012-01-01 00:00:18"),
            Some(1_325_376_018),
            "the first Kaggle row's unix_time, shifted back seven years"
        );
        assert_eq!(parse_date_time("2019-01-01 24:00:00"), None);
        assert_eq!(parse_date_time("2019-01-01T00:00:00"), None);
    }

    #[test]
    fn formats_what_it_parses() {
        assert_eq!(format_date_time(1_325_376_018), "2012-01-01 00:00:18");
        assert_eq!(format_date(18_321), "2020-02-29");
    }

    #[test]
    fn clock_helpers_follow_the_utc_calendar() {
        // 2012-01-01 was a Sunday.
        assert_eq!(weekday_of(1_325_376_018), 6);
        assert_eq!(hour_of(1_325_376_018), 0);
        assert_eq!(hour_of(1_325_376_018 + 23 * 3600), 23);
        assert_eq!(weekday_of(0), 3);
    }
}
