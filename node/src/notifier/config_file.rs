//! The node's `--notifier-config` (`notifier_config`): an `alertmanager.yml` (with the template
//! files its `templates` globs match, relative to its directory) read and validated at start (a bad file stops the node), re-read on SIGHUP and `POST /-/reload` (a bad file is
//! refused and changes nothing), and imported into the replicated configuration, which the
//! file then owns. When the replicated configuration came from another node's file or from
//! the API and differs, the difference is reported (log, status, counter), never applied.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tidemark_alerting::notify::config::{NotifierConfig, parse};
use tidemark_alerting::notify::state::{ConfigSource, NotifierCommand, StoredConfig};

use super::{BuiltinNotifier, templates};
use crate::config::Config;
use crate::error::NodeError;

/// A configuration file as read: its text, its configuration and its template files.
#[derive(Clone)]
struct ReadConfig {
    text: String,
    config: NotifierConfig,
    template_files: BTreeMap<String, String>,
}

/// This node's notifier configuration file and what importing it found.
pub struct ConfigFile {
    path: Option<PathBuf>,
    /// The file as last read successfully.
    read: Mutex<Option<ReadConfig>>,
    imported: AtomicBool,
    problems: Mutex<Vec<String>>,
    /// Imports refused because the replicated configuration came from elsewhere and differs.
    pub conflicts: AtomicU64,
}

impl ConfigFile {
    /// Reads and validates `config.notifier_config`, if set.
    pub fn load(config: &Config) -> Result<Self, NodeError> {
        let file = ConfigFile {
            path: config.notifier_config.clone(),
            read: Mutex::new(None),
            imported: AtomicBool::new(false),
            problems: Mutex::new(Vec::new()),
            conflicts: AtomicU64::new(0),
        };
        file.reread()
            .map_err(|e| NodeError::Startup(e.to_string()))?;
        Ok(file)
    }

    /// Reads the file again; an unreadable or invalid file is an error and keeps the last
    /// good one.
    pub fn reread(&self) -> Result<(), NodeError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| NodeError::BadRequest(format!("notifier config {shown}: {e}")))?;
        let bad = |e: String| NodeError::BadRequest(format!("notifier config {shown}: {e}"));
        let config = parse(&text).map_err(bad)?;
        let dir = path.parent().unwrap_or(std::path::Path::new("."));
        let template_files =
            tidemark_alerting::notify::config::read_template_globs(&config.templates, dir)
                .map_err(bad)?;
        templates::parse(&template_files).map_err(bad)?;
        *self.read.lock().unwrap_or_else(|p| p.into_inner()) = Some(ReadConfig {
            text,
            config,
            template_files,
        });
        self.imported.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// What the last import found wrong.
    pub fn problems(&self) -> Vec<String> {
        self.problems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Whether the loop should import at tick `tick`: until an import succeeded, then every
    /// `recheck` ticks (another node's import may have changed the state meanwhile).
    pub(super) fn wants_import(&self, tick: u64, recheck: u64) -> bool {
        self.path.is_some()
            && (!self.imported.load(Ordering::Relaxed) || tick.is_multiple_of(recheck))
    }

    /// Brings the replicated configuration in line with this node's file (module doc).
    pub(super) async fn import(&self, notifier: &BuiltinNotifier) -> Result<(), NodeError> {
        let (Some(path), Some(read)) = (
            &self.path,
            self.read.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        ) else {
            return Ok(());
        };
        let me = notifier.ruler.config().node_id;
        let path = path.display().to_string();
        let stored = notifier.ruler.with_state(|s| {
            s.notifier.config.as_ref().map(|c| {
                let same = c.config == read.config && c.template_files == read.template_files;
                (c.source.clone(), same)
            })
        });
        let same = matches!(stored, Some((_, true)));
        let problem = match stored {
            Some((_, true)) => None,
            None => None,
            Some((ConfigSource::File { node, .. }, false)) if node == me => None,
            Some((ConfigSource::File { node, path: theirs }, false)) => Some(format!(
                "notifier config {path} differs from {theirs}, which node {node} imported: not applied"
            )),
            Some((ConfigSource::Api { by }, false)) => Some(format!(
                "notifier config {path} differs from the configuration {by} set through the API: \
                 not applied"
            )),
        };
        if let Some(msg) = problem {
            self.conflicts.fetch_add(1, Ordering::Relaxed);
            tracing::warn!("{msg}");
            *self.problems.lock().unwrap_or_else(|p| p.into_inner()) = vec![msg];
            self.imported.store(true, Ordering::Relaxed);
            return Ok(());
        }
        if !same {
            let now_ms = notifier.ruler.clock().now_ms();
            let config = StoredConfig {
                yaml: read.text,
                config: read.config,
                template_files: read.template_files,
                source: ConfigSource::File {
                    node: me,
                    path: path.clone(),
                },
                set_at_ms: now_ms,
            };
            notifier
                .propose(NotifierCommand::SetConfig {
                    now_ms,
                    config: Some(Box::new(config)),
                })
                .await?;
            tracing::info!(path = %path, "imported the notifier configuration file");
        }
        self.problems
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.imported.store(true, Ordering::Relaxed);
        Ok(())
    }
}
