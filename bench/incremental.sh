#!/usr/bin/env bash
# Incremental benchmark: how fast ferry applies a backlog of changes, against
# a native MariaDB replica applying the same kind of backlog, in one run on
# the same servers; then the lag under a steady load, and the services' peak
# memory.
#
#   1. sysbench prepares TABLES x ROWS on mariadb1. ferry copies them into
#      sbtest_ferry on mariadb2 (full load, then caught up) and is stopped; a
#      copy taken with mariadb-dump goes into sbtest on mariadb2, which is
#      made a replica of mariadb1 (CHANGE MASTER TO, GTID) and stopped.
#   2. Burst A: sysbench oltp_write_only (THREADS threads, DURATION s) while
#      ferry and the replica are stopped. Then the single-threaded replica
#      applies it (START SLAVE .. MASTER_GTID_WAIT), then ferry does
#      (ferryctl up until the consumer counts every change of the burst).
#      One after the other, so neither competes with the other for mariadb2.
#   3. Burst B, the same: the replica with 4 parallel threads
#      (slave_parallel_threads = 4, optimistic), then ferry again.
#   4. Steady load at half the rate burst A was written at, for STEADY s,
#      with ferry running; a heartbeat row written on the source every 100 ms
#      is read at the destination every 100 ms: the age of what the
#      destination holds is source commit -> destination commit plus up to
#      100 ms between heartbeats (an upper bound of the lag).
# After each step the copies are checked: every table's CHECKSUM TABLE on
# mariadb2 (replica and ferry) equals the source's, else exit status 1.
# A row change is one row written, updated or deleted at the source:
# oltp_write_only's transaction is four write statements (an index update, a
# non-index update, a delete and an insert) that change one row each, so the
# count is four per committed transaction (sysbench's "write" count would
# also hold the statements of transactions it rolled back on an error).
#
# Usage (as root on Debian 12):
#   bench/incremental.sh                     4 x 100,000 rows, 60 s bursts
#   DURATION=20 STEADY=20 bench/incremental.sh   a quicker run
#
# Environment:
#   TABLES, ROWS   sysbench data set (default 4 x 100000)
#   THREADS        sysbench threads of the bursts (default 8)
#   DURATION       seconds of each burst (default 60)
#   STEADY         seconds of the steady load (default 30)
#   BENCH_DIR      working directory (default /tmp/ferry-bench-incremental)
#   BENCH_BUILD    Release build directory (default build-bench)
#   FERRY_EXTRA    lines added to ferry's project file (e.g. "apply.threads = 8")
#   SKIP_BUILD=1   use it as it is
#
# Progress goes to stderr; the result table to stdout.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TABLES=${TABLES:-4}
ROWS=${ROWS:-100000}
THREADS=${THREADS:-8}
DURATION=${DURATION:-60}
STEADY=${STEADY:-30}
BENCH_DIR=${BENCH_DIR:-/tmp/ferry-bench-incremental}
BUILD=${BENCH_BUILD:-$SRC/build-bench}

COMMAND="cd $SRC && TABLES=$TABLES ROWS=$ROWS"
[ "$THREADS" != 8 ] && COMMAND+=" THREADS=$THREADS"
[ "$DURATION" != 60 ] && COMMAND+=" DURATION=$DURATION"
[ "$STEADY" != 30 ] && COMMAND+=" STEADY=$STEADY"
[ -n "${FERRY_EXTRA:-}" ] && COMMAND+=" FERRY_EXTRA='$FERRY_EXTRA'"
COMMAND+=" bench/incremental.sh"

say() { echo "incremental: $*" >&2; }
die() {
    echo "incremental: FAIL: $*" >&2
    exit 1
}
for v in TABLES ROWS THREADS DURATION STEADY; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done

SERVERS=$BENCH_DIR/servers
RUN=$BENCH_DIR/ferry
PROJECT=$RUN/bench.properties
CTL=$BUILD/tools/ferryctl
ferry_up=0
bg_pids=()

