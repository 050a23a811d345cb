//! [`PromDuration`]'s text form: Prometheus' `model.ParseDuration` and `model.Duration.String()`
//! (`prometheus/common`), so that a duration reads and writes back as Prometheus' would.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::PromDuration;

const MS_PER_SECOND: i64 = 1_000;
const MS_PER_MINUTE: i64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: i64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: i64 = 24 * MS_PER_HOUR;
const MS_PER_WEEK: i64 = 7 * MS_PER_DAY;
const MS_PER_YEAR: i64 = 365 * MS_PER_DAY;

/// The units, largest first: a duration names each at most once, in this order.
const UNITS: [(&str, i64); 7] = [
    ("y", MS_PER_YEAR),
    ("w", MS_PER_WEEK),
    ("d", MS_PER_DAY),
    ("h", MS_PER_HOUR),
    ("m", MS_PER_MINUTE),
    ("s", MS_PER_SECOND),
    ("ms", 1),
];

/// Prometheus holds durations as Go `time.Duration` (nanoseconds in an `int64`): a longer one
/// is "out of range" there, so it is here too.
const NANOS_MAX: i128 = i64::MAX as i128;
const NANOS_PER_MS: i128 = 1_000_000;

impl PromDuration {
    /// The duration in milliseconds.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// Parses Prometheus' notation as `model.ParseDuration` does: integers each followed by a
    /// unit (`y w d h m s ms`, largest first, each at most once), no sign, no spaces, no
    /// fractions; `0` alone is the one unitless duration.
    pub fn parse(text: &str) -> Result<PromDuration, String> {
        match text {
            "0" => return Ok(PromDuration(0)),
            "" => return Err("empty duration string".into()),
            _ => {}
        }
        let invalid = || format!("not a valid duration string: {text:?}");
        let mut rest = text;
        let mut nanos: i128 = 0;
        // Index into UNITS of the last unit seen: the next one must come after it.
        let mut last_unit: Option<usize> = None;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(invalid());
            }
            // Go's ParseUint into a uint64: more than 20 digits cannot fit.
            let value: u64 = rest[..digits].parse().map_err(|_| invalid())?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(|b| !b.is_ascii_digit()).count();
            if unit_len == 0 {
                return Err(invalid());
            }
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let Some(index) = UNITS.iter().position(|(name, _)| *name == unit) else {
                return Err(format!("unknown unit {unit:?} in duration {text:?}"));
            };
            if last_unit.is_some_and(|last| index <= last) {
                return Err(invalid());
            }
            last_unit = Some(index);
            nanos += i128::from(value) * i128::from(UNITS[index].1) * NANOS_PER_MS;
            if nanos > NANOS_MAX {
                return Err("duration out of range".into());
            }
        }
        // Below a millisecond survives in Prometheus' nanoseconds but not here; no unit
        // expresses it, so nothing is lost.
        Ok(PromDuration((nanos / NANOS_PER_MS) as i64))
    }
}

impl FromStr for PromDuration {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        PromDuration::parse(text)
    }
}

impl fmt::Display for PromDuration {
    /// Prometheus' canonical form (`model.Duration.String()`): `0s` for zero, else each unit
    /// from days down with a non-zero count, and years or weeks only when they divide the
    /// whole (`1y`, `2w`, but `90d`, not `12w6d`). A negative duration, which nothing parses
    /// into, is written with a leading `-`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0s");
        }
        if self.0 < 0 {
            f.write_str("-")?;
        }
        let mut ms = self.0.unsigned_abs();
        for (name, unit_ms) in UNITS {
            let unit_ms = unit_ms as u64;
            let exact_only = name == "y" || name == "w";
            if exact_only && !ms.is_multiple_of(unit_ms) {
                continue;
            }
            let count = ms / unit_ms;
            if count > 0 {
                write!(f, "{count}{name}")?;
                ms -= count * unit_ms;
            }
        }
        Ok(())
    }
}

impl Serialize for PromDuration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PromDuration {
    /// From text in every format. A human-readable one (YAML, JSON) may also hold an integer,
    /// read as its text; the binary ones (bincode: the ruler group's stored form) cannot be
    /// asked what they hold, so there it is text only.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            d.deserialize_any(DurationVisitor)
        } else {
            d.deserialize_string(DurationVisitor)
        }
    }
}

/// Reads a duration from a string, or from an integer as Go's YAML decoder would read one
/// into a string (so `for: 0` is `0`, and `for: 30` is refused as unitless).
struct DurationVisitor;

impl serde::de::Visitor<'_> for DurationVisitor {
    type Value = PromDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 30s, 5m or 1h30m")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<PromDuration, E> {
        PromDuration::parse(text).map_err(E::custom)
    }

    fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<PromDuration, E> {
        self.visit_str(&n.to_string())
    }

    fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<PromDuration, E> {
        self.visit_str(&n.to_string())
    }
}
