//! Go's `time.Time` and `time.Duration` as templates print them: `Time.String`,
//! `Time.Format` with Go's reference layout (in UTC or in an IANA zone), and
//! `Duration.String`.

use std::str::FromStr;

use chrono::{Offset, TimeZone};
use chrono_tz::OffsetName;

const NS_PER_SEC: i64 = 1_000_000_000;

/// Unix seconds of Go's zero time, `0001-01-01 00:00:00 UTC`.
const ZERO_SECS: i64 = -62_135_596_800;

/// A Go `time.Time`: an instant and the zone it is shown in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoTime {
    /// Seconds since the Unix epoch.
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
    /// The zone's offset east of UTC, in seconds.
    pub offset_secs: i32,
    /// The zone's abbreviation (`UTC`, `CEST`, `+03`).
    pub zone: String,
}

impl GoTime {
    /// A UTC time from Unix seconds and nanoseconds.
    pub fn utc(secs: i64, nanos: u32) -> GoTime {
        GoTime {
            secs,
            nanos,
            offset_secs: 0,
            zone: "UTC".into(),
        }
    }

    /// A UTC time from Unix nanoseconds.
    pub fn from_unix_ns(ns: i64) -> GoTime {
        GoTime::utc(ns.div_euclid(NS_PER_SEC), ns.rem_euclid(NS_PER_SEC) as u32)
    }

    /// A UTC time from Unix milliseconds.
    pub fn from_unix_ms(ms: i64) -> GoTime {
        GoTime::utc(
            ms.div_euclid(1000),
            (ms.rem_euclid(1000) * 1_000_000) as u32,
        )
    }

    /// Go's zero time (`time.Time{}`), `0001-01-01 00:00:00 +0000 UTC`.
    pub fn zero() -> GoTime {
        GoTime::utc(ZERO_SECS, 0)
    }

    /// Go's `Time.IsZero`.
    pub fn is_zero(&self) -> bool {
        self.secs == ZERO_SECS && self.nanos == 0
    }

    /// Unix nanoseconds, saturating where Go's `UnixNano` is undefined.
    pub fn unix_ns(&self) -> i64 {
        self.secs
            .saturating_mul(NS_PER_SEC)
            .saturating_add(i64::from(self.nanos))
    }

    /// The same instant shown in `location`, as Go's `time.LoadLocation` and `Time.In` do:
    /// `""` and `UTC` are UTC, other names are IANA zones (`Local` is taken as UTC: a
    /// notification must not depend on the host's zone).
    pub fn in_location(&self, location: &str) -> Result<GoTime, String> {
        if location.is_empty() || location == "UTC" || location == "Local" {
            return Ok(GoTime::utc(self.secs, self.nanos));
        }
        if location.contains("..") || location.starts_with(['/', '\\']) {
            return Err("time: invalid location name".into());
        }
        let tz = chrono_tz::Tz::from_str(location)
            .map_err(|_| format!("unknown time zone {location}"))?;
        let Some(utc) = chrono::DateTime::from_timestamp(self.secs, self.nanos) else {
            return Ok(self.clone());
        };
        let offset = tz.offset_from_utc_datetime(&utc.naive_utc());
        let offset_secs = offset.fix().local_minus_utc();
        let zone = match offset.abbreviation() {
            Some(name) => name.to_string(),
            None => tzdb_numeric_name(offset_secs),
        };
        Ok(GoTime {
            secs: self.secs,
            nanos: self.nanos,
            offset_secs,
            zone,
        })
    }

