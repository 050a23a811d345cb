//! Digests of the benchmark's datasets, recorded from the generator as it was when the figures
//! in the README were measured (`fleet`'s when it was added): the same parameters must keep
//! giving the same series in the same order and the same samples in the same order, or new
//! figures are not comparable with them.

use tidemark_testkit::dataset::{self as generator, SeriesLabels, fleet, node_exporter, pods};
use tidemark_testkit::digest::DatasetDigest;

use super::Dataset;

/// A fixed end (a whole number of 15 s intervals), standing in for "now rounded down".
const END_MS: i64 = 1_700_000_100_000 / 15_000 * 15_000;

/// The dataset of at most `series_max` series that `generate` makes, as the benchmark keeps it
/// ([`Dataset::encode`]): every series' encoded labels, then every sample in the order the
/// generator emits them.
fn digest(
    series_max: usize,
    generate: impl FnOnce(&mut dyn FnMut(&SeriesLabels)) -> generator::Dataset,
) -> String {
    let mut ds = Dataset::encode(series_max, generate);
    let mut d = DatasetDigest::new();
    for labels in &ds.labels_encoded {
        d.series_bytes(labels);
    }
    ds.scrapes.generate(|s, t, v| d.sample(s, t, v));
    d.summary()
}

#[test]
fn node_exporter_dataset_is_unchanged() {
    // The `ingest` defaults: 10,000 series, 6 h at 15 s, seed 42.
    assert_eq!(
        digest(10_000, |on| node_exporter(10_000, 6.0, 15, 42, END_MS, on)),
        "10000/14400000/acd81dc3876107e5"
    );
    assert_eq!(
        digest(1_000, |on| node_exporter(1_000, 0.25, 10, 7, END_MS, on)),
        "1000/90000/336256a4459fd68e"
    );
}

#[test]
fn fleet_dataset_is_unchanged() {
    // The `ingest` defaults since the application was added: 10,000 series, 6 h at 15 s, seed 42.
    assert_eq!(
        digest(10_000, |on| fleet(10_000, 6.0, 15, 42, END_MS, on)),
        "10000/14400000/c94c6ef3a7437d64"
    );
    assert_eq!(
        digest(1_000, |on| fleet(1_000, 0.25, 10, 7, END_MS, on)),
        "1000/90000/5708f7010fc51ebd"
    );
}

#[test]
fn pods_dataset_is_unchanged() {
    // The `cardinality` shape (its default is 1,000,000 series over 30 min at 15 s, seed 42).
    assert_eq!(
        digest(20_000, |on| pods(20_000, 30.0, 15, 42, END_MS, on)),
        "20000/2400000/a686d56d4e5e2bdb"
    );
}
