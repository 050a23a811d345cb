//! Methods templates call on Go values: `time.Time` (what `toTime`, `now` and `tz` return,
//! Alertmanager's `.StartsAt`: `.Format`, `.Unix`, `.Add`, ...), `time.Duration` (`.String`,
//! `.Seconds`, ...), and Alertmanager's `template.KV` (`.SortedPairs`, `.Names`, `.Values`,
//! `.Remove`), `template.Pairs` (`.Names`, `.Values`) and `template.Alerts` (`.Firing`,
//! `.Resolved`). Each gets its receiver as the first argument.

use std::collections::BTreeMap;
use std::rc::Rc;

use super::funcs::s;
use super::signature::{Func, Param, fixed};
use super::time::{GoTime, duration_string, format, go_time_string, month_name, weekday_name};
use super::value::{Slice, Value};

/// The receiver as a `time.Time` (a `*time.Time` is read through).
fn t(v: &Value) -> GoTime {
    match v {
        Value::GoTime(t) => (**t).clone(),
        Value::Time(ns) => GoTime::from_unix_ns(*ns),
        _ => GoTime::zero(),
    }
}

/// The receiver or argument as a `time.Duration`, in nanoseconds.
fn d(v: &Value) -> i64 {
    match v {
        Value::Duration(ns) | Value::GoDuration(ns) => *ns,
        _ => 0,
    }
}

fn time_value(t: GoTime) -> Value {
    Value::GoTime(Rc::new(t))
}

/// Go's `Time.Compare`, on the instant only.
fn cmp(a: &Value, b: &Value) -> std::cmp::Ordering {
    let (a, b) = (t(a), t(b));
    (a.secs, a.nanos).cmp(&(b.secs, b.nanos))
}

static TIME_METHODS: &[(&str, Func)] = &[
    (
        "String",
        fixed(&[], |_, a| Ok(Value::Str(go_time_string(&t(&a[0]))))),
    ),
    (
        "Format",
        fixed(&[Param::Str], |_, a| {
            Ok(Value::Str(format(&t(&a[0]), s(&a[1]))))
        }),
    ),
    ("Unix", fixed(&[], |_, a| Ok(Value::Int(t(&a[0]).secs)))),
    (
        "UnixMilli",
        fixed(&[], |_, a| {
            Ok(Value::Int(t(&a[0]).unix_ns().div_euclid(1_000_000)))
        }),
    ),
    (
        "UnixMicro",
        fixed(&[], |_, a| {
            Ok(Value::Int(t(&a[0]).unix_ns().div_euclid(1_000)))
        }),
    ),
    (
        "UnixNano",
        fixed(&[], |_, a| Ok(Value::Int(t(&a[0]).unix_ns()))),
    ),
    (
        "Add",
        fixed(&[Param::Duration], |_, a| {
            let base = t(&a[0]);
            let ns = i128::from(base.nanos) + i128::from(d(&a[1]));
            let secs = base
                .secs
                .saturating_add(ns.div_euclid(1_000_000_000) as i64);
            let nanos = ns.rem_euclid(1_000_000_000) as u32;
            Ok(time_value(GoTime {
                secs,
                nanos,
                ..base
            }))
        }),
    ),
    (
        "Sub",
        fixed(&[Param::Time], |_, a| {
            let (x, y) = (t(&a[0]), t(&a[1]));
            let ns = i128::from(x.secs - y.secs) * 1_000_000_000 + i128::from(x.nanos)
                - i128::from(y.nanos);
            Ok(Value::GoDuration(
                ns.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
            ))
        }),
    ),
    (
        "Before",
        fixed(&[Param::Time], |_, a| {
            Ok(Value::Bool(cmp(&a[0], &a[1]).is_lt()))
        }),
    ),
    (
        "After",
        fixed(&[Param::Time], |_, a| {
            Ok(Value::Bool(cmp(&a[0], &a[1]).is_gt()))
        }),
    ),
    (
        "Equal",
        fixed(&[Param::Time], |_, a| {
            Ok(Value::Bool(cmp(&a[0], &a[1]).is_eq()))
        }),
    ),
    (
        "IsZero",
        fixed(&[], |_, a| Ok(Value::Bool(t(&a[0]).is_zero()))),
    ),
    (
        "UTC",
        fixed(&[], |_, a| {
            let x = t(&a[0]);
            Ok(time_value(GoTime::utc(x.secs, x.nanos)))
        }),
    ),
    (
        "Local",
        fixed(&[], |_, a| {
            let x = t(&a[0]);
            Ok(time_value(GoTime::utc(x.secs, x.nanos)))
        }),
    ),
    (
        "Year",
        fixed(&[], |_, a| Ok(Value::Int(t(&a[0]).civil().year))),
    ),
    (
        "YearDay",
        fixed(&[], |_, a| Ok(Value::Int(i64::from(t(&a[0]).civil().yday)))),
    ),
    (
        "Month",
        fixed(&[], |_, a| {
            Ok(Value::str(month_name(t(&a[0]).civil().month)))
        }),
    ),
    (
        "Weekday",
        fixed(&[], |_, a| {
            Ok(Value::str(weekday_name(t(&a[0]).civil().weekday)))
        }),
    ),
    (
        "Day",
        fixed(&[], |_, a| Ok(Value::Int(i64::from(t(&a[0]).civil().day)))),
    ),
    (
        "Hour",
        fixed(&[], |_, a| Ok(Value::Int(i64::from(t(&a[0]).civil().hour)))),
    ),
    (
        "Minute",
        fixed(&[], |_, a| {
            Ok(Value::Int(i64::from(t(&a[0]).civil().minute)))
        }),
    ),
    (
        "Second",
        fixed(&[], |_, a| {
            Ok(Value::Int(i64::from(t(&a[0]).civil().second)))
        }),
    ),
    (
        "Nanosecond",
        fixed(&[], |_, a| Ok(Value::Int(i64::from(t(&a[0]).nanos)))),
    ),
];

