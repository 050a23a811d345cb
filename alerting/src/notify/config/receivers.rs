//! `receivers:`: each receiver's integrations with their defaults and what they inherit from
//! `global` (Alertmanager's `Config.UnmarshalYAML` and the integrations' `UnmarshalYAML`),
//! and `http_config` (Prometheus' `HTTPClientConfig.Validate`).

use std::collections::BTreeMap;

use serde_yaml::{Mapping, Value};

use super::build::{Errors, check_url};
use super::fields::{NOT_SUPPORTED, scalar_text};
use super::integrations::{
    DEFAULT_EMAIL_HTML, DEFAULT_EMAIL_SUBJECT, DEFAULT_PAGERDUTY_CLIENT,
    DEFAULT_PAGERDUTY_CLIENT_URL, DEFAULT_PAGERDUTY_DESCRIPTION, DEFAULT_PAGERDUTY_DETAILS,
    DEFAULT_PAGERDUTY_SEVERITY,
};
use super::yaml::{
    EmailYaml, HttpConfigYaml, PagerdutyYaml, ReceiverYaml, SmsYaml, TlsYaml, WebhookYaml,
};
use super::{
    Authorization, BasicAuth, DetailValue, EmailConfig, GlobalConfig, HostPort, HttpConfig,
    Integration, PagerdutyConfig, PagerdutyImage, PagerdutyLink, Receiver, SmsBodyFormat,
    SmsConfig, SmsMethod, TlsConfig, WebhookConfig,
};

/// Every receiver by name: a name each, no name twice.
pub(super) fn receivers(
    list: &[ReceiverYaml],
    global: &GlobalConfig,
    errors: &mut Errors,
) -> BTreeMap<String, Receiver> {
    let mut out = BTreeMap::new();
    for (i, yaml) in list.iter().enumerate() {
        let path = format!("receivers[{i}]");
        let receiver = receiver(&path, yaml, global, errors);
        if yaml.name.is_empty() {
            errors.push(&path, "missing name in receiver");
        } else if out.contains_key(&yaml.name) {
            errors.push(
                &path,
                format!("notification config name {:?} is not unique", yaml.name),
            );
        } else {
            out.insert(yaml.name.clone(), receiver);
        }
    }
    out
}

/// One receiver, its integrations in Alertmanager's order.
fn receiver(
    path: &str,
    yaml: &ReceiverYaml,
    global: &GlobalConfig,
    errors: &mut Errors,
) -> Receiver {
    errors.refused(path, yaml.refused());
    let mut integrations = Vec::new();
    for (i, c) in yaml.webhook_configs.iter().enumerate() {
        let path = format!("{path}.webhook_configs[{i}]");
        integrations.push(Integration::Webhook(webhook(&path, c, global, errors)));
    }
    for (i, c) in yaml.email_configs.iter().enumerate() {
        let path = format!("{path}.email_configs[{i}]");
        integrations.push(Integration::Email(email(&path, c, global, errors)));
    }
    for (i, c) in yaml.pagerduty_configs.iter().enumerate() {
        let path = format!("{path}.pagerduty_configs[{i}]");
        integrations.push(Integration::Pagerduty(pagerduty(&path, c, global, errors)));
    }
    for (i, c) in yaml.sms_configs.iter().enumerate() {
        let path = format!("{path}.sms_configs[{i}]");
        integrations.push(Integration::Sms(sms(&path, c, global, errors)));
    }
    Receiver {
        name: yaml.name.clone(),
        integrations,
    }
}

/// A `webhook_configs` entry.
fn webhook(
    path: &str,
    yaml: &WebhookYaml,
    global: &GlobalConfig,
    errors: &mut Errors,
) -> WebhookConfig {
    let refused = yaml.refused();
    let url_file = refused.iter().any(|(field, _)| *field == "url_file");
    errors.refused(path, refused);
    let url = yaml.url.clone().unwrap_or_default();
    if url.is_empty() {
        if !url_file {
            errors.push(path, "one of url or url_file must be configured");
        }
    } else {
        checked_url(&format!("{path}.url"), &url, errors);
    }
    WebhookConfig {
        send_resolved: yaml.send_resolved.unwrap_or(true),
        url,
        max_alerts: usize::try_from(yaml.max_alerts).unwrap_or(usize::MAX),
        timeout_ms: yaml.timeout.0,
        http_config: own_or_global(path, yaml.http_config.as_ref(), global, errors),
    }
}

