//! Metric metadata in a three-node cluster: remote-written through one node, listed by every
//! node from its replica of the meta group, kept across kill -9 and restart of every node.

use super::*;
use tidemark_ingest::testing::v1_series;
use tidemark_proto::prometheus as pb;

fn metadata_body(name: &str, help: &str) -> Vec<u8> {
    let req = pb::WriteRequest {
        timeseries: vec![v1_series(&[("__name__", name)], &[(base_ms(), 1.0)])],
        metadata: vec![pb::MetricMetadata {
            r#type: pb::metric_metadata::MetricType::Counter as i32,
            metric_family_name: name.into(),
            help: help.into(),
            unit: "seconds".into(),
        }],
    };
    support::snappy(&prost::Message::encode_to_vec(&req))
}

/// Posts `body`, retrying retryable answers (the cluster may still be electing).
async fn post_acked(client: &reqwest::Client, base: &str, body: Vec<u8>) {
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    loop {
        match post_write_v1(client, base, body.clone()).await {
            Ok((status, _)) if (200..300).contains(&status) => return,
            Ok((status, body)) if status == 503 || status == 429 => assert!(
                Instant::now() < deadline,
                "metadata through {base}: still {status}: {body}"
            ),
            Ok((status, body)) => panic!("metadata through {base}: {status} {body}"),
            Err(e) => assert!(Instant::now() < deadline, "metadata through {base}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `base` lists `want` as the metadata of every metric, in order.
async fn lists(client: &reqwest::Client, base: &str, want: &serde_json::Value) {
    let deadline = Instant::now() + Duration::from_millis(RETRY_MS);
    loop {
        let got = client
            .get(format!("{base}/api/v1/metadata"))
            .send()
            .await
            .ok()
            .filter(|r| r.status().is_success());
        let data = match got {
            Some(r) => r.json::<serde_json::Value>().await.unwrap()["data"].clone(),
            None => serde_json::Value::Null,
        };
        if data == *want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{base} lists {data}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn metadata_is_served_by_every_node_and_survives_restarts() {
    let mut c = start_cluster(&[]);
    let client = reqwest::Client::new();
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
    post_acked(&client, &urls[1], metadata_body("jobs_total", "Jobs run.")).await;
    // A second exporter's help text for the same metric is kept beside the first.
    post_acked(&client, &urls[2], metadata_body("jobs_total", "Jobs done.")).await;
    post_acked(&client, &urls[0], metadata_body("bytes_total", "Bytes.")).await;
    let entry =
        |help: &str| serde_json::json!({"type": "counter", "help": help, "unit": "seconds"});
    let want = serde_json::json!({
        "bytes_total": [entry("Bytes.")],
        "jobs_total": [entry("Jobs run."), entry("Jobs done.")],
    });
    for url in &urls {
        lists(&client, url, &want).await;
    }
    // Sent again (2.0 sends it with every series, 1.0 every minute): nothing changes.
    post_acked(&client, &urls[2], metadata_body("jobs_total", "Jobs run.")).await;
    for node in &mut c.nodes {
        node.kill9();
    }
    for node in &mut c.nodes {
        node.relaunch();
    }
    for node in &mut c.nodes {
        node.wait_ready();
    }
    for url in &urls {
        lists(&client, url, &want).await;
    }
}
