//! What the integrations and `http_config` refuse, and that the refusal names what and
//! where.

use super::*;

#[test]
fn webhook_refusals() {
    for (config, want) in [
        (
            "{}",
            "receivers[0].webhook_configs[0]: one of url or url_file must be configured",
        ),
        (
            "{url_file: /etc/url}",
            "receivers[0].webhook_configs[0].url_file: not supported by Tidemark's notifier: files are node-local",
        ),
        (
            "{url: 'ftp://x/'}",
            r#"receivers[0].webhook_configs[0].url: unsupported scheme "ftp" for URL"#,
        ),
        (
            "{url: 'http:///x'}",
            "receivers[0].webhook_configs[0].url: missing host for URL",
        ),
        (
            "{url: 'http://x/', payload: {a: b}}",
            "receivers[0].webhook_configs[0].payload: not supported",
        ),
        (
            "{url: 'http://x/', timeout: 10}",
            "receivers[0].webhook_configs[0].timeout: duration 10 has no unit",
        ),
        (
            "{url: 'http://x/', timeout: 1d}",
            "receivers[0].webhook_configs[0].timeout: invalid duration",
        ),
    ] {
        let err = receiver_err(&format!("    webhook_configs: [{config}]\n"));
        assert!(err.contains(want), "{config}: {want:?} not in:\n{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn http_config_refusals() {
    let at = "receivers[0].webhook_configs[0].http_config";
    for (http, want) in [
        (
            "{proxy_url: 'http://proxy:3128'}",
            format!("{at}.proxy_url: not supported"),
        ),
        (
            "{no_proxy: localhost}",
            format!("{at}.no_proxy: not supported"),
        ),
        (
            "{proxy_from_environment: true}",
            format!("{at}.proxy_from_environment: not supported"),
        ),
        (
            "{oauth2: {client_id: a}}",
            format!("{at}.oauth2: not supported"),
        ),
        (
            "{enable_http2: true}",
            format!("{at}.enable_http2: not supported"),
        ),
        (
            "{http_headers: {}}",
            format!("{at}.http_headers: not supported"),
        ),
        (
            "{bearer_token_file: /t}",
            format!(
                "{at}.bearer_token_file: not supported by Tidemark's notifier: files are node-local"
            ),
        ),
        (
            "{authorization: {credentials_file: /t}}",
            format!(
                "{at}.authorization.credentials_file: not supported by Tidemark's notifier: files are node-local"
            ),
        ),
        (
            "{basic_auth: {username: u, password_file: /p}}",
            format!(
                "{at}.basic_auth.password_file: not supported by Tidemark's notifier: files are node-local"
            ),
        ),
        (
            "{basic_auth: {username_file: /u}}",
            format!(
                "{at}.basic_auth.username_file: not supported by Tidemark's notifier: files are node-local"
            ),
        ),
        (
            "{tls_config: {ca_file: /ca.pem}}",
            format!(
                "{at}.tls_config.ca_file: not supported by Tidemark's notifier: files are node-local"
            ),
        ),
        (
            "{tls_config: {cert_file: /c.pem}}",
            format!(
                "{at}.tls_config.cert_file: not supported by Tidemark's notifier: files are node-local"
            ),
        ),
        (
            "{tls_config: {ca: PEM}}",
            format!("{at}.tls_config.ca: not supported"),
        ),
        (
            "{tls_config: {min_version: TLS12}}",
            format!("{at}.tls_config.min_version: not supported"),
        ),
        (
            "{authorization: {type: basic, credentials: x}}",
            format!(
                "{at}.authorization.type: authorization type cannot be set to \"basic\", use \"basic_auth\" instead"
            ),
        ),
        (
            "{authorization: {credentials: x}, basic_auth: {username: u}}",
            format!("{at}: at most one of basic_auth, oauth2 & authorization must be configured"),
        ),
        (
            "{authorization: {credentials: x}, bearer_token: y}",
            format!("{at}: authorization is not compatible with bearer_token & bearer_token_file"),
        ),
        (
            "{basic_auth: {username: u}, bearer_token: y}",
            format!(
                "{at}: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"
            ),
        ),
    ] {
        let err = receiver_err(&format!(
            "    webhook_configs: [{{url: 'http://x/', http_config: {http}}}]\n"
        ));
        assert!(
            err.starts_with(&want),
            "{http}: {want:?} does not start:\n{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let err = parse_err(
        "global:\n  http_config: {proxy_url: 'http://p/'}\nroute: {receiver: r}\nreceivers: [{name: r}]\n",
    );
    assert_eq!(
        err,
        "global.http_config.proxy_url: not supported by Tidemark's notifier"
    );
}

#[test]
fn email_refusals() {
    let smtp = "smarthost: 'smtp:25', from: a@b";
    for (config, want) in [
        (
            format!("{{{smtp}}}"),
            "receivers[0].email_configs[0]: missing to address in email config",
        ),
        (
            "{to: a@b, from: a@b}".to_string(),
            "receivers[0].email_configs[0]: no smarthost, and no global smtp_smarthost set",
        ),
        (
            "{to: a@b, smarthost: 'smtp:25'}".to_string(),
            "receivers[0].email_configs[0]: no from address, and no global smtp_from set",
        ),
        (
            "{to: a@b, from: a@b, smarthost: smtp}".to_string(),
            "receivers[0].email_configs[0].smarthost: address \"smtp\": missing port in address",
        ),
        (
            "{to: a@b, from: a@b, smarthost: 'smtp:'}".to_string(),
            "receivers[0].email_configs[0].smarthost: address \"smtp:\": port cannot be empty",
        ),
        (
            format!("{{to: a@b, {smtp}, auth_password_file: /p}}"),
            "receivers[0].email_configs[0].auth_password_file: not supported by Tidemark's notifier: files are node-local",
        ),
        (
            format!("{{to: a@b, {smtp}, auth_secret_file: /p}}"),
            "receivers[0].email_configs[0].auth_secret_file: not supported by Tidemark's notifier: files are node-local",
        ),
        (
            format!("{{to: a@b, {smtp}, force_implicit_tls: true}}"),
            "receivers[0].email_configs[0].force_implicit_tls: not supported",
        ),
        (
            format!("{{to: a@b, {smtp}, threading: {{enabled: true}}}}"),
            "receivers[0].email_configs[0].threading: not supported",
        ),
        (
            format!("{{to: a@b, {smtp}, tls_config: {{key_file: /k}}}}"),
            "receivers[0].email_configs[0].tls_config.key_file: not supported by Tidemark's notifier: files are node-local",
        ),
        (
            format!("{{to: a@b, {smtp}, headers: {{subject: a, SUBJECT: b}}}}"),
            "receivers[0].email_configs[0].headers: duplicate header \"Subject\" in email config",
        ),
    ] {
        let err = receiver_err(&format!("    email_configs: [{config}]\n"));
        assert!(
            err.starts_with(want),
            "{config}: {want:?} does not start:\n{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn pagerduty_refusals() {
    for (config, want) in [
        (
            "{}",
            "receivers[0].pagerduty_configs[0]: missing routing_key in PagerDuty config",
        ),
        (
            "{service_key: k}",
            "receivers[0].pagerduty_configs[0].service_key: PagerDuty's Events API v1 is not supported by Tidemark's notifier: use routing_key (Events API v2)",
        ),
        (
            "{service_key_file: /k}",
            "receivers[0].pagerduty_configs[0].service_key_file: PagerDuty's Events API v1 is not supported by Tidemark's notifier: use routing_key (Events API v2)",
        ),
        (
            "{routing_key_file: /k}",
            "receivers[0].pagerduty_configs[0].routing_key_file: not supported by Tidemark's notifier: files are node-local and the notifier runs on whichever node leads; give the value inline",
        ),
        (
            "{routing_key: k, url: 'pagerduty.com'}",
            "receivers[0].pagerduty_configs[0].url: unsupported scheme \"\" for URL \"pagerduty.com\"",
        ),
        (
            "{routing_key: k, http_config: {proxy_url: 'http://p/'}}",
            "receivers[0].pagerduty_configs[0].http_config.proxy_url: not supported by Tidemark's notifier",
        ),
    ] {
        let err = receiver_err(&format!("    pagerduty_configs: [{config}]\n"));
        assert_eq!(err, want, "{config}");
    }
    let err = parse_err(
        "global: {pagerduty_url: 'mailto:x'}\nroute: {receiver: r}\nreceivers: [{name: r}]\n",
    );
    assert_eq!(
        err,
        "global.pagerduty_url: unsupported scheme \"\" for URL \"mailto:x\""
    );
}

#[test]
fn sms_refusals() {
    let ok = "url: 'https://sms/', body: {to: '1'}";
    for (config, want) in [
        (
            "{body: {to: '1'}}".to_string(),
            "receivers[0].sms_configs[0]: missing url in SMS config",
        ),
        (
            "{url: 'https://sms/'}".to_string(),
            "receivers[0].sms_configs[0].body: missing body (the gateway's fields, e.g. to and message)",
        ),
        (
            "{url: 'https://sms/', body: {}}".to_string(),
            "receivers[0].sms_configs[0].body: missing body (the gateway's fields, e.g. to and message)",
        ),
        (
            "{url: 'https://sms/', body: {to: [a]}}".to_string(),
            "receivers[0].sms_configs[0].body.to: must be a string (a template)",
        ),
        (
            "{url: 'smtp://sms/', body: {to: '1'}}".to_string(),
            "receivers[0].sms_configs[0].url: unsupported scheme \"smtp\" for URL",
        ),
        (
            format!("{{{ok}, method: DELETE}}"),
            "receivers[0].sms_configs[0].method: \"DELETE\" is not one of POST, PUT, GET",
        ),
        (
            format!("{{{ok}, body_format: xml}}"),
            "receivers[0].sms_configs[0].body_format: \"xml\" is not one of json, form",
        ),
        (
            format!("{{{ok}, method: GET, body_format: json}}"),
            "receivers[0].sms_configs[0].body_format: json cannot be sent with GET (the body goes in the query string): use form",
        ),
        (
            format!("{{{ok}, headers: {{'X Key': a}}}}"),
            "receivers[0].sms_configs[0].headers: invalid header name \"X Key\"",
        ),
        (
            format!("{{{ok}, headers: {{X-Key: a, x-key: b}}}}"),
            "receivers[0].sms_configs[0].headers: duplicate header \"x-key\"",
        ),
        (
            format!("{{{ok}, http_config: {{proxy_url: 'http://p/'}}}}"),
            "receivers[0].sms_configs[0].http_config.proxy_url: not supported by Tidemark's notifier",
        ),
    ] {
        let err = receiver_err(&format!("    sms_configs: [{config}]\n"));
        assert_eq!(err, want, "{config}");
    }
}
