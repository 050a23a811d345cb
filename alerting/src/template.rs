//! Go's `text/template` for Tidemark's two template languages, executed with Go's semantics
//! and printing so that a text expands exactly as upstream expands it:
//! - Prometheus' alert annotations and labels ([`expand_alert`], [`Template`]), with
//!   Prometheus' functions (`template/template.go` in Prometheus 3.5);
//! - Alertmanager's notification texts ([`TemplateSet`]), with Alertmanager's functions
//!   (`DefaultFuncs` in Alertmanager 0.33), as text or as HTML escaped by context (Go's
//!   `html/template`).
//!
//! - `token`, `lex`, `literal` and `parse`: text to trees (`ast`); parse errors read
//!   `template: NAME:LINE: MESSAGE`, unknown functions and undeclared variables included.
//! - `exec`: trees to text; errors read `template: NAME:LINE:COL: executing "NAME" at <NODE>:
//!   MESSAGE`, pointing at the node as Go does. `html`: `html/template`'s escaping.
//! - `value`: the Go values templates see; `fmt`: Go's `%v` and `printf`; `strconv`: Go's
//!   float and quote formats; `time`: Go's time and duration printing; `json`: Go's
//!   `json.Marshal` (`toJson`).
//! - `signature`: the function tables; `builtins`: Go's builtin functions; `funcs`:
//!   Prometheus' functions; `alertmanager`: Alertmanager's; `methods`: methods of
//!   `time.Time`, `time.Duration` and Alertmanager's `KV`, `Pairs` and `Alerts`.
//!
//! Not supported (each fails clearly rather than printing something else): complex numbers,
//! hex float literals, `call` (there are no function values), `tmpl` (Prometheus defines it for
//! its HTML console templates only, so alert templates refuse it too), native histograms;
//! in HTML, values printed in JavaScript, CSS or `srcset` (see `html`).

mod alertmanager;
mod ast;
mod builtins;
mod exec;
mod fmt;
mod funcs;
mod html;
mod json;
mod lex;
mod literal;
mod methods;
mod parse;
mod signature;
mod strconv;
#[cfg(test)]
mod tests;
mod time;
mod token;
mod value;

use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use tidemark_storage::Labels;

use crate::QueryFn;
use signature::FuncSet;

pub(crate) use strconv::go_quote;
pub use value::{AlertRoot, Field, GoTime, Sample, Slice, Struct, Value};

/// What an alert's templates see: `$labels`, `$externalLabels`, `$externalURL`, `$value`.
#[derive(Clone, Debug)]
pub struct AlertData<'a> {
    /// The series' labels (`$labels`, `.Labels`).
    pub labels: &'a Labels,
    /// The ruler's external labels (`$externalLabels`).
    pub external_labels: &'a BTreeMap<String, String>,
    /// The ruler's external URL (`$externalURL`).
    pub external_url: &'a str,
    /// The sample's value (`$value`, `.Value`).
    pub value: f64,
    /// A native histogram element's Go printing: then `$value` is the histogram (a string
    /// here: `{{ $value }}` prints as Prometheus prints it; numeric functions of it fail, as
    /// they do in Prometheus, with other words).
    pub histogram: Option<&'a str>,
}

/// What template functions read besides their arguments: `query` reads through `query` at
/// `t_ms` (also what `now` returns), `externalURL` and `pathPrefix` read `external_url`.
pub struct Env<'a> {
    /// How `query` evaluates PromQL.
    pub query: &'a dyn QueryFn,
    /// The evaluation time, in Unix milliseconds.
    pub t_ms: i64,
    /// The ruler's external URL.
    pub external_url: &'a str,
}

/// A parsed template: the top-level one and those it `{{define}}`s.
pub struct Template {
    name: String,
    trees: exec::TreeSet,
}

impl Template {
    /// Parses `text` as template `name`, with Prometheus' functions defined. The error is Go's
    /// (`template: NAME:LINE: MESSAGE`).
    pub fn parse(name: &str, text: &str) -> Result<Template, String> {
        let mut trees = exec::TreeSet::new();
        add_trees(&mut trees, name, text, FuncSet::Prometheus)?;
        Ok(Template {
            name: name.to_string(),
            trees,
        })
    }

    /// Executes the template on `data`. The error is Go's (`template: NAME:LINE:COL:
    /// executing "NAME" at <NODE>: MESSAGE`).
    pub fn execute(&self, data: Value, env: &Env<'_>) -> Result<String, String> {
        let mode = exec::Mode {
            funcs: FuncSet::Prometheus,
            html: false,
        };
        exec::execute(&self.trees, &self.name, &self.name, data, env, mode)
    }
}

