//! The `notifier` workload: the built-in notifier (a replicated Alertmanager in the ruler
//! group) under the nemeses, sending to webhook receivers in the harness that fail on purpose.
//!
//! - this file: the notifier's configuration (set through `PUT
//!   /api/v1/admin/notifier/config`), the episodes (alerts posted through `POST
//!   /api/v2/alerts` on random nodes, silences through `POST /api/v2/silences`), and after
//!   healing the final episode and the wait for everything pending;
//! - `receiver.rs`: the webhook receivers (record every request; answer 200 or 500, hang, or
//!   are down);
//! - `check.rs`: the checker;
//! - `report.rs`: the verdict fields and the report's section.
//!
//! Episode `k` is one alert, `{alertname="JepsenNotifyk", episode="k", jepsen="notifier"}`;
//! the configuration groups by `alertname`, so it is also one aggregation group and one group
//! key. While the episode fires, the workload posts the alert every second (as Prometheus
//! re-sends) with `endsAt` [`FIRING_VALID_FOR_MS`] ahead, so that it never expires on its own
//! during a run; it then posts it with `endsAt` = the time of the first resolving attempt
//! until one is acknowledged, and [`RESOLVE_RESENDS`] times more. One episode in four is
//! silenced first: a silence on its `alertname`, created (and acknowledged) before the alert's
//! first post, ending an hour later; no silence is ever expired. Every attempt is recorded
//! with its outcome.

mod check;
mod receiver;
mod report;

use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tidemark_api::alertmanager::{
    Matcher, PostSilencesAnswer, PostableAlert, PostableSilence, rfc3339_ms,
};

pub use check::{
    CheckInput, EpisodeSummary, NotifierCheck, SilenceState, Violation, check_notifier,
};
pub use receiver::{Answer, DownPeriod, FaultPlan, ReceivedAlert, WebhookReceiver, WebhookRequest};

use crate::history::{Outcome, classify_status};
use crate::workload::now_ms;

/// The alerts' name prefix: episode `k`'s alert is `JepsenNotifyk`.
pub const ALERT_PREFIX: &str = "JepsenNotify";
/// The label that names the episode.
pub const EPISODE_LABEL: &str = "episode";
/// The label every alert of the workload carries (the route to the receivers matches it, so
/// the ruler's alerts of the `alerts` workload go elsewhere).
pub const WORKLOAD_LABEL: (&str, &str) = ("jepsen", "notifier");
/// The route's `group_wait`.
pub const GROUP_WAIT_MS: i64 = 1_000;
/// The route's `group_interval`.
pub const GROUP_INTERVAL_MS: i64 = 2_000;
/// The webhooks' `timeout`.
pub const WEBHOOK_TIMEOUT_MS: u64 = 1_000;
/// The webhook receivers, each one integration of the receiver the route sends to.
pub const RECEIVER_NAMES: [&str; 2] = ["hook-a", "hook-b"];
/// Episodes running at once (each lane runs its episodes one after another).
pub const LANES: u32 = 3;
/// How often a firing alert is posted again.
pub const REPOST_INTERVAL_MS: u64 = 1_000;
/// How far ahead a firing post's `endsAt` lies (Prometheus' 4 x its default resend delay):
/// no alert expires on its own during a run.
pub const FIRING_VALID_FOR_MS: i64 = 240_000;
/// Share of the episodes that are silenced first, in percent.
pub const SILENCED_PERCENT: u32 = 25;
/// How long a silence lasts (longer than any run: none expires during its episode).
pub const SILENCE_FOR_MS: i64 = 3_600_000;
/// How long a short episode fires (one in four; it may resolve before its group flushes).
pub const SHORT_HOLD_MS: (u64, u64) = (1_000, 2_500);
/// How long the other episodes fire.
pub const LONG_HOLD_MS: (u64, u64) = (3_000, 12_000);
/// Pause between the episodes of one lane.
pub const GAP_MS: (u64, u64) = (500, 2_000);
/// Bound on one request to a node.
pub const REQUEST_TIMEOUT_MS: u64 = 5_000;
/// Pause between two attempts of one change.
pub const RETRY_PAUSE_MS: u64 = 200;
/// How long setting the configuration is retried.
pub const CONFIG_RETRY_MS: u64 = 60_000;
/// How long creating a silence is retried (the episode goes on without one after that).
pub const SILENCE_RETRY_MS: u64 = 20_000;
/// How long resolving an alert is retried (also past the time limit).
pub const RESOLVE_RETRY_MS: u64 = 60_000;
/// Resolving posts sent after the acknowledged one, a second apart (as Prometheus keeps
/// re-sending resolved alerts).
pub const RESOLVE_RESENDS: u32 = 3;
/// How long the final episode (after healing, no fault) fires once a post is acknowledged.
pub const FINAL_HOLD_MS: u64 = 6_000;
/// The bound: what is required must be delivered, and nothing be pending, this long after the
/// run's final heal (the receivers stop failing at the time limit, before it).
pub const HEAL_WINDOW_MS: i64 = 60_000;
/// The nodes' `notifier.retry_max_ms` in this workload: a notification failing throughout a
/// run is tried again at most this long after the receivers heal (the default, 60 s, would
/// take the whole heal window).
pub const NODE_RETRY_MAX_MS: u64 = 4_000;

