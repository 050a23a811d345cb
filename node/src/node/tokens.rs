//! The node's API tokens: created, listed and revoked through the meta group, looked up in its
//! applied cluster map by the HTTP layer (`http/auth.rs`).

use std::time::{Duration, Instant};

use tidemark_api::tokens::{TokenCreated, TokenInfo, TokenRequest};

use super::Node;
use crate::cluster_version::ClusterVersion;
use crate::error::NodeError;
use crate::http::auth::TokenLookup;
use crate::meta::{ClusterMap, MetaCommand};
use crate::peer::Peers;
use crate::tokens::{StoredToken, TOKENS_MAX};

/// How often a proposer looks whether its own map applied a token change.
const APPLIED_POLL: Duration = Duration::from_millis(10);

impl Node {
    /// Makes a token of `req` and commits it; returns it once this node applied it (so that it
    /// works here at once; the other nodes apply it within moments). Needs every node at
    /// command level 4.
    pub async fn create_token(&self, req: TokenRequest) -> Result<TokenCreated, NodeError> {
        if let Some(why) = crate::tokens::refusal(&req.name, &req.roles) {
            return Err(NodeError::BadRequest(why));
        }
        if self.with_map(|m| m.tokens.len()) >= TOKENS_MAX {
            return Err(NodeError::BadRequest(format!(
                "the cluster has {TOKENS_MAX} tokens already: revoke some first"
            )));
        }
        let mut roles = req.roles;
        roles.sort();
        roles.dedup();
        let (id, text) = crate::tokens::generate();
        let secret = crate::tokens::parse(&text)
            .map(|(_, s)| s)
            .ok_or_else(|| NodeError::Internal("a generated token does not parse".into()))?;
        let token = StoredToken {
            name: req.name,
            roles,
            hash: crate::tokens::hash(secret),
            created_ms: self.router.clock().now_ms(),
        };
        let info = token.info(&id);
        let cmd = MetaCommand::CreateToken {
            id: id.clone(),
            token,
        };
        self.require_level(&cmd, "API tokens").await?;
        self.propose_meta(cmd).await?;
        // Committed: the token exists, and its secret is shown now or never. A node slow to
        // apply it says so in its log, not by losing the token.
        if let Err(e) = self.until_applied(|m| m.tokens.contains_key(&id)).await {
            tracing::warn!(id, error = %e, "token created; this node has not applied it yet");
        }
        tracing::info!(target: "tidemark::audit", id, name = ?info.name, "token created");
        Ok(TokenCreated { info, token: text })
    }

    /// The cluster's tokens, without their secrets, as this node applied them.
    pub fn tokens(&self) -> Vec<TokenInfo> {
        self.with_map(|m| m.tokens.iter().map(|(id, t)| t.info(id)).collect())
    }

    /// Revokes token `id`; `false` when there is none. Returns once this node applied it.
    pub async fn revoke_token(&self, id: &str) -> Result<bool, NodeError> {
        if !self.with_map(|m| m.tokens.contains_key(id)) {
            return Ok(false);
        }
        let cmd = MetaCommand::RevokeToken { id: id.to_string() };
        self.require_level(&cmd, "API tokens").await?;
        self.propose_meta(cmd).await?;
        self.until_applied(|m| !m.tokens.contains_key(id)).await?;
        tracing::info!(target: "tidemark::audit", id, "token revoked");
        Ok(true)
    }

    fn with_map<R>(&self, f: impl FnOnce(&ClusterMap) -> R) -> R {
        self.host.meta().sm.with_cluster_map(f)
    }

    /// Waits until every node applies `cmd`'s level.
    async fn require_level(&self, cmd: &MetaCommand, what: &str) -> Result<(), NodeError> {
        let nodes: Vec<_> = self.cluster_map().nodes.into_iter().collect();
        ClusterVersion::new(self.node_id(), Peers::new(self.host.peers().clone()))
            .require(&nodes, cmd.required_level(), what)
            .await
    }

    /// Waits until this node's applied map satisfies `done` (a committed change reaches it
    /// within moments), at most the write timeout.
    async fn until_applied(&self, done: impl Fn(&ClusterMap) -> bool) -> Result<(), NodeError> {
        let deadline = Instant::now() + Duration::from_millis(self.host.config().write_timeout_ms);
        while !self.with_map(&done) {
            if Instant::now() >= deadline {
                return Err(NodeError::Timeout(
                    "the change is committed but not applied on this node yet".into(),
                ));
            }
            tokio::time::sleep(APPLIED_POLL).await;
        }
        Ok(())
    }
}

impl TokenLookup for Node {
    fn auth_enabled(&self) -> bool {
        self.with_map(|m| m.auth_enabled)
    }

    fn token(&self, id: &str) -> Option<StoredToken> {
        self.with_map(|m| m.tokens.get(id).cloned())
    }
}
