//! What the YAML layer is built from: [`yaml_struct!`] (a decoded struct whose known but
//! refused Alertmanager fields are noted rather than unknown), `null` read as empty
//! ([`nullable`]), and Go's durations ([`GoDuration`]). (A scalar read into a `String` keeps
//! its text, `500` as `"500"`, as Go's YAML decoder keeps it.)

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, Visitor};
use serde_yaml::Value;

/// Why most refused fields are refused.
pub(super) const NOT_SUPPORTED: &str = "not supported by Tidemark's notifier";

/// Why a `*_file` field is refused: the file would be read on whichever node leads the ruler
/// group, so every node would need it.
pub(super) const NODE_LOCAL: &str = "not supported by Tidemark's notifier: files are node-local \
     and the notifier runs on whichever node leads; give the value inline";

/// Why an integration Tidemark has no sender for is refused.
pub(super) const INTEGRATION_NOT_SUPPORTED: &str = "not supported by Tidemark's notifier \
     (its integrations are webhook_configs, email_configs, pagerduty_configs and sms_configs)";

/// A struct of the YAML layer: its fields (decoded with serde, every one optional, unknown
/// ones refused by serde with their path and line), then the Alertmanager fields Tidemark
/// refuses, each with why. A refused field is noted when present (even as `null`) and told
/// by `refused()`, so that the refusal names it instead of calling it unknown. Its
/// attributes may hold serde's (`#[serde(expecting = "...")]`: what a wrong type is told).
macro_rules! yaml_struct {
    (
        $(#[$meta:meta])*
        struct $name:ident {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty, )*
        }
        refused { $( $refused:ident => $reason:expr, )* }
    ) => {
        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(default, deny_unknown_fields)]
        $(#[$meta])*
        pub(in crate::notify::config) struct $name {
            $( $(#[$field_meta])* pub(in crate::notify::config) $field: $ty, )*
            $(
                #[serde(deserialize_with = "crate::notify::config::fields::present")]
                pub(in crate::notify::config) $refused: bool,
            )*
        }

        impl $name {
            /// The refused fields present, in declaration order, each with why.
            #[allow(dead_code)]
            pub(in crate::notify::config) fn refused(&self) -> Vec<(&'static str, &'static str)> {
                #[allow(unused_mut)]
                let mut out = Vec::new();
                $( if self.$refused { out.push((stringify!($refused), $reason)); } )*
                out
            }
        }
    };
}

pub(super) use yaml_struct;

/// A refused field is present: whatever it holds (read and dropped).
pub(super) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d)?;
    Ok(true)
}

/// A list or map that may be written `null` (`receivers:` with nothing after it), read as
/// empty, as Go's YAML decoder reads it.
pub(super) fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A duration in Go's notation (`time.ParseDuration`: `10s`, `1m30s`, `1.5s`, `250ms`), as
/// the integrations' `timeout` is written; held in milliseconds, a fraction of one rounded up
/// (so that a non-zero timeout stays one). `0` alone is zero; another number without a unit,
/// which Go's YAML decoder would read as nanoseconds, is refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct GoDuration(pub i64);

impl GoDuration {
    /// Parses Go's notation; a negative duration is refused (a timeout cannot be one).
    pub(super) fn parse(text: &str) -> Result<GoDuration, String> {
        const UNITS: [(&str, f64); 8] = [
            ("ns", 1e-6),
            ("us", 1e-3),
            ("µs", 1e-3),
            ("μs", 1e-3),
            ("ms", 1.0),
            ("s", 1e3),
            ("m", 60e3),
            ("h", 3600e3),
        ];
        let invalid = || format!("invalid duration {text:?} (write e.g. 10s, 1m30s or 500ms)");
        if text == "0" {
            return Ok(GoDuration(0));
        }
        if text.starts_with('-') {
            return Err(format!("negative duration {text:?}"));
        }
        let mut rest = text.strip_prefix('+').unwrap_or(text);
        if rest.is_empty() {
            return Err(invalid());
        }
        let mut ms = 0.0_f64;
        while !rest.is_empty() {
            let number_len = rest
                .bytes()
                .take_while(|b| b.is_ascii_digit() || *b == b'.')
                .count();
            let number = &rest[..number_len];
            if number.is_empty() || number == "." || number.matches('.').count() > 1 {
                return Err(invalid());
            }
            let value: f64 = number.parse().map_err(|_| invalid())?;
            rest = &rest[number_len..];
            let unit_len = rest
                .char_indices()
                .find(|(_, c)| c.is_ascii_digit() || *c == '.')
                .map_or(rest.len(), |(i, _)| i);
            let unit = &rest[..unit_len];
            let Some((_, unit_ms)) = UNITS.iter().find(|(name, _)| *name == unit) else {
                return Err(invalid());
            };
            rest = &rest[unit_len..];
            ms += value * unit_ms;
        }
        // Go's time.Duration is nanoseconds in an int64.
        if ms > i64::MAX as f64 / 1e6 {
            return Err(format!("duration {text:?} out of range"));
        }
        Ok(GoDuration(ms.ceil() as i64))
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(GoDurationVisitor)
    }
}

/// Reads [`GoDuration`] from a string, or `0`.
struct GoDurationVisitor;

impl Visitor<'_> for GoDurationVisitor {
    type Value = GoDuration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as 10s")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<GoDuration, E> {
        GoDuration::parse(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<GoDuration, E> {
        if v == 0 {
            return Ok(GoDuration(0));
        }
        Err(E::custom(format!(
            "duration {v} has no unit (Alertmanager would read it as {v} nanoseconds); \
             write e.g. {v}s"
        )))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<GoDuration, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(E::custom(format!("negative duration {v}"))),
        }
    }
}

/// A YAML scalar as text (keys of `details` and `body`), `None` for anything else.
pub(super) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => Some(String::new()),
        Value::Tagged(tagged) => scalar_text(&tagged.value),
        Value::Sequence(_) | Value::Mapping(_) => None,
    }
}
