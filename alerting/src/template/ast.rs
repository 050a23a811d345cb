//! The parse tree of a template, as Go's `text/template/parse` builds it. Every node keeps its
//! byte offset (for `template: NAME:LINE:COL` errors) and prints as Go prints it (the `<...>`
//! context of execution errors).

use std::fmt;

/// A sequence of nodes (Go's `ListNode`).
pub(crate) type List = Vec<Node>;

/// A node of a template's body.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    Text(String),
    Action(Action),
    If(Branch),
    Range(Branch),
    With(Branch),
    Template(TemplateCall),
    Break,
    Continue,
}

/// `{{pipeline}}`: its value is printed unless it declares variables.
#[derive(Clone, Debug)]
pub(crate) struct Action {
    pub pos: usize,
    pub pipe: Pipe,
}

/// `{{if}}`, `{{range}}` or `{{with}}`, with an optional `{{else}}` list.
#[derive(Clone, Debug)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

/// `{{template "name" pipeline}}`.
#[derive(Clone, Debug)]
pub(crate) struct TemplateCall {
    pub pos: usize,
    pub name: String,
    pub pipe: Option<Pipe>,
}

/// Declarations and commands separated by `|`.
#[derive(Clone, Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    /// `=` rather than `:=`.
    pub is_assign: bool,
    /// The declared or assigned variables, `$` included in their names.
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

/// A function or field call, or a single operand: space-separated arguments.
#[derive(Clone, Debug)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// An operand.
#[derive(Clone, Debug)]
pub(crate) struct Arg {
    pub pos: usize,
    pub kind: ArgKind,
}

/// What an operand is.
#[derive(Clone, Debug)]
pub(crate) enum ArgKind {
    /// A function name.
    Identifier(String),
    Dot,
    Nil,
    Bool(bool),
    Number(Number),
    /// A string literal: as written, and its value.
    Str {
        quoted: String,
        text: String,
    },
    /// `$x.Field1.Field2`: the variable name (with `$`) then the fields.
    Variable(Vec<String>),
    /// `.Field1.Field2`.
    Field(Vec<String>),
    /// `(pipeline)`.
    Pipe(Box<Pipe>),
    /// `(pipeline).Field1.Field2`.
    Chain {
        node: Box<Arg>,
        fields: Vec<String>,
    },
}

/// A number literal with the Go types it fits (Go's `NumberNode`).
#[derive(Clone, Debug)]
pub(crate) struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub is_uint: bool,
    pub float: Option<f64>,
}

/// A node an execution error can point at: its offset and how Go prints it.
pub(crate) trait Located: fmt::Display {
    fn pos(&self) -> usize;
}

impl Located for Pipe {
    fn pos(&self) -> usize {
        self.pos
    }
}

impl Located for Command {
    fn pos(&self) -> usize {
        self.pos
    }
}

impl Located for Arg {
    fn pos(&self) -> usize {
        self.pos
    }
}

impl Located for Action {
    fn pos(&self) -> usize {
        self.pos
    }
}

impl Located for TemplateCall {
    fn pos(&self) -> usize {
        self.pos
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, list: &List) -> fmt::Result {
    for node in list {
        write!(f, "{node}")?;
    }
    Ok(())
}

fn write_branch(f: &mut fmt::Formatter<'_>, word: &str, b: &Branch) -> fmt::Result {
    write!(f, "{{{{{word} {}}}}}", b.pipe)?;
    write_list(f, &b.list)?;
    if let Some(else_list) = &b.else_list {
        f.write_str("{{else}}")?;
        write_list(f, else_list)?;
    }
    f.write_str("{{end}}")
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Text(t) => f.write_str(t),
            Node::Action(a) => write!(f, "{a}"),
            Node::If(b) => write_branch(f, "if", b),
            Node::Range(b) => write_branch(f, "range", b),
            Node::With(b) => write_branch(f, "with", b),
            Node::Template(t) => write!(f, "{t}"),
            Node::Break => f.write_str("{{break}}"),
            Node::Continue => f.write_str("{{continue}}"),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{{{{}}}}}", self.pipe)
    }
}

impl fmt::Display for TemplateCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = super::strconv::go_quote(&self.name);
        match &self.pipe {
            Some(p) => write!(f, "{{{{template {name} {p}}}}}"),
            None => write!(f, "{{{{template {name}}}}}"),
        }
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, cmd) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{cmd}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match &arg.kind {
                ArgKind::Pipe(p) => write!(f, "({p})")?,
                _ => write!(f, "{arg}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ArgKind::Identifier(name) => f.write_str(name),
            ArgKind::Dot => f.write_str("."),
            ArgKind::Nil => f.write_str("nil"),
            ArgKind::Bool(b) => write!(f, "{b}"),
            ArgKind::Number(n) => f.write_str(&n.text),
            ArgKind::Str { quoted, .. } => f.write_str(quoted),
            ArgKind::Variable(idents) => f.write_str(&idents.join(".")),
            ArgKind::Field(idents) => {
                for ident in idents {
                    write!(f, ".{ident}")?;
                }
                Ok(())
            }
            ArgKind::Pipe(p) => write!(f, "{p}"),
            ArgKind::Chain { node, fields } => {
                match &node.kind {
                    ArgKind::Pipe(p) => write!(f, "({p})")?,
                    _ => write!(f, "{node}")?,
                }
                for field in fields {
                    write!(f, ".{field}")?;
                }
                Ok(())
            }
        }
    }
}
