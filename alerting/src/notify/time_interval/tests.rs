//! Time interval tests. Cases marked "AM" are taken from Alertmanager 0.33's
//! `timeinterval/timeinterval_test.go` (instants in its RFC 822 form, `02 Jan 06 15:04 -0700`).

use chrono::DateTime;

use super::*;

/// Unix milliseconds of an RFC 822 instant with a numeric zone.
fn at(s: &str) -> i64 {
    DateTime::parse_from_str(s, "%d %b %y %H:%M %z")
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .timestamp_millis()
}

/// Unix milliseconds of an RFC 3339 instant.
fn rfc3339(s: &str) -> i64 {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .timestamp_millis()
}

fn interval(yaml: &str) -> TimeInterval {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

fn interval_error(yaml: &str) -> String {
    match serde_yaml::from_str::<TimeInterval>(yaml) {
        Ok(ti) => panic!("{yaml} should be refused, got {ti:?}"),
        Err(e) => e.to_string(),
    }
}

fn check(ti: &TimeInterval, inside: &[&str], outside: &[&str]) {
    for s in inside {
        assert!(ti.contains(at(s)), "{ti:?} should contain {s}");
    }
    for s in outside {
        assert!(!ti.contains(at(s)), "{ti:?} should not contain {s}");
    }
}

/// AM `timeIntervalTestCases` and `completeTestCases`.
#[test]
fn contains_as_alertmanager() {
    check(
        &TimeInterval::default(),
        &["02 Jan 06 15:04 +0000", "04 Jan 06 09:04 +0000"],
        &[],
    );
    let business = interval(
        "{times: [{start_time: '09:00', end_time: '17:00'}], weekdays: ['monday:friday']}",
    );
    check(
        &business,
        &[
            "04 May 20 15:04 +0000",
            "05 May 20 10:04 +0000",
            "09 Jun 20 09:04 +0000",
        ],
        &[
            "03 May 20 15:04 +0000",
            "04 May 20 08:59 +0000",
            "05 May 20 05:00 +0000",
        ],
    );
    let easter = interval("{days_of_month: ['4:6'], months: ['4'], years: ['2020']}");
    check(
        &easter,
        &[
            "04 Apr 20 15:04 +0000",
            "05 Apr 20 00:00 +0000",
            "06 Apr 20 23:05 +0000",
        ],
        &[
            "03 May 18 15:04 +0000",
            "03 Apr 20 23:59 +0000",
            "04 Jun 20 23:59 +0000",
            "06 Apr 19 23:59 +0000",
            "07 Apr 20 00:00 +0000",
        ],
    );
    let last_three = interval("{days_of_month: ['-3:-1']}");
    check(
        &last_three,
        &[
            "31 Jan 20 15:04 +0000",
            "29 Jan 20 15:04 +0000",
            "30 Jun 20 00:00 +0000",
            "29 Feb 20 23:05 +0000",
        ],
        &[
            "27 Jan 20 15:04 +0000",
            "04 Jun 20 23:59 +0000",
            "01 Mar 20 00:00 +0000",
        ],
    );
    // Built directly: `-31:31` is refused when read (a negative start needs a negative end).
    let clamped = TimeInterval {
        months: Some(vec![MonthRange { begin: 6, end: 6 }]),
        days_of_month: Some(vec![DayOfMonthRange {
            begin: -31,
            end: 31,
        }]),
        ..TimeInterval::default()
    };
    check(
        &clamped,
        &["30 Jun 20 00:00 +0000", "01 Jun 20 00:00 +0000"],
        &["31 May 20 00:00 +0000", "01 Jul 20 00:00 +0000"],
    );
    let complete = interval(
        "weekdays: ['monday:wednesday', 'saturday', 'sunday']
times: [{start_time: '13:00', end_time: '15:00'}]
days_of_month: ['1', '10', '20:-1']
years: ['2020:2023']
months: ['january:march']",
    );
    check(
        &complete,
        &["10 Jan 21 13:00 +0000", "30 Jan 21 14:24 +0000"],
        &[
            "09 Jan 21 13:00 +0000",
            "20 Jan 21 12:59 +0000",
            "02 Feb 21 13:00 +0000",
        ],
    );
    // A range starting after the month's end holds no day (no clamping of the start).
    let late = interval("{days_of_month: ['30:31'], years: ['2020:2023'], months: ['february']}");
    check(
        &late,
        &[],
        &["28 Feb 21 13:00 +0000", "29 Feb 20 13:00 +0000"],
    );
}

/// AM: zones, including across a DST change.
#[test]
fn reads_instants_in_the_location() {
    let sydney_hours = interval(
        "{times: [{start_time: '09:00', end_time: '17:00'}], weekdays: ['monday:friday'], location: Australia/Sydney}",
    );
    check(
        &sydney_hours,
        &["06 Apr 21 13:00 +1000"],
        &["06 Apr 21 13:00 +0000"],
    );
    let sydney_november = interval(
        "{times: [{start_time: '09:00', end_time: '17:00'}], weekdays: ['monday:friday'], months: ['11'], location: Australia/Sydney}",
    );
    check(
        &sydney_november,
        &["01 Nov 21 09:00 +1100", "31 Oct 21 22:00 +0000"],
        &["31 Oct 21 21:00 +0000"],
    );
    // Alertmanager 0.33 measured the month in hours and lost a day in months with a DST
    // change (fixed upstream after 0.33): the last day of March 2021 in New York is the 31st.
    let new_york_last_day = interval("{days_of_month: ['-1'], location: America/New_York}");
    check(
        &new_york_last_day,
        &["31 Mar 21 12:00 -0400"],
        &["30 Mar 21 12:00 -0400"],
    );
}

/// AM `TestIntervener_Mutes`: evenings and weekends in Sydney, asked in UTC.
#[test]
fn named_intervals_contain_any_of_their_intervals() {
    let named: Vec<NamedTimeInterval> = serde_yaml::from_str(
        "- name: evenings
  time_intervals:
    - times: [{start_time: '00:00', end_time: '09:00'}, {start_time: '17:00', end_time: '24:00'}]
      location: Australia/Sydney
- name: weekends
  time_intervals:
    - {weekdays: [saturday], location: Australia/Sydney}
    - {weekdays: [sunday], location: Australia/Sydney}",
    )
    .unwrap();
    let muted_by = |t: i64| -> Vec<&str> {
        named
            .iter()
            .filter(|n| n.contains(t))
            .map(|n| n.name.as_str())
            .collect()
    };
    assert_eq!(muted_by(rfc3339("2024-01-01T00:00:00+11:00")), ["evenings"]);
    assert!(muted_by(rfc3339("2024-01-01T09:00:00+11:00")).is_empty());
    assert_eq!(muted_by(rfc3339("2024-01-06T10:00:00+11:00")), ["weekends"]);
    assert_eq!(
        muted_by(rfc3339("2024-01-06T17:00:00+11:00")),
        ["evenings", "weekends"]
    );
    assert_eq!(muted_by(rfc3339("2024-01-01T10:00:00Z")), ["evenings"]);
    assert_eq!(
        muted_by(rfc3339("2024-01-06T10:00:00Z")),
        ["evenings", "weekends"]
    );
    assert!(!NamedTimeInterval::default().contains(0));
}

#[test]
fn times_have_an_exclusive_end_and_may_end_at_24_00() {
    let late = interval("{times: [{start_time: '23:00', end_time: '24:00'}]}");
    assert_eq!(
        late.times,
        Some(vec![TimeRange {
            start_minute: 1380,
            end_minute: 1440
        }])
    );
    assert!(late.contains(rfc3339("2024-05-05T23:59:59.999Z")));
    assert!(!late.contains(rfc3339("2024-05-06T00:00:00Z")));
    assert!(!late.contains(rfc3339("2024-05-05T22:59:59.999Z")));
    let morning = interval("{times: [{start_time: '00:00', end_time: '09:30'}]}");
    assert!(morning.contains(rfc3339("2024-05-06T00:00:00Z")));
    assert!(morning.contains(rfc3339("2024-05-06T09:29:59Z")));
    assert!(!morning.contains(rfc3339("2024-05-06T09:30:00Z")));
}

/// AM `timeStringTestCases` and the time errors of `yamlUnmarshalTestCases`.
#[test]
fn parses_and_refuses_times() {
    let ok = [
        ("00:00", "24:00", 0, 1440),
        ("01:35", "17:39", 95, 1059),
        ("09:35", "09:39", 575, 579),
    ];
    for (start, end, start_minute, end_minute) in ok {
        assert_eq!(
            TimeRange::parse(start, end),
            Ok(TimeRange {
                start_minute,
                end_minute
            })
        );
    }
    let bad = [
        ("17:31", "17:31", "must be before"),
        ("12:30", "24:01", "end_time \"24:01\" is not a time of day"),
        ("09:30", "07:41", "must be before"),
        ("24:00", "17:41", "must be before"),
        (
            "01:99",
            "23:59",
            "start_time \"01:99\" is not a time of day (HH:MM)",
        ),
        ("00:00", "99:99", "end_time \"99:99\""),
        ("9:00", "10:00", "\"9:00\""),
        ("09:00", "", "both start_time and end_time"),
    ];
    for (start, end, want) in bad {
        let err = TimeRange::parse(start, end).unwrap_err();
        assert!(
            err.starts_with("invalid times range: ") && err.contains(want),
            "{start}-{end}: {err}"
        );
    }
    let err = interval_error("{times: [{start_time: '14:03'}]}");
    assert!(err.contains("both start_time and end_time"), "{err}");
    let err = interval_error("{times: [{start_time: '14:03', end_time: '15:00', end: '16:00'}]}");
    assert!(err.contains("unknown field `end`"), "{err}");
}

/// AM `yamlUnmarshalTestCases`: what is refused, with the field and the value named.
#[test]
fn refuses_invalid_ranges() {
    let cases = [
        (
            "{weekdays: ['friday:monday']}",
            r#"invalid weekdays range "friday:monday": start day friday is after end day monday"#,
        ),
        (
            "{weekdays: ['saturday:sunday']}",
            r#"invalid weekdays range "saturday:sunday""#,
        ),
        (
            "{weekdays: ['blurgsday:flurgsday']}",
            "blurgsday is not a weekday",
        ),
        (
            "{weekdays: ['1:3']}",
            r#"invalid weekdays range "1:3": 1 is not a weekday"#,
        ),
        ("{weekdays: ['-2:-1']}", "-2 is not a weekday"),
        (
            "{weekdays: ['monday:tuesday:friday']}",
            r#"invalid weekdays range "monday:tuesday:friday": want a member or begin:end"#,
        ),
        (
            "{days_of_month: ['0']}",
            r#"invalid days_of_month range "0": 0 is not a day of the month"#,
        ),
        (
            "{days_of_month: ['-50:-20']}",
            "-50 is not a day of the month",
        ),
        ("{days_of_month: ['1:50']}", "50 is not a day of the month"),
        (
            "{days_of_month: ['-15:5']}",
            "end day must be negative if start day is negative",
        ),
        (
            "{days_of_month: ['-31:31']}",
            "end day must be negative if start day is negative",
        ),
        (
            "{days_of_month: ['10:-25']}",
            "end day -25 is always before start day 10",
        ),
        (
            "{days_of_month: ['5:3']}",
            "end day 3 is always before start day 5",
        ),
        (
            "{days_of_month: ['first']}",
            r#"invalid days_of_month range "first": "first" is not a number"#,
        ),
        ("{months: ['martius:june']}", "martius is not a month"),
        ("{months: ['march:junius']}", "junius is not a month"),
        (
            "{months: ['december:january']}",
            "end month january is before start month december",
        ),
        (
            "{months: ['13']}",
            r#"invalid months range "13": 13 is not a month"#,
        ),
        (
            "{years: ['2022:2020']}",
            r#"invalid years range "2022:2020": end year 2020 is before start year 2022"#,
        ),
        ("{years: ['twenty']}", r#"invalid years range "twenty""#),
        (
            "{location: Local}",
            r#"invalid location "Local": the notifier's state is replicated"#,
        ),
        (
            "{location: Mars/Olympus_Mons}",
            r#"invalid location "Mars/Olympus_Mons": unknown time zone"#,
        ),
        ("{location: europe/berlin}", "unknown time zone"),
        ("{weekday: ['monday']}", "unknown field `weekday`"),
    ];
    for (yaml, want) in cases {
        let err = interval_error(yaml);
        assert!(
            err.contains(want),
            "{yaml}: {err:?} should contain {want:?}"
        );
    }
}

/// AM: the accepted spellings (names in any case, numbers, YAML integers, single members).
#[test]
fn parses_ranges() {
    let ti = interval(
        "weekdays: ['monday:friday', 'Sunday']
months: ['January:december', 2, 'MAY']
days_of_month: ['1:-1', -7, 15]
years: ['2020:2025', 2030]
location: Australia/Sydney",
    );
    assert_eq!(
        ti.weekdays,
        Some(vec![
            WeekdayRange { begin: 1, end: 5 },
            WeekdayRange { begin: 0, end: 0 }
        ])
    );
    assert_eq!(
        ti.months,
        Some(vec![
            MonthRange { begin: 1, end: 12 },
            MonthRange { begin: 2, end: 2 },
            MonthRange { begin: 5, end: 5 }
        ])
    );
    assert_eq!(
        ti.days_of_month,
        Some(vec![
            DayOfMonthRange { begin: 1, end: -1 },
            DayOfMonthRange { begin: -7, end: -7 },
            DayOfMonthRange { begin: 15, end: 15 },
        ])
    );
    assert_eq!(
        ti.years,
        Some(vec![
            YearRange {
                begin: 2020,
                end: 2025
            },
            YearRange {
                begin: 2030,
                end: 2030
            }
        ])
    );
    assert_eq!(ti.location.map(|l| l.name()), Some("Australia/Sydney"));
    assert_eq!(interval("{location: ''}").location, Some(Location::UTC));
    assert_eq!(interval("{location: UTC}").location, Some(Location::UTC));
    assert_eq!(interval("{location: null}").location, None);
}

/// AM: the last week of the first quarter, business hours, in some years.
#[test]
fn combines_negative_days_weekdays_and_years() {
    let ti = interval(
        "weekdays: ['monday:friday', 'sunday']
months: ['january:march']
days_of_month: ['-7:-1']
years: ['2020:2025', '2030:2035']
times: [{start_time: '09:00', end_time: '17:00'}]",
    );
    check(
        &ti,
        &[
            "27 Jan 21 09:00 +0000",
            "28 Jan 21 16:59 +0000",
            "29 Jan 21 13:00 +0000",
            "31 Mar 25 13:00 +0000",
            "31 Jan 35 13:00 +0000",
        ],
        &[
            "30 Jan 21 13:00 +0000",
            "01 Apr 21 13:00 +0000",
            "30 Jan 26 13:00 +0000",
            "31 Jan 35 17:01 +0000",
        ],
    );
}

#[test]
fn negative_days_follow_the_month_length() {
    let last = interval("{days_of_month: ['-1']}");
    check(
        &last,
        &[
            "29 Feb 24 12:00 +0000",
            "28 Feb 23 12:00 +0000",
            "30 Apr 24 12:00 +0000",
        ],
        &["28 Feb 24 12:00 +0000", "30 Jan 24 12:00 +0000"],
    );
    // 2100 is not a leap year, 2000 is.
    assert!(last.contains(rfc3339("2100-02-28T12:00:00Z")));
    assert!(last.contains(rfc3339("2000-02-29T12:00:00Z")));
    assert_eq!(days_in_month(1900, 2), 28);
    // -31 in a 30-day month starts before the 1st: clamped, the range holds from the 1st.
    let long = interval("{days_of_month: ['-31:-30']}");
    check(
        &long,
        &[
            "01 Apr 24 00:00 +0000",
            "01 Jan 24 00:00 +0000",
            "02 Jan 24 00:00 +0000",
        ],
        &["02 Apr 24 00:00 +0000", "03 Jan 24 00:00 +0000"],
    );
    // 31 in February is clamped to the month's last day.
    let to_31 = interval("{days_of_month: ['20:31']}");
    check(
        &to_31,
        &["28 Feb 23 23:59 +0000"],
        &["01 Mar 23 00:00 +0000", "19 Feb 23 12:00 +0000"],
    );
}

/// Ranges are read in the zone: an instant's day, weekday, month and year can differ from
/// UTC's, and DST moves the wall clock.
#[test]
fn boundaries_cross_in_the_zone() {
    let new_year = interval(
        "{years: ['2025'], months: ['january'], days_of_month: ['1'], weekdays: ['wednesday'], location: Europe/Berlin}",
    );
    assert!(new_year.contains(rfc3339("2024-12-31T23:30:00Z")));
    assert!(!new_year.contains(rfc3339("2024-12-31T22:59:00Z")));
    // Berlin springs forward at 02:00 on 2024-03-31: 02:00-03:00 does not happen that day.
    let two_am =
        interval("{times: [{start_time: '02:00', end_time: '03:00'}], location: Europe/Berlin}");
    assert!(!two_am.contains(rfc3339("2024-03-31T00:59:00Z")));
    assert!(!two_am.contains(rfc3339("2024-03-31T01:00:00Z")));
    assert!(two_am.contains(rfc3339("2024-03-30T01:30:00Z")));
    // It falls back at 03:00 on 2024-10-27: 02:00-03:00 happens twice, two hours in all.
    assert!(two_am.contains(rfc3339("2024-10-27T00:30:00Z")));
    assert!(two_am.contains(rfc3339("2024-10-27T01:30:00Z")));
    assert!(!two_am.contains(rfc3339("2024-10-27T02:00:00Z")));
    // Without a location, UTC.
    let utc_hours = interval("{times: [{start_time: '00:00', end_time: '01:00'}]}");
    assert!(utc_hours.contains(rfc3339("2024-10-27T00:30:00Z")));
    assert!(!utc_hours.contains(rfc3339("2024-10-27T00:30:00+02:00")));
    assert!(!utc_hours.contains(i64::MIN) && !utc_hours.contains(i64::MAX));
}

/// An empty list matches nothing, an absent one everything (Alertmanager's nil checks).
#[test]
fn empty_list_matches_nothing() {
    assert!(!interval("{weekdays: []}").contains(0));
    assert!(interval("{weekdays: null}").contains(0));
    assert!(interval("{}").contains(0));
}

#[test]
fn round_trips_through_yaml_json_and_bincode() {
    let yaml = "- name: quarter-end
  time_intervals:
    - weekdays: ['monday:friday', 'sunday']
      months: ['january:march', 'december']
      days_of_month: ['-7:-1', '1', '10:-1']
      years: ['2020:2025', '2030']
      times: [{start_time: '09:00', end_time: '17:00'}, {start_time: '23:00', end_time: '24:00'}]
      location: America/New_York
    - {weekdays: []}
    - {}
- name: empty
";
    let named: Vec<NamedTimeInterval> = serde_yaml::from_str(yaml).unwrap();
    let written = serde_yaml::to_string(&named).unwrap();
    assert!(
        written.contains("- monday:friday") && written.contains("start_time: 09:00"),
        "{written}"
    );
    assert!(
        written.contains("- 1:3")
            && written.contains("- -7:-1")
            && written.contains("location: America/New_York"),
        "{written}"
    );
    assert_eq!(
        serde_yaml::from_str::<Vec<NamedTimeInterval>>(&written).unwrap(),
        named
    );
    let json = serde_json::to_string(&named).unwrap();
    assert_eq!(
        serde_json::from_str::<Vec<NamedTimeInterval>>(&json).unwrap(),
        named
    );
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(&named, config).unwrap();
    let (back, _): (Vec<NamedTimeInterval>, usize) =
        bincode::serde::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(back, named);
    assert!(serde_yaml::from_str::<NamedTimeInterval>("{name: x, intervals: []}").is_err());
}
