//! A configuration with every integration, each field given.

use super::*;

/// Every integration Tidemark supports, each field given, listed in an order other than
/// Alertmanager's (which the parsed receiver follows).
pub(super) const EVERY_INTEGRATION: &str = r#"
route:
  receiver: everything
inhibit_rules:
  - name: page-mutes-warning
    source_match: {severity: page}
    source_match_re: {cluster: 'eu-.*'}
    target_match: {severity: warning}
    target_match_re: {service: 'api|web'}
    target_matchers: ['team="db"']
    equal: [alertname, cluster]
receivers:
  - name: everything
    sms_configs:
      - url: https://sms.example.org/send
        method: put
        headers: {X-Api-Key: secret, Accept: application/json}
        body_format: form
        body:
          to: "+15551234"
          message: '{{ template "sms.default.message" . }}'
          priority: 1
        send_resolved: true
        timeout: 1.5s
        http_config:
          authorization: {type: Token, credentials: abc}
    pagerduty_configs:
      - routing_key: routing-key
        url: https://events.eu.pagerduty.com/v2/enqueue
        client: Tidemark
        client_url: https://tidemark.example.org/
        description: '{{ .CommonAnnotations.summary }}'
        details:
          firing: custom
          runbook: https://runbooks.example.org/
          nested: {count: 3, ratio: 0.5, ok: true, none: null, list: [a, 1]}
        severity: critical
        class: database
        component: postgres
        group: storage
        source: db-1
        links: [{href: 'https://example.org/dash', text: Dashboard}]
        images: [{src: 'https://example.org/a.png', alt: graph, href: 'https://example.org/'}]
        send_resolved: false
        timeout: 30s
        http_config:
          basic_auth: {username: user, password: pass}
          tls_config: {insecure_skip_verify: true, server_name: pd.example.org}
          follow_redirects: false
    email_configs:
      - to: oncall@example.org
        from: am@example.org
        smarthost: smtp.example.org:587
        hello: tidemark.example.org
        auth_username: user
        auth_password: password
        auth_identity: identity
        auth_secret: secret
        require_tls: false
        tls_config:
          insecure_skip_verify: true
          server_name: smtp.example.org
          ca: |
            -----BEGIN CERTIFICATE-----
            MIIB
            -----END CERTIFICATE-----
        headers: {subject: 'Alert: {{ .GroupLabels.alertname }}', x-priority: '1'}
        html: ''
        text: '{{ template "email.default.text" . }}'
        send_resolved: true
    webhook_configs:
      - url: http://hook-1.example.org/alerts
        send_resolved: false
        max_alerts: 10
        timeout: 250ms
        http_config: {bearer_token: token}
      - url: 'http://hook-2.example.org/{{ .GroupLabels.team }}'
"#;

fn everything() -> Vec<Integration> {
    let config = parse_ok(EVERY_INTEGRATION);
    receiver(&config, "everything").integrations.clone()
}

#[test]
fn integrations_are_in_alertmanagers_order() {
    let integrations = everything();
    let kinds: Vec<&str> = integrations.iter().map(Integration::kind).collect();
    assert_eq!(kinds, ["webhook", "webhook", "email", "pagerduty", "sms"]);
    let resolved: Vec<bool> = integrations
        .iter()
        .map(Integration::send_resolved)
        .collect();
    assert_eq!(resolved, [false, true, true, false, true]);
    let config = parse_ok(EVERY_INTEGRATION);
    let indexed: Vec<(usize, &str)> = receiver(&config, "everything")
        .indexed()
        .map(|(i, integration)| (i, integration.kind()))
        .collect();
    assert_eq!(
        indexed,
        [
            (0, "webhook"),
            (1, "webhook"),
            (0, "email"),
            (0, "pagerduty"),
            (0, "sms")
        ]
    );
}

#[test]
fn webhook() {
    let integrations = everything();
    let Integration::Webhook(w) = &integrations[0] else {
        panic!("{integrations:?}")
    };
    assert_eq!(w.url, "http://hook-1.example.org/alerts");
    assert!(!w.send_resolved);
    assert_eq!((w.max_alerts, w.timeout_ms), (10, 250));
    assert_eq!(
        w.http_config.authorization,
        Some(Authorization {
            type_: "Bearer".into(),
            credentials: "token".into()
        })
    );
    // A templated URL is kept as written, checked when rendered.
    let Integration::Webhook(w) = &integrations[1] else {
        panic!("{integrations:?}")
    };
    assert_eq!(w.url, "http://hook-2.example.org/{{ .GroupLabels.team }}");
}

#[test]
fn email() {
    let integrations = everything();
    let Integration::Email(e) = &integrations[2] else {
        panic!("{integrations:?}")
    };
    assert!(e.send_resolved);
    assert_eq!(e.to, "oncall@example.org");
    assert_eq!(e.from, "am@example.org");
    assert_eq!(
        e.smarthost,
        HostPort {
            host: "smtp.example.org".into(),
            port: "587".into()
        }
    );
    assert_eq!(e.hello, "tidemark.example.org");
    assert_eq!(
        (e.auth_username.as_str(), e.auth_password.as_str()),
        ("user", "password")
    );
    assert_eq!(
        (e.auth_identity.as_str(), e.auth_secret.as_str()),
        ("identity", "secret")
    );
    assert!(!e.require_tls);
    assert!(e.tls_config.insecure_skip_verify);
    assert_eq!(e.tls_config.server_name, "smtp.example.org");
    assert!(
        e.tls_config
            .ca
            .starts_with("-----BEGIN CERTIFICATE-----\nMIIB\n")
    );
    // Header names in canonical form; Subject given, To and From added.
    let headers: Vec<(&str, &str)> = e
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        headers,
        [
            ("From", "am@example.org"),
            ("Subject", "Alert: {{ .GroupLabels.alertname }}"),
            ("To", "oncall@example.org"),
            ("X-Priority", "1"),
        ]
    );
    // An empty html is no HTML part, not the default.
    assert_eq!(e.html, "");
    assert_eq!(e.text, r#"{{ template "email.default.text" . }}"#);
}

