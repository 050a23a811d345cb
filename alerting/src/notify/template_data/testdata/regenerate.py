#!/usr/bin/env python3
"""Regenerates the golden outputs of ../tests.rs with a real Alertmanager 0.33 (its amtool).

Each data set `NAME.json` (Alertmanager's `template.Data` as JSON) gets `NAME.golden`: for
every case, a header line `#### text TEMPLATE`, `#### html TEMPLATE` or `#### error TEMPLATE`
(text mode failing; TEMPLATE as a JSON string), then amtool's exact output (or error
message), then a line `#### end`.

Run from anywhere: python3 regenerate.py (amtool and the Debian templates must be installed:
/work/main/scripts/install-peers.sh puts them in ~/.cache/tsdb-peers).
"""

import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
AMTOOL = os.path.expanduser("~/.cache/tsdb-peers/usr/bin/amtool")
GLOB = "/usr/share/prometheus/alertmanager/*.tmpl"

# Every template of default.tmpl and email.tmpl, called the way integrations call them.
DEFAULTS = """__alertmanager __alertmanagerURL __subject __description slack.default.title
slack.default.username slack.default.fallback slack.default.callbackid slack.default.pretext
slack.default.titlelink slack.default.iconemoji slack.default.iconurl slack.default.text
slack.default.footer slack.default.color pagerduty.default.description pagerduty.default.client
pagerduty.default.clientURL opsgenie.default.message
opsgenie.default.description opsgenie.default.source wechat.default.message
wechat.default.to_user wechat.default.to_party wechat.default.to_tag wechat.default.agent_id
victorops.default.state_message victorops.default.entity_display_name
victorops.default.monitoring_tool pushover.default.title pushover.default.message
pushover.default.url sns.default.subject sns.default.message telegram.default.message
discord.default.content discord.default.title discord.default.message webex.default.message
msteams.default.summary msteams.default.title msteams.default.text msteamsv2.default.title
msteamsv2.default.text jira.default.summary jira.default.description jira.default.priority
rocketchat.default.title rocketchat.default.alias rocketchat.default.titlelink
rocketchat.default.emoji rocketchat.default.iconurl rocketchat.default.text
mattermost.default.color mattermost.default.username mattermost.default.title
mattermost.default.titlelink mattermost.default.fallback mattermost.default.text
email.default.subject""".split()

DEFAULT_CASES = (
    [("text", '{{ template "%s" . }}' % name) for name in DEFAULTS]
    + [
        ("text", '{{ template "pagerduty.default.instances" .Alerts.Firing }}'),
        ("text", '{{ template "pagerduty.default.instances" .Alerts.Resolved }}'),
        ("text", '{{ template "__text_alert_list" .Alerts }}'),
        ("text", '{{ template "__text_alert_list_markdown" .Alerts.Firing }}'),
        ("html", '{{ template "email.default.html" . }}'),
    ]
)

