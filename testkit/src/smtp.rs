//! A real SMTP server for the email tests: [aiosmtpd](https://aiosmtpd.aio-libs.org/) (Python),
//! run from the venv that `scripts/install-peers.sh` makes, on a free loopback port, keeping
//! every message it accepts. It can require AUTH and speak TLS, STARTTLS or implicit, with a
//! certificate made for the occasion.
//!
//! # Files
//!
//! Everything lives in a temporary folder, removed on drop (kept when the server fails to
//! start, so that its log can be read): `smtpd.py` (the server, `SERVER_PY` below), `config.json`
//! (its options), `smtpd.log` (its output), `ready` (written once it listens), the
//! certificates (`ca.pem`, `server.pem`, `server.key`) and `messages/`, one JSON file per
//! message, `000001.json`, `000002.json`, ... in the order accepted, each written to a
//! temporary name first and renamed, so that no reader sees half a file:
//!
//! ```text
//! {"received_unix_ms": 1767225600000, "mail_from": "a@x", "rcpt_tos": ["b@y"],
//!  "data_latin1": "<the raw message, each byte one character>", "subject": "...",
//!  "text": "...", "html": null, "auth_login": "user", "tls": true}
//! ```
//!
//! `data_latin1` carries the raw bytes as Latin-1 text (byte n is character U+00nn) so that any
//! message survives JSON; `subject`, `text` and `html` are what Python's `email` package makes
//! of it (decoded: RFC 2047 words, quoted-printable, base64, charsets; line ends `\n`), `null`
//! when absent.
//!
//! # TLS and AUTH
//!
//! The certificates come from the `openssl` command: a CA of its own ([`SmtpServer::ca_cert_path`],
//! for a client to trust) that signs the server's certificate for `localhost` and `127.0.0.1`
//! (a leaf, not a self-signed CA, since rustls refuses a CA certificate as a server's).
//! AUTH (PLAIN and LOGIN, aiosmtpd's own) is checked by an authenticator callback against the
//! user and password of [`SmtpOptions::auth`]; without it any credentials are taken. Where
//! STARTTLS is offered, AUTH is only offered after it (as real servers do); elsewhere, also on
//! a plain connection.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::{ChildProcess, TooFew};

/// How long the server may take to listen after start.
const READY_TIMEOUT_MS: u64 = 15_000;
/// How often start and [`SmtpServer::wait_for`] look again.
const POLL_MS: u64 = 20;
/// The largest message taken, in bytes (aiosmtpd answers 552 past it).
pub const MESSAGE_MAX_BYTES: usize = 32 << 20;
/// How much of the log a start failure quotes.
const LOG_TAIL_BYTES: u64 = 4_000;

/// The server: aiosmtpd with a handler that writes each message to a file (see the module's
/// documentation for the format), started as `python smtpd.py config.json`.
const SERVER_PY: &str = r#"
"""SMTP server of tidemark-testkit (smtp.rs): aiosmtpd keeping every message as a JSON file."""
import asyncio, email, email.policy, json, logging, os, ssl, sys, time, warnings
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

# AUTH without TLS is what the plain tests ask for; aiosmtpd warns of it on every connection.
warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
logging.getLogger("mail.log").setLevel(logging.ERROR)

config = json.load(open(sys.argv[1]))
messages_dir = config["messages_dir"]
accepted = 0


def tls_context():
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(config["cert"], config["key"])
    return context


def authenticator(server, session, envelope, mechanism, auth_data):
    if not isinstance(auth_data, LoginPassword):
        return AuthResult(success=False, handled=False)
    auth = config["auth"]
    ok = auth is None or (
        auth_data.login.decode("utf-8", "replace") == auth["user"]
        and auth_data.password.decode("utf-8", "replace") == auth["password"]
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data)


def part(message, subtype):
    body = message.get_body(preferencelist=(subtype,))
    if body is None:
        return None
    try:
        return body.get_content().replace("\r\n", "\n")
    except Exception as e:
        return f"<undecodable: {e}>"


