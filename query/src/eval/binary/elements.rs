//! One binary operation between two elements where either may be a native histogram, as
//! Prometheus 3.5's `vectorElemBinop` defines it: a histogram times or divided by a float, a
//! float times a histogram, the sum and difference of two histograms, and `==`/`!=` between
//! histograms; every other pairing drops the element with an info (or, for histograms that
//! cannot be added, a warning).

use std::sync::Arc;

use super::OpFn;
use crate::histogram::Hist;

/// An operand.
#[derive(Clone, Copy)]
pub(crate) enum Elem<'a> {
    Float(f64),
    Hist(&'a Arc<Hist>),
}

/// A result element.
pub(crate) enum Out {
    Float(f64),
    Hist(Arc<Hist>),
}

/// What dropped an element, as the annotation says it.
pub(crate) enum Dropped {
    Info(String),
    Warning(String),
}

/// `l op r` (`f` the operator's float function) and whether a comparison keeps it.
pub(crate) fn binop(op: &str, f: OpFn, l: Elem<'_>, r: Elem<'_>) -> Result<(Out, bool), Dropped> {
    let incompatible = |lt: &str, rt: &str| {
        Dropped::Info(format!(
            "PromQL info: incompatible sample types encountered for binary operator {op:?}: {lt} {op} {rt}"
        ))
    };
    let compacted = |h: Hist| Out::Hist(Arc::new(h.without_empty_buckets()));
    match (l, r) {
        (Elem::Float(a), Elem::Float(b)) => {
            let (v, keep) = f(a, b);
            Ok((Out::Float(v), keep))
        }
        (Elem::Float(a), Elem::Hist(h)) => match op {
            "*" => Ok((compacted(h.scaled(a)), true)),
            _ => Err(incompatible("float", "histogram")),
        },
        (Elem::Hist(h), Elem::Float(b)) => match op {
            "*" => Ok((compacted(h.scaled(b)), true)),
            "/" => Ok((compacted(h.divided(b)), true)),
            _ => Err(incompatible("histogram", "float")),
        },
        (Elem::Hist(a), Elem::Hist(b)) => {
            let layout = || {
                Dropped::Warning(format!(
                    "PromQL warning: incompatible bucket layout encountered for binary operator {op}"
                ))
            };
            match op {
                "+" => a.add(b).map(|h| (compacted(h), true)).map_err(|_| layout()),
                "-" => a.sub(b).map(|h| (compacted(h), true)).map_err(|_| layout()),
                "==" => Ok((Out::Hist(a.clone()), a.same_bits(b))),
                "!=" => Ok((Out::Hist(a.clone()), !a.same_bits(b))),
                _ => Err(incompatible("histogram", "histogram")),
            }
        }
    }
}
