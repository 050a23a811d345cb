//! The fields of a time interval, each read from and written as Alertmanager's text: ranges
//! are `begin:end` or a single member (both ends), case-insensitive; times are `HH:MM`.
//! Validation follows Alertmanager's, with the field and the offending text in each error.

use std::fmt;

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// Splits `raw`, lower-cased, into the texts of its two ends (a single member is both).
fn split_range(field: &str, raw: &str) -> Result<(String, String), String> {
    let lower = raw.to_lowercase();
    let parts: Vec<&str> = lower.split(':').collect();
    match parts[..] {
        [one] => Ok((one.to_string(), one.to_string())),
        [begin, end] => Ok((begin.to_string(), end.to_string())),
        _ => Err(format!(
            "invalid {field} range {raw:?}: want a member or begin:end"
        )),
    }
}

/// A decimal integer as Go's `strconv.Atoi` reads it (optional sign, digits).
fn integer<T: std::str::FromStr>(field: &str, raw: &str, member: &str) -> Result<T, String> {
    member
        .parse()
        .map_err(|_| format!("invalid {field} range {raw:?}: {member:?} is not a number"))
}

/// Writes `begin:end`, or one member when both ends are the same.
fn write_range<T: PartialEq + fmt::Display>(f: &mut fmt::Formatter<'_>, b: T, e: T) -> fmt::Result {
    if b == e {
        write!(f, "{b}")
    } else {
        write!(f, "{b}:{e}")
    }
}

/// A range of the day in minutes since midnight, `start_minute` inclusive, `end_minute`
/// exclusive (1440 is midnight at the end of the day). Written `{start_time: "09:00",
/// end_time: "17:00"}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TimeRangeText", into = "TimeRangeText")]
pub struct TimeRange {
    /// The first minute in the range (0-1439).
    pub start_minute: u32,
    /// The first minute after the range (1-1440).
    pub end_minute: u32,
}

impl TimeRange {
    /// Whether `minute` (of the day) is in the range.
    pub fn contains(&self, minute: u32) -> bool {
        (self.start_minute..self.end_minute).contains(&minute)
    }

    /// A range from `start_time` to `end_time` (`HH:MM`, `24:00` allowed), which must be
    /// later.
    pub fn parse(start_time: &str, end_time: &str) -> Result<Self, String> {
        if start_time.is_empty() || end_time.is_empty() {
            return Err(
                "invalid times range: both start_time and end_time must be provided".into(),
            );
        }
        let start_minute = minute_of_day("start_time", start_time)?;
        let end_minute = minute_of_day("end_time", end_time)?;
        if start_minute >= end_minute {
            return Err(format!(
                "invalid times range: start_time {start_time:?} must be before end_time {end_time:?}"
            ));
        }
        Ok(TimeRange {
            start_minute,
            end_minute,
        })
    }
}

/// `HH:MM` (00:00 to 23:59, or 24:00) as minutes since midnight.
fn minute_of_day(field: &str, text: &str) -> Result<u32, String> {
    let invalid = || format!("invalid times range: {field} {text:?} is not a time of day (HH:MM)");
    let b = text.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![0, 1, 3, 4].iter().all(|&i| b[i].is_ascii_digit()) {
        return Err(invalid());
    }
    let digit = |i: usize| u32::from(b[i] - b'0');
    let (hours, minutes) = (digit(0) * 10 + digit(1), digit(3) * 10 + digit(4));
    if (hours < 24 && minutes < 60) || (hours == 24 && minutes == 0) {
        Ok(hours * 60 + minutes)
    } else {
        Err(invalid())
    }
}

/// The YAML shape of a [`TimeRange`].
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimeRangeText {
    #[serde(default)]
    start_time: String,
    #[serde(default)]
    end_time: String,
}

impl TryFrom<TimeRangeText> for TimeRange {
    type Error = String;

