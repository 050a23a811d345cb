//! The webhook receivers of the `notifier` workload: plain HTTP/1.1 servers in the harness
//! process that record every request (its arrival time, sender, and the webhook message v4 it
//! carries: `groupKey`, `status`, `alerts[].{labels,status,fingerprint}`) and fail on purpose:
//!
//! - a seeded share of requests is answered 500, another is left hanging for [`HANG_MS`]
//!   (past the integration's `timeout`) and then closed without an answer;
//! - during seeded down periods the receiver closes its listening socket, so that connections
//!   are refused, and opens it again on the same port afterwards.
//!
//! The faults stop at the end of the workload's time limit (the plan's `faults_until_ms`), so
//! that everything pending can be delivered in the heal window. Every answer carries
//! `Connection: close`: no connection outlives its request, and a down period refuses every
//! attempt made in it.
//!
//! They listen where the nodes reach the harness, as the fake Alertmanager of `alerts` does:
//! the harness' bridge address (`10.x.y.254`) in namespace mode, 127.0.0.1 in loopback mode.
//! Hand-written rather than axum: the down periods close the listener itself, and a hanging
//! request must be recorded when it arrives, whatever then happens to its connection.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::Error;
use crate::workload::now_ms;

/// How long a request the receiver hangs is held before its connection is closed unanswered:
/// past the webhook's `timeout` (1 s), so the notifier has given up on it by then.
pub const HANG_MS: u64 = 2_500;
/// Share of requests answered 500 while the faults last, in percent (min, max; drawn per
/// receiver with the seed).
pub const FAIL_PERCENT: (u32, u32) = (10, 25);
/// Share of requests left hanging while the faults last, in percent (min, max).
pub const HANG_PERCENT: (u32, u32) = (5, 15);
/// How long a down period lasts (min, max).
pub const DOWN_MS: (i64, i64) = (2_000, 8_000);
/// Time between two down periods of one receiver (min, max).
pub const UP_MS: (i64, i64) = (4_000, 15_000);
/// How long the receiver waits for a request's head and body.
pub const READ_TIMEOUT_MS: u64 = 10_000;
/// Largest request head read, in bytes.
pub const HEAD_BYTES_MAX: usize = 64 * 1024;
/// Largest request body read, in bytes.
pub const BODY_BYTES_MAX: usize = 8 * 1024 * 1024;
/// How often the accept loop looks at the fault plan (the granularity of down periods).
const PLAN_CHECK_MS: u64 = 50;

/// What a receiver did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Answer {
    /// Answered 200: delivered.
    Ok,
    /// Answered 500: the notifier must try again.
    Error,
    /// Held past the notifier's timeout, then closed unanswered.
    Hang,
}

/// One alert of a webhook message, as far as the checker reads it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceivedAlert {
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// `firing` or `resolved`.
    pub status: String,
    /// Its fingerprint (16 hex digits).
    pub fingerprint: String,
}

/// One request a receiver got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookRequest {
    /// The receiver's name (`hook-a`, ...).
    pub receiver: String,
    /// When its body had arrived, ms since the epoch.
    pub arrival_ms: i64,
    /// The sender's address.
    pub from: String,
    /// What the receiver answered.
    pub answer: Answer,
    /// The message's `groupKey`.
    pub group_key: String,
    /// The message's `status` (`firing` when any alert fires).
    pub status: String,
    /// Its alerts.
    pub alerts: Vec<ReceivedAlert>,
    /// Why the request could not be read as a webhook message v4, if it could not.
    pub malformed: Option<String>,
}

impl WebhookRequest {
    /// Whether the receiver accepted it (a 2xx answer): a delivery.
    pub fn delivered(&self) -> bool {
        self.answer == Answer::Ok
    }
}

/// The webhook message v4 as far as it is read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    status: String,
    group_key: String,
    version: String,
    alerts: Vec<ReceivedAlert>,
}

/// A down period as the receiver went through it (ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DownPeriod {
    /// When the listener was closed.
    pub from_ms: i64,
    /// When it listened again (`None`: it did not).
    pub to_ms: Option<i64>,
}

