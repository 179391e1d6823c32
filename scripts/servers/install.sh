#!/usr/bin/env bash
# Installs the Debian packages of every real server the test suites start on
# 127.0.0.1 (they start and stop the servers themselves). Idempotent: does
# nothing when everything is present. CI (.ci/run) calls it on a fresh machine.
set -euo pipefail

packages=(git postgresql ceph-mon ceph-osd radosgw chromium redis-server)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install.sh: all server packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: missing ${missing[*]} and not root; install them with apt-get" >&2
  exit 1
fi
echo "install.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts a cluster/daemons on install on some images; the tests run their own.
service postgresql stop >/dev/null 2>&1 || true
echo "install.sh: done"
