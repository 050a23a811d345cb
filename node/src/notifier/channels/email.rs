//! Email over SMTP, as Alertmanager 0.33 sends it (`notify/email/email.go`):
//!
//! - The connection: implicit TLS (SMTPS) when the smarthost's port is 465, else plain SMTP
//!   upgraded with STARTTLS, which must be offered when `require_tls` (the default) and is
//!   used whenever offered otherwise. TLS checks the server's certificate against
//!   `tls_config.server_name` (else the smarthost's host) and the Mozilla roots plus
//!   `tls_config.ca`, or nothing with `insecure_skip_verify`. `EHLO` says `hello`.
//! - AUTH, when `auth_username` is set and the server offers AUTH: the first mechanism the
//!   server lists that can be done, `PLAIN` (with `auth_identity`; as Go does, never over an
//!   unencrypted connection to a host other than localhost) or `LOGIN` with `auth_password`.
//!   CRAM-MD5 (`auth_secret`) is not supported: a server that offers nothing else is refused
//!   with an error saying so.
//! - The message: the `headers` (Subject, To, From and any others, each value a template;
//!   address headers such as To may list several addresses separated by commas), `Date`
//!   (the time of sending), `Message-Id` (unless given), `MIME-Version`, and a
//!   `multipart/alternative` body with a `text/plain` part when `text` is not empty and a
//!   `text/html` part when `html` is not empty, both UTF-8 and quoted-printable. The envelope
//!   goes from the one address of `from` to every address of `to` (both rendered).
//!
//! SMTP's permanent refusals (5xx) and what cannot work as configured are permanent; its
//! transient refusals (4xx), connection and TLS failures and timeouts are retried. The whole
//! exchange has the notifier's default timeout.

use std::time::{Duration, SystemTime};

use lettre::address::Envelope;
use lettre::message::header::{
    self, ContentTransferEncoding, ContentType, HeaderName, HeaderValue,
};
use lettre::message::{Body, Mailboxes, MessageBuilder, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Certificate, TlsParameters};
use lettre::transport::smtp::commands::Ehlo;
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, Message};
use tidemark_alerting::notify::config::EmailConfig;

use super::http::base64;
use super::{SendContext, SendError, Target, Texts, error_chain};

/// The port on which the smarthost speaks TLS from the first byte (SMTPS).
const IMPLICIT_TLS_PORT: &str = "465";

/// The headers that belong to the message's MIME structure: a value given for them is not
/// sent (the body sets its own).
const MIME_HEADERS: [&str; 3] = ["Content-Type", "Content-Transfer-Encoding", "Mime-Version"];

/// A message ready to go: its envelope and its bytes.
struct Mail {
    envelope: Envelope,
    bytes: Vec<u8>,
}

/// Sends the notification by email as `e` says.
pub async fn send(e: &EmailConfig, ctx: &SendContext<'_>) -> Result<(), SendError> {
    let target = Target::new("email", ctx).at(e.smarthost.to_string());
    let texts = Texts::new(ctx, &ctx.notification.alerts);
    let mail = compose(e, ctx, &texts).map_err(|err| target.permanent(err))?;
    let timeout = ctx.default_timeout;
    match tokio::time::timeout(timeout, deliver(e, &mail, &target, timeout)).await {
        Ok(result) => result,
        Err(_) => Err(target.retry(format!("no answer within {} ms", timeout.as_millis()))),
    }
}

/// The message of `ctx`'s notification; an error says which template or address failed.
fn compose(e: &EmailConfig, ctx: &SendContext<'_>, texts: &Texts) -> Result<Mail, String> {
    let from = texts.render("from", &e.from)?;
    let from = match addresses("from", &from)?.as_slice() {
        [one] => one.clone(),
        many => {
            return Err(format!(
                "from: must be exactly one address (got {})",
                many.len()
            ));
        }
    };
    let to = addresses("to", &texts.render("to", &e.to)?)?;
    if to.is_empty() {
        return Err("to: no address".to_string());
    }
    let sent_at = SystemTime::UNIX_EPOCH + Duration::from_millis(ctx.now_ms.max(0) as u64);
    let mut builder = Message::builder().date(sent_at);
    for (name, text) in &e.headers {
        let value = texts.render(&format!("headers.{name}"), text)?;
        builder = with_header(builder, name, value)?;
    }
    if !e.headers.contains_key("Message-Id") {
        builder = builder.message_id(None);
    }
    let envelope = Envelope::new(Some(from), to).map_err(|err| format!("envelope: {err}"))?;
    let mut body = MultiPart::alternative().build();
    if !e.text.is_empty() {
        body = body.singlepart(part(
            ContentType::TEXT_PLAIN,
            texts.render("text", &e.text)?,
        )?);
    }
    if !e.html.is_empty() {
        body = body.singlepart(part(
            ContentType::TEXT_HTML,
            texts.render_html("html", &e.html)?,
        )?);
    }
    let message = builder
        .envelope(envelope.clone())
        .multipart(body)
        .map_err(|err| format!("message: {err}"))?;
    Ok(Mail {
        envelope,
        bytes: message.formatted(),
    })
}

