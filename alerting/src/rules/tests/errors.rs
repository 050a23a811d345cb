//! What is refused, and that the refusal says what and where.

use super::*;

fn group_err(yaml: &str) -> String {
    group_err_with(yaml, &RuleLimits::default())
}

fn group_err_with(yaml: &str, limits: &RuleLimits) -> String {
    match parse_rule_group(yaml, limits, &any_template) {
        Ok(g) => panic!("accepted: {g:?}\n{yaml}"),
        Err(e) => e.0,
    }
}

fn file_err(yaml: &str) -> String {
    file_err_with(yaml, &RuleLimits::default())
}

fn file_err_with(yaml: &str, limits: &RuleLimits) -> String {
    match parse_rule_file(yaml, limits, &any_template) {
        Ok(f) => panic!("accepted: {f:?}\n{yaml}"),
        Err(e) => e.0,
    }
}

#[track_caller]
fn assert_has(err: &str, want: &str) {
    assert!(err.contains(want), "{want:?} not in:\n{err}");
}

#[test]
fn yaml_syntax_errors_have_line_and_column() {
    let err = file_err("groups:\n- name: g\n  rules:\n   - record: a\n  expr: [\n");
    assert!(err.starts_with("yaml: "), "{err}");
    assert_has(&err, "line ");
    assert_has(&err, "column ");
    let err = group_err("name: g\nrules: [\n");
    assert_has(&err, "at line 3 column 1");
    let err = group_err("name: \"unterminated\nrules: []\n");
    assert_has(&err, "line ");
}

#[test]
fn unknown_fields_are_named_as_prometheus_names_them() {
    let err = file_err("groups:\n- name: g\n  rules:\n  - record: a\n    expr: up\n    foo: bar\n");
    assert_has(&err, "yaml: line 6, column 5: ");
    assert_has(&err, "field foo not found in type rulefmt.Rule");
    let err = file_err("groups:\n- name: g\n  evaluation_interval: 1m\n  rules: []\n");
    assert_has(&err, "yaml: line 3, column 3: ");
    assert_has(
        &err,
        "field evaluation_interval not found in type rulefmt.RuleGroup",
    );
    let err = file_err("group:\n- name: g\n");
    assert_has(&err, "yaml: line 1, column 1: ");
    assert_has(&err, "field group not found in type rulefmt.RuleGroups");
    let err = group_err("name: g\nrules:\n- alert: a\n  expr: up\n  annotation: {}\n");
    assert_has(&err, "yaml: line 5, column 3: ");
    assert_has(&err, "field annotation not found in type rulefmt.Rule");
}

