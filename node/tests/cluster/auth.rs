//! Only members of the cluster get in: every gRPC service of a real node refuses callers
//! without the cluster secret (`UNAUTHENTICATED`) and nodes of another cluster
//! (`PERMISSION_DENIED`, naming both clusters) and keeps serving; a node joins only with the
//! cluster's join token, which admins alone read; secrets never show in the status endpoints.

use tidemark_proto::node::ShardRequest;
use tidemark_proto::node::shard_service_client::ShardServiceClient;
use tidemark_proto::raft::raft_transport_client::RaftTransportClient;
use tidemark_proto::raft::{RaftRequest, SnapshotChunk};
use tonic::Code;
use tonic::metadata::MetadataValue;

use super::*;

/// Who a hand-made gRPC call claims to be.
#[derive(Clone, Copy, Debug)]
enum Caller<'a> {
    Nobody,
    OtherCluster(&'a str),
    WrongSecret(&'a str),
}

fn request<T>(message: T, caller: Caller) -> tonic::Request<T> {
    let mut r = tonic::Request::new(message);
    let guess = "0123456789abcdef0123456789abcdef";
    let (id, secret) = match caller {
        Caller::Nobody => return r,
        Caller::OtherCluster(id) => (id, guess),
        Caller::WrongSecret(id) => (id, guess),
    };
    let md = r.metadata_mut();
    md.insert(
        "x-tidemark-cluster-id",
        MetadataValue::try_from(id).unwrap(),
    );
    md.insert(
        "authorization",
        MetadataValue::try_from(format!("Bearer {secret}")).unwrap(),
    );
    r
}

/// The status of every RPC of both services called as `caller`, by name.
async fn call_every_rpc(grpc: &str, caller: Caller<'_>) -> Vec<(&'static str, tonic::Status)> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut raft = RaftTransportClient::new(channel.clone());
    let mut shard = ShardServiceClient::new(channel);
    let rr = || request(RaftRequest::default(), caller);
    let sr = || request(ShardRequest::default(), caller);
    let chunks = || request(tokio_stream::iter(vec![SnapshotChunk::default()]), caller);
    let mut out = Vec::new();
    macro_rules! status {
        ($name:literal, $call:expr) => {
            match $call.await {
                Ok(_) => panic!("{} answered a caller {caller:?}", $name),
                Err(s) => out.push(($name, s)),
            }
        };
    }
    status!("AppendEntries", raft.append_entries(rr()));
    status!("Vote", raft.vote(rr()));
    status!("PreVote", raft.pre_vote(rr()));
    status!("TransferLeader", raft.transfer_leader(rr()));
    status!("InstallSnapshot", raft.install_snapshot(chunks()));
    status!("Write", shard.write(sr()));
    status!("ReadIndex", shard.read_index(sr()));
    status!("ChangeMember", shard.change_member(sr()));
    status!("DeleteSeries", shard.delete_series(sr()));
    status!("Read", shard.read(sr()));
    status!("ReadStream", shard.read_stream(sr()));
    status!("GroupStatus", shard.group_status(sr()));
    status!("ProposeMeta", shard.propose_meta(sr()));
    status!("ProposeRuler", shard.propose_ruler(sr()));
    status!("CommandLevel", shard.command_level(sr()));
    status!("RunMaintenance", shard.run_maintenance(sr()));
    out
}

