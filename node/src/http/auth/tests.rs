use std::collections::BTreeMap;

use axum::Router;
use axum::body::Body;
use axum::routing::{get, post};
use tower::ServiceExt;

use super::*;

const JOIN: &str = "c1.0123456789abcdef0123456789abcdef";
const BOOT: &str = "bootstrap-0123456789";

/// Tokens held in a map, as the cluster map holds them, and whether one was ever made.
#[derive(Default)]
struct Tokens(BTreeMap<String, StoredToken>, bool);

impl TokenLookup for Tokens {
    fn auth_enabled(&self) -> bool {
        self.1
    }
    fn token(&self, id: &str) -> Option<StoredToken> {
        self.0.get(id).cloned()
    }
}

/// A token with `roles` in `tokens`; its text.
fn token(tokens: &mut Tokens, roles: &[Role]) -> String {
    let (id, text) = crate::tokens::generate();
    let secret = crate::tokens::parse(&text).unwrap().1;
    tokens.1 = true;
    tokens.0.insert(
        id,
        StoredToken {
            name: format!("{roles:?}"),
            roles: roles.to_vec(),
            hash: crate::tokens::hash(secret),
            created_ms: 0,
        },
    );
    text
}

fn access(config: &Config, tokens: Tokens) -> Access {
    Access::new(config, Arc::new(tokens), Some(JOIN.into()))
}

/// The status `access` gives `bearer` for `method` `path` (200: let through).
fn status(access: &Access, method: &str, path: &str, bearer: Option<&str>) -> u16 {
    let need = need_of(&method.parse().unwrap(), path);
    match access.decide(need, &access.caller(bearer)) {
        Ok(()) => 200,
        Err(r) => r.status.as_u16(),
    }
}

#[test]
fn requests_need_what_they_change() {
    let need = |m: &str, p: &str| need_of(&m.parse().unwrap(), p);
    assert_eq!(need("GET", "/-/healthy"), Need::Open);
    assert_eq!(need("GET", "/metrics"), Need::Open);
    assert_eq!(need("POST", "/api/v1/write"), Need::Role(Role::Write));
    assert_eq!(need("POST", "/api/v2/alerts"), Need::Role(Role::Write));
    assert_eq!(need("GET", "/api/v2/alerts"), Need::Role(Role::Read));
    assert_eq!(need("POST", "/api/v1/query"), Need::Role(Role::Read));
    assert_eq!(need("POST", "/api/v1/read"), Need::Role(Role::Read));
    assert_eq!(need("GET", "/config/v1/rules/ns"), Need::Role(Role::Read));
    assert_eq!(need("POST", "/config/v1/rules/ns"), Need::Role(Role::Rules));
    assert_eq!(
        need("DELETE", "/prometheus/config/v1/rules/ns/g"),
        Need::Role(Role::Rules)
    );
    assert_eq!(need("POST", "/api/v2/silences"), Need::Role(Role::Rules));
    assert_eq!(
        need("DELETE", "/alertmanager/api/v2/silence/x"),
        Need::Role(Role::Rules)
    );
    assert_eq!(need("GET", "/api/v1/admin/tokens"), Need::Role(Role::Admin));
    assert_eq!(need("POST", "/-/reload"), Need::Role(Role::Admin));
    assert_eq!(need("POST", MEMBERS_PATH), Need::Member);
    assert_eq!(need("GET", JOIN_TOKEN_PATH), Need::JoinToken);
    assert_eq!(need("GET", "/api/v1/status/cluster"), Need::ClusterStatus);
}

#[test]
fn revoking_every_token_leaves_authentication_on() {
    let mut config = Config::default();
    config.auth.enable_admin_api = true;
    let a = access(&config, Tokens(BTreeMap::new(), true));
    assert_eq!(status(&a, "GET", "/api/v1/query", None), 401);
    assert_eq!(status(&a, "POST", "/api/v1/admin/tokens", None), 401);
}

#[test]
fn the_join_token_reads_the_cluster_status_and_nothing_else() {
    let mut tokens = Tokens::default();
    let reader = token(&mut tokens, &[Role::Read]);
    let a = access(&Config::default(), tokens);
    assert_eq!(status(&a, "GET", "/api/v1/status/cluster", Some(JOIN)), 200);
    assert_eq!(
        status(&a, "GET", "/api/v1/status/cluster", Some(&reader)),
        200
    );
    assert_eq!(status(&a, "GET", "/api/v1/status/cluster", None), 401);
    assert_eq!(status(&a, "GET", "/api/v1/status/tsdb", Some(JOIN)), 401);
}

