//! Alertmanager's label matchers (`pkg/labels` of Alertmanager 0.33): `name="value"`, `!=`,
//! `=~`, `!~`; how they match, print, sort, serialise and parse.
//!
//! - Parsing ([`parse_matchers`], [`parse_matcher`], [`parse_matcher_list`]) accepts what
//!   Alertmanager's default "fallback" mode accepts: the classic parser (`classic`) when it
//!   succeeds, else the UTF-8 parser (`utf8`, quoted names and Go string escapes).
//! - Regexes are anchored (`^(?:...)$`) and read with Go's RE2 meaning (`go_regex`).
//! - A matcher serialises as its printed form and deserialises by parsing it; the round trip
//!   is exact (see [`Matcher`]'s `Display`).

mod classic;
mod go_regex;
mod utf8;

#[cfg(test)]
mod tests;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tidemark_storage::Labels;

use crate::template::go_quote;

/// How a matcher compares a label's value. The order (`=` < `!=` < `=~` < `!~`) is
/// Alertmanager's, the last key of [`Matcher`]'s sort.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MatchType {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (anchored regex)
    Regex,
    /// `!~` (anchored regex)
    NotRegex,
}

impl MatchType {
    /// The operator as written: `=`, `!=`, `=~` or `!~`.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regex => "=~",
            MatchType::NotRegex => "!~",
        }
    }

    /// Whether the value is a regex.
    pub fn is_regex(self) -> bool {
        matches!(self, MatchType::Regex | MatchType::NotRegex)
    }
}

impl fmt::Display for MatchType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One matcher: a label name, a comparison and a value. A missing label matches as the empty
/// string (Alertmanager's rule).
///
/// Build it with [`Matcher::new`] (or a parser): the regex is compiled there, so changing
/// `value` of a regex matcher afterwards does not change what it matches. Equality, hashing
/// and order look at name, kind and value only; the order is Alertmanager's
/// `Matchers.Less` (name, then value, then kind), which route keys are printed in.
#[derive(Clone)]
pub struct Matcher {
    /// The label name.
    pub name: String,
    /// The comparison.
    pub kind: MatchType,
    /// The value (a regex's source for the regex kinds).
    pub value: String,
    /// The anchored regex, for the regex kinds.
    re: Option<Regex>,
}

impl Matcher {
    /// A matcher; a regex that does not compile is an error naming it. An empty name is
    /// refused: no label has one, and such a matcher would not print in a form that parses.
    pub fn new(
        name: impl Into<String>,
        kind: MatchType,
        value: impl Into<String>,
    ) -> Result<Self, String> {
        let mut m = Matcher {
            name: name.into(),
            kind,
            value: value.into(),
            re: None,
        };
        if m.name.is_empty() {
            return Err(format!("matcher {m}: empty label name"));
        }
        if kind.is_regex() {
            let re = go_regex::compile_anchored(&m.value)
                .map_err(|e| format!("matcher {m}: invalid regular expression: {e}"))?;
            m.re = Some(re);
        }
        Ok(m)
    }

    /// Whether `value` (the label's value, "" when absent) matches.
    pub fn matches_value(&self, value: &str) -> bool {
        let re_matches = || self.re.as_ref().is_some_and(|re| re.is_match(value));
        match self.kind {
            MatchType::Equal => value == self.value,
            MatchType::NotEqual => value != self.value,
            MatchType::Regex => re_matches(),
            MatchType::NotRegex => !re_matches(),
        }
    }

    /// Whether `labels` match.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.matches_value(labels.get(&self.name).unwrap_or(""))
    }
}

/// Alertmanager's `Matcher.String()`: a name holding a reserved character (whitespace or one
/// of ``{}!=~,\"'` ``) is printed with Go's `strconv.Quote`, and the value too; otherwise the
/// name is printed as is and the value in double quotes with only `\`, `"` and newline
/// escaped (OpenMetrics escaping).
impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.chars().any(is_reserved) {
            let (name, value) = (go_quote(&self.name), go_quote(&self.value));
            write!(f, "{name}{}{value}", self.kind)
        } else {
            let value = open_metrics_escape(&self.value);
            write!(f, "{}{}\"{value}\"", self.name, self.kind)
        }
    }
}

impl fmt::Debug for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Matcher({self})")
    }
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Matcher {}

