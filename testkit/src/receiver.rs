//! A recording HTTP server for tests: the other end of a webhook (or of any HTTP client under
//! test), on a free loopback port, that records every request in order and can be told to fail
//! on purpose: answer an error status, answer late, or refuse connections altogether.
//!
//! It serves on a thread of its own with a small single-threaded Tokio runtime, so that a test
//! that blocks (in [`Receiver::wait_for`], in a restart) delays no answer, and it answers any
//! method on any path. Unless told otherwise it answers `200 OK` with an empty body. Requests
//! whose body is over [`BODY_MAX_BYTES`] are refused with 413 and not recorded.

use std::future::IntoFuture;
use std::net::TcpListener as StdTcpListener;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::TooFew;

/// The largest request body taken (and recorded), in bytes.
pub const BODY_MAX_BYTES: usize = 16 << 20;
/// How often [`Receiver::wait_for_async`] looks again.
const WAIT_POLL_MS: u64 = 10;
/// How long [`Receiver::up`] keeps trying to bind its port again.
const REBIND_TIMEOUT_MS: u64 = 5_000;
/// How many free ports [`Receiver::start`] tries (another process may take one between the
/// check and the bind).
const BIND_TRIES_MAX: u32 = 20;
/// The body of an answer failed on purpose.
const FAILED_BODY: &str = "tidemark-testkit receiver: failing on purpose\n";

/// One request as the receiver got it, with what it answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// When it arrived (wall clock), in milliseconds since the Unix epoch.
    pub received_unix_ms: u64,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path, such as `/hook`.
    pub path: String,
    /// The query string without the `?`; empty when there is none.
    pub query: String,
    /// Header names (lower case) and values in the order received (invalid UTF-8 replaced).
    pub headers: Vec<(String, String)>,
    /// The body as received.
    pub body: Vec<u8>,
    /// The status answered (200 unless failed on purpose).
    pub status: u16,
    /// How long the answer was held back on purpose ([`Receiver::delay_next`]); 0 when not.
    pub delayed_ms: u64,
}

impl Recorded {
    /// The body parsed as JSON; panics (with the body) when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} {}: body is not JSON ({e}): {}",
                self.method,
                self.path,
                self.text()
            )
        })
    }

    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The failures a test asked for, and how the next request is answered: plain logic, apart
/// from the server, with the instant passed in.
#[derive(Debug, Default)]
struct Faults {
    /// Requests still to be failed by [`Receiver::fail_next`], and with which status.
    fail_next: u32,
    fail_next_status: u16,
    /// Until when [`Receiver::fail_for`] fails requests, and with which status.
    fail_until: Option<Instant>,
    fail_for_status: u16,
    /// Requests still to be answered late by [`Receiver::delay_next`], and how late.
    delay_next: u32,
    delay: Duration,
}

/// How one request is answered.
#[derive(Debug, PartialEq, Eq)]
struct Answer {
    status: u16,
    delay: Duration,
}

impl Faults {
    /// The answer to a request arriving at `now`, using up one of `fail_next` and of
    /// `delay_next`. `fail_next` goes before `fail_for`; a delay applies to any status.
    fn answer(&mut self, now: Instant) -> Answer {
        let status = if self.fail_next > 0 {
            self.fail_next -= 1;
            self.fail_next_status
        } else if self.fail_until.is_some_and(|until| now < until) {
            self.fail_for_status
        } else {
            200
        };
        let delay = if self.delay_next > 0 {
            self.delay_next -= 1;
            self.delay
        } else {
            Duration::ZERO
        };
        Answer { status, delay }
    }
}

/// What the serving thread and the test share.
#[derive(Default)]
struct Shared {
    state: Mutex<Recording>,
    /// Signalled whenever a request is recorded.
    recorded: Condvar,
}

#[derive(Default)]
struct Recording {
    requests: Vec<Recorded>,
    faults: Faults,
}

/// The serving thread while the receiver is up.
struct Serving {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// A recording HTTP server on a free loopback port; stops serving when dropped. Every control
/// takes `&self`, so that one receiver can be shared (in an `Arc`) with the tasks of a test.
pub struct Receiver {
    port: u16,
    shared: Arc<Shared>,
    serving: Mutex<Option<Serving>>,
}

impl Receiver {
    /// Starts serving on a free loopback port (see [`crate::port`]); panics when there is none.
    pub fn start() -> Receiver {
        let mut last_error = None;
        for _ in 0..BIND_TRIES_MAX {
            let port = crate::free_port();
            match StdTcpListener::bind(("127.0.0.1", port)) {
                Ok(listener) => {
                    let shared = Arc::new(Shared::default());
                    let serving = serve(listener, port, shared.clone())
                        .unwrap_or_else(|e| panic!("receiver on port {port}: {e}"));
                    return Receiver {
                        port,
                        shared,
                        serving: Mutex::new(Some(serving)),
                    };
                }
                Err(e) => last_error = Some(e),
            }
        }
        panic!("receiver: no port could be bound: {last_error:?}");
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash (add any path).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port it listens on (also while down: [`Receiver::up`] binds the same one).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every request recorded so far, in the order they arrived.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }

