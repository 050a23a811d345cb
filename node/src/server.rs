//! Wires a node together: storage, Raft groups, the gRPC and HTTP servers, and a clean shutdown
//! that flushes every head before the process exits.

use std::sync::Arc;

use anyhow::Context;
use tidemark_storage::rocks::memory::MemoryBudget;
use tidemark_storage::{EngineOptions, RocksEngine};
use tokio::net::TcpListener;
use tracing::info;

use crate::config::Config;
use crate::groups::JoinTarget;
use crate::http::{AppState, router};
use crate::node::Node;

/// Logs to stderr; `RUST_LOG` filters (default `info`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal: logs collected into files or journald stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A log line that cannot be written (its file's disk is full) is dropped: by default
        // the subscriber reports that with `eprintln!`, which panics when stderr fails too,
        // killing whatever task was logging.
        .log_internal_errors(false)
        .init();
}

/// The exit status after a failed write of the Raft log (EX_TEMPFAIL: start again).
pub const EXIT_LOG_FAILED: i32 = 75;

/// Runs the node until SIGINT or SIGTERM, then flushes and stops; exits at once with
/// [`EXIT_LOG_FAILED`] when a write of the Raft log fails.
pub async fn run(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data directory {}", config.data_dir.display()))?;
    let data_path = config.data_dir.join("data");
    let budget = MemoryBudget::new(config.storage.data_budget_bytes());
    let engine = tokio::task::spawn_blocking(move || {
        RocksEngine::open_with_budget(&data_path, EngineOptions::default(), budget)
    })
    .await?
    .context("cannot open the data store")?;
    let member = match &config.join {
        None => None,
        Some(url) => Some(crate::join::Member::new(
            url,
            config.join_ca_file.as_deref(),
        )?),
    };
    let join = match &member {
        None => None,
        Some(member) => {
            join_target(
                member,
                config.join_token.as_deref(),
                config.admin_token.as_deref(),
                &config.data_dir,
            )
            .await?
        }
    };
    let config = Arc::new(config);
    let node = Node::open(config.clone(), join, Arc::new(engine))
        .await
        .context("cannot start the Raft groups")?;

    let tls = match &config.http_tls {
        Some(files) => Some(crate::http_tls::acceptor(files).map_err(anyhow::Error::msg)?),
        None => None,
    };
    let grpc_listener = TcpListener::bind(&config.grpc_listen)
        .await
        .with_context(|| format!("cannot listen on {} (gRPC)", config.grpc_listen))?;
    let http_listener = TcpListener::bind(&config.http_listen)
        .await
        .with_context(|| format!("cannot listen on {} (HTTP)", config.http_listen))?;
    info!(
        node_id = config.node_id,
        cluster_id = node.cluster_id(),
        http = %config.http_listen,
        https = config.http_tls.is_some(),
        grpc_mtls = config.grpc_tls.is_some(),
        grpc = %config.grpc_listen,
        data_dir = %config.data_dir.display(),
        node = node.shard_count(),
        "tidemark started"
    );

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let grpc = {
        let mut stop = stop_rx.clone();
        let service = node.transport_service();
        let shard_service = node.shard_service();
        // Members of this cluster only: checked before any service sees a call.
        let auth = tonic::service::InterceptorLayer::new(node.cluster_auth().interceptor());
        // Every answer carries this node's time, from which callers estimate clock offsets.
        let stamp =
            tower::util::MapResponseLayer::new(crate::peer_clock::stamp::<tonic::body::Body>);
        let router = tonic::transport::Server::builder()
            .layer(auth)
            .layer(stamp)
            .add_service(service)
            .add_service(shard_service);
        let tls = node.grpc_tls().cloned();
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stop.changed().await;
            };
            match tls {
                // Mutual TLS: only connections with a certificate from the CA get this far.
                Some(tls) => {
                    router
                        .serve_with_incoming_shutdown(tls.incoming(grpc_listener), stopped)
                        .await
                }
                // Nagle off on accepted connections, as tonic does for listeners it binds
                // itself: otherwise a small reply (a vote, a read index) waits for the peer's
                // delayed ACK, about 40 ms on Linux, and every linearizable query through a
                // follower pays it. (The TLS path sets it too.)
                None => {
                    let incoming = tonic::transport::server::TcpIncoming::from(grpc_listener)
                        .with_nodelay(Some(true));
                    router.serve_with_incoming_shutdown(incoming, stopped).await
                }
            }
        })
    };
    let http = {
        let state = Arc::new(AppState::new(node.clone(), config.clone()));
        let metrics = state.metrics.clone();
        let connections = metrics.http_connections();
        if config.self_scrape {
            node.keep_task(crate::self_scrape::start(
                Arc::downgrade(&node),
                metrics.clone(),
                config.http_listen.clone(),
                std::time::Duration::from_millis(config.self_scrape_interval_ms),
            ));
        }
        let app = router(state)
            .merge(crate::http::cluster::routes(node.clone()))
            .merge(crate::http::retention::routes(node.clone()))
            .merge(crate::http::tokens::routes(node.clone()))
            .route_layer(axum::middleware::from_fn_with_state(
                metrics,
                crate::http::track,
            ))
            .layer(axum::middleware::from_fn_with_state(
                Arc::new(crate::http::auth::Access::new(
                    &config,
                    node.clone(),
                    node.join_token().map(|t| t.to_string()),
                )),
                crate::http::auth::authorize,
            ));
        let limits = config.http_server.clone();
        let stop = stop_rx.clone();
        tokio::spawn(crate::http_server::serve(
            http_listener,
            app,
            limits,
            tls,
            connections,
            stop,
        ))
    };

    if let Some(member) = member {
        tokio::spawn(crate::join::add_self(
            Arc::downgrade(&node),
            member,
            config.admin_token.clone(),
        ));
    }

    if let Some(trimmer) = crate::c_heap::start_trimmer(
        std::time::Duration::from_millis(config.storage.malloc_trim_interval_ms),
        config.storage.malloc_trim_threshold.as_u64(),
    ) {
        node.keep_task(trimmer);
    }
    tokio::spawn(reload_on_sighup(node.clone()));
    tokio::select! {
        () = shutdown_signal() => {}
        // Fail-stop: the next start reopens the log and replays what is durable. No flush on
        // the way out, as after a kill: the heads come back from the log.
        failure = node.log_failed() => {
            tracing::error!(
                error = %failure,
                "stopping: a write of the Raft log failed, and its files are not written again \
                 by this process; start the node again (a supervisor with Restart=on-failure \
                 does) to reopen the log and replay what is on disk. Nothing the failed write \
                 carried was acknowledged"
            );
            // `_exit`, not `exit`: no atexit handlers or C++ static destructors (RocksDB's)
            // running while the other threads still work, which made the status vary.
            // Nothing needs flushing: stderr is unbuffered, the data is in the log.
            // SAFETY: `_exit` ends the process at once; nothing runs after it.
            unsafe { libc::_exit(EXIT_LOG_FAILED) }
        }
    }
    info!("shutting down: flushing every shard");
    let _ = stop_tx.send(true);
    let _ = http.await;
    node.shutdown().await.context("flush on shutdown failed")?;
    let _ = grpc.await;
    info!("stopped");
    Ok(())
}

