//! The plan (`plan.rs`), the line diff (`diff.rs`) and the reading of rule files
//! (`files.rs`), without a server.

use std::path::PathBuf;

use tidemark_alerting::rules::{RuleGroup, parse_rule_file};
use tidemark_alerting::template::check_alert;

use super::Namespaces;
use super::diff::unified;
use super::files::{find, load_namespaces, namespace_of};
use super::plan::{Kind, Op, Prune, plan};
use super::upload_limits;

/// The groups of a rule file (valid, or the test fails).
fn groups(yaml: &str) -> Vec<RuleGroup> {
    parse_rule_file(yaml, &upload_limits(), &check_alert)
        .unwrap_or_else(|e| panic!("{e}\n{yaml}"))
        .groups
}

/// A group `name` recording `up` as `record`, written the way `yaml` fills in.
fn group(name: &str, record: &str) -> RuleGroup {
    groups(&format!(
        "groups:\n- name: {name}\n  rules:\n  - record: {record}\n    expr: sum(up)\n"
    ))
    .remove(0)
}

fn namespaces(entries: &[(&str, Vec<RuleGroup>)]) -> Namespaces {
    entries
        .iter()
        .map(|(ns, gs)| (ns.to_string(), gs.clone()))
        .collect()
}

/// A plan's lines, as `sync` prints them.
fn lines(local: &Namespaces, remote: &Namespaces, prune: Prune) -> Vec<String> {
    plan(local, remote, prune)
        .changes
        .iter()
        .map(|c| c.to_string())
        .collect()
}

#[test]
fn nothing_on_the_server_creates_every_group_in_file_order() {
    let local = namespaces(&[
        ("b", vec![group("z", "r:z"), group("a", "r:a")]),
        ("a", vec![group("g", "r:g")]),
    ]);
    let p = plan(&local, &Namespaces::new(), Prune::FileNamespaces);
    let shown: Vec<String> = p.changes.iter().map(|c| c.to_string()).collect();
    assert_eq!(shown, ["+ a/g", "+ b/z", "+ b/a"]);
    assert_eq!(p.unchanged, 0);
    assert_eq!(
        p.summary(),
        "3 to create, 0 to update, 0 to delete, 0 unchanged"
    );
    assert!(matches!(&p.changes[0].kind, Kind::Create { local } if local.name == "g"));
}

#[test]
fn the_same_groups_make_no_changes() {
    let local = namespaces(&[("ns", vec![group("a", "r:a"), group("b", "r:b")])]);
    let p = plan(&local, &local.clone(), Prune::AllNamespaces);
    assert!(p.is_empty());
    assert_eq!(p.unchanged, 2);
    assert_eq!(p.summary(), "no changes (2 groups unchanged)");
}

#[test]
fn groups_are_compared_as_parsed_not_as_text() {
    // Same rules: other formatting, a comment, a duration spelled differently, defaults
    // written out, and the groups in another order.
    let local = groups(
        "groups:\n- name: b\n  rules: [{record: r:b, expr: sum(up)}]\n- name: a\n  interval: 60s\n  limit: 0\n  rules:\n  # a comment\n  - alert: Down\n    expr: up == 0\n    for: 300s\n",
    );
    let remote = groups(
        "groups:\n- name: a\n  interval: 1m\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 5m\n    keep_firing_for: 0s\n- name: b\n  rules:\n  - record: r:b\n    expr: sum(up)\n",
    );
    let p = plan(
        &namespaces(&[("ns", local)]),
        &namespaces(&[("ns", remote)]),
        Prune::FileNamespaces,
    );
    assert!(p.is_empty(), "{:?}", p.changes);
    assert_eq!(p.unchanged, 2);
}