cleanup() {
    local rc=$? p
    set +e
    trap - EXIT INT TERM
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
    [ "$ferry_up" = 1 ] && "$CTL" down "$PROJECT" --timeout 20 >/dev/null 2>&1
    if [ -d "$SERVERS" ]; then
        say "stopping the servers"
        "$SRC/tests/harness/servers.sh" stop "$SERVERS" >/dev/null 2>&1
    fi
    [ "$rc" -ne 0 ] && say "exit status $rc; ferry's logs are in $RUN/logs"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
rate() { awk -v r="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? r / s : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# ------------------------------------------------------------ tools, build, servers

say "command: $COMMAND"
"$SRC/scripts/install-deps.sh" --bench
for t in sysbench mariadb-dump mariadb; do
    command -v "$t" >/dev/null || die "$t is not installed"
done
mkdir -p "$BENCH_DIR"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "building a Release ferry in $BUILD"
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFERRY_TESTS=OFF >"$BENCH_DIR/build.log" 2>&1 ||
        die "cmake configure failed; see $BENCH_DIR/build.log"
    cmake --build "$BUILD" -j2 >>"$BENCH_DIR/build.log" 2>&1 || die "build failed; see $BENCH_DIR/build.log"
fi
grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD/CMakeCache.txt" || die "$BUILD is not a Release build"

rm -rf -- "$RUN"
mkdir -p "$RUN"
say "starting the servers in $SERVERS"
FERRY_BUILD=$BUILD FERRY_DEVKAFKA_ARGS="--partitions 16" "$SRC/tests/harness/servers.sh" start "$SERVERS" >&2
# shellcheck source=/dev/null
. "$SERVERS/env.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/harness/lib.sh
. "$SRC/tests/harness/lib.sh"
for m in mysql1 mysql2; do
    "$m" -e "SET GLOBAL innodb_buffer_pool_size = 1073741824"
done

sb() { # sb COMMAND [ARGS...]: sysbench oltp_write_only against the source
    local cmd=$1
    shift
    sysbench oltp_write_only --db-driver=mysql --mysql-host=127.0.0.1 \
        --mysql-port="$FERRY_MARIADB1_PORT" --mysql-user=ferry --mysql-password=ferry \
        --mysql-db=sbtest --tables="$TABLES" --table-size="$ROWS" "$@" "$cmd"
}

# verify DB: every sysbench table of DB on mariadb2 has the source's checksum.
verify() {
    local db=$1 i a b
    for ((i = 1; i <= TABLES; i++)); do
        a=$(mysql1 -e "CHECKSUM TABLE sbtest.sbtest$i" | cut -f2)
        b=$(mysql2 -e "CHECKSUM TABLE $db.sbtest$i" | cut -f2)
        [ "$a" = "$b" ] || die "CHECKSUM TABLE $db.sbtest$i is $b, the source's $a"
    done
    say "$db: CHECKSUM TABLE of $TABLES tables equal to the source"
}

# ------------------------------------------------------------ 1. data, copies

say "preparing $TABLES x $ROWS rows"
mysql1 -e 'CREATE DATABASE sbtest'
sb prepare --threads=2 >"$BENCH_DIR/prepare.log" 2>&1 || die "sysbench prepare failed"
mysql1 -e 'CREATE TABLE sbtest.heartbeat (id INT PRIMARY KEY, ts DATETIME(6) NOT NULL);
           INSERT INTO sbtest.heartbeat VALUES (1, NOW(6))'

cat >"$PROJECT" <<EOF
# Written by bench/incremental.sh.
project.name = benchinc
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = sbtest.*
rename.databases = sbtest:sbtest_ferry
runtime.dir = $RUN
topics.partitions = 16
${FERRY_EXTRA:-}
EOF
# events_applied: row changes ferry committed into the sysbench tables, as the
# consumer's progress rows in the destination say (written in the same
# transactions as the changes, kept across restarts).
events_applied() {
    mysql2 -e "SELECT COALESCE(SUM(rows_applied), 0) FROM ferry_meta.ferry_progress
               WHERE link = 'benchinc.fwd' AND tbl LIKE 'sbtest%' AND phase IN ('safe', 'strict')"
}
vmhwm() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$(cat "$RUN/$1.pid")/status" 2>/dev/null || echo "?"; }
declare -A rss
note_rss() {
    local s v
    for s in producer consumer; do
        v=$(vmhwm "$s")
        [[ $v =~ ^[0-9]+$ ]] && { [ -z "${rss[$s]:-}" ] || [ "$v" -gt "${rss[$s]}" ]; } && rss[$s]=$v
    done
    return 0
}

say "ferry: initial copy into sbtest_ferry"
ferry_up=1
"$CTL" up "$PROJECT" >&2
"$CTL" wait "$PROJECT" --until caught-up --timeout 1200 >&2 || die "ferry did not catch up"
note_rss
"$CTL" down "$PROJECT" --timeout 30 >&2
ferry_up=0
verify sbtest_ferry

say "native replica: initial copy into sbtest on mariadb2"
gtid0=$(mysql1 -e 'SELECT @@gtid_binlog_pos')
mysql2 -e 'CREATE DATABASE sbtest'
MYSQL_PWD=ferry mariadb-dump --no-defaults --protocol=TCP -h 127.0.0.1 -P "$FERRY_MARIADB1_PORT" \
    -u ferry --single-transaction --quick sbtest |
    MYSQL_PWD=ferry mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$FERRY_MARIADB2_PORT" \
        -u ferry sbtest || die "mariadb-dump | mariadb failed"
[ "$(mysql1 -e 'SELECT @@gtid_binlog_pos')" = "$gtid0" ] || die "the source changed during the copy"
# the replica's own domain must be in its slave position too (gtid_strict_mode)
own=$(mysql2 -e 'SELECT @@gtid_binlog_pos')
mysql2 -e "SET GLOBAL gtid_slave_pos = '$gtid0${own:+,$own}';
  CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = $FERRY_MARIADB1_PORT,
    MASTER_USER = 'ferry', MASTER_PASSWORD = 'ferry', MASTER_USE_GTID = slave_pos"
verify sbtest

# ------------------------------------------------------------ 2, 3. bursts

declare -A secs changes
burst() { # burst NAME: a backlog written while nothing applies
    local log=$BENCH_DIR/burst-$1.log
    say "burst $1: oltp_write_only, $THREADS threads, $DURATION s"
    sb run --threads="$THREADS" --time="$DURATION" --report-interval=0 >"$log" 2>&1 ||
        die "sysbench run failed; see $log"
    changes[$1]=$(awk '/^ +transactions:/ { print 4 * $2 }' "$log")
    secs[sb_$1]=$(awk '/^ +total time:/ { sub(/s$/, "", $3); print $3 }' "$log")
    [[ ${changes[$1]} =~ ^[0-9]+$ ]] || die "no transaction count in $log"
    say "burst $1: ${changes[$1]} row changes"
}

replica() { # replica NAME THREADS: the native replica applies the backlog
    local gtid t0 t1
    gtid=$(mysql1 -e 'SELECT @@gtid_binlog_pos')
    mysql2 -e "SET GLOBAL slave_parallel_threads = $2, slave_parallel_mode = 'optimistic'"
    t0=$(now)
    mysql2 -e 'START SLAVE'
    [ "$(mysql2 -e "SELECT MASTER_GTID_WAIT('$gtid', 1800)")" = 0 ] || die "the replica did not reach $gtid"
    t1=$(now)
    mysql2 -e 'STOP SLAVE'
    secs[$1]=$(elapsed "$t0" "$t1")
    say "replica (slave_parallel_threads = $2): ${secs[$1]} s"
    verify sbtest
}

# ferry_alive: fails with the service's last error when a ferry service has
# stopped (e.g. "offset out of range" when the burst overflowed the broker).
ferry_alive() {
    local s pid
    for s in producer consumer; do
        pid=$(cat "$RUN/$s.pid" 2>/dev/null) || continue
        kill -0 "$pid" 2>/dev/null && continue
        die "ferry-$s stopped: $(grep -a 'level=error' "$RUN/logs/$s.log" | tail -n 1)"
    done
}

# note_stalls NAME: counts the times ferry's services found no broker
# answering (ferry-devkafka has stalled for 10-50 s when many clients connect
# at once) since the last call; they are part of ferry's time and are shown
# beside it.
declare -A stalls
stall_lines=0
note_stalls() {
    local n
    n=$(cat "$RUN"/logs/*.log 2>/dev/null | grep -c 'no broker answered\|Kafka transaction failed') || true
    stalls[$1]=$((n - stall_lines))
    stall_lines=$n
    [ "${stalls[$1]}" -eq 0 ] || say "ferry ($1): ${stalls[$1]} log line(s) of a broker that did not answer or a Kafka transaction that failed"
}

ferry_apply() { # ferry_apply NAME BURST: ferry starts and applies the backlog
    local target t0 t1 n i
    target=$((base + changes[$2]))
    t0=$(now)
    ferry_up=1
    "$CTL" up "$PROJECT" >/dev/null
    for ((i = 0; i < 36000; i++)); do
        n=$(events_applied 2>/dev/null) || n=0
        [ "$n" -ge "$target" ] && break
        ((i % 20 == 0)) && ferry_alive
        sleep 0.05
    done
    t1=$(now)
    [ "$n" -ge "$target" ] || die "ferry applied $n changes, expected $target"
    note_stalls "$1"
    base=$n
    secs[$1]=$(elapsed "$t0" "$t1")
    note_rss
    "$CTL" down "$PROJECT" --timeout 30 >/dev/null
    ferry_up=0
    say "ferry: ${secs[$1]} s"
    verify sbtest_ferry
}

base=$(events_applied)
note_stalls copy

burst A
replica replica1 0
ferry_apply ferryA A
burst B
replica replica4 4
ferry_apply ferryB B

# ------------------------------------------------------------ 4. steady load, lag

max_tps=$(awk -v w="${changes[A]}" -v s="${secs[sb_A]}" 'BEGIN { printf "%d", w / 4 / s }')
half=$((max_tps / 2))
say "steady load: $half transactions/s (half of burst A's $max_tps) for $STEADY s, lag by heartbeat"
ferry_up=1
"$CTL" up "$PROJECT" >/dev/null
"$CTL" wait "$PROJECT" --until caught-up --timeout 600 >/dev/null || die "ferry did not catch up"
MYSQL_PWD=ferry
export MYSQL_PWD
(while :; do echo "UPDATE sbtest.heartbeat SET ts = NOW(6) WHERE id = 1; DO SLEEP(0.1);"; done) |
    mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$FERRY_MARIADB1_PORT" -u ferry >/dev/null 2>&1 &
bg_pids+=($!)
(while :; do echo "SELECT UNIX_TIMESTAMP(ts), TIMESTAMPDIFF(MICROSECOND, ts, NOW(6)) FROM sbtest_ferry.heartbeat; DO SLEEP(0.1);"; done) |
    mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$FERRY_MARIADB2_PORT" -u ferry -N -B \
        --unbuffered >"$BENCH_DIR/lag.txt" 2>/dev/null &
bg_pids+=($!)
# Samples count from the first heartbeat written for this step: before it
# reaches the destination, the row there is an old one (its age is the time
# since the last run, not a lag).
hb0=$(mysql1 -e 'SELECT UNIX_TIMESTAMP(NOW(6))')
sleep 2
sb run --threads="$THREADS" --time="$STEADY" --rate="$half" --report-interval=0 \
    >"$BENCH_DIR/steady.log" 2>&1 || die "sysbench steady run failed"
for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
bg_pids=()
note_rss
steady_changes=$(awk '/^ +transactions:/ { print 4 * $2 }' "$BENCH_DIR/steady.log")
read -r lag_n lag_p50 lag_p99 lag_max < <(awk -v hb0="$hb0" \
    '$1 >= hb0 && $2 ~ /^-?[0-9]+$/ { print $2 }' "$BENCH_DIR/lag.txt" | sort -n | awk '
    { v[n++] = $1 / 1e6 }
    END { if (!n) { print 0, 0, 0, 0; exit }
          printf "%d %.3f %.3f %.3f\n", n, v[int(n * 0.5)], v[int(n * 0.99) < n ? int(n * 0.99) : n - 1], v[n - 1] }')
"$CTL" wait "$PROJECT" --until caught-up --timeout 600 >/dev/null || die "ferry did not catch up"
sleep 1
"$CTL" down "$PROJECT" --timeout 30 >/dev/null
ferry_up=0
verify sbtest_ferry

# ------------------------------------------------------------ report

stall_note() { [ "${stalls[$1]:-0}" -eq 0 ] || echo " (Kafka stalled: ${stalls[$1]} warnings in ferry's logs)"; }
rA=$(rate "${changes[A]}" "${secs[replica1]}")
fA=$(rate "${changes[A]}" "${secs[ferryA]}")
rB=$(rate "${changes[B]}" "${secs[replica4]}")
fB=$(rate "${changes[B]}" "${secs[ferryB]}")
best=$((rA > rB ? rA : rB))
cat <<EOF
# ferry incremental benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')
command: $COMMAND
machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end
data: $TABLES sysbench tables x $ROWS rows; bursts of sysbench oltp_write_only, $THREADS threads, $DURATION s each, written while nothing applied

| backlog | row changes | applied by | seconds | changes/s |
|---|---|---|---|---|
| burst A | ${changes[A]} | native replica, 1 thread | ${secs[replica1]} | $rA |
| burst A | ${changes[A]} | ferry (ferryctl up until the consumer counted every change)$(stall_note ferryA) | ${secs[ferryA]} | $fA |
| burst B | ${changes[B]} | native replica, 4 threads (optimistic) | ${secs[replica4]} | $rB |
| burst B | ${changes[B]} | ferry$(stall_note ferryB) | ${secs[ferryB]} | $fB |

ferry / replica (1 thread), burst A:  $(ratio "$fA" "$rA")x
ferry / replica (4 threads), burst B: $(ratio "$fB" "$rB")x
ferry (better burst) / better replica: $(ratio "$((fA > fB ? fA : fB))" "$best")x
steady load: $half transactions/s for $STEADY s ($steady_changes row changes); heartbeat age at the destination over $lag_n samples: p50 $lag_p50 s, p99 $lag_p99 s, max $lag_max s (source commit to destination commit, plus up to 0.1 s between heartbeats)
peak RSS (VmHWM) of any ferry run here: ferry-producer ${rss[producer]:-?} MB, ferry-consumer ${rss[consumer]:-?} MB
every copy: CHECKSUM TABLE equal to the source after each step
EOF
