//! Rule files that Prometheus accepts are accepted and read back unchanged; see `errors.rs`
//! for what is refused, `duration.rs` for durations and `stored.rs` for the stored form.

mod duration;
mod errors;
mod stored;

use std::collections::BTreeMap;

use super::*;

/// Every template is accepted (the template language is tested in `template`).
fn any_template(_: &str) -> Result<(), String> {
    Ok(())
}

fn file(yaml: &str) -> RuleFile {
    parse_rule_file(yaml, &RuleLimits::default(), &any_template)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn group(yaml: &str) -> RuleGroup {
    parse_rule_group(yaml, &RuleLimits::default(), &any_template)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Prometheus' documentation, "Recording rules" (`docs/configuration/recording_rules.md`).
const DOCS_RECORDING: &str = r#"
groups:
  - name: example
    rules:
    - record: code:prometheus_http_requests_total:sum
      expr: sum by (code) (prometheus_http_requests_total)

  - name: example-with-offset
    query_offset: 1m
    interval: 30s
    limit: 10
    labels:
      team: infra
    rules:
    - record: job:http_inprogress_requests:sum
      expr: sum by (job) (http_inprogress_requests)
      labels:
        source: recorded
"#;

/// Prometheus' documentation, "Alerting rules" (`docs/configuration/alerting_rules.md`).
const DOCS_ALERTING: &str = r#"
groups:
- name: example
  labels:
    team: myteam
  rules:
  - alert: HighRequestLatency
    expr: job:request_latency_seconds:mean5m{job="myjob"} > 0.5
    for: 10m
    keep_firing_for: 5m
    labels:
      severity: page
    annotations:
      summary: High request latency
  - alert: InstanceDown
    expr: up == 0
    for: 5m
    labels:
      severity: page
    annotations:
      summary: "Instance {{ $labels.instance }} down"
      description: "{{ $labels.instance }} of job {{ $labels.job }} has been down for more than 5 minutes."
"#;

/// A group of node-exporter's mixin alerts (`node-mixin/alerts/alerts.libsonnet`, rendered),
/// as a Mimir user uploads it: block-scalar expressions, `for`, labels, templated annotations.
const NODE_EXPORTER: &str = r#"
name: node-exporter
rules:
- alert: NodeFilesystemSpaceFillingUp
  annotations:
    description: Filesystem on {{ $labels.device }}, mounted on {{ $labels.mountpoint }}, at {{ $labels.instance }} has only {{ printf "%.2f" $value }}% available space left and is filling up.
    runbook_url: https://runbooks.prometheus-operator.dev/runbooks/node/nodefilesystemspacefillingup
    summary: Filesystem is predicted to run out of space within the next 24 hours.
  expr: |
    (
      node_filesystem_avail_bytes{job="node-exporter",fstype!="",mountpoint!=""} / node_filesystem_size_bytes{job="node-exporter",fstype!="",mountpoint!=""} * 100 < 15
    and
      predict_linear(node_filesystem_avail_bytes{job="node-exporter",fstype!="",mountpoint!=""}[6h], 24*60*60) < 0
    and
      node_filesystem_readonly{job="node-exporter",fstype!="",mountpoint!=""} == 0
    )
  for: 1h
  labels:
    severity: warning
- alert: NodeHighNumberConntrackEntriesUsed
  annotations:
    description: '{{ $labels.instance }} {{ $value | humanizePercentage }} of conntrack entries are used.'
    summary: Number of conntrack are getting close to the limit.
  expr: |
    (node_nf_conntrack_entries{job="node-exporter"} / node_nf_conntrack_entries_limit) > 0.75
  labels:
    severity: warning
- alert: NodeClockNotSynchronising
  annotations:
    description: Clock at {{ $labels.instance }} is not synchronising. Ensure NTP is configured on this host.
    summary: Clock not synchronising.
  expr: |
    min_over_time(node_timex_sync_status{job="node-exporter"}[5m]) == 0
    and
    node_timex_maxerror_seconds{job="node-exporter"} >= 16
  for: 10m
  keep_firing_for: 90m
  labels:
    severity: warning
- record: instance:node_cpu_utilisation:rate5m
  expr: |
    1 - avg without (cpu) (
      sum without (mode) (rate(node_cpu_seconds_total{job="node-exporter", mode=~"idle|iowait|steal"}[5m]))
    )
"#;

#[test]
fn docs_recording_rules() {
    let f = file(DOCS_RECORDING);
    assert_eq!(f.groups.len(), 2);
    let g = &f.groups[0];
    assert_eq!(g.name, "example");
    assert_eq!(g.interval, None);
    assert_eq!(g.query_offset, None);
    assert_eq!(
        g.rules,
        vec![Rule {
            record: Some("code:prometheus_http_requests_total:sum".into()),
            expr: "sum by (code) (prometheus_http_requests_total)".into(),
            ..Rule::default()
        }]
    );
    assert!(!g.rules[0].is_alerting());
    let g = &f.groups[1];
    assert_eq!(g.query_offset, Some(PromDuration(60_000)));
    assert_eq!(g.interval, Some(PromDuration(30_000)));
    assert_eq!(g.limit, 10);
    assert_eq!(g.labels, labels(&[("team", "infra")]));
    assert_eq!(g.rules[0].labels, labels(&[("source", "recorded")]));
}

#[test]
fn docs_alerting_rules() {
    let f = file(DOCS_ALERTING);
    let g = &f.groups[0];
    assert_eq!(g.labels, labels(&[("team", "myteam")]));
    let r = &g.rules[0];
    assert!(r.is_alerting());
    assert_eq!(r.name(), "HighRequestLatency");
    assert_eq!(r.for_, Some(PromDuration(600_000)));
    assert_eq!(r.keep_firing_for, Some(PromDuration(300_000)));
    assert_eq!(r.labels, labels(&[("severity", "page")]));
    assert_eq!(
        r.annotations,
        labels(&[("summary", "High request latency")])
    );
    assert_eq!(r.identity(), r#"HighRequestLatency{severity="page"}"#);
    assert_eq!(
        g.rules[1].annotations["summary"],
        "Instance {{ $labels.instance }} down"
    );
}

#[test]
fn node_exporter_mixin_group() {
    let g = group(NODE_EXPORTER);
    assert_eq!(g.name, "node-exporter");
    let names: Vec<&str> = g.rules.iter().map(Rule::name).collect();
    assert_eq!(
        names,
        [
            "NodeFilesystemSpaceFillingUp",
            "NodeHighNumberConntrackEntriesUsed",
            "NodeClockNotSynchronising",
            "instance:node_cpu_utilisation:rate5m"
        ]
    );
    let fill = &g.rules[0];
    assert_eq!(fill.for_, Some(PromDuration(3_600_000)));
    assert!(fill.expr.starts_with("(\n  node_filesystem_avail_bytes{"));
    assert!(fill.expr.ends_with(")\n"));
    assert_eq!(fill.labels, labels(&[("severity", "warning")]));
    assert_eq!(fill.annotations.len(), 3);
    assert!(fill.annotations["description"].contains(r#"{{ printf "%.2f" $value }}%"#));
    assert_eq!(g.rules[1].for_, None);
    assert_eq!(g.rules[2].keep_firing_for, Some(PromDuration(90 * 60_000)));
}

#[test]
fn templates_are_checked_on_alerting_rules_only() {
    let seen = std::cell::RefCell::new(Vec::new());
    let check = |text: &str| -> Result<(), String> {
        seen.borrow_mut().push(text.to_string());
        Ok(())
    };
    parse_rule_file(DOCS_ALERTING, &RuleLimits::default(), &check).unwrap();
    let mut seen_alerting = seen.take();
    seen_alerting.sort();
    assert_eq!(
        seen_alerting,
        [
            "High request latency",
            "Instance {{ $labels.instance }} down",
            "page",
            "page",
            "{{ $labels.instance }} of job {{ $labels.job }} has been down for more than 5 minutes."
        ]
    );
    parse_rule_file(DOCS_RECORDING, &RuleLimits::default(), &check).unwrap();
    assert!(
        seen.take().is_empty(),
        "recording rules' labels are not templates"
    );
}

#[test]
fn empty_files_and_groups_without_rules() {
    assert_eq!(file(""), RuleFile::default());
    assert_eq!(file("# nothing yet\n"), RuleFile::default());
    assert_eq!(file("groups: []"), RuleFile::default());
    let g = group("name: empty");
    assert_eq!(g.name, "empty");
    assert!(g.rules.is_empty());
}

#[test]
fn defaults_are_normalised() {
    let g = group(
        r#"
name: g
interval: 0s
query_offset: 0s
rules:
- record: a
  alert: ""
  expr: up
  for: 0s
  keep_firing_for: 0
- alert: b
  record: ""
  expr: up
  for: 0
"#,
    );
    assert_eq!(g.interval, None);
    // Zero here overrides the ruler's default offset: kept.
    assert_eq!(g.query_offset, Some(PromDuration(0)));
    assert_eq!(
        g.rules[0],
        Rule {
            record: Some("a".into()),
            expr: "up".into(),
            ..Rule::default()
        }
    );
    assert_eq!(g.rules[1].alert.as_deref(), Some("b"));
    assert_eq!(g.rules[1].record, None);
    assert_eq!(g.rules[1].for_, None);
}

#[test]
fn durations_are_written_back_canonical() {
    let g = group(
        r#"
name: g
interval: 90s
rules:
- alert: a
  expr: up == 0
  for: 90m
  keep_firing_for: 14d
"#,
    );
    let yaml = g.to_yaml();
    assert!(yaml.contains("interval: 1m30s\n"), "{yaml}");
    assert!(yaml.contains("for: 1h30m\n"), "{yaml}");
    assert!(yaml.contains("keep_firing_for: 2w\n"), "{yaml}");
    // Defaults omitted.
    assert!(!yaml.contains("limit"), "{yaml}");
    assert!(!yaml.contains("labels"), "{yaml}");
    assert!(!yaml.contains("record"), "{yaml}");
}

#[test]
fn a_group_round_trips() {
    let g = group(NODE_EXPORTER);
    assert_eq!(group(&g.to_yaml()), g, "{}", g.to_yaml());
    for f in [file(DOCS_RECORDING), file(DOCS_ALERTING)] {
        for g in &f.groups {
            assert_eq!(&group(&g.to_yaml()), g, "{}", g.to_yaml());
        }
    }
}

#[test]
fn a_file_round_trips() {
    for yaml in [DOCS_RECORDING, DOCS_ALERTING] {
        let f = file(yaml);
        assert_eq!(file(&f.to_yaml()), f, "{}", f.to_yaml());
    }
}

#[test]
fn namespaces_round_trip() {
    let mut namespaces = BTreeMap::new();
    namespaces.insert("node".to_string(), vec![group(NODE_EXPORTER)]);
    namespaces.insert("prometheus".to_string(), file(DOCS_RECORDING).groups);
    namespaces.insert("alerts".to_string(), file(DOCS_ALERTING).groups);
    let yaml = to_yaml(&namespaces);
    // A map of namespace to a list of groups, namespaces sorted.
    assert!(yaml.starts_with("alerts:\n- name: example\n"), "{yaml}");
    assert!(yaml.contains("\nnode:\n- name: node-exporter\n"), "{yaml}");
    let back = parse_namespaces(&yaml, &RuleLimits::default(), &any_template).unwrap();
    assert_eq!(back, namespaces);
    assert_eq!(
        parse_namespaces("", &RuleLimits::default(), &any_template).unwrap(),
        BTreeMap::new()
    );
}

#[test]
fn strings_that_need_quoting_round_trip() {
    let g = RuleGroup {
        name: "g: with 'quotes' and \"more\"".into(),
        interval: Some(PromDuration(60_000)),
        query_offset: Some(PromDuration(0)),
        limit: 5,
        labels: labels(&[("team", "yes"), ("n", "0123"), ("t", "true")]),
        rules: vec![
            Rule {
                alert: Some("A #1".into()),
                expr: "up{job=~\"a|b\"}\n  == 0".into(),
                for_: Some(PromDuration(1)),
                keep_firing_for: Some(PromDuration(365 * 86_400_000)),
                labels: labels(&[("severity", "null"), ("empty", "")]),
                annotations: labels(&[("summary", "{{ $value }}: - [x] ~ *a &b")]),
                ..Rule::default()
            },
            Rule {
                record: Some("x:y".into()),
                expr: "  sum(rate(x[5m]))  ".into(),
                ..Rule::default()
            },
        ],
    };
    let yaml = g.to_yaml();
    assert_eq!(group(&yaml), g, "{yaml}");
}

#[test]
fn utf8_names_are_valid_unless_legacy_names_are_asked_for() {
    let yaml = r#"
name: g
rules:
- record: "http.requests:rate5m"
  expr: sum(rate({"http.requests"}[5m]))
  labels:
    "service.name": api
"#;
    assert_eq!(
        group(yaml).rules[0].record.as_deref(),
        Some("http.requests:rate5m")
    );
    let legacy = RuleLimits {
        legacy_names: true,
        ..RuleLimits::default()
    };
    let err = parse_rule_group(yaml, &legacy, &any_template).unwrap_err();
    assert!(
        err.0
            .contains("invalid recording rule name: http.requests:rate5m"),
        "{err}"
    );
    assert!(err.0.contains("invalid label name: service.name"), "{err}");
}
