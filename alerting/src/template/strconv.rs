//! Go's `strconv` formats templates print with: floats (`FormatFloat` with `e f g`, shortest
//! or with a precision, rounding half to even as Go does) and quoted strings (`Quote`).

/// `strconv.FormatFloat(v, fmt, prec, 64)` for `fmt` in `e E f g G` (`prec` < 0: shortest).
pub(crate) fn format_float(v: f64, fmt: char, prec: i32) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let neg = v.is_sign_negative();
    let body = match fmt {
        'f' | 'F' => {
            if prec < 0 {
                let (digits, dp) = shortest_digits(v);
                fmt_f(&digits, dp, (digits.len() as i32 - dp).max(0))
            } else {
                format!("{:.*}", prec as usize, v.abs())
            }
        }
        'e' | 'E' => {
            let (digits, dp) = if prec < 0 {
                shortest_digits(v)
            } else {
                rounded_digits(v, prec + 1)
            };
            let prec = if prec < 0 {
                (digits.len() as i32 - 1).max(0)
            } else {
                prec
            };
            fmt_e(&digits, dp, prec, fmt)
        }
        _ => fmt_g(v, prec, if fmt == 'G' { 'E' } else { 'e' }),
    };
    if neg { format!("-{body}") } else { body }
}

/// Go's `%v` of a float64: `strconv.FormatFloat(f, 'g', -1, 64)`.
pub(crate) fn float_v(v: f64) -> String {
    format_float(v, 'g', -1)
}

/// The shortest decimal digits that read back as `|v|`, and the decimal point position
/// (Go's `decimalSlice`: zero has no digits).
fn shortest_digits(v: f64) -> (Vec<u8>, i32) {
    if v == 0.0 {
        return (Vec::new(), 0);
    }
    split_sci(&format!("{:e}", v.abs()))
}

/// `|v|` rounded (half to even, on the exact value) to `n` significant digits, trailing zeros
/// dropped.
fn rounded_digits(v: f64, n: i32) -> (Vec<u8>, i32) {
    if v == 0.0 {
        return (Vec::new(), 0);
    }
    let (mut digits, dp) = split_sci(&format!("{:.*e}", (n.max(1) - 1) as usize, v.abs()));
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, dp)
}

/// Splits Rust's `d.ddde±x` into digits and decimal point position.
fn split_sci(s: &str) -> (Vec<u8>, i32) {
    let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let exp: i32 = exp.parse().unwrap_or(0);
    (digits, exp + 1)
}

fn fmt_g(v: f64, prec: i32, exp_char: char) -> String {
    let shortest = prec < 0;
    let (digits, dp) = if shortest {
        shortest_digits(v)
    } else {
        rounded_digits(v, prec.max(1))
    };
    let nd = digits.len() as i32;
    let mut prec = if shortest { nd } else { prec.max(1) };
    let mut eprec = prec;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    if shortest {
        eprec = 6;
    }
    let exp = dp - 1;
    if exp < -4 || exp >= eprec {
        if prec > nd {
            prec = nd;
        }
        return fmt_e(&digits, dp, (prec - 1).max(0), exp_char);
    }
    if prec > dp {
        prec = nd;
    }
    fmt_f(&digits, dp, (prec - dp).max(0))
}

fn digit_at(digits: &[u8], i: i32) -> char {
    if i >= 0 && (i as usize) < digits.len() {
        digits[i as usize] as char
    } else {
        '0'
    }
}

fn fmt_e(digits: &[u8], dp: i32, prec: i32, exp_char: char) -> String {
    let mut out = String::new();
    out.push(digit_at(digits, 0));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(digit_at(digits, i));
        }
    }
    let exp = if digits.is_empty() { 0 } else { dp - 1 };
    out.push(if exp_char == 'E' { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.abs()));
    out
}

fn fmt_f(digits: &[u8], dp: i32, prec: i32) -> String {
    let mut out = String::new();
    if dp > 0 {
        for i in 0..dp {
            out.push(digit_at(digits, i));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(digit_at(digits, dp + i - 1));
        }
    }
    out
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_escaped(&mut out, c, '"');
    }
    out.push('"');
    out
}

pub(crate) fn push_escaped(out: &mut String, c: char, quote: char) {
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        '\\' => out.push_str("\\\\"),
        c if c == quote => {
            out.push('\\');
            out.push(c);
        }
        c if is_print(c) => out.push(c),
        c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        c => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// An approximation of Go's `unicode.IsPrint`: graphic characters and the ASCII space.
pub(crate) fn is_print(c: char) -> bool {
    c == ' '
        || !(c.is_control()
            || c.is_whitespace()
            || matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}' | '\u{fff9}'..='\u{fffb}'))
}
