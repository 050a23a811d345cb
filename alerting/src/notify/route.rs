//! The routing tree at work (Alertmanager's `dispatch/route.go`): which routes an alert's
//! labels take, each route's key and id, and the labels an alert is grouped by.

use std::collections::BTreeMap;

use tidemark_storage::Labels;

use super::alert::labels_string;
use super::config::{GroupBy, Route};

/// A route an alert took, with its key and id.
#[derive(Clone, Debug)]
pub struct Matched<'a> {
    /// The route.
    pub route: &'a Route,
    /// Its key: the matchers of its ancestors and its own (`{}/{severity="page"}`).
    pub key: String,
    /// Its id: its parent's id, its matchers and its position among its siblings
    /// (`{}/{severity="page"}/0`; Alertmanager's `Route.ID`), unique in the tree.
    pub id: String,
}

/// The routes `labels` take from `root` (Alertmanager's `Route.Match`): a route's children in
/// order, the first matching one ending the search unless it has `continue`; a route none of
/// whose children match is taken itself. Empty when `root`'s own matchers do not match.
pub fn matching<'a>(root: &'a Route, labels: &Labels) -> Vec<Matched<'a>> {
    let mut out = Vec::new();
    let key = matchers_string(root);
    walk(root, labels, &key, &key, &mut out);
    out
}

fn walk<'a>(route: &'a Route, labels: &Labels, key: &str, id: &str, out: &mut Vec<Matched<'a>>) {
    if !route.matchers.iter().all(|m| m.matches(labels)) {
        return;
    }
    let before = out.len();
    for (i, child) in route.routes.iter().enumerate() {
        let child_matchers = matchers_string(child);
        let child_key = format!("{key}/{child_matchers}");
        let child_id = format!("{id}/{child_matchers}/{i}");
        let taken = out.len();
        walk(child, labels, &child_key, &child_id, out);
        if out.len() > taken && !child.continue_matching {
            break;
        }
    }
    if out.len() == before {
        out.push(Matched {
            route,
            key: key.to_string(),
            id: id.to_string(),
        });
    }
}

/// Every route of the tree with its key and id, depth first (for the receivers an alert may
/// reach and for the API's status).
pub fn all(root: &Route) -> Vec<Matched<'_>> {
    fn visit<'a>(r: &'a Route, key: String, id: String, out: &mut Vec<Matched<'a>>) {
        for (i, child) in r.routes.iter().enumerate() {
            let child_matchers = matchers_string(child);
            let child_key = format!("{key}/{child_matchers}");
            let child_id = format!("{id}/{child_matchers}/{i}");
            visit(child, child_key, child_id, out);
        }
        out.push(Matched { route: r, key, id });
    }
    let key = matchers_string(root);
    let mut out = Vec::new();
    visit(root, key.clone(), key, &mut out);
    out
}

/// A route's matchers as Alertmanager prints them in keys: `{a="b",c=~"d"}`.
fn matchers_string(route: &Route) -> String {
    let parts: Vec<String> = route.matchers.iter().map(|m| m.to_string()).collect();
    format!("{{{}}}", parts.join(","))
}

/// The labels `labels` are grouped by on `route` (only those the alert has).
pub fn group_labels(route: &Route, labels: &Labels) -> BTreeMap<String, String> {
    match &route.group_by {
        GroupBy::All => labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect(),
        GroupBy::Labels(names) => names
            .iter()
            .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.to_string())))
            .collect(),
    }
}

/// An aggregation group's key as Alertmanager builds it: `{route key}:{group labels}`.
pub fn group_key(route_key: &str, group_labels: &BTreeMap<String, String>) -> String {
    let labels = labels_string(group_labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    format!("{route_key}:{labels}")
}
