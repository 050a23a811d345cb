//! The UTF-8 matcher parser (Alertmanager's `matcher/parse`): a strict grammar in which names
//! and values are either double-quoted Go string literals (any UTF-8, Go escapes) or unquoted
//! runs of characters that are not reserved (whitespace, ``{}!=~,\"'` ``).
//!
//! ```text
//! matchers = [ "{" ] [ matcher { "," matcher } [ "," ] ] [ "}" ]   (braces in pairs)
//! matcher  = text op text
//! op       = "=" | "!=" | "=~" | "!~"
//! text     = quoted | unquoted
//! ```
//!
//! Errors carry the rune columns of the offending token, `start:end`, as Alertmanager's do.

use super::{MatchType, Matcher, is_reserved};

/// A token's kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    OpenBrace,
    CloseBrace,
    Comma,
    Op(MatchType),
    Quoted,
    Unquoted,
}

/// A token: its kind, its text and its rune columns.
#[derive(Clone, Debug)]
struct Token {
    kind: Kind,
    text: String,
    col_start: usize,
    col_end: usize,
}

impl Token {
    /// The text a quoted or unquoted token stands for.
    fn unquoted(&self) -> Result<String, String> {
        if self.kind != Kind::Quoted {
            return Ok(self.text.clone());
        }
        go_unquote(&self.text).ok_or_else(|| {
            format!(
                "{}:{}: {}: invalid input",
                self.col_start, self.col_end, self.text
            )
        })
    }

    fn unexpected(&self, what: &str) -> String {
        format!(
            "{}:{}: unexpected {}: {what}",
            self.col_start, self.col_end, self.text
        )
    }
}

/// Parses zero or more matchers (`matcher/parse.Matchers`).
pub(super) fn parse_matchers(input: &str) -> Result<Vec<Matcher>, String> {
    let (tokens, lex_error) = lex(input);
    let mut p = Parser {
        tokens,
        lex_error,
        pos: 0,
        end_col: input.chars().count(),
    };
    p.parse()
}

struct Parser {
    tokens: Vec<Token>,
    /// The error the lexer stopped at, met after the last token.
    lex_error: Option<String>,
    pos: usize,
    end_col: usize,
}

impl Parser {
    fn parse(&mut self) -> Result<Vec<Matcher>, String> {
        let mut out = Vec::new();
        let open = self.peek()?.is_some_and(|t| t.kind == Kind::OpenBrace);
        if open {
            self.pos += 1;
        }
        let mut expect_matcher = true;
        while let Some(t) = self.peek()?.cloned() {
            match t.kind {
                Kind::CloseBrace => break,
                Kind::Quoted | Kind::Unquoted if expect_matcher => {
                    out.push(self.matcher()?);
                    expect_matcher = false;
                }
                Kind::Comma if !expect_matcher => {
                    self.pos += 1;
                    expect_matcher = true;
                }
                _ if out.is_empty() => return Err(t.unexpected("expected label name")),
                _ if expect_matcher => {
                    return Err(t.unexpected("expected a matcher or close brace after comma"));
                }
                _ => return Err(t.unexpected("expected a comma or close brace")),
            }
        }
        match (open, self.peek()?.cloned()) {
            (true, Some(t)) if t.kind == Kind::CloseBrace => self.pos += 1,
            (true, _) => {
                let col = self.end_col;
                return Err(format!("0:{col}: end of input: expected close brace"));
            }
            (false, Some(t)) => {
                return Err(format!("0:{}: }}: expected opening brace", t.col_end));
            }
            (false, None) => {}
        }
        if let Some(t) = self.peek()? {
            let (start, end) = (t.col_start, t.col_end);
            return Err(format!("{start}:{end}: {}: expected end of input", t.text));
        }
        Ok(out)
    }

    /// `name op value`.
    fn matcher(&mut self) -> Result<Matcher, String> {
        let name = self.next()?.unquoted()?;
        let kind = match self.next_or_eof("expected an operator such as '=', '!=', '=~' or '!~'")? {
            Token {
                kind: Kind::Op(kind),
                ..
            } => kind,
            t => {
                return Err(t.unexpected("expected an operator such as '=', '!=', '=~' or '!~'"));
            }
        };
        let value = match self.next_or_eof("expected label value")? {
            t @ Token {
                kind: Kind::Quoted | Kind::Unquoted,
                ..
            } => t.unquoted()?,
            t => return Err(t.unexpected("expected label value")),
        };
        Matcher::new(name, kind, value).map_err(|e| format!("failed to create matcher: {e}"))
    }

