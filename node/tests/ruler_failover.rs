//! The ruler's failover with real processes: three `tidemark` nodes (`--initial-cluster`), all
//! sending to one real Alertmanager that notifies a webhook receiver run by the test. The ruler
//! group's leader is killed with -9 while an alert is pending, and after it fired; the
//! condition clears after a failover. What must hold (each episode has its own alert):
//!
//! - firing no later than without a fault plus one evaluation interval (the `for` clock lives
//!   in the committed state, not in the leader's memory);
//! - exactly one firing notification per episode (a new leader does not send it again as new);
//! - no resolved notification before the condition cleared (a new leader does not lose the
//!   alert);
//! - resolved within one evaluation after the condition cleared (+ Alertmanager's
//!   `group_interval`).
//!
//! And a single node killed -9 and restarted while its alert is pending keeps the `for` clock.
//! The figures are printed as a table.

mod support;

use std::time::{Duration, Instant};

use support::Node;
use support::alertmanager::{
    AM_GROUP_INTERVAL_MS, AM_GROUP_WAIT_MS, Alertmanager, GaugeWriter, WebhookRecorder,
    alertmanager_bins, api_alert, rfc3339_ms, ruler_leader, secs, upload_rule_group, wall_clock_ms,
};

/// The rule group's interval and the alert's `for` in the three-node test.
const INTERVAL_MS: u64 = 5_000;
const FOR_MS: u64 = 30_000;
/// Slack for writes to become visible, sends, and scheduling on a loaded machine.
const SLACK_MS: u64 = 2_000;

const GROUP: &str = r#"
name: failover
interval: 5s
rules:
  - alert: FailoverTest
    expr: failover_gauge > 0
    for: 30s
    labels:
      severity: page
    annotations:
      summary: "{{ $labels.instance }} is at {{ $value }}"
"#;

/// A three-node cluster sending to `am_url`.
struct Cluster {
    _dir: tempfile::TempDir,
    nodes: Vec<Node>,
}

impl Cluster {
    fn start(am_url: &str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("tidemark.yaml");
        std::fs::write(
            &config,
            "ruler:\n  external_labels:\n    cluster: failover-test\n",
        )
        .unwrap();
        let config = config.to_str().unwrap().to_string();
        let extra = ["--config", &config, "--alertmanager-url", am_url];
        let nodes = support::launch_three(dir.path(), &extra);
        Cluster { _dir: dir, nodes }
    }

    fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(Node::url).collect()
    }

    /// The ruler group's leader as a running node reports it (a running node itself).
    async fn ruler_leader(&self, client: &reqwest::Client) -> Option<u64> {
        for n in self.nodes.iter().filter(|n| n.is_running()) {
            if let Some(l) = ruler_leader(client, &n.url()).await
                && self.nodes[l as usize - 1].is_running()
            {
                return Some(l);
            }
        }
        None
    }

    /// Waits (up to 30 s) for a ruler leader other than `old`; returns it.
    async fn wait_new_leader(&self, client: &reqwest::Client, old: Option<u64>) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = self.ruler_leader(client).await
                && Some(l) != old
            {
                return l;
            }
            assert!(
                Instant::now() < deadline,
                "no new ruler leader 30 s after losing {old:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn node(&mut self, id: u64) -> &mut Node {
        &mut self.nodes[id as usize - 1]
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

/// What a fault does during an episode.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    /// kill -9 the ruler leader while the alert is pending, restart it once a new leader runs.
    KillLeaderWhilePending,
    /// kill -9 the ruler leader after the firing notification, restart it later; the condition
    /// then clears (after the failover).
    KillLeaderAfterFiring,
}

/// The figures of one episode.
struct Figures {
    scenario: &'static str,
    instance: &'static str,
    fire_delay: Duration,
    /// From the alert's `activeAt` (the first evaluation that saw the condition) to the
    /// firing notification: the same as `fire_delay` without the phase of the condition's
    /// start against the evaluation slots.
    active_to_fire_ms: i64,
    cleared: Instant,
    resolve_delay: Duration,
    /// From the kill to a new ruler leader known to the survivors.
    failover: Option<Duration>,
}

