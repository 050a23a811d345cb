//! The built-in notifier against a real Alertmanager 0.33: the same `alertmanager.yml` (only
//! the webhook URLs differ) and the same posted alerts and silences, sent to both at the same
//! moments, must produce the same notifications at the webhooks: the same group keys, the
//! same alerts (by fingerprint, which both compute from the labels) with the same status, in
//! the same order per receiver, at times within a stated tolerance.
//!
//! The scenario exercises grouping, `group_wait`, `group_interval`, a route with `continue`,
//! an inhibition that lifts when its source resolves, a silence that is created and
//! expired, and resolved notifications.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Node;
use support::alertmanager::wait_notifier_configured;
use tidemark_testkit::alertmanager::{Alertmanager, templates_present};
use tidemark_testkit::receiver::{Receiver, Recorded};

/// How far apart the two may notify the same thing (Tidemark's dispatcher checks for due
/// groups every 200 ms; posts reach the two a few milliseconds apart; the machine is loaded).
const TOLERANCE_MS: i64 = 1_500;

const CONFIG: &str = r#"
route:
  receiver: default
  group_by: [alertname]
  group_wait: 2s
  group_interval: 6s
  repeat_interval: 1h
  routes:
    - matchers: ['severity="page"']
      receiver: pager
      group_by: [alertname, team]
      continue: true
    - matchers: ['team="db"']
      receiver: db
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [alertname]
receivers:
  - name: default
    webhook_configs: [{url: 'URL/default'}]
  - name: pager
    webhook_configs: [{url: 'URL/pager'}]
  - name: db
    webhook_configs: [{url: 'URL/db'}]
"#;

/// One side: where to post, and its webhook.
struct Side {
    api: String,
    hook: Receiver,
}

/// A notification as compared: receiver path, group key, status, and (fingerprint,
/// alertname, instance, status) of each alert.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    path: String,
    group_key: String,
    status: String,
    alerts: Vec<(String, String, String, String)>,
}

fn seen(r: &Recorded) -> Seen {
    let body = r.json();
    let mut alerts: Vec<(String, String, String, String)> = body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let s = |v: &Value| v.as_str().unwrap_or("").to_string();
            (
                s(&a["fingerprint"]),
                s(&a["labels"]["alertname"]),
                s(&a["labels"]["instance"]),
                s(&a["status"]),
            )
        })
        .collect();
    alerts.sort();
    Seen {
        path: r.path.clone(),
        group_key: body["groupKey"].as_str().unwrap().to_string(),
        status: body["status"].as_str().unwrap().to_string(),
        alerts,
    }
}

