//! Alertmanager's defaults, what receivers take from `global`, and what routes inherit.

use super::*;

const MINIMAL: &str = "route: {receiver: x}\nreceivers: [{name: x}]\n";

#[test]
fn a_minimal_config_has_alertmanagers_defaults() {
    let config = parse_ok(MINIMAL);
    assert_eq!(config.global, GlobalConfig::default());
    assert_eq!(config.global.resolve_timeout_ms, 5 * 60_000);
    assert_eq!(config.global.smtp_hello, "localhost");
    assert!(config.global.smtp_require_tls);
    assert_eq!(
        config.global.pagerduty_url,
        "https://events.pagerduty.com/v2/enqueue"
    );
    assert!(config.global.http_config.follow_redirects);
    let root = &config.route;
    assert_eq!(root.receiver, "x");
    assert_eq!(root.group_by, GroupBy::Labels(vec![]));
    assert_eq!(
        (
            root.group_wait_ms,
            root.group_interval_ms,
            root.repeat_interval_ms
        ),
        (30_000, 5 * 60_000, 4 * 3_600_000)
    );
    assert!(!root.continue_matching);
    assert!(root.routes.is_empty());
    // A receiver without integrations (a "null" receiver) is valid.
    assert!(receiver(&config, "x").integrations.is_empty());
    assert!(config.inhibit_rules.is_empty() && config.templates.is_empty());
}

#[test]
fn empty_lists_may_be_null_or_empty() {
    let config = parse_ok(
        "global:\nroute: {receiver: x, routes: }\nreceivers:\n  - name: x\n    webhook_configs:\n\
         inhibit_rules:\ntemplates: []\ntime_intervals:\nmute_time_intervals: []\n",
    );
    assert_eq!(config.global, GlobalConfig::default());
    assert!(receiver(&config, "x").integrations.is_empty());
}

#[test]
fn global_values_are_read() {
    let config = parse_ok(
        r#"
global:
  resolve_timeout: 1h
  smtp_from: am@example.org
  smtp_hello: mail.example.org
  smtp_smarthost: '[::1]:587'
  smtp_auth_username: user
  smtp_auth_password: 12345
  smtp_auth_identity: ident
  smtp_auth_secret: secret
  smtp_require_tls: false
  pagerduty_url: https://pd.example.org/enqueue
  http_config:
    follow_redirects: false
    bearer_token: token
route: {receiver: x}
receivers: [{name: x}]
"#,
    );
    let global = &config.global;
    assert_eq!(global.resolve_timeout_ms, 3_600_000);
    assert_eq!(global.smtp_from, "am@example.org");
    assert_eq!(global.smtp_hello, "mail.example.org");
    let smarthost = global.smtp_smarthost.as_ref().unwrap();
    assert_eq!(
        (smarthost.host.as_str(), smarthost.port.as_str()),
        ("::1", "587")
    );
    assert_eq!(smarthost.to_string(), "[::1]:587");
    assert_eq!(global.smtp_auth_username, "user");
    // A number where a string belongs is read as its text, as Go's YAML decoder reads it.
    assert_eq!(global.smtp_auth_password, "12345");
    assert_eq!(global.smtp_auth_identity, "ident");
    assert_eq!(global.smtp_auth_secret, "secret");
    assert!(!global.smtp_require_tls);
    assert_eq!(global.pagerduty_url, "https://pd.example.org/enqueue");
    assert!(!global.http_config.follow_redirects);
    let auth = global.http_config.authorization.as_ref().unwrap();
    assert_eq!(
        (auth.type_.as_str(), auth.credentials.as_str()),
        ("Bearer", "token")
    );
}

const WITH_GLOBAL: &str = r#"
global:
  smtp_from: global@example.org
  smtp_smarthost: smtp.example.org:25
  smtp_auth_username: global-user
  smtp_auth_password: global-password
  smtp_auth_secret: global-secret
  smtp_auth_identity: global-identity
  smtp_require_tls: false
  smtp_hello: global-hello
  pagerduty_url: https://global.pagerduty.example.org/v2/enqueue
  http_config:
    follow_redirects: false
    basic_auth: {username: u, password: p}
route: {receiver: r}
receivers:
  - name: r
    email_configs:
      - to: a@example.org
      - to: b@example.org
        from: own@example.org
        smarthost: own.example.org:465
        auth_username: own-user
        auth_password: own-password
        auth_secret: own-secret
        auth_identity: own-identity
        require_tls: true
        hello: own-hello
    webhook_configs:
      - url: http://inherits.example.org/
      - url: http://own.example.org/
        http_config: {tls_config: {insecure_skip_verify: true}}
    pagerduty_configs:
      - routing_key: k
      - routing_key: k
        url: https://own.pagerduty.example.org/