#[test]
fn a_changed_group_is_updated_with_both_sides() {
    let local = namespaces(&[("ns", vec![group("a", "r:new"), group("b", "r:b")])]);
    let remote = namespaces(&[("ns", vec![group("a", "r:old"), group("b", "r:b")])]);
    let p = plan(&local, &remote, Prune::FileNamespaces);
    assert_eq!(p.changes.len(), 1);
    let change = &p.changes[0];
    assert_eq!(change.to_string(), "~ ns/a");
    assert_eq!(change.op(), Op::Update);
    assert_eq!(
        change.local().unwrap().rules[0].record.as_deref(),
        Some("r:new")
    );
    assert_eq!(
        change.remote().unwrap().rules[0].record.as_deref(),
        Some("r:old")
    );
    assert_eq!(p.unchanged, 1);
}

#[test]
fn groups_missing_from_a_file_are_deleted_after_the_rest() {
    let local = namespaces(&[("ns", vec![group("new", "r:n")])]);
    let remote = namespaces(&[("ns", vec![group("old", "r:o"), group("gone", "r:g")])]);
    assert_eq!(
        lines(&local, &remote, Prune::FileNamespaces),
        ["+ ns/new", "- ns/old", "- ns/gone"]
    );
}

#[test]
fn other_namespaces_are_deleted_only_when_pruning_all() {
    let local = namespaces(&[("mine", vec![group("a", "r:a")])]);
    let remote = namespaces(&[
        ("mine", vec![group("a", "r:a")]),
        ("theirs", vec![group("x", "r:x"), group("y", "r:y")]),
        ("alpha", vec![group("q", "r:q")]),
    ]);
    assert!(lines(&local, &remote, Prune::FileNamespaces).is_empty());
    assert_eq!(
        lines(&local, &remote, Prune::AllNamespaces),
        ["- alpha/q", "- theirs/x", "- theirs/y"]
    );
    // Deletions come after every creation, in whichever namespace.
    let moved = namespaces(&[("zeta", vec![group("x", "r:x")])]);
    assert_eq!(
        lines(&moved, &remote, Prune::AllNamespaces),
        [
            "+ zeta/x",
            "- alpha/q",
            "- mine/a",
            "- theirs/x",
            "- theirs/y"
        ]
    );
    let p = plan(&local, &remote, Prune::AllNamespaces);
    assert_eq!(
        p.summary(),
        "0 to create, 0 to update, 3 to delete, 1 unchanged"
    );
}

#[test]
fn an_empty_file_empties_its_namespace() {
    let local = namespaces(&[("ns", vec![])]);
    let remote = namespaces(&[("ns", vec![group("a", "r:a")])]);
    assert_eq!(lines(&local, &remote, Prune::FileNamespaces), ["- ns/a"]);
}

#[test]
fn plan_rows_are_what_json_prints() {
    let local = namespaces(&[("ns", vec![group("a", "r:a")])]);
    let p = plan(&local, &Namespaces::new(), Prune::FileNamespaces);
    let json = serde_json::to_value(p.rows()).unwrap();
    assert_eq!(
        json,
        serde_json::json!([{"op": "create", "namespace": "ns", "group": "a"}])
    );
}

#[test]
fn unified_diff_of_equal_texts_is_empty() {
    assert!(unified("a\nb\n", "a\nb\n", 3).is_empty());
    assert!(unified("", "", 3).is_empty());
}

#[test]
fn unified_diff_shows_a_change_with_its_context() {
    let old = "1\n2\n3\n4\n5\n6\n7\n8\n9\n";
    let new = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n";
    assert_eq!(
        unified(old, new, 2),
        ["@@ -3,5 +3,5 @@", " 3", " 4", "-5", "+five", " 6", " 7"]
    );
}

