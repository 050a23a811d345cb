//! The values a template computes with: the Go types Prometheus' and Alertmanager's templates
//! see (strings, numbers, label maps, query results, times, Alertmanager's `Data`), with Go's
//! names for error messages and Go's notion of truth.

use std::collections::BTreeMap;
use std::rc::Rc;

pub use super::time::GoTime;

/// A value inside a template, standing for the Go value Prometheus would have.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// Go's invalid value or untyped nil (a missing field, a missing `args` entry).
    #[default]
    Nil,
    /// `bool`.
    Bool(bool),
    /// `int` (number literals without a fraction, `len`, range indexes).
    Int(i64),
    /// `float64` (sample values, number literals with a fraction or exponent).
    Float(f64),
    /// `string`.
    Str(String),
    /// `template.HTML`, what `safeHtml` returns.
    Html(String),
    /// `map[string]string`: a label set.
    LabelMap(Rc<BTreeMap<String, String>>),
    /// `map[string]interface {}`: what `args` returns.
    Map(Rc<BTreeMap<String, Value>>),
    /// `[]interface {}`: a list handed in as data.
    List(Rc<Vec<Value>>),
    /// `template.queryResult`: what `query` returns.
    Vector(Rc<Vec<Rc<Sample>>>),
    /// `*template.sample`: one element of a query result.
    Sample(Rc<Sample>),
    /// The alert's data: `.Labels`, `.ExternalLabels`, `.ExternalURL`, `.Value`.
    Alert(Rc<AlertRoot>),
    /// `*time.Time`, as Unix nanoseconds (what `toTime` returns; always UTC).
    Time(i64),
    /// `*time.Duration`, in nanoseconds (what `toDuration` returns).
    Duration(i64),
    /// `template.KV` (Alertmanager): a label or annotation set with methods (`SortedPairs`,
    /// `Names`, `Values`, `Remove`), printed as `a=b, c=d`.
    Kv(Rc<BTreeMap<String, String>>),
    /// `template.Pairs`: name/value pairs (`Names`, `Values`), printed as `a=b, c=d`.
    Pairs(Rc<Vec<(String, String)>>),
    /// `template.Pair`: `.Name` and `.Value`.
    Pair(Rc<(String, String)>),
    /// `[]string` (what `.Names`, `.Values` and `stringSlice` return).
    Strings(Rc<Vec<String>>),
    /// `template.URL`, what `safeUrl` returns.
    Url(String),
    /// `time.Time`: an instant in a zone (`.StartsAt`, what `now` and `tz` return).
    GoTime(Rc<GoTime>),
    /// `time.Duration`, in nanoseconds (what `since` returns).
    GoDuration(i64),
    /// A Go struct, or a pointer to one (Alertmanager's `*template.Data`, `template.Alert`).
    Struct(Rc<Struct>),
    /// A slice of a named element type (`template.Alerts`, `[]template.Alert`).
    Slice(Rc<Slice>),
}

/// A Go struct value: its type and its fields in declaration order.
#[derive(Clone, Debug)]
pub struct Struct {
    /// Go's name of the type, with `*` for a pointer (`*template.Data`).
    pub type_name: &'static str,
    /// The fields, in declaration order.
    pub fields: Vec<Field>,
}

/// One field of a [`Struct`].
#[derive(Clone, Debug)]
pub struct Field {
    /// Its Go name (`.StartsAt`).
    pub name: &'static str,
    /// Its name in JSON (`toJson`): the struct tag.
    pub json: &'static str,
    /// Its value.
    pub value: Value,
}

impl Struct {
    /// The value of field `name`, if the struct has one.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.value)
    }

    /// Whether the value is a pointer to the struct (printed `&{...}` by `printf "%v"`).
    pub fn is_pointer(&self) -> bool {
        self.type_name.starts_with('*')
    }
}

/// A Go slice whose type has a name (and so, possibly, methods).
#[derive(Clone, Debug)]
pub struct Slice {
    /// Go's name of the type (`template.Alerts`).
    pub type_name: &'static str,
    /// The elements.
    pub items: Vec<Value>,
}

/// One sample of a query result: Prometheus' `sample { Labels map[string]string; Value any }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' labels, `__name__` included.
    pub labels: Rc<BTreeMap<String, String>>,
    /// The sample value.
    pub value: f64,
    /// A native histogram's Go printing: `.Value` is this instead of `value`.
    pub histogram: Option<String>,
}

