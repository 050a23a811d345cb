//! `route:`: the routing tree with inherited options resolved as Alertmanager's `NewRoute`
//! resolves them (`dispatch/route.go`), Alertmanager's checks of a route and of the root
//! (`config.go`), and its warnings (`cmd/alertmanager/main.go`).

use std::collections::BTreeMap;

use super::super::time_interval::NamedTimeInterval;
use super::build::{Errors, first_duplicate, matchers};
use super::yaml::RouteYaml;
use super::{
    DEFAULT_GROUP_INTERVAL_MS, DEFAULT_GROUP_WAIT_MS, DEFAULT_REPEAT_INTERVAL_MS, GroupBy,
    Receiver, Route,
};
use crate::rules::PromDuration;

/// What a route takes from its parent when it does not say (the root: Alertmanager's
/// `DefaultRouteOpts`).
struct Inherited<'a> {
    receiver: &'a str,
    group_by: &'a GroupBy,
    group_wait_ms: i64,
    group_interval_ms: i64,
    repeat_interval_ms: i64,
}

/// What every route's names are checked against.
struct Known<'a> {
    receivers: &'a BTreeMap<String, Receiver>,
    time_intervals: &'a BTreeMap<String, NamedTimeInterval>,
}

/// The root route and its tree. The root must name a receiver and may have no matchers, no
/// time intervals and no `continue`: every alert takes it.
pub(super) fn root(
    yaml: &RouteYaml,
    receivers: &BTreeMap<String, Receiver>,
    time_intervals: &BTreeMap<String, NamedTimeInterval>,
    errors: &mut Errors,
) -> Route {
    const PATH: &str = "route";
    if yaml.receiver.as_deref().unwrap_or_default().is_empty() {
        errors.push(PATH, "root route must specify a default receiver");
    }
    if !yaml.r#match.is_empty() || !yaml.match_re.is_empty() || !yaml.matchers.is_empty() {
        errors.push(PATH, "root route must not have any matchers");
    }
    if !yaml.mute_time_intervals.is_empty() {
        errors.push(PATH, "root route must not have any mute time intervals");
    }
    if !yaml.active_time_intervals.is_empty() {
        errors.push(PATH, "root route must not have any active time intervals");
    }
    if yaml.r#continue {
        errors.push(PATH, "cannot have continue in root route");
    }
    let defaults = Inherited {
        receiver: "",
        group_by: &GroupBy::Labels(Vec::new()),
        group_wait_ms: DEFAULT_GROUP_WAIT_MS,
        group_interval_ms: DEFAULT_GROUP_INTERVAL_MS,
        repeat_interval_ms: DEFAULT_REPEAT_INTERVAL_MS,
    };
    let known = Known {
        receivers,
        time_intervals,
    };
    route(PATH, yaml, &defaults, &known, errors)
}