#[test]
fn a_node_with_defaults_is_open_but_for_its_admin_api() {
    let a = access(&Config::default(), Tokens::default());
    assert_eq!(status(&a, "POST", "/api/v1/write", None), 200);
    assert_eq!(status(&a, "GET", "/api/v1/query", None), 200);
    assert_eq!(status(&a, "POST", "/config/v1/rules/ns", None), 200);
    assert_eq!(status(&a, "POST", "/api/v1/admin/flush", None), 403);
    assert_eq!(status(&a, "POST", "/-/reload", None), 403);
    assert_eq!(status(&a, "GET", JOIN_TOKEN_PATH, None), 403);
    // Member changes hand the secret to the new member: never without a credential.
    assert_eq!(status(&a, "POST", MEMBERS_PATH, None), 401);
    assert_eq!(status(&a, "POST", MEMBERS_PATH, Some(JOIN)), 200);
    assert_eq!(status(&a, "GET", JOIN_CHECK_PATH, Some(JOIN)), 200);
    assert_eq!(status(&a, "POST", "/api/v1/admin/flush", Some(JOIN)), 403);
    assert_eq!(status(&a, "POST", MEMBERS_PATH, Some("c2.x")), 401);
    // Before authentication is on, a bearer token nobody gave counts for nothing.
    assert_eq!(
        status(&a, "GET", "/api/v1/query", Some("from-a-proxy")),
        200
    );
    assert_eq!(
        status(&a, "POST", "/api/v1/admin/flush", Some("guess")),
        403
    );

    let mut enabled = Config::default();
    enabled.auth.enable_admin_api = true;
    let a = access(&enabled, Tokens::default());
    assert_eq!(status(&a, "POST", "/api/v1/admin/flush", None), 200);
    assert_eq!(status(&a, "POST", MEMBERS_PATH, None), 401);
    assert_eq!(status(&a, "GET", JOIN_TOKEN_PATH, None), 403);
}

#[test]
fn a_first_token_turns_authentication_on() {
    let mut config = Config::default();
    config.auth.enable_admin_api = true;
    let mut tokens = Tokens::default();
    let read = token(&mut tokens, &[Role::Read]);
    let write = token(&mut tokens, &[Role::Write]);
    let rules = token(&mut tokens, &[Role::Rules]);
    let admin = token(&mut tokens, &[Role::Admin]);
    let a = access(&config, tokens);
    for (m, p) in [
        ("POST", "/api/v1/write"),
        ("GET", "/api/v1/query"),
        ("POST", "/config/v1/rules/ns"),
    ] {
        assert_eq!(status(&a, m, p, None), 401, "{m} {p}");
    }
    assert_eq!(status(&a, "POST", "/api/v1/admin/flush", None), 401);
    assert_eq!(status(&a, "GET", "/metrics", None), 200);
    // Once it is on, an unknown token is refused wherever it is sent: a typo shows.
    assert_eq!(status(&a, "GET", "/api/v1/query", Some("guess")), 401);
    assert_eq!(status(&a, "GET", "/-/ready", Some("guess")), 200);

    assert_eq!(status(&a, "GET", "/api/v1/query", Some(&read)), 200);
    assert_eq!(status(&a, "POST", "/api/v1/write", Some(&read)), 403);
    assert_eq!(status(&a, "POST", "/api/v1/write", Some(&write)), 200);
    assert_eq!(status(&a, "GET", "/api/v1/query", Some(&write)), 403);
    assert_eq!(status(&a, "GET", "/config/v1/rules", Some(&rules)), 200);
    assert_eq!(status(&a, "POST", "/config/v1/rules/ns", Some(&rules)), 200);
    assert_eq!(status(&a, "POST", "/config/v1/rules/ns", Some(&read)), 403);
    assert_eq!(status(&a, "POST", "/api/v1/admin/flush", Some(&rules)), 403);
    assert_eq!(status(&a, "POST", "/api/v1/admin/flush", Some(&admin)), 200);
    assert_eq!(status(&a, "GET", JOIN_TOKEN_PATH, Some(&admin)), 200);
    assert_eq!(status(&a, "POST", MEMBERS_PATH, Some(&admin)), 200);
    assert_eq!(status(&a, "POST", MEMBERS_PATH, Some(&read)), 403);
    // The right id with another secret is no token at all.
    let last = if admin.ends_with('0') { "1" } else { "0" };
    let forged = format!("{}{last}", &admin[..admin.len() - 1]);
    assert_eq!(status(&a, "GET", "/api/v1/query", Some(&forged)), 401);
}

