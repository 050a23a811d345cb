//! The cardinality workload: Kubernetes pods whose containers are scraped through their node's
//! kubelet (cAdvisor style). Every pod name is unique, so every series is a new label set, the
//! shape that makes active-series memory the limit (`namespace`, `pod`, `container`, `image`,
//! `node`, `instance`, `job`).

use super::{Builder, Dataset, Model, SeriesLabels, phase_for, schedule};
use crate::rng::Rng;

/// Metrics per container; each pod runs one container, so a pod is this many series.
const METRICS: [(&str, bool); 10] = [
    ("container_cpu_usage_seconds_total", true),
    ("container_cpu_cfs_throttled_periods_total", true),
    ("container_memory_working_set_bytes", false),
    ("container_memory_rss", false),
    ("container_network_receive_bytes_total", true),
    ("container_network_transmit_bytes_total", true),
    ("container_fs_reads_bytes_total", true),
    ("container_fs_writes_bytes_total", true),
    ("container_spec_memory_limit_bytes", false),
    ("kube_pod_container_status_restarts_total", true),
];
const PODS_PER_NODE: u64 = 110;
/// Kubernetes' random-suffix alphabet (no vowels, no look-alikes).
const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// `series` pod series (10 per pod, 110 pods per node) over `minutes` at `interval_s`, ending at
/// `end_ms`. Every series' labels go to `on_series` as it is created.
pub fn pods(
    series: usize,
    minutes: f64,
    interval_s: u32,
    seed: u64,
    end_ms: i64,
    mut on_series: impl FnMut(&SeriesLabels),
) -> Dataset {
    let (interval_ms, steps) = schedule(minutes * 60.0, interval_s);
    let mut b = Builder::new(seed, series, &mut on_series);
    let mut pod = 0u64;
    while !b.full() {
        let node = pod / PODS_PER_NODE;
        if pod.is_multiple_of(PODS_PER_NODE) {
            b.begin_target(phase_for(seed, node, interval_ms), 0.0);
        }
        add_pod(&mut b, seed, pod, node);
        pod += 1;
    }
    b.finish("pods", end_ms, interval_ms, steps, 0.0)
}

/// `len` characters of the Kubernetes suffix alphabet encoding `n` (unique for unique `n` below
/// 27^len).
fn suffix(mut n: u64, len: usize) -> String {
    let mut out = vec![b'b'; len];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % ALPHABET.len() as u64) as usize];
        n /= ALPHABET.len() as u64;
    }
    String::from_utf8(out).expect("ASCII alphabet")
}

fn add_pod(b: &mut Builder, seed: u64, pod: u64, node: u64) {
    let mut rng = Rng::new(seed, 10_000_000 + pod);
    let team = rng.range_i64(0, 199);
    let app = rng.range_i64(0, 49);
    let namespace = format!("team-{team:03}");
    let deployment = format!(
        "svc-{app:02}-{}",
        ["api", "worker", "cache", "gateway"][(app % 4) as usize]
    );
    let pod_name = format!(
        "{deployment}-{}-{}",
        suffix(rng.next_u64() % 14_348_907, 10),
        suffix(pod, 5)
    );
    let container = deployment
        .split('-')
        .next_back()
        .unwrap_or("app")
        .to_string();
    let image = format!(
        "registry.internal/{namespace}/{deployment}:v1.{}.{}",
        app % 7,
        team % 13
    );
    let node_name = format!("node-{node:05}");
    let instance = format!(
        "10.{}.{}.{}:10250",
        node / 65_536 % 256,
        node / 256 % 256,
        node % 256
    );
    let cpu_rate = rng.log_uniform(0.001, 2.0);
    let mem = rng.log_uniform(2e7, 4e9);
    for (name, is_counter) in METRICS {
        let labels = vec![
            ("__name__".to_string(), name.to_string()),
            ("namespace".to_string(), namespace.clone()),
            ("pod".to_string(), pod_name.clone()),
            ("container".to_string(), container.clone()),
            ("image".to_string(), image.clone()),
            ("node".to_string(), node_name.clone()),
            ("instance".to_string(), instance.clone()),
            ("job".to_string(), "kubelet".to_string()),
        ];
        let model = if is_counter {
            let rate = match name {
                "container_cpu_usage_seconds_total" => cpu_rate,
                "kube_pod_container_status_restarts_total" => 1e-5,
                "container_cpu_cfs_throttled_periods_total" => cpu_rate * 2.0,
                _ => rng.log_uniform(1e2, 1e6),
            };
            Model::Counter {
                value: 0.0,
                rate_per_s: rate,
                noise: 0.3,
                decimals: if name == "container_cpu_usage_seconds_total" {
                    6
                } else {
                    0
                },
            }
        } else if name == "container_spec_memory_limit_bytes" {
            Model::Const {
                value: (mem * 2.0 / 1_048_576.0).round() * 1_048_576.0,
            }
        } else {
            Model::Gauge {
                value: mem,
                mean: mem,
                sd_per_step: mem * 0.01,
                min: 0.0,
                max: mem * 2.0,
                quantum: 4096.0,
            }
        };
        b.series(labels, model);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_series_has_a_unique_label_set() {
        let mut unique = HashSet::new();
        let ds = pods(
            5_000,
            1.0,
            15,
            1,
            1_700_000_100_000 / 15_000 * 15_000,
            |l| {
                unique.insert(l.to_vec());
            },
        );
        assert_eq!(ds.series_count(), 5_000);
        assert_eq!(unique.len(), 5_000);
        assert_eq!(ds.samples_total, 5_000 * 4);
    }

    #[test]
    fn suffixes_are_unique() {
        assert_ne!(suffix(1, 5), suffix(2, 5));
        assert_eq!(suffix(0, 3), "bbb");
    }
}
