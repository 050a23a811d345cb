//! API tokens with roles: made on a node, kept in the replicated cluster map as a SHA-256 of
//! their secret ([`StoredToken`]), so that every node accepts them and none can show them again.
//!
//! # Format
//! A token is `tmk_<id>_<secret>`: `id` 12 lowercase hex digits (6 random bytes), the key of
//! the token in the map, safe to show and log; `secret` 64 lowercase hex digits (32 random
//! bytes). Tokens are random, not chosen by people, so one SHA-256 is as good as a slow hash
//! against guessing, and cheap enough to check on every request.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tidemark_api::tokens::{Role, TokenInfo};

use crate::cluster_auth::constant_time_eq;

/// Most tokens a cluster keeps (each is checked against nothing but its id, but the map
/// travels in every meta snapshot).
pub const TOKENS_MAX: usize = 1_000;
/// Longest token name, in bytes.
pub const TOKEN_NAME_BYTES_MAX: usize = 128;

const PREFIX: &str = "tmk_";
const ID_HEX: usize = 12;
const SECRET_HEX: usize = 64;

/// A token as the cluster map keeps it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredToken {
    /// Its name.
    pub name: String,
    /// Its roles (at least one).
    pub roles: Vec<Role>,
    /// SHA-256 of its secret.
    pub hash: Vec<u8>,
    /// When the proposing node made it (ms since the epoch).
    pub created_ms: i64,
}

/// Everything but the hash: meta commands are logged.
impl std::fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredToken")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .field("created_ms", &self.created_ms)
            .finish_non_exhaustive()
    }
}

impl StoredToken {
    /// Whether `secret` is this token's.
    pub fn matches(&self, secret: &str) -> bool {
        constant_time_eq(&hash(secret), &self.hash)
    }

    /// Whether the token allows what needs `role`.
    pub fn grants(&self, role: Role) -> bool {
        self.roles.iter().any(|r| r.grants(role))
    }

    /// What the token API shows of it.
    pub fn info(&self, id: &str) -> TokenInfo {
        TokenInfo {
            id: id.to_string(),
            name: self.name.clone(),
            roles: self.roles.clone(),
            created_ms: self.created_ms,
        }
    }
}

/// A new token: its id, and the whole token text to hand out once.
pub fn generate() -> (String, String) {
    let mut id = [0u8; ID_HEX / 2];
    let mut secret = [0u8; SECRET_HEX / 2];
    rand::rng().fill_bytes(&mut id);
    rand::rng().fill_bytes(&mut secret);
    let id = hex(&id);
    let text = format!("{PREFIX}{id}_{}", hex(&secret));
    (id, text)
}

/// The id and secret of a token text, if it has the token format.
pub fn parse(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let lower_hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    (lower_hex(id, ID_HEX) && lower_hex(secret, SECRET_HEX)).then_some((id, secret))
}

/// SHA-256 of a token's secret: what the cluster map keeps.
pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The id a token text claims, for logs (never the secret).
pub fn id_of(text: &str) -> Option<&str> {
    parse(text).map(|(id, _)| id)
}

/// Why a token of `name` with `roles` may not be created, if it may not (checked by the
/// proposer for a clear answer, and again where the command is applied).
pub fn refusal(name: &str, roles: &[Role]) -> Option<String> {
    if name.trim().is_empty() {
        return Some("a token needs a name".into());
    }
    if name.chars().any(char::is_control) {
        return Some("a token name with control characters".into());
    }
    if name.len() > TOKEN_NAME_BYTES_MAX {
        return Some(format!(
            "a token name of {} bytes (at most {TOKEN_NAME_BYTES_MAX})",
            name.len()
        ));
    }
    if roles.is_empty() {
        return Some("a token needs at least one role (read, write, rules, admin)".into());
    }
    None
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_parses_and_matches_its_hash_only() {
        let (id, text) = generate();
        let (pid, secret) = parse(&text).unwrap();
        assert_eq!(pid, id);
        let stored = StoredToken {
            name: "grafana".into(),
            roles: vec![Role::Read],
            hash: hash(secret),
            created_ms: 1,
        };
        assert!(stored.matches(secret));
        let (_, other) = generate();
        assert!(!stored.matches(parse(&other).unwrap().1));
        assert_ne!(generate().1, text, "tokens are random");
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        let (_, text) = generate();
        assert!(parse(&text.to_uppercase()).is_none());
        assert!(parse(&text[..text.len() - 1]).is_none());
        assert!(parse(&text.replacen("tmk_", "tm_", 1)).is_none());
        assert!(parse("tmk_").is_none());
        assert!(parse("an admin token from a config file").is_none());
    }

    #[test]
    fn debug_shows_no_hash() {
        let t = StoredToken {
            name: "n".into(),
            roles: vec![Role::Read],
            hash: vec![0xab; 32],
            created_ms: 0,
        };
        assert!(!format!("{t:?}").contains("171"), "{t:?}");
    }

    #[test]
    fn a_token_grants_what_its_roles_grant() {
        let t = StoredToken {
            name: "ruler-ci".into(),
            roles: vec![Role::Rules, Role::Write],
            hash: vec![],
            created_ms: 0,
        };
        assert!(t.grants(Role::Read) && t.grants(Role::Write) && t.grants(Role::Rules));
        assert!(!t.grants(Role::Admin));
    }

    #[test]
    fn names_and_roles_are_checked() {
        assert!(refusal("", &[Role::Read]).is_some());
        assert!(refusal("a\nforged audit line", &[Role::Read]).is_some());
        assert!(refusal("x", &[]).is_some());
        assert!(refusal(&"n".repeat(TOKEN_NAME_BYTES_MAX + 1), &[Role::Read]).is_some());
        assert!(refusal("grafana", &[Role::Read]).is_none());
    }
}
