//! Go's `html/template` contextual escaping, as Alertmanager applies it to HTML bodies
//! (`ExecuteHTMLString`): template text moves an HTML context (`html/context`), and every
//! printed value goes through the escapers of the context it is printed in
//! (`html/escapers`): text, `<title>`, quoted and unquoted attributes, URLs (filtered at
//! their start, normalised before the query, escaped in it), attribute names, comments.
//!
//! Go rewrites the templates before executing them; here the context follows the execution
//! instead. Both give the same output for templates Go accepts. Differences:
//! - Go refuses some templates before executing them (branches of an `{{if}}` ending in
//!   different contexts, a `{{range}}` body that changes the context, URLs whose part is
//!   ambiguous, templates not executed in this run); here they render.
//! - Values printed in JavaScript (`<script>`, `on*` attributes), in CSS (`<style>`,
//!   `style` attributes) or in `srcset` are refused with an error rather than escaped; text
//!   there is passed through (JavaScript comments are not removed as Go removes them).
//! - HTML entities inside attribute values are not decoded before looking for a URL's `?`.

mod context;
mod escapers;
mod transition;

use super::builtins::{eval_args as text_eval_args, html_escape};
use super::fmt::write_printable;
use super::funcs::query_escape;
use super::value::Value;
use context::{Context, Delim, State, UrlPart, nudge};
use escapers::{
    attr_escaper, html_escaper, html_name_filter, nospace_escaper, rcdata_escaper, url_escaper,
    url_filter, url_normalizer,
};
use transition::escape_text;

/// The HTML context of one execution.
#[derive(Default)]
pub(crate) struct HtmlEscaper {
    context: Context,
}

/// What the executor knows of one command of an action's pipeline.
pub(crate) struct CmdInfo {
    /// The function it calls, if it starts with one.
    pub ident: Option<String>,
    /// How many operands it has, the function included.
    pub args: usize,
}

/// What the escapers are applied to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Input {
    /// The pipeline's value.
    Pipeline,
    /// The value of the pipeline without its last command (a trailing `html` or `urlquery`
    /// replaced by the escapers).
    WithoutLast,
    /// `{{ html a b }}`: the operands printed as Go's `evalArgs` does.
    EvalArgs,
}

/// One escaping function (Go's `_html_template_*`, or the predefined `html`, `urlquery`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Esc {
    UrlFilter,
    UrlNormalizer,
    UrlEscaper,
    HtmlEscaper,
    RcdataEscaper,
    AttrEscaper,
    NospaceEscaper,
    NameFilter,
    CommentEscaper,
    Html,
    UrlQuery,
}

impl Esc {
    /// Go's `normalizeEscFn`: the predefined escaper an escaper is equivalent to.
    fn normalized(self) -> Esc {
        match self {
            Esc::AttrEscaper | Esc::HtmlEscaper | Esc::RcdataEscaper => Esc::Html,
            Esc::UrlEscaper | Esc::UrlNormalizer => Esc::UrlQuery,
            other => other,
        }
    }

    /// Go's `redundantFuncs`: `next` after `self` changes nothing.
    fn makes_redundant(self, next: Esc) -> bool {
        matches!(
            (self, next),
            (Esc::CommentEscaper, Esc::AttrEscaper | Esc::HtmlEscaper)
                | (Esc::UrlEscaper, Esc::UrlNormalizer)
        )
    }

    fn apply(self, v: &Value) -> String {
        match self {
            Esc::UrlFilter => url_filter(v),
            Esc::UrlNormalizer => url_normalizer(v),
            Esc::UrlEscaper => url_escaper(v),
            Esc::HtmlEscaper => html_escaper(v),
            Esc::RcdataEscaper => rcdata_escaper(v),
            Esc::AttrEscaper => attr_escaper(v),
            Esc::NospaceEscaper => nospace_escaper(v),
            Esc::NameFilter => html_name_filter(v),
            Esc::CommentEscaper => String::new(),
            Esc::Html => html_escape(&text_eval_args(std::slice::from_ref(v))),
            Esc::UrlQuery => query_escape(&text_eval_args(std::slice::from_ref(v))),
        }
    }
}

/// How to print one action: what to evaluate, and the escapers to apply in order.
pub(crate) struct Plan {
    pub input: Input,
    chain: Vec<Esc>,
}

impl Plan {
    /// Applies the escapers to the action's value.
    pub(crate) fn apply(&self, value: &Value) -> String {
        let mut chain = self.chain.iter();
        let Some(first) = chain.next() else {
            let mut out = String::new();
            write_printable(&mut out, value);
            return out;
        };
        let mut text = first.apply(value);
        for esc in chain {
            text = esc.apply(&Value::Str(text));
        }
        text
    }
}

