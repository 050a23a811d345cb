//! `tidemarkctl rules lint|sync|diff|list|get|delete` against a real node with an admin
//! token: rule files linted, a directory of two files synced (then again, without changes),
//! a changed group diffed and synced, a group removed from its file deleted, a namespace
//! deleted; the server's answers are checked over HTTP, not through tidemarkctl.
//! Needs the `tidemark` binary next to `tidemarkctl` (a workspace build puts it there).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tidemark_alerting::rules::parse_namespaces;
use tidemark_testkit::{ChildProcess, free_port};

const TOKEN: &str = "rules-test-token";
/// Time the node may take to answer `/-/ready` after start.
const READY_TIMEOUT_MS: u64 = 60_000;

fn tidemark_bin() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_tidemarkctl")).with_file_name("tidemark");
    assert!(p.is_file(), "{} missing: build the workspace", p.display());
    p
}

/// Starts a node (data and log in `dir`) with the admin token; killed when dropped.
fn start(dir: &Path, http: &str, grpc: &str) -> ChildProcess {
    let config = dir.join("node.yaml");
    std::fs::write(&config, format!("admin_token: {TOKEN}\n")).unwrap();
    let mut command = Command::new(tidemark_bin());
    command
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--http-listen", http, "--grpc-listen", grpc])
        .arg("--config")
        .arg(&config);
    let mut node = ChildProcess::spawn("n1", command, &dir.join("n1.log")).unwrap();
    node.expect_ready(&format!("http://{http}/-/ready"), READY_TIMEOUT_MS);
    node
}

