//! The JSON tree `/api/v1/parse_query` answers with: Prometheus 3.5's `translateAST`
//! (`web/api/v1/translate_ast.go`) over promql-parser's AST. Objects have the same keys and
//! value shapes; times and durations are milliseconds, numbers are strings as Go's
//! `FormatFloat(v, 'f', -1, 64)` writes them.
//!
//! Where promql-parser's AST differs from Prometheus', the tree differs too: a unary `+`
//! is not kept (`+x` is `x`, Prometheus has a `unaryExpr` with op `+`), and the `or` matcher
//! groups and `fill` modifiers that promql-parser accepts (Prometheus 3.5 does not) have no
//! place in the tree, so such queries are refused.

use promql_parser::label::Matcher;
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{
    AtModifier, BinaryExpr, Expr, LabelModifier, VectorMatchCardinality, VectorSelector,
};
use serde_json::{Value, json};

use super::promql_print::{at_millis, format_number, match_op, offset_millis};

/// The tree of `expr`, or why it has none.
pub fn translate(expr: &Expr) -> Result<Value, String> {
    Ok(match expr {
        Expr::Aggregate(e) => {
            let (grouping, without) = match &e.modifier {
                Some(LabelModifier::Include(ls)) => (ls.labels.clone(), false),
                Some(LabelModifier::Exclude(ls)) => (ls.labels.clone(), true),
                None => (Vec::new(), false),
            };
            object([
                ("type", json!("aggregation")),
                ("op", json!(e.op.to_string())),
                ("expr", translate(&e.expr)?),
                (
                    "param",
                    e.param.as_deref().map(translate).transpose()?.into(),
                ),
                ("grouping", json!(grouping)),
                ("without", json!(without)),
            ])
        }
        Expr::Binary(e) => object([
            ("type", json!("binaryExpr")),
            ("op", json!(e.op.to_string())),
            ("lhs", translate(&e.lhs)?),
            ("rhs", translate(&e.rhs)?),
            ("matching", matching(e)?),
            ("bool", json!(e.return_bool())),
        ]),
        Expr::Call(c) => {
            let args = c
                .args
                .args
                .iter()
                .map(|a| translate(a))
                .collect::<Result<Vec<_>, _>>()?;
            let arg_types: Vec<String> = c.func.arg_types.iter().map(value_type).collect();
            object([
                ("type", json!("call")),
                (
                    "func",
                    json!({
                        "name": c.func.name,
                        "argTypes": arg_types,
                        "variadic": c.func.variadic,
                        "returnType": value_type(&c.func.return_type),
                    }),
                ),
                ("args", Value::Array(args)),
            ])
        }
        Expr::MatrixSelector(ms) => {
            let mut v = selector(&ms.vs, "matrixSelector")?;
            v["range"] = json!(duration_millis(&ms.range));
            v
        }
        Expr::Subquery(e) => object([
            ("type", json!("subquery")),
            ("expr", translate(&e.expr)?),
            ("range", json!(duration_millis(&e.range))),
            ("offset", json!(offset_millis(e.offset.as_ref()))),
            ("step", json!(e.step.as_ref().map_or(0, duration_millis))),
            ("timestamp", timestamp(e.at.as_ref())),
            ("startOrEnd", start_or_end(e.at.as_ref())),
        ]),
        Expr::NumberLiteral(n) => json!({"type": "numberLiteral", "val": format_number(n.val)}),
        Expr::Paren(e) => object([("type", json!("parenExpr")), ("expr", translate(&e.expr)?)]),
        Expr::StringLiteral(s) => json!({"type": "stringLiteral", "val": s.val}),
        Expr::Unary(e) => object([
            ("type", json!("unaryExpr")),
            ("op", json!("-")),
            ("expr", translate(&e.expr)?),
        ]),
        Expr::VectorSelector(vs) => selector(vs, "vectorSelector")?,
        Expr::Extension(_) => return Err("extension expressions have no tree".into()),
    })
}

