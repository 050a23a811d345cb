//! A coarse PromQL tokenizer for the checks and rewrites that run on the query text itself:
//! the nesting bound before parsing ([`super::depth`]), the raw-string rewrite
//! ([`super::raw_strings`]) and the argument positions of annotations
//! (`eval::positions`). It knows exactly where strings and comments start and end (the only
//! places where a bracket or an operator character is not one); everything else is split
//! just finely enough for those three. It never fails: text the parser would refuse still
//! yields tokens, and the parser reports the error.

/// One token and where it starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Tok<'a> {
    /// A name or keyword: `[A-Za-z_:][A-Za-z0-9_:]*`.
    Ident(&'a str),
    /// `(`, `[` or `{`.
    Open(u8),
    /// `)`, `]` or `}`.
    Close(u8),
    Comma,
    /// One operator character (`+ - * / % ^ = ! < > ~`): `>=` is two of them, `- -1` and
    /// `--1` are both two unary minuses.
    Op,
    /// A string literal; `quote` is `"`, `'` or `` ` ``, `end` the offset just past its
    /// closing quote (the end of the text when it has none).
    Str {
        quote: u8,
        end: usize,
    },
    /// Anything else: numbers, durations, `@`, `.`, `:`.
    Other,
}

/// The tokens of `q` with their byte offsets; whitespace and `#` comments are skipped.
pub(crate) fn tokens(q: &str) -> Vec<(Tok<'_>, usize)> {
    let b = q.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            // A comment ends at a line feed or a carriage return, as promql-parser's lexer ends
            // it: text after a lone `\r` is parsed, so it is tokenized too.
            b'#' => {
                while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' | b'\'' | b'`' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    // A raw (backtick) string has no escapes: it ends at the next backtick.
                    if b[i] == b'\\' && c != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(b.len());
                out.push((Tok::Str { quote: c, end: i }, start));
            }
            b'(' | b'[' | b'{' => {
                out.push((Tok::Open(c), start));
                i += 1;
            }
            b')' | b']' | b'}' => {
                out.push((Tok::Close(c), start));
                i += 1;
            }
            b',' => {
                out.push((Tok::Comma, start));
                i += 1;
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'=' | b'!' | b'<' | b'>' | b'~' => {
                out.push((Tok::Op, start));
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b':')
                {
                    i += 1;
                }
                out.push((Tok::Ident(&q[start..i]), start));
            }
            _ => {
                // Digits, `.`, `@` and any other character (multi-byte ones whole, so that
                // every offset stays on a character boundary).
                i += q[i..].chars().next().map_or(1, char::len_utf8);
                out.push((Tok::Other, start));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(q: &str) -> Vec<Tok<'_>> {
        tokens(q).into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn strings_and_comments_hide_brackets_and_operators() {
        assert_eq!(
            kinds(r#"f("(\"", '[', `\`) # ) + ("#),
            vec![
                Tok::Ident("f"),
                Tok::Open(b'('),
                Tok::Str {
                    quote: b'"',
                    end: 7
                },
                Tok::Comma,
                Tok::Str {
                    quote: b'\'',
                    end: 12
                },
                Tok::Comma,
                Tok::Str {
                    quote: b'`',
                    end: 17
                },
                Tok::Close(b')'),
            ]
        );
    }

    #[test]
    fn operators_are_characters_and_words_are_identifiers() {
        assert_eq!(
            kinds("a>=-b and c=~d"),
            vec![
                Tok::Ident("a"),
                Tok::Op,
                Tok::Op,
                Tok::Op,
                Tok::Ident("b"),
                Tok::Ident("and"),
                Tok::Ident("c"),
                Tok::Op,
                Tok::Op,
                Tok::Ident("d"),
            ]
        );
    }

    #[test]
    fn unterminated_strings_and_unicode_do_not_panic() {
        assert_eq!(
            tokens("\"abc"),
            vec![(
                Tok::Str {
                    quote: b'"',
                    end: 4
                },
                0
            )]
        );
        assert_eq!(
            tokens("\"a\\"),
            vec![(
                Tok::Str {
                    quote: b'"',
                    end: 3
                },
                0
            )]
        );
        assert_eq!(
            tokens("é+1"),
            vec![(Tok::Other, 0), (Tok::Op, 2), (Tok::Other, 3)]
        );
    }
}
