//! Prometheus' template language for alert annotations and labels: Go's `text/template` with
//! Prometheus' functions (`template/template.go` in Prometheus 3.5), executed with Go's
//! semantics and printing so that an annotation expands to the same text as in Prometheus.
//!
//! - `token`, `lex`, `literal` and `parse`: text to trees (`ast`); parse errors read
//!   `template: NAME:LINE: MESSAGE`, unknown functions and undeclared variables included.
//! - `exec`: trees to text; errors read `template: NAME:LINE:COL: executing "NAME" at <NODE>:
//!   MESSAGE`, pointing at the node as Go does.
//! - `value`: the Go values templates see; `fmt`: Go's `%v` and `printf`; `strconv`: Go's
//!   float and quote formats; `time`: Go's time and duration printing.
//! - `signature`: the function table; `builtins`: Go's builtin functions; `funcs`:
//!   Prometheus' functions; `methods`: methods of `time.Time` and `time.Duration`.
//!
//! Not supported (each fails clearly rather than printing something else): complex numbers,
//! hex float literals, `call` (there are no function values), `tmpl` (Prometheus defines it for
//! its HTML console templates only, so alert templates refuse it too), native histograms.

mod ast;
mod builtins;
mod exec;
mod fmt;
mod funcs;
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

use tidemark_storage::Labels;

use crate::QueryFn;

pub use value::{AlertRoot, Sample, Value};

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
    text: String,
    trees: parse::Trees,
}

impl Template {
    /// Parses `text` as template `name`, with Prometheus' functions defined. The error is Go's
    /// (`template: NAME:LINE: MESSAGE`).
    pub fn parse(name: &str, text: &str) -> Result<Template, String> {
        let trees = parse::parse(name, text, &signature::is_defined)?;
        Ok(Template {
            name: name.to_string(),
            text: text.to_string(),
            trees,
        })
    }

    /// Executes the template on `data`. The error is Go's (`template: NAME:LINE:COL:
    /// executing "NAME" at <NODE>: MESSAGE`).
    pub fn execute(&self, data: Value, env: &Env<'_>) -> Result<String, String> {
        exec::execute(&self.text, &self.name, &self.trees, &self.name, data, env)
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