/// A JSON object of `fields`, moved in: `json!` would serialize every nested tree again, at
/// every level, which is quadratic in the depth.
fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn duration_millis(d: &std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn value_type(t: &ValueType) -> String {
    t.to_string()
}

/// `{"card", "labels", "on", "include"}` when both sides are instant vectors (Prometheus
/// drops the vector matching otherwise), else null.
fn matching(e: &BinaryExpr) -> Result<Value, String> {
    if e.lhs.value_type() != ValueType::Vector || e.rhs.value_type() != ValueType::Vector {
        return Ok(Value::Null);
    }
    let modifier = e.modifier.as_ref();
    if let Some(m) = modifier
        && (m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some())
    {
        return Err("fill modifiers are not Prometheus 3.5 PromQL".into());
    }
    let (on, labels) = match modifier.and_then(|m| m.matching.as_ref()) {
        Some(LabelModifier::Include(ls)) => (true, ls.labels.clone()),
        Some(LabelModifier::Exclude(ls)) => (false, ls.labels.clone()),
        None => (false, Vec::new()),
    };
    let (card, include) = match modifier.map(|m| &m.card) {
        _ if e.op.is_set_operator() => ("many-to-many", Vec::new()),
        Some(VectorMatchCardinality::ManyToOne(ls)) => ("many-to-one", ls.labels.clone()),
        Some(VectorMatchCardinality::OneToMany(ls)) => ("one-to-many", ls.labels.clone()),
        Some(VectorMatchCardinality::ManyToMany) => ("many-to-many", Vec::new()),
        Some(VectorMatchCardinality::OneToOne) | None => ("one-to-one", Vec::new()),
    };
    Ok(json!({"card": card, "labels": labels, "on": on, "include": include}))
}

/// The keys vector and matrix selectors share. Prometheus' matcher list is the matchers as
/// written, then the `__name__` matcher of a name written before the braces.
fn selector(vs: &VectorSelector, kind: &str) -> Result<Value, String> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err("\"or\" in label matchers is not Prometheus 3.5 PromQL".into());
    }
    let mut matchers: Vec<Value> = vs.matchers.matchers.iter().map(matcher).collect();
    if let Some(name) = &vs.name {
        matchers.push(json!({"name": "__name__", "type": "=", "value": name}));
    }
    Ok(json!({
        "type": kind,
        "name": vs.name.as_deref().unwrap_or(""),
        "offset": offset_millis(vs.offset.as_ref()),
        "matchers": matchers,
        "timestamp": timestamp(vs.at.as_ref()),
        "startOrEnd": start_or_end(vs.at.as_ref()),
    }))
}

fn matcher(m: &Matcher) -> Value {
    json!({"name": m.name, "type": match_op(&m.op), "value": m.value})
}

fn timestamp(at: Option<&AtModifier>) -> Value {
    match at {
        Some(AtModifier::At(t)) => json!(at_millis(t)),
        _ => Value::Null,
    }
}

