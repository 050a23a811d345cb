//! `tidemarkctl notifier|silence|alerts` against one real `tidemark` node with an admin token
//! and a `--notifier-config`: the configuration read back, a new one checked and set (its
//! warning printed, an invalid one refused before sending), an alert posted to
//! `/api/v2/alerts` and listed, silenced by `silence add`, listed with `silence list`, shown
//! silenced by `alerts --silenced`, grouped by `alerts groups`, then expired; the user
//! tidemarkctl names (`X-Tidemark-User`) reaches the node's audit log. What the node holds is
//! also read over HTTP, not only through tidemarkctl.
//!
//! Needs `tidemarkctl` next to `tidemark`: build it first (`cargo build -p tidemark-cli`).

mod support;

use std::process::Output;
use std::time::{Duration, Instant};

use support::Node;
use tidemark_api::alertmanager::{
    AlertState, GettableAlert, GettableSilence, LabelSet, PostableAlert, SilenceState,
};
use tidemark_testkit::Receiver;

const TOKEN: &str = "notifier-cli-token";
/// The user tidemarkctl runs as (`$USER`), which the node's audit log must name.
const OPERATOR: &str = "ops-bot-7f3a";
/// How long the test waits for what the node does after an answer (the configuration
/// imported at start, a silence applied to the alerts' view), and keeps retrying a 503.
const SETTLE_MS: u64 = 30_000;
const POLL_MS: u64 = 200;

/// The `--notifier-config` the node starts with: everything to `team-db`.
fn first_config(hook: &str) -> String {
    format!(
        "route:\n  receiver: team-db\n  group_by: [alertname]\n  group_wait: 1s\n\
         receivers:\n  - name: team-db\n    webhook_configs:\n      - url: {hook}/team-db\n"
    )
}

/// The configuration `notifier set` sends: pages to `pager`, with a `repeat_interval`
/// shorter than the `group_interval` (a warning).
fn second_config(hook: &str) -> String {
    format!(
        "route:\n  receiver: team-db\n  group_by: [alertname]\n  group_wait: 1s\n  \
         group_interval: 5m\n  repeat_interval: 1m\n  routes:\n    - matchers: ['severity=\"page\"']\n      \
         receiver: pager\n\
         receivers:\n  - name: team-db\n    webhook_configs:\n      - url: {hook}/team-db\n  \
         - name: pager\n    webhook_configs:\n      - url: {hook}/pager\n"
    )
}

/// Runs `tidemarkctl --endpoint base ARGS` as [`OPERATOR`], with the admin token when `token`.
async fn run(base: &str, args: &[&str], token: bool) -> Output {
    let mut cmd = tokio::process::Command::new(support::tidemarkctl());
    cmd.args(["--endpoint", base, "--timeout-s", "30"])
        .args(args)
        .env("USER", OPERATOR)
        .env_remove("TIDEMARK_ADMIN_TOKEN");
    if token {
        cmd.args(["--admin-token", TOKEN]);
    }
    cmd.output().await.expect("run tidemarkctl")
}

