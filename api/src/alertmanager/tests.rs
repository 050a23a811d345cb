//! Goldens: bodies captured from a running Alertmanager 0.33.1 (`prometheus-alertmanager`,
//! `--cluster.listen-address=` unless noted) and from `amtool` 0.33.1, with times set to fixed
//! values and `config.original` cut short. Each must read into our types and write back to the
//! same bytes: a field renamed, reordered, dropped or added is a change `amtool` and Grafana see.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::*;

/// Reads `body` and checks that writing it back gives the same bytes (Alertmanager ends a
/// handler's answer with a newline, go-openapi's does not: trailing whitespace is not compared).
fn golden<T: Serialize + DeserializeOwned>(body: &str) -> T {
    let value: T = serde_json::from_str(body).unwrap();
    assert_eq!(serde_json::to_string(&value).unwrap(), body.trim_end());
    value
}

fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `GET /api/v2/alerts`: one alert silenced (with a generator URL), one active (without one, so
/// `generatorURL` is omitted, and without annotations, so `annotations` is `{}`).
const ALERTS: &str = r#"[{"annotations":{"summary":"p99 above 1s"},"endsAt":"2026-12-05T10:05:00.000Z","fingerprint":"4423e39380a92178","receivers":[{"name":"team-a"}],"startsAt":"2026-12-05T10:00:00.000Z","status":{"inhibitedBy":[],"mutedBy":[],"silencedBy":["4a912b00-cfd3-4e9e-b3fb-0c490a1c1055"],"state":"suppressed"},"updatedAt":"2026-12-05T10:00:00.000Z","generatorURL":"http://tidemark:9090/graph?g0.expr=up","labels":{"alertname":"HighLatency","severity":"page"}},{"annotations":{},"endsAt":"2026-12-05T10:05:00.000Z","fingerprint":"744e61ca074bea90","receivers":[{"name":"team-a"}],"startsAt":"2026-12-05T10:00:00.000Z","status":{"inhibitedBy":[],"mutedBy":[],"silencedBy":[],"state":"active"},"updatedAt":"2026-12-05T10:00:00.000Z","labels":{"alertname":"DiskFull"}}]
"#;

#[test]
fn gettable_alerts_are_as_alertmanager_writes_them() {
    let alerts: Vec<GettableAlert> = golden(ALERTS);
    let silenced = &alerts[0];
    assert_eq!(silenced.status.state, AlertState::Suppressed);
    assert_eq!(
        silenced.status.silenced_by,
        ["4a912b00-cfd3-4e9e-b3fb-0c490a1c1055"]
    );
    assert_eq!(
        silenced.generator_url.as_deref(),
        Some("http://tidemark:9090/graph?g0.expr=up")
    );
    assert_eq!(silenced.annotations, labels(&[("summary", "p99 above 1s")]));
    assert_eq!(silenced.receivers[0].name, "team-a");
    assert_eq!(silenced.starts_at, "2026-12-05T10:00:00.000Z");
    assert_eq!(alerts[1].generator_url, None);
    assert!(alerts[1].annotations.is_empty());
}

#[test]
fn alert_states_are_lowercase() {
    for (state, wire) in [
        (AlertState::Unprocessed, "\"unprocessed\""),
        (AlertState::Active, "\"active\""),
        (AlertState::Suppressed, "\"suppressed\""),
    ] {
        assert_eq!(golden::<AlertState>(wire), state);
    }
}

#[test]
fn alert_status_reads_alertmanager_before_0_28_without_muted_by() {
    let status: AlertStatus =
        serde_json::from_str(r#"{"inhibitedBy":[],"silencedBy":[],"state":"active"}"#).unwrap();
    assert!(status.muted_by.is_empty());
}

#[test]
fn alert_groups_are_as_alertmanager_writes_them() {
    let groups: Vec<AlertGroup> = golden(
        r#"[{"alerts":[{"annotations":{},"endsAt":"2026-12-05T10:05:00.000Z","fingerprint":"744e61ca074bea90","receivers":[{"name":"team-a"}],"startsAt":"2026-12-05T10:00:00.000Z","status":{"inhibitedBy":[],"mutedBy":[],"silencedBy":[],"state":"active"},"updatedAt":"2026-12-05T10:00:00.000Z","labels":{"alertname":"DiskFull"}}],"labels":{"alertname":"DiskFull"},"receiver":{"name":"team-a"}}]"#,
    );
    assert_eq!(groups[0].labels, labels(&[("alertname", "DiskFull")]));
    assert_eq!(groups[0].receiver.name, "team-a");
    assert_eq!(groups[0].alerts[0].fingerprint, "744e61ca074bea90");
}

#[test]
fn postable_alerts_read_what_amtool_and_curl_send() {
    // `amtool alert add alertname=Test severity=page --annotation=summary=hi`: Go's zero time
    // for both unset times.
    let posted: Vec<PostableAlert> = golden(
        r#"[{"annotations":{"summary":"hi"},"endsAt":"0001-01-01T00:00:00.000Z","startsAt":"0001-01-01T00:00:00.000Z","labels":{"alertname":"Test","severity":"page"}}]"#,
    );
    assert_eq!(posted[0].starts_at.as_deref(), Some(GO_ZERO_TIME));
    assert_eq!(
        parse_rfc3339_ms(posted[0].ends_at.as_deref().unwrap()),
        Ok(GO_ZERO_TIME_MS)
    );
    // `amtool alert add alertname=Test2 --start=... --end=... --generator-url=http://x/`.
    let posted: Vec<PostableAlert> = golden(
        r#"[{"endsAt":"2026-12-05T11:00:00.000Z","startsAt":"2026-12-05T10:00:00.000Z","generatorURL":"http://x/","labels":{"alertname":"Test2"}}]"#,
    );
    assert_eq!(posted[0].generator_url.as_deref(), Some("http://x/"));
    assert!(posted[0].annotations.is_empty());
    // The least a sender may post: labels, nothing else.
    let posted: Vec<PostableAlert> = golden(r#"[{"labels":{"alertname":"DiskFull"}}]"#);
    assert_eq!(
        posted[0],
        PostableAlert {
            labels: labels(&[("alertname", "DiskFull")]),
            ..PostableAlert::default()
        }
    );
}

#[test]
fn postable_alert_without_labels_does_not_read() {
    // Alertmanager answers 422 (`0.labels in body is required`).
    assert!(serde_json::from_str::<Vec<PostableAlert>>(r#"[{"annotations":{}}]"#).is_err());
}

/// `GET /api/v2/silences`, in Alertmanager's order (active, pending, expired): a regex and a
/// negative matcher, annotations (0.32 and later), and each state.
const SILENCES: &str = r#"[{"id":"4a912b00-cfd3-4e9e-b3fb-0c490a1c1055","status":{"state":"active"},"updatedAt":"2026-12-05T10:00:00.000Z","comment":"maintenance","createdBy":"ops","endsAt":"2026-12-31T10:00:00.000Z","matchers":[{"isEqual":true,"isRegex":false,"name":"alertname","value":"HighLatency"},{"isEqual":false,"isRegex":true,"name":"severity","value":"warn|info"}],"startsAt":"2026-12-05T10:00:00.000Z"},{"id":"a6afe797-1809-4ecf-942c-ff8598071309","status":{"state":"active"},"updatedAt":"2026-12-05T10:00:00.000Z","annotations":{"ticket":"OPS-1"},"comment":"annot","createdBy":"ops","endsAt":"2027-12-02T10:00:00.000Z","matchers":[{"isEqual":true,"isRegex":false,"name":"team","value":"db"}],"startsAt":"2026-12-05T10:00:00.000Z"},{"id":"f5384d4d-8609-4ce2-82bc-c15d72cba362","status":{"state":"pending"},"updatedAt":"2026-12-05T10:00:00.000Z","comment":"later","createdBy":"ops","endsAt":"2027-01-31T10:00:00.000Z","matchers":[{"isEqual":true,"isRegex":false,"name":"alertname","value":"Future"}],"startsAt":"2027-01-05T10:00:00.000Z"},{"id":"6a0385f6-b81e-499e-8ab7-f331fca90f2c","status":{"state":"expired"},"updatedAt":"2026-12-05T10:01:00.000Z","comment":"to expire","createdBy":"ops","endsAt":"2026-12-05T10:01:00.000Z","matchers":[{"isEqual":true,"isRegex":false,"name":"a","value":"b"}],"startsAt":"2026-12-05T10:00:00.000Z"}]
"#;

#[test]
fn gettable_silences_are_as_alertmanager_writes_them() {
    let silences: Vec<GettableSilence> = golden(SILENCES);
    let states: Vec<SilenceState> = silences.iter().map(|s| s.status.state).collect();
    assert_eq!(
        states,
        [
            SilenceState::Active,
            SilenceState::Active,
            SilenceState::Pending,
            SilenceState::Expired
        ]
    );
    assert_eq!(
        silences[0].matchers[1],
        Matcher {
            is_equal: false,
            is_regex: true,
            name: "severity".into(),
            value: "warn|info".into(),
        }
    );
    assert_eq!(silences[0].created_by, "ops");
    assert!(silences[0].annotations.is_empty());
    assert_eq!(silences[1].annotations, labels(&[("ticket", "OPS-1")]));
    // `GET /api/v2/silence/{id}` answers one of them, alone.
    let one: GettableSilence = golden(
        r#"{"id":"6a0385f6-b81e-499e-8ab7-f331fca90f2c","status":{"state":"expired"},"updatedAt":"2026-12-05T10:01:00.000Z","comment":"to expire","createdBy":"ops","endsAt":"2026-12-05T10:01:00.000Z","matchers":[{"isEqual":true,"isRegex":false,"name":"a","value":"b"}],"startsAt":"2026-12-05T10:00:00.000Z"}
"#,
    );
    assert_eq!(one, silences[3]);
}

#[test]
fn postable_silences_read_what_amtool_sends() {
    // `amtool silence add alertname=Test 'severity=~pa.*' 'x!=y' --comment=c --author=me`.
    let posted: PostableSilence = golden(
        r#"{"comment":"c","createdBy":"me","endsAt":"2026-12-05T11:00:00.000Z","matchers":[{"isEqual":true,"isRegex":false,"name":"alertname","value":"Test"},{"isEqual":true,"isRegex":true,"name":"severity","value":"pa.*"},{"isEqual":false,"isRegex":false,"name":"x","value":"y"}],"startsAt":"2026-12-05T10:00:00.000Z"}"#,
    );
    assert_eq!(posted.id, None);
    assert_eq!(posted.matchers.len(), 3);
    // An update, with the id first, as go-swagger writes it, and annotations.
    let update: PostableSilence = golden(
        r#"{"id":"4a912b00-cfd3-4e9e-b3fb-0c490a1c1055","annotations":{"ticket":"OPS-1"},"comment":"c","createdBy":"me","endsAt":"2026-12-05T11:00:00.000Z","matchers":[{"isEqual":true,"isRegex":false,"name":"a","value":"b"}],"startsAt":"2026-12-05T10:00:00.000Z"}"#,
    );
    assert_eq!(
        update.id.as_deref(),
        Some("4a912b00-cfd3-4e9e-b3fb-0c490a1c1055")
    );
}

#[test]
fn matcher_is_equal_defaults_to_true_and_is_always_written() {
    let matcher: Matcher =
        serde_json::from_str(r#"{"name":"alertname","value":"X","isRegex":false}"#).unwrap();
    assert!(matcher.is_equal);
    assert_eq!(
        serde_json::to_string(&matcher).unwrap(),
        r#"{"isEqual":true,"isRegex":false,"name":"alertname","value":"X"}"#
    );
    // Alertmanager answers 422 (`matchers.0.isRegex in body is required`).
    assert!(serde_json::from_str::<Matcher>(r#"{"name":"a","value":"b"}"#).is_err());
}

#[test]
fn post_silences_answer_is_the_silence_id() {
    let answer: PostSilencesAnswer =
        golden("{\"silenceID\":\"4a912b00-cfd3-4e9e-b3fb-0c490a1c1055\"}\n");
    assert_eq!(answer.silence_id, "4a912b00-cfd3-4e9e-b3fb-0c490a1c1055");
}

#[test]
fn status_is_as_alertmanager_writes_it() {
    // Clustering disabled: no `name`, `peers` is `[]`.
    let status: AlertmanagerStatus = golden(
        r#"{"cluster":{"peers":[],"status":"disabled"},"config":{"original":"route:\n  receiver: team-a\n"},"uptime":"2026-12-05T10:00:00.000Z","versionInfo":{"branch":"debian/sid","buildDate":"20260929-12:08:01","buildUser":"team+pkg-go@tracker.debian.org","goVersion":"go1.27.1","revision":"0.33.1-5","version":"0.33.1"}}"#,
    );
    assert_eq!(status.cluster.status, ClusterState::Disabled);
    assert_eq!(status.cluster.name, None);
    assert_eq!(status.version_info.version, "0.33.1");
    assert_eq!(status.version_info.go_version, "go1.27.1");
    // Clustering on (`--cluster.listen-address=127.0.0.1:...`), one member, once settled.
    let status: AlertmanagerStatus = golden(
        r#"{"cluster":{"name":"01M93J5F01QTCWDQ2MMQ5YJKGD","peers":[{"address":"127.0.0.1:54547","name":"01M93J5F01QTCWDQ2MMQ5YJKGD"}],"status":"ready"},"config":{"original":"route:\n  receiver: team-a\n"},"uptime":"2026-12-05T10:00:00.000Z","versionInfo":{"branch":"debian/sid","buildDate":"20260929-12:08:01","buildUser":"team+pkg-go@tracker.debian.org","goVersion":"go1.27.1","revision":"0.33.1-5","version":"0.33.1"}}"#,
    );
    assert_eq!(status.cluster.status, ClusterState::Ready);
    assert_eq!(status.cluster.peers[0].address, "127.0.0.1:54547");
    assert_eq!(
        golden::<ClusterState>("\"settling\""),
        ClusterState::Settling
    );
}

#[test]
fn receivers_are_as_alertmanager_writes_them() {
    // 0.33 labels every receiver with at least its name.
    let receivers: Vec<Receiver> = golden(
        r#"[{"labels":{"name":"team-a"},"name":"team-a"},{"labels":{"name":"team-b"},"name":"team-b"}]"#,
    );
    assert_eq!(receivers[1].name, "team-b");
    assert_eq!(receivers[1].labels, labels(&[("name", "team-b")]));
    // Before 0.33: the name alone.
    let receivers: Vec<Receiver> = golden(r#"[{"name":"team-a"}]"#);
    assert!(receivers[0].labels.is_empty());
}

#[test]
fn error_bodies_are_a_string_or_go_openapis_object() {
    // 400 from the alerts handler: one invalid alert, then two (the messages joined by `\n`).
    assert_eq!(
        golden::<ErrorBody>("\"at least one label pair required\"\n"),
        ErrorBody::Message("at least one label pair required".into())
    );
    assert_eq!(
        golden::<ErrorBody>(
            "\"at least one label pair required\\nstart time must be before end time\"\n"
        ),
        ErrorBody::Message(
            "at least one label pair required\nstart time must be before end time".into()
        )
    );
    // 422 from go-openapi: `POST /silences` with `matchers: []`.
    assert_eq!(
        golden::<ErrorBody>(
            r#"{"code":612,"message":"matchers in body should have at least 1 items"}"#
        ),
        ErrorBody::Framework(FrameworkError {
            code: 612,
            message: "matchers in body should have at least 1 items".into(),
        })
    );
}

#[test]
fn rfc3339_ms_writes_as_alertmanager_does() {
    assert_eq!(rfc3339_ms(1_796_464_800_000), "2026-12-05T10:00:00.000Z");
    assert_eq!(rfc3339_ms(1_796_464_800_123), "2026-12-05T10:00:00.123Z");
    assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
    assert_eq!(rfc3339_ms(GO_ZERO_TIME_MS), GO_ZERO_TIME);
    assert_eq!(rfc3339_ms(RFC3339_MIN_MS), "0000-01-01T00:00:00.000Z");
    assert_eq!(rfc3339_ms(RFC3339_MAX_MS), "9999-12-31T23:59:59.999Z");
    assert_eq!(rfc3339_ms(i64::MIN), rfc3339_ms(RFC3339_MIN_MS));
    assert_eq!(rfc3339_ms(i64::MAX), rfc3339_ms(RFC3339_MAX_MS));
}

#[test]
fn parse_rfc3339_ms_reads_what_alertmanager_and_senders_write() {
    let ten = 1_796_464_800_000;
    assert_eq!(parse_rfc3339_ms("2026-12-05T10:00:00.000Z"), Ok(ten));
    assert_eq!(parse_rfc3339_ms("2026-12-05T10:00:00Z"), Ok(ten));
    // An alert keeps its sender's offset in Alertmanager's answers; extra digits are truncated.
    assert_eq!(
        parse_rfc3339_ms("2026-12-05T12:00:00.123456789+02:00"),
        Ok(ten + 123)
    );
    assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59.9995Z"), Ok(-1));
    assert_eq!(parse_rfc3339_ms(GO_ZERO_TIME), Ok(GO_ZERO_TIME_MS));
    for ms in [ten, -1, GO_ZERO_TIME_MS, RFC3339_MIN_MS, RFC3339_MAX_MS] {
        assert_eq!(parse_rfc3339_ms(&rfc3339_ms(ms)), Ok(ms));
    }
    assert!(parse_rfc3339_ms("yesterday").is_err());
    assert!(parse_rfc3339_ms("2026-12-05").is_err());
}
