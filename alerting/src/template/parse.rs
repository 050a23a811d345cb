//! The parser of Go's `text/template`: tokens to trees, one per template (`{{define}}` and
//! `{{block}}` add more), checking at parse time what Go checks (functions exist, variables
//! are declared, `{{break}}` is inside `{{range}}`). Errors read `template: NAME:LINE: MSG`.

use std::collections::HashMap;

use super::ast::{Action, Arg, ArgKind, Branch, Command, List, Node, Pipe, TemplateCall};
use super::lex::lex;
use super::literal::{parse_number, unquote};
use super::token::{Item, Keyword, Tok};

/// The parsed templates of one text: the top-level one under its name, plus the defined ones.
pub(crate) type Trees = HashMap<String, List>;

/// Parses `text` as template `name`; `has_function` says which function names exist.
pub(crate) fn parse(
    name: &str,
    text: &str,
    has_function: &dyn Fn(&str) -> bool,
) -> Result<Trees, String> {
    let mut p = Parser {
        name,
        items: lex(text),
        i: 0,
        vars: vec!["$".into()],
        range_depth: 0,
        trees: HashMap::new(),
        has_function,
    };
    let root = p.parse_top()?;
    p.add(name.to_string(), root)?;
    Ok(p.trees)
}

/// What ends a list: `{{end}}`, or `{{else}}` possibly followed by `if`/`with` (`{{else if}}`).
enum Terminator {
    End,
    Else(Option<Keyword>),
}

enum Parsed {
    Node(Node),
    Term(Terminator),
}

struct Parser<'a> {
    name: &'a str,
    items: Vec<Item>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    trees: Trees,
    has_function: &'a dyn Fn(&str) -> bool,
}

type R<T> = Result<T, String>;