    /// The calendar fields in the time's zone.
    pub(crate) fn civil(&self) -> Civil {
        civil_secs(
            self.secs.saturating_add(i64::from(self.offset_secs)),
            self.nanos,
        )
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// A UTC instant broken down into calendar fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub nanos: u32,
    /// 0 is Sunday.
    pub weekday: u32,
    /// 1..=366.
    pub yday: u32,
}

/// Breaks Unix seconds down into calendar fields (proleptic Gregorian).
pub(crate) fn civil_secs(secs: i64, nanos: u32) -> Civil {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const CUMULATIVE: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = CUMULATIVE[(month - 1) as usize] + day + u32::from(leap && month > 2);
    Civil {
        year,
        month,
        day,
        hour: (sod / 3600) as u32,
        minute: (sod / 60 % 60) as u32,
        second: (sod % 60) as u32,
        nanos,
        weekday: (days + 4).rem_euclid(7) as u32,
        yday,
    }
}

/// Go's `Time.String()` for a UTC time: `2015-06-23 13:19:44.128 +0000 UTC`.
pub(crate) fn time_string(unix_ns: i64) -> String {
    go_time_string(&GoTime::from_unix_ns(unix_ns))
}

/// Go's `Time.String()`: `2015-06-23 13:19:44.128 +0200 CEST`.
pub(crate) fn go_time_string(t: &GoTime) -> String {
    format(t, "2006-01-02 15:04:05.999999999 -0700 MST")
}

/// Go's `Time.Format(layout)`.
pub(crate) fn format(time: &GoTime, layout: &str) -> String {
    let t = time.civil();
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        let (consumed, piece) = chunk(rest, &t, time);
        match piece {
            Some(p) => out.push_str(&p),
            None => out.push_str(&rest[..consumed]),
        }
        rest = &rest[consumed..];
    }
    out
}

/// Formats the layout element at the start of `s`; returns how many bytes it took and its
/// text, or `None` for a literal character.
fn chunk(s: &str, t: &Civil, time: &GoTime) -> (usize, Option<String>) {
    let lower_next = |n: usize| s[n..].starts_with(|c: char| c.is_ascii_lowercase());
    if (s.starts_with("Jan") && !s.starts_with("January") && lower_next(3))
        || (s.starts_with("Mon") && !s.starts_with("Monday") && lower_next(3))
    {
        return (1, None);
    }
    let zone = |colon: bool, seconds: bool, short: bool, iso: bool| {
        numeric_zone(time.offset_secs, colon, seconds, short, iso)
    };
    let zone_name = if time.zone.is_empty() {
        zone(false, false, false, false)
    } else {
        time.zone.clone()
    };
    let hour12 = if t.hour.is_multiple_of(12) {
        12
    } else {
        t.hour % 12
    };
    let table: [(&str, String); 28] = [
        ("January", MONTHS[(t.month - 1) as usize].into()),
        ("Jan", MONTHS[(t.month - 1) as usize][..3].into()),
        ("Monday", WEEKDAYS[t.weekday as usize].into()),
        ("Mon", WEEKDAYS[t.weekday as usize][..3].into()),
        ("MST", zone_name),
        ("2006", year4(t.year)),
        ("-07:00:00", zone(true, true, false, false)),
        ("-070000", zone(false, true, false, false)),
        ("-07:00", zone(true, false, false, false)),
        ("-0700", zone(false, false, false, false)),
        ("-07", zone(false, false, true, false)),
        ("Z07:00:00", zone(true, true, false, true)),
        ("Z070000", zone(false, true, false, true)),
        ("Z07:00", zone(true, false, false, true)),
        ("Z0700", zone(false, false, false, true)),
        ("Z07", zone(false, false, true, true)),
        ("002", format!("{:03}", t.yday)),
        ("01", format!("{:02}", t.month)),
        ("02", format!("{:02}", t.day)),
        ("03", format!("{hour12:02}")),
        ("04", format!("{:02}", t.minute)),
        ("05", format!("{:02}", t.second)),
        ("06", format!("{:02}", t.year.rem_euclid(100))),
        ("15", format!("{:02}", t.hour)),
        ("__2", format!("{:>3}", t.yday)),
        ("_2", format!("{:>2}", t.day)),
        ("PM", if t.hour >= 12 { "PM" } else { "AM" }.into()),
        ("pm", if t.hour >= 12 { "pm" } else { "am" }.into()),
    ];
    for (pat, text) in table {
        if s.starts_with(pat) {
            return (pat.len(), Some(text));
        }
    }
    if let Some(len) = fraction_len(s) {
        let digits = &format!("{:09}", t.nanos)[..(len - 1).min(9)];
        let text = if s.as_bytes()[1] == b'9' {
            let trimmed = digits.trim_end_matches('0');
            if trimmed.is_empty() {
                String::new()
            } else {
                format!("{}{trimmed}", &s[..1])
            }
        } else {
            format!("{}{digits}", &s[..1])
        };
        return (len, Some(text));
    }
    let single: [(&str, String); 5] = [
        ("1", t.month.to_string()),
        ("2", t.day.to_string()),
        ("3", hour12.to_string()),
        ("4", t.minute.to_string()),
        ("5", t.second.to_string()),
    ];
    for (pat, text) in single {
        if s.starts_with(pat) {
            return (1, Some(text));
        }
    }
    let c = s.chars().next().map_or(1, char::len_utf8);
    (c, None)
}

