//! A full disk loses nothing: a real node on a small tmpfs, filled by a ballast file to below
//! its `free_space_reserve_bytes`, refuses writes with 503 and `Retry-After` while queries go
//! on; once the ballast is gone it takes writes again without a restart, and after a kill -9
//! every acknowledged sample is there.
//!
//! A write of the Raft log that fails anyway (here: no space left, the reserve set to 0) stops
//! the node at once with status 75, nothing it carried acknowledged; started again once there
//! is room, it replays what is durable and has every acknowledged sample.
//!
//! Mounting a tmpfs needs root (CAP_SYS_ADMIN): where the mount is refused the test says so
//! and does nothing else.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tidemark_testkit::rng::Rng;

use support::{Node, TestSeries, encode_write_v1, query_now, value_now, wall_clock_ms};

const MIB: u64 = 1024 * 1024;
const RESERVE: u64 = 64 * MIB;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size_mib: u64) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(dir)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "skipped: cannot mount a tmpfs (needs root): {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }

    /// Grows (or shrinks) the mounted filesystem to `size_mib`, as an operator grows a volume.
    fn resize(&self, size_mib: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size_mib}m")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(status.success(), "remount of {} failed", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn batch(k: i64, at_ms: i64) -> Vec<TestSeries> {
    (0..10)
        .map(|i| {
            (
                vec![
                    ("__name__".to_string(), "disk_test".to_string()),
                    ("batch".to_string(), k.to_string()),
                    ("i".to_string(), i.to_string()),
                ],
                vec![(at_ms, k as f64)],
            )
        })
        .collect()
}

/// The status, `Retry-After` and body of one remote-write of `series`.
async fn write(
    client: &reqwest::Client,
    base: &str,
    series: &[TestSeries],
) -> (u16, Option<String>, String) {
    let r = client
        .post(format!("{base}/api/v1/write"))
        .header("Content-Type", "application/x-protobuf")
        .header("Content-Encoding", "snappy")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .body(encode_write_v1(series))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    (status, retry, r.text().await.unwrap())
}

async fn series_count(client: &reqwest::Client, base: &str) -> u64 {
    value_now(client, base, "count(disk_test)").await
}

/// Fills `path`'s filesystem with a file until about `leave` bytes are free. The node writes
/// to the same filesystem meanwhile, so free space is measured as the file grows, and the file
/// gives some back if the node's own writes took more than was left.
fn ballast(path: &Path, leave: u64) {
    let dir = path.parent().unwrap();
    let free = || fs4::available_space(dir).unwrap();
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; MIB as usize];
    let mut len = 0u64;
    while free() > leave + MIB {
        match f.write_all(&chunk) {
            Ok(()) => len += MIB,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("ballast: {e}"),
        }
    }
    let short = leave.saturating_sub(free());
    if short > 0 {
        len = len.saturating_sub(short.div_ceil(MIB) * MIB);
        f.set_len(len).unwrap();
    }
    f.sync_all().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_then_resumes_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_tmpfs) = Tmpfs::mount(&dir.path().join("mnt"), 768) else {
        return;
    };
    let mnt = dir.path().join("mnt");
    let config = dir.path().join("tidemark.yaml");
    std::fs::write(
        &config,
        format!("free_space_reserve_bytes: {RESERVE}\nflush_interval_ms: 500\n"),
    )
    .unwrap();
    let mut node = Node::start(&mnt.join("data"), &["--config", config.to_str().unwrap()]);
    let base = node.url();
    let client = reqwest::Client::new();
    let t0 = wall_clock_ms();
    let (status, _, body) = write(&client, &base, &batch(0, t0)).await;
    assert_eq!(status, 204, "{body}");

    // The disk fills to half the reserve: within seconds writes are refused, retryably.
    let weight = mnt.join("ballast");
    ballast(&weight, RESERVE / 2);
    // Writes until one is refused: those before (the free space is read every second) are
    // acknowledged and count.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut acked = 1;
    let mut k = 1;
    let (status, retry, body) = loop {
        let answer = write(&client, &base, &batch(k, wall_clock_ms())).await;
        if answer.0 != 204 || Instant::now() > deadline {
            break answer;
        }
        acked += 1;
        k += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let refused = k;
    assert_eq!(status, 503, "{body}");
    assert_eq!(retry.as_deref(), Some("1"));
    assert!(body.contains("free_space_reserve_bytes"), "{body}");
    // Queries go on; the retention status shows the free space.
    assert_eq!(series_count(&client, &base).await, 10 * acked);
    let info: serde_json::Value = client
        .get(format!("{base}/api/v1/status/retention"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        info["data"]["diskFreeBytes"].as_u64().unwrap() < RESERVE,
        "{info}"
    );

    // Space returns: writes resume by themselves.
    std::fs::remove_file(&weight).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, body) = write(&client, &base, &batch(k + 1, wall_clock_ms())).await;
        if status == 204 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "writes never resumed: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    acked += 1;
    assert_eq!(series_count(&client, &base).await, 10 * acked);

    // Every acknowledged sample survives a kill -9; the refused batch was never written.
    node.kill9();
    node.restart();
    assert_eq!(series_count(&client, &base).await, 10 * acked);
    let r = query_now(
        &client,
        &base,
        &format!("count(disk_test{{batch=\"{refused}\"}})"),
    )
    .await;
    assert_eq!(r, serde_json::json!([]), "{r}");
    node.stop();
}

