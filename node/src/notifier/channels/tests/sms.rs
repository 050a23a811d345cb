//! The SMS channel against the recording receiver.

use std::time::Duration;

use tidemark_alerting::notify::config::Integration;
use tidemark_testkit::Receiver;

use super::super::send;
use super::{alert, context, integration, notification, permanent, retry};

fn sms(yaml: &str) -> Integration {
    integration(&format!("sms_configs: [{yaml}]"))
}

#[tokio::test]
async fn posts_the_fields_as_json_in_order_with_headers() {
    let receiver = Receiver::start();
    let s = sms(&format!(
        "{{url: '{}/send', headers: {{X-Api-Key: k3y, X-Alert: '{{{{ .GroupLabels.alertname }}}}'}}, \
         body: {{to: '+15551234', message: '{{{{ template \"sms.default.message\" . }}}}', \
                 count: '{{{{ len .Alerts.Firing }}}}', from: tidemark}}}}",
        receiver.url()
    ));
    let n = notification(vec![alert("i1", true), alert("i2", true)]);
    let http = reqwest::Client::new();
    send(&s, &context(&http, &n)).await.unwrap();

    let r = &receiver.requests()[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/send"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-api-key"), Some("k3y"));
    assert_eq!(r.header("x-alert"), Some("HighLatency"));
    // The fields in the order written, all strings.
    assert_eq!(
        r.text(),
        r#"{"to":"+15551234","message":"[FIRING:2] HighLatency (page)","count":"2","from":"tidemark"}"#
    );
}

#[tokio::test]
async fn sends_a_form_with_put_and_basic_auth() {
    let receiver = Receiver::start();
    let s = sms(&format!(
        "{{url: '{}/send', method: PUT, body_format: form, \
         http_config: {{basic_auth: {{username: alerts, password: s3cret}}}}, \
         body: {{to: '+1 555 1234', text: 'déjà {{{{ .Status }}}} & more'}}}}",
        receiver.url()
    ));
    let n = notification(vec![alert("i1", false)]);
    let http = reqwest::Client::new();
    send(&s, &context(&http, &n)).await.unwrap();

    let r = &receiver.requests()[0];
    assert_eq!(r.method, "PUT");
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        r.header("authorization"),
        Some("Basic YWxlcnRzOnMzY3JldA==")
    );
    assert_eq!(
        r.text(),
        "to=%2B1+555+1234&text=d%C3%A9j%C3%A0+resolved+%26+more"
    );
}

#[tokio::test]
async fn get_sends_the_fields_in_the_query_string() {
    let receiver = Receiver::start();
    let s = sms(&format!(
        "{{url: '{}/send?key=abc', method: GET, headers: {{Authorization: 'Key xyz'}}, \
         body: {{to: '+15551234', msg: '{{{{ .Status }}}}'}}}}",
        receiver.url()
    ));
    let n = notification(vec![alert("i1", true)]);
    let http = reqwest::Client::new();
    send(&s, &context(&http, &n)).await.unwrap();

    let r = &receiver.requests()[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/send"));
    assert_eq!(r.query, "key=abc&to=%2B15551234&msg=firing");
    assert_eq!(r.header("authorization"), Some("Key xyz"));
    assert!(r.body.is_empty());
}

#[tokio::test]
async fn classifies_failures() {
    let receiver = Receiver::start();
    let s = sms(&format!(
        "{{url: '{}/send', timeout: 300ms, body: {{to: '+15551234'}}}}",
        receiver.url()
    ));
    let n = notification(vec![alert("i1", true)]);
    let http = reqwest::Client::new();
    let ctx = context(&http, &n);
    let place = format!("sms for receiver \"team-a\" ({})", receiver.url());
    receiver.fail_next(1, 500);
    assert!(retry(send(&s, &ctx).await).starts_with(&format!("{place}: unexpected status 500")));
    receiver.fail_next(1, 401);
    assert!(
        permanent(send(&s, &ctx).await).starts_with(&format!("{place}: unexpected status 401"))
    );
    receiver.delay_next(1, Duration::from_secs(3));
    assert_eq!(
        retry(send(&s, &ctx).await),
        format!("{place}: no answer within 300 ms")
    );

    let Integration::Sms(mut bad) = s else {
        unreachable!()
    };
    bad.headers
        .insert("X-Bad".to_string(), "{{ .Status }}\n".to_string());
    let error = permanent(send(&Integration::Sms(bad), &ctx).await);
    assert_eq!(
        error,
        format!("{place}: headers.X-Bad: the rendered value is not a valid header value")
    );
}
