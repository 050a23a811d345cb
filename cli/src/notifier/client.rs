//! The notifier's HTTP API as tidemarkctl calls it ([`Api`]): the configuration endpoint
//! (`/api/v1/admin/notifier/config`, YAML in, a JSON status with warnings out) and
//! Alertmanager's API v2 (`/api/v2/*`, JSON as `tidemark_api::alertmanager` types it).
//!
//! Every request carries `X-Tidemark-User` and the admin token (bearer) when there are ones.
//! Requests the node answers 503 ("try again": no ruler leader yet, a commit that timed out)
//! are sent again for up to `--timeout-s`. Refusals are read in whichever shape they come:
//! Alertmanager's (a JSON string, or go-openapi's `{"code":..,"message":..}`), Prometheus'
//! envelope (`{"status":"error","error":..}`, e.g. a missing admin token), plain text, or no
//! body at all.

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use reqwest::blocking::Client;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tidemark_api::alertmanager::{
    AlertGroup, ErrorBody, GettableAlert, GettableSilence, PostSilencesAnswer, PostableSilence,
};

/// `X-Tidemark-User`: who sends the request, for the node's audit log.
pub const USER_HEADER: &str = "x-tidemark-user";

/// The replicated `alertmanager.yml`.
const CONFIG_PATH: [&str; 5] = ["api", "v1", "admin", "notifier", "config"];

/// What the node answers (with a 404) to a `GET` of the configuration when none is set.
pub const NO_CONFIG: &str = "no notifier configuration is set";

/// How long to wait before sending a request again after a 503.
const RETRY_PAUSE_MS: u64 = 500;

/// The characters of a refusal's body quoted in an error message.
const REFUSAL_CHARS_MAX: usize = 2_000;

/// What the node answers to a change of the configuration: `{"status":"success",
/// "warnings":[...]}` (a type of its own: `tidemark_api` has none for it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigAnswer {
    /// `success`.
    pub status: String,
    /// Alertmanager's warnings about the configuration set, each naming its route.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Which alerts a `GET /api/v2/alerts` or `/alerts/groups` asks for: its query parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AlertQuery {
    /// `filter`: matchers as Alertmanager prints them, all of which must match.
    pub filters: Vec<String>,
    /// `receiver`: a regex (anchored) on the receiver's name.
    pub receiver: Option<String>,
    /// `silenced`: whether silenced alerts are included.
    pub silenced: bool,
    /// `inhibited`: whether inhibited alerts are included.
    pub inhibited: bool,
}

impl AlertQuery {
    /// The query parameters, in the order sent (`active` always true).
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut params: Vec<(&'static str, String)> =
            self.filters.iter().map(|f| ("filter", f.clone())).collect();
        if let Some(r) = &self.receiver {
            params.push(("receiver", r.clone()));
        }
        params.push(("active", "true".into()));
        params.push(("silenced", self.silenced.to_string()));
        params.push(("inhibited", self.inhibited.to_string()));
        params
    }
}

/// One node's notifier API.
#[derive(Clone)]
pub struct Api {
    /// The HTTP client, with the request timeout.
    client: Client,
    /// The node's base URL (`--endpoint`).
    base: String,
    /// Sent as a bearer token: changes need it when the node has one.
    admin_token: Option<String>,
    /// Sent as `X-Tidemark-User`.
    user: Option<String>,
    /// How long a request is sent again while the node answers 503.
    retry_for: Duration,
}

impl Api {
    /// The API of the node at `base`, called as `user`.
    pub fn new(
        client: Client,
        base: &str,
        admin_token: Option<String>,
        user: Option<String>,
        retry_for: Duration,
    ) -> Self {
        Api {
            client,
            base: base.to_string(),
            admin_token,
            user: user.filter(|u| !u.is_empty()),
            retry_for,
        }
    }

    /// The same API, called as `user` (`silence add --author`).
    pub fn as_user(&self, user: &str) -> Api {
        Api {
            user: Some(user.to_string()).filter(|u| !u.is_empty()),
            ..self.clone()
        }
    }

