//! The function table the parser and the executor share: Go parameter types (what an argument
//! must be), signatures, and lookup by name over Prometheus' or Alertmanager's functions and
//! Go's builtins.

use std::rc::Rc;

use super::Env;
use super::alertmanager::ALERTMANAGER;
use super::builtins::BUILTINS;
use super::funcs::PROMETHEUS;
use super::value::Value;

/// Which functions a template can call besides Go's builtins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FuncSet {
    /// Prometheus' (`template/template.go` in Prometheus): alert annotations and labels.
    Prometheus,
    /// Alertmanager's `DefaultFuncs` (`template/template.go` in Alertmanager 0.33):
    /// notification texts.
    Alertmanager,
}

/// The Go type of a function parameter: what an argument must be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Param {
    /// `interface {}` / `reflect.Value`: anything.
    Any,
    Str,
    /// `template.queryResult`.
    Vector,
    /// `*template.sample`.
    Sample,
    /// `time.Duration`.
    Duration,
    /// `time.Time`.
    Time,
    /// `[]string`.
    Strings,
    /// `[]interface {}`.
    List,
}

impl Param {
    /// Go's name of the type, for errors.
    pub(crate) fn go_name(self) -> &'static str {
        match self {
            Param::Any => "interface {}",
            Param::Str => "string",
            Param::Vector => "template.queryResult",
            Param::Sample => "*template.sample",
            Param::Duration => "time.Duration",
            Param::Time => "time.Time",
            Param::Strings => "[]string",
            Param::List => "[]interface {}",
        }
    }

    /// The value `nil` becomes for this type, if the type can be nil.
    pub(crate) fn zero(self) -> Option<Value> {
        match self {
            Param::Any | Param::Sample => Some(Value::Nil),
            Param::Vector => Some(Value::Vector(Rc::new(Vec::new()))),
            Param::Strings => Some(Value::Strings(Rc::new(Vec::new()))),
            Param::List => Some(Value::List(Rc::new(Vec::new()))),
            _ => None,
        }
    }

    /// Whether a computed value has this type.
    pub(crate) fn accepts(self, v: &Value) -> bool {
        matches!(
            (self, v),
            (Param::Any, _)
                | (Param::Str, Value::Str(_))
                | (Param::Vector, Value::Vector(_))
                | (Param::Sample, Value::Sample(_))
                | (Param::Duration, Value::Duration(_) | Value::GoDuration(_))
                | (Param::Time, Value::Time(_) | Value::GoTime(_))
                | (Param::Strings, Value::Strings(_))
                | (Param::List, Value::List(_))
        )
    }
}

/// A function's implementation over already-typed arguments (a method gets its receiver first).
pub(crate) type CallFn = fn(&Env<'_>, &[Value]) -> Result<Value, String>;

/// How a function runs.
#[derive(Clone, Copy)]
pub(crate) enum Imp {
    Call(CallFn),
    /// Go's `and`, which evaluates its arguments lazily.
    And,
    /// Go's `or`, which evaluates its arguments lazily.
    Or,
}

/// A function's signature and implementation.
pub(crate) struct Func {
    pub params: &'static [Param],
    pub variadic: Option<Param>,
    pub imp: Imp,
}

/// A fixed-arity function.
pub(crate) const fn fixed(params: &'static [Param], call: CallFn) -> Func {
    Func {
        params,
        variadic: None,
        imp: Imp::Call(call),
    }
}

/// Finds a function by name: the set's own first, then Go's builtins (as Go looks them up).
pub(crate) fn lookup(set: FuncSet, name: &str) -> Option<&'static Func> {
    let own = match set {
        FuncSet::Prometheus => PROMETHEUS,
        FuncSet::Alertmanager => ALERTMANAGER,
    };
    own.iter()
        .chain(BUILTINS)
        .find(|(n, _)| *n == name)
        .map(|(_, f)| f)
}
