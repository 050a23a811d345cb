//! From the YAML layer to a [`NotifierConfig`]: decoding (YAML errors with their line and
//! column), then `global`, `receivers` (`receivers.rs`), `time_intervals`, the routing tree
//! (`routes.rs`) and `inhibit_rules`, every problem collected with its path.

use std::collections::{BTreeMap, BTreeSet};

use super::super::matcher::{Matcher, from_legacy, parse_matchers};
use super::super::time_interval::NamedTimeInterval;
use super::yaml::{ConfigYaml, GlobalYaml, InhibitRuleYaml, TimeIntervalYaml};
use super::{GlobalConfig, HostPort, InhibitRule, NotifierConfig, receivers, routes};

/// At most this many errors are told; the rest are counted.
const ERRORS_SHOWN_MAX: usize = 20;

/// The problems found so far, each starting with its path.
#[derive(Debug, Default)]
pub(super) struct Errors(Vec<String>);

impl Errors {
    /// Notes `message` about what is at `path`.
    pub(super) fn push(&mut self, path: &str, message: impl std::fmt::Display) {
        self.0.push(format!("{path}: {message}"));
    }

    /// Notes each refused field present at `path` (from a YAML struct's `refused()`).
    pub(super) fn refused(&mut self, path: &str, refused: Vec<(&'static str, &'static str)>) {
        for (field, why) in refused {
            match path {
                "" => self.push(field, why),
                _ => self.push(&format!("{path}.{field}"), why),
            }
        }
    }

    /// `value` when nothing was found.
    fn into_result<T>(self, value: T) -> Result<T, String> {
        if self.0.is_empty() {
            return Ok(value);
        }
        Err(self.message())
    }

    /// The first [`ERRORS_SHOWN_MAX`] errors, one a line.
    fn message(self) -> String {
        let total = self.0.len();
        let mut lines: Vec<String> = self.0.into_iter().take(ERRORS_SHOWN_MAX).collect();
        if total > ERRORS_SHOWN_MAX {
            lines.push(format!("(and {} more errors)", total - ERRORS_SHOWN_MAX));
        }
        lines.join("\n")
    }
}

/// [`super::parse`].
pub(super) fn parse(yaml: &str) -> Result<NotifierConfig, String> {
    let file = serde_yaml::from_str::<Option<ConfigYaml>>(yaml)
        .map_err(yaml_error)?
        .unwrap_or_default();
    let mut errors = Errors::default();
    errors.refused("", file.refused());
    let global = global(file.global.unwrap_or_default(), &mut errors);
    let receivers = receivers::receivers(&file.receivers, &global, &mut errors);
    let time_intervals = time_intervals(file.mute_time_intervals, file.time_intervals, &mut errors);
    let route = match &file.route {
        Some(route) => Some(routes::root(
            route,
            &receivers,
            &time_intervals,
            &mut errors,
        )),
        None => {
            errors.push("route", "no route provided in config");
            None
        }
    };
    let inhibit_rules = file
        .inhibit_rules
        .iter()
        .enumerate()
        .map(|(i, rule)| inhibit_rule(&format!("inhibit_rules[{i}]"), rule, &mut errors))
        .collect();
    let Some(route) = route else {
        return Err(errors.message());
    };
    errors.into_result(NotifierConfig {
        global,
        route,
        inhibit_rules,
        receivers,
        time_intervals,
        templates: file.templates.clone(),
    })
}

/// `global:` with Alertmanager's defaults for what it does not give.
fn global(yaml: GlobalYaml, errors: &mut Errors) -> GlobalConfig {
    errors.refused("global", yaml.refused());
    let default = GlobalConfig::default();
    let smtp_smarthost = yaml.smtp_smarthost.filter(|s| !s.is_empty()).and_then(|s| {
        HostPort::parse(&s)
            .map_err(|e| errors.push("global.smtp_smarthost", e))
            .ok()
    });
    let pagerduty_url = match yaml.pagerduty_url {
        Some(url) => {
            if let Err(e) = check_url(&url) {
                errors.push("global.pagerduty_url", e);
            }
            url
        }
        None => default.pagerduty_url,
    };
    let http_config = match &yaml.http_config {
        Some(http) => receivers::http_config("global.http_config", http, errors),
        None => default.http_config,
    };
    GlobalConfig {
        resolve_timeout_ms: yaml
            .resolve_timeout
            .map_or(default.resolve_timeout_ms, |d| d.as_millis()),
        http_config,
        smtp_from: yaml.smtp_from.unwrap_or_default(),
        // An empty hello is the default: SMTP's HELO needs a name.
        smtp_hello: yaml
            .smtp_hello
            .filter(|h| !h.is_empty())
            .unwrap_or(default.smtp_hello),
        smtp_smarthost,
        smtp_auth_username: yaml.smtp_auth_username.unwrap_or_default(),
        smtp_auth_password: yaml.smtp_auth_password.unwrap_or_default(),
        smtp_auth_identity: yaml.smtp_auth_identity.unwrap_or_default(),
        smtp_auth_secret: yaml.smtp_auth_secret.unwrap_or_default(),
        smtp_require_tls: yaml.smtp_require_tls.unwrap_or(default.smtp_require_tls),
        pagerduty_url,
    }
}

