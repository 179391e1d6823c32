#!/usr/bin/env bash
# A throwaway Redis for tests and CI, on 127.0.0.1 and a port of your choice.
#
#   scripts/servers/redis.sh install             # apt-get install redis-server when it is missing
#   scripts/servers/redis.sh start <dir> <port>  # prints the connection URL on stdout
#   scripts/servers/redis.sh stop <dir>          # stops the server (by its pid) and removes <dir>
#
# Everything lives in <dir> (pid file, log); nothing is persisted (no RDB, no
# AOF). The server requires the password `cairn-test-redis` (a fixed, public
# test credential) so that tests see a URL with a password in it, as in
# production, and can check that it never reaches a message.
set -euo pipefail

PASSWORD=cairn-test-redis

die() {
  echo "redis.sh: $*" >&2
  exit 1
}

cmd_install() {
  if command -v redis-server >/dev/null 2>&1; then
    echo "redis.sh: redis-server already installed" >&2
    return 0
  fi
  [[ $(id -u) -eq 0 ]] || die "install needs root (apt-get install redis-server)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends redis-server >/dev/null
  # Debian may start a system server on install; the tests run their own.
  service redis-server stop >/dev/null 2>&1 || true
}

cmd_start() {
  local dir=${1:-} port=${2:-}
  [[ -n $dir && -n $port ]] || die "usage: redis.sh start <dir> <port>"
  [[ $port =~ ^[0-9]+$ ]] || die "port must be a number, got '$port'"
  command -v redis-server >/dev/null 2>&1 || die "redis-server not found; run: scripts/servers/redis.sh install"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  if [[ -f $dir/redis.pid ]] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
    echo "redis://:${PASSWORD}@127.0.0.1:$(cat "$dir/port")"
    return 0
  fi
  echo "$port" >"$dir/port"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
    --requirepass "$PASSWORD" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" ||
    die "redis-server failed to start on port $port; see $dir/redis.log"
  local i
  for i in $(seq 1 100); do
    if redis-cli -h 127.0.0.1 -p "$port" -a "$PASSWORD" --no-auth-warning ping 2>/dev/null | grep -q PONG; then
      echo "redis://:${PASSWORD}@127.0.0.1:${port}"
      return 0
    fi
    sleep 0.1
  done
  cmd_stop "$dir"
  die "redis-server did not answer on port $port within 10 s; see $dir/redis.log"
}

cmd_stop() {
  local dir=${1:-}
  [[ -n $dir ]] || die "usage: redis.sh stop <dir>"
  [[ -d $dir ]] || return 0
  if [[ -f $dir/redis.pid ]]; then
    local pid i
    pid=$(cat "$dir/redis.pid")
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      kill -9 "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$dir"
}

case ${1:-} in
install) cmd_install ;;
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
*) die "usage: redis.sh install | start <dir> <port> | stop <dir>" ;;
esac
