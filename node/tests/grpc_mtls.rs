//! Mutual TLS between nodes (`grpc_tls`), against three real processes: the cluster elects,
//! replicates and answers through any member with every gRPC connection on TLS; a caller
//! without a certificate, with one of another CA, or speaking plain HTTP/2 never reaches a
//! service (while a member's certificate without the cluster secret reaches the secret check
//! and is refused there); a rotated certificate is served without a restart and the cluster
//! keeps working on it; files that do not load stop the start with a message naming them.

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use support::{Node, encode_write_v1, launch_three, post_write_v1, value_now, wall_clock_ms};
use tidemark_proto::node::ShardRequest;
use tidemark_proto::node::shard_service_client::ShardServiceClient;
use tidemark_testkit::certs::{Usage, issue, make_ca};

fn tls_flags(certs: &Path) -> Vec<String> {
    let file = |name: &str| certs.join(name).display().to_string();
    vec![
        "--grpc-tls-cert-file".into(),
        file("member.pem"),
        "--grpc-tls-key-file".into(),
        file("member.key"),
        "--grpc-tls-ca-file".into(),
        file("ca.pem"),
    ]
}

/// A rustls client config trusting `ca`, presenting `identity` (`dir/name.pem` and `.key`).
fn client_config(ca: &Path, identity: Option<(&Path, &str)>) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some((dir, name)) => {
            let chain = CertificateDer::pem_file_iter(dir.join(format!("{name}.pem")))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let key = PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

/// Calls `GroupStatus` of the node at `grpc` over TLS with `config` (no cluster secret).
async fn group_status_over_tls(
    grpc: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<(), tonic::Status> {
    let addr = grpc.to_string();
    let connector = tower::service_fn(move |_: tonic::transport::Uri| {
        let (config, addr) = (config.clone(), addr.clone());
        async move {
            let tcp = tokio::net::TcpStream::connect(&addr).await?;
            let name = ServerName::try_from("127.0.0.1").unwrap();
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(tls))
        }
    });
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
        .unwrap()
        .timeout(Duration::from_secs(5))
        .connect_with_connector(connector)
        .await
        .map_err(|e| tonic::Status::unavailable(format!("connect: {e}")))?;
    ShardServiceClient::new(channel)
        .group_status(ShardRequest::default())
        .await
        .map(|_| ())
}

/// The leaf certificate the node at `grpc` serves now.
async fn served_certificate(grpc: &str, config: Arc<rustls::ClientConfig>) -> Vec<u8> {
    let tcp = tokio::net::TcpStream::connect(grpc).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let tls = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

fn leaf_of(pem: &Path) -> Vec<u8> {
    CertificateDer::pem_file_iter(pem)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .to_vec()
}

async fn write_one(client: &reqwest::Client, base: &str, name: &str, value: f64) {
    let series = vec![(
        vec![("__name__".to_string(), name.to_string())],
        vec![(wall_clock_ms(), value)],
    )];
    let (status, text) = post_write_v1(client, base, encode_write_v1(&series))
        .await
        .unwrap();
    assert_eq!(status, 204, "write through {base}: {text}");
}

/// Waits until `expr` answers `want` at `base`.
async fn wait_value(client: &reqwest::Client, base: &str, expr: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = value_now(client, base, expr).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{expr} at {base}: {got}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_speak_mutual_tls_and_strangers_never_reach_a_service() {
    let dir = tempfile::tempdir().unwrap();
    let (certs, stranger) = (dir.path().join("certs"), dir.path().join("stranger"));
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::create_dir_all(&stranger).unwrap();
    make_ca(&certs).expect("openssl");
    issue(&certs, "member", Usage::ServerAndClient).unwrap();
    issue(&certs, "rotated", Usage::ServerAndClient).unwrap();
    make_ca(&stranger).unwrap();
    issue(&stranger, "member", Usage::ServerAndClient).unwrap();

    let flags = tls_flags(&certs);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    std::fs::create_dir_all(dir.path().join("cluster")).unwrap();
    let mut nodes = launch_three(&dir.path().join("cluster"), &flags);
    let client = reqwest::Client::new();

    // Replication between members: written through one, read through the others.
    write_one(&client, &nodes[0].url(), "mtls_probe", 1.0).await;
    for n in &nodes {
        wait_value(&client, &n.url(), "mtls_probe", 1).await;
    }

    let grpc = nodes[1].grpc_addr.clone();
    let ca = certs.join("ca.pem");
    // A member's certificate gets through TLS, and then needs the cluster secret.
    let status = group_status_over_tls(&grpc, client_config(&ca, Some((&certs, "member"))))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    // The others never reach the secret check.
    for (who, config) in [
        ("no certificate", client_config(&ca, None)),
        (
            "another CA's certificate",
            client_config(&ca, Some((&stranger, "member"))),
        ),
    ] {
        let status = group_status_over_tls(&grpc, config).await.unwrap_err();
        assert_ne!(
            status.code(),
            tonic::Code::Unauthenticated,
            "{who}: {status:?}"
        );
    }
    let plain = async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
            .unwrap()
            .timeout(Duration::from_secs(5))
            .connect()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        ShardServiceClient::new(channel)
            .group_status(ShardRequest::default())
            .await
    };
    let status = plain.await.unwrap_err();
    assert_ne!(
        status.code(),
        tonic::Code::Unauthenticated,
        "plain HTTP/2: {status:?}"
    );
    assert!(
        nodes[1].log().contains("TLS handshake failed"),
        "refused handshakes are logged:\n{}",
        nodes[1].log()
    );

    // Rotation: new files, same paths; new connections get the new certificate.
    let old = leaf_of(&certs.join("member.pem"));
    for ext in ["key", "pem"] {
        let tmp = certs.join(format!("member.{ext}.new"));
        std::fs::copy(certs.join(format!("rotated.{ext}")), &tmp).unwrap();
        std::fs::rename(&tmp, certs.join(format!("member.{ext}"))).unwrap();
    }
    let rotated = leaf_of(&certs.join("rotated.pem"));
    assert_ne!(old, rotated);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let served = served_certificate(&grpc, client_config(&ca, Some((&certs, "rotated")))).await;
        if served == rotated {
            break;
        }
        assert_eq!(served, old);
        assert!(
            Instant::now() < deadline,
            "the rotated certificate is not served"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // A restarted member connects with the rotated certificate both ways.
    nodes[2].stop();
    nodes[2].restart();
    write_one(&client, &nodes[2].url(), "mtls_after_rotation", 1.0).await;
    for n in &nodes {
        wait_value(&client, &n.url(), "mtls_after_rotation", 1).await;
    }
    for n in &nodes {
        assert!(n.is_running(), "{}", n.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_tls_files_that_do_not_load_stop_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    make_ca(&certs).expect("openssl");
    issue(&certs, "member", Usage::ServerAndClient).unwrap();
    std::fs::write(certs.join("ca.pem"), "not a certificate\n").unwrap();
    let flags = tls_flags(&certs);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut node = Node::launch(
        &dir.path().join("data"),
        &format!("127.0.0.1:{}", tidemark_testkit::free_port()),
        &format!("127.0.0.1:{}", tidemark_testkit::free_port()),
        &flags,
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !node.has_exited() {
        assert!(Instant::now() < deadline, "started anyway:\n{}", node.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        node.log().contains("grpc_tls.ca_file"),
        "the error names the setting:\n{}",
        node.log()
    );
}