impl Sample {
    /// `.Value`: the float, or the histogram (printed as Go prints it).
    pub fn value(&self) -> Value {
        sample_value(self.value, &self.histogram)
    }
}

/// A sample's `.Value` in templates: `value`, or the histogram's printing when it is one
/// (Prometheus hands templates the `*FloatHistogram`, which prints so).
fn sample_value(value: f64, histogram: &Option<String>) -> Value {
    match histogram {
        Some(text) => Value::str(text),
        None => Value::Float(value),
    }
}

/// The data an alert template executes on (Prometheus' `AlertTemplateData`).
#[derive(Clone, Debug, PartialEq)]
pub struct AlertRoot {
    /// `.Labels`.
    pub labels: Rc<BTreeMap<String, String>>,
    /// `.ExternalLabels`.
    pub external_labels: Rc<BTreeMap<String, String>>,
    /// `.ExternalURL`.
    pub external_url: String,
    /// `.Value`.
    pub value: f64,
    /// A native histogram's printing: `.Value` is this instead of `value`.
    pub histogram: Option<String>,
}

impl AlertRoot {
    /// `.Value`.
    pub fn value(&self) -> Value {
        sample_value(self.value, &self.histogram)
    }
}

/// The Go type name of the alert data struct, as Go prints it in errors.
const ALERT_TYPE: &str = "struct { Labels map[string]string; ExternalLabels map[string]string; \
                          ExternalURL string; Value interface {} }";

impl Value {
    /// A `string` value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::Str(s.into())
    }

    /// A label map from name/value pairs.
    pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
        let map = pairs
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Value::LabelMap(Rc::new(map))
    }

    /// Go's name for the value's type (`%T`, error messages).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Html(_) => "template.HTML",
            Value::LabelMap(_) => "map[string]string",
            Value::Map(_) => "map[string]interface {}",
            Value::List(_) => "[]interface {}",
            Value::Vector(_) => "template.queryResult",
            Value::Sample(_) => "*template.sample",
            Value::Alert(_) => ALERT_TYPE,
            Value::Time(_) => "*time.Time",
            Value::Duration(_) => "*time.Duration",
            Value::Kv(_) => "template.KV",
            Value::Pairs(_) => "template.Pairs",
            Value::Pair(_) => "template.Pair",
            Value::Strings(_) => "[]string",
            Value::Url(_) => "template.URL",
            Value::GoTime(_) => "time.Time",
            Value::GoDuration(_) => "time.Duration",
            Value::Struct(s) => s.type_name,
            Value::Slice(s) => s.type_name,
        }
    }

    /// Go's truth (`if`, `with`, `and`, `or`, `not`): not the zero value of its type; empty
    /// strings, maps and slices are false.
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) | Value::Html(s) | Value::Url(s) => !s.is_empty(),
            Value::LabelMap(m) | Value::Kv(m) => !m.is_empty(),
            Value::Pairs(p) => !p.is_empty(),
            Value::Strings(l) => !l.is_empty(),
            Value::Slice(s) => !s.items.is_empty(),
            Value::GoDuration(d) => *d != 0,
            Value::Pair(_) | Value::GoTime(_) | Value::Struct(_) => true,
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Vector(v) => !v.is_empty(),
            Value::Sample(_) | Value::Alert(_) | Value::Time(_) | Value::Duration(_) => true,
        }
    }

    /// The text of a string-kinded value (`string`, `template.HTML`, `template.URL`).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Html(s) | Value::Url(s) => Some(s),
            _ => None,
        }
    }

    /// Whether Go's `fmt` treats the value as a string operand (no spaces added by `print`).
    pub fn is_string_kind(&self) -> bool {
        matches!(self, Value::Str(_) | Value::Html(_) | Value::Url(_))
    }

    /// A `template.KV` from a map.
    pub fn kv(map: BTreeMap<String, String>) -> Value {
        Value::Kv(Rc::new(map))
    }

    /// A `time.Time` value.
    pub fn time(t: GoTime) -> Value {
        Value::GoTime(Rc::new(t))
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Value {
        Value::Float(f)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl From<Vec<Value>> for Value {
    fn from(list: Vec<Value>) -> Value {
        Value::List(Rc::new(list))
    }
}
