//! The escapers `html/template` puts at the end of a pipeline (Go's `html.go`, `url.go`,
//! `attr.go`, `content.go`): what a printed value becomes in text, in an attribute, in a URL,
//! as an attribute name or in a comment. Values typed `template.HTML` (`safeHtml`) and
//! `template.URL` (`safeUrl`) pass where their type is trusted.

use super::super::fmt::write_printable;
use super::super::value::Value;
use super::transition::strip_tags;

/// What a value is known to be (Go's `contentType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ContentType {
    Plain,
    Css,
    Html,
    Js,
    Url,
    Srcset,
    Unsafe,
}

/// What Go writes in place of a value that is unsafe where it is printed.
const FILTER_FAILSAFE: &str = "ZgotmplZ";

/// Go's `attrType`: what the value of the (lower-case) attribute `name` is.
pub(crate) fn attr_type(name: &str) -> ContentType {
    let name = if let Some(rest) = name.strip_prefix("data-") {
        rest
    } else if let Some((prefix, short)) = name.split_once(':') {
        if prefix == "xmlns" {
            return ContentType::Url;
        }
        short
    } else {
        name
    };
    use ContentType::{Css, Html, Plain, Srcset, Unsafe, Url};
    let known = match name {
        "accept" | "alt" | "autocomplete" | "autofocus" | "autoplay" | "border" | "checked"
        | "class" | "cols" | "colspan" | "contenteditable" | "contextmenu" | "controls"
        | "coords" | "datetime" | "default" | "dir" | "dirname" | "disabled" | "draggable"
        | "dropzone" | "for" | "formtarget" | "headers" | "height" | "hidden" | "high"
        | "hreflang" | "id" | "ismap" | "kind" | "label" | "lang" | "list" | "loop" | "low"
        | "max" | "maxlength" | "media" | "mediagroup" | "min" | "multiple" | "name" | "open"
        | "optimum" | "placeholder" | "preload" | "pubdate" | "radiogroup" | "readonly"
        | "required" | "reversed" | "rows" | "rowspan" | "spellcheck" | "scope" | "scoped"
        | "seamless" | "selected" | "shape" | "size" | "sizes" | "span" | "srclang" | "start"
        | "step" | "tabindex" | "target" | "title" | "width" | "wrap" => Some(Plain),
        "accept-charset" | "async" | "challenge" | "charset" | "content" | "crossorigin"
        | "defer" | "enctype" | "form" | "formenctype" | "formmethod" | "formnovalidate"
        | "http-equiv" | "keytype" | "language" | "method" | "novalidate" | "pattern" | "rel"
        | "sandbox" | "type" | "value" => Some(Unsafe),
        "action" | "archive" | "background" | "cite" | "classid" | "codebase" | "data"
        | "formaction" | "href" | "icon" | "longdesc" | "manifest" | "poster" | "profile"
        | "src" | "usemap" | "xmlns" => Some(Url),
        "srcdoc" => Some(Html),
        "srcset" => Some(Srcset),
        "style" => Some(Css),
        _ => None,
    };
    if let Some(t) = known {
        return t;
    }
    if name.starts_with("on") {
        return ContentType::Js;
    }
    if name.contains("src") || name.contains("uri") || name.contains("url") {
        return ContentType::Url;
    }
    ContentType::Plain
}

/// Go's `stringify` of one value: its text and what it is known to be. Nil prints nothing,
/// a pointer prints what it points to.
pub(crate) fn stringify(v: &Value) -> (String, ContentType) {
    match v {
        Value::Str(s) => (s.clone(), ContentType::Plain),
        Value::Html(s) => (s.clone(), ContentType::Html),
        Value::Url(s) => (s.clone(), ContentType::Url),
        Value::Nil => (String::new(), ContentType::Plain),
        other => {
            let mut out = String::new();
            write_printable(&mut out, other);
            (out, ContentType::Plain)
        }
    }
}

/// Which runes a replacement table escapes, and how.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Table {
    /// Text and quoted attributes.
    Html,
    /// As `Html`, but `&` kept (the text is already HTML).
    HtmlNorm,
    /// Unquoted attributes.
    Nospace,
    /// As `Nospace`, but `&` kept.
    NospaceNorm,
}

