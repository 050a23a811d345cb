//! The webhook channel against the recording receiver.

use std::time::Duration;

use tidemark_alerting::notify::config::Integration;
use tidemark_testkit::Receiver;

use super::super::http::USER_AGENT_VALUE;
use super::super::send;
use super::{GROUP_KEY, alert, context, integration, notification, permanent, retry};

fn webhook(yaml: &str) -> Integration {
    integration(&format!("webhook_configs: [{yaml}]"))
}

#[tokio::test]
async fn posts_alertmanagers_message_with_basic_auth() {
    let receiver = Receiver::start();
    let w = webhook(&format!(
        "{{url: '{}/hook', http_config: {{basic_auth: {{username: alerts, password: s3cret}}}}}}",
        receiver.url()
    ));
    let n = notification(vec![alert("i1", true), alert("i2", false)]);
    let http = reqwest::Client::new();
    send(&w, &context(&http, &n)).await.unwrap();

    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hook"));
    assert_eq!(
        r.header("authorization"),
        Some("Basic YWxlcnRzOnMzY3JldA==")
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("user-agent"), Some(USER_AGENT_VALUE));
    let body = r.json();
    assert_eq!(body["version"], "4");
    assert_eq!(body["receiver"], "team-a");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["groupKey"], GROUP_KEY);
    assert_eq!(body["truncatedAlerts"], 0);
    assert_eq!(body["externalURL"], "http://tidemark.example:9090");
    assert_eq!(
        body["groupLabels"],
        serde_json::json!({"alertname": "HighLatency"})
    );
    assert_eq!(
        body["commonLabels"],
        serde_json::json!({"alertname": "HighLatency", "severity": "page"})
    );
    let alerts = body["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0]["status"], "firing");
    assert_eq!(alerts[0]["labels"]["instance"], "i1");
    assert_eq!(alerts[0]["startsAt"], "2025-12-31T23:50:00Z");
    assert_eq!(alerts[0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(alerts[0]["annotations"]["summary"], "i1 is slow");
    assert_eq!(alerts[1]["status"], "resolved");
    assert_eq!(alerts[1]["endsAt"], "2025-12-31T23:59:00Z");
}

#[tokio::test]
async fn sends_the_authorization_header_and_renders_the_url() {
    let receiver = Receiver::start();
    let w = webhook(&format!(
        "{{url: '{}/{{{{ .GroupLabels.alertname }}}}/{{{{ len .Alerts }}}}', max_alerts: 1, \
         http_config: {{authorization: {{type: Token, credentials: abc}}}}}}",
        receiver.url()
    ));
    let n = notification(vec![alert("i1", true), alert("i2", true)]);
    let http = reqwest::Client::new();
    send(&w, &context(&http, &n)).await.unwrap();

    let r = &receiver.requests()[0];
    // The URL is rendered with the alerts sent: max_alerts leaves one.
    assert_eq!(r.path, "/HighLatency/1");
    assert_eq!(r.header("authorization"), Some("Token abc"));
    let body = r.json();
    assert_eq!(body["alerts"].as_array().unwrap().len(), 1);
    assert_eq!(body["truncatedAlerts"], 1);
}

#[tokio::test]
async fn classifies_failures() {
    let receiver = Receiver::start();
    let w = webhook(&format!("{{url: '{}/hook'}}", receiver.url()));
    let n = notification(vec![alert("i1", true)]);
    let http = reqwest::Client::new();
    let ctx = context(&http, &n);
    let place = format!("webhook for receiver \"team-a\" ({})", receiver.url());

    receiver.fail_next(1, 500);
    assert_eq!(
        retry(send(&w, &ctx).await),
        format!(
            "{place}: unexpected status 500 Internal Server Error: \
             tidemark-testkit receiver: failing on purpose"
        )
    );
    receiver.fail_next(1, 429);
    assert!(retry(send(&w, &ctx).await).contains("429 Too Many Requests"));
    receiver.fail_next(1, 400);
    assert!(
        permanent(send(&w, &ctx).await)
            .starts_with(&format!("{place}: unexpected status 400 Bad Request"))
    );
    receiver.fail_next(1, 404);
    permanent(send(&w, &ctx).await);
    send(&w, &ctx).await.unwrap();
    assert_eq!(receiver.requests().len(), 5);

    receiver.down();
    let error = retry(send(&w, &ctx).await);
    assert!(error.starts_with(&format!("{place}: ")), "{error}");
}

#[tokio::test]
async fn a_late_answer_times_out_and_is_retried() {
    let receiver = Receiver::start();
    let w = webhook(&format!(
        "{{url: '{}/hook', timeout: 300ms}}",
        receiver.url()
    ));
    let n = notification(vec![alert("i1", true)]);
    let http = reqwest::Client::new();
    receiver.delay_next(1, Duration::from_secs(3));
    let started = std::time::Instant::now();
    let error = retry(send(&w, &context(&http, &n)).await);
    assert!(error.ends_with(": no answer within 300 ms"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn errors_show_no_credentials_of_the_url() {
    let receiver = Receiver::start();
    let port = receiver.port();
    let w = webhook(&format!(
        "{{url: 'http://user:pw@127.0.0.1:{port}/hook?token=s3cret'}}"
    ));
    let n = notification(vec![alert("i1", true)]);
    let http = reqwest::Client::new();
    receiver.fail_next(1, 503);
    let error = retry(send(&w, &context(&http, &n)).await);
    assert!(
        error.starts_with(&format!(
            "webhook for receiver \"team-a\" (http://127.0.0.1:{port}): "
        )),
        "{error}"
    );
    assert!(
        !error.contains("s3cret") && !error.contains("pw@"),
        "{error}"
    );
    receiver.down();
    let error = retry(send(&w, &context(&http, &n)).await);
    assert!(
        !error.contains("s3cret") && !error.contains("pw@"),
        "{error}"
    );
}

#[tokio::test]
async fn a_url_that_renders_badly_is_permanent() {
    let Integration::Webhook(mut w) = webhook("{url: 'http://127.0.0.1:9/hook'}") else {
        unreachable!()
    };
    let n = notification(vec![alert("i1", true)]);
    let http = reqwest::Client::new();
    w.url = "{{ .GroupLabels.nothing }}".to_string();
    let error = permanent(send(&Integration::Webhook(w.clone()), &context(&http, &n)).await);
    assert_eq!(
        error,
        "webhook for receiver \"team-a\": url is empty after templating"
    );
    w.url = "{{ .Nope ".to_string();
    let error = permanent(send(&Integration::Webhook(w), &context(&http, &n)).await);
    assert!(
        error.starts_with("webhook for receiver \"team-a\": url: "),
        "{error}"
    );
}
