//! Go's `text/template` builtin functions: `and or not len index slice print printf println
//! html js urlquery eq ne lt le gt ge call`, with Go's comparison rules and error messages.

use std::rc::Rc;

use super::Env;
use super::fmt::{sprint, sprintf, sprintln};
use super::funcs::{query_escape, s};
use super::signature::{Func, Imp, Param, fixed};
use super::value::Value;

use Param::{Any, Str};

pub(crate) static BUILTINS: &[(&str, Func)] = &[
    (
        "and",
        Func {
            params: &[Any],
            variadic: Some(Any),
            imp: Imp::And,
        },
    ),
    (
        "or",
        Func {
            params: &[Any],
            variadic: Some(Any),
            imp: Imp::Or,
        },
    ),
    ("not", fixed(&[Any], |_, a| Ok(Value::Bool(!a[0].truth())))),
    ("len", fixed(&[Any], len)),
    (
        "index",
        Func {
            params: &[Any],
            variadic: Some(Any),
            imp: Imp::Call(index),
        },
    ),
    (
        "slice",
        Func {
            params: &[Any],
            variadic: Some(Any),
            imp: Imp::Call(slice),
        },
    ),
    (
        "print",
        Func {
            params: &[],
            variadic: Some(Any),
            imp: Imp::Call(|_, a| Ok(Value::Str(sprint(a)))),
        },
    ),
    (
        "println",
        Func {
            params: &[],
            variadic: Some(Any),
            imp: Imp::Call(|_, a| Ok(Value::Str(sprintln(a)))),
        },
    ),
    (
        "printf",
        Func {
            params: &[Str],
            variadic: Some(Any),
            imp: Imp::Call(printf),
        },
    ),
    (
        "html",
        Func {
            params: &[],
            variadic: Some(Any),
            imp: Imp::Call(|_, a| Ok(Value::Str(html_escape(&eval_args(a))))),
        },
    ),
    (
        "js",
        Func {
            params: &[],
            variadic: Some(Any),
            imp: Imp::Call(|_, a| Ok(Value::Str(js_escape(&eval_args(a))))),
        },
    ),
    (
        "urlquery",
        Func {
            params: &[],
            variadic: Some(Any),
            imp: Imp::Call(|_, a| Ok(Value::Str(query_escape(&eval_args(a))))),
        },
    ),
    (
        "eq",
        Func {
            params: &[Any],
            variadic: Some(Any),
            imp: Imp::Call(eq),
        },
    ),
    (
        "ne",
        fixed(&[Any, Any], |e, a| {
            eq(e, a).map(|v| Value::Bool(!v.truth()))
        }),
    ),
    (
        "lt",
        fixed(&[Any, Any], |_, a| less(&a[0], &a[1]).map(Value::Bool)),
    ),
    (
        "le",
        fixed(&[Any, Any], |_, a| {
            less_or_equal(&a[0], &a[1]).map(Value::Bool)
        }),
    ),
    (
        "gt",
        fixed(&[Any, Any], |_, a| {
            less_or_equal(&a[0], &a[1]).map(|v| Value::Bool(!v))
        }),
    ),
    (
        "ge",
        fixed(&[Any, Any], |_, a| {
            less(&a[0], &a[1]).map(|v| Value::Bool(!v))
        }),
    ),
    (
        "call",
        Func {
            params: &[Any],
            variadic: Some(Any),
            imp: Imp::Call(call),
        },
    ),
];

fn printf(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    Ok(Value::Str(sprintf(s(&a[0]), &a[1..])))
}

fn call(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    match &a[0] {
        Value::Nil => Err("call of nil".into()),
        v => Err(format!("non-function of type {}", v.type_name())),
    }
}

/// Go's `evalArgs`: a single string as is, anything else through `fmt.Sprint`.
pub(crate) fn eval_args(a: &[Value]) -> String {
    if let [Value::Str(s)] = a {
        return s.clone();
    }
    let printable: Vec<Value> = a
        .iter()
        .map(|v| {
            if let Value::Nil = v {
                Value::str("<no value>")
            } else {
                v.clone()
            }
        })
        .collect();
    sprint(&printable)
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if c.is_ascii() || super::strconv::is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}

fn len(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let n = match &a[0] {
        Value::Str(s) | Value::Html(s) | Value::Url(s) => s.len(),
        Value::LabelMap(m) | Value::Kv(m) => m.len(),
        Value::Map(m) => m.len(),
        Value::List(l) => l.len(),
        Value::Vector(v) => v.len(),
        Value::Strings(l) => l.len(),
        Value::Pairs(p) => p.len(),
        Value::Slice(s) => s.items.len(),
        Value::Nil => return Err("len of nil pointer".into()),
        other => return Err(format!("len of type {}", other.type_name())),
    };
    Ok(Value::Int(n as i64))
}