/// One episode: the condition of alert `instance` starts, `fault` happens, the alert fires,
/// the condition clears, the alert resolves.
async fn episode(
    c: &mut Cluster,
    gauges: &GaugeWriter,
    webhook: &WebhookRecorder,
    client: &reqwest::Client,
    scenario: &'static str,
    instance: &'static str,
    fault: Fault,
) -> Figures {
    let series = [("__name__", "failover_gauge"), ("instance", instance)];
    let fire_timeout = Duration::from_millis(FOR_MS + 4 * INTERVAL_MS + 30_000);
    let started = gauges.set(&series, 1.0).await;
    let mut failover = None;
    let leader = c.wait_new_leader(client, None).await;
    let pending = wait_alert_state(client, &c.node(leader).url(), instance, "pending").await;
    let active_at = pending["activeAt"].as_str().unwrap().to_string();

    if fault == Fault::KillLeaderWhilePending {
        // Killed a third of the way through `for`: were the `for` clock reset, the alert
        // would fire a third of `for` late.
        tokio::time::sleep_until((started + Duration::from_millis(FOR_MS / 3)).into()).await;
        let leader = c.wait_new_leader(client, None).await;
        let still = api_alert(client, &c.node(leader).url(), "instance", instance)
            .await
            .expect("the alert on the leader");
        assert_eq!(still["state"], "pending", "{still}");
        c.node(leader).kill9();
        let killed = Instant::now();
        let new = c.wait_new_leader(client, Some(leader)).await;
        failover = Some(killed.elapsed());
        println!(
            "{scenario}: killed ruler leader {leader} {} s after the condition started; node {new} \
             leads after {} s",
            secs(killed - started),
            secs(killed.elapsed())
        );
        // The new leader resumes the same pending alert: same activeAt.
        let resumed = api_alert(client, &c.node(new).url(), "instance", instance)
            .await
            .expect("the pending alert on the new leader");
        assert_eq!(resumed["activeAt"], active_at.as_str(), "{resumed}");
        // Restart the killed node while the alert is still pending.
        c.node(leader).relaunch();
        let node = c.node(leader);
        tokio::task::block_in_place(|| node.wait_ready());
        println!(
            "{scenario}: node {leader} restarted {} s after the condition started",
            secs(started.elapsed())
        );
    }

    let Some(fired) = webhook
        .wait_for("instance", instance, "firing", fire_timeout)
        .await
    else {
        panic!(
            "{scenario}: no firing notification within {fire_timeout:?}\nwebhook:\n{}\n{}",
            webhook.dump(),
            c.logs()
        );
    };
    let fire_delay = fired.at - started;
    let active_to_fire_ms = fired.wall_ms - rfc3339_ms(&active_at);
    println!(
        "{scenario}: condition -> firing notification {} s, activeAt -> firing notification {} s",
        secs(fire_delay),
        active_to_fire_ms as f64 / 1000.0
    );

    if fault == Fault::KillLeaderAfterFiring {
        let leader = c.wait_new_leader(client, None).await;
        c.node(leader).kill9();
        let killed = Instant::now();
        let new = c.wait_new_leader(client, Some(leader)).await;
        failover = Some(killed.elapsed());
        println!(
            "{scenario}: killed ruler leader {leader} after the firing notification; node {new} \
             leads after {} s",
            secs(killed.elapsed())
        );
        // Two evaluations by the new leader with the condition still on; then the killed node
        // comes back.
        let resumed = wait_alert_state(client, &c.node(new).url(), instance, "firing").await;
        assert_eq!(resumed["state"], "firing", "{resumed}");
        tokio::time::sleep(Duration::from_millis(2 * INTERVAL_MS)).await;
        c.node(leader).relaunch();
        let node = c.node(leader);
        tokio::task::block_in_place(|| node.wait_ready());
        tokio::time::sleep(Duration::from_millis(INTERVAL_MS)).await;
    } else {
        // One more evaluation with the condition on.
        tokio::time::sleep(Duration::from_millis(INTERVAL_MS)).await;
    }

    let cleared = gauges.set(&series, 0.0).await;
    let resolve_timeout = Duration::from_millis(3 * INTERVAL_MS + AM_GROUP_INTERVAL_MS + 30_000);
    let Some(resolved) = webhook
        .wait_for("instance", instance, "resolved", resolve_timeout)
        .await
    else {
        panic!(
            "{scenario}: no resolved notification within {resolve_timeout:?}\nwebhook:\n{}\n{}",
            webhook.dump(),
            c.logs()
        );
    };
    let resolve_delay = resolved.at.saturating_duration_since(cleared);
    println!(
        "{scenario}: condition cleared -> resolved notification {} s",
        secs(resolve_delay)
    );
    Figures {
        scenario,
        instance,
        fire_delay,
        active_to_fire_ms,
        cleared,
        resolve_delay,
        failover,
    }
}

