//! How far the other nodes' wall clocks are from this node's, as the answers of their gRPC
//! services show: every answer carries the time its node sent it (`x-tidemark-time-ms`), and a
//! caller that knows when it sent the call and when the answer came estimates the peer's
//! offset as `their time - (sent + received) / 2` (NTP's estimate; off by at most half the
//! round trip). Raft messages and calls between nodes refresh the estimates as they go, and
//! [`probe`] asks every member for its time every few seconds, so that a node that calls a
//! peer for nothing else still sees it.
//!
//! Routing by time (shard-map versions, `future_window_ms`) rests on clocks agreeing to well
//! within the shard-map lead time: `/metrics` shows each offset
//! (`tidemark_peer_clock_offset_seconds`), and the log says when one passes
//! [`WARN_OFFSET_MS`]. Nothing is decided from these estimates.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tonic::codegen::http;
use tonic::metadata::MetadataMap;

use crate::raft::NodeId;

/// The header (gRPC response metadata) carrying the answering node's wall clock, in
/// milliseconds since the epoch.
pub const TIME_KEY: &str = "x-tidemark-time-ms";

/// An offset past this is logged (at most once a minute per peer).
pub const WARN_OFFSET_MS: i64 = 10_000;

/// Answers slower than this are not used: the estimate is off by up to half the round trip,
/// and a synced log append or a snapshot chunk can take that long.
const ROUND_TRIP_MAX_MS: i64 = 500;

/// Estimates older than this are not reported (a peer that stopped answering).
const STALE: Duration = Duration::from_secs(60);

/// How often [`probe`] asks every member.
const PROBE_PERIOD: Duration = Duration::from_secs(5);

/// How long a probe waits for an answer.
const PROBE_TIMEOUT_MS: u64 = 2_000;

/// Every [`PROBE_PERIOD`], asks every other member of the cluster map for its command level
/// (the cheapest call), whose answer carries its time; ends when the node is gone.
pub(crate) async fn probe(node: std::sync::Weak<crate::node::Node>) {
    let mut tick = tokio::time::interval(PROBE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(node) = node.upgrade() else { return };
        let me = node.node_id();
        let members: Vec<crate::peer::Peer> = node
            .cluster_map()
            .nodes
            .iter()
            .filter(|(id, _)| **id != me)
            .map(|(id, addr)| crate::peer::Peer {
                node: *id,
                addr: addr.clone(),
            })
            .collect();
        let peers = node.peers();
        drop(node);
        futures::future::join_all(
            members
                .iter()
                .map(|p| peers.call(p, crate::peer::Call::CommandLevel, PROBE_TIMEOUT_MS)),
        )
        .await;
    }
}

/// This node's wall clock in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Adds this node's time to an answer of its gRPC services.
pub fn stamp<B>(mut response: http::Response<B>) -> http::Response<B> {
    if let Ok(v) = http::HeaderValue::from_str(&now_ms().to_string()) {
        response.headers_mut().insert(TIME_KEY, v);
    }
    response
}

/// The time an answer carries, if its node sent one (nodes of older builds do not).
pub fn read(metadata: &MetadataMap) -> Option<i64> {
    metadata.get(TIME_KEY)?.to_str().ok()?.parse().ok()
}

/// One peer's latest estimate.
#[derive(Clone, Copy, Debug)]
struct Estimate {
    offset_ms: i64,
    at: Instant,
    warned: Option<Instant>,
}

/// The latest offset estimate of every peer.
#[derive(Debug, Default)]
pub struct PeerClocks {
    peers: Mutex<BTreeMap<NodeId, Estimate>>,
}

impl PeerClocks {
    /// Records an answer of `peer` stamped `theirs_ms`, to a call sent at `sent_ms` and
    /// answered at `received_ms` (this node's clock).
    pub fn observe(&self, peer: NodeId, sent_ms: i64, received_ms: i64, theirs_ms: i64) {
        let round_trip_ms = received_ms.saturating_sub(sent_ms);
        if !(0..=ROUND_TRIP_MAX_MS).contains(&round_trip_ms) {
            return;
        }
        // The peer's value is whatever it sent: no arithmetic on it may overflow.
        let offset_ms = theirs_ms.saturating_sub(sent_ms.saturating_add(round_trip_ms / 2));
        let now = Instant::now();
        let mut peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        let previous = peers.get(&peer).and_then(|e| e.warned);
        let mut warned = previous;
        if offset_ms.saturating_abs() > WARN_OFFSET_MS
            && previous.is_none_or(|w| now.duration_since(w) >= STALE)
        {
            tracing::warn!(
                peer,
                offset_ms,
                "node {peer}'s clock is {:.1} s {} this node's: time-based routing needs the \
                 nodes' clocks to agree (run NTP everywhere)",
                offset_ms.saturating_abs() as f64 / 1000.0,
                if offset_ms > 0 { "ahead of" } else { "behind" }
            );
            warned = Some(now);
        }
        peers.insert(
            peer,
            Estimate {
                offset_ms,
                at: now,
                warned,
            },
        );
    }

    /// Each peer's offset (its clock minus this node's) in milliseconds, from an answer of the
    /// last minute.
    pub fn offsets(&self) -> Vec<(NodeId, i64)> {
        let peers = self.peers.lock().unwrap_or_else(|p| p.into_inner());
        peers
            .iter()
            .filter(|(_, e)| e.at.elapsed() < STALE)
            .map(|(&p, e)| (p, e.offset_ms))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_offset_is_their_time_less_the_middle_of_the_round_trip() {
        let clocks = PeerClocks::default();
        // Sent at 1000, answered at 1010: the peer stamped 1005 + 120000.
        clocks.observe(2, 1_000, 1_010, 121_005);
        clocks.observe(3, 1_000, 1_010, 1_005 - 30_000);
        assert_eq!(clocks.offsets(), vec![(2, 120_000), (3, -30_000)]);
        // The latest answer replaces the estimate.
        clocks.observe(2, 2_000, 2_002, 2_001);
        assert_eq!(clocks.offsets()[0], (2, 0));
        // A slow answer says little of the offset: not used. Nor does a nonsensical stamp
        // overflow anything.
        clocks.observe(2, 3_000, 4_000, 60_000);
        clocks.observe(3, 3_000, 3_001, i64::MIN);
        assert_eq!(clocks.offsets(), vec![(2, 0), (3, i64::MIN)]);
    }

    #[test]
    fn an_answer_carries_its_time() {
        let response = stamp(http::Response::new(()));
        let metadata = MetadataMap::from_headers(response.headers().clone());
        let t = read(&metadata).unwrap();
        assert!((t - now_ms()).abs() < 5_000);
    }
}
