//! Mutual TLS between nodes (`grpc_tls:`): every gRPC connection, served or opened, is TLS
//! with a certificate on both ends, each checked against the cluster's CA bundle. A node
//! without a certificate from that CA cannot open a connection at all, so a stranger never
//! reaches the cluster-secret check ([`crate::cluster_auth`]), and the secret never crosses the
//! network in the clear.
//!
//! The certificate, its key and the CA bundle are read again when a file changes
//! ([`Reloading`]): new connections, served and opened, use the new files; open ones keep the
//! certificate they were made with. Rotating the CA itself takes a bundle with both CAs on
//! every node first, then the new certificates, then the bundle without the old CA.
//!
//! Every member must have it on or off alike: a node with `grpc_tls` neither serves nor reaches
//! a node without it (`docs/security.md`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::ServerName;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_stream::wrappers::ReceiverStream;

use crate::tls_files::{self, Reloading};

/// How long an accepted connection has to finish its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the gRPC server to take them.
const ACCEPTED_QUEUE: usize = 64;

/// Handshakes under way at once; beyond, accepting waits (a flood of stalled handshakes holds
/// no more file descriptors than this).
const HANDSHAKES_MAX: usize = 256;

/// Where this node's certificate, its key and the cluster's CA bundle are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcTlsConfig {
    /// PEM certificate chain of this node, its own first; used to serve and to call, so it
    /// needs both the `serverAuth` and `clientAuth` extended key usages and a subject
    /// alternative name for the host of this node's gRPC address (`--grpc-tls-cert-file`).
    pub cert_file: PathBuf,
    /// PEM private key of that certificate (`--grpc-tls-key-file`).
    pub key_file: PathBuf,
    /// PEM bundle of the CAs whose certificates are members (`--grpc-tls-ca-file`).
    pub ca_file: PathBuf,
    /// The name a peer's certificate must carry; by default the host of the address called.
    #[serde(default)]
    pub server_name: Option<String>,
}

