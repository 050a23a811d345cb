//! Execution of parsed templates with Go's semantics: pipelines pass their value as the last
//! argument of the next command, variables live until the enclosing `{{end}}`, missing map
//! keys give the zero value (`missingkey=zero`, as Prometheus and Alertmanager set it), and
//! errors name the node they happened at: `template: NAME:LINE:COL: executing "NAME" at
//! <NODE>: MSG`. In HTML mode (Alertmanager's `html/template` executions) text and printed
//! values go through [`super::html`]'s contextual escaping.
//!
//! - `call`: pipelines, commands, function calls and argument types.
//! - `field`: variables, fields, methods and map keys, and what `range` iterates over.

mod call;
mod field;

use std::collections::HashMap;
use std::sync::Arc;

use super::Env;
use super::ast::{ArgKind, Branch, List, Located, Node, TemplateCall};
use super::fmt::write_printable;
use super::html::{CmdInfo, HtmlEscaper, Input};
use super::signature::FuncSet;
use super::strconv::go_quote;
use super::value::Value;

/// How deep `{{template}}` calls may nest (Go allows 100000; a Rust stack does not).
const TEMPLATE_DEPTH_MAX: usize = 100;
/// The most output one execution may write, in bytes.
const OUTPUT_BYTES_MAX: usize = 1 << 20;
/// The most nodes and range iterations one execution may walk.
const STEPS_MAX: usize = 1_000_000;

type R<T> = Result<T, String>;

/// The text a template was parsed from, and the name of that parse (Go's `ParseName`): what
/// an error's `NAME:LINE:COL` refers to.
#[derive(Debug)]
pub(crate) struct Source {
    pub name: String,
    pub text: String,
}

/// A defined template: its tree and where it was parsed from.
#[derive(Debug)]
pub(crate) struct Defined {
    pub list: List,
    pub source: Arc<Source>,
}

/// Templates by name, as one Go template set holds them.
pub(crate) type TreeSet = HashMap<String, Arc<Defined>>;

/// How a list's walk ended: normally, or at `{{break}}` / `{{continue}}`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// How to execute: which functions exist, and whether output is HTML (escaped by context).
#[derive(Clone, Copy)]
pub(crate) struct Mode {
    pub funcs: FuncSet,
    pub html: bool,
}

/// Executes template `name` of `trees` on `data`; `top` names the set in errors.
pub(crate) fn execute(
    trees: &TreeSet,
    top: &str,
    name: &str,
    data: Value,
    env: &Env<'_>,
    mode: Mode,
) -> R<String> {
    let Some(root) = trees.get(name) else {
        return Err(format!(
            "template: no template {} associated with template {}",
            go_quote(name),
            go_quote(top)
        ));
    };
    let mut exec = Exec {
        source: &root.source,
        trees,
        env,
        funcs: mode.funcs,
        html: mode.html.then(HtmlEscaper::default),
        name: name.to_string(),
        vars: vec![("$".into(), data.clone())],
        depth: 0,
        steps: 0,
        at: None,
        out: String::new(),
    };
    exec.walk_list(&data, &root.list)?;
    if let Some(html) = &exec.html {
        html.finish()?;
    }
    Ok(exec.out)
}

struct Exec<'t, 'e> {
    /// Where the template being executed was parsed from.
    source: &'t Source,
    trees: &'t TreeSet,
    env: &'e Env<'e>,
    funcs: FuncSet,
    /// The HTML context, in HTML mode.
    html: Option<HtmlEscaper>,
    /// The template being executed (`{{template}}` switches it).
    name: String,
    vars: Vec<(String, Value)>,
    depth: usize,
    steps: usize,
    /// The node errors point at: the last one evaluation touched, as in Go.
    at: Option<&'t dyn Located>,
    out: String,
}

