#!/usr/bin/env python3
"""Records what a real Alertmanager 0.33 puts in `template.Data` (the body its webhook sends)
for the alerts in webhook_alerts.json, into webhook_data.json: the receiver as quoted, the
group's status, the common labels and annotations, firing alerts' hidden ends.

The firing alerts start now and the resolved one last: an alert older than group_wait makes
Alertmanager flush its group at once, so it must arrive after the others.

Run: python3 webhook.py (prometheus-alertmanager from /work/main/scripts/install-peers.sh).
"""

import http.server
import json
import os
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
BINARY = os.path.expanduser("~/.cache/tsdb-peers/usr/bin/prometheus-alertmanager")
RECEIVER = "team (a|b).*"
AM_PORT = 19193
HOOK_PORT = 19194

CONFIG = """
route:
  receiver: %s
  group_by: [alertname]
  group_wait: 5s
  group_interval: 1s
  repeat_interval: 1h
receivers:
- name: %s
  webhook_configs:
  - url: http://127.0.0.1:%d/hook
    send_resolved: true
""" % (json.dumps(RECEIVER), json.dumps(RECEIVER), HOOK_PORT)

bodies = []


class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        bodies.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    server = http.server.HTTPServer(("127.0.0.1", HOOK_PORT), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "am.yml")
        with open(config, "w") as f:
            f.write(CONFIG)
        am = subprocess.Popen(
            [BINARY, "--config.file=" + config, "--storage.path=" + tmp,
             "--web.listen-address=127.0.0.1:%d" % AM_PORT, "--cluster.listen-address=",
             "--web.external-url=http://am.example:9093/prefix"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "log"), "w"))
        try:
            now = time.time()
            alerts = json.load(open(os.path.join(HERE, "webhook_alerts.json")))
            for a in alerts:
                # Times in the file are offsets in seconds from now.
                for key in ("startsAt", "endsAt"):
                    t = now + a[key]
                    a[key] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + "Z"
            for _ in range(50):
                try:
                    req = urllib.request.Request(
                        "http://127.0.0.1:%d/prefix/api/v2/alerts" % AM_PORT,
                        data=json.dumps(alerts).encode(),
                        headers={"Content-Type": "application/json"})
                    urllib.request.urlopen(req).read()
                    break
                except urllib.error.HTTPError as e:
                    raise SystemExit("alertmanager refused the alerts: %s" % e.read())
                except OSError:
                    time.sleep(0.2)
            for _ in range(100):
                if bodies:
                    break
                time.sleep(0.1)
            if not bodies:
                print(open(os.path.join(tmp, "log")).read())
        finally:
            am.terminate()
            am.wait()
    server.shutdown()
    body = bodies[0]
    for a in body["alerts"]:
        # Keep only what does not depend on when this ran.
        a["startsAt"] = "(now-dependent)"
        if a["endsAt"] != "0001-01-01T00:00:00Z":
            a["endsAt"] = "(set)"
    with open(os.path.join(HERE, "webhook_data.json"), "w") as f:
        json.dump(body, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
