//! The runner's storage: the script's `load` blocks written into a real
//! [`MemEngine`](tidemark_storage::MemEngine), spread over shards by label hash the way a node
//! places series, and read back through [`EngineQuerier`].

use std::sync::Arc;

use tidemark_query::EngineQuerier;
use tidemark_query::histogram::HistogramPoint;
use tidemark_storage::histogram::{HistogramSample, HistogramValue};
use tidemark_storage::{
    Command, Engine, Labels, MemEngine, Sample, SeriesRef, ShardId, WriteBatch,
};

/// One series of a `load` block: its floats and its native histograms.
pub struct Loaded {
    pub labels: Labels,
    pub samples: Vec<Sample>,
    pub histograms: Vec<HistogramPoint>,
}

/// Shards the series are spread over (more than one, so that the engine never relies on the
/// querier returning series sorted across shards).
const SHARD_COUNT: u32 = 3;

/// A storage engine with the series loaded so far, and the log index of each shard.
pub struct Store {
    engine: Arc<MemEngine>,
    applied: Vec<u64>,
}

impl Default for Store {
    fn default() -> Self {
        Store {
            engine: Arc::new(MemEngine::default()),
            applied: vec![0; SHARD_COUNT as usize],
        }
    }
}

impl Store {
    /// Writes samples of many series: one `Write` command per shard, built like a shard leader
    /// builds it (known series by id, new ones by labels), encoded and decoded as the Raft log
    /// carries it, then applied at the shard's next log index.
    pub fn load(&mut self, series: &[Loaded]) {
        for shard in 0..SHARD_COUNT {
            let mut batch = WriteBatch::default();
            for s in series {
                let labels = &s.labels;
                if labels.shard(SHARD_COUNT) != shard
                    || s.samples.is_empty() && s.histograms.is_empty()
                {
                    continue;
                }
                let series_ref = match self.engine.series_id(shard, labels) {
                    Some(id) => SeriesRef::Id(id),
                    None => match batch.new_series.iter().position(|l| l == labels) {
                        Some(k) => SeriesRef::New(k as u32),
                        None => {
                            batch.new_series.push(labels.clone());
                            SeriesRef::New(batch.new_series.len() as u32 - 1)
                        }
                    },
                };
                if !s.samples.is_empty() {
                    batch.samples.push((series_ref, s.samples.clone()));
                }
                if !s.histograms.is_empty() {
                    let histograms = s
                        .histograms
                        .iter()
                        .map(|p| HistogramSample {
                            t: p.t,
                            h: HistogramValue::Float(p.h.to_stored()),
                        })
                        .collect();
                    batch.histograms.push((series_ref, histograms));
                }
            }
            if batch.samples.is_empty() && batch.histograms.is_empty() {
                continue;
            }
            let entry = Command::Write(batch).encode();
            let cmd = Command::decode(&entry).expect("a command we encoded decodes");
            let index = &mut self.applied[shard as usize];
            *index += 1;
            self.engine
                .apply(shard as ShardId, *index, &cmd)
                .expect("apply to the in-memory engine");
        }
    }

    /// A querier over every shard.
    pub fn querier(&self) -> EngineQuerier {
        let engine: Arc<dyn Engine> = self.engine.clone();
        EngineQuerier::new(engine, (0..SHARD_COUNT).collect())
    }
}