/// An `email_configs` entry, with `global.smtp_*` where it gives nothing.
fn email(path: &str, yaml: &EmailYaml, global: &GlobalConfig, errors: &mut Errors) -> EmailConfig {
    errors.refused(path, yaml.refused());
    if yaml.to.is_empty() {
        errors.push(path, "missing to address in email config");
    }
    let mut headers = BTreeMap::new();
    for (name, value) in &yaml.headers {
        let canonical = canonical_mime_header_key(name);
        if headers.insert(canonical.clone(), value.clone()).is_some() {
            errors.push(
                &format!("{path}.headers"),
                format!("duplicate header {canonical:?} in email config"),
            );
        }
    }
    let smarthost = match yaml.smarthost.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => HostPort::parse(s)
            .map_err(|e| errors.push(&format!("{path}.smarthost"), e))
            .unwrap_or_default(),
        None => global.smtp_smarthost.clone().unwrap_or_else(|| {
            errors.push(path, "no smarthost, and no global smtp_smarthost set");
            HostPort::default()
        }),
    };
    let from = non_empty(yaml.from.as_deref(), &global.smtp_from);
    if from.is_empty() {
        errors.push(path, "no from address, and no global smtp_from set");
    }
    let auth_password = yaml.auth_password.clone().unwrap_or_default();
    let auth_secret = yaml.auth_secret.clone().unwrap_or_default();
    let tls_config = match &yaml.tls_config {
        Some(tls) => tls_config(&format!("{path}.tls_config"), tls, true, errors),
        None => TlsConfig::default(),
    };
    headers
        .entry("Subject".to_string())
        .or_insert_with(|| DEFAULT_EMAIL_SUBJECT.to_string());
    headers
        .entry("To".to_string())
        .or_insert_with(|| yaml.to.clone());
    headers
        .entry("From".to_string())
        .or_insert_with(|| from.clone());
    EmailConfig {
        send_resolved: yaml.send_resolved.unwrap_or(false),
        to: yaml.to.clone(),
        from,
        hello: non_empty(yaml.hello.as_deref(), &global.smtp_hello),
        smarthost,
        auth_username: non_empty(yaml.auth_username.as_deref(), &global.smtp_auth_username),
        auth_password: non_empty(Some(&auth_password), &global.smtp_auth_password),
        auth_identity: non_empty(yaml.auth_identity.as_deref(), &global.smtp_auth_identity),
        auth_secret: non_empty(Some(&auth_secret), &global.smtp_auth_secret),
        require_tls: yaml.require_tls.unwrap_or(global.smtp_require_tls),
        tls_config,
        headers,
        html: yaml
            .html
            .clone()
            .unwrap_or_else(|| DEFAULT_EMAIL_HTML.to_string()),
        text: yaml.text.clone().unwrap_or_default(),
    }
}

/// A `pagerduty_configs` entry (Events API v2), with Alertmanager's `DefaultPagerdutyConfig`.
fn pagerduty(
    path: &str,
    yaml: &PagerdutyYaml,
    global: &GlobalConfig,
    errors: &mut Errors,
) -> PagerdutyConfig {
    let refused = yaml.refused();
    let other_key = !refused.is_empty();
    errors.refused(path, refused);
    let routing_key = yaml.routing_key.clone().unwrap_or_default();
    if routing_key.is_empty() && !other_key {
        errors.push(path, "missing routing_key in PagerDuty config");
    }
    let url = match yaml.url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => checked_url(&format!("{path}.url"), url, errors),
        None => global.pagerduty_url.clone(),
    };
    let mut details = BTreeMap::new();
    if let Some(mapping) = &yaml.details {
        details = detail_map(&format!("{path}.details"), mapping, errors);
    }
    for (key, value) in DEFAULT_PAGERDUTY_DETAILS {
        details
            .entry(key.to_string())
            .or_insert_with(|| DetailValue::Text(value.to_string()));
    }
    let client = yaml
        .client
        .clone()
        .unwrap_or_else(|| DEFAULT_PAGERDUTY_CLIENT.to_string());
    PagerdutyConfig {
        send_resolved: yaml.send_resolved.unwrap_or(true),
        routing_key,
        url,
        client_url: yaml
            .client_url
            .clone()
            .unwrap_or_else(|| DEFAULT_PAGERDUTY_CLIENT_URL.to_string()),
        description: yaml
            .description
            .clone()
            .unwrap_or_else(|| DEFAULT_PAGERDUTY_DESCRIPTION.to_string()),
        details,
        severity: non_empty(yaml.severity.as_deref(), DEFAULT_PAGERDUTY_SEVERITY),
        class: yaml.class.clone().unwrap_or_default(),
        component: yaml.component.clone().unwrap_or_default(),
        group: yaml.group.clone().unwrap_or_default(),
        links: yaml
            .links
            .iter()
            .map(|l| PagerdutyLink {
                href: l.href.clone(),
                text: l.text.clone(),
            })
            .collect(),
        images: yaml
            .images
            .iter()
            .map(|i| PagerdutyImage {
                src: i.src.clone(),
                alt: i.alt.clone(),
                href: i.href.clone(),
            })
            .collect(),
        source: non_empty(yaml.source.as_deref(), &client),
        client,
        timeout_ms: yaml.timeout.0,
        http_config: own_or_global(path, yaml.http_config.as_ref(), global, errors),
    }
}

