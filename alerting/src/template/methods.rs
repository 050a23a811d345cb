//! Methods templates call on Go values: `time.Time` (what `toTime` returns: `.Format`,
//! `.Unix`, `.Add`, ...) and `time.Duration` (what `toDuration` returns: `.String`,
//! `.Seconds`, ...). Each gets its receiver as the first argument.

use super::funcs::s;
use super::signature::{Func, Param, fixed};
use super::time::{civil, duration_string, format, month_name, time_string, weekday_name};
use super::value::Value;

fn t(v: &Value) -> i64 {
    match v {
        Value::Time(ns) | Value::Duration(ns) => *ns,
        _ => 0,
    }
}

static TIME_METHODS: &[(&str, Func)] = &[
    (
        "String",
        fixed(&[], |_, a| Ok(Value::Str(time_string(t(&a[0]))))),
    ),
    (
        "Format",
        fixed(&[Param::Str], |_, a| {
            Ok(Value::Str(format(t(&a[0]), s(&a[1]))))
        }),
    ),
    (
        "Unix",
        fixed(&[], |_, a| {
            Ok(Value::Int(t(&a[0]).div_euclid(1_000_000_000)))
        }),
    ),
    (
        "UnixMilli",
        fixed(&[], |_, a| Ok(Value::Int(t(&a[0]).div_euclid(1_000_000)))),
    ),
    (
        "UnixMicro",
        fixed(&[], |_, a| Ok(Value::Int(t(&a[0]).div_euclid(1_000)))),
    ),
    ("UnixNano", fixed(&[], |_, a| Ok(Value::Int(t(&a[0]))))),
    (
        "Add",
        fixed(&[Param::Duration], |_, a| {
            Ok(Value::Time(t(&a[0]).saturating_add(t(&a[1]))))
        }),
    ),
    ("UTC", fixed(&[], |_, a| Ok(a[0].clone()))),
    ("Local", fixed(&[], |_, a| Ok(a[0].clone()))),
    (
        "Year",
        fixed(&[], |_, a| Ok(Value::Int(civil(t(&a[0])).year))),
    ),
    (
        "YearDay",
        fixed(&[], |_, a| Ok(Value::Int(i64::from(civil(t(&a[0])).yday)))),
    ),
    (
        "Month",
        fixed(&[], |_, a| {
            Ok(Value::str(month_name(civil(t(&a[0])).month)))
        }),
    ),
    (
        "Weekday",
        fixed(&[], |_, a| {
            Ok(Value::str(weekday_name(civil(t(&a[0])).weekday)))
        }),
    ),
    (
        "Day",
        fixed(&[], |_, a| Ok(Value::Int(i64::from(civil(t(&a[0])).day)))),
    ),
    (
        "Hour",
        fixed(&[], |_, a| Ok(Value::Int(i64::from(civil(t(&a[0])).hour)))),
    ),
    (
        "Minute",
        fixed(&[], |_, a| {
            Ok(Value::Int(i64::from(civil(t(&a[0])).minute)))
        }),
    ),
    (
        "Second",
        fixed(&[], |_, a| {
            Ok(Value::Int(i64::from(civil(t(&a[0])).second)))
        }),
    ),
    (
        "Nanosecond",
        fixed(&[], |_, a| Ok(Value::Int(i64::from(civil(t(&a[0])).nanos)))),
    ),
];

static DURATION_METHODS: &[(&str, Func)] = &[
    (
        "String",
        fixed(&[], |_, a| Ok(Value::Str(duration_string(t(&a[0]))))),
    ),
    (
        "Seconds",
        fixed(&[], |_, a| Ok(Value::Float(t(&a[0]) as f64 / 1e9))),
    ),
    (
        "Minutes",
        fixed(&[], |_, a| Ok(Value::Float(t(&a[0]) as f64 / 60e9))),
    ),
    (
        "Hours",
        fixed(&[], |_, a| Ok(Value::Float(t(&a[0]) as f64 / 3600e9))),
    ),
    (
        "Milliseconds",
        fixed(&[], |_, a| Ok(Value::Int(t(&a[0]) / 1_000_000))),
    ),
    (
        "Microseconds",
        fixed(&[], |_, a| Ok(Value::Int(t(&a[0]) / 1_000))),
    ),
    ("Nanoseconds", fixed(&[], |_, a| Ok(Value::Int(t(&a[0]))))),
    (
        "Abs",
        fixed(&[], |_, a| Ok(Value::Duration(t(&a[0]).saturating_abs()))),
    ),
];

/// The method `name` of the receiver's type, if it has one.
pub(crate) fn lookup(receiver: &Value, name: &str) -> Option<&'static Func> {
    let table = match receiver {
        Value::Time(_) => TIME_METHODS,
        Value::Duration(_) => DURATION_METHODS,
        _ => return None,
    };
    table.iter().find(|(n, _)| *n == name).map(|(_, f)| f)
}
