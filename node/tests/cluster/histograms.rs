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
