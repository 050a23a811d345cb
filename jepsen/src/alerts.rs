//! The `alerts` workload: one alerting rule over a gauge the workload itself sets, the ruler's
//! notifications caught by a fake Alertmanager in the harness, and a checker over both.
//!
//! - this file: the rule group, the gauge's episodes (written through random nodes with
//!   retries, every attempt recorded), and the final episode after healing;
//! - `fake_am.rs`: the fake Alertmanager (records every alert it is sent, with the time it
//!   arrived);
//! - `check.rs`: the checker.
//!
//! Episode `k` is the series `jepsen_alert_gauge{episode="k"}`: set to 1 when the episode
//! starts, to 0 when it ends, and never written again; the rule `jepsen_alert_gauge > 0`
//! (`for: 2s`, interval 1 s) makes it one alert, `{alertname="JepsenAlert", episode="k"}`.
//! Within a series every attempt has a later timestamp than the one before and every 1 comes
//! before every 0, so whatever subset of the indeterminate attempts was applied, the condition
//! held at query time `q` exactly when the latest sample at or before `q` is a 1.

mod check;
mod fake_am;
mod report;

use std::time::{Duration, Instant};

use prost::Message;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tidemark_proto::prometheus as pb;

pub use check::{
    AlertCheck, DuplicateStart, Expiry, check_alerts, disturbed_intervals, undisturbed_pieces,
};
pub use fake_am::{FakeAlertmanager, Notification};

use crate::history::Outcome;
use crate::workload::{label, now_ms, post_write};

/// The gauge the rule reads.
pub const GAUGE: &str = "jepsen_alert_gauge";
/// The label that names the episode.
pub const EPISODE_LABEL: &str = "episode";
/// The alerting rule's name (label `alertname` of its alerts).
pub const ALERT_NAME: &str = "JepsenAlert";
/// The rules namespace the group is uploaded to.
pub const RULES_NAMESPACE: &str = "jepsen";
/// The rule group's name.
pub const RULE_GROUP: &str = "jepsen-alerts";
/// The group's evaluation interval (also the nodes' `ruler.evaluation_interval_ms`).
pub const EVAL_INTERVAL_MS: i64 = 1_000;
/// The rule's `for`.
pub const FOR_MS: i64 = 2_000;
/// The nodes' `ruler.resend_delay_ms`: a firing alert is sent again after this long.
pub const RESEND_DELAY_MS: i64 = 2_000;
/// How long an alert sent as firing stays valid in Alertmanager (`endsAt` - evaluation time):
/// 4 x max(resend delay, interval), the ruler's rule (Prometheus').
pub const VALID_FOR_MS: i64 = 4 * if RESEND_DELAY_MS > EVAL_INTERVAL_MS {
    RESEND_DELAY_MS
} else {
    EVAL_INTERVAL_MS
};
/// How long an episode holds its condition: one in four is short (shorter than `for` plus an
/// interval: it may not fire), the others long.
pub const SHORT_EPISODE_MS: (u64, u64) = (1_000, 1_800);
/// See [`SHORT_EPISODE_MS`].
pub const LONG_EPISODE_MS: (u64, u64) = (4_000, 14_000);
/// Time between the end of one episode and the start of the next.
pub const EPISODE_GAP_MS: (u64, u64) = (1_000, 3_000);
/// Pause between two attempts of one gauge write.
pub const RETRY_PAUSE_MS: u64 = 100;
/// How long the write that ends an episode is retried (also past the time limit: the episode
/// must end before the run is checked).
pub const END_RETRY_MS: u64 = 60_000;
/// How long the rule upload is retried (503 while the ruler group has no leader).
pub const UPLOAD_RETRY_MS: u64 = 60_000;
/// How long the final episode (after healing, no faults) holds its condition once it was
/// acknowledged: `for`, a few intervals and two resends.
pub const FINAL_HOLD_MS: u64 = 12_000;
/// How long the run waits for the final episode's resolved notification after its end was
/// acknowledged.
pub const RESOLVE_WAIT_MS: u64 = 15_000;

/// The rule group uploaded at the start (`POST /config/v1/rules/jepsen`).
pub fn rule_group_yaml() -> String {
    format!(
        "name: {RULE_GROUP}\ninterval: {}s\nrules:\n  - alert: {ALERT_NAME}\n    expr: {GAUGE} > 0\n    for: {}s\n",
        EVAL_INTERVAL_MS / 1000,
        FOR_MS / 1000
    )
}

/// The lines the nodes' configuration gets with this workload: the fake Alertmanager and a
/// ruler that evaluates every second and re-sends every [`RESEND_DELAY_MS`].
pub fn node_config(alertmanager_url: &str) -> String {
    format!(
        "alertmanagers:\n  - {alertmanager_url}\nruler:\n  evaluation_interval_ms: {EVAL_INTERVAL_MS}\n  resend_delay_ms: {RESEND_DELAY_MS}\n"
    )
}

