#!/usr/bin/env bash
# Throwaway PostgreSQL cluster for tests and the run script.
#   pg.sh start STATE_DIR   -> initdb + start on a free loopback port; writes STATE_DIR/env
#   pg.sh stop STATE_DIR    -> stop and delete the cluster
#   pg.sh restart STATE_DIR -> stop and start the same cluster again (fault tests)
# STATE_DIR/env holds PGHOST, PGPORT, PGUSER, PGDIR and SR_TEST_CONNINFO (KEY=VALUE lines).
# NB: PostgreSQL refuses to run as root, and the checkout may sit under a 0700 directory, so the
# cluster lives in its own /tmp directory owned by the postgres user.
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop|restart STATE_DIR}
state=${2:?usage: pg.sh start|stop|restart STATE_DIR}
cd /
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() {
  local dir=$1 port=$2
  as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null
}

case "$cmd" in
  start)
    mkdir -p "$state"
    dir=$(mktemp -d /tmp/sr-pg.XXXXXX)
    mkdir "$dir/sock"
    chmod 755 "$dir" "$dir/sock"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir" "$dir/sock"
    as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
    port=$(free_port)
    start_server "$dir" "$port"
    cat >"$state/env" <<ENV
PGHOST=$dir/sock
PGPORT=$port
PGUSER=postgres
PGDIR=$dir
SR_TEST_CONNINFO=host=127.0.0.1 port=$port user=postgres
ENV
    echo "PostgreSQL on 127.0.0.1:$port (socket $dir/sock)"
    ;;
  stop)
    [ -f "$state/env" ] || exit 0
    dir=$(sed -n 's/^PGDIR=//p' "$state/env")
    if [ -d "$dir/data" ]; then
      as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir" "$state/env"
    ;;
  restart)
    dir=$(sed -n 's/^PGDIR=//p' "$state/env")
    port=$(sed -n 's/^PGPORT=//p' "$state/env")
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    start_server "$dir" "$port"
    ;;
  *) echo "usage: pg.sh start|stop|restart STATE_DIR" >&2; exit 2 ;;
esac
