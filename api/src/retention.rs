//! The retention policy (`retention:` in a node's YAML, `PUT /api/v1/admin/retention`,
//! `tidemarkctl retention set`) and what `/api/v1/status/retention` reports. The policy's keys
//! are the YAML's (`raw`, `rollup_1m`, `rollup_1h`, `overrides`, `match`, `disk_budget`) in
//! every form, so that one document works in all three places.

use serde::{Deserialize, Serialize};

use crate::duration::Duration;

const DAY_MS: i64 = 86_400_000;
/// Raw samples are kept this long when the policy does not say.
pub const DEFAULT_RAW_MS: i64 = 7 * DAY_MS;
/// 1-minute rollups are kept this long when the policy does not say.
pub const DEFAULT_ROLLUP_1M_MS: i64 = 30 * DAY_MS;
/// 1-hour rollups are kept this long when the policy does not say.
pub const DEFAULT_ROLLUP_1H_MS: i64 = 365 * DAY_MS;

/// How long each tier keeps data: a default, per-metric overrides chosen by label matchers
/// (first match wins) and an optional disk budget per node. A tier left out keeps its default;
/// `0` for a rollup tier means that tier is not kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollup_1m: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollup_1h: Option<Duration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<RetentionOverride>,
    /// Bytes of data a node may hold (`500GiB`); over it, the oldest raw partitions go first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_budget: Option<ByteSize>,
}

/// Retention for the series a selector matches; tiers left out keep the policy's default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionOverride {
    /// A series selector: `{__name__=~"debug_.*"}`, `node_cpu_seconds_total{mode="idle"}`.
    #[serde(rename = "match")]
    pub matcher: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollup_1m: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollup_1h: Option<Duration>,
}

/// How long each tier keeps a series' data, in milliseconds (0: the tier is not kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierKeep {
    pub raw_ms: i64,
    pub rollup_1m_ms: i64,
    pub rollup_1h_ms: i64,
}

impl TierKeep {
    /// The longest of the three: how far back anything of the series is kept.
    pub fn longest_ms(&self) -> i64 {
        self.raw_ms.max(self.rollup_1m_ms).max(self.rollup_1h_ms)
    }
}

impl RetentionPolicy {
    /// Retention for series no override matches.
    pub fn default_keep(&self) -> TierKeep {
        TierKeep {
            raw_ms: self.raw.map_or(DEFAULT_RAW_MS, Duration::ms),
            rollup_1m_ms: self.rollup_1m.map_or(DEFAULT_ROLLUP_1M_MS, Duration::ms),
            rollup_1h_ms: self.rollup_1h.map_or(DEFAULT_ROLLUP_1H_MS, Duration::ms),
        }
    }

    /// Retention for the series `o` matches.
    pub fn override_keep(&self, o: &RetentionOverride) -> TierKeep {
        let d = self.default_keep();
        TierKeep {
            raw_ms: o.raw.map_or(d.raw_ms, Duration::ms),
            rollup_1m_ms: o.rollup_1m.map_or(d.rollup_1m_ms, Duration::ms),
            rollup_1h_ms: o.rollup_1h.map_or(d.rollup_1h_ms, Duration::ms),
        }
    }

    /// Checks what can be checked without a PromQL parser (the node parses the selectors):
    /// raw retention is positive, every override names a tier, at most
    /// [`RETENTION_OVERRIDES_MAX`] overrides.
    pub fn check(&self) -> Result<(), String> {
        if self.raw.is_some_and(|d| d.ms() <= 0) {
            return Err(
                "raw: must be longer than 0 (raw samples are where rollups come from)".into(),
            );
        }
        if self.overrides.len() > RETENTION_OVERRIDES_MAX {
            return Err(format!(
                "{} overrides: at most {RETENTION_OVERRIDES_MAX} are allowed",
                self.overrides.len()
            ));
        }
        for (i, o) in self.overrides.iter().enumerate() {
            if o.matcher.trim().is_empty() {
                return Err(format!("overrides[{i}]: match is empty"));
            }
            if o.raw.is_none() && o.rollup_1m.is_none() && o.rollup_1h.is_none() {
                return Err(format!(
                    "overrides[{i}] ({}): names no tier (raw, rollup_1m or rollup_1h)",
                    o.matcher
                ));
            }
            if o.raw.is_some_and(|d| d.ms() <= 0) {
                return Err(format!(
                    "overrides[{i}] ({}): raw must be longer than 0",
                    o.matcher
                ));
            }
        }
        Ok(())
    }
}

/// Most overrides a policy may have (each is a selector evaluated per partition).
pub const RETENTION_OVERRIDES_MAX: usize = 256;

/// A number of bytes written with a base-2 unit as Prometheus' `--storage.tsdb.retention.size`
/// reads it (`512MB` = 512 MiB; `KiB`, `MiB`, `GiB`, `TiB` too).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

const BYTE_UNITS: [(&str, u64); 11] = [
    ("B", 1),
    ("KB", 1 << 10),
    ("KiB", 1 << 10),
    ("MB", 1 << 20),
    ("MiB", 1 << 20),
    ("GB", 1 << 30),
    ("GiB", 1 << 30),
    ("TB", 1 << 40),
    ("TiB", 1 << 40),
    ("PB", 1 << 50),
    ("PiB", 1 << 50),
];

