#!/usr/bin/env bash
# Run by `npm test` (its `pretest`) before any suite: the suites start real
# PostgreSQL, S3 (radosgw), Redis and Chromium programs, so their packages
# must be installed. Installs the missing ones when it can (root, with
# apt-get); otherwise stops at once, naming the one command to run, rather
# than letting suites fail one by one after minutes of work.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"

mapfile -t missing < <(bash "$here/install.sh" --missing)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  exec bash "$here/install.sh"
fi
{
  echo "npm test needs the server packages the suites start: missing ${missing[*]}."
  echo "Install them once with:"
  echo ""
  echo "  sudo bash scripts/servers/install.sh"
  echo ""
} >&2
exit 1
