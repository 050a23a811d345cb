//! `alertmanager.yml` files Alertmanager accepts load as it reads them; see `defaults.rs` for
//! defaults and inheritance, `integrations.rs` for each integration, and `refusals.rs` for
//! what is refused and how the refusal reads.
//!
//! Time intervals are read by `time_interval`'s own YAML form; the tests here use only its
//! `weekdays` and `times`.

mod defaults;
mod integration_refusals;
mod integrations;
mod refusals;

use super::*;
use crate::notify::matcher::{MatchType, Matcher};

#[track_caller]
fn parse_ok(yaml: &str) -> NotifierConfig {
    parse(yaml).unwrap_or_else(|e| panic!("refused:\n{e}\n---\n{yaml}"))
}

#[track_caller]
fn parse_err(yaml: &str) -> String {
    match parse(yaml) {
        Ok(config) => panic!("accepted: {config:?}\n---\n{yaml}"),
        Err(e) => e,
    }
}

/// A config whose receiver `r` is `receiver` (YAML, indented under `receivers:`).
fn with_receiver(receiver: &str) -> String {
    format!("route: {{receiver: r}}\nreceivers:\n  - name: r\n{receiver}")
}

#[track_caller]
fn receiver_err(receiver: &str) -> String {
    parse_err(&with_receiver(receiver))
}

#[track_caller]
fn assert_has(err: &str, want: &str) {
    assert!(err.contains(want), "{want:?} not in:\n{err}");
}

/// The matchers as Alertmanager prints them.
fn printed(matchers: &[Matcher]) -> Vec<String> {
    matchers.iter().map(ToString::to_string).collect()
}

fn receiver<'a>(config: &'a NotifierConfig, name: &str) -> &'a Receiver {
    config
        .receivers
        .get(name)
        .unwrap_or_else(|| panic!("no receiver {name:?}"))
}

/// Alertmanager's `doc/examples/simple.yml` (v0.33.1), comments left out, adapted where it
/// uses what Tidemark refuses: `service_key` (PagerDuty Events API v1) replaced by
/// `routing_key` (v2) and `tracing` removed; its `templates` glob is kept (their files travel
/// with the configuration). [`SIMPLE_AS_PUBLISHED`] is the file as published.
const SIMPLE: &str = r#"
global:
  smtp_smarthost: 'localhost:25'
  smtp_from: 'alertmanager@example.org'
  smtp_auth_username: 'alertmanager'
  smtp_auth_password: 'password'

route:
  group_by: ['alertname', 'cluster', 'service']
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 3h
  receiver: team-X-mails
  routes:
    - matchers:
        - service=~"foo1|foo2|baz"
      receiver: team-X-mails
      routes:
        - matchers:
            - severity="critical"
          receiver: team-X-pager
    - matchers:
        - service="files"
      receiver: team-Y-mails

      routes:
        - matchers:
            - severity="critical"
          receiver: team-Y-pager
    - matchers:
        - service="database"
      receiver: team-DB-pager
      group_by: [alertname, cluster, database]
      routes:
        - matchers:
            - owner="team-X"
          receiver: team-X-pager
          continue: true
        - matchers:
            - owner="team-Y"
          receiver: team-Y-pager

inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname, cluster, service]

receivers:
  - name: 'team-X-mails'
    email_configs:
      - to: 'team-X+alerts@example.org'

  - name: 'team-X-pager'
    email_configs:
      - to: 'team-X+alerts-critical@example.org'
    pagerduty_configs:
      - routing_key: <team-X-key>

  - name: 'team-Y-mails'
    email_configs:
      - to: 'team-Y+alerts@example.org'

  - name: 'team-Y-pager'
    pagerduty_configs:
      - routing_key: <team-Y-key>

  - name: 'team-DB-pager'
    pagerduty_configs:
      - routing_key: <team-DB-key>
"#;

/// What [`SIMPLE`] changes, as published: the refusals name exactly these.
fn simple_as_published() -> String {
    SIMPLE.replace("routing_key:", "service_key:").replace(
        "route:\n",
        "templates:\n  - '/etc/alertmanager/template/*.tmpl'\n\nroute:\n",
    ) + "\ntracing:\n  endpoint: localhost:4317\n  insecure: true\n  sampling_fraction: 1.0\n"
}

