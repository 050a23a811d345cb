//! The ruler's alerts reach the built-in notifier: one node with a rule group and a
//! `--notifier-config` whose webhook is a recording server. The alert fires, is routed,
//! grouped and delivered by Tidemark itself with the rule's labels and rendered annotations,
//! and with the ruler's `generatorURL`; once the rule is deleted the alert resolves and the
//! resolution is delivered too.

mod support;

use std::time::{Duration, Instant};

use support::Node;
use support::alertmanager::upload_rule_group;
use tidemark_testkit::receiver::Receiver;

const NOTIFIER: &str = r#"
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
receivers:
  - name: oncall
    webhook_configs: [{url: 'URL/hook'}]
"#;

const GROUP: &str = r#"
name: always
interval: 1s
rules:
  - alert: AlwaysOn
    expr: vector(1) > 0
    labels:
      severity: page
    annotations:
      summary: "value is {{ $value }}"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rulers_alerts_are_delivered_by_the_builtin_notifier() {
    let hook = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(&config, NOTIFIER.replace("URL", &hook.url())).unwrap();
    let node = Node::start(
        &dir.path().join("n1"),
        &["--notifier-config", config.to_str().unwrap()],
    );
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    upload_rule_group(&client, &node.url(), "team", GROUP).await;
    let fired = Instant::now();
    let firing = hook
        .wait_for_async(1, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("no notification: {e}\n{}", node.log()));
    let body = firing[0].json();
    eprintln!(
        "firing delivered {} ms after the upload",
        fired.elapsed().as_millis()
    );
    assert_eq!(body["receiver"], "oncall");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["groupKey"], r#"{}:{alertname="AlwaysOn"}"#);
    let alert = &body["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "AlwaysOn");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(alert["annotations"]["summary"], "value is 1");
    assert!(
        alert["generatorURL"]
            .as_str()
            .unwrap()
            .contains("/graph?g0.expr="),
        "{alert}"
    );

    // The condition clears: the ruler resolves its alert (as Prometheus does, it sends the
    // alert with `endsAt` at the evaluation) and the notifier delivers the resolution.
    upload_rule_group(&client, &node.url(), "team", &GROUP.replace("> 0", "< 0")).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let resolved = hook
            .requests()
            .iter()
            .any(|r| r.json()["status"] == "resolved");
        if resolved {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no resolved notification: {:?}\n{}",
            hook.requests().iter().map(|r| r.json()).collect::<Vec<_>>(),
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
