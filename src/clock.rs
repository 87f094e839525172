//! Time as a dependency. Every check that compares against "now" takes a [`Clock`], so the
//! same code runs in the server (system time) and in `rolegate verify` / tests (a fixed instant):
//! old fixtures get an injected clock, never a looser verifier.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time as a dependency (see the module), so tests and `--now` never loosen a check.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant.
    fn now(&self) -> SystemTime;

    /// Seconds since the Unix epoch, the unit of JWT `exp`/`nbf`/`iat` (RFC 7519 §2 NumericDate).
    fn unix(&self) -> i64 {
        match self.now().duration_since(UNIX_EPOCH) {
            Ok(d) => secs(d),
            Err(e) => -secs(e.duration()),
        }
    }
}

/// `d` in whole seconds, as the Unix-time arithmetic above wants them; saturates at `i64::MAX`
/// (292 billion years: no configured lifetime or skew gets there, so nothing wraps negative).
pub(crate) fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// `t` in Unix seconds (negative before 1970), as [`Clock::unix`] computes it.
#[cfg(feature = "server")]
pub(crate) fn unix_of(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => secs(d),
        Err(e) => -secs(e.duration()),
    }
}

/// Unix seconds that should never be negative here (a deadline, a time left) as a `u64`: 0 if
/// one ever were, never a wrapped huge value.
#[cfg(feature = "server")]
pub(crate) fn unsigned_secs(secs: i64) -> u64 {
    u64::try_from(secs).unwrap_or(0)
}

/// The instant of `secs` Unix seconds; 1970 for a negative one (times the broker records are
/// never before it).
#[cfg(feature = "server")]
pub(crate) fn instant_of(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unsigned_secs(secs))
}

/// [`rfc3339`] of `secs` Unix seconds.
#[cfg(feature = "server")]
pub(crate) fn rfc3339_of(secs: i64) -> String {
    rfc3339(instant_of(secs))
}

/// The real time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Why `--now` (or an identity file's `now`) is not a timestamp; the text is the user's.
#[derive(Debug, thiserror::Error)]
#[error("`{value}` is not an RFC 3339 timestamp: {source}")]
pub struct BadTimestamp {
    value: String,
    source: humantime::TimestampError,
}

/// A clock stopped at one instant: `--now` in the CLI, and tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub SystemTime);

impl FixedClock {
    /// The clock stopped at `secs` Unix seconds (negative: before 1970).
    pub fn at_unix(secs: i64) -> Self {
        let t = if secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
        } else {
            UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
        };
        FixedClock(t)
    }

    /// Parses an RFC 3339 timestamp such as `2026-11-22T10:00:00Z`.
    pub fn parse_rfc3339(s: &str) -> Result<Self, BadTimestamp> {
        humantime::parse_rfc3339_weak(s.trim())
            .map(FixedClock)
            .map_err(|source| BadTimestamp {
                value: s.to_string(),
                source,
            })
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        self.0
    }
}

/// The system clock plus an offset the caller moves forward: tests of timeouts (sessions,
/// pending logins) without sleeping.
#[derive(Debug, Default)]
pub struct OffsetClock(std::sync::atomic::AtomicU64);

impl OffsetClock {
    /// Moves this clock forward by `by` (whole seconds).
    pub fn advance(&self, by: Duration) {
        self.0
            .fetch_add(by.as_secs(), std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_secs(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// A duration as people write it, in the units `--duration` and `max_duration` accept:
/// "1h", "12h", "1h30m", "15m", "4h0m1s" (every unit below the largest, once one is shown).
pub fn human(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 || (h > 0 && s > 0) {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

/// RFC 3339 with second precision and `Z`, the form AWS uses for `Expiration`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_are_shown_in_the_units_people_type() {
        let cases = [
            (3600, "1h"),
            (43200, "12h"),
            (5400, "1h30m"),
            (900, "15m"),
            (14401, "4h0m1s"),
            (90, "1m30s"),
            (0, "0s"),
        ];
        for (secs, shown) in cases {
            assert_eq!(super::human(secs), shown);
            if secs > 0 {
                let parsed = humantime::parse_duration(shown).unwrap().as_secs();
                assert_eq!(parsed, secs, "{shown} reads back as `--duration` parses it");
            }
        }
    }
}