fn replacement(table: Table, c: char) -> Option<&'static str> {
    let nospace = matches!(table, Table::Nospace | Table::NospaceNorm);
    let amp = matches!(table, Table::Html | Table::Nospace);
    Some(match c {
        '\0' if nospace => "&#xfffd;",
        '\0' => "\u{fffd}",
        '"' => "&#34;",
        '&' if amp => "&amp;",
        '\'' => "&#39;",
        '+' => "&#43;",
        '<' => "&lt;",
        '>' => "&gt;",
        '\t' if nospace => "&#9;",
        '\n' if nospace => "&#10;",
        '\u{b}' if nospace => "&#11;",
        '\u{c}' if nospace => "&#12;",
        '\r' if nospace => "&#13;",
        ' ' if nospace => "&#32;",
        '=' if nospace => "&#61;",
        '`' if nospace => "&#96;",
        _ => return None,
    })
}

/// Go's `htmlReplacer`.
fn html_replace(s: &str, table: Table) -> String {
    let nospace = matches!(table, Table::Nospace | Table::NospaceNorm);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match replacement(table, c) {
            Some(r) => out.push_str(r),
            None if nospace && matches!(c as u32, 0xfdd0..=0xfdef | 0xfff0..=0xffff) => {
                out.push_str(&format!("&#x{:x};", c as u32));
            }
            None => out.push(c),
        }
    }
    out
}

/// In HTML text: `template.HTML` as is, anything else escaped.
pub(crate) fn html_escaper(v: &Value) -> String {
    match stringify(v) {
        (s, ContentType::Html) => s,
        (s, _) => html_replace(&s, Table::Html),
    }
}

/// In `<title>` and `<textarea>`.
pub(crate) fn rcdata_escaper(v: &Value) -> String {
    match stringify(v) {
        (s, ContentType::Html) => html_replace(&s, Table::HtmlNorm),
        (s, _) => html_replace(&s, Table::Html),
    }
}

/// In a quoted attribute value.
pub(crate) fn attr_escaper(v: &Value) -> String {
    match stringify(v) {
        (s, ContentType::Html) => html_replace(&strip_tags(&s), Table::HtmlNorm),
        (s, _) => html_replace(&s, Table::Html),
    }
}

/// In an unquoted attribute value.
pub(crate) fn nospace_escaper(v: &Value) -> String {
    match stringify(v) {
        (s, ContentType::Html) => html_replace(&strip_tags(&s), Table::NospaceNorm),
        (s, _) => html_replace(&s, Table::Nospace),
    }
}

/// As an attribute name: letters and digits of a plain attribute only.
pub(crate) fn html_name_filter(v: &Value) -> String {
    let (s, _) = stringify(v);
    if s.is_empty() {
        return FILTER_FAILSAFE.into();
    }
    let s = s.to_lowercase();
    let plain = attr_type(&s) == ContentType::Plain;
    if !plain
        || !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    {
        return FILTER_FAILSAFE.into();
    }
    s
}

/// Go's `isSafeURL`: relative, or `http`, `https` or `mailto`.
fn is_safe_url(s: &str) -> bool {
    match s.split_once(':') {
        Some((protocol, _)) if !protocol.contains('/') => ["http", "https", "mailto"]
            .iter()
            .any(|p| protocol.eq_ignore_ascii_case(p)),
        _ => true,
    }
}

/// At the start of a URL: an unsafe scheme becomes `#ZgotmplZ`.
pub(crate) fn url_filter(v: &Value) -> String {
    match stringify(v) {
        (s, ContentType::Url) => s,
        (s, _) if !is_safe_url(&s) => format!("#{FILTER_FAILSAFE}"),
        (s, _) => s,
    }
}

/// Go's `processURLOnto`: percent-encodes what a URL (part) must not hold; `norm` keeps the
/// reserved characters and existing escapes.
fn process_url(s: &str, norm: bool) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len() + 16);
    for (i, &c) in b.iter().enumerate() {
        let keep = match c {
            b'!' | b'#' | b'$' | b'&' | b'*' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?'
            | b'@' | b'[' | b']' => norm,
            b'-' | b'.' | b'_' | b'~' => true,
            b'%' => {
                norm && i + 2 < b.len()
                    && b[i + 1].is_ascii_hexdigit()
                    && b[i + 2].is_ascii_hexdigit()
            }
            c => c.is_ascii_alphanumeric(),
        };
        if keep {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02x}"));
        }
    }
    out
}

/// In a URL before its query: normalised.
pub(crate) fn url_normalizer(v: &Value) -> String {
    let (s, _) = stringify(v);
    process_url(&s, true)
}

/// In a URL's query or fragment: escaped (a `template.URL` only normalised).
pub(crate) fn url_escaper(v: &Value) -> String {
    let (s, t) = stringify(v);
    process_url(&s, t == ContentType::Url)
}
