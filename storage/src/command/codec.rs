//! The binary encoding of [`Command`]; the byte layout is in `../command.md`.

use super::{Command, ExpireScope, SeriesRef, WriteBatch};
use crate::chunk::histogram::{HISTOGRAM_HEADER_LEN, HistogramIter, encode_chunks};
use crate::error::{Error, Result};
use crate::histogram::HistogramSample;
use crate::model::{Label, Labels, Sample, SeriesId};
use crate::tier::Tier;
use crate::varint::{Reader, put_uvarint, put_varint};

/// The version byte every encoded command starts with.
pub const COMMAND_FORMAT_VERSION: u8 = 1;

const TAG_WRITE: u8 = 1;
const TAG_SEAL: u8 = 2;
const TAG_EXPIRE: u8 = 3;
const TAG_DELETE: u8 = 4;
const TAG_EXPIRE_PARTITION: u8 = 5;
const TAG_CLEAN_TOMBSTONES: u8 = 6;
const TAG_ROLL_UP: u8 = 7;
const TAG_BACKFILL: u8 = 8;
const TAG_WRITE_HISTOGRAMS: u8 = 9;
const TAG_BACKFILL_HISTOGRAMS: u8 = 10;

const SCOPE_ALL: u8 = 0;
const SCOPE_SERIES: u8 = 1;

impl Command {
    /// The compact binary encoding of this command (see `command.md`).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        out.push(COMMAND_FORMAT_VERSION);
        match self {
            Command::Write(batch) | Command::Backfill(batch) => {
                let backfill = matches!(self, Command::Backfill(_));
                // A batch without histograms keeps the tag every earlier build reads.
                out.push(match (backfill, batch.histograms.is_empty()) {
                    (false, true) => TAG_WRITE,
                    (true, true) => TAG_BACKFILL,
                    (false, false) => TAG_WRITE_HISTOGRAMS,
                    (true, false) => TAG_BACKFILL_HISTOGRAMS,
                });
                encode_batch(&mut out, batch);
                if !batch.histograms.is_empty() {
                    encode_histograms(&mut out, &batch.histograms);
                }
            }
            Command::Seal { partition_start_ms } => {
                out.push(TAG_SEAL);
                put_varint(&mut out, *partition_start_ms);
            }
            Command::Expire { before_ms } => {
                out.push(TAG_EXPIRE);
                put_varint(&mut out, *before_ms);
            }
            Command::Delete {
                series,
                mint_ms,
                maxt_ms,
            } => {
                out.push(TAG_DELETE);
                put_varint(&mut out, *mint_ms);
                put_varint(&mut out, *maxt_ms);
                put_ids(&mut out, series);
            }
            Command::ExpirePartition {
                tier,
                partition_start_ms,
                scope,
            } => {
                out.push(TAG_EXPIRE_PARTITION);
                out.push(tier.byte());
                put_varint(&mut out, *partition_start_ms);
                match scope {
                    ExpireScope::All => out.push(SCOPE_ALL),
                    ExpireScope::Series(series) => {
                        out.push(SCOPE_SERIES);
                        put_ids(&mut out, series);
                    }
                }
            }
            Command::CleanTombstones => out.push(TAG_CLEAN_TOMBSTONES),
            Command::RollUp {
                tier,
                unit_start_ms,
                skip,
            } => {
                out.push(TAG_ROLL_UP);
                out.push(tier.byte());
                put_varint(&mut out, *unit_start_ms);
                put_ids(&mut out, skip);
            }
        }
        out
    }

    /// Decodes a command, rejecting unknown versions, truncated input and trailing bytes.
    pub fn decode(buf: &[u8]) -> Result<Command> {
        let mut r = Reader::new(buf);
        let version = r.u8()?;
        if version != COMMAND_FORMAT_VERSION {
            return Err(Error::Decode(format!(
                "unknown command format version {version}"
            )));
        }
        let cmd = match r.u8()? {
            TAG_WRITE => Command::Write(decode_batch(&mut r)?),
            TAG_BACKFILL => Command::Backfill(decode_batch(&mut r)?),
            TAG_WRITE_HISTOGRAMS => Command::Write(decode_batch_histograms(&mut r)?),
            TAG_BACKFILL_HISTOGRAMS => Command::Backfill(decode_batch_histograms(&mut r)?),
            TAG_SEAL => Command::Seal {
                partition_start_ms: r.varint()?,
            },
            TAG_EXPIRE => Command::Expire {
                before_ms: r.varint()?,
            },
            TAG_DELETE => decode_delete(&mut r)?,
            TAG_EXPIRE_PARTITION => decode_expire_partition(&mut r)?,
            TAG_CLEAN_TOMBSTONES => Command::CleanTombstones,
            TAG_ROLL_UP => {
                let b = r.u8()?;
                let tier = Tier::from_byte(b)
                    .filter(|t| *t != Tier::Raw)
                    .ok_or_else(|| Error::Decode(format!("no rollup tier {b}")))?;
                Command::RollUp {
                    tier,
                    unit_start_ms: r.varint()?,
                    skip: decode_ids(&mut r)?,
                }
            }
            tag => return Err(Error::Decode(format!("unknown command tag {tag}"))),
        };
        if r.remaining() != 0 {
            return Err(Error::Decode(format!(
                "{} trailing bytes after command",
                r.remaining()
            )));
        }
        Ok(cmd)
    }

    fn encoded_len_hint(&self) -> usize {
        match self {
            Command::Write(b) | Command::Backfill(b) => {
                16 + b.new_series.len() * 64
                    + b.samples.len() * 8
                    + b.sample_count() * 10
                    + b.histogram_count() * 32
            }
            Command::Delete { series, .. }
            | Command::RollUp { skip: series, .. }
            | Command::ExpirePartition {
                scope: ExpireScope::Series(series),
                ..
            } => 24 + series.len() * 3,
            _ => 12,
        }
    }
}

