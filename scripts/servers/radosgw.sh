#!/usr/bin/env bash
# A throwaway S3-compatible server for tests: a single-node Ceph cluster (one
# monitor, one memstore OSD, no manager) with a radosgw in front of it, all
# inside one folder and bound to 127.0.0.1.
#
#   radosgw.sh install                 install the Debian packages if missing (CI)
#   radosgw.sh start <dir> <port>      start (or reuse) a cluster; prints KEY=value lines
#   radosgw.sh stop <dir>              kill every daemon started in <dir> and remove <dir>
#   radosgw.sh stop-gateway <dir>      kill only radosgw (tests: "the server went away")
#   radosgw.sh start-gateway <dir>     start radosgw again on the same port
#
# With RADOSGW_OWNER_PID set, start also leaves a watchdog that runs `stop`
# when that process exits, so a test runner killed with SIGKILL does not leave
# a cluster behind.
#
# start prints, one per line, S3_ENDPOINT, S3_REGION, AWS_ACCESS_KEY_ID and
# AWS_SECRET_ACCESS_KEY, so a caller can `eval` or parse them.
#
# Why these choices: cephx keyrings because `auth = none` makes the OSD and
# radosgw loop on authentication in this Ceph (16.2); memstore because it
# needs no disk setup and everything disappears with the process; no manager
# because nothing here needs one and it costs seconds and memory. Daemons run
# in the foreground of a detached subshell so their PIDs are known and `stop`
# kills exactly those, never "every radosgw on the machine".
set -euo pipefail

ACCESS_KEY=${CAIRN_S3_ACCESS_KEY:-CAIRNTESTACCESSKEY01}
SECRET_KEY=${CAIRN_S3_SECRET_KEY:-cairn-test-secret-key-do-not-use-0000000001}
PACKAGES=(ceph-mon ceph-osd radosgw)

die() { echo "radosgw.sh: $*" >&2; exit 1; }

usage() {
  sed -n '5,10p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

cmd_install() {
  local missing=()
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "radosgw.sh: ${PACKAGES[*]} already installed"
    return 0
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}"
  # The packages enable systemd units; nothing here wants a system-wide Ceph.
  $sudo systemctl disable --now ceph.target ceph-mon.target ceph-osd.target ceph-radosgw.target >/dev/null 2>&1 || true
}

require_binaries() {
  local bin
  for bin in ceph ceph-mon ceph-osd ceph-authtool monmaptool radosgw radosgw-admin uuidgen node; do
    command -v "$bin" >/dev/null 2>&1 || die "'$bin' is not installed; run: $0 install (apt: ${PACKAGES[*]})"
  done
}

# A free TCP port on 127.0.0.1 chosen by the kernel, for the monitor.
free_port() {
  # process.stdout.write, not console.log: with FORCE_COLOR set (nx sets it) console.log colours numbers.
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{process.stdout.write(String(s.address().port));s.close()})'
}