static DURATION_METHODS: &[(&str, Func)] = &[
    (
        "String",
        fixed(&[], |_, a| Ok(Value::Str(duration_string(d(&a[0]))))),
    ),
    (
        "Seconds",
        fixed(&[], |_, a| Ok(Value::Float(d(&a[0]) as f64 / 1e9))),
    ),
    (
        "Minutes",
        fixed(&[], |_, a| Ok(Value::Float(d(&a[0]) as f64 / 60e9))),
    ),
    (
        "Hours",
        fixed(&[], |_, a| Ok(Value::Float(d(&a[0]) as f64 / 3600e9))),
    ),
    (
        "Milliseconds",
        fixed(&[], |_, a| Ok(Value::Int(d(&a[0]) / 1_000_000))),
    ),
    (
        "Microseconds",
        fixed(&[], |_, a| Ok(Value::Int(d(&a[0]) / 1_000))),
    ),
    ("Nanoseconds", fixed(&[], |_, a| Ok(Value::Int(d(&a[0]))))),
    (
        "Abs",
        fixed(&[], |_, a| Ok(Value::GoDuration(d(&a[0]).saturating_abs()))),
    ),
];

/// The Alertmanager label that `SortedPairs` puts first.
const ALERT_NAME: &str = "alertname";

/// Alertmanager's `KV.SortedPairs`: `alertname` first, then the other names in byte order.
pub(crate) fn sorted_pairs(kv: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let first = kv.get_key_value(ALERT_NAME);
    first
        .into_iter()
        .chain(kv.iter().filter(|(k, _)| k.as_str() != ALERT_NAME))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Alertmanager's `Pairs.String` (and so `KV.String`): `a=b, c=d`.
pub(crate) fn pairs_string(pairs: &[(String, String)]) -> String {
    let parts: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(", ")
}

fn kv(v: &Value) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    match v {
        Value::Kv(m) => m,
        _ => &EMPTY,
    }
}

fn pairs_of(v: &Value) -> Vec<(String, String)> {
    match v {
        Value::Pairs(p) => p.as_ref().clone(),
        other => sorted_pairs(kv(other)),
    }
}

fn strings(items: impl Iterator<Item = String>) -> Value {
    Value::Strings(Rc::new(items.collect()))
}

static KV_METHODS: &[(&str, Func)] = &[
    (
        "SortedPairs",
        fixed(&[], |_, a| {
            Ok(Value::Pairs(Rc::new(sorted_pairs(kv(&a[0])))))
        }),
    ),
    (
        "Remove",
        fixed(&[Param::Strings], |_, a| {
            let Value::Strings(keys) = &a[1] else {
                return Ok(a[0].clone());
            };
            let mut rest = kv(&a[0]).clone();
            for key in keys.iter() {
                rest.remove(key);
            }
            Ok(Value::Kv(Rc::new(rest)))
        }),
    ),
    (
        "Names",
        fixed(&[], |_, a| {
            Ok(strings(pairs_of(&a[0]).into_iter().map(|p| p.0)))
        }),
    ),
    (
        "Values",
        fixed(&[], |_, a| {
            Ok(strings(pairs_of(&a[0]).into_iter().map(|p| p.1)))
        }),
    ),
    (
        "String",
        fixed(&[], |_, a| Ok(Value::Str(pairs_string(&pairs_of(&a[0]))))),
    ),
];

/// `Pairs` has the same methods as `KV` but `SortedPairs` and `Remove`.
fn pairs_methods() -> &'static [(&'static str, Func)] {
    &KV_METHODS[2..]
}

/// The Go type of Alertmanager's `Alerts` and of what its methods return.
pub(crate) const ALERTS_TYPE: &str = "template.Alerts";
pub(crate) const ALERT_SLICE_TYPE: &str = "[]template.Alert";

/// The alerts of `list` whose `Status` field is `status`, as `[]template.Alert`.
fn with_status(list: &Value, status: &str) -> Value {
    let items = match list {
        Value::Slice(slice) => slice
            .items
            .iter()
            .filter(|item| match item {
                Value::Struct(st) => st.field("Status").and_then(Value::as_str) == Some(status),
                _ => false,
            })
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    Value::Slice(Rc::new(Slice {
        type_name: ALERT_SLICE_TYPE,
        items,
    }))
}

static ALERTS_METHODS: &[(&str, Func)] = &[
    (
        "Firing",
        fixed(&[], |_, a| Ok(with_status(&a[0], "firing"))),
    ),
    (
        "Resolved",
        fixed(&[], |_, a| Ok(with_status(&a[0], "resolved"))),
    ),
];

/// The method `name` of the receiver's type, if it has one.
pub(crate) fn lookup(receiver: &Value, name: &str) -> Option<&'static Func> {
    let table = match receiver {
        Value::Time(_) | Value::GoTime(_) => TIME_METHODS,
        Value::Duration(_) | Value::GoDuration(_) => DURATION_METHODS,
        Value::Kv(_) => KV_METHODS,
        Value::Pairs(_) => pairs_methods(),
        Value::Slice(slice) if slice.type_name == ALERTS_TYPE => ALERTS_METHODS,
        _ => return None,
    };
    table.iter().find(|(n, _)| *n == name).map(|(_, f)| f)
}
