//! Instants and lengths as a person reads them: "until 14:02 (59m left)", in local time.

use chrono::{DateTime, Local, TimeZone};

/// A time left, as [`crate::clock::human`] writes durations but rounded to the minute, so a
/// 12-hour sign-in taken a few seconds ago reads `12h`, not `11h59m40s`.
pub(crate) fn human(secs: u64) -> String {
    crate::clock::human(if secs < 60 {
        secs
    } else {
        (secs + 30) / 60 * 60
    })
}

/// `14:02`, or `Tue 8 Dec 01:02` when not today, in the local time zone.
pub(crate) fn local(unix: i64) -> String {
    local_in(unix, &Local, Local::now().timestamp())
}

fn local_in<Tz: TimeZone>(unix: i64, tz: &Tz, now: i64) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let Some(at) = DateTime::from_timestamp(unix, 0) else {
        return unix.to_string();
    };
    let at = at.with_timezone(tz);
    let today = DateTime::from_timestamp(now, 0).map(|n| n.with_timezone(tz).date_naive());
    if today == Some(at.date_naive()) {
        at.format("%H:%M").to_string()
    } else {
        at.format("%a %-d %b %H:%M").to_string()
    }
}

/// "until 14:02 (59m left)", or "ended at 14:02 (5m ago)".
pub(crate) fn until(unix: i64, now: i64) -> String {
    if unix > now {
        format!(
            "until {} ({} left)",
            local(unix),
            human((unix - now).unsigned_abs())
        )
    } else {
        format!(
            "ended at {} ({} ago)",
            local(unix),
            human((now - unix).unsigned_abs())
        )
    }
}

/// RFC 3339 UTC, for `--json`.
pub(crate) fn rfc3339(unix: i64) -> String {
    DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_in_the_largest_units_rounded_to_the_minute() {
        assert_eq!(human(0), "0s");
        assert_eq!(human(59), "59s");
        assert_eq!(human(3600), "1h");
        assert_eq!(human(12 * 3600 - 20), "12h", "a sign-in seconds old");
        assert_eq!(human(11 * 3600 + 58 * 60), "11h58m");
        assert_eq!(human(5400), "1h30m");
        assert_eq!(human(26 * 3600 + 10), "26h");
    }

    #[test]
    fn times_today_omit_the_date() {
        let tz = chrono::FixedOffset::east_opt(3600).unwrap();
        let now = 1_796_000_000; // 2026-11-30T00:53:20Z, 01:53 at UTC+1
        assert_eq!(local_in(now + 3600, &tz, now), "02:53");
        assert_eq!(local_in(now + 86400, &tz, now), "Tue 1 Dec 01:53");
        assert_eq!(rfc3339(now), "2026-11-30T00:53:20Z");
    }
}
