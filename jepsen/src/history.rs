//! The recorded history: every client operation with its invoke/complete times and outcome,
//! and every fault the nemesis injected.

use serde::{Deserialize, Serialize};

/// One sample a client tried to write: series `jepsen_sample{client, key}` at `t_ms` with `value`.
/// The value is unique over the whole run, so the tuple identifies one write attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SampleId {
    /// Client index (label `client`).
    pub client: u32,
    /// Key index within the client (label `key`).
    pub key: u32,
    /// Sample timestamp in ms since the epoch.
    pub t_ms: i64,
    /// The unique counter written as the value (exact in an f64 below 2^53).
    pub value: u64,
}

/// How a write ended, as far as the client can know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// 2xx: committed; it must be readable after healing.
    Ok,
    /// Definitely not applied (4xx such as 429, or the connection was refused before sending).
    Fail,
    /// May or may not have been applied (503, other 5xx, timeout, connection lost mid-request).
    Indeterminate,
}

/// One completed client operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Client that issued it.
    pub client: u32,
    /// Node (1-based id) the request went to.
    pub node: u32,
    /// Invocation time, ms since the run started.
    pub invoke_ms: u64,
    /// Completion time, ms since the run started.
    pub complete_ms: u64,
    /// The samples written by this request.
    pub samples: Vec<SampleId>,
    /// The outcome.
    pub outcome: Outcome,
    /// HTTP status or transport error, for the record.
    pub detail: String,
}

/// What a read right after an acknowledged write found (the `linearizable-read` workload).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "found")]
pub enum ReadOutcome {
    /// The acknowledged sample, with its value.
    Seen,
    /// A 200 answer without it: a stale read, an anomaly. `got` is what the query returned.
    Stale { got: String },
    /// No usable answer (503, timeout, transport error): says nothing.
    Unknown { detail: String },
}

/// One read issued after a write was acknowledged: a query through another node for that
/// sample, invoked after the write completed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadOp {
    /// Client that issued it.
    pub client: u32,
    /// Node (1-based id) the query went to.
    pub node: u32,
    /// Invocation time, ms since the run started.
    pub invoke_ms: u64,
    /// Completion time, ms since the run started.
    pub complete_ms: u64,
    /// The acknowledged sample it must see.
    pub sample: SampleId,
    /// What it found.
    pub outcome: ReadOutcome,
}

/// One fault event of the nemesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultEvent {
    /// Time, ms since the run started.
    pub at_ms: u64,
    /// Node id (1-based); 0 for a network fault, which concerns links, not one node.
    pub node: u32,
    /// `kill`, `restart`, `pause`, `resume`, `remove`, `re-add`, what a network fault cut
    /// (`partition [1, 2] | [3, 4, 5]`), `heal-network`, or `heal-*` at the end.
    pub action: String,
}

/// Classifies an HTTP answer to a remote-write request.
pub fn classify_status(status: u16) -> Outcome {
    match status {
        200..=299 => Outcome::Ok,
        // A 503 may be a refusal before proposing or a commit timeout: we cannot tell which.
        503 => Outcome::Indeterminate,
        400..=499 => Outcome::Fail,
        _ => Outcome::Indeterminate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_classify_conservatively() {
        assert_eq!(classify_status(204), Outcome::Ok);
        assert_eq!(classify_status(429), Outcome::Fail);
        assert_eq!(classify_status(400), Outcome::Fail);
        assert_eq!(classify_status(503), Outcome::Indeterminate);
        assert_eq!(classify_status(500), Outcome::Indeterminate);
    }
}
