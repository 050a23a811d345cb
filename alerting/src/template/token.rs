//! The tokens of Go's `text/template` lexer, and how Go prints them in parse errors.

use std::fmt;

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// Plain text outside actions (after trimming).
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Bool(bool),
    /// A character constant as written, quotes included.
    CharConst(String),
    /// A number as written.
    Number(String),
    /// A quoted string as written, quotes included.
    Str(String),
    /// A raw string as written, backquotes included.
    RawStr(String),
    /// `$` or `$name`.
    Variable(String),
    /// `.name`.
    Field(String),
    Identifier(String),
    Dot,
    Nil,
    Pipe,
    LeftParen,
    RightParen,
    /// `:=`.
    Declare,
    /// `=`.
    Assign,
    /// Another ASCII character allowed in actions (`,`).
    Char(char),
    Keyword(Keyword),
    Eof,
    Error(String),
}

/// The keywords of the template language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keyword {
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
}

impl Keyword {
    /// The keyword spelled `word`, if it is one.
    pub(crate) fn from_word(word: &str) -> Option<Keyword> {
        Some(match word {
            "block" => Keyword::Block,
            "break" => Keyword::Break,
            "continue" => Keyword::Continue,
            "define" => Keyword::Define,
            "else" => Keyword::Else,
            "end" => Keyword::End,
            "if" => Keyword::If,
            "range" => Keyword::Range,
            "template" => Keyword::Template,
            "with" => Keyword::With,
            _ => return None,
        })
    }

    fn word(self) -> &'static str {
        match self {
            Keyword::Block => "block",
            Keyword::Break => "break",
            Keyword::Continue => "continue",
            Keyword::Define => "define",
            Keyword::Else => "else",
            Keyword::End => "end",
            Keyword::If => "if",
            Keyword::Range => "range",
            Keyword::Template => "template",
            Keyword::With => "with",
        }
    }
}

/// A token with where it starts: byte offset and 1-based line.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub tok: Tok,
    pub pos: usize,
    pub line: usize,
}

impl Item {
    /// The token's text as Go's `item.val` holds it.
    fn val(&self) -> String {
        match &self.tok {
            Tok::Text(s)
            | Tok::CharConst(s)
            | Tok::Number(s)
            | Tok::Str(s)
            | Tok::RawStr(s)
            | Tok::Variable(s)
            | Tok::Field(s)
            | Tok::Identifier(s)
            | Tok::Error(s) => s.clone(),
            Tok::LeftDelim => "{{".into(),
            Tok::RightDelim => "}}".into(),
            Tok::Space => " ".into(),
            Tok::Bool(b) => b.to_string(),
            Tok::Dot => ".".into(),
            Tok::Nil => "nil".into(),
            Tok::Pipe => "|".into(),
            Tok::LeftParen => "(".into(),
            Tok::RightParen => ")".into(),
            Tok::Declare => ":=".into(),
            Tok::Assign => "=".into(),
            Tok::Char(c) => c.to_string(),
            Tok::Keyword(k) => k.word().into(),
            Tok::Eof => String::new(),
        }
    }
}

/// Go's `item.String()`, used in "unexpected ..." parse errors.
impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.tok {
            Tok::Eof => f.write_str("EOF"),
            Tok::Error(msg) => f.write_str(msg),
            Tok::Keyword(k) => write!(f, "<{}>", k.word()),
            Tok::Nil => f.write_str("<nil>"),
            Tok::Dot => f.write_str("<.>"),
            _ => {
                let val = self.val();
                if val.chars().count() > 10 {
                    let head: String = val.chars().take(10).collect();
                    write!(f, "{}...", super::strconv::go_quote(&head))
                } else {
                    f.write_str(&super::strconv::go_quote(&val))
                }
            }
        }
    }
}
