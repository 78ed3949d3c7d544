#!/usr/bin/env bash
# Starts and stops the servers ferry's integration tests run against, on free
# loopback ports, with all their files under one directory:
#   mariadb1    MariaDB, the source (binlog ROW/FULL/FULL metadata, GTIDs)
#   mariadb2    MariaDB, the destination (same settings, other server_id)
#   pg          PostgreSQL 15 with wal_level=logical
#   devkafka    ferry-devkafka, the in-memory Kafka broker
# and writes DIR/env.sh with their addresses for the tests to source.
#
#   servers.sh start DIR   kill what a previous run left, wipe DIR, start all
#   servers.sh stop DIR    stop all (graceful, then kill), remove the data
#                          (kept with FERRY_KEEP_TEST_DATA=1; logs always kept)
#   servers.sh restart DIR NAME [SECONDS]
#                          stop MariaDB NAME, wait SECONDS, start it again on
#                          its port (for tests that run alone)
#
# ctest runs these as the "servers" fixture (tests/CMakeLists.txt). Both are
# idempotent, and stop works on whatever a failed start left behind.
#
# Environment: FERRY_BUILD (to find tools/ferry-devkafka; default DIR/..),
# FERRY_SERVER_START_TIMEOUT (seconds per server, default 90),
# FERRY_DEVKAFKA_ARGS (extra ferry-devkafka arguments, e.g. "--brokers 3"),
# FERRY_DEVKAFKA_BIN (another ferry-devkafka executable),
# FERRY_TEST_SKIP_KAFKA=1 (start only the databases; the FERRY_KAFKA_*
# variables are then empty), FERRY_TEST_SKIP_PG=1 (no PostgreSQL; the
# FERRY_PG_* variables are then empty), FERRY_PG_BIN (default
# /usr/lib/postgresql/15/bin).
set -euo pipefail

HARNESS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HARNESS/lib.sh"

PG_BIN=${FERRY_PG_BIN:-/usr/lib/postgresql/15/bin}
START_TIMEOUT=${FERRY_SERVER_START_TIMEOUT:-90}
# Unix socket paths must fit in sockaddr_un (108 bytes); long build paths put
# the sockets in a short directory under /tmp instead.
SOCKET_PATH_MAX=90

die() {
    echo "servers.sh: $*" >&2
    exit 1
}

log() {
    echo "servers.sh: $*"
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# ---------------------------------------------------------------- stopping

# Every process that start launched has DIR/pids/NAME.pid. A pid is only
# signalled while the process's command line still names our directory, so a
# recycled pid is left alone.
owned_pid() {
    local pid=$1 needle=$2
    ferry_proc_alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$needle"
}

# Signal each server the way it shuts down fast and cleanly: PostgreSQL's
# fast shutdown is SIGINT (SIGTERM would wait for clients to disconnect).
stop_signal() {
    case $1 in
        pg) echo INT ;;
        *) echo TERM ;;
    esac
}

