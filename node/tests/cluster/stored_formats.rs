//! Shared time columns (sealed chunks that older binaries cannot read) are stored only while
//! every node of the cluster says it reads them: a node whose peer cannot be asked stores the
//! older format, and switches once the peer answers.

use std::time::{Duration, Instant};

use super::support::Node;

/// The node's `tidemark_storage_shared_time_columns`, once its `/metrics` answers.
async fn shared_columns(client: &reqwest::Client, url: &str) -> Option<f64> {
    let response = client.get(format!("{url}/metrics")).send().await.ok()?;
    let text = response.text().await.ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("tidemark_storage_shared_time_columns "))
        .and_then(|v| v.parse().ok())
}

/// Polls until `want` or the deadline; returns the last value seen.
async fn wait_for(client: &reqwest::Client, url: &str, want: f64, within: Duration) -> Option<f64> {
    let deadline = Instant::now() + within;
    loop {
        let got = shared_columns(client, url).await;
        if got == Some(want) || Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn shared_time_columns_wait_for_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let addr = || format!("127.0.0.1:{}", tidemark_testkit::free_port());
    let (http1, grpc1, http2, grpc2) = (addr(), addr(), addr(), addr());
    let initial = format!("1={grpc1},2={grpc2}");
    let token = format!("test-{:032x}", rand::random::<u128>());
    let args = |id: &'static str| {
        vec![
            "--node-id".to_string(),
            id.to_string(),
            "--initial-cluster".to_string(),
            initial.clone(),
            "--initial-cluster-token".to_string(),
            token.clone(),
        ]
    };
    let a1 = args("1");
    let a1: Vec<&str> = a1.iter().map(String::as_str).collect();
    let n1 = Node::launch(&dir.path().join("n1"), &http1, &grpc1, &a1);
    let client = reqwest::Client::new();
    let url1 = n1.url();
    // Node 2 is not running: node 1 cannot know what it reads. (Its /metrics answers before
    // the cluster has a quorum.)
    let deadline = Instant::now() + Duration::from_secs(30);
    while shared_columns(&client, &url1).await.is_none() {
        assert!(Instant::now() < deadline, "node 1 never served /metrics");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        shared_columns(&client, &url1).await,
        Some(0.0),
        "{}",
        n1.log()
    );

    let a2 = args("2");
    let a2: Vec<&str> = a2.iter().map(String::as_str).collect();
    let mut n2 = Node::launch(&dir.path().join("n2"), &http2, &grpc2, &a2);
    n2.wait_ready();
    for (n, url) in [(&n1, &url1), (&n2, &n2.url())] {
        let got = wait_for(&client, url, 1.0, Duration::from_secs(20)).await;
        assert_eq!(got, Some(1.0), "{}", n.log());
    }
}
