//! What the command line gives, read: matchers in Alertmanager's syntax (and their API form),
//! times, durations, and the silence `silence add` posts. Pure functions: the time "now" is
//! an argument.

use tidemark_alerting::notify::matcher::{MatchType, Matcher, parse_matchers};
use tidemark_api::alertmanager::{
    Matcher as ApiMatcher, PostableSilence, RFC3339_MAX_MS, RFC3339_MIN_MS, parse_rfc3339_ms,
    rfc3339_ms,
};

use super::AddArgs;

/// How long a silence lasts when neither `--duration` nor `--end` is given (as `amtool`).
pub const DEFAULT_SILENCE_DURATION: &str = "1h";

/// The label a first matcher argument without an operator names (`Down` is
/// `alertname="Down"`, as `amtool` reads it).
const ALERTNAME: &str = "alertname";

/// The matchers of command-line arguments, each holding one matcher (`alertname=Down`,
/// `instance=~"db.*"`) or a list (`{a="b",c!="d"}`), in Alertmanager's syntax. A first
/// argument with none of `=`, `!`, `~` (and not a `{...}` list) is an alert name. An error
/// names the argument.
pub fn parse_cli_matchers(args: &[String]) -> Result<Vec<Matcher>, String> {
    let mut out = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if i == 0 && !arg.contains(['=', '!', '~']) && !arg.starts_with('{') {
            let m = Matcher::new(ALERTNAME, MatchType::Equal, arg.as_str())
                .map_err(|e| format!("matcher {arg:?}: {e}"))?;
            out.push(m);
            continue;
        }
        let parsed = parse_matchers(arg).map_err(|e| format!("matcher {arg:?}: {e}"))?;
        out.extend(parsed.0);
    }
    Ok(out)
}

/// A matcher as the API carries it (`{"isEqual":..,"isRegex":..,"name":..,"value":..}`).
pub fn to_api(m: &Matcher) -> ApiMatcher {
    ApiMatcher {
        is_equal: matches!(m.kind, MatchType::Equal | MatchType::Regex),
        is_regex: m.kind.is_regex(),
        name: m.name.clone(),
        value: m.value.clone(),
    }
}

/// An API matcher as Alertmanager prints one (`instance=~"db.*"`).
pub fn show_api_matcher(m: &ApiMatcher) -> String {
    let kind = match (m.is_regex, m.is_equal) {
        (false, true) => MatchType::Equal,
        (false, false) => MatchType::NotEqual,
        (true, true) => MatchType::Regex,
        (true, false) => MatchType::NotRegex,
    };
    // A regex this side cannot compile (the node accepted it) is still shown.
    Matcher::new(m.name.as_str(), kind, m.value.as_str())
        .map(|parsed| parsed.to_string())
        .unwrap_or_else(|_| format!("{}{kind}{:?}", m.name, m.value))
}

/// A label as a matcher prints it (`instance="db-1"`).
pub fn show_label(name: &str, value: &str) -> String {
    Matcher::new(name, MatchType::Equal, value)
        .map(|m| m.to_string())
        .unwrap_or_else(|_| format!("{name}={value:?}"))
}

/// A time given on the command line: RFC 3339 (`2026-12-05T18:00:00Z`,
/// `2026-12-05T19:00:00+01:00`) or Unix seconds (`1796493600`, `1796493600.5`), as
/// milliseconds since the epoch.
pub fn parse_time_ms(s: &str) -> Result<i64, String> {
    if let Ok(ms) = parse_rfc3339_ms(s) {
        return Ok(ms);
    }
    let bad =
        || format!("invalid time {s:?}: expected RFC 3339 (2026-12-05T18:00:00Z) or Unix seconds");
    let secs: f64 = s.parse().map_err(|_| bad())?;
    let ms = (secs * 1000.0).round();
    if !ms.is_finite() || ms < RFC3339_MIN_MS as f64 || ms > RFC3339_MAX_MS as f64 {
        return Err(bad());
    }
    Ok(ms as i64)
}

/// A duration as Prometheus writes one (`1h`, `1h30m`, `2d`, `1w`, `500ms`, `0`), in
/// milliseconds.
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    tidemark_api::duration::parse_ms(s)
}

/// The silence `silence add` posts, at `now_ms`: matchers converted to the API's form,
/// `--start` (default now), `--end` or `--start` + `--duration` (default
/// [`DEFAULT_SILENCE_DURATION`]). Refused here, before anything is sent: no matcher, only
/// matchers an absent label passes (the silence would silence everything), an empty
/// comment or author, an end not after the start or not in the future.
pub fn postable_silence(args: &AddArgs, now_ms: i64) -> Result<PostableSilence, String> {
    let matchers = parse_cli_matchers(&args.matchers)?;
    if matchers.is_empty() {
        return Err("no matchers: a silence needs at least one".into());
    }
    if matchers.iter().all(|m| m.matches_value("")) {
        return Err(
            "at least one matcher must not match the empty string (every alert would be \
             silenced)"
                .into(),
        );
    }
    if args.comment.trim().is_empty() {
        return Err("--comment must not be empty".into());
    }
    let author = args
        .author
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or("no author: give --author (USER is not set)")?;
    let starts_ms = match &args.start {
        Some(t) => parse_time_ms(t).map_err(|e| format!("--start: {e}"))?,
        None => now_ms,
    };
    let ends_ms = match &args.end {
        Some(t) => parse_time_ms(t).map_err(|e| format!("--end: {e}"))?,
        None => {
            let text = args.duration.as_deref().unwrap_or(DEFAULT_SILENCE_DURATION);
            let duration_ms = parse_duration_ms(text).map_err(|e| format!("--duration: {e}"))?;
            if duration_ms <= 0 {
                return Err("--duration must be longer than 0".into());
            }
            starts_ms.saturating_add(duration_ms)
        }
    };
    if ends_ms <= starts_ms {
        return Err(format!(
            "the silence would end ({}) before it starts ({})",
            rfc3339_ms(ends_ms),
            rfc3339_ms(starts_ms)
        ));
    }
    if ends_ms <= now_ms {
        return Err(format!("--end {} is in the past", rfc3339_ms(ends_ms)));
    }
    Ok(PostableSilence {
        id: None,
        annotations: Default::default(),
        comment: args.comment.clone(),
        created_by: author.to_string(),
        ends_at: rfc3339_ms(ends_ms),
        matchers: matchers.iter().map(to_api).collect(),
        starts_at: rfc3339_ms(starts_ms),
    })
}

/// An API time (RFC 3339) as tables show it: `2026-12-05 10:00:00 UTC`, whatever offset it
/// came with; as given when it does not parse.
pub fn show_time(t: &str) -> String {
    match parse_rfc3339_ms(t) {
        Ok(ms) => {
            let utc = rfc3339_ms(ms);
            format!("{} {} UTC", &utc[..10], &utc[11..19])
        }
        Err(_) => t.to_string(),
    }
}
