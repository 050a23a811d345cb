//! The ruler and a real Alertmanager: one `tidemark` node evaluates an alerting rule whose
//! condition the test writes (remote write), sends to a real Alertmanager (`--alertmanager-url`),
//! which notifies a webhook receiver run by the test. Firing (with the rule's annotation
//! templates rendered and the ruler's external labels added), listed by `amtool`, then
//! resolved once the condition clears; the delays are printed.

mod support;

use std::time::Duration;

use support::Node;
use support::alertmanager::{
    AM_GROUP_INTERVAL_MS, AM_GROUP_WAIT_MS, Alertmanager, GaugeWriter, WebhookRecorder,
    alertmanager_bins, api_alert, secs, upload_rule_group,
};

/// The rule group's interval and the alert's `for`, in milliseconds.
const INTERVAL_MS: u64 = 1_000;
const FOR_MS: u64 = 2_000;
/// Slack for a write to become visible, a send, and scheduling on a loaded machine.
const SLACK_MS: u64 = 3_000;

const GROUP: &str = r#"
name: am-test
interval: 1s
rules:
  - alert: TestGaugeHigh
    expr: test_gauge > 0
    for: 2s
    labels:
      severity: page
    annotations:
      summary: "test_gauge of {{ $labels.instance }} is {{ $value }}"
      description: static text
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_alert_fires_and_resolves_through_a_real_alertmanager() {
    let bin = match alertmanager_bins() {
        Ok(bin) => bin,
        Err(reason) => {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let webhook = WebhookRecorder::start();
    let am = Alertmanager::start(&bin, &dir.path().join("am"), &webhook.url);
    let config = dir.path().join("tidemark.yaml");
    std::fs::write(
        &config,
        "ruler:\n  external_labels:\n    cluster: tidemark-test\n  \
         external_url: http://tidemark.example:9201\n",
    )
    .unwrap();
    let node = Node::start(
        &dir.path().join("n1"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--alertmanager-url",
            &am.url,
        ],
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    upload_rule_group(&client, &node.url(), "team-a", GROUP).await;
    let gauges = GaugeWriter::start(vec![node.url()]);
    let series = [("__name__", "test_gauge"), ("instance", "host-1")];

    // The condition starts.
    let started = gauges.set(&series, 42.0).await;
    let fire_bound = Duration::from_millis(INTERVAL_MS + FOR_MS + AM_GROUP_WAIT_MS + SLACK_MS);
    let firing = webhook
        .wait_for("alertname", "TestGaugeHigh", "firing", fire_bound * 3)
        .await
        .unwrap_or_else(|| {
            panic!(
                "no firing notification within {:?}\nwebhook:\n{}\nnode log:\n{}\nalertmanager log:\n{}",
                fire_bound * 3,
                webhook.dump(),
                node.log(),
                am.log()
            )
        });
    let fire_delay = firing.at - started;
    let alert = firing
        .alerts_with("alertname", "TestGaugeHigh")
        .next()
        .unwrap()
        .clone();
    assert_eq!(alert["labels"]["instance"], "host-1", "{alert}");
    assert_eq!(alert["labels"]["severity"], "page", "{alert}");
    assert_eq!(
        alert["labels"]["cluster"], "tidemark-test",
        "external label: {alert}"
    );
    assert_eq!(
        alert["annotations"]["summary"], "test_gauge of host-1 is 42",
        "{alert}"
    );
    assert_eq!(alert["annotations"]["description"], "static text");
    let generator = alert["generatorURL"].as_str().unwrap();
    assert!(
        generator.starts_with("http://tidemark.example:9201/graph?g0.expr=test_gauge"),
        "{generator}"
    );

    // Alertmanager holds it: amtool lists it, with its labels.
    let listed = am.amtool_query(&["alertname=TestGaugeHigh"]);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["labels"]["instance"], "host-1", "{listed:?}");
    assert_eq!(
        listed[0]["labels"]["cluster"], "tidemark-test",
        "{listed:?}"
    );
    assert_eq!(listed[0]["status"]["state"], "active", "{listed:?}");
    assert_eq!(
        listed[0]["annotations"]["summary"], "test_gauge of host-1 is 42",
        "{listed:?}"
    );
    // And the node's own API shows it firing.
    let api = api_alert(&client, &node.url(), "instance", "host-1")
        .await
        .expect("the alert on /api/v1/alerts");
    assert_eq!(api["state"], "firing", "{api}");

    // The condition clears.
    let cleared = gauges.set(&series, 0.0).await;
    let resolve_bound = Duration::from_millis(INTERVAL_MS + AM_GROUP_INTERVAL_MS + SLACK_MS);
    let resolved = webhook
        .wait_for("alertname", "TestGaugeHigh", "resolved", resolve_bound * 3)
        .await
        .unwrap_or_else(|| {
            panic!(
                "no resolved notification within {:?}\nwebhook:\n{}\nnode log:\n{}",
                resolve_bound * 3,
                webhook.dump(),
                node.log()
            )
        });
    let resolve_delay = resolved.at - cleared;
    let firing_notifications = webhook.with("alertname", "TestGaugeHigh", "firing").len();

    println!(
        "alertmanager: condition -> firing notification {} s (rule interval {} s, for {} s, \
         group_wait {} s)",
        secs(fire_delay),
        INTERVAL_MS / 1000,
        FOR_MS / 1000,
        AM_GROUP_WAIT_MS / 1000
    );
    println!(
        "alertmanager: condition cleared -> resolved notification {} s (group_interval {} s)",
        secs(resolve_delay),
        AM_GROUP_INTERVAL_MS / 1000
    );
    println!("alertmanager: firing notifications: {firing_notifications}");

    assert!(
        fire_delay <= fire_bound,
        "firing after {fire_delay:?}, bound {fire_bound:?}"
    );
    assert!(
        fire_delay >= Duration::from_millis(FOR_MS),
        "fired after {fire_delay:?}, before `for` ({FOR_MS} ms)"
    );
    assert!(
        resolve_delay <= resolve_bound,
        "resolved after {resolve_delay:?}, bound {resolve_bound:?}"
    );
    assert_eq!(firing_notifications, 1, "{}", webhook.dump());
    assert!(
        webhook
            .with("alertname", "TestGaugeHigh", "resolved")
            .iter()
            .all(|n| n.at >= cleared),
        "a resolved notification before the condition cleared:\n{}",
        webhook.dump()
    );
    let resolved_alert = resolved
        .alerts_with("alertname", "TestGaugeHigh")
        .next()
        .unwrap();
    assert_eq!(resolved_alert["labels"]["cluster"], "tidemark-test");
    drop(gauges);
    drop(node);
    drop(am);
}
