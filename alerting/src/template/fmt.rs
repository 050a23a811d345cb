//! Go's `fmt` for template values: `%v` printing (what `{{ $value }}` and `print` write) and
//! `printf` verbs with flags, width and precision, including Go's `%!verb(type=value)` forms.

use super::methods::{pairs_string, sorted_pairs};
use super::strconv::{format_float, go_quote, is_print, push_escaped};
use super::time::{duration_string, go_time_string, time_string};
use super::value::Value;

/// Go's `fmt.Sprint`: operands printed with `%v`, a space between two that are not strings.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let is_string = arg.is_string_kind();
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        write_v(&mut out, arg);
        prev_string = is_string;
    }
    out
}

/// Go's `fmt.Sprintln`: operands with `%v`, spaces between all, a newline at the end.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_v(&mut out, arg);
    }
    out.push('\n');
    out
}

/// Appends the value as Go's `%v` prints it (untyped nil is `<nil>`).
pub(crate) fn write_v(out: &mut String, v: &Value) {
    fmt_value(out, &Spec::default(), 'v', v);
}

/// Appends the value as an action prints it (Go's `printableValue`): a pointer is followed
/// first, so `{{ . }}` of a `*template.Data` prints `{...}`, not `&{...}`.
pub(crate) fn write_printable(out: &mut String, v: &Value) {
    match v {
        Value::Struct(st) if st.is_pointer() => {
            let spec = Spec::default();
            fmt_struct(
                out,
                &spec,
                'v',
                st.fields.iter().map(|f| (f.name, &f.value)),
            );
        }
        v => write_v(out, v),
    }
}

/// Go's `%v` of the value.
pub(crate) fn to_v(v: &Value) -> String {
    let mut out = String::new();
    write_v(&mut out, v);
    out
}

/// A parsed `%` directive's flags, width and precision.
#[derive(Clone, Debug, Default)]
struct Spec {
    plus: bool,
    minus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

impl Spec {
    /// Pads `s` to the width: spaces (or zeros) on the left, spaces on the right with `-`.
    fn pad(&self, out: &mut String, s: &str) {
        let len = s.chars().count();
        let fill = self.width.map_or(0, |w| w.saturating_sub(len));
        if self.minus {
            out.push_str(s);
            out.extend(std::iter::repeat_n(' ', fill));
        } else {
            let c = if self.zero { '0' } else { ' ' };
            out.extend(std::iter::repeat_n(c, fill));
            out.push_str(s);
        }
    }
}

/// Go's `fmt.Sprintf` over template values.
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut arg_i = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '+' => spec.plus = true,
                '-' => spec.minus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = !spec.minus,
                _ => break,
            }
            chars.next();
        }
        if chars.peek() == Some(&'*') {
            chars.next();
            match args.get(arg_i) {
                Some(Value::Int(w)) => {
                    if *w < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = Some(w.unsigned_abs() as usize);
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            arg_i += 1;
        } else {
            spec.width = take_number(&mut chars);
        }
        if chars.peek() == Some(&'.') {
            chars.next();
            if chars.peek() == Some(&'*') {
                chars.next();
                match args.get(arg_i) {
                    Some(Value::Int(p)) if *p >= 0 => spec.prec = Some(*p as usize),
                    _ => out.push_str("%!(BADPREC)"),
                }
                arg_i += 1;
            } else {
                spec.prec = Some(take_number(&mut chars).unwrap_or(0));
            }
        }
        if spec.minus {
            spec.zero = false;
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(arg_i) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        arg_i += 1;
        fmt_value(&mut out, &spec, verb, arg);
    }
    if arg_i < args.len() {
        out.push_str("%!(EXTRA ");
        for (i, arg) in args[arg_i..].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            if matches!(arg, Value::Nil) {
                out.push_str("<nil>");
            } else {
                out.push_str(arg.type_name());
                out.push('=');
                write_v(&mut out, arg);
            }
        }
        out.push(')');
    }
    out
}

fn take_number(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(
            n.unwrap_or(0)
                .saturating_mul(10)
                .saturating_add(d as usize)
                .min(1_000_000),
        );
        chars.next();
    }
    n
}

fn bad_verb(out: &mut String, verb: char, v: &Value) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if matches!(v, Value::Nil) {
        out.push_str("<nil>");
    } else {
        out.push_str(v.type_name());
        out.push('=');
        write_v(out, v);
    }
    out.push(')');
}

