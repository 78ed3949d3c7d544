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
#   BENCH_BUILD_B  a second Release build (e.g. of main) measured in the same
#                  run as a second link into sbtest_ferryb: each burst is
#                  applied by the replica, then by both builds one after the
#                  other (A first on burst A, B first on burst B), and the
#                  steady load runs once per build
#   FERRY_EXTRA_B  lines added to the second build's project file
#   STEADY_TPS     run the steady load alone at this many transactions/s:
#                  no replica and no bursts (steps 2 and 3), so a lag
#                  experiment takes two minutes; the official figure is the
#                  full run's (half of what burst A was written at)
#
# For every ferry apply the report gives the CPU time, in microseconds per
# row change, of the destination and source mariadbd, ferry-producer,
# ferry-consumer and ferry-devkafka over the timed part.
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
BUILD_B=${BENCH_BUILD_B:-}

COMMAND="cd $SRC && TABLES=$TABLES ROWS=$ROWS"
[ "$THREADS" != 8 ] && COMMAND+=" THREADS=$THREADS"
[ "$DURATION" != 60 ] && COMMAND+=" DURATION=$DURATION"
[ "$STEADY" != 30 ] && COMMAND+=" STEADY=$STEADY"
[ -n "${FERRY_EXTRA:-}" ] && COMMAND+=" FERRY_EXTRA='$FERRY_EXTRA'"
[ -n "$BUILD_B" ] && COMMAND+=" BENCH_BUILD_B=$BUILD_B"
[ -n "${FERRY_EXTRA_B:-}" ] && COMMAND+=" FERRY_EXTRA_B='$FERRY_EXTRA_B'"
STEADY_TPS=${STEADY_TPS:-}
[ -n "$STEADY_TPS" ] && COMMAND+=" STEADY_TPS=$STEADY_TPS"
COMMAND+=" bench/incremental.sh"

say() { echo "incremental: $*" >&2; }
die() {
    echo "incremental: FAIL: $*" >&2
    exit 1
}
for v in TABLES ROWS THREADS DURATION STEADY ${STEADY_TPS:+STEADY_TPS}; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, not '${!v}'"
done

SERVERS=$BENCH_DIR/servers
# Links: a (BENCH_BUILD, sbtest_ferry) and, with BENCH_BUILD_B, b (sbtest_ferryb).
links=(a)
[ -n "$BUILD_B" ] && links+=(b)
declare -A RUNS=([a]=$BENCH_DIR/ferry [b]=$BENCH_DIR/ferry-b)
declare -A CTLS=([a]=$BUILD/tools/ferryctl [b]=$BUILD_B/tools/ferryctl)
declare -A DBS=([a]=sbtest_ferry [b]=sbtest_ferryb)
declare -A NAMES=([a]=benchinc [b]=benchincb)
declare -A EXTRA=([a]=${FERRY_EXTRA:-} [b]=${FERRY_EXTRA_B:-})
declare -A UP=()
proj() { echo "${RUNS[$1]}/bench.properties"; }
bg_pids=()

