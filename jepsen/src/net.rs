//! The namespace network: every node in a Linux network namespace of its own, on a bridge that
//! lives in one more namespace, with real packet loss between chosen nodes (iptables rules in the
//! nodes' namespaces). The harness reaches the nodes through one veth of its own into the
//! bridge; the namespaces have no route anywhere else.
//!
//! Names carry the harness' pid (`tmj<pid>-n<k>`, `tmj<pid>-sw`, link `tmj<pid>h`), so a run
//! removes what an earlier run left behind when that run's process is gone (after a crash or a
//! SIGKILL, when no `Drop` ran), and never touches a live run's namespaces.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::process::Command;

use crate::Error;

/// Prefix of every namespace and link this suite creates.
const PREFIX: &str = "tmj";

/// One run's namespaces, bridge and firewall rules; removed on drop.
pub struct NetNs {
    tag: String,
    /// The run's /24: `10.a.b.0`.
    subnet: (u8, u8),
    /// Ids of the nodes with a namespace.
    nodes: BTreeSet<u32>,
    /// The harness' address on the bridge.
    host: Ipv4Addr,
}

/// Node ids must fit the run's /24 (the harness is `.254`).
pub const MAX_NODE_ID: u32 = 250;

/// Runs a command; an error carries its output.
fn run(program: &str, args: &[&str]) -> Result<(), Error> {
    checked(program, args, Command::new(program).args(args).output())
}

/// Runs a command without blocking the runtime (the clients keep going while rules change).
async fn run_async(program: &str, args: &[&str]) -> Result<(), Error> {
    let out = tokio::process::Command::new(program)
        .args(args)
        .output()
        .await;
    checked(program, args, out)
}

/// `Ok` when the command ran and succeeded; otherwise an error with its output.
fn checked(
    program: &str,
    args: &[&str],
    out: std::io::Result<std::process::Output>,
) -> Result<(), Error> {
    let out = out.map_err(|e| Error::Setup(format!("{program}: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Setup(format!(
        "{program} {}: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout).trim(),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// Whether `program` can be run (found on PATH).
fn available(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok()
}

/// Why namespace mode cannot run here, if it cannot.
pub fn unsupported() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network namespaces need root (run as root, or use --net loopback)".into());
    }
    if !available("ip") {
        return Some("`ip` (iproute2) not found".into());
    }
    if !available("iptables") {
        return Some("`iptables` not found (Debian: apt-get install iptables)".into());
    }
    None
}

/// Removes the namespaces of earlier runs whose process is gone.
fn sweep_stale() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    let list = String::from_utf8_lossy(&out.stdout);
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        let pid: Option<i32> = rest.split('-').next().and_then(|p| p.parse().ok());
        // SAFETY: kill with signal 0 only checks whether the process exists.
        let alive = pid.is_some_and(|p| unsafe { libc::kill(p, 0) } == 0);
        if !alive {
            let _ = run("ip", &["netns", "delete", name]);
        }
    }
}

impl NetNs {
    /// Creates the bridge and `n` node namespaces (each with its address), after removing what
    /// dead runs left.
    pub fn create(n: u32) -> Result<NetNs, Error> {
        if let Some(why) = unsupported() {
            return Err(Error::Setup(why));
        }
        sweep_stale();
        let pid = std::process::id();
        let tag = format!("{PREFIX}{pid}");
        // A /24 of 10.0.0.0/8 per run, from the pid.
        let (a, b) = (200 + (pid % 50) as u8, ((pid / 50) % 250) as u8);
        let mut net = NetNs {
            tag: tag.clone(),
            subnet: (a, b),
            nodes: BTreeSet::new(),
            host: Ipv4Addr::new(10, a, b, 254),
        };
        // From here on, `net` removes whatever was made if a step fails.
        let sw = net.switch_ns();
        run("ip", &["netns", "add", &sw])?;
        net.in_ns(&sw, "ip", &["link", "add", "br0", "type", "bridge"])?;
        net.in_ns(&sw, "ip", &["link", "set", "br0", "up"])?;
        net.in_ns(&sw, "ip", &["link", "set", "lo", "up"])?;
        // The harness' port.
        let host_link = format!("{tag}h");
        run(
            "ip",
            &[
                "link", "add", &host_link, "type", "veth", "peer", "name", "host0", "netns", &sw,
            ],
        )?;
        net.in_ns(&sw, "ip", &["link", "set", "host0", "master", "br0", "up"])?;
        run(
            "ip",
            &[
                "addr",
                "add",
                &format!("{}/24", net.host),
                "dev",
                &host_link,
            ],
        )?;
        run("ip", &["link", "set", &host_link, "up"])?;
        for id in 1..=n {
            net.add_node(id)?;
        }
        Ok(net)
    }

