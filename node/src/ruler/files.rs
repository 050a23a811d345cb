//! Rule files named in a node's configuration (`rule_files`, `--rule-file`): read and validated
//! at start (a bad file stops the node, as it stops Prometheus), then imported into the
//! replicated rule store, each file into the namespace named by its path, owned by the file
//! (read-only through the API). When another node's file of the same path holds other rules,
//! the difference is reported (log, `/api/v1/status/ruler`, a counter) and nothing is applied.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tidemark_alerting::rules::{RuleGroup, parse_rule_file};
use tidemark_alerting::template::check_alert;

use super::Ruler;
use super::record::{Origin, RulerCommand};
use crate::config::Config;
use crate::error::NodeError;

/// Ticks of the ruler loop between two checks once every file is imported.
const RECHECK_TICKS: u64 = 60;

/// This node's rule files and what importing them found.
pub struct FileImport {
    files: Vec<(String, Vec<RuleGroup>)>,
    done: AtomicBool,
    ticks: AtomicU64,
    problems: Mutex<Vec<String>>,
    /// Imports refused because another node's file of the same path differs.
    pub conflicts: AtomicU64,
}

impl FileImport {
    /// Reads and validates `config.rule_files`.
    pub fn load(config: &Config) -> Result<Self, NodeError> {
        let mut files = Vec::new();
        for path in &config.rule_files {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path)
                .map_err(|e| NodeError::Startup(format!("rule file {shown}: {e}")))?;
            let file = parse_rule_file(&text, &config.rule_limits(), &check_alert)
                .map_err(|e| NodeError::Startup(format!("rule file {shown}: {e}")))?;
            files.push((shown, file.groups));
        }
        Ok(FileImport {
            done: AtomicBool::new(false),
            files,
            ticks: AtomicU64::new(0),
            problems: Mutex::new(Vec::new()),
            conflicts: AtomicU64::new(0),
        })
    }

    /// What the last import found wrong (empty when every file is in the store as it is here).
    pub fn problems(&self) -> Vec<String> {
        self.problems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Brings the store in line with this node's files (see the module doc); runs until it
    /// succeeded once, then every [`RECHECK_TICKS`] calls.
    pub(super) async fn import(&self, ruler: &Ruler) -> Result<(), NodeError> {
        let tick = self.ticks.fetch_add(1, Ordering::Relaxed);
        if self.done.load(Ordering::Relaxed) && !tick.is_multiple_of(RECHECK_TICKS) {
            return Ok(());
        }
        let me = ruler.host.node_id();
        // Files this node imported before and no longer names go away with their rules.
        let dropped: Vec<String> = ruler.with_state(|s| {
            s.namespaces
                .iter()
                .filter(|(name, ns)| {
                    matches!(ns.origin, Origin::File { node, .. } if node == me)
                        && !self.files.iter().any(|(path, _)| path == *name)
                })
                .map(|(name, _)| name.clone())
                .collect()
        });
        for namespace in dropped {
            tracing::info!(path = %namespace, "a rule file no longer configured: its rules go");
            ruler
                .propose(RulerCommand::DeleteNamespace { namespace })
                .await?;
        }
        let mut problems = Vec::new();
        for (path, groups) in &self.files {
            let stored = ruler.with_state(|s| {
                s.namespaces.get(path).map(|ns| {
                    let same = ns.groups.len() == groups.len()
                        && ns.groups.iter().zip(groups).all(|(a, b)| a.group == *b);
                    (ns.origin.clone(), same)
                })
            });
            match stored {
                Some((_, true)) => continue,
                Some((Origin::File { node, .. }, false)) if node != me => {
                    self.conflicts.fetch_add(1, Ordering::Relaxed);
                    let msg = format!(
                        "rule file {path} differs from the one node {node} imported: not applied"
                    );
                    tracing::warn!("{msg}");
                    problems.push(msg);
                    continue;
                }
                Some((Origin::Api, false)) => {
                    let msg = format!(
                        "rule file {path}: namespace {path} is managed through the rules API: \
                         not applied"
                    );
                    tracing::warn!("{msg}");
                    problems.push(msg);
                    continue;
                }
                _ => {}
            }
            ruler
                .propose(RulerCommand::SetNamespace {
                    namespace: path.clone(),
                    origin: Origin::File {
                        node: me,
                        path: path.clone(),
                    },
                    groups: groups.clone(),
                })
                .await?;
            tracing::info!(path = %path, groups = groups.len(), "imported a rule file");
        }
        *self.problems.lock().unwrap_or_else(|p| p.into_inner()) = problems;
        self.done.store(true, Ordering::Relaxed);
        Ok(())
    }
}
