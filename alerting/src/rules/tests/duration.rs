//! [`PromDuration`] reads and writes as Prometheus' `model.Duration` does.

use super::super::*;

const S: i64 = 1_000;
const M: i64 = 60 * S;
const H: i64 = 60 * M;
const D: i64 = 24 * H;
const W: i64 = 7 * D;
const Y: i64 = 365 * D;

#[test]
fn canonical_form() {
    for (ms, text) in [
        (0, "0s"),
        (1, "1ms"),
        (500, "500ms"),
        (S, "1s"),
        (M, "1m"),
        (M + 30 * S, "1m30s"),
        (H, "1h"),
        (H + 30 * M, "1h30m"),
        (D, "1d"),
        (W, "1w"),
        (2 * W, "2w"),
        (Y, "1y"),
        // Years and weeks only when exact: 90d, not 12w6d.
        (90 * D, "90d"),
        (8 * D, "8d"),
        (Y + D, "366d"),
        (2 * Y, "2y"),
        (D + H + M + S + 1, "1d1h1m1s1ms"),
        (36 * H, "1d12h"),
        (-M, "-1m"),
    ] {
        assert_eq!(PromDuration(ms).to_string(), text, "{ms} ms");
    }
}

#[test]
fn parses_prometheus_notation() {
    for (text, ms) in [
        ("0", 0),
        ("0s", 0),
        ("0ms", 0),
        ("500ms", 500),
        ("30s", 30 * S),
        ("5m", 5 * M),
        ("90m", 90 * M),
        ("1h30m", H + 30 * M),
        ("1d", D),
        ("1w", W),
        ("1y", Y),
        (
            "1y2w3d4h5m6s7ms",
            Y + 2 * W + 3 * D + 4 * H + 5 * M + 6 * S + 7,
        ),
        ("0001m", M),
        ("36h", 36 * H),
    ] {
        assert_eq!(PromDuration::parse(text), Ok(PromDuration(ms)), "{text}");
        assert_eq!(text.parse::<PromDuration>(), Ok(PromDuration(ms)), "{text}");
    }
}

#[test]
fn refuses_what_prometheus_refuses() {
    for text in [
        "1", "30", "-1s", "+1s", " 1s", "1m1h", "1s1s", "1ms1s", "1h1d", "s", "m5",
    ] {
        assert_eq!(
            PromDuration::parse(text),
            Err(format!("not a valid duration string: {text:?}")),
            "{text}"
        );
    }
    assert_eq!(
        PromDuration::parse(""),
        Err("empty duration string".to_string())
    );
    // Everything between digits is the unit, as in Go.
    for (text, unit) in [
        ("1s ", "s "),
        ("1 s", " s"),
        ("1.5h", "."),
        ("1h-1m", "h-"),
        ("1S", "S"),
        ("1H", "H"),
        ("5 minutes", " minutes"),
    ] {
        assert_eq!(
            PromDuration::parse(text),
            Err(format!("unknown unit {unit:?} in duration {text:?}")),
            "{text}"
        );
    }
    assert_eq!(
        PromDuration::parse("1x"),
        Err("unknown unit \"x\" in duration \"1x\"".to_string())
    );
    assert_eq!(
        PromDuration::parse("5us"),
        Err("unknown unit \"us\" in duration \"5us\"".to_string())
    );
    // Beyond Go's int64 nanoseconds (about 292 years).
    assert_eq!(PromDuration::parse("292y"), Ok(PromDuration(292 * Y)));
    assert_eq!(
        PromDuration::parse("293y"),
        Err("duration out of range".to_string())
    );
    assert_eq!(
        PromDuration::parse("99999999999999999999999y"),
        Err("not a valid duration string: \"99999999999999999999999y\"".to_string())
    );
}

#[test]
fn round_trips_through_text() {
    for ms in [
        0,
        1,
        999,
        S,
        61 * S,
        90 * D,
        12 * W + 6 * D,
        Y + 1,
        3 * Y + W,
        292 * Y,
    ] {
        let text = PromDuration(ms).to_string();
        assert_eq!(PromDuration::parse(&text), Ok(PromDuration(ms)), "{text}");
    }
}

#[test]
fn yaml_reads_strings_and_a_bare_zero() {
    let read = |yaml: &str| serde_yaml::from_str::<PromDuration>(yaml).map_err(|e| e.to_string());
    assert_eq!(read("1m"), Ok(PromDuration(M)));
    assert_eq!(read("'1m'"), Ok(PromDuration(M)));
    assert_eq!(read("0"), Ok(PromDuration(0)));
    let err = read("30").unwrap_err();
    assert!(err.contains("not a valid duration string: \"30\""), "{err}");
    assert!(read("[1m]").is_err());
    assert_eq!(
        serde_yaml::to_string(&PromDuration(H + 30 * M)).unwrap(),
        "1h30m\n"
    );
}

/// A binary format's deserializer, as bincode's: not human-readable, and it cannot be asked
/// what the next value is (`deserialize_any`).
struct Binary(String);

impl<'de> serde::Deserializer<'de> for Binary {
    type Error = serde::de::value::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(serde::de::Error::custom("deserialize_any is not supported"))
    }

    fn deserialize_string<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_string(self.0)
    }

    fn is_human_readable(&self) -> bool {
        false
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier
        ignored_any
    }
}

#[test]
fn binary_formats_read_text() {
    use serde::Deserialize;
    assert_eq!(
        PromDuration::deserialize(Binary("1h30m".into())),
        Ok(PromDuration(H + 30 * M))
    );
    assert!(PromDuration::deserialize(Binary("30".into())).is_err());
}