/// How a receiver fails, drawn with the seed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultPlan {
    /// Share of requests answered 500, in percent.
    pub fail_percent: u32,
    /// Share of requests left hanging, in percent.
    pub hang_percent: u32,
    /// The down periods, `[from, to)` in ms since the epoch.
    pub down: Vec<(i64, i64)>,
    /// No fault from then on (ms since the epoch): the end of the workload's time limit.
    pub faults_until_ms: i64,
}

impl FaultPlan {
    /// The plan of receiver number `index` for faults in `[from_ms, until_ms)`.
    pub fn draw(seed: u64, index: u32, from_ms: i64, until_ms: i64) -> FaultPlan {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x686f_6f6b_0000 ^ (u64::from(index) << 8));
        let fail_percent = rng.random_range(FAIL_PERCENT.0..=FAIL_PERCENT.1);
        let hang_percent = rng.random_range(HANG_PERCENT.0..=HANG_PERCENT.1);
        let mut down = Vec::new();
        let mut t = from_ms + rng.random_range(UP_MS.0..=UP_MS.1) / 2;
        while t < until_ms {
            let end = (t + rng.random_range(DOWN_MS.0..=DOWN_MS.1)).min(until_ms);
            down.push((t, end));
            t = end + rng.random_range(UP_MS.0..=UP_MS.1);
        }
        FaultPlan {
            fail_percent,
            hang_percent,
            down,
            faults_until_ms: until_ms,
        }
    }

    /// The end of the down period `t_ms` falls in, if any.
    fn down_until(&self, t_ms: i64) -> Option<i64> {
        self.down
            .iter()
            .find(|&&(a, b)| a <= t_ms && t_ms < b)
            .map(|&(_, b)| b)
    }
}

#[derive(Default)]
struct Shared {
    requests: Vec<WebhookRequest>,
    plan: Option<FaultPlan>,
    downs: Vec<DownPeriod>,
}

/// A running receiver; stops when dropped.
pub struct WebhookReceiver {
    name: String,
    url: String,
    shared: Arc<Mutex<Shared>>,
    task: JoinHandle<()>,
}