/// `n` series of `batch` `k`, each with a label of 1 KiB of random hex: about `n` KiB of Raft
/// log per write, on disk too (a repeated letter would compress away in the log's tables while
/// replaying it writes it out whole).
fn wide_batch(k: i64, n: usize, at_ms: i64) -> Vec<TestSeries> {
    let mut rng = Rng::new(k as u64, 0);
    (0..n)
        .map(|i| {
            let pad: String = (0..64)
                .map(|_| format!("{:016x}", rng.next_u64()))
                .collect();
            (
                vec![
                    ("__name__".to_string(), "disk_test".to_string()),
                    ("batch".to_string(), k.to_string()),
                    ("i".to_string(), i.to_string()),
                    ("pad".to_string(), pad),
                ],
                vec![(at_ms, k as f64)],
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_log_write_stops_the_node_and_the_next_start_replays_what_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    // The data directory is the mount: the node's log (`data.log` beside it) is not on the
    // full filesystem.
    let data = dir.path().join("data");
    let Some(tmpfs) = Tmpfs::mount(&data, 256) else {
        return;
    };
    let config = dir.path().join("tidemark.yaml");
    // No reserve: the log itself runs out of space. No flush during the test: only the log
    // is written.
    std::fs::write(
        &config,
        "free_space_reserve_bytes: 0\nflush_interval_ms: 3600000\n",
    )
    .unwrap();
    let mut node = Node::start(&data, &["--config", config.to_str().unwrap()]);
    let base = node.url();
    let client = reqwest::Client::new();
    ballast(&data.join("ballast"), 200 * MIB);

    // Writes until the log cannot take one (past what RocksDB preallocated for its WAL).
    const SERIES: usize = 500;
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut acked = 0u64;
    let mut k = 0;
    let failed = loop {
        assert!(
            Instant::now() < deadline,
            "the log never filled:\n{}",
            node.log()
        );
        match client
            .post(format!("{base}/api/v1/write"))
            .header("Content-Type", "application/x-protobuf")
            .header("Content-Encoding", "snappy")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .body(encode_write_v1(&wide_batch(k, SERIES, wall_clock_ms())))
            .send()
            .await
        {
            Ok(r) if r.status().as_u16() == 204 => acked += 1,
            Ok(r) => break format!("{} {}", r.status(), r.text().await.unwrap_or_default()),
            Err(e) => break format!("{e}"),
        }
        k += 1;
    };
    // The node stops by itself, saying why.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = node.exit_status() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running after a failed log write ({failed}):\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.code(), Some(75), "{}", node.log());
    assert!(
        node.log().contains("a write of the Raft log failed"),
        "{}",
        node.log()
    );
    assert!(
        acked > 0,
        "nothing was written before the log filled ({failed})"
    );

    // Room again: the next start replays the log, every acknowledged batch complete. (The
    // failed one, `k`, spanned several shard groups: some of it may have been made durable
    // without being acknowledged.) The volume grows as well as losing the ballast: how much
    // log the writes got in depends on what RocksDB had preallocated and gave back meanwhile
    // (up to most of the volume on a busy machine), and replaying it takes about as much again.
    std::fs::remove_file(data.join("ballast")).unwrap();
    tmpfs.resize(1024);
    node.kill9(); // reaps the exited process
    node.restart();
    assert_eq!(
        value_now(
            &client,
            &base,
            &format!("count(disk_test{{batch!=\"{k}\"}})")
        )
        .await,
        SERIES as u64 * acked,
        "after {acked} acknowledged writes and a failed one ({failed})"
    );
    node.stop();
}
