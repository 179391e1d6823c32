#!/usr/bin/env bash
# A throwaway PostgreSQL for tests and CI, on 127.0.0.1 and a port of your choice.
#
#   scripts/servers/postgres.sh install             # apt-get install postgresql when initdb is missing
#   scripts/servers/postgres.sh start <dir> <port>  # prints the connection URL on stdout
#   scripts/servers/postgres.sh stop <dir>          # stops the server and removes <dir>
#
# Everything lives in <dir> (data, socket, log): stop removes it and leaves
# nothing running. `start` on a folder whose server already runs only prints
# the URL again. initdb refuses to run as root, so as root the server runs as
# the `postgres` user; as any other user it runs as that user.
#
# The test role and database are both `cairn`, password `cairn-test-password`
# (a fixed, public test credential; TCP logins need it: scram-sha-256).
set -euo pipefail

ROLE=cairn
PASSWORD=cairn-test-password
DATABASE=cairn

die() {
  echo "postgres.sh: $*" >&2
  exit 1
}

# A folder holding initdb, pg_ctl and psql together.
complete_bindir() {
  [[ -x "$1/initdb" && -x "$1/pg_ctl" && -x "$1/psql" ]]
}

find_bindir() {
  local candidate
  # Newest major version first.
  for candidate in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if complete_bindir "$candidate"; then
      echo "$candidate"
      return 0
    fi
  done
  # Elsewhere on PATH (another distribution); follow symlinks to the real folder.
  if command -v initdb >/dev/null 2>&1; then
    candidate=$(dirname "$(readlink -f "$(command -v initdb)")")
    if complete_bindir "$candidate"; then
      echo "$candidate"
      return 0
    fi
  fi
  return 1
}

# Run a command as the server's owner: `postgres` when we are root.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    # runuser/su keep no TTY requirements; `--` keeps arguments intact.
    local quoted
    quoted=$(printf '%q ' "$@")
    su postgres -s /bin/bash -c "$quoted"
  else
    "$@"
  fi
}

cmd_install() {
  if find_bindir >/dev/null; then
    echo "postgres.sh: PostgreSQL already installed in $(find_bindir)" >&2
    return 0
  fi
  [[ $(id -u) -eq 0 ]] || die "install needs root (apt-get install postgresql)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
  # Debian starts a default cluster on install on some images; the tests start their own.
  service postgresql stop >/dev/null 2>&1 || true
  find_bindir >/dev/null || die "apt-get installed postgresql but no initdb was found under /usr/lib/postgresql/*/bin"
}

url_for() {
  echo "postgres://${ROLE}:${PASSWORD}@127.0.0.1:$1/${DATABASE}"
}

cmd_start() {
  local dir=${1:-} port=${2:-}
  [[ -n $dir && -n $port ]] || die "usage: postgres.sh start <dir> <port>"
  [[ $port =~ ^[0-9]+$ ]] || die "port must be a number, got '$port'"
  local bin
  bin=$(find_bindir) || die "PostgreSQL binaries not found (no initdb under /usr/lib/postgresql/*/bin); run: scripts/servers/postgres.sh install"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local data="$dir/data" sock="$dir/sock" log="$dir/server.log"

  if [[ -f $data/postmaster.pid ]] && as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    url_for "$(sed -n 4p "$data/postmaster.pid")"
    return 0
  fi

  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$dir"
    # The server user must be able to reach the folder.
    su postgres -s /bin/bash -c "test -x $(printf '%q' "$dir")" ||
      die "the postgres user cannot enter $dir (a parent folder is private); use a folder under /tmp"
  fi
  chmod 700 "$dir"

  if [[ ! -f $data/PG_VERSION ]]; then
    rm -rf "$data"
    local pwfile="$dir/pwfile"
    printf '%s\n' "$PASSWORD" >"$pwfile"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$pwfile"
    # Local socket: trust (only the owner can reach the socket folder);
    # TCP: scram-sha-256, so a wrong password is refused like in production.
    as_owner "$bin/initdb" -D "$data" -U postgres --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" 2>&1 ||
      die "initdb failed; see $dir/initdb.log: $(tail -n 5 "$dir/initdb.log")"
    rm -f "$pwfile"
  fi
  as_owner mkdir -p "$sock"

  # fsync off: a throwaway test server trades durability for speed. The
  # crash tests kill clients, never this server.
  as_owner "$bin/pg_ctl" -D "$data" -l "$log" -w -t 60 \
    -o "-p $port -k $sock -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off -c max_connections=200" \
    start >/dev/null ||
    die "pg_ctl start failed on port $port; see $log: $(tail -n 5 "$log" 2>/dev/null)"

  local psql=("$bin/psql" -h "$sock" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 -q -X)
  local sql="SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', '$ROLE', '$PASSWORD')
      WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE') \\gexec
    SELECT format('CREATE DATABASE %I OWNER %I', '$DATABASE', '$ROLE')
      WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DATABASE') \\gexec"
  # \gexec runs each generated statement: psql reads it from stdin (-c takes no backslash commands with SQL).
  if ! printf '%s\n' "$sql" | as_owner "${psql[@]}" >"$dir/setup.log" 2>&1; then
    # Leave nothing running behind a failed start.
    as_owner "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    die "creating the test role and database failed: $(tail -n 5 "$dir/setup.log")"
  fi
  url_for "$port"
}

cmd_stop() {
  local dir=${1:-}
  [[ -n $dir ]] || die "usage: postgres.sh stop <dir>"
  [[ -d $dir ]] || return 0
  local data="$dir/data"
  if [[ -f $data/postmaster.pid ]]; then
    local bin
    if bin=$(find_bindir); then
      as_owner "$bin/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    # If pg_ctl could not stop it, end the postmaster by its own pid.
    if [[ -f $data/postmaster.pid ]]; then
      local pid
      pid=$(head -n 1 "$data/postmaster.pid")
      if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        kill -9 "$pid" 2>/dev/null || true
      fi
    fi
  fi
  rm -rf "$dir"
}

case ${1:-} in
install) cmd_install ;;
start) shift && cmd_start "$@" ;;
stop) shift && cmd_stop "$@" ;;
*) die "usage: postgres.sh install | start <dir> <port> | stop <dir>" ;;
esac