/// Prints the warnings and errors of the nodes' logs that concern rules and alerts (failed
/// iterations, unwritten samples, failed sends), so that a run's figures come with them.
fn print_ruler_warnings(c: &Cluster) {
    for (i, n) in c.nodes.iter().enumerate() {
        let log = n.log();
        let lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .filter(|l| {
                let l = l.to_lowercase();
                l.contains("rule") || l.contains("alert")
            })
            .collect();
        println!(
            "node {}: {} ruler warnings/errors in its log",
            i + 1,
            lines.len()
        );
        for l in lines.iter().take(10) {
            println!("  {l}");
        }
    }
}

/// Polls `base`'s `/api/v1/alerts` (up to 60 s) until the alert of `instance` is in `state`.
async fn wait_alert_state(
    client: &reqwest::Client,
    base: &str,
    instance: &str,
    state: &str,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(a) = api_alert(client, base, "instance", instance).await
            && a["state"] == state
        {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "alert {instance} not {state} on {base} within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ruler_leader_failover_neither_delays_nor_repeats_nor_resolves_alerts() {
    let bin = match alertmanager_bins() {
        Ok(bin) => bin,
        Err(reason) => {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
    let am_dir = tempfile::tempdir().unwrap();
    let webhook = WebhookRecorder::start();
    let am = Alertmanager::start(&bin, am_dir.path(), &webhook.url);
    let mut c = Cluster::start(&am.url);
    let client = client();
    upload_rule_group(&client, &c.urls()[0], "failover", GROUP).await;
    let gauges = GaugeWriter::start(c.urls());

    let mut figures = Vec::new();
    for (scenario, instance, fault) in [
        ("(a) no fault", "ep-a", Fault::None),
        (
            "(b) kill -9 leader while pending",
            "ep-b",
            Fault::KillLeaderWhilePending,
        ),
        (
            "(c, d) kill -9 leader after firing, clear after failover",
            "ep-c",
            Fault::KillLeaderAfterFiring,
        ),
    ] {
        figures.push(
            episode(
                &mut c, &gauges, &webhook, &client, scenario, instance, fault,
            )
            .await,
        );
    }
    // Late or repeated notifications would come within a group interval.
    tokio::time::sleep(Duration::from_millis(AM_GROUP_INTERVAL_MS + 1_000)).await;

    let no_fault = figures[0].fire_delay;
    let fire_bound = no_fault + Duration::from_millis(INTERVAL_MS + AM_GROUP_WAIT_MS + SLACK_MS);
    let resolve_bound = Duration::from_millis(INTERVAL_MS + AM_GROUP_INTERVAL_MS + SLACK_MS);
    println!();
    println!(
        "ruler failover: 3 nodes, rule interval {} s, for {} s, Alertmanager group_wait {} s, \
         group_interval {} s",
        INTERVAL_MS / 1000,
        FOR_MS / 1000,
        AM_GROUP_WAIT_MS / 1000,
        AM_GROUP_INTERVAL_MS / 1000
    );
    println!(
        "| scenario | condition -> firing (s) | minus no fault (s) | activeAt -> firing (s) \
         | new leader after kill (s) | firing notifications | resolved before clear \
         | clear -> resolved (s) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut failures = Vec::new();
    for f in &figures {
        let firing = webhook.with("instance", f.instance, "firing").len();
        let false_resolved = webhook
            .with("instance", f.instance, "resolved")
            .iter()
            .filter(|n| n.at < f.cleared)
            .count();
        let extra = f.fire_delay.as_secs_f64() - no_fault.as_secs_f64();
        println!(
            "| {} | {} | {:+.2} | {:.2} | {} | {} | {} | {} |",
            f.scenario,
            secs(f.fire_delay),
            extra,
            f.active_to_fire_ms as f64 / 1000.0,
            f.failover.map_or("-".to_string(), secs),
            firing,
            false_resolved,
            secs(f.resolve_delay)
        );
        if f.fire_delay > fire_bound {
            failures.push(format!(
                "{}: fired after {:?}, bound {fire_bound:?}",
                f.scenario, f.fire_delay
            ));
        }
        if firing != 1 {
            failures.push(format!("{}: {firing} firing notifications", f.scenario));
        }
        if false_resolved != 0 {
            failures.push(format!(
                "{}: {false_resolved} resolved notifications before the condition cleared",
                f.scenario
            ));
        }
        if f.resolve_delay > resolve_bound {
            failures.push(format!(
                "{}: resolved after {:?}, bound {resolve_bound:?}",
                f.scenario, f.resolve_delay
            ));
        }
    }
    println!(
        "bounds: firing <= no fault + interval + group_wait + {} s slack = {} s; resolved <= \
         interval + group_interval + {} s slack = {} s",
        SLACK_MS / 1000,
        secs(fire_bound),
        SLACK_MS / 1000,
        secs(resolve_bound)
    );
    print_ruler_warnings(&c);
    assert!(
        failures.is_empty(),
        "{}\nwebhook:\n{}\n{}",
        failures.join("\n"),
        webhook.dump(),
        c.logs()
    );
    drop(gauges);
    drop(c);
    drop(am);
}

/// The single-node test's rule: interval 1 s, `for` 10 s.
const SINGLE_INTERVAL_MS: u64 = 1_000;
const SINGLE_FOR_MS: u64 = 10_000;
/// How long the single node stays down.
const SINGLE_DOWN_MS: u64 = 2_000;

const SINGLE_GROUP: &str = r#"
name: restart
interval: 1s
rules:
  - alert: RestartTest
    expr: restart_gauge > 0
    for: 10s
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_and_restarted_while_pending_keeps_the_for_clock() {
    let bin = match alertmanager_bins() {
        Ok(bin) => bin,
        Err(reason) => {
            eprintln!("SKIPPED: {reason}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let webhook = WebhookRecorder::start();
    let am = Alertmanager::start(&bin, &dir.path().join("am"), &webhook.url);
    let mut node = Node::start(&dir.path().join("n1"), &["--alertmanager-url", &am.url]);
    let client = client();
    upload_rule_group(&client, &node.url(), "restart", SINGLE_GROUP).await;
    let gauges = GaugeWriter::start(vec![node.url()]);
    let series = [("__name__", "restart_gauge"), ("instance", "single")];

    let started = gauges.set(&series, 1.0).await;
    let pending = wait_alert_state(&client, &node.url(), "single", "pending").await;
    let active_at = pending["activeAt"].as_str().unwrap().to_string();
    // Killed two thirds of the way through `for` and kept down a while: were the `for` clock
    // reset by the restart, the alert would fire that much later.
    tokio::time::sleep_until((started + Duration::from_millis(SINGLE_FOR_MS * 2 / 3)).into()).await;
    node.kill9();
    let killed = Instant::now();
    tokio::time::sleep(Duration::from_millis(SINGLE_DOWN_MS)).await;
    node.relaunch();
    tokio::task::block_in_place(|| node.wait_ready());
    let down = killed.elapsed();
    let ready_ms = wall_clock_ms();
    // The committed state is there before any new iteration: the same pending alert.
    let after = api_alert(&client, &node.url(), "instance", "single")
        .await
        .expect("the pending alert after the restart");
    assert_eq!(after["activeAt"], active_at.as_str(), "{after}");

    let timeout = Duration::from_millis(SINGLE_FOR_MS + 30_000);
    let Some(fired) = webhook
        .wait_for("instance", "single", "firing", timeout)
        .await
    else {
        panic!(
            "no firing notification within {timeout:?}\nwebhook:\n{}\n{}",
            webhook.dump(),
            node.log()
        );
    };
    let fire_delay = fired.at - started;
    let active_at_ms = rfc3339_ms(&active_at);
    // Without a reset the alert fires at the first evaluation `for` after activeAt (or the
    // first one after the restart, if that came later).
    let due_ms = (active_at_ms + SINGLE_FOR_MS as i64).max(ready_ms);
    let late_ms = fired.wall_ms - due_ms;
    let bound_ms = (SINGLE_INTERVAL_MS + AM_GROUP_WAIT_MS + SLACK_MS) as i64;
    let alert = fired.alerts_with("instance", "single").next().unwrap();
    let starts_at_ms = rfc3339_ms(alert["startsAt"].as_str().unwrap());
    let firing = webhook.with("instance", "single", "firing").len();
    println!(
        "single node: killed {} s after the condition started, down {} s; condition -> firing \
         notification {} s (for {} s); notification {} s after it was due; startsAt - \
         activeAt = {} s; firing notifications {firing}",
        secs(killed - started),
        secs(down),
        secs(fire_delay),
        SINGLE_FOR_MS / 1000,
        late_ms as f64 / 1000.0,
        (starts_at_ms - active_at_ms) as f64 / 1000.0,
    );
    assert!(
        late_ms <= bound_ms,
        "fired {late_ms} ms after it was due (bound {bound_ms} ms): the `for` clock was reset?\n{}",
        node.log()
    );
    // It fired (`startsAt`) at the first evaluation `for` after activeAt, or the first one
    // after the restart.
    assert!(
        (active_at_ms + SINGLE_FOR_MS as i64..=due_ms + SINGLE_INTERVAL_MS as i64)
            .contains(&starts_at_ms),
        "startsAt of {alert} is not the first evaluation {SINGLE_FOR_MS} ms after activeAt \
         {active_at}: the `for` clock was reset?"
    );
    assert_eq!(firing, 1, "{}", webhook.dump());
    drop(gauges);
    drop(node);
    drop(am);
}
