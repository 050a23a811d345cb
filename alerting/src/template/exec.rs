//! Execution of parsed templates with Go's semantics: pipelines pass their value as the last
//! argument of the next command, variables live until the enclosing `{{end}}`, missing map
//! keys give the zero value (Prometheus' `missingkey=zero`), and errors name the node they
//! happened at: `template: NAME:LINE:COL: executing "NAME" at <NODE>: MSG`.

use super::Env;
use super::ast::{Arg, ArgKind, Branch, Command, List, Located, Node, Number, Pipe, TemplateCall};
use super::fmt::{to_v, write_v};
use super::methods;
use super::parse::Trees;
use super::signature::{self, Func, Imp, Param};
use super::strconv::go_quote;
use super::value::Value;

/// How deep `{{template}}` calls may nest (Go allows 100000; a Rust stack does not).
const TEMPLATE_DEPTH_MAX: usize = 100;
/// The most output one execution may write, in bytes.
const OUTPUT_BYTES_MAX: usize = 1 << 20;
/// The most nodes and range iterations one execution may walk.
const STEPS_MAX: usize = 1_000_000;

type R<T> = Result<T, String>;

/// How a list's walk ended: normally, or at `{{break}}` / `{{continue}}`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Break,
    Continue,
}

/// Executes template `name` of `trees` (parsed from `text`, whose top-level name is `top`).
pub(crate) fn execute(
    text: &str,
    top: &str,
    trees: &Trees,
    name: &str,
    data: Value,
    env: &Env<'_>,
) -> R<String> {
    let Some(root) = trees.get(name) else {
        return Err(format!(
            "template: no template {} associated with template {}",
            go_quote(name),
            go_quote(top)
        ));
    };
    let mut exec = Exec {
        text,
        top,
        trees,
        env,
        name: name.to_string(),
        vars: vec![("$".into(), data.clone())],
        depth: 0,
        steps: 0,
        at: None,
        out: String::new(),
    };
    exec.walk_list(&data, root)?;
    Ok(exec.out)
}

