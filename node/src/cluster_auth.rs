//! Who may call a node's gRPC services: members of its cluster, and nobody else.
//!
//! Every cluster has a secret, made when the cluster is created (random for a one-node start,
//! derived from `initial_cluster_token` for a fixed bootstrap, or read from
//! `cluster_secret_file`) and kept in each member's data directory; a node joins with a join
//! token (`tidemarkctl cluster join-token`) that carries the cluster id and the secret. Every
//! call between nodes carries the caller's cluster id (`x-tidemark-cluster-id`) and the secret
//! (`authorization: Bearer ...`); a node answers `PERMISSION_DENIED` to a node of another
//! cluster (an address reused by a new cluster, a stray process) and `UNAUTHENTICATED` to a
//! caller without the secret, before any service sees the request.
//!
//! A data directory made before cluster secrets has none: that node checks only the cluster
//! id, and says so at every start, until `cluster_secret_file` gives it one (the same file on
//! every member, restarted one at a time; `docs/security.md`). Without mutual TLS the secret
//! crosses the network in the clear, as a bearer token does over plain HTTP.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tonic::metadata::{AsciiMetadataValue, MetadataMap};
use tonic::{Request, Status};

/// The metadata key naming the caller's cluster.
pub const CLUSTER_ID_KEY: &str = "x-tidemark-cluster-id";

/// Characters of a cluster secret at least (a generated one has 64).
pub const SECRET_MIN_LEN: usize = 16;

/// What this node sends with every call to a peer and requires of every call it serves. The
/// default (no cluster) sends nothing and lets everything through: for tests that run Raft
/// groups without a cluster around them.
#[derive(Clone, Default)]
pub struct ClusterAuth {
    inner: Option<Arc<Credentials>>,
}

struct Credentials {
    cluster_id: String,
    id_value: AsciiMetadataValue,
    /// `Bearer <secret>`; `None` for a cluster made before secrets (its id is still checked).
    bearer: Option<AsciiMetadataValue>,
}

impl ClusterAuth {
    /// The credentials of cluster `cluster_id` with `secret` (`None`: a cluster older than
    /// secrets). Errors on a secret that cannot travel in gRPC metadata.
    pub fn new(cluster_id: &str, secret: Option<&str>) -> Result<Self, String> {
        let id_value = AsciiMetadataValue::try_from(cluster_id)
            .map_err(|e| format!("cluster id {cluster_id:?} is not a metadata value: {e}"))?;
        let bearer = match secret {
            Some(s) => {
                check_secret(s)?;
                Some(
                    AsciiMetadataValue::try_from(format!("Bearer {s}"))
                        .map_err(|e| format!("the cluster secret is not a metadata value: {e}"))?,
                )
            }
            None => None,
        };
        Ok(ClusterAuth {
            inner: Some(Arc::new(Credentials {
                cluster_id: cluster_id.to_string(),
                id_value,
                bearer,
            })),
        })
    }

    /// Whether calls are checked for the secret (false for a cluster older than secrets).
    pub fn has_secret(&self) -> bool {
        self.inner.as_ref().is_some_and(|c| c.bearer.is_some())
    }

    /// Adds this node's cluster id and secret to an outgoing call.
    pub fn stamp<T>(&self, request: &mut Request<T>) {
        if let Some(c) = &self.inner {
            stamp_metadata(c, request.metadata_mut());
        }
    }

    /// Lets a served call through, or says why not.
    pub fn check(&self, metadata: &MetadataMap) -> Result<(), Status> {
        let Some(c) = &self.inner else {
            return Ok(());
        };
        let theirs = metadata.get(CLUSTER_ID_KEY).and_then(|v| v.to_str().ok());
        if let Some(theirs) = theirs
            && theirs != c.cluster_id
        {
            return Err(Status::permission_denied(format!(
                "the caller belongs to cluster {theirs}, this node to cluster {}: nodes of \
                 another cluster are refused (an address reused by a new cluster?)",
                c.cluster_id
            )));
        }
        let Some(bearer) = &c.bearer else {
            return Ok(());
        };
        match metadata.get("authorization") {
            None => Err(Status::unauthenticated(format!(
                "this node of cluster {} needs the cluster secret on every call and none was \
                 sent: only members of the cluster may call it",
                c.cluster_id
            ))),
            Some(given) if constant_time_eq(given.as_bytes(), bearer.as_bytes()) => Ok(()),
            Some(_) => Err(Status::unauthenticated(format!(
                "wrong cluster secret for cluster {}",
                c.cluster_id
            ))),
        }
    }

    /// A tonic interceptor that checks every served call ([`Self::check`]).
    pub fn interceptor(
        &self,
    ) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + use<> {
        let this = self.clone();
        move |request: Request<()>| {
            this.check(request.metadata())?;
            Ok(request)
        }
    }
}

fn stamp_metadata(c: &Credentials, metadata: &mut MetadataMap) {
    metadata.insert(CLUSTER_ID_KEY, c.id_value.clone());
    if let Some(b) = &c.bearer {
        metadata.insert("authorization", b.clone());
    }
}

