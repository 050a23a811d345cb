//! The email channel against a real SMTP server (aiosmtpd, from the venv of
//! `scripts/install-peers.sh`): plain, STARTTLS (certificate skipped or checked against the
//! server's CA), AUTH; and its pure parts.

use std::sync::{Arc, Mutex};

use tidemark_alerting::notify::config::Integration;
use tidemark_testkit::smtp::{SmtpAuth, SmtpOptions, SmtpServer, SmtpTls};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use super::super::email::auth_mechanisms;
use super::super::send;
use super::{alert, context, integration, notification, permanent, retry};

fn server(auth: bool, tls: SmtpTls) -> SmtpServer {
    let auth = auth.then(|| SmtpAuth {
        user: "alerts".to_string(),
        password: "s3cret".to_string(),
    });
    SmtpServer::start(SmtpOptions { auth, tls }).unwrap_or_else(|e| panic!("{e}"))
}

/// An email config sending to `server` with `more` (YAML flow fields) added.
fn email(server: &SmtpServer, more: &str) -> Integration {
    integration(&format!(
        "email_configs: [{{to: 'oncall@example.com, Boss <boss@example.com>', \
         from: 'Tidemark <alerts@example.com>', smarthost: '{}', {more}}}]",
        server.address()
    ))
}

#[tokio::test]
async fn sends_a_plain_message_with_text_and_html() {
    let server = server(false, SmtpTls::Off);
    let e = email(
        &server,
        "require_tls: false, hello: tidemark.test, \
         text: 'Latency is high on {{ len .Alerts.Firing }} hosts: déjà vu.', \
         headers: {X-Team: '{{ .GroupLabels.alertname }}', Subject: 'Alerte {{ .Status }} – été'}",
    );
    let n = notification(vec![alert("i1", true), alert("i2", true)]);
    let http = reqwest::Client::new();
    send(&e, &context(&http, &n)).await.unwrap();

    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let m = &messages[0];
    assert_eq!(m.from, "alerts@example.com");
    assert_eq!(m.to, ["oncall@example.com", "boss@example.com"]);
    assert!(!m.tls);
    assert_eq!(m.auth_login, None);
    assert_eq!(m.subject.as_deref(), Some("Alerte firing – été"));
    assert_eq!(
        m.text.as_deref().map(str::trim_end),
        Some("Latency is high on 2 hosts: déjà vu.")
    );
    // The default HTML body: Alertmanager's email.default.html.
    let html = m.html.as_deref().unwrap();
    assert!(html.contains("<html"), "{html}");
    assert!(html.contains("HighLatency"), "{html}");
    let raw = m.raw_text();
    let headers = raw.split("\r\n\r\n").next().unwrap();
    for expected in [
        "X-Team: HighLatency",
        "Date: Thu, 01 Jan 2026 00:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: multipart/alternative",
        "To: oncall@example.com, Boss <boss@example.com>",
        "From: Tidemark <alerts@example.com>",
    ] {
        assert!(
            headers.contains(expected),
            "{expected:?} not in:\n{headers}"
        );
    }
    assert!(
        headers
            .lines()
            .any(|l| l.to_ascii_lowercase().starts_with("message-id: <")),
        "{headers}"
    );
    let parts: Vec<&str> = raw
        .match_indices("Content-Type: text/")
        .map(|(i, _)| &raw[i..i + 24])
        .collect();
    assert_eq!(
        parts,
        ["Content-Type: text/plain", "Content-Type: text/html;"]
    );
    assert!(raw.contains("Content-Transfer-Encoding: quoted-printable"));
}

#[tokio::test]
async fn sends_only_the_parts_given() {
    let server = server(false, SmtpTls::Off);
    let e = email(&server, "require_tls: false, html: '', text: 'only text'");
    let n = notification(vec![alert("i1", false)]);
    let http = reqwest::Client::new();
    send(&e, &context(&http, &n)).await.unwrap();
    let m = &server.messages()[0];
    // The default subject.
    assert_eq!(
        m.subject.as_deref(),
        Some("[RESOLVED] HighLatency (i1 page)")
    );
    assert_eq!(m.text.as_deref().map(str::trim_end), Some("only text"));
    assert_eq!(m.html, None);
}