/// Go's `indexArg`: an int index below `cap`.
fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    let x = match index {
        Value::Int(i) => *i,
        Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ));
        }
    };
    if x < 0 || x as usize > cap {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn index(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let mut item = a[0].clone();
    if let Value::Nil = item {
        return Err("index of untyped nil".into());
    }
    for index in &a[1..] {
        let len = match &item {
            Value::Str(s) => s.len(),
            Value::List(l) => l.len(),
            Value::Vector(v) => v.len(),
            Value::Strings(l) => l.len(),
            Value::Pairs(p) => p.len(),
            Value::Slice(s) => s.items.len(),
            _ => 0,
        };
        item = match &item {
            Value::Str(_)
            | Value::List(_)
            | Value::Vector(_)
            | Value::Strings(_)
            | Value::Pairs(_)
            | Value::Slice(_) => {
                let x = index_arg(index, len)?;
                if x == len {
                    return Err(format!("index out of range: {x}"));
                }
                match &item {
                    Value::Str(s) => Value::Int(i64::from(s.as_bytes()[x])),
                    Value::List(l) => l[x].clone(),
                    Value::Vector(v) => Value::Sample(v[x].clone()),
                    Value::Strings(l) => Value::str(&l[x]),
                    Value::Pairs(p) => Value::Pair(Rc::new(p[x].clone())),
                    Value::Slice(s) => s.items[x].clone(),
                    _ => Value::Nil,
                }
            }
            Value::LabelMap(m) | Value::Kv(m) => {
                Value::str(m.get(map_key(index)?).map_or("", String::as_str))
            }
            Value::Map(m) => m.get(map_key(index)?).cloned().unwrap_or_default(),
            Value::Nil => return Err("can't index item of type interface {}".into()),
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn map_key(index: &Value) -> Result<&str, String> {
    match index {
        Value::Str(s) => Ok(s),
        Value::Nil => Err("value is nil; should be of type string".into()),
        other => Err(format!(
            "value has type {}; should be string",
            other.type_name()
        )),
    }
}

fn slice(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    let item = &a[0];
    let indexes = &a[1..];
    if let Value::Nil = item {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match item {
        Value::Str(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::List(l) => l.len(),
        Value::Vector(v) => v.len(),
        Value::Strings(l) => l.len(),
        Value::Pairs(p) => p.len(),
        Value::Slice(s) => s.items.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0, len, len];
    for (i, index) in indexes.iter().enumerate() {
        idx[i] = index_arg(index, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    let (lo, hi) = (idx[0], idx[1]);
    Ok(match item {
        Value::Str(s) => Value::Str(String::from_utf8_lossy(&s.as_bytes()[lo..hi]).into_owned()),
        Value::List(l) => Value::List(Rc::new(l[lo..hi].to_vec())),
        Value::Vector(v) => Value::Vector(Rc::new(v[lo..hi].to_vec())),
        Value::Strings(l) => Value::Strings(Rc::new(l[lo..hi].to_vec())),
        Value::Pairs(p) => Value::Pairs(Rc::new(p[lo..hi].to_vec())),
        Value::Slice(s) => Value::Slice(Rc::new(super::value::Slice {
            type_name: s.type_name,
            items: s.items[lo..hi].to_vec(),
        })),
        _ => Value::Nil,
    })
}

/// Go's `basicKind` classes for comparisons.
#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Invalid,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) | Value::Html(_) | Value::Url(_) => Kind::Str,
        Value::Nil => Kind::Invalid,
        _ => Kind::Other,
    }
}

const BAD_COMPARISON: &str = "incompatible types for comparison";
const BAD_COMPARISON_TYPE: &str = "invalid type for comparison";

fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        if ka != Kind::Invalid && kb != Kind::Invalid {
            return Err(BAD_COMPARISON.into());
        }
        return Ok(false);
    }
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Nil, Value::Nil) => true,
        (Value::Sample(x), Value::Sample(y)) => Rc::ptr_eq(x, y),
        (Value::Time(x), Value::Time(y)) | (Value::Duration(x), Value::Duration(y)) => x == y,
        _ => match (a.as_str(), b.as_str()) {
            (Some(x), Some(y)) => x == y,
            _ => {
                let shown = super::fmt::to_v(b);
                return Err(format!("non-comparable type {shown}: {}", b.type_name()));
            }
        },
    })
}

fn eq(_: &Env<'_>, a: &[Value]) -> Result<Value, String> {
    if a.len() < 2 {
        return Err("missing argument for comparison".into());
    }
    for other in &a[1..] {
        if equal(&a[0], other)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

fn less(a: &Value, b: &Value) -> Result<bool, String> {
    let (ka, kb) = (kind(a), kind(b));
    if matches!(ka, Kind::Invalid | Kind::Other) || matches!(kb, Kind::Invalid | Kind::Other) {
        return Err(BAD_COMPARISON_TYPE.into());
    }
    if ka != kb {
        return Err(BAD_COMPARISON.into());
    }
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x < y),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::Bool(_), _) => Err(BAD_COMPARISON_TYPE.into()),
        _ => Ok(a.as_str() < b.as_str()),
    }
}

fn less_or_equal(a: &Value, b: &Value) -> Result<bool, String> {
    Ok(less(a, b)? || equal(a, b)?)
}
