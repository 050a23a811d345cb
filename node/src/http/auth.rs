//! Who may call what over HTTP: every request is sorted into what it needs ([`Need`]: nothing,
//! a role, or a member's credential), its caller is recognised from `Authorization: Bearer`
//! ([`Caller`]), and [`Access::decide`] lets it through or answers 401 (no or an unknown
//! token) or 403 (a token without the role, or the admin API switched off), in Prometheus'
//! error envelope. Changes of the admin API, of rules and of silences, let through or not,
//! leave an audit line (tracing target `tidemark::audit`).
//!
//! Authentication is *on* once the cluster has a token or this node a bootstrap token; then a
//! caller without a token may do what `auth.anonymous_roles` says (nothing by default). Before,
//! such a caller reads, writes and changes rules, as with Prometheus, and reaches the admin
//! API only when it is enabled. `docs/security.md` has the table.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tidemark_api::tokens::Role;

use crate::cluster_auth::constant_time_eq;
use crate::config::Config;
use crate::tokens::StoredToken;

/// Where a joining node asks to be added.
pub const MEMBERS_PATH: &str = "/api/v1/admin/cluster/members";
/// Where a joining node checks its join token before it writes anything.
pub const JOIN_CHECK_PATH: &str = "/api/v1/admin/cluster/join-check";
/// Where an admin reads the join token.
pub const JOIN_TOKEN_PATH: &str = "/api/v1/admin/cluster/join-token";

/// The cluster's tokens, as the replicated map holds them.
pub trait TokenLookup: Send + Sync {
    /// Whether the cluster ever had a token (authentication is then on for good).
    fn auth_enabled(&self) -> bool;
    /// The token with id `id`.
    fn token(&self, id: &str) -> Option<StoredToken>;
}

/// What a request needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// Nothing: health, readiness, `/metrics`.
    Open,
    /// A caller holding this role.
    Role(Role),
    /// A member change or join check: the join token, or the admin role. (The join token
    /// only adds members: [`MemberGrant`] tells the handler.)
    Member,
    /// The cluster's status (`/api/v1/status/cluster`): the read role, or the join token (a
    /// joining node learns the cluster's id and shard count there).
    ClusterStatus,
    /// The join token itself: the admin role, never a caller without a token.
    JoinToken,
}

/// What the request's `Authorization` header makes of its caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No bearer token.
    Anonymous,
    /// This node's `auth.bootstrap_token` or `admin_token`: every role.
    Configured(&'static str),
    /// The cluster's join token: it adds members, and is no token elsewhere.
    Join,
    /// A token of the cluster's.
    Token {
        /// Its id.
        id: String,
        /// Its name.
        name: String,
        /// Its roles.
        roles: Vec<Role>,
    },
    /// A bearer token nobody knows (mistyped, revoked, another cluster's): refused once
    /// authentication is on, no token before.
    Unknown,
}

impl Caller {
    /// Who, for the audit log (never a secret).
    fn principal(&self) -> String {
        match self {
            Caller::Anonymous => "anonymous".into(),
            Caller::Configured(what) => (*what).into(),
            Caller::Join => "join token".into(),
            Caller::Token { id, name, .. } => format!("token {id} ({name})"),
            Caller::Unknown => "unknown token".into(),
        }
    }
}

/// A refusal: its status and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// 401 or 403.
    pub status: StatusCode,
    /// What the caller should do.
    pub message: String,
}

/// The access rules of one node.
pub struct Access {
    tokens: Arc<dyn TokenLookup>,
    bootstrap_token: Option<Arc<str>>,
    admin_token: Option<Arc<str>>,
    join_token: Option<Arc<str>>,
    enable_admin_api: bool,
    anonymous_roles: Option<Vec<Role>>,
}

impl Access {
    /// The rules of `config`, over the cluster's `tokens` and its join token.
    pub fn new(config: &Config, tokens: Arc<dyn TokenLookup>, join_token: Option<String>) -> Self {
        Access {
            tokens,
            bootstrap_token: config.auth.bootstrap_token.as_deref().map(Arc::from),
            admin_token: config.admin_token.as_deref().map(Arc::from),
            join_token: join_token.map(Arc::from),
            enable_admin_api: config.auth.enable_admin_api,
            anonymous_roles: config.auth.anonymous_roles.clone(),
        }
    }