    /// Forgets the requests recorded so far (the fault controls stay as they are).
    pub fn clear(&self) {
        self.state().requests.clear();
    }

    /// Waits until at least `count` requests were recorded and returns all of them; an error
    /// saying how many came when there are fewer after `timeout`. Blocks the thread: from an
    /// async test on a single-threaded runtime that also runs the client, use
    /// [`Receiver::wait_for_async`].
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Result<Vec<Recorded>, TooFew> {
        let deadline = Instant::now() + timeout;
        let mut state = self.state();
        while state.requests.len() < count {
            let now = Instant::now();
            if now >= deadline {
                return Err(TooFew {
                    what: "requests",
                    wanted: count,
                    got: state.requests.len(),
                    timeout_ms: timeout.as_millis() as u64,
                });
            }
            state = self
                .shared
                .recorded
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(state.requests.clone())
    }

    /// [`Receiver::wait_for`] for async tests: sleeps on the caller's Tokio runtime between
    /// looks instead of blocking its thread.
    pub async fn wait_for_async(
        &self,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<Recorded>, TooFew> {
        let deadline = Instant::now() + timeout;
        loop {
            let requests = self.requests();
            if requests.len() >= count {
                return Ok(requests);
            }
            if Instant::now() >= deadline {
                return Err(TooFew {
                    what: "requests",
                    wanted: count,
                    got: requests.len(),
                    timeout_ms: timeout.as_millis() as u64,
                });
            }
            tokio::time::sleep(Duration::from_millis(WAIT_POLL_MS)).await;
        }
    }

    /// Answers `status` to the next `n` requests (replacing an earlier `fail_next`); they are
    /// recorded as usual. Goes before [`Receiver::fail_for`].
    pub fn fail_next(&self, n: u32, status: u16) {
        check_status(status);
        let mut state = self.state();
        state.faults.fail_next = n;
        state.faults.fail_next_status = status;
    }

    /// Answers `status` to every request that arrives within `duration` from now (replacing
    /// an earlier `fail_for`).
    pub fn fail_for(&self, duration: Duration, status: u16) {
        check_status(status);
        let mut state = self.state();
        state.faults.fail_until = Some(Instant::now() + duration);
        state.faults.fail_for_status = status;
    }

    /// Holds back the answer to each of the next `n` requests for `delay` (replacing an
    /// earlier `delay_next`), to make clients time out. The request is recorded when it
    /// arrives, before the delay.
    pub fn delay_next(&self, n: u32, delay: Duration) {
        let mut state = self.state();
        state.faults.delay_next = n;
        state.faults.delay = delay;
    }

    /// Cancels every `fail_next`, `fail_for` and `delay_next`.
    pub fn heal(&self) {
        self.state().faults = Faults::default();
    }

    /// Refuses connections: closes the listener and every open connection (requests being
    /// answered late are cut off). A no-op while down.
    pub fn down(&self) {
        let serving = self.serving().take();
        if let Some(serving) = serving {
            let _ = serving.stop.send(());
            let _ = serving.thread.join();
        }
    }

    /// Serves again, on the same port, after [`Receiver::down`]; panics when the port cannot
    /// be bound within [`REBIND_TIMEOUT_MS`]. A no-op while up.
    pub fn up(&self) {
        let mut serving = self.serving();
        if serving.is_some() {
            return;
        }
        let deadline = Instant::now() + Duration::from_millis(REBIND_TIMEOUT_MS);
        let listener = loop {
            match StdTcpListener::bind(("127.0.0.1", self.port)) {
                Ok(listener) => break listener,
                Err(e) if Instant::now() >= deadline => {
                    panic!("receiver: bind port {} again: {e}", self.port)
                }
                Err(_) => std::thread::sleep(Duration::from_millis(WAIT_POLL_MS)),
            }
        };
        *serving = Some(
            serve(listener, self.port, self.shared.clone())
                .unwrap_or_else(|e| panic!("receiver on port {}: {e}", self.port)),
        );
    }

    /// Whether it is serving (not [`Receiver::down`]).
    pub fn is_up(&self) -> bool {
        self.serving().is_some()
    }

    fn state(&self) -> MutexGuard<'_, Recording> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn serving(&self) -> MutexGuard<'_, Option<Serving>> {
        self.serving.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.down();
    }
}

/// Panics unless `status` is a valid HTTP status code.
fn check_status(status: u16) {
    assert!(
        StatusCode::from_u16(status).is_ok(),
        "{status} is not an HTTP status"
    );
}

/// Serves `listener` on a new thread until told to stop. The runtime is dropped when the
/// thread ends, and with it every connection still open.
fn serve(listener: StdTcpListener, port: u16, shared: Arc<Shared>) -> std::io::Result<Serving> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name(format!("receiver-{port}"))
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(e) => {
                        eprintln!("receiver on port {port}: {e}");
                        return;
                    }
                };
                let app = axum::Router::new()
                    .fallback(record)
                    .layer(DefaultBodyLimit::max(BODY_MAX_BYTES))
                    .with_state(shared);
                tokio::select! {
                    result = axum::serve(listener, app).into_future() => {
                        if let Err(e) = result {
                            eprintln!("receiver on port {port}: {e}");
                        }
                    }
                    _ = stopped => {}
                }
            });
        })?;
    Ok(Serving { stop, thread })
}