fn shown(args: &[&str], o: &Output) -> String {
    format!(
        "tidemarkctl {args:?}: {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `tidemarkctl ARGS` with the token; asserts it succeeded; its stdout and stderr.
async fn ok(base: &str, args: &[&str]) -> (String, String) {
    let o = run(base, args, true).await;
    assert!(o.status.success(), "{}", shown(args, &o));
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Runs `tidemarkctl ARGS` (with the token when `token`); asserts it failed with exit code 1;
/// its stdout and stderr together.
async fn fails(base: &str, args: &[&str], token: bool) -> String {
    let o = run(base, args, token).await;
    assert_eq!(o.status.code(), Some(1), "{}", shown(args, &o));
    shown(args, &o)
}

/// Runs `tidemarkctl ARGS` until `done` holds for its stdout (or panics after [`SETTLE_MS`]).
async fn until(base: &str, args: &[&str], done: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_millis(SETTLE_MS);
    loop {
        let o = run(base, args, true).await;
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        if o.status.success() && done(&stdout) {
            return stdout;
        }
        assert!(
            Instant::now() < deadline,
            "not as expected after {SETTLE_MS} ms: {}",
            shown(args, &o)
        );
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
}

/// Posts `alerts` to `/api/v2/alerts` as a Prometheus would (no token), retrying 503s.
async fn post_alerts(client: &reqwest::Client, base: &str, alerts: &[PostableAlert]) {
    let deadline = Instant::now() + Duration::from_millis(SETTLE_MS);
    loop {
        let r = client
            .post(format!("{base}/api/v2/alerts"))
            .json(alerts)
            .send()
            .await
            .expect("POST /api/v2/alerts");
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        if status.is_success() {
            return;
        }
        assert!(
            status == 503 && Instant::now() < deadline,
            "POST /api/v2/alerts: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
    }
}

/// `GET /api/v2/silences` over HTTP.
async fn silences(client: &reqwest::Client, base: &str) -> Vec<GettableSilence> {
    let r = client
        .get(format!("{base}/api/v2/silences"))
        .send()
        .await
        .expect("GET /api/v2/silences");
    assert!(r.status().is_success(), "{}", r.status());
    r.json().await.expect("silences JSON")
}

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tidemarkctl_sets_the_config_silences_and_lists_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let hook = Receiver::start();
    let node_config = dir.path().join("tidemark.yaml");
    std::fs::write(&node_config, format!("admin_token: {TOKEN}\n")).unwrap();
    let first = dir.path().join("alertmanager.yml");
    std::fs::write(&first, first_config(&hook.url())).unwrap();
    let node = Node::start(
        &dir.path().join("n1"),
        &[
            "--config",
            node_config.to_str().unwrap(),
            "--notifier-config",
            first.to_str().unwrap(),
        ],
    );
    let base = node.url();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    // The configuration the node imported at start.
    let got = until(&base, &["notifier", "get"], |out| out.contains("team-db")).await;
    assert_eq!(got, first_config(&hook.url()));

    // An invalid file: `check` says why without a server, `set` sends nothing.
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "route:\n  receiver: nobody\nreceivers:\n  - name: team-db\n",
    )
    .unwrap();
    let out = fails(&base, &["notifier", "check", bad.to_str().unwrap()], false).await;
    assert!(out.contains("nobody"), "{out}");
    let out = fails(&base, &["notifier", "set", bad.to_str().unwrap()], true).await;
    assert!(out.contains("nothing sent"), "{out}");
    let (got, _) = ok(&base, &["notifier", "get"]).await;
    assert_eq!(got, first_config(&hook.url()), "an invalid file was sent");

    // A valid one: checked (with its warning), set, read back.
    let second = dir.path().join("second.yml");
    std::fs::write(&second, second_config(&hook.url())).unwrap();
    let (out, warnings) = ok(&base, &["notifier", "check", second.to_str().unwrap()]).await;
    assert!(out.contains("valid"), "{out}");
    assert!(
        warnings.contains("repeat_interval (1m) is less than group_interval (5m)"),
        "{warnings}"
    );
    let out = fails(&base, &["notifier", "set", second.to_str().unwrap()], false).await;
    assert!(out.contains("401"), "without the token: {out}");
    let (out, warnings) = ok(&base, &["notifier", "set", second.to_str().unwrap()]).await;
    assert!(out.contains("notifier configuration set"), "{out}");
    assert!(
        warnings.contains("repeat_interval (1m) is less than group_interval (5m)"),
        "the node's warning: {warnings}"
    );
    let (got, _) = ok(&base, &["notifier", "get"]).await;
    assert_eq!(got, second_config(&hook.url()));
    let (json, _) = ok(&base, &["notifier", "get", "--output", "json"]).await;
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["config"], second_config(&hook.url()));

    // An alert, as a Prometheus posts it.
    post_alerts(
        &client,
        &base,
        &[PostableAlert {
            labels: labels(&[
                ("alertname", "DiskFull"),
                ("instance", "db-1"),
                ("severity", "page"),
            ]),
            ..PostableAlert::default()
        }],
    )
    .await;
    let out = until(&base, &["alerts"], |out| out.contains("DiskFull")).await;
    let row = out.lines().find(|l| l.starts_with("DiskFull")).unwrap();
    assert!(row.contains(" active "), "{out}");
    assert!(row.contains("pager"), "routed by the second config: {out}");
    assert!(row.contains(r#"instance="db-1" severity="page""#), "{out}");
    let (out, _) = ok(&base, &["alerts", "--receiver", "team-.*"]).await;
    assert_eq!(out.trim(), "no alerts", "only pager receives it: {out}");
    let (json, _) = ok(&base, &["alerts", "DiskFull", "--output", "json"]).await;
    let alerts: Vec<GettableAlert> = serde_json::from_str(&json).unwrap();
    assert_eq!(alerts.len(), 1, "{json}");
    assert_eq!(alerts[0].status.state, AlertState::Active);
    assert_eq!(alerts[0].receivers[0].name, "pager");

    // Silenced.
    let (out, _) = ok(
        &base,
        &[
            "silence",
            "add",
            "alertname=DiskFull",
            r#"instance=~"db.*""#,
            "--comment",
            "disk swap",
            "--duration",
            "2h",
            "--author",
            "alice",
        ],
    )
    .await;
    let id = out.trim().to_string();
    assert_eq!(id.len(), 36, "a UUID: {out}");
    let held = silences(&client, &base).await;
    let s = held.iter().find(|s| s.id == id).expect("the silence");
    assert_eq!(s.created_by, "alice");
    assert_eq!(s.comment, "disk swap");
    assert_eq!(s.status.state, SilenceState::Active);
    assert_eq!(s.matchers.len(), 2);
    assert!(
        s.matchers
            .iter()
            .any(|m| m.name == "instance" && m.is_regex && m.is_equal)
    );
    let fails_without_token =
        fails(&base, &["silence", "add", "a=b", "--comment", "c"], false).await;
    assert!(fails_without_token.contains("401"), "{fails_without_token}");

    let (out, _) = ok(&base, &["silence", "list"]).await;
    let row = out
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains(r#"alertname="DiskFull" instance=~"db.*""#),
        "{out}"
    );
    assert!(row.contains("alice") && row.contains("disk swap"), "{out}");
    let (out, _) = ok(&base, &["silence", "list", "-q", "alertname=DiskFull"]).await;
    assert_eq!(out.trim(), id);
    let (out, _) = ok(&base, &["silence", "list", "-q", "alertname=Other"]).await;
    assert_eq!(out.trim(), "");

    let out = until(&base, &["alerts"], |out| out.trim() == "no alerts").await;
    assert!(
        !out.contains("DiskFull"),
        "silenced alerts are hidden: {out}"
    );
    let (out, _) = ok(&base, &["alerts", "--silenced"]).await;
    assert!(out.contains("suppressed (silenced)"), "{out}");
    let (out, _) = ok(&base, &["alerts", "groups", "--silenced"]).await;
    assert!(
        out.contains(r#"receiver pager, group {alertname="DiskFull"}: 1 alert"#),
        "{out}"
    );

    // Expired.
    let (out, _) = ok(&base, &["silence", "expire", &id]).await;
    assert_eq!(out.trim(), format!("expired {id}"));
    let (out, _) = ok(&base, &["silence", "list"]).await;
    assert_eq!(out.trim(), "no active or pending silences");
    let (out, _) = ok(&base, &["silence", "list", "--expired", "-q"]).await;
    assert_eq!(out.trim(), id);
    let out = fails(
        &base,
        &["silence", "expire", "00000000-0000-4000-8000-000000000000"],
        true,
    )
    .await;
    assert!(out.contains("not found"), "{out}");
    until(&base, &["alerts"], |out| out.contains("DiskFull")).await;

    // Removed.
    ok(&base, &["notifier", "delete"]).await;
    let out = fails(&base, &["notifier", "get"], true).await;
    assert!(out.contains("no notifier configuration is set"), "{out}");

    // Changes were made as the user tidemarkctl ran as.
    let log = node.log();
    assert!(
        log.contains(OPERATOR),
        "X-Tidemark-User {OPERATOR} is not in the node's log:\n{log}"
    );
    drop(node);
}
