//! The PagerDuty channel against the recording receiver, and its pure parts.

use std::time::Duration;

use serde_json::json;
use tidemark_alerting::notify::config::Integration;
use tidemark_testkit::Receiver;

use super::super::pagerduty::{EVENT_MAX_BYTES, dedup_key, truncate_chars};
use super::super::send;
use super::{GROUP_KEY, alert, context, integration, notification, permanent, retry};

fn pagerduty(yaml: &str) -> Integration {
    integration(&format!("pagerduty_configs: [{yaml}]"))
}

/// SHA-256 of [`GROUP_KEY`] (Python's `hashlib.sha256(...).hexdigest()`).
const GROUP_KEY_SHA256: &str = "d4061866bc333de2350285b0452a21f78349e3d63b4f06b6c956f64f95d7be36";

#[test]
fn the_dedup_key_is_the_sha256_of_the_group_key() {
    assert_eq!(dedup_key(GROUP_KEY), GROUP_KEY_SHA256);
    assert_eq!(
        dedup_key(""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn truncates_as_alertmanager() {
    assert_eq!(truncate_chars("abc", 3), "abc");
    assert_eq!(truncate_chars("abcdef", 5), "abcd…");
    assert_eq!(truncate_chars("abcdef", 3), "abc");
    assert_eq!(truncate_chars("ééééé", 4), "ééé…");
}

#[tokio::test]
async fn sends_alertmanagers_event() {
    let receiver = Receiver::start();
    let p = pagerduty(&format!(
        "{{routing_key: rk-123, url: '{}/v2/enqueue', severity: critical, class: latency, \
         component: '{{{{ .CommonLabels.alertname }}}}', group: web, \
         details: {{team: '{{{{ .GroupLabels.alertname }}}}', answer: '42', flag: 'yes', \
                    empty: '', nested: {{'{{{{ .Status }}}}': [a, 1]}}, count: 3}}, \
         links: [{{href: 'http://runbook.example/{{{{ .GroupLabels.alertname }}}}', text: Runbook}}, \
                 {{href: '', text: none}}], \
         images: [{{src: 'http://img.example/a.png', alt: graph, href: 'http://img.example'}}, \
                  {{src: '', alt: none, href: ''}}]}}",
        receiver.url()
    ));
    let n = notification(vec![alert("i1", true), alert("i2", false)]);
    let http = reqwest::Client::new();
    send(&p, &context(&http, &n)).await.unwrap();

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v2/enqueue")
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "client",
            "client_url",
            "dedup_key",
            "event_action",
            "images",
            "links",
            "payload",
            "routing_key"
        ]
    );
    assert_eq!(body["routing_key"], "rk-123");
    assert_eq!(body["dedup_key"], GROUP_KEY_SHA256);
    assert_eq!(body["event_action"], "trigger");
    assert_eq!(body["client"], "Alertmanager");
    assert_eq!(
        body["client_url"],
        "http://tidemark.example:9090/#/alerts?receiver=team-a"
    );
    assert_eq!(
        body["links"],
        json!([{"href": "http://runbook.example/HighLatency", "text": "Runbook"}])
    );
    assert_eq!(
        body["images"],
        json!([{"src": "http://img.example/a.png", "alt": "graph", "href": "http://img.example"}])
    );
    let payload = &body["payload"];
    let keys: Vec<&str> = payload
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "class",
            "component",
            "custom_details",
            "group",
            "severity",
            "source",
            "summary"
        ]
    );
    assert_eq!(payload["summary"], "[FIRING:1] HighLatency (page)");
    assert_eq!(payload["source"], "Alertmanager");
    assert_eq!(payload["severity"], "critical");
    assert_eq!(payload["class"], "latency");
    assert_eq!(payload["component"], "HighLatency");
    assert_eq!(payload["group"], "web");
    let details = &payload["custom_details"];
    // Alertmanager's defaults: rendered strings read as YAML.
    assert_eq!(details["num_firing"], 1);
    assert_eq!(details["num_resolved"], 1);
    let firing = details["firing"].as_array().unwrap();
    assert_eq!(firing.len(), 1);
    assert_eq!(firing[0]["labels"]["instance"], "i1");
    assert_eq!(firing[0]["status"], "firing");
    assert_eq!(firing[0]["startsAt"], "2025-12-31T23:50:00Z");
    assert_eq!(details["resolved"][0]["labels"]["instance"], "i2");
    // The configuration's own.
    assert_eq!(details["team"], "HighLatency");
    assert_eq!(details["answer"], 42);
    assert_eq!(details["flag"], true);
    assert_eq!(details["empty"], serde_json::Value::Null);
    assert_eq!(details["nested"], json!({"firing": ["a", 1]}));
    assert_eq!(details["count"], 3);
}

