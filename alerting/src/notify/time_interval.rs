//! Alertmanager's time intervals (`timeinterval/timeinterval.go` of Alertmanager 0.33): an
//! instant is in a [`TimeInterval`] when, read in the interval's `location`, it falls in one
//! of the listed `times`, `weekdays`, `days_of_month`, `months` and `years` ranges of every
//! field that is set. A field that is absent (or `null`) does not restrict; a field set to an
//! empty list matches nothing, as in Alertmanager.
//!
//! The YAML shape is Alertmanager's; unknown fields and invalid ranges are refused with the
//! field and the value named. Every type serialises back to that shape (ranges as strings,
//! `times` as `{start_time, end_time}`, the location as its zone name), also through
//! non-self-describing formats such as bincode.
//!
//! Zones come from `chrono-tz`'s bundled IANA database, never from the node's, so every
//! replica reads an instant the same way; `location: Local` is refused for that reason.

mod ranges;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Datelike, Timelike};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

pub use ranges::{DayOfMonthRange, Location, MonthRange, TimeRange, WeekdayRange, YearRange};

/// One `time_intervals` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeInterval {
    /// `times`: ranges of the day, start inclusive, end exclusive.
    pub times: Option<Vec<TimeRange>>,
    /// `weekdays`: `monday`, `monday:friday`.
    pub weekdays: Option<Vec<WeekdayRange>>,
    /// `days_of_month`: `1`, `1:5`, `-3:-1` (counted from the month's end).
    pub days_of_month: Option<Vec<DayOfMonthRange>>,
    /// `months`: `1:3`, `january:march`.
    pub months: Option<Vec<MonthRange>>,
    /// `years`: `2024`, `2020:2025`.
    pub years: Option<Vec<YearRange>>,
    /// `location`: the IANA zone the other fields are read in; UTC when absent.
    pub location: Option<Location>,
}

impl TimeInterval {
    /// Whether the instant `t_ms` (Unix milliseconds) falls in this interval. An instant
    /// outside the calendar's range (beyond ±262,000 years) falls in none.
    pub fn contains(&self, t_ms: i64) -> bool {
        let Some(utc) = DateTime::from_timestamp_millis(t_ms) else {
            return false;
        };
        let tz = self.location.as_ref().map_or(Tz::UTC, Location::tz);
        let t = utc.with_timezone(&tz);
        let minute = t.hour() * 60 + t.minute();
        let month_days = days_in_month(t.year(), t.month());
        let weekday = t.weekday().num_days_from_sunday();
        any_or_unset(&self.times, |r| r.contains(minute))
            && any_or_unset(&self.days_of_month, |r| r.contains(t.day(), month_days))
            && any_or_unset(&self.months, |r| r.contains(t.month()))
            && any_or_unset(&self.weekdays, |r| r.contains(weekday))
            && any_or_unset(&self.years, |r| r.contains(t.year()))
    }
}

/// A named list of intervals (`time_intervals: [{name, time_intervals}]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedTimeInterval {
    /// Its name, as routes refer to it.
    pub name: String,
    /// The intervals; an instant in any of them is in it.
    #[serde(default)]
    pub time_intervals: Vec<TimeInterval>,
}

impl NamedTimeInterval {
    /// Whether `t_ms` falls in any of its intervals.
    pub fn contains(&self, t_ms: i64) -> bool {
        self.time_intervals.iter().any(|i| i.contains(t_ms))
    }
}

/// True when the field is unset, else whether one of its ranges holds.
fn any_or_unset<T>(ranges: &Option<Vec<T>>, holds: impl Fn(&T) -> bool) -> bool {
    ranges.as_ref().is_none_or(|rs| rs.iter().any(holds))
}

/// The number of days of `month` (1-12) of `year` in the proleptic Gregorian calendar: a
/// count of calendar days, unaffected by the zone's DST changes in that month.
pub(crate) fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => 31,
    }
}