    /// The next token, `None` at the end of the input, the lexer's error where it stopped.
    fn peek(&self) -> Result<Option<&Token>, String> {
        match (self.tokens.get(self.pos), &self.lex_error) {
            (Some(t), _) => Ok(Some(t)),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => Ok(None),
        }
    }

    fn next(&mut self) -> Result<Token, String> {
        self.next_or_eof("expected more input")
    }

    fn next_or_eof(&mut self, what: &str) -> Result<Token, String> {
        let t = self.peek()?.cloned();
        let t = t.ok_or_else(|| format!("end of input: {what}"))?;
        self.pos += 1;
        Ok(t)
    }
}

/// The tokens of `input`, and the error that stopped the lexer early, if one did.
fn lex(input: &str) -> (Vec<Token>, Option<String>) {
    let chars: Vec<char> = input.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        let kind = match c {
            '{' => Kind::OpenBrace,
            '}' => Kind::CloseBrace,
            ',' => Kind::Comma,
            '=' | '!' => match (c, chars.get(i + 1)) {
                ('=', Some('~')) => Kind::Op(MatchType::Regex),
                ('=', _) => Kind::Op(MatchType::Equal),
                ('!', Some('=')) => Kind::Op(MatchType::NotEqual),
                ('!', Some('~')) => Kind::Op(MatchType::NotRegex),
                _ => {
                    let got = chars
                        .get(i + 1)
                        .map_or("end of input".to_string(), |c| c.to_string());
                    let err = format!("{}:{}: {got}: expected one of '=~'", i + 1, i + 2);
                    return (tokens, Some(err));
                }
            },
            '"' => Kind::Quoted,
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            c if is_reserved(c) => {
                return (tokens, Some(format!("{i}:{}: {c}: invalid input", i + 1)));
            }
            _ => Kind::Unquoted,
        };
        i = match kind {
            Kind::Op(MatchType::Equal) => i + 1,
            Kind::Op(_) => i + 2,
            Kind::Quoted => match quoted_end(&chars, i) {
                Some(end) => end,
                None => {
                    let text: String = chars[i..].iter().collect();
                    let err = format!("{i}:{}: {text}: missing end \"", chars.len());
                    return (tokens, Some(err));
                }
            },
            Kind::Unquoted => (i..chars.len())
                .find(|&j| is_reserved(chars[j]))
                .unwrap_or(chars.len()),
            _ => i + 1,
        };
        tokens.push(Token {
            kind,
            text: chars[start..i].iter().collect(),
            col_start: start,
            col_end: i,
        });
    }
    (tokens, None)
}

/// The index after the double quote closing the one at `start`; a backslash escapes the next
/// character. `None` when there is none.
fn quoted_end(chars: &[char], start: usize) -> Option<usize> {
    let mut escaped = false;
    for (j, &c) in chars.iter().enumerate().skip(start + 1) {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(j + 1),
            _ => {}
        }
    }
    None
}

/// Go's `strconv.Unquote` of a double-quoted literal, which must decode to valid UTF-8: the
/// escapes `\a \b \f \n \r \t \v \\ \"`, `\xHH` and `\OOO` (bytes), `\uHHHH` and
/// `\UHHHHHHHH` (code points); a literal newline is refused.
pub(super) fn go_unquote(literal: &str) -> Option<String> {
    let body = literal.strip_prefix('"')?.strip_suffix('"')?;
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '"' => return None,
            '\\' => {}
            c => {
                push_char(&mut out, c);
                continue;
            }
        }
        let simple = match chars.next()? {
            'a' => '\x07',
            'b' => '\x08',
            'f' => '\x0c',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\x0b',
            c @ ('\\' | '"') => c,
            'x' => {
                out.push(u8::try_from(hex_digits(&mut chars, 2)?).ok()?);
                continue;
            }
            'u' => char::from_u32(hex_digits(&mut chars, 4)?)?,
            'U' => char::from_u32(hex_digits(&mut chars, 8)?)?,
            d @ '0'..='7' => {
                let mut v = d.to_digit(8)?;
                for _ in 0..2 {
                    v = v * 8 + chars.next()?.to_digit(8)?;
                }
                out.push(u8::try_from(v).ok()?);
                continue;
            }
            _ => return None,
        };
        push_char(&mut out, simple);
    }
    String::from_utf8(out).ok()
}

fn push_char(out: &mut Vec<u8>, c: char) {
    let mut buf = [0; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// `n` hex digits as a number.
fn hex_digits(chars: &mut std::str::Chars<'_>, n: usize) -> Option<u32> {
    let mut v = 0;
    for _ in 0..n {
        v = v * 16 + chars.next()?.to_digit(16)?;
    }
    Some(v)
}
