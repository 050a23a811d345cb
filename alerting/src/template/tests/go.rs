//! Go `text/template` semantics beyond Prometheus' own cases: control structures, variables,
//! builtins, `printf` verbs and number formats, with outputs as Go prints them.

use super::super::fmt::sprintf;
use super::super::strconv::format_float;
use super::super::time::duration_string;
use super::{ok, run};
use crate::template::Value;

#[test]
fn go_control_structures() {
    let cases: &[(&str, &str)] = &[
        (
            "{{ if 0 }}a{{ else if \"\" }}b{{ else if 1.5 }}c{{ else }}d{{ end }}",
            "c",
        ),
        (
            "{{ if and 1 0 }}a{{ else }}b{{ end }}{{ or 0 \"\" \"x\" }}{{ and 1 2 }}{{ not 0 }}",
            "bx2true",
        ),
        ("{{ with $x := 3 }}{{ $x }}{{ . }}{{ end }}", "33"),
        ("{{ with \"\" }}a{{ else with \"b\" }}{{ . }}{{ end }}", "b"),
        (
            "{{ range $i, $v := args \"a\" \"b\" }}{{ $i }}{{ $v }}{{ end }}",
            "arg0aarg1b",
        ),
        ("{{ range 3 }}{{ . }}{{ end }}", "012"),
        (
            "{{ range $i := 5 }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ $i }}{{ end }}",
            "02",
        ),
        ("{{ range .Missing }}x{{ else }}empty{{ end }}", "empty"),
        ("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", "2"),
        (
            "{{ $x := \"a\" }}{{ if true }}{{ $x := \"b\" }}{{ $x }}{{ end }}{{ $x }}",
            "ba",
        ),
        (
            "{{ $x := 0 }}{{ range $i := 4 }}{{ $x = $i }}{{ end }}{{ $x }}",
            "3",
        ),
        (
            "{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" \"x\" }}{{ template \"t\" }}",
            "[x][<no value>]",
        ),
        ("{{ block \"b\" 7 }}<{{ . }}>{{ end }}", "<7>"),
        ("a {{- 1 -}} b {{ 2 }}  {{- 3 }}", "a1b 23"),
        (
            "{{ `raw\\n` }}{{ \"esc\\t\\u00e9\\x41\" }}{{ 'a' }}{{ 0x1F }}{{ 1_000 }}{{ 1e3 }}{{ -2 }}",
            "raw\\nesc\téA973110001000-2",
        ),
        ("{{ (printf \"%s-%s\" \"a\" \"b\") | len }}", "3"),
        ("{{ $ }}", "<no value>"),
        ("{{ print nil }}", "<nil>"),
    ];
    for (text, want) in cases {
        assert_eq!(ok(text, Value::Nil), *want, "{text}");
    }
    assert!(ok("{{ print true false nil }}", Value::Nil) == "true false <nil>");
}