/// `mute_time_intervals` (deprecated) then `time_intervals`, by name: Alertmanager's checks
/// (a name each, no name twice across both lists).
fn time_intervals(
    mute: Vec<TimeIntervalYaml>,
    current: Vec<TimeIntervalYaml>,
    errors: &mut Errors,
) -> BTreeMap<String, NamedTimeInterval> {
    let mut out = BTreeMap::new();
    let lists = [
        ("mute_time_intervals", "mute time interval", mute),
        ("time_intervals", "time interval", current),
    ];
    for (field, what, list) in lists {
        for (i, interval) in list.into_iter().enumerate() {
            let path = format!("{field}[{i}]");
            if interval.name.is_empty() {
                errors.push(&path, format!("missing name in {what}"));
                continue;
            }
            if out.contains_key(&interval.name) {
                errors.push(&path, format!("{what} {:?} is not unique", interval.name));
                continue;
            }
            let named = NamedTimeInterval {
                name: interval.name.clone(),
                time_intervals: interval.time_intervals,
            };
            out.insert(interval.name, named);
        }
    }
    out
}

/// An `inhibit_rules` entry, its matchers converted and sorted.
fn inhibit_rule(path: &str, yaml: &InhibitRuleYaml, errors: &mut Errors) -> InhibitRule {
    let source_matchers = matchers(
        path,
        ["source_match", "source_match_re", "source_matchers"],
        (
            &yaml.source_match,
            &yaml.source_match_re,
            &yaml.source_matchers,
        ),
        errors,
    );
    let target_matchers = matchers(
        path,
        ["target_match", "target_match_re", "target_matchers"],
        (
            &yaml.target_match,
            &yaml.target_match_re,
            &yaml.target_matchers,
        ),
        errors,
    );
    for name in &yaml.equal {
        if name.is_empty() {
            errors.push(
                &format!("{path}.equal"),
                "invalid label name \"\" in equal list",
            );
        }
    }
    InhibitRule {
        name: yaml.name.clone(),
        source_matchers,
        target_matchers,
        equal: yaml.equal.clone(),
    }
}

/// The matchers of `match` (equality), `match_re` (regex, held anchored as Alertmanager
/// holds it) and `matchers` (Alertmanager's matcher syntax, one or more a line), sorted as
/// Alertmanager sorts them: by name, then value, then kind. `fields` names the three at
/// `path`.
pub(super) fn matchers(
    path: &str,
    fields: [&str; 3],
    (equal, regex, lines): (
        &BTreeMap<String, String>,
        &BTreeMap<String, String>,
        &[String],
    ),
    errors: &mut Errors,
) -> Vec<Matcher> {
    let mut out = Vec::new();
    let none = BTreeMap::new();
    for (field, map, is_regex) in [(fields[0], equal, false), (fields[1], regex, true)] {
        for (name, value) in map {
            let at = format!("{path}.{field}");
            let single = BTreeMap::from([(name.clone(), value.clone())]);
            let (eq, re) = if is_regex {
                (&none, &single)
            } else {
                (&single, &none)
            };
            match from_legacy(eq, re) {
                Ok(ms) => out.extend(ms),
                // The message names `match` or `match_re`; the path says which field.
                Err(e) => errors.push(&at, e.split_once(": ").map_or(e.as_str(), |(_, m)| m)),
            }
        }
    }
    for (i, line) in lines.iter().enumerate() {
        match parse_matchers(line) {
            Ok(parsed) => out.extend(parsed.0),
            Err(e) => errors.push(&format!("{path}.{}[{i}]", fields[2]), e),
        }
    }
    out.sort();
    out
}

/// Refuses a URL Alertmanager's `ParseURL` refuses: a scheme other than http and https, or
/// no host.
pub(super) fn check_url(url: &str) -> Result<(), String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(format!("unsupported scheme \"\" for URL {url:?}"));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!("unsupported scheme {scheme:?} for URL"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.is_empty() {
        return Err(format!("missing host for URL {url:?}"));
    }
    Ok(())
}

/// The first name listed twice, if any.
pub(super) fn first_duplicate<'a>(names: impl IntoIterator<Item = &'a String>) -> Option<&'a str> {
    let mut seen = BTreeSet::new();
    names
        .into_iter()
        .find(|n| !seen.insert(n.as_str()))
        .map(String::as_str)
}

/// A YAML error as text that starts with where it is: `yaml: line 4, column 7: route: …`.
/// serde_yaml's own wording ends with the line and column; serde's list of expected fields
/// after an unknown one is left out (it names fields Tidemark refuses too).
fn yaml_error(err: serde_yaml::Error) -> String {
    let text = err.to_string();
    let (message, location) = match err.location() {
        Some(at) => {
            let suffix = format!(" at line {} column {}", at.line(), at.column());
            match text.strip_suffix(&suffix) {
                Some(message) => (
                    message.to_string(),
                    format!("line {}, column {}: ", at.line(), at.column()),
                ),
                None => (text.clone(), String::new()),
            }
        }
        None => (text.clone(), String::new()),
    };
    let message = match message.find(", expected one of ") {
        Some(cut) if message.contains("unknown field") => message[..cut].to_string(),
        _ => message,
    };
    format!("yaml: {location}{message}")
}