impl<'t> Exec<'t, '_> {
    /// `NAME:LINE:COL` of a node, as Go's `ErrorContext` writes it.
    fn location(&self, node: &dyn Located) -> String {
        let text = &self.source.text;
        let pos = node.pos().min(text.len());
        let before = &text[..pos];
        let line = 1 + before.matches('\n').count();
        let col = before.rfind('\n').map_or(pos, |nl| pos - nl - 1);
        format!("{}:{line}:{col}", self.source.name)
    }

    fn errorf(&self, msg: impl std::fmt::Display) -> String {
        let name = go_quote(&self.name);
        let Some(node) = self.at else {
            return format!("template: {}: {msg}", self.name);
        };
        let location = self.location(node);
        format!("template: {location}: executing {name} at <{node}>: {msg}")
    }

    fn step(&mut self) -> R<()> {
        self.steps += 1;
        if self.steps > STEPS_MAX {
            return Err(self.errorf(format!("execution takes more than {STEPS_MAX} steps")));
        }
        if self.out.len() > OUTPUT_BYTES_MAX {
            return Err(self.errorf(format!("output exceeds {OUTPUT_BYTES_MAX} bytes")));
        }
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &'t List) -> R<Flow> {
        for node in list {
            let flow = self.walk(dot, node)?;
            if flow != Flow::Normal {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &'t Node) -> R<Flow> {
        self.step()?;
        match node {
            Node::Text(text) => match &mut self.html {
                Some(html) => {
                    let escaped = html.text(text)?;
                    self.out.push_str(&escaped);
                }
                None => self.out.push_str(text),
            },
            Node::Action(action) if self.html.is_some() && action.pipe.decl.is_empty() => {
                self.walk_html_action(dot, action)?;
            }
            Node::Action(action) => {
                self.at = Some(action);
                let value = self.eval_pipeline(dot, &action.pipe)?;
                if action.pipe.decl.is_empty() {
                    self.at = Some(action);
                    match value {
                        Value::Nil => self.out.push_str("<no value>"),
                        v => write_printable(&mut self.out, &v),
                    }
                }
            }
            Node::If(branch) => return self.walk_if_or_with(dot, branch, false),
            Node::With(branch) => return self.walk_if_or_with(dot, branch, true),
            Node::Range(branch) => return self.walk_range(dot, branch),
            Node::Template(call) => self.walk_template(dot, call)?,
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    /// An action in HTML mode: its value escaped for the context it is printed in, as
    /// `html/template` rewrites the pipeline (a trailing `html` or `urlquery` merged with the
    /// escapers it stands for).
    fn walk_html_action(&mut self, dot: &Value, action: &'t super::ast::Action) -> R<()> {
        self.at = Some(action);
        let cmds = &action.pipe.cmds;
        let info: Vec<CmdInfo> = cmds
            .iter()
            .map(|cmd| CmdInfo {
                ident: match &cmd.args[0].kind {
                    ArgKind::Identifier(name) => Some(name.clone()),
                    _ => None,
                },
                args: cmd.args.len(),
            })
            .collect();
        let location = self.location(action);
        let Some(html) = &mut self.html else {
            return Ok(());
        };
        let plan = html
            .plan(&info)
            .map_err(|e| format!("html/template:{location}: {e}"))?;
        let value = match plan.input {
            Input::Pipeline => self.eval_pipeline(dot, &action.pipe)?,
            Input::WithoutLast => self.eval_cmds(dot, &cmds[..cmds.len() - 1])?,
            Input::EvalArgs => {
                let mut args = Vec::new();
                for arg in &cmds[0].args[1..] {
                    args.push(self.eval_arg(dot, super::signature::Param::Any, arg)?);
                }
                Value::Str(super::html::eval_args(&args))
            }
        };
        let escaped = plan.apply(&value);
        self.out.push_str(&escaped);
        Ok(())
    }

    fn walk_if_or_with(&mut self, dot: &Value, branch: &'t Branch, with: bool) -> R<Flow> {
        let mark = self.vars.len();
        let value = self.eval_pipeline(dot, &branch.pipe)?;
        let flow = if value.truth() {
            self.walk_list(if with { &value } else { dot }, &branch.list)?
        } else if let Some(else_list) = &branch.else_list {
            self.walk_list(dot, else_list)?
        } else {
            Flow::Normal
        };
        self.vars.truncate(mark);
        Ok(flow)
    }

    fn walk_range(&mut self, dot: &Value, branch: &'t Branch) -> R<Flow> {
        let outer = self.vars.len();
        let value = self.eval_pipeline(dot, &branch.pipe)?;
        let mark = self.vars.len();
        let decls = branch.pipe.decl.len();
        let items = self.range_items(&value, decls)?;
        if let (true, Some(else_list)) = (items.is_empty(), &branch.else_list) {
            let flow = self.walk_list(dot, else_list)?;
            self.vars.truncate(outer);
            return Ok(flow);
        }
        for (index, elem) in items {
            self.step()?;
            if decls > 0 {
                let top = self.vars.len() - 1;
                self.vars[top].1 = elem.clone();
            }
            if decls > 1 {
                let second = self.vars.len() - 2;
                self.vars[second].1 = index;
            }
            let flow = self.walk_list(&elem, &branch.list)?;
            self.vars.truncate(mark);
            if flow == Flow::Break {
                break;
            }
        }
        self.vars.truncate(outer);
        Ok(Flow::Normal)
    }

    fn walk_template(&mut self, dot: &Value, call: &'t TemplateCall) -> R<()> {
        self.at = Some(call);
        let Some(defined) = self.trees.get(&call.name) else {
            return Err(self.errorf(format!("template {} not defined", go_quote(&call.name))));
        };
        if self.depth >= TEMPLATE_DEPTH_MAX {
            return Err(self.errorf(format!(
                "exceeded maximum template depth ({TEMPLATE_DEPTH_MAX})"
            )));
        }
        let new_dot = match &call.pipe {
            Some(pipe) => self.eval_pipeline(dot, pipe)?,
            None => Value::Nil,
        };
        let vars = std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
        let name = std::mem::replace(&mut self.name, call.name.clone());
        let source = std::mem::replace(&mut self.source, &defined.source);
        self.depth += 1;
        let result = self.walk_list(&new_dot, &defined.list);
        self.depth -= 1;
        self.source = source;
        self.name = name;
        self.vars = vars;
        result.map(|_| ())
    }
}