#[tokio::test]
async fn resolves_when_every_alert_is_resolved() {
    let receiver = Receiver::start();
    let p = pagerduty(&format!(
        "{{routing_key: rk, url: '{}/v2/enqueue', http_config: {{bearer_token: tok}}}}",
        receiver.url()
    ));
    let n = notification(vec![alert("i1", false), alert("i2", false)]);
    let http = reqwest::Client::new();
    send(&p, &context(&http, &n)).await.unwrap();
    let r = &receiver.requests()[0];
    assert_eq!(r.header("authorization"), Some("Bearer tok"));
    let body = r.json();
    assert_eq!(body["event_action"], "resolve");
    assert_eq!(body["dedup_key"], GROUP_KEY_SHA256);
    assert_eq!(body["payload"]["summary"], "[RESOLVED] HighLatency (page)");
    assert_eq!(body["payload"]["severity"], "error");
    assert!(body.get("links").is_none() && body.get("images").is_none());
    assert!(body["payload"].get("timestamp").is_none());
    assert!(body["payload"].get("class").is_none());
}

#[tokio::test]
async fn cuts_the_summary_and_drops_oversized_details() {
    let receiver = Receiver::start();
    let Integration::Pagerduty(mut p) = pagerduty(&format!(
        "{{routing_key: rk, url: '{}/v2/enqueue'}}",
        receiver.url()
    )) else {
        unreachable!()
    };
    p.description = "é".repeat(1_100);
    p.details.insert(
        "big".to_string(),
        tidemark_alerting::notify::config::DetailValue::Text("a".repeat(EVENT_MAX_BYTES)),
    );
    let n = notification(vec![alert("i1", true)]);
    let http = reqwest::Client::new();
    send(&Integration::Pagerduty(p), &context(&http, &n))
        .await
        .unwrap();
    let body = receiver.requests()[0].json();
    let summary = body["payload"]["summary"].as_str().unwrap();
    assert_eq!(summary.chars().count(), 1024);
    assert!(summary.ends_with("é…"));
    assert_eq!(
        body["payload"]["custom_details"],
        json!({"error": "Custom details have been removed because the original event exceeds \
                         the maximum size of 512KB"})
    );
}

#[tokio::test]
async fn classifies_failures() {
    let receiver = Receiver::start();
    let p = pagerduty(&format!(
        "{{routing_key: rk, url: '{}/v2/enqueue', timeout: 300ms}}",
        receiver.url()
    ));
    let n = notification(vec![alert("i1", true)]);
    let http = reqwest::Client::new();
    let ctx = context(&http, &n);
    let place = format!("pagerduty for receiver \"team-a\" ({})", receiver.url());
    receiver.fail_next(1, 400);
    assert_eq!(
        permanent(send(&p, &ctx).await),
        format!(
            "{place}: unexpected status 400 Bad Request: \
             tidemark-testkit receiver: failing on purpose"
        )
    );
    receiver.fail_next(1, 429);
    retry(send(&p, &ctx).await);
    receiver.fail_next(1, 502);
    retry(send(&p, &ctx).await);
    receiver.delay_next(1, Duration::from_secs(3));
    assert_eq!(
        retry(send(&p, &ctx).await),
        format!("{place}: no answer within 300 ms")
    );
    assert_eq!(receiver.requests().len(), 4);
}

#[tokio::test]
async fn an_empty_routing_key_is_permanent() {
    let p = pagerduty("{routing_key: '{{ .CommonLabels.nothing }}', url: 'http://127.0.0.1:9/x'}");
    let n = notification(vec![alert("i1", true)]);
    let http = reqwest::Client::new();
    assert_eq!(
        permanent(send(&p, &context(&http, &n)).await),
        "pagerduty for receiver \"team-a\" (http://127.0.0.1:9): routing key cannot be empty"
    );
}
