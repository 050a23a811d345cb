//! `amtool`, Alertmanager's own CLI (from Debian's `prometheus-alertmanager` package), against
//! Tidemark's built-in notifier: it lists the alerts Tidemark holds, creates a silence that
//! then mutes the alert, lists it, expires it, and reads the configuration and receivers
//! through `amtool config` — every call through Tidemark's `/api/v2`. A silence and the alerts
//! outlive a kill -9 and restart of the node.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use support::Node;
use support::alertmanager::{alertmanager_bins, wait_notifier_configured};

const CONFIG: &str = r#"
route:
  receiver: team
  group_by: [alertname]
receivers:
  - name: team
"#;

/// Runs amtool against `url`; its stdout (panics on failure, with stderr).
fn amtool(bin: &Path, url: &str, args: &[&str]) -> String {
    let out = Command::new(bin.join("amtool"))
        .args(args)
        .arg(format!("--alertmanager.url={url}"))
        .output()
        .expect("run amtool");
    assert!(
        out.status.success(),
        "amtool {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn query(bin: &Path, url: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["alert", "query", "-o", "json"];
    args.extend_from_slice(extra);
    serde_json::from_str(&amtool(bin, url, &args)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_manages_silences_and_lists_alerts_against_tidemark() {
    let bin = match alertmanager_bins() {
        Ok(bin) => bin,
        Err(reason) => {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(&config, CONFIG).unwrap();
    let node = Node::start(
        &dir.path().join("n1"),
        &["--notifier-config", config.to_str().unwrap()],
    );
    let url = node.url();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    wait_notifier_configured(&client, &url).await;
    let res = client
        .post(format!("{url}/api/v2/alerts"))
        .json(&json!([
            {"labels": {"alertname": "DiskFull", "instance": "db-1"}, "annotations": {"summary": "disk full"}},
            {"labels": {"alertname": "Down", "instance": "web-1"}}
        ]))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());

    let bin2 = bin.clone();
    let u = url.clone();
    let kept = tokio::task::spawn_blocking(move || {
        let (bin, url) = (bin2, u);
        // Alerts, as amtool reads them.
        let all = query(&bin, &url, &[]);
        let names: Vec<&str> = all
            .iter()
            .map(|a| a["labels"]["alertname"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 2, "{all:?}");
        assert!(names.contains(&"DiskFull") && names.contains(&"Down"));
        let disk = query(&bin, &url, &["alertname=DiskFull"]);
        assert_eq!(disk.len(), 1);
        assert_eq!(disk[0]["annotations"]["summary"], "disk full");
        assert_eq!(disk[0]["receivers"][0]["name"], "team");
        assert_eq!(disk[0]["status"]["state"], "active");

        // A silence: created, listed, muting, expired.
        let id = amtool(
            &bin,
            &url,
            &[
                "silence",
                "add",
                "alertname=DiskFull",
                "--comment=disk swap",
                "--author=alice",
                "--duration=1h",
            ],
        );
        let id = id.trim().to_string();
        assert_eq!(id.len(), 36, "amtool prints the new silence's id: {id:?}");
        let listed = amtool(&bin, &url, &["silence", "query", "-q"]);
        assert_eq!(listed.trim(), id);
        let listed = amtool(&bin, &url, &["silence", "query", "-o", "json"]);
        let listed: Vec<Value> = serde_json::from_str(&listed).unwrap();
        assert_eq!(listed[0]["createdBy"], "alice");
        assert_eq!(listed[0]["status"]["state"], "active");
        let active = query(&bin, &url, &[]);
        assert_eq!(
            active.len(),
            1,
            "the silenced alert is not listed by default"
        );
        let silenced = query(&bin, &url, &["--silenced", "alertname=DiskFull"]);
        assert_eq!(silenced[0]["status"]["state"], "suppressed");
        assert_eq!(silenced[0]["status"]["silencedBy"][0], id.as_str());
        amtool(&bin, &url, &["silence", "expire", &id]);
        assert!(
            amtool(&bin, &url, &["silence", "query", "-q"])
                .trim()
                .is_empty()
        );
        let expired = amtool(&bin, &url, &["silence", "query", "--expired", "-q"]);
        assert_eq!(expired.trim(), id);
        assert_eq!(query(&bin, &url, &[]).len(), 2);

        // The configuration and receivers, as amtool shows them.
        let shown = amtool(&bin, &url, &["config", "show"]);
        assert!(shown.contains("receiver: team"), "{shown}");
        let receivers = amtool(&bin, &url, &["config", "routes"]);
        assert!(receivers.contains("team"), "{receivers}");
        // A silence that must outlive the node's death.
        amtool(
            &bin,
            &url,
            &[
                "silence",
                "add",
                "instance=web-1",
                "--comment=kept",
                "--author=bob",
                "--duration=2h",
            ],
        )
        .trim()
        .to_string()
    })
    .await
    .unwrap();

    // kill -9 and restart: the silences and alerts are in the ruler group's log and state.
    let mut node = node;
    node.kill9();
    tokio::task::block_in_place(|| node.restart());
    let url = node.url();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let bin2 = bin.clone();
    loop {
        let (b, u) = (bin2.clone(), url.clone());
        let listed = tokio::task::spawn_blocking(move || {
            Command::new(b.join("amtool"))
                .args(["silence", "query", "-q"])
                .arg(format!("--alertmanager.url={u}"))
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        })
        .await
        .unwrap();
        if listed.as_deref() == Some(kept.as_str()) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after a restart amtool lists {listed:?}, not {kept}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (b, u) = (bin.clone(), url.clone());
    let alerts = tokio::task::spawn_blocking(move || query(&b, &u, &["--active", "--silenced"]))
        .await
        .unwrap();
    assert_eq!(
        alerts.len(),
        2,
        "the alerts survive the restart too: {alerts:?}"
    );
}