impl Parser<'_> {
    fn item(&self, i: usize) -> &Item {
        &self.items[i.min(self.items.len() - 1)]
    }

    fn next(&mut self) -> Item {
        let item = self.item(self.i).clone();
        if self.i < self.items.len() {
            self.i += 1;
        }
        item
    }

    fn backup(&mut self) {
        self.i -= 1;
    }

    fn peek(&self) -> &Item {
        self.item(self.i)
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let item = self.next();
            if item.tok != Tok::Space {
                return item;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let item = self.next_non_space();
        self.backup();
        item
    }

    fn errorf(&self, msg: impl std::fmt::Display) -> String {
        let line = self.item(self.i.saturating_sub(1)).line;
        format!("template: {}:{}: {}", self.name, line, msg)
    }

    fn unexpected<T>(&self, item: &Item, context: &str) -> R<T> {
        if let Tok::Error(msg) = &item.tok {
            return Err(self.errorf(msg));
        }
        Err(self.errorf(format!("unexpected {item} in {context}")))
    }

    fn expect_right_delim(&mut self, context: &str) -> R<Item> {
        let item = self.next_non_space();
        if item.tok != Tok::RightDelim {
            return self.unexpected(&item, context);
        }
        Ok(item)
    }

    /// Adds a tree; a second non-empty definition of a name is an error.
    fn add(&mut self, name: String, list: List) -> R<()> {
        if let Some(existing) = self.trees.get(&name) {
            if !is_empty(existing) && !is_empty(&list) {
                let quoted = super::strconv::go_quote(&name);
                return Err(self.errorf(format!(
                    "template: multiple definition of template {quoted}"
                )));
            }
            if is_empty(&list) {
                return Ok(());
            }
        }
        self.trees.insert(name, list);
        Ok(())
    }

    fn parse_top(&mut self) -> R<List> {
        let mut root = List::new();
        while self.peek().tok != Tok::Eof {
            if self.peek().tok == Tok::LeftDelim {
                let mark = self.i;
                self.next();
                if self.next_non_space().tok == Tok::Keyword(Keyword::Define) {
                    self.parse_definition()?;
                    continue;
                }
                self.i = mark;
            }
            match self.text_or_action()? {
                Parsed::Node(n) => root.push(n),
                Parsed::Term(Terminator::End) => return Err(self.errorf("unexpected {{end}}")),
                Parsed::Term(Terminator::Else(_)) => return Err(self.errorf("unexpected {{else}}")),
            }
        }
        if let Tok::Error(msg) = &self.peek().tok {
            return Err(self.errorf(msg));
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> R<()> {
        const CONTEXT: &str = "define clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        self.expect_right_delim(CONTEXT)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved;
        if !matches!(end, Terminator::End) {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {CONTEXT}")));
        }
        self.add(name, list)
    }

    fn template_name(&self, token: &Item, context: &str) -> R<String> {
        match &token.tok {
            Tok::Str(q) | Tok::RawStr(q) => unquote(q).map_err(|e| self.errorf(e)),
            _ => self.unexpected(token, context),
        }
    }

    /// Nodes up to `{{end}}` or `{{else}}`.
    fn item_list(&mut self) -> R<(List, Terminator)> {
        let mut list = List::new();
        loop {
            let peek = self.peek_non_space();
            match &peek.tok {
                Tok::Eof => return Err(self.errorf("unexpected EOF")),
                Tok::Error(msg) => return Err(self.errorf(msg)),
                _ => {}
            }
            match self.text_or_action()? {
                Parsed::Node(n) => list.push(n),
                Parsed::Term(t) => return Ok((list, t)),
            }
        }
    }

    fn text_or_action(&mut self) -> R<Parsed> {
        let token = self.next_non_space();
        match token.tok {
            Tok::Text(text) => Ok(Parsed::Node(Node::Text(text))),
            Tok::LeftDelim => self.action(),
            _ => self.unexpected(&token, "input"),
        }
    }

    fn action(&mut self) -> R<Parsed> {
        let token = self.next_non_space();
        let node = match token.tok {
            Tok::Keyword(Keyword::Block) => self.block_control()?,
            Tok::Keyword(Keyword::Else) => return self.else_control(),
            Tok::Keyword(Keyword::End) => {
                self.expect_right_delim("end")?;
                return Ok(Parsed::Term(Terminator::End));
            }
            Tok::Keyword(Keyword::If) => Node::If(self.parse_control(Keyword::If)?),
            Tok::Keyword(Keyword::Range) => Node::Range(self.parse_control(Keyword::Range)?),
            Tok::Keyword(Keyword::With) => Node::With(self.parse_control(Keyword::With)?),
            Tok::Keyword(Keyword::Template) => self.template_control()?,
            Tok::Keyword(k @ (Keyword::Break | Keyword::Continue)) => {
                let word = if k == Keyword::Break {
                    "break"
                } else {
                    "continue"
                };
                if self.range_depth == 0 {
                    return Err(self.errorf(format!("{{{{{word}}}}} outside {{{{range}}}}")));
                }
                self.expect_right_delim(&format!("{{{{{word}}}}}"))?;
                if k == Keyword::Break {
                    Node::Break
                } else {
                    Node::Continue
                }
            }
            _ => {
                self.backup();
                let pos = self.peek().pos;
                let pipe = self.pipeline("command", Tok::RightDelim)?;
                Node::Action(Action { pos, pipe })
            }
        };
        Ok(Parsed::Node(node))
    }

    fn else_control(&mut self) -> R<Parsed> {
        let peek = self.peek_non_space();
        if let Tok::Keyword(k @ (Keyword::If | Keyword::With)) = peek.tok {
            return Ok(Parsed::Term(Terminator::Else(Some(k))));
        }
        self.expect_right_delim("else")?;
        Ok(Parsed::Term(Terminator::Else(None)))
    }

    /// `{{if}}`, `{{range}}`, `{{with}}` after the keyword, through the matching `{{end}}`.
    fn parse_control(&mut self, kind: Keyword) -> R<Branch> {
        let context = match kind {
            Keyword::If => "if",
            Keyword::Range => "range",
            _ => "with",
        };
        let vars_mark = self.vars.len();
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        if kind == Keyword::Range {
            self.range_depth += 1;
        }
        let listed = self.item_list();
        if kind == Keyword::Range {
            self.range_depth -= 1;
        }
        let (list, next) = listed?;
        let mut else_list = None;
        match next {
            Terminator::End => {}
            Terminator::Else(chained) => {
                if chained.is_some() && chained == Some(kind) && kind != Keyword::Range {
                    // `{{else if x}}` is `{{else}}{{if x}}...{{end}}{{end}}` with one `{{end}}`.
                    let kw = self.next_non_space();
                    let nested = self.parse_control(kind)?;
                    let node = if kind == Keyword::If {
                        Node::If(nested)
                    } else {
                        Node::With(nested)
                    };
                    let _ = kw;
                    else_list = Some(vec![node]);
                } else {
                    if chained.is_some() {
                        // `{{else if}}` inside `{{with}}` or `{{range}}`: Go expects `}}`.
                        let item = self.next_non_space();
                        return self.unexpected(&item, "else");
                    }
                    let (list, end) = self.item_list()?;
                    if !matches!(end, Terminator::End) {
                        return Err(self.errorf("expected end; found {{else}}"));
                    }
                    else_list = Some(list);
                }
            }
        }
        self.vars.truncate(vars_mark);
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    fn block_control(&mut self) -> R<Node> {
        const CONTEXT: &str = "block clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, Tok::RightDelim)?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        let (list, end) = self.item_list()?;
        self.vars = saved;
        if !matches!(end, Terminator::End) {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {CONTEXT}")));
        }
        self.add(name.clone(), list)?;
        Ok(Node::Template(TemplateCall {
            pos: token.pos,
            name,
            pipe: Some(pipe),
        }))
    }

    fn template_control(&mut self) -> R<Node> {
        const CONTEXT: &str = "template clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = if self.next_non_space().tok != Tok::RightDelim {
            self.backup();
            Some(self.pipeline(CONTEXT, Tok::RightDelim)?)
        } else {
            None
        };
        Ok(Node::Template(TemplateCall {
            pos: token.pos,
            name,
            pipe,
        }))
    }

    /// Declarations, then commands separated by `|`, up to `end` (`}}` consumed, `)` left).
    fn pipeline(&mut self, context: &str, end: Tok) -> R<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        loop {
            let v = self.peek_non_space();
            let Tok::Variable(name) = &v.tok else { break };
            let mark = self.i;
            self.next_non_space();
            let next = self.peek_non_space();
            match next.tok {
                Tok::Assign | Tok::Declare => {
                    pipe.is_assign = next.tok == Tok::Assign;
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                    break;
                }
                Tok::Char(',') => {
                    self.next_non_space();
                    pipe.decl.push(name.clone());
                    self.vars.push(name.clone());
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().tok {
                            Tok::Variable(_) | Tok::RightDelim | Tok::RightParen => continue,
                            _ => return Err(self.errorf("range can only initialize variables")),
                        }
                    }
                    return Err(self.errorf(format!("too many declarations in {context}")));
                }
                _ => {
                    self.i = mark;
                    break;
                }
            }
        }
        loop {
            let token = self.next_non_space();
            match token.tok {
                Tok::RightDelim | Tok::RightParen => {
                    if token.tok != end {
                        return self.unexpected(&token, context);
                    }
                    self.check_pipeline(&pipe, context)?;
                    if token.tok == Tok::RightParen {
                        self.backup();
                    }
                    return Ok(pipe);
                }
                Tok::Bool(_)
                | Tok::CharConst(_)
                | Tok::Dot
                | Tok::Field(_)
                | Tok::Identifier(_)
                | Tok::Number(_)
                | Tok::Nil
                | Tok::RawStr(_)
                | Tok::Str(_)
                | Tok::Variable(_)
                | Tok::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&token, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> R<()> {
        if pipe.cmds.is_empty() {
            return Err(self.errorf(format!("missing value for {context}")));
        }
        for (i, cmd) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                cmd.args[0].kind,
                ArgKind::Bool(_)
                    | ArgKind::Dot
                    | ArgKind::Nil
                    | ArgKind::Number(_)
                    | ArgKind::Str { .. }
            ) {
                return Err(self.errorf(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                )));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> R<Command> {
        let pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        loop {
            self.peek_non_space();
            if let Some(operand) = self.operand()? {
                args.push(operand);
            }
            let token = self.next();
            match token.tok {
                Tok::Space => continue,
                Tok::Error(msg) => return Err(self.errorf(msg)),
                Tok::RightDelim | Tok::RightParen => self.backup(),
                Tok::Pipe => {}
                _ => return Err(self.errorf(format!("unexpected {token} in operand"))),
            }
            break;
        }
        if args.is_empty() {
            return Err(self.errorf("empty command"));
        }
        Ok(Command { pos, args })
    }

    fn operand(&mut self) -> R<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        let Tok::Field(_) = self.peek().tok else {
            return Ok(Some(node));
        };
        let pos = self.peek().pos;
        let mut fields = Vec::new();
        while let Tok::Field(f) = &self.peek().tok {
            fields.push(f[1..].to_string());
            self.next();
        }
        let kind = match node.kind {
            ArgKind::Field(mut idents) => {
                idents.extend(fields);
                ArgKind::Field(idents)
            }
            ArgKind::Variable(mut idents) => {
                idents.extend(fields);
                ArgKind::Variable(idents)
            }
            ArgKind::Bool(_)
            | ArgKind::Str { .. }
            | ArgKind::Number(_)
            | ArgKind::Nil
            | ArgKind::Dot => {
                let quoted = super::strconv::go_quote(&node.to_string());
                return Err(self.errorf(format!("unexpected . after term {quoted}")));
            }
            _ => ArgKind::Chain {
                node: Box::new(node),
                fields,
            },
        };
        Ok(Some(Arg { pos, kind }))
    }

    fn term(&mut self) -> R<Option<Arg>> {
        let token = self.next_non_space();
        let pos = token.pos;
        let kind = match token.tok {
            Tok::Error(msg) => return Err(self.errorf(msg)),
            Tok::Identifier(name) => {
                if !(self.has_function)(&name) {
                    return Err(self.errorf(format!(
                        "function {} not defined",
                        super::strconv::go_quote(&name)
                    )));
                }
                ArgKind::Identifier(name)
            }
            Tok::Dot => ArgKind::Dot,
            Tok::Nil => ArgKind::Nil,
            Tok::Variable(name) => {
                if !self.vars.contains(&name) {
                    return Err(self.errorf(format!(
                        "undefined variable {}",
                        super::strconv::go_quote(&name)
                    )));
                }
                ArgKind::Variable(vec![name])
            }
            Tok::Field(f) => ArgKind::Field(vec![f[1..].to_string()]),
            Tok::Bool(b) => ArgKind::Bool(b),
            Tok::Number(text) | Tok::CharConst(text) => {
                ArgKind::Number(parse_number(&text).map_err(|e| self.errorf(e))?)
            }
            Tok::LeftParen => {
                let pipe = self.pipeline("parenthesized pipeline", Tok::RightParen)?;
                let token = self.next();
                if token.tok != Tok::RightParen {
                    return Err(self.errorf(format!("unclosed right paren: unexpected {token}")));
                }
                return Ok(Some(Arg {
                    pos: pipe.pos,
                    kind: ArgKind::Pipe(Box::new(pipe)),
                }));
            }
            Tok::Str(quoted) | Tok::RawStr(quoted) => {
                let text = unquote(&quoted).map_err(|e| self.errorf(e))?;
                ArgKind::Str { quoted, text }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        };
        Ok(Some(Arg { pos, kind }))
    }
}

/// Go's `IsEmptyTree`: only whitespace text.
pub(crate) fn is_empty(list: &List) -> bool {
    list.iter()
        .all(|n| matches!(n, Node::Text(t) if t.trim().is_empty()))
}
