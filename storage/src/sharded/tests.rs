//! Faults while sealing, with a store that serves broken chunks or fails reads.

use std::sync::Mutex;

use super::*;
use crate::command::{SeriesRef, WriteBatch};
use crate::model::{Labels, Sample};
use crate::postings::{PartitionPostings, PostingsSource};
use crate::shard::SealedPartition;

/// How the fake store answers chunk reads.
#[derive(Clone, Copy)]
enum Fault {
    /// A chunk that does not decode.
    CorruptChunk,
    /// An I/O error.
    Io,
}

/// A durable store that holds nothing but answers reads with `fault`, and records the sealed
/// partitions it was asked to write.
struct FaultyStore {
    fault: Fault,
    written: Mutex<Vec<i64>>,
}

/// Answers every read with its store's fault.
struct FaultyReader {
    shard: ShardId,
    fault: Fault,
}

impl ChunkReader for FaultyReader {
    fn read(
        &mut self,
        _series: SeriesId,
        _partitions: &[i64],
        _mint_ms: i64,
        _maxt_ms: i64,
        out: &mut StoredChunks,
    ) -> Result<()> {
        match self.fault {
            Fault::CorruptChunk => {
                out.in_order
                    .push((0, vec![crate::chunk::ENCODING_SEALED, 1, 5, 0xff]));
                Ok(())
            }
            Fault::Io => Err(Error::Io {
                shard: self.shard,
                message: "disk on fire".into(),
            }),
        }
    }

    fn read_rollup(
        &mut self,
        _series: SeriesId,
        _tier: crate::tier::Tier,
        _partition: i64,
        _unit: i64,
    ) -> Result<Option<Vec<u8>>> {
        Ok(None)
    }
}

impl Store for FaultyStore {
    fn durable(&self) -> bool {
        true
    }

    fn sealed_postings<'a>(
        &'a self,
        _shard: ShardId,
        _partition: i64,
    ) -> Box<dyn PostingsSource + 'a> {
        Box::new(PartitionPostings::default())
    }

    fn tier_postings<'a>(
        &'a self,
        _shard: ShardId,
        _tier: crate::tier::Tier,
        _partition: i64,
    ) -> Box<dyn PostingsSource + 'a> {
        Box::new(PartitionPostings::default())
    }

    fn chunk_reader<'a>(&'a self, shard: ShardId) -> Box<dyn ChunkReader + 'a> {
        Box::new(FaultyReader {
            shard,
            fault: self.fault,
        })
    }

    fn write_flush(
        &self,
        _shard: &Shard,
        sealed: &[SealedPartition],
        _rollups: &super::RollupFlush,
        _sm_meta: &[u8],
    ) -> Result<()> {
        let mut w = self.written.lock().unwrap_or_else(|e| e.into_inner());
        w.extend(sealed.iter().map(|s| s.partition));
        Ok(())
    }

    fn compact(&self) -> Result<()> {
        Ok(())
    }
}

fn sealed_after_write(fault: Fault) -> Sharded<FaultyStore> {
    let engine = Sharded::new(
        EngineOptions::default(),
        FaultyStore {
            fault,
            written: Mutex::new(Vec::new()),
        },
    );
    let batch = WriteBatch {
        histograms: Vec::new(),
        new_series: vec![Labels::from_pairs(&[("__name__", "up")])],
        samples: vec![(SeriesRef::New(0), vec![Sample::new(1000, 1.0)])],
    };
    engine.apply(0, 1, &Command::Write(batch)).unwrap();
    engine
        .apply(
            0,
            2,
            &Command::Seal {
                partition_start_ms: 0,
            },
        )
        .unwrap();
    engine
}

#[test]
fn undecodable_partition_keeps_its_chunks_and_does_not_block_flushes() {
    let engine = sealed_after_write(Fault::CorruptChunk);
    assert_eq!(engine.flush(0, b"m").unwrap(), 2);
    assert!(engine.store.written.lock().unwrap().is_empty());
    let cell = engine.shard(0).unwrap();
    assert!(read(&cell).seal_pending.is_empty(), "not retried forever");
    assert_eq!(engine.flush(0, b"m").unwrap(), 2);
}

#[test]
fn io_error_while_sealing_fails_the_flush_and_is_retried() {
    let engine = sealed_after_write(Fault::Io);
    assert!(matches!(engine.flush(0, b"m"), Err(Error::Io { .. })));
    let cell = engine.shard(0).unwrap();
    assert!(read(&cell).seal_pending.contains(&0));
    assert_eq!(read(&cell).flushed, None);
}