/// Formats one operand for one verb, as Go's `printArg` does.
fn fmt_value(out: &mut String, spec: &Spec, verb: char, v: &Value) {
    if verb == 'T' {
        spec.pad(out, v.type_name());
        return;
    }
    match v {
        Value::Nil => match verb {
            'v' => spec.pad(out, "<nil>"),
            _ => bad_verb(out, verb, v),
        },
        Value::Bool(b) => match verb {
            't' | 'v' => spec.pad(out, if *b { "true" } else { "false" }),
            _ => bad_verb(out, verb, v),
        },
        Value::Int(i) => fmt_int(out, spec, verb, *i, v),
        Value::Float(f) => fmt_float_verb(out, spec, verb, *f, v),
        Value::Str(s) | Value::Html(s) | Value::Url(s) => fmt_str(out, spec, verb, s, v),
        Value::Time(ns) => fmt_stringer(out, spec, verb, &time_string(*ns), v),
        Value::Duration(ns) => fmt_stringer(out, spec, verb, &duration_string(*ns), v),
        Value::GoTime(t) => fmt_stringer(out, spec, verb, &go_time_string(t), v),
        Value::GoDuration(ns) if is_string_verb(verb) => {
            fmt_str(out, spec, verb, &duration_string(*ns), v)
        }
        Value::GoDuration(ns) => fmt_int(out, spec, verb, *ns, v),
        Value::Kv(m) if is_string_verb(verb) => {
            fmt_str(out, spec, verb, &pairs_string(&sorted_pairs(m)), v)
        }
        Value::Pairs(p) if is_string_verb(verb) => fmt_str(out, spec, verb, &pairs_string(p), v),
        Value::Pairs(p) => {
            let pairs: Vec<Value> = p
                .iter()
                .map(|pair| Value::Pair(pair.clone().into()))
                .collect();
            fmt_seq(out, spec, verb, &pairs);
        }
        Value::Pair(p) => {
            let fields = [("Name", Value::str(&p.0)), ("Value", Value::str(&p.1))];
            fmt_struct(out, spec, verb, fields.iter().map(|(n, v)| (*n, v)));
        }
        Value::Strings(l) => {
            let items: Vec<Value> = l.iter().map(Value::str).collect();
            fmt_seq(out, spec, verb, &items);
        }
        Value::Slice(s) => fmt_seq(out, spec, verb, &s.items),
        Value::Struct(st) => {
            if st.is_pointer() {
                out.push('&');
            }
            fmt_struct(
                out,
                spec,
                verb,
                st.fields.iter().map(|f| (f.name, &f.value)),
            );
        }
        Value::LabelMap(m) | Value::Kv(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_str(out, spec, verb, k, &Value::Nil);
                out.push(':');
                fmt_str(out, spec, verb, val, &Value::Nil);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_str(out, spec, verb, k, &Value::Nil);
                out.push(':');
                fmt_value(out, spec, verb, val);
            }
            out.push(']');
        }
        Value::List(l) => {
            out.push('[');
            for (i, val) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_value(out, spec, verb, val);
            }
            out.push(']');
        }
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_value(out, spec, verb, &Value::Sample(s.clone()));
            }
            out.push(']');
        }
        Value::Sample(s) => {
            out.push_str("&{");
            fmt_value(out, spec, verb, &Value::LabelMap(s.labels.clone()));
            out.push(' ');
            fmt_value(out, spec, verb, &s.value());
            out.push('}');
        }
        Value::Alert(a) => {
            out.push('{');
            fmt_value(out, spec, verb, &Value::LabelMap(a.labels.clone()));
            out.push(' ');
            fmt_value(out, spec, verb, &Value::LabelMap(a.external_labels.clone()));
            out.push(' ');
            fmt_str(out, spec, verb, &a.external_url, &Value::Nil);
            out.push(' ');
            fmt_value(out, spec, verb, &a.value());
            out.push('}');
        }
    }
}

/// Whether Go's `fmt` uses a `String` method for the verb.
fn is_string_verb(verb: char) -> bool {
    matches!(verb, 'v' | 's' | 'q' | 'x' | 'X')
}

/// A slice: `[a b c]`.
fn fmt_seq(out: &mut String, spec: &Spec, verb: char, items: &[Value]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        fmt_value(out, spec, verb, item);
    }
    out.push(']');
}

/// A struct: `{a b}`, `{Name:a Value:b}` with `%+v`.
fn fmt_struct<'a>(
    out: &mut String,
    spec: &Spec,
    verb: char,
    fields: impl Iterator<Item = (&'a str, &'a Value)>,
) {
    out.push('{');
    for (i, (name, value)) in fields.enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if spec.plus && verb == 'v' {
            out.push_str(name);
            out.push(':');
        }
        fmt_value(out, spec, verb, value);
    }
    out.push('}');
}

/// A value with a `String` method: `%v %s %q %x %X` use it.
fn fmt_stringer(out: &mut String, spec: &Spec, verb: char, s: &str, v: &Value) {
    match verb {
        'v' | 's' | 'q' | 'x' | 'X' => fmt_str(out, spec, verb, s, v),
        _ => bad_verb(out, verb, v),
    }
}

