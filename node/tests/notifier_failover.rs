//! The built-in notifier across the death of the ruler group's leader, with real processes:
//! three `tidemark` nodes share one `alertmanager.yml` (`--notifier-config`) whose webhook is a
//! recording server run by the test. The leader (the dispatcher) is killed with -9:
//!
//! 1. while a group waits for `group_wait`: the group is replicated, so the new leader flushes
//!    it: delivered once;
//! 2. while a notification is in flight (the receiver holds its answer): the new leader sends
//!    it again: delivered, counted as a duplicate (at least once);
//! 3. while the receiver is down and the notification is being retried: the new leader goes on
//!    retrying; the receiver comes back: delivered once;
//! 4. as 20 groups flush at once (killed at the first request; five answers are held): every
//!    one delivered; duplicates counted.
//!
//! Killed nodes are restarted before the next episode. The figures are printed: notifications
//! lost (must be 0), duplicates per 100 notifications, delay after the failover.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Node;
use support::alertmanager::{ruler_leader, wait_notifier_configured, wall_clock_ms};
use tidemark_api::RULER_GROUP_ID;
use tidemark_testkit::receiver::Receiver;

const GROUP_WAIT_MS: i64 = 3_000;

/// How long deliveries are still counted after every notification arrived once: longer than
/// Alertmanager's peer timeout (15 s), after which its second peer sends what the first did
/// not log, so that both are measured over the same window.
const OBSERVE_MS: u64 = 17_000;

const CONFIG: &str = r#"
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 3s
  group_interval: 4s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{url: 'URL/hook', timeout: 2s}]
"#;

struct Cluster {
    _dir: tempfile::TempDir,
    nodes: Vec<Node>,
    client: reqwest::Client,
}

impl Cluster {
    async fn leader(&self) -> Option<u64> {
        for n in self.nodes.iter().filter(|n| n.is_running()) {
            if let Some(l) = ruler_leader(&self.client, &n.url()).await
                && self.nodes[l as usize - 1].is_running()
            {
                return Some(l);
            }
        }
        None
    }

