//! The ruler's configuration API as tidemarkctl calls it ([`Api`]): YAML in and out, refusals
//! as plain text (or, for a missing admin token, a Prometheus JSON envelope), 202 for an
//! accepted change. Changes the node answers 503 ("try again") are sent again for up to
//! `--timeout-s`.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use reqwest::blocking::Client;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode, Url};
use tidemark_alerting::rules::{RuleGroup, parse_namespaces, parse_rule_group};
use tidemark_alerting::template::check_alert;

use super::{Namespaces, read_limits};

/// Where the API lives below the node's base URL.
const RULES_PATH: [&str; 3] = ["config", "v1", "rules"];

/// What the node answers (with a 404) to `GET /config/v1/rules` when it holds no group.
const NO_GROUPS: &str = "no rule groups found";

/// How long to wait before sending a change again after a 503.
const RETRY_PAUSE_MS: u64 = 500;

/// The characters of a refusal's body quoted in an error message.
const REFUSAL_CHARS_MAX: usize = 2_000;

/// One node's ruler configuration API.
pub struct Api {
    /// The HTTP client, with the request timeout.
    client: Client,
    /// The node's base URL (`--endpoint`).
    base: String,
    /// Sent as a bearer token: changes need it when the node has one.
    admin_token: Option<String>,
    /// How long a change is sent again while the node answers 503.
    retry_for: Duration,
}

impl Api {
    /// The API of the node at `base`.
    pub fn new(
        client: Client,
        base: &str,
        admin_token: Option<String>,
        retry_for: Duration,
    ) -> Self {
        Api {
            client,
            base: base.to_string(),
            admin_token,
            retry_for,
        }
    }

    /// `/config/v1/rules`, then `segments` (each percent-encoded as one path segment).
    fn url(&self, segments: &[&str]) -> anyhow::Result<Url> {
        let mut url = Url::parse(&self.base)
            .with_context(|| format!("--endpoint {:?} is not a URL", self.base))?;
        url.path_segments_mut()
            .map_err(|()| anyhow!("--endpoint {:?} cannot hold a path", self.base))?
            .pop_if_empty()
            .extend(RULES_PATH)
            .extend(segments);
        Ok(url)
    }

    /// Sends one request; the status and the body.
    fn call(
        &self,
        method: Method,
        url: &Url,
        body: Option<String>,
    ) -> anyhow::Result<(StatusCode, String)> {
        let mut req = self.client.request(method.clone(), url.clone());
        if let Some(t) = &self.admin_token {
            req = req.bearer_auth(t);
        }
        if let Some(body) = body {
            req = req.header(CONTENT_TYPE, "application/yaml").body(body);
        }
        let response = req.send().with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let text = response
            .text()
            .with_context(|| format!("{method} {url} answered {status} with an unreadable body"))?;
        Ok((status, text))
    }

    /// `GET`: the body of a success, the node's reason otherwise.
    fn get_text(&self, segments: &[&str]) -> anyhow::Result<String> {
        let url = self.url(segments)?;
        let (status, body) = self.call(Method::GET, &url, None)?;
        if !status.is_success() {
            bail!("{}", refusal(&Method::GET, &url, status, &body));
        }
        Ok(body)
    }

    /// A change (`POST` or `DELETE`), sent again while the node answers 503.
    fn change(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<String>,
    ) -> anyhow::Result<()> {
        let url = self.url(segments)?;
        let deadline = Instant::now() + self.retry_for;
        loop {
            let (status, answer) = self.call(method.clone(), &url, body.clone())?;
            if status.is_success() {
                return Ok(());
            }
            if status == StatusCode::SERVICE_UNAVAILABLE && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(RETRY_PAUSE_MS));
                continue;
            }
            bail!("{}", refusal(&method, &url, status, &answer));
        }
    }

    /// Every namespace and its groups (none when the node answers "no rule groups found").
    pub fn namespaces(&self) -> anyhow::Result<Namespaces> {
        let url = self.url(&[])?;
        let (status, body) = self.call(Method::GET, &url, None)?;
        if status == StatusCode::NOT_FOUND && body.trim() == NO_GROUPS {
            return Ok(Namespaces::new());
        }
        if !status.is_success() {
            bail!("{}", refusal(&Method::GET, &url, status, &body));
        }
        parse_namespaces(&body, &read_limits(), &check_alert)
            .map_err(|e| anyhow!("cannot read the rule groups {url} answered: {e}"))
    }

    /// One namespace as the node writes it (YAML: the namespace and its groups).
    pub fn namespace_yaml(&self, namespace: &str) -> anyhow::Result<String> {
        self.get_text(&[namespace])
    }

    /// One group as the node writes it (YAML).
    pub fn group_yaml(&self, namespace: &str, group: &str) -> anyhow::Result<String> {
        self.get_text(&[namespace, group])
    }

    /// Adds `group` to `namespace`, or replaces the group of its name there.
    pub fn set_group(&self, namespace: &str, group: &RuleGroup) -> anyhow::Result<()> {
        self.change(Method::POST, &[namespace], Some(group.to_yaml()))
    }

    /// Deletes `namespace` with its groups.
    pub fn delete_namespace(&self, namespace: &str) -> anyhow::Result<()> {
        self.change(Method::DELETE, &[namespace], None)
    }

    /// Deletes group `group` of `namespace` (the namespace too, when it was its last).
    pub fn delete_group(&self, namespace: &str, group: &str) -> anyhow::Result<()> {
        self.change(Method::DELETE, &[namespace, group], None)
    }
}

/// Reads a group as the node writes one (what [`Api::group_yaml`] returns).
pub fn read_group(yaml: &str) -> anyhow::Result<RuleGroup> {
    parse_rule_group(yaml, &read_limits(), &check_alert)
        .map_err(|e| anyhow!("cannot read the rule group the node answered: {e}"))
}

/// Reads namespaces as the node writes them (what [`Api::namespace_yaml`] returns).
pub fn read_namespaces(yaml: &str) -> anyhow::Result<Namespaces> {
    parse_namespaces(yaml, &read_limits(), &check_alert)
        .map_err(|e| anyhow!("cannot read the rule groups the node answered: {e}"))
}

/// What a refusal says: the request, the status and the node's reason (the `error` of a JSON
/// envelope, else the plain-text body).
fn refusal(method: &Method, url: &Url, status: StatusCode, body: &str) -> String {
    let reason = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| body.trim().chars().take(REFUSAL_CHARS_MAX).collect());
    format!("{method} {url} answered {status}: {reason}")
}