# Alertmanager's functions and the data's methods (on data set "mixed").
FUNCTION_CASES = [
    ("text", '{{ .Receiver | toUpper }}|{{ "MiXeD" | toLower }}|{{ "hELLO wORLD o\'neil x-ray" | title }}|{{ "  \\t x y \\n" | trimSpace }}|'),
    ("text", '{{ join ", " (stringSlice "a" "b" "c") }}|{{ stringSlice }}|{{ join "-" .CommonLabels.Names }}'),
    ("text", '{{ .CommonLabels }}|{{ .CommonLabels.SortedPairs }}|{{ .GroupLabels.Values }}|{{ .GroupLabels.Names }}'),
    ("text", '{{ range .CommonLabels.SortedPairs }}[{{ . }} {{ .Name }}={{ .Value }}]{{ end }}'),
    ("text", '{{ .CommonLabels.Remove (stringSlice "job") }}|{{ (.CommonLabels.Remove .GroupLabels.Names).Values }}|{{ .CommonLabels.SortedPairs.Names }}|{{ .CommonLabels.SortedPairs.Values }}'),
    ("text", '{{ range $k, $v := .CommonLabels }}{{ $k }}:{{ $v }};{{ end }}|{{ index .CommonLabels "job" }}|{{ .CommonLabels.job }}|{{ .CommonLabels.nope }}|{{ len .CommonLabels }}'),
    ("text", '{{ match "^Disk" .CommonLabels.alertname }}|{{ reReplaceAll "(\\\\w+)Full" "$1-full" .CommonLabels.alertname }}|{{ safeHtml "<b>" }}|{{ safeUrl "javascript:x" }}'),
    ("text", '{{ "a%20b+c%2Bd" | urlUnescape }}'),
    ("error", '{{ "a%zzb" | urlUnescape }}'),
    ("error", '{{ reReplaceAll "(" "x" "y" }}'),
    ("text", '{{ range .Alerts }}{{ .StartsAt }}|{{ .EndsAt }}|{{ .EndsAt.IsZero }}|{{ .StartsAt.Format "2006-01-02T15:04:05Z07:00 Mon Jan _2 3:04PM" }}|{{ date "02 Jan 06 15:04 -0700" .StartsAt }}\n{{ end }}'),
    ("text", '{{ range .Alerts }}{{ tz "Europe/Berlin" .StartsAt }}|{{ (.StartsAt | tz "America/New_York").Format "Jan 2 15:04 MST -07:00" }}|{{ tz "Asia/Kolkata" .StartsAt }}|{{ tz "UTC" .StartsAt }}\n{{ end }}'),
    ("error", '{{ tz "Mars/Olympus" (index .Alerts 0).StartsAt }}'),
    ("text", '{{ with (index .Alerts 0).StartsAt }}{{ .Format "Monthly Jant Mon Jan January Monday" }}|{{ (tz "Asia/Kolkata" .).Format "Z07:00 -07 -07:00:00 .000 ,999 .99 __2 002 pm 06" }}|{{ (tz "America/St_Johns" .).Format "-0700 Z0700 MST" }}|{{ tz "Europe/Istanbul" . }}|{{ toJson (tz "Asia/Kolkata" .) }}|{{ tz "" . }}{{ end }}'),
    ("text", '{{ with (index .Alerts 0).StartsAt }}{{ .Year }} {{ .Month }} {{ .Day }} {{ .Hour }} {{ .Minute }} {{ .Second }} {{ .Nanosecond }} {{ .Weekday }} {{ .YearDay }} {{ .UnixNano }} {{ .UTC }}{{ end }}'),
    ("text", '{{ (index .Alerts 0).StartsAt.Unix }}|{{ (index .Alerts 0).StartsAt.UnixMilli }}|{{ ((index .Alerts 1).EndsAt.Sub (index .Alerts 1).StartsAt) }}|{{ (index .Alerts 0).StartsAt.Before (index .Alerts 1).StartsAt }}'),
    ("text", '{{ humanizeDuration 3725 }}|{{ humanizeDuration "0.0012" }}|{{ humanizeDuration 90061.5 }}|{{ ((index .Alerts 1).EndsAt.Sub (index .Alerts 1).StartsAt) | humanizeDuration }}'),
    ("text", '{{ toJson . }}'),
    ("text", '{{ toJson .CommonLabels.SortedPairs }}|{{ toJson .GroupLabels.Names }}|{{ toJson (list 1 2.5 "x<y>&" true nil 1e21 0.0000001) }}|{{ toJson (dict "b" 1 "a" (list)) }}'),
    ("text", '{{ list 1 "a" 2.5 }}|{{ append (list 1) 2 "three" }}|{{ dict "k" 1 "j" "x" }}|{{ (dict "a" 1).a }}|{{ len (list) }}'),
    ("error", '{{ dict "a" }}'),
    ("error", '{{ dict 1 2 }}'),
    ("text", '{{ len .Alerts }}|{{ len .Alerts.Firing }}|{{ len .Alerts.Resolved }}|{{ range .Alerts.Resolved }}{{ .Labels.instance }}{{ end }}|{{ (index .Alerts.Firing 1).Fingerprint }}'),
    ("text", '{{ range .Alerts }}{{ . }}\n{{ end }}'),
    ("text", '{{ . }}'),
    ("text", '{{ printf "%v|%s|%q|%d" .CommonLabels .GroupLabels.SortedPairs .GroupLabels.Names (len .Alerts) }}|{{ printf "%+v" (index .CommonLabels.SortedPairs 0) }}'),
    ("text", '{{ .NotificationReason }}|{{ .ExternalURL }}|{{ .Status }}|{{ if .CommonAnnotations }}yes{{ end }}'),
    ("error", '{{ .Alerts.Firing.Firing }}'),
    ("error", '{{ .CommonLabels.Remove "job" }}'),
    ("error", '{{ join "," (list "a") }}'),
    ("html", '<p title="{{ .CommonAnnotations.runbook }}">{{ (index .Alerts 0).Annotations.description }}</p>'),
    ("html", '<a href="{{ .ExternalURL }}/x?r={{ .Receiver }}&s={{ .Receiver | urlquery }}#{{ .Receiver }}">{{ .Receiver }}</a>'),
    ("html", '<a href="{{ "javascript:alert(1)" }}">x</a><a href="{{ safeUrl "javascript:ok()" }}">y</a><a href=\'{{ "http://a b/é?x" }}\'>z</a>'),
    ("html", '<a href="{{ "http://x/" }}{{ "javascript:y" }}">u</a><img src={{ .Receiver }}>'),
    ("html", '<title>{{ "<b>" }} & {{ safeHtml "<i>x</i>" }}</title><textarea>{{ "</textarea>" }}</textarea>'),
    ("html", '{{ safeHtml "<i>x</i>" }}<a title="{{ safeHtml "<i>x</i> &amp; y" }}">t</a><a title={{ safeHtml "<i>a b</i>" }}>u</a>'),
    ("html", 'a < b <!-- comment {{ .Receiver }} --> c {{ "<&>\\"\'+" }} <!DOCTYPE html>'),
    ("html", '{{ .Receiver | html }}|{{ html "a" "<b>" }}|{{ .Receiver | urlquery }}|{{ urlquery .Receiver }}|{{ print "<" 1 }}'),
    ("html", '<a {{ "title" }}="x" {{ "onclick" }}="y" {{ "" }}>z</a>'),
    ("html", '<style>p { color: red; } /* c */ a[href="x"] {}</style><p style="color: red">{{ .Status }}</p>'),
    ("html", '{{ range .Alerts }}<li data-url="{{ .GeneratorURL }}" class="{{ .Status }}">{{ .Labels.instance }}</li>{{ end }}'),
    ("html", '{{ index (dict) "x" }}{{ .CommonLabels.missing }}|{{ . }}'),
    ("text", '{{ index (dict) "x" }}{{ .CommonLabels.missing }}|{{ $x := 1 }}{{ $x }}'),
]

