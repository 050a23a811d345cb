//! `silence add|list|expire`, as `amtool silence add|query|expire` have them.

use anyhow::{anyhow, bail};
use tidemark_api::alertmanager::{GettableSilence, SilenceState};

use super::args::{parse_cli_matchers, postable_silence, show_api_matcher, show_time};
use super::table::Table;
use super::{AddArgs, Api, Output};

/// `silence add`: the silence built from `args` at `now_ms` (refused here when it does not
/// make sense), posted as its author; prints the new silence's id.
pub fn add(api: &Api, output: Output, args: &AddArgs, now_ms: i64) -> anyhow::Result<()> {
    let silence = postable_silence(args, now_ms).map_err(|e| anyhow!(e))?;
    let answer = api.as_user(&silence.created_by).post_silence(&silence)?;
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&answer)?),
        Output::Table => println!("{}", answer.silence_id),
    }
    Ok(())
}

/// `silence list [MATCHER...]`: the silences the matchers pass (the node filters), active and
/// pending ones or only expired ones; a table, the ids alone (`quiet`), or JSON.
pub fn list(
    api: &Api,
    output: Output,
    matchers: &[String],
    expired: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    let filters: Vec<String> = parse_cli_matchers(matchers)
        .map_err(|e| anyhow!(e))?
        .iter()
        .map(|m| m.to_string())
        .collect();
    let silences = select(api.silences(&filters)?, expired);
    if quiet {
        for s in &silences {
            println!("{}", s.id);
        }
        return Ok(());
    }
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&silences)?),
        Output::Table if silences.is_empty() && expired => println!("no expired silences"),
        Output::Table if silences.is_empty() => println!("no active or pending silences"),
        Output::Table => print!("{}", silence_table(&silences).render("")),
    }
    Ok(())
}

/// The silences `list` shows, in the node's order (active, pending, expired): the expired
/// ones when `expired`, else the others.
pub fn select(silences: Vec<GettableSilence>, expired: bool) -> Vec<GettableSilence> {
    silences
        .into_iter()
        .filter(|s| (s.status.state == SilenceState::Expired) == expired)
        .collect()
}

/// The table `silence list` prints: ID, MATCHERS (as Alertmanager prints them, space
/// separated), STARTS, ENDS (UTC), CREATED BY, COMMENT.
pub fn silence_table(silences: &[GettableSilence]) -> Table {
    let mut table = Table::new(&["ID", "MATCHERS", "STARTS", "ENDS", "CREATED BY", "COMMENT"]);
    for s in silences {
        let matchers: Vec<String> = s.matchers.iter().map(show_api_matcher).collect();
        table.push(vec![
            s.id.clone(),
            matchers.join(" "),
            show_time(&s.starts_at),
            show_time(&s.ends_at),
            s.created_by.clone(),
            s.comment.clone(),
        ]);
    }
    table
}

/// `silence expire ID...`: each silence expired in turn; a failure is told and the others
/// are still tried, then the command fails.
pub fn expire(api: &Api, output: Output, ids: &[String]) -> anyhow::Result<()> {
    let mut expired = Vec::new();
    let mut failed = 0;
    for id in ids {
        match api.expire_silence(id) {
            Ok(()) => {
                if let Output::Table = output {
                    println!("expired {id}");
                }
                expired.push(id.as_str());
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                failed += 1;
            }
        }
    }
    if let Output::Json = output {
        println!("{}", serde_json::to_string_pretty(&expired)?);
    }
    if failed > 0 {
        bail!("{failed} of {} silences not expired", ids.len());
    }
    Ok(())
}