/// `n:uvarint id_delta:uvarint{n}`: ids ascending and unique, each after the first as the
/// difference to the previous one.
fn put_ids(out: &mut Vec<u8>, ids: &[SeriesId]) {
    put_uvarint(out, ids.len() as u64);
    let mut prev = 0u32;
    for &id in ids {
        put_uvarint(out, u64::from(id.wrapping_sub(prev)));
        prev = id;
    }
}

fn decode_expire_partition(r: &mut Reader<'_>) -> Result<Command> {
    let b = r.u8()?;
    let tier = Tier::from_byte(b).ok_or_else(|| Error::Decode(format!("unknown tier {b}")))?;
    let partition_start_ms = r.varint()?;
    let scope = match r.u8()? {
        SCOPE_ALL => ExpireScope::All,
        SCOPE_SERIES => ExpireScope::Series(decode_ids(r)?),
        s => return Err(Error::Decode(format!("unknown expiry scope {s}"))),
    };
    Ok(Command::ExpirePartition {
        tier,
        partition_start_ms,
        scope,
    })
}

fn decode_delete(r: &mut Reader<'_>) -> Result<Command> {
    let mint_ms = r.varint()?;
    let maxt_ms = r.varint()?;
    let series = decode_ids(r)?;
    Ok(Command::Delete {
        series,
        mint_ms,
        maxt_ms,
    })
}

fn decode_ids(r: &mut Reader<'_>) -> Result<Vec<SeriesId>> {
    let n = r.len(1)?;
    let mut series = Vec::with_capacity(n);
    let mut prev = 0u32;
    for i in 0..n {
        let delta =
            u32::try_from(r.uvarint()?).map_err(|_| Error::Decode("series id overflows".into()))?;
        let id = prev
            .checked_add(delta)
            .filter(|_| i == 0 || delta > 0)
            .ok_or_else(|| Error::Decode("series ids not ascending".into()))?;
        series.push(id);
        prev = id;
    }
    Ok(series)
}

