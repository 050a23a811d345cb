#!/usr/bin/env bash
# Installs the peer systems Tidemark is tested and benchmarked against, without root-wide changes:
#   prometheus (3.5 LTS, the PromQL reference), promtool, prometheus-alertmanager (with amtool)
#   and victoria-metrics (whose package also ships vmagent, vmalert, vmctl ...); and, for the
#   email tests, the SMTP server aiosmtpd (from PyPI) in a venv, $PEERS_DIR/venv.
# The .deb files come from Debian's own archive (the unstable suite, for current releases),
# through the Debian mirror this machine is already configured with, and are unpacked with
# `dpkg-deb -x` (not installed) into ${PEERS_DIR:-$HOME/.cache/tsdb-peers}; binaries end up in
# $PEERS_DIR/usr/bin. Idempotent: with the binaries present it only checks Alertmanager's
# templates (below) and the venv.
# Prints the bin folder as its last line (and nothing else on stdout).
set -euo pipefail

PEERS_DIR=${PEERS_DIR:-$HOME/.cache/tsdb-peers}
BIN="$PEERS_DIR/usr/bin"
PACKAGES=(prometheus promtool prometheus-alertmanager victoria-metrics)
BINARIES=(prometheus promtool prometheus-alertmanager amtool victoria-metrics vmagent)

have_all() {
  local b
  for b in "${BINARIES[@]}"; do
    [[ -x "$BIN/$b" ]] || return 1
  done
}

# Debian's Alertmanager reads its default notification templates from a fixed path and refuses
# every configuration without them: copy the unpacked ones there (root only; the tests that run
# Alertmanager skip, saying so, when they are missing).
am_templates() {
  local sys=/usr/share/prometheus/alertmanager
  [[ -f "$sys/default.tmpl" || ! -f "$PEERS_DIR$sys/default.tmpl" ]] && return 0
  if [[ $(id -u) == 0 ]]; then
    mkdir -p "$sys" && cp -n "$PEERS_DIR$sys"/*.tmpl "$sys"/
  else
    echo "install-peers: copy $PEERS_DIR$sys/*.tmpl to $sys (as root), or Alertmanager will not start" >&2
  fi
}

# aiosmtpd, the SMTP server of the email tests (tidemark-testkit's smtp.rs), in a venv of the
# user's own (no root needed); skipped when that version is already there.
AIOSMTPD_VERSION=1.4.6
smtp_venv() {
  local venv="$PEERS_DIR/venv"
  if [[ -x "$venv/bin/python" ]] &&
    [[ $("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("aiosmtpd"))' 2>/dev/null) == "$AIOSMTPD_VERSION" ]]; then
    return 0
  fi
  echo "install-peers: installing aiosmtpd==$AIOSMTPD_VERSION into $venv" >&2
  mkdir -p "$PEERS_DIR"
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION" >&2
}

if have_all; then
  am_templates
  smtp_venv
  echo "$BIN"
  exit 0
fi

# The Debian mirror already configured (deb822 sources first, then the one-line format).
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
  [[ -f "$f" ]] || continue
  mirror=$(awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}' "$f")
  [[ -n "$mirror" ]] && break
done
if [[ -z "$mirror" && -f /etc/apt/sources.list ]]; then
  mirror=$(awk '$1 == "deb" && $2 ~ /debian\/?$/ {print $2; exit}' /etc/apt/sources.list)
fi
if [[ -z "$mirror" ]]; then
  echo "install-peers: no Debian mirror configured on this machine" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/lists/partial" "$tmp/archives/partial" "$tmp/debs" "$PEERS_DIR"
echo "deb $mirror sid main" > "$tmp/sources.list"
# A private apt state: the machine's own package lists and sources stay untouched.
apt_opts=(
  -o "Dir::Etc::SourceList=$tmp/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=$tmp/lists"
  -o "Dir::Cache::Archives=$tmp/archives"
  -o "APT::Sandbox::User=root"
  -qq
)
echo "install-peers: fetching ${PACKAGES[*]} from $mirror (sid)" >&2
apt-get "${apt_opts[@]}" update >&2
(cd "$tmp/debs" && apt-get "${apt_opts[@]}" download "${PACKAGES[@]}" >&2)
for deb in "$tmp"/debs/*.deb; do
  dpkg-deb -x "$deb" "$PEERS_DIR"
done

if ! have_all; then
  echo "install-peers: unpacked, but some of ${BINARIES[*]} are missing in $BIN" >&2
  exit 1
fi
am_templates
smtp_venv
"$BIN/prometheus" --version 2>&1 | head -1 >&2
"$BIN/victoria-metrics" --version 2>&1 | head -1 >&2
echo "$BIN"