"#;

#[test]
fn email_takes_what_it_does_not_give_from_global() {
    let config = parse_ok(WITH_GLOBAL);
    let integrations = &receiver(&config, "r").integrations;
    let Integration::Email(inherits) = &integrations[2] else {
        panic!("{integrations:?}")
    };
    assert_eq!(inherits.from, "global@example.org");
    assert_eq!(inherits.smarthost.to_string(), "smtp.example.org:25");
    assert_eq!(inherits.auth_username, "global-user");
    assert_eq!(inherits.auth_password, "global-password");
    assert_eq!(inherits.auth_secret, "global-secret");
    assert_eq!(inherits.auth_identity, "global-identity");
    assert!(!inherits.require_tls);
    assert_eq!(inherits.hello, "global-hello");
    assert!(!inherits.send_resolved);
    assert_eq!(inherits.html, DEFAULT_EMAIL_HTML);
    assert_eq!(inherits.text, "");
    assert_eq!(inherits.headers["Subject"], DEFAULT_EMAIL_SUBJECT);
    assert_eq!(inherits.headers["To"], "a@example.org");
    assert_eq!(inherits.headers["From"], "global@example.org");
    assert_eq!(inherits.headers.len(), 3);

    let Integration::Email(own) = &integrations[3] else {
        panic!("{integrations:?}")
    };
    assert_eq!(own.from, "own@example.org");
    assert_eq!(own.headers["From"], "own@example.org");
    assert_eq!(own.smarthost.to_string(), "own.example.org:465");
    assert_eq!(own.auth_username, "own-user");
    assert_eq!(own.auth_password, "own-password");
    assert_eq!(own.auth_secret, "own-secret");
    assert_eq!(own.auth_identity, "own-identity");
    assert!(own.require_tls);
    assert_eq!(own.hello, "own-hello");
}

#[test]
fn http_config_is_global_unless_given_whole() {
    let config = parse_ok(WITH_GLOBAL);
    let integrations = &receiver(&config, "r").integrations;
    let Integration::Webhook(inherits) = &integrations[0] else {
        panic!("{integrations:?}")
    };
    assert_eq!(inherits.http_config, config.global.http_config);
    assert!(!inherits.http_config.follow_redirects);
    let Integration::Webhook(own) = &integrations[1] else {
        panic!("{integrations:?}")
    };
    // Not merged with global's: Prometheus' defaults for what it does not give.
    assert!(own.http_config.follow_redirects);
    assert!(own.http_config.basic_auth.is_none());
    assert!(own.http_config.tls_config.insecure_skip_verify);

    let Integration::Pagerduty(pd) = &integrations[4] else {
        panic!("{integrations:?}")
    };
    assert_eq!(pd.url, "https://global.pagerduty.example.org/v2/enqueue");
    assert_eq!(pd.http_config, config.global.http_config);
    let Integration::Pagerduty(pd) = &integrations[5] else {
        panic!("{integrations:?}")
    };
    assert_eq!(pd.url, "https://own.pagerduty.example.org/");
}