/// The addresses of a list such as `Alerts <alerts@example.com>, oncall@example.com`.
fn addresses(field: &str, list: &str) -> Result<Vec<Address>, String> {
    let mailboxes: Mailboxes = list
        .parse()
        .map_err(|_| format!("{field}: {list:?} is not a list of addresses"))?;
    Ok(mailboxes.into_iter().map(|m| m.email).collect())
}

/// `builder` with header `name: value`: address headers as addresses (display names encoded
/// as RFC 2047 wants) when they parse, other headers as text (encoded when not ASCII).
fn with_header(
    builder: MessageBuilder,
    name: &str,
    value: String,
) -> Result<MessageBuilder, String> {
    if MIME_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name)) {
        return Ok(builder);
    }
    let address_header = matches!(name, "From" | "To" | "Cc" | "Reply-To");
    if address_header && let Ok(list) = value.parse::<Mailboxes>() {
        match name {
            "From" => return Ok(builder.header(header::From::from(list))),
            "To" => return Ok(builder.header(header::To::from(list))),
            "Cc" => return Ok(builder.header(header::Cc::from(list))),
            "Reply-To" => return Ok(builder.header(header::ReplyTo::from(list))),
            _ => {}
        }
    }
    let header_name = HeaderName::new_from_ascii(name.to_string())
        .map_err(|_| format!("headers: {name:?} is not a valid header name"))?;
    Ok(builder.raw_header(HeaderValue::new(header_name, value)))
}

/// A part of the alternative body: `text` as UTF-8, quoted-printable.
fn part(content_type: ContentType, text: String) -> Result<SinglePart, String> {
    let body = Body::new_with_encoding(text, ContentTransferEncoding::QuotedPrintable)
        .map_err(|_| "body: not encodable as quoted-printable".to_string())?;
    Ok(SinglePart::builder().header(content_type).body(body))
}

/// The SMTP exchange: connect (TLS as configured), AUTH, MAIL, RCPT, DATA, QUIT.
async fn deliver(
    e: &EmailConfig,
    mail: &Mail,
    target: &Target,
    timeout: Duration,
) -> Result<(), SendError> {
    let host = e.smarthost.host.as_str();
    let port = port(&e.smarthost.port).map_err(|err| target.permanent(err))?;
    let hello = ClientId::Domain(if e.hello.is_empty() {
        "localhost".to_string()
    } else {
        e.hello.clone()
    });
    let implicit_tls = e.smarthost.port == IMPLICIT_TLS_PORT;
    let tls = if implicit_tls {
        Some(tls_parameters(e).map_err(|err| target.permanent(err))?)
    } else {
        None
    };
    let mut conn =
        AsyncSmtpConnection::connect_tokio1((host, port), Some(timeout), &hello, tls, None)
            .await
            .map_err(|err| smtp_error(target, "connect", &err))?;
    if !implicit_tls {
        starttls(e, target, &hello, &mut conn).await?;
    }
    let result = exchange(e, mail, target, &hello, &mut conn).await;
    if result.is_ok() {
        let _ = conn.quit().await;
    } else {
        conn.abort().await;
    }
    result
}

/// Upgrades the connection with STARTTLS when offered; fails when not offered and
/// `require_tls`. A failed handshake leaves lettre's connection without a stream, so that
/// nothing more may be written to it: it is dropped, not closed with QUIT.
async fn starttls(
    e: &EmailConfig,
    target: &Target,
    hello: &ClientId,
    conn: &mut AsyncSmtpConnection,
) -> Result<(), SendError> {
    if !conn.can_starttls() {
        if e.require_tls {
            conn.abort().await;
            return Err(target.retry(
                "'require_tls' is true (the default) but the server does not offer STARTTLS",
            ));
        }
        return Ok(());
    }
    let tls = match tls_parameters(e) {
        Ok(tls) => tls,
        Err(err) => {
            conn.abort().await;
            return Err(target.permanent(err));
        }
    };
    conn.starttls(tls, hello)
        .await
        .map_err(|err| smtp_error(target, "STARTTLS", &err))
}

/// What follows TLS: AUTH, MAIL, RCPT, DATA.
async fn exchange(
    e: &EmailConfig,
    mail: &Mail,
    target: &Target,
    hello: &ClientId,
    conn: &mut AsyncSmtpConnection,
) -> Result<(), SendError> {
    if !e.auth_username.is_empty() {
        authenticate(e, target, hello, conn).await?;
    }
    conn.send(&mail.envelope, &mail.bytes)
        .await
        .map_err(|err| smtp_error(target, "send", &err))?;
    Ok(())
}