/// Episode `k`'s alert name.
pub fn alert_name(episode: u32) -> String {
    format!("{ALERT_PREFIX}{episode}")
}

/// The lines the nodes' configuration gets with this workload: faster retries.
pub fn node_config() -> String {
    format!("notifier:\n  retry_initial_ms: 500\n  retry_max_ms: {NODE_RETRY_MAX_MS}\n")
}

/// The `alertmanager.yml` set through the API: the workload's alerts grouped by `alertname`
/// to one receiver with a webhook per URL (`send_resolved`, a 1 s `timeout`); everything else
/// to a receiver without integrations.
pub fn config_yaml(webhook_urls: &[&str]) -> String {
    let hooks: String = webhook_urls
        .iter()
        .map(|u| {
            format!(
                "      - url: '{u}'\n        send_resolved: true\n        timeout: {}s\n",
                WEBHOOK_TIMEOUT_MS / 1000
            )
        })
        .collect();
    format!(
        "route:\n  receiver: jepsen-blackhole\n  group_by: [alertname]\n  group_wait: {}s\n  group_interval: {}s\n  repeat_interval: 1h\n  routes:\n    - receiver: jepsen-webhooks\n      matchers: ['{}=\"{}\"']\nreceivers:\n  - name: jepsen-blackhole\n  - name: jepsen-webhooks\n    webhook_configs:\n{hooks}",
        GROUP_WAIT_MS / 1000,
        GROUP_INTERVAL_MS / 1000,
        WORKLOAD_LABEL.0,
        WORKLOAD_LABEL.1,
    )
}

/// One attempt to set the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigSet {
    /// Node (1-based id) the request went to.
    pub node: u32,
    /// Invocation time, ms since the run started.
    pub invoke_ms: u64,
    /// Completion time, ms since the run started.
    pub complete_ms: u64,
    /// The outcome.
    pub outcome: Outcome,
    /// HTTP status and body, or the transport error.
    pub detail: String,
}

/// One attempt to create an episode's silence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilencePost {
    /// The episode.
    pub episode: u32,
    /// Node (1-based id) the request went to.
    pub node: u32,
    /// Invocation time, ms since the epoch.
    pub invoke_ms: i64,
    /// Completion time, ms since the epoch.
    pub complete_ms: i64,
    /// The outcome.
    pub outcome: Outcome,
    /// HTTP status and body, or the transport error.
    pub detail: String,
}

/// Whether a post fires or resolves its alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostKind {
    /// `endsAt` in the future.
    Firing,
    /// `endsAt` = the first resolving attempt's time.
    Resolve,
}

/// One attempt to post an episode's alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertPost {
    /// The episode.
    pub episode: u32,
    /// Firing or resolving.
    pub kind: PostKind,
    /// Node (1-based id) the request went to.
    pub node: u32,
    /// Invocation time, ms since the epoch.
    pub invoke_ms: i64,
    /// Completion time, ms since the epoch.
    pub complete_ms: i64,
    /// The alert's `startsAt` (the episode's start), ms since the epoch.
    pub starts_at_ms: i64,
    /// The alert's `endsAt`, ms since the epoch.
    pub ends_at_ms: i64,
    /// The outcome.
    pub outcome: Outcome,
    /// HTTP status and body, or the transport error.
    pub detail: String,
}

/// What an episode was planned to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodePlan {
    /// The episode.
    pub episode: u32,
    /// Whether it is silenced first.
    pub silenced: bool,
    /// How long it fires.
    pub hold_ms: u64,
    /// The final episode, after healing.
    pub final_episode: bool,
}