/// Compares without stopping at the first difference, so that timing does not tell how much of
/// a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Accepts a secret that can travel in metadata and is long enough to not be guessed.
pub fn check_secret(secret: &str) -> Result<(), String> {
    if secret.len() < SECRET_MIN_LEN {
        return Err(format!(
            "a cluster secret needs at least {SECRET_MIN_LEN} characters, got {}",
            secret.len()
        ));
    }
    if !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "a cluster secret may hold printable ASCII characters only (no spaces)".to_string(),
        );
    }
    Ok(())
}

/// A fresh random secret: 32 bytes as hex.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    hex(&bytes)
}

/// The secret of a fixed bootstrap (`initial_cluster`): every member computes it alone from
/// the token they share, as they do the cluster id.
pub fn derived_secret(token: &str, cluster_id: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"tidemark cluster secret\0");
    h.update(token.as_bytes());
    h.update(b"\0");
    h.update(cluster_id.as_bytes());
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A join token: `<cluster id>.<secret>`, what `--join-token` takes and
/// `tidemarkctl cluster join-token` prints.
#[derive(Clone, PartialEq, Eq)]
pub struct JoinToken {
    pub cluster_id: String,
    pub secret: String,
}

impl JoinToken {
    /// Reads a join token, saying what is wrong with a malformed one.
    pub fn parse(text: &str) -> Result<JoinToken, String> {
        let (id, secret) = text.trim().split_once('.').ok_or_else(|| {
            "a join token reads <cluster id>.<secret>: print one with `tidemarkctl cluster \
             join-token`"
                .to_string()
        })?;
        if id.is_empty() {
            return Err("the join token names no cluster".into());
        }
        check_secret(secret).map_err(|e| format!("bad join token: {e}"))?;
        Ok(JoinToken {
            cluster_id: id.to_string(),
            secret: secret.to_string(),
        })
    }
}

impl std::fmt::Display for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.cluster_id, self.secret)
    }
}

impl std::fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JoinToken({}.<secret>)", self.cluster_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(auth: &ClusterAuth) -> MetadataMap {
        let mut r = Request::new(());
        auth.stamp(&mut r);
        r.metadata().clone()
    }

    #[test]
    fn members_pass_and_everyone_else_is_told_why_not() {
        let secret = new_secret();
        let me = ClusterAuth::new("c1", Some(&secret)).unwrap();
        assert!(me.check(&call(&me)).is_ok());

        let nobody = me.check(&MetadataMap::new()).unwrap_err();
        assert_eq!(nobody.code(), tonic::Code::Unauthenticated);
        assert!(nobody.message().contains("none was sent"), "{nobody:?}");

        let guess = ClusterAuth::new("c1", Some(&new_secret())).unwrap();
        let wrong = me.check(&call(&guess)).unwrap_err();
        assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
        assert!(
            wrong.message().contains("wrong cluster secret"),
            "{wrong:?}"
        );

        let other = ClusterAuth::new("c2", Some(&secret)).unwrap();
        let stranger = me.check(&call(&other)).unwrap_err();
        assert_eq!(stranger.code(), tonic::Code::PermissionDenied);
        assert!(stranger.message().contains("cluster c2"), "{stranger:?}");
    }

    #[test]
    fn a_cluster_older_than_secrets_checks_the_id_only() {
        let legacy = ClusterAuth::new("c1", None).unwrap();
        assert!(!legacy.has_secret());
        assert!(legacy.check(&MetadataMap::new()).is_ok());
        let other = ClusterAuth::new("c2", None).unwrap();
        assert_eq!(
            legacy.check(&call(&other)).unwrap_err().code(),
            tonic::Code::PermissionDenied
        );
        assert!(ClusterAuth::default().check(&MetadataMap::new()).is_ok());
    }

    #[test]
    fn join_tokens_round_trip_and_bad_ones_are_explained() {
        let t = JoinToken {
            cluster_id: "0b6f-uuid".into(),
            secret: new_secret(),
        };
        assert_eq!(JoinToken::parse(&t.to_string()).unwrap(), t);
        assert!(!format!("{t:?}").contains(&t.secret));
        assert!(JoinToken::parse("no-dot").is_err());
        assert!(JoinToken::parse(".abcdefabcdefabcdef").is_err());
        assert!(JoinToken::parse("c.short").unwrap_err().contains("16"));
        assert!(JoinToken::parse("c.has spaces inside it").is_err());
    }

    #[test]
    fn derived_secrets_depend_on_token_and_cluster() {
        let a = derived_secret("t", "c");
        assert_eq!(a, derived_secret("t", "c"));
        assert_ne!(a, derived_secret("u", "c"));
        assert_ne!(a, derived_secret("t", "d"));
        assert!(check_secret(&a).is_ok());
        assert_ne!(new_secret(), new_secret());
    }
}
