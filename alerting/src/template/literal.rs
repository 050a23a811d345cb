//! Go's literal syntax inside actions: numbers (`newNumber`: which of int, uint and float64 a
//! literal fits) and quoted strings (`strconv.Unquote`).

use super::ast::Number;

/// Go's `newNumber`: which of int, uint and float64 the literal fits.
pub(crate) fn parse_number(text: &str) -> Result<Number, String> {
    if text.starts_with('\'') {
        let s = unquote(text)?;
        let c = s.chars().next().ok_or("invalid syntax")?;
        let v = c as i64;
        return Ok(Number {
            text: text.into(),
            int: Some(v),
            is_uint: true,
            float: Some(v as f64),
        });
    }
    let wide = parse_go_int(text);
    let mut int = wide.and_then(|v| i64::try_from(v).ok());
    let mut is_uint = wide.is_some_and(|v| (0..=u64::MAX as i128).contains(&v));
    let mut float = wide.filter(|_| int.is_some() || is_uint).map(|v| v as f64);
    if let (None, Ok(f)) = (float, text.parse::<f64>()) {
        if !text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Err(format!(
                "integer overflow: {}",
                super::strconv::go_quote(text)
            ));
        }
        float = Some(f);
        if f.fract() == 0.0 && f.abs() < 9.2e18 {
            int = Some(f as i64);
            is_uint = f >= 0.0;
        }
    }
    if int.is_none() && !is_uint && float.is_none() {
        return Err(format!(
            "illegal number syntax: {}",
            super::strconv::go_quote(text)
        ));
    }
    Ok(Number {
        text: text.into(),
        int,
        is_uint,
        float,
    })
}

/// `strconv.ParseInt(text, 0, 64)` widened: sign, base prefix, `_` separators.
fn parse_go_int(text: &str) -> Option<i128> {
    let (neg, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d, true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d, true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    let bad_underscore =
        (digits.starts_with('_') && !prefixed) || digits.ends_with('_') || digits.contains("__");
    if digits.is_empty() || bad_underscore {
        return None;
    }
    let clean: String = digits.chars().filter(|c| *c != '_').collect();
    let v = i128::from_str_radix(&clean, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// Go's `strconv.Unquote` for `"..."`, `` `...` `` and `'.'`.
pub(crate) fn unquote(q: &str) -> Result<String, String> {
    const INVALID: &str = "invalid syntax";
    let bytes = q.as_bytes();
    if bytes.len() < 2 || bytes[0] != bytes[bytes.len() - 1] {
        return Err(INVALID.into());
    }
    let inner = &q[1..q.len() - 1];
    match bytes[0] {
        b'`' => Ok(inner.replace('\r', "")),
        quote @ (b'"' | b'\'') => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == quote as char || c == '\n' {
                    return Err(INVALID.into());
                }
                if c != '\\' {
                    out.push(c);
                    continue;
                }
                let esc = chars.next().ok_or(INVALID)?;
                let simple = match esc {
                    'a' => Some('\x07'),
                    'b' => Some('\x08'),
                    'f' => Some('\x0c'),
                    'n' => Some('\n'),
                    'r' => Some('\r'),
                    't' => Some('\t'),
                    'v' => Some('\x0b'),
                    '\\' => Some('\\'),
                    '"' if quote == b'"' => Some('"'),
                    '\'' if quote == b'\'' => Some('\''),
                    _ => None,
                };
                if let Some(s) = simple {
                    out.push(s);
                    continue;
                }
                let (len, radix) = match esc {
                    'x' => (2, 16),
                    'u' => (4, 16),
                    'U' => (8, 16),
                    '0'..='7' => (2, 8),
                    _ => return Err(INVALID.into()),
                };
                let mut digits = String::new();
                if radix == 8 {
                    digits.push(esc);
                }
                for _ in 0..len {
                    digits.push(chars.next().ok_or(INVALID)?);
                }
                let v = u32::from_str_radix(&digits, radix).map_err(|_| INVALID)?;
                if esc == 'x' || radix == 8 {
                    if v > 255 {
                        return Err(INVALID.into());
                    }
                    // A byte escape: valid UTF-8 only for ASCII bytes here.
                    out.push(char::from_u32(v).filter(|_| v < 0x80).unwrap_or('\u{fffd}'));
                } else {
                    out.push(char::from_u32(v).ok_or(INVALID)?);
                }
            }
            if quote == b'\'' && out.chars().count() != 1 {
                return Err(INVALID.into());
            }
            Ok(out)
        }
        _ => Err(INVALID.into()),
    }
}
