//! PagerDuty: an event of the Events API v2 (`POST url`, JSON), as Alertmanager 0.33 sends it
//! (`notify/pagerduty/pagerduty.go`, `notifyV2`):
//!
//! ```text
//! {"routing_key": "...", "dedup_key": "<SHA-256 of the group key, hex>",
//!  "event_action": "trigger" | "resolve",
//!  "payload": {"summary": "...", "source": "...", "severity": "...", "class": "...",
//!              "component": "...", "group": "...", "custom_details": {...}},
//!  "client": "...", "client_url": "...", "images": [...], "links": [...]}
//! ```
//!
//! `resolve` when every alert of the group is resolved. Every string is a template, the
//! routing key included; `summary` (the rendered `description`) is cut to 1024 characters
//! with a trailing `…`; fields left empty are left out, as are images without `src` and links
//! without `href` (`payload.timestamp` is never sent). A string of `details`, once rendered,
//! is read as YAML as Alertmanager (`template.DeepCopyWithTemplate`, yaml.v2) reads it, so
//! that `{{ .Alerts.Firing | toJson }}` gives a list and `{{ .Alerts.Firing | len }}` a
//! number. An event over 512 000 bytes goes with its `custom_details` replaced by a note.
//! PagerDuty answers 202; 429 and 5xx are retried, 400 (an invalid event) is not.

use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use tidemark_alerting::notify::config::{DetailValue, PagerdutyConfig};

use super::http::HttpClient;
use super::{SendContext, SendError, Target, Texts, classify, group_resolved, parse_url};

/// The most characters of `payload.summary` (PagerDuty's limit; Alertmanager's
/// `maxV2SummaryLenRunes`).
pub const SUMMARY_MAX_CHARS: usize = 1024;

/// The largest event sent whole, in bytes (Alertmanager's `maxEventSize`).
pub const EVENT_MAX_BYTES: usize = 512_000;

/// What replaces `custom_details` in an event over [`EVENT_MAX_BYTES`].
const TRUNCATED_DETAILS: &str =
    "Custom details have been removed because the original event exceeds the maximum size of 512KB";

/// How deep rendered `details` may nest (a rendered string read as YAML is rendered again).
const DETAILS_DEPTH_MAX: usize = 32;

/// An Events API v2 event (fields in Alertmanager's order).
#[derive(Debug, Serialize)]
struct Event {
    routing_key: String,
    dedup_key: String,
    event_action: &'static str,
    payload: Payload,
    #[serde(skip_serializing_if = "String::is_empty")]
    client: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    client_url: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    images: Vec<Image>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    links: Vec<Link>,
}

/// The event's `payload`.
#[derive(Debug, Serialize)]
struct Payload {
    summary: String,
    source: String,
    severity: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    class: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    component: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    group: String,
    #[serde(skip_serializing_if = "Map::is_empty")]
    custom_details: Map<String, Value>,
}

/// An entry of the event's `images`.
#[derive(Debug, Serialize)]
struct Image {
    src: String,
    alt: String,
    href: String,
}

/// An entry of the event's `links`.
#[derive(Debug, Serialize)]
struct Link {
    href: String,
    text: String,
}

