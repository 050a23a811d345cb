//! The YAML layer of the integrations Tidemark supports and of `http_config` (Prometheus'
//! `HTTPClientConfig`), as written.

use std::collections::BTreeMap;

use serde_yaml::Mapping;

use super::super::fields::{GoDuration, NODE_LOCAL, NOT_SUPPORTED, yaml_struct};

/// Why PagerDuty's `service_key` is refused.
const EVENTS_API_V1: &str = "PagerDuty's Events API v1 is not supported by Tidemark's \
     notifier: use routing_key (Events API v2)";

yaml_struct! {
    /// A `webhook_configs` entry.
    #[serde(expecting = "a webhook config")]
    struct WebhookYaml {
        send_resolved: Option<bool>,
        http_config: Option<HttpConfigYaml>,
        url: Option<String>,
        max_alerts: u64,
        timeout: GoDuration,
    }
    refused {
        url_file => NODE_LOCAL,
        payload => NOT_SUPPORTED,
    }
}

yaml_struct! {
    /// An `email_configs` entry.
    #[serde(expecting = "an email config")]
    struct EmailYaml {
        send_resolved: Option<bool>,
        to: String,
        from: Option<String>,
        hello: Option<String>,
        smarthost: Option<String>,
        auth_username: Option<String>,
        auth_password: Option<String>,
        auth_secret: Option<String>,
        auth_identity: Option<String>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        headers: BTreeMap<String, String>,
        html: Option<String>,
        text: Option<String>,
        require_tls: Option<bool>,
        tls_config: Option<TlsYaml>,
    }
    refused {
        auth_password_file => NODE_LOCAL,
        auth_secret_file => NODE_LOCAL,
        force_implicit_tls => NOT_SUPPORTED,
        threading => NOT_SUPPORTED,
    }
}

yaml_struct! {
    /// A `pagerduty_configs` entry.
    #[serde(expecting = "a PagerDuty config")]
    struct PagerdutyYaml {
        send_resolved: Option<bool>,
        http_config: Option<HttpConfigYaml>,
        routing_key: Option<String>,
        url: Option<String>,
        client: Option<String>,
        client_url: Option<String>,
        description: Option<String>,
        details: Option<Mapping>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        images: Vec<PagerdutyImageYaml>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        links: Vec<PagerdutyLinkYaml>,
        source: Option<String>,
        severity: Option<String>,
        class: Option<String>,
        component: Option<String>,
        group: Option<String>,
        timeout: GoDuration,
    }
    refused {
        routing_key_file => NODE_LOCAL,
        service_key => EVENTS_API_V1,
        service_key_file => EVENTS_API_V1,
    }
}

yaml_struct! {
    /// A `pagerduty_configs[].links` entry.
    #[serde(expecting = "a PagerDuty link (href and text)")]
    struct PagerdutyLinkYaml {
        href: String,
        text: String,
    }
    refused {}
}

yaml_struct! {
    /// A `pagerduty_configs[].images` entry.
    #[serde(expecting = "a PagerDuty image (src, alt and href)")]
    struct PagerdutyImageYaml {
        src: String,
        alt: String,
        href: String,
    }
    refused {}
}

yaml_struct! {
    /// An `sms_configs` entry (Tidemark's own).
    #[serde(expecting = "an SMS config")]
    struct SmsYaml {
        send_resolved: Option<bool>,
        http_config: Option<HttpConfigYaml>,
        url: Option<String>,
        method: Option<String>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        headers: BTreeMap<String, String>,
        body_format: Option<String>,
        body: Option<Mapping>,
        timeout: GoDuration,
    }
    refused {}
}

yaml_struct! {
    /// `http_config` (Prometheus' `HTTPClientConfig`).
    #[serde(expecting = "an HTTP client configuration")]
    struct HttpConfigYaml {
        basic_auth: Option<BasicAuthYaml>,
        authorization: Option<AuthorizationYaml>,
        bearer_token: Option<String>,
        tls_config: Option<TlsYaml>,
        follow_redirects: Option<bool>,
    }
    refused {
        bearer_token_file => NODE_LOCAL,
        oauth2 => NOT_SUPPORTED,
        enable_http2 => NOT_SUPPORTED,
        proxy_url => NOT_SUPPORTED,
        no_proxy => NOT_SUPPORTED,
        proxy_from_environment => NOT_SUPPORTED,
        proxy_connect_header => NOT_SUPPORTED,
        http_headers => NOT_SUPPORTED,
    }
}

yaml_struct! {
    /// `http_config.basic_auth`.
    #[serde(expecting = "basic authentication (username and password)")]
    struct BasicAuthYaml {
        username: Option<String>,
        password: Option<String>,
    }
    refused {
        username_file => NODE_LOCAL,
        password_file => NODE_LOCAL,
        username_ref => NOT_SUPPORTED,
        password_ref => NOT_SUPPORTED,
    }
}

yaml_struct! {
    /// `http_config.authorization`.
    #[serde(expecting = "an authorization (type and credentials)")]
    struct AuthorizationYaml {
        r#type: Option<String>,
        credentials: Option<String>,
    }
    refused {
        credentials_file => NODE_LOCAL,
        credentials_ref => NOT_SUPPORTED,
    }
}

yaml_struct! {
    /// `tls_config` (Prometheus' `TLSConfig`); `ca` is refused where Tidemark's sender takes
    /// none (`http_config`).
    #[serde(expecting = "a TLS configuration")]
    struct TlsYaml {
        insecure_skip_verify: bool,
        server_name: Option<String>,
        ca: Option<String>,
    }
    refused {
        ca_file => NODE_LOCAL,
        cert_file => NODE_LOCAL,
        key_file => NODE_LOCAL,
        cert => NOT_SUPPORTED,
        key => NOT_SUPPORTED,
        ca_ref => NOT_SUPPORTED,
        cert_ref => NOT_SUPPORTED,
        key_ref => NOT_SUPPORTED,
        min_version => NOT_SUPPORTED,
        max_version => NOT_SUPPORTED,
    }
}
