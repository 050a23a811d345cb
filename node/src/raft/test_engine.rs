//! A small in-memory [`Engine`] for the Raft layer's tests: a flush writes the whole state to a
//! file, and [`TestEngine::open`] reads it back, so unflushed data is lost exactly as a crash
//! loses a real engine's head (the Raft log must replay it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tidemark_storage::{
    AppendCheck, Command, Engine, Labels, Matcher, Result, Sample, SeriesId, SeriesIter, SeriesKey,
    SeriesRef, SeriesSamples, ShardId, ShardStats,
};

use super::codec;

#[derive(Clone, Default, Serialize, Deserialize)]
struct ShardData {
    series: Vec<Labels>,
    samples: Vec<BTreeMap<i64, u64>>,
    applied: u64,
    flushed: Option<(u64, Vec<u8>)>,
}

/// The engine. `dir` `None`: flushes are kept in memory only.
pub(crate) struct TestEngine {
    file: Option<PathBuf>,
    shards: Mutex<BTreeMap<ShardId, ShardData>>,
    /// Every (shard, index) applied, to check that nothing is applied twice.
    pub applied_log: Mutex<Vec<(ShardId, u64)>>,
}

impl TestEngine {
    pub fn in_memory() -> Self {
        TestEngine {
            file: None,
            shards: Mutex::default(),
            applied_log: Mutex::default(),
        }
    }

    /// Opens the engine persisted in `dir` (its last flush of every shard).
    pub fn open(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let file = dir.join("engine.bin");
        let mut shards: BTreeMap<ShardId, ShardData> = match std::fs::read(&file) {
            Ok(bytes) => codec::decode(&bytes).unwrap(),
            Err(_) => BTreeMap::new(),
        };
        for d in shards.values_mut() {
            d.applied = d.flushed.as_ref().map(|f| f.0).unwrap_or(0);
        }
        TestEngine {
            file: Some(file),
            shards: Mutex::new(shards),
            applied_log: Mutex::default(),
        }
    }

    /// All samples of all series of `shard`, by labels.
    pub fn dump(&self, shard: ShardId) -> BTreeMap<Labels, Vec<Sample>> {
        let shards = self.shards.lock().unwrap();
        let Some(d) = shards.get(&shard) else {
            return BTreeMap::new();
        };
        d.series
            .iter()
            .zip(&d.samples)
            .map(|(l, s)| {
                (
                    l.clone(),
                    s.iter()
                        .map(|(t, v)| Sample::new(*t, f64::from_bits(*v)))
                        .collect(),
                )
            })
            .collect()
    }
}

impl Engine for TestEngine {
    fn apply(&self, shard: ShardId, index: u64, cmd: &Command) -> Result<()> {
        self.applied_log.lock().unwrap().push((shard, index));
        let mut shards = self.shards.lock().unwrap();
        let d = shards.entry(shard).or_default();
        assert!(
            index > d.applied,
            "shard {shard}: index {index} applied after {}",
            d.applied
        );
        if let Command::Write(batch) = cmd {
            let mut new_ids = Vec::new();
            for labels in &batch.new_series {
                let id = match d.series.iter().position(|l| l == labels) {
                    Some(i) => i,
                    None => {
                        d.series.push(labels.clone());
                        d.samples.push(BTreeMap::new());
                        d.series.len() - 1
                    }
                };
                new_ids.push(id);
            }
            for (r, samples) in &batch.samples {
                let id = match r {
                    SeriesRef::Id(id) => *id as usize,
                    SeriesRef::New(k) => new_ids[*k as usize],
                };
                for s in samples {
                    d.samples[id].entry(s.t).or_insert(s.v.to_bits());
                }
            }
        }
        d.applied = index;
        Ok(())
    }

    fn applied_index(&self, shard: ShardId) -> u64 {
        self.shards
            .lock()
            .unwrap()
            .get(&shard)
            .map(|d| d.applied)
            .unwrap_or(0)
    }