impl PartialOrd for Matcher {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Matcher {
    fn cmp(&self, other: &Self) -> Ordering {
        (&self.name, &self.value, self.kind).cmp(&(&other.name, &other.value, other.kind))
    }
}

impl Hash for Matcher {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (&self.name, &self.value, self.kind).hash(state);
    }
}

impl Serialize for Matcher {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Matcher {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_matcher(&text).map_err(serde::de::Error::custom)
    }
}

/// Matchers that must all match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    /// Whether every matcher matches `labels`.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.0.iter().all(|m| m.matches(labels))
    }
}

/// Alertmanager's `Matchers.String()`: `{a="b",c=~"d"}`, in the order held.
impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

/// Parses Alertmanager's matcher list syntax (`{a="b", c=~"d"}` or `a=b,c=~d`): optional
/// braces, comma separated, values quoted or not, a trailing comma allowed; `""` and `{}`
/// are no matchers. As Alertmanager's default mode: the classic parser's answer when it
/// accepts the input, else the UTF-8 parser's (quoted names, Go escapes); when both refuse,
/// the classic parser's error.
pub fn parse_matchers(input: &str) -> Result<Matchers, String> {
    match classic::parse_matchers(input) {
        Ok(ms) => Ok(Matchers(ms)),
        Err(classic_err) => utf8::parse_matchers(input)
            .map(Matchers)
            .map_err(|_| classic_err),
    }
}

/// Parses exactly one matcher (`a="b"`, `"a b"=~"c"`), without braces, as Alertmanager's
/// default mode does; the inverse of [`Matcher`]'s `Display`.
pub fn parse_matcher(input: &str) -> Result<Matcher, String> {
    if input.starts_with('{') || input.ends_with('}') {
        return Err(format!("unexpected open or close brace: {input}"));
    }
    classic::parse_matcher(input).or_else(|classic_err| {
        let mut ms = utf8::parse_matchers(input).map_err(|_| classic_err)?;
        match ms.len() {
            1 => Ok(ms.remove(0)),
            0 => Err(format!("no matcher in {input:?}")),
            n => Err(format!("expected 1 matcher, found {n} in {input:?}")),
        }
    })
}

/// The config's `matchers:` list: each string holds one or more matchers
/// ([`parse_matchers`]); all of them, sorted as Alertmanager sorts them.
pub fn parse_matcher_list(lines: &[String]) -> Result<Vec<Matcher>, String> {
    let mut out = Vec::new();
    for line in lines {
        out.extend(parse_matchers(line)?.0);
    }
    out.sort();
    Ok(out)
}

/// The deprecated `match:` (equality) and `match_re:` (regex) maps as matchers: `match` keys
/// in sorted order, then `match_re` keys in sorted order. Keys must be legacy label names
/// (`[a-zA-Z_][a-zA-Z0-9_]*`). As in Alertmanager, a `match_re` value becomes the matcher's
/// value in its anchored form `^(?:...)$`, which is how route keys print it.
pub fn from_legacy(
    match_eq: &BTreeMap<String, String>,
    match_re: &BTreeMap<String, String>,
) -> Result<Vec<Matcher>, String> {
    let mut out = Vec::with_capacity(match_eq.len() + match_re.len());
    for (name, value) in match_eq {
        check_legacy_name(name, "match")?;
        out.push(Matcher::new(name, MatchType::Equal, value)?);
    }
    for (name, value) in match_re {
        check_legacy_name(name, "match_re")?;
        let anchored = format!("^(?:{value})$");
        let m = Matcher::new(name, MatchType::Regex, anchored)
            .map_err(|e| format!("match_re: invalid regexp value for {name:?}: {e}"))?;
        out.push(m);
    }
    Ok(out)
}

/// Refuses a `match`/`match_re` key that is not a legacy label name (Prometheus'
/// `model.LabelNameRE`, without the colon).
fn check_legacy_name(name: &str, field: &str) -> Result<(), String> {
    let mut chars = name.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(format!("{field}: invalid label name {name:?}"))
    }
}

/// Characters the UTF-8 parser does not accept in an unquoted name or value, and whose
/// presence in a name makes it print quoted (Alertmanager's `isReserved`).
fn is_reserved(c: char) -> bool {
    c.is_whitespace() || "{}!=~,\\\"'`".contains(c)
}

/// OpenMetrics escaping: `\` as `\\`, newline as `\n`, `"` as `\"`, nothing else.
fn open_metrics_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}