/// The replicated notifier's status as one node showed it at the end (`GET
/// /api/v1/status/notifier`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node.
    pub node: u32,
    /// Why there is no status, if there is none.
    pub error: Option<String>,
    /// Whether a configuration is set.
    pub configured: bool,
    /// Notifications not delivered yet.
    pub pending: Vec<serde_json::Value>,
    /// Notifications given up.
    pub given_up: Vec<serde_json::Value>,
    /// The replicated totals.
    pub totals: serde_json::Value,
}

/// What the workload did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NotifierHistory {
    /// Attempts to set the configuration.
    pub configs: Vec<ConfigSet>,
    /// Episodes as planned, in order of their start.
    pub episodes: Vec<EpisodePlan>,
    /// Attempts to create silences.
    pub silences: Vec<SilencePost>,
    /// Attempts to post alerts.
    pub posts: Vec<AlertPost>,
    /// The episode run after healing, if it ran.
    pub final_episode: Option<u32>,
}

impl NotifierHistory {
    /// Whether the configuration was acknowledged.
    pub fn configured(&self) -> bool {
        self.configs.iter().any(|c| c.outcome == Outcome::Ok)
    }

    fn extend(&mut self, other: NotifierHistory) {
        self.episodes.extend(other.episodes);
        self.silences.extend(other.silences);
        self.posts.extend(other.posts);
    }

    fn sort(&mut self) {
        self.episodes.sort_by_key(|e| e.episode);
        self.silences.sort_by_key(|s| (s.invoke_ms, s.episode));
        self.posts.sort_by_key(|p| (p.invoke_ms, p.episode));
    }
}

/// A request's outcome and what was answered (status and up to 300 characters of the body, or
/// the transport error), and the whole body of a 2xx answer.
async fn call(req: reqwest::RequestBuilder) -> (Outcome, String, Option<String>) {
    match req
        .timeout(Duration::from_millis(REQUEST_TIMEOUT_MS))
        .send()
        .await
    {
        Ok(r) => {
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            let detail = format!("{status} {}", text.chars().take(300).collect::<String>());
            let outcome = classify_status(status);
            (outcome, detail, (outcome == Outcome::Ok).then_some(text))
        }
        // Refused before anything was sent: definitely not applied.
        Err(e) if e.is_connect() => (Outcome::Fail, format!("connect: {e}"), None),
        Err(e) => (Outcome::Indeterminate, format!("transport: {e}"), None),
    }
}