# A killed daemon can linger as a zombie until its (adoptive) parent reaps it;
# that counts as gone.
alive() {
  [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
  local state
  state=$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$state" != Z ] && [ "$state" != X ]
}

pid_of() { [ -f "$1/pids/$2" ] && cat "$1/pids/$2" || true; }

# Run a daemon in the foreground of a detached subshell: the recorded PID is
# the daemon's own (exec), and it does not die with the caller's terminal.
spawn() {
  local dir=$1 name=$2
  shift 2
  (setsid "$@" >>"$dir/log/$name.out" 2>&1 </dev/null & echo $! >"$dir/pids/$name")
}

# The PID must still be the daemon we started (PIDs get reused), and the
# cluster is throwaway, so there is nothing to shut down gracefully: SIGKILL.
kill_pid() {
  local pid=$1 name=$2 i
  alive "$pid" || return 0
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$name" || return 0
  kill -KILL "$pid" 2>/dev/null || true
  for i in $(seq 1 50); do
    alive "$pid" || return 0
    sleep 0.1
  done
  die "process $pid ($name) did not exit after SIGKILL"
}

print_info() {
  local dir=$1
  cat "$dir/endpoint.env"
}

# True when an HTTP server answers on 127.0.0.1:$1 (bash's /dev/tcp: no curl needed).
s3_answers() {
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3 &&
    IFS= read -r line <&3 && [[ "$line" == HTTP/* ]]' s3_answers "$1" 2>/dev/null
}

wait_for_s3() {
  local dir=$1 port=$2 i
  for i in $(seq 1 600); do
    s3_answers "$port" && return 0
    alive "$(pid_of "$dir" radosgw)" || { tail -20 "$dir/log/radosgw.out" "$dir/log/client.rgw.log" >&2 2>/dev/null || true; die "radosgw exited during start (logs in $dir/log)"; }
    sleep 0.1
  done
  die "radosgw did not answer on 127.0.0.1:$port within 60 s (logs in $dir/log)"
}

start_gateway() {
  local dir=$1 port
  port=$(cat "$dir/port")
  alive "$(pid_of "$dir" radosgw)" && return 0
  spawn "$dir" radosgw radosgw -f -c "$dir/ceph.conf" -n client.rgw
  wait_for_s3 "$dir" "$port"
}

cmd_start() {
  local dir=${1:-} port=${2:-}
  [ -n "$dir" ] && [ -n "$port" ] || usage
  [[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number, got '$port'"
  require_binaries
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)

  # Idempotent: a healthy cluster on the same port is reused as is.
  if [ -f "$dir/endpoint.env" ] && [ "$(cat "$dir/port" 2>/dev/null)" = "$port" ] &&
    alive "$(pid_of "$dir" ceph-mon)" && alive "$(pid_of "$dir" ceph-osd)" && alive "$(pid_of "$dir" radosgw)" &&
    s3_answers "$port"; then
    print_info "$dir"
    return 0
  fi
  # Anything else left in the folder (a half-started or half-dead cluster) goes.
  stop_daemons "$dir"
  find "$dir" -mindepth 1 -delete

  if s3_answers "$port"; then die "something already listens on 127.0.0.1:$port"; fi
  # A start that fails half way leaves no daemon behind (the logs stay in <dir>/log).
  trap "stop_daemons '$dir'" EXIT

  local fsid mon_port conf=$dir/ceph.conf
  fsid=$(uuidgen)
  mon_port=$(free_port)
  mkdir -p "$dir/mon" "$dir/osd" "$dir/run" "$dir/log" "$dir/pids" "$dir/rgw"
  echo "$port" >"$dir/port"

  cat >"$conf" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
keyring = $dir/keyring
run dir = $dir/run
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
pid file = $dir/run/\$name.pid
ms bind msgr1 = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mon osd down out interval = 0
mon data avail warn = 1
mon data avail crit = 0
debug ms = 0
[mon]
mon data = $dir/mon
mon cluster log file = $dir/log/cluster.log
[osd]
osd data = $dir/osd
osd objectstore = memstore
memstore device bytes = 8589934592
osd memory target = 1073741824
osd max object size = 134217728
osd op num shards = 2
osd op num threads per shard = 2
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw data = $dir/rgw
rgw dns name = 127.0.0.1
rgw thread pool size = 64
rgw enable usage log = false
rgw crypt require ssl = false
EOF

  ceph-authtool --create-keyring "$dir/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n client.rgw \
    --cap mon 'allow rw' --cap osd 'allow rwx' --cap mgr 'allow rw' >/dev/null
  ceph-authtool "$dir/keyring" --gen-key -n osd.0 \
    --cap mon 'allow profile osd' --cap osd 'allow *' --cap mgr 'allow profile osd' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon -c "$conf" --mkfs -i a --monmap "$dir/monmap" --keyring "$dir/keyring" >/dev/null 2>&1 ||
    die "ceph-mon --mkfs failed"
  spawn "$dir" ceph-mon ceph-mon -f -c "$conf" -i a

  local ceph=(ceph -c "$conf" -n client.admin --connect-timeout 30)
  local osd_uuid
  osd_uuid=$(uuidgen)
  "${ceph[@]}" osd new "$osd_uuid" 0 >/dev/null || die "ceph osd new failed (logs in $dir/log)"
  ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >/dev/null 2>&1 ||
    die "ceph-osd --mkfs failed"
  "${ceph[@]}" osd crush add osd.0 1 root=default host=localhost >/dev/null 2>&1 || true
  spawn "$dir" ceph-osd ceph-osd -f -c "$conf" -i 0

  # radosgw creates its pools on first start; it needs the OSD up for that.
  local i
  for i in $(seq 1 300); do
    "${ceph[@]}" osd dump 2>/dev/null | grep -q '^osd.0 up' && break
    alive "$(pid_of "$dir" ceph-osd)" || die "ceph-osd exited during start (logs in $dir/log)"
    sleep 0.1
  done

  start_gateway "$dir"
  radosgw-admin -c "$conf" -n client.admin user create --uid=cairn --display-name=cairn \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null || die "radosgw-admin user create failed"

  cat >"$dir/endpoint.env" <<EOF
S3_ENDPOINT=http://127.0.0.1:$port
S3_REGION=us-east-1
AWS_ACCESS_KEY_ID=$ACCESS_KEY
AWS_SECRET_ACCESS_KEY=$SECRET_KEY
EOF
  if [ -n "${RADOSGW_OWNER_PID:-}" ]; then
    (setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec "$2" stop "$3"' \
      watchdog "$RADOSGW_OWNER_PID" "$(realpath "$0")" "$dir" >/dev/null 2>&1 </dev/null &
      echo $! >"$dir/pids/watchdog")
  fi
  trap - EXIT
  print_info "$dir"
}

stop_daemons() {
  local dir=$1 name
  [ -d "$dir/pids" ] || return 0
  # Gateway first, so clients see a refused connection rather than a hang.
  for name in radosgw ceph-osd ceph-mon; do
    kill_pid "$(pid_of "$dir" "$name")" "$name"
  done
  local watchdog
  watchdog=$(pid_of "$dir" watchdog)
  # The watchdog runs this very script when its owner exits: do not kill ourselves.
  [ "$watchdog" = "$$" ] || kill_pid "$watchdog" watchdog
}

cmd_stop() {
  local dir=${1:-}
  [ -n "$dir" ] || usage
  [ -d "$dir" ] || return 0
  stop_daemons "$dir"
  rm -rf "$dir"
}

cmd_stop_gateway() {
  local dir=${1:-}
  [ -n "$dir" ] || usage
  kill_pid "$(pid_of "$dir" radosgw)" radosgw
}

cmd_start_gateway() {
  local dir=${1:-}
  [ -n "$dir" ] && [ -f "$dir/port" ] || die "no cluster in '$dir'"
  alive "$(pid_of "$dir" ceph-osd)" || die "the cluster in '$dir' is not running"
  start_gateway "$dir"
  print_info "$dir"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start "${2:-}" "${3:-}" ;;
  stop) cmd_stop "${2:-}" ;;
  stop-gateway) cmd_stop_gateway "${2:-}" ;;
  start-gateway) cmd_start_gateway "${2:-}" ;;
  *) usage ;;
esac
