//! Matcher tests. Cases marked "AM" are taken from Alertmanager 0.33's `pkg/labels` and
//! `matcher/parse` tests (`matcher_test.go`, `parse_test.go`).

use std::collections::BTreeMap;

use super::*;

fn m(name: &str, kind: MatchType, value: &str) -> Matcher {
    Matcher::new(name, kind, value).expect("valid matcher")
}

fn eq(name: &str, value: &str) -> Matcher {
    m(name, MatchType::Equal, value)
}

fn parsed(input: &str) -> Vec<Matcher> {
    match parse_matchers(input) {
        Ok(ms) => ms.0,
        Err(e) => panic!("{input:?} should parse: {e}"),
    }
}

fn parse_error(input: &str) -> String {
    match parse_matchers(input) {
        Ok(ms) => panic!("{input:?} should not parse, got {ms:?}"),
        Err(e) => e,
    }
}

use MatchType::{Equal, NotEqual, NotRegex, Regex as Re};

/// AM `TestMatcher`.
#[test]
fn matches_values() {
    let cases = [
        (Equal, "bar", "bar", true),
        (Equal, "bar", "foo-bar", false),
        (NotEqual, "bar", "bar", false),
        (NotEqual, "bar", "foo-bar", true),
        (Re, "bar", "bar", true),
        (Re, "bar", "foo-bar", false),
        (Re, ".*bar", "foo-bar", true),
        (NotRegex, "bar", "bar", false),
        (NotRegex, "bar", "foo-bar", true),
        (NotRegex, ".*bar", "foo-bar", false),
        (Re, "foo.bar", "foo-bar", true),
        (Re, r"foo\.bar", "foo-bar", false),
        (Re, r"foo\.bar", "foo.bar", true),
        (Equal, "foo\nbar", "foo\nbar", true),
        (Re, "foo.bar", "foo\nbar", false),
        (Re, "(?s)foo.bar", "foo\nbar", true),
        (Equal, "~!=\"", "~!=\"", true),
        // Anchoring: the whole value must match, alternatives included.
        (Re, "a|b", "ab", false),
        (Re, "a|b", "b", true),
        (Re, "", "", true),
        (NotRegex, "", "x", true),
    ];
    for (kind, value, input, want) in cases {
        let matcher = m("x", kind, value);
        assert_eq!(matcher.matches_value(input), want, "{matcher} on {input:?}");
    }
}

#[test]
fn missing_label_matches_as_empty() {
    let labels = Labels::from_pairs(&[("job", "api")]);
    assert!(eq("env", "").matches(&labels));
    assert!(eq("job", "api").matches(&labels));
    assert!(!eq("env", "prod").matches(&labels));
    assert!(m("env", NotEqual, "prod").matches(&labels));
    assert!(m("env", Re, "prod|").matches(&labels));
    let ms = Matchers(vec![eq("env", ""), m("job", Re, "a.+")]);
    assert!(ms.matches(&labels));
    assert!(!Matchers(vec![eq("env", ""), m("job", NotRegex, ".+")]).matches(&labels));
}

/// Go's RE2 reads `\d`, `\w`, `\s`, `\b` as ASCII; `\Q...\E` quotes; `[` in a class is a
/// literal.
#[test]
fn regexes_mean_what_they_mean_in_go() {
    let cases = [
        (r"\w+", "café", false),
        (r"\w+", "cafe_1", true),
        (r"(?i)\w", "K", true),
        (r"\d+", "١٢", false),
        (r"\d+", "12", true),
        (r"\D", "١", true),
        (r"a\sb", "a\x0bb", false),
        (r"a\sb", "a\tb", true),
        (r"a\Sb", "a\x0bb", true),
        (r"[\s]", "\x0b", false),
        (r"[\d\s]+", "1 2", true),
        (r"[^\w]", "é", true),
        (r"[\W]", "a", false),
        (r".*\bé", "xé", true),
        (r".*\bx", "éx", true),
        (r"\Qa.b\E", "a.b", true),
        (r"\Qa.b\E", "axb", false),
        (r"\Q(x", "(x", true),
        (r"[[]", "[", true),
        (r"[]a]+", "]a", true),
        (r"[a&&b]+", "a&b", true),
        (r"[a~~b]+", "~", true),
        (r"[[:alpha:]]+", "abc", true),
        (r"[[:^digit:]]", "a", true),
        (r"[[:nope:]]", "[]", true),
        (r"\101", "A", true),
        (r"\x41\x{42}", "AB", true),
        (r"\pL+", "été", true),
    ];
    for (pattern, input, want) in cases {
        let matcher = m("x", Re, pattern);
        assert_eq!(
            matcher.matches_value(input),
            want,
            "{pattern:?} on {input:?}"
        );
    }
}