/// Sends the notification to PagerDuty as `p` says.
pub async fn send(p: &PagerdutyConfig, ctx: &SendContext<'_>) -> Result<(), SendError> {
    let target = Target::new("pagerduty", ctx);
    let url = parse_url(&target, "url", &p.url)?;
    let target = target.at_url(&url);
    let texts = Texts::new(ctx, &ctx.notification.alerts);
    let event = event(p, ctx, &texts).map_err(|e| target.permanent(e))?;
    let body = encode(event).map_err(|e| target.permanent(e))?;
    let client =
        HttpClient::new(&p.http_config, p.timeout_ms, ctx).map_err(|e| target.permanent(e))?;
    let req = client
        .request(reqwest::Method::POST, url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    classify(&target, client.timeout(), req.send().await).await
}

/// The event for `ctx`'s notification; an error says which template failed or what is
/// missing.
fn event(p: &PagerdutyConfig, ctx: &SendContext<'_>, texts: &Texts) -> Result<Event, String> {
    let render = |field: &str, text: &str| texts.render(field, text);
    let routing_key = render("routing_key", &p.routing_key)?;
    if routing_key.is_empty() {
        return Err("routing key cannot be empty".to_string());
    }
    let mut custom_details = Map::new();
    for (key, value) in &p.details {
        let value = render_detail(texts, &format!("details.{key}"), value, 0)?;
        custom_details.insert(key.clone(), value);
    }
    let severity = if p.severity.is_empty() {
        tidemark_alerting::notify::config::DEFAULT_PAGERDUTY_SEVERITY
    } else {
        &p.severity
    };
    let mut images = Vec::with_capacity(p.images.len());
    for (i, image) in p.images.iter().enumerate() {
        let image = Image {
            src: render(&format!("images[{i}].src"), &image.src)?,
            alt: render(&format!("images[{i}].alt"), &image.alt)?,
            href: render(&format!("images[{i}].href"), &image.href)?,
        };
        if !image.src.is_empty() {
            images.push(image);
        }
    }
    let mut links = Vec::with_capacity(p.links.len());
    for (i, link) in p.links.iter().enumerate() {
        let link = Link {
            href: render(&format!("links[{i}].href"), &link.href)?,
            text: render(&format!("links[{i}].text"), &link.text)?,
        };
        if !link.href.is_empty() {
            links.push(link);
        }
    }
    Ok(Event {
        routing_key,
        dedup_key: dedup_key(&ctx.notification.nflog.group_key),
        event_action: if group_resolved(ctx) {
            "resolve"
        } else {
            "trigger"
        },
        payload: Payload {
            summary: truncate_chars(&render("description", &p.description)?, SUMMARY_MAX_CHARS),
            source: render("source", &p.source)?,
            severity: render("severity", severity)?,
            class: render("class", &p.class)?,
            component: render("component", &p.component)?,
            group: render("group", &p.group)?,
            custom_details,
        },
        client: render("client", &p.client)?,
        client_url: render("client_url", &p.client_url)?,
        images,
        links,
    })
}

/// `event` as JSON, with its custom details replaced by a note when it is over
/// [`EVENT_MAX_BYTES`].
fn encode(mut event: Event) -> Result<Vec<u8>, String> {
    let body = serde_json::to_vec(&event).map_err(|e| format!("event not encoded: {e}"))?;
    if body.len() <= EVENT_MAX_BYTES {
        return Ok(body);
    }
    tracing::warn!(
        size_bytes = body.len(),
        limit_bytes = EVENT_MAX_BYTES,
        "PagerDuty event too large: custom details removed"
    );
    event.payload.custom_details = Map::from_iter([(
        "error".to_string(),
        Value::String(TRUNCATED_DETAILS.to_string()),
    )]);
    serde_json::to_vec(&event).map_err(|e| format!("event not encoded: {e}"))
}

/// PagerDuty's deduplication key for a group: the SHA-256 of its group key, in lower-case hex
/// (Alertmanager's `notify.Key.Hash`).
pub fn dedup_key(group_key: &str) -> String {
    let digest = Sha256::digest(group_key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// `text` cut to `max` characters, the last one replaced by `…` when cut (Alertmanager's
/// `TruncateInRunes`).
pub fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    if max <= 3 {
        return text.chars().take(max).collect();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// A `details` value with its strings rendered (and map keys below the top level).
fn render_detail(
    texts: &Texts,
    field: &str,
    value: &DetailValue,
    depth: usize,
) -> Result<Value, String> {
    Ok(match value {
        DetailValue::Null => Value::Null,
        DetailValue::Bool(b) => Value::Bool(*b),
        DetailValue::Int(i) => Value::from(*i),
        DetailValue::Float(f) => float(field, *f)?,
        DetailValue::Text(text) => render_detail_text(texts, field, text, depth)?,
        DetailValue::List(items) => Value::Array(
            items
                .iter()
                .map(|item| render_detail(texts, field, item, depth))
                .collect::<Result<_, _>>()?,
        ),
        DetailValue::Map(map) => {
            let mut out = Map::new();
            for (key, item) in map {
                let key = texts.render(field, key)?;
                out.insert(key, render_detail(texts, field, item, depth)?);
            }
            Value::Object(out)
        }
    })
}

/// A rendered detail string, read as YAML: a string stays the text rendered, null, a
/// number, a boolean, a list or a map becomes that value, its own strings rendered again.
fn render_detail_text(
    texts: &Texts,
    field: &str,
    text: &str,
    depth: usize,
) -> Result<Value, String> {
    if depth >= DETAILS_DEPTH_MAX {
        return Err(format!(
            "{field}: nested deeper than {DETAILS_DEPTH_MAX} levels"
        ));
    }
    let rendered = texts.render(field, text)?;
    if let Some(b) = yaml_v2_bool(&rendered) {
        return Ok(Value::Bool(b));
    }
    match serde_yaml::from_str::<serde_yaml::Value>(&rendered) {
        Ok(serde_yaml::Value::String(_)) | Err(_) => Ok(Value::String(rendered)),
        Ok(parsed) => from_yaml(texts, field, &parsed, depth + 1),
    }
}

/// A YAML value read from a rendered detail, as JSON (strings rendered again, keys too; keys
/// that are not strings dropped, as Alertmanager drops them).
fn from_yaml(
    texts: &Texts,
    field: &str,
    value: &serde_yaml::Value,
    depth: usize,
) -> Result<Value, String> {
    use serde_yaml::Value as Y;
    Ok(match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                float(field, n.as_f64().unwrap_or(f64::NAN))?
            }
        }
        Y::String(s) => render_detail_text(texts, field, s, depth)?,
        Y::Sequence(items) => Value::Array(
            items
                .iter()
                .map(|item| from_yaml(texts, field, item, depth))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (key, item) in map {
                let Y::String(key) = key else { continue };
                let key = texts.render(field, key)?;
                out.insert(key, from_yaml(texts, field, item, depth)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => from_yaml(texts, field, &tagged.value, depth)?,
    })
}

/// A float as JSON; NaN and the infinities have no JSON form (Go's encoder refuses them).
fn float(field: &str, f: f64) -> Result<Value, String> {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("{field}: unsupported value {f} (JSON has no NaN or infinity)"))
}

/// The booleans of YAML 1.1 that yaml.v2 reads and YAML 1.2 (serde_yaml) does not.
fn yaml_v2_bool(text: &str) -> Option<bool> {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}
