//! Numbers where a duration goes (`x[300]`, `x[1h:30]`, `x offset 60`) that no duration can
//! hold. promql-parser makes a `Duration` of such a number with `from_secs_f64`, which panics
//! on a negative, infinite, NaN or too large value; Prometheus answers "duration out of
//! range". The text is checked before the parser sees it, with the same bound as Prometheus'
//! (a Go `time.Duration`: 2^63 - 1 nanoseconds, about 292 years).

use super::tokens::{Tok, tokens};

/// The longest duration, in seconds: `i64::MAX` nanoseconds.
const SECONDS_MAX: f64 = i64::MAX as f64 / 1e9;

/// An error naming the first number in a duration's place that is out of range.
pub(crate) fn check(text: &str) -> Result<(), String> {
    let mut brackets = 0usize;
    for (tok, at) in tokens(text) {
        let after = match tok {
            Tok::Open(b'[') => {
                brackets += 1;
                at + 1
            }
            Tok::Close(b']') => {
                brackets = brackets.saturating_sub(1);
                continue;
            }
            Tok::Other if brackets > 0 && text[at..].starts_with(':') => at + 1,
            Tok::Ident(word) if word.eq_ignore_ascii_case("offset") => at + word.len(),
            // `[1m:5e50]`: the tokenizer reads `m:` as a name (names may hold colons).
            Tok::Ident(word) if brackets > 0 && word.contains(':') => {
                at + word.find(':').map_or(0, |i| i + 1)
            }
            _ => continue,
        };
        let number = number_at(&text[after..]);
        let fits = |v: f64| v.abs() <= SECONDS_MAX; // false for NaN
        if seconds(number).is_some_and(|v| !fits(v)) {
            return Err(format!("duration out of range: {number}"));
        }
    }
    Ok(())
}

/// The number `rest` starts with (after blanks and a sign), as the lexer would take it: digits,
/// letters and `.`, and a sign right after a decimal number's exponent `e`.
fn number_at(rest: &str) -> &str {
    let rest = rest.trim_start();
    let rest = rest.strip_prefix(['-', '+']).map_or(rest, str::trim_start);
    let hex = rest.starts_with("0x") || rest.starts_with("0X");
    let b = rest.as_bytes();
    let mut end = 0;
    while let Some(&c) = b.get(end) {
        let exponent_sign =
            !hex && (c == b'+' || c == b'-') && end > 0 && b[end - 1].eq_ignore_ascii_case(&b'e');
        if !(c.is_ascii_alphanumeric() || c == b'.' || exponent_sign) {
            break;
        }
        end += 1;
    }
    &rest[..end]
}

/// `number` in seconds when it is a number at all (`5m` is not: a duration string, which the
/// parser reads with its own bounds): a float, `Inf`, `NaN` or a hexadecimal integer.
fn seconds(number: &str) -> Option<f64> {
    let lower = number.to_ascii_lowercase();
    match lower.strip_prefix("0x") {
        Some(hex) => match u64::from_str_radix(hex, 16) {
            Ok(v) => Some(v as f64),
            // Too large for 64 bits is out of range too; no digits is the parser's to refuse.
            Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Some(f64::INFINITY),
            Err(_) => None,
        },
        None => lower.parse::<f64>().ok(),
    }
}
