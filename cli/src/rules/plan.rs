//! The plan of `sync` and `diff`: what the server must change for its namespaces to hold the
//! groups of the rule files. A pure function of both sides ([`plan`]); groups are compared as
//! parsed and normalised [`RuleGroup`]s, so only what the ruler would evaluate differently
//! counts (not comments, formatting, or the order of groups).
//!
//! Order: the groups to create or update (namespaces by name, groups in file order), then the
//! groups to delete (namespaces by name, groups in the server's order). Deletions come last so
//! that a group that moves to another name, or to another file, is evaluated all along
//! (`mimirtool` also applies creations and updates before deletions).

use std::fmt;

use serde::Serialize;
use tidemark_alerting::rules::RuleGroup;

use super::Namespaces;

/// What a change does to one group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    /// The group is new on the server.
    Create,
    /// The server's group differs from the file's: it is replaced.
    Update,
    /// The server holds a group no file holds: it is deleted.
    Delete,
}

impl Op {
    /// How a plan line starts: `+`, `~`, `-`.
    pub fn sign(self) -> char {
        match self {
            Op::Create => '+',
            Op::Update => '~',
            Op::Delete => '-',
        }
    }
}

/// One group to change.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// The group's namespace.
    pub namespace: String,
    /// The group's name.
    pub group: String,
    /// What is done, with the group as each side holds it.
    pub kind: Kind,
}

/// What a [`Change`] does, and the groups it needs: the files' to send, the server's to
/// show what changes.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// The files' group is sent.
    Create {
        /// The group as the files hold it.
        local: RuleGroup,
    },
    /// The files' group is sent, replacing the server's.
    Update {
        /// The group as the files hold it.
        local: RuleGroup,
        /// The group as the server holds it.
        remote: RuleGroup,
    },
    /// The server's group is deleted.
    Delete {
        /// The group as the server holds it.
        remote: RuleGroup,
    },
}

impl Change {
    /// What is done.
    pub fn op(&self) -> Op {
        match self.kind {
            Kind::Create { .. } => Op::Create,
            Kind::Update { .. } => Op::Update,
            Kind::Delete { .. } => Op::Delete,
        }
    }

    /// The group as the files hold it (create, update).
    pub fn local(&self) -> Option<&RuleGroup> {
        match &self.kind {
            Kind::Create { local } | Kind::Update { local, .. } => Some(local),
            Kind::Delete { .. } => None,
        }
    }

    /// The group as the server holds it (update, delete).
    pub fn remote(&self) -> Option<&RuleGroup> {
        match &self.kind {
            Kind::Update { remote, .. } | Kind::Delete { remote } => Some(remote),
            Kind::Create { .. } => None,
        }
    }
}

impl fmt::Display for Change {
    /// `+ namespace/group`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.op().sign(), self.namespace, self.group)
    }
}

/// Which server namespaces the plan may delete groups from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prune {
    /// Only those the files hold: there, groups no file holds are deleted.
    FileNamespaces,
    /// Every namespace: those no file holds are deleted with all their groups.
    AllNamespaces,
}

/// What `sync` does, and what it leaves.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The changes, in the order they are applied.
    pub changes: Vec<Change>,
    /// The groups the files hold that the server already holds as they are.
    pub unchanged: usize,
}

/// A change as `--output json` prints it.
#[derive(Debug, Serialize)]
pub struct ChangeRow<'a> {
    /// `create`, `update` or `delete`.
    pub op: Op,
    /// The group's namespace.
    pub namespace: &'a str,
    /// The group's name.
    pub group: &'a str,
}

impl Plan {
    /// Whether the server already holds what the files hold.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// How many changes do `op`.
    pub fn count(&self, op: Op) -> usize {
        self.changes.iter().filter(|c| c.op() == op).count()
    }

    /// The line after the plan: `2 to create, 1 to update, 0 to delete, 3 unchanged`, or
    /// `no changes (3 groups unchanged)`.
    pub fn summary(&self) -> String {
        if self.is_empty() {
            return format!("no changes ({} groups unchanged)", self.unchanged);
        }
        format!(
            "{} to create, {} to update, {} to delete, {} unchanged",
            self.count(Op::Create),
            self.count(Op::Update),
            self.count(Op::Delete),
            self.unchanged
        )
    }

    /// The changes as `--output json` prints them.
    pub fn rows(&self) -> Vec<ChangeRow<'_>> {
        self.changes
            .iter()
            .map(|c| ChangeRow {
                op: c.op(),
                namespace: &c.namespace,
                group: &c.group,
            })
            .collect()
    }
}

/// What makes `remote` (the server's namespaces) hold `local` (the files'): for each
/// namespace of `local`, its groups created or updated and the server's other groups there
/// deleted; with [`Prune::AllNamespaces`], also every group of the server's namespaces that
/// `local` does not name.
pub fn plan(local: &Namespaces, remote: &Namespaces, prune: Prune) -> Plan {
    let mut plan = Plan::default();
    let no_groups = Vec::new();
    let names = local
        .keys()
        .chain(remote.keys().filter(|n| !local.contains_key(*n)));
    let mut names: Vec<&String> = names.collect();
    names.sort();
    for namespace in names {
        let theirs = remote.get(namespace).unwrap_or(&no_groups);
        let Some(ours) = local.get(namespace) else {
            if prune == Prune::AllNamespaces {
                plan.changes
                    .extend(theirs.iter().map(|g| deletion(namespace, g)));
            }
            continue;
        };
        for group in ours {
            let local = group.clone();
            let kind = match theirs.iter().find(|g| g.name == group.name) {
                None => Kind::Create { local },
                Some(current) if current == group => {
                    plan.unchanged += 1;
                    continue;
                }
                Some(current) => Kind::Update {
                    local,
                    remote: current.clone(),
                },
            };
            plan.changes.push(Change {
                namespace: namespace.clone(),
                group: group.name.clone(),
                kind,
            });
        }
        plan.changes.extend(
            theirs
                .iter()
                .filter(|g| !ours.iter().any(|o| o.name == g.name))
                .map(|g| deletion(namespace, g)),
        );
    }
    // Stable: each kind keeps the order above.
    plan.changes.sort_by_key(|c| c.op() == Op::Delete);
    plan
}

/// The deletion of the server's group `group` of `namespace`.
fn deletion(namespace: &str, group: &RuleGroup) -> Change {
    Change {
        namespace: namespace.to_string(),
        group: group.name.clone(),
        kind: Kind::Delete {
            remote: group.clone(),
        },
    }
}