fn predefined(name: &str) -> Option<Esc> {
    match name {
        "html" => Some(Esc::Html),
        "urlquery" => Some(Esc::UrlQuery),
        _ => None,
    }
}

impl HtmlEscaper {
    /// Moves the context across template text and returns the text as Go writes it.
    pub(crate) fn text(&mut self, text: &str) -> Result<String, String> {
        escape_text(&mut self.context, text).map_err(|e| format!("html/template: {e}"))
    }

    /// The escapers for an action printed here (Go's `escapeAction` and
    /// `ensurePipelineContains`); the error is Go's message without its location.
    pub(crate) fn plan(&mut self, cmds: &[CmdInfo]) -> Result<Plan, String> {
        let c = nudge(self.context);
        self.context = c;
        for (pos, cmd) in cmds.iter().enumerate() {
            let Some(name) = cmd.ident.as_deref() else {
                continue;
            };
            let unquoted_html =
                c.state == State::Attr && c.delim == Delim::SpaceOrTagEnd && name == "html";
            if predefined(name).is_some() && (pos + 1 < cmds.len() || unquoted_html) {
                return Err(format!(
                    "predefined escaper {} disallowed in template",
                    super::strconv::go_quote(name)
                ));
            }
        }
        let unsupported = |what: &str| {
            Err(format!(
                "an action in {what} is not supported (Go escapes it; Tidemark refuses it)"
            ))
        };
        let mut chain = Vec::with_capacity(3);
        match c.state {
            State::Url => match c.url_part {
                UrlPart::None => chain.extend([Esc::UrlFilter, Esc::UrlNormalizer]),
                UrlPart::PreQuery => chain.push(Esc::UrlNormalizer),
                UrlPart::QueryOrFrag => chain.push(Esc::UrlEscaper),
            },
            State::Js => return unsupported("JavaScript"),
            State::Css
            | State::CssDqStr
            | State::CssSqStr
            | State::CssDqUrl
            | State::CssSqUrl
            | State::CssUrl => return unsupported("CSS"),
            State::Srcset => return unsupported("a srcset attribute"),
            State::Text => chain.push(Esc::HtmlEscaper),
            State::Rcdata => chain.push(Esc::RcdataEscaper),
            State::Attr => {}
            State::AttrName | State::Tag => {
                self.context.state = State::AttrName;
                chain.push(Esc::NameFilter);
            }
            State::HtmlCmt | State::CssBlockCmt | State::CssLineCmt => {
                chain.push(Esc::CommentEscaper)
            }
            State::AfterName | State::BeforeValue => {}
        }
        match c.delim {
            Delim::None => {}
            Delim::SpaceOrTagEnd => chain.push(Esc::NospaceEscaper),
            Delim::DoubleQuote | Delim::SingleQuote => chain.push(Esc::AttrEscaper),
        }
        Ok(merge_predefined(cmds, chain))
    }

    /// Go's check after the top-level template: the output must end in text.
    pub(crate) fn finish(&self) -> Result<(), String> {
        if self.context.state != State::Text {
            return Err(format!(
                "html/template: ends in a non-text context: {}",
                self.context
            ));
        }
        Ok(())
    }
}

/// Go's `ensurePipelineContains`: a pipeline ending in `html` or `urlquery` has that
/// escaper stand in for an equivalent one of `chain` (and is then not run twice).
fn merge_predefined(cmds: &[CmdInfo], mut chain: Vec<Esc>) -> Plan {
    let mut input = Input::Pipeline;
    let mut prefix = Vec::new();
    if let Some(last) = cmds.last()
        && let Some(esc) = last.ident.as_deref().and_then(predefined)
    {
        let eval_args = cmds.len() == 1 && last.args > 1;
        let mut dup = false;
        for e in chain.iter_mut() {
            if e.normalized() == esc {
                *e = esc;
                dup = true;
            }
        }
        input = match (eval_args, dup) {
            (true, _) => Input::EvalArgs,
            (false, true) => Input::WithoutLast,
            (false, false) => Input::Pipeline,
        };
        if eval_args && !dup {
            prefix.push(esc);
        }
    }
    let mut merged: Vec<Esc> = prefix;
    for esc in chain {
        if merged.last().is_some_and(|prev| prev.makes_redundant(esc)) {
            continue;
        }
        merged.push(esc);
    }
    Plan {
        input,
        chain: merged,
    }
}

/// `html/template`'s `evalArgs` (what `{{ html a b }}` prints): one string as is, anything
/// else as `fmt.Sprint` prints it.
pub(crate) fn eval_args(args: &[Value]) -> String {
    if let [Value::Str(s)] = args {
        return s.clone();
    }
    super::fmt::sprint(args)
}