#[tokio::test]
async fn starttls_with_auth_and_the_certificate_skipped() {
    let server = server(true, SmtpTls::StartTlsRequired);
    let e = email(
        &server,
        "auth_username: alerts, auth_password: s3cret, tls_config: {insecure_skip_verify: true}, \
         text: 'over TLS'",
    );
    let n = notification(vec![alert("i1", true)]);
    let http = reqwest::Client::new();
    send(&e, &context(&http, &n)).await.unwrap();
    let m = &server.messages()[0];
    assert!(m.tls);
    assert_eq!(m.auth_login.as_deref(), Some("alerts"));
    assert_eq!(m.text.as_deref().map(str::trim_end), Some("over TLS"));
}

#[tokio::test]
async fn starttls_checks_the_certificate() {
    let server = server(false, SmtpTls::StartTls);
    let ca = std::fs::read_to_string(server.ca_cert_path().unwrap()).unwrap();
    let Integration::Email(mut e) = email(&server, "text: checked") else {
        unreachable!()
    };
    let n = notification(vec![alert("i1", true)]);
    let http = reqwest::Client::new();
    // The server's certificate is signed by a CA of its own: not trusted by default.
    let error = retry(send(&Integration::Email(e.clone()), &context(&http, &n)).await);
    let place = format!("email for receiver \"team-a\" ({})", server.address());
    assert!(
        error.starts_with(&format!("{place}: STARTTLS: ")),
        "{error}"
    );
    // Trusted with its CA, for the name the certificate has.
    e.tls_config.ca = ca;
    e.tls_config.server_name = "localhost".to_string();
    send(&Integration::Email(e), &context(&http, &n))
        .await
        .unwrap();
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].tls);
}

#[tokio::test]
async fn refusals_are_classified() {
    let server = server(true, SmtpTls::Off);
    let n = notification(vec![alert("i1", true)]);
    let http = reqwest::Client::new();
    let ctx = context(&http, &n);
    let place = format!("email for receiver \"team-a\" ({})", server.address());

    // STARTTLS required and not offered: the server may offer it later.
    let e = email(&server, "text: x");
    let error = retry(send(&e, &ctx).await);
    assert!(
        error.starts_with(&format!("{place}: 'require_tls' is true")),
        "{error}"
    );
    // A wrong password: 535.
    let e = email(
        &server,
        "require_tls: false, auth_username: alerts, auth_password: nope, text: x",
    );
    let error = permanent(send(&e, &ctx).await);
    assert!(
        error.starts_with(&format!("{place}: AUTH ")) && error.contains("535"),
        "{error}"
    );
    // No AUTH where the server requires it: 530 to MAIL.
    let e = email(&server, "require_tls: false, text: x");
    let error = permanent(send(&e, &ctx).await);
    assert!(
        error.starts_with(&format!("{place}: send: ")) && error.contains("530"),
        "{error}"
    );
    // A user without a password.
    let e = email(
        &server,
        "require_tls: false, auth_username: alerts, text: x",
    );
    let error = permanent(send(&e, &ctx).await);
    assert!(error.contains("missing password for PLAIN"), "{error}");
    assert!(server.messages().is_empty());

    // Nobody listening.
    let port = tidemark_testkit::free_port();
    let Integration::Email(mut e) = email(&server, "require_tls: false, text: x") else {
        unreachable!()
    };
    e.smarthost.port = port.to_string();
    let error = retry(send(&Integration::Email(e), &ctx).await);
    assert!(
        error.starts_with(&format!(
            "email for receiver \"team-a\" (127.0.0.1:{port}): connect: "
        )),
        "{error}"
    );
}

#[tokio::test]
async fn bad_addresses_are_permanent() {
    let server = server(false, SmtpTls::Off);
    let Integration::Email(mut e) = email(&server, "require_tls: false") else {
        unreachable!()
    };
    let n = notification(vec![alert("i1", true)]);
    let http = reqwest::Client::new();
    e.from = "a@example.com, b@example.com".to_string();
    let error = permanent(send(&Integration::Email(e.clone()), &context(&http, &n)).await);
    assert!(
        error.ends_with(": from: must be exactly one address (got 2)"),
        "{error}"
    );
    e.from = "a@example.com".to_string();
    e.to = "{{ .CommonLabels.nothing }}".to_string();
    permanent(send(&Integration::Email(e), &context(&http, &n)).await);
}

