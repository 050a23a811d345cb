//! The configuration as shown to readers who are not admins (`GET /api/v2/status`): every
//! secret replaced by `<secret>`, as Alertmanager shows its own. Secrets are the passwords,
//! credentials and keys of every integration and of `global`, webhook and SMS-gateway URLs
//! (services put their tokens in them) and SMS-gateway headers.

use serde_yaml::Value;

/// What a secret is shown as.
pub const SECRET: &str = "<secret>";

/// Keys whose value is a secret wherever they are.
const SECRET_KEYS: &[&str] = &[
    "password",
    "auth_password",
    "smtp_auth_password",
    "auth_secret",
    "smtp_auth_secret",
    "credentials",
    "bearer_token",
    "routing_key",
    "service_key",
];

/// `yaml` with its secrets masked; a text that is not YAML is masked whole.
pub fn masked(yaml: &str) -> String {
    let Ok(mut value) = serde_yaml::from_str::<Value>(yaml) else {
        return SECRET.to_string();
    };
    mask(&mut value, None);
    serde_yaml::to_string(&value).unwrap_or_else(|_| SECRET.to_string())
}

/// Masks the secrets below `value`, which is the value of key `parent` (if any).
fn mask(value: &mut Value, parent: Option<&str>) {
    match value {
        Value::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let key = k.as_str().unwrap_or("");
                let in_gateway = matches!(parent, Some("webhook_configs" | "sms_configs"));
                if SECRET_KEYS.contains(&key) || (in_gateway && key == "url") {
                    if !v.is_null() {
                        *v = Value::String(SECRET.into());
                    }
                } else if parent == Some("sms_configs") && key == "headers" {
                    if let Value::Mapping(headers) = v {
                        for (_, hv) in headers.iter_mut() {
                            *hv = Value::String(SECRET.into());
                        }
                    }
                } else {
                    mask(v, Some(key));
                }
            }
        }
        // A list keeps its parent's key: the entries of `webhook_configs` are webhooks.
        Value::Sequence(items) => {
            for item in items {
                mask(item, parent);
            }
        }
        Value::Tagged(t) => mask(&mut t.value, parent),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_the_rest_kept() {
        let yaml = r#"
global:
  smtp_auth_password: hunter2
  smtp_from: alerts@example.com
route: {receiver: team}
receivers:
  - name: team
    webhook_configs:
      - url: https://hooks.example.com/T0KEN
        http_config:
          basic_auth: {username: u, password: p4ss}
          authorization: {credentials: t0k}
    pagerduty_configs: [{routing_key: abc123, severity: critical}]
    sms_configs:
      - url: https://sms.example.com/send?key=K
        headers: {X-Api-Key: s3cret}
        body: {to: "+1555"}
"#;
        let shown = masked(yaml);
        for secret in [
            "hunter2", "T0KEN", "p4ss", "t0k", "abc123", "key=K", "s3cret",
        ] {
            assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        }
        for kept in [
            "alerts@example.com",
            "username: u",
            "severity: critical",
            "+1555",
        ] {
            assert!(shown.contains(kept), "{kept} lost:\n{shown}");
        }
        assert_eq!(masked("{not: yaml"), SECRET);
    }
}
