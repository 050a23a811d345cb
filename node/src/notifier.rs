//! The built-in notifier's runtime: a replicated Alertmanager whose state (configuration,
//! alerts, groups, silences, notification log, outbox) lives in the ruler group
//! (`tidemark_alerting::notify::state`, applied by `ruler/record.rs`). What runs here:
//!
//! - `dispatcher.rs`: on the ruler group's leader only: commits a tick when a group is due
//!   (the state machine flushes it into the outbox), sends what the outbox holds, and commits
//!   each delivery, failure (with the next attempt's time) or give-up.
//! - `channels.rs`: one function per integration kind (webhook, ...), each answering
//!   delivered or a clear error.
//! - `backoff.rs`: when to try again.
//! - `config_file.rs`: the node's `--notifier-config`, imported at start and on reload.
//! - `templates.rs`: the configuration's template files: read where it is imported, parsed
//!   once per configuration for sending.
//! - `intake.rs`: alerts received (API posts, this cluster's ruler) validated into the
//!   notifier's form before they are proposed.

mod backoff;
mod channels;
mod config_file;
mod dispatcher;
pub mod intake;
pub mod templates;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::config::NotifierSettings;
use crate::error::NodeError;
use crate::ruler::Ruler;
use crate::ruler::record::RulerCommand;
use tidemark_alerting::notify::state::{NflogKey, NotifierCommand};

pub use config_file::ConfigFile;

/// Counters of this node's notifier runtime (what the replicated totals cannot know).
#[derive(Debug, Default)]
pub struct NotifierCounters {
    /// Attempts made by this node.
    pub attempts: AtomicU64,
    /// Attempts that failed on this node.
    pub failures: AtomicU64,
    /// Ticks committed by this node.
    pub ticks: AtomicU64,
    /// Commits of the leader's own commands that failed (leadership lost, timeouts).
    pub failed_commits: AtomicU64,
}

/// The built-in notifier of this node: idle unless it leads the ruler group.
pub struct BuiltinNotifier {
    ruler: Arc<Ruler>,
    settings: NotifierSettings,
    http: reqwest::Client,
    counters: NotifierCounters,
    /// Notifications being sent by this node, with their group and integration.
    in_flight: Mutex<BTreeMap<u64, NflogKey>>,
    file: ConfigFile,
    /// Woken by SIGHUP and `POST /-/reload`.
    reload: Notify,
    /// The URL notifications link back to (`externalURL`).
    external_url: String,
    /// The parsed templates of the configuration last sent with.
    templates: templates::TemplateCache,
}

impl BuiltinNotifier {
    /// The notifier of the node whose ruler is `ruler`; reads `--notifier-config` (a bad file
    /// stops the node, as it stops Alertmanager).
    pub fn new(ruler: Arc<Ruler>) -> Result<Self, NodeError> {
        let config = ruler.config().clone();
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| NodeError::Startup(format!("no HTTP client for the notifier: {e}")))?;
        let external_url = if config.ruler.external_url.is_empty() {
            format!("http://{}", config.http_listen)
        } else {
            config.ruler.external_url.clone()
        };
        Ok(BuiltinNotifier {
            file: ConfigFile::load(&config)?,
            settings: config.notifier.clone(),
            ruler,
            http,
            counters: NotifierCounters::default(),
            in_flight: Mutex::new(BTreeMap::new()),
            reload: Notify::new(),
            external_url,
            templates: templates::TemplateCache::default(),
        })
    }

    /// Starts the notifier's loop; it ends with the runtime.
    pub fn start(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(self.clone().run())
    }

    /// The runtime's counters.
    pub fn counters(&self) -> &NotifierCounters {
        &self.counters
    }

    /// The ruler whose group holds the notifier's state.
    pub fn ruler(&self) -> &Arc<Ruler> {
        &self.ruler
    }

    /// The URL notifications link back to.
    pub fn external_url(&self) -> &str {
        &self.external_url
    }

    /// The node's settings for the notifier.
    pub fn settings(&self) -> &NotifierSettings {
        &self.settings
    }

    /// What importing this node's `--notifier-config` found wrong (empty when the replicated
    /// configuration is this file's, or there is no file).
    pub fn file_problems(&self) -> Vec<String> {
        self.file.problems()
    }

    /// Imports of this node's `--notifier-config` refused because the replicated
    /// configuration came from elsewhere and differs (counted at every check).
    pub fn file_conflicts(&self) -> u64 {
        self.file
            .conflicts
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Re-reads `--notifier-config` and imports it (SIGHUP, `POST /-/reload`): an invalid
    /// file is an error and changes nothing.
    pub async fn reload(&self) -> Result<(), NodeError> {
        self.file.reread()?;
        self.file.import(self).await
    }

    /// Commits a notifier command through the ruler group's leader, wherever it is, and waits
    /// until this node's replica shows it (a client's change).
    pub async fn propose(&self, cmd: NotifierCommand) -> Result<(), NodeError> {
        self.ruler.propose(RulerCommand::Notifier(cmd)).await
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, NflogKey>> {
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner())
    }
}