    /// The URL of `segments` below the base (each percent-encoded as one path segment), with
    /// `query`.
    pub fn url(&self, segments: &[&str], query: &[(&str, String)]) -> anyhow::Result<Url> {
        let mut url = Url::parse(&self.base)
            .with_context(|| format!("--endpoint {:?} is not a URL", self.base))?;
        url.path_segments_mut()
            .map_err(|()| anyhow!("--endpoint {:?} cannot hold a path", self.base))?
            .pop_if_empty()
            .extend(segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        Ok(url)
    }

    /// Sends one request; the status and the body.
    fn call_once(
        &self,
        method: &Method,
        url: &Url,
        body: Option<&(&'static str, String)>,
    ) -> anyhow::Result<(StatusCode, String)> {
        let mut req = self.client.request(method.clone(), url.clone());
        if let Some(t) = &self.admin_token {
            req = req.bearer_auth(t);
        }
        if let Some(u) = &self.user {
            req = req.header(USER_HEADER, u);
        }
        if let Some((content_type, text)) = body {
            req = req.header(CONTENT_TYPE, *content_type).body(text.clone());
        }
        let response = req.send().with_context(|| format!("cannot reach {url}"))?;
        let status = response.status();
        let text = response
            .text()
            .with_context(|| format!("{method} {url} answered {status} with an unreadable body"))?;
        Ok((status, text))
    }

    /// Sends a request, again while the node answers 503 (for up to `retry_for`); the status
    /// and body of the last answer.
    fn call(
        &self,
        method: Method,
        url: &Url,
        body: Option<(&'static str, String)>,
    ) -> anyhow::Result<(StatusCode, String)> {
        let deadline = Instant::now() + self.retry_for;
        loop {
            let (status, text) = self.call_once(&method, url, body.as_ref())?;
            if status == StatusCode::SERVICE_UNAVAILABLE && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(RETRY_PAUSE_MS));
                continue;
            }
            return Ok((status, text));
        }
    }

    /// Sends a request and reads a success's body as `T`; a refusal is an error with the
    /// node's reason.
    fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &Url,
        body: Option<(&'static str, String)>,
    ) -> anyhow::Result<T> {
        let (status, text) = self.call(method.clone(), url, body)?;
        if !status.is_success() {
            bail!("{}", refusal(&method, url, status, &text));
        }
        serde_json::from_str(&text).with_context(|| {
            format!("{method} {url} answered {status} with a body tidemarkctl cannot read: {text}")
        })
    }

    /// The configuration as it was set (the YAML text), `None` when none is.
    pub fn config(&self) -> anyhow::Result<Option<String>> {
        let url = self.url(&CONFIG_PATH, &[])?;
        let (status, text) = self.call(Method::GET, &url, None)?;
        if status == StatusCode::NOT_FOUND && text.trim() == NO_CONFIG {
            return Ok(None);
        }
        if !status.is_success() {
            bail!("{}", refusal(&Method::GET, &url, status, &text));
        }
        Ok(Some(text))
    }

    /// Makes `yaml` the configuration (`PUT`); the node's warnings.
    pub fn set_config(&self, yaml: &str) -> anyhow::Result<ConfigAnswer> {
        let url = self.url(&CONFIG_PATH, &[])?;
        self.json(
            Method::PUT,
            &url,
            Some(("application/yaml", yaml.to_string())),
        )
    }

    /// Removes the configuration.
    pub fn delete_config(&self) -> anyhow::Result<ConfigAnswer> {
        let url = self.url(&CONFIG_PATH, &[])?;
        self.json(Method::DELETE, &url, None)
    }

    /// `POST /api/v2/silences`: the id of the silence created.
    pub fn post_silence(&self, silence: &PostableSilence) -> anyhow::Result<PostSilencesAnswer> {
        let url = self.url(&["api", "v2", "silences"], &[])?;
        let body = serde_json::to_string(silence)?;
        self.json(Method::POST, &url, Some(("application/json", body)))
    }

    /// `GET /api/v2/silences`: every silence (whatever its state) that `filters` pass.
    pub fn silences(&self, filters: &[String]) -> anyhow::Result<Vec<GettableSilence>> {
        let query: Vec<(&str, String)> = filters.iter().map(|f| ("filter", f.clone())).collect();
        let url = self.url(&["api", "v2", "silences"], &query)?;
        self.json(Method::GET, &url, None)
    }

    /// `DELETE /api/v2/silence/{id}`: expires the silence.
    pub fn expire_silence(&self, id: &str) -> anyhow::Result<()> {
        let url = self.url(&["api", "v2", "silence", id], &[])?;
        let (status, text) = self.call(Method::DELETE, &url, None)?;
        if status == StatusCode::NOT_FOUND && text.trim().is_empty() {
            bail!("silence {id} not found");
        }
        if !status.is_success() {
            bail!("{}", refusal(&Method::DELETE, &url, status, &text));
        }
        Ok(())
    }

    /// `GET /api/v2/alerts`.
    pub fn alerts(&self, query: &AlertQuery) -> anyhow::Result<Vec<GettableAlert>> {
        let url = self.url(&["api", "v2", "alerts"], &query.params())?;
        self.json(Method::GET, &url, None)
    }

    /// `GET /api/v2/alerts/groups`.
    pub fn alert_groups(&self, query: &AlertQuery) -> anyhow::Result<Vec<AlertGroup>> {
        let url = self.url(&["api", "v2", "alerts", "groups"], &query.params())?;
        self.json(Method::GET, &url, None)
    }
}

/// What a refusal says: the request, the status and the node's reason.
pub fn refusal(method: &Method, url: &Url, status: StatusCode, body: &str) -> String {
    format!("{method} {url} answered {status}: {}", reason(status, body))
}

/// The node's reason in a refusal's body: Alertmanager's message (a JSON string, or the
/// `message` of `{"code":..,"message":..}`), the `error` of a Prometheus envelope, else the
/// body as text, or the status' own reason when the body is empty.
pub fn reason(status: StatusCode, body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return status
            .canonical_reason()
            .unwrap_or("no reason given")
            .to_string();
    }
    if let Ok(e) = serde_json::from_str::<ErrorBody>(body) {
        return match e {
            ErrorBody::Message(m) => m,
            ErrorBody::Framework(f) => f.message,
        };
    }
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
        .unwrap_or_else(|| body.chars().take(REFUSAL_CHARS_MAX).collect())
}