/// One route and its children.
fn route(
    path: &str,
    yaml: &RouteYaml,
    parent: &Inherited<'_>,
    known: &Known<'_>,
    errors: &mut Errors,
) -> Route {
    errors.refused(path, yaml.refused());
    let receiver = match yaml.receiver.as_deref().filter(|r| !r.is_empty()) {
        Some(name) => {
            if !known.receivers.contains_key(name) {
                errors.push(
                    &format!("{path}.receiver"),
                    format!("undefined receiver {name:?} used in route"),
                );
            }
            name
        }
        None => parent.receiver,
    };
    let group_by = match &yaml.group_by {
        Some(names) => group_by(&format!("{path}.group_by"), names, errors),
        None => parent.group_by.clone(),
    };
    for (field, value) in [
        ("group_interval", yaml.group_interval),
        ("repeat_interval", yaml.repeat_interval),
    ] {
        if value == Some(PromDuration(0)) {
            errors.push(
                &format!("{path}.{field}"),
                format!("{field} cannot be zero"),
            );
        }
    }
    let matchers = matchers(
        path,
        ["match", "match_re", "matchers"],
        (&yaml.r#match, &yaml.match_re, &yaml.matchers),
        errors,
    );
    for (field, names) in [
        ("mute_time_intervals", &yaml.mute_time_intervals),
        ("active_time_intervals", &yaml.active_time_intervals),
    ] {
        for (i, name) in names.iter().enumerate() {
            if !known.time_intervals.contains_key(name) {
                errors.push(
                    &format!("{path}.{field}[{i}]"),
                    format!("undefined time interval {name:?} used in route"),
                );
            }
        }
    }
    let inherited = Inherited {
        receiver,
        group_by: &group_by,
        group_wait_ms: yaml
            .group_wait
            .map_or(parent.group_wait_ms, PromDuration::as_millis),
        group_interval_ms: yaml
            .group_interval
            .map_or(parent.group_interval_ms, PromDuration::as_millis),
        repeat_interval_ms: yaml
            .repeat_interval
            .map_or(parent.repeat_interval_ms, PromDuration::as_millis),
    };
    let routes = yaml
        .routes
        .iter()
        .enumerate()
        .map(|(i, child)| {
            route(
                &format!("{path}.routes[{i}]"),
                child,
                &inherited,
                known,
                errors,
            )
        })
        .collect();
    Route {
        receiver: receiver.to_string(),
        group_wait_ms: inherited.group_wait_ms,
        group_interval_ms: inherited.group_interval_ms,
        repeat_interval_ms: inherited.repeat_interval_ms,
        group_by,
        matchers,
        continue_matching: yaml.r#continue,
        mute_time_intervals: yaml.mute_time_intervals.clone(),
        active_time_intervals: yaml.active_time_intervals.clone(),
        routes,
    }
}

/// A route's own `group_by`: `['...']` alone is every label; otherwise label names (any
/// non-empty name, Alertmanager's UTF-8 validation), each once. An empty list is kept: it
/// overrides the parent's with no grouping labels.
fn group_by(path: &str, names: &[String], errors: &mut Errors) -> GroupBy {
    let all = names.iter().any(|n| n == "...");
    let labels: Vec<String> = names.iter().filter(|n| *n != "...").cloned().collect();
    if all && !labels.is_empty() {
        errors.push(
            path,
            "cannot have wildcard group_by (`...`) and other labels at the same time",
        );
    }
    for name in &labels {
        if name.is_empty() {
            errors.push(path, "invalid label name \"\" in group_by list");
        }
    }
    if let Some(name) = first_duplicate(&labels) {
        errors.push(path, format!("duplicated label {name:?} in group_by"));
    }
    if all {
        GroupBy::All
    } else {
        GroupBy::Labels(labels)
    }
}

/// [`super::NotifierConfig::warnings`]: the tree's routes root first, each warning starting
/// with the route's path.
pub(super) fn warnings(root: &Route, retention_ms: i64) -> Vec<String> {
    fn visit(route: &Route, path: &str, retention_ms: i64, out: &mut Vec<String>) {
        let repeat = PromDuration(route.repeat_interval_ms);
        if route.repeat_interval_ms > retention_ms {
            out.push(format!(
                "{path}: repeat_interval ({repeat}) is greater than the data retention period \
                 ({}); it can lead to notifications being repeated more often than expected",
                PromDuration(retention_ms)
            ));
        }
        if route.repeat_interval_ms < route.group_interval_ms {
            out.push(format!(
                "{path}: repeat_interval ({repeat}) is less than group_interval ({}); \
                 notifications will not repeat until the next group_interval",
                PromDuration(route.group_interval_ms)
            ));
        }
        for (i, child) in route.routes.iter().enumerate() {
            visit(child, &format!("{path}.routes[{i}]"), retention_ms, out);
        }
    }
    let mut out = Vec::new();
    visit(root, "route", retention_ms, &mut out);
    out
}
