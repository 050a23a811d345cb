//! How template text moves the HTML context (Go's `transition.go`, `contextAfterText`,
//! `escapeText` and `stripTags`), and how text is rewritten on the way: comments dropped, a
//! stray `<` in text written as `&lt;`.
//!
//! JavaScript is followed only far enough to find where a `<script>` element or an `on*`
//! attribute ends; its strings and comments are not tracked.

use super::super::strconv::go_quote;
use super::context::{Attr, Context, Delim, Element, State, UrlPart, attr_start};
use super::escapers::{ContentType, attr_type};

type Step = Result<(Context, usize), String>;

fn at(state: State) -> Context {
    Context {
        state,
        ..Context::default()
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\x0c' | b'\r')
}

fn eat_space(s: &[u8], i: usize) -> usize {
    s[i..]
        .iter()
        .position(|&b| !is_space(b))
        .map_or(s.len(), |j| i + j)
}

fn find(s: &[u8], needle: &[u8]) -> Option<usize> {
    s.windows(needle.len()).position(|w| w == needle)
}

fn quote(s: &[u8]) -> String {
    go_quote(&String::from_utf8_lossy(s))
}

fn t_text(c: Context, s: &[u8]) -> Step {
    let mut k = 0;
    loop {
        let Some(off) = s[k..].iter().position(|&b| b == b'<') else {
            return Ok((c, s.len()));
        };
        let mut i = k + off;
        if i + 1 == s.len() {
            return Ok((c, s.len()));
        }
        if s[i..].starts_with(b"<!--") {
            return Ok((at(State::HtmlCmt), i + 4));
        }
        i += 1;
        let mut end = false;
        if s[i] == b'/' {
            if i + 1 == s.len() {
                return Ok((c, s.len()));
            }
            end = true;
            i += 1;
        }
        let (j, element) = eat_tag_name(s, i);
        if j != i {
            let element = if end { Element::None } else { element };
            return Ok((
                Context {
                    state: State::Tag,
                    element,
                    ..Context::default()
                },
                j,
            ));
        }
        k = j;
    }
}

fn eat_tag_name(s: &[u8], i: usize) -> (usize, Element) {
    if i == s.len() || !s[i].is_ascii_alphabetic() {
        return (i, Element::None);
    }
    let mut j = i + 1;
    while j < s.len() {
        let x = s[j];
        if x.is_ascii_alphanumeric() {
            j += 1;
        } else if (x == b':' || x == b'-') && j + 1 < s.len() && s[j + 1].is_ascii_alphanumeric() {
            j += 2;
        } else {
            break;
        }
    }
    let element = match s[i..j].to_ascii_lowercase().as_slice() {
        b"script" => Element::Script,
        b"style" => Element::Style,
        b"textarea" => Element::Textarea,
        b"title" => Element::Title,
        _ => Element::None,
    };
    (j, element)
}

fn eat_attr_name(s: &[u8], i: usize) -> Result<usize, String> {
    for (j, &b) in s.iter().enumerate().skip(i) {
        match b {
            b' ' | b'\t' | b'\n' | b'\x0c' | b'\r' | b'=' | b'>' => return Ok(j),
            b'\'' | b'"' | b'<' => {
                let shown: String = String::from_utf8_lossy(s).chars().take(32).collect();
                return Err(format!(
                    "{} in attribute name: {}",
                    quote(&s[j..j + 1]),
                    go_quote(&shown)
                ));
            }
            _ => {}
        }
    }
    Ok(s.len())
}

fn t_tag(c: Context, s: &[u8]) -> Step {
    let i = eat_space(s, 0);
    if i == s.len() {
        return Ok((c, s.len()));
    }
    if s[i] == b'>' {
        let next = Context {
            state: c.element.content(),
            element: c.element,
            ..Context::default()
        };
        return Ok((next, i + 1));
    }
    let j = eat_attr_name(s, i)?;
    if i == j {
        return Err(format!(
            "expected space, attr name, or end of tag, but got {}",
            quote(&s[i..])
        ));
    }
    let name = String::from_utf8_lossy(&s[i..j]).to_lowercase();
    let attr = if c.element == Element::Script && name == "type" {
        Attr::ScriptType
    } else {
        match attr_type(&name) {
            ContentType::Url => Attr::Url,
            ContentType::Css => Attr::Style,
            ContentType::Js => Attr::Script,
            ContentType::Srcset => Attr::Srcset,
            _ => Attr::None,
        }
    };
    let state = if j == s.len() {
        State::AttrName
    } else {
        State::AfterName
    };
    Ok((
        Context {
            state,
            element: c.element,
            attr,
            ..Context::default()
        },
        j,
    ))
}

fn t_attr_name(mut c: Context, s: &[u8]) -> Step {
    let i = eat_attr_name(s, 0)?;
    if i != s.len() {
        c.state = State::AfterName;
    }
    Ok((c, i))
}

fn t_after_name(mut c: Context, s: &[u8]) -> Step {
    let i = eat_space(s, 0);
    if i == s.len() {
        return Ok((c, s.len()));
    }
    if s[i] != b'=' {
        c.state = State::Tag;
        return Ok((c, i));
    }
    c.state = State::BeforeValue;
    Ok((c, i + 1))
}

fn t_before_value(mut c: Context, s: &[u8]) -> Step {
    let mut i = eat_space(s, 0);
    if i == s.len() {
        return Ok((c, s.len()));
    }
    let delim = match s[i] {
        b'\'' => {
            i += 1;
            Delim::SingleQuote
        }
        b'"' => {
            i += 1;
            Delim::DoubleQuote
        }
        _ => Delim::SpaceOrTagEnd,
    };
    c.state = attr_start(c.attr);
    c.delim = delim;
    Ok((c, i))
}

fn t_html_cmt(c: Context, s: &[u8]) -> Step {
    match find(s, b"-->") {
        Some(i) => Ok((Context::default(), i + 3)),
        None => Ok((c, s.len())),
    }
}

/// Go's `indexTagEnd`: where `</tag` followed by a separator starts, case-insensitively.
fn index_tag_end(s: &[u8], tag: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(off) = find(&s[from..], b"</") {
        let i = from + off;
        let rest = &s[i + 2..];
        if rest.len() > tag.len()
            && rest[..tag.len()].eq_ignore_ascii_case(tag)
            && b"> \t\n\x0c/".contains(&rest[tag.len()])
        {
            return Some(i);
        }
        from = i + 2;
    }
    None
}

fn t_special_tag_end(c: Context, s: &[u8]) -> Step {
    if c.element != Element::None
        && let Some(i) = index_tag_end(s, c.element.end_tag())
    {
        return Ok((Context::default(), i));
    }
    Ok((c, s.len()))
}

fn t_url(mut c: Context, s: &[u8]) -> Step {
    if s.iter().any(|&b| b == b'#' || b == b'?') {
        c.url_part = UrlPart::QueryOrFrag;
    } else if eat_space(s, 0) != s.len() && c.url_part == UrlPart::None {
        c.url_part = UrlPart::PreQuery;
    }
    Ok((c, s.len()))
}

fn t_css(mut c: Context, s: &[u8]) -> Step {
    let mut k = 0;
    loop {
        let Some(off) = s[k..].iter().position(|b| b"(\"'/".contains(b)) else {
            return Ok((c, s.len()));
        };
        let i = k + off;
        match s[i] {
            b'(' => {
                let before = s[..i].trim_ascii_end();
                let is_nmchar =
                    |b: &u8| b.is_ascii_alphanumeric() || b"-_".contains(b) || *b >= 0x80;
                let is_url = before.len() >= 3
                    && before[before.len() - 3..].eq_ignore_ascii_case(b"url")
                    && !before[..before.len() - 3].last().is_some_and(is_nmchar);
                if is_url {
                    let j = s.len() - s[i + 1..].trim_ascii_start().len();
                    let (state, j) = match s.get(j) {
                        Some(b'"') => (State::CssDqUrl, j + 1),
                        Some(b'\'') => (State::CssSqUrl, j + 1),
                        _ => (State::CssUrl, j),
                    };
                    c.state = state;
                    return Ok((c, j));
                }
            }
            b'/' if i + 1 < s.len() && (s[i + 1] == b'/' || s[i + 1] == b'*') => {
                c.state = if s[i + 1] == b'/' {
                    State::CssLineCmt
                } else {
                    State::CssBlockCmt
                };
                return Ok((c, i + 2));
            }
            b'"' => {
                c.state = State::CssDqStr;
                return Ok((c, i + 1));
            }
            b'\'' => {
                c.state = State::CssSqStr;
                return Ok((c, i + 1));
            }
            _ => {}
        }
        k = i + 1;
    }
}

fn t_css_str(mut c: Context, s: &[u8]) -> Step {
    let ends: &[u8] = match c.state {
        State::CssDqStr | State::CssDqUrl => b"\\\"",
        State::CssSqStr | State::CssSqUrl => b"\\'",
        _ => b"\\\t\n\x0c\r )",
    };
    let mut k = 0;
    loop {
        let Some(off) = s[k..].iter().position(|b| ends.contains(b)) else {
            return Ok((c, s.len()));
        };
        let i = k + off;
        if s[i] == b'\\' {
            if i + 1 == s.len() {
                return Err(format!(
                    "unfinished escape sequence in CSS string: {}",
                    quote(s)
                ));
            }
            k = i + 2;
            continue;
        }
        c.state = State::Css;
        return Ok((c, i + 1));
    }
}

fn t_css_cmt(mut c: Context, s: &[u8]) -> Step {
    let end = if c.state == State::CssBlockCmt {
        find(s, b"*/").map(|i| i + 2)
    } else {
        s.iter().position(|b| b"\n\x0c\r".contains(b))
    };
    match end {
        Some(i) => {
            c.state = State::Css;
            Ok((c, i))
        }
        None => Ok((c, s.len())),
    }
}

/// One transition: the context after a prefix of `s`, and the prefix's length.
fn transition(c: Context, s: &[u8]) -> Step {
    match c.state {
        State::Text => t_text(c, s),
        State::Tag => t_tag(c, s),
        State::AttrName => t_attr_name(c, s),
        State::AfterName => t_after_name(c, s),
        State::BeforeValue => t_before_value(c, s),
        State::HtmlCmt => t_html_cmt(c, s),
        State::Rcdata => t_special_tag_end(c, s),
        State::Url | State::Srcset => t_url(c, s),
        State::Css => t_css(c, s),
        State::CssDqStr | State::CssSqStr | State::CssDqUrl | State::CssSqUrl | State::CssUrl => {
            t_css_str(c, s)
        }
        State::CssBlockCmt | State::CssLineCmt => t_css_cmt(c, s),
        State::Attr | State::Js => Ok((c, s.len())),
    }
}

/// Go's `contextAfterText`: the context after a prefix of `s`, and its length.
fn after_text(c: Context, s: &[u8]) -> Step {
    if c.delim == Delim::None {
        let (c1, i) = t_special_tag_end(c, s)?;
        if i == 0 {
            return Ok((c1, 0));
        }
        return transition(c, &s[..i]);
    }
    let i = s
        .iter()
        .position(|b| c.delim.ends().contains(b))
        .unwrap_or(s.len());
    if c.delim == Delim::SpaceOrTagEnd
        && let Some(j) = s[..i].iter().position(|b| b"\"'<=`".contains(b))
    {
        return Err(format!(
            "{} in unquoted attr: {}",
            quote(&s[j..j + 1]),
            quote(&s[..i])
        ));
    }
    if i == s.len() {
        let mut c = c;
        let mut rest = s;
        while !rest.is_empty() {
            let (c1, n) = transition(c, rest)?;
            if n == 0 && c1 == c {
                break;
            }
            c = c1;
            rest = &rest[n..];
        }
        return Ok((c, s.len()));
    }
    let consumed = if c.delim == Delim::SpaceOrTagEnd {
        i
    } else {
        i + 1
    };
    let next = Context {
        state: State::Tag,
        element: c.element,
        ..Context::default()
    };
    Ok((next, consumed))
}

/// Go's `escapeText`: moves `c` across template text `s` and returns the text as
/// `html/template` writes it (comments dropped, `<` that opens no tag in text as `&lt;`).
pub(crate) fn escape_text(c: &mut Context, s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let (mut written, mut i) = (0, 0);
    while i != b.len() {
        let (c1, nread) = after_text(*c, &b[i..])?;
        let i1 = i + nread;
        if c.state == State::Text || c.state == State::Rcdata {
            let mut end = i1;
            if c1.state != c.state
                && let Some(j) = b[i..end].iter().rposition(|&x| x == b'<')
            {
                end = i + j;
            }
            for j in i..end {
                let doctype = b[j..].len() >= 9 && b[j..j + 9].eq_ignore_ascii_case(b"<!DOCTYPE");
                if b[j] == b'<' && !doctype {
                    out.push_str(&s[written..j]);
                    out.push_str("&lt;");
                    written = j + 1;
                }
            }
        } else if c.state.is_comment() && c.delim == Delim::None {
            if c.state == State::CssBlockCmt {
                out.push(' ');
            }
            written = i1;
        }
        if c.state != c1.state && c1.state.is_comment() && c1.delim == Delim::None {
            let start = if c1.state == State::HtmlCmt {
                i1 - 4
            } else {
                i1 - 2
            };
            out.push_str(&s[written..start]);
            written = i1;
        }
        if i == i1 && c.state == c1.state {
            return Err(format!(
                "html/template: no progress in {c} on {}",
                quote(&b[i..])
            ));
        }
        *c = c1;
        i = i1;
    }
    if !c.state.is_comment() || c.delim != Delim::None {
        out.push_str(&s[written..]);
    }
    Ok(out)
}

/// Go's `stripTags`: the text content of an HTML snippet (what a `template.HTML` value
/// becomes inside an attribute).
pub(crate) fn strip_tags(html: &str) -> String {
    let s = html.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    let mut c = Context::default();
    let (mut i, mut all_text) = (0, true);
    while i != s.len() {
        if c.delim == Delim::None {
            let mut st = c;
            if c.element != Element::None && !c.state.is_in_tag() {
                st.state = State::Rcdata;
            }
            let Ok((d, nread)) = transition(st, &s[i..]) else {
                return String::from_utf8_lossy(&out).into_owned();
            };
            let i1 = i + nread;
            if c.state == State::Text || c.state == State::Rcdata {
                let mut j = i1;
                if d.state != c.state
                    && let Some(k) = s[i..j].iter().rposition(|&x| x == b'<')
                {
                    j = i + k;
                }
                out.extend_from_slice(&s[i..j]);
            } else {
                all_text = false;
            }
            if i1 == i && d == c {
                break;
            }
            c = d;
            i = i1;
            continue;
        }
        let Some(off) = s[i..].iter().position(|b| c.delim.ends().contains(b)) else {
            break;
        };
        let mut i1 = i + off;
        if c.delim != Delim::SpaceOrTagEnd {
            i1 += 1;
        }
        c = Context {
            state: State::Tag,
            element: c.element,
            ..Context::default()
        };
        i = i1;
    }
    if all_text {
        return html.to_string();
    }
    if c.state == State::Text || c.state == State::Rcdata {
        out.extend_from_slice(&s[i..]);
    }
    String::from_utf8_lossy(&out).into_owned()
}
