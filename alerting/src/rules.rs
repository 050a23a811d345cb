//! Rule groups in Prometheus' rule-file YAML (`rulefmt`), parsed and validated.
//!
//! The same types are the ruler's stored form (bincode in the ruler group) and what the API
//! answers (YAML): a group read back is the group uploaded, normalised (durations in
//! Prometheus' canonical form, defaults omitted).
//!
//! Validation is Prometheus 3.5's (`model/rulefmt`), plus the ruler's limits: YAML errors with
//! line and column, unknown fields, exactly one of `record`/`alert`, valid metric and label
//! names (any non-empty name, Prometheus 3's `utf8` scheme, unless
//! [`RuleLimits::legacy_names`]), PromQL that parses (errors name the group and the rule),
//! templates that parse, no duplicate group names in a namespace, and [`RuleLimits`].
//!
//! - `duration.rs`: [`PromDuration`]'s text form (`model.ParseDuration`, `Duration.String()`).
//! - `parse.rs`: [`parse_rule_file`], [`parse_rule_group`], [`parse_namespaces`]: decoding,
//!   YAML errors, normalisation.
//! - `validate.rs`: the checks, with Prometheus' wording, and the limits.
//! - `serialize.rs`, `yaml.rs`: the written form ([`to_yaml`], [`RuleGroup::to_yaml`]), and
//!   the stored one.

mod duration;
mod parse;
mod serialize;
mod validate;
mod yaml;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use parse::{parse_namespaces, parse_rule_file, parse_rule_group};
pub use yaml::to_yaml;

/// A duration in Prometheus' notation (`30s`, `1m`, `1h30m`, `1d`), held in milliseconds;
/// written back in Prometheus' canonical form (`model.Duration.String()`: `1h30m`, `0s`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PromDuration(pub i64);

/// A file of rule groups (`groups:`), as Prometheus reads one from `rule_files`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    /// The groups, in file order.
    #[serde(default)]
    pub groups: Vec<RuleGroup>,
}

/// One rule group: rules evaluated in order, at one interval. (Written by hand: defaults are
/// left out of YAML only; see `serialize.rs`.)
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleGroup {
    /// The group's name, unique in its namespace.
    #[serde(default)]
    pub name: String,
    /// How often the group is evaluated; the ruler's default when absent.
    #[serde(default)]
    pub interval: Option<PromDuration>,
    /// How far back from the evaluation time the rules query; the global
    /// `rule_query_offset` when absent.
    #[serde(default)]
    pub query_offset: Option<PromDuration>,
    /// At most this many alerts (alerting rule) or series (recording rule) per rule; 0 means
    /// no limit.
    #[serde(default)]
    pub limit: u64,
    /// Labels added to every rule's output (Prometheus 3: rule labels win over these).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The rules, in evaluation order.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One rule as written: `record` or `alert` (exactly one), and its fields. (Written by hand:
/// defaults are left out of YAML only; see `serialize.rs`.)
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A recording rule's output metric name.
    #[serde(default)]
    pub record: Option<String>,
    /// An alerting rule's alert name.
    #[serde(default)]
    pub alert: Option<String>,
    /// The PromQL expression.
    #[serde(default)]
    pub expr: String,
    /// How long an alert is pending before it fires (alerting rules).
    #[serde(default, rename = "for")]
    pub for_: Option<PromDuration>,
    /// How long an alert keeps firing after its condition cleared (alerting rules).
    #[serde(default)]
    pub keep_firing_for: Option<PromDuration>,
    /// Labels added to the output (templates, for alerting rules).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations (templates; alerting rules only).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Rule {
    /// The rule's name: its `alert` or its `record`.
    pub fn name(&self) -> &str {
        self.alert
            .as_deref()
            .or(self.record.as_deref())
            .unwrap_or_default()
    }

    /// Whether this is an alerting rule.
    pub fn is_alerting(&self) -> bool {
        self.alert.is_some()
    }

    /// What identifies the rule's state across updates of its group: its name and labels
    /// (Prometheus' `nameAndLabels`, used when a reloaded group takes over the old one's
    /// alerts).
    pub fn identity(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!("{}{{{}}}", self.name(), labels.join(", "))
    }
}

/// The ruler's limits on what an upload may hold (0 means no limit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleLimits {
    /// Rules in one group.
    pub rules_per_group_max: usize,
    /// Groups in one namespace.
    pub groups_per_namespace_max: usize,
    /// Bytes of one upload (a group, or a rule file).
    pub body_bytes_max: usize,
    /// The shortest interval a group may ask for, in ms.
    pub interval_min_ms: i64,
    /// Whether metric and label names must be Prometheus' legacy names
    /// (`[a-zA-Z_:][a-zA-Z0-9_:]*`, labels without `:`), as under the `legacy` name validation
    /// scheme; otherwise any non-empty name is valid, as under Prometheus 3's default `utf8`.
    /// Not a setting of its own: the node derives it from its `name_validation`.
    #[serde(skip)]
    pub legacy_names: bool,
}

impl Default for RuleLimits {
    fn default() -> Self {
        RuleLimits {
            rules_per_group_max: 200,
            groups_per_namespace_max: 200,
            body_bytes_max: 1 << 20,
            interval_min_ms: 1_000,
            legacy_names: false,
        }
    }
}

/// Why an upload was refused: the message says where (line and column for YAML, the group and
/// rule for everything else).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct RuleError(pub String);

#[cfg(test)]
mod tests;