#[test]
fn unified_diff_merges_near_changes_and_splits_far_ones() {
    let old: String = (1..=20).map(|i| format!("{i}\n")).collect();
    let new: String = (1..=20)
        .filter_map(|i| match i {
            2 => Some("two\n".to_string()),
            4 => Some("four\n".to_string()),
            18 => None,
            i => Some(format!("{i}\n")),
        })
        .collect();
    assert_eq!(
        unified(&old, &new, 1),
        [
            "@@ -1,5 +1,5 @@",
            " 1",
            "-2",
            "+two",
            " 3",
            "-4",
            "+four",
            " 5",
            "@@ -17,3 +17,2 @@",
            " 17",
            "-18",
            " 19",
        ]
    );
}

#[test]
fn unified_diff_from_and_to_nothing() {
    assert_eq!(unified("", "a\nb\n", 3), ["@@ -0,0 +1,2 @@", "+a", "+b"]);
    assert_eq!(unified("a\n", "", 3), ["@@ -1,1 +0,0 @@", "-a"]);
}

#[test]
fn unified_diff_matches_moved_lines_by_their_longest_common_run() {
    assert_eq!(
        unified("a\nb\nc\nd\n", "b\nc\nd\na\n", 0),
        ["@@ -1,1 +0,0 @@", "-a", "@@ -4,0 +4,1 @@", "+a"]
    );
}

/// Writes `files` (name, content) into a new directory.
fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    dir
}

const GOOD: &str = "groups:\n- name: g\n  rules:\n  - record: r:up\n    expr: sum(up)\n";

#[test]
fn find_takes_rule_files_below_directories_sorted() {
    let dir = dir_with(&[
        ("b.yml", GOOD),
        ("a.yaml", GOOD),
        ("sub/c.YML", GOOD),
        ("notes.txt", "x"),
    ]);
    let found = find(&[dir.path().to_path_buf()]).unwrap();
    let names: Vec<String> = found
        .iter()
        .map(|p| p.strip_prefix(dir.path()).unwrap().display().to_string())
        .collect();
    assert_eq!(names, ["a.yaml", "b.yml", "sub/c.YML"]);
    assert!(find(&[dir.path().join("missing")]).is_err());
    // A file given by name is read whatever its extension.
    assert_eq!(find(&[dir.path().join("notes.txt")]).unwrap().len(), 1);
}

#[test]
fn each_file_is_the_namespace_of_its_stem() {
    let dir = dir_with(&[("api.yml", GOOD), ("db.rules.yaml", GOOD)]);
    let ns = load_namespaces(&[dir.path().to_path_buf()], None).unwrap();
    assert_eq!(ns.keys().collect::<Vec<_>>(), ["api", "db.rules"]);
    assert_eq!(ns["api"][0].name, "g");
    assert_eq!(
        namespace_of(&PathBuf::from("x/y/z.yml")).unwrap(),
        "z".to_string()
    );
}

#[test]
fn namespace_flag_names_exactly_one_file() {
    let dir = dir_with(&[("a.yml", GOOD), ("b.yml", GOOD)]);
    let one = load_namespaces(&[dir.path().join("a.yml")], Some("prod")).unwrap();
    assert_eq!(one.keys().collect::<Vec<_>>(), ["prod"]);
    let err = load_namespaces(&[dir.path().to_path_buf()], Some("prod")).unwrap_err();
    assert!(err.to_string().contains("2 were found"), "{err}");
}

#[test]
fn two_files_of_one_namespace_and_invalid_files_are_refused_with_their_names() {
    let dir = dir_with(&[
        ("x/ns.yml", GOOD),
        ("y/ns.yaml", GOOD),
        (
            "bad.yml",
            "groups:\n- name: g\n  rules:\n  - record: r\n    expr: sum(\n",
        ),
    ]);
    let err = load_namespaces(&[dir.path().to_path_buf()], None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("namespace \"ns\" is also the namespace of"),
        "{err}"
    );
    assert!(err.contains("bad.yml: group \"g\", rule 1"), "{err}");
    let empty = dir_with(&[("readme.md", "")]);
    assert!(load_namespaces(&[empty.path().to_path_buf()], None).is_err());
}