/// An `sms_configs` entry (Tidemark's own).
fn sms(path: &str, yaml: &SmsYaml, global: &GlobalConfig, errors: &mut Errors) -> SmsConfig {
    errors.refused(path, yaml.refused());
    let url = yaml.url.clone().unwrap_or_default();
    if url.is_empty() {
        errors.push(path, "missing url in SMS config");
    } else {
        checked_url(&format!("{path}.url"), &url, errors);
    }
    let method = match yaml
        .method
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("POST") => SmsMethod::Post,
        Some("PUT") => SmsMethod::Put,
        Some("GET") => SmsMethod::Get,
        Some(other) => {
            errors.push(
                &format!("{path}.method"),
                format!("{other:?} is not one of POST, PUT, GET"),
            );
            SmsMethod::Post
        }
    };
    let body_format = match (yaml.body_format.as_deref(), method) {
        (None, SmsMethod::Get) | (Some("form"), _) => SmsBodyFormat::Form,
        (None, _) => SmsBodyFormat::Json,
        (Some("json"), SmsMethod::Get) => {
            errors.push(
                &format!("{path}.body_format"),
                "json cannot be sent with GET (the body goes in the query string): use form",
            );
            SmsBodyFormat::Form
        }
        (Some("json"), _) => SmsBodyFormat::Json,
        (Some(other), _) => {
            errors.push(
                &format!("{path}.body_format"),
                format!("{other:?} is not one of json, form"),
            );
            SmsBodyFormat::Json
        }
    };
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &yaml.headers {
        let at = format!("{path}.headers");
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            errors.push(&at, format!("invalid header name {name:?}"));
        } else if headers.keys().any(|k| k.eq_ignore_ascii_case(name)) {
            errors.push(&at, format!("duplicate header {name:?}"));
        } else {
            headers.insert(name.clone(), value.clone());
        }
    }
    let body = sms_body(&format!("{path}.body"), yaml.body.as_ref(), errors);
    SmsConfig {
        send_resolved: yaml.send_resolved.unwrap_or(false),
        url,
        method,
        headers,
        body_format,
        body,
        timeout_ms: yaml.timeout.0,
        http_config: own_or_global(path, yaml.http_config.as_ref(), global, errors),
    }
}

/// An SMS config's `body`: field names and templates, in the order written, at least one.
fn sms_body(path: &str, body: Option<&Mapping>, errors: &mut Errors) -> Vec<(String, String)> {
    let Some(body) = body.filter(|b| !b.is_empty()) else {
        errors.push(
            path,
            "missing body (the gateway's fields, e.g. to and message)",
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in body {
        let Some(key) = scalar_text(key) else {
            errors.push(path, "a field name must be a string");
            continue;
        };
        match value {
            Value::Sequence(_) | Value::Mapping(_) => {
                errors.push(&format!("{path}.{key}"), "must be a string (a template)");
            }
            value => out.push((key, scalar_text(value).unwrap_or_default())),
        }
    }
    out
}

/// PagerDuty `details` as written, keys as text.
fn detail_map(path: &str, mapping: &Mapping, errors: &mut Errors) -> BTreeMap<String, DetailValue> {
    let mut out = BTreeMap::new();
    for (key, value) in mapping {
        match scalar_text(key) {
            Some(key) => {
                let value = detail_value(&format!("{path}.{key}"), value, errors);
                out.insert(key, value);
            }
            None => errors.push(path, "a key must be a string"),
        }
    }
    out
}

/// One PagerDuty `details` value.
fn detail_value(path: &str, value: &Value, errors: &mut Errors) -> DetailValue {
    match value {
        Value::Null => DetailValue::Null,
        Value::Bool(b) => DetailValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => DetailValue::Int(i),
            None => DetailValue::Float(n.as_f64().unwrap_or_default()),
        },
        Value::String(s) => DetailValue::Text(s.clone()),
        Value::Sequence(items) => DetailValue::List(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| detail_value(&format!("{path}[{i}]"), v, errors))
                .collect(),
        ),
        Value::Mapping(m) => DetailValue::Map(detail_map(path, m, errors)),
        Value::Tagged(tagged) => detail_value(path, &tagged.value, errors),
    }
}