impl WebhookReceiver {
    /// Listens on `ip` (a free port) as receiver `name`; healthy until [`Self::arm`].
    pub async fn start(ip: IpAddr, name: &str, seed: u64) -> Result<WebhookReceiver, Error> {
        let listener = TcpListener::bind(SocketAddr::new(ip, 0))
            .await
            .map_err(|e| Error::Setup(format!("webhook receiver {name} on {ip}: {e}")))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let rng = Arc::new(Mutex::new(StdRng::seed_from_u64(seed)));
        let task = tokio::spawn(serve(listener, addr, name.to_string(), shared.clone(), rng));
        Ok(WebhookReceiver {
            name: name.to_string(),
            url: format!("http://{addr}/hook"),
            shared,
            task,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL the notifier's configuration names.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Starts failing as `plan` says.
    pub fn arm(&self, plan: FaultPlan) {
        lock(&self.shared).plan = Some(plan);
    }

    /// The fault plan, once armed.
    pub fn plan(&self) -> Option<FaultPlan> {
        lock(&self.shared).plan.clone()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<WebhookRequest> {
        lock(&self.shared).requests.clone()
    }

    /// The down periods it went through.
    pub fn downs(&self) -> Vec<DownPeriod> {
        lock(&self.shared).downs.clone()
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The accept loop: closes the listener for the plan's down periods and binds the same
/// address again after each.
async fn serve(
    first: TcpListener,
    addr: SocketAddr,
    name: String,
    shared: Arc<Mutex<Shared>>,
    rng: Arc<Mutex<StdRng>>,
) {
    let mut listener = Some(first);
    loop {
        let now = now_ms();
        let down_until = lock(&shared).plan.as_ref().and_then(|p| p.down_until(now));
        match (down_until, listener.is_some()) {
            (Some(_), true) => {
                listener = None;
                lock(&shared).downs.push(DownPeriod {
                    from_ms: now,
                    to_ms: None,
                });
            }
            (None, false) => match TcpListener::bind(addr).await {
                Ok(l) => {
                    listener = Some(l);
                    if let Some(d) = lock(&shared).downs.last_mut() {
                        d.to_ms = Some(now_ms());
                    }
                }
                Err(e) => {
                    eprintln!("webhook receiver {name}: cannot listen again on {addr}: {e}");
                    tokio::time::sleep(Duration::from_millis(PLAN_CHECK_MS)).await;
                    continue;
                }
            },
            _ => {}
        }
        let tick = tokio::time::sleep(Duration::from_millis(PLAN_CHECK_MS));
        match &listener {
            None => tick.await,
            Some(l) => {
                tokio::select! {
                    accepted = l.accept() => {
                        if let Ok((stream, from)) = accepted {
                            tokio::spawn(handle(stream, from, name.clone(), shared.clone(), rng.clone()));
                        }
                    }
                    _ = tick => {}
                }
            }
        }
    }
}

/// A request's method line, headers and body.
struct RawRequest {
    head: String,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request with a `Content-Length` body (what reqwest sends for JSON).
async fn read_request(stream: &mut TcpStream) -> Result<RawRequest, String> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > HEAD_BYTES_MAX {
            return Err(format!("request head longer than {HEAD_BYTES_MAX} bytes"));
        }
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the request head ended".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut length: Option<usize> = None;
    for line in head.lines().skip(1) {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        if k == "content-length" {
            length = Some(v.parse().map_err(|_| format!("bad content-length {v:?}"))?);
        } else if k == "transfer-encoding" && !v.eq_ignore_ascii_case("identity") {
            return Err(format!("transfer-encoding {v} not supported"));
        }
    }
    let length = length.unwrap_or(0);
    if length > BODY_BYTES_MAX {
        return Err(format!(
            "body of {length} bytes, more than {BODY_BYTES_MAX}"
        ));
    }
    let mut body = buf.split_off(head_end);
    while body.len() < length {
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed before the body ended".into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Ok(RawRequest { head, body })
}

/// What a webhook message v4 body says, or why it is not one.
fn parse_message(raw: &RawRequest) -> Result<Message, String> {
    let line = raw.head.lines().next().unwrap_or("");
    if !line.starts_with("POST ") {
        return Err(format!("not a POST: {line:?}"));
    }
    let m: Message = serde_json::from_slice(&raw.body).map_err(|e| {
        let body: String = String::from_utf8_lossy(&raw.body)
            .chars()
            .take(300)
            .collect();
        format!("{e} in {body}")
    })?;
    if m.version != "4" {
        return Err(format!("version {:?}, not \"4\"", m.version));
    }
    Ok(m)
}

/// Reads one request, records it with the answer the plan draws for it, and answers.
async fn handle(
    mut stream: TcpStream,
    from: SocketAddr,
    name: String,
    shared: Arc<Mutex<Shared>>,
    rng: Arc<Mutex<StdRng>>,
) {
    let read = tokio::time::timeout(
        Duration::from_millis(READ_TIMEOUT_MS),
        read_request(&mut stream),
    )
    .await
    .unwrap_or_else(|_| Err("timed out reading the request".into()));
    let arrival_ms = now_ms();
    let answer = {
        let s = lock(&shared);
        match &s.plan {
            Some(p) if arrival_ms < p.faults_until_ms => {
                let r = lock(&rng).random_range(0..100);
                if r < p.fail_percent {
                    Answer::Error
                } else if r < p.fail_percent + p.hang_percent {
                    Answer::Hang
                } else {
                    Answer::Ok
                }
            }
            _ => Answer::Ok,
        }
    };
    let parsed = read.and_then(|raw| parse_message(&raw));
    // A request that is not a webhook message is refused (400), never counted as delivered.
    let answer = if parsed.is_err() {
        Answer::Error
    } else {
        answer
    };
    let request = match parsed {
        Ok(m) => WebhookRequest {
            receiver: name,
            arrival_ms,
            from: from.ip().to_string(),
            answer,
            group_key: m.group_key,
            status: m.status,
            alerts: m.alerts,
            malformed: None,
        },
        Err(why) => WebhookRequest {
            receiver: name,
            arrival_ms,
            from: from.ip().to_string(),
            answer,
            group_key: String::new(),
            status: String::new(),
            alerts: Vec::new(),
            malformed: Some(why),
        },
    };
    let malformed = request.malformed.is_some();
    lock(&shared).requests.push(request);
    let status = match answer {
        Answer::Hang => {
            tokio::time::sleep(Duration::from_millis(HANG_MS)).await;
            return;
        }
        Answer::Ok => "200 OK",
        Answer::Error if malformed => "400 Bad Request",
        Answer::Error => "500 Internal Server Error",
    };
    let reply = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(episode: &str) -> serde_json::Value {
        serde_json::json!({
            "receiver": "jepsen-webhooks",
            "status": "firing",
            "alerts": [{
                "status": "firing",
                "labels": {"alertname": "JepsenNotify3", "episode": episode, "jepsen": "notifier"},
                "annotations": {},
                "startsAt": "2026-12-05T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "",
                "fingerprint": "0123456789abcdef"
            }],
            "groupLabels": {"alertname": "JepsenNotify3"},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://10.0.0.1:9201",
            "version": "4",
            "groupKey": "{}/{jepsen=\"notifier\"}:{alertname=\"JepsenNotify3\"}",
            "truncatedAlerts": 0
        })
    }

    #[tokio::test]
    async fn records_messages_and_fails_as_planned() {
        let r = WebhookReceiver::start("127.0.0.1".parse().unwrap(), "hook-a", 1)
            .await
            .unwrap();
        let http = reqwest::Client::new();
        let ok = http.post(r.url()).json(&message("3")).send().await.unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        let bad = http.post(r.url()).body("{}").send().await.unwrap();
        assert_eq!(bad.status().as_u16(), 400);
        // Every request fails while the plan says so, then none.
        let now = now_ms();
        r.arm(FaultPlan {
            fail_percent: 100,
            hang_percent: 0,
            down: vec![],
            faults_until_ms: now + 60_000,
        });
        let failed = http.post(r.url()).json(&message("4")).send().await.unwrap();
        assert_eq!(failed.status().as_u16(), 500);
        let got = r.requests();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].answer, Answer::Ok);
        assert_eq!(got[0].alerts[0].labels["episode"], "3");
        assert_eq!(got[0].alerts[0].fingerprint, "0123456789abcdef");
        assert!(got[0].group_key.contains("JepsenNotify3"));
        assert!(got[1].malformed.is_some() && !got[1].delivered());
        assert_eq!(got[2].answer, Answer::Error);
    }

    #[tokio::test]
    async fn a_down_period_refuses_connections_then_listens_again() {
        let r = WebhookReceiver::start("127.0.0.1".parse().unwrap(), "hook-b", 1)
            .await
            .unwrap();
        let now = now_ms();
        r.arm(FaultPlan {
            fail_percent: 0,
            hang_percent: 0,
            down: vec![(now, now + 600)],
            faults_until_ms: now + 600,
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        let http = reqwest::Client::new();
        let refused = http.post(r.url()).json(&message("1")).send().await;
        assert!(refused.is_err_and(|e| e.is_connect()));
        tokio::time::sleep(Duration::from_millis(700)).await;
        let ok = http.post(r.url()).json(&message("1")).send().await.unwrap();
        assert_eq!(ok.status().as_u16(), 200);
        let downs = r.downs();
        assert_eq!(downs.len(), 1);
        assert!(downs[0].to_ms.is_some());
        assert_eq!(r.requests().len(), 1);
    }

    #[test]
    fn plans_are_seeded_and_end_with_the_faults() {
        let a = FaultPlan::draw(77, 0, 0, 180_000);
        assert_eq!(a, FaultPlan::draw(77, 0, 0, 180_000));
        assert_ne!(a, FaultPlan::draw(77, 1, 0, 180_000));
        assert!(!a.down.is_empty());
        assert!(a.down.iter().all(|&(f, t)| f < t && t <= 180_000));
        assert_eq!(a.down_until(a.down[0].0), Some(a.down[0].1));
        assert_eq!(a.down_until(180_000), None);
    }
}