fn fmt_str(out: &mut String, spec: &Spec, verb: char, s: &str, v: &Value) {
    let s: String = match spec.prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    };
    match verb {
        'v' | 's' => spec.pad(out, &s),
        'q' => {
            if spec.sharp && !s.contains('`') && s.chars().all(|c| c == '\t' || !c.is_control()) {
                spec.pad(out, &format!("`{s}`"))
            } else {
                spec.pad(out, &go_quote(&s))
            }
        }
        'x' | 'X' => {
            let mut hex = String::new();
            for (i, b) in s.bytes().enumerate() {
                if spec.space && i > 0 {
                    hex.push(' ');
                }
                if spec.sharp && (spec.space || i == 0) {
                    hex.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    hex.push_str(&format!("{b:02x}"));
                } else {
                    hex.push_str(&format!("{b:02X}"));
                }
            }
            spec.pad(out, &hex)
        }
        _ if matches!(v, Value::Nil) => bad_verb(out, verb, &Value::Str(s)),
        _ => bad_verb(out, verb, v),
    }
}

fn fmt_int(out: &mut String, spec: &Spec, verb: char, i: i64, v: &Value) {
    let (base, upper) = match verb {
        'd' | 'v' => (10, false),
        'b' => (2, false),
        'o' | 'O' => (8, false),
        'x' => (16, false),
        'X' => (16, true),
        'c' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{fffd}');
            return spec.pad(out, &c.to_string());
        }
        'q' => {
            let c = char::from_u32(i as u32).unwrap_or('\u{fffd}');
            let mut q = String::from("'");
            push_escaped(&mut q, c, '\'');
            q.push('\'');
            return spec.pad(out, &q);
        }
        'U' => {
            let mut u = format!("U+{:04X}", i);
            let printable = char::from_u32(i as u32).filter(|c| is_print(*c));
            if let (true, Some(c)) = (spec.sharp, printable) {
                u.push_str(&format!(" '{c}'"));
            }
            return spec.pad(out, &u);
        }
        _ => return bad_verb(out, verb, v),
    };
    let neg = i < 0;
    let u = i.unsigned_abs();
    let mut prec = 0usize;
    if let Some(p) = spec.prec {
        prec = p;
        if p == 0 && u == 0 {
            let blank = Spec {
                zero: false,
                ..spec.clone()
            };
            return blank.pad(out, "");
        }
    } else if spec.zero && !spec.minus && spec.width.is_some() {
        prec = spec.width.unwrap_or(0);
        if neg || spec.plus || spec.space {
            prec = prec.saturating_sub(1);
        }
    }
    let mut digits = match base {
        2 => format!("{u:b}"),
        8 => format!("{u:o}"),
        16 if upper => format!("{u:X}"),
        16 => format!("{u:x}"),
        _ => u.to_string(),
    };
    if digits.len() < prec {
        digits = format!("{}{}", "0".repeat(prec - digits.len()), digits);
    }
    let mut prefix = String::new();
    if neg {
        prefix.push('-');
    } else if spec.plus {
        prefix.push('+');
    } else if spec.space {
        prefix.push(' ');
    }
    if verb == 'O' {
        prefix.push_str("0o");
    } else if spec.sharp {
        match base {
            8 if !digits.starts_with('0') => prefix.push('0'),
            16 => prefix.push_str(if upper { "0X" } else { "0x" }),
            2 => prefix.push_str("0b"),
            _ => {}
        }
    }
    let unpadded = Spec {
        zero: false,
        ..spec.clone()
    };
    unpadded.pad(out, &format!("{prefix}{digits}"));
}

fn fmt_float_verb(out: &mut String, spec: &Spec, verb: char, f: f64, v: &Value) {
    let (fmt, default_prec) = match verb {
        'v' | 'g' => ('g', -1),
        'G' => ('G', -1),
        'e' | 'E' | 'f' | 'F' => (verb, 6),
        _ => return bad_verb(out, verb, v),
    };
    let prec = spec.prec.map_or(default_prec, |p| p.min(1000) as i32);
    let mut num = format_float(f, fmt, prec);
    if !num.starts_with(['-', '+']) {
        num.insert(0, '+');
    }
    if spec.space && num.starts_with('+') && !spec.plus {
        num.replace_range(0..1, " ");
    }
    if num[1..].starts_with(['I', 'N']) {
        let plain = Spec {
            zero: false,
            ..spec.clone()
        };
        if num[1..].starts_with('N') && !spec.space && !spec.plus {
            num.remove(0);
        }
        return plain.pad(out, &num);
    }
    if spec.plus || !num.starts_with('+') {
        if spec.zero && !spec.minus && spec.width.is_some_and(|w| w > num.len()) {
            out.push_str(&num[..1]);
            out.push_str(&"0".repeat(spec.width.unwrap_or(0) - num.len()));
            out.push_str(&num[1..]);
            return;
        }
        return spec.pad(out, &num);
    }
    spec.pad(out, &num[1..]);
}