    fn try_from(t: TimeRangeText) -> Result<Self, String> {
        TimeRange::parse(&t.start_time, &t.end_time)
    }
}

impl From<TimeRange> for TimeRangeText {
    fn from(r: TimeRange) -> Self {
        let hhmm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
        TimeRangeText {
            start_time: hhmm(r.start_minute),
            end_time: hhmm(r.end_minute),
        }
    }
}

/// Weekdays, 0 = Sunday to 6 = Saturday, inclusive; written with their names
/// (`monday:friday`, `sunday`). A range may not wrap past Saturday.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WeekdayRange {
    /// The first day (0 = Sunday).
    pub begin: u32,
    /// The last day, not before `begin`.
    pub end: u32,
}

impl WeekdayRange {
    /// Whether `weekday` (0 = Sunday) is in the range.
    pub fn contains(&self, weekday: u32) -> bool {
        (self.begin..=self.end).contains(&weekday)
    }

    /// Reads `monday`, `monday:friday` (names only, any case).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (b, e) = split_range("weekdays", raw)?;
        let day = |name: &str| {
            WEEKDAYS
                .iter()
                .position(|d| *d == name)
                .map(|i| i as u32)
                .ok_or_else(|| format!("invalid weekdays range {raw:?}: {name} is not a weekday"))
        };
        let (begin, end) = (day(&b)?, day(&e)?);
        if begin > end {
            return Err(format!(
                "invalid weekdays range {raw:?}: start day {b} is after end day {e} (ranges do not wrap)"
            ));
        }
        Ok(WeekdayRange { begin, end })
    }
}

impl fmt::Display for WeekdayRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |d: u32| WEEKDAYS.get(d as usize).copied().unwrap_or("?");
        write_range(f, name(self.begin), name(self.end))
    }
}

/// Days of the month, inclusive; a negative day counts from the month's end (-1 is the last
/// day). Ends that fall outside a short month are clamped to it, as Alertmanager does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DayOfMonthRange {
    /// The first day: 1 to 31, or -31 to -1.
    pub begin: i32,
    /// The last day: 1 to 31, or -31 to -1 (negative when `begin` is).
    pub end: i32,
}

impl DayOfMonthRange {
    /// Whether `day` of a month of `month_days` days is in the range. As Alertmanager: both
    /// ends are resolved against the month's length; a range starting after the month's end
    /// holds no day; ends beyond it are clamped.
    pub fn contains(&self, day: u32, month_days: u32) -> bool {
        let days = month_days as i32;
        let resolve = |d: i32| if d < 0 { days + d + 1 } else { d };
        let (begin, end) = (resolve(self.begin), resolve(self.end));
        if begin > days {
            return false;
        }
        let (begin, end) = (begin.clamp(-days, days), end.clamp(-days, days));
        (begin..=end).contains(&(day as i32))
    }

    /// Reads `1`, `1:15`, `-3:-1`, `10:-1`. Refused: day 0, beyond ±31, a negative start
    /// with a positive end, and a range that ends before it starts in every month (negative
    /// days are compared as in a 28-day month).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let field = "days_of_month";
        let (b, e) = split_range(field, raw)?;
        let (begin, end): (i32, i32) = (integer(field, raw, &b)?, integer(field, raw, &e)?);
        for d in [begin, end] {
            if d == 0 || !(-31..=31).contains(&d) {
                return Err(format!(
                    "invalid {field} range {raw:?}: {d} is not a day of the month (1 to 31, or -31 to -1)"
                ));
            }
        }
        if begin < 0 && end > 0 {
            return Err(format!(
                "invalid {field} range {raw:?}: end day must be negative if start day is negative"
            ));
        }
        let in_short_month = |d: i32| if d < 0 { 28 + d } else { d };
        if in_short_month(begin) > in_short_month(end) {
            return Err(format!(
                "invalid {field} range {raw:?}: end day {end} is always before start day {begin}"
            ));
        }
        Ok(DayOfMonthRange { begin, end })
    }
}

