//! The HTTP server's connection loop: what `axum::serve` does, plus the bounds it lacks
//! (`http_server:`): a client that sends its headers slowly, or keeps a connection idle, is
//! cut off after `header_read_timeout_ms`; a request body that stalls longer than
//! `body_read_timeout_ms` ends with 408; beyond `connections_max` open connections a new one
//! is answered 503 with `Retry-After` and closed. On stop it stops accepting and lets open
//! connections finish their requests (for up to `STOP_GRACE`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::config::HttpServerLimits;
use crate::metrics::HttpConnections;

/// How long open connections may take to finish once the node stops.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// What a connection beyond `connections_max` reads before it is closed.
fn too_many_connections() -> Vec<u8> {
    let body = r#"{"status":"error","errorType":"unavailable","error":"too many connections (http_server.connections_max): retry later"}"#;
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n\
         Connection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// A served connection's slot under `connections_max`, counted open while it lives.
struct Slot {
    _permit: OwnedSemaphorePermit,
    counted: HttpConnections,
}

impl Slot {
    fn new(permit: OwnedSemaphorePermit, counted: HttpConnections) -> Self {
        counted.opened();
        Slot {
            _permit: permit,
            counted,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counted.closed();
    }
}

/// Serves `app` on `listener` until `stop` turns true; over TLS with `tls`. Connections are
/// counted in `counted`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpServerLimits,
    tls: Option<TlsAcceptor>,
    counted: HttpConnections,
    mut stop: watch::Receiver<bool>,
) {
    let app = app.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        Duration::from_millis(limits.body_read_timeout_ms),
    ));
    // HTTP/1.1 only (what Prometheus, agents and Grafana speak to a data source): hyper's
    // header timeout then covers a connection from its first byte, and no HTTP/2 connection
    // can sit idle without one.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms));
    let connections = Arc::new(Semaphore::new(limits.connections_max));
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        let (tcp, remote) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors, for example: wait instead of spinning.
                tracing::warn!(error = %e, "HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Nagle off, as Go's HTTP servers (Prometheus') have it: a response written in more
        // than one piece must not wait for the client's delayed ACK.
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set on an HTTP connection");
        }
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            counted.refused();
            tokio::spawn(refuse(tcp));
            continue;
        };
        let permit = Slot::new(permit, counted.clone());
        let service = app
            .clone()
            .map_request(move |req: hyper::Request<Incoming>| {
                let mut req = req.map(Body::new);
                // Who is calling, for the audit log.
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(remote));
                req
            })
            .map_err(|e: Infallible| match e {});
        let service = TowerToHyperService::new(service);
        match &tls {
            None => {
                let conn = graceful.watch(builder.serve_connection(TokioIo::new(tcp), service));
                tokio::spawn(async move {
                    let _permit = permit;
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "HTTP connection ended");
                    }
                });
            }
            Some(acceptor) => {
                // The handshake gets the header timeout: a client that opens a connection and
                // says nothing holds it no longer than one that sends no headers.
                let handshake = tokio::time::timeout(
                    Duration::from_millis(limits.header_read_timeout_ms),
                    acceptor.accept(tcp),
                );
                let builder = builder.clone();
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    let _permit = permit;
                    let stream = match handshake.await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, %remote, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%remote, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn =
                        watcher.watch(builder.serve_connection(TokioIo::new(stream), service));
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "HTTPS connection ended");
                    }
                });
            }
        }
    }
    if tokio::time::timeout(STOP_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("HTTP connections still open after the stop grace period");
    }
}

/// Tells a connection beyond the cap to come back later, and closes it.
async fn refuse(mut tcp: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = tcp.write_all(&too_many_connections()).await;
        let _ = tcp.shutdown().await;
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_whole_http_response() {
        let bytes = too_many_connections();
        let text = std::str::from_utf8(&bytes).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["errorType"], "unavailable");
    }
}