fn encode_batch(out: &mut Vec<u8>, batch: &WriteBatch) {
    put_uvarint(out, batch.new_series.len() as u64);
    for labels in &batch.new_series {
        put_uvarint(out, labels.len() as u64);
        for l in labels.iter() {
            put_uvarint(out, l.name.len() as u64);
            out.extend_from_slice(l.name.as_bytes());
            put_uvarint(out, l.value.len() as u64);
            out.extend_from_slice(l.value.as_bytes());
        }
    }
    put_uvarint(out, batch.samples.len() as u64);
    for (series, samples) in &batch.samples {
        put_ref(out, *series);
        put_uvarint(out, samples.len() as u64);
        let mut prev = 0i64;
        for (i, s) in samples.iter().enumerate() {
            if i == 0 {
                put_varint(out, s.t);
            } else {
                put_varint(out, s.t.wrapping_sub(prev));
            }
            prev = s.t;
            out.extend_from_slice(&s.v.to_bits().to_le_bytes());
        }
    }
}

fn put_ref(out: &mut Vec<u8>, series: SeriesRef) {
    let r = match series {
        SeriesRef::Id(id) => u64::from(id) << 1,
        SeriesRef::New(k) => (u64::from(k) << 1) | 1,
    };
    put_uvarint(out, r);
}

fn decode_ref(r: &mut Reader<'_>, new_series: usize) -> Result<SeriesRef> {
    let raw = r.uvarint()?;
    let index = u32::try_from(raw >> 1)
        .map_err(|_| Error::Decode("series reference overflows u32".into()))?;
    if raw & 1 == 0 {
        return Ok(SeriesRef::Id(index));
    }
    if index as usize >= new_series {
        return Err(Error::Decode(format!(
            "new-series reference {index} out of range"
        )));
    }
    Ok(SeriesRef::New(index))
}

/// The histogram section: per series, its samples as histogram chunks (`chunk/histogram.md`),
/// one per run of samples of the same kind.
fn encode_histograms(out: &mut Vec<u8>, histograms: &[(SeriesRef, Vec<HistogramSample>)]) {
    put_uvarint(out, histograms.len() as u64);
    for (series, samples) in histograms {
        put_ref(out, *series);
        // One chunk per kind run: the log entry is not bounded by a chunk's size.
        let chunks = encode_chunks(samples, usize::MAX);
        put_uvarint(out, chunks.len() as u64);
        for c in &chunks {
            put_uvarint(out, c.bytes().len() as u64);
            out.extend_from_slice(c.bytes());
        }
    }
}

fn decode_batch_histograms(r: &mut Reader<'_>) -> Result<WriteBatch> {
    let mut batch = decode_batch(r)?;
    // Each entry takes at least 2 bytes (ref, chunk count); each chunk at least its header.
    let n_entries = r.len(2)?;
    let mut histograms = Vec::with_capacity(n_entries);
    for _ in 0..n_entries {
        let series = decode_ref(r, batch.new_series.len())?;
        let n_chunks = r.len(1 + HISTOGRAM_HEADER_LEN)?;
        let mut samples = Vec::new();
        for _ in 0..n_chunks {
            let len = r.len(1)?;
            let chunk = r.bytes(len)?;
            for s in HistogramIter::new(chunk)? {
                samples.push(s?);
            }
        }
        histograms.push((series, samples));
    }
    batch.histograms = histograms;
    Ok(batch)
}

