//! Which remote-write protocol a request speaks, from its headers (remote-write 2.0 spec,
//! "Content-Type", "Content-Encoding" and "X-Prometheus-Remote-Write-Version").

use super::RemoteWriteError;

// Header names are case-insensitive; `http` wants them lowercase.
/// The `X-Prometheus-Remote-Write-Version` request header.
pub const VERSION_HEADER: &str = "x-prometheus-remote-write-version";
/// Response header of 2.0: float samples written.
pub const SAMPLES_WRITTEN_HEADER: &str = "x-prometheus-remote-write-samples-written";
/// Response header of 2.0: native histogram samples written.
pub const HISTOGRAMS_WRITTEN_HEADER: &str = "x-prometheus-remote-write-histograms-written";
/// Response header of 2.0: exemplars written.
pub const EXEMPLARS_WRITTEN_HEADER: &str = "x-prometheus-remote-write-exemplars-written";

const PROTOBUF: &str = "application/x-protobuf";
const PROTO_V1: &str = "prometheus.WriteRequest";
const PROTO_V2: &str = "io.prometheus.write.v2.Request";

/// A remote-write protocol version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Remote-write 1.0: `prometheus.WriteRequest`.
    V1,
    /// Remote-write 2.0: `io.prometheus.write.v2.Request`.
    V2,
}

/// The protocol of a request from its `Content-Type`, `Content-Encoding` and version headers.
///
/// As Prometheus does for 1.0 clients, a missing `Content-Type` means 1.0 and a missing
/// `Content-Encoding` means snappy. Anything else unsupported is an error (HTTP 415).
pub fn negotiate(
    content_type: Option<&str>,
    content_encoding: Option<&str>,
    version: Option<&str>,
) -> Result<Protocol, RemoteWriteError> {
    if let Some(enc) = content_encoding
        && !enc.trim().eq_ignore_ascii_case("snappy")
    {
        return Err(RemoteWriteError::UnsupportedMediaType(format!(
            "{enc:?} encoding (compression) is not accepted by this server; only \"snappy\" is acceptable"
        )));
    }
    let protocol = match content_type {
        None => Protocol::V1,
        Some(ct) => parse_content_type(ct)?,
    };
    if let Some(v) = version {
        let v = v.trim();
        let known = v.starts_with("0.1.") || v.starts_with("2.0.") || v == "0.1" || v == "2.0";
        if !known {
            return Err(RemoteWriteError::UnsupportedMediaType(format!(
                "unsupported X-Prometheus-Remote-Write-Version {v:?}; supported: 0.1.0 and 2.0.0"
            )));
        }
    }
    Ok(protocol)
}

fn parse_content_type(ct: &str) -> Result<Protocol, RemoteWriteError> {
    let mut parts = ct.split(';').map(str::trim);
    let media = parts.next().unwrap_or("");
    if !media.eq_ignore_ascii_case(PROTOBUF) {
        return Err(RemoteWriteError::UnsupportedMediaType(format!(
            "unsupported Content-Type {ct:?}; expected {PROTOBUF:?} or \"{PROTOBUF};proto={PROTO_V2}\""
        )));
    }
    let mut protocol = Protocol::V1;
    for param in parts.filter(|p| !p.is_empty()) {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        if !key.trim().eq_ignore_ascii_case("proto") {
            continue;
        }
        protocol = match value.trim().trim_matches('"') {
            PROTO_V1 => Protocol::V1,
            PROTO_V2 => Protocol::V2,
            other => {
                return Err(RemoteWriteError::UnsupportedMediaType(format!(
                    "unsupported proto {other:?} in Content-Type; supported: {PROTO_V1}, {PROTO_V2}"
                )));
            }
        };
    }
    Ok(protocol)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_content_types() {
        assert_eq!(
            negotiate(
                Some("application/x-protobuf"),
                Some("snappy"),
                Some("0.1.0")
            )
            .unwrap(),
            Protocol::V1
        );
        assert_eq!(
            negotiate(
                Some("application/x-protobuf;proto=prometheus.WriteRequest"),
                Some("snappy"),
                None
            )
            .unwrap(),
            Protocol::V1
        );
        assert_eq!(
            negotiate(
                Some("application/x-protobuf;proto=io.prometheus.write.v2.Request"),
                Some("snappy"),
                Some("2.0.0")
            )
            .unwrap(),
            Protocol::V2
        );
        assert_eq!(
            negotiate(
                Some("application/x-protobuf; proto=io.prometheus.write.v2.Request"),
                None,
                None
            )
            .unwrap(),
            Protocol::V2
        );
        assert_eq!(negotiate(None, None, None).unwrap(), Protocol::V1);
    }

    #[test]
    fn unsupported_headers_are_415() {
        for (ct, enc, ver) in [
            (Some("application/json"), Some("snappy"), None),
            (
                Some("application/x-protobuf;proto=io.prometheus.write.v3.Request"),
                Some("snappy"),
                None,
            ),
            (Some("application/x-protobuf"), Some("gzip"), None),
            (
                Some("application/x-protobuf"),
                Some("snappy"),
                Some("9.9.9"),
            ),
        ] {
            match negotiate(ct, enc, ver) {
                Err(RemoteWriteError::UnsupportedMediaType(_)) => {}
                other => panic!("{ct:?} {enc:?} {ver:?}: {other:?}"),
            }
        }
    }
}