    /// Who presents `bearer` (the text after `Bearer `).
    pub fn caller(&self, bearer: Option<&str>) -> Caller {
        let Some(given) = bearer else {
            return Caller::Anonymous;
        };
        let is = |t: &Option<Arc<str>>| {
            t.as_ref()
                .is_some_and(|t| constant_time_eq(given.as_bytes(), t.as_bytes()))
        };
        if is(&self.bootstrap_token) {
            return Caller::Configured("bootstrap token");
        }
        if is(&self.admin_token) {
            return Caller::Configured("admin_token");
        }
        if is(&self.join_token) {
            return Caller::Join;
        }
        match crate::tokens::parse(given) {
            Some((id, secret)) => match self.tokens.token(id) {
                Some(t) if t.matches(secret) => Caller::Token {
                    id: id.to_string(),
                    name: t.name,
                    roles: t.roles,
                },
                _ => Caller::Unknown,
            },
            None => Caller::Unknown,
        }
    }

    /// Whether authentication is on: the cluster has a token or this node a bootstrap token.
    fn auth_on(&self) -> bool {
        self.bootstrap_token.is_some() || self.tokens.auth_enabled()
    }

    /// What a caller without a token may do now.
    fn anonymous_roles(&self) -> Vec<Role> {
        if self.auth_on() {
            return self.anonymous_roles.clone().unwrap_or_default();
        }
        if self.admin_token.is_some() {
            return vec![Role::Read, Role::Write];
        }
        vec![Role::Read, Role::Write, Role::Rules]
    }

    /// Whether a caller without a token reaches the admin API.
    fn anonymous_admin(&self) -> bool {
        self.enable_admin_api && !self.auth_on() && self.admin_token.is_none()
    }

