//! `rules list`, `rules get` and `rules delete`: the server's groups read, and deleted, by
//! name.

use std::collections::BTreeMap;

use super::client::{read_group, read_namespaces};
use super::{Api, Output};

/// `rules list`: every namespace and its groups, as a table, or as JSON (namespace to group
/// names).
pub fn list(api: &Api, output: Output) -> anyhow::Result<()> {
    let namespaces = api.namespaces()?;
    if let Output::Json = output {
        let names: BTreeMap<&str, Vec<&str>> = namespaces
            .iter()
            .map(|(ns, groups)| {
                (
                    ns.as_str(),
                    groups.iter().map(|g| g.name.as_str()).collect(),
                )
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&names)?);
        return Ok(());
    }
    if namespaces.is_empty() {
        println!("no rule groups");
        return Ok(());
    }
    let width = |len: usize| len.max(9);
    let ns_width = width(namespaces.keys().map(String::len).max().unwrap_or(0));
    let group_width = width(
        namespaces
            .values()
            .flatten()
            .map(|g| g.name.len())
            .max()
            .unwrap_or(0),
    );
    println!(
        "{:<ns_width$}  {:<group_width$}  RULES",
        "NAMESPACE", "GROUP"
    );
    for (ns, groups) in &namespaces {
        for g in groups {
            println!(
                "{ns:<ns_width$}  {:<group_width$}  {}",
                g.name,
                g.rules.len()
            );
        }
    }
    Ok(())
}

/// `rules get NAMESPACE [GROUP]`: the namespace's groups, or one group, as the server writes
/// them (YAML), or as JSON.
pub fn get(api: &Api, output: Output, namespace: &str, group: Option<&str>) -> anyhow::Result<()> {
    let yaml = match group {
        Some(g) => api.group_yaml(namespace, g)?,
        None => api.namespace_yaml(namespace)?,
    };
    match (output, group) {
        (Output::Table, _) => print!("{yaml}"),
        (Output::Json, Some(_)) => {
            println!("{}", serde_json::to_string_pretty(&read_group(&yaml)?)?)
        }
        (Output::Json, None) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&read_namespaces(&yaml)?)?
            )
        }
    }
    Ok(())
}

/// `rules delete NAMESPACE [GROUP]`.
pub fn delete(api: &Api, namespace: &str, group: Option<&str>) -> anyhow::Result<()> {
    match group {
        Some(g) => {
            api.delete_group(namespace, g)?;
            println!("deleted group {namespace}/{g}");
        }
        None => {
            api.delete_namespace(namespace)?;
            println!("deleted namespace {namespace}");
        }
    }
    Ok(())
}
