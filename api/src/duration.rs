//! Durations as Prometheus writes them (`model.Duration`): `1y`, `2w`, `30d`, `1h30m`, `500ms`,
//! `0`. One parser and one formatter for every place Tidemark reads or shows one outside
//! PromQL (CLI flags, the retention policy).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const SECOND_MS: i64 = 1_000;
const MINUTE_MS: i64 = 60 * SECOND_MS;
const HOUR_MS: i64 = 60 * MINUTE_MS;
const DAY_MS: i64 = 24 * HOUR_MS;
const WEEK_MS: i64 = 7 * DAY_MS;
const YEAR_MS: i64 = 365 * DAY_MS;

/// The units of a duration, in the order they must be written: a year is 365 days.
const UNITS: [(&str, i64); 7] = [
    ("y", YEAR_MS),
    ("w", WEEK_MS),
    ("d", DAY_MS),
    ("h", HOUR_MS),
    ("m", MINUTE_MS),
    ("s", SECOND_MS),
    ("ms", 1),
];

/// Parses a Prometheus duration into milliseconds: units from the largest, each at most once.
pub fn parse_ms(s: &str) -> Result<i64, String> {
    let bad = || format!("invalid duration {s:?}: expected e.g. 1h, 90m, 1h30m, 2d, 1w");
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(bad());
    }
    let mut rest = s;
    let mut total: i64 = 0;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        // The longest unit that follows (`ms` rather than `m`), among those still allowed.
        let (index, (unit, unit_ms)) = UNITS
            .iter()
            .enumerate()
            .skip(next_unit)
            .filter(|(_, (unit, _))| rest.starts_with(unit))
            .max_by_key(|(_, (unit, _))| unit.len())
            .ok_or_else(bad)?;
        total = n
            .checked_mul(*unit_ms)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| format!("duration {s:?} is too long"))?;
        next_unit = index + 1;
        rest = &rest[unit.len()..];
    }
    Ok(total)
}

/// Formats milliseconds as Prometheus does: years and weeks only when they divide the whole
/// (`30d`, not `4w2d`), `0s` for zero. Negative durations get a leading `-`.
pub fn format_ms(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    if ms < 0 {
        out.push('-');
    }
    let mut rest = ms.unsigned_abs();
    for (unit, unit_ms) in UNITS {
        let unit_ms = unit_ms as u64;
        let exact_only = unit == "y" || unit == "w";
        if exact_only && !rest.is_multiple_of(unit_ms) {
            continue;
        }
        let n = rest / unit_ms;
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
            rest -= n * unit_ms;
        }
    }
    out
}

/// A non-negative duration in milliseconds, written as a Prometheus duration in JSON and YAML
/// (`"7d"`) and as its number in binary encodings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub i64);

impl Duration {
    /// Milliseconds.
    pub fn ms(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_ms(self.0))
    }
}

impl std::str::FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        parse_ms(s).map(Duration)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.serialize_str(&format_ms(self.0))
        } else {
            s.serialize_i64(self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            /// A duration string, or 0 written as a number (YAML `raw: 0`).
            #[derive(Deserialize)]
            #[serde(untagged)]
            enum Text {
                S(String),
                N(u64),
            }
            match Text::deserialize(d)? {
                Text::S(s) => parse_ms(&s).map(Duration).map_err(serde::de::Error::custom),
                Text::N(0) => Ok(Duration(0)),
                Text::N(n) => Err(serde::de::Error::custom(format!(
                    "invalid duration {n}: give a unit, e.g. {n}s or {n}d"
                ))),
            }
        } else {
            let ms = i64::deserialize(d)?;
            if ms < 0 {
                return Err(serde::de::Error::custom("negative duration"));
            }
            Ok(Duration(ms))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        for (text, ms) in [
            ("1h30m", 90 * MINUTE_MS),
            ("2d", 2 * DAY_MS),
            ("1w", WEEK_MS),
            ("1y", YEAR_MS),
            ("1m30s", 90_000),
            ("500ms", 500),
            ("1s500ms", 1_500),
            ("0", 0),
        ] {
            assert_eq!(parse_ms(text), Ok(ms), "{text}");
        }
        for bad in [
            "", "h", "1", "1x", "30m1h", "1h1h", "1.5h", "-1h", " 1h", "1h ",
        ] {
            assert!(parse_ms(bad).is_err(), "{bad:?}");
        }
        assert!(parse_ms("99999999999999y").is_err());
    }

    #[test]
    fn formats_as_prometheus_does() {
        for (ms, text) in [
            (0, "0s"),
            (7 * DAY_MS, "1w"),
            (30 * DAY_MS, "30d"),
            (15 * DAY_MS, "15d"),
            (YEAR_MS, "1y"),
            (YEAR_MS + DAY_MS, "366d"),
            (90 * MINUTE_MS, "1h30m"),
            (1_500, "1s500ms"),
            (-SECOND_MS, "-1s"),
        ] {
            assert_eq!(format_ms(ms), text, "{ms}");
            if ms > 0 {
                assert_eq!(parse_ms(text), Ok(ms));
            }
        }
    }

    #[test]
    fn serde_text_and_binary() {
        let d: Duration = serde_json::from_str("\"30d\"").unwrap();
        assert_eq!(d, Duration(30 * DAY_MS));
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"30d\"");
        assert_eq!(serde_json::from_str::<Duration>("0").unwrap(), Duration(0));
        assert!(serde_json::from_str::<Duration>("7").is_err());
        assert!(serde_json::from_str::<Duration>("\"7 days\"").is_err());
    }
}