/// Sets the configuration through random nodes until one acknowledges it or
/// [`CONFIG_RETRY_MS`] passes; a 400 (the configuration refused) ends the attempts.
async fn set_config(
    h: &mut NotifierHistory,
    http: &reqwest::Client,
    urls: &[String],
    started: Instant,
    rng: &mut StdRng,
    yaml: &str,
) {
    let deadline = Instant::now() + Duration::from_millis(CONFIG_RETRY_MS);
    loop {
        let node = rng.random_range(0..urls.len());
        let invoke_ms = started.elapsed().as_millis() as u64;
        let (outcome, detail, _) = call(
            http.put(format!("{}/api/v1/admin/notifier/config", urls[node]))
                .header("Content-Type", "application/yaml")
                .header("X-Tidemark-User", "tidemark-jepsen")
                .body(yaml.to_string()),
        )
        .await;
        let refused = detail.starts_with("400 ");
        h.configs.push(ConfigSet {
            node: node as u32 + 1,
            invoke_ms,
            complete_ms: started.elapsed().as_millis() as u64,
            outcome,
            detail,
        });
        if outcome == Outcome::Ok || refused || Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One lane's client: random nodes, its own random choices.
struct Client<'a> {
    http: &'a reqwest::Client,
    urls: &'a [String],
    rng: StdRng,
}

impl Client<'_> {
    fn node(&mut self) -> usize {
        self.rng.random_range(0..self.urls.len())
    }

    /// Creates episode `episode`'s silence through random nodes until one is acknowledged or
    /// [`SILENCE_RETRY_MS`] passes.
    async fn silence(&mut self, h: &mut NotifierHistory, episode: u32) {
        let deadline = Instant::now() + Duration::from_millis(SILENCE_RETRY_MS);
        loop {
            let node = self.node();
            let invoke_ms = now_ms();
            let body = PostableSilence {
                id: None,
                annotations: Default::default(),
                comment: format!("jepsen episode {episode}"),
                created_by: "tidemark-jepsen".into(),
                starts_at: rfc3339_ms(invoke_ms),
                ends_at: rfc3339_ms(invoke_ms + SILENCE_FOR_MS),
                matchers: vec![Matcher {
                    is_equal: true,
                    is_regex: false,
                    name: "alertname".into(),
                    value: alert_name(episode),
                }],
            };
            let (mut outcome, detail, text) = call(
                self.http
                    .post(format!("{}/api/v2/silences", self.urls[node]))
                    .header("X-Tidemark-User", "tidemark-jepsen")
                    .json(&body),
            )
            .await;
            // A 2xx without a silence id is no acknowledgement.
            if let Some(text) = text
                && serde_json::from_str::<PostSilencesAnswer>(&text).is_err()
            {
                outcome = Outcome::Indeterminate;
            }
            h.silences.push(SilencePost {
                episode,
                node: node as u32 + 1,
                invoke_ms,
                complete_ms: now_ms(),
                outcome,
                detail,
            });
            if outcome == Outcome::Ok || Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
        }
    }

    /// Posts episode `episode`'s alert once.
    async fn post(
        &mut self,
        h: &mut NotifierHistory,
        episode: u32,
        kind: PostKind,
        starts_at_ms: i64,
        ends_at_ms: i64,
    ) -> Outcome {
        let node = self.node();
        let labels = [
            ("alertname".to_string(), alert_name(episode)),
            (EPISODE_LABEL.to_string(), episode.to_string()),
            (WORKLOAD_LABEL.0.to_string(), WORKLOAD_LABEL.1.to_string()),
        ]
        .into_iter()
        .collect();
        let body = vec![PostableAlert {
            annotations: Default::default(),
            ends_at: Some(rfc3339_ms(ends_at_ms)),
            starts_at: Some(rfc3339_ms(starts_at_ms)),
            generator_url: None,
            labels,
        }];
        let invoke_ms = now_ms();
        let (outcome, detail, _) = call(
            self.http
                .post(format!("{}/api/v2/alerts", self.urls[node]))
                .json(&body),
        )
        .await;
        h.posts.push(AlertPost {
            episode,
            kind,
            node: node as u32 + 1,
            invoke_ms,
            complete_ms: now_ms(),
            starts_at_ms,
            ends_at_ms,
            outcome,
            detail,
        });
        outcome
    }

    /// One episode: the silence first if planned, then the alert posted every
    /// [`REPOST_INTERVAL_MS`] for `plan.hold_ms` from its start (or, for the final episode,
    /// from the first acknowledgement), then resolved.
    async fn episode(&mut self, h: &mut NotifierHistory, plan: EpisodePlan) {
        let episode = plan.episode;
        let (silenced, hold_ms, from_ack) = (plan.silenced, plan.hold_ms, plan.final_episode);
        h.episodes.push(plan);
        if silenced {
            self.silence(h, episode).await;
        }
        let starts_at_ms = now_ms();
        let hold = Duration::from_millis(hold_ms);
        let mut end = Instant::now() + hold;
        let mut acked = false;
        let mut tick = tokio::time::interval(Duration::from_millis(REPOST_INTERVAL_MS));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if Instant::now() >= end {
                break;
            }
            let ends_at_ms = now_ms() + FIRING_VALID_FOR_MS;
            let outcome = self
                .post(h, episode, PostKind::Firing, starts_at_ms, ends_at_ms)
                .await;
            if outcome == Outcome::Ok && !acked {
                acked = true;
                if from_ack {
                    end = Instant::now() + hold;
                }
            }
        }
        // Every resolving attempt carries the same end, as Prometheus' resolved alerts do.
        let resolved_at_ms = now_ms();
        let deadline = Instant::now() + Duration::from_millis(RESOLVE_RETRY_MS);
        let mut resolved = false;
        while !resolved && Instant::now() < deadline {
            resolved = self
                .post(h, episode, PostKind::Resolve, starts_at_ms, resolved_at_ms)
                .await
                == Outcome::Ok;
            if !resolved {
                tokio::time::sleep(Duration::from_millis(RETRY_PAUSE_MS)).await;
            }
        }
        for _ in 0..RESOLVE_RESENDS {
            tokio::time::sleep(Duration::from_millis(REPOST_INTERVAL_MS)).await;
            self.post(h, episode, PostKind::Resolve, starts_at_ms, resolved_at_ms)
                .await;
        }
    }
}

