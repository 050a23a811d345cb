//! Request parameters as Prometheus reads them: URL query and, for POST, an
//! `application/x-www-form-urlencoded` body (body values first, as Go's `Request.Form`), and
//! the time and duration syntaxes of its API.

use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};

use super::error::ApiError;

/// Largest form-encoded POST body accepted by the query endpoints, in bytes.
pub const FORM_BODY_BYTES_MAX: usize = 8 * 1024 * 1024;

/// Earliest time the API accepts, in ms (Prometheus' `MinTime`: the Go `time.Time` range).
pub const MIN_TIME_MS: i64 = (i64::MIN / 1000 + 62_135_596_801) * 1000;
/// Latest time the API accepts, in ms (Prometheus' `MaxTime`).
pub const MAX_TIME_MS: i64 = (i64::MAX / 1000 - 62_135_596_801) * 1000 + 999;

/// How Prometheus' clients spell [`MIN_TIME_MS`] and [`MAX_TIME_MS`].
const MIN_TIME_FORMATTED: &str = "-292273086-05-16T16:47:06Z";
const MAX_TIME_FORMATTED: &str = "292277025-08-18T07:12:54.999999999Z";

/// How current a read must be (`consistency` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consistency {
    /// Read-index on every shard leader first.
    Linearizable,
    /// This node's replicas at their applied index.
    Follower,
}

/// Every parameter of a request, in order (a name may repeat, as `match[]` does).
#[derive(Clone, Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Parameters from `application/x-www-form-urlencoded` text.
    pub fn from_query(query: &str) -> Self {
        let mut p = Params::default();
        p.extend(query.as_bytes());
        p
    }

    fn extend(&mut self, encoded: &[u8]) {
        self.pairs
            .extend(form_urlencoded::parse(encoded).map(|(k, v)| (k.into_owned(), v.into_owned())));
    }

    /// The first non-empty value of `name` (an empty value counts as absent, as in Prometheus).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The optional time parameter `name` in ms, or `default` when absent (Prometheus'
    /// `parseTimeParam`, whose errors name the parameter twice).
    pub fn time_or(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None => Ok(default),
            Some(s) => parse_time(s).map_err(|e| {
                ApiError::param(name, format!("invalid time value for '{name}': {e}"))
            }),
        }
    }

    /// The required time parameter `name` in ms.
    pub fn time(&self, name: &str) -> Result<i64, ApiError> {
        let s = self
            .get(name)
            .ok_or_else(|| ApiError::param(name, "missing"))?;
        parse_time(s).map_err(|e| ApiError::param(name, e))
    }

    /// The duration parameter `name` in ms, if present.
    pub fn duration_ms(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|s| parse_duration_ms(s).map_err(|e| ApiError::param(name, e)))
            .transpose()
    }

    /// The `consistency` parameter: `linearizable` (the default: the read sees every write
    /// acknowledged before it started) or `follower` (this node's replicas as they are, without
    /// asking the shard leaders: cheaper, possibly stale, and answered even while a shard has no
    /// leader).
    pub fn consistency(&self) -> Result<Consistency, ApiError> {
        match self.get("consistency") {
            None | Some("") | Some("linearizable") => Ok(Consistency::Linearizable),
            Some("follower") => Ok(Consistency::Follower),
            Some(other) => Err(ApiError::param(
                "consistency",
                format!("{other:?} is neither \"linearizable\" nor \"follower\""),
            )),
        }
    }

    /// The `tier` parameter of the query endpoints: `raw`, `1m` or `1h` pins the query to that
    /// tier's data alone; absent or empty, every tier is read, stitched by time.
    pub fn tier(&self) -> Result<Option<tidemark_storage::Tier>, ApiError> {
        match self.get("tier") {
            None | Some("") => Ok(None),
            Some(name) => tidemark_storage::Tier::from_name(name)
                .map(Some)
                .ok_or_else(|| {
                    ApiError::param(
                        "tier",
                        format!("{name:?} is not one of \"raw\", \"1m\", \"1h\""),
                    )
                }),
        }
    }

    /// The `limit` parameter: `None` when absent or 0 (no limit); negative is an error
    /// (Prometheus' `parseLimitParam`).
    pub fn limit(&self) -> Result<Option<usize>, ApiError> {
        let Some(s) = self.get("limit") else {
            return Ok(None);
        };
        let n = parse_go_int(s).map_err(|e| ApiError::param("limit", e))?;
        match n {
            n if n < 0 => Err(ApiError::param("limit", "limit must be non-negative")),
            0 => Ok(None),
            n => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let mut params = Params::default();
        let form = req.method() == Method::POST
            && req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| {
                    ct.trim_start()
                        .to_ascii_lowercase()
                        .starts_with("application/x-www-form-urlencoded")
                });
        let query = req.uri().query().unwrap_or("").to_string();
        if form {
            let body = axum::body::to_bytes(req.into_body(), FORM_BODY_BYTES_MAX)
                .await
                .map_err(|e| {
                    ApiError::BadParam(format!(
                        "reading form body (at most {FORM_BODY_BYTES_MAX} bytes): {e}"
                    ))
                })?;
            params.extend(&body);
        }
        params.extend(query.as_bytes());
        Ok(params)
    }
}

