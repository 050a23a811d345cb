//! What is refused, and that the refusal names what and where (the integrations' own
//! refusals are in `integration_refusals.rs`).

use super::*;

#[test]
fn unsupported_integrations_are_refused_by_name() {
    for field in [
        "discord_configs",
        "incidentio_configs",
        "slack_configs",
        "opsgenie_configs",
        "wechat_configs",
        "pushover_configs",
        "victorops_configs",
        "sns_configs",
        "telegram_configs",
        "webex_configs",
        "msteams_configs",
        "msteamsv2_configs",
        "jira_configs",
        "rocketchat_configs",
        "mattermost_configs",
    ] {
        let err = parse_err(&format!(
            "route: {{receiver: a}}\nreceivers:\n  - name: a\n  - name: b\n  - name: c\n    \
             {field}: [{{api_url: 'http://x/'}}]\n"
        ));
        assert_eq!(
            err,
            format!(
                "receivers[2].{field}: not supported by Tidemark's notifier (its integrations \
                 are webhook_configs, email_configs, pagerduty_configs and sms_configs)"
            )
        );
    }
    assert_has(
        &receiver_err("    labels: {team: a}\n"),
        "receivers[0].labels: not supported by Tidemark's notifier",
    );
}

#[test]
fn unsupported_top_level_and_global_fields_are_refused_by_name() {
    let err = parse_err(
        "route: {receiver: r}\nreceivers: [{name: r}]\ntracing: {endpoint: 'x:4317'}\n\
         event_recorder: {}\n",
    );
    assert_eq!(
        err,
        "tracing: not supported by Tidemark's notifier\n\
         event_recorder: not supported by Tidemark's notifier"
    );
    for field in [
        "slack_api_url",
        "opsgenie_api_key",
        "victorops_api_key",
        "telegram_bot_token",
        "wechat_api_corp_id",
        "webex_api_url",
        "jira_api_url",
        "rocketchat_token",
        "mattermost_webhook_url",
        "smtp_tls_config",
        "smtp_force_implicit_tls",
    ] {
        let err = parse_err(&format!(
            "global:\n  {field}: x\nroute: {{receiver: r}}\nreceivers: [{{name: r}}]\n"
        ));
        assert_eq!(
            err,
            format!("global.{field}: not supported by Tidemark's notifier")
        );
    }
    for field in ["smtp_auth_password_file", "smtp_auth_secret_file"] {
        let err = parse_err(&format!(
            "global:\n  {field}: /etc/secret\nroute: {{receiver: r}}\nreceivers: [{{name: r}}]\n"
        ));
        assert_has(
            &err,
            &format!("global.{field}: not supported by Tidemark's notifier: files are node-local"),
        );
    }
}

#[test]
fn template_globs_are_kept() {
    let config =
        parse_ok("templates: ['/etc/am/*.tmpl']\nroute: {receiver: r}\nreceivers: [{name: r}]\n");
    assert_eq!(config.templates, ["/etc/am/*.tmpl"]);
    parse_ok("templates: []\nroute: {receiver: r}\nreceivers: [{name: r}]\n");
}

#[test]
fn unknown_fields_and_bad_yaml_say_where() {
    let err = parse_err("route: {receiver: r}\nreceivers: [{name: r}]\nfoo: 1\n");
    assert_eq!(err, "yaml: line 3, column 1: unknown field `foo`");
    let err =
        parse_err("route:\n  receiver: r\n  routes:\n    - recevier: r\nreceivers: [{name: r}]\n");
    assert_eq!(
        err,
        "yaml: line 4, column 7: route.routes[0]: unknown field `recevier`"
    );
    let err = parse_err("route:\n  receiver: r\n  group_wait: 5x\nreceivers: [{name: r}]\n");
    assert_has(
        &err,
        "yaml: line 3, column 15: route.group_wait: unknown unit \"x\"",
    );
    let err = parse_err("route: [\n");
    assert!(err.starts_with("yaml: "), "{err}");
}

#[test]
fn a_route_is_required() {
    assert_eq!(parse_err(""), "route: no route provided in config");
    assert_eq!(
        parse_err("# nothing\n"),
        "route: no route provided in config"
    );
    assert_eq!(
        parse_err("receivers: [{name: r}]\n"),
        "route: no route provided in config"
    );
}

#[test]
fn the_root_route_is_checked_as_alertmanager_checks_it() {
    let receivers = "receivers: [{name: r}]\ntime_intervals: [{name: t, time_intervals: []}]\n";
    for (route, want) in [
        ("{}", "route: root route must specify a default receiver"),
        (
            "{receiver: r, match: {a: b}}",
            "route: root route must not have any matchers",
        ),
        (
            "{receiver: r, match_re: {a: b}}",
            "route: root route must not have any matchers",
        ),
        (
            "{receiver: r, matchers: [a=b]}",
            "route: root route must not have any matchers",
        ),
        (
            "{receiver: r, mute_time_intervals: [t]}",
            "route: root route must not have any mute time intervals",
        ),
        (
            "{receiver: r, active_time_intervals: [t]}",
            "route: root route must not have any active time intervals",
        ),
        (
            "{receiver: r, continue: true}",
            "route: cannot have continue in root route",
        ),
    ] {
        assert_eq!(
            parse_err(&format!("route: {route}\n{receivers}")),
            want,
            "{route}"
        );
    }
}