#[test]
fn pagerduty() {
    let integrations = everything();
    let Integration::Pagerduty(pd) = &integrations[3] else {
        panic!("{integrations:?}")
    };
    assert!(!pd.send_resolved);
    assert_eq!(pd.routing_key, "routing-key");
    assert_eq!(pd.url, "https://events.eu.pagerduty.com/v2/enqueue");
    assert_eq!(pd.client, "Tidemark");
    assert_eq!(pd.client_url, "https://tidemark.example.org/");
    assert_eq!(pd.description, "{{ .CommonAnnotations.summary }}");
    assert_eq!(pd.severity, "critical");
    assert_eq!(
        (pd.class.as_str(), pd.component.as_str(), pd.group.as_str()),
        ("database", "postgres", "storage")
    );
    assert_eq!(pd.source, "db-1");
    assert_eq!(pd.timeout_ms, 30_000);
    assert_eq!(
        pd.links,
        [PagerdutyLink {
            href: "https://example.org/dash".into(),
            text: "Dashboard".into()
        }]
    );
    assert_eq!(
        pd.images,
        [PagerdutyImage {
            src: "https://example.org/a.png".into(),
            alt: "graph".into(),
            href: "https://example.org/".into()
        }]
    );
    // A detail given wins over the default of the same key; the other defaults are added.
    assert_eq!(pd.details["firing"], DetailValue::Text("custom".into()));
    assert!(pd.details.contains_key("num_resolved"));
    let DetailValue::Map(nested) = &pd.details["nested"] else {
        panic!("{:?}", pd.details)
    };
    assert_eq!(nested["count"], DetailValue::Int(3));
    assert_eq!(nested["ratio"], DetailValue::Float(0.5));
    assert_eq!(nested["ok"], DetailValue::Bool(true));
    assert_eq!(nested["none"], DetailValue::Null);
    assert_eq!(
        nested["list"],
        DetailValue::List(vec![DetailValue::Text("a".into()), DetailValue::Int(1)])
    );
    let http = &pd.http_config;
    assert_eq!(
        http.basic_auth,
        Some(BasicAuth {
            username: "user".into(),
            password: "pass".into()
        })
    );
    assert!(http.authorization.is_none());
    assert!(http.tls_config.insecure_skip_verify && !http.follow_redirects);
    assert_eq!(http.tls_config.server_name, "pd.example.org");
}

#[test]
fn sms() {
    let integrations = everything();
    let Integration::Sms(sms) = &integrations[4] else {
        panic!("{integrations:?}")
    };
    assert!(sms.send_resolved);
    assert_eq!(sms.url, "https://sms.example.org/send");
    assert_eq!(sms.method, SmsMethod::Put);
    assert_eq!(sms.body_format, SmsBodyFormat::Form);
    assert_eq!(sms.headers["X-Api-Key"], "secret");
    assert_eq!(sms.headers["Accept"], "application/json");
    // In the order written; a number is its text.
    assert_eq!(
        sms.body,
        [
            ("to".to_string(), "+15551234".to_string()),
            (
                "message".to_string(),
                r#"{{ template "sms.default.message" . }}"#.to_string()
            ),
            ("priority".to_string(), "1".to_string()),
        ]
    );
    assert_eq!(sms.timeout_ms, 1_500);
    assert_eq!(
        sms.http_config.authorization,
        Some(Authorization {
            type_: "Token".into(),
            credentials: "abc".into()
        })
    );
}

#[test]
fn sms_with_get_sends_a_query_string() {
    let config = parse_ok(
        r#"
route: {receiver: r}
receivers:
  - name: r
    sms_configs: [{url: 'https://sms.example.org/', method: GET, body: {to: '+1555'}}]
"#,
    );
    let Integration::Sms(sms) = &receiver(&config, "r").integrations[0] else {
        panic!()
    };
    assert_eq!(
        (sms.method, sms.body_format),
        (SmsMethod::Get, SmsBodyFormat::Form)
    );
}

#[test]
fn inhibit_rule() {
    let config = parse_ok(EVERY_INTEGRATION);
    let rule = &config.inhibit_rules[0];
    assert_eq!(rule.name, "page-mutes-warning");
    assert_eq!(
        printed(&rule.source_matchers),
        [r#"cluster=~"^(?:eu-.*)$""#, r#"severity="page""#]
    );
    assert_eq!(
        printed(&rule.target_matchers),
        [
            r#"service=~"^(?:api|web)$""#,
            r#"severity="warning""#,
            r#"team="db""#
        ]
    );
    assert_eq!(rule.equal, ["alertname", "cluster"]);
}

#[test]
fn timeouts_read_gos_notation() {
    use crate::notify::config::fields::GoDuration;
    for (text, ms) in [
        ("0", 0),
        ("10s", 10_000),
        ("1m30s", 90_000),
        ("1.5h", 5_400_000),
        ("250ms", 250),
        ("1us", 1),
        ("2h45m10.5s", 9_910_500),
    ] {
        assert_eq!(GoDuration::parse(text), Ok(GoDuration(ms)), "{text}");
    }
    for text in ["", "10", "1d", "-1s", "s", "1.2.3s", "1 s"] {
        assert!(GoDuration::parse(text).is_err(), "{text}");
    }
}
