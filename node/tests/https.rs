//! The HTTP API over TLS, against a real node: remote-write and queries over HTTPS with a CA of
//! the test's own, a plain-HTTP client refused without harm, a rotated certificate served
//! without a restart, and a key that does not load refused at start.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{encode_write_v1, wall_clock_ms};
use tidemark_testkit::{ChildProcess, free_port};

/// A client that trusts only the CA in `dir/ca.pem`, opening a new connection per request (so
/// that each one sees the certificate served now).
fn client_trusting(dir: &Path) -> reqwest::Client {
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .tls_built_in_root_certs(false)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// Waits until `GET url` answers 200 through `client`.
async fn wait_ready(client: &reqwest::Client, url: &str, node: &mut ChildProcess) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(node.exited().is_none(), "tidemark exited: {}", node.log());
        assert!(Instant::now() < deadline, "not ready: {}", node.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn tidemark(data: &Path, http: &str, cert: &Path, key: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tidemark"));
    command
        .arg("--data-dir")
        .arg(data)
        .args(["--http-listen", http])
        .args(["--grpc-listen", &format!("127.0.0.1:{}", free_port())])
        .arg("--http-tls-cert-file")
        .arg(cert)
        .arg("--http-tls-key-file")
        .arg(key);
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_speaks_https_and_follows_a_rotated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (first, second, served) = (
        dir.path().join("first"),
        dir.path().join("second"),
        dir.path().join("served"),
    );
    for d in [&first, &second, &served] {
        std::fs::create_dir_all(d).unwrap();
    }
    tidemark_testkit::certs::make_certificates(&first).expect("openssl");
    tidemark_testkit::certs::make_certificates(&second).expect("openssl");
    for f in ["server.pem", "server.key"] {
        std::fs::copy(first.join(f), served.join(f)).unwrap();
    }
    let http = format!("127.0.0.1:{}", free_port());
    let command = tidemark(
        &dir.path().join("data"),
        &http,
        &served.join("server.pem"),
        &served.join("server.key"),
    );
    let mut node = ChildProcess::spawn("tidemark", command, &dir.path().join("n1.log")).unwrap();
    let base = format!("https://{http}");
    let trusting_first = client_trusting(&first);
    wait_ready(&trusting_first, &format!("{base}/-/ready"), &mut node).await;

    // Remote-write and a query over HTTPS.
    let now = wall_clock_ms();
    let labels = vec![("__name__".to_string(), "over_tls".to_string())];
    let r = trusting_first
        .post(format!("{base}/api/v1/write"))
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .body(encode_write_v1(&[(labels, vec![(now, 7.0)])]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let answer: serde_json::Value = trusting_first
        .post(format!("{base}/api/v1/query"))
        .form(&[("query", "over_tls")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["data"]["result"][0]["value"][1], "7", "{answer}");

    // Plain HTTP on the TLS port gets nothing, and the node goes on.
    let plain = reqwest::Client::new()
        .get(format!("http://{http}/-/ready"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(
        plain.as_ref().map_or(true, |r| !r.status().is_success()),
        "{plain:?}"
    );

    // A new certificate in place of the old one is served without a restart.
    let trusting_second = client_trusting(&second);
    assert!(
        trusting_second
            .get(format!("{base}/-/ready"))
            .send()
            .await
            .is_err()
    );
    for f in ["server.pem", "server.key"] {
        std::fs::copy(second.join(f), served.join(f)).unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(r) = trusting_second.get(format!("{base}/-/ready")).send().await {
            assert!(r.status().is_success());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the new certificate is not served: {}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // (A new client: one that connected before may resume its TLS session, which shows no
    // certificate.)
    let fresh_first = client_trusting(&first);
    assert!(
        fresh_first
            .get(format!("{base}/-/ready"))
            .send()
            .await
            .is_err()
    );
    assert!(
        node.log().contains("HTTP TLS certificate reloaded"),
        "{}",
        node.log()
    );
}

#[test]
fn a_key_that_does_not_load_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    tidemark_testkit::certs::make_certificates(dir.path()).expect("openssl");
    std::fs::write(dir.path().join("bad.key"), "not a key\n").unwrap();
    let out = tidemark(
        &dir.path().join("data"),
        &format!("127.0.0.1:{}", free_port()),
        &dir.path().join("server.pem"),
        &dir.path().join("bad.key"),
    )
    .output()
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("http_tls.key_file"), "{stderr}");
}