    /// Gives node `id` a namespace plugged into the bridge, with its address (a no-op when it
    /// has one).
    pub fn add_node(&mut self, id: u32) -> Result<(), Error> {
        if self.nodes.contains(&id) {
            return Ok(());
        }
        if id == 0 || id > MAX_NODE_ID {
            return Err(Error::Setup(format!(
                "node id {id}: namespace mode supports ids 1 to {MAX_NODE_ID}"
            )));
        }
        let (sw, ns) = (self.switch_ns(), self.node_ns(id));
        run("ip", &["netns", "add", &ns])?;
        self.nodes.insert(id);
        let port = format!("n{id}");
        run(
            "ip",
            &[
                "link", "add", &port, "netns", &sw, "type", "veth", "peer", "name", "eth0",
                "netns", &ns,
            ],
        )?;
        self.in_ns(&sw, "ip", &["link", "set", &port, "master", "br0", "up"])?;
        self.in_ns(&ns, "ip", &["link", "set", "lo", "up"])?;
        let cidr = format!("{}/24", self.addr(id));
        self.in_ns(&ns, "ip", &["addr", "add", &cidr, "dev", "eth0"])?;
        self.in_ns(&ns, "ip", &["link", "set", "eth0", "up"])?;
        Ok(())
    }

    fn switch_ns(&self) -> String {
        format!("{}-sw", self.tag)
    }

    /// The namespace of node `id`.
    pub fn node_ns(&self, id: u32) -> String {
        format!("{}-n{id}", self.tag)
    }

    /// Node `id`'s address.
    pub fn addr(&self, id: u32) -> Ipv4Addr {
        Ipv4Addr::new(10, self.subnet.0, self.subnet.1, id as u8)
    }

    /// The harness' own address on the bridge.
    pub fn host_addr(&self) -> Ipv4Addr {
        self.host
    }

    fn in_ns(&self, ns: &str, program: &str, args: &[&str]) -> Result<(), Error> {
        let mut all = vec!["netns", "exec", ns, program];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    async fn iptables(&self, id: u32, args: &[&str]) -> Result<(), Error> {
        let ns = self.node_ns(id);
        let mut all = vec!["netns", "exec", ns.as_str(), "iptables", "-w"];
        all.extend_from_slice(args);
        run_async("ip", &all).await
    }

    /// Drops packets between nodes `a` and `b` (both directions; with `probability` below 1,
    /// each packet with that probability).
    pub async fn drop_between(&self, a: u32, b: u32, probability: f64) -> Result<(), Error> {
        for (me, peer) in [(a, b), (b, a)] {
            let peer = self.addr(peer).to_string();
            let p = format!("{probability:.3}");
            for (chain, dir) in [("INPUT", "-s"), ("OUTPUT", "-d")] {
                let mut args = vec!["-A", chain, dir, peer.as_str()];
                if probability < 1.0 {
                    args.extend([
                        "-m",
                        "statistic",
                        "--mode",
                        "random",
                        "--probability",
                        p.as_str(),
                    ]);
                }
                args.extend(["-j", "DROP"]);
                self.iptables(me, &args).await?;
            }
        }
        Ok(())
    }

    /// Cuts every link between the two sides.
    pub async fn partition(
        &self,
        side_a: &BTreeSet<u32>,
        side_b: &BTreeSet<u32>,
    ) -> Result<(), Error> {
        for &a in side_a {
            for &b in side_b {
                self.drop_between(a, b, 1.0).await?;
            }
        }
        Ok(())
    }

    /// Removes every rule: the network is whole again.
    pub async fn heal(&self) -> Result<(), Error> {
        for &id in &self.nodes {
            self.iptables(id, &["-F"]).await?;
        }
        Ok(())
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting a namespace deletes its links, the other ends of its veth pairs and its
        // rules; the harness' veth goes with the switch namespace.
        for &id in &self.nodes {
            let _ = run("ip", &["netns", "delete", &self.node_ns(id)]);
        }
        let _ = run("ip", &["netns", "delete", &self.switch_ns()]);
        let _ = run("ip", &["link", "delete", &format!("{}h", self.tag)]);
    }
}