stop_all() {
    local dir=$1 f name pid needle sig
    local -a waiters=()
    if [ -d "$dir/pids" ]; then
        for f in "$dir"/pids/*.pid; do
            [ -e "$f" ] || continue
            name=$(basename "$f" .pid)
            pid=$(head -n 1 "$f" 2>/dev/null || true)
            needle=$(sed -n 2p "$f" 2>/dev/null || true)
            if [[ $pid =~ ^[0-9]+$ ]] && owned_pid "$pid" "${needle:-$dir/}"; then
                sig=$(stop_signal "$name")
                ferry_stop_pid "$pid" "$sig" 30 &
                waiters+=($!)
            fi
        done
    fi
    for pid in "${waiters[@]}"; do wait "$pid" || true; done
    sweep_leftovers "$dir"
}

# Processes that lost their pid file (a crashed run, an edited directory):
# servers and ferry programs whose command line names a path in DIR.
sweep_leftovers() {
    local dir=$1 p pid comm
    local -a extra=()
    [ -r "$dir/pg.home" ] && extra+=("$(cat "$dir/pg.home")/")
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [ "$pid" = $$ ] && continue
        comm=$(cat "$p/comm" 2>/dev/null) || continue
        case $comm in
            mariadbd | mysqld | postgres | ferry-* | kcat) ;;
            *) continue ;;
        esac
        if owned_pid "$pid" "$dir/" ||
            { [ ${#extra[@]} -gt 0 ] && owned_pid "$pid" "${extra[0]}"; }; then
            echo "servers.sh: stopping leftover $comm (pid $pid)" >&2
            ferry_stop_pid "$pid" "$( [ "$comm" = postgres ] && echo INT || echo TERM)" 10
        fi
    done
}

# Removes data, sockets and scratch files; keeps DIR/logs for post-mortems.
remove_data() {
    local dir=$1 f home
    for f in "$dir/pg.home" "$dir/sock.home"; do
        home=$(cat "$f" 2>/dev/null || true)
        # Only ever a directory this script made with mktemp.
        case $home in
            /tmp/ferry-pg.?* | /tmp/ferry-sock.?*) rm -rf -- "$home" ;;
        esac
    done
    [ -d "$dir" ] || return 0
    find "$dir" -mindepth 1 -maxdepth 1 ! -name logs -exec rm -rf -- {} +
}

cmd_stop() {
    local dir=$1 t0=$SECONDS
    [ -d "$dir" ] || return 0
    stop_all "$dir"
    if [ "${FERRY_KEEP_TEST_DATA:-0}" = 1 ]; then
        log "stopped; data kept in $dir (FERRY_KEEP_TEST_DATA=1)"
    else
        remove_data "$dir"
        log "stopped and removed the data in $dir (logs in $dir/logs) in $((SECONDS - t0))s"
    fi
}

# ---------------------------------------------------------------- starting

# tail_log NAME FILE: the end of a server's log, indented, on stderr.
tail_log() {
    echo "servers.sh: $1 log $2 (last 30 lines):" >&2
    tail -n 30 "$2" 2>/dev/null | _ferry_indent >&2 || true
}

# record_pid NAME PID NEEDLE: the pid file stop reads.
record_pid() {
    printf '%s\n%s\n' "$2" "$3" >"$DIR/pids/$1.pid"
}

# A short directory for unix sockets when DIR is too deep for them.
socket_dir_for() {
    local name=$1 base=$DIR
    if [ $((${#DIR} + 24)) -gt $SOCKET_PATH_MAX ]; then
        base=$(cat "$DIR/sock.home")
    fi
    mkdir -p "$base/$name"
    echo "$base/$name"
}

mariadb_install() {
    local name=$1 d=$DIR/$1
    mkdir -p "$d"
    local -a user=()
    is_root && user=(--user=root)
    # The ferry accounts are created here, at bootstrap, so they exist before
    # the server first listens and are not in the binary log. FLUSH
    # PRIVILEGES loads the grant tables, which bootstrap mode skips.
    cat >"$d/users.sql" <<'EOF'
FLUSH PRIVILEGES;
CREATE USER 'ferry'@'%' IDENTIFIED BY 'ferry';
CREATE USER 'ferry'@'localhost' IDENTIFIED BY 'ferry';
GRANT ALL PRIVILEGES ON *.* TO 'ferry'@'%' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO 'ferry'@'localhost' WITH GRANT OPTION;
GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR ON *.* TO 'ferry'@'%';
GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR ON *.* TO 'ferry'@'localhost';
EOF
    # Each instance gets its own tmpdir: a starting mariadbd deletes every
    # #sql* file in its tmpdir, which would pull temporary tables from under
    # any other server sharing /tmp.
    mkdir -p "$d/tmp"
    if ! mariadb-install-db --no-defaults --datadir="$d/data" --tmpdir="$d/tmp" "${user[@]}" \
        --skip-test-db --skip-name-resolve --extra-file="$d/users.sql" \
        --innodb-buffer-pool-size=64M --innodb-log-file-size=64M \
        --innodb-use-native-aio=0 >"$DIR/logs/$name-install.log" 2>&1; then
        # mariadb-install-db puts the actual error first, advice after it.
        echo "servers.sh: $name install log $DIR/logs/$name-install.log (first 15 lines):" >&2
        head -n 15 "$DIR/logs/$name-install.log" | _ferry_indent >&2
        die "could not initialise $name's data directory"
    fi
}

mariadb_config() {
    local name=$1 server_id=$2 port=$3 sock=$4 d=$DIR/$1
    cat >"$d/my.cnf" <<EOF
# Written by tests/harness/servers.sh for the ferry tests.
[mariadbd]
datadir=$d/data
tmpdir=$d/tmp
socket=$sock
port=$port
bind-address=127.0.0.1
pid-file=$d/mariadbd.pid
log-error=$DIR/logs/$name.log
skip-name-resolve
server_id=$server_id
# Replication as ferry's capture needs it: full row images with metadata.
log_bin=mariadb-bin
log_bin_index=mariadb-bin.index
binlog_format=ROW
binlog_row_image=FULL
binlog_row_metadata=FULL
binlog_checksum=CRC32
# One GTID domain per instance (both are written to independently, as in an
# active-active pair), strict ordering, and applied events logged again.
gtid_domain_id=$server_id
gtid_strict_mode=ON
log_slave_updates=ON
local_infile=ON
character-set-server=utf8mb4
default-time-zone=+00:00
max_allowed_packet=64M
max_connections=300
# Small and fast: a shared 2-core CI machine, data that need not survive a
# power cut.
innodb_buffer_pool_size=64M
innodb_log_file_size=64M
innodb_log_buffer_size=8M
innodb_flush_log_at_trx_commit=2
innodb_doublewrite=0
innodb_use_native_aio=0
sync_binlog=0
performance_schema=OFF
key_buffer_size=8M
EOF
}

# mariadb_launch NAME PORT: starts MariaDB NAME with its my.cnf and waits
# until ferry can log in on PORT. Returns 1 if it died or did not answer in
# time (the caller looks at its log); exits if it answers but refuses ferry.
mariadb_launch() {
    local name=$1 port=$2 d=$DIR/$1 pid deadline
    local -a user=()
    is_root && user=(--user=root)
    setsid mariadbd --defaults-file="$d/my.cnf" "${user[@]}" \
        </dev/null >>"$DIR/logs/$name.out" 2>&1 &
    pid=$!
    record_pid "$name" "$pid" "$d/my.cnf"
    deadline=$((SECONDS + START_TIMEOUT))
    while ferry_proc_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
        if MYSQL_PWD=ferry mariadb-admin --no-defaults --protocol=TCP -h 127.0.0.1 \
            -P "$port" -u ferry --connect-timeout=2 ping >/dev/null 2>&1; then
            break
        fi
        sleep 0.1
    done
    if ferry_proc_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; then
        if ! MYSQL_PWD=ferry mariadb --no-defaults --protocol=TCP -h 127.0.0.1 \
            -P "$port" -u ferry -N -B -e 'SELECT 1' >/dev/null 2>"$d/login.err"; then
            cat "$d/login.err" >&2
            die "$name answers on port $port but ferry cannot log in (log: $DIR/logs/$name.log)"
        fi
        return 0
    fi
    ferry_proc_alive "$pid" && ferry_stop_pid "$pid" TERM 10
    return 1
}

mariadb_start() {
    local name=$1 server_id=$2 d=$DIR/$1 sock port attempt offset
    local logf=$DIR/logs/$1.log
    sock=$(socket_dir_for "$name")/mariadbd.sock
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        mariadb_config "$name" "$server_id" "$port" "$sock"
        offset=$(stat -c %s "$logf" 2>/dev/null || echo 0)
        if mariadb_launch "$name" "$port"; then
            printf '%s\n' "$port" >"$d/port"
            printf '%s\n' "$sock" >"$d/socket"
            return 0
        fi
        if tail -c +"$((offset + 1))" "$logf" 2>/dev/null | grep -q 'Address already in use'; then
            log "$name: port $port was taken, retrying with another (attempt $attempt)"
            continue
        fi
        tail_log "$name" "$logf"
        tail_log "$name stdout/stderr" "$DIR/logs/$name.out"
        die "$name (MariaDB) did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s; log: $logf"
    done
    die "$name: gave up after 5 port collisions; log: $logf"
}

# servers.sh restart DIR NAME [SECONDS]: stops MariaDB NAME (mariadb1 or
# mariadb2) as a service manager would (SIGTERM, then wait), leaves it down
# SECONDS (default 0) and starts it again with the same files and port. For
# tests of what a restarted server does to a link; they run alone ("#
# ferry-test: serial"), since every test shares these servers.
cmd_restart() {
    local name=$1 down=${2:-0} pid port
    case $name in
        mariadb1 | mariadb2) ;;
        *) die "restart: NAME must be mariadb1 or mariadb2, not '$name'" ;;
    esac
    [[ $down =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "restart: SECONDS must be a number, not '$down'"
    pid=$(head -n 1 "$DIR/pids/$name.pid" 2>/dev/null || true)
    port=$(cat "$DIR/$name/port" 2>/dev/null) || die "restart: $name was never started in $DIR"
    if [[ $pid =~ ^[0-9]+$ ]] && owned_pid "$pid" "$DIR/$name/my.cnf"; then
        ferry_stop_pid "$pid" TERM 60
    fi
    if MYSQL_PWD=ferry mariadb-admin --no-defaults --protocol=TCP -h 127.0.0.1 -P "$port" \
        -u ferry --connect-timeout=2 ping >/dev/null 2>&1; then
        die "restart: a server not started by $DIR/pids/$name.pid answers on port $port"
    fi
    log "$name stopped; starting it again in ${down}s"
    sleep "$down"
    if ! mariadb_launch "$name" "$port"; then
        tail_log "$name" "$DIR/logs/$name.log"
        die "$name did not come back on 127.0.0.1:$port within ${START_TIMEOUT}s"
    fi
    log "$name answers again on 127.0.0.1:$port"
}

# The data directory must belong to postgres when we are root, and postgres
# must be able to reach it; if DIR's parents are closed to it, the data goes
# to a private directory under /tmp (recorded in DIR/pg.home).
pg_home() {
    local h=$DIR/pg
    mkdir -p "$h"
    # PostgreSQL runs as postgres, which must be able to walk from "/". A
    # root directory closed to other users (seen in chroots made with
    # mktemp -d, mode 0700) blocks every program it runs: open "/" for
    # traversal, as any ordinary system has it, and say so.
    if is_root && ! runuser -u postgres -- test -x / 2>/dev/null; then
        echo "servers.sh: '/' is closed to the postgres user (mode $(stat -c %a /)); adding o+x" >&2
        chmod o+x /
    fi
    if is_root; then
        chown postgres: "$h"
        if ! runuser -u postgres -- test -w "$h" 2>/dev/null ||
            [ $((${#h} + 24)) -gt $SOCKET_PATH_MAX ]; then
            h=$(mktemp -d /tmp/ferry-pg.XXXXXX)
            chown postgres: "$h"
            echo "$h" >"$DIR/pg.home"
        fi
    elif [ $((${#h} + 24)) -gt $SOCKET_PATH_MAX ]; then
        h=$(mktemp -d /tmp/ferry-pg.XXXXXX)
        echo "$h" >"$DIR/pg.home"
    fi
    echo "$h"
}

# Runs a PostgreSQL program as postgres (as ourselves when not root: initdb
# and postgres refuse to run as root).
as_pg() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

pg_start() {
    local h port attempt pid offset deadline logf=$DIR/logs/pg.log
    h=$(pg_home)
    : >"$logf"
    if ! as_pg "$PG_BIN/initdb" -D "$h/data" -U postgres --auth-local=trust \
        --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync \
        >"$DIR/logs/pg-initdb.log" 2>&1; then
        tail_log "pg initdb" "$DIR/logs/pg-initdb.log"
        die "could not initialise PostgreSQL's data directory $h/data"
    fi
    cat >>"$h/data/postgresql.conf" <<EOF

# Added by tests/harness/servers.sh for the ferry tests.
listen_addresses = '127.0.0.1'
unix_socket_directories = '$h'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
max_connections = 200
shared_buffers = 64MB
timezone = 'UTC'
# Throwaway data: skip the disk flushes.
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    local -a run_as=()
    is_root && run_as=(setpriv --reuid=postgres --regid=postgres --clear-groups)
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        offset=$(stat -c %s "$logf")
        setsid "${run_as[@]}" "$PG_BIN/postgres" -D "$h/data" -p "$port" \
            </dev/null >>"$logf" 2>&1 &
        pid=$!
        record_pid pg "$pid" "$h/data"
        deadline=$((SECONDS + START_TIMEOUT))
        while ferry_proc_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
            "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 && break
            sleep 0.1
        done
        if ferry_proc_alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; then
            if ! "$PG_BIN/psql" -X -q -h "$h" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
                -c "CREATE ROLE ferry LOGIN SUPERUSER REPLICATION PASSWORD 'ferry'" \
                -c "CREATE DATABASE ferry OWNER ferry" >"$DIR/logs/pg-setup.log" 2>&1 ||
                ! PGPASSWORD=ferry "$PG_BIN/psql" -X -q -At -h 127.0.0.1 -p "$port" -U ferry -d ferry \
                    -c 'SELECT 1' >>"$DIR/logs/pg-setup.log" 2>&1; then
                tail_log "pg setup" "$DIR/logs/pg-setup.log"
                die "could not create PostgreSQL's ferry role and database (log: $logf)"
            fi
            printf '%s\n' "$port" >"$DIR/pg/port"
            printf '%s\n' "$h" >"$DIR/pg/socket_dir"
            return 0
        fi
        if ! ferry_proc_alive "$pid" &&
            tail -c +"$((offset + 1))" "$logf" | grep -q 'Address already in use'; then
            log "pg: port $port was taken, retrying with another (attempt $attempt)"
            continue
        fi
        ferry_proc_alive "$pid" && ferry_stop_pid "$pid" INT 10
        tail_log pg "$logf"
        die "PostgreSQL did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s; log: $logf"
    done
    die "pg: gave up after 5 port collisions; log: $logf"
}

kafka_start() {
    local -a args=()
    # Word splitting of the extra arguments is intended.
    # shellcheck disable=SC2206
    [ -n "${FERRY_DEVKAFKA_ARGS:-}" ] && args=($FERRY_DEVKAFKA_ARGS)
    if ! FERRY_DEVKAFKA_TIMEOUT=$START_TIMEOUT DEVKAFKA_PIDFILE=$DIR/pids/devkafka.pid \
        ferry_devkafka_launch "$DIR/kafka" "$DIR/logs/devkafka.log" "${args[@]}"; then
        die "ferry-devkafka did not start; log: $DIR/logs/devkafka.log"
    fi
    printf '%s\n' "$DEVKAFKA_BOOTSTRAP" >"$DIR/kafka/bootstrap.addr"
    printf '%s\n' "$DEVKAFKA_CONTROL" >"$DIR/kafka/control.addr"
}

write_env() {
    local p1 p2 ph="" pp="" s1 s2 ps="" pu="" kb="" kc="" tmp=$DIR/env.sh.tmp
    p1=$(cat "$DIR/mariadb1/port") s1=$(cat "$DIR/mariadb1/socket")
    p2=$(cat "$DIR/mariadb2/port") s2=$(cat "$DIR/mariadb2/socket")
    if [ "${FERRY_TEST_SKIP_PG:-0}" != 1 ]; then
        pp=$(cat "$DIR/pg/port") ps=$(cat "$DIR/pg/socket_dir")
        ph=127.0.0.1 pu="postgresql://ferry:ferry@127.0.0.1:$pp/ferry"
    fi
    if [ "${FERRY_TEST_SKIP_KAFKA:-0}" != 1 ]; then
        kb=$(cat "$DIR/kafka/bootstrap.addr") kc=$(cat "$DIR/kafka/control.addr")
    fi
    {
        echo "# Written by tests/harness/servers.sh start; removed by servers.sh stop."
        envline FERRY_TEST_DIR "$DIR"
        envline FERRY_DB_USER ferry
        envline FERRY_DB_PASSWORD ferry
        envline FERRY_MARIADB1_HOST 127.0.0.1
        envline FERRY_MARIADB1_PORT "$p1"
        envline FERRY_MARIADB1_SOCKET "$s1"
        envline FERRY_MARIADB1_URL "mysql://ferry:ferry@127.0.0.1:$p1"
        envline FERRY_MARIADB2_HOST 127.0.0.1
        envline FERRY_MARIADB2_PORT "$p2"
        envline FERRY_MARIADB2_SOCKET "$s2"
        envline FERRY_MARIADB2_URL "mysql://ferry:ferry@127.0.0.1:$p2"
        envline FERRY_PG_HOST "$ph"
        envline FERRY_PG_PORT "$pp"
        envline FERRY_PG_SOCKET_DIR "$ps"
        envline FERRY_PG_URL "$pu"
        envline FERRY_KAFKA_BOOTSTRAP "$kb"
        envline FERRY_KAFKA_CONTROL "$kc"
    } >"$tmp"
    mv -f "$tmp" "$DIR/env.sh"
}

envline() {
    printf 'export %s=%q\n' "$1" "$2"
}

# run_bg NAME FUNC ARGS...: runs FUNC in the background with its output in
# DIR/logs/setup-NAME.log; the pid goes to the array `jobs_pids`.
run_bg() {
    local name=$1
    shift
    ("$@") >"$DIR/logs/setup-$name.log" 2>&1 &
    jobs_pids+=($!)
    jobs_names+=("$name")
}

cmd_start() {
    local t0=$SECONDS i failed=0
    [ -d "$DIR" ] && stop_all "$DIR"
    remove_data "$DIR"
    rm -rf -- "$DIR/logs"
    mkdir -p "$DIR/logs" "$DIR/pids" "$DIR/ports"
    if [ $((${#DIR} + 24)) -gt $SOCKET_PATH_MAX ]; then
        mktemp -d /tmp/ferry-sock.XXXXXX >"$DIR/sock.home"
    fi
    export FERRY_PORT_DIR=$DIR/ports
    export FERRY_BUILD=${FERRY_BUILD:-$(dirname "$DIR")}

    jobs_pids=() jobs_names=()
    run_bg mariadb1 mariadb_setup mariadb1 101
    run_bg mariadb2 mariadb_setup mariadb2 102
    if [ "${FERRY_TEST_SKIP_PG:-0}" != 1 ]; then
        run_bg pg pg_start
    fi
    if [ "${FERRY_TEST_SKIP_KAFKA:-0}" != 1 ]; then
        run_bg devkafka kafka_start
    fi
    for i in "${!jobs_pids[@]}"; do
        if ! wait "${jobs_pids[i]}"; then
            failed=1
            echo "servers.sh: starting ${jobs_names[i]} failed:" >&2
            _ferry_indent <"$DIR/logs/setup-${jobs_names[i]}.log" >&2
        fi
    done
    if [ "$failed" = 1 ]; then
        echo "servers.sh: stopping what did start; logs stay in $DIR/logs" >&2
        stop_all "$DIR"
        exit 1
    fi
    write_env
    log "all servers up in $((SECONDS - t0))s; environment in $DIR/env.sh"
    sed -n 's/^export \(FERRY_[A-Z0-9_]*\(PORT\|BOOTSTRAP\|CONTROL\)\)=/  \1=/p' "$DIR/env.sh"
}

mariadb_setup() {
    mariadb_install "$1"
    mariadb_start "$1" "$2"
}

# ---------------------------------------------------------------- main

USAGE="usage: servers.sh start|stop DIR | servers.sh restart DIR NAME [SECONDS]"
[ $# -ge 2 ] || die "$USAGE"
if [ "$1" = stop ] && [ ! -d "$2" ]; then
    exit 0
fi
mkdir -p "$2"
DIR=$(cd "$2" && pwd)
case $1 in
    start)
        [ $# -eq 2 ] || die "$USAGE"
        cmd_start
        ;;
    stop)
        [ $# -eq 2 ] || die "$USAGE"
        cmd_stop "$DIR"
        ;;
    restart)
        [ $# -eq 3 ] || [ $# -eq 4 ] || die "$USAGE"
        cmd_restart "${@:3}"
        ;;
    *) die "$USAGE" ;;
esac