    async fn wait_leader(&self, not: Option<u64>) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = self.leader().await
                && Some(l) != not
            {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "no ruler leader other than {not:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the ruler group has three voters (it starts with its creator alone; the
    /// leader adds the others once they caught up).
    async fn wait_three_voters(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v: Value = self
                .client
                .get(format!("{}/api/v1/status/cluster", self.nodes[0].url()))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let voters = v["data"]["groups"]
                .as_array()
                .and_then(|g| {
                    g.iter()
                        .find(|g| g["groupId"].as_u64() == Some(RULER_GROUP_ID))
                })
                .and_then(|g| g["voters"].as_array().map(Vec::len));
            if voters == Some(3) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the ruler group has {voters:?} voters"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A running node other than `not`.
    fn other(&self, not: u64) -> &Node {
        self.nodes
            .iter()
            .enumerate()
            .find(|(i, n)| *i as u64 + 1 != not && n.is_running())
            .map(|(_, n)| n)
            .expect("a running node")
    }

    async fn post_alerts(&self, via: &Node, names: &[String]) {
        let alerts: Vec<Value> = names
            .iter()
            .map(|n| json!({"labels": {"alertname": n, "severity": "page"}}))
            .collect();
        let res = self
            .client
            .post(format!("{}/api/v2/alerts", via.url()))
            .json(&alerts)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "post: {}", res.status());
    }

    async fn notifier_status(&self, via: &Node) -> Value {
        let v: Value = self
            .client
            .get(format!("{}/api/v1/status/notifier", via.url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["data"].clone()
    }

    async fn restart_dead(&mut self) {
        for n in &mut self.nodes {
            if !n.is_running() {
                tokio::task::block_in_place(|| n.restart());
            }
        }
        self.wait_three_voters().await;
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("=== node {} ===\n{}", i + 1, n.log()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Deliveries (answered 200) per alertname, with their arrival times.
fn deliveries(hook: &Receiver) -> BTreeMap<String, Vec<i64>> {
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for r in hook.requests().iter().filter(|r| r.status == 200) {
        let body = r.json();
        for a in body["alerts"].as_array().into_iter().flatten() {
            let name = a["labels"]["alertname"].as_str().unwrap_or("").to_string();
            out.entry(name).or_default().push(r.received_unix_ms as i64);
        }
    }
    out
}

/// Waits until every name in `names` was delivered at least once (or 60 s).
async fn wait_delivered(hook: &Receiver, names: &[String]) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let got = deliveries(hook);
        if names.iter().all(|n| got.contains_key(n)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Waits until the receiver got a request beyond the first `before` (the flush began).
async fn wait_first_request(hook: &Receiver, before: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while hook.requests().len() <= before {
        assert!(Instant::now() < deadline, "nothing was sent");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until every name was delivered once, then counts deliveries for [`OBSERVE_MS`]
/// more; whether every name was delivered.
async fn settle(hook: &Receiver, names: &[String]) -> bool {
    let all = wait_delivered(hook, names).await;
    tokio::time::sleep(Duration::from_millis(OBSERVE_MS)).await;
    all
}

/// An episode's figures: names never delivered, deliveries beyond the first, and the delay
/// from `reference` (the failover, or when the notification was due) to the last of the
/// names' first deliveries at or after it.
fn measure(episode: &'static str, hook: &Receiver, names: &[String], reference: i64) -> Figures {
    let got = deliveries(hook);
    let lost = names.iter().filter(|n| !got.contains_key(*n)).count();
    let duplicates = names
        .iter()
        .map(|n| got.get(n).map_or(0, |t| t.len().saturating_sub(1)))
        .sum();
    let last = names
        .iter()
        .filter_map(|n| {
            got.get(n)
                .and_then(|t| t.iter().copied().filter(|t| *t >= reference).min())
        })
        .max()
        .unwrap_or(reference);
    Figures {
        episode,
        notifications: names.len(),
        lost,
        duplicates,
        delay_after_failover_ms: last - reference,
    }
}

fn print_figures(title: &str, figures: &[Figures]) {
    eprintln!("{title}");
    eprintln!("episode                 notifications  lost  duplicates  delay after failover");
    for f in figures {
        eprintln!(
            "{:<24}{:>13}{:>6}{:>12}{:>17} ms",
            f.episode, f.notifications, f.lost, f.duplicates, f.delay_after_failover_ms
        );
    }
    let total: usize = figures.iter().map(|f| f.notifications).sum();
    let dups: usize = figures.iter().map(|f| f.duplicates).sum();
    eprintln!(
        "duplicates per 100 notifications: {:.1}",
        100.0 * dups as f64 / total as f64
    );
}

#[derive(Debug)]
struct Figures {
    episode: &'static str,
    notifications: usize,
    lost: usize,
    duplicates: usize,
    delay_after_failover_ms: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notifications_survive_the_dispatchers_death() {
    let hook = Receiver::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(&config, CONFIG.replace("URL", &hook.url())).unwrap();
    let nodes = support::launch_three(dir.path(), &["--notifier-config", config.to_str().unwrap()]);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut c = Cluster {
        _dir: dir,
        nodes,
        client,
    };
    wait_notifier_configured(&c.client, &c.nodes[0].url()).await;
    c.wait_three_voters().await;
    let mut figures = Vec::new();

    // 1. The leader dies while the group waits.
    let leader = c.wait_leader(None).await;
    let names = vec!["Waiting".to_string()];
    c.post_alerts(c.other(leader), &names).await;
    let posted = wall_clock_ms();
    c.nodes[leader as usize - 1].kill9();
    let killed = wall_clock_ms();
    c.wait_leader(Some(leader)).await;
    assert!(settle(&hook, &names).await, "not delivered:\n{}", c.logs());
    figures.push(measure(
        "group waiting",
        &hook,
        &names,
        (posted + GROUP_WAIT_MS).max(killed),
    ));
    c.restart_dead().await;

    // 2. The leader dies while its notification is in flight.
    let leader = c.wait_leader(None).await;
    hook.delay_next(1, Duration::from_secs(5));
    let before = hook.requests().len();
    let names = vec!["InFlight".to_string()];
    c.post_alerts(c.other(leader), &names).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while hook.requests().len() == before {
        assert!(Instant::now() < deadline, "never sent:\n{}", c.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.nodes[leader as usize - 1].kill9();
    let killed = wall_clock_ms();
    c.wait_leader(Some(leader)).await;
    assert!(settle(&hook, &names).await, "not delivered:\n{}", c.logs());
    figures.push(measure("notification in flight", &hook, &names, killed));
    c.restart_dead().await;

    // 3. The leader dies while the receiver is down and the notification is retried.
    let leader = c.wait_leader(None).await;
    hook.down();
    let names = vec!["ReceiverDown".to_string()];
    c.post_alerts(c.other(leader), &names).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = c.notifier_status(c.other(leader)).await;
        if s["pending"]
            .as_array()
            .is_some_and(|p| p.iter().any(|n| n["attempts"].as_u64() >= Some(1)))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed attempt recorded:\n{}",
            c.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    c.nodes[leader as usize - 1].kill9();
    c.wait_leader(Some(leader)).await;
    hook.up();
    let up = wall_clock_ms();
    assert!(settle(&hook, &names).await, "not delivered:\n{}", c.logs());
    figures.push(measure("receiver down", &hook, &names, up));
    c.restart_dead().await;

    // 4. Twenty groups flush together; the leader dies as they go out.
    let leader = c.wait_leader(None).await;
    hook.delay_next(5, Duration::from_millis(300));
    let names: Vec<String> = (0..20).map(|i| format!("Many{i:02}")).collect();
    let before = hook.requests().len();
    c.post_alerts(c.other(leader), &names).await;
    let posted = wall_clock_ms();
    wait_first_request(&hook, before).await;
    c.nodes[leader as usize - 1].kill9();
    let killed = wall_clock_ms();
    c.wait_leader(Some(leader)).await;
    let all = settle(&hook, &names).await;
    figures.push(measure(
        "20 groups flushing",
        &hook,
        &names,
        (posted + GROUP_WAIT_MS).max(killed),
    ));
    c.restart_dead().await;

    print_figures("Tidemark, three nodes", &figures);
    assert!(all, "lost notifications:\n{}", c.logs());
    assert!(figures.iter().all(|f| f.lost == 0));
    assert_eq!(figures[0].duplicates, 0, "a waiting group is notified once");
    assert_eq!(
        figures[2].duplicates, 0,
        "a retried notification is delivered once"
    );
}

/// The anchor: Alertmanager's own HA pair (two peers gossiping silences and the notification
/// log; the first peer notifies, the second after `--cluster.peer-timeout` (15 s) if the log
/// does not show the notification), measured with the same episodes, a fresh pair for each,
/// the same alerts posted to both peers (as Prometheus posts to every Alertmanager), and
/// the first peer killed -9.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn alertmanager_ha_pair_measured_the_same_way() {
    if let Err(e) = tidemark_testkit::alertmanager::templates_present() {
        eprintln!("SKIPPED: {e}");
        return;
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let post = |urls: Vec<String>, names: Vec<String>| {
        let client = client.clone();
        async move {
            let alerts: Vec<Value> = names
                .iter()
                .map(|n| json!({"labels": {"alertname": n, "severity": "page"}}))
                .collect();
            for u in urls {
                let res = client
                    .post(format!("{u}/api/v2/alerts"))
                    .json(&alerts)
                    .send()
                    .await
                    .unwrap();
                assert!(res.status().is_success());
            }
        }
    };
    let mut figures = Vec::new();
    for episode in [
        "group waiting",
        "notification in flight",
        "receiver down",
        "20 groups flushing",
    ] {
        let hook = Receiver::start();
        let [mut am0, am1] = tidemark_testkit::alertmanager::Alertmanager::start_pair(
            &CONFIG.replace("URL", &hook.url()),
        )
        .expect("an Alertmanager pair");
        let urls = vec![am0.url(), am1.url()];
        let names: Vec<String> = if episode.starts_with("20") {
            (0..20).map(|i| format!("Many{i:02}")).collect()
        } else {
            vec!["One".to_string()]
        };
        let mut reference = wall_clock_ms();
        match episode {
            "group waiting" => {
                post(urls, names.clone()).await;
                am0.process().kill();
                reference += GROUP_WAIT_MS;
            }
            "notification in flight" => {
                hook.delay_next(1, Duration::from_secs(5));
                post(urls, names.clone()).await;
                let deadline = Instant::now() + Duration::from_secs(30);
                while hook.requests().is_empty() {
                    assert!(Instant::now() < deadline, "never sent");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                am0.process().kill();
                reference = wall_clock_ms();
            }
            "receiver down" => {
                hook.down();
                post(urls, names.clone()).await;
                tokio::time::sleep(Duration::from_millis(GROUP_WAIT_MS as u64 + 1_500)).await;
                am0.process().kill();
                hook.up();
                reference = wall_clock_ms();
            }
            _ => {
                hook.delay_next(5, Duration::from_millis(300));
                post(urls, names.clone()).await;
                wait_first_request(&hook, 0).await;
                am0.process().kill();
                reference = reference.max(wall_clock_ms());
            }
        }
        let all = settle(&hook, &names).await;
        let f = measure(episode, &hook, &names, reference);
        assert!(all || f.lost > 0);
        figures.push(f);
        drop(am1);
    }
    print_figures("Alertmanager HA pair (anchor)", &figures);
}