#[test]
fn go_builtins() {
    let labels = Value::labels([("a", "1"), ("b", "x y")]);
    let cases: &[(&str, &str)] = &[
        (
            "{{ len . }} {{ len \"héllo\" }} {{ index . \"b\" }} {{ .a }}",
            "2 6 x y 1",
        ),
        (
            "{{ slice \"abcdef\" 1 3 }}{{ slice \"abc\" 1 }}{{ index \"abc\" 1 }}",
            "bcbc98",
        ),
        (
            "{{ html \"<a href='x'>&</a>\" }}",
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;",
        ),
        (
            "{{ js \"it's <b>\\\"q\\\"=\" }}",
            "it\\'s \\u003Cb\\u003E\\\"q\\\"\\u003D",
        ),
        (
            "{{ urlquery \"a b&c/d\" }} {{ urlQueryEscape \"é\" }}",
            "a+b%26c%2Fd %C3%A9",
        ),
        (
            "{{ print 1 2 \"a\" 3 }}|{{ println 1 \"a\" }}|",
            "1 2a3|1 a\n|",
        ),
        ("{{ . }}", "map[a:1 b:x y]"),
        (
            "{{ eq 1 2 3 1 }} {{ ne \"a\" \"b\" }} {{ lt 1 2 }} {{ le 2.5 2.5 }} {{ gt \"b\" \"a\" }} {{ ge 1 2 }}",
            "true true true true true false",
        ),
        ("{{ eq .missing \"\" }} {{ eq nil nil }}", "true true"),
        ("{{ args 1 \"a\" nil }}", "map[arg0:1 arg1:a arg2:<nil>]"),
        ("{{ (args 1).arg1 }}", "<no value>"),
        (
            "{{ toUpper \"straße\" }} {{ title \"hello wORLD-foo_bar it's o'neil\" }}",
            "STRAßE Hello WORLD-Foo_bar It's O'neil",
        ),
        ("{{ safeHtml \"<b>\" }}", "<b>"),
        (
            "{{ reReplaceAll \"([a-z]+)-(\\\\d+)\" \"${2}_$1\" \"node-01 x\" }}",
            "01_node x",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(ok(text, labels.clone()), *want, "{text}");
    }
    for (text, want) in [
        (
            "{{ index . 1 }}",
            "error calling index: value has type int; should be string",
        ),
        ("{{ len 3 }}", "error calling len: len of type int"),
        (
            "{{ slice \"abc\" 2 1 }}",
            "error calling slice: invalid slice index: 2 > 1",
        ),
        (
            "{{ lt . 1 }}",
            "error calling lt: invalid type for comparison",
        ),
        (
            "{{ eq }}",
            "wrong number of args for eq: want at least 1 got 0",
        ),
        ("{{ ne 1 }}", "wrong number of args for ne: want 2 got 1"),
        ("{{ toUpper 1 }}", "expected string; found 1"),
        ("{{ .a.b }}", "can't evaluate field b in type string"),
        ("{{ range 1.5 }}{{ end }}", "range can't iterate over 1.5"),
        ("{{ template \"nope\" }}", "template \"nope\" not defined"),
        (
            "{{ reReplaceAll \"(\" \"\" \"\" }}",
            "error calling reReplaceAll: regexp: Compile(`(`): error parsing regexp:",
        ),
        (
            "{{ parseDuration \"1x\" }}",
            "error calling parseDuration: unknown unit \"x\" in duration \"1x\"",
        ),
        ("{{ 1 2 }}", "can't give argument to non-function 1"),
        ("{{ nil | print }}", "at <nil>: nil is not a command"),
    ] {
        let err = run(text, labels.clone()).unwrap_err();
        assert!(err.contains(want), "{text}: {err}");
    }
}

#[test]
fn go_printf() {
    let s = |f: &str, args: &[Value]| sprintf(f, args);
    assert_eq!(
        s(
            "%d|%5d|%-5d|%05d|%+d|%x|%X|%o|%b|%c|%q|%U",
            &[
                5.into(),
                42.into(),
                42.into(),
                (-42).into(),
                3.into(),
                255.into(),
                255.into(),
                8.into(),
                5.into(),
                65.into(),
                65.into(),
                0x1F600.into()
            ]
        ),
        "5|   42|42   |-0042|+3|ff|FF|10|101|A|'A'|U+1F600"
    );
    assert_eq!(
        s(
            "%f|%.2f|%8.3f|%-8.1f|%08.2f|%e|%E|%g|%G|%.3g|%v",
            &[
                1.5.into(),
                2.345.into(),
                3.14158.into(),
                2.0.into(),
                (-1.5).into(),
                1234.5678.into(),
                0.000123.into(),
                1e21.into(),
                1e-7.into(),
                1000.0.into(),
                100000.0.into()
            ]
        ),
        "1.500000|2.35|   3.142|2.0     |-0001.50|1.234568e+03|1.230000E-04|1e+21|1E-07|1e+03|100000"
    );
    assert_eq!(
        s(
            "%.0f %.0f %.0f %.1f %.2f",
            &[
                0.5.into(),
                1.5.into(),
                2.5.into(),
                0.25.into(),
                0.125.into()
            ]
        ),
        "0 2 2 0.2 0.12"
    );
    assert_eq!(
        s(
            "%s|%10s|%-4s|%.2s|%q|%x|% x|%v",
            &[
                "hi".into(),
                "right".into(),
                "l".into(),
                "trunc".into(),
                "a\"b\n".into(),
                "hi".into(),
                "hi".into(),
                "v".into()
            ]
        ),
        "hi|     right|l   |tr|\"a\\\"b\\n\"|6869|68 69|v"
    );
    assert_eq!(
        s(
            "%t %v %T %T %T",
            &[
                Value::Bool(true),
                Value::Bool(false),
                1.into(),
                1.5.into(),
                "s".into()
            ]
        ),
        "true false int float64 string"
    );
    assert_eq!(
        s("%d %s", &[1.5.into(), 2.into()]),
        "%!d(float64=1.5) %!s(int=2)"
    );
    assert_eq!(s("%d %d", &[1.into()]), "1 %!d(MISSING)");
    assert_eq!(
        s("%d", &[1.into(), "x".into(), Value::Nil]),
        "1%!(EXTRA string=x, <nil>)"
    );
    assert_eq!(s("100%% %", &[]), "100% %!(NOVERB)");
    assert_eq!(
        s(
            "%f %v %+.1f % .1f %5.1f",
            &[
                f64::INFINITY.into(),
                f64::NAN.into(),
                1.0.into(),
                1.0.into(),
                f64::NAN.into()
            ]
        ),
        "+Inf NaN +1.0  1.0   NaN"
    );
    assert_eq!(
        s(
            "%*d|%-*d|%.*f",
            &[
                4.into(),
                7.into(),
                3.into(),
                7.into(),
                1.into(),
                2.25.into()
            ]
        ),
        "   7|7  |2.2"
    );
}

#[test]
fn go_number_formats() {
    for (v, fmt, prec, want) in [
        (0.1, 'g', -1, "0.1"),
        (1e21, 'g', -1, "1e+21"),
        (123456.0, 'g', -1, "123456"),
        (1234567.0, 'g', -1, "1.234567e+06"),
        (1e-5, 'g', -1, "1e-05"),
        (0.0, 'g', -1, "0"),
        (-0.0, 'g', -1, "-0"),
        (100000.0, 'g', 4, "1e+05"),
        (123.0, 'g', 4, "123"),
        (0.5, 'g', 4, "0.5"),
        (1e100, 'g', -1, "1e+100"),
        (5e-324, 'g', -1, "5e-324"),
        (0.0, 'e', 2, "0.00e+00"),
    ] {
        assert_eq!(format_float(v, fmt, prec), want, "{v} {fmt} {prec}");
    }
    for (ns, want) in [
        (0, "0s"),
        (1_500_000_000, "1.5s"),
        (100_000_000, "100ms"),
        (1_500, "1.5µs"),
        (3_720_010_000_000, "1h2m0.01s"),
        (-90_000_000_000, "-1m30s"),
    ] {
        assert_eq!(duration_string(ns), want);
    }
}