    fn flush(&self, shard: ShardId, sm_meta: &[u8]) -> Result<u64> {
        let mut shards = self.shards.lock().unwrap();
        let d = shards.entry(shard).or_default();
        d.flushed = Some((d.applied, sm_meta.to_vec()));
        let applied = d.applied;
        if let Some(file) = &self.file {
            // Persist only what was flushed: other shards' heads since their flush are not.
            let mut on_disk: BTreeMap<ShardId, ShardData> = match std::fs::read(file) {
                Ok(bytes) => codec::decode(&bytes).unwrap(),
                Err(_) => BTreeMap::new(),
            };
            on_disk.insert(shard, d.clone());
            let tmp = file.with_extension("tmp");
            std::fs::write(&tmp, codec::encode(&on_disk).unwrap()).unwrap();
            std::fs::rename(&tmp, file).unwrap();
        }
        Ok(applied)
    }

    fn drop_shard(&self, shard: ShardId) -> Result<()> {
        self.shards.lock().unwrap().remove(&shard);
        if let Some(file) = &self.file {
            let mut on_disk: BTreeMap<ShardId, ShardData> = match std::fs::read(file) {
                Ok(bytes) => codec::decode(&bytes).unwrap(),
                Err(_) => BTreeMap::new(),
            };
            on_disk.remove(&shard);
            let tmp = file.with_extension("tmp");
            std::fs::write(&tmp, codec::encode(&on_disk).unwrap()).unwrap();
            std::fs::rename(&tmp, file).unwrap();
        }
        Ok(())
    }

    fn flushed_state(&self, shard: ShardId) -> Result<Option<(u64, Vec<u8>)>> {
        Ok(self
            .shards
            .lock()
            .unwrap()
            .get(&shard)
            .and_then(|d| d.flushed.clone()))
    }

    fn series_id_of_key(&self, shard: ShardId, key: &SeriesKey) -> Option<SeriesId> {
        let shards = self.shards.lock().unwrap();
        shards
            .get(&shard)?
            .series
            .iter()
            .position(|l| SeriesKey::from(l) == *key)
            .map(|i| i as SeriesId)
    }

    /// Test double: every histogram taken (this engine stores floats only).
    fn check_histograms(
        &self,
        shard: ShardId,
        writes: &[(&SeriesKey, &[tidemark_storage::histogram::HistogramSample])],
        _ooo_window_ms: i64,
    ) -> Vec<(Option<SeriesId>, tidemark_storage::HistogramCheck)> {
        writes
            .iter()
            .map(|&(key, samples)| {
                let check = tidemark_storage::HistogramCheck {
                    accepted: samples.to_vec(),
                    ..Default::default()
                };
                (self.series_id_of_key(shard, key), check)
            })
            .collect()
    }

    fn check_append(
        &self,
        shard: ShardId,
        series: Option<SeriesId>,
        samples: &[Sample],
        ooo_window_ms: i64,
        backfill_from_ms: i64,
    ) -> AppendCheck {
        let shards = self.shards.lock().unwrap();
        let mut out = AppendCheck::default();
        let d = shards.get(&shard);
        let max_t = d.and_then(|d| {
            d.samples
                .iter()
                .filter_map(|s| s.keys().next_back().copied())
                .max()
        });
        let stored = d.and_then(|d| series.map(|id| &d.samples[id as usize]));
        for s in samples {
            match stored.and_then(|m| m.get(&s.t)) {
                Some(v) if *v == s.v.to_bits() => out.duplicates += 1,
                Some(_) => out.conflicting += 1,
                None if max_t.is_some_and(|m| s.t < m - ooo_window_ms)
                    && s.t < backfill_from_ms =>
                {
                    out.too_old += 1
                }
                None => out.accepted.push(*s),
            }
        }
        out
    }