/// An integer as Go's `strconv.Atoi` reads it (optional sign, decimal digits), with its error
/// text: `strconv.Atoi: parsing "x": invalid syntax` or `... value out of range`.
pub fn parse_go_int(s: &str) -> Result<i64, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.Atoi: parsing {}: invalid syntax",
            super::promql_print::go_quote(s)
        ));
    }
    s.parse::<i64>().map_err(|_| {
        format!(
            "strconv.Atoi: parsing {}: value out of range",
            super::promql_print::go_quote(s)
        )
    })
}

/// A time as Prometheus' API accepts it: Unix seconds as a float (rounded to ms) or RFC 3339.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let invalid = || format!("cannot parse {s:?} to a valid timestamp");
    if let Ok(f) = s.parse::<f64>() {
        let secs = f.trunc();
        if !f.is_finite() || secs.abs() >= (i64::MAX / 1000) as f64 {
            return Err(invalid());
        }
        let ms = ((f - secs) * 1000.0).round();
        return Ok(secs as i64 * 1000 + ms as i64);
    }
    match s {
        MIN_TIME_FORMATTED => return Ok(MIN_TIME_MS),
        MAX_TIME_FORMATTED => return Ok(MAX_TIME_MS),
        _ => {}
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp_millis())
        .map_err(|_| invalid())
}

/// A duration as Prometheus' API accepts it: seconds as a float, or a Prometheus duration
/// (`1h30m`, `15s`, `500ms`, `1d`, `1w`, `1y`). In ms (float seconds are truncated to ms).
pub fn parse_duration_ms(s: &str) -> Result<i64, String> {
    if let Ok(f) = s.parse::<f64>() {
        let ms = f * 1000.0;
        if !ms.is_finite() || ms.abs() >= i64::MAX as f64 {
            return Err(format!(
                "cannot parse {s:?} to a valid duration. It overflows int64"
            ));
        }
        return Ok(ms.trunc() as i64);
    }
    promql_parser::util::parse_duration(s)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .ok_or_else(|| format!("cannot parse {s:?} to a valid duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1435781451.781").unwrap(), 1_435_781_451_781);
        assert_eq!(parse_time("1435781451").unwrap(), 1_435_781_451_000);
        assert_eq!(parse_time("1.0006").unwrap(), 1001);
        assert_eq!(parse_time("-1.5").unwrap(), -1500);
        assert_eq!(
            parse_time("2015-07-01T20:10:51.781Z").unwrap(),
            1_435_781_451_781
        );
        assert_eq!(
            parse_time("2015-07-01T22:10:51+02:00").unwrap(),
            1_435_781_451_000
        );
        assert_eq!(parse_time(MIN_TIME_FORMATTED).unwrap(), MIN_TIME_MS);
        assert_eq!(parse_time(MAX_TIME_FORMATTED).unwrap(), MAX_TIME_MS);
        assert_eq!(MIN_TIME_MS, -9_223_309_901_257_974_000);
        assert_eq!(MAX_TIME_MS, 9_223_309_901_257_974_999);
        for bad in ["abc", "NaN", "inf", "1e300", "2015-07-01", ""] {
            let e = parse_time(bad).unwrap_err();
            assert!(e.contains("valid timestamp"), "{bad}: {e}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration_ms("15").unwrap(), 15_000);
        assert_eq!(parse_duration_ms("0.5").unwrap(), 500);
        assert_eq!(parse_duration_ms("15s").unwrap(), 15_000);
        assert_eq!(parse_duration_ms("1m").unwrap(), 60_000);
        assert_eq!(parse_duration_ms("1h30m").unwrap(), 5_400_000);
        assert_eq!(parse_duration_ms("500ms").unwrap(), 500);
        assert_eq!(parse_duration_ms("1d").unwrap(), 86_400_000);
        assert_eq!(parse_duration_ms("-5").unwrap(), -5000);
        assert_eq!(parse_duration_ms("0").unwrap(), 0);
        assert!(
            parse_duration_ms("1e300")
                .unwrap_err()
                .contains("overflows")
        );
        assert!(
            parse_duration_ms("5x")
                .unwrap_err()
                .contains("valid duration")
        );
        assert!(parse_duration_ms("-5m").is_err());
    }

    #[test]
    fn params_repeat_and_empty_is_absent() {
        let p = Params::from_query("match[]=up&match[]=%7Bjob%3D%22a%22%7D&time=&limit=0&step=15s");
        assert_eq!(p.all("match[]"), vec!["up", "{job=\"a\"}"]);
        assert_eq!(p.get("time"), None);
        assert_eq!(p.time_or("time", 7).unwrap(), 7);
        assert_eq!(p.limit().unwrap(), None);
        assert_eq!(p.duration_ms("step").unwrap(), Some(15_000));
        assert!(Params::from_query("limit=-1").limit().is_err());
        assert_eq!(Params::from_query("limit=%2B3").limit().unwrap(), Some(3));
        let e = Params::from_query("limit=abc").limit().unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid parameter "limit": strconv.Atoi: parsing "abc": invalid syntax"#
        );
        let e = Params::from_query("limit=99999999999999999999")
            .limit()
            .unwrap_err();
        assert!(e.to_string().ends_with("value out of range"), "{e}");
        let e = Params::from_query("limit=-2").limit().unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid parameter "limit": limit must be non-negative"#
        );
        let e = Params::from_query("start=x")
            .time_or("start", 0)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"invalid parameter "start": invalid time value for 'start': cannot parse "x" to a valid timestamp"#
        );
        assert_eq!(Params::from_query("limit=5").limit().unwrap(), Some(5));
        assert!(Params::from_query("time=x").time("time").is_err());
        assert!(Params::default().time("start").is_err());
    }
}