#[test]
fn wrong_types_have_line_and_column() {
    let err = group_err("name: g\nlimit: many\nrules: []\n");
    assert_has(&err, "yaml: line 2, column 8: ");
    assert_has(&err, "limit: invalid type");
    let err = group_err("name: g\nrules:\n- alert: a\n  expr: up\n  for: 5 minutes\n");
    assert_has(&err, "yaml: line 5, column 8: ");
    assert_has(&err, r#"unknown unit " minutes" in duration "5 minutes""#);
    let err = group_err("name: g\nrules:\n- alert: a\n  expr: up\n  for: -5m\n");
    assert_has(&err, r#"not a valid duration string: "-5m""#);
    let err = file_err("- name: g\n");
    assert_has(&err, "invalid type: sequence");
}

#[test]
fn group_names_must_be_given_and_unique() {
    assert_has(&group_err("rules: []\n"), "Groupname must not be empty");
    assert_has(
        &group_err("name: ''\nrules: []\n"),
        "Groupname must not be empty",
    );
    assert_has(&group_err(""), "Groupname must not be empty");
    let err = file_err("groups:\n- name: a\n- name: b\n- name: a\n");
    assert_eq!(err, r#"groupname: "a" is repeated in the same file"#);
}

#[test]
fn exactly_one_of_record_and_alert() {
    let err = group_err("name: g\nrules:\n- record: a\n  alert: b\n  expr: up\n");
    assert_eq!(
        err,
        r#"group "g", rule 1, "b": only one of 'record' and 'alert' must be set"#
    );
    let err = group_err("name: g\nrules:\n- expr: up\n");
    assert_eq!(
        err,
        r#"group "g", rule 1, "": one of 'record' or 'alert' must be set"#
    );
    // An empty alert name is no alert name.
    let err = group_err("name: g\nrules:\n- record: ok\n  expr: up\n- alert: ''\n  expr: up\n");
    assert_eq!(
        err,
        r#"group "g", rule 2, "": one of 'record' or 'alert' must be set"#
    );
}

#[test]
fn expr_must_be_given_and_parse() {
    let err = group_err("name: g\nrules:\n- alert: a\n");
    assert_eq!(
        err,
        r#"group "g", rule 1, "a": field 'expr' must be set in rule"#
    );
    let err = group_err(
        "name: g\nrules:\n- record: ok\n  expr: up\n- alert: HighLatency\n  expr: sum(rate(x[5m])\n",
    );
    assert!(
        err.starts_with(r#"group "g", rule 2, "HighLatency": could not parse expression: "#),
        "{err}"
    );
    let err = group_err("name: g\nrules:\n- record: r\n  expr: rate(x)\n");
    assert_has(
        &err,
        r#"group "g", rule 1, "r": could not parse expression: "#,
    );
}

#[test]
fn recording_rules_take_no_alerting_fields() {
    let err = group_err(
        "name: g\nrules:\n- record: r\n  expr: up\n  for: 5m\n  keep_firing_for: 1m\n  annotations:\n    a: b\n",
    );
    let prefix = r#"group "g", rule 1, "r": "#;
    assert_eq!(
        err,
        [
            "invalid field 'annotations' in recording rule",
            "invalid field 'for' in recording rule",
            "invalid field 'keep_firing_for' in recording rule",
        ]
        .map(|e| format!("{prefix}{e}"))
        .join("\n")
    );
}

#[test]
fn recording_rule_names() {
    let err = group_err("name: g\nrules:\n- record: 'up{job=\"a\"}'\n  expr: up\n");
    assert_eq!(
        err,
        r#"group "g", rule 1, "up{job=\"a\"}": braces present in the recording rule name; should it be in expr?: up{job="a"}"#
    );
    let legacy = RuleLimits {
        legacy_names: true,
        ..RuleLimits::default()
    };
    let err = group_err_with("name: g\nrules:\n- record: 1abc\n  expr: up\n", &legacy);
    assert_eq!(
        err,
        r#"group "g", rule 1, "1abc": invalid recording rule name: 1abc"#
    );
    // Colons are for metric names only.
    let yaml = "name: g\nrules:\n- record: a:b\n  expr: up\n  labels:\n    c:d: x\n";
    let err = group_err_with(yaml, &legacy);
    assert_eq!(err, r#"group "g", rule 1, "a:b": invalid label name: c:d"#);
}

#[test]
fn label_and_annotation_names() {
    let err = group_err(
        "name: g\nlabels:\n  __name__: x\nrules:\n- alert: a\n  expr: up\n  labels:\n    __name__: y\n    '': z\n",
    );
    assert_has(&err, r#"group "g": invalid label name: __name__"#);
    assert_has(
        &err,
        r#"group "g", rule 1, "a": invalid label name: __name__"#,
    );
    assert_has(&err, r#"group "g", rule 1, "a": invalid label name: "#);
    let legacy = RuleLimits {
        legacy_names: true,
        ..RuleLimits::default()
    };
    let err = group_err_with(
        "name: g\nrules:\n- alert: a\n  expr: up\n  annotations:\n    runbook-url: x\n",
        &legacy,
    );
    assert_eq!(
        err,
        r#"group "g", rule 1, "a": invalid annotation name: runbook-url"#
    );
}

#[test]
fn templates_that_do_not_parse_are_refused() {
    let check = |text: &str| -> Result<(), String> {
        if text.contains("{{ bad") {
            Err("template: __alert_a:1: function \"bad\" not defined".into())
        } else {
            Ok(())
        }
    };
    let yaml = r#"
name: g
rules:
- alert: HighLatency
  expr: up
  labels:
    severity: "{{ bad }}"
  annotations:
    summary: "{{ $value }}"
    description: "{{ bad }}"
- record: r
  expr: up
  labels:
    untemplated: "{{ bad }}"
"#;
    let err = parse_rule_group(yaml, &RuleLimits::default(), &check)
        .unwrap_err()
        .0;
    assert_eq!(
        err,
        [
            r#"group "g", rule 1, "HighLatency": label "severity": template: __alert_a:1: function "bad" not defined"#,
            r#"group "g", rule 1, "HighLatency": annotation "description": template: __alert_a:1: function "bad" not defined"#,
        ]
        .join("\n")
    );
}

#[test]
fn interval_below_the_minimum() {
    let limits = RuleLimits {
        interval_min_ms: 10_000,
        ..RuleLimits::default()
    };
    let err = group_err_with("name: g\ninterval: 5s\nrules: []\n", &limits);
    assert_eq!(
        err,
        r#"group "g": interval 5s is shorter than the minimum of 10s (interval_min_ms)"#
    );
    // At the minimum, and absent (the ruler's default), are fine.
    for yaml in [
        "name: g\ninterval: 10s\n",
        "name: g\n",
        "name: g\ninterval: 0s\n",
    ] {
        parse_rule_group(yaml, &limits, &any_template).unwrap();
    }
    let unlimited = RuleLimits {
        interval_min_ms: 0,
        ..RuleLimits::default()
    };
    parse_rule_group("name: g\ninterval: 1ms\n", &unlimited, &any_template).unwrap();
}

fn rules(n: usize) -> String {
    let mut yaml = String::from("rules:\n");
    for i in 0..n {
        yaml.push_str(&format!("  - record: r{i}\n    expr: up\n"));
    }
    yaml
}

#[test]
fn rules_per_group_max() {
    let limits = RuleLimits {
        rules_per_group_max: 3,
        ..RuleLimits::default()
    };
    parse_rule_group(&format!("name: g\n{}", rules(3)), &limits, &any_template).unwrap();
    let err = group_err_with(&format!("name: g\n{}", rules(4)), &limits);
    assert_eq!(
        err,
        r#"group "g": 4 rules, more than the limit of 3 (rules_per_group_max)"#
    );
    let unlimited = RuleLimits {
        rules_per_group_max: 0,
        ..RuleLimits::default()
    };
    parse_rule_group(
        &format!("name: g\n{}", rules(300)),
        &unlimited,
        &any_template,
    )
    .unwrap();
}

#[test]
fn groups_per_namespace_max() {
    let limits = RuleLimits {
        groups_per_namespace_max: 2,
        ..RuleLimits::default()
    };
    let yaml = "groups:\n- name: a\n- name: b\n- name: c\n";
    assert_eq!(
        file_err_with(yaml, &limits),
        "3 rule groups in one namespace, more than the limit of 2 (groups_per_namespace_max)"
    );
    assert!(limits.check_groups_per_namespace(2).is_ok());
    assert!(limits.check_groups_per_namespace(3).is_err());
    let unlimited = RuleLimits {
        groups_per_namespace_max: 0,
        ..RuleLimits::default()
    };
    parse_rule_file(yaml, &unlimited, &any_template).unwrap();
    // The listing of namespaces is held to it, per namespace.
    let listing = "a:\n- name: x\n- name: y\n- name: z\nb:\n- name: x\n";
    let err = parse_namespaces(listing, &limits, &any_template)
        .unwrap_err()
        .0;
    assert_eq!(
        err,
        r#"namespace "a": 3 rule groups in one namespace, more than the limit of 2 (groups_per_namespace_max)"#
    );
}

#[test]
fn body_bytes_max() {
    let limits = RuleLimits {
        body_bytes_max: 16,
        ..RuleLimits::default()
    };
    let yaml = "name: g\nrules: []\n"; // 18 bytes
    assert_eq!(
        group_err_with(yaml, &limits),
        "rules upload of 18 bytes is larger than the limit of 16 bytes (body_bytes_max)"
    );
    assert_has(&file_err_with(yaml, &limits), "(body_bytes_max)");
    let unlimited = RuleLimits {
        body_bytes_max: 0,
        ..RuleLimits::default()
    };
    parse_rule_group(yaml, &unlimited, &any_template).unwrap();
}

#[test]
fn all_errors_are_told_up_to_a_bound() {
    let mut yaml = String::from("groups:\n- name: ''\n- name: g\n  rules:\n");
    for _ in 0..12 {
        yaml.push_str("  - expr: up\n");
    }
    let err = file_err(&yaml);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 11, "{err}");
    assert_eq!(lines[0], "Groupname must not be empty");
    assert_eq!(
        lines[1],
        r#"group "g", rule 1, "": one of 'record' or 'alert' must be set"#
    );
    assert_eq!(lines[10], "(and 3 more errors)");
}
