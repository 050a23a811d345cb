//! The lexer of Go's `text/template`: text, `{{ }}` actions with trim markers, comments, and
//! the tokens inside actions. Positions are byte offsets into the whole text, as Go reports them.

use super::token::{Item, Keyword, Tok};

const LEFT: &str = "{{";
const RIGHT: &str = "}}";
const COMMENT_OPEN: &str = "/*";
const COMMENT_CLOSE: &str = "*/";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// A left trim marker is `-` followed by a space, right after `{{`.
fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

/// A right trim marker is a space followed by `-`, right before `}}`.
fn has_right_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-'
}

/// Splits `text` into tokens; the last one is `Eof` or `Error`.
pub(crate) fn lex(text: &str) -> Vec<Item> {
    let mut lexer = Lexer {
        input: text,
        pos: 0,
        start: 0,
        line: 1,
        start_line: 1,
        items: Vec::new(),
        paren_depth: 0,
    };
    lexer.run();
    lexer.items
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    line: usize,
    start_line: usize,
    items: Vec<Item>,
    paren_depth: usize,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.input[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn backup(&mut self, c: char) {
        self.pos -= c.len_utf8();
        if c == '\n' {
            self.line -= 1;
        }
    }

    fn skip_to(&mut self, pos: usize) {
        self.line += self.input[self.pos..pos].matches('\n').count();
        self.pos = pos;
    }

    fn ignore(&mut self) {
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn emit(&mut self, tok: Tok) {
        self.items.push(Item {
            tok,
            pos: self.start,
            line: self.start_line,
        });
        self.ignore();
    }

    fn emit_word(&mut self, make: fn(String) -> Tok) {
        let word = self.input[self.start..self.pos].to_string();
        self.emit(make(word));
    }

    /// Records an error token; lexing stops.
    fn error(&mut self, msg: String) -> bool {
        self.items.push(Item {
            tok: Tok::Error(msg),
            pos: self.start,
            line: self.start_line,
        });
        false
    }

    fn run(&mut self) {
        while self.lex_text() {
            if !self.lex_left_delim() {
                return;
            }
            if !self.lex_inside_action() {
                return;
            }
        }
    }

    /// Scans text up to the next `{{`; returns false at the end of input.
    fn lex_text(&mut self) -> bool {
        match self.rest().find(LEFT) {
            Some(off) => {
                let delim_at = self.pos + off;
                let mut text_end = delim_at;
                if has_left_trim(&self.input[delim_at + LEFT.len()..]) {
                    text_end = self.input[..delim_at]
                        .trim_end_matches(is_space)
                        .len()
                        .max(self.start);
                }
                self.skip_to(delim_at);
                if text_end > self.start {
                    let text = self.input[self.start..text_end].to_string();
                    self.items.push(Item {
                        tok: Tok::Text(text),
                        pos: self.start,
                        line: self.start_line,
                    });
                }
                self.ignore();
                true
            }
            None => {
                let end = self.input.len();
                self.skip_to(end);
                if end > self.start {
                    let text = self.input[self.start..end].to_string();
                    self.emit(Tok::Text(text));
                }
                self.emit(Tok::Eof);
                false
            }
        }
    }

    /// At `{{`: a comment is skipped whole; otherwise emits the delimiter. Returns whether an
    /// action follows (false after an error; a comment is followed by more text, not an action).
    fn lex_left_delim(&mut self) -> bool {
        self.pos += LEFT.len();
        let trim = has_left_trim(self.rest());
        let after_marker = if trim { 2 } else { 0 };
        if self.rest()[after_marker..].starts_with(COMMENT_OPEN) {
            self.pos += after_marker;
            self.ignore();
            return self.lex_comment() && self.lex_text_after_comment();
        }
        self.emit(Tok::LeftDelim);
        self.pos += after_marker;
        self.ignore();
        self.paren_depth = 0;
        true
    }

    /// A comment is done; the caller loop expects to be inside an action next, so this lexes
    /// the following text and the next left delimiter itself.
    fn lex_text_after_comment(&mut self) -> bool {
        if !self.lex_text() {
            return false;
        }
        self.lex_left_delim()
    }

    fn lex_comment(&mut self) -> bool {
        self.pos += COMMENT_OPEN.len();
        let Some(off) = self.rest().find(COMMENT_CLOSE) else {
            return self.error("unclosed comment".into());
        };
        let close = self.pos + off;
        self.skip_to(close + COMMENT_CLOSE.len());
        let (at, trim) = self.at_right_delim();
        if !at {
            return self.error("comment ends before closing delimiter".into());
        }
        self.pos += if trim { 2 } else { 0 } + RIGHT.len();
        if trim {
            self.skip_leading_space();
        }
        self.ignore();
        true
    }

    fn skip_leading_space(&mut self) {
        let skipped = self.rest().len() - self.rest().trim_start_matches(is_space).len();
        let target = self.pos + skipped;
        self.skip_to(target);
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest();
        if has_right_trim(rest) && rest[2..].starts_with(RIGHT) {
            return (true, true);
        }
        (rest.starts_with(RIGHT), false)
    }

    /// Lexes the inside of an action up to and including `}}`. Returns false after an error.
    fn lex_inside_action(&mut self) -> bool {
        loop {
            let (at, trim) = self.at_right_delim();
            if at {
                if self.paren_depth != 0 {
                    return self.error("unclosed left paren".into());
                }
                if trim {
                    self.pos += 2;
                    self.ignore();
                }
                self.pos += RIGHT.len();
                self.emit(Tok::RightDelim);
                if trim {
                    self.skip_leading_space();
                    self.ignore();
                }
                return true;
            }
            let Some(c) = self.next() else {
                return self.error("unclosed action".into());
            };
            let ok = match c {
                c if is_space(c) => self.lex_space(),
                '=' => {
                    self.emit(Tok::Assign);
                    true
                }
                ':' => {
                    if self.next() != Some('=') {
                        return self.error("expected :=".into());
                    }
                    self.emit(Tok::Declare);
                    true
                }
                '|' => {
                    self.emit(Tok::Pipe);
                    true
                }
                '"' => self.lex_quote(),
                '`' => self.lex_raw_quote(),
                '$' => self.lex_variable(),
                '\'' => self.lex_char(),
                '.' => {
                    if self.peek().is_some_and(|c| c.is_ascii_digit()) {
                        self.backup('.');
                        self.lex_number()
                    } else {
                        self.lex_field()
                    }
                }
                '+' | '-' | '0'..='9' => {
                    self.backup(c);
                    self.lex_number()
                }
                c if is_alnum(c) => {
                    self.backup(c);
                    self.lex_identifier()
                }
                '(' => {
                    self.emit(Tok::LeftParen);
                    self.paren_depth += 1;
                    true
                }
                ')' => {
                    if self.paren_depth == 0 {
                        return self.error("unexpected right paren".into());
                    }
                    self.paren_depth -= 1;
                    self.emit(Tok::RightParen);
                    true
                }
                c if c.is_ascii() && !c.is_ascii_control() => {
                    self.emit(Tok::Char(c));
                    true
                }
                c => self.error(format!(
                    "unrecognized character in action: {}",
                    go_char_u(c)
                )),
            };
            if !ok {
                return false;
            }
        }
    }

    fn lex_space(&mut self) -> bool {
        let mut spaces = 1;
        while let Some(c) = self.peek() {
            if !is_space(c) {
                break;
            }
            self.next();
            spaces += 1;
        }
        // A space right before `-}}` belongs to the trim marker.
        let last = self.pos - 1;
        let tail = &self.input[last..];
        if has_right_trim(tail) && tail[2..].starts_with(RIGHT) {
            let c = self.input[last..].chars().next().unwrap_or(' ');
            self.backup(c);
            if spaces == 1 {
                return true;
            }
        }
        self.emit(Tok::Space);
        true
    }

    fn lex_quote(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => {
                    if matches!(self.next(), None | Some('\n')) {
                        return self.error("unterminated quoted string".into());
                    }
                }
                None | Some('\n') => return self.error("unterminated quoted string".into()),
                Some('"') => break,
                Some(_) => {}
            }
        }
        self.emit_word(Tok::Str);
        true
    }

    fn lex_raw_quote(&mut self) -> bool {
        loop {
            match self.next() {
                None => return self.error("unterminated raw quoted string".into()),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit_word(Tok::RawStr);
        true
    }

    fn lex_char(&mut self) -> bool {
        loop {
            match self.next() {
                Some('\\') => {
                    if matches!(self.next(), None | Some('\n')) {
                        return self.error("unterminated character constant".into());
                    }
                }
                None | Some('\n') => return self.error("unterminated character constant".into()),
                Some('\'') => break,
                Some(_) => {}
            }
        }
        self.emit_word(Tok::CharConst);
        true
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            Some(_) => self.rest().starts_with(RIGHT),
        }
    }

    fn scan_alnum(&mut self) {
        while let Some(c) = self.peek() {
            if !is_alnum(c) {
                break;
            }
            self.next();
        }
    }

    fn bad_char(&mut self) -> bool {
        let c = self.peek().unwrap_or(' ');
        self.error(format!("bad character {}", go_char_u(c)))
    }

    fn lex_variable(&mut self) -> bool {
        if self.at_terminator() {
            self.emit(Tok::Variable("$".into()));
            return true;
        }
        self.scan_alnum();
        if !self.at_terminator() {
            return self.bad_char();
        }
        self.emit_word(Tok::Variable);
        true
    }

    fn lex_field(&mut self) -> bool {
        if self.at_terminator() {
            self.emit(Tok::Dot);
            return true;
        }
        self.scan_alnum();
        if !self.at_terminator() {
            return self.bad_char();
        }
        self.emit_word(Tok::Field);
        true
    }

    fn lex_identifier(&mut self) -> bool {
        self.scan_alnum();
        if !self.at_terminator() {
            return self.bad_char();
        }
        let word = &self.input[self.start..self.pos];
        let tok = match word {
            "true" => Tok::Bool(true),
            "false" => Tok::Bool(false),
            "nil" => Tok::Nil,
            _ => match Keyword::from_word(word) {
                Some(k) => Tok::Keyword(k),
                None => Tok::Identifier(word.to_string()),
            },
        };
        self.emit(tok);
        true
    }

    fn lex_number(&mut self) -> bool {
        if !self.scan_number() {
            let bad = self.input[self.start..self.pos].to_string();
            return self.error(format!(
                "bad number syntax: {}",
                super::strconv::go_quote(&bad)
            ));
        }
        if self.peek() == Some('i') {
            self.next();
            let bad = self.input[self.start..self.pos].to_string();
            return self.error(format!("complex numbers are not supported: {bad}"));
        }
        self.emit_word(Tok::Number);
        true
    }

    /// Go's `scanNumber`: sign, base prefix, digits with `_`, fraction and exponent.
    fn scan_number(&mut self) -> bool {
        let accept = |l: &mut Self, set: &str| -> bool {
            match l.peek() {
                Some(c) if set.contains(c) => {
                    l.next();
                    true
                }
                _ => false,
            }
        };
        let accept_run = |l: &mut Self, set: &str| {
            while let Some(c) = l.peek() {
                if !set.contains(c) {
                    break;
                }
                l.next();
            }
        };
        accept(self, "+-");
        let mut digits = "0123456789_";
        if accept(self, "0") {
            if accept(self, "xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if accept(self, "oO") {
                digits = "01234567_";
            } else if accept(self, "bB") {
                digits = "01_";
            }
        }
        accept_run(self, digits);
        if accept(self, ".") {
            accept_run(self, digits);
        }
        if digits.len() == 11 && accept(self, "eE") {
            accept(self, "+-");
            accept_run(self, "0123456789_");
        }
        if digits.len() == 23 && accept(self, "pP") {
            accept(self, "+-");
            accept_run(self, "0123456789_");
        }
        !self.peek().is_some_and(|c| is_alnum(c) && c != 'i')
    }
}

/// Go's `%#U`: `U+0041 'A'` for printable characters, `U+00A0` otherwise.
pub(crate) fn go_char_u(c: char) -> String {
    let code = format!("U+{:04X}", c as u32);
    if c.is_alphanumeric() || (c.is_ascii_graphic()) {
        format!("{code} '{c}'")
    } else {
        code
    }
}