fn ctl(endpoint: &str, args: &[&str], token: Option<&str>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tidemarkctl"));
    cmd.args(["--endpoint", endpoint]).args(args);
    cmd.env_remove("TIDEMARK_ADMIN_TOKEN");
    if let Some(t) = token {
        cmd.args(["--admin-token", t]);
    }
    cmd.output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(o),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `rules ARGS` with the token; asserts it exits with `code`; its stdout.
fn rules(endpoint: &str, args: &[&str], code: i32) -> String {
    let o = ctl(endpoint, &[&["rules"], args].concat(), Some(TOKEN));
    assert_eq!(o.status.code(), Some(code), "rules {args:?}: {}", text(&o));
    stdout(&o)
}

/// The server's groups, by namespace: names only, in the server's order (from
/// `GET /config/v1/rules`, read with the ruler's own parser).
fn server_groups(endpoint: &str) -> Vec<(String, Vec<String>)> {
    let r = reqwest::blocking::get(format!("{endpoint}/config/v1/rules")).unwrap();
    let status = r.status().as_u16();
    let body = r.text().unwrap();
    if status == 404 && body.trim() == "no rule groups found" {
        return Vec::new();
    }
    assert_eq!(status, 200, "{body}");
    let namespaces = parse_namespaces(&body, &Default::default(), &|_| Ok(())).unwrap();
    namespaces
        .into_iter()
        .map(|(ns, groups)| (ns, groups.into_iter().map(|g| g.name).collect()))
        .collect()
}

fn names(entries: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    entries
        .iter()
        .map(|(ns, gs)| (ns.to_string(), gs.iter().map(|g| g.to_string()).collect()))
        .collect()
}

const API_RULES: &str = r#"
groups:
- name: latency
  interval: 30s
  rules:
  - record: job:latency:p99
    expr: histogram_quantile(0.99, sum by (job, le) (rate(http_bucket[5m])))
  - alert: HighLatency
    expr: job:latency:p99 > 1
    for: 5m
    annotations:
      summary: "{{ $labels.job }} is slow"
- name: errors
  rules:
  - record: job:errors:rate5m
    expr: sum by (job) (rate(errors_total[5m]))
"#;

const DB_RULES: &str = r#"
groups:
- name: db
  rules:
  - alert: DbDown
    expr: up{job="db"} == 0
"#;

#[test]
fn rule_files_are_linted_synced_diffed_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let http = format!("127.0.0.1:{}", free_port());
    let grpc = format!("127.0.0.1:{}", free_port());
    let _node = start(dir.path(), &http, &grpc);
    let e = format!("http://{http}");
    let files = dir.path().join("rules");
    std::fs::create_dir(&files).unwrap();
    let api = files.join("api.yml");
    std::fs::write(&api, API_RULES).unwrap();
    std::fs::write(files.join("db.yaml"), DB_RULES).unwrap();
    let bad = dir.path().join("bad.yml");
    std::fs::write(
        &bad,
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: sum(\n",
    )
    .unwrap();

    // Lint: the directory passes; the bad file fails with its name and the rule at fault.
    let out = rules(&e, &["lint", files.to_str().unwrap()], 0);
    assert!(out.contains("2 rule files valid (3 groups)"), "{out}");
    let o = ctl(&e, &["rules", "lint", bad.to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stdout(&o).contains(&format!("{}: group \"g\", rule 1", bad.display())),
        "{}",
        text(&o)
    );

    // Nothing on the server yet.
    let out = rules(&e, &["list"], 0);
    assert!(out.contains("no rule groups"), "{out}");

    // Without the token the node refuses the first change: the CLI stops there, non-zero.
    let o = ctl(&e, &["rules", "sync", files.to_str().unwrap()], None);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("401"), "{}", text(&o));
    assert!(server_groups(&e).is_empty());

    // Sync: the plan, then each change as it is applied; the server holds both files.
    let out = rules(&e, &["sync", files.to_str().unwrap()], 0);
    let expected = [
        "+ api/latency",
        "+ api/errors",
        "+ db/db",
        "3 to create, 0 to update, 0 to delete, 0 unchanged",
        "applied 1/3: + api/latency",
        "applied 2/3: + api/errors",
        "applied 3/3: + db/db",
        "sync done: 3 created, 0 updated, 0 deleted",
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected, "{out}");
    assert_eq!(
        server_groups(&e),
        names(&[("api", &["latency", "errors"]), ("db", &["db"])])
    );
    let out = rules(&e, &["list"], 0);
    assert!(out.contains("api        latency    2"), "{out}");
    let out = rules(&e, &["get", "api", "latency"], 0);
    assert!(
        out.contains("name: latency") && out.contains("for: 5m"),
        "{out}"
    );

    // Again: nothing to do, and diff agrees (exit 0).
    let out = rules(&e, &["sync", files.to_str().unwrap()], 0);
    assert_eq!(out.trim(), "no changes (3 groups unchanged)");
    let out = rules(&e, &["diff", files.to_str().unwrap()], 0);
    assert_eq!(out.trim(), "no changes (3 groups unchanged)");

    // One group changes: diff shows it with its lines and exits 2; a dry run changes
    // nothing; sync updates that group only.
    std::fs::write(&api, API_RULES.replace("for: 5m", "for: 10m")).unwrap();
    let out = rules(&e, &["diff", files.to_str().unwrap()], 2);
    assert!(out.starts_with("~ api/latency\n"), "{out}");
    assert!(out.contains("    -  for: 5m\n    +  for: 10m\n"), "{out}");
    assert!(
        out.contains("0 to create, 1 to update, 0 to delete, 2 unchanged"),
        "{out}"
    );
    let out = rules(&e, &["sync", "--dry-run", files.to_str().unwrap()], 0);
    assert!(out.contains("dry run: nothing changed"), "{out}");
    rules(&e, &["diff", files.to_str().unwrap()], 2);
    let out = rules(&e, &["sync", files.to_str().unwrap()], 0);
    assert!(out.contains("applied 1/1: ~ api/latency"), "{out}");
    let out = rules(&e, &["get", "api", "latency"], 0);
    assert!(out.contains("for: 10m"), "{out}");
    rules(&e, &["diff", files.to_str().unwrap()], 0);

    // A group no longer in its file is deleted from its namespace; the other namespace is
    // left alone although only one file is synced.
    let without_errors = API_RULES
        .replace("for: 5m", "for: 10m")
        .split("- name: errors")
        .next()
        .unwrap()
        .to_string();
    std::fs::write(&api, without_errors).unwrap();
    let out = rules(&e, &["sync", api.to_str().unwrap()], 0);
    assert!(out.contains("applied 1/1: - api/errors"), "{out}");
    assert_eq!(
        server_groups(&e),
        names(&[("api", &["latency"]), ("db", &["db"])])
    );

    // A namespace deleted, then a second time (404: an error).
    let out = rules(&e, &["delete", "db"], 0);
    assert!(out.contains("deleted namespace db"), "{out}");
    assert_eq!(server_groups(&e), names(&[("api", &["latency"])]));
    let o = ctl(&e, &["rules", "delete", "db"], Some(TOKEN));
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("group namespace does not exist"),
        "{}",
        text(&o)
    );
}
