//! SMS (Tidemark's own integration): an SMS or phone gateway reached over HTTP. Every field
//! of `body` and every header value is a template; the fields go, in the order written, as
//! a JSON object of strings (`body_format: json`), as a form
//! (`application/x-www-form-urlencoded`, `body_format: form`) or, with `method: GET`, as the
//! URL's query string (after any query the URL has). Headers given replace those the sender
//! sets (`Content-Type`, the `http_config` authorization). The gateway's answer is classified
//! as a webhook's: 2xx delivered, 429 and 5xx retried, the rest refused.

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use serde::ser::{Serialize, SerializeMap, Serializer};
use tidemark_alerting::notify::config::{SmsBodyFormat, SmsConfig, SmsMethod};

use super::http::HttpClient;
use super::{SendContext, SendError, Target, Texts, classify, parse_url};

/// Sends the notification through the gateway `s`.
pub async fn send(s: &SmsConfig, ctx: &SendContext<'_>) -> Result<(), SendError> {
    let target = Target::new("sms", ctx);
    let mut url = parse_url(&target, "url", &s.url)?;
    let target = target.at_url(&url);
    let texts = Texts::new(ctx, &ctx.notification.alerts);
    let fields = render_fields(s, &texts).map_err(|e| target.permanent(e))?;
    let headers = render_headers(s, &texts).map_err(|e| target.permanent(e))?;
    let client =
        HttpClient::new(&s.http_config, s.timeout_ms, ctx).map_err(|e| target.permanent(e))?;
    let req = match s.method {
        SmsMethod::Get => {
            url.query_pairs_mut()
                .extend_pairs(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            client.request(reqwest::Method::GET, url)
        }
        SmsMethod::Post | SmsMethod::Put => {
            let method = if s.method == SmsMethod::Put {
                reqwest::Method::PUT
            } else {
                reqwest::Method::POST
            };
            let (content_type, body) =
                encode_body(s.body_format, &fields).map_err(|e| target.permanent(e))?;
            client
                .request(method, url)
                .header(CONTENT_TYPE, content_type)
                .body(body)
        }
    };
    let req = req.headers(headers);
    classify(&target, client.timeout(), req.send().await).await
}

/// The body's fields, rendered, in the order written.
fn render_fields(s: &SmsConfig, texts: &Texts) -> Result<Vec<(String, String)>, String> {
    s.body
        .iter()
        .map(|(name, text)| Ok((name.clone(), texts.render(&format!("body.{name}"), text)?)))
        .collect()
}

/// The headers given, their values rendered.
fn render_headers(s: &SmsConfig, texts: &Texts) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::new();
    for (name, text) in &s.headers {
        let field = format!("headers.{name}");
        let header = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("{field}: not a valid header name"))?;
        let value = texts.render(&field, text)?;
        let value = HeaderValue::from_str(&value)
            .map_err(|_| format!("{field}: the rendered value is not a valid header value"))?;
        headers.insert(header, value);
    }
    Ok(headers)
}

/// The content type and the body of `fields` in `format`.
fn encode_body(
    format: SmsBodyFormat,
    fields: &[(String, String)],
) -> Result<(&'static str, Vec<u8>), String> {
    match format {
        SmsBodyFormat::Json => {
            let body = serde_json::to_vec(&InOrder(fields))
                .map_err(|e| format!("body not encoded: {e}"))?;
            Ok(("application/json", body))
        }
        SmsBodyFormat::Form => {
            let body = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .finish();
            Ok(("application/x-www-form-urlencoded", body.into_bytes()))
        }
    }
}

/// Fields as a JSON object, in the order given.
struct InOrder<'a>(&'a [(String, String)]);

impl Serialize for InOrder<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}