/// One attempt to set an episode's gauge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GaugeWrite {
    /// The episode (label `episode`).
    pub episode: u32,
    /// 1 (the episode's condition holds) or 0 (it ended).
    pub value: u8,
    /// The sample's timestamp, ms since the epoch.
    pub t_ms: i64,
    /// Node (1-based id) the request went to.
    pub node: u32,
    /// Invocation time, ms since the run started.
    pub invoke_ms: u64,
    /// Completion time, ms since the run started.
    pub complete_ms: u64,
    /// Completion time, ms since the epoch (the alerts' clock).
    pub complete_epoch_ms: i64,
    /// The outcome.
    pub outcome: Outcome,
    /// HTTP status or transport error.
    pub detail: String,
}

/// One attempt to upload the rule group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleUpload {
    /// Node (1-based id) the request went to.
    pub node: u32,
    /// Invocation time, ms since the run started.
    pub invoke_ms: u64,
    /// Completion time, ms since the run started.
    pub complete_ms: u64,
    /// Whether it was accepted (202).
    pub accepted: bool,
    /// HTTP status and body, or the transport error.
    pub detail: String,
}

/// What the workload did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AlertHistory {
    /// The rule group's upload attempts.
    pub uploads: Vec<RuleUpload>,
    /// Every attempt to set a gauge, in order.
    pub writes: Vec<GaugeWrite>,
    /// The episode run after healing, if it ran.
    pub final_episode: Option<u32>,
}

impl AlertHistory {
    /// Whether the rule group was accepted.
    pub fn uploaded(&self) -> bool {
        self.uploads.iter().any(|u| u.accepted)
    }

    fn next_episode(&self) -> u32 {
        self.writes.iter().map(|w| w.episode).max().unwrap_or(0) + 1
    }
}