/// The cluster to join through `member`. A node that has started before (its data directory has
/// a Raft log) starts even when the member cannot be asked: it already knows its cluster, and
/// its groups' leaders reach it. A new node must learn the cluster first.
async fn join_target(
    member: &crate::join::Member,
    token: Option<&str>,
    admin_token: Option<&str>,
    data_dir: &std::path::Path,
) -> anyhow::Result<Option<JoinTarget>> {
    let known = data_dir.join("raft-log").exists();
    let bearer = token.or(admin_token);
    let token = token
        .map(crate::cluster_auth::JoinToken::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("join_token: {e}"))?;
    let mut attempt = 0;
    loop {
        match crate::join::cluster_of(member, bearer).await {
            Ok(mut t) => {
                if let Some(token) = &token {
                    anyhow::ensure!(
                        token.cluster_id == t.cluster_id,
                        "the join token is for cluster {}, but {} belongs to cluster {}",
                        token.cluster_id,
                        member.url(),
                        t.cluster_id
                    );
                    if !known {
                        crate::join::check_token(member, &token.to_string()).await?;
                    }
                    t.secret = Some(token.secret.clone());
                }
                return Ok(Some(t));
            }
            Err(e) if known => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "cannot reach the member to join; starting with the cluster this node knows"
                );
                return Ok(None);
            }
            Err(e) if attempt < JOIN_ATTEMPTS => {
                attempt += 1;
                tracing::warn!(
                    error = format!("{e:#}"),
                    attempt,
                    "cannot reach the member to join; retrying"
                );
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
            Err(e) => return Err(e.context(format!("cannot join through {}", member.url()))),
        }
    }
}

/// Attempts to learn the cluster from the `--join` member before a new node gives up.
const JOIN_ATTEMPTS: u32 = 30;

/// Re-reads the node's `--notifier-config` at every SIGHUP (as Alertmanager does); a bad file
/// is logged and changes nothing.
async fn reload_on_sighup(node: Arc<Node>) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        tracing::warn!("no SIGHUP handler: reload with POST /-/reload");
        return;
    };
    while hup.recv().await.is_some() {
        match node.notifier().reload().await {
            Ok(()) => info!("SIGHUP: notifier configuration reloaded"),
            Err(e) => tracing::error!(error = %e, "SIGHUP: notifier configuration not reloaded"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler cannot fail on Unix");
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
