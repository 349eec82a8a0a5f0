#!/usr/bin/env bash
# Start/stop the Sinch fake (sinch_fake.py) in the background.
#
#   fakectl.sh start STATE_DIR [extra sinch_fake.py args...]
#       Starts the fake on a free 127.0.0.1 port, waits until /_fake/health answers,
#       writes STATE_DIR/env (KEY=VALUE lines, no quotes, shell- and CMake-friendly):
#           SINCH_FAKE_URL=http://127.0.0.1:PORT
#           SINCH_FAKE_PID=PID
#           SINCH_FAKE_PORT=PORT
#           SINCH_FAKE_LOG=STATE_DIR/fake.log
#       and prints the URL on stdout.  The fake logs to STATE_DIR/fake.log.
#   fakectl.sh stop STATE_DIR
#       Sends SIGTERM, waits for exit (SIGKILL after 10 s), removes STATE_DIR/env.
#       Succeeds if nothing is running.
#   fakectl.sh status STATE_DIR
#       Exit 0 if the fake recorded in STATE_DIR/env is alive and answering.
#
# Needs only bash and python3.  Works as root and non-root, with no stdin/tty.
# Environment: PYTHON (default python3), SINCH_FAKE_START_TIMEOUT (seconds, default 15).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
fake_py="$here/sinch_fake.py"
py="${PYTHON:-python3}"

usage() {
    echo "usage: $0 start STATE_DIR [sinch_fake args...] | stop STATE_DIR | status STATE_DIR" >&2
    exit 2
}

# alive PID -> 0 if PID runs and is not a zombie
alive() {
    local pid="$1" state
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r "/proc/$pid/stat" ]]; then
        state="$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || state=""
        [[ "$state" == "Z" || "$state" == "X" ]] && return 1
    fi
    return 0
}

# is_our_fake PID -> 0 if PID's command line mentions sinch_fake.py (guards against PID reuse)
is_our_fake() {
    local pid="$1"
    [[ -r "/proc/$pid/cmdline" ]] || return 0   # no procfs: trust the env file
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'sinch_fake\.py'
}

health() {
    "$py" - "$1" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1] + "/_fake/health", timeout=2) as r:
    sys.exit(0 if r.status == 200 else 1)
EOF
}

read_env() {
    local dir="$1"
    SINCH_FAKE_PID="" SINCH_FAKE_URL=""
    [[ -f "$dir/env" ]] || return 1
    SINCH_FAKE_PID="$(sed -n 's/^SINCH_FAKE_PID=//p' "$dir/env" | head -n1)"
    SINCH_FAKE_URL="$(sed -n 's/^SINCH_FAKE_URL=//p' "$dir/env" | head -n1)"
    [[ -n "$SINCH_FAKE_PID" ]]
}

do_stop() {
    local dir="$1"
    if ! read_env "$dir"; then
        rm -f "$dir/port"
        return 0
    fi
    local pid="$SINCH_FAKE_PID"
    if alive "$pid" && is_our_fake "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        local i
        for ((i = 0; i < 100; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            echo "fakectl: pid $pid did not exit after SIGTERM; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            for ((i = 0; i < 50; i++)); do
                alive "$pid" || break
                sleep 0.1
            done
        fi
    fi
    rm -f "$dir/env" "$dir/port"
}

do_start() {
    local dir="$1"
    shift
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if read_env "$dir" && alive "$SINCH_FAKE_PID" && is_our_fake "$SINCH_FAKE_PID"; then
        echo "fakectl: a fake is already running for $dir (pid $SINCH_FAKE_PID, $SINCH_FAKE_URL)" >&2
        exit 1
    fi
    rm -f "$dir/env" "$dir/port"
    local log="$dir/fake.log"
    # stdin from /dev/null and stdout/stderr to the log, so callers that capture our output
    # (CMake execute_process, $(...)) are not kept waiting by the background process.
    "$py" "$fake_py" --listen 127.0.0.1:0 --port-file "$dir/port" "$@" </dev/null >>"$log" 2>&1 &
    local pid=$!
    local timeout="${SINCH_FAKE_START_TIMEOUT:-15}" port="" ok="" i
    for ((i = 0; i < timeout * 20; i++)); do
        if ! alive "$pid"; then
            echo "fakectl: sinch_fake exited during startup; log follows:" >&2
            tail -n 50 "$log" >&2 || true
            exit 1
        fi
        if [[ -s "$dir/port" ]]; then
            port="$(tr -dc '0-9' <"$dir/port")"
            if [[ -n "$port" ]] && health "http://127.0.0.1:$port"; then
                ok=1
                break
            fi
        fi
        sleep 0.05
    done
    if [[ -z "$ok" ]]; then
        echo "fakectl: sinch_fake did not answer within ${timeout}s; log follows:" >&2
        tail -n 50 "$log" >&2 || true
        kill -TERM "$pid" 2>/dev/null || true
        exit 1
    fi
    local url="http://127.0.0.1:$port"
    {
        echo "SINCH_FAKE_URL=$url"
        echo "SINCH_FAKE_PID=$pid"
        echo "SINCH_FAKE_PORT=$port"
        echo "SINCH_FAKE_LOG=$log"
    } >"$dir/env.tmp"
    mv -f "$dir/env.tmp" "$dir/env"
    echo "$url"
}

do_status() {
    local dir="$1"
    read_env "$dir" || { echo "fakectl: not running (no $dir/env)" >&2; return 1; }
    alive "$SINCH_FAKE_PID" || { echo "fakectl: pid $SINCH_FAKE_PID is gone" >&2; return 1; }
    health "$SINCH_FAKE_URL" || { echo "fakectl: $SINCH_FAKE_URL does not answer" >&2; return 1; }
    echo "$SINCH_FAKE_URL"
}

[[ $# -ge 2 ]] || usage
cmd="$1"
state_dir="$2"
shift 2
case "$cmd" in
    start) do_start "$state_dir" "$@" ;;
    stop) [[ $# -eq 0 ]] || usage; do_stop "$state_dir" ;;
    status) [[ $# -eq 0 ]] || usage; do_status "$state_dir" ;;
    *) usage ;;
esac