/// Runs one lane until `until`: episodes one after another, numbered from `next`.
async fn run_lane(
    lane: u32,
    seed: u64,
    http: &reqwest::Client,
    urls: &[String],
    until: Instant,
    next: &AtomicU32,
) -> NotifierHistory {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x6e6f_7469_6679 ^ (u64::from(lane) << 40));
    let mut c = Client {
        http,
        urls,
        rng: StdRng::seed_from_u64(rng.random()),
    };
    let mut h = NotifierHistory::default();
    // The lanes start apart, so that their episodes do not line up.
    tokio::time::sleep(Duration::from_millis(u64::from(lane) * 700)).await;
    loop {
        let hold_ms = if rng.random_range(0..4) == 0 {
            rng.random_range(SHORT_HOLD_MS.0..=SHORT_HOLD_MS.1)
        } else {
            rng.random_range(LONG_HOLD_MS.0..=LONG_HOLD_MS.1)
        };
        let silenced = rng.random_range(0..100) < SILENCED_PERCENT;
        let left = until.saturating_duration_since(Instant::now());
        if left < Duration::from_millis(SHORT_HOLD_MS.0) {
            break;
        }
        let plan = EpisodePlan {
            episode: next.fetch_add(1, Ordering::Relaxed),
            silenced,
            hold_ms: hold_ms.min(left.as_millis() as u64),
            final_episode: false,
        };
        c.episode(&mut h, plan).await;
        let gap = Duration::from_millis(rng.random_range(GAP_MS.0..=GAP_MS.1));
        if Instant::now() + gap >= until {
            break;
        }
        tokio::time::sleep(gap).await;
    }
    h
}

/// Runs the workload until `until` through the nodes at `urls` (`urls[i]` is node `i + 1`):
/// arms the receivers' faults (until `until`), sets the configuration naming them, then runs
/// [`LANES`] lanes of episodes. The last episodes' resolutions may be posted after `until`.
pub async fn run_notifier(
    seed: u64,
    http: reqwest::Client,
    urls: Vec<String>,
    started: Instant,
    until: Instant,
    receivers: &[WebhookReceiver],
) -> NotifierHistory {
    let now = now_ms();
    let until_ms = now + until.saturating_duration_since(Instant::now()).as_millis() as i64;
    for (i, r) in receivers.iter().enumerate() {
        r.arm(FaultPlan::draw(seed, i as u32, now, until_ms));
    }
    let mut rng = StdRng::seed_from_u64(seed ^ 0x636f_6e66_6967);
    let mut h = NotifierHistory::default();
    let hooks: Vec<&str> = receivers.iter().map(|r| r.url()).collect();
    set_config(
        &mut h,
        &http,
        &urls,
        started,
        &mut rng,
        &config_yaml(&hooks),
    )
    .await;
    if !h.configured() {
        return h;
    }
    let next = AtomicU32::new(1);
    let lanes = futures::future::join_all(
        (0..LANES).map(|lane| run_lane(lane, seed, &http, &urls, until, &next)),
    )
    .await;
    for l in lanes {
        h.extend(l);
    }
    h.sort();
    h
}

/// The notifier's status on every member at `members` (id, URL).
pub async fn node_statuses(http: &reqwest::Client, members: &[(u32, String)]) -> Vec<NodeStatus> {
    let mut out = Vec::new();
    for (node, url) in members {
        let got = crate::api::get::<serde_json::Value>(
            http,
            &format!("{url}/api/v1/status/notifier"),
            Duration::from_millis(REQUEST_TIMEOUT_MS),
        )
        .await;
        out.push(match got {
            Ok(v) => {
                let list = |k: &str| v[k].as_array().cloned().unwrap_or_default();
                NodeStatus {
                    node: *node,
                    error: None,
                    configured: v["configured"].as_bool().unwrap_or(false),
                    pending: list("pending"),
                    given_up: list("givenUp"),
                    totals: v["totals"].clone(),
                }
            }
            Err(e) => NodeStatus {
                node: *node,
                error: Some(e),
                configured: false,
                pending: Vec::new(),
                given_up: Vec::new(),
                totals: serde_json::Value::Null,
            },
        });
    }
    out
}

/// Every request the receivers got, in arrival order.
pub fn all_requests(receivers: &[WebhookReceiver]) -> Vec<WebhookRequest> {
    let mut all: Vec<WebhookRequest> = receivers.iter().flat_map(|r| r.requests()).collect();
    all.sort_by_key(|r| r.arrival_ms);
    all
}