/// AUTH with the first mechanism the server lists that can be done (Alertmanager's order);
/// nothing when the server offers no AUTH.
async fn authenticate(
    e: &EmailConfig,
    target: &Target,
    hello: &ClientId,
    conn: &mut AsyncSmtpConnection,
) -> Result<(), SendError> {
    // lettre keeps only the mechanisms it knows: ask again to see them all, in order.
    let ehlo = conn
        .command(Ehlo::new(hello.clone()))
        .await
        .map_err(|err| smtp_error(target, "EHLO", &err))?;
    let offered = auth_mechanisms(ehlo.message());
    if offered.is_empty() {
        tracing::debug!(target = %target, "the SMTP server offers no AUTH: sending without");
        return Ok(());
    }
    let mut problems = Vec::new();
    for mechanism in &offered {
        match mechanism.as_str() {
            "PLAIN" | "LOGIN" if e.auth_password.is_empty() => {
                problems.push(format!("missing password for {mechanism}"));
            }
            "PLAIN" => {
                if !conn.is_encrypted() && !is_localhost(&e.smarthost.host) {
                    return Err(target.permanent(
                        "AUTH PLAIN: refusing to send the password over a connection without TLS",
                    ));
                }
                let response = format!(
                    "{}\0{}\0{}",
                    e.auth_identity, e.auth_username, e.auth_password
                );
                conn.command(format!("AUTH PLAIN {}\r\n", base64(response.as_bytes())))
                    .await
                    .map_err(|err| smtp_error(target, "AUTH PLAIN", &err))?;
                return Ok(());
            }
            "LOGIN" => {
                let credentials =
                    Credentials::new(e.auth_username.clone(), e.auth_password.clone());
                conn.auth(&[Mechanism::Login], &credentials)
                    .await
                    .map_err(|err| smtp_error(target, "AUTH LOGIN", &err))?;
                return Ok(());
            }
            "CRAM-MD5" if e.auth_secret.is_empty() => {
                problems.push("missing secret for CRAM-MD5".to_string());
            }
            "CRAM-MD5" => {
                problems.push("CRAM-MD5 (auth_secret) is not supported by Tidemark".to_string())
            }
            other => problems.push(format!("unknown mechanism {other}")),
        }
    }
    Err(target.permanent(format!(
        "no AUTH mechanism offered ({}) can be used: {}",
        offered.join(" "),
        problems.join("; ")
    )))
}

/// The mechanisms of an EHLO answer's `AUTH` line (or its obsolete `AUTH=` form), in order.
pub fn auth_mechanisms<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<String> {
    for line in lines {
        let upper = line.to_ascii_uppercase();
        let rest = upper
            .strip_prefix("AUTH ")
            .or_else(|| upper.strip_prefix("AUTH="));
        if let Some(rest) = rest {
            return rest.split_whitespace().map(str::to_string).collect();
        }
    }
    Vec::new()
}

/// Whether `host` is this machine by name (Go's `smtp.PlainAuth` allows an unencrypted AUTH
/// PLAIN only to these).
fn is_localhost(host: &str) -> bool {
    matches!(host, "localhost" | "127.0.0.1" | "::1")
}

/// The TLS parameters for the smarthost.
fn tls_parameters(e: &EmailConfig) -> Result<TlsParameters, String> {
    let tls = &e.tls_config;
    let name = if tls.server_name.is_empty() {
        e.smarthost.host.clone()
    } else {
        tls.server_name.clone()
    };
    let mut builder =
        TlsParameters::builder(name).dangerous_accept_invalid_certs(tls.insecure_skip_verify);
    if !tls.ca.is_empty() {
        let ca = Certificate::from_pem(tls.ca.as_bytes())
            .map_err(|err| format!("tls_config.ca: {}", error_chain(&err)))?;
        builder = builder.add_root_certificate(ca);
    }
    builder
        .build_rustls()
        .map_err(|err| format!("tls_config: {}", error_chain(&err)))
}

/// The smarthost's port: a number, or one of the SMTP service names Go's resolver knows.
fn port(text: &str) -> Result<u16, String> {
    match text {
        "smtp" => Ok(25),
        "submission" => Ok(587),
        "smtps" | "submissions" => Ok(465),
        _ => text
            .parse()
            .map_err(|_| format!("smarthost: unknown port {text:?}")),
    }
}

/// A failure of SMTP `step`: 5xx answers and what the client refuses are permanent; 4xx
/// answers, connection, TLS and protocol failures may pass.
fn smtp_error(target: &Target, step: &str, err: &lettre::transport::smtp::Error) -> SendError {
    let detail = format!("{step}: {}", error_chain(err));
    if err.is_permanent() || err.is_client() {
        target.permanent(detail)
    } else {
        target.retry(detail)
    }
}