/// The one handler: records the request, then answers as the faults say.
async fn record(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let answer = {
        let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let answer = state.faults.answer(Instant::now());
        let request = Recorded {
            received_unix_ms: unix_ms(),
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().unwrap_or_default().to_string(),
            headers: headers
                .iter()
                .map(|(name, value)| {
                    let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                    (name.as_str().to_string(), value)
                })
                .collect(),
            body: body.to_vec(),
            status: answer.status,
            delayed_ms: answer.delay.as_millis() as u64,
        };
        state.requests.push(request);
        shared.recorded.notify_all();
        answer
    };
    if !answer.delay.is_zero() {
        tokio::time::sleep(answer.delay).await;
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK);
    if status.is_success() {
        status.into_response()
    } else {
        (status, FAILED_BODY).into_response()
    }
}

/// The wall clock in milliseconds since the Unix epoch.
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::TcpStream;

    const WAIT: Duration = Duration::from_secs(10);

    /// Sends one request on `stream` and reads the answer's status (and its body, to leave the
    /// connection ready for the next request).
    fn exchange(
        stream: &mut TcpStream,
        method: &str,
        target: &str,
        body: &str,
    ) -> std::io::Result<u16> {
        write!(
            stream,
            "{method} {target} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             X-Test: yes\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )?;
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new();
        if reader.read_line(&mut status_line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let mut content_length = 0;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            if line.trim_end().is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                content_length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; content_length];
        reader.read_exact(&mut body)?;
        Ok(status_line
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0))
    }

    fn connect(receiver: &Receiver) -> std::io::Result<TcpStream> {
        let stream = TcpStream::connect(("127.0.0.1", receiver.port()))?;
        stream.set_read_timeout(Some(WAIT))?;
        Ok(stream)
    }

    /// One request on a new connection.
    fn send(receiver: &Receiver, method: &str, target: &str, body: &str) -> std::io::Result<u16> {
        exchange(&mut connect(receiver)?, method, target, body)
    }

    #[test]
    fn records_every_request_in_order() {
        let receiver = Receiver::start();
        assert!(receiver.url().starts_with("http://127.0.0.1:"));
        let before = unix_ms();
        assert_eq!(
            send(&receiver, "POST", "/hook?x=1&y=2", r#"{"alerts":[1]}"#).unwrap(),
            200
        );
        assert_eq!(send(&receiver, "PUT", "/other", "plain").unwrap(), 200);
        let requests = receiver.wait_for(2, WAIT).unwrap();
        assert_eq!(requests.len(), 2);
        let first = &requests[0];
        assert_eq!(
            (first.method.as_str(), first.path.as_str()),
            ("POST", "/hook")
        );
        assert_eq!(first.query, "x=1&y=2");
        assert_eq!(first.json()["alerts"][0], 1);
        assert_eq!(first.header("x-TEST"), Some("yes"));
        assert_eq!(first.header("content-type"), Some("application/json"));
        assert_eq!(first.status, 200);
        assert_eq!(first.delayed_ms, 0);
        assert!(first.received_unix_ms >= before && first.received_unix_ms <= unix_ms());
        assert_eq!(
            (requests[1].method.as_str(), requests[1].text().as_str()),
            ("PUT", "plain")
        );
        assert_eq!(requests[1].query, "");
        receiver.clear();
        assert!(receiver.requests().is_empty());
    }

    #[test]
    fn wait_for_says_how_many_came() {
        let receiver = Receiver::start();
        send(&receiver, "POST", "/", "{}").unwrap();
        let error = receiver
            .wait_for(3, Duration::from_millis(200))
            .unwrap_err();
        assert_eq!((error.wanted, error.got), (3, 1));
        assert_eq!(error.to_string(), "1 of 3 requests within 200 ms");
    }

    #[test]
    fn fail_next_fails_that_many_then_answers_again() {
        let receiver = Receiver::start();
        receiver.fail_next(2, 503);
        let statuses: Vec<u16> = (0..3)
            .map(|_| send(&receiver, "POST", "/hook", "{}").unwrap())
            .collect();
        assert_eq!(statuses, [503, 503, 200]);
        let recorded: Vec<u16> = receiver.requests().iter().map(|r| r.status).collect();
        assert_eq!(recorded, [503, 503, 200]);
    }

    #[test]
    fn fail_for_fails_until_the_time_is_up() {
        let receiver = Receiver::start();
        receiver.fail_for(Duration::from_millis(500), 500);
        assert_eq!(send(&receiver, "POST", "/", "{}").unwrap(), 500);
        std::thread::sleep(Duration::from_millis(600));
        assert_eq!(send(&receiver, "POST", "/", "{}").unwrap(), 200);
        receiver.fail_for(WAIT, 429);
        receiver.heal();
        assert_eq!(send(&receiver, "POST", "/", "{}").unwrap(), 200);
    }

    #[test]
    fn delay_next_answers_late_and_records_at_once() {
        let receiver = Receiver::start();
        receiver.delay_next(1, Duration::from_millis(1_500));
        let mut stream = connect(&receiver).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let started = Instant::now();
        let error = exchange(&mut stream, "POST", "/slow", "{}").unwrap_err();
        assert!(
            matches!(
                error.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_millis(1_500));
        // Recorded on arrival, before the answer.
        let requests = receiver.wait_for(1, WAIT).unwrap();
        assert_eq!(
            (requests[0].path.as_str(), requests[0].delayed_ms),
            ("/slow", 1_500)
        );
        // The next one is answered at once.
        let started = Instant::now();
        assert_eq!(send(&receiver, "POST", "/fast", "{}").unwrap(), 200);
        assert!(started.elapsed() < Duration::from_millis(1_000));
    }

    #[test]
    fn down_refuses_connections_and_up_serves_the_same_port() {
        let receiver = Receiver::start();
        let mut kept_alive = connect(&receiver).unwrap();
        assert_eq!(exchange(&mut kept_alive, "POST", "/", "{}").unwrap(), 200);
        receiver.down();
        assert!(!receiver.is_up());
        let refused = TcpStream::connect(("127.0.0.1", receiver.port())).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
        // An open keep-alive connection was closed too.
        assert!(exchange(&mut kept_alive, "POST", "/", "{}").is_err());
        receiver.up();
        assert!(receiver.is_up());
        assert_eq!(send(&receiver, "POST", "/again", "{}").unwrap(), 200);
        let paths: Vec<String> = receiver.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/", "/again"]);
    }

    #[tokio::test]
    async fn wait_for_async_lets_the_client_run_on_the_same_runtime() {
        let receiver = Receiver::start();
        let port = receiver.port();
        let client = tokio::task::spawn_blocking(move || {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            exchange(&mut stream, "POST", "/async", "{}").unwrap()
        });
        let requests = receiver.wait_for_async(1, WAIT).await.unwrap();
        assert_eq!(requests[0].path, "/async");
        assert_eq!(client.await.unwrap(), 200);
    }

    #[test]
    fn faults_answer_in_order() {
        let start = Instant::now();
        let mut faults = Faults {
            fail_next: 1,
            fail_next_status: 503,
            fail_until: Some(start + Duration::from_secs(1)),
            fail_for_status: 500,
            delay_next: 2,
            delay: Duration::from_secs(3),
        };
        let answers: Vec<Answer> = [0, 1, 999, 1_000]
            .into_iter()
            .map(|ms| faults.answer(start + Duration::from_millis(ms)))
            .collect();
        let three = Duration::from_secs(3);
        assert_eq!(
            answers,
            [
                Answer {
                    status: 503,
                    delay: three
                },
                Answer {
                    status: 500,
                    delay: three
                },
                Answer {
                    status: 500,
                    delay: Duration::ZERO
                },
                Answer {
                    status: 200,
                    delay: Duration::ZERO
                },
            ]
        );
    }
}