class Handler:
    async def handle_DATA(self, server, session, envelope):
        global accepted
        accepted += 1
        raw = envelope.original_content or b""
        message = email.message_from_bytes(raw, policy=email.policy.default)
        login = None
        if session.authenticated and isinstance(session.auth_data, LoginPassword):
            login = session.auth_data.login.decode("utf-8", "replace")
        record = {
            "received_unix_ms": int(time.time() * 1000),
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data_latin1": raw.decode("latin-1"),
            "subject": None if message["subject"] is None else str(message["subject"]),
            "text": part(message, "plain"),
            "html": part(message, "html"),
            "auth_login": login,
            "tls": server.transport.get_extra_info("ssl_object") is not None,
        }
        path = os.path.join(messages_dir, f"{accepted:06}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.replace(path + ".tmp", path)
        print(f"accepted {path}: from {envelope.mail_from} to {envelope.rcpt_tos}", flush=True)
        return "250 OK"


async def main():
    tls = config["tls"]
    starttls = tls in ("starttls", "starttls_required")
    options = dict(
        hostname="tidemark-test-smtp",
        data_size_limit=config["message_max_bytes"],
        authenticator=authenticator,
        auth_required=config["auth"] is not None,
        auth_require_tls=starttls,
    )
    if starttls:
        options.update(tls_context=tls_context(), require_starttls=tls == "starttls_required")
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(Handler(), **options),
        host="127.0.0.1",
        port=config["port"],
        ssl=tls_context() if tls == "implicit" else None,
    )
    open(config["ready"], "w").close()
    print(f"listening on 127.0.0.1:{config['port']} (tls: {tls})", flush=True)
    async with server:
        await server.serve_forever()


asyncio.run(main())
"#;

/// What the server requires and offers.
#[derive(Clone, Debug, Default)]
pub struct SmtpOptions {
    /// Require AUTH with this user and password before MAIL; `None`: AUTH not required (any
    /// credentials are taken).
    pub auth: Option<SmtpAuth>,
    /// Plain, STARTTLS or implicit TLS.
    pub tls: SmtpTls,
}

/// A user and password the server requires.
#[derive(Clone, Debug)]
pub struct SmtpAuth {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

/// How the server does TLS.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP only.
    #[default]
    Off,
    /// Offers STARTTLS (AUTH only after it); plain SMTP also goes.
    StartTls,
    /// Offers STARTTLS and refuses every command but EHLO, NOOP and QUIT before it.
    StartTlsRequired,
    /// TLS from the first byte (SMTPS, as on port 465).
    Implicit,
}

impl SmtpTls {
    /// The name the server script knows it by.
    fn config_name(self) -> &'static str {
        match self {
            SmtpTls::Off => "off",
            SmtpTls::StartTls => "starttls",
            SmtpTls::StartTlsRequired => "starttls_required",
            SmtpTls::Implicit => "implicit",
        }
    }
}

/// One message the server accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// When it was accepted (wall clock), in milliseconds since the Unix epoch.
    pub received_unix_ms: u64,
    /// The envelope sender (MAIL FROM).
    pub from: String,
    /// The envelope recipients (RCPT TO), in order.
    pub to: Vec<String>,
    /// The message as sent after DATA (headers and body, CRLF line ends, dots unstuffed).
    pub raw: Vec<u8>,
    /// The Subject header, decoded.
    pub subject: Option<String>,
    /// The text/plain body (the message's own, or its first text/plain part), decoded, with
    /// `\n` line ends.
    pub text: Option<String>,
    /// The text/html body or part, decoded, with `\n` line ends.
    pub html: Option<String>,
    /// The user the client authenticated as, if it did.
    pub auth_login: Option<String>,
    /// Whether the message came over TLS (STARTTLS or implicit).
    pub tls: bool,
}

impl Message {
    /// The raw message as text (invalid UTF-8 replaced).
    pub fn raw_text(&self) -> String {
        String::from_utf8_lossy(&self.raw).into_owned()
    }

    /// Reads one message file (the format of the module's documentation).
    fn read(path: &Path) -> Result<Message, String> {
        let text = std::fs::read(path).map_err(|e| format!("read {}: {e}", path.display()))?;
        let json: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
        let string = |key: &str| json[key].as_str().map(str::to_string);
        Ok(Message {
            received_unix_ms: json["received_unix_ms"].as_u64().unwrap_or(0),
            from: string("mail_from").unwrap_or_default(),
            to: json["rcpt_tos"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r.as_str().map(str::to_string))
                .collect(),
            // Latin-1: every character stands for the byte of its code.
            raw: string("data_latin1")
                .unwrap_or_default()
                .chars()
                .map(|c| c as u32 as u8)
                .collect(),
            subject: string("subject"),
            text: string("text"),
            html: string("html"),
            auth_login: string("auth_login"),
            tls: json["tls"].as_bool().unwrap_or(false),
        })
    }
}

