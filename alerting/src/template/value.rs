//! The values a template computes with: the Go types Prometheus' templates see (strings,
//! numbers, label maps, query results, times), with Go's names for error messages and Go's
//! notion of truth.

use std::collections::BTreeMap;
use std::rc::Rc;

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
}

/// One sample of a query result: Prometheus' `sample { Labels map[string]string; Value any }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The series' labels, `__name__` included.
    pub labels: Rc<BTreeMap<String, String>>,
    /// The sample value.
    pub value: f64,
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
            Value::Str(s) | Value::Html(s) => !s.is_empty(),
            Value::LabelMap(m) => !m.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Vector(v) => !v.is_empty(),
            Value::Sample(_) | Value::Alert(_) | Value::Time(_) | Value::Duration(_) => true,
        }
    }

    /// The text of a string-kinded value (`string`, `template.HTML`).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Html(s) => Some(s),
            _ => None,
        }
    }

    /// Whether Go's `fmt` treats the value as a string operand (no spaces added by `print`).
    pub fn is_string_kind(&self) -> bool {
        matches!(self, Value::Str(_) | Value::Html(_))
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
