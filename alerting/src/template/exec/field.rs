//! Variables, fields, methods and map keys: Go's lookup order (a method of the receiver's
//! type first, then a struct field or a map key), and what `range` iterates over.

use super::super::ast::Arg;
use super::super::fmt::to_v;
use super::super::methods;
use super::super::value::Value;
use super::{Exec, R, STEPS_MAX};

impl<'t> Exec<'t, '_> {
    pub(super) fn var_value(&self, name: &str) -> R<Value> {
        match self.vars.iter().rev().find(|(n, _)| n == name) {
            Some((_, v)) => Ok(v.clone()),
            None => Err(self.errorf(format!("undefined variable: {name}"))),
        }
    }

    pub(super) fn set_var(&mut self, name: &str, value: Value) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = value;
                Ok(())
            }
            None => Err(self.errorf(format!("undefined variable: {name}"))),
        }
    }

    pub(super) fn eval_variable(
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

    pub(super) fn eval_field_chain(
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
                "Value" => Some(a.value()),
                _ => None,
            },
            Value::Sample(s) => match name {
                "Labels" => Some(Value::LabelMap(s.labels.clone())),
                "Value" => Some(s.value()),
                _ => None,
            },
            Value::Struct(st) => st.field(name).cloned(),
            Value::Pair(p) => match name {
                "Name" => Some(Value::str(&p.0)),
                "Value" => Some(Value::str(&p.1)),
                _ => None,
            },
            Value::LabelMap(m) | Value::Kv(m) => {
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

    /// What `range` iterates over: (index or key, element) pairs, maps in key order.
    pub(super) fn range_items(&self, value: &Value, decls: usize) -> R<Vec<(Value, Value)>> {
        let indexed = |items: &mut dyn Iterator<Item = Value>| -> Vec<(Value, Value)> {
            items
                .enumerate()
                .map(|(i, v)| (Value::Int(i as i64), v))
                .collect()
        };
        Ok(match value {
            Value::Nil => Vec::new(),
            Value::List(l) => indexed(&mut l.iter().cloned()),
            Value::Slice(s) => indexed(&mut s.items.iter().cloned()),
            Value::Strings(l) => indexed(&mut l.iter().map(Value::str)),
            Value::Pairs(p) => indexed(&mut p.iter().map(|pair| Value::Pair(pair.clone().into()))),
            Value::Vector(v) => indexed(&mut v.iter().map(|s| Value::Sample(s.clone()))),
            Value::LabelMap(m) | Value::Kv(m) => m
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
        })
    }
}
