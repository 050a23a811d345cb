//! The ruler group's replicated state (rule groups by namespace and the committed state of each
//! group's alerts) and its commands. Applied by plain functions: applying a command depends only
//! on the command, its log index and the state (DESIGN.md, "Determinism").
//!
//! # Format (bincode, `raft/codec.rs`)
//! [`RulerCommand`] is carried in log entries as `Request::Ruler`; [`RulerState`] is part of the
//! ruler group's persisted record (`raft/state_machine.rs`, `RulerSmRecord`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tidemark_alerting::notify::state::{NotifierCommand, NotifierState};
use tidemark_alerting::rules::RuleGroup;
use tidemark_alerting::state::GroupState;

use crate::raft::NodeId;

/// Where a namespace's rules come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// The rules API (`/config/v1/rules`, `tidemarkctl rules`).
    Api,
    /// A rule file named in a node's configuration (read-only through the API).
    File {
        /// The node whose configuration names it.
        node: NodeId,
        /// The file's path as configured.
        path: String,
    },
}

/// A rule group as stored: its definition, the log index that last set it, and its state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredGroup {
    /// The definition.
    pub group: RuleGroup,
    /// The log index of the command that last set the definition: an iteration evaluated
    /// against another version is refused.
    pub version: u64,
    /// The committed state of its rules and alerts.
    pub state: GroupState,
}

/// A namespace: its origin and its groups in upload order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Namespace {
    /// Where its rules come from.
    pub origin: Origin,
    /// Its groups, in the order they were first uploaded.
    pub groups: Vec<StoredGroup>,
}

impl Namespace {
    /// The group named `name`.
    pub fn group(&self, name: &str) -> Option<&StoredGroup> {
        self.groups.iter().find(|g| g.group.name == name)
    }
}

/// The ruler group's state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RulerState {
    /// Namespaces by name.
    pub namespaces: BTreeMap<String, Namespace>,
    /// The built-in notifier: its configuration, alerts, groups, silences, notification log
    /// and outbox.
    pub notifier: NotifierState,
}

/// A command of the ruler group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RulerCommand {
    /// Adds group `group` to `namespace` (created with `origin` if absent) or replaces the
    /// group of the same name, carrying the state of rules whose identity it still has.
    SetGroup {
        /// The namespace.
        namespace: String,
        /// Its origin, if it is created.
        origin: Origin,
        /// The validated group.
        group: RuleGroup,
    },
    /// Replaces every group of `namespace` (a rule file's import): groups of the same name
    /// keep their state, others are dropped; no groups removes the namespace.
    SetNamespace {
        /// The namespace.
        namespace: String,
        /// Its origin.
        origin: Origin,
        /// The validated groups.
        groups: Vec<RuleGroup>,
    },
    /// Removes a group (no-op when absent); a namespace left without groups goes too.
    DeleteGroup {
        /// The namespace.
        namespace: String,
        /// The group's name.
        group: String,
    },
    /// Removes a namespace and its groups (no-op when absent).
    DeleteNamespace {
        /// The namespace.
        namespace: String,
    },
    /// "Group G, iteration at `ts_ms`, done": its new state. Ignored unless the group is still
    /// at `version` and `ts_ms` is after its last committed iteration, so that a deposed
    /// leader's late iteration changes nothing.
    IterationDone {
        /// The namespace.
        namespace: String,
        /// The group's name.
        group: String,
        /// The definition's version the iteration evaluated.
        version: u64,
        /// The iteration's evaluation time.
        ts_ms: i64,
        /// The group's state after it.
        state: GroupState,
    },
    /// A command of the built-in notifier.
    Notifier(NotifierCommand),
}

impl RulerCommand {
    /// The command's name, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            RulerCommand::SetGroup { .. } => "set group",
            RulerCommand::SetNamespace { .. } => "set namespace",
            RulerCommand::DeleteGroup { .. } => "delete group",
            RulerCommand::DeleteNamespace { .. } => "delete namespace",
            RulerCommand::IterationDone { .. } => "iteration done",
            RulerCommand::Notifier(c) => c.kind(),
        }
    }
}

impl RulerState {
    /// The stored group `name` of `namespace`.
    pub fn group(&self, namespace: &str, name: &str) -> Option<&StoredGroup> {
        self.namespaces.get(namespace)?.group(name)
    }