    /// Lets `caller` do what needs `need`, or says why not.
    pub fn decide(&self, need: Need, caller: &Caller) -> Result<(), Refusal> {
        let unauthorized = |message: String| Refusal {
            status: StatusCode::UNAUTHORIZED,
            message,
        };
        let forbidden = |message: String| Refusal {
            status: StatusCode::FORBIDDEN,
            message,
        };
        let needs_token = |role: Role| {
            format!(
                "this endpoint needs a token with the {role} role: Authorization: Bearer \
                 <token> (tidemarkctl --token, TIDEMARK_TOKEN)"
            )
        };
        match (need, caller) {
            (Need::Open, _) | (_, Caller::Configured(_)) => Ok(()),
            (_, Caller::Unknown) if self.auth_on() => Err(unauthorized(
                "unknown or revoked token: tokens are listed by `tidemarkctl token list`".into(),
            )),
            // Before authentication is on no token is known, and a bearer token (one a proxy
            // or Grafana adds) is ignored, as Prometheus ignores it.
            (need, Caller::Unknown) => self.decide(need, &Caller::Anonymous),
            (Need::Member | Need::ClusterStatus, Caller::Join) => Ok(()),
            (Need::ClusterStatus, caller) => self.decide(Need::Role(Role::Read), caller),
            // Elsewhere the join token counts for nothing, as no token would (tidemarkctl
            // sends it with every call of a member change, status reads included).
            (need, Caller::Join) => self.decide(need, &Caller::Anonymous),
            (need, Caller::Token { id, roles, .. }) => {
                let role = match need {
                    Need::Role(r) => r,
                    _ => Role::Admin,
                };
                if roles.iter().any(|r| r.grants(role)) {
                    Ok(())
                } else {
                    Err(forbidden(format!(
                        "token {id} has the roles {}; this endpoint needs {role}",
                        roles
                            .iter()
                            .map(|r| r.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )))
                }
            }
            (Need::Member, Caller::Anonymous) => {
                if self.join_token.is_none() && self.anonymous_admin() {
                    // A cluster made before secrets, with the admin API open.
                    return Ok(());
                }
                Err(unauthorized(
                    "member changes need this cluster's join token or an admin token: \
                     Authorization: Bearer <token> (`tidemarkctl cluster join-token` or the \
                     join-token file in a member's data directory)"
                        .into(),
                ))
            }
            (Need::JoinToken, Caller::Anonymous) => Err(self.admin_refusal(
                "the join token is served to callers with the admin role only (or read the \
                 join-token file in a member's data directory)",
            )),
            (Need::Role(Role::Admin), Caller::Anonymous) => {
                if self.anonymous_admin() {
                    Ok(())
                } else if self.auth_on() || self.admin_token.is_some() {
                    Err(unauthorized(needs_token(Role::Admin)))
                } else {
                    Err(forbidden(
                        "the admin API is disabled: start the node with --enable-admin-api \
                         (auth.enable_admin_api), or with a bootstrap token (--bootstrap-token, \
                         TIDEMARK_BOOTSTRAP_TOKEN) to create tokens with `tidemarkctl token \
                         create`"
                            .into(),
                    ))
                }
            }
            (Need::Role(role), Caller::Anonymous) => {
                if self.anonymous_roles().iter().any(|r| r.grants(role)) {
                    Ok(())
                } else {
                    Err(unauthorized(needs_token(role)))
                }
            }
        }
    }

    fn admin_refusal(&self, message: &str) -> Refusal {
        Refusal {
            status: if self.auth_on() || self.admin_token.is_some() {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::FORBIDDEN
            },
            message: message.to_string(),
        }
    }
}

/// What a request with `method` on `path` needs.
pub fn need_of(method: &Method, path: &str) -> Need {
    let mutation = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let under = |prefixes: &[&str]| prefixes.iter().any(|p| path.starts_with(p));
    match path {
        "/-/healthy" | "/-/ready" | "/metrics" => return Need::Open,
        MEMBERS_PATH | JOIN_CHECK_PATH => return Need::Member,
        JOIN_TOKEN_PATH => return Need::JoinToken,
        "/-/reload" => return Need::Role(Role::Admin),
        "/api/v1/write" => return Need::Role(Role::Write),
        "/api/v1/status/cluster" => return Need::ClusterStatus,
        _ => {}
    }
    if path.starts_with("/api/v1/admin/") {
        return Need::Role(Role::Admin);
    }
    if mutation && under(&["/api/v2/alerts", "/alertmanager/api/v2/alerts"]) {
        return Need::Role(Role::Write);
    }
    let rules = under(&["/config/v1/rules", "/prometheus/config/v1/rules"]);
    let silences = under(&["/api/v2/silence", "/alertmanager/api/v2/silence"]);
    if mutation && (rules || silences) {
        return Need::Role(Role::Rules);
    }
    Need::Role(Role::Read)
}

/// What a member change let through on the join token may do: add members, and more only
/// when a caller without a token could (the admin API open, no tokens). Set by [`authorize`]
/// for the member-change handler, which reads the op from the body.
#[derive(Clone, Copy, Debug)]
pub struct MemberGrant {
    /// Whether removals and leader transfers are allowed too.
    pub any_op: bool,
}

/// The middleware: lets a request through or refuses it; audits changes of the admin API,
/// rules and silences.
pub async fn authorize(
    State(access): State<Arc<Access>>,
    mut req: Request,
    next: Next,
) -> Response {
    let need = need_of(req.method(), req.uri().path());
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let caller = access.caller(bearer);
    let audited = matches!(need, Need::Member | Need::JoinToken)
        || (*req.method() != Method::GET
            && matches!(need, Need::Role(Role::Admin) | Need::Role(Role::Rules)));
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let remote = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let response = match access.decide(need, &caller) {
        Ok(()) => {
            if need == Need::Member && caller == Caller::Join {
                let any_op = access
                    .decide(Need::Role(Role::Admin), &Caller::Anonymous)
                    .is_ok();
                req.extensions_mut().insert(MemberGrant { any_op });
            }
            next.run(req).await
        }
        Err(r) => (
            r.status,
            [(header::CONTENT_TYPE, "application/json")],
            super::json::error("unauthorized", &r.message),
        )
            .into_response(),
    };
    if audited {
        tracing::info!(
            target: "tidemark::audit",
            principal = ?caller.principal(),
            %method,
            path,
            remote,
            status = response.status().as_u16(),
            "admin request"
        );
    }
    response
}

#[cfg(test)]
mod tests;
