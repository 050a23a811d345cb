//! Which of a remote-write request's metric metadata this node proposes to the meta group:
//! what the meta replica does not hold (`MetadataMap::missing`), without what another request
//! of this node is proposing at the moment, once every node of the cluster applies
//! `SetMetadata` (a strict check: an entry the meta group commits must be one every replica
//! decodes; a failed check is remembered for a while, so that a node that is down costs the
//! requests of those seconds nothing).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tidemark_ingest::MetricMetadata;

use super::Writes;
use crate::meta::MetaCommand;
use crate::request::MetadataOutcome;

/// How long a failed level check keeps metadata from being proposed.
const RECHECK_AFTER: Duration = Duration::from_secs(10);

/// One metadata entry as a request carries it.
type Entry = (String, MetricMetadata);

/// The metadata proposals of this node in progress, and the last failed level check.
#[derive(Default)]
pub(crate) struct MetadataProposals {
    in_flight: Mutex<HashSet<Entry>>,
    refused_at: Mutex<Option<Instant>>,
}

/// Entries this request proposes; they count as in flight until it is dropped.
pub(crate) struct InFlight<'a> {
    proposals: &'a MetadataProposals,
    pub entries: Vec<Entry>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut in_flight = self
            .proposals
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for e in &self.entries {
            in_flight.remove(e);
        }
    }
}

impl Writes {
    /// What of `received` to propose (at most `names_max` names in the map), and the outcome
    /// so far: what the map cannot take (`full`) or what cannot be proposed now
    /// (`unavailable`).
    pub(crate) async fn metadata_to_propose(
        &self,
        received: &[Entry],
        names_max: usize,
    ) -> (InFlight<'_>, MetadataOutcome) {
        let proposals = &self.metadata;
        let (missing, full) = self
            .host
            .meta()
            .sm
            .with_metadata(|m| m.missing(received, names_max));
        let mut outcome = MetadataOutcome {
            full,
            ..MetadataOutcome::default()
        };
        let mut batch = InFlight {
            proposals,
            entries: Vec::new(),
        };
        if missing.is_empty() {
            return (batch, outcome);
        }
        if let Err(e) = self.require_everywhere().await {
            tracing::debug!(error = %e, entries = missing.len(), "metric metadata not kept");
            outcome.unavailable = missing.len();
            return (batch, outcome);
        }
        let mut in_flight = proposals
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        batch.entries = missing
            .into_iter()
            .filter(|e| in_flight.insert(e.clone()))
            .collect();
        (batch, outcome)
    }

    /// `Ok` when every node of the cluster answers that it applies `SetMetadata`; a failure
    /// (a node below its level, or one that cannot be asked) is answered again without asking
    /// for [`RECHECK_AFTER`].
    async fn require_everywhere(&self) -> Result<(), crate::error::NodeError> {
        let refused = *self
            .metadata
            .refused_at
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if refused.is_some_and(|at| at.elapsed() < RECHECK_AFTER) {
            return Err(crate::error::NodeError::Unavailable(
                "a node of the cluster did not confirm it applies metric metadata".into(),
            ));
        }
        let level = MetaCommand::SetMetadata {
            entries: Vec::new(),
            names_max: 0,
        }
        .required_level();
        let nodes = self.cluster_nodes();
        let checked = self.version.require(&nodes, level, "metric metadata").await;
        *self
            .metadata
            .refused_at
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = checked.is_err().then(Instant::now);
        checked
    }
}
