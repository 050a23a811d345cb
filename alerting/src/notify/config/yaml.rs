//! The YAML layer: `alertmanager.yml` as written, field for field (Alertmanager 0.33's
//! `config.Config`), before defaults, inheritance and validation. Unknown fields are refused
//! by serde with their path and line; Alertmanager's fields Tidemark does not support are
//! read only to be refused by name ([`yaml_struct!`]).
//!
//! The integrations and `http_config` are in `yaml/integrations.rs`.

mod integrations;

use std::collections::BTreeMap;

use super::super::time_interval::TimeInterval;
use super::fields::{INTEGRATION_NOT_SUPPORTED, NODE_LOCAL, NOT_SUPPORTED, yaml_struct};
use crate::rules::PromDuration;

pub(super) use integrations::{
    EmailYaml, HttpConfigYaml, PagerdutyYaml, SmsYaml, TlsYaml, WebhookYaml,
};

yaml_struct! {
    /// The whole file.
    #[serde(expecting = "an Alertmanager configuration")]
    struct ConfigYaml {
        global: Option<GlobalYaml>,
        route: Option<RouteYaml>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        inhibit_rules: Vec<InhibitRuleYaml>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        receivers: Vec<ReceiverYaml>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        templates: Vec<String>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        mute_time_intervals: Vec<TimeIntervalYaml>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        time_intervals: Vec<TimeIntervalYaml>,
    }
    refused {
        tracing => NOT_SUPPORTED,
        event_recorder => NOT_SUPPORTED,
    }
}

yaml_struct! {
    /// `global:`.
    #[serde(expecting = "the global configuration")]
    struct GlobalYaml {
        resolve_timeout: Option<PromDuration>,
        http_config: Option<HttpConfigYaml>,
        smtp_from: Option<String>,
        smtp_hello: Option<String>,
        smtp_smarthost: Option<String>,
        smtp_auth_username: Option<String>,
        smtp_auth_password: Option<String>,
        smtp_auth_identity: Option<String>,
        smtp_auth_secret: Option<String>,
        smtp_require_tls: Option<bool>,
        pagerduty_url: Option<String>,
    }
    refused {
        smtp_auth_password_file => NODE_LOCAL,
        smtp_auth_secret_file => NODE_LOCAL,
        smtp_tls_config => NOT_SUPPORTED,
        smtp_force_implicit_tls => NOT_SUPPORTED,
        jira_api_url => NOT_SUPPORTED,
        slack_api_url => NOT_SUPPORTED,
        slack_api_url_file => NOT_SUPPORTED,
        slack_app_token => NOT_SUPPORTED,
        slack_app_token_file => NOT_SUPPORTED,
        slack_app_url => NOT_SUPPORTED,
        opsgenie_api_url => NOT_SUPPORTED,
        opsgenie_api_key => NOT_SUPPORTED,
        opsgenie_api_key_file => NOT_SUPPORTED,
        wechat_api_url => NOT_SUPPORTED,
        wechat_api_secret => NOT_SUPPORTED,
        wechat_api_secret_file => NOT_SUPPORTED,
        wechat_api_corp_id => NOT_SUPPORTED,
        victorops_api_url => NOT_SUPPORTED,
        victorops_api_key => NOT_SUPPORTED,
        victorops_api_key_file => NOT_SUPPORTED,
        telegram_api_url => NOT_SUPPORTED,
        telegram_bot_token => NOT_SUPPORTED,
        telegram_bot_token_file => NOT_SUPPORTED,
        webex_api_url => NOT_SUPPORTED,
        rocketchat_api_url => NOT_SUPPORTED,
        rocketchat_token => NOT_SUPPORTED,
        rocketchat_token_file => NOT_SUPPORTED,
        rocketchat_token_id => NOT_SUPPORTED,
        rocketchat_token_id_file => NOT_SUPPORTED,
        mattermost_webhook_url => NOT_SUPPORTED,
        mattermost_webhook_url_file => NOT_SUPPORTED,
    }
}

yaml_struct! {
    /// A node of `route:`. `None` and empty differ where Alertmanager's do (`group_by`).
    #[serde(expecting = "a route")]
    struct RouteYaml {
        receiver: Option<String>,
        group_by: Option<Vec<String>>,
        r#continue: bool,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        r#match: BTreeMap<String, String>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        match_re: BTreeMap<String, String>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        matchers: Vec<String>,
        group_wait: Option<PromDuration>,
        group_interval: Option<PromDuration>,
        repeat_interval: Option<PromDuration>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        mute_time_intervals: Vec<String>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        active_time_intervals: Vec<String>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        routes: Vec<RouteYaml>,
    }
    refused {
        // Alertmanager 0.34's route labels.
        labels => NOT_SUPPORTED,
    }
}

yaml_struct! {
    /// An `inhibit_rules:` entry.
    #[serde(expecting = "an inhibition rule")]
    struct InhibitRuleYaml {
        name: String,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        source_match: BTreeMap<String, String>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        source_match_re: BTreeMap<String, String>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        source_matchers: Vec<String>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        target_match: BTreeMap<String, String>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        target_match_re: BTreeMap<String, String>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        target_matchers: Vec<String>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        equal: Vec<String>,
    }
    refused {}
}

yaml_struct! {
    /// A `receivers:` entry.
    #[serde(expecting = "a receiver (a name and its integrations)")]
    struct ReceiverYaml {
        name: String,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        webhook_configs: Vec<WebhookYaml>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        email_configs: Vec<EmailYaml>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        pagerduty_configs: Vec<PagerdutyYaml>,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        sms_configs: Vec<SmsYaml>,
    }
    refused {
        labels => NOT_SUPPORTED,
        discord_configs => INTEGRATION_NOT_SUPPORTED,
        incidentio_configs => INTEGRATION_NOT_SUPPORTED,
        slack_configs => INTEGRATION_NOT_SUPPORTED,
        opsgenie_configs => INTEGRATION_NOT_SUPPORTED,
        wechat_configs => INTEGRATION_NOT_SUPPORTED,
        pushover_configs => INTEGRATION_NOT_SUPPORTED,
        victorops_configs => INTEGRATION_NOT_SUPPORTED,
        sns_configs => INTEGRATION_NOT_SUPPORTED,
        telegram_configs => INTEGRATION_NOT_SUPPORTED,
        webex_configs => INTEGRATION_NOT_SUPPORTED,
        msteams_configs => INTEGRATION_NOT_SUPPORTED,
        msteamsv2_configs => INTEGRATION_NOT_SUPPORTED,
        jira_configs => INTEGRATION_NOT_SUPPORTED,
        rocketchat_configs => INTEGRATION_NOT_SUPPORTED,
        mattermost_configs => INTEGRATION_NOT_SUPPORTED,
    }
}

yaml_struct! {
    /// A `time_intervals:` (or `mute_time_intervals:`) entry; the intervals are read by
    /// [`TimeInterval`]'s own YAML form.
    #[serde(expecting = "a named time interval")]
    struct TimeIntervalYaml {
        name: String,
        #[serde(deserialize_with = "crate::notify::config::fields::nullable")]
        time_intervals: Vec<TimeInterval>,
    }
    refused {}
}