#[test]
fn anonymous_roles_open_what_they_name_once_authentication_is_on() {
    let mut config = Config::default();
    config.auth.anonymous_roles = Some(vec![Role::Read]);
    let mut tokens = Tokens::default();
    token(&mut tokens, &[Role::Admin]);
    let a = access(&config, tokens);
    assert_eq!(status(&a, "GET", "/api/v1/query", None), 200);
    assert_eq!(status(&a, "POST", "/api/v1/write", None), 401);
}

#[test]
fn configured_tokens_have_every_role() {
    let mut config = Config::default();
    config.auth.bootstrap_token = Some(BOOT.into());
    let a = access(&config, Tokens::default());
    // A bootstrap token turns authentication on by itself.
    assert_eq!(status(&a, "GET", "/api/v1/query", None), 401);
    for (m, p) in [
        ("POST", "/api/v1/admin/tokens"),
        ("GET", JOIN_TOKEN_PATH),
        ("POST", MEMBERS_PATH),
        ("POST", "/api/v1/write"),
    ] {
        assert_eq!(status(&a, m, p, Some(BOOT)), 200, "{m} {p}");
    }

    // `admin_token`, as before tokens: admin, rules and silences need it, reads and writes
    // do not.
    let config = Config {
        admin_token: Some("s3cret".into()),
        ..Config::default()
    };
    let a = access(&config, Tokens::default());
    assert_eq!(status(&a, "GET", "/api/v1/query", None), 200);
    assert_eq!(status(&a, "POST", "/api/v1/write", None), 200);
    assert_eq!(status(&a, "POST", "/config/v1/rules/ns", None), 401);
    assert_eq!(status(&a, "POST", "/api/v2/silences", None), 401);
    assert_eq!(status(&a, "POST", "/api/v1/admin/flush", None), 401);
    assert_eq!(
        status(&a, "POST", "/api/v1/admin/flush", Some("s3cret")),
        200
    );
    assert_eq!(status(&a, "GET", JOIN_TOKEN_PATH, Some("s3cret")), 200);
    assert_eq!(status(&a, "GET", JOIN_TOKEN_PATH, Some(JOIN)), 401);
    assert_eq!(status(&a, "POST", "/api/v1/admin/flush", Some(JOIN)), 401);
    assert_eq!(status(&a, "GET", "/api/v1/query", Some(JOIN)), 200);
    assert_eq!(status(&a, "POST", MEMBERS_PATH, Some(JOIN)), 200);
    assert_eq!(status(&a, "POST", MEMBERS_PATH, None), 401);
}

#[tokio::test]
async fn the_middleware_answers_in_prometheus_envelope() {
    let ok = || async { StatusCode::OK };
    let a = Arc::new(access(&Config::default(), Tokens::default()));
    let app = Router::new()
        .route("/api/v1/admin/flush", post(ok))
        .route("/api/v1/query", get(ok))
        .layer(axum::middleware::from_fn_with_state(a, authorize));
    let call = |method: &str, path: &str| {
        axum::http::Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .unwrap()
    };
    let r = app
        .clone()
        .oneshot(call("POST", "/api/v1/admin/flush"))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["status"], "error");
    assert_eq!(json["errorType"], "unauthorized");
    assert!(
        json["error"]
            .as_str()
            .unwrap()
            .contains("--enable-admin-api"),
        "{json}"
    );
    let r = app.oneshot(call("GET", "/api/v1/query")).await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_join_token_grants_member_adds_only_unless_the_admin_api_is_open() {
    let grant = |g: Option<axum::Extension<MemberGrant>>| async move {
        format!("{:?}", g.map(|axum::Extension(g)| g.any_op))
    };
    let answer = |config: Config| {
        let a = Arc::new(access(&config, Tokens::default()));
        let app = Router::new()
            .route(MEMBERS_PATH, post(grant))
            .layer(axum::middleware::from_fn_with_state(a, authorize));
        async move {
            let req = axum::http::Request::builder()
                .method("POST")
                .uri(MEMBERS_PATH)
                .header(header::AUTHORIZATION, format!("Bearer {JOIN}"))
                .body(Body::empty())
                .unwrap();
            let r = app.oneshot(req).await.unwrap();
            let body = axum::body::to_bytes(r.into_body(), 1 << 10).await.unwrap();
            String::from_utf8(body.to_vec()).unwrap()
        }
    };
    assert_eq!(answer(Config::default()).await, "Some(false)");
    let mut open = Config::default();
    open.auth.enable_admin_api = true;
    assert_eq!(answer(open).await, "Some(true)");
}