fn alert(name: &str, instance: &str, extra: &[(&str, &str)], ends: Option<&str>) -> Value {
    let mut labels = json!({"alertname": name, "instance": instance});
    for (k, v) in extra {
        labels[*k] = json!(v);
    }
    let mut a =
        json!({"labels": labels, "annotations": {"summary": format!("{name} on {instance}")}});
    if let Some(t) = ends {
        a["endsAt"] = json!(t);
    }
    a
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

async fn post(client: &reqwest::Client, sides: &[&Side], path: &str, body: &Value) -> Vec<Value> {
    let mut out = Vec::new();
    for s in sides {
        let res = client
            .post(format!("{}{path}", s.api))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(status.is_success(), "{} {path}: {status}: {text}", s.api);
        out.push(serde_json::from_str(&text).unwrap_or(Value::Null));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_builtin_notifier_notifies_as_alertmanager_does() {
    if let Err(e) = templates_present() {
        eprintln!("SKIPPED: {e}");
        return;
    }
    let am_hook = Receiver::start();
    let tm_hook = Receiver::start();
    let am =
        Alertmanager::start(&CONFIG.replace("URL", &am_hook.url())).expect("Alertmanager starts");
    let dir = tempfile::tempdir().unwrap();
    let notifier_config = dir.path().join("alertmanager.yml");
    std::fs::write(&notifier_config, CONFIG.replace("URL", &tm_hook.url())).unwrap();
    let node = Node::start(
        &dir.path().join("n1"),
        &["--notifier-config", notifier_config.to_str().unwrap()],
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    wait_notifier_configured(&client, &node.url()).await;
    let am_side = Side {
        api: am.url(),
        hook: am_hook,
    };
    let tm_side = Side {
        api: node.url(),
        hook: tm_hook,
    };
    let both = [&am_side, &tm_side];
    let start = Instant::now();
    let at = |secs: f64| start + Duration::from_secs_f64(secs);

    // 0 s: a warning inhibited by a critical alert of the same name, and a page routed to the
    // pager and (continue) to the db team.
    let warning = alert("Disk", "a", &[("severity", "warning")], None);
    let critical = alert("Disk", "b", &[("severity", "critical")], None);
    let page = alert("Burn", "x", &[("severity", "page"), ("team", "db")], None);
    post(
        &client,
        &both,
        "/api/v2/alerts",
        &json!([warning, critical, page]),
    )
    .await;
    // 3 s: a third alert joins the Disk group, silenced at 4 s: the flush at 8 s has nothing new.
    tokio::time::sleep_until(at(3.0).into()).await;
    let info = alert("Disk", "c", &[("severity", "info")], None);
    post(&client, &both, "/api/v2/alerts", &json!([info])).await;
    tokio::time::sleep_until(at(4.0).into()).await;
    let ends = chrono::Utc::now() + chrono::Duration::minutes(10);
    let silence = json!({
        "matchers": [{"name": "instance", "value": "c", "isRegex": false, "isEqual": true}],
        "startsAt": now_rfc3339(),
        "endsAt": ends.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "createdBy": "test",
        "comment": "differential",
    });
    let ids = post(&client, &both, "/api/v2/silences", &silence).await;
    // 9 s: the critical alert resolves: the warning is no longer inhibited (flush at 14 s).
    tokio::time::sleep_until(at(9.0).into()).await;
    let resolved_critical = alert(
        "Disk",
        "b",
        &[("severity", "critical")],
        Some(&now_rfc3339()),
    );
    post(
        &client,
        &both,
        "/api/v2/alerts",
        &json!([resolved_critical]),
    )
    .await;
    // 10 s: the page resolves (both of its groups notify it at 14 s).
    tokio::time::sleep_until(at(10.0).into()).await;
    let resolved_page = alert(
        "Burn",
        "x",
        &[("severity", "page"), ("team", "db")],
        Some(&now_rfc3339()),
    );
    post(&client, &both, "/api/v2/alerts", &json!([resolved_page])).await;
    // 15 s: the silence is expired: the info alert is notified at 20 s.
    tokio::time::sleep_until(at(15.0).into()).await;
    for (side, id) in both.iter().zip(&ids) {
        let id = id["silenceID"].as_str().unwrap();
        let res = client
            .delete(format!("{}/api/v2/silence/{id}", side.api))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}: {}", side.api, res.status());
    }
    tokio::time::sleep_until(at(24.0).into()).await;

    let am_seen: Vec<(i64, Seen)> = timeline(&am_side.hook, start);
    let tm_seen: Vec<(i64, Seen)> = timeline(&tm_side.hook, start);
    let show = |v: &[(i64, Seen)]| -> String {
        v.iter()
            .map(|(t, s)| format!("  {t:>6} ms {s:?}\n"))
            .collect()
    };
    eprintln!(
        "Alertmanager:\n{}Tidemark:\n{}",
        show(&am_seen),
        show(&tm_seen)
    );
    assert!(
        am_seen.len() >= 6,
        "the scenario notifies at least 6 times in Alertmanager"
    );
    assert_eq!(
        am_seen.iter().map(|(_, s)| s).collect::<Vec<_>>(),
        tm_seen.iter().map(|(_, s)| s).collect::<Vec<_>>(),
        "the same notifications in the same order"
    );
    let mut worst = 0;
    for ((ta, _), (tt, _)) in am_seen.iter().zip(&tm_seen) {
        worst = worst.max((ta - tt).abs());
    }
    eprintln!("largest time difference: {worst} ms (tolerance {TOLERANCE_MS} ms)");
    assert!(worst <= TOLERANCE_MS, "notified {worst} ms apart");
}

/// The notifications a webhook received, in order of (receiver path, arrival), with their
/// time since `start`.
fn timeline(hook: &Receiver, start: Instant) -> Vec<(i64, Seen)> {
    let start_unix_ms = support::alertmanager::wall_clock_ms() - start.elapsed().as_millis() as i64;
    let mut v: Vec<(i64, Seen)> = hook
        .requests()
        .iter()
        .map(|r| (r.received_unix_ms as i64 - start_unix_ms, seen(r)))
        .collect();
    v.sort_by(|a, b| a.1.path.cmp(&b.1.path).then(a.0.cmp(&b.0)));
    v
}
