use super::*;
use crate::histogram::{FloatHistogram, HistogramValue, IntHistogram};

fn int(t: i64, count: u64) -> HistogramSample {
    HistogramSample {
        t,
        h: HistogramValue::Int(IntHistogram {
            count,
            zero_count: count,
            ..IntHistogram::default()
        }),
    }
}

fn float(t: i64, count: f64) -> HistogramSample {
    HistogramSample {
        t,
        h: HistogramValue::Float(FloatHistogram {
            count,
            ..FloatHistogram::default()
        }),
    }
}

fn held(c: &[u8]) -> Vec<HistogramSample> {
    HistogramIter::new(c).unwrap().map(|s| s.unwrap()).collect()
}

#[test]
fn cuts_at_max_partitions_and_kind_changes() {
    let mut h = HistogramHead::default();
    for t in 0..5 {
        assert_eq!(h.append(&int(t, t as u64), 0, 3), Appended::InOrder);
    }
    assert_eq!(h.closed.len(), 1, "cut at 3 samples");
    assert_eq!(h.append(&float(5, 1.0), 0, 3), Appended::InOrder);
    assert_eq!(h.closed.len(), 2, "cut where the kind changes");
    assert_eq!(h.append(&float(100, 1.0), 100, 3), Appended::InOrder);
    assert_eq!(h.closed.len(), 3, "cut at the partition boundary");
    assert_eq!(h.open.as_ref().unwrap().partition, 100);
    let all: Vec<i64> = h
        .closed
        .iter()
        .flat_map(|c| held(&c.bytes))
        .chain(held(h.open.as_ref().unwrap().chunk.bytes()))
        .map(|s| s.t)
        .collect();
    assert_eq!(all, vec![0, 1, 2, 3, 4, 5, 100]);
    assert_eq!(h.counts(), (4, 7));
}

#[test]
fn cuts_at_the_byte_bound() {
    let mut h = HistogramHead::default();
    // Random-looking sums cost ~8 bytes each: a chunk reaches 4 KiB in about 500 samples.
    for t in 0..2000 {
        let mut s = float(t, 1.0);
        if let HistogramValue::Float(f) = &mut s.h {
            f.sum = f64::from_bits(
                0x4000_0000_0000_0000 ^ (t as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
        }
        h.append(&s, 0, usize::MAX);
    }
    assert!(!h.closed.is_empty());
    assert!(
        h.closed
            .iter()
            .all(|c| c.bytes.len() < HISTOGRAM_CHUNK_BYTES_MAX + 64)
    );
}

#[test]
fn out_of_order_first_value_wins_and_duplicates_drop() {
    let mut h = HistogramHead::default();
    h.append(&int(10, 1), 0, 120);
    h.append(&int(20, 2), 0, 120);
    assert_eq!(h.append(&int(20, 2), 0, 120), Appended::Dropped);
    assert_eq!(
        h.append(&int(10, 9), 0, 120),
        Appended::Dropped,
        "held in the open chunk"
    );
    assert_eq!(h.append(&int(15, 1), 0, 120), Appended::OutOfOrder);
    assert_eq!(h.append(&int(15, 7), 0, 120), Appended::Dropped);
    assert_eq!(h.append(&float(5, 0.5), 0, 120), Appended::OutOfOrder);
    assert_eq!(h.ooo.iter().map(|s| s.t).collect::<Vec<_>>(), vec![5, 15]);
}

#[test]
fn expire_and_drop_partition_forget_what_they_cover() {
    let mut h = HistogramHead::default();
    h.append(&int(10, 1), 0, 120);
    h.append(&int(110, 1), 100, 120);
    h.append(&int(50, 1), 0, 120);
    h.drop_partition(100, 200);
    assert!(h.open.is_none());
    assert_eq!((h.closed.len(), h.ooo.len()), (1, 1));
    h.expire(100);
    assert!(h.is_empty());
}
