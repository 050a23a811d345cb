//! Closed chunks of open partitions, re-encoded before they are stored.
//!
//! A series' open XOR chunk is cut at `chunk_samples_max` samples; once cut it takes no more
//! samples, yet its partition stays open (and in XOR, about 5.6 bytes per sample on the
//! benchmark's data) until it is sealed. A durable engine's flush therefore re-encodes every
//! chunk cut since the last flush in the sealed format (`chunk/sealed.md`; about 2 bytes per
//! sample for 120 samples) and stores that instead, under the same key. A chunk whose front an
//! earlier flush stored (the open chunk was flushed while it grew) is completed from the store
//! first. Sealing the partition later re-encodes its series whole, from either format.
//!
//! Like sealing, this runs without the shard's write lock: [`Shard::recode_inputs`] copies the
//! chunks under a read lock, [`recode`] encodes (pure, apart from the front read from the
//! store), and [`Shard::install_recoded`] puts the results in the head under the write lock,
//! where the flush writes them and reads find them. What changed meanwhile is left as it was.
//! The head's chunk replaces the stored one on reads (a whole head chunk wins over a stored
//! chunk under the same start), so a read between the write and the head's cleanup sees each
//! sample once. Re-encoding changes bytes, never samples: digests and every replica's reads
//! are the same whichever flushes re-encoded what.

use super::Shard;
use crate::chunk::{ChunkTail, ENCODING_XOR, decode_range, sealed};
use crate::error::{Error, Result};
use crate::head::ClosedChunk;
use crate::model::SeriesId;

/// A closed chunk to re-encode, copied out of the head.
pub(crate) struct RecodeInput {
    pub id: SeriesId,
    pub partition: i64,
    /// The chunk's first timestamp: its key's start.
    pub start: i64,
    pub count: u16,
    /// Leading bytes of the XOR chunk that only the store holds.
    pub dropped: u32,
    /// The chunk's bytes from `dropped` on.
    pub bytes: Vec<u8>,
}

/// A closed chunk re-encoded as a sealed chunk.
pub(crate) struct Recoded {
    pub id: SeriesId,
    pub start: i64,
    pub count: u16,
    pub bytes: Box<[u8]>,
}

/// Whether the head's closed chunk is still (partly) XOR and so worth re-encoding.
fn is_xor(c: &ClosedChunk) -> bool {
    c.dropped > 0 || c.bytes.first() == Some(&ENCODING_XOR)
}

impl Shard {
    /// The XOR chunks cut since the last flush in partitions that are not sealed.
    pub fn recode_inputs(&self) -> Vec<RecodeInput> {
        let mut out = Vec::new();
        for id in &self.dirty {
            let Some(head) = self.heads.get(id as usize) else {
                continue;
            };
            for c in head.closed.iter().filter(|c| {
                is_xor(c) && !self.sealed.contains(&c.partition) && c.partition >= self.horizon_ms
            }) {
                out.push(RecodeInput {
                    id,
                    partition: c.partition,
                    start: c.min_t,
                    count: c.count,
                    dropped: c.dropped,
                    bytes: c.bytes.to_vec(),
                });
            }
        }
        out
    }

    /// Puts re-encoded chunks in place of the closed chunks they were made from, where those
    /// are still in the head as they were (a concurrent flush may have stored and dropped them;
    /// their partition may have been sealed or expired meanwhile). Returns how many it put.
    pub fn install_recoded(&mut self, recoded: Vec<Recoded>) -> usize {
        let mut installed = 0;
        for r in recoded {
            let Some(head) = self.heads.get_mut(r.id as usize) else {
                continue;
            };
            let Some(c) = head
                .closed
                .iter_mut()
                .find(|c| c.min_t == r.start && c.count == r.count && is_xor(c))
            else {
                continue;
            };
            if self.sealed.contains(&c.partition) || c.partition < self.horizon_ms {
                continue;
            }
            c.bytes = r.bytes;
            c.dropped = 0;
            c.persisted = false;
            installed += 1;
        }
        installed
    }
}

