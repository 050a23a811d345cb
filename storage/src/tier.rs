//! Storage tiers: raw samples and the rollup resolutions kept after them. A tier's byte is the
//! second field of every chunk key (`rocks/layout.md`), reserved for this since the first
//! format.

use std::fmt;

/// Rollups are computed a day at a time (a rollup unit): the windows ending in
/// `(day, day + 1d]`, for the series with raw samples there.
pub const ROLLUP_UNIT_MS: i64 = 86_400_000;

/// The start of the rollup unit holding the window that ends at `end_ms`: windows are
/// left-open, so the one ending exactly at midnight belongs to the day before.
pub fn unit_of_window_end(end_ms: i64) -> i64 {
    (end_ms - 1).div_euclid(ROLLUP_UNIT_MS) * ROLLUP_UNIT_MS
}

/// Where a chunk's data comes from: the samples as written, or one of the rollup resolutions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tier {
    /// Samples as written.
    Raw,
    /// One-minute rollup windows.
    Rollup1m,
    /// One-hour rollup windows.
    Rollup1h,
}

impl Tier {
    /// Every tier, finest first.
    pub const ALL: [Tier; 3] = [Tier::Raw, Tier::Rollup1m, Tier::Rollup1h];

    /// The byte of this tier in keys and log commands.
    pub fn byte(self) -> u8 {
        match self {
            Tier::Raw => 0,
            Tier::Rollup1m => 1,
            Tier::Rollup1h => 2,
        }
    }

    /// The tier of a key or command byte (`None` for a byte no tier has).
    pub fn from_byte(b: u8) -> Option<Tier> {
        match b {
            0 => Some(Tier::Raw),
            1 => Some(Tier::Rollup1m),
            2 => Some(Tier::Rollup1h),
            _ => None,
        }
    }

    /// The width of one window in milliseconds (`None` for raw samples).
    pub fn resolution_ms(self) -> Option<i64> {
        match self {
            Tier::Raw => None,
            Tier::Rollup1m => Some(60_000),
            Tier::Rollup1h => Some(3_600_000),
        }
    }

    /// The width of one time partition of a rollup tier (`None` for raw samples, whose width is
    /// `EngineOptions::partition_ms`): a day of 1-minute windows, 30 days of 1-hour windows, so
    /// that a year of 1-hour rollups is 13 postings lookups per selector.
    pub fn partition_ms(self) -> Option<i64> {
        match self {
            Tier::Raw => None,
            Tier::Rollup1m => Some(ROLLUP_UNIT_MS),
            Tier::Rollup1h => Some(30 * ROLLUP_UNIT_MS),
        }
    }

    /// The start of the partition of a rollup tier holding rollup unit `unit_start_ms`.
    pub fn partition_of(self, unit_start_ms: i64) -> i64 {
        let w = self.partition_ms().unwrap_or(ROLLUP_UNIT_MS);
        unit_start_ms.div_euclid(w) * w
    }

    /// The name users see (`raw`, `1m`, `1h`): the `tier=` query parameter and status pages.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Raw => "raw",
            Tier::Rollup1m => "1m",
            Tier::Rollup1h => "1h",
        }
    }

    /// The tier of a user-facing name.
    pub fn from_name(name: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.name() == name)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for Tier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Tier {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Tier::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown tier {name:?}")))
    }
}

/// Which tiers a query reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TierChoice {
    /// Every tier, stitched by time: raw samples where they still exist, then the finest
    /// rollup tier that has the time.
    #[default]
    Stitched,
    /// One tier alone (the `tier=` query parameter): nothing of the others is read.
    Only(Tier),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_names_round_trip() {
        for t in Tier::ALL {
            assert_eq!(Tier::from_byte(t.byte()), Some(t));
            assert_eq!(Tier::from_name(t.name()), Some(t));
        }
        assert_eq!(Tier::from_byte(3), None);
        assert_eq!(Tier::from_name("5m"), None);
    }
}