# Data sets with edge cases (data set "edge").
EDGE_CASES = DEFAULT_CASES + [
    ("text", '{{ range .Alerts }}{{ tz "Europe/London" .StartsAt }}|{{ tz "America/Sao_Paulo" .EndsAt }}|{{ tz "Australia/Lord_Howe" .StartsAt }}|{{ toJson .EndsAt }}\n{{ end }}'),
    ("text", '{{ .CommonLabels.SortedPairs }}|{{ range .Alerts }}{{ .Labels }};{{ end }}'),
    ("text", '{{ toJson .Alerts }}'),
]


def render(data, mode, text):
    args = [AMTOOL, "template", "render", "--template.glob=" + GLOB,
            "--template.text=" + text, "--template.data=" + data]
    if mode == "html":
        args.append("--template.type=html")
    proc = subprocess.run(args, capture_output=True, text=True)
    if mode == "error":
        assert proc.returncode != 0, (text, proc.stdout)
        err = proc.stderr
        assert err.startswith("amtool: error: "), err
        return err[len("amtool: error: "):].rstrip("\n")
    assert proc.returncode == 0, (text, proc.stderr)
    return proc.stdout


def main():
    sets = {
        "firing_one": DEFAULT_CASES
        + [("error", '{{ template "pagerduty.default.instances" . }}')],
        "mixed": DEFAULT_CASES + FUNCTION_CASES,
        "resolved": DEFAULT_CASES,
        "edge": EDGE_CASES,
    }
    for name, cases in sets.items():
        data = os.path.join(HERE, name + ".json")
        out = []
        for mode, text in cases:
            header = json.dumps(text, ensure_ascii=False)
            out.append("#### %s %s\n%s\n#### end\n" % (mode, header, render(data, mode, text)))
        with open(os.path.join(HERE, name + ".golden"), "w") as f:
            f.write("".join(out))


if __name__ == "__main__":
    main()