/// Parses `text` as template `name` and adds its templates to `trees` as Go's
/// `Template.Parse` adds them to a set: a non-empty definition replaces an earlier one, an
/// empty one does not (but the top-level template `name` itself always is the text's).
fn add_trees(
    trees: &mut exec::TreeSet,
    name: &str,
    text: &str,
    funcs: FuncSet,
) -> Result<(), String> {
    let parsed = parse::parse(name, text, &|f| signature::lookup(funcs, f).is_some())?;
    let source = Arc::new(exec::Source {
        name: name.to_string(),
        text: text.to_string(),
    });
    for (tree_name, list) in parsed {
        if parse::is_empty(&list) && tree_name != name && trees.contains_key(&tree_name) {
            continue;
        }
        let defined = exec::Defined {
            list,
            source: source.clone(),
        };
        trees.insert(tree_name, Arc::new(defined));
    }
    Ok(())
}

/// A set of notification templates with Alertmanager's functions, as Alertmanager's
/// `template.Template` holds them: texts parsed into it define templates, and a text is
/// executed with them (Go's `ExecuteTextString`, `ExecuteHTMLString`).
#[derive(Clone, Debug, Default)]
pub struct TemplateSet {
    trees: exec::TreeSet,
}

/// A query function for templates that cannot query (Alertmanager's have no `query`).
struct NoQuery;

impl QueryFn for NoQuery {
    fn instant(&self, _expr: &str, _t_ms: i64) -> Result<crate::Vector, String> {
        Err("notification templates cannot query".into())
    }
}

impl TemplateSet {
    /// An empty set.
    pub fn new() -> TemplateSet {
        TemplateSet::default()
    }

    /// Parses `text` (a file named `name`) into the set, as Go's `Template.Parse` does: its
    /// `{{define}}`s replace earlier ones of the same name. The error is Go's.
    pub fn parse(&mut self, name: &str, text: &str) -> Result<(), String> {
        add_trees(&mut self.trees, name, text, FuncSet::Alertmanager)
    }

    /// Whether the set defines template `name`.
    pub fn defines(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    /// Executes `text` on `data` with the set's templates defined, as Alertmanager's
    /// `ExecuteTextString` (or, with `html`, `ExecuteHTMLString`) does: the text is parsed as
    /// template `""` into a copy of the set. `now_ms` is what `now` and `since` read.
    pub fn execute(
        &self,
        text: &str,
        data: Value,
        now_ms: i64,
        html: bool,
    ) -> Result<String, String> {
        if text.is_empty() {
            return Ok(String::new());
        }
        let mut trees = self.trees.clone();
        add_trees(&mut trees, "", text, FuncSet::Alertmanager)?;
        let env = Env {
            query: &NoQuery,
            t_ms: now_ms,
            external_url: "",
        };
        let mode = exec::Mode {
            funcs: FuncSet::Alertmanager,
            html,
        };
        exec::execute(&trees, "", "", data, &env, mode)
    }
}

/// The variables Prometheus defines in front of every alert template.
const ALERT_DEFS: &str = "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}\
                          {{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Checks that `text` parses as an alert template (what upload validation calls).
pub fn check_alert(text: &str) -> Result<(), String> {
    check_alert_named("", text)
}

/// Checks that `text` parses as a template of alert `name`, as Prometheus' rule loading does:
/// the error names the template `__alert_NAME`, as Prometheus' does.
pub fn check_alert_named(name: &str, text: &str) -> Result<(), String> {
    Template::parse(&format!("__alert_{name}"), &format!("{ALERT_DEFS}{text}")).map(|_| ())
}

/// Expands `text` as Prometheus expands the label and annotation templates of alert `name`:
/// with `$labels`, `$externalLabels`, `$externalURL` and `$value` defined, and `query` reading
/// at `t_ms`.
pub fn expand_alert(
    name: &str,
    text: &str,
    data: &AlertData<'_>,
    t_ms: i64,
    query: &dyn QueryFn,
) -> Result<String, String> {
    let template_name = format!("__alert_{name}");
    let template = Template::parse(&template_name, &format!("{ALERT_DEFS}{text}"))
        .map_err(|e| format!("error parsing template {template_name}: {e}"))?;
    let labels = data
        .labels
        .iter()
        .map(|l| (l.name.clone(), l.value.clone()))
        .collect();
    let root = AlertRoot {
        labels: Rc::new(labels),
        external_labels: Rc::new(data.external_labels.clone()),
        external_url: data.external_url.to_string(),
        value: data.value,
        histogram: data.histogram.map(str::to_string),
    };
    let env = Env {
        query,
        t_ms,
        external_url: data.external_url,
    };
    template
        .execute(Value::Alert(Rc::new(root)), &env)
        .map_err(|e| format!("error executing template {template_name}: {e}"))
}
