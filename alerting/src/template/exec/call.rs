//! Pipelines, commands and calls: Go's rules for passing a pipeline's value as the last
//! argument, checking argument counts and types (literals must fit the parameter, computed
//! values must have its type), and evaluating `and`/`or` lazily.

use super::super::ast::{Arg, ArgKind, Command, Located, Number, Pipe};
use super::super::signature::{self, Func, Imp, Param};
use super::super::strconv::go_quote;
use super::super::value::Value;
use super::{Exec, R};

impl<'t> Exec<'t, '_> {
    pub(super) fn eval_pipeline(&mut self, dot: &Value, pipe: &'t Pipe) -> R<Value> {
        self.at = Some(pipe);
        let value = self.eval_cmds(dot, &pipe.cmds)?;
        for var in &pipe.decl {
            if pipe.is_assign {
                self.set_var(var, value.clone())?;
            } else {
                self.vars.push((var.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    /// The value of commands chained as a pipeline (without its declarations).
    pub(super) fn eval_cmds(&mut self, dot: &Value, cmds: &'t [Command]) -> R<Value> {
        let mut value: Option<Value> = None;
        for cmd in cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        Ok(value.unwrap_or_default())
    }

    pub(super) fn not_a_function(&self, args: &[Arg], fin: &Option<Value>) -> R<()> {
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

    pub(super) fn eval_function(
        &mut self,
        dot: &Value,
        ident: &'t Arg,
        name: &str,
        cmd: &'t dyn Located,
        args: &'t [Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at = Some(ident);
        let Some(func) = signature::lookup(self.funcs, name) else {
            return Err(self.errorf(format!("{} is not a defined function", go_quote(name))));
        };
        self.eval_call(dot, func, cmd, name, args, fin, None)
    }

    /// Calls a function or method. `args` starts with the function's own node (unless empty),
    /// `fin` is the value piped in, `receiver` the bound receiver of a method.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn eval_call(
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
    pub(super) fn eval_arg(&mut self, dot: &Value, param: Param, arg: &'t Arg) -> R<Value> {
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
