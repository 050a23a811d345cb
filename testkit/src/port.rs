//! Free loopback ports for the servers a test or harness starts.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};

/// The lowest port handed out.
const PORT_LOW: u32 = 10_000;
/// How many ports are handed out from [`PORT_LOW`] on: all of them below the kernel's
/// ephemeral range (32768 and up).
const PORT_SPAN: u32 = 22_000;

/// Ports tried so far by this process (each try moves on to the next port).
static PORTS_TRIED: AtomicU32 = AtomicU32::new(0);

/// A free loopback port, or an error when every port of the range is taken.
///
/// The port is below the kernel's ephemeral range (32768 and up), so that no outgoing connection
/// can take it while its server is down between a kill and a restart. Ports are tried from a
/// starting point that depends on the process id (test binaries running side by side start far
/// apart), each one checked by binding it, and a port is not handed out twice by one process
/// until the whole range has gone round.
pub fn try_free_port() -> std::io::Result<u16> {
    let start = std::process::id().wrapping_mul(7_919) % PORT_SPAN;
    for _ in 0..PORT_SPAN {
        let offset = (start + PORTS_TRIED.fetch_add(1, Ordering::Relaxed)) % PORT_SPAN;
        let port = (PORT_LOW + offset) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrNotAvailable,
        format!(
            "no free loopback port in {PORT_LOW}..{}",
            PORT_LOW + PORT_SPAN
        ),
    ))
}

/// [`try_free_port`] for tests, which cannot run without one: panics when there is none.
pub fn free_port() -> u16 {
    try_free_port().unwrap_or_else(|e| panic!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_below_the_ephemeral_range_and_not_repeated() {
        let ports: Vec<u16> = (0..50).map(|_| free_port()).collect();
        assert!(
            ports
                .iter()
                .all(|&p| (PORT_LOW..PORT_LOW + PORT_SPAN).contains(&u32::from(p)))
        );
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len());
    }
}