fn start_or_end(at: Option<&AtModifier>) -> Value {
    match at {
        Some(AtModifier::Start) => json!("start"),
        Some(AtModifier::End) => json!("end"),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(q: &str) -> Value {
        translate(&promql_parser::parser::parse(q).unwrap()).unwrap()
    }

    fn vs(name: &str) -> Value {
        json!({"matchers":[{"name":"__name__","type":"=","value":name}],"name":name,"offset":0,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"})
    }

    /// Trees Prometheus 3.5.3's `/api/v1/parse_query` answers for these queries.
    #[test]
    fn trees_match_prometheus() {
        assert_eq!(tree("up"), vs("up"));
        assert_eq!(
            tree("1 + 2"),
            json!({"bool":false,"lhs":{"type":"numberLiteral","val":"1"},"matching":null,"op":"+","rhs":{"type":"numberLiteral","val":"2"},"type":"binaryExpr"})
        );
        assert_eq!(
            tree("a + b")["matching"],
            json!({"card":"one-to-one","include":[],"labels":[],"on":false})
        );
        assert_eq!(tree("a > bool 1")["matching"], Value::Null);
        assert_eq!(tree("a > bool 1")["bool"], true);
        assert_eq!(
            tree("a + on(job) group_left(x) b")["matching"],
            json!({"card":"many-to-one","include":["x"],"labels":["job"],"on":true})
        );
        assert_eq!(
            tree("x or on() y")["matching"],
            json!({"card":"many-to-many","include":[],"labels":[],"on":true})
        );
        assert_eq!(
            tree("a and b")["matching"],
            json!({"card":"many-to-many","include":[],"labels":[],"on":false})
        );
        assert_eq!(
            tree("topk(3, x)"),
            json!({"expr":vs("x"),"grouping":[],"op":"topk","param":{"type":"numberLiteral","val":"3"},"type":"aggregation","without":false})
        );
        assert_eq!(tree("sum without (a) (x)")["grouping"], json!(["a"]));
        assert_eq!(tree("sum without (a) (x)")["without"], true);
        assert_eq!(
            tree("rate(x[5m] offset 1h)"),
            json!({"args":[{"matchers":[{"name":"__name__","type":"=","value":"x"}],"name":"x","offset":3600000,"range":300000,"startOrEnd":null,"timestamp":null,"type":"matrixSelector"}],"func":{"argTypes":["matrix"],"name":"rate","returnType":"vector","variadic":0},"type":"call"})
        );
        assert_eq!(
            tree(r#"label_join(up, "a", ",", "b", "c")"#)["func"],
            json!({"argTypes":["vector","string","string","string"],"name":"label_join","returnType":"vector","variadic":-1})
        );
        assert_eq!(
            tree("x[5m:1m] @ end()"),
            json!({"expr":vs("x"),"offset":0,"range":300000,"startOrEnd":"end","step":60000,"timestamp":null,"type":"subquery"})
        );
        assert_eq!(
            tree("foo @ 1000 offset -5m"),
            json!({"matchers":[{"name":"__name__","type":"=","value":"foo"}],"name":"foo","offset":-300000,"startOrEnd":null,"timestamp":1000000,"type":"vectorSelector"})
        );
        assert_eq!(tree("x[5m] @ -10.5")["timestamp"], -10500);
        assert_eq!(
            tree("-x"),
            json!({"expr":vs("x"),"op":"-","type":"unaryExpr"})
        );
        assert_eq!(tree("-1"), json!({"type":"numberLiteral","val":"-1"}));
        assert_eq!(tree("Inf"), json!({"type":"numberLiteral","val":"+Inf"}));
        assert_eq!(
            tree("1e21"),
            json!({"type":"numberLiteral","val":"1000000000000000000000"})
        );
        assert_eq!(tree(r#""s""#), json!({"type":"stringLiteral","val":"s"}));
        assert_eq!(tree("(x)"), json!({"expr":vs("x"),"type":"parenExpr"}));
        assert_eq!(
            tree(r#"x{a!="1",b=~"x",c!~"y"}"#)["matchers"],
            json!([{"name":"a","type":"!=","value":"1"},{"name":"b","type":"=~","value":"x"},{"name":"c","type":"!~","value":"y"},{"name":"__name__","type":"=","value":"x"}])
        );
        assert_eq!(
            tree(r#"{__name__="x"}"#),
            json!({"matchers":[{"name":"__name__","type":"=","value":"x"}],"name":"","offset":0,"startOrEnd":null,"timestamp":null,"type":"vectorSelector"})
        );
        assert_eq!(
            tree(r#"{a="b", "utf8.name"}"#)["matchers"],
            json!([{"name":"a","type":"=","value":"b"},{"name":"__name__","type":"=","value":"utf8.name"}])
        );
        assert_eq!(
            tree("time()"),
            json!({"args":[],"func":{"argTypes":[],"name":"time","returnType":"scalar","variadic":0},"type":"call"})
        );
    }

    #[test]
    fn extensions_of_promql_parser_are_refused() {
        for q in [r#"x{a="1" or b="2"}"#, "a + on(b) fill(0) c"] {
            let Ok(expr) = promql_parser::parser::parse(q) else {
                continue;
            };
            assert!(translate(&expr).is_err(), "{q}");
        }
    }
}
