//! Rule YAML into [`RuleFile`]s and [`RuleGroup`]s: decoding (YAML errors with their line and
//! column, unknown fields named as Prometheus names them), normalisation, then validation
//! ([`super::validate`]).

use std::collections::{BTreeMap, HashSet};

use serde::de::DeserializeOwned;

use super::validate::{self, Errors};
use super::{PromDuration, RuleError, RuleFile, RuleGroup, RuleLimits};

/// Parses and validates a rule file (`groups:` and a list of groups), as Prometheus reads one
/// from `rule_files` and as Mimir takes one namespace: each group as [`parse_rule_group`]
/// validates it, no two groups with one name, and at most `groups_per_namespace_max` groups.
/// An empty file holds no groups. `check` is how label and annotation templates are checked
/// (the ruler passes [`crate::template::check_alert`]).
pub fn parse_rule_file(
    yaml: &str,
    limits: &RuleLimits,
    check: &dyn Fn(&str) -> Result<(), String>,
) -> Result<RuleFile, RuleError> {
    limits.check_body_bytes(yaml.len())?;
    let mut file = decode::<RuleFile>(yaml)?.unwrap_or_default();
    file.groups.iter_mut().for_each(normalise);
    let mut errors = Errors::default();
    validate_namespace(&file.groups, limits, check, &mut errors);
    errors.into_result(file)
}

/// Parses and validates one rule group: the body of Mimir's `POST /config/v1/rules/{namespace}`.
/// Validation is Prometheus' (`rulefmt`) and the ruler's limits but `groups_per_namespace_max`,
/// which the caller checks against the namespace the group joins
/// ([`RuleLimits::check_groups_per_namespace`]).
pub fn parse_rule_group(
    yaml: &str,
    limits: &RuleLimits,
    check: &dyn Fn(&str) -> Result<(), String>,
) -> Result<RuleGroup, RuleError> {
    limits.check_body_bytes(yaml.len())?;
    let mut group = decode::<RuleGroup>(yaml)?.unwrap_or_default();
    normalise(&mut group);
    let mut errors = Errors::default();
    validate::group(&group, limits, check, &mut errors);
    errors.into_result(group)
}

/// Parses and validates the answer of Mimir's `GET /config/v1/rules` (what [`super::to_yaml`]
/// writes): a map of namespace to its groups, each namespace validated as a rule file. It is a
/// listing rather than an upload, so `body_bytes_max` does not apply to it.
pub fn parse_namespaces(
    yaml: &str,
    limits: &RuleLimits,
    check: &dyn Fn(&str) -> Result<(), String>,
) -> Result<BTreeMap<String, Vec<RuleGroup>>, RuleError> {
    let mut namespaces = decode::<BTreeMap<String, Vec<RuleGroup>>>(yaml)?.unwrap_or_default();
    let mut errors = Errors::default();
    for (namespace, groups) in &mut namespaces {
        groups.iter_mut().for_each(normalise);
        let mut in_namespace = Errors::default();
        validate_namespace(groups, limits, check, &mut in_namespace);
        errors.extend_prefixed(&format!("namespace {namespace:?}: "), in_namespace);
    }
    errors.into_result(namespaces)
}

/// The checks of one namespace (or file): its groups, their names, their number.
fn validate_namespace(
    groups: &[RuleGroup],
    limits: &RuleLimits,
    check: &dyn Fn(&str) -> Result<(), String>,
    errors: &mut Errors,
) {
    if let Err(err) = limits.check_groups_per_namespace(groups.len()) {
        errors.push(err.0);
    }
    let mut names = HashSet::new();
    for group in groups {
        if !names.insert(group.name.as_str()) {
            errors.push(format!(
                "groupname: {:?} is repeated in the same file",
                group.name
            ));
        }
        validate::group(group, limits, check, errors);
    }
}

/// Writes defaults the way they are read back: a zero `interval`, `for` or `keep_firing_for`
/// is no value (Prometheus' `omitempty` durations), and an empty `record` or `alert` is none.
/// `query_offset` is kept: a zero there overrides the ruler's default offset.
fn normalise(group: &mut RuleGroup) {
    fn drop_zero(d: &mut Option<PromDuration>) {
        if *d == Some(PromDuration(0)) {
            *d = None;
        }
    }
    fn drop_empty(name: &mut Option<String>) {
        if name.as_deref() == Some("") {
            *name = None;
        }
    }
    drop_zero(&mut group.interval);
    for rule in &mut group.rules {
        drop_zero(&mut rule.for_);
        drop_zero(&mut rule.keep_firing_for);
        drop_empty(&mut rule.record);
        drop_empty(&mut rule.alert);
    }
}

/// Decodes one YAML document; `None` when it is empty (only comments, or nothing).
fn decode<T: DeserializeOwned>(yaml: &str) -> Result<Option<T>, RuleError> {
    serde_yaml::from_str::<Option<T>>(yaml).map_err(yaml_error)
}

/// A YAML error as a [`RuleError`] that starts with where it is: `yaml: line 4, column 7: …`.
/// Errors of the YAML syntax itself already end with their line and column (libyaml's
/// wording: `… at line 4 column 7, while parsing a block mapping at line 1 column 1`).
fn yaml_error(err: serde_yaml::Error) -> RuleError {
    let text = err.to_string();
    let Some(location) = err.location() else {
        return RuleError(format!("yaml: {text}"));
    };
    let (line, column) = (location.line(), location.column());
    let message = match text.strip_suffix(&format!(" at line {line} column {column}")) {
        Some(message) => message,
        // serde_yaml leaves out a position at the very start of the document.
        None if (line, column) == (1, 1) && !text.contains(" at line ") => &text,
        None => return RuleError(format!("yaml: {text}")),
    };
    RuleError(format!(
        "yaml: line {line}, column {column}: {}",
        prometheus_unknown_field(message)
    ))
}

/// Rewrites serde's ``unknown field `foo`, expected one of `record`, …`` into Prometheus'
/// ``field foo not found in type rulefmt.Rule``, keeping what precedes it (serde_yaml's path
/// to the field, `groups[0].rules[1]: `). The type is told by the fields serde expected,
/// which are this module's own types'.
fn prometheus_unknown_field(message: &str) -> String {
    const MARKER: &str = "unknown field `";
    let Some(start) = message.find(MARKER) else {
        return message.to_string();
    };
    let after = &message[start + MARKER.len()..];
    let Some(end) = after.find('`') else {
        return message.to_string();
    };
    let (field, expected) = (&after[..end], &after[end..]);
    let type_name = if expected.contains("`expr`") {
        "rulefmt.Rule"
    } else if expected.contains("`rules`") {
        "rulefmt.RuleGroup"
    } else if expected.contains("`groups`") {
        "rulefmt.RuleGroups"
    } else {
        return message.to_string();
    };
    format!(
        "{}field {field} not found in type {type_name}",
        &message[..start]
    )
}
