//! The checks a decoded group passes: Prometheus 3.5's (`rulefmt`'s `RuleGroups.Validate` and
//! `Rule.Validate`) with its wording, and the ruler's [`RuleLimits`].

use tidemark_query::syntax::{self, SyntaxLimits};

use super::{PromDuration, Rule, RuleError, RuleGroup, RuleLimits};

/// At most this many errors are told of one upload; the rest are counted.
const ERRORS_SHOWN_MAX: usize = 10;

/// The errors found so far, in the order found.
#[derive(Debug, Default)]
pub(super) struct Errors(Vec<String>);

impl Errors {
    pub(super) fn push(&mut self, error: String) {
        self.0.push(error);
    }

    /// Takes `other`'s errors, each after `prefix`.
    pub(super) fn extend_prefixed(&mut self, prefix: &str, other: Errors) {
        self.0
            .extend(other.0.into_iter().map(|e| format!("{prefix}{e}")));
    }

    /// `value` when nothing was found, else the first [`ERRORS_SHOWN_MAX`] errors, one a line.
    pub(super) fn into_result<T>(self, value: T) -> Result<T, RuleError> {
        if self.0.is_empty() {
            return Ok(value);
        }
        let total = self.0.len();
        let mut lines: Vec<String> = self.0.into_iter().take(ERRORS_SHOWN_MAX).collect();
        if total > ERRORS_SHOWN_MAX {
            lines.push(format!("(and {} more errors)", total - ERRORS_SHOWN_MAX));
        }
        Err(RuleError(lines.join("\n")))
    }
}

impl RuleLimits {
    /// Refuses an upload of `bytes` over `body_bytes_max`.
    pub fn check_body_bytes(&self, bytes: usize) -> Result<(), RuleError> {
        if self.body_bytes_max > 0 && bytes > self.body_bytes_max {
            return Err(RuleError(format!(
                "rules upload of {bytes} bytes is larger than the limit of {} bytes (body_bytes_max)",
                self.body_bytes_max
            )));
        }
        Ok(())
    }

    /// Refuses a namespace that would hold `groups` groups, over `groups_per_namespace_max`
    /// (a rule file is checked as one namespace; a group uploaded alone is checked by its
    /// caller with the namespace's count after the upload).
    pub fn check_groups_per_namespace(&self, groups: usize) -> Result<(), RuleError> {
        if self.groups_per_namespace_max > 0 && groups > self.groups_per_namespace_max {
            return Err(RuleError(format!(
                "{groups} rule groups in one namespace, more than the limit of {} (groups_per_namespace_max)",
                self.groups_per_namespace_max
            )));
        }
        Ok(())
    }

    /// Whether `name` may name a metric (a recording rule's output).
    fn metric_name_ok(&self, name: &str) -> bool {
        if !self.legacy_names {
            return !name.is_empty();
        }
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }

    /// Whether `name` may name a label or an annotation.
    fn label_name_ok(&self, name: &str) -> bool {
        if !self.legacy_names {
            return !name.is_empty();
        }
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    }
}

/// Checks one group and its rules; errors about a rule name its group, its position (from 1)
/// and its name, as Prometheus' do: `group "g", rule 2, "HighLatency": …`.
pub(super) fn group(
    group: &RuleGroup,
    limits: &RuleLimits,
    check: &dyn Fn(&str) -> Result<(), String>,
    errors: &mut Errors,
) {
    let name = &group.name;
    if name.is_empty() {
        errors.push("Groupname must not be empty".into());
    }
    if let Some(interval) = group.interval
        && interval.0 < limits.interval_min_ms
    {
        errors.push(format!(
            "group {name:?}: interval {interval} is shorter than the minimum of {} (interval_min_ms)",
            PromDuration(limits.interval_min_ms)
        ));
    }
    if limits.rules_per_group_max > 0 && group.rules.len() > limits.rules_per_group_max {
        errors.push(format!(
            "group {name:?}: {} rules, more than the limit of {} (rules_per_group_max)",
            group.rules.len(),
            limits.rules_per_group_max
        ));
    }
    for label in group.labels.keys() {
        if !limits.label_name_ok(label) || label == "__name__" {
            errors.push(format!("group {name:?}: invalid label name: {label}"));
        }
    }
    for (index, r) in group.rules.iter().enumerate() {
        let mut found = Errors::default();
        rule(r, limits, check, &mut found);
        let prefix = format!("group {name:?}, rule {}, {:?}: ", index + 1, r.name());
        errors.extend_prefixed(&prefix, found);
    }
}

/// Checks one rule (Prometheus' `Rule.Validate`, and its templates' parsing).
fn rule(
    rule: &Rule,
    limits: &RuleLimits,
    check: &dyn Fn(&str) -> Result<(), String>,
    errors: &mut Errors,
) {
    match (&rule.record, &rule.alert) {
        (Some(_), Some(_)) => errors.push("only one of 'record' and 'alert' must be set".into()),
        (None, None) => errors.push("one of 'record' or 'alert' must be set".into()),
        _ => {}
    }
    if rule.expr.is_empty() {
        errors.push("field 'expr' must be set in rule".into());
    } else if let Err(err) = syntax::parse(&rule.expr, &SyntaxLimits::default()) {
        errors.push(format!("could not parse expression: {err}"));
    }
    if let Some(record) = &rule.record {
        if !rule.annotations.is_empty() {
            errors.push("invalid field 'annotations' in recording rule".into());
        }
        if rule.for_.is_some() {
            errors.push("invalid field 'for' in recording rule".into());
        }
        if rule.keep_firing_for.is_some() {
            errors.push("invalid field 'keep_firing_for' in recording rule".into());
        }
        if !limits.metric_name_ok(record) {
            errors.push(format!("invalid recording rule name: {record}"));
        }
        // Valid as a UTF-8 name, but most likely PromQL written in the wrong field.
        if record.contains(['{', '}']) {
            errors.push(format!(
                "braces present in the recording rule name; should it be in expr?: {record}"
            ));
        }
    }
    for label in rule.labels.keys() {
        if !limits.label_name_ok(label) || label == "__name__" {
            errors.push(format!("invalid label name: {label}"));
        }
    }
    for annotation in rule.annotations.keys() {
        if !limits.label_name_ok(annotation) {
            errors.push(format!("invalid annotation name: {annotation}"));
        }
    }
    // Only alerting rules' labels and annotations are templates.
    if rule.is_alerting() {
        for (label, text) in &rule.labels {
            if let Err(err) = check(text) {
                errors.push(format!("label {label:?}: {err}"));
            }
        }
        for (annotation, text) in &rule.annotations {
            if let Err(err) = check(text) {
                errors.push(format!("annotation {annotation:?}: {err}"));
            }
        }
    }
}