/// This node's TLS for gRPC, both ends, following its files.
#[derive(Debug)]
pub struct GrpcTls {
    server: Reloading<Arc<ServerConfig>>,
    client: Reloading<Arc<ClientConfig>>,
    server_name: Option<ServerName<'static>>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn server_config(files: &GrpcTlsConfig) -> Result<Arc<ServerConfig>, String> {
    let roots = Arc::new(tls_files::roots(&files.ca_file, "grpc_tls.ca_file")?);
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(roots, provider())
        .build()
        .map_err(|e| format!("grpc_tls.ca_file: {e}"))?;
    let key = tls_files::certified_key(&files.cert_file, &files.key_file, "grpc_tls")?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("grpc_tls: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(rustls::sign::SingleCertAndKey::from(key)));
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

fn client_config(files: &GrpcTlsConfig) -> Result<Arc<ClientConfig>, String> {
    let roots = tls_files::roots(&files.ca_file, "grpc_tls.ca_file")?;
    let chain = tls_files::chain(&files.cert_file, "grpc_tls.cert_file")?;
    let key = tls_files::private_key(&files.key_file, "grpc_tls.key_file")?;
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("grpc_tls: {e}"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("grpc_tls: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

impl GrpcTls {
    /// Loads the files now: an error names the file and what is wrong with it.
    pub fn new(files: &GrpcTlsConfig) -> Result<Arc<Self>, String> {
        let paths = vec![
            files.cert_file.clone(),
            files.key_file.clone(),
            files.ca_file.clone(),
        ];
        let server_name = match &files.server_name {
            None => None,
            Some(name) => Some(
                ServerName::try_from(name.clone())
                    .map_err(|e| format!("grpc_tls.server_name {name:?}: {e}"))?,
            ),
        };
        let server = {
            let files = files.clone();
            Reloading::new("gRPC TLS (serving)", paths.clone(), move || {
                server_config(&files)
            })?
        };
        let client = {
            let files = files.clone();
            Reloading::new("gRPC TLS (calling)", paths, move || client_config(&files))?
        };
        Ok(Arc::new(GrpcTls {
            server,
            client,
            server_name,
        }))
    }

    /// The connections accepted on `listener`, each handshaken (a client certificate from the
    /// CA required) before the gRPC server sees it; one that fails or stalls its handshake is
    /// logged and dropped. Handshakes run side by side, so a slow one holds up nobody, up to
    /// [`HANDSHAKES_MAX`] at once.
    pub fn incoming(
        self: &Arc<Self>,
        listener: TcpListener,
    ) -> ReceiverStream<std::io::Result<TlsConn>> {
        let (tx, rx) = tokio::sync::mpsc::channel(ACCEPTED_QUEUE);
        let tls = self.clone();
        let handshakes = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES_MAX));
        tokio::spawn(async move {
            loop {
                let Ok(permit) = handshakes.clone().acquire_owned().await else {
                    return;
                };
                let accepted = tokio::select! {
                    accepted = listener.accept() => accepted,
                    _ = tx.closed() => return,
                };
                let (tcp, remote) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors, say: wait instead of spinning.
                        tracing::warn!(error = %e, "gRPC accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // As for plain connections (server.rs): no Nagle delay on small replies.
                let _ = tcp.set_nodelay(true);
                let acceptor = TlsAcceptor::from(tls.server.current());
                let tx = tx.clone();
                tokio::spawn(async move {
                    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp));
                    let done = handshake.await;
                    drop(permit);
                    match done {
                        Ok(Ok(stream)) => {
                            let _ = tx.send(Ok(TlsConn { stream, remote })).await;
                        }
                        Ok(Err(e)) => tracing::warn!(
                            %remote, error = %e,
                            "gRPC connection refused: TLS handshake failed (no certificate from \
                             grpc_tls.ca_file, or not TLS at all?)"
                        ),
                        Err(_) => tracing::warn!(
                            %remote,
                            "gRPC connection dropped: TLS handshake not done within {HANDSHAKE_TIMEOUT:?}"
                        ),
                    }
                });
            }
        });
        ReceiverStream::new(rx)
    }

    /// Opens a TLS connection to `addr` (`host:port`), this node's certificate presented and
    /// the peer's checked against the CA bundle and the host (or `server_name`).
    pub async fn connect(
        &self,
        addr: &str,
    ) -> std::io::Result<TokioIo<tokio_rustls::client::TlsStream<TcpStream>>> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => server_name_of(addr)?,
        };
        let tcp = TcpStream::connect(addr).await?;
        let _ = tcp.set_nodelay(true);
        let stream = TlsConnector::from(self.client.current())
            .connect(name, tcp)
            .await?;
        Ok(TokioIo::new(stream))
    }
}

/// The name a peer at `addr` must have in its certificate: its IP address or DNS name.
fn server_name_of(addr: &str) -> std::io::Result<ServerName<'static>> {
    let host = match addr.rsplit_once(':') {
        Some((host, _port)) => host,
        None => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("peer address {addr}: {host:?} is not a name a certificate can carry: {e}"),
        )
    })
}

/// A served connection after its handshake.
pub struct TlsConn {
    stream: tokio_rustls::server::TlsStream<TcpStream>,
    remote: SocketAddr,
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo {
            local_addr: self.stream.get_ref().0.local_addr().ok(),
            remote_addr: Some(self.remote),
        }
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_peer_address_names_the_host_its_certificate_must_carry() {
        let name = |a: &str| server_name_of(a).map(|n| n.to_str().into_owned());
        assert_eq!(name("127.0.0.1:7001").unwrap(), "127.0.0.1");
        assert_eq!(name("[::1]:7001").unwrap(), "::1");
        assert_eq!(
            name("node-2.tidemark.svc:7001").unwrap(),
            "node-2.tidemark.svc"
        );
        assert!(name("bad_host!:7001").is_err());
    }
}
