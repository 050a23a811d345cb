//! Alertmanager's timestamps (go-openapi's `strfmt.DateTime`) to and from Tidemark's
//! milliseconds since the Unix epoch.
//!
//! Alertmanager writes `2026-12-05T10:00:00.000Z`: RFC 3339, exactly three fractional digits
//! (sub-millisecond digits truncated), `Z` for UTC, otherwise the offset the time arrived with.
//! [`rfc3339_ms`] writes that form, always in UTC; [`parse_rfc3339_ms`] reads any RFC 3339
//! date-time (any number of fractional digits, `Z` or an offset).

use chrono::{DateTime, SecondsFormat, Utc};

/// The earliest instant RFC 3339 can write (year 0000): `0000-01-01T00:00:00.000Z`.
pub const RFC3339_MIN_MS: i64 = -62_167_219_200_000;

/// The latest instant RFC 3339 can write (year 9999): `9999-12-31T23:59:59.999Z`.
pub const RFC3339_MAX_MS: i64 = 253_402_300_799_999;

/// Go's zero `time.Time` as `strfmt.DateTime` writes it: what Go clients (`amtool`, Grafana)
/// send for an unset `startsAt`/`endsAt` of a [`PostableAlert`](super::PostableAlert), and
/// what Alertmanager treats as unset.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00.000Z";

/// [`GO_ZERO_TIME`] in milliseconds since the epoch: a parsed time equal to it means "unset".
pub const GO_ZERO_TIME_MS: i64 = -62_135_596_800_000;

/// Milliseconds since the epoch as Alertmanager writes a time in UTC,
/// e.g. `2026-12-05T10:00:00.000Z`. Times outside years 0000 to 9999, which RFC 3339 cannot
/// write, are clamped to [`RFC3339_MIN_MS`] and [`RFC3339_MAX_MS`].
pub fn rfc3339_ms(t_ms: i64) -> String {
    let clamped = t_ms.clamp(RFC3339_MIN_MS, RFC3339_MAX_MS);
    DateTime::<Utc>::from_timestamp_millis(clamped)
        .expect("years 0000 to 9999 are within chrono's range")
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An RFC 3339 date-time (`2026-12-05T10:00:00Z`, `2026-12-05T12:00:00.123456+02:00`) as
/// milliseconds since the epoch, sub-millisecond digits truncated toward the past (as Go's
/// `Time.UnixMilli`). Alertmanager also accepts a few layouts RFC 3339 does not have (a date
/// alone, `2026-12-05`, as midnight UTC); this does not.
pub fn parse_rfc3339_ms(s: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|e| format!("invalid RFC 3339 time {s:?}: {e}"))
}
