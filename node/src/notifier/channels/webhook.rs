//! Webhook: `POST url` with Alertmanager's webhook message, version 4
//! (`tidemark_alerting::notify::payload`), as JSON. The `url` may be a template
//! (Alertmanager 0.29+): it is rendered with the data of the alerts sent (at most
//! `max_alerts` of them, as Alertmanager renders it).

use tidemark_alerting::notify::config::WebhookConfig;
use tidemark_alerting::notify::payload::webhook_message;

use super::http::HttpClient;
use super::{SendContext, SendError, Target, Texts, classify, parse_url};

/// Sends the notification to the webhook `w`.
pub async fn send(w: &WebhookConfig, ctx: &SendContext<'_>) -> Result<(), SendError> {
    let n = ctx.notification;
    let target = Target::new("webhook", ctx);
    let kept = if w.max_alerts == 0 {
        n.alerts.len()
    } else {
        w.max_alerts.min(n.alerts.len())
    };
    let texts = Texts::new(ctx, &n.alerts[..kept]);
    let url = texts
        .render("url", &w.url)
        .map_err(|e| target.permanent(e))?;
    let url = parse_url(&target, "url", &url)?;
    let target = target.at_url(&url);
    let client =
        HttpClient::new(&w.http_config, w.timeout_ms, ctx).map_err(|e| target.permanent(e))?;
    let msg = webhook_message(
        n,
        &n.nflog.receiver,
        ctx.external_url,
        w.max_alerts,
        ctx.now_ms,
    );
    let req = client.request(reqwest::Method::POST, url).json(&msg);
    classify(&target, client.timeout(), req.send().await).await
}