/// Encodes one sample of episode `episode`'s gauge as a remote-write request.
fn encode_gauge(episode: u32, t_ms: i64, value: u8) -> Vec<u8> {
    let req = pb::WriteRequest {
        timeseries: vec![pb::TimeSeries {
            labels: vec![
                label("__name__", GAUGE),
                label(EPISODE_LABEL, &episode.to_string()),
            ],
            samples: vec![pb::Sample {
                value: f64::from(value),
                timestamp: t_ms,
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    snap::raw::Encoder::new()
        .compress_vec(&req.encode_to_vec())
        .unwrap_or_default()
}

/// The writer of the gauges: random nodes, strictly increasing timestamps.
struct Writer<'a> {
    http: &'a reqwest::Client,
    urls: &'a [String],
    started: Instant,
    rng: StdRng,
    last_t_ms: i64,
}

impl Writer<'_> {
    /// Sets episode `episode`'s gauge to `value` through random nodes until a write is
    /// acknowledged or `deadline` passes; records every attempt. Returns whether one was.
    async fn set(
        &mut self,
        h: &mut AlertHistory,
        episode: u32,
        value: u8,
        deadline: Instant,
    ) -> bool {
        loop {
            let node = self.rng.random_range(0..self.urls.len());
            // Later than every earlier attempt: whichever attempts were applied, the last
            // acknowledged value is the series' latest sample.
            let t_ms = now_ms().max(self.last_t_ms + 1);
            self.last_t_ms = t_ms;
            let invoke_ms = self.started.elapsed().as_millis() as u64;
            let (outcome, detail) = post_write(
                self.http,
                &self.urls[node],
                encode_gauge(episode, t_ms, value),
            )
            .await;
            h.writes.push(GaugeWrite {
                episode,
                value,
                t_ms,
                node: node as u32 + 1,
                invoke_ms,
                complete_ms: self.started.elapsed().as_millis() as u64,
                complete_epoch_ms: now_ms(),
                outcome,
                detail,
            });
            if outcome == Outcome::Ok {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
        }
    }

    /// One episode: 1 until acknowledged, held `hold_ms` from the first attempt (or from the
    /// acknowledgement, with `hold_from_ack`), then 0 until acknowledged. Attempts to set 1
    /// stop at the planned end.
    async fn episode(
        &mut self,
        h: &mut AlertHistory,
        episode: u32,
        hold_ms: u64,
        hold_from_ack: bool,
    ) {
        let start = Instant::now();
        let planned_end = start + Duration::from_millis(hold_ms);
        let on = self.set(h, episode, 1, planned_end).await;
        let end = if on && hold_from_ack {
            Instant::now() + Duration::from_millis(hold_ms)
        } else {
            planned_end
        };
        sleep_until(end).await;
        let deadline = Instant::now() + Duration::from_millis(END_RETRY_MS);
        self.set(h, episode, 0, deadline).await;
    }
}

async fn sleep_until(t: Instant) {
    tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await;
}

/// Uploads the rule group through random nodes until one accepts it (202) or
/// [`UPLOAD_RETRY_MS`] passes; records every attempt.
async fn upload(
    h: &mut AlertHistory,
    http: &reqwest::Client,
    urls: &[String],
    started: Instant,
    rng: &mut StdRng,
) {
    let deadline = Instant::now() + Duration::from_millis(UPLOAD_RETRY_MS);
    let body = rule_group_yaml();
    loop {
        let node = rng.random_range(0..urls.len());
        let invoke_ms = started.elapsed().as_millis() as u64;
        let res = http
            .post(format!("{}/config/v1/rules/{RULES_NAMESPACE}", urls[node]))
            .header("Content-Type", "application/yaml")
            .timeout(Duration::from_millis(crate::workload::WRITE_TIMEOUT_MS))
            .body(body.clone())
            .send()
            .await;
        let (accepted, detail) = match res {
            Ok(r) => {
                let status = r.status().as_u16();
                let text: String = r
                    .text()
                    .await
                    .unwrap_or_default()
                    .chars()
                    .take(200)
                    .collect();
                (status == 202, format!("{status} {text}"))
            }
            Err(e) => (false, format!("transport: {e}")),
        };
        h.uploads.push(RuleUpload {
            node: node as u32 + 1,
            invoke_ms,
            complete_ms: started.elapsed().as_millis() as u64,
            accepted,
            detail,
        });
        if accepted || Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs the workload until `until`: uploads the rule group, then episodes one after another
/// through the nodes at `urls` (`urls[i]` is node `i + 1`). The last episode's end may be
/// written after `until` (retried for [`END_RETRY_MS`]).
pub async fn run_alerts(
    seed: u64,
    http: reqwest::Client,
    urls: Vec<String>,
    started: Instant,
    until: Instant,
) -> AlertHistory {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x616c_6572_7473);
    let mut h = AlertHistory::default();
    upload(&mut h, &http, &urls, started, &mut rng).await;
    if !h.uploaded() {
        return h;
    }
    let mut w = Writer {
        http: &http,
        urls: &urls,
        started,
        rng: StdRng::seed_from_u64(rng.random()),
        last_t_ms: 0,
    };
    loop {
        let hold_ms = if rng.random_range(0..4) == 0 {
            rng.random_range(SHORT_EPISODE_MS.0..=SHORT_EPISODE_MS.1)
        } else {
            rng.random_range(LONG_EPISODE_MS.0..=LONG_EPISODE_MS.1)
        };
        let left = until.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(SHORT_EPISODE_MS.0) {
            break;
        }
        let hold_ms = hold_ms.min(left.as_millis() as u64);
        let episode = h.next_episode();
        w.episode(&mut h, episode, hold_ms, false).await;
        let gap = rng.random_range(EPISODE_GAP_MS.0..=EPISODE_GAP_MS.1);
        if Instant::now() + Duration::from_millis(gap) >= until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(gap)).await;
    }
    h
}

/// The final episode, after healing with no fault: [`FINAL_HOLD_MS`] from its
/// acknowledgement, then 0, then waits up to [`RESOLVE_WAIT_MS`] until `am` has received its
/// resolved notification. Its alert must fire, be re-sent while it holds, and resolve.
pub async fn final_episode(
    h: &mut AlertHistory,
    http: &reqwest::Client,
    urls: &[String],
    started: Instant,
    seed: u64,
    am: &FakeAlertmanager,
) {
    if !h.uploaded() {
        return;
    }
    let episode = h.next_episode();
    h.final_episode = Some(episode);
    let mut w = Writer {
        http,
        urls,
        started,
        rng: StdRng::seed_from_u64(seed ^ 0x0066_696e_616c),
        last_t_ms: 0,
    };
    w.episode(h, episode, FINAL_HOLD_MS, true).await;
    let deadline = Instant::now() + Duration::from_millis(RESOLVE_WAIT_MS);
    let wanted = episode.to_string();
    while Instant::now() < deadline {
        let resolved = am
            .received()
            .iter()
            .any(|n| n.is_resolved() && n.labels.get(EPISODE_LABEL).is_some_and(|e| *e == wanted));
        if resolved {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Resolved alerts of earlier episodes are re-sent with every resend: one more round.
    tokio::time::sleep(Duration::from_millis(
        (RESEND_DELAY_MS + EVAL_INTERVAL_MS) as u64,
    ))
    .await;
}