    /// Whether this state shows the effect of `cmd` (a client's change; an iteration always
    /// counts as shown).
    pub fn shows(&self, cmd: &RulerCommand) -> bool {
        match cmd {
            RulerCommand::SetGroup {
                namespace, group, ..
            } => self
                .group(namespace, &group.name)
                .is_some_and(|g| g.group == *group),
            RulerCommand::SetNamespace {
                namespace, groups, ..
            } => match self.namespaces.get(namespace) {
                None => groups.is_empty(),
                Some(ns) => {
                    ns.groups.len() == groups.len()
                        && ns.groups.iter().zip(groups).all(|(a, b)| a.group == *b)
                }
            },
            RulerCommand::DeleteGroup { namespace, group } => {
                self.group(namespace, group).is_none()
            }
            RulerCommand::DeleteNamespace { namespace } => !self.namespaces.contains_key(namespace),
            RulerCommand::IterationDone { .. } => true,
            RulerCommand::Notifier(c) => self.notifier.shows(c),
        }
    }

    /// Applies `cmd`, the entry at log index `index` (deterministic; never fails).
    pub fn apply(&mut self, index: u64, cmd: &RulerCommand) {
        match cmd {
            RulerCommand::SetGroup {
                namespace,
                origin,
                group,
            } => {
                let ns = self
                    .namespaces
                    .entry(namespace.clone())
                    .or_insert_with(|| Namespace {
                        origin: origin.clone(),
                        groups: Vec::new(),
                    });
                match ns.groups.iter_mut().find(|g| g.group.name == group.name) {
                    // The same definition again (a re-save, a sync) changes nothing: the
                    // iteration in flight stays valid.
                    Some(stored) if stored.group == *group => {}
                    Some(stored) => {
                        stored.state = stored.state.carried_to(group);
                        stored.group = group.clone();
                        stored.version = index;
                    }
                    None => ns.groups.push(StoredGroup {
                        state: GroupState::default().carried_to(group),
                        group: group.clone(),
                        version: index,
                    }),
                }
            }
            RulerCommand::SetNamespace {
                namespace,
                origin,
                groups,
            } => {
                if groups.is_empty() {
                    self.namespaces.remove(namespace);
                    return;
                }
                let old = self.namespaces.remove(namespace);
                let stored = groups
                    .iter()
                    .map(|g| {
                        let prior = old.as_ref().and_then(|ns| ns.group(&g.name));
                        match prior {
                            Some(p) if p.group == *g => p.clone(),
                            Some(p) => StoredGroup {
                                state: p.state.carried_to(g),
                                group: g.clone(),
                                version: index,
                            },
                            None => StoredGroup {
                                state: GroupState::default().carried_to(g),
                                group: g.clone(),
                                version: index,
                            },
                        }
                    })
                    .collect();
                self.namespaces.insert(
                    namespace.clone(),
                    Namespace {
                        origin: origin.clone(),
                        groups: stored,
                    },
                );
            }
            RulerCommand::DeleteGroup { namespace, group } => {
                if let Some(ns) = self.namespaces.get_mut(namespace) {
                    ns.groups.retain(|g| g.group.name != *group);
                    if ns.groups.is_empty() {
                        self.namespaces.remove(namespace);
                    }
                }
            }
            RulerCommand::DeleteNamespace { namespace } => {
                self.namespaces.remove(namespace);
            }
            RulerCommand::IterationDone {
                namespace,
                group,
                version,
                ts_ms,
                state,
            } => {
                let Some(stored) = self
                    .namespaces
                    .get_mut(namespace)
                    .and_then(|ns| ns.groups.iter_mut().find(|g| g.group.name == *group))
                else {
                    return;
                };
                let newer = stored
                    .state
                    .last_evaluation_ms
                    .is_none_or(|last| *ts_ms > last);
                if stored.version == *version && newer {
                    stored.state = state.clone();
                }
            }
            RulerCommand::Notifier(c) => self.notifier.apply(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidemark_alerting::rules::Rule;
    use tidemark_alerting::state::{Health, RuleState};

    fn alert(name: &str) -> Rule {
        Rule {
            alert: Some(name.into()),
            expr: "up == 0".into(),
            ..Default::default()
        }
    }

    fn group(name: &str, rules: &[&str]) -> RuleGroup {
        RuleGroup {
            name: name.into(),
            rules: rules.iter().map(|r| alert(r)).collect(),
            ..Default::default()
        }
    }

    fn set(ns: &str, g: RuleGroup) -> RulerCommand {
        RulerCommand::SetGroup {
            namespace: ns.into(),
            origin: Origin::Api,
            group: g,
        }
    }

    fn done(version: u64, ts_ms: i64, marker: &str) -> RulerCommand {
        RulerCommand::IterationDone {
            namespace: "ns".into(),
            group: "g".into(),
            version,
            ts_ms,
            state: GroupState {
                last_evaluation_ms: Some(ts_ms),
                iterations: 1,
                rules: vec![
                    RuleState {
                        identity: "A{}".into(),
                        health: Health::Err,
                        last_error: marker.into(),
                        ..Default::default()
                    },
                    RuleState {
                        identity: "B{}".into(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            },
        }
    }

    #[test]
    fn iterations_apply_once_in_order_and_only_to_their_version() {
        let mut s = RulerState::default();
        s.apply(5, &set("ns", group("g", &["A", "B"])));
        assert_eq!(s.group("ns", "g").unwrap().version, 5);
        s.apply(6, &done(5, 1_000, "first"));
        let state = |s: &RulerState| s.group("ns", "g").unwrap().state.clone();
        assert_eq!(state(&s).rules[0].last_error, "first");
        // A late or repeated iteration (a deposed leader's) changes nothing.
        s.apply(7, &done(5, 1_000, "again"));
        s.apply(8, &done(5, 500, "older"));
        assert_eq!(state(&s).rules[0].last_error, "first");
        // The same definition again changes nothing: the iteration in flight stays valid.
        s.apply(8, &set("ns", group("g", &["A", "B"])));
        assert_eq!(s.group("ns", "g").unwrap().version, 5);
        // An iteration of the previous definition is refused after an update.
        s.apply(9, &set("ns", group("g", &["B", "A", "C"])));
        s.apply(10, &done(5, 2_000, "stale version"));
        let st = state(&s);
        assert_eq!(st.last_evaluation_ms, Some(1_000));
        // Rules keep their state by identity, whatever their position.
        let ids: Vec<&str> = st.rules.iter().map(|r| r.identity.as_str()).collect();
        assert_eq!(ids, ["B{}", "A{}", "C{}"]);
        assert_eq!(st.rules[1].last_error, "first");
        assert_eq!(st.rules[2].health, Health::Unknown);
        s.apply(11, &done(9, 2_000, "new"));
        assert_eq!(state(&s).last_evaluation_ms, Some(2_000));
    }

    #[test]
    fn namespaces_keep_upload_order_and_vanish_when_empty() {
        let mut s = RulerState::default();
        s.apply(1, &set("ns", group("b", &["A"])));
        s.apply(2, &set("ns", group("a", &["A"])));
        let names = |s: &RulerState| -> Vec<String> {
            s.namespaces["ns"]
                .groups
                .iter()
                .map(|g| g.group.name.clone())
                .collect()
        };
        assert_eq!(names(&s), ["b", "a"]);
        s.apply(
            3,
            &RulerCommand::DeleteGroup {
                namespace: "ns".into(),
                group: "b".into(),
            },
        );
        assert_eq!(names(&s), ["a"]);
        s.apply(
            4,
            &RulerCommand::DeleteGroup {
                namespace: "ns".into(),
                group: "a".into(),
            },
        );
        assert!(s.namespaces.is_empty());
        s.apply(5, &set("x", group("a", &["A"])));
        s.apply(
            6,
            &RulerCommand::DeleteNamespace {
                namespace: "x".into(),
            },
        );
        assert!(s.namespaces.is_empty());
    }

    #[test]
    fn a_namespace_import_keeps_unchanged_groups_as_they_were() {
        let mut s = RulerState::default();
        let file = Origin::File {
            node: 1,
            path: "/etc/rules.yml".into(),
        };
        let import = |groups: Vec<RuleGroup>| RulerCommand::SetNamespace {
            namespace: "file".into(),
            origin: file.clone(),
            groups,
        };
        s.apply(1, &import(vec![group("g", &["A"]), group("h", &["A"])]));
        s.apply(
            2,
            &RulerCommand::IterationDone {
                namespace: "file".into(),
                group: "g".into(),
                version: 1,
                ts_ms: 10,
                state: GroupState {
                    last_evaluation_ms: Some(10),
                    ..Default::default()
                },
            },
        );
        s.apply(
            3,
            &import(vec![group("g", &["A"]), group("h", &["A", "B"])]),
        );
        assert_eq!(s.group("file", "g").unwrap().version, 1);
        assert_eq!(
            s.group("file", "g").unwrap().state.last_evaluation_ms,
            Some(10)
        );
        assert_eq!(s.group("file", "h").unwrap().version, 3);
        assert_eq!(s.namespaces["file"].origin, file);
        s.apply(4, &import(vec![]));
        assert!(s.namespaces.is_empty());
    }
}