/// Waits until `node`'s process has exited (a refused start); its log.
async fn exited(mut node: Node) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !node.has_exited() {
        assert!(
            Instant::now() < deadline,
            "the node kept running: {}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    node.log()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_members_of_the_cluster_get_in() {
    let config_dir = tempfile::tempdir().unwrap();
    let config = config_dir.path().join("tidemark.yaml");
    std::fs::write(&config, format!("admin_token: {ADMIN_TOKEN}\n")).unwrap();
    let config = config.to_str().unwrap().to_string();
    let c = start_cluster(&["--config", &config]);
    let client = reqwest::Client::new();
    let urls: Vec<String> = c.nodes.iter().map(|n| n.url()).collect();
    write_acked(&client, &urls[0], 0).await;

    let token: serde_json::Value = api_get(
        &client,
        &format!("{}/api/v1/admin/cluster/join-token", urls[0]),
    )
    .await;
    let token = token["joinToken"].as_str().unwrap().to_string();
    let (cluster_id, secret) = token.split_once('.').unwrap();
    let status = cluster_status(&client, &urls[0]).await;
    assert_eq!(status.cluster_id, cluster_id);

    // Every RPC of both services, to node 2.
    let grpc = &c.nodes[1].grpc_addr;
    for (name, s) in call_every_rpc(grpc, Caller::Nobody).await {
        assert_eq!(s.code(), Code::Unauthenticated, "{name}: {s:?}");
        assert!(s.message().contains("none was sent"), "{name}: {s:?}");
    }
    for (name, s) in call_every_rpc(grpc, Caller::WrongSecret(cluster_id)).await {
        assert_eq!(s.code(), Code::Unauthenticated, "{name}: {s:?}");
        assert!(
            s.message().contains("wrong cluster secret"),
            "{name}: {s:?}"
        );
    }
    let other = "00000000-0000-4000-8000-000000000000";
    for (name, s) in call_every_rpc(grpc, Caller::OtherCluster(other)).await {
        assert_eq!(s.code(), Code::PermissionDenied, "{name}: {s:?}");
        assert!(
            s.message().contains(other) && s.message().contains(cluster_id),
            "{name}: {s:?}"
        );
    }

    // The join token is an admin's only; the status endpoints show no secret.
    let r = client
        .get(format!("{}/api/v1/admin/cluster/join-token", urls[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    for path in ["/api/v1/status/config", "/api/v1/status/flags"] {
        let body = client
            .get(format!("{}{path}", urls[1]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!body.contains(secret), "{path} shows the secret: {body}");
        assert!(!body.contains(ADMIN_TOKEN), "{path} shows the admin token");
    }

    // Joining: without a token, with one of another cluster, with a wrong secret: refused.
    let dir = tempfile::tempdir().unwrap();
    let launch = |name: &str, extra: &[&str]| {
        let mut args = vec!["--node-id", "4", "--join", &urls[1], "--config", &config];
        args.extend_from_slice(extra);
        Node::launch(
            &dir.path().join(name),
            &format!("127.0.0.1:{}", free_port()),
            &format!("127.0.0.1:{}", free_port()),
            &args,
        )
    };
    let log = exited(launch("none", &[])).await;
    assert!(log.contains("needs its join token"), "{log}");
    let foreign = format!("{other}.{secret}");
    let log = exited(launch("foreign", &["--join-token", &foreign])).await;
    assert!(
        log.contains(&format!("the join token is for cluster {other}")),
        "{log}"
    );
    // A guessed secret is refused before the node stores it: the same data directory then
    // joins with the right token.
    let guessed = format!("{cluster_id}.0123456789abcdef0123456789abcdef");
    let log = exited(launch("guessed", &["--join-token", &guessed])).await;
    assert!(log.contains("refuses the join token"), "{log}");
    let (voters, learners) = meta_members(&client, &urls[0]).await;
    assert!(
        !voters.contains(&4) && !learners.contains(&4),
        "{voters:?} {learners:?}"
    );
    let mut n4 = launch("guessed", &["--join-token", &token]);
    n4.wait_ready();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (voters, learners) = meta_members(&client, &urls[0]).await;
        if voters.contains(&4) || learners.contains(&4) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "node 4 never joined: {}",
            n4.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The cluster kept serving throughout: what was written is there, and more goes in.
    write_acked(&client, &urls[2], 1).await;
    assert_eq!(
        series_seen(&client, &urls[1], 1).await,
        2 * SERIES_PER_BATCH
    );
}