/// A scripted SMTP server for what aiosmtpd cannot be asked to do (offer AUTH mechanisms
/// in a given order, CRAM-MD5 only): answers every command positively, offers `mechanisms`,
/// and records the commands received (the message's lines left out). Serves one connection.
async fn scripted_server(mechanisms: &'static str) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let commands = Arc::new(Mutex::new(Vec::new()));
    let recorded = commands.clone();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 scripted\r\n").await.unwrap();
        let mut in_data = false;
        while let Ok(Some(line)) = lines.next_line().await {
            let answer = if in_data {
                in_data = line != ".";
                if in_data {
                    continue;
                } else {
                    "250 accepted".to_string()
                }
            } else {
                recorded.lock().unwrap().push(line.clone());
                match line.split(' ').next().unwrap_or_default() {
                    "EHLO" => format!("250-scripted\r\n250-AUTH {mechanisms}\r\n250 8BITMIME"),
                    "AUTH" => "235 2.7.0 authenticated".to_string(),
                    "DATA" => {
                        in_data = true;
                        "354 go on".to_string()
                    }
                    "QUIT" => "221 bye".to_string(),
                    _ => "250 ok".to_string(),
                }
            };
            write
                .write_all(format!("{answer}\r\n").as_bytes())
                .await
                .unwrap();
        }
    });
    (port, commands)
}

/// An email config for the scripted server on `port`, with `more` (YAML flow fields).
fn scripted_email(port: u16, more: &str) -> Integration {
    integration(&format!(
        "email_configs: [{{to: oncall@example.com, from: alerts@example.com, \
         smarthost: '127.0.0.1:{port}', require_tls: false, text: x, {more}}}]"
    ))
}

#[tokio::test]
async fn auth_plain_sends_the_identity() {
    let (port, commands) = scripted_server("CRAM-MD5 PLAIN LOGIN").await;
    let e = scripted_email(
        port,
        "auth_identity: ops, auth_username: alerts, auth_password: s3cret, auth_secret: x",
    );
    let n = notification(vec![alert("i1", true)]);
    let http = reqwest::Client::new();
    send(&e, &context(&http, &n)).await.unwrap();
    let commands = commands.lock().unwrap().clone();
    // "ops\0alerts\0s3cret" in base64; CRAM-MD5, listed first, is passed over.
    assert!(
        commands.contains(&"AUTH PLAIN b3BzAGFsZXJ0cwBzM2NyZXQ=".to_string()),
        "{commands:?}"
    );
    assert!(
        commands.contains(&"MAIL FROM:<alerts@example.com>".to_string()),
        "{commands:?}"
    );
}

#[tokio::test]
async fn cram_md5_alone_is_refused_clearly() {
    let (port, commands) = scripted_server("CRAM-MD5").await;
    let e = scripted_email(port, "auth_username: alerts, auth_secret: s3cret");
    let n = notification(vec![alert("i1", true)]);
    let http = reqwest::Client::new();
    let error = permanent(send(&e, &context(&http, &n)).await);
    assert_eq!(
        error,
        format!(
            "email for receiver \"team-a\" (127.0.0.1:{port}): no AUTH mechanism offered \
             (CRAM-MD5) can be used: CRAM-MD5 (auth_secret) is not supported by Tidemark"
        )
    );
    assert!(
        !commands
            .lock()
            .unwrap()
            .iter()
            .any(|c| c.starts_with("MAIL"))
    );
}

#[test]
fn reads_the_auth_mechanisms_of_an_ehlo_answer() {
    let lines = [
        "tidemark-test-smtp",
        "8BITMIME",
        "AUTH CRAM-MD5 login PLAIN",
        "HELP",
    ];
    assert_eq!(
        auth_mechanisms(lines.into_iter()),
        ["CRAM-MD5", "LOGIN", "PLAIN"]
    );
    assert_eq!(auth_mechanisms(["x", "AUTH=LOGIN"].into_iter()), ["LOGIN"]);
    assert!(auth_mechanisms(["x", "STARTTLS"].into_iter()).is_empty());
}