/// A running aiosmtpd on a free loopback port; killed when dropped, its folder removed.
pub struct SmtpServer {
    process: ChildProcess,
    port: u16,
    dir: tempfile::TempDir,
    options: SmtpOptions,
}

impl SmtpServer {
    /// Starts the server with `options` and waits until it listens. Fails when the venv of
    /// `scripts/install-peers.sh` is missing, when TLS is asked for and `openssl` cannot make
    /// the certificates, or when the server does not come up (the error quotes its log and
    /// names the folder, which is then kept).
    pub fn start(options: SmtpOptions) -> Result<SmtpServer, String> {
        let python = venv_python()?;
        let dir = tempfile::Builder::new()
            .prefix("tidemark-smtp-")
            .tempdir()
            .map_err(|e| format!("smtp: temporary folder: {e}"))?;
        let messages_dir = dir.path().join("messages");
        std::fs::create_dir(&messages_dir).map_err(|e| format!("smtp: {e}"))?;
        if options.tls != SmtpTls::Off {
            crate::certs::make_certificates(dir.path())?;
        }
        let script = dir.path().join("smtpd.py");
        std::fs::write(&script, SERVER_PY).map_err(|e| format!("smtp: {e}"))?;
        let port = crate::try_free_port().map_err(|e| format!("smtp: {e}"))?;
        let ready = dir.path().join("ready");
        let config = serde_json::json!({
            "port": port,
            "messages_dir": messages_dir,
            "ready": ready,
            "tls": options.tls.config_name(),
            "cert": dir.path().join("server.pem"),
            "key": dir.path().join("server.key"),
            "auth": options.auth.as_ref().map(|a| serde_json::json!({
                "user": a.user,
                "password": a.password,
            })),
            "message_max_bytes": MESSAGE_MAX_BYTES,
        });
        let config_path = dir.path().join("config.json");
        std::fs::write(&config_path, config.to_string()).map_err(|e| format!("smtp: {e}"))?;
        let mut command = Command::new(&python);
        // -u: unbuffered output, so the log is complete when read; -B: no __pycache__.
        command.arg("-u").arg("-B").arg(&script).arg(&config_path);
        let log_path = dir.path().join("smtpd.log");
        let mut process =
            ChildProcess::spawn("smtpd", command, &log_path).map_err(|e| format!("smtp: {e}"))?;
        let deadline = Instant::now() + Duration::from_millis(READY_TIMEOUT_MS);
        let failure = loop {
            if ready.exists() {
                break None;
            }
            if let Some(status) = process.exited() {
                break Some(format!("exited during start ({status})"));
            }
            if Instant::now() >= deadline {
                break Some(format!("not listening after {READY_TIMEOUT_MS} ms"));
            }
            std::thread::sleep(Duration::from_millis(POLL_MS));
        };
        if let Some(failure) = failure {
            process.kill();
            let tail = process.log_tail(LOG_TAIL_BYTES);
            let dir = dir.keep();
            return Err(format!(
                "smtp server on port {port} {failure}; its log is {}:\n{tail}",
                dir.join("smtpd.log").display()
            ));
        }
        Ok(SmtpServer {
            process,
            port,
            dir,
            options,
        })
    }

    /// The loopback address, `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The options it was started with.
    pub fn options(&self) -> &SmtpOptions {
        &self.options
    }

    /// The PEM certificate of the CA that signed the server's certificate (for `localhost`
    /// and `127.0.0.1`), for a client to trust; `None` without TLS.
    pub fn ca_cert_path(&self) -> Option<PathBuf> {
        (self.options.tls != SmtpTls::Off).then(|| self.dir.path().join("ca.pem"))
    }

    /// Every message accepted so far, in order.
    pub fn messages(&self) -> Vec<Message> {
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("messages")) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| Message::read(p).unwrap_or_else(|e| panic!("smtp: {e}")))
            .collect()
    }

    /// Waits until at least `count` messages were accepted and returns all of them; an error
    /// saying how many came when there are fewer after `timeout`. Blocks the thread (polls the
    /// folder): from an async test, call it through `tokio::task::spawn_blocking` or run the
    /// test on a multi-threaded runtime.
    pub fn wait_for(&self, count: usize, timeout: Duration) -> Result<Vec<Message>, TooFew> {
        let deadline = Instant::now() + timeout;
        loop {
            let messages = self.messages();
            if messages.len() >= count {
                return Ok(messages);
            }
            if Instant::now() >= deadline {
                return Err(TooFew {
                    what: "messages",
                    wanted: count,
                    got: messages.len(),
                    timeout_ms: timeout.as_millis() as u64,
                });
            }
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
    }

    /// The server's output so far (one line per accepted message, errors).
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// The process, to stop or kill it (a killed server refuses connections).
    pub fn process(&mut self) -> &mut ChildProcess {
        &mut self.process
    }
}