struct Exec<'t, 'e> {
    text: &'t str,
    top: &'t str,
    trees: &'t Trees,
    env: &'e Env<'e>,
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
    fn errorf(&self, msg: impl std::fmt::Display) -> String {
        let name = go_quote(&self.name);
        let Some(node) = self.at else {
            return format!("template: {}: {msg}", self.name);
        };
        let pos = node.pos().min(self.text.len());
        let before = &self.text[..pos];
        let line = 1 + before.matches('\n').count();
        let col = before.rfind('\n').map_or(pos, |nl| pos - nl - 1);
        format!(
            "template: {}:{line}:{col}: executing {name} at <{node}>: {msg}",
            self.top
        )
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
            Node::Text(text) => self.out.push_str(text),
            Node::Action(action) => {
                self.at = Some(action);
                let value = self.eval_pipeline(dot, &action.pipe)?;
                if action.pipe.decl.is_empty() {
                    self.at = Some(action);
                    match value {
                        Value::Nil => self.out.push_str("<no value>"),
                        v => write_v(&mut self.out, &v),
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
        let items: Vec<(Value, Value)> = match &value {
            Value::Nil => Vec::new(),
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                .collect(),
            Value::Vector(v) => v
                .iter()
                .enumerate()
                .map(|(i, s)| (Value::Int(i as i64), Value::Sample(s.clone())))
                .collect(),
            Value::LabelMap(m) => m
                .iter()
                .map(|(k, v)| (Value::str(k), Value::str(v)))
                .collect(),
            Value::Map(m) => m.iter().map(|(k, v)| (Value::str(k), v.clone())).collect(),
            Value::Int(n) => {
                if decls > 1 {
                    return Err(self.errorf(format!(
                        "can't use {n} to iterate over more than one variable"
                    )));
                }
                if *n > STEPS_MAX as i64 {
                    return Err(
                        self.errorf(format!("range over {n} exceeds {STEPS_MAX} iterations"))
                    );
                }
                (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect()
            }
            other => return Err(self.errorf(format!("range can't iterate over {}", to_v(other)))),
        };
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
        let Some(list) = self.trees.get(&call.name) else {
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
        self.depth += 1;
        let result = self.walk_list(&new_dot, list);
        self.depth -= 1;
        self.name = name;
        self.vars = vars;
        result.map(|_| ())
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'t Pipe) -> R<Value> {
        self.at = Some(pipe);
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let value = value.unwrap_or_default();
        for var in &pipe.decl {
            if pipe.is_assign {
                self.set_var(var, value.clone())?;
            } else {
                self.vars.push((var.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], fin: &Option<Value>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            let first = args.first().map(ToString::to_string).unwrap_or_default();
            return Err(self.errorf(format!("can't give argument to non-function {first}")));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'t Command, fin: Option<Value>) -> R<Value> {
        let first = &cmd.args[0];
        match &first.kind {
            ArgKind::Field(idents) => {
                self.at = Some(first);
                self.eval_field_chain(dot, dot.clone(), first, idents, &cmd.args, fin)
            }
            ArgKind::Chain { node, fields } => {
                self.at = Some(first);
                let receiver = self.eval_arg(dot, Param::Any, node)?;
                self.eval_field_chain(dot, receiver, first, fields, &cmd.args, fin)
            }
            ArgKind::Identifier(name) => self.eval_function(dot, first, name, cmd, &cmd.args, fin),
            ArgKind::Pipe(pipe) => {
                self.not_a_function(&cmd.args, &fin)?;
                self.eval_pipeline(dot, pipe)
            }
            ArgKind::Variable(idents) => self.eval_variable(dot, first, idents, &cmd.args, fin),
            literal => {
                self.at = Some(first);
                self.not_a_function(&cmd.args, &fin)?;
                match literal {
                    ArgKind::Bool(b) => Ok(Value::Bool(*b)),
                    ArgKind::Dot => Ok(dot.clone()),
                    ArgKind::Nil => Err(self.errorf("nil is not a command")),
                    ArgKind::Number(n) => self.ideal_constant(first, n),
                    ArgKind::Str { text, .. } => Ok(Value::str(text)),
                    _ => Err(self.errorf(format!(
                        "can't evaluate command {}",
                        go_quote(&first.to_string())
                    ))),
                }
            }
        }
    }

    /// A number literal where no type is expected: Go's syntax decides int or float64.
    fn ideal_constant(&mut self, arg: &'t Arg, n: &Number) -> R<Value> {
        self.at = Some(arg);
        let text = &n.text;
        let hex_int = text.len() > 2
            && (text.starts_with("0x") || text.starts_with("0X"))
            && !text.contains(['p', 'P']);
        let rune = text.starts_with('\'');
        match (n.float, n.int) {
            (Some(f), _) if !hex_int && !rune && text.contains(['.', 'e', 'E', 'p', 'P']) => {
                Ok(Value::Float(f))
            }
            (_, Some(i)) => Ok(Value::Int(i)),
            _ if n.is_uint => Err(self.errorf(format!("{text} overflows int"))),
            _ => Ok(Value::Nil),
        }
    }

    fn var_value(&self, name: &str) -> R<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.errorf(format!("undefined variable: {name}"))),
        }
    }

    fn set_var(&mut self, name: &str, value: Value) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => Err(self.errorf(format!("undefined variable: {name}"))),
        }
    }

    fn eval_variable(
        &mut self,
        dot: &Value,
        arg: &'t Arg,
        idents: &'t [String],
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at = Some(arg);
        let value = self.var_value(&idents[0])?;
        if idents.len() == 1 {
            self.not_a_function(args, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, arg, &idents[1..], args, fin)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut receiver: Value,
        node: &'t Arg,
        idents: &'t [String],
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let (last, init) = idents
            .split_last()
            .ok_or_else(|| self.errorf("no fields"))?;
        for ident in init {
            receiver = self.eval_field(dot, ident, node, &[], None, receiver)?;
        }
        self.eval_field(dot, last, node, args, fin, receiver)
    }

    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        node: &'t Arg,
        args: &'t [Arg],
        fin: Option<Value>,
        receiver: Value,
    ) -> R<Value> {
        if let Value::Nil = receiver {
            return Ok(Value::Nil);
        }
        if let Some(method) = methods::lookup(&receiver, name) {
            return self.eval_call(dot, method, node, name, args, fin, Some(receiver));
        }
        let has_args = args.len() > 1 || fin.is_some();
        let field = match &receiver {
            Value::Alert(a) => match name {
                "Labels" => Some(Value::LabelMap(a.labels.clone())),
                "ExternalLabels" => Some(Value::LabelMap(a.external_labels.clone())),
                "ExternalURL" => Some(Value::str(&a.external_url)),
                "Value" => Some(Value::Float(a.value)),
                _ => None,
            },
            Value::Sample(s) => match name {
                "Labels" => Some(Value::LabelMap(s.labels.clone())),
                "Value" => Some(Value::Float(s.value)),
                _ => None,
            },
            Value::LabelMap(m) => {
                if has_args {
                    return Err(self.errorf(format!("{name} is not a method but has arguments")));
                }
                return Ok(Value::str(m.get(name).map_or("", String::as_str)));
            }
            Value::Map(m) => {
                if has_args {
                    return Err(self.errorf(format!("{name} is not a method but has arguments")));
                }
                return Ok(m.get(name).cloned().unwrap_or_default());
            }
            _ => None,
        };
        match field {
            Some(_) if has_args => Err(self.errorf(format!(
                "{name} has arguments but cannot be invoked as function"
            ))),
            Some(value) => Ok(value),
            None => Err(self.errorf(format!(
                "can't evaluate field {name} in type {}",
                receiver.type_name()
            ))),
        }
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        ident: &'t Arg,
        name: &str,
        cmd: &'t dyn Located,
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at = Some(ident);
        let Some(func) = signature::lookup(name) else {
            return Err(self.errorf(format!("{} is not a defined function", go_quote(name))));
        };
        self.eval_call(dot, func, cmd, name, args, fin, None)
    }

    /// Calls a function or method. `args` starts with the function's own node (unless empty),
    /// `fin` is the value piped in, `receiver` the bound receiver of a method.
    #[allow(clippy::too_many_arguments)]
    fn eval_call(
        &mut self,
        dot: &Value,
        func: &'static Func,
        node: &'t dyn Located,
        name: &str,
        args: &'t [Arg],
        fin: Option<Value>,
        receiver: Option<Value>,
    ) -> R<Value> {
        let args = args.get(1..).unwrap_or(&[]);
        let num_in = args.len() + usize::from(fin.is_some());
        let num_fixed = if func.variadic.is_some() {
            if num_in < func.params.len() {
                return Err(self.errorf(format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    func.params.len(),
                    args.len()
                )));
            }
            func.params.len()
        } else {
            if num_in != func.params.len() {
                return Err(self.errorf(format!(
                    "wrong number of args for {name}: want {} got {num_in}",
                    func.params.len()
                )));
            }
            args.len()
        };
        if let Imp::And | Imp::Or = func.imp {
            let stop_at = matches!(func.imp, Imp::Or);
            let mut value = Value::Nil;
            for arg in args {
                value = self.eval_arg(dot, Param::Any, arg)?;
                if value.truth() == stop_at {
                    return Ok(value);
                }
            }
            return Ok(fin.unwrap_or(value));
        }
        let mut argv = Vec::with_capacity(num_in + 1);
        argv.extend(receiver);
        for (i, arg) in args.iter().enumerate() {
            let param = if i < num_fixed {
                func.params[i]
            } else {
                func.variadic.unwrap_or(Param::Any)
            };
            argv.push(self.eval_arg(dot, param, arg)?);
        }
        if let Some(fin) = fin {
            let param = match func.variadic {
                Some(v) if num_in > num_fixed => v,
                _ => {
                    func.params[if func.variadic.is_some() {
                        num_in - 1
                    } else {
                        func.params.len() - 1
                    }]
                }
            };
            argv.push(self.validate_type(fin, param)?);
        }
        let Imp::Call(call) = func.imp else {
            return Err(self.errorf(format!("can't call {name}")));
        };
        call(self.env, &argv).map_err(|err| {
            self.at = Some(node);
            self.errorf(format!("error calling {name}: {err}"))
        })
    }

    /// Evaluates an argument for a parameter of type `param`: literals must fit the type,
    /// computed values must have it.
    fn eval_arg(&mut self, dot: &Value, param: Param, arg: &'t Arg) -> R<Value> {
        self.at = Some(arg);
        let computed = match &arg.kind {
            ArgKind::Dot => dot.clone(),
            ArgKind::Nil => {
                return match param.zero() {
                    Some(zero) => Ok(zero),
                    None => Err(self.errorf(format!("cannot assign nil to {}", param.go_name()))),
                };
            }
            ArgKind::Field(idents) => self.eval_field_chain(
                dot,
                dot.clone(),
                arg,
                idents,
                std::slice::from_ref(arg),
                None,
            )?,
            ArgKind::Variable(idents) => self.eval_variable(dot, arg, idents, &[], None)?,
            ArgKind::Pipe(pipe) => self.eval_pipeline(dot, pipe)?,
            ArgKind::Identifier(name) => self.eval_function(dot, arg, name, arg, &[], None)?,
            ArgKind::Chain { node, fields } => {
                let receiver = self.eval_arg(dot, Param::Any, node)?;
                self.eval_field_chain(dot, receiver, arg, fields, &[], None)?
            }
            literal => {
                return match (param, literal) {
                    (Param::Any, ArgKind::Bool(b)) => Ok(Value::Bool(*b)),
                    (Param::Any, ArgKind::Number(n)) => self.ideal_constant(arg, n),
                    (Param::Any | Param::Str, ArgKind::Str { text, .. }) => Ok(Value::str(text)),
                    (Param::Str, _) => Err(self.errorf(format!("expected string; found {arg}"))),
                    _ => Err(self.errorf(format!(
                        "can't handle {arg} for arg of type {}",
                        param.go_name()
                    ))),
                };
            }
        };
        self.validate_type(computed, param)
    }

    fn validate_type(&self, value: Value, param: Param) -> R<Value> {
        if let Value::Nil = value {
            return match param.zero() {
                Some(zero) => Ok(zero),
                None => Err(self.errorf(format!("invalid value; expected {}", param.go_name()))),
            };
        }
        if param.accepts(&value) {
            Ok(value)
        } else {
            let (want, got) = (param.go_name(), value.type_name());
            Err(self.errorf(format!("wrong type for value; expected {want}; got {got}")))
        }
    }
}