#[test]
fn alertmanager_simple_example_loads() {
    let config = parse_ok(SIMPLE);
    let root = &config.route;
    assert_eq!(root.receiver, "team-X-mails");
    assert_eq!(
        root.group_by,
        GroupBy::Labels(vec!["alertname".into(), "cluster".into(), "service".into()])
    );
    assert_eq!(
        (
            root.group_wait_ms,
            root.group_interval_ms,
            root.repeat_interval_ms
        ),
        (30_000, 300_000, 3 * 3_600_000)
    );
    assert!(root.matchers.is_empty());
    assert_eq!(root.routes.len(), 3);

    let foo = &root.routes[0];
    assert_eq!(printed(&foo.matchers), [r#"service=~"foo1|foo2|baz""#]);
    assert_eq!(foo.group_by, root.group_by);
    assert_eq!(foo.repeat_interval_ms, 3 * 3_600_000);
    assert_eq!(foo.routes[0].receiver, "team-X-pager");
    assert_eq!(printed(&foo.routes[0].matchers), [r#"severity="critical""#]);

    let database = &root.routes[2];
    let by_database = GroupBy::Labels(vec![
        "alertname".into(),
        "cluster".into(),
        "database".into(),
    ]);
    assert_eq!(database.group_by, by_database);
    assert_eq!(database.routes[0].group_by, by_database);
    assert!(database.routes[0].continue_matching);
    assert!(!database.routes[1].continue_matching);
    assert_eq!(database.routes[1].receiver, "team-Y-pager");

    assert_eq!(config.inhibit_rules.len(), 1);
    let inhibit = &config.inhibit_rules[0];
    assert_eq!(
        printed(&inhibit.source_matchers),
        [r#"severity="critical""#]
    );
    assert_eq!(printed(&inhibit.target_matchers), [r#"severity="warning""#]);
    assert_eq!(inhibit.equal, ["alertname", "cluster", "service"]);

    assert_eq!(config.receivers.len(), 5);
    let pager = receiver(&config, "team-X-pager");
    let kinds: Vec<&str> = pager.integrations.iter().map(Integration::kind).collect();
    assert_eq!(kinds, ["email", "pagerduty"]);
    let Integration::Email(email) = &pager.integrations[0] else {
        unreachable!()
    };
    assert_eq!(email.to, "team-X+alerts-critical@example.org");
    assert_eq!(email.from, "alertmanager@example.org");
    assert_eq!(email.smarthost.to_string(), "localhost:25");
    assert_eq!(email.auth_username, "alertmanager");
    assert_eq!(email.auth_password, "password");
    let Integration::Pagerduty(pd) = &pager.integrations[1] else {
        unreachable!()
    };
    assert_eq!(pd.routing_key, "<team-X-key>");
    assert_eq!(pd.url, DEFAULT_PAGERDUTY_URL);
    assert!(config.time_intervals.is_empty());
    assert!(config.warnings(120 * 3_600_000).is_empty());
}

#[test]
fn alertmanager_simple_example_as_published_is_refused_by_name() {
    let err = parse_err(&simple_as_published());
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert_has(&err, "tracing: not supported by Tidemark's notifier");
    for i in [1, 3, 4] {
        assert_has(
            &err,
            &format!("receivers[{i}].pagerduty_configs[0].service_key: PagerDuty's Events API v1"),
        );
    }
}

#[test]
fn the_stored_form_reads_back() {
    let config = parse_ok(integrations::EVERY_INTEGRATION);
    let json = serde_json::to_string(&config).unwrap();
    let back: NotifierConfig = serde_json::from_str(&json).unwrap();
    assert_eq!(back, config);
    let simple = parse_ok(SIMPLE);
    let back: NotifierConfig =
        serde_json::from_str(&serde_json::to_string(&simple).unwrap()).unwrap();
    assert_eq!(back, simple);
}

#[test]
fn match_and_match_re_become_sorted_matchers() {
    let config = parse_ok(
        r#"
route:
  receiver: x
  routes:
    - receiver: x
      match: {zone: eu, code: 500}
      match_re: {service: 'api|web'}
      matchers: ['alertname="Down"', 'a!=b, c!~"d+"']
receivers: [{name: x}]
"#,
    );
    let route = &config.route.routes[0];
    assert_eq!(
        printed(&route.matchers),
        [
            r#"a!="b""#,
            r#"alertname="Down""#,
            r#"c!~"d+""#,
            r#"code="500""#,
            r#"service=~"^(?:api|web)$""#,
            r#"zone="eu""#,
        ]
    );
    assert_eq!(route.matchers[4].kind, MatchType::Regex);
}