#[test]
fn bad_regex_is_an_error_naming_the_matcher() {
    let err = Matcher::new("job", Re, "api[").unwrap_err();
    assert!(
        err.starts_with(r#"matcher job=~"api[": invalid regular expression"#),
        "{err}"
    );
    assert!(!err.contains('\n'), "{err}");
    let err = parse_error(r#"{foo=~"invalid[regexp"}"#);
    assert!(err.contains(r#"foo=~"invalid[regexp""#), "{err}");
    assert!(Matcher::new("job", Equal, "api[").is_ok());
}

#[test]
fn empty_name_is_refused() {
    assert!(
        Matcher::new("", Equal, "x")
            .unwrap_err()
            .contains("empty label name")
    );
    assert!(parse_matchers(r#"""="x""#).is_err());
}

/// AM `TestMatcherString`, plus quoting of control characters in quoted names' values.
#[test]
fn prints_as_alertmanager() {
    let cases = [
        (eq("foo", "bar"), r#"foo="bar""#),
        (m("foo", NotEqual, "bar"), r#"foo!="bar""#),
        (m("foo", Re, "bar"), r#"foo=~"bar""#),
        (m("foo", NotRegex, "bar"), r#"foo!~"bar""#),
        (eq("foo", r"back\slash"), r#"foo="back\\slash""#),
        (eq("foo", "double\"quote"), r#"foo="double\"quote""#),
        (eq("foo", "new\nline"), r#"foo="new\nline""#),
        (eq("foo", "tab\tstop"), "foo=\"tab\tstop\""),
        (eq("foo", "🙂"), r#"foo="🙂""#),
        (m("foo!", NotEqual, "bar"), r#""foo!"!="bar""#),
        (eq("foo🙂", "bar"), r#"foo🙂="bar""#),
        (eq("foo bar", "baz"), r#""foo bar"="baz""#),
        (eq("foo.bar", "baz"), r#"foo.bar="baz""#),
        (eq("a b", "tab\t\u{1}é"), r#""a b"="tab\t\x01é""#),
    ];
    for (matcher, want) in cases {
        assert_eq!(matcher.to_string(), want);
    }
    let ms = Matchers(vec![eq("a", "b"), m("c", Re, "d")]);
    assert_eq!(ms.to_string(), r#"{a="b",c=~"d"}"#);
    assert_eq!(Matchers::default().to_string(), "{}");
}

/// AM `TestMatchers` (classic parser) cases that succeed.
#[test]
fn parses_classic_syntax() {
    let cases: Vec<(&str, Vec<Matcher>)> = vec![
        ("{}", vec![]),
        ("", vec![]),
        ("{foo='}", vec![eq("foo", "'")]),
        ("{foo=`}", vec![eq("foo", "`")]),
        ("{foo=\\\"}", vec![eq("foo", "\"")]),
        ("{foo=bar}", vec![eq("foo", "bar")]),
        (r#"{foo="bar"}"#, vec![eq("foo", "bar")]),
        ("{foo=~bar.*}", vec![m("foo", Re, "bar.*")]),
        (r#"{foo=~"bar.*"}"#, vec![m("foo", Re, "bar.*")]),
        ("{foo!=bar}", vec![m("foo", NotEqual, "bar")]),
        (r#"{foo!~"bar.*"}"#, vec![m("foo", NotRegex, "bar.*")]),
        (
            r#"{foo="bar",baz!~".*quux", derp="wat"}"#,
            vec![
                eq("foo", "bar"),
                m("baz", NotRegex, ".*quux"),
                eq("derp", "wat"),
            ],
        ),
        (r#"{foo=""}"#, vec![eq("foo", "")]),
        (
            r#"{foo="bar,quux", job="job1"}"#,
            vec![eq("foo", "bar,quux"), eq("job", "job1")],
        ),
        (
            r#"{foo = "bar", dings != "bums", }"#,
            vec![eq("foo", "bar"), m("dings", NotEqual, "bums")],
        ),
        (
            "foo=bar,dings!=bums",
            vec![eq("foo", "bar"), m("dings", NotEqual, "bums")],
        ),
        (
            r#"{quote="She said: \"Hi, ladies! That's gender-neutral…\""}"#,
            vec![eq(
                "quote",
                "She said: \"Hi, ladies! That's gender-neutral…\"",
            )],
        ),
        (r#"statuscode=~"5..""#, vec![m("statuscode", Re, "5..")]),
        ("tricky=~~~", vec![m("tricky", Re, "~~")]),
        (r#"trickier==\\=\=\""#, vec![eq("trickier", r#"=\=\=""#)]),
        (
            r#"contains_quote != "\"" , contains_comma !~ "foo,bar" , "#,
            vec![
                m("contains_quote", NotEqual, "\""),
                m("contains_comma", NotRegex, "foo,bar"),
            ],
        ),
        ("{foo=bar}}", vec![eq("foo", "bar}")]),
        ("{foo=bar}},}", vec![eq("foo", "bar}}")]),
        ("{foo=,bar=}}", vec![eq("foo", ""), eq("bar", "}")]),
        (r"{foo=bar\t}", vec![eq("foo", r"bar\t")]),
        (r"{foo=bar\n}", vec![eq("foo", "bar\n")]),
        (r"{foo=bar\}", vec![eq("foo", r"bar\")]),
        (r"{foo=bar\\}", vec![eq("foo", r"bar\")]),
        (r#"{foo=bar\"}"#, vec![eq("foo", "bar\"")]),
        ("job=", vec![eq("job", "")]),
        ("{foo=", vec![eq("foo", "")]),
        ("{foo=}b", vec![eq("foo", "}b")]),
        // One brace alone is dropped, leaving nothing.
        ("{", vec![]),
        ("}", vec![]),
        ("ns:metric=a", vec![eq("ns:metric", "a")]),
        ("  foo  =~  \"a b\"  ", vec![m("foo", Re, "a b")]),
    ];
    for (input, want) in cases {
        assert_eq!(parsed(input), want, "{input:?}");
    }
}

/// AM `TestMatchers` (classic parser) cases that fail, and fail in the UTF-8 parser too.
#[test]
fn refuses_bad_classic_syntax() {
    let cases = [
        (",", "bad matcher format: "),
        ("{,}", "bad matcher format: "),
        (
            r#"job="value"#,
            r#"matcher value contains unescaped double quote: "value"#,
        ),
        (
            r#"job=value""#,
            r#"matcher value contains unescaped double quote: value""#,
        ),
        (r#"trickier==\\=\=\"""#, "unescaped double quote"),
        (
            r#"contains_unescaped_quote = foo"bar"#,
            r#"unescaped double quote: foo"bar"#,
        ),
        (r#""{foo=\"bar"}"#, "bad matcher format"),
        (r#""foo=\"bar\"""#, "bad matcher format"),
        (r#""foo="bar"""#, "bad matcher format"),
        ("{{foo=", "bad matcher format: {foo="),
        ("a=b,,c=d", "bad matcher format: "),
    ];
    for (input, want) in cases {
        let err = parse_error(input);
        assert!(
            err.contains(want),
            "{input:?}: {err:?} should contain {want:?}"
        );
    }
}

/// AM `matcher/parse` cases the classic parser refuses: quoted names, Go escapes.
#[test]
fn parses_utf8_syntax() {
    let cases: Vec<(&str, Vec<Matcher>)> = vec![
        (r#"{"foo"="bar"}"#, vec![eq("foo", "bar")]),
        (r#"{"foo"="bar",}"#, vec![eq("foo", "bar")]),
        (r#"{"foo"=~"\\d+"}"#, vec![m("foo", Re, r"\d+")]),
        (r#"{"foo"="\xf0\x9f\x99\x82"}"#, vec![eq("foo", "🙂")]),
        (r#"{"foo"="\U0001f642"}"#, vec![eq("foo", "🙂")]),
        (r#"{"foo"="bar\t"}"#, vec![eq("foo", "bar\t")]),
        (r#"{"foo"="\"bar\""}"#, vec![eq("foo", "\"bar\"")]),
        (r#""foo"="bar","#, vec![eq("foo", "bar")]),
        (
            r#""foo bar"!~"a\101\u00e9""#,
            vec![m("foo bar", NotRegex, "aAé")],
        ),
        (r#"{"a"="1", b="2"}"#, vec![eq("a", "1"), eq("b", "2")]),
        ("{foo.bar=baz}", vec![eq("foo.bar", "baz")]),
        ("🙂=x", vec![eq("🙂", "x")]),
        (" { \"a\" = b , } ", vec![eq("a", "b")]),
        // The classic parser refuses the hyphen; the UTF-8 parser accepts it unquoted.
        (
            r#"{invalid-name = "valid label"}"#,
            vec![eq("invalid-name", "valid label")],
        ),
    ];
    for (input, want) in cases {
        assert_eq!(parsed(input), want, "{input:?}");
    }
}

/// Inputs both parsers refuse: the UTF-8 parser's grammar errors (AM `matcher/parse`).
#[test]
fn refuses_input_neither_parser_accepts() {
    for input in [
        r#"{"foo"=~"\d+"}"#,
        r#"{"foo"="\xf0\x9f"}"#,
        r#"{"foo"="bar"#,
        r#""a"="b" "c""#,
        r#""a"!"b""#,
        "{\"a\"=\"line\nbreak\"}",
    ] {
        assert!(parse_matchers(input).is_err(), "{input:?}");
    }
}

/// Where both parsers accept an input but read it differently, the classic reading wins,
/// as in Alertmanager's fallback mode.
#[test]
fn classic_reading_wins_when_both_accept() {
    assert_eq!(parsed(r#"foo="\t""#), vec![eq("foo", r"\t")]);
    assert_eq!(parsed(r#"foo="a\x41""#), vec![eq("foo", r"a\x41")]);
}

#[test]
fn parses_one_matcher() {
    assert_eq!(parse_matcher(r#"foo="bar""#), Ok(eq("foo", "bar")));
    assert_eq!(parse_matcher("foo=bar,baz=1"), Ok(eq("foo", "bar,baz=1")));
    assert_eq!(parse_matcher(r#""a b"="c""#), Ok(eq("a b", "c")));
    assert!(parse_matcher("{foo=bar}").unwrap_err().contains("brace"));
    assert!(parse_matcher("foo=bar}").is_err());
    let err = parse_matcher(r#""a"="b","c"="d""#).unwrap_err();
    assert!(err.contains("expected 1 matcher, found 2"), "{err}");
    assert!(parse_matcher("").is_err());
}

#[test]
fn matcher_list_is_concatenated_and_sorted() {
    let lines = vec![
        r#"service=~"api|web", env="prod""#.to_string(),
        "{alertname=Down}".to_string(),
        r#""team x"!="ops""#.to_string(),
    ];
    let got = parse_matcher_list(&lines).unwrap();
    let want = vec![
        eq("alertname", "Down"),
        eq("env", "prod"),
        m("service", Re, "api|web"),
        m("team x", NotEqual, "ops"),
    ];
    assert_eq!(got, want);
    let bad = vec!["a=b".to_string(), "c=~\"(\"".to_string()];
    assert!(parse_matcher_list(&bad).unwrap_err().contains(r#"c=~"(""#));
}

/// Alertmanager's `Matchers.Less`: name, then value, then type (`=` `!=` `=~` `!~`).
#[test]
fn sorts_as_alertmanager() {
    let mut ms = [
        m("b", Equal, "1"),
        m("a", NotRegex, "x"),
        m("a", Equal, "y"),
        m("a", Re, "x"),
        m("a", NotEqual, "x"),
        m("a", Equal, "x"),
        m("B", Equal, "9"),
    ];
    ms.sort();
    let printed: Vec<String> = ms.iter().map(ToString::to_string).collect();
    let want = [
        r#"B="9""#,
        r#"a="x""#,
        r#"a!="x""#,
        r#"a=~"x""#,
        r#"a!~"x""#,
        r#"a="y""#,
        r#"b="1""#,
    ];
    assert_eq!(printed, want);
    assert_eq!(m("a", Re, "x"), m("a", Re, "x"));
    assert_ne!(m("a", Re, "x"), m("a", NotRegex, "x"));
}

#[test]
fn converts_legacy_maps() {
    let mut eqs = BTreeMap::new();
    eqs.insert("service".to_string(), "api".to_string());
    eqs.insert("env".to_string(), "prod".to_string());
    let mut res = BTreeMap::new();
    res.insert("team".to_string(), "a|b".to_string());
    res.insert("cluster".to_string(), "eu-.*".to_string());
    let got = from_legacy(&eqs, &res).unwrap();
    let printed: Vec<String> = got.iter().map(ToString::to_string).collect();
    let want = [
        r#"env="prod""#,
        r#"service="api""#,
        r#"cluster=~"^(?:eu-.*)$""#,
        r#"team=~"^(?:a|b)$""#,
    ];
    assert_eq!(printed, want);
    assert!(got[3].matches_value("b") && !got[3].matches_value("ab"));

    let mut bad = BTreeMap::new();
    bad.insert("a:b".to_string(), "x".to_string());
    assert!(
        from_legacy(&bad, &BTreeMap::new())
            .unwrap_err()
            .contains("invalid label name")
    );
    bad.clear();
    bad.insert("job".to_string(), "(".to_string());
    let err = from_legacy(&BTreeMap::new(), &bad).unwrap_err();
    assert!(err.contains("match_re") && err.contains("job"), "{err}");
}

/// Names and values that stress printing and parsing.
fn tricky_matchers() -> Vec<Matcher> {
    let names = [
        "job",
        "ns:x",
        "foo.bar",
        "🙂",
        "a b",
        "x\"y",
        "{}",
        "a\\b",
        "a\nb",
        "é\u{2028}",
    ];
    let values = [
        "",
        "plain",
        "with \"quotes\"",
        r"back\slash\",
        "new\nline\r\n",
        "\ttab and trailing space ",
        " leading",
        "a,b}{",
        "ünïcödé 🙂 \u{0} \u{7f} \u{a0} \u{feff}",
        r#"\"\n\\"#,
        "=~!=",
    ];
    let mut out = Vec::new();
    for name in names {
        for value in values {
            for kind in [Equal, NotEqual] {
                out.push(m(name, kind, value));
            }
        }
        out.push(m(name, Re, r"a\.b|c\d+|\Q.\E"));
        out.push(m(name, NotRegex, "\"x\"\n.*"));
    }
    out
}

#[test]
fn printed_form_parses_back_exactly() {
    for matcher in tricky_matchers() {
        let text = matcher.to_string();
        let back = parse_matcher(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(back, matcher, "{text:?}");
        let list = parse_matchers(&format!("{{{text},{text}}}")).unwrap();
        assert_eq!(list.0, vec![matcher.clone(), matcher.clone()], "{text:?}");
    }
}

#[test]
fn serde_round_trips_exactly() {
    let all = Matchers(tricky_matchers());
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(&all, config).unwrap();
    let (back, _): (Matchers, usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
    assert_eq!(back, all);
    for (a, b) in back.0.iter().zip(&all.0) {
        assert_eq!((&a.name, a.kind, &a.value), (&b.name, b.kind, &b.value));
        assert_eq!(a.matches_value("a.b"), b.matches_value("a.b"));
    }
    let json = serde_json::to_string(&all).unwrap();
    assert_eq!(serde_json::from_str::<Matchers>(&json).unwrap(), all);
    let yaml = serde_yaml::to_string(&all).unwrap();
    assert_eq!(serde_yaml::from_str::<Matchers>(&yaml).unwrap(), all);
    assert_eq!(
        serde_json::to_string(&eq("a", "b")).unwrap(),
        r#""a=\"b\"""#
    );
    assert!(serde_json::from_str::<Matcher>(r#""a=~\"(\"""#).is_err());
}
