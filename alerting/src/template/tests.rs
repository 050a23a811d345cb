//! Template tests. The first group are the cases of Prometheus' own `template/template_test.go`
//! (v3.5 and main), with its expected outputs and error messages unchanged; skipped there:
//! HTML-mode cases (`ExpandHTML`, `tmpl`), native histograms, `missingkey=error`, and inputs of
//! Go types a template cannot be handed here (`[]uint64` beyond `i64`). Then alert expansion as
//! the ruler calls it, with annotations as the mixins write them, and Go semantics.

use std::collections::BTreeMap;

use tidemark_storage::Labels;

use super::*;
use crate::Vector;

mod go;

/// Answers every query with fixed data; `fail` answers with an error.
struct FixedQuery(Vector);

impl QueryFn for FixedQuery {
    fn instant(&self, expr: &str, _t_ms: i64) -> Result<Vector, String> {
        if expr == "fail" {
            return Err("query timed out".into());
        }
        Ok(self.0.clone())
    }
}

/// Prometheus' test timestamp and external URL.
const T_MS: i64 = 1_353_755_652_000;
const EXTERNAL_URL: &str = "http://testhost:9090/path/prefix";

fn series(pairs: &[(&str, &str)], v: f64) -> (Labels, f64) {
    (Labels::from_pairs(pairs), v)
}

/// Expands like Prometheus' `Expander.Expand` with template name `test`.
fn run_with(text: &str, data: Value, result: Vector) -> Result<String, String> {
    let query = FixedQuery(result);
    let env = Env {
        query: &query,
        t_ms: T_MS,
        external_url: EXTERNAL_URL,
    };
    let tmpl =
        Template::parse("test", text).map_err(|e| format!("error parsing template test: {e}"))?;
    tmpl.execute(data, &env)
        .map_err(|e| format!("error executing template test: {e}"))
}

fn run(text: &str, data: Value) -> Result<String, String> {
    run_with(text, data, Vec::new())
}