/// An integration's `http_config`, or `global.http_config` when it gives none (whole, not
/// merged: Alertmanager's `cmp.Or` on the pointer).
fn own_or_global(
    path: &str,
    own: Option<&HttpConfigYaml>,
    global: &GlobalConfig,
    errors: &mut Errors,
) -> HttpConfig {
    match own {
        Some(own) => http_config(&format!("{path}.http_config"), own, errors),
        None => global.http_config.clone(),
    }
}

/// `http_config` with Prometheus' checks (`HTTPClientConfig.Validate`): at most one way to
/// authenticate, `bearer_token` as an `authorization` of type `Bearer`, no `Basic` type.
pub(super) fn http_config(path: &str, yaml: &HttpConfigYaml, errors: &mut Errors) -> HttpConfig {
    errors.refused(path, yaml.refused());
    let basic_auth = yaml.basic_auth.as_ref().map(|b| {
        errors.refused(&format!("{path}.basic_auth"), b.refused());
        BasicAuth {
            username: b.username.clone().unwrap_or_default(),
            password: b.password.clone().unwrap_or_default(),
        }
    });
    let mut authorization = yaml.authorization.as_ref().map(|a| {
        let at = format!("{path}.authorization");
        errors.refused(&at, a.refused());
        let type_ = a.r#type.as_deref().unwrap_or_default().trim();
        let type_ = if type_.is_empty() { "Bearer" } else { type_ };
        if type_.eq_ignore_ascii_case("basic") {
            errors.push(
                &format!("{at}.type"),
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            );
        }
        Authorization {
            type_: type_.to_string(),
            credentials: a.credentials.clone().unwrap_or_default(),
        }
    });
    let bearer_token = yaml.bearer_token.clone().unwrap_or_default();
    if !bearer_token.is_empty() {
        if authorization.is_some() {
            errors.push(
                path,
                "authorization is not compatible with bearer_token & bearer_token_file",
            );
        } else if basic_auth.is_some() {
            errors.push(path, "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured");
        } else {
            authorization = Some(Authorization {
                type_: "Bearer".to_string(),
                credentials: bearer_token,
            });
        }
    } else if authorization.is_some() && basic_auth.is_some() {
        errors.push(
            path,
            "at most one of basic_auth, oauth2 & authorization must be configured",
        );
    }
    HttpConfig {
        basic_auth,
        authorization,
        tls_config: match &yaml.tls_config {
            Some(tls) => tls_config(&format!("{path}.tls_config"), tls, false, errors),
            None => TlsConfig::default(),
        },
        follow_redirects: yaml.follow_redirects.unwrap_or(true),
    }
}

/// `tls_config`; `ca` (inline PEM) only where `with_ca` (email).
fn tls_config(path: &str, yaml: &TlsYaml, with_ca: bool, errors: &mut Errors) -> TlsConfig {
    errors.refused(path, yaml.refused());
    let ca = yaml.ca.clone().unwrap_or_default();
    if !with_ca && yaml.ca.is_some() {
        errors.push(&format!("{path}.ca"), NOT_SUPPORTED);
    }
    TlsConfig {
        insecure_skip_verify: yaml.insecure_skip_verify,
        server_name: yaml.server_name.clone().unwrap_or_default(),
        ca: if with_ca { ca } else { String::new() },
    }
}

/// `url` as given, after Alertmanager's check (skipped for a template, checked when it is
/// rendered).
fn checked_url(path: &str, url: &str, errors: &mut Errors) -> String {
    if !url.contains("{{")
        && let Err(e) = check_url(url)
    {
        errors.push(path, e);
    }
    url.to_string()
}

/// `own` unless absent or empty, else `fallback` (Go's `cmp.Or`).
fn non_empty(own: Option<&str>, fallback: &str) -> String {
    own.filter(|s| !s.is_empty())
        .unwrap_or(fallback)
        .to_string()
}

/// Go's `textproto.CanonicalMIMEHeaderKey`: the first letter and every letter after a `-` in
/// upper case, the others in lower case; a key with a byte that cannot be in a header name
/// (a space, say) is left as it is.
fn canonical_mime_header_key(key: &str) -> String {
    if !key.bytes().all(is_token_byte) {
        return key.to_string();
    }
    let mut upper = true;
    key.chars()
        .map(|c| {
            let out = if upper {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            };
            upper = c == '-';
            out
        })
        .collect()
}

/// Whether `b` may be in an HTTP header name (RFC 7230's `tchar`).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