    fn select(
        &self,
        shard: ShardId,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<SeriesIter<'_>> {
        let out: Vec<_> = self
            .dump(shard)
            .into_iter()
            .filter(|(l, _)| matchers.iter().all(|m| m.matches_labels(l)))
            .map(|(labels, s)| SeriesSamples {
                histograms: Vec::new(),
                labels,
                samples: s
                    .into_iter()
                    .filter(|s| s.t >= mint_ms && s.t <= maxt_ms)
                    .collect(),
            })
            .filter(|s| !s.samples.is_empty())
            .map(Ok)
            .collect();
        Ok(Box::new(out.into_iter()))
    }

    fn series(
        &self,
        shard: ShardId,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<Vec<Labels>> {
        self.select(shard, matchers, mint_ms, maxt_ms)?
            .map(|s| s.map(|s| s.labels))
            .collect()
    }

    fn matching_series(
        &self,
        _: ShardId,
        _: &[Matcher],
        _: i64,
        _: i64,
    ) -> Result<Vec<tidemark_storage::SeriesId>> {
        Err(tidemark_storage::Error::NotImplemented(
            "the Raft test engine does not delete".into(),
        ))
    }

    fn label_names(
        &self,
        shard: ShardId,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>> {
        let series = self.series(shard, matchers, mint_ms, maxt_ms)?;
        Ok(series
            .iter()
            .flat_map(|l| l.iter().map(|l| l.name.clone()))
            .collect())
    }

    fn label_values(
        &self,
        shard: ShardId,
        name: &str,
        matchers: &[Matcher],
        mint_ms: i64,
        maxt_ms: i64,
    ) -> Result<BTreeSet<String>> {
        let series = self.series(shard, matchers, mint_ms, maxt_ms)?;
        Ok(series
            .iter()
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect())
    }

    fn digest(&self, shard: ShardId) -> Result<u64> {
        let mut bytes = Vec::new();
        for (labels, samples) in self.dump(shard) {
            bytes.extend_from_slice(&labels.canonical_bytes());
            for s in samples {
                bytes.extend_from_slice(&s.t.to_le_bytes());
                bytes.extend_from_slice(&s.v.to_bits().to_le_bytes());
            }
        }
        Ok(xxhash_rust::xxh3::xxh3_64(&bytes))
    }

    fn partitions(&self, _shard: ShardId) -> Result<Vec<tidemark_storage::PartitionInfo>> {
        // This engine keeps no partitions: retention has nothing to plan.
        Ok(Vec::new())
    }

    fn partition_series(
        &self,
        _: ShardId,
        _: tidemark_storage::Tier,
        _: i64,
        _: &[Matcher],
    ) -> Result<Vec<SeriesId>> {
        Ok(Vec::new())
    }

    fn select_windows(
        &self,
        _: ShardId,
        _: tidemark_storage::Tier,
        _: &[Matcher],
        _: i64,
        _: i64,
    ) -> Result<Vec<tidemark_storage::SeriesWindows>> {
        Err(tidemark_storage::Error::NotImplemented(
            "the Raft test engine keeps no rollups".into(),
        ))
    }

    fn rolled_units(&self, _: ShardId, _: tidemark_storage::Tier) -> Vec<i64> {
        Vec::new()
    }

    fn closed_partitions(&self, _: ShardId, _: tidemark_storage::Tier) -> Vec<i64> {
        Vec::new()
    }

    fn sealable_partitions(&self, _shard: ShardId, _ooo_window_ms: i64) -> Vec<i64> {
        // This engine keeps no partitions: nothing is ever sealable.
        Vec::new()
    }

    fn series_count(&self, shard: ShardId) -> u64 {
        self.stats(shard).series
    }

    fn stats(&self, shard: ShardId) -> ShardStats {
        let shards = self.shards.lock().unwrap();
        let Some(d) = shards.get(&shard) else {
            return ShardStats::default();
        };
        ShardStats {
            series: d.series.len() as u64,
            applied_index: d.applied,
            flushed_index: d.flushed.as_ref().map(|f| f.0).unwrap_or(0),
            ..Default::default()
        }
    }
}
