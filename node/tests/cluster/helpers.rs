//! What the cluster tests share: starting nodes, writing and reading through the HTTP API,
//! the cluster endpoints and `tidemarkctl`.

use super::*;

pub(crate) fn batch(k: i64) -> Vec<TestSeries> {
    (0..SERIES_PER_BATCH)
        .map(|s| {
            let labels = vec![
                ("__name__".to_string(), "cluster_test".to_string()),
                ("batch".to_string(), k.to_string()),
                ("series".to_string(), s.to_string()),
            ];
            (labels, vec![(base_ms() + k * STEP_MS, k as f64)])
        })
        .collect()
}

/// Writes batch `k` through `base`, retrying retryable answers; panics if it never succeeds.
pub(crate) async fn write_acked(client: &reqwest::Client, base: &str, k: i64) {
    write_series_acked(client, base, &batch(k), &format!("batch {k}")).await
}

/// Writes `series` through `base`, retrying retryable answers; panics if it never succeeds.
pub(crate) async fn write_series_acked(
    client: &reqwest::Client,
    base: &str,
    series: &[TestSeries],
    what: &str,
) {
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    loop {
        let res = post_write_v1(client, base, encode_write_v1(series)).await;
        match res {
            Ok((status, _)) if (200..300).contains(&status) => return,
            Ok((status, body)) if status == 503 || status == 429 => {
                assert!(
                    Instant::now() < deadline,
                    "{what} through {base}: still {status} after {RETRY_MS} ms: {body}"
                );
            }
            Ok((status, body)) => panic!("{what} through {base}: {status} {body}"),
            Err(e) => panic!("{what} through {base}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The number of `cluster_test` series `base` sees (a linearizable query), retrying 503s.
pub(crate) async fn series_seen(client: &reqwest::Client, base: &str, last_batch: i64) -> usize {
    let time_s = (base_ms() + last_batch * STEP_MS) as f64 / 1000.0;
    let data = query_result(
        client,
        base,
        "count(count_over_time(cluster_test[1d]))",
        time_s,
    )
    .await;
    match data["result"].as_array().expect("vector").first() {
        None => 0,
        Some(s) => s["value"][1]
            .as_str()
            .expect("value")
            .parse::<f64>()
            .expect("number") as usize,
    }
}

/// Counters of 3 jobs x 8 instances, 1 sample per second for 10 minutes, with resets.
pub(crate) fn pushdown_dataset() -> Vec<TestSeries> {
    (0..24)
        .map(|i: i64| {
            let labels = vec![
                ("__name__".to_string(), "pushdown_total".to_string()),
                ("job".to_string(), format!("job{}", i % 3)),
                ("instance".to_string(), format!("i{i}")),
            ];
            let mut total = 0.0;
            let samples = (0..600)
                .map(|k: i64| {
                    total = if (k + i * 7) % 250 == 0 {
                        0.0
                    } else {
                        total + ((k * 31 + i * 17) % 13) as f64 * 0.5
                    };
                    (base_ms() + k * 1000, total)
                })
                .collect();
            (labels, samples)
        })
        .collect()
}

/// A range query's matrix, names dropped, sorted: `(labels, [(t, v)])`.
pub(crate) async fn range_matrix(
    client: &reqwest::Client,
    base: &str,
    query: &str,
) -> Vec<(serde_json::Value, Vec<(f64, f64)>)> {
    range_matrix_with(client, base, query, &[]).await
}

/// [`range_matrix`] with more parameters (`tier`, ...).
pub(crate) async fn range_matrix_with(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    extra: &[(&str, &str)],
) -> Vec<(serde_json::Value, Vec<(f64, f64)>)> {
    let result = range_result(client, base, query, (base_ms() / 1000 + 60, 7), extra).await;
    let mut out: Vec<_> = result
        .as_array()
        .expect("matrix")
        .iter()
        .map(|s| {
            let mut metric = s["metric"].clone();
            metric.as_object_mut().unwrap().remove("__name__");
            let values = s["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_f64().unwrap(),
                        p[1].as_str().unwrap().parse().unwrap(),
                    )
                })
                .collect();
            (metric, values)
        })
        .collect();
    out.sort_by_key(|s| s.0.to_string());
    out
}

/// Aggregations and range functions the shards compute (pushed down to remote replicas)
/// answer what the whole evaluation answers, through every node. The whole evaluation reads
/// the raw tier alone (`tier=raw`: no querier parts compute anything then) and aggregates
/// over `* 1` (not an aggregation of a selector or a range function).
pub(crate) async fn aggregations_pushed_down_equal_whole_evaluation(
    client: &reqwest::Client,
    urls: &[String],
) {
    let res = post_write_v1(client, &urls[0], encode_write_v1(&pushdown_dataset())).await;
    assert!(
        matches!(res, Ok((s, _)) if (200..300).contains(&s)),
        "{res:?}"
    );
    let inners = [
        "rate(pushdown_total[1m])",
        "increase(pushdown_total[2m])",
        "max_over_time(pushdown_total[30s])",
        "pushdown_total",
    ];
    let aggs = [
        "sum by (job)",
        "avg",
        "count without (instance)",
        "max by (job)",
        "min",
        "stddev by (job)",
        "group by (job)",
        "topk by (job) (2,",
        "bottomk (3,",
    ];
    let mut compared = 0;
    for inner in inners {
        // A range function on its own is computed by the shards too.
        let alone = inner.contains('(').then_some("").into_iter();
        for agg in aggs.into_iter().chain(alone) {
            let (pushed, whole) = if agg.is_empty() {
                (inner.to_string(), inner.to_string())
            } else if agg.ends_with(',') {
                (format!("{agg} {inner})"), format!("{agg} {inner} * 1)"))
            } else {
                (format!("{agg} ({inner})"), format!("{agg} ({inner} * 1)"))
            };
            let want = range_matrix_with(client, &urls[0], &whole, &[("tier", "raw")]).await;
            assert!(!want.is_empty(), "{whole}: no result");
            for url in urls {
                let got = range_matrix(client, url, &pushed).await;
                assert_eq!(
                    got.iter().map(|s| &s.0).collect::<Vec<_>>(),
                    want.iter().map(|s| &s.0).collect::<Vec<_>>(),
                    "{pushed} through {url}: label sets"
                );
                for ((labels, g), (_, w)) in got.iter().zip(&want) {
                    assert_eq!(g.len(), w.len(), "{pushed} {labels} through {url}");
                    for (&(tg, vg), &(tw, vw)) in g.iter().zip(w) {
                        let close = vg == vw || (vg - vw).abs() <= 1e-9 * vg.abs().max(vw.abs());
                        assert!(
                            tg == tw && close,
                            "{pushed} {labels} at {tg} through {url}: {vg} vs {vw}"
                        );
                    }
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, (4 * 9 + 3) * urls.len());
}

/// Shard `shard`'s group as `base` reports it (`/api/v1/status/cluster`), if it answers.
pub(crate) async fn shard_status(
    client: &reqwest::Client,
    base: &str,
    shard: u32,
) -> Option<GroupStatus> {
    let answer: Envelope<ClusterStatus> = client
        .get(format!("{base}/api/v1/status/cluster"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    answer
        .into_result()
        .ok()?
        .groups
        .into_iter()
        .find(|g| g.shard == Some(shard))
}

/// The leader of shard `shard` as `base` sees it.
pub(crate) async fn shard_leader(client: &reqwest::Client, base: &str, shard: u32) -> Option<u64> {
    shard_status(client, base, shard).await?.leader
}

pub(crate) struct Cluster {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) nodes: Vec<Node>,
}

pub(crate) fn start_cluster(extra: &[&str]) -> Cluster {
    let dir = tempfile::tempdir().unwrap();
    let nodes = support::launch_three(dir.path(), extra);
    Cluster { _dir: dir, nodes }
}

/// Waits until the nodes holding each shard's replicas report the same applied index and
/// content digest for it (`/api/v1/admin/shards/digest`), and every shard has at least
/// `min_replicas` replicas among `urls`; panics if they never do.
pub(crate) async fn replicas_agree(client: &reqwest::Client, urls: &[String], min_replicas: usize) {
    use std::collections::BTreeMap;
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    loop {
        let mut per_shard: BTreeMap<u32, Vec<ShardDigest>> = BTreeMap::new();
        for url in urls {
            let digests: Vec<ShardDigest> =
                api_get(client, &format!("{url}/api/v1/admin/shards/digest")).await;
            for d in digests {
                per_shard.entry(d.shard).or_default().push(d);
            }
        }
        let agree = per_shard
            .values()
            .all(|r| r.len() >= min_replicas && r.windows(2).all(|w| w[0] == w[1]));
        if agree && !per_shard.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replicas never agreed: {per_shard:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Posts a member change through `base` with the admin token, retrying 503s; the answer.
pub(crate) async fn change_member(
    client: &reqwest::Client,
    base: &str,
    body: MemberChange,
) -> (u16, Envelope<MemberChangeAnswer>) {
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    loop {
        let r = client
            .post(format!("{base}/api/v1/admin/cluster/members"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("member change request");
        let status = r.status().as_u16();
        let json: Envelope<MemberChangeAnswer> = r.json().await.expect("member change JSON");
        if status == 503 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        return (status, json);
    }
}

/// `data` of `/api/v1/status/cluster` as `base` answers it.
pub(crate) async fn cluster_status(client: &reqwest::Client, base: &str) -> ClusterStatus {
    api_get(client, &format!("{base}/api/v1/status/cluster")).await
}

/// `data` of Tidemark's own endpoint `url` (a GET, with the admin token, which the admin
/// endpoints need when the nodes have one).
pub(crate) async fn api_get<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
) -> T {
    let answer: Envelope<T> = client
        .get(url)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"));
    answer
        .into_result()
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// The voters of the meta group and of every shard as `base` sees them, by group id (the
/// ruler group follows the meta group's voters).
pub(crate) async fn voters(client: &reqwest::Client, base: &str) -> Vec<Vec<u64>> {
    cluster_status(client, base)
        .await
        .groups
        .into_iter()
        .filter(|g| g.group_id != tidemark_api::RULER_GROUP_ID)
        .map(|g| g.voters)
        .collect()
}

/// The meta group's voters and learners as `base` reports them.
pub(crate) async fn meta_members(client: &reqwest::Client, base: &str) -> (Vec<u64>, Vec<u64>) {
    let meta = cluster_status(client, base)
        .await
        .groups
        .into_iter()
        .next()
        .expect("the meta group");
    (meta.voters, meta.learners)
}

/// Shard placement (`shard -> voters`) as `base` reports it.
pub(crate) async fn placement(client: &reqwest::Client, base: &str) -> Vec<Vec<u64>> {
    voters(client, base).await.into_iter().skip(1).collect()
}

/// Runs `tidemarkctl --endpoint base ARGS` with the admin token; its stdout, or a panic with
/// its output when it fails.
pub(crate) async fn ctl(base: &str, args: &[&str]) -> String {
    let bin = crate::support::tidemarkctl();
    let out = tokio::process::Command::new(&bin)
        .args(["--endpoint", base, "--admin-token", ADMIN_TOKEN])
        .args(args)
        .output()
        .await
        .expect("run tidemarkctl");
    let text = format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "tidemarkctl {args:?} failed:\n{text}");
    text
}

/// The result of an instant query through `base` at `time_s` (retrying 503s).
pub(crate) async fn query_result(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    time_s: f64,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    loop {
        let r = client
            .post(format!("{base}/api/v1/query"))
            .form(&[
                ("query", query.to_string()),
                ("time", format!("{time_s:.3}")),
            ])
            .send()
            .await
            .expect("query request");
        if r.status().as_u16() == 503 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        let status = r.status();
        let json: serde_json::Value = r.json().await.expect("query JSON");
        assert!(
            status.is_success(),
            "{query} through {base}: {status} {json}"
        );
        return json["data"].clone();
    }
}

/// Waits until the node at `base` records `want` as shard `shard`'s voters.
pub(crate) async fn wait_placement(
    client: &reqwest::Client,
    base: &str,
    shard: usize,
    want: &[u64],
) {
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    loop {
        let p = placement(client, base).await;
        if p[shard] == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "shard {shard} placed on {:?}, not {want:?}",
            p[shard]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the node at `base` stores nothing of shard `shard` (it no longer holds it), and
/// returns its shards then.
pub(crate) async fn wait_emptied(
    client: &reqwest::Client,
    base: &str,
    shard: usize,
) -> Vec<LocalShard> {
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    loop {
        let local = local_shards(client, base).await;
        if local[shard].series == 0 && local[shard].applied_index == 0 {
            assert!(!local[shard].held, "{local:?}");
            return local;
        }
        assert!(
            Instant::now() < deadline,
            "{base} kept its old replica of shard {shard}: {local:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `GET /api/v1/admin/shards/local` of the node at `base`, by shard.
pub(crate) async fn local_shards(client: &reqwest::Client, base: &str) -> Vec<LocalShard> {
    api_get(client, &format!("{base}/api/v1/admin/shards/local")).await
}

/// Starts node `id` on fresh loopback ports, joining the cluster through `join_url`, and waits
/// until it is ready; its data directory lives as long as the returned guard.
pub(crate) fn join_node(id: u64, join_url: &str, config: &str) -> (tempfile::TempDir, Node) {
    let token = join_token_of(join_url);
    let dir = tempfile::tempdir().unwrap();
    let (http, grpc) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let id = id.to_string();
    let mut node = Node::launch(
        &dir.path().join(format!("n{id}")),
        &http,
        &grpc,
        &[
            "--node-id",
            &id,
            "--join",
            join_url,
            "--join-token",
            &token,
            "--config",
            config,
        ],
    );
    node.wait_ready();
    (dir, node)
}

/// The join token of the cluster of the member at `base`, as an admin reads it.
fn join_token_of(base: &str) -> String {
    let url = format!("{base}/api/v1/admin/cluster/join-token");
    let body: serde_json::Value = std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let client = reqwest::Client::new();
                    api_get::<serde_json::Value>(&client, &url).await
                })
        })
        .join()
        .unwrap()
    });
    body["joinToken"]
        .as_str()
        .expect("a join token")
        .to_string()
}

/// The replication factor `base` reports (from its copy of the cluster map).
pub(crate) async fn replication_factor(client: &reqwest::Client, base: &str) -> u32 {
    cluster_status(client, base).await.replication_factor
}

/// Sets the replication factor target through `base` (a meta-group write only).
pub(crate) async fn set_replication_factor(client: &reqwest::Client, base: &str, rf: u32) -> u16 {
    client
        .post(format!("{base}/api/v1/admin/cluster/replication"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&ReplicationChange {
            replication_factor: rf,
        })
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// A `query_range` result as JSON, over the pushdown dataset's ten minutes at a 10 s step
/// aligned to the step (so that the results cache serves it), `extra` fields too.
async fn aligned_range(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    extra: &[(&str, &str)],
) -> serde_json::Value {
    let start_s = (base_ms() / 1000 + 69) / 10 * 10;
    range_result(client, base, query, (start_s, 10), extra).await
}

/// `data.result` of a range query through `base` from `start_s` to the pushdown dataset's end
/// at `step_s`, `extra` fields too; panics unless it succeeds.
async fn range_result(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    (start_s, step_s): (i64, i64),
    extra: &[(&str, &str)],
) -> serde_json::Value {
    let mut form = vec![
        ("query", query.to_string()),
        ("start", start_s.to_string()),
        ("end", format!("{}", base_ms() / 1000 + 600)),
        ("step", step_s.to_string()),
    ];
    form.extend(extra.iter().map(|&(k, v)| (k, v.to_string())));
    let r = client
        .post(format!("{base}/api/v1/query_range"))
        .form(&form)
        .send()
        .await
        .expect("query_range");
    let status = r.status();
    let json: serde_json::Value = r.json().await.expect("query_range JSON");
    assert!(status.is_success(), "{query} through {base}: {json}");
    json["data"]["result"].clone()
}

/// Through every node (reading the shards it holds no replica of from other nodes), range
/// queries over the pushdown dataset answered from the results cache equal their whole
/// evaluation, the cache serves the repeated ones, and a delete through one node shows in
/// every node's next answer. `admin_token` authorises the delete.
pub(crate) async fn cached_ranges_equal_whole_evaluation(
    client: &reqwest::Client,
    urls: &[String],
    admin_token: Option<&str>,
) {
    let queries = [
        "sum by (job) (rate(pushdown_total[1m]))",
        "rate(pushdown_total[30s])",
        "topk(3, pushdown_total)",
    ];
    let cached_steps = |text: &str| -> f64 {
        text.lines()
            .find_map(|l| {
                l.strip_prefix("tidemark_query_results_cache_steps_total{source=\"cache\"} ")
            })
            .unwrap_or_else(|| panic!("no cache steps:\n{text}"))
            .parse()
            .unwrap()
    };
    for url in urls {
        let before = cached_steps(&get_text(client, &format!("{url}/metrics")).await);
        for q in queries {
            let cold = aligned_range(client, url, q, &[]).await;
            let warm = aligned_range(client, url, q, &[]).await;
            let whole = aligned_range(client, url, q, &[("nocache", "1")]).await;
            assert!(!whole.as_array().unwrap().is_empty(), "{q}: {whole}");
            assert_eq!(cold, whole, "{q} through {url}");
            assert_eq!(warm, whole, "{q} through {url}");
        }
        let after = cached_steps(&get_text(client, &format!("{url}/metrics")).await);
        // Of each repeated query's 54 steps, those 5 minutes or more before the shards'
        // newest samples (at the dataset's end) came from the cache: 23 of them.
        assert!(after - before >= 3.0 * 20.0, "{url}: {before} -> {after}");
    }
    let mut delete = client
        .post(format!("{}/api/v1/admin/tsdb/delete_series", urls[0]))
        .form(&[("match[]", r#"pushdown_total{job="job0"}"#)]);
    if let Some(token) = admin_token {
        delete = delete.bearer_auth(token);
    }
    let r = delete.send().await.expect("delete request");
    assert_eq!(r.status().as_u16(), 204, "{:?}", r.text().await);
    for url in urls {
        for q in queries {
            let got = aligned_range(client, url, q, &[]).await;
            let whole = aligned_range(client, url, q, &[("nocache", "1")]).await;
            assert_eq!(got, whole, "{q} through {url} after the delete");
            assert!(
                !got.to_string().contains("\"job0\""),
                "{q} through {url}: {got}"
            );
        }
    }
}