/// The venv's Python: `$PEERS_DIR/venv` next to `$TIDEMARK_PEERS_BIN` (which is
/// `$PEERS_DIR/usr/bin`), else `$PEERS_DIR/venv`, else `~/.cache/tsdb-peers/venv`.
pub fn venv_python() -> Result<PathBuf, String> {
    let mut candidates = Vec::new();
    if let Some(bin) = std::env::var_os("TIDEMARK_PEERS_BIN") {
        let bin = PathBuf::from(bin);
        if let Some(peers) = bin.parent().and_then(Path::parent) {
            candidates.push(peers.join("venv"));
        }
    }
    if let Some(peers) = std::env::var_os("PEERS_DIR") {
        candidates.push(PathBuf::from(peers).join("venv"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cache/tsdb-peers/venv"));
    }
    candidates
        .iter()
        .map(|venv| venv.join("bin/python"))
        .find(|python| python.exists())
        .ok_or_else(|| {
            format!(
                "no venv with aiosmtpd (looked for {}): run scripts/install-peers.sh",
                candidates
                    .iter()
                    .map(|c| c.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpStream;

    const WAIT: Duration = Duration::from_secs(15);

    /// Sends one message with Python's smtplib, as `send(host, port, tls, ca, user, password)`
    /// (tls: off, starttls, implicit): prints `sent`, or the exception.
    const CLIENT_PY: &str = r#"
import smtplib, ssl, sys
from email.message import EmailMessage
host, port, tls, ca, user, password = sys.argv[1:7]
m = EmailMessage()
m["From"] = "tidemark@example.com"
m["To"] = "oncall@example.com, boss@example.com"
m["Subject"] = "[FIRING:1] HighLatency – déjà vu"
m.set_content("Latency is high.\n")
m.add_alternative("<p>Latency is <b>high</b>.</p>", subtype="html")
context = ssl.create_default_context(cafile=ca) if ca else None
try:
    if tls == "implicit":
        s = smtplib.SMTP_SSL(host, int(port), context=context, timeout=10)
    else:
        s = smtplib.SMTP(host, int(port), timeout=10)
        if tls == "starttls":
            s.starttls(context=context)
    if user:
        s.login(user, password)
    s.send_message(m, to_addrs=["oncall@example.com", "boss@example.com"])
    s.quit()
    print("sent")
except Exception as e:
    print(f"{type(e).__name__}: {e}")
"#;

    fn server(options: SmtpOptions) -> SmtpServer {
        SmtpServer::start(options).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs [`CLIENT_PY`] against `server` and returns what it printed.
    fn send(server: &SmtpServer, tls: &str, auth: Option<(&str, &str)>) -> String {
        let ca = server.ca_cert_path().unwrap_or_default();
        let (user, password) = auth.unwrap_or(("", ""));
        let out = Command::new(venv_python().unwrap())
            .arg("-c")
            .arg(CLIENT_PY)
            .arg(server.host())
            .arg(server.port().to_string())
            .args([tls, ca.to_str().unwrap(), user, password])
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    fn auth() -> Option<SmtpAuth> {
        Some(SmtpAuth {
            user: "alerts".into(),
            password: "s3cret".into(),
        })
    }

    /// A plain SMTP dialogue: sends each line and returns each answer's last line.
    fn dialogue(port: u16, lines: &[&str]) -> Vec<String> {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        let mut read_answer = || {
            let mut line = String::new();
            loop {
                line.clear();
                reader.read_line(&mut line).unwrap();
                // "250-..." goes on, "250 ..." ends an answer.
                if line.as_bytes().get(3) != Some(&b'-') {
                    return line.trim_end().to_string();
                }
            }
        };
        let greeting = read_answer();
        assert!(greeting.starts_with("220"), "{greeting}");
        lines
            .iter()
            .map(|line| {
                write!(writer, "{line}\r\n").unwrap();
                read_answer()
            })
            .collect()
    }

    #[test]
    fn keeps_a_message_sent_by_smtplib() {
        let server = server(SmtpOptions::default());
        assert_eq!(send(&server, "off", None), "sent");
        let messages = server.wait_for(1, WAIT).unwrap();
        let m = &messages[0];
        assert_eq!(m.from, "tidemark@example.com");
        assert_eq!(m.to, ["oncall@example.com", "boss@example.com"]);
        assert_eq!(
            m.subject.as_deref(),
            Some("[FIRING:1] HighLatency – déjà vu")
        );
        assert_eq!(m.text.as_deref(), Some("Latency is high.\n"));
        assert_eq!(m.html.as_deref(), Some("<p>Latency is <b>high</b>.</p>\n"));
        assert!(m.raw_text().contains("Content-Type: multipart/alternative"));
        assert!(!m.tls);
        assert_eq!(m.auth_login, None);
        let error = server.wait_for(2, Duration::from_millis(100)).unwrap_err();
        assert_eq!(error.to_string(), "1 of 2 messages within 100 ms");
    }

    #[test]
    fn a_raw_dialogue_keeps_the_bytes() {
        let server = server(SmtpOptions::default());
        let answers = dialogue(
            server.port(),
            &[
                "EHLO test",
                "MAIL FROM:<a@example.com>",
                "RCPT TO:<b@example.com>",
                "DATA",
                "Subject: plain\r\n\r\ncaf\u{e9} \u{2603}\r\n..dot\r\n.",
                "QUIT",
            ],
        );
        assert!(answers[4].starts_with("250"), "{answers:?}");
        let m = server.wait_for(1, WAIT).unwrap().remove(0);
        assert_eq!(
            m.raw,
            "Subject: plain\r\n\r\ncaf\u{e9} \u{2603}\r\n.dot\r\n".as_bytes()
        );
        assert_eq!(m.subject.as_deref(), Some("plain"));
    }

    #[test]
    fn with_auth_required_an_unauthenticated_send_is_refused() {
        let server = server(SmtpOptions {
            auth: auth(),
            tls: SmtpTls::Off,
        });
        let answers = dialogue(
            server.port(),
            &["EHLO test", "MAIL FROM:<a@example.com>", "QUIT"],
        );
        assert!(answers[1].starts_with("530"), "{answers:?}");
        assert!(send(&server, "off", Some(("alerts", "wrong"))).contains("535"));
        assert_eq!(send(&server, "off", Some(("alerts", "s3cret"))), "sent");
        let messages = server.wait_for(1, WAIT).unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].auth_login.as_deref(), Some("alerts"));
    }

    #[test]
    fn starttls_with_auth() {
        let server = server(SmtpOptions {
            auth: auth(),
            tls: SmtpTls::StartTlsRequired,
        });
        // Before STARTTLS: no AUTH offered, MAIL refused.
        let answers = dialogue(
            server.port(),
            &[
                "EHLO test",
                "AUTH PLAIN AGFsZXJ0cwBzM2NyZXQ=",
                "MAIL FROM:<a@x>",
            ],
        );
        assert!(answers[1].starts_with("530"), "{answers:?}");
        assert!(answers[2].starts_with("530"), "{answers:?}");
        // The client checks the certificate against the server's CA.
        assert_eq!(
            send(&server, "starttls", Some(("alerts", "s3cret"))),
            "sent"
        );
        let m = server.wait_for(1, WAIT).unwrap().remove(0);
        assert!(m.tls);
        assert_eq!(m.auth_login.as_deref(), Some("alerts"));
    }

    #[test]
    fn implicit_tls() {
        let server = server(SmtpOptions {
            auth: auth(),
            tls: SmtpTls::Implicit,
        });
        assert_eq!(
            send(&server, "implicit", Some(("alerts", "s3cret"))),
            "sent"
        );
        let m = server.wait_for(1, WAIT).unwrap().remove(0);
        assert!(m.tls);
        // A plain client gets no greeting: its EHLO is no TLS handshake, and the server hangs up.
        let mut stream = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.write_all(b"EHLO test\r\n").unwrap();
        let mut answer = Vec::new();
        let _ = std::io::Read::read_to_end(&mut stream, &mut answer);
        assert!(!answer.starts_with(b"220"), "{answer:?}");
    }

    #[test]
    fn dropping_kills_the_server() {
        let server = server(SmtpOptions::default());
        let pid = server.process.pid().unwrap();
        let dir = server.dir.path().to_path_buf();
        drop(server);
        assert!(!Path::new(&format!("/proc/{pid}")).exists());
        assert!(!dir.exists());
    }
}
