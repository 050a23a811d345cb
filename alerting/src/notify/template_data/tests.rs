//! Notification texts compared with what Alertmanager 0.33.1 renders. The golden outputs in
//! `testdata/*.golden` come from its `amtool template render` on the data sets next to them
//! (`testdata/regenerate.py` rewrites them): every template of `default.tmpl` and
//! `email.tmpl` as text, `email.default.html` as HTML, Alertmanager's functions, the data's
//! methods, errors, and HTML escaping in text, attributes, URLs, `<title>` and comments.
//!
//! Differences from the goldens, by design: Debian's amtool reads the default templates from
//! files, so errors inside them name `default.tmpl` where Alertmanager's own build (and
//! Tidemark) name the set `""`; amtool executes on a `template.Data` where Alertmanager
//! executes on a `*template.Data` (only type names in errors differ; none is compared).

use std::collections::BTreeMap;

use serde_json::Value as Json;

use super::*;

fn string_map(json: &Json) -> BTreeMap<String, String> {
    json.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// RFC 3339 to Unix milliseconds; Go's zero time to 0.
fn time_ms(json: &Json) -> i64 {
    let text = json.as_str().unwrap_or_default();
    if text == "0001-01-01T00:00:00Z" {
        return 0;
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .timestamp_millis()
}

fn status(json: &Json) -> Status {
    match json.as_str() {
        Some("firing") => Status::Firing,
        _ => Status::Resolved,
    }
}

fn reason(text: &str) -> NotificationReason {
    [
        NotificationReason::FirstNotification,
        NotificationReason::NewAlertsInGroup,
        NotificationReason::NewResolvedAlerts,
        NotificationReason::AllAlertsResolved,
        NotificationReason::RepeatIntervalElapsed,
    ]
    .into_iter()
    .find(|r| r.as_str() == text)
    .unwrap_or(NotificationReason::Unknown)
}

/// A data set as amtool reads it: Alertmanager's `template.Data` as JSON, taken as is.
fn data_from_json(text: &str) -> NotificationData {
    let json: Json = serde_json::from_str(text).expect("data set is JSON");
    let alerts = json["alerts"]
        .as_array()
        .map(|alerts| {
            alerts
                .iter()
                .map(|a| AlertData {
                    status: status(&a["status"]),
                    labels: string_map(&a["labels"]),
                    annotations: string_map(&a["annotations"]),
                    starts_at_ms: time_ms(&a["startsAt"]),
                    ends_at_ms: time_ms(&a["endsAt"]),
                    generator_url: a["generatorURL"].as_str().unwrap_or_default().into(),
                    fingerprint: a["fingerprint"].as_str().unwrap_or_default().into(),
                })
                .collect()
        })
        .unwrap_or_default();
    NotificationData {
        receiver: json["receiver"].as_str().unwrap_or_default().into(),
        status: status(&json["status"]),
        alerts,
        notification_reason: reason(json["notification_reason"].as_str().unwrap_or_default()),
        group_labels: string_map(&json["groupLabels"]),
        common_labels: string_map(&json["commonLabels"]),
        common_annotations: string_map(&json["commonAnnotations"]),
        external_url: json["externalURL"].as_str().unwrap_or_default().into(),
        now_ms: 0,
    }
}

/// One golden case: how it is rendered, the template text, and the expected output.
struct Case {
    mode: String,
    text: String,
    want: String,
}

fn parse_golden(golden: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut rest = golden;
    while let Some(header_end) = rest.find('\n') {
        let header = rest[..header_end]
            .strip_prefix("#### ")
            .unwrap_or_else(|| panic!("bad golden header: {}", &rest[..header_end]));
        let (mode, text) = header.split_once(' ').expect("mode and text");
        let text: String = serde_json::from_str(text).expect("text is a JSON string");
        let body = &rest[header_end + 1..];
        let end = body.find("\n#### end\n").expect("#### end");
        cases.push(Case {
            mode: mode.into(),
            text,
            want: body[..end].to_string(),
        });
        rest = &body[end + "\n#### end\n".len()..];
    }
    cases
}

/// Renders every case of a golden file and reports all that differ.
fn check_golden(data: &str, golden: &str) -> usize {
    let data = data_from_json(data);
    let templates = Templates::new();
    let cases = parse_golden(golden);
    let mut failures = Vec::new();
    for case in &cases {
        let got = match case.mode.as_str() {
            "html" => templates.render_html(&case.text, &data),
            _ => templates.render(&case.text, &data),
        };
        let ok = match (case.mode.as_str(), &got) {
            ("error", Err(e)) => {
                // Debian's amtool names the default template files; Alertmanager names "".
                // amtool's data is a value; Alertmanager's a pointer, which Go's `%v` prints
                // with `&`.
                let want = case
                    .want
                    .replace("template: default.tmpl:", "template: :")
                    .replace("template: email.tmpl:", "template: :")
                    .replace("can't iterate over {", "can't iterate over &{");
                *e == want
            }
            ("error", Ok(_)) => false,
            (_, Ok(out)) => *out == case.want,
            (_, Err(_)) => false,
        };
        if !ok {
            failures.push(format!(
                "{} {}\n  want: {:?}\n  got:  {:?}",
                case.mode, case.text, case.want, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from Alertmanager:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    cases.len()
}

#[test]
fn defaults_render_as_alertmanager_one_firing_alert() {
    check_golden(
        include_str!("testdata/firing_one.json"),
        include_str!("testdata/firing_one.golden"),
    );
}

#[test]
fn defaults_functions_and_escaping_render_as_alertmanager_mixed_alerts() {
    check_golden(
        include_str!("testdata/mixed.json"),
        include_str!("testdata/mixed.golden"),
    );
}

#[test]
fn defaults_render_as_alertmanager_all_resolved_no_group_labels() {
    check_golden(
        include_str!("testdata/resolved.json"),
        include_str!("testdata/resolved.golden"),
    );
}

#[test]
fn defaults_render_as_alertmanager_edge_cases() {
    check_golden(
        include_str!("testdata/edge.json"),
        include_str!("testdata/edge.golden"),
    );
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn alert(status: Status, pairs: &[(&str, &str)], summary: &str, ends_at_ms: i64) -> AlertData {
    AlertData {
        status,
        labels: labels(pairs),
        annotations: labels(&[("summary", summary)]),
        starts_at_ms: 1_700_000_000_000,
        ends_at_ms,
        generator_url: "http://prometheus/graph".into(),
        fingerprint: "0123456789abcdef".into(),
    }
}

#[test]
fn new_builds_the_data_as_alertmanager_does() {
    let data = NotificationData::new(
        "team (a|b).*",
        labels(&[("alertname", "X")]),
        NotificationReason::NewAlertsInGroup,
        vec![
            alert(
                Status::Firing,
                &[("alertname", "X"), ("job", "a"), ("env", "prod")],
                "same",
                1_700_000_600_000,
            ),
            alert(
                Status::Resolved,
                &[("alertname", "X"), ("job", "b"), ("env", "prod")],
                "same",
                1_700_000_300_000,
            ),
        ],
        "http://am",
        1_700_000_400_000,
    );
    assert_eq!(data.receiver, r"team \(a\|b\)\.\*");
    assert_eq!(data.status, Status::Firing);
    assert_eq!(
        data.alerts[0].ends_at_ms, 0,
        "a firing alert's end is hidden"
    );
    assert_eq!(data.alerts[1].ends_at_ms, 1_700_000_300_000);
    assert_eq!(
        data.common_labels,
        labels(&[("alertname", "X"), ("env", "prod")])
    );
    assert_eq!(data.common_annotations, labels(&[("summary", "same")]));

    let resolved = NotificationData::new(
        "r",
        BTreeMap::new(),
        NotificationReason::AllAlertsResolved,
        vec![alert(Status::Resolved, &[("a", "1")], "s", 5)],
        "",
        10,
    );
    assert_eq!(resolved.status, Status::Resolved);
    let empty = NotificationData::new(
        "r",
        BTreeMap::new(),
        NotificationReason::Unknown,
        Vec::new(),
        "",
        0,
    );
    assert!(empty.common_labels.is_empty() && empty.status == Status::Resolved);
}

/// The alerts of `testdata/webhook_alerts.json` through [`NotificationData::new`] against
/// the `template.Data` a real Alertmanager 0.33.1 sent to a webhook for them
/// (`testdata/webhook.py`): quoting, status, common labels and annotations, hidden ends.
#[test]
fn new_matches_a_real_alertmanagers_data() {
    let now_ms = 1_800_000_000_000;
    let posted: Json =
        serde_json::from_str(include_str!("testdata/webhook_alerts.json")).expect("JSON");
    let sent: Json =
        serde_json::from_str(include_str!("testdata/webhook_data.json")).expect("JSON");
    let alerts: Vec<AlertData> = posted
        .as_array()
        .expect("alerts")
        .iter()
        .zip(sent["alerts"].as_array().expect("alerts"))
        .map(|(a, out)| {
            let ends_at_ms = now_ms + a["endsAt"].as_i64().unwrap_or_default() * 1000;
            AlertData {
                status: if ends_at_ms <= now_ms {
                    Status::Resolved
                } else {
                    Status::Firing
                },
                labels: string_map(&a["labels"]),
                annotations: string_map(&a["annotations"]),
                starts_at_ms: now_ms + a["startsAt"].as_i64().unwrap_or_default() * 1000,
                ends_at_ms,
                generator_url: a["generatorURL"].as_str().unwrap_or_default().into(),
                fingerprint: out["fingerprint"].as_str().unwrap_or_default().into(),
            }
        })
        .collect();
    let data = NotificationData::new(
        "team (a|b).*",
        string_map(&sent["groupLabels"]),
        NotificationReason::FirstNotification,
        alerts,
        "http://am.example:9093/prefix",
        now_ms,
    );
    assert_eq!(data.receiver, sent["receiver"].as_str().unwrap_or_default());
    assert_eq!(data.status.as_str(), sent["status"]);
    assert_eq!(
        data.notification_reason.as_str(),
        sent["notification_reason"]
    );
    assert_eq!(data.common_labels, string_map(&sent["commonLabels"]));
    assert_eq!(
        data.common_annotations,
        string_map(&sent["commonAnnotations"])
    );
    assert_eq!(data.external_url, sent["externalURL"]);
    for (alert, out) in data
        .alerts
        .iter()
        .zip(sent["alerts"].as_array().expect("alerts"))
    {
        assert_eq!(alert.status.as_str(), out["status"]);
        let hidden = out["endsAt"] == "0001-01-01T00:00:00Z";
        assert_eq!(alert.ends_at_ms == 0, hidden, "{out}");
    }
}

fn sample() -> NotificationData {
    NotificationData::new(
        "pager",
        labels(&[("alertname", "HighLoad")]),
        NotificationReason::FirstNotification,
        vec![alert(
            Status::Firing,
            &[("alertname", "HighLoad"), ("instance", "web-1")],
            "load 12",
            0,
        )],
        "http://am:9093",
        1_700_000_090_500,
    )
}

#[test]
fn sms_message_is_the_subject_on_one_line() {
    let templates = Templates::new();
    let data = sample();
    let sms = templates.render(r#"{{ template "sms.default.message" . }}"#, &data);
    assert_eq!(sms.as_deref(), Ok("[FIRING:1] HighLoad (web-1)"));
    let subject = templates.render(r#"{{ template "__subject" . }}"#, &data);
    assert_eq!(sms, subject);
}

#[test]
fn clock_and_errors_are_tidemarks() {
    let templates = Templates::new();
    let data = sample();
    let since = r#"{{ range .Alerts }}{{ since .StartsAt }} {{ since .StartsAt | humanizeDuration }}{{ end }}|{{ now }}"#;
    assert_eq!(
        templates.render(since, &data).as_deref(),
        Ok("1m30.5s 1m 30s|2023-11-14 22:14:50.5 +0000 UTC")
    );
    assert_eq!(
        templates.render("{{ .Missing }}", &data),
        Err(
            "template: :1:3: executing \"\" at <.Missing>: can't evaluate field Missing in \
             type *template.Data"
                .into()
        )
    );
    assert_eq!(
        templates
            .render("{{ .NowMs }}", &data)
            .map_err(|e| e.contains("NowMs")),
        Err(true)
    );
    assert_eq!(
        templates.render("{{ query \"up\" }}", &data),
        Err("template: :1: function \"query\" not defined".into())
    );
    assert_eq!(templates.render("", &data).as_deref(), Ok(""));
    assert_eq!(
        templates.render_html("<a href=\"", &data),
        Err(
            "html/template: ends in a non-text context: {stateURL delimDoubleQuote urlPartNone \
             jsCtxRegexp attrURL elementNone <nil>}"
                .into()
        )
    );
    assert!(
        templates
            .render_html("<script>var x = {{ . }};</script>", &data)
            .is_err_and(|e| e.contains("JavaScript"))
    );
}

#[test]
fn user_files_replace_defaults_and_report_parse_errors() {
    let custom = r#"{{ define "__subject" }}custom {{ .Status }}{{ end }}{{ define "mine" }}{{ .Receiver | title }}{{ end }}"#;
    let templates = Templates::with_files([("custom.tmpl", custom)]).expect("parses");
    let data = sample();
    assert_eq!(
        templates
            .render(
                r#"{{ template "email.default.subject" . }}|{{ template "mine" . }}"#,
                &data
            )
            .as_deref(),
        Ok("custom firing|Pager")
    );
    assert!(templates.defines("email.default.html") && !Templates::new().defines("mine"));
    assert_eq!(
        Templates::with_files([("bad.tmpl", "{{ define \"x\" }}{{ nope }}{{ end }}")]).err(),
        Some("template: bad.tmpl:1: function \"nope\" not defined".into())
    );
    let inline =
        r#"{{ define "__subject" }}inline{{ end }}{{ template "email.default.subject" . }}"#;
    assert_eq!(
        Templates::new().render(inline, &data).as_deref(),
        Ok("inline")
    );
}

#[test]
fn templates_are_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Templates>();
    shared::<NotificationData>();
}
