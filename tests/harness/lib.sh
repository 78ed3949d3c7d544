# shellcheck shell=bash
# Helpers for ferry's integration test scripts (tests/integration/test_*.sh).
#
# A test starts with
#     . "$FERRY_SRC/tests/harness/lib.sh"
#     ferry_test_init my_test
# and then talks to the servers the "servers" ctest fixture started
# (tests/harness/servers.sh), whose addresses ferry_test_init loads from
# $FERRY_ENV. Sourcing this file only defines functions; servers.sh sources it
# too, for the port helpers.

# ferry_test_init NAME
#   Strict mode, the fixture's environment, a private scratch directory
#   ($FERRY_TEST_TMP, under $FERRY_TEST_DIR/tests) and an EXIT trap that runs
#   the cleanups registered with ferry_cleanup_add, newest first.
ferry_test_init() {
    set -euo pipefail
    FERRY_TEST_NAME=${1:?ferry_test_init needs a test name}
    if [ -z "${FERRY_ENV:-}" ] || [ ! -r "$FERRY_ENV" ]; then
        echo "FAIL: $FERRY_TEST_NAME: no server environment at '${FERRY_ENV:-}'" \
             "(did the servers fixture start? see servers.start in ctest's output)" >&2
        exit 1
    fi
    # shellcheck source=/dev/null
    . "$FERRY_ENV"
    mkdir -p "$FERRY_TEST_DIR/tests"
    FERRY_TEST_TMP=$(mktemp -d "$FERRY_TEST_DIR/tests/$FERRY_TEST_NAME.XXXXXX")
    export FERRY_TEST_NAME FERRY_TEST_TMP
    _ferry_cleanups=()
    trap _ferry_run_cleanups EXIT
    # Turn signals into an ordinary exit so that the cleanups still run.
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# ferry_cleanup_add CMD [ARG...]
#   Registers a command to run when the test exits, whatever the outcome.
#   One argument is taken as shell text (`ferry_cleanup_add "kill $pid"`);
#   several are quoted word by word (`ferry_cleanup_add rm -rf "$dir"`).
#   Cleanups run in reverse order of registration; their failures are ignored.
ferry_cleanup_add() {
    if [ $# -eq 1 ]; then
        _ferry_cleanups+=("$1")
    else
        _ferry_cleanups+=("$(printf '%q ' "$@")")
    fi
}

_ferry_run_cleanups() {
    local rc=$? i
    trap - EXIT
    set +e
    for ((i = ${#_ferry_cleanups[@]} - 1; i >= 0; i--)); do
        eval "${_ferry_cleanups[i]}" </dev/null
    done
    # A failed test keeps its scratch directory until servers.sh stop, so that
    # its files can be looked at.
    if [ "$rc" -eq 0 ] && [ "${FERRY_KEEP_TEST_DATA:-0}" != 1 ]; then
        rm -rf "$FERRY_TEST_TMP"
    elif [ "$rc" -ne 0 ]; then
        echo "$FERRY_TEST_NAME: exit status $rc; scratch files in $FERRY_TEST_TMP" >&2
    fi
    exit "$rc"
}

# fail MSG...   prints "FAIL: <test>: MSG" on stderr and exits 1.
fail() {
    echo "FAIL: ${FERRY_TEST_NAME:-test}: $*" >&2
    exit 1
}

# pass MSG...   prints "PASS: <test>: MSG" (a checkpoint; it does not exit).
pass() {
    echo "PASS: ${FERRY_TEST_NAME:-test}: $*"
}

# mysql1 / mysql2 [mariadb client args...]
#   The mariadb client as ferry over TCP to the source (1) or destination (2),
#   batch mode without column names (-N -B), utf8mb4, LOCAL INFILE allowed.
#   Example: n=$(mysql1 -e 'SELECT COUNT(*) FROM db.t')
mysql1() { _ferry_mysql "$FERRY_MARIADB1_HOST" "$FERRY_MARIADB1_PORT" "$@"; }
mysql2() { _ferry_mysql "$FERRY_MARIADB2_HOST" "$FERRY_MARIADB2_PORT" "$@"; }

_ferry_mysql() {
    local host=$1 port=$2
    shift 2
    MYSQL_PWD=$FERRY_DB_PASSWORD mariadb --no-defaults --protocol=TCP \
        -h "$host" -P "$port" -u "$FERRY_DB_USER" --connect-timeout=10 \
        --default-character-set=utf8mb4 --local-infile=1 -N -B "$@"
}

# psql_ferry [psql args...]
#   psql as ferry on the test PostgreSQL's database "ferry": no psqlrc,
#   unaligned tuples only (-A -t), stops at the first error.
#   Example: psql_ferry -c 'SHOW wal_level'
psql_ferry() {
    PGCONNECT_TIMEOUT=10 psql "$FERRY_PG_URL" -X -q -A -t -v ON_ERROR_STOP=1 "$@"
}

# wait_for CMD TIMEOUT_S DESCRIPTION
#   Runs the shell text CMD every 0.2 s until it succeeds; fails the test
#   ("timed out after Ns waiting for DESCRIPTION") if it has not within
#   TIMEOUT_S seconds. CMD's output is discarded.
wait_for() {
    local cmd=$1 timeout=$2 what=${3:-$1} deadline
    deadline=$((SECONDS + timeout))
    until eval "$cmd" >/dev/null 2>&1; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            fail "timed out after ${timeout}s waiting for $what"
        fi
        sleep 0.2
    done
}

# wait_http URL TIMEOUT_S
#   Waits until URL answers with a 2xx status; fails the test otherwise.
wait_http() {
    local url=$1
    wait_for "curl -fsS --max-time 2 $(printf '%q' "$url")" "$2" "$url to answer"
}

# port_in_use PORT: true when some TCP socket (any state) uses the local port.
port_in_use() {
    local port=$1 hex
    if command -v ss >/dev/null 2>&1; then
        [ -n "$(ss -Htan "sport = :$port" 2>/dev/null)" ]
    else
        printf -v hex '%04X' "$port"
        awk -v p=":$hex" 'FNR > 1 && substr($2, length($2) - 4) == p { found = 1 }
                          END { exit !found }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
    fi
}

# free_port
#   Prints a TCP port that nothing uses right now, from 20000-32767 (below
#   Linux's ephemeral range, so outgoing connections do not take it). Ports
#   handed out are remembered under $FERRY_TEST_DIR/ports (or $FERRY_PORT_DIR)
#   so that two callers of one run do not get the same one; another program
#   may still take it before it is bound, so whoever binds it should retry
#   with a new port when the bind fails.
free_port() {
    local claims=${FERRY_PORT_DIR:-${FERRY_TEST_DIR:+$FERRY_TEST_DIR/ports}} port i
    [ -n "$claims" ] && mkdir -p "$claims"
    for ((i = 0; i < 500; i++)); do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
        port_in_use "$port" && continue
        if [ -n "$claims" ]; then
            mkdir "$claims/$port" 2>/dev/null || continue
        fi
        echo "$port"
        return 0
    done
    echo "free_port: found no free port in 20000-32767" >&2
    return 1
}

# ferry_proc_alive PID: true when PID runs and is not a zombie.
ferry_proc_alive() {
    local stat
    [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    case $stat in Z* | X*) return 1 ;; esac
}

# _ferry_pgrp PID: the process group of PID (empty when it is gone).
_ferry_pgrp() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    # After the command name: state, parent pid, process group.
    local _state _ppid pgrp
    read -r _state _ppid pgrp _ <<<"$stat"
    echo "$pgrp"
}

# ferry_stop_pid PID [SIGNAL] [TIMEOUT_S]
#   Sends SIGNAL (default TERM), waits up to TIMEOUT_S (default 20) for the
#   process to go, then kills it, and its process group if it leads one.
ferry_stop_pid() {
    local pid=$1 sig=${2:-TERM} timeout=${3:-20} deadline
    ferry_proc_alive "$pid" || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
    deadline=$((SECONDS + timeout))
    while ferry_proc_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.1
    done
    if ferry_proc_alive "$pid"; then
        echo "pid $pid did not stop within ${timeout}s of SIG$sig; killing it" >&2
        if [ "$(_ferry_pgrp "$pid")" = "$pid" ]; then
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
        kill -KILL "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 10))
        while ferry_proc_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    fi
    return 0
}

# ferry_devkafka_launch DIR LOG [EXTRA_ARGS...]
#   Starts $FERRY_BUILD/tools/ferry-devkafka in its own session with its
#   bootstrap and control addresses written to DIR/bootstrap and DIR/control,
#   and waits (FERRY_DEVKAFKA_TIMEOUT s, default 30) until both are there.
#   Retries with another control port when the one chosen was taken.
#   The pid and DIR go to $DEVKAFKA_PIDFILE (default DIR/devkafka.pid) as soon
#   as it runs. Sets DEVKAFKA_PID, DEVKAFKA_BOOTSTRAP and DEVKAFKA_CONTROL; returns 1
#   with an explanation and the log's tail on stderr if it did not come up.
ferry_devkafka_launch() {
    local dir=$1 log=$2 bin attempt port deadline offset rc
    shift 2
    bin=${FERRY_DEVKAFKA_BIN:-${FERRY_BUILD:?FERRY_BUILD is not set}/tools/ferry-devkafka}
    DEVKAFKA_PID="" DEVKAFKA_BOOTSTRAP="" DEVKAFKA_CONTROL=""
    if [ ! -x "$bin" ]; then
        echo "ferry-devkafka is not built: no executable $bin" >&2
        return 1
    fi
    mkdir -p "$dir"
    for attempt in 1 2 3 4 5; do
        port=$(free_port) || return 1
        rm -f "$dir/bootstrap" "$dir/control"
        offset=$(stat -c %s "$log" 2>/dev/null || echo 0)
        setsid "$bin" --bootstrap-file "$dir/bootstrap" --control-port "$port" \
            --control-file "$dir/control" "$@" </dev/null >>"$log" 2>&1 &
        DEVKAFKA_PID=$!
        printf '%s\n%s\n' "$DEVKAFKA_PID" "$dir/" >"${DEVKAFKA_PIDFILE:-$dir/devkafka.pid}"
        deadline=$((SECONDS + ${FERRY_DEVKAFKA_TIMEOUT:-30}))
        while ferry_proc_alive "$DEVKAFKA_PID" && [ "$SECONDS" -lt "$deadline" ]; do
            if [ -s "$dir/bootstrap" ] && [ -s "$dir/control" ]; then
                DEVKAFKA_BOOTSTRAP=$(_ferry_addr_file "$dir/bootstrap" bootstrap)
                DEVKAFKA_CONTROL=$(_ferry_addr_file "$dir/control" control)
                # Read again a moment later, in case a file was caught half
                # written.
                sleep 0.05
                if [ -n "$DEVKAFKA_BOOTSTRAP" ] && [ -n "$DEVKAFKA_CONTROL" ] &&
                    [ "$DEVKAFKA_BOOTSTRAP" = "$(_ferry_addr_file "$dir/bootstrap" bootstrap)" ] &&
                    [ "$DEVKAFKA_CONTROL" = "$(_ferry_addr_file "$dir/control" control)" ]; then
                    return 0
                fi
            fi
            sleep 0.1
        done
        if ! ferry_proc_alive "$DEVKAFKA_PID" &&
            tail -c +"$((offset + 1))" "$log" | grep -Eqi 'address already in use|could not (listen|bind)'; then
            echo "ferry-devkafka: control port $port was taken; retrying (attempt $attempt)" >&2
            continue
        fi
        if ferry_proc_alive "$DEVKAFKA_PID"; then
            echo "ferry-devkafka (pid $DEVKAFKA_PID) wrote no addresses to $dir/bootstrap" \
                 "and $dir/control within ${FERRY_DEVKAFKA_TIMEOUT:-30}s; log $log:" >&2
            ferry_stop_pid "$DEVKAFKA_PID" TERM 5
        else
            wait "$DEVKAFKA_PID" 2>/dev/null && rc=0 || rc=$?
            echo "ferry-devkafka exited (status ${rc}) before writing its addresses" \
                 "to $dir/bootstrap and $dir/control; log $log:" >&2
        fi
        tail -n 30 "$log" | _ferry_indent >&2
        return 1
    done
    echo "ferry-devkafka: gave up after 5 port collisions; log $log" >&2
    return 1
}

# _ferry_addr_file FILE KEY: the address in FILE, with or without "KEY=".
_ferry_addr_file() {
    local line
    line=$(head -n 1 "$1" 2>/dev/null | tr -d ' \r\n')
    echo "${line#"$2"=}"
}

# start_devkafka DIR [EXTRA_ARGS...]
#   Starts a private ferry-devkafka (for tests that inject faults or kill the
#   broker) with its files and log under DIR, and registers its cleanup.
#   Sets DEVKAFKA_BOOTSTRAP (host:port,...), DEVKAFKA_CONTROL
#   (http://127.0.0.1:PORT) and DEVKAFKA_PID; fails the test if it does not
#   start. EXTRA_ARGS go to ferry-devkafka (e.g. --brokers 3 --partitions 4).
start_devkafka() {
    local dir=$1
    shift
    mkdir -p "$dir"
    if ! ferry_devkafka_launch "$dir" "$dir/devkafka.log" "$@"; then
        fail "could not start a private ferry-devkafka in $dir"
    fi
    ferry_cleanup_add ferry_stop_pid "$DEVKAFKA_PID" TERM 10
}

# expect_fail_with PATTERN CMD [ARG...]
#   Runs CMD and checks that it exits non-zero with stderr matching the
#   extended regular expression PATTERN; otherwise fails the test and shows
#   the status, stdout and stderr it got. The output stays in
#   $FERRY_LAST_STDOUT and $FERRY_LAST_STDERR for further checks.
expect_fail_with() {
    local pattern=$1 rc out err
    shift
    out=$(mktemp "${FERRY_TEST_TMP:-/tmp}/out.XXXXXX")
    err=$(mktemp "${FERRY_TEST_TMP:-/tmp}/err.XXXXXX")
    "$@" >"$out" 2>"$err" && rc=0 || rc=$?
    FERRY_LAST_STDOUT=$(cat "$out")
    FERRY_LAST_STDERR=$(cat "$err")
    rm -f "$out" "$err"
    if [ "$rc" -eq 0 ] || ! grep -Eq -- "$pattern" <<<"$FERRY_LAST_STDERR"; then
        {
            echo "FAIL: ${FERRY_TEST_NAME:-test}: expected '$*' to fail with stderr matching /$pattern/"
            echo "  exit status: $rc"
            echo "  stdout:"
            _ferry_indent <<<"$FERRY_LAST_STDOUT"
            echo "  stderr:"
            _ferry_indent <<<"$FERRY_LAST_STDERR"
        } >&2
        exit 1
    fi
}

_ferry_indent() { sed 's/^/    /'; }
