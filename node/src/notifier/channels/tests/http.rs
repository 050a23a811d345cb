//! The HTTP clients and the error texts' pure parts.

use tidemark_alerting::notify::config::{HttpConfig, TlsConfig};

use super::super::http::{base64, build_client};
use super::super::{ANSWER_EXCERPT_BYTES, excerpt, url_for_errors};

#[test]
fn base64_is_rfc_4648s() {
    let cases = [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ];
    for (text, encoded) in cases {
        assert_eq!(base64(text.as_bytes()), encoded, "{text:?}");
    }
}

#[test]
fn builds_clients_for_tls_options() {
    let with_tls = |tls: TlsConfig| HttpConfig {
        tls_config: tls,
        follow_redirects: false,
        ..HttpConfig::default()
    };
    build_client(&with_tls(TlsConfig::default())).unwrap();
    build_client(&with_tls(TlsConfig {
        insecure_skip_verify: true,
        ..TlsConfig::default()
    }))
    .unwrap();
    build_client(&with_tls(TlsConfig {
        server_name: "hooks.example.com".to_string(),
        ..TlsConfig::default()
    }))
    .unwrap();
    let error = build_client(&with_tls(TlsConfig {
        server_name: "not a name".to_string(),
        ..TlsConfig::default()
    }))
    .unwrap_err();
    assert!(
        error.starts_with("http_config.tls_config.server_name \"not a name\""),
        "{error}"
    );
    let error = build_client(&with_tls(TlsConfig {
        server_name: "hooks.example.com".to_string(),
        ca: "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n".to_string(),
        ..TlsConfig::default()
    }))
    .unwrap_err();
    assert!(error.starts_with("http_config.tls_config.ca: "), "{error}");
}

#[test]
fn excerpts_cut_at_a_character() {
    assert_eq!(excerpt(b"  short answer\n"), "short answer");
    let long = format!("{}é and more", "a".repeat(ANSWER_EXCERPT_BYTES - 1));
    let cut = excerpt(long.as_bytes());
    assert_eq!(cut, "a".repeat(ANSWER_EXCERPT_BYTES - 1));
    assert_eq!(excerpt(b"bad \xff byte"), "bad \u{fffd} byte");
}

#[test]
fn urls_in_errors_keep_only_scheme_host_and_port() {
    let url =
        reqwest::Url::parse("https://user:pw@hooks.example.com:8443/T0KEN/b?token=x#frag").unwrap();
    assert_eq!(url_for_errors(&url), "https://hooks.example.com:8443");
    let url = reqwest::Url::parse("http://hooks.example.com/services/T0KEN").unwrap();
    assert_eq!(url_for_errors(&url), "http://hooks.example.com");
}
