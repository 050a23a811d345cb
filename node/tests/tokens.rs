//! API tokens against a real node and the real `tidemarkctl`: the admin API closed on a node
//! started with defaults, the first token made with a bootstrap token, roles enforced per
//! endpoint, revocation, tokens surviving a restart without the bootstrap token, audit lines.

mod support;

use support::{Node, encode_write_v1, wall_clock_ms};

const BOOT: &str = "bootstrap-token-0123456789";

/// `tidemarkctl --endpoint base --token token ARGS`: stdout, or a panic with its output.
fn ctl(base: &str, token: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(support::tidemarkctl())
        .args(["--endpoint", base, "--token", token])
        .args(args)
        .env_remove("TIDEMARK_ADMIN_TOKEN")
        .env_remove("TIDEMARK_TOKEN")
        .output()
        .expect("run tidemarkctl");
    assert!(
        out.status.success(),
        "tidemarkctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The status of `method path` with `token` as bearer (a remote-write body for the write
/// path, a query form elsewhere).
async fn status(client: &reqwest::Client, base: &str, path: &str, token: Option<&str>) -> u16 {
    let url = format!("{base}{path}");
    let mut req = if path == "/api/v1/write" {
        let now = wall_clock_ms();
        let labels = vec![
            ("__name__".to_string(), "token_test".to_string()),
            (
                "via".to_string(),
                token.map_or("none", |t| &t[..12]).to_string(),
            ),
        ];
        client
            .post(url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .body(encode_write_v1(&[(labels, vec![(now, 1.0)])]))
    } else if path.starts_with("/api/v1/admin/") {
        client.post(url)
    } else {
        client.post(url).form(&[("query", "token_test")])
    };
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("request").status().as_u16()
}

#[tokio::test]
async fn tokens_with_roles_guard_a_real_node() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("n1");
    // A new connection per request: the node restarts on the same port.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    // As shipped: open for reads and writes, the admin API closed with a message that says how
    // to open it.
    let mut node = Node::start_as_shipped(&data, &[]);
    let base = node.url();
    assert_eq!(status(&client, &base, "/api/v1/write", None).await, 204);
    assert_eq!(status(&client, &base, "/api/v1/query", None).await, 200);
    let r = client
        .post(format!("{base}/api/v1/admin/flush"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let body = r.text().await.unwrap();
    assert!(body.contains("--enable-admin-api"), "{body}");
    node.stop();

    // A bootstrap token turns authentication on and makes the first tokens.
    node.extra_args = vec!["--bootstrap-token".into(), BOOT.into()];
    node.restart();
    assert_eq!(status(&client, &base, "/api/v1/query", None).await, 401);
    let reader = ctl(
        &base,
        BOOT,
        &["token", "create", "--name", "grafana", "--role", "read"],
    );
    let reader = reader.trim().to_string();
    let writer = ctl(
        &base,
        BOOT,
        &["token", "create", "--name", "agents", "--role", "write"],
    );
    let writer = writer.trim().to_string();
    let admin = ctl(
        &base,
        BOOT,
        &["token", "create", "--name", "ops", "--role", "admin"],
    );
    let admin = admin.trim().to_string();
    assert!(reader.starts_with("tmk_"), "{reader}");

    assert_eq!(
        status(&client, &base, "/api/v1/query", Some(&reader)).await,
        200
    );
    assert_eq!(
        status(&client, &base, "/api/v1/write", Some(&reader)).await,
        403
    );
    assert_eq!(
        status(&client, &base, "/api/v1/write", Some(&writer)).await,
        204
    );
    assert_eq!(
        status(&client, &base, "/api/v1/query", Some(&writer)).await,
        403
    );
    assert_eq!(
        status(&client, &base, "/api/v1/admin/flush", Some(&reader)).await,
        403
    );
    assert_eq!(
        status(&client, &base, "/api/v1/admin/flush", Some(&admin)).await,
        204
    );
    assert_eq!(status(&client, &base, "/api/v1/write", None).await, 401);

    // The list names the tokens and shows no secret.
    let list = ctl(&base, &admin, &["token", "list"]);
    for name in ["grafana", "agents", "ops"] {
        assert!(list.contains(name), "{list}");
    }
    for secret in [&reader, &writer, &admin] {
        assert!(!list.contains(&secret[16..]), "a secret is listed: {list}");
    }
    let reader_id = reader.split('_').nth(1).unwrap().to_string();
    ctl(&base, &admin, &["token", "revoke", &reader_id]);
    assert_eq!(
        status(&client, &base, "/api/v1/query", Some(&reader)).await,
        401
    );
    node.stop();

    // The tokens are the cluster's, not the flag's: without the bootstrap token they still
    // work, and callers without one are still refused.
    node.extra_args = vec![];
    node.restart();
    assert_eq!(status(&client, &base, "/api/v1/query", None).await, 401);
    assert_eq!(
        status(&client, &base, "/api/v1/query", Some(BOOT)).await,
        401
    );
    assert_eq!(
        status(&client, &base, "/api/v1/write", Some(&writer)).await,
        204
    );
    assert_eq!(
        status(&client, &base, "/api/v1/query", Some(&reader)).await,
        401
    );
    let list = ctl(&base, &admin, &["token", "list"]);
    assert!(
        !list.contains("grafana") && list.contains("agents"),
        "{list}"
    );

    // Every admin change left an audit line naming who made it.
    let log = node.log();
    let audit: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("tidemark::audit"))
        .collect();
    assert!(
        audit
            .iter()
            .any(|l| l.contains("bootstrap token") && l.contains("/api/v1/admin/tokens")),
        "{audit:#?}"
    );
    assert!(
        audit.iter().any(
            |l| l.contains("(ops)") && l.contains(&format!("/api/v1/admin/tokens/{reader_id}"))
        ),
        "{audit:#?}"
    );
    assert!(
        audit
            .iter()
            .any(|l| l.contains("anonymous") && l.contains("status=403")),
        "the refused flush is audited too: {audit:#?}"
    );
}