fn decode_batch(r: &mut Reader<'_>) -> Result<WriteBatch> {
    // Each label set takes at least 1 byte (its count); each label at least 2 (two lengths).
    let n_series = r.len(1)?;
    let mut new_series = Vec::with_capacity(n_series);
    for _ in 0..n_series {
        let n_labels = r.len(2)?;
        let mut labels = Vec::with_capacity(n_labels);
        for _ in 0..n_labels {
            let name = r.string()?;
            let value = r.string()?;
            if let Some(prev) = labels.last().map(|l: &Label| l.name.as_str())
                && prev >= name
            {
                return Err(Error::Decode("label names not sorted and unique".into()));
            }
            labels.push(Label::new(name, value));
        }
        new_series.push(Labels::from_sorted(labels));
    }
    // Each series entry takes at least 2 bytes (ref, count); each sample at least 9.
    let n_entries = r.len(2)?;
    let mut samples = Vec::with_capacity(n_entries);
    for _ in 0..n_entries {
        let series = decode_ref(r, new_series.len())?;
        let n = r.len(9)?;
        let mut list = Vec::with_capacity(n);
        let mut t = 0i64;
        for i in 0..n {
            let d = r.varint()?;
            t = if i == 0 { d } else { t.wrapping_add(d) };
            let v = f64::from_bits(r.u64_le()?);
            list.push(Sample::new(t, v));
        }
        samples.push((series, list));
    }
    Ok(WriteBatch {
        histograms: Vec::new(),
        new_series,
        samples,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::{HistogramValue, IntHistogram, Span};
    use crate::model::STALE_NAN_BITS;
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn random_labels(rng: &mut StdRng) -> Labels {
        let n = rng.random_range(0..6);
        let mut v = Vec::new();
        for i in 0..n {
            let value: String = (0..rng.random_range(1..12))
                .map(|_| rng.random_range('a'..='z'))
                .collect();
            v.push(Label::new(
                format!("l{i}"),
                if i == 0 { format!("{value}é") } else { value },
            ));
        }
        Labels::new(v)
    }

    fn random_batch(rng: &mut StdRng) -> WriteBatch {
        let new_series: Vec<Labels> = (0..rng.random_range(0..5))
            .map(|_| random_labels(rng))
            .collect();
        let mut samples = Vec::new();
        for _ in 0..rng.random_range(0..6) {
            let r = if !new_series.is_empty() && rng.random_bool(0.5) {
                SeriesRef::New(rng.random_range(0..new_series.len() as u32))
            } else {
                SeriesRef::Id(rng.random())
            };
            let mut t: i64 = rng.random_range(-1_000_000..2_000_000_000_000);
            let list = (0..rng.random_range(0..20))
                .map(|_| {
                    t += rng.random_range(0..30_000);
                    let v = match rng.random_range(0..6) {
                        0 => f64::from_bits(STALE_NAN_BITS),
                        1 => f64::NAN,
                        2 => f64::INFINITY,
                        3 => f64::from_bits(rng.random()),
                        _ => rng.random_range(-1e9..1e9),
                    };
                    Sample::new(t, v)
                })
                .collect();
            samples.push((r, list));
        }
        let mut histograms = Vec::new();
        if rng.random_bool(0.5) {
            for _ in 0..rng.random_range(0..4) {
                let r = if !new_series.is_empty() && rng.random_bool(0.5) {
                    SeriesRef::New(rng.random_range(0..new_series.len() as u32))
                } else {
                    SeriesRef::Id(rng.random())
                };
                histograms.push((r, random_histograms(rng)));
            }
        }
        WriteBatch {
            histograms,
            new_series,
            samples,
        }
    }

    /// A series' histogram samples: integer and float runs, layouts changing, stale markers.
    fn random_histograms(rng: &mut StdRng) -> Vec<HistogramSample> {
        let mut t: i64 = rng.random_range(-1_000_000..2_000_000_000_000);
        (0..rng.random_range(0..12))
            .map(|_| {
                t += rng.random_range(1..30_000);
                let n = rng.random_range(0..4u32);
                let int = IntHistogram {
                    schema: rng.random_range(-4..=8),
                    count: rng.random(),
                    sum: f64::from_bits(rng.random()),
                    positive_spans: vec![Span {
                        offset: rng.random_range(-3..3),
                        length: n,
                    }],
                    positive: (0..n).map(|_| rng.random_range(0..1000)).collect(),
                    ..IntHistogram::default()
                };
                let h = match rng.random_range(0..3) {
                    0 => HistogramValue::Float(int.to_float()),
                    1 => HistogramValue::Int(IntHistogram::stale_marker()),
                    _ => HistogramValue::Int(int),
                };
                HistogramSample { t, h }
            })
            .collect()
    }

    /// Bit-exact comparison (PartialEq on f64 would fail for NaN).
    fn same(a: &Command, b: &Command) -> bool {
        match (a, b) {
            (Command::Write(x), Command::Write(y))
            | (Command::Backfill(x), Command::Backfill(y)) => {
                x.new_series == y.new_series
                    && x.histograms.len() == y.histograms.len()
                    && x.histograms
                        .iter()
                        .zip(&y.histograms)
                        .all(|((ra, ha), (rb, hb))| {
                            ra == rb
                                && ha.len() == hb.len()
                                && ha
                                    .iter()
                                    .zip(hb)
                                    .all(|(p, q)| p.t == q.t && p.h.identical(&q.h))
                        })
                    && x.samples.len() == y.samples.len()
                    && x.samples
                        .iter()
                        .zip(&y.samples)
                        .all(|((ra, sa), (rb, sb))| {
                            ra == rb
                                && sa.len() == sb.len()
                                && sa.iter().zip(sb).all(|(p, q)| p.identical(q))
                        })
            }
            _ => a == b,
        }
    }

    #[test]
    fn random_commands_round_trip_bit_exactly() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let cmd = match rng.random_range(0..9) {
                0 => Command::Seal {
                    partition_start_ms: rng.random(),
                },
                1 => Command::Expire {
                    before_ms: rng.random(),
                },
                2 => {
                    let mut series: Vec<u32> = (0..rng.random_range(0..50))
                        .map(|_| rng.random_range(0..u32::MAX))
                        .collect();
                    series.sort_unstable();
                    series.dedup();
                    Command::Delete {
                        series,
                        mint_ms: rng.random(),
                        maxt_ms: rng.random(),
                    }
                }
                3 => {
                    let mut series: Vec<u32> = (0..rng.random_range(0..50))
                        .map(|_| rng.random_range(0..u32::MAX))
                        .collect();
                    series.sort_unstable();
                    series.dedup();
                    Command::ExpirePartition {
                        tier: Tier::ALL[rng.random_range(0..3)],
                        partition_start_ms: rng.random(),
                        scope: if rng.random_bool(0.3) {
                            ExpireScope::All
                        } else {
                            ExpireScope::Series(series)
                        },
                    }
                }
                4 => Command::CleanTombstones,
                5 => Command::RollUp {
                    tier: [Tier::Rollup1m, Tier::Rollup1h][rng.random_range(0..2)],
                    unit_start_ms: rng.random(),
                    skip: vec![1, 5, 9],
                },
                6 => Command::Backfill(random_batch(&mut rng)),
                _ => Command::Write(random_batch(&mut rng)),
            };
            let bytes = cmd.encode();
            assert_eq!(bytes[0], COMMAND_FORMAT_VERSION);
            let back = Command::decode(&bytes).unwrap();
            assert!(same(&cmd, &back), "{cmd:?} != {back:?}");
            // Histograms take their own tags and level; a batch without keeps what every
            // earlier build reads.
            if let Command::Write(b) | Command::Backfill(b) = &cmd {
                let with = !b.histograms.is_empty();
                let backfill = matches!(cmd, Command::Backfill(_));
                let tag = [
                    [TAG_WRITE, TAG_WRITE_HISTOGRAMS],
                    [TAG_BACKFILL, TAG_BACKFILL_HISTOGRAMS],
                ][usize::from(backfill)][usize::from(with)];
                assert_eq!(bytes[1], tag);
                assert_eq!(
                    cmd.required_level(),
                    if with {
                        9
                    } else if backfill {
                        3
                    } else {
                        1
                    }
                );
            }
        }
    }

    #[test]
    fn histograms_ride_in_chunks_and_bad_ones_fail_to_decode() {
        let mut rng = StdRng::seed_from_u64(3);
        let samples = loop {
            let s = random_histograms(&mut rng);
            if s.len() > 5 {
                break s;
            }
        };
        let cmd = Command::Write(WriteBatch {
            new_series: vec![Labels::from_pairs(&[("__name__", "h")])],
            samples: vec![],
            histograms: vec![(SeriesRef::New(0), samples)],
        });
        let bytes = cmd.encode();
        assert!(same(&cmd, &Command::decode(&bytes).unwrap()));
        for cut in 2..bytes.len() {
            assert!(Command::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        // A reference past the new series.
        let bad = Command::Write(WriteBatch {
            new_series: vec![],
            samples: vec![],
            histograms: vec![(SeriesRef::New(0), vec![])],
        });
        assert!(Command::decode(&bad.encode()).is_err());
    }

    #[test]
    fn stale_marker_and_nan_bits_survive() {
        let odd_nan = f64::from_bits(0x7ff8_dead_beef_0001);
        let cmd = Command::Write(WriteBatch {
            histograms: Vec::new(),
            new_series: vec![Labels::from_pairs(&[("__name__", "up")])],
            samples: vec![(
                SeriesRef::New(0),
                vec![
                    Sample::new(1, f64::from_bits(STALE_NAN_BITS)),
                    Sample::new(2, odd_nan),
                    Sample::new(3, -0.0),
                ],
            )],
        });
        let Command::Write(b) = Command::decode(&cmd.encode()).unwrap() else {
            panic!("not a write")
        };
        let bits: Vec<u64> = b.samples[0].1.iter().map(|s| s.v.to_bits()).collect();
        assert_eq!(
            bits,
            vec![STALE_NAN_BITS, 0x7ff8_dead_beef_0001, (-0.0f64).to_bits()]
        );
    }

    #[test]
    fn empty_batch_round_trips_compactly() {
        let cmd = Command::Write(WriteBatch::default());
        let bytes = cmd.encode();
        assert_eq!(bytes.len(), 4);
        assert_eq!(Command::decode(&bytes).unwrap(), cmd);
        let cmd = Command::Write(WriteBatch {
            histograms: Vec::new(),
            new_series: vec![Labels::default()],
            samples: vec![(SeriesRef::Id(3), vec![])],
        });
        assert!(same(&Command::decode(&cmd.encode()).unwrap(), &cmd));
    }

    #[test]
    fn samples_cost_about_nine_bytes() {
        let list: Vec<Sample> = (0..100)
            .map(|i| Sample::new(1_700_000_000_000 + i * 15_000, i as f64))
            .collect();
        let cmd = Command::Write(WriteBatch {
            histograms: Vec::new(),
            new_series: vec![],
            samples: vec![(SeriesRef::Id(5), list)],
        });
        let len = cmd.encode().len();
        assert!(len < 100 * 12, "{len} bytes for 100 samples");
    }

    #[test]
    fn every_truncation_is_rejected() {
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..200 {
            let cmd = Command::Write(random_batch(&mut rng));
            let bytes = cmd.encode();
            for cut in 0..bytes.len() {
                assert!(
                    Command::decode(&bytes[..cut]).is_err(),
                    "prefix of {cut} bytes decoded"
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert!(Command::decode(&longer).is_err());
        }
    }

    #[test]
    fn garbage_never_panics_and_bad_headers_fail() {
        let mut rng = StdRng::seed_from_u64(13);
        for _ in 0..20_000 {
            let len = rng.random_range(0..64);
            let mut buf: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if rng.random_bool(0.5) && !buf.is_empty() {
                buf[0] = COMMAND_FORMAT_VERSION;
            }
            let _ = Command::decode(&buf);
        }
        assert!(Command::decode(&[]).is_err());
        assert!(Command::decode(&[9, TAG_SEAL, 0]).is_err());
        assert!(Command::decode(&[COMMAND_FORMAT_VERSION, 77]).is_err());
        // An unknown tier or scope byte is refused, not guessed at.
        assert!(Command::decode(&[COMMAND_FORMAT_VERSION, TAG_EXPIRE_PARTITION, 3, 0, 0]).is_err());
        assert!(Command::decode(&[COMMAND_FORMAT_VERSION, TAG_EXPIRE_PARTITION, 0, 0, 2]).is_err());
        assert!(Command::decode(&[COMMAND_FORMAT_VERSION, TAG_EXPIRE_PARTITION, 0, 0, 0]).is_ok());
        // A huge declared count with no data behind it must fail without allocating it.
        assert!(
            Command::decode(&[
                COMMAND_FORMAT_VERSION,
                TAG_WRITE,
                0xff,
                0xff,
                0xff,
                0xff,
                0x0f
            ])
            .is_err()
        );
        // A New(k) reference beyond new_series.
        assert!(Command::decode(&[COMMAND_FORMAT_VERSION, TAG_WRITE, 0, 1, 3, 0]).is_err());
    }
}
