//! Rule groups written back as YAML, as the ruler's API answers them: what was uploaded,
//! normalised (canonical durations, defaults omitted), and read back unchanged by the parsers.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{RuleFile, RuleGroup};

/// Mimir's `GET /config/v1/rules` (and `…/rules/{namespace}`) answer: a YAML map of namespace
/// to its groups, namespaces sorted by name, groups in their order.
/// [`super::parse_namespaces`] reads it back.
pub fn to_yaml(namespaces: &BTreeMap<String, Vec<RuleGroup>>) -> String {
    write(namespaces)
}

impl RuleGroup {
    /// The group as YAML (Mimir's `GET /config/v1/rules/{namespace}/{group}` answer);
    /// [`super::parse_rule_group`] reads it back.
    pub fn to_yaml(&self) -> String {
        write(self)
    }
}

impl RuleFile {
    /// The file as YAML (`groups:`); [`super::parse_rule_file`] reads it back.
    pub fn to_yaml(&self) -> String {
        write(self)
    }
}

fn write<T: Serialize>(value: &T) -> String {
    // Strings, maps of strings, lists and integers: nothing here that YAML cannot hold.
    serde_yaml::to_string(value).expect("rule groups are always representable in YAML")
}