impl std::str::FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid size {s:?}: expected e.g. 500GiB, 2TB, 512MB");
        let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let n: u64 = s[..digits].parse().map_err(|_| bad())?;
        let unit = &s[digits..];
        let mult = BYTE_UNITS
            .iter()
            .find(|(u, _)| *u == unit)
            .map(|(_, m)| *m)
            .ok_or_else(bad)?;
        n.checked_mul(mult).map(ByteSize).ok_or_else(bad)
    }
}

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (unit, mult) in [
            ("TiB", 1u64 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ] {
            if self.0 >= mult && self.0.is_multiple_of(mult) {
                return write!(f, "{}{unit}", self.0 / mult);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Where the policy in force comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicySource {
    /// Nothing was ever set: the built-in defaults.
    Default,
    /// Set through the API or `tidemarkctl retention set` (or seeded from a node's YAML).
    Cluster,
}

/// One tier's data on one node: what `tidemarkctl retention show` lists.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TierUsage {
    /// `raw`, `1m` or `1h`.
    pub tier: String,
    pub partitions: u64,
    /// Series summed over partitions (a series in two partitions counts twice).
    pub series: u64,
    /// Approximate bytes on disk.
    pub bytes: u64,
    pub oldest_ms: Option<i64>,
    pub newest_ms: Option<i64>,
}

/// `GET /api/v1/status/retention`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionStatus {
    pub source: PolicySource,
    /// The policy as set (empty when `source` is `default`).
    pub policy: RetentionPolicy,
    /// Retention of series no override matches.
    pub default: TierKeep,
    /// A difference between this node's `retention:` block and the cluster's policy, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_difference: Option<String>,
    /// This node's replicas, per tier.
    pub tiers: Vec<TierUsage>,
    /// When this node's leaders last ran the retention jobs (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run_ms: Option<i64>,
    /// How far back (ms before now) this node's shard leaders accept samples: the policy's
    /// longest retention once every node can apply backfill; absent until then (the
    /// out-of-order window only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill_ms: Option<i64>,
    /// Free bytes of this node's data directory's filesystem at the last reading (every
    /// second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_free_bytes: Option<u64>,
    /// Below this many free bytes the node refuses writes (`free_space_reserve_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_reserve_bytes: Option<u64>,
}

/// `POST /api/v1/admin/retention/run`: what the jobs proposed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionRun {
    /// Shards whose leader ran its jobs.
    pub shards: u64,
    /// Partitions dropped whole.
    pub partitions_expired: u64,
    /// (Partition, series) pairs dropped by per-metric retention.
    pub series_expired: u64,
    /// Days rolled up into a tier (each tier counts).
    #[serde(default)]
    pub days_rolled_up: u64,
    /// Shards whose jobs did not run, with why (a replica of an older version, no leader).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_example_reads_and_writes_back() {
        let json = r#"{"raw":"7d","rollup_1m":"30d","rollup_1h":"1y","overrides":[{"match":"{__name__=~\"debug_.*\"}","raw":"2d"},{"match":"{__name__=~\".*_info\"}","rollup_1m":0,"rollup_1h":"0s"}],"disk_budget":"500GiB"}"#;
        let p: RetentionPolicy = serde_json::from_str(json).unwrap();
        p.check().unwrap();
        assert_eq!(p.default_keep().raw_ms, 7 * DAY_MS);
        assert_eq!(p.override_keep(&p.overrides[0]).raw_ms, 2 * DAY_MS);
        assert_eq!(p.override_keep(&p.overrides[0]).rollup_1m_ms, 30 * DAY_MS);
        assert_eq!(p.override_keep(&p.overrides[1]).rollup_1m_ms, 0);
        assert_eq!(p.disk_budget, Some(ByteSize(500 << 30)));
        let back: RetentionPolicy =
            serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
        assert!(serde_json::to_string(&RetentionPolicy::default()).unwrap() == "{}");
    }

    #[test]
    fn bad_policies_say_what_is_wrong() {
        assert!(serde_json::from_str::<RetentionPolicy>(r#"{"raww":"7d"}"#).is_err());
        assert!(serde_json::from_str::<RetentionPolicy>(r#"{"raw":"7 days"}"#).is_err());
        let zero: RetentionPolicy = serde_json::from_str(r#"{"raw":"0s"}"#).unwrap();
        assert!(zero.check().unwrap_err().contains("raw"));
        let empty: RetentionPolicy =
            serde_json::from_str(r#"{"overrides":[{"match":"{a=\"b\"}"}]}"#).unwrap();
        assert!(empty.check().unwrap_err().contains("names no tier"));
        assert!("12XB".parse::<ByteSize>().is_err());
        assert_eq!("512MB".parse::<ByteSize>(), Ok(ByteSize(512 << 20)));
        assert_eq!(ByteSize(3 << 30).to_string(), "3GiB");
        assert_eq!(ByteSize(1000).to_string(), "1000B");
    }
}
