//! Native histograms in a three-node cluster: written through any node, replicated (the
//! replicas' digests, which cover histograms, agree), and written on with a node down.

use super::*;
use tidemark_ingest::testing::{v1_body, v1_series};
use tidemark_proto::prometheus as pb;

/// Four series of one integer histogram each, at batch `k`'s timestamp.
fn histogram_body(k: i64) -> Vec<u8> {
    let series = (0..4)
        .map(|s| {
            let s = s.to_string();
            let mut ts = v1_series(&[("__name__", "cluster_histogram"), ("series", &s)], &[]);
            ts.histograms = vec![pb::Histogram {
                count: Some(pb::histogram::Count::CountInt(k as u64 + 1)),
                zero_count: Some(pb::histogram::ZeroCount::ZeroCountInt(k as u64 + 1)),
                sum: k as f64,
                timestamp: base_ms() + k * STEP_MS,
                ..Default::default()
            }];
            ts
        })
        .collect();
    v1_body(series)
}

/// Writes batch `k` of histograms through `base`, retrying retryable answers.
async fn write_histograms_acked(client: &reqwest::Client, base: &str, k: i64) {
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    loop {
        match post_write_v1(client, base, histogram_body(k)).await {
            Ok((status, _)) if (200..300).contains(&status) => return,
            Ok((status, body)) if status == 503 || status == 429 => assert!(
                Instant::now() < deadline,
                "histograms {k} through {base}: still {status}: {body}"
            ),
            Ok((status, body)) => panic!("histograms {k} through {base}: {status} {body}"),
            Err(e) => panic!("histograms {k} through {base}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn histograms_replicate_and_are_written_with_a_node_down() {
    let mut c = start_cluster(&[]);
    let client = reqwest::Client::new();
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
    write_histograms_acked(&client, &urls[1], 0).await;
    write_histograms_acked(&client, &urls[2], 1).await;
    replicas_agree(&client, &urls, 3).await;
    let series: Vec<std::collections::BTreeMap<String, String>> = api_get(
        &client,
        &format!("{}/api/v1/series?match[]=cluster_histogram", urls[0]),
    )
    .await;
    assert_eq!(series.len(), 4);
    c.nodes[2].kill9();
    write_histograms_acked(&client, &urls[0], 2).await;
    write_histograms_acked(&client, &urls[1], 3).await;
    replicas_agree(&client, &urls[..2], 2).await;
}

/// With one replica per shard every node reads most shards from the others: a histogram
/// selector, a rate and an aggregation over them answer the same through every node (remote
/// shards send their histograms; parts that would fold them leave the sum to the asker).
#[tokio::test]
async fn histograms_read_alike_through_every_node() {
    let c = start_cluster(&["--replication-factor", "1"]);
    let client = reqwest::Client::new();
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
    for k in 0..3 {
        write_histograms_acked(&client, &urls[k as usize % 3], k).await;
    }
    let at = (base_ms() + 2 * STEP_MS) as f64 / 1000.0;
    for (query, series) in [
        ("cluster_histogram", 4),
        ("rate(cluster_histogram[10s])", 4),
        ("sum(cluster_histogram)", 1),
        ("histogram_count(sum by (series) (cluster_histogram))", 4),
    ] {
        let first = query_result(&client, &urls[0], query, at).await;
        let result = first["result"].as_array().expect("a vector");
        assert_eq!(result.len(), series, "{query}: {first}");
        let kind = if query.starts_with("histogram_count") {
            "value"
        } else {
            "histogram"
        };
        assert!(
            result.iter().all(|e| e.get(kind).is_some()),
            "{query}: {first}"
        );
        for url in &urls[1..] {
            let other = query_result(&client, url, query, at).await;
            assert_eq!(other, first, "{query} through {url}");
        }
    }
    // Batch 2 has count 3 in each of the four series.
    let total = query_result(
        &client,
        &urls[1],
        "histogram_count(sum(cluster_histogram))",
        at,
    )
    .await;
    assert_eq!(total["result"][0]["value"][1], "12", "{total}");
}