#[test]
fn integrations_have_alertmanagers_defaults() {
    let config = parse_ok(
        r#"
route: {receiver: r}
receivers:
  - name: r
    webhook_configs: [{url: 'http://hook.example.org/'}]
    pagerduty_configs: [{routing_key: k}]
    sms_configs: [{url: 'https://sms.example.org/', body: {to: '+15551234'}}]
"#,
    );
    let integrations = &receiver(&config, "r").integrations;
    let Integration::Webhook(w) = &integrations[0] else {
        panic!()
    };
    assert!(w.send_resolved);
    assert_eq!((w.max_alerts, w.timeout_ms), (0, 0));
    assert_eq!(w.http_config, HttpConfig::default());

    let Integration::Pagerduty(pd) = &integrations[1] else {
        panic!()
    };
    assert!(pd.send_resolved);
    assert_eq!(pd.url, DEFAULT_PAGERDUTY_URL);
    assert_eq!(pd.client, r#"{{ template "pagerduty.default.client" . }}"#);
    assert_eq!(
        pd.client_url,
        r#"{{ template "pagerduty.default.clientURL" . }}"#
    );
    assert_eq!(
        pd.description,
        r#"{{ template "pagerduty.default.description" .}}"#
    );
    assert_eq!(pd.source, pd.client);
    assert_eq!(pd.severity, "error");
    let details: Vec<&str> = pd.details.keys().map(String::as_str).collect();
    assert_eq!(
        details,
        ["firing", "num_firing", "num_resolved", "resolved"]
    );
    assert_eq!(
        pd.details["num_firing"],
        DetailValue::Text("{{ .Alerts.Firing | len }}".into())
    );
    assert!(pd.class.is_empty() && pd.links.is_empty() && pd.images.is_empty());

    let Integration::Sms(sms) = &integrations[2] else {
        panic!()
    };
    assert!(!sms.send_resolved);
    assert_eq!(sms.method, SmsMethod::Post);
    assert_eq!(sms.body_format, SmsBodyFormat::Json);
    assert_eq!(sms.timeout_ms, 0);
}

#[test]
fn routes_inherit_receiver_group_by_and_timings() {
    let config = parse_ok(
        r#"
route:
  receiver: root
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 2h
  routes:
    - matchers: [team=a]
      receiver: a
      group_wait: 1s
      mute_time_intervals: [weekends]
      active_time_intervals: [office]
      continue: true
      routes:
        - matchers: [severity=page]
        - matchers: [severity=info]
          group_by: []
          routes:
            - matchers: [x=y]
    - matchers: [team=b]
      group_by: ['...']
      repeat_interval: 12h
      routes:
        - matchers: [x=y]
        - matchers: [x=z]
          group_by: [cluster]
time_intervals:
  - name: weekends
    time_intervals: [{weekdays: [saturday, sunday]}]
  - name: office
    time_intervals: [{times: [{start_time: '09:00', end_time: '17:00'}]}]
receivers: [{name: root}, {name: a}]
"#,
    );
    let a = &config.route.routes[0];
    assert_eq!(a.receiver, "a");
    assert_eq!(a.group_by, GroupBy::Labels(vec!["alertname".into()]));
    assert_eq!(
        (a.group_wait_ms, a.group_interval_ms, a.repeat_interval_ms),
        (1_000, 60_000, 7_200_000)
    );
    assert_eq!(a.mute_time_intervals, ["weekends"]);
    assert_eq!(a.active_time_intervals, ["office"]);
    assert!(a.continue_matching);

    let page = &a.routes[0];
    assert_eq!(page.receiver, "a");
    assert_eq!(page.group_by, a.group_by);
    assert_eq!(page.group_wait_ms, 1_000);
    // Neither the time intervals nor `continue` are inherited.
    assert!(page.mute_time_intervals.is_empty() && page.active_time_intervals.is_empty());
    assert!(!page.continue_matching);

    // An empty group_by overrides the parent's, and is inherited in turn.
    let info = &a.routes[1];
    assert_eq!(info.group_by, GroupBy::Labels(vec![]));
    assert_eq!(info.routes[0].group_by, GroupBy::Labels(vec![]));

    let b = &config.route.routes[1];
    assert_eq!(b.receiver, "root");
    assert_eq!(b.group_by, GroupBy::All);
    assert_eq!(b.repeat_interval_ms, 12 * 3_600_000);
    assert_eq!(b.routes[0].group_by, GroupBy::All);
    assert_eq!(b.routes[0].repeat_interval_ms, 12 * 3_600_000);
    assert_eq!(
        b.routes[1].group_by,
        GroupBy::Labels(vec!["cluster".into()])
    );

    let names: Vec<&str> = config.time_intervals.keys().map(String::as_str).collect();
    assert_eq!(names, ["office", "weekends"]);
    assert_eq!(config.time_intervals["weekends"].name, "weekends");
    assert_eq!(config.time_intervals["weekends"].time_intervals.len(), 1);
}

#[test]
fn mute_time_intervals_and_time_intervals_are_one_namespace() {
    let config = parse_ok(
        r#"
route:
  receiver: x
  routes: [{matchers: [a=b], mute_time_intervals: [old, new]}]
mute_time_intervals:
  - name: old
    time_intervals: [{weekdays: [monday]}]
time_intervals:
  - name: new
    time_intervals: [{weekdays: [tuesday]}]
receivers: [{name: x}]
"#,
    );
    let names: Vec<&str> = config.time_intervals.keys().map(String::as_str).collect();
    assert_eq!(names, ["new", "old"]);
}

#[test]
fn warnings_are_alertmanagers() {
    let config = parse_ok(
        r#"
route:
  receiver: x
  repeat_interval: 1m
  routes:
    - matchers: [a=b]
      repeat_interval: 200h
receivers: [{name: x}]
"#,
    );
    let warnings = config.warnings(120 * 3_600_000);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(
        warnings[0],
        "route: repeat_interval (1m) is less than group_interval (5m); notifications will not \
         repeat until the next group_interval"
    );
    assert_eq!(
        warnings[1],
        "route.routes[0]: repeat_interval (8d8h) is greater than the data retention period \
         (5d); it can lead to notifications being repeated more often than expected"
    );
    assert!(parse_ok(MINIMAL).warnings(120 * 3_600_000).is_empty());
}