#[test]
fn routes_are_checked_as_alertmanager_checks_them() {
    let routes = |child: &str| {
        format!(
            "route:\n  receiver: r\n  routes:\n    - matchers: [a=b]\n    - {child}\n\
             receivers: [{{name: r}}]\n"
        )
    };
    for (child, want) in [
        (
            "{receiver: nobody}",
            r#"route.routes[1].receiver: undefined receiver "nobody" used in route"#,
        ),
        (
            "{mute_time_intervals: [never]}",
            r#"route.routes[1].mute_time_intervals[0]: undefined time interval "never" used in route"#,
        ),
        (
            "{active_time_intervals: [never]}",
            r#"route.routes[1].active_time_intervals[0]: undefined time interval "never" used in route"#,
        ),
        (
            "{group_interval: 0s}",
            "route.routes[1].group_interval: group_interval cannot be zero",
        ),
        (
            "{repeat_interval: 0}",
            "route.routes[1].repeat_interval: repeat_interval cannot be zero",
        ),
        (
            "{group_by: ['...', alertname]}",
            "route.routes[1].group_by: cannot have wildcard group_by (`...`) and other labels at the same time",
        ),
        (
            "{group_by: [a, b, a]}",
            r#"route.routes[1].group_by: duplicated label "a" in group_by"#,
        ),
        (
            "{group_by: ['']}",
            r#"route.routes[1].group_by: invalid label name "" in group_by list"#,
        ),
        (
            "{match: {a-b: c}}",
            r#"route.routes[1].match: invalid label name "a-b""#,
        ),
        ("{match_re: {a: '('}}", "route.routes[1].match_re: "),
        ("{matchers: [a=b, 'c=~(']}", "route.routes[1].matchers[1]: "),
        (
            "{labels: {a: b}}",
            "route.routes[1].labels: not supported by Tidemark's notifier",
        ),
    ] {
        let err = parse_err(&routes(child));
        assert!(
            err.starts_with(want),
            "{child}: {want:?} does not start:\n{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let err = parse_err(&routes("{group_wait: -1s}"));
    assert_has(&err, "route.routes[1].group_wait: ");
    // Deeper routes are named by their whole path.
    let err = parse_err(
        "route:\n  receiver: r\n  routes:\n    - routes:\n        - routes: [{receiver: x}]\n\
         receivers: [{name: r}]\n",
    );
    assert_eq!(
        err,
        r#"route.routes[0].routes[0].routes[0].receiver: undefined receiver "x" used in route"#
    );
}

#[test]
fn receivers_and_time_intervals_are_named_once() {
    let err = parse_err("route: {receiver: r}\nreceivers: [{name: r}, {name: r}, {}]\n");
    assert_eq!(
        err,
        "receivers[1]: notification config name \"r\" is not unique\n\
         receivers[2]: missing name in receiver"
    );
    let err = parse_err(
        "route: {receiver: r}\nreceivers: [{name: r}]\n\
         mute_time_intervals: [{name: t, time_intervals: []}, {time_intervals: []}]\n\
         time_intervals: [{name: t, time_intervals: []}, {name: u}, {name: u}]\n",
    );
    assert_eq!(
        err,
        "mute_time_intervals[1]: missing name in mute time interval\n\
         time_intervals[0]: time interval \"t\" is not unique\n\
         time_intervals[2]: time interval \"u\" is not unique"
    );
}

#[test]
fn inhibit_rules_are_checked() {
    let err = parse_err(
        r#"
route: {receiver: r}
receivers: [{name: r}]
inhibit_rules:
  - source_matchers: [a=b]
  - source_matchers: ['a=~(']
    target_match: {'1x': y}
    equal: [a, '']
"#,
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].starts_with("inhibit_rules[1].source_matchers[0]: "),
        "{err}"
    );
    assert_eq!(
        lines[1],
        r#"inhibit_rules[1].target_match: invalid label name "1x""#
    );
    assert_eq!(
        lines[2],
        r#"inhibit_rules[1].equal: invalid label name "" in equal list"#
    );
}

#[test]
fn every_problem_is_told_one_a_line() {
    let err = parse_err(
        "global: {slack_api_url: x}\nroute: {receiver: nobody, group_interval: 0s}\n\
         receivers:\n  - name: r\n    slack_configs: []\n    webhook_configs: [{}]\n",
    );
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        [
            "global.slack_api_url: not supported by Tidemark's notifier",
            "receivers[0].slack_configs: not supported by Tidemark's notifier (its integrations \
             are webhook_configs, email_configs, pagerduty_configs and sms_configs)",
            "receivers[0].webhook_configs[0]: one of url or url_file must be configured",
            "route.receiver: undefined receiver \"nobody\" used in route",
            "route.group_interval: group_interval cannot be zero",
        ]
    );
}