fn ok(text: &str, data: Value) -> String {
    run(text, data).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn floats(v: &[f64]) -> Value {
    v.iter()
        .map(|f| Value::Float(*f))
        .collect::<Vec<_>>()
        .into()
}

fn ints(v: &[i64]) -> Value {
    v.iter().map(|i| Value::Int(*i)).collect::<Vec<_>>().into()
}

fn strs(v: &[&str]) -> Value {
    v.iter().map(|s| Value::str(*s)).collect::<Vec<_>>().into()
}

#[test]
fn prometheus_basics() {
    assert_eq!(ok("plain text", Value::Nil), "plain text");
    assert_eq!(ok("{{ 1 }}", Value::Nil), "1");
    assert_eq!(ok("{{ \"<b>\" }}", Value::Nil), "<b>");
    assert_eq!(ok("{{ .Foo }}", Value::Nil), "<no value>");
    let args = "{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}";
    assert_eq!(ok(args, Value::Nil), "1 2");
    assert_eq!(
        run("{{\u{a0}}}", Value::Nil).unwrap_err(),
        "error parsing template test: template: test:1: unrecognized character in action: U+00A0"
    );
    assert_eq!(
        run("{{", Value::Nil).unwrap_err(),
        "error parsing template test: template: test:1: unclosed action"
    );
    assert_eq!(
        ok("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", Value::Nil),
        "xa"
    );
    assert_eq!(ok("{{ \"aa bb CC\" | title }}", Value::Nil), "Aa Bb CC");
    assert_eq!(ok("{{ \"aa bb CC\" | toUpper }}", Value::Nil), "AA BB CC");
    assert_eq!(ok("{{ \"aA bB CC\" | toLower }}", Value::Nil), "aa bb cc");
    assert_eq!(
        ok(
            "{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}",
            Value::Nil
        ),
        "true false"
    );
    assert_eq!(
        ok("{{ graphLink \"up\" }}", Value::Nil),
        "/graph?g0.expr=up&g0.tab=0"
    );
    assert_eq!(
        ok("{{ tableLink \"up\" }}", Value::Nil),
        "/graph?g0.expr=up&g0.tab=1"
    );
    assert_eq!(ok("{{ pathPrefix }}", Value::Nil), "/path/prefix");
    assert_eq!(ok("{{ externalURL }}", Value::Nil), EXTERNAL_URL);
    assert_eq!(
        ok(
            "{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}",
            Value::Nil
        ),
        "3720.01"
    );
    assert_eq!(
        ok(
            "{{ printf \"%0.2f\" (parseDuration \"-1h2m10ms\") }}",
            Value::Nil
        ),
        "-3720.01"
    );
}

#[test]
fn prometheus_queries() {
    let a = || vec![series(&[("__name__", "metric"), ("instance", "a")], 11.0)];
    let q = |text: &str, result: Vector| run_with(text, Value::Nil, result);
    assert_eq!(
        q(
            "{{ query \"1.5\" | first | value }}",
            vec![series(&[], 1.5)]
        )
        .unwrap(),
        "1.5"
    );
    assert_eq!(
        q("{{ query \"metric{instance='a'}\" | first | value }}", a()).unwrap(),
        "11"
    );
    assert_eq!(
        q(
            "{{ query \"metric{instance='a'}\" | first | label \"instance\" }}",
            a()
        )
        .unwrap(),
        "a"
    );
    assert_eq!(
        q(
            "{{ query \"metric{instance='a'}\" | first | label \"foo\" }}",
            a()
        )
        .unwrap(),
        ""
    );
    assert_eq!(
        q(
            "{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}",
            a()
        )
        .unwrap(),
        ""
    );
    let strvalue = vec![series(&[("__name__", "metric"), ("__value__", "a")], 11.0)];
    assert_eq!(
        q(
            "{{ query \"metric{__value__='a'}\" | first | strvalue }}",
            strvalue
        )
        .unwrap(),
        "a"
    );
    let two = vec![
        series(&[("__name__", "metric"), ("instance", "b")], 21.0),
        series(&[("__name__", "metric"), ("instance", "a")], 11.0),
    ];
    let sorted = "{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}";
    assert_eq!(q(sorted, two).unwrap(), "a:11: b:21: ");
    assert_eq!(
        q("{{ query \"missing\" | first }}", Vec::new()).unwrap_err(),
        "error executing template test: template: test:1:21: executing \"test\" at <first>: \
         error calling first: first() called on vector with no elements"
    );
    assert_eq!(
        q("{{ (query \"missing\").banana }}", Vec::new()).unwrap_err(),
        "error executing template test: template: test:1:10: executing \"test\" at <\"missing\">: \
         can't evaluate field banana in type template.queryResult"
    );
}

#[test]
fn prometheus_host_functions() {
    let cases = [
        ("foo.example.com", "foo.example.com", "foo"),
        ("foo.example.com:12345", "foo.example.com", "foo:12345"),
        ("192.0.2.1", "192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:12345", "192.0.2.1", "192.0.2.1:12345"),
        ("2001:0DB8::1", "2001:0DB8::1", "2001:0DB8::1"),
        (
            "[2001:0DB8::1]:12345",
            "2001:0DB8::1",
            "[2001:0DB8::1]:12345",
        ),
        (
            "[2001:0DB8::1]::12345",
            "[2001:0DB8::1]::12345",
            "[2001:0DB8::1]::12345",
        ),
    ];
    for (input, port, domain) in cases {
        assert_eq!(
            ok(&format!("{{{{ {input:?} | stripPort }}}}"), Value::Nil),
            port,
            "{input}"
        );
        assert_eq!(
            ok(&format!("{{{{ {input:?} | stripDomain }}}}"), Value::Nil),
            domain,
            "{input}"
        );
    }
}

#[test]
fn prometheus_humanize() {
    let each = |f: &str, data: Value| {
        ok(
            &format!("{{{{ range . }}}}{{{{ {f} . }}}}:{{{{ end }}}}"),
            data,
        )
    };
    assert_eq!(
        each("humanize", floats(&[0.0, 1.0, 1234567.0, 0.12])),
        "0:1:1.235M:120m:"
    );
    assert_eq!(
        each("humanize", strs(&["0.0", "1.0", "1234567.0", ".12"])),
        "0:1:1.235M:120m:"
    );
    assert_eq!(
        each("humanize", ints(&[0, -1, 1, 1234567, i64::MAX])),
        "0:-1:1:1.235M:9.223E:"
    );
    assert_eq!(
        each("humanize1024", floats(&[0.0, 1.0, 1048576.0, 0.12])),
        "0:1:1Mi:0.12:"
    );
    assert_eq!(
        each("humanize1024", strs(&["0.0", "1.0", "1048576.0", ".12"])),
        "0:1:1Mi:0.12:"
    );
    assert_eq!(
        each("humanize1024", ints(&[0, -1, 1, 1234567, i64::MAX])),
        "0:-1:1:1.177Mi:8Ei:"
    );
    let durations = [
        0.0,
        1.0,
        60.0,
        3600.0,
        86400.0,
        86400.0 + 3600.0,
        -(86400.0 * 2.0 + 3600.0 * 3.0 + 240.0 + 5.0),
        899.99,
    ];
    assert_eq!(
        each("humanizeDuration", floats(&durations)),
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:"
    );
    assert_eq!(
        each("humanizeDuration", strs(&["0", "1", "60", "3600", "86400"])),
        "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:"
    );
    let subsecond = "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:";
    assert_eq!(
        each(
            "humanizeDuration",
            floats(&[0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345])
        ),
        subsecond
    );
    assert_eq!(
        each(
            "humanizeDuration",
            strs(&[".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"])
        ),
        subsecond
    );
    assert_eq!(
        each("humanizeDuration", ints(&[0, -1, 1, 1234567])),
        "0s:-1s:1s:14d 6h 56m 7s:"
    );
    let all = "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}";
    let special = "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:";
    assert_eq!(
        ok(all, floats(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN])),
        special
    );
    assert_eq!(ok(all, strs(&["+Inf", "-Inf", "NaN"])), special);
    let pct = "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}";
    assert_eq!(ok(pct, Value::Nil), "-22.22%:0%:12.35%:123.5%");
    let pct_str = r#"{{ "-0.22222" | humanizePercentage }}:{{ "0.0" | humanizePercentage }}:{{ "0.1234567" | humanizePercentage }}:{{ "1.23456" | humanizePercentage }}"#;
    assert_eq!(ok(pct_str, Value::Nil), "-22.22%:0%:12.35%:123.5%");
    assert_eq!(
        each("humanizePercentage", ints(&[0, -1, 1, 1234567, i64::MAX])),
        "0%:-100%:100%:1.235e+08%:9.223e+20%:"
    );
    for f in ["humanize", "humanize1024", "humanizeDuration"] {
        assert_eq!(
            run(&format!("{{{{ {f} \"one\" }}}}"), Value::Nil).unwrap_err(),
            format!(
                "error executing template test: template: test:1:3: executing \"test\" at <{f} \"one\">: \
                 error calling {f}: strconv.ParseFloat: parsing \"one\": invalid syntax"
            )
        );
    }
    assert_eq!(
        run(r#"{{ "one" | humanizePercentage }}"#, Value::Nil).unwrap_err(),
        "error executing template test: template: test:1:11: executing \"test\" at <humanizePercentage>: \
         error calling humanizePercentage: strconv.ParseFloat: parsing \"one\": invalid syntax"
    );
}

#[test]
fn prometheus_time_functions() {
    let each = "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}";
    assert_eq!(
        ok(each, ints(&[0, -1, 1, 1234567, 9223372036])),
        "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:\
         1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:"
    );
    assert_eq!(
        run(each, ints(&[i64::MIN, i64::MAX])).unwrap_err(),
        "error executing template test: template: test:1:16: executing \"test\" at <humanizeTimestamp .>: \
         error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds \
         timestamp since it overflows int64"
    );
    assert_eq!(
        ok("{{ 1435065584.128 | humanizeTimestamp }}", Value::Nil),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(
        ok(r#"{{ "1435065584.128" | humanizeTimestamp }}"#, Value::Nil),
        "2015-06-23 13:19:44.128 +0000 UTC"
    );
    assert_eq!(
        ok(
            r#"{{ (1435065584.128 | toTime).Format "2006" }}"#,
            Value::Nil
        ),
        "2015"
    );
    assert_eq!(
        ok(
            r#"{{ ("1435065584.128" | toTime).Format "2006" }}"#,
            Value::Nil
        ),
        "2015"
    );
    assert_eq!(ok("{{ (1800 | toDuration).String }}", Value::Nil), "30m0s");
    assert_eq!(
        ok(r#"{{ ("1800" | toDuration).String }}"#, Value::Nil),
        "30m0s"
    );
    assert_eq!(ok("{{ now }}", Value::Nil), "1.353755652e+09");
    assert_eq!(
        ok(
            r#"{{ (now | toTime).Format "Mon Jan 2 15:04:05 2006" }}"#,
            Value::Nil
        ),
        "Sat Nov 24 11:14:12 2012"
    );
    let ago = r#"{{ ("-30m" | parseDuration | toDuration | (now | toTime).Add).UnixMilli }}"#;
    assert_eq!(ok(ago, Value::Nil), "1353753852000");
    assert_eq!(
        ok(
            r#"{{ (1657155181 | toTime).Format "2006-01-02T15:04:05Z07:00" }}"#,
            Value::Nil
        ),
        "2022-07-07T00:53:01Z"
    );
    assert_eq!(
        ok("{{ 1657155181.5 | toTime }}", Value::Nil),
        "2022-07-07 00:53:01.5 +0000 UTC"
    );
}

/// The data of an alert on `node1:9100` with value 0.5.
fn alert_expand(text: &str, value: f64, result: Vector) -> Result<String, String> {
    let labels = Labels::from_pairs(&[
        ("__name__", "up"),
        ("instance", "node1:9100"),
        ("job", "node"),
    ]);
    let external: BTreeMap<String, String> = [("cluster".to_string(), "eu-1".to_string())].into();
    let data = AlertData {
        labels: &labels,
        external_labels: &external,
        external_url: EXTERNAL_URL,
        value,
        histogram: None,
    };
    expand_alert("NodeDown", text, &data, T_MS, &FixedQuery(result))
}

fn alert(text: &str) -> String {
    alert_expand(text, 0.5, Vec::new()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn alert_annotations_as_mixins_write_them() {
    assert_eq!(
        alert("{{ $labels.instance }} has {{ printf \"%.2f\" $value }}% free"),
        "node1:9100 has 0.50% free"
    );
    assert_eq!(
        alert("{{ $labels.job }}/{{ .Labels.instance }} = {{ $value }}"),
        "node/node1:9100 = 0.5"
    );
    assert_eq!(
        alert("{{ $externalLabels.cluster }} {{ $externalURL }}"),
        "eu-1 http://testhost:9090/path/prefix"
    );
    assert_eq!(alert("{{ $value | humanizePercentage }}"), "50%");
    assert_eq!(alert("{{ printf \"%.0f\" $value }}"), "0");
    assert_eq!(
        alert("{{ range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end }}"),
        "__name__=up instance=node1:9100 job=node "
    );
    assert_eq!(
        alert("{{ range $labels }}{{ . }},{{ end }}"),
        "up,node1:9100,node,"
    );
    assert_eq!(
        alert("{{ index $labels \"instance\" }}|{{ index $labels \"missing\" }}|"),
        "node1:9100||"
    );
    assert_eq!(alert("{{ $labels.instance | stripPort }}"), "node1");
    assert_eq!(
        alert("{{ if gt $value 0.4 }}high{{ else }}low{{ end }}"),
        "high"
    );
    assert_eq!(
        alert("{{ if eq $labels.job \"node\" }}node{{ end }}"),
        "node"
    );
    assert_eq!(
        alert("{{- /* a comment */ -}}\n  {{ $labels.job -}}\n  !"),
        "node!"
    );
    let with_query = "{{ with query \"up\" }}{{ . | first | value | humanize }}{{ end }}";
    let result = vec![series(&[("__name__", "up")], 1234567.0)];
    assert_eq!(alert_expand(with_query, 0.5, result).unwrap(), "1.235M");
    assert_eq!(alert_expand(with_query, 0.5, Vec::new()).unwrap(), "");
    let with_else = "{{ with query \"up\" }}{{ . | first | value }}{{ else }}no data{{ end }}";
    assert_eq!(alert_expand(with_else, 0.5, Vec::new()).unwrap(), "no data");
    let range = "{{ range query \"up\" }}{{ .Labels.instance }}={{ .Value | humanize }};{{ end }}";
    let two = vec![
        series(&[("instance", "a")], 0.012),
        series(&[("instance", "b")], 2048.0),
    ];
    assert_eq!(alert_expand(range, 0.5, two).unwrap(), "a=12m;b=2.048k;");
}

#[test]
fn alert_value_printing() {
    for (v, want) in [
        (0.5, "0.5"),
        (1e6, "1e+06"),
        (123456.0, "123456"),
        (1.2345e-05, "1.2345e-05"),
        (0.0001, "0.0001"),
        (42.0, "42"),
        (-3.25, "-3.25"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
    ] {
        assert_eq!(
            alert_expand("{{ $value }}", v, Vec::new()).unwrap(),
            want,
            "{v}"
        );
    }
    for (text, want) in [
        ("{{ humanize 1234567.0 }}", "1.235M"),
        ("{{ humanize 0.012 }}", "12m"),
        ("{{ humanizeDuration 90 }}", "1m 30s"),
        ("{{ humanizePercentage 0.1234 }}", "12.34%"),
        ("{{ humanize1024 1024 }}", "1ki"),
        ("{{ humanize1024 1073741824.0 }}", "1Gi"),
        // Prometheus truncates to milliseconds after `v * 1e9`: .781 is .78099... here.
        (
            "{{ humanizeTimestamp 1435781451.781 }}",
            "2015-07-01 20:10:51.78 +0000 UTC",
        ),
        (
            "{{ humanizeTimestamp 1435781451.5 }}",
            "2015-07-01 20:10:51.5 +0000 UTC",
        ),
        ("{{ 90 | humanizeDuration }}", "1m 30s"),
    ] {
        assert_eq!(alert(text), want, "{text}");
    }
}

#[test]
fn alert_errors() {
    assert_eq!(
        alert_expand("{{ $value | toUpper }}", 0.5, Vec::new()).unwrap_err(),
        "error executing template __alert_NodeDown: template: __alert_NodeDown:1:124: executing \
         \"__alert_NodeDown\" at <toUpper>: wrong type for value; expected string; got float64"
    );
    assert_eq!(
        alert_expand("{{ query \"fail\" }}", 0.5, Vec::new()).unwrap_err(),
        "error executing template __alert_NodeDown: template: __alert_NodeDown:1:115: executing \
         \"__alert_NodeDown\" at <query \"fail\">: error calling query: query timed out"
    );
    assert_eq!(
        alert_expand("{{ if gt $value 1 }}x{{ end }}", 0.5, Vec::new()).unwrap_err(),
        "error executing template __alert_NodeDown: template: __alert_NodeDown:1:118: executing \
         \"__alert_NodeDown\" at <gt $value 1>: error calling gt: incompatible types for comparison"
    );
    assert_eq!(
        alert_expand("{{ foo }}", 0.5, Vec::new()).unwrap_err(),
        "error parsing template __alert_NodeDown: template: __alert_NodeDown:1: function \"foo\" not defined"
    );
    assert_eq!(
        check_alert("{{ foo $labels }}").unwrap_err(),
        "template: __alert_:1: function \"foo\" not defined"
    );
    assert_eq!(
        check_alert_named("X", "ok\n{{ $nope }}").unwrap_err(),
        "template: __alert_X:2: undefined variable \"$nope\""
    );
    assert_eq!(
        check_alert_named("X", "{{ if 1 }}").unwrap_err(),
        "template: __alert_X:1: unexpected EOF"
    );
    assert_eq!(
        check_alert_named("X", "{{ end }}").unwrap_err(),
        "template: __alert_X:1: unexpected {{end}}"
    );
    assert_eq!(
        check_alert_named("X", "{{ tmpl \"a\" . }}").unwrap_err(),
        "template: __alert_X:1: function \"tmpl\" not defined"
    );
    assert_eq!(
        check_alert_named("X", "{{ break }}").unwrap_err(),
        "template: __alert_X:1: {{break}} outside {{range}}"
    );
    assert_eq!(
        check_alert_named("X", "{{ 1 | 2 }}").unwrap_err(),
        "template: __alert_X:1: non executable command in pipeline stage 2"
    );
    assert_eq!(
        check_alert_named("X", "{{ \"a }}").unwrap_err(),
        "template: __alert_X:1: unterminated quoted string"
    );
    assert_eq!(
        check_alert_named("X", "{{ ( 1 }}").unwrap_err(),
        "template: __alert_X:1: unclosed left paren"
    );
    assert_eq!(
        check_alert_named("X", "{{/* x */ 1 }}").unwrap_err(),
        "template: __alert_X:1: comment ends before closing delimiter"
    );
    assert!(
        check_alert("{{ $labels.instance }} is {{ $value | humanize }} {{ $externalLabels.x }}")
            .is_ok()
    );
    assert!(check_alert("").is_ok());
    let multi = run_with("line1\n{{ query \"x\" | first }}", Value::Nil, Vec::new()).unwrap_err();
    assert!(
        multi.contains("template: test:2:15: executing \"test\" at <first>"),
        "{multi}"
    );
}

/// Answers with one float and one native histogram element.
struct HistogramQuery;

impl QueryFn for HistogramQuery {
    fn instant(&self, _expr: &str, _t_ms: i64) -> Result<Vector, String> {
        Ok(vec![series(&[("__name__", "f")], 2.0)])
    }

    fn elements(&self, _expr: &str, _t_ms: i64) -> Result<crate::Elements, String> {
        Ok(vec![
            (
                Labels::from_pairs(&[("__name__", "f")]),
                crate::Element::Float(2.0),
            ),
            (
                Labels::from_pairs(&[("__name__", "h")]),
                crate::Element::Histogram(Box::new(crate::RuleHistogram {
                    h: Default::default(),
                    text: "{count:1, sum:2}".into(),
                })),
            ),
        ])
    }
}

/// `query` hands templates histogram elements too, `.Value` printed as Go prints the
/// histogram (Prometheus 3.5's `template.query`).
#[test]
fn query_results_carry_native_histograms() {
    let env = Env {
        query: &HistogramQuery,
        t_ms: T_MS,
        external_url: EXTERNAL_URL,
    };
    let text = r#"{{ range query "x" }}{{ .Labels.__name__ }}={{ .Value }};{{ end }}{{ with query "x" }}{{ len . }}{{ end }}"#;
    let got = Template::parse("test", text)
        .unwrap()
        .execute(Value::Nil, &env)
        .unwrap();
    assert_eq!(got, "f=2;h={count:1, sum:2};2");
}
