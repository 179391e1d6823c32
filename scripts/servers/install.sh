#!/usr/bin/env bash
# Installs the Debian packages of every real server the test suites start on
# 127.0.0.1 (they start and stop the servers themselves). Idempotent: does
# nothing when everything is present. `npm test` runs it (through
# scripts/servers/ensure.sh) when it is root with apt; otherwise run it once
# with sudo.
#
#   scripts/servers/install.sh            # install what is missing (root)
#   scripts/servers/install.sh --missing  # print the missing packages, one a line
#
# CAIRN_SERVER_PACKAGES (space-separated) replaces the package list; the
# tests of this script use it.
set -euo pipefail

# python3-sklearn, python3-pandas and python3-joblib: the Python template's steps and model worker
# (tests/e2e); pip cannot reach PyPI on the test machines.
read -r -a packages <<<"${CAIRN_SERVER_PACKAGES:-git postgresql ceph-mon ceph-osd radosgw chromium redis-server python3-sklearn python3-pandas python3-joblib}"
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${1:-}" = "--missing" ]; then
  [ ${#missing[@]} -eq 0 ] || printf '%s\n' "${missing[@]}"
  exit 0
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "install.sh: all server packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: missing ${missing[*]} and not root; run: sudo bash scripts/servers/install.sh" >&2
  exit 1
fi
echo "install.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts a cluster/daemons on install on some images; the tests run their own.
service postgresql stop >/dev/null 2>&1 || true
echo "install.sh: done"