/// The name the tz database gives a zone without an abbreviation (its `%z`): `+03`,
/// `+0545`, `-0330`; seconds only when there are some.
fn tzdb_numeric_name(offset_secs: i32) -> String {
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let abs = offset_secs.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    match (m, s) {
        (0, 0) => format!("{sign}{h:02}"),
        (_, 0) => format!("{sign}{h:02}{m:02}"),
        _ => format!("{sign}{h:02}{m:02}{s:02}"),
    }
}

/// A zone offset as Go's numeric layouts print it (`-0700`, `-07:00`, `-07`, with seconds,
/// or `Z` for UTC in the ISO 8601 forms).
fn numeric_zone(offset_secs: i32, colon: bool, seconds: bool, short: bool, iso: bool) -> String {
    if iso && offset_secs == 0 {
        return "Z".into();
    }
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let abs = offset_secs.unsigned_abs();
    let sep = if colon { ":" } else { "" };
    let mut out = format!("{sign}{:02}", abs / 3600);
    if !short {
        out.push_str(&format!("{sep}{:02}", abs / 60 % 60));
    }
    if seconds {
        out.push_str(&format!("{sep}{:02}", abs % 60));
    }
    out
}

fn year4(year: i64) -> String {
    if year < 0 {
        format!("-{:04}", -year)
    } else {
        format!("{year:04}")
    }
}

/// A fractional-seconds element (`.000`, `.999`, `,000`) right after which no digit follows:
/// its length in bytes.
fn fraction_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() < 2 || !(b[0] == b'.' || b[0] == b',') || !(b[1] == b'0' || b[1] == b'9') {
        return None;
    }
    let digit = b[1];
    let mut j = 1;
    while j < b.len() && b[j] == digit {
        j += 1;
    }
    if j < b.len() && b[j].is_ascii_digit() {
        return None;
    }
    Some(j)
}

/// Go's `Duration.String()`: `1h2m0.01s`, `30m0s`, `1.5ms`, `0s`.
pub(crate) fn duration_string(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < NS_PER_SEC as u64 {
        let (unit, prec) = if u < 1_000 {
            ("ns", 0)
        } else if u < 1_000_000 {
            ("µs", 3)
        } else {
            ("ms", 6)
        };
        out.push_str(&frac(u, prec));
        out.push_str(unit);
    } else {
        let total_secs = u / NS_PER_SEC as u64;
        let sub = u % NS_PER_SEC as u64;
        out = format!("{}s", frac((total_secs % 60) * NS_PER_SEC as u64 + sub, 9));
        let mins = total_secs / 60;
        if mins > 0 {
            out = format!("{}m{out}", mins % 60);
            let hours = mins / 60;
            if hours > 0 {
                out = format!("{hours}h{out}");
            }
        }
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// `u / 10^prec` with the fraction's trailing zeros (and a bare point) dropped.
fn frac(u: u64, prec: u32) -> String {
    let div = 10u64.pow(prec);
    let whole = u / div;
    let fraction = u % div;
    if prec == 0 || fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{:0width$}", fraction, width = prec as usize);
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// Month name, for `Time.Month`.
pub(crate) fn month_name(month: u32) -> &'static str {
    MONTHS[(month.clamp(1, 12) - 1) as usize]
}

/// Weekday name, for `Time.Weekday`.
pub(crate) fn weekday_name(weekday: u32) -> &'static str {
    WEEKDAYS[(weekday % 7) as usize]
}