/// Re-encodes one closed chunk. `front` is the chunk stored under its key, needed when the
/// head holds only its tail. `None` when there is nothing to gain: the sealed form is not
/// smaller, or the front is not (or no longer) a stored XOR chunk: a concurrent flush stored
/// this chunk re-encoded already, or the partition was sealed or expired since.
pub(crate) fn recode(input: &RecodeInput, front: Option<Vec<u8>>) -> Result<Option<Recoded>> {
    let whole = if input.dropped == 0 {
        input.bytes.clone()
    } else {
        let Some(mut front) = front.filter(|f| f.first() == Some(&ENCODING_XOR)) else {
            return Ok(None);
        };
        ChunkTail {
            dropped: input.dropped,
            count: input.count,
            bytes: &input.bytes,
        }
        .append_to(&mut front)?;
        front
    };
    let mut samples = Vec::with_capacity(usize::from(input.count));
    decode_range(&whole, i64::MIN, i64::MAX, &mut samples)?;
    if samples.len() != usize::from(input.count)
        || samples.first().map(|s| s.t) != Some(input.start)
    {
        return Err(Error::Decode(format!(
            "a closed chunk of series {} starting at {} holds {} samples from {:?}, not {}",
            input.id,
            input.start,
            samples.len(),
            samples.first().map(|s| s.t),
            input.count
        )));
    }
    let bytes = sealed::encode(&samples)?;
    if bytes.len() >= whole.len() {
        return Ok(None);
    }
    Ok(Some(Recoded {
        id: input.id,
        start: input.start,
        count: input.count,
        bytes: bytes.into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chunk::{ENCODING_SEALED, XorChunk};
    use crate::model::Sample;

    fn counter(n: usize) -> Vec<Sample> {
        (0..n)
            .map(|i| Sample::new(1_000 + 15_000 * i as i64, (i * 3) as f64 / 100.0))
            .collect()
    }

    fn xor(samples: &[Sample]) -> XorChunk {
        let mut c = XorChunk::new();
        for s in samples {
            c.append(s.t, s.v).unwrap();
        }
        c
    }

    fn decoded(bytes: &[u8]) -> Vec<Sample> {
        let mut out = Vec::new();
        decode_range(bytes, i64::MIN, i64::MAX, &mut out).unwrap();
        out
    }

    fn input(dropped: u32, count: u16, bytes: &[u8]) -> RecodeInput {
        RecodeInput {
            id: 3,
            partition: 0,
            start: 1_000,
            count,
            dropped,
            bytes: bytes.to_vec(),
        }
    }

    #[test]
    fn a_whole_chunk_is_re_encoded_smaller_with_the_same_samples() {
        let samples = counter(120);
        let c = xor(&samples);
        let r = recode(&input(0, 120, c.bytes()), None).unwrap().unwrap();
        assert_eq!(r.bytes[0], ENCODING_SEALED);
        assert!(
            r.bytes.len() * 2 < c.bytes().len(),
            "{} bytes",
            r.bytes.len()
        );
        assert_eq!(decoded(&r.bytes), samples);
    }

    #[test]
    fn a_tail_is_completed_from_the_stored_front() {
        let samples = counter(120);
        let mut c = xor(&samples[..50]);
        let front = c.bytes().to_vec();
        c.forget_stored();
        for s in &samples[50..] {
            c.append(s.t, s.v).unwrap();
        }
        let tail = c.tail();
        let i = input(tail.dropped, tail.count, tail.bytes);
        let r = recode(&i, Some(front.clone())).unwrap().unwrap();
        assert_eq!(decoded(&r.bytes), samples);
        // Nothing stored, or stored re-encoded already by another flush: left alone.
        assert!(recode(&i, None).unwrap().is_none());
        let sealed_front = sealed::encode(&samples[..50]).unwrap();
        assert!(recode(&i, Some(sealed_front)).unwrap().is_none());
        // A front that does not match the tail is corrupt data, not a chunk to store.
        let mut short = front;
        short.truncate(5);
        assert!(recode(&i, Some(short)).is_err());
    }

    #[test]
    fn a_chunk_the_sealed_format_would_not_shrink_stays_xor() {
        // Two samples of values no decimal holds: the sealed form's float column is larger.
        let s: Vec<Sample> = (0..2)
            .map(|i| Sample::new(1_000 + 15_007 * i, ((i + 1) as f64).sqrt().ln()))
            .collect();
        let c = xor(&s);
        assert!(sealed::encode(&s).unwrap().len() > c.bytes().len());
        assert!(recode(&input(0, 2, c.bytes()), None).unwrap().is_none());
    }

    #[test]
    fn a_count_that_disagrees_with_the_chunk_is_an_error() {
        let c = xor(&counter(10));
        assert!(recode(&input(0, 11, c.bytes()), None).is_err());
    }
}