impl fmt::Display for DayOfMonthRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_range(f, self.begin, self.end)
    }
}

/// Months, 1 = January to 12 = December, inclusive; read as numbers or names, written as
/// numbers (as Alertmanager writes them). A range may not wrap past December.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MonthRange {
    /// The first month (1 = January).
    pub begin: u32,
    /// The last month, not before `begin`.
    pub end: u32,
}

impl MonthRange {
    /// Whether `month` (1 = January) is in the range.
    pub fn contains(&self, month: u32) -> bool {
        (self.begin..=self.end).contains(&month)
    }

    /// Reads `march`, `1:3`, `january:march` (any case).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let (b, e) = split_range("months", raw)?;
        let month = |text: &str| {
            let by_name = MONTHS.iter().position(|m| *m == text).map(|i| i as u32 + 1);
            by_name
                .or_else(|| text.parse().ok().filter(|m| (1..=12).contains(m)))
                .ok_or_else(|| format!("invalid months range {raw:?}: {text} is not a month"))
        };
        let (begin, end) = (month(&b)?, month(&e)?);
        if begin > end {
            return Err(format!(
                "invalid months range {raw:?}: end month {e} is before start month {b} (ranges do not wrap)"
            ));
        }
        Ok(MonthRange { begin, end })
    }
}

impl fmt::Display for MonthRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_range(f, self.begin, self.end)
    }
}

/// Years, inclusive: `2024`, `2020:2025`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct YearRange {
    /// The first year.
    pub begin: i32,
    /// The last year, not before `begin`.
    pub end: i32,
}

impl YearRange {
    /// Whether `year` is in the range.
    pub fn contains(&self, year: i32) -> bool {
        (self.begin..=self.end).contains(&year)
    }

    /// Reads `2024`, `2020:2025`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let field = "years";
        let (b, e) = split_range(field, raw)?;
        let (begin, end): (i32, i32) = (integer(field, raw, &b)?, integer(field, raw, &e)?);
        if begin > end {
            return Err(format!(
                "invalid {field} range {raw:?}: end year {end} is before start year {begin}"
            ));
        }
        Ok(YearRange { begin, end })
    }
}

impl fmt::Display for YearRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_range(f, self.begin, self.end)
    }
}

/// Implements the string conversions serde uses for a range type.
macro_rules! string_conversions {
    ($($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = String;

            fn try_from(raw: String) -> Result<Self, String> {
                <$t>::parse(&raw)
            }
        }

        impl From<$t> for String {
            fn from(r: $t) -> String {
                r.to_string()
            }
        }
    )*};
}

string_conversions!(
    WeekdayRange,
    DayOfMonthRange,
    MonthRange,
    YearRange,
    Location
);

/// An IANA time zone (`Europe/Berlin`, `UTC`), from `chrono-tz`'s bundled database. Written
/// as its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Location(Tz);

impl Location {
    /// UTC.
    pub const UTC: Location = Location(Tz::UTC);

    /// The zone named `name` (case-sensitive, as Go's `time.LoadLocation` on Linux); `""` is
    /// UTC, as in Go. `Local` is refused: a replicated configuration must not depend on the
    /// zone of the node that reads it.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "" => Ok(Location::UTC),
            "Local" => Err(
                "invalid location \"Local\": the notifier's state is replicated and \
                 must not depend on a node's time zone; name the zone (e.g. \"Europe/Berlin\") \
                 or use \"UTC\""
                    .into(),
            ),
            _ => name.parse().map(Location).map_err(|_| {
                format!(
                    "invalid location {name:?}: unknown time zone (want an IANA name such as \
                     \"Europe/Berlin\")"
                )
            }),
        }
    }

    /// The zone.
    pub fn tz(&self) -> Tz {
        self.0
    }

    /// Its IANA name.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
