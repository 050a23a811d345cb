//! Cluster commands: `cluster status|join-token`, `cluster set-replication`, `node add|remove|drain`,
//! `shard list|move|transfer-leader|repair`, `shards set`, `rebalance`. Membership changes go one
//! step at a time through `POST /api/v1/admin/cluster/members` on the node given with
//! `--endpoint` (which passes each to the group's leader), so that progress shows per group
//! and a failure names the group; every step is idempotent, so running a command again after
//! a failure resumes it.
//!
//! The node's answers and the request bodies are the types of `tidemark-api`; this file holds
//! what every command needs to reach the node ([`Ctx`]), the commands live in the files below
//! `cluster/`, one per concern.

mod membership;
mod plan;
mod rebalance;
mod repair;
mod shards;
mod status;

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use reqwest::StatusCode;
use reqwest::blocking::{Client, RequestBuilder};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tidemark_api::{ClusterStatus, Envelope};

use crate::Output;
pub use membership::{node_add, node_drain, node_remove};
use plan::Layout;
pub use rebalance::{rebalance, set_replication};
pub use repair::shard_repair;
pub use shards::{shard_list, shard_move, shards_set, transfer_leader};
pub use status::{join_token, status};

/// The node's view of the cluster ([`ClusterStatus`]).
const STATUS_PATH: &str = "/api/v1/status/cluster";

/// How long to wait before asking again after a 503 ("try again").
const RETRY_PAUSE_MS: u64 = 500;

/// What every command needs to reach the node.
pub struct Ctx {
    /// The HTTP client, with the request timeout.
    pub client: Client,
    /// The node's base URL (`--endpoint`, without a trailing `/`).
    pub base: String,
    /// Sent as a bearer token, for the admin endpoints.
    pub admin_token: Option<String>,
    /// Lines or JSON.
    pub output: Output,
    /// How long a command keeps retrying answers that say "retry" (503).
    pub retry_for: Duration,
}

impl Ctx {
    /// `req` with the admin token, when there is one.
    fn auth(&self, req: RequestBuilder) -> RequestBuilder {
        match &self.admin_token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Whether progress and results are printed as lines (not as JSON).
    pub(crate) fn table(&self) -> bool {
        matches!(self.output, Output::Table)
    }

    /// Sends `req` (to `url`): the node's status code and its answer, read as an envelope of
    /// `T` (an error answer has no data).
    pub(crate) fn send<T: DeserializeOwned>(
        &self,
        url: &str,
        req: RequestBuilder,
    ) -> anyhow::Result<(StatusCode, Envelope<T>)> {
        let r = self
            .auth(req)
            .send()
            .with_context(|| format!("cannot reach {url}"))?;
        let status = r.status();
        let answer = r.json().with_context(|| {
            format!("{url} answered {status} with a body tidemarkctl cannot read")
        })?;
        Ok((status, answer))
    }

    /// Sends `req`: the answer's data, when it is a success.
    pub(crate) fn call<T: DeserializeOwned>(&self, req: RequestBuilder) -> anyhow::Result<T> {
        let url = self.base.clone();
        let (status, answer) = self.send::<T>(&url, req)?;
        if !status.is_success() {
            bail!("{}", refusal(&url, status, &answer));
        }
        answer
            .into_result()
            .map_err(|e| anyhow!("{url} answered {status}: {e}"))
    }

    /// `GET path`: the node's whole answer, when it is a success.
    pub(crate) fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<Envelope<T>> {
        let url = format!("{}{path}", self.base);
        let (status, answer) = self.send::<T>(&url, self.client.get(&url))?;
        if !status.is_success() {
            bail!("{}", refusal(&url, status, &answer));
        }
        Ok(answer)
    }

    /// POSTs `body` as JSON to `path`, asking again while the node answers 503 (for up to
    /// `retry_for`); the answer's data.
    fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        retry_for: Duration,
    ) -> anyhow::Result<T> {
        let url = format!("{}{path}", self.base);
        let deadline = Instant::now() + retry_for;
        loop {
            let (status, answer) = self.send::<T>(&url, self.client.post(&url).json(body))?;
            if status.is_success() {
                return answer
                    .into_result()
                    .map_err(|e| anyhow!("{url} answered {status}: {e}"));
            }
            if status == StatusCode::SERVICE_UNAVAILABLE && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(RETRY_PAUSE_MS));
                continue;
            }
            bail!("{}", refusal(&url, status, &answer));
        }
    }

    /// `GET /api/v1/status/cluster`: the node's view of the cluster.
    fn cluster_status(&self) -> anyhow::Result<ClusterStatus> {
        self.get::<ClusterStatus>(STATUS_PATH)?
            .into_result()
            .map_err(|e| anyhow!("{}{STATUS_PATH}: {e}", self.base))
    }

    /// The cluster as the placement commands plan with it.
    fn layout(&self) -> anyhow::Result<Layout> {
        Ok(Layout::from(self.cluster_status()?))
    }

    /// Prints `value` as JSON when that is the output asked for.
    pub(crate) fn print_json(&self, value: &impl Serialize) -> anyhow::Result<()> {
        if matches!(self.output, Output::Json) {
            println!("{}", serde_json::to_string_pretty(value)?);
        }
        Ok(())
    }
}

/// What a refusal says: the URL, the status and the node's error message.
pub(crate) fn refusal<T>(url: &str, status: StatusCode, answer: &Envelope<T>) -> String {
    format!(
        "{url} answered {status}: {}",
        answer.error.as_deref().unwrap_or("")
    )
}

/// Node ids as `1,2,3`.
fn id_list(ids: &[u64]) -> String {
    ids.iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(",")
}
