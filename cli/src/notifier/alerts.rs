//! `alerts [MATCHER...]` (as `amtool alert query`) and `alerts groups`: the notifier's
//! alerts, and the aggregation groups its routes put them in.

use anyhow::anyhow;
use tidemark_api::alertmanager::{AlertGroup, AlertState, GettableAlert};

use super::args::{parse_cli_matchers, show_label, show_time};
use super::client::AlertQuery;
use super::table::Table;
use super::{AlertFilter, Api, Output};

/// The label that names an alert.
const ALERTNAME: &str = "alertname";

/// The query `filter` asks for: its matchers (read as on the command line, sent as
/// Alertmanager prints them) and flags.
pub fn query(filter: &AlertFilter) -> Result<AlertQuery, String> {
    Ok(AlertQuery {
        filters: parse_cli_matchers(&filter.matchers)?
            .iter()
            .map(|m| m.to_string())
            .collect(),
        receiver: filter.receiver.clone(),
        silenced: filter.silenced,
        inhibited: filter.inhibited,
    })
}

/// `alerts [MATCHER...]`.
pub fn list(api: &Api, output: Output, filter: &AlertFilter) -> anyhow::Result<()> {
    let alerts = api.alerts(&query(filter).map_err(|e| anyhow!(e))?)?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&alerts)?),
        Output::Table if alerts.is_empty() => println!("no alerts"),
        Output::Table => print!("{}", alert_table(&alerts).render("")),
    }
    Ok(())
}

/// `alerts groups [MATCHER...]`: per group, a line naming its receiver and its labels, then
/// its alerts as `alerts` shows them.
pub fn groups(api: &Api, output: Output, filter: &AlertFilter) -> anyhow::Result<()> {
    let groups = api.alert_groups(&query(filter).map_err(|e| anyhow!(e))?)?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&groups)?),
        Output::Table if groups.is_empty() => println!("no alert groups"),
        Output::Table => print!("{}", show_groups(&groups)),
    }
    Ok(())
}

/// The table `alerts` prints: ALERTNAME, STARTS (UTC), STATE, RECEIVERS (comma separated),
/// LABELS (the others, as matchers print them).
pub fn alert_table(alerts: &[GettableAlert]) -> Table {
    let mut table = Table::new(&["ALERTNAME", "STARTS", "STATE", "RECEIVERS", "LABELS"]);
    for a in alerts {
        let receivers: Vec<&str> = a.receivers.iter().map(|r| r.name.as_str()).collect();
        let labels: Vec<String> = a
            .labels
            .iter()
            .filter(|(name, _)| *name != ALERTNAME)
            .map(|(name, value)| show_label(name, value))
            .collect();
        table.push(vec![
            a.labels.get(ALERTNAME).cloned().unwrap_or_default(),
            show_time(&a.starts_at),
            state(a),
            receivers.join(","),
            labels.join(" "),
        ]);
    }
    table
}

/// An alert's state as tables show it: `active`, `unprocessed`, or `suppressed` with why
/// (`suppressed (silenced, inhibited)`).
pub fn state(alert: &GettableAlert) -> String {
    match alert.status.state {
        AlertState::Active => "active".into(),
        AlertState::Unprocessed => "unprocessed".into(),
        AlertState::Suppressed => {
            let status = &alert.status;
            let why: Vec<&str> = [
                (!status.silenced_by.is_empty(), "silenced"),
                (!status.inhibited_by.is_empty(), "inhibited"),
                (!status.muted_by.is_empty(), "muted"),
            ]
            .into_iter()
            .filter_map(|(holds, name)| holds.then_some(name))
            .collect();
            if why.is_empty() {
                "suppressed".into()
            } else {
                format!("suppressed ({})", why.join(", "))
            }
        }
    }
}

/// `alerts groups`' table output: each group's line (`receiver R, group {a="b"}: N alerts`)
/// and its alerts' table, indented, groups a blank line apart.
pub fn show_groups(groups: &[AlertGroup]) -> String {
    let mut out = String::new();
    for (i, g) in groups.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let labels: Vec<String> = g
            .labels
            .iter()
            .map(|(name, value)| show_label(name, value))
            .collect();
        let count = match g.alerts.len() {
            1 => "1 alert".to_string(),
            n => format!("{n} alerts"),
        };
        out.push_str(&format!(
            "receiver {}, group {{{}}}: {count}\n",
            g.receiver.name,
            labels.join(",")
        ));
        out.push_str(&alert_table(&g.alerts).render("  "));
    }
    out
}
