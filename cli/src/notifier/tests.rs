//! The notifier commands without a server: arguments as clap reads them, matchers, times and
//! durations, the silence `silence add` posts, refusals, and the tables.

use clap::{CommandFactory, Parser};
use reqwest::StatusCode;
use tidemark_alerting::notify::matcher::MatchType;
use tidemark_api::alertmanager::{
    AlertGroup, GettableAlert, GettableSilence, Matcher as ApiMatcher, PostableSilence,
};

use super::alerts::{alert_table, query, show_groups, state};
use super::args::{
    parse_cli_matchers, parse_duration_ms, parse_time_ms, postable_silence, show_api_matcher,
    show_time, to_api,
};
use super::client::{AlertQuery, Api, reason};
use super::config::check_text_in;
use super::silences::{select, silence_table};
use super::table::Table;
use super::{AddArgs, AlertFilter, AlertsCommand, NotifierCommand, SilenceCommand};
use crate::{Cli, Command};

/// 2026-12-05T10:00:00Z.
const NOW_MS: i64 = 1_796_464_800_000;
const HOUR_MS: i64 = 3_600_000;

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `tidemarkctl ARGS` as clap reads it.
fn cli(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("tidemarkctl").chain(args.iter().copied()))
}

/// `silence add`'s arguments: `matchers`, comment `c`, author `me`, nothing else.
fn add_args(matchers: &[&str]) -> AddArgs {
    AddArgs {
        matchers: strings(matchers),
        comment: "c".into(),
        duration: None,
        end: None,
        start: None,
        author: Some("me".into()),
    }
}

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn silence_add_reads_matchers_and_flags_as_amtool_does() {
    let parsed = cli(&[
        "silence",
        "add",
        "alertname=Down",
        r#"instance=~"db.*""#,
        "--comment",
        "disk swap",
        "--duration",
        "2h",
        "--author",
        "alice",
    ])
    .unwrap();
    let Command::Silence(SilenceCommand::Add(args)) = parsed.command else {
        panic!("{:?}", parsed.command);
    };
    assert_eq!(args.matchers, ["alertname=Down", r#"instance=~"db.*""#]);
    assert_eq!(args.comment, "disk swap");
    assert_eq!(args.duration.as_deref(), Some("2h"));
    assert_eq!(args.author.as_deref(), Some("alice"));
    // amtool's short flags.
    let parsed = cli(&["silence", "add", "Down", "-c", "x", "-d", "1d", "-a", "bob"]).unwrap();
    let Command::Silence(SilenceCommand::Add(args)) = parsed.command else {
        panic!("{:?}", parsed.command);
    };
    assert_eq!(
        (args.comment.as_str(), args.duration.as_deref()),
        ("x", Some("1d"))
    );
    // A comment is required, a matcher too, and --duration and --end exclude each other.
    assert!(cli(&["silence", "add", "a=b"]).is_err());
    assert!(cli(&["silence", "add", "--comment", "c"]).is_err());
    let both = cli(&[
        "silence",
        "add",
        "a=b",
        "-c",
        "c",
        "--duration",
        "1h",
        "--end",
        "2026-12-05T12:00:00Z",
    ]);
    assert_eq!(
        both.unwrap_err().kind(),
        clap::error::ErrorKind::ArgumentConflict
    );
}

#[test]
fn silence_list_expire_and_notifier_commands_parse() {
    let parsed = cli(&["silence", "list", "team=db", "--expired", "-q"]).unwrap();
    assert!(matches!(
        parsed.command,
        Command::Silence(SilenceCommand::List { ref matchers, expired: true, quiet: true })
            if matchers == &["team=db"]
    ));
    let parsed = cli(&["silence", "expire", "a", "b"]).unwrap();
    assert!(matches!(
        parsed.command,
        Command::Silence(SilenceCommand::Expire { ref ids }) if ids == &["a", "b"]
    ));
    assert!(cli(&["silence", "expire"]).is_err());
    let parsed = cli(&["notifier", "set", "am.yml", "--output", "json"]).unwrap();
    assert!(matches!(
        parsed.command,
        Command::Notifier(NotifierCommand::Set { ref file }) if file.to_str() == Some("am.yml")
    ));
    assert!(matches!(
        cli(&["notifier", "get"]).unwrap().command,
        Command::Notifier(NotifierCommand::Get)
    ));
    assert!(matches!(
        cli(&["notifier", "delete"]).unwrap().command,
        Command::Notifier(NotifierCommand::Delete)
    ));
    assert!(cli(&["notifier", "check"]).is_err());
}

#[test]
fn alerts_takes_matchers_and_groups_is_a_subcommand() {
    let parsed = cli(&[
        "alerts",
        "alertname=Down",
        "--receiver",
        "team-.*",
        "--silenced",
    ])
    .unwrap();
    let Command::Alerts(args) = parsed.command else {
        panic!("{:?}", parsed.command);
    };
    assert!(args.command.is_none());
    assert_eq!(args.filter.matchers, ["alertname=Down"]);
    assert_eq!(args.filter.receiver.as_deref(), Some("team-.*"));
    assert!(args.filter.silenced && !args.filter.inhibited);

    let parsed = cli(&["alerts", "groups", "severity=page", "--inhibited"]).unwrap();
    let Command::Alerts(args) = parsed.command else {
        panic!("{:?}", parsed.command);
    };
    let Some(AlertsCommand::Groups { filter }) = args.command else {
        panic!("{:?}", args.command);
    };
    assert_eq!(filter.matchers, ["severity=page"]);
    assert!(filter.inhibited && !filter.silenced);

    let parsed = cli(&["alerts"]).unwrap();
    let Command::Alerts(args) = parsed.command else {
        panic!("{:?}", parsed.command);
    };
    assert!(args.command.is_none() && args.filter.matchers.is_empty());
}

#[test]
fn matchers_are_read_in_alertmanagers_syntax() {
    let ms = parse_cli_matchers(&strings(&[
        "alertname=Down",
        r#"instance=~"db.*""#,
        "env!=dev",
        "team!~ops|sre",
    ]))
    .unwrap();
    let kinds: Vec<MatchType> = ms.iter().map(|m| m.kind).collect();
    assert_eq!(
        kinds,
        [
            MatchType::Equal,
            MatchType::Regex,
            MatchType::NotEqual,
            MatchType::NotRegex
        ]
    );
    assert_eq!(ms[1].value, "db.*");
    assert_eq!(ms[3].value, "ops|sre");
    // One argument may hold a list.
    let ms = parse_cli_matchers(&strings(&[r#"{a="b",c=~"d"}"#])).unwrap();
    assert_eq!(ms.len(), 2);
    // A first argument without an operator is the alert name; a later one is an error.
    let ms = parse_cli_matchers(&strings(&["Down", "severity=page"])).unwrap();
    assert_eq!(ms[0].to_string(), r#"alertname="Down""#);
    let err = parse_cli_matchers(&strings(&["a=b", "Down"])).unwrap_err();
    assert!(err.starts_with(r#"matcher "Down": "#), "{err}");
    // An invalid regex is refused, naming the argument.
    let err = parse_cli_matchers(&strings(&["a=~(("])).unwrap_err();
    assert!(err.starts_with(r#"matcher "a=~((": "#), "{err}");
    assert!(parse_cli_matchers(&[]).unwrap().is_empty());
}

#[test]
fn matchers_convert_to_the_apis_form_and_print_back() {
    let ms = parse_cli_matchers(&strings(&["a=1", "b!=2", "c=~3.*", "d!~4|5"])).unwrap();
    let api: Vec<ApiMatcher> = ms.iter().map(to_api).collect();
    let flags: Vec<(bool, bool)> = api.iter().map(|m| (m.is_equal, m.is_regex)).collect();
    assert_eq!(
        flags,
        [(true, false), (false, false), (true, true), (false, true)]
    );
    let shown: Vec<String> = api.iter().map(show_api_matcher).collect();
    assert_eq!(
        shown,
        [r#"a="1""#, r#"b!="2""#, r#"c=~"3.*""#, r#"d!~"4|5""#]
    );
    // A matcher is sent to the node as `filter` in the form it prints, which parses back.
    assert_eq!(
        parse_cli_matchers(&shown).unwrap(),
        parse_cli_matchers(&strings(&["a=1", "b!=2", "c=~3.*", "d!~4|5"])).unwrap()
    );
}

#[test]
fn durations_are_prometheus_durations() {
    for (text, ms) in [
        ("1h", HOUR_MS),
        ("90m", 90 * 60_000),
        ("1h30m", 90 * 60_000),
        ("2d", 48 * HOUR_MS),
        ("1w", 168 * HOUR_MS),
        ("1y", 365 * 24 * HOUR_MS),
        ("1m30s", 90_000),
        ("500ms", 500),
        ("1s500ms", 1_500),
        ("0", 0),
    ] {
        assert_eq!(parse_duration_ms(text), Ok(ms), "{text}");
    }
    for bad in [
        "", "h", "1", "1x", "30m1h", "1h1h", "1.5h", "-1h", " 1h", "1h ",
    ] {
        assert!(parse_duration_ms(bad).is_err(), "{bad:?}");
    }
    assert!(parse_duration_ms("99999999999999y").is_err());
}

#[test]
fn times_are_rfc3339_or_unix_seconds() {
    assert_eq!(parse_time_ms("2026-12-05T10:00:00Z"), Ok(NOW_MS));
    assert_eq!(parse_time_ms("2026-12-05T11:00:00+01:00"), Ok(NOW_MS));
    assert_eq!(parse_time_ms("1796464800"), Ok(NOW_MS));
    assert_eq!(parse_time_ms("1796464800.25"), Ok(NOW_MS + 250));
    for bad in ["tomorrow", "2026-12-05", "", "inf", "1e300"] {
        let err = parse_time_ms(bad).unwrap_err();
        assert!(err.contains("RFC 3339"), "{bad}: {err}");
    }
    assert_eq!(
        show_time("2026-12-05T12:00:00.123+02:00"),
        "2026-12-05 10:00:00 UTC"
    );
    assert_eq!(show_time("not a time"), "not a time");
}

#[test]
fn a_silence_starts_now_and_lasts_an_hour_by_default() {
    let s = postable_silence(&add_args(&["alertname=Down", "instance=~db.*"]), NOW_MS).unwrap();
    // What is posted, as amtool posts it.
    assert_eq!(
        serde_json::to_string(&s).unwrap(),
        r#"{"comment":"c","createdBy":"me","endsAt":"2026-12-05T11:00:00.000Z","matchers":[{"isEqual":true,"isRegex":false,"name":"alertname","value":"Down"},{"isEqual":true,"isRegex":true,"name":"instance","value":"db.*"}],"startsAt":"2026-12-05T10:00:00.000Z"}"#
    );
    let _: PostableSilence = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
}

#[test]
fn a_silence_takes_start_end_and_duration() {
    let mut args = add_args(&["Down"]);
    args.start = Some("2026-12-06T00:00:00Z".into());
    args.duration = Some("1d".into());
    let s = postable_silence(&args, NOW_MS).unwrap();
    assert_eq!(s.starts_at, "2026-12-06T00:00:00.000Z");
    assert_eq!(s.ends_at, "2026-12-07T00:00:00.000Z");
    assert_eq!(s.matchers[0].name, "alertname");

    let mut args = add_args(&["a=b"]);
    args.end = Some("1796493600".into());
    let s = postable_silence(&args, NOW_MS).unwrap();
    assert_eq!(s.starts_at, "2026-12-05T10:00:00.000Z");
    assert_eq!(s.ends_at, "2026-12-05T18:00:00.000Z");
}

#[test]
fn a_silence_that_makes_no_sense_is_refused_before_sending() {
    let refused = |edit: &dyn Fn(&mut AddArgs)| {
        let mut args = add_args(&["a=b"]);
        edit(&mut args);
        postable_silence(&args, NOW_MS).unwrap_err()
    };
    assert!(refused(&|a| a.end = Some("2026-12-05T09:00:00Z".into())).contains("before it starts"));
    assert!(
        refused(&|a| {
            a.start = Some("2026-12-05T08:00:00Z".into());
            a.end = Some("2026-12-05T09:00:00Z".into());
        })
        .contains("in the past")
    );
    assert!(refused(&|a| a.duration = Some("0".into())).contains("longer than 0"));
    assert!(refused(&|a| a.duration = Some("soon".into())).starts_with("--duration: "));
    assert!(refused(&|a| a.start = Some("soon".into())).starts_with("--start: "));
    assert!(refused(&|a| a.comment = " ".into()).contains("--comment"));
    assert!(refused(&|a| a.author = None).contains("--author"));
    assert!(refused(&|a| a.author = Some(String::new())).contains("--author"));
    assert!(
        refused(&|a| a.matchers = strings(&["a=~.*", "b!=x"])).contains("empty string"),
        "matchers an absent label passes would silence everything"
    );
    assert!(refused(&|a| a.matchers = strings(&["{}"])).contains("no matchers"));
    assert!(refused(&|a| a.matchers = strings(&["a=~(("])).contains("a=~(("));
}

#[test]
fn alert_queries_send_active_silenced_inhibited_and_filters() {
    let q = query(&AlertFilter {
        matchers: strings(&["Down", "instance=~db.*"]),
        receiver: Some("team-a".into()),
        silenced: true,
        inhibited: false,
    })
    .unwrap();
    assert_eq!(
        q.params(),
        [
            ("filter", r#"alertname="Down""#.to_string()),
            ("filter", r#"instance=~"db.*""#.to_string()),
            ("receiver", "team-a".to_string()),
            ("active", "true".to_string()),
            ("silenced", "true".to_string()),
            ("inhibited", "false".to_string()),
        ]
    );
    let api = Api::new(
        reqwest::blocking::Client::new(),
        "http://node:9201/",
        None,
        None,
        std::time::Duration::ZERO,
    );
    let url = api.url(&["api", "v2", "alerts"], &q.params()).unwrap();
    assert_eq!(
        url.as_str(),
        "http://node:9201/api/v2/alerts?filter=alertname%3D%22Down%22&filter=instance%3D%7E%22db.*%22&receiver=team-a&active=true&silenced=true&inhibited=false"
    );
    // A silence id is one path segment, whatever it holds.
    let url = api.url(&["api", "v2", "silence", "a/b?c"], &[]).unwrap();
    assert_eq!(url.as_str(), "http://node:9201/api/v2/silence/a%2Fb%3Fc");
    assert_eq!(AlertQuery::default().params().len(), 3);
}

#[test]
fn refusals_show_the_nodes_message_in_any_shape() {
    let bad = StatusCode::BAD_REQUEST;
    assert_eq!(
        reason(
            bad,
            "\"Failed to create silence: end time can't be in the past\"\n"
        ),
        "Failed to create silence: end time can't be in the past"
    );
    assert_eq!(
        reason(
            StatusCode::UNPROCESSABLE_ENTITY,
            r#"{"code":612,"message":"matchers in body should have at least 1 items"}"#
        ),
        "matchers in body should have at least 1 items"
    );
    assert_eq!(
        reason(
            StatusCode::UNAUTHORIZED,
            r#"{"status":"error","errorType":"unauthorized","error":"missing or wrong admin token"}"#
        ),
        "missing or wrong admin token"
    );
    assert_eq!(
        reason(StatusCode::NOT_FOUND, "no notifier configuration is set\n"),
        "no notifier configuration is set"
    );
    assert_eq!(reason(StatusCode::NOT_FOUND, ""), "Not Found");
}

#[test]
fn tables_align_columns_and_keep_rows_on_one_line() {
    let mut t = Table::new(&["A", "LONGER", "C"]);
    t.push(strings(&["wide cell", "x", "last"]));
    t.push(strings(&["y", "two\nlines", ""]));
    assert_eq!(
        t.render("  "),
        "  A          LONGER     C\n  wide cell  x          last\n  y          two lines\n"
    );
}

/// `GET /api/v2/silences` as the node answers it: active, pending, expired.
const SILENCES: &str = r#"[
{"id":"4a912b00-cfd3-4e9e-b3fb-0c490a1c1055","status":{"state":"active"},"updatedAt":"2026-12-05T10:00:00.000Z","comment":"disk swap","createdBy":"alice","endsAt":"2026-12-05T12:00:00.000Z","matchers":[{"isEqual":true,"isRegex":false,"name":"alertname","value":"Down"},{"isEqual":false,"isRegex":true,"name":"instance","value":"db.*"}],"startsAt":"2026-12-05T10:00:00.000Z"},
{"id":"f5384d4d-8609-4ce2-82bc-c15d72cba362","status":{"state":"pending"},"updatedAt":"2026-12-05T10:00:00.000Z","comment":"later\nreally","createdBy":"bob","endsAt":"2027-01-31T10:00:00.000Z","matchers":[{"isEqual":true,"isRegex":false,"name":"team","value":"db"}],"startsAt":"2027-01-05T10:00:00.000Z"},
{"id":"6a0385f6-b81e-499e-8ab7-f331fca90f2c","status":{"state":"expired"},"updatedAt":"2026-12-05T10:01:00.000Z","comment":"old","createdBy":"ops","endsAt":"2026-12-05T10:01:00.000Z","matchers":[{"isEqual":true,"isRegex":false,"name":"a","value":"b"}],"startsAt":"2026-12-05T10:00:00.000Z"}
]"#;

#[test]
fn silence_list_shows_active_and_pending_or_expired() {
    let silences: Vec<GettableSilence> = serde_json::from_str(SILENCES).unwrap();
    let current = select(silences.clone(), false);
    assert_eq!(current.len(), 2);
    assert_eq!(
        silence_table(&current).render(""),
        "\
ID                                    MATCHERS                           STARTS                   ENDS                     CREATED BY  COMMENT
4a912b00-cfd3-4e9e-b3fb-0c490a1c1055  alertname=\"Down\" instance!~\"db.*\"  2026-12-05 10:00:00 UTC  2026-12-05 12:00:00 UTC  alice       disk swap
f5384d4d-8609-4ce2-82bc-c15d72cba362  team=\"db\"                          2027-01-05 10:00:00 UTC  2027-01-31 10:00:00 UTC  bob         later really
"
    );
    let expired = select(silences, true);
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].id, "6a0385f6-b81e-499e-8ab7-f331fca90f2c");
}

/// `GET /api/v2/alerts`: one active alert with two receivers, one silenced and inhibited.
const ALERTS: &str = r#"[
{"annotations":{},"endsAt":"2026-12-05T10:05:00.000Z","fingerprint":"0000000000000001","receivers":[{"name":"team-a"},{"name":"pager"}],"startsAt":"2026-12-05T09:00:00.000Z","status":{"inhibitedBy":[],"silencedBy":[],"state":"active"},"updatedAt":"2026-12-05T10:00:00.000Z","labels":{"alertname":"Down","instance":"db-1","severity":"page"}},
{"annotations":{},"endsAt":"2026-12-05T10:05:00.000Z","fingerprint":"0000000000000002","receivers":[{"name":"team-a"}],"startsAt":"2026-12-05T11:30:00.000+02:00","status":{"inhibitedBy":["0000000000000001"],"silencedBy":["4a912b00-cfd3-4e9e-b3fb-0c490a1c1055"],"state":"suppressed"},"updatedAt":"2026-12-05T10:00:00.000Z","labels":{"alertname":"Slow","team":"a b"}}
]"#;

#[test]
fn alerts_table_shows_name_start_state_receivers_and_labels() {
    let alerts: Vec<GettableAlert> = serde_json::from_str(ALERTS).unwrap();
    assert_eq!(state(&alerts[0]), "active");
    assert_eq!(state(&alerts[1]), "suppressed (silenced, inhibited)");
    assert_eq!(
        alert_table(&alerts).render(""),
        "\
ALERTNAME  STARTS                   STATE                             RECEIVERS     LABELS
Down       2026-12-05 09:00:00 UTC  active                            team-a,pager  instance=\"db-1\" severity=\"page\"
Slow       2026-12-05 09:30:00 UTC  suppressed (silenced, inhibited)  team-a        team=\"a b\"
"
    );
}

#[test]
fn alert_groups_show_each_group_then_its_alerts() {
    let alerts: Vec<GettableAlert> = serde_json::from_str(ALERTS).unwrap();
    let groups: Vec<AlertGroup> = serde_json::from_value(serde_json::json!([
        {"alerts": [alerts[0]], "labels": {"alertname": "Down"}, "receiver": {"name": "pager"}},
        {"alerts": alerts, "labels": {}, "receiver": {"name": "team-a"}},
    ]))
    .unwrap();
    assert_eq!(
        show_groups(&groups),
        "\
receiver pager, group {alertname=\"Down\"}: 1 alert
  ALERTNAME  STARTS                   STATE   RECEIVERS     LABELS
  Down       2026-12-05 09:00:00 UTC  active  team-a,pager  instance=\"db-1\" severity=\"page\"

receiver team-a, group {}: 2 alerts
  ALERTNAME  STARTS                   STATE                             RECEIVERS     LABELS
  Down       2026-12-05 09:00:00 UTC  active                            team-a,pager  instance=\"db-1\" severity=\"page\"
  Slow       2026-12-05 09:30:00 UTC  suppressed (silenced, inhibited)  team-a        team=\"a b\"
"
    );
}

#[test]
fn check_validates_as_the_node_does() {
    let valid = check_text_in(
        "route: {receiver: x}\nreceivers: [{name: x}]\n",
        std::path::Path::new("."),
    );
    assert!(
        valid.valid && valid.errors.is_empty() && valid.warnings.is_empty(),
        "{valid:?}"
    );
    let warned = check_text_in(
        "route: {receiver: x, group_interval: 5m, repeat_interval: 1m}\nreceivers: [{name: x}]\n",
        std::path::Path::new("."),
    );
    assert!(warned.valid, "{warned:?}");
    assert_eq!(warned.warnings.len(), 1, "{warned:?}");
    assert!(
        warned.warnings[0].contains("repeat_interval (1m) is less than group_interval (5m)"),
        "{warned:?}"
    );
    let invalid = check_text_in(
        "route: {receiver: nobody}\nreceivers: [{name: x}]\n",
        std::path::Path::new("."),
    );
    assert!(!invalid.valid);
    assert!(
        invalid.errors.iter().any(|e| e.contains("nobody")),
        "{invalid:?}"
    );
}

#[test]
fn check_reads_the_template_files_next_to_the_configuration() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("t")).unwrap();
    let yaml = "templates: ['t/*.tmpl']\nroute: {receiver: r}\nreceivers: [{name: r}]\n";
    std::fs::write(
        dir.path().join("t/ok.tmpl"),
        r#"{{ define "x" }}x{{ end }}"#,
    )
    .unwrap();
    let report = check_text_in(yaml, dir.path());
    assert!(report.valid, "{:?}", report.errors);
    std::fs::write(dir.path().join("t/bad.tmpl"), r#"{{ define "y" }}"#).unwrap();
    let report = check_text_in(yaml, dir.path());
    assert!(!report.valid);
    assert!(
        report.errors.join("\n").contains("bad.tmpl"),
        "{:?}",
        report.errors
    );
}
