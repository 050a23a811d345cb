//! API tokens (`/api/v1/admin/tokens`, `tidemarkctl token create|list|revoke`): their roles and
//! the bodies of the token endpoints. A token's secret is shown once, when it is created; the
//! cluster keeps only its SHA-256.

use serde::{Deserialize, Serialize};

/// What a token may do. `admin` may do everything; `rules` may also read (a rule change starts
/// from the rules in place); `read` and `write` are what they say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Queries, series and label lookups, metadata, status, remote-read, rule and alert
    /// listings.
    Read,
    /// Remote-write and alerts posted to the built-in notifier.
    Write,
    /// Rule groups and silences: create, change, delete.
    Rules,
    /// The admin API (`/api/v1/admin/*`, `/-/reload`): cluster, shards, retention, tokens,
    /// deletes, the notifier's configuration.
    Admin,
}

impl Role {
    /// Every role, in order.
    pub const ALL: [Role; 4] = [Role::Read, Role::Write, Role::Rules, Role::Admin];

    /// The role's name on the wire and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Rules => "rules",
            Role::Admin => "admin",
        }
    }

    /// Whether holding `self` allows what needs `needed`.
    pub fn grants(self, needed: Role) -> bool {
        self == needed || self == Role::Admin || (self == Role::Rules && needed == Role::Read)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == s)
            .ok_or_else(|| format!("unknown role {s:?}: one of read, write, rules, admin"))
    }
}

/// `POST /api/v1/admin/tokens`: a token to create.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRequest {
    /// A name to recognise it by (who or what uses it).
    pub name: String,
    /// What it may do (at least one role).
    pub roles: Vec<Role>,
}

/// A token as `GET /api/v1/admin/tokens` lists it: everything but its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    /// Its id: the part of the token before the secret, safe to show and log.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its roles.
    pub roles: Vec<Role>,
    /// When it was created (ms since the epoch, the proposing node's clock).
    pub created_ms: i64,
}

/// What creating a token answers: the token itself, shown this once (and never by `Debug`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenCreated {
    /// The token as listed.
    #[serde(flatten)]
    pub info: TokenInfo,
    /// The token to send (`Authorization: Bearer <token>`).
    pub token: String,
}

impl std::fmt::Debug for TokenCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCreated")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_grants_everything_and_rules_grants_read() {
        for r in Role::ALL {
            assert!(Role::Admin.grants(r));
            assert!(r.grants(r));
        }
        assert!(Role::Rules.grants(Role::Read));
        assert!(!Role::Rules.grants(Role::Write));
        assert!(!Role::Read.grants(Role::Rules));
        assert!(!Role::Write.grants(Role::Read));
        assert!(!Role::Rules.grants(Role::Admin));
    }

    #[test]
    fn roles_parse_and_serialise_by_name() {
        for r in Role::ALL {
            assert_eq!(r.name().parse::<Role>().unwrap(), r);
            assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
        }
        assert!("root".parse::<Role>().unwrap_err().contains("unknown role"));
    }
}
