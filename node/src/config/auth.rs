//! Who may call the HTTP API (`auth:`): the admin API's switch, the bootstrap token and what a
//! caller without a token may do. Tokens themselves live in the replicated cluster map
//! (`tidemarkctl token create`); `docs/security.md` tells the whole story.

use serde::{Deserialize, Serialize};
use tidemark_api::tokens::Role;

/// The HTTP API's access settings.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Whether the admin API (`/api/v1/admin/*`, `/-/reload`) answers callers without a token
    /// while the cluster has no tokens and this node no bootstrap or admin token (as
    /// Prometheus' `--web.enable-admin-api`); off, they get 403. `--enable-admin-api`.
    pub enable_admin_api: bool,
    /// A token with every role that this node accepts beside the cluster's tokens: how the
    /// first token is created (`--bootstrap-token`, `TIDEMARK_BOOTSTRAP_TOKEN`). Setting it
    /// turns authentication on, as a first token does. Never shown by `/api/v1/status/config`.
    pub bootstrap_token: Option<String>,
    /// What a caller without a token may do once authentication is on (the cluster has a
    /// token, or this node a bootstrap token): none by default. Before, callers without a
    /// token may read, write and change rules (only read and write while `admin_token` is
    /// set). `admin` is not allowed here: use `enable_admin_api`.
    pub anonymous_roles: Option<Vec<Role>>,
}

/// Shortest bootstrap token, in characters.
pub const BOOTSTRAP_TOKEN_MIN_LEN: usize = 16;

impl AuthConfig {
    /// Rejects settings that cannot work.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(t) = &self.bootstrap_token {
            anyhow::ensure!(
                t.len() >= BOOTSTRAP_TOKEN_MIN_LEN && t.bytes().all(|b| b.is_ascii_graphic()),
                "auth.bootstrap_token must be at least {BOOTSTRAP_TOKEN_MIN_LEN} printable \
                 characters without spaces"
            );
        }
        anyhow::ensure!(
            !self
                .anonymous_roles
                .iter()
                .flatten()
                .any(|r| *r == Role::Admin),
            "auth.anonymous_roles cannot include admin: set auth.enable_admin_api for an admin \
             API without tokens"
        );
        Ok(())
    }
}
