//! `cluster status`: the node's view of the cluster map and of every group, as a table or as
//! the node's answer; `cluster join-token`: what a new node joins with.

use tidemark_api::{ClusterStatus, GroupStatus};

use super::{Ctx, STATUS_PATH, id_list};

/// Where an admin reads the join token.
const JOIN_TOKEN_PATH: &str = "/api/v1/admin/cluster/join-token";

/// What `GET /api/v1/admin/cluster/join-token` answers.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct JoinTokenAnswer {
    join_token: String,
}

/// `cluster join-token`: the token alone on a line (for `--join-token "$(...)"`), or the
/// node's answer as JSON.
pub fn join_token(ctx: &Ctx) -> anyhow::Result<()> {
    let answer = ctx.get::<JoinTokenAnswer>(JOIN_TOKEN_PATH)?;
    if !ctx.table() {
        return ctx.print_json(&answer);
    }
    let token = answer
        .into_result()
        .map_err(|e| anyhow::anyhow!("{}{JOIN_TOKEN_PATH}: {e}", ctx.base))?;
    println!("{}", token.join_token);
    Ok(())
}

/// `cluster status`: the node's view of the cluster map and of every group.
pub fn status(ctx: &Ctx) -> anyhow::Result<()> {
    if !ctx.table() {
        return ctx.print_json(&ctx.get::<ClusterStatus>(STATUS_PATH)?);
    }
    let d = ctx.cluster_status()?;
    println!(
        "cluster {}  shards {}  replication factor {}  (as node {} sees it)",
        d.cluster_id, d.shard_count, d.replication_factor, d.node_id
    );
    println!();
    println!("{:<24} SHARDS", "SHARD MAP FROM");
    for v in &d.shard_map {
        let from = match v.start_ms {
            i64::MIN => "the beginning".to_string(),
            ms => utc(ms),
        };
        println!("{from:<24} {}", v.shard_count);
    }
    println!();
    println!("{:<6} ADDRESS", "NODE");
    for (id, addr) in &d.nodes {
        println!("{id:<6} {addr}");
    }
    println!();
    println!(
        "{:<6} {:<6} {:<7} {:<5} {:>9} {:>9} {:>9} {:>6}  {:<10} LEARNERS",
        "GROUP", "SHARD", "LEADER", "TERM", "LAST_LOG", "APPLIED", "FLUSHED", "LAG", "VOTERS"
    );
    for g in &d.groups {
        print_group(g);
    }
    Ok(())
}

/// One line of the group table.
fn print_group(g: &GroupStatus) {
    let num = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
    let lag = match (g.last_log_index, g.applied_index) {
        (Some(l), Some(a)) => l.saturating_sub(a).to_string(),
        _ => "-".into(),
    };
    let group = match (g.shard, g.group_id) {
        (Some(_), id) => id.to_string(),
        (None, tidemark_api::RULER_GROUP_ID) => "ruler".to_string(),
        (None, _) => "meta".to_string(),
    };
    println!(
        "{:<6} {:<6} {:<7} {:<5} {:>9} {:>9} {:>9} {:>6}  {:<10} {}",
        group,
        num(g.shard.map(u64::from)),
        num(g.leader),
        g.term,
        num(g.last_log_index),
        num(g.applied_index),
        num(g.flushed_index),
        lag,
        id_list(&g.voters),
        id_list(&g.learners),
    );
}

/// `ms` since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub(super) fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (proleptic Gregorian), after Howard Hinnant's algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_civil_time() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(
            utc(1_795_651_200_000 + 3_723_000),
            "2026-11-26 01:02:03 UTC"
        );
        assert_eq!(utc(-1000), "1969-12-31 23:59:59 UTC");
    }
}