/// The run's times the checker needs, ms since the epoch.
#[derive(Debug, Clone, Copy)]
pub struct RunTimes<'a> {
    /// The disturbed times (`crate::alerts::disturbed_intervals`).
    pub disturbed: &'a [(i64, i64)],
    /// The final heal.
    pub heal_ms: i64,
    /// The run's start.
    pub origin_ms: i64,
}

/// After healing: the final episode (no fault: it must be delivered firing and resolved),
/// then the wait until the check passes on what arrived and every member shows nothing
/// pending, or until [`HEAL_WINDOW_MS`] after the final heal. Returns the members' statuses
/// at the end of the wait.
pub async fn final_phase(
    h: &mut NotifierHistory,
    http: &reqwest::Client,
    members: &[(u32, String)],
    seed: u64,
    receivers: &[WebhookReceiver],
    times: RunTimes<'_>,
) -> Vec<NodeStatus> {
    if !h.configured() {
        return Vec::new();
    }
    let urls: Vec<String> = members.iter().map(|m| m.1.clone()).collect();
    let episode = h.episodes.iter().map(|e| e.episode).max().unwrap_or(0) + 1;
    h.final_episode = Some(episode);
    let mut c = Client {
        http,
        urls: &urls,
        rng: StdRng::seed_from_u64(seed ^ 0x0066_696e_616c),
    };
    let plan = EpisodePlan {
        episode,
        silenced: false,
        hold_ms: FINAL_HOLD_MS,
        final_episode: true,
    };
    c.episode(h, plan).await;
    let names: Vec<String> = receivers.iter().map(|r| r.name().to_string()).collect();
    let deadline = times.heal_ms + HEAL_WINDOW_MS;
    loop {
        let statuses = node_statuses(http, members).await;
        let requests = all_requests(receivers);
        let check = check_notifier(&CheckInput {
            history: h,
            requests: &requests,
            receivers: &names,
            disturbed: times.disturbed,
            heal_ms: times.heal_ms,
            origin_ms: times.origin_ms,
            statuses: &statuses,
        });
        if check.valid() || now_ms() >= deadline {
            return statuses;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Everything the workload recorded, for `history.jsonl`.
pub struct NotifierRecord<'a> {
    /// What the workload did.
    pub history: &'a NotifierHistory,
    /// The receivers.
    pub receivers: &'a [WebhookReceiver],
    /// The members' statuses at the end.
    pub statuses: &'a [NodeStatus],
}

impl NotifierRecord<'_> {
    /// Writes one JSON line per configuration attempt (`notifier-config`), silence attempt
    /// (`notifier-silence`), alert post (`notifier-alert-post`), receiver with its fault plan
    /// and down periods (`notifier-receiver`), request received (`notifier-webhook`) and
    /// member status (`notifier-status`).
    pub fn write_jsonl(&self, f: &mut impl Write) -> std::io::Result<()> {
        fn line(f: &mut impl Write, kind: &str, v: &impl Serialize) -> std::io::Result<()> {
            let mut v = serde_json::to_value(v).map_err(std::io::Error::other)?;
            v["type"] = kind.into();
            writeln!(f, "{v}")
        }
        for c in &self.history.configs {
            line(f, "notifier-config", c)?;
        }
        for s in &self.history.silences {
            line(f, "notifier-silence", s)?;
        }
        for p in &self.history.posts {
            line(f, "notifier-alert-post", p)?;
        }
        for r in self.receivers {
            let v = serde_json::json!({
                "name": r.name(),
                "url": r.url(),
                "plan": r.plan(),
                "down_periods": r.downs(),
            });
            line(f, "notifier-receiver", &v)?;
        }
        for r in all_requests(self.receivers) {
            line(f, "notifier-webhook", &r)?;
        }
        for s in self.statuses {
            line(f, "notifier-status", s)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_names_every_hook_with_the_timings() {
        let y = config_yaml(&["http://10.0.0.254:1/hook", "http://10.0.0.254:2/hook"]);
        assert!(y.contains("group_wait: 1s\n  group_interval: 2s\n  repeat_interval: 1h"));
        assert!(y.contains("group_by: [alertname]"));
        assert_eq!(y.matches("send_resolved: true").count(), 2);
        assert_eq!(y.matches("timeout: 1s").count(), 2);
        assert!(y.contains("matchers: ['jepsen=\"notifier\"']"));
    }
}
