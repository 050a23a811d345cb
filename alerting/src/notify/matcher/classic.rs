//! The classic matcher parser (Alertmanager's `pkg/labels/parse.go`): tolerant, for inputs
//! written by hand. A list is split on commas outside double quotes; each matcher is a legacy
//! label name (`[a-zA-Z_:][a-zA-Z0-9_:]*`), an operator and the rest of the text, trimmed, in
//! double quotes or not. In the value `\"`, `\n` and `\\` are escapes; any other backslash is
//! literal, and a double quote is only allowed as the first and last character.

use super::{MatchType, Matcher};

/// `labels.ParseMatchers`: one leading `{` and one trailing `}` are dropped, the rest split
/// on commas outside quotes; a last part that is only whitespace (a trailing comma) is
/// dropped, an earlier empty part is an error.
pub(super) fn parse_matchers(input: &str) -> Result<Vec<Matcher>, String> {
    let body = input.strip_prefix('{').unwrap_or(input);
    let body = body.strip_suffix('}').unwrap_or(body);
    let mut parts = Vec::new();
    let mut part = String::new();
    let (mut inside_quotes, mut escaped) = (false, false);
    for c in body.chars() {
        // As Alertmanager: a comma leaves `escaped` as it is, so `\,"` does not open quotes.
        match c {
            ',' if !inside_quotes => {
                parts.push(std::mem::take(&mut part));
                continue;
            }
            ',' => {}
            '"' if escaped => escaped = false,
            '"' => inside_quotes = !inside_quotes,
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
        part.push(c);
    }
    let last = part.trim();
    if !last.is_empty() {
        parts.push(last.to_string());
    }
    parts.iter().map(|p| parse_matcher(p)).collect()
}

/// `labels.ParseMatcher`: one matcher.
pub(super) fn parse_matcher(input: &str) -> Result<Matcher, String> {
    let bad_format = || {
        format!("bad matcher format: {input} (want a label name, one of = != =~ !~, and a value)")
    };
    let rest = input.trim_start_matches(is_re2_space);
    let name_len = legacy_name_len(rest);
    if name_len == 0 {
        return Err(bad_format());
    }
    let (name, rest) = rest.split_at(name_len);
    let rest = rest.trim_start_matches(is_re2_space);
    let (kind, rest) = split_operator(rest).ok_or_else(bad_format)?;
    let raw = rest.trim_matches(is_re2_space);
    let value = unescape(raw)?;
    Matcher::new(name, kind, value)
}

/// The operator at the start of `s`, and what follows it. `=~` is tried before `=`.
fn split_operator(s: &str) -> Option<(MatchType, &str)> {
    [
        ("=~", MatchType::Regex),
        ("=", MatchType::Equal),
        ("!=", MatchType::NotEqual),
        ("!~", MatchType::NotRegex),
    ]
    .into_iter()
    .find_map(|(op, kind)| s.strip_prefix(op).map(|rest| (kind, rest)))
}

/// The length of the legacy label name (with colons) `s` starts with; 0 when none.
fn legacy_name_len(s: &str) -> usize {
    let mut len = 0;
    for (i, c) in s.char_indices() {
        let ok = c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit());
        if !ok {
            break;
        }
        len = i + c.len_utf8();
    }
    len
}

/// RE2's `\s`: `[\t\n\f\r ]`.
fn is_re2_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// The value with its optional surrounding double quotes removed and the escapes `\"`, `\n`,
/// `\\` applied; a backslash before anything else, or last, is literal.
fn unescape(raw: &str) -> Result<String, String> {
    let unescaped_quote = || format!("matcher value contains unescaped double quote: {raw}");
    let (body, mut expect_closing_quote) = match raw.strip_prefix('"') {
        Some(body) => (body, true),
        None => (raw, false),
    };
    let mut out = String::with_capacity(body.len());
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        let last = i + c.len_utf8() == body.len();
        if escaped {
            escaped = false;
            match c {
                'n' => out.push('\n'),
                '"' | '\\' => out.push(c),
                _ => {
                    out.push('\\');
                    out.push(c);
                }
            }
            continue;
        }
        match c {
            '\\' if !last => escaped = true,
            '"' if expect_closing_quote && last => expect_closing_quote = false,
            '"' => return Err(unescaped_quote()),
            c => out.push(c),
        }
    }
    if expect_closing_quote {
        return Err(unescaped_quote());
    }
    Ok(out)
}