cleanup() {
    local rc=$? p
    set +e
    trap - EXIT INT TERM
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${!UP[@]}"; do "${CTLS[$p]}" down "$(proj "$p")" --timeout 20 >/dev/null 2>&1; done
    if [ -d "$SERVERS" ]; then
        say "stopping the servers"
        "$SRC/tests/harness/servers.sh" stop "$SERVERS" >/dev/null 2>&1
    fi
    [ "$rc" -ne 0 ] && say "exit status $rc; ferry's logs are in ${RUNS[a]}/logs${BUILD_B:+ and ${RUNS[b]}/logs}"
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
for b in "$BUILD" $BUILD_B; do
    grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$b/CMakeCache.txt" || die "$b is not a Release build"
done
for l in "${links[@]}"; do
    rm -rf -- "${RUNS[$l]}"
    mkdir -p "${RUNS[$l]}"
done
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

for l in "${links[@]}"; do
    cat >"$(proj "$l")" <<EOF
# Written by bench/incremental.sh.
project.name = ${NAMES[$l]}
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = sbtest.*
rename.databases = sbtest:${DBS[$l]}
runtime.dir = ${RUNS[$l]}
topics.partitions = 16
${EXTRA[$l]}
EOF
done
# events_applied LINK: row changes the link committed into the sysbench
# tables, as the consumer's progress rows in the destination say (written in
# the same transactions as the changes, kept across restarts).
events_applied() {
    mysql2 -e "SELECT COALESCE(SUM(rows_applied), 0) FROM ferry_meta.ferry_progress
               WHERE link = '${NAMES[$1]}.fwd' AND tbl LIKE 'sbtest%' AND phase IN ('safe', 'strict')"
}
vmhwm() { awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$(cat "${RUNS[$1]}/$2.pid")/status" 2>/dev/null || echo "?"; }
declare -A rss
note_rss() { # note_rss LINK
    local s v
    for s in producer consumer; do
        v=$(vmhwm "$1" "$s")
        [[ $v =~ ^[0-9]+$ ]] && { [ -z "${rss[$1$s]:-}" ] || [ "$v" -gt "${rss[$1$s]}" ]; } && rss[$1$s]=$v
    done
    return 0
}
ferry_start() { # ferry_start LINK
    UP[$1]=1
    "${CTLS[$1]}" up "$(proj "$1")" >/dev/null
}
ferry_stop() { # ferry_stop LINK
    "${CTLS[$1]}" down "$(proj "$1")" --timeout 30 >/dev/null
    unset "UP[$1]"
}

for l in "${links[@]}"; do
    say "ferry ($l): initial copy into ${DBS[$l]}"
    ferry_start "$l"
    "${CTLS[$l]}" wait "$(proj "$l")" --until caught-up --timeout 1200 >&2 || die "ferry ($l) did not catch up"
    note_rss "$l"
    ferry_stop "$l"
    verify "${DBS[$l]}"
done

if [ -z "$STEADY_TPS" ]; then
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
fi

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

declare -A cpu
replica() { # replica NAME THREADS BURST: the native replica applies the backlog
    local gtid t0 t1 d0 s0 d1 s1
    gtid=$(mysql1 -e 'SELECT @@gtid_binlog_pos')
    mysql2 -e "SET GLOBAL slave_parallel_threads = $2, slave_parallel_mode = 'optimistic'"
    d0=$(cpu_of "$(server_pid mariadb2)") s0=$(cpu_of "$(server_pid mariadb1)")
    t0=$(now)
    mysql2 -e 'START SLAVE'
    [ "$(mysql2 -e "SELECT MASTER_GTID_WAIT('$gtid', 1800)")" = 0 ] || die "the replica did not reach $gtid"
    t1=$(now)
    d1=$(cpu_of "$(server_pid mariadb2)") s1=$(cpu_of "$(server_pid mariadb1)")
    mysql2 -e 'STOP SLAVE'
    secs[$1]=$(elapsed "$t0" "$t1")
    cpu[$1]=$(awk -v c="${changes[$3]}" -v d="$(elapsed "$d0" "$d1")" -v s="$(elapsed "$s0" "$s1")" \
        'BEGIN { f = 1e6 / c; printf "%.1f / %.1f / - / - / - (%.1f)", d * f, s * f, (d + s) * f }')
    say "replica (slave_parallel_threads = $2): ${secs[$1]} s; CPU us per change dst / src: ${cpu[$1]}"
    verify sbtest
}

# ferry_alive LINK: fails with the service's last error when a ferry service
# has stopped (e.g. "offset out of range" when the burst overflowed the broker).
ferry_alive() {
    local s pid run=${RUNS[$1]}
    for s in producer consumer; do
        pid=$(cat "$run/$s.pid" 2>/dev/null) || continue
        kill -0 "$pid" 2>/dev/null && continue
        die "ferry-$s ($1) stopped: $(grep -a 'level=error' "$run/logs/$s.log" | tail -n 1)"
    done
}

# cpu_of PID: CPU seconds (user + system) the process used so far; 0 if gone.
tck=$(getconf CLK_TCK)
cpu_of() {
    awk -v t="$tck" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat" 2>/dev/null || echo 0
}
server_pid() { head -n 1 "$SERVERS/pids/$1.pid"; }
# machine_busy: CPU seconds all cores have spent on anything but idle and I/O
# wait since boot, and (after a comma) the seconds the host gave to other
# guests while this one had work (steal).
machine_busy() { awk -v t="$tck" '/^cpu / { printf "%.2f,%.2f", ($2 + $3 + $4 + $7 + $8) / t, $9 / t; exit }' /proc/stat; }

# note_stalls NAME: counts the times ferry's services found no broker
# answering (ferry-devkafka has stalled for 10-50 s when many clients connect
# at once) since the last call; they are part of ferry's time and are shown
# beside it.
declare -A stalls
stall_lines=0
note_stalls() {
    local n
    n=$(for l in "${links[@]}"; do cat "${RUNS[$l]}"/logs/*.log 2>/dev/null; done |
        grep -c 'no broker answered\|Kafka transaction failed') || true
    stalls[$1]=$((n - stall_lines))
    stall_lines=$n
    [ "${stalls[$1]}" -eq 0 ] || say "ferry ($1): ${stalls[$1]} log line(s) of a broker that did not answer or a Kafka transaction that failed"
}

ferry_apply() { # ferry_apply LINK BURST: the link's ferry starts and applies the backlog
    local l=$1 name=$1$2 target t0 t1 n i d0 s0 k0 d1 s1 k1 run=${RUNS[$1]}
    target=$((base[$l] + changes[$2]))
    d0=$(cpu_of "$(server_pid mariadb2)") s0=$(cpu_of "$(server_pid mariadb1)") k0=$(cpu_of "$(server_pid devkafka)")
    t0=$(now)
    ferry_start "$l"
    for ((i = 0; i < 36000; i++)); do
        n=$(events_applied "$l" 2>/dev/null) || n=0
        [ "$n" -ge "$target" ] && break
        ((i % 20 == 0)) && ferry_alive "$l"
        sleep 0.05
    done
    t1=$(now)
    d1=$(cpu_of "$(server_pid mariadb2)") s1=$(cpu_of "$(server_pid mariadb1)") k1=$(cpu_of "$(server_pid devkafka)")
    [ "$n" -ge "$target" ] || die "ferry ($l) applied $n changes, expected $target"
    # microseconds of CPU per row change: destination, source, producer, consumer, devkafka
    cpu[$name]=$(awk -v c="${changes[$2]}" -v d="$(elapsed "$d0" "$d1")" -v s="$(elapsed "$s0" "$s1")" \
        -v p="$(cpu_of "$(cat "$run/producer.pid")")" -v q="$(cpu_of "$(cat "$run/consumer.pid")")" \
        -v k="$(elapsed "$k0" "$k1")" \
        'BEGIN { f = 1e6 / c; printf "%.1f / %.1f / %.1f / %.1f / %.1f (%.1f)", d * f, s * f, p * f, q * f, k * f, (d + s + p + q + k) * f }')
    note_stalls "$name"
    base[$l]=$n
    secs[$name]=$(elapsed "$t0" "$t1")
    note_rss "$l"
    ferry_stop "$l"
    say "ferry ($l): ${secs[$name]} s; CPU us per change dst / src / producer / consumer / devkafka (all): ${cpu[$name]}"
    verify "${DBS[$l]}"
}

declare -A base
for l in "${links[@]}"; do base[$l]=$(events_applied "$l"); done
note_stalls copy

if [ -z "$STEADY_TPS" ]; then
    burst A
    replica replica1 0 A
    for l in "${links[@]}"; do ferry_apply "$l" A; done
    burst B
    replica replica4 4 B
    for ((j = ${#links[@]} - 1; j >= 0; j--)); do ferry_apply "${links[j]}" B; done
fi

# ------------------------------------------------------------ 4. steady load, lag

if [ -n "$STEADY_TPS" ]; then
    half=$STEADY_TPS rate_note="set by STEADY_TPS"
else
    max_tps=$(awk -v w="${changes[A]}" -v s="${secs[sb_A]}" 'BEGIN { printf "%d", w / 4 / s }')
    half=$((max_tps / 2)) rate_note="half of burst A's $max_tps"
fi
declare -A lag steady_changes steady_load steady_cpu
steady() { # steady LINK: the lag of LINK under the steady load
    local l=$1 hb0 p lag_n lag_p50 lag_p99 lag_max db=${DBS[$1]}
    say "steady load ($l): $half transactions/s ($rate_note) for $STEADY s, lag by heartbeat"
    ferry_start "$l"
    "${CTLS[$l]}" wait "$(proj "$l")" --until caught-up --timeout 600 >/dev/null || die "ferry ($l) did not catch up"
    (while :; do echo "UPDATE sbtest.heartbeat SET ts = NOW(6) WHERE id = 1; DO SLEEP(0.1);"; done) |
        MYSQL_PWD=ferry mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$FERRY_MARIADB1_PORT" -u ferry >/dev/null 2>&1 &
    bg_pids+=($!)
    (while :; do echo "SELECT UNIX_TIMESTAMP(ts), TIMESTAMPDIFF(MICROSECOND, ts, NOW(6)) FROM $db.heartbeat; DO SLEEP(0.1);"; done) |
        MYSQL_PWD=ferry mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$FERRY_MARIADB2_PORT" -u ferry -N -B \
            --unbuffered >"$BENCH_DIR/lag-$l.txt" 2>/dev/null &
    bg_pids+=($!)
    # Samples count from the first heartbeat written for this step: before it
    # reaches the destination, the row there is an old one (its age is the
    # time since the last run, not a lag).
    hb0=$(mysql1 -e 'SELECT UNIX_TIMESTAMP(NOW(6))')
    sleep 2
    local run=${RUNS[$l]} d0 s0 k0 p0 q0 m0 m1 t0 t1
    d0=$(cpu_of "$(server_pid mariadb2)") s0=$(cpu_of "$(server_pid mariadb1)") k0=$(cpu_of "$(server_pid devkafka)")
    p0=$(cpu_of "$(cat "$run/producer.pid")") q0=$(cpu_of "$(cat "$run/consumer.pid")")
    m0=$(machine_busy) t0=$(now)
    sb run --threads="$THREADS" --time="$STEADY" --rate="$half" --report-interval=0 \
        >"$BENCH_DIR/steady-$l.log" 2>&1 || die "sysbench steady run failed"
    m1=$(machine_busy) t1=$(now)
    steady_load[$l]=$(cut -d' ' -f1 /proc/loadavg)
    # cores each part kept busy over the load: source, destination, producer, consumer, devkafka, machine
    steady_cpu[$l]=$(awk -v w="$(elapsed "$t0" "$t1")" -v s="$(elapsed "$s0" "$(cpu_of "$(server_pid mariadb1)")")" \
        -v d="$(elapsed "$d0" "$(cpu_of "$(server_pid mariadb2)")")" \
        -v p="$(elapsed "$p0" "$(cpu_of "$(cat "$run/producer.pid")")")" \
        -v q="$(elapsed "$q0" "$(cpu_of "$(cat "$run/consumer.pid")")")" \
        -v k="$(elapsed "$k0" "$(cpu_of "$(server_pid devkafka)")")" -v m="$(elapsed "${m0%,*}" "${m1%,*}")" \
        -v st="$(elapsed "${m0#*,}" "${m1#*,}")" \
        'BEGIN { printf "source %.2f, destination %.2f, producer %.2f, consumer %.2f, devkafka %.2f; whole machine %.2f of %d, and %.2f taken by the host (steal)", s / w, d / w, p / w, q / w, k / w, m / w, '"$(nproc)"', st / w }')
    for p in "${bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    bg_pids=()
    note_rss "$l"
    steady_changes[$l]=$(awk '/^ +transactions:/ { print 4 * $2 }' "$BENCH_DIR/steady-$l.log")
    read -r lag_n lag_p50 lag_p99 lag_max < <(awk -v hb0="$hb0" \
        '$1 >= hb0 && $2 ~ /^-?[0-9]+$/ { print $2 }' "$BENCH_DIR/lag-$l.txt" | sort -n | awk '
        { v[n++] = $1 / 1e6 }
        END { if (!n) { print 0, 0, 0, 0; exit }
              printf "%d %.3f %.3f %.3f\n", n, v[int(n * 0.5)], v[int(n * 0.99) < n ? int(n * 0.99) : n - 1], v[n - 1] }')
    lag[$l]="over $lag_n samples: p50 $lag_p50 s, p99 $lag_p99 s, max $lag_max s"
    "${CTLS[$l]}" wait "$(proj "$l")" --until caught-up --timeout 600 >/dev/null || die "ferry ($l) did not catch up"
    sleep 1
    ferry_stop "$l"
    verify "$db"
    # the other link catches up on this load untimed, before its own step
    say "steady load ($l): lag ${lag[$l]}"
}
for l in "${links[@]}"; do steady "$l"; done

# ------------------------------------------------------------ report

stall_note() { [ "${stalls[$1]:-0}" -eq 0 ] || echo " (Kafka stalled: ${stalls[$1]} warnings in ferry's logs)"; }
declare -A label=([a]="ferry" [b]="ferry, build B")
[ -n "$BUILD_B" ] && label[a]="ferry, build A"
steady_lines() { # steady_lines LINK
    cat <<EOF
${label[$1]}, steady load: $half transactions/s for $STEADY s (${steady_changes[$1]} row changes; load average ${steady_load[$1]} at its end); heartbeat age at the destination ${lag[$1]} (source commit to destination commit, plus up to 0.1 s between heartbeats)
${label[$1]}, cores busy during the steady load: ${steady_cpu[$1]}
${label[$1]}, peak RSS (VmHWM) of any run here: ferry-producer ${rss[${1}producer]:-?} MB, ferry-consumer ${rss[${1}consumer]:-?} MB
EOF
}
if [ -n "$STEADY_TPS" ]; then
    cat <<EOF
# ferry incremental benchmark, steady load only, $(date -u '+%Y-%m-%d %H:%M UTC')
command: $COMMAND
machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end
data: $TABLES sysbench tables x $ROWS rows; sysbench oltp_write_only, $THREADS threads, rate $STEADY_TPS transactions/s (set, not half of a measured burst)
build A: $BUILD${BUILD_B:+
build B: $BUILD_B}

EOF
    for l in "${links[@]}"; do steady_lines "$l"; done
    echo "every copy: CHECKSUM TABLE equal to the source after each step"
    exit 0
fi
rA=$(rate "${changes[A]}" "${secs[replica1]}")
rB=$(rate "${changes[B]}" "${secs[replica4]}")
best=$((rA > rB ? rA : rB))
cat <<EOF
# ferry incremental benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')
command: $COMMAND
machine: $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end
data: $TABLES sysbench tables x $ROWS rows; bursts of sysbench oltp_write_only, $THREADS threads, $DURATION s each, written while nothing applied
build A: $BUILD${BUILD_B:+
build B: $BUILD_B (applied after A on burst A, before A on burst B)}

| backlog | row changes | applied by | seconds | changes/s | CPU us per change: dst / src / producer / consumer / devkafka (all) |
|---|---|---|---|---|---|
| burst A | ${changes[A]} | native replica, 1 thread | ${secs[replica1]} | $rA | ${cpu[replica1]} |
EOF
for l in "${links[@]}"; do
    echo "| burst A | ${changes[A]} | ${label[$l]}$(stall_note "${l}A") | ${secs[${l}A]} | $(rate "${changes[A]}" "${secs[${l}A]}") | ${cpu[${l}A]} |"
done
echo "| burst B | ${changes[B]} | native replica, 4 threads (optimistic) | ${secs[replica4]} | $rB | ${cpu[replica4]} |"
for l in "${links[@]}"; do
    echo "| burst B | ${changes[B]} | ${label[$l]}$(stall_note "${l}B") | ${secs[${l}B]} | $(rate "${changes[B]}" "${secs[${l}B]}") | ${cpu[${l}B]} |"
done
echo
for l in "${links[@]}"; do
    fA=$(rate "${changes[A]}" "${secs[${l}A]}")
    fB=$(rate "${changes[B]}" "${secs[${l}B]}")
    cat <<EOF
${label[$l]} / replica (1 thread), burst A:  $(ratio "$fA" "$rA")x
${label[$l]} / replica (4 threads), burst B: $(ratio "$fB" "$rB")x
${label[$l]} (better burst) / better replica: $(ratio "$((fA > fB ? fA : fB))" "$best")x
EOF
    steady_lines "$l"
done
if [ -n "$BUILD_B" ]; then
    echo "build A / build B: burst A $(ratio "${secs[bA]}" "${secs[aA]}")x, burst B $(ratio "${secs[bB]}" "${secs[aB]}")x (time of B over time of A)"
fi
echo "every copy: CHECKSUM TABLE equal to the source after each step"
