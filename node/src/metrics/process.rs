//! The process figures every Prometheus exporter publishes (`process_resident_memory_bytes`,
//! `process_virtual_memory_bytes`, `process_cpu_seconds_total`, `process_open_fds`,
//! `process_max_fds`, `process_start_time_seconds`), read from `/proc/self` at each scrape.
//! Elsewhere than Linux there is no `/proc`, and they are left out.

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// What `/proc/self` says of this process.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProcessStats {
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub cpu_seconds: f64,
    pub open_fds: u64,
    pub max_fds: u64,
    pub start_time_seconds: f64,
}

/// Bytes of a page and clock ticks per second, as the kernel counts them in `/proc`.
fn page_and_tick() -> (u64, f64) {
    // SAFETY: sysconf reads constants of the running system.
    let (page, tick) = unsafe {
        (
            libc::sysconf(libc::_SC_PAGESIZE),
            libc::sysconf(libc::_SC_CLK_TCK),
        )
    };
    (page.max(1) as u64, tick.max(1) as f64)
}

impl ProcessStats {
    /// This process now; `None` where `/proc/self` cannot be read.
    pub fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot_time = std::fs::read_to_string("/proc/stat").ok()?;
        let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
        // Less the descriptor the listing itself holds open.
        let open_fds = (std::fs::read_dir("/proc/self/fd").ok()?.count() as u64).saturating_sub(1);
        let (page, tick) = page_and_tick();
        parse(&stat, &boot_time, &limits, open_fds, page, tick)
    }
}

/// Resident bytes of this process alone (`/proc/self/statm`, one short read); `None` where it
/// cannot be read.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_and_tick().0)
}

/// The figures from `/proc/self/stat`, `/proc/stat` and `/proc/self/limits` texts.
fn parse(
    stat: &str,
    proc_stat: &str,
    limits: &str,
    open_fds: u64,
    page_bytes: u64,
    ticks_per_second: f64,
) -> Option<ProcessStats> {
    // The command name (field 2) is in parentheses and may hold spaces and parentheses: the
    // fields after it start after the last ')'. There, field 3 (state) is index 0.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    let (utime, stime, start_ticks) = (field(14)?, field(15)?, field(22)?);
    let (vsize, rss_pages) = (field(23)?, field(24)?);
    let boot_seconds: u64 = proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let max_fds = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(0);
    Some(ProcessStats {
        resident_bytes: rss_pages * page_bytes,
        virtual_bytes: vsize,
        cpu_seconds: (utime + stime) as f64 / ticks_per_second,
        open_fds,
        max_fds,
        start_time_seconds: boot_seconds as f64 + start_ticks as f64 / ticks_per_second,
    })
}

/// Writes the figures of `p`.
pub(super) fn encode(
    encoder: &mut DescriptorEncoder,
    p: &ProcessStats,
) -> Result<(), std::fmt::Error> {
    for (name, help, value) in [
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            p.resident_bytes as f64,
        ),
        (
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            p.virtual_bytes as f64,
        ),
        (
            "process_open_fds",
            "Number of open file descriptors",
            p.open_fds as f64,
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors",
            p.max_fds as f64,
        ),
        (
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            p.start_time_seconds,
        ),
    ] {
        let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        ConstGauge::new(value).encode(metric)?;
    }
    let metric = encoder.encode_descriptor(
        "process_cpu_seconds",
        "Total user and system CPU time spent in seconds",
        None,
        MetricType::Counter,
    )?;
    ConstCounter::new(p.cpu_seconds).encode(metric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_after_the_command_name() {
        // A command name with a space and a parenthesis; utime 250, stime 50 ticks, started
        // 1000 ticks after boot, 2 GiB virtual, 1000 resident pages.
        let stat = "42 (tide mark) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 \
                    1000 2147483648 1000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1";
        let proc_stat = "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        let p = parse(stat, proc_stat, limits, 17, 4096, 100.0).unwrap();
        assert_eq!(p.resident_bytes, 1000 * 4096);
        assert_eq!(p.virtual_bytes, 2 << 30);
        assert_eq!(p.cpu_seconds, 3.0);
        assert_eq!(p.open_fds, 17);
        assert_eq!(p.max_fds, 1024);
        assert_eq!(p.start_time_seconds, 1_700_000_010.0);
        assert_eq!(
            parse("42 no-parens", proc_stat, limits, 1, 4096, 100.0),
            None
        );
    }

    #[test]
    fn this_process_is_read() {
        let p = ProcessStats::read().expect("/proc/self");
        assert!(p.resident_bytes > 1 << 20, "{p:?}");
        assert!(p.open_fds >= 3 && p.max_fds >= p.open_fds, "{p:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            p.start_time_seconds <= now + 1.0 && p.start_time_seconds > now - 3600.0,
            "{p:?}"
        );
    }
}
