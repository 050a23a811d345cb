//! Go's RE2 regexes for the `regex` crate. The syntaxes are nearly the same; where they
//! differ in meaning the pattern is rewritten before it is compiled:
//!
//! - `\d`, `\w`, `\s` (and `\D`, `\W`, `\S`) are ASCII in Go (`\s` is `[\t\n\f\r ]`, without
//!   `\v`) and Unicode in Rust: they become explicit ASCII classes.
//! - `\b`, `\B` are ASCII word boundaries in Go: they become `(?-u:\b)`, `(?-u:\B)`.
//! - `\Q...\E` (literal text) exists only in Go: it becomes the escaped text.
//! - In a class, Rust reads `[` as a nested class and `&&`, `--`, `~~` as set operations; Go
//!   reads them as literal characters: they are escaped. A `]` first in a class is literal in
//!   both, and is escaped too.
//! - Octal escapes (`\123`) are Go syntax, enabled in the builder.
//!
//! Rust-only syntax (`(?x)`, `\<`, ...) is not refused, and Go's limit of 1000 repetitions is
//! not applied: a pattern Go accepts means the same here, not the other way around.

use std::iter::Peekable;
use std::str::Chars;

use regex::{Regex, RegexBuilder};

/// Compiles `pattern` as Alertmanager does (`^(?:pattern)$`); the error is the regex crate's
/// short reason.
pub(super) fn compile_anchored(pattern: &str) -> Result<Regex, String> {
    let translated = translate(pattern);
    RegexBuilder::new(&format!("^(?:{translated})$"))
        .octal(true)
        .build()
        .map_err(|e| short_reason(&e))
}

/// The last line of the regex crate's error (`error: unclosed group`), without the pattern
/// it shows (which is the rewritten one).
fn short_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().rev().find(|l| !l.trim().is_empty());
    let last = last.unwrap_or(&text).trim();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

/// `[\t\n\f\r ]` written so that `(?x)` does not drop the space.
const SPACE: &str = r"\t\n\x0C\r\x20";
const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";

/// The members of Go's ASCII class for the Perl escape `c`, and whether it is negated.
fn perl_class(c: char) -> Option<(&'static str, bool)> {
    match c {
        'd' => Some((DIGIT, false)),
        'D' => Some((DIGIT, true)),
        's' => Some((SPACE, false)),
        'S' => Some((SPACE, true)),
        'w' => Some((WORD, false)),
        'W' => Some((WORD, true)),
        _ => None,
    }
}

/// `pattern` rewritten for the `regex` crate.
pub(super) fn translate(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) => match (e, perl_class(e)) {
                    (_, Some((members, negated))) => {
                        out.push_str(if negated { "[^" } else { "[" });
                        out.push_str(members);
                        out.push(']');
                    }
                    ('b', None) => out.push_str(r"(?-u:\b)"),
                    ('B', None) => out.push_str(r"(?-u:\B)"),
                    ('Q', None) => out.push_str(&regex::escape(&quoted_literal(&mut chars))),
                    (e, None) => {
                        out.push('\\');
                        out.push(e);
                    }
                },
                None => out.push('\\'),
            },
            '[' => translate_class(&mut chars, &mut out),
            c => out.push(c),
        }
    }
    out
}

/// The text of a `\Q` quote up to `\E` or the end of the pattern.
fn quoted_literal(chars: &mut Peekable<Chars<'_>>) -> String {
    let mut literal = String::new();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'E') {
            chars.next();
            break;
        }
        literal.push(c);
    }
    literal
}

/// Copies a class whose `[` was just read, up to and with its `]`.
fn translate_class(chars: &mut Peekable<Chars<'_>>, out: &mut String) {
    out.push('[');
    if chars.peek() == Some(&'^') {
        chars.next();
        out.push('^');
    }
    if chars.peek() == Some(&']') {
        chars.next();
        out.push_str(r"\]");
    }
    let mut previous = '[';
    while let Some(c) = chars.next() {
        match c {
            ']' => {
                out.push(']');
                return;
            }
            '\\' => match chars.next() {
                Some(e) => match perl_class(e) {
                    Some((members, true)) => {
                        out.push_str("[^");
                        out.push_str(members);
                        out.push(']');
                    }
                    Some((members, false)) => out.push_str(members),
                    None => {
                        out.push('\\');
                        out.push(e);
                    }
                },
                None => out.push('\\'),
            },
            '[' if chars.peek() == Some(&':') => copy_posix_class(chars, out),
            '[' | '&' | '~' => {
                out.push('\\');
                out.push(c);
            }
            '-' if previous == '-' => out.push_str(r"\-"),
            c => out.push(c),
        }
        previous = c;
    }
}

/// Copies `[:name:]` (whose `[` was just read) when it is one of Go's ASCII classes;
/// otherwise the `[` is a literal, as in Go.
fn copy_posix_class(chars: &mut Peekable<Chars<'_>>, out: &mut String) {
    const NAMES: [&str; 14] = [
        "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct",
        "space", "upper", "word", "xdigit",
    ];
    // The longest name, `^xdigit`, with its colons and bracket: 10 characters.
    let rest: String = chars.clone().take(12).collect();
    let class = rest.strip_prefix(':').and_then(|r| {
        let (name, _) = r.split_once(":]")?;
        let bare = name.strip_prefix('^').unwrap_or(name);
        NAMES.contains(&bare).then_some(name)
    });
    match class {
        Some(name) => {
            // `:` + name + `:]`
            for _ in 0..name.chars().count() + 3 {
                chars.next();
            }
            out.push_str("[:");
            out.push_str(name);
            out.push_str(":]");
        }
        None => out.push_str(r"\["),
    }
}
