#!/usr/bin/env bash
# Full-load benchmark: the same sysbench data set copied from one MariaDB to
# another by four tools, one after the other in one run, on the same servers:
#
#   mydumper | myloader   dump to a directory under the bench dir, then load
#                         (2 threads each); timed from the start of the dump
#                         to the end of the load
#   mariadb-dump | mariadb    one stream through a pipe
#   SELECT INTO OUTFILE + LOAD DATA INFILE   each server writes or reads a
#                         file itself, THREADS tables at a time, secondary
#                         indexes built after the load: no client in the way
#                         (the issue's "practical ceiling")
#   ferry                 ferryctl up, then ferryctl wait --until full-done;
#                         timed from up to wait returning
#
# Every copy goes into its own fresh database on mariadb2, is checked against
# the source (row count and CHECKSUM TABLE of every table; any difference
# stops the run with exit status 1) and dropped before the next tool runs.
#
# Usage (as root on Debian 12, from anywhere):
#   bench/fullload.sh                      4 tables x 250,000 rows
#   TABLES=2 ROWS=20000 bench/fullload.sh  a quick run
#
# Environment:
#   TABLES, ROWS     size of the sysbench data set (default 4 x 250000)
#   THREADS          threads of mydumper, myloader and sysbench prepare (2)
#   PARTITIONS       topics.partitions of the ferry project and --partitions
#                    of the bench's ferry-devkafka (default 64, raised to the
#                    number of chunks per table if that is larger)
#   BUFFER_POOL      innodb_buffer_pool_size set on both MariaDB servers
#                    before the run (default 1G; "" keeps the harness's 64M)
#   REDO_LOG         innodb_log_file_size set on both servers before the run
#                    ("" (default) keeps the harness's 64M)
#   BENCH_DIR        working directory (default /tmp/ferry-bench-fullload);
#                    ferry's logs stay in BENCH_DIR/ferry/logs afterwards
#   SKIP_BUILD=1     use build-bench as it is
#   ONLY=ferry       run only ferry (no ratios; for trying a change quickly)
#   FERRY_EXTRA      more lines for ferry's project file (e.g. "kafka.debug = cgrp")
#
# Progress goes to stderr; the result table to stdout.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TABLES=${TABLES:-4}
ROWS=${ROWS:-250000}
THREADS=${THREADS:-2}
PARTITIONS=${PARTITIONS:-64}
BUFFER_POOL=${BUFFER_POOL-1G}
REDO_LOG=${REDO_LOG:-}
BENCH_DIR=${BENCH_DIR:-/tmp/ferry-bench-fullload}
BUILD=$SRC/build-bench
# ferry's planner cuts chunks of this many rows (fullload.h: chunk_rows 0 = 10000).
CHUNK_ROWS=10000

# The command that reproduces this run, with every setting that is not the default.
COMMAND="cd $SRC && TABLES=$TABLES ROWS=$ROWS"
[ "$THREADS" != 2 ] && COMMAND+=" THREADS=$THREADS"
[ "$PARTITIONS" != 64 ] && COMMAND+=" PARTITIONS=$PARTITIONS"
[ "$BUFFER_POOL" != 1G ] && COMMAND+=" BUFFER_POOL=$BUFFER_POOL"
[ -n "$REDO_LOG" ] && COMMAND+=" REDO_LOG=$REDO_LOG"
COMMAND+=" bench/fullload.sh"

say() { echo "fullload: $*" >&2; }
die() {
    echo "fullload: FAIL: $*" >&2
    exit 1
}

[[ $TABLES =~ ^[1-9][0-9]*$ ]] || die "TABLES must be a positive integer, not '$TABLES'"
[[ $ROWS =~ ^[1-9][0-9]*$ ]] || die "ROWS must be a positive integer, not '$ROWS'"
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "THREADS must be a positive integer, not '$THREADS'"
[[ $PARTITIONS =~ ^[1-9][0-9]*$ ]] || die "PARTITIONS must be a positive integer, not '$PARTITIONS'"

# A chunk of 10,000 sysbench rows is about 3.6 MB of Kafka records. The snapshot
# partition of a chunk is (table hash + chunk number) mod partitions, so with
# at least as many partitions as chunks per table no partition ever holds two
# chunks of one table, and ferry-devkafka's 5 MB per partition is enough even
# if the consumer falls a whole table behind the producer.
# The planner's last chunk is the open range after the last boundary, so a
# table has ROWS / CHUNK_ROWS + 1 chunks at most.
chunks=$((ROWS / CHUNK_ROWS + 1))
[ "$PARTITIONS" -lt "$chunks" ] && PARTITIONS=$chunks

SERVERS=$BENCH_DIR/servers
RUN=$BENCH_DIR/ferry
DUMP=$BENCH_DIR/dump
PROJECT=$RUN/bench.properties
CTL=$BUILD/tools/ferryctl
ferry_up=0

cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [ "$ferry_up" = 1 ]; then
        say "stopping ferry"
        "$CTL" down "$PROJECT" --timeout 20 >/dev/null 2>&1
    fi
    if [ -d "$SERVERS" ]; then
        say "stopping the servers"
        "$SRC/tests/harness/servers.sh" stop "$SERVERS" >/dev/null 2>&1
    fi
    rm -rf -- "$DUMP"
    [ "$rc" -ne 0 ] && say "exit status $rc; ferry's logs (if it ran) are in $RUN/logs"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
rate() { awk -v r="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? r / s : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# cpu_s PID: user + system CPU seconds a process has used so far.
cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.1f", ($12 + $13) / hz }' \
        "/proc/$1/stat" 2>/dev/null || echo "?"
}
# db_cpu: CPU seconds used so far by the source and the destination server.
db_cpu() { echo "$(cpu_s "$(head -n 1 "$SERVERS/pids/mariadb1.pid")") $(cpu_s "$(head -n 1 "$SERVERS/pids/mariadb2.pid")")"; }
# db_cpu_since "S0 D0": CPU seconds of source and destination since db_cpu said S0 D0.
db_cpu_since() {
    local a b
    read -r a b <<<"$1"
    db_cpu | awk -v a="$a" -v b="$b" '{ printf "%.1f | %.1f", $1 - a, $2 - b }'
}

# ------------------------------------------------------------ 1. tools, build

say "command: $COMMAND"
say "installing the benchmark tools (scripts/install-deps.sh --bench)"
"$SRC/scripts/install-deps.sh" --bench
for t in sysbench mydumper myloader mariadb-dump mariadb kcat; do
    command -v "$t" >/dev/null || die "$t is not installed"
done

mkdir -p "$BENCH_DIR"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "building a Release ferry in $BUILD"
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFERRY_TESTS=OFF >"$BENCH_DIR/build.log" 2>&1 ||
        die "cmake configure failed; see $BENCH_DIR/build.log"
    cmake --build "$BUILD" -j2 >>"$BENCH_DIR/build.log" 2>&1 ||
        die "build failed; see $BENCH_DIR/build.log"
fi
grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD/CMakeCache.txt" ||
    die "$BUILD is not a Release build"
if grep -q '^FERRY_SANITIZE:BOOL=ON$' "$BUILD/CMakeCache.txt"; then
    die "$BUILD is built with sanitizers"
fi
for b in tools/ferryctl tools/ferry-devkafka producer/ferry-producer consumer/ferry-consumer verifier/ferry-verifier; do
    [ -x "$BUILD/$b" ] || die "$BUILD/$b is missing"
done

# ------------------------------------------------------------ 2. servers

rm -rf -- "$RUN" "$DUMP"
mkdir -p "$RUN"
say "starting two MariaDB, PostgreSQL and ferry-devkafka --partitions $PARTITIONS in $SERVERS"
FERRY_BUILD=$BUILD FERRY_DEVKAFKA_ARGS="--partitions $PARTITIONS" \
    "$SRC/tests/harness/servers.sh" start "$SERVERS" >&2
# shellcheck source=/dev/null
. "$SERVERS/env.sh"
# mysql1 / mysql2: the mariadb client on the source / destination.
# shellcheck source-path=SCRIPTDIR source=../tests/harness/lib.sh
. "$SRC/tests/harness/lib.sh"

if [ -n "$BUFFER_POOL" ]; then
    # The harness sizes InnoDB for CI (64 MB buffer pool); the data set here
    # is a few hundred MB, so give both servers room to hold it. Resizing is
    # online and asynchronous: wait until it is finished.
    bytes=$(numfmt --from=iec "$BUFFER_POOL")
    for m in mysql1 mysql2; do
        "$m" -e "SET GLOBAL innodb_buffer_pool_size = $bytes"
        for _ in $(seq 300); do
            st=$("$m" -e "SHOW STATUS LIKE 'Innodb_buffer_pool_resize_status'" | cut -f2)
            [ "$("$m" -e 'SELECT @@innodb_buffer_pool_size')" -ge "$bytes" ] &&
                { [ -z "$st" ] || [[ $st == *omplete* ]]; } && break
            sleep 0.1
        done
    done
fi
if [ -n "$REDO_LOG" ]; then
    # MariaDB 10.9 and later resize the redo log online.
    for m in mysql1 mysql2; do
        "$m" -e "SET GLOBAL innodb_log_file_size = $(numfmt --from=iec "$REDO_LOG")"
    done
fi
redo1=$(mysql1 -e 'SELECT @@innodb_log_file_size DIV 1048576')
redo2=$(mysql2 -e 'SELECT @@innodb_log_file_size DIV 1048576')
bp1=$(mysql1 -e 'SELECT @@innodb_buffer_pool_size DIV 1048576')
bp2=$(mysql2 -e 'SELECT @@innodb_buffer_pool_size DIV 1048576')

# ------------------------------------------------------------ 3. data

say "loading $TABLES tables x $ROWS rows with sysbench into mariadb1 (sbtest)"
mysql1 -e 'DROP DATABASE IF EXISTS sbtest; CREATE DATABASE sbtest'
t0=$(now)
sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 \
    --mysql-port="$FERRY_MARIADB1_PORT" --mysql-user=ferry --mysql-password=ferry \
    --mysql-db=sbtest --tables="$TABLES" --table-size="$ROWS" --threads="$THREADS" \
    prepare >"$BENCH_DIR/sysbench.log" 2>&1 || die "sysbench prepare failed; see $BENCH_DIR/sysbench.log"
say "data loaded in $(elapsed "$t0" "$(now)") s"

# The source's row count and checksum of every table; reading them also
# brings the source tables into the buffer pool, so no tool pays for the
# first read from disk.
declare -A src_count src_sum
for ((i = 1; i <= TABLES; i++)); do
    src_count[$i]=$(mysql1 -e "SELECT COUNT(*) FROM sbtest.sbtest$i")
    src_sum[$i]=$(mysql1 -e "CHECKSUM TABLE sbtest.sbtest$i" | cut -f2)
    [ "${src_count[$i]}" = "$ROWS" ] || die "sbtest$i has ${src_count[$i]} rows, not $ROWS"
done
TOTAL=$((TABLES * ROWS))
src_mb=$(mysql1 -e "SELECT ROUND(SUM(data_length + index_length) / 1048576) FROM information_schema.tables
                    WHERE table_schema = 'sbtest'")

# verify DB: every table of DB on mariadb2 has the source's rows and checksum.
verify() {
    local db=$1 i n sum
    for ((i = 1; i <= TABLES; i++)); do
        n=$(mysql2 -e "SELECT COUNT(*) FROM $db.sbtest$i") || die "$db.sbtest$i is missing"
        [ "$n" = "${src_count[$i]}" ] ||
            die "$db.sbtest$i has $n rows, the source ${src_count[$i]}"
        sum=$(mysql2 -e "CHECKSUM TABLE $db.sbtest$i" | cut -f2)
        [ "$sum" = "${src_sum[$i]}" ] ||
            die "CHECKSUM TABLE $db.sbtest$i is $sum, the source's ${src_sum[$i]}"
    done
    say "$db: $TABLES tables, row counts and checksums equal to the source"
}

declare -A secs dbcpu
load_start=$(loadavg)

secs[myloader]=0
secs[dump]=0
secs[outfile]=0
dbcpu[myloader]="- | -"
dbcpu[dump]="- | -"
dbcpu[outfile]="- | -"
dump_mb="-"
if [ "${ONLY:-}" != ferry ]; then
# ------------------------------------------------------------ 4a. mydumper | myloader

# myloader runs with -e so that it writes the destination's binary log as
# the other two do (by default it turns binary logging off for its session).
say "mydumper | myloader, $THREADS threads, into sbtest_myloader"
mysql2 -e 'DROP DATABASE IF EXISTS sbtest_myloader'
c0=$(db_cpu)
t0=$(now)
mydumper -h 127.0.0.1 -P "$FERRY_MARIADB1_PORT" -u ferry -p ferry -B sbtest -t "$THREADS" \
    -o "$DUMP" >"$BENCH_DIR/mydumper.log" 2>&1 || die "mydumper failed; see $BENCH_DIR/mydumper.log"
myloader -h 127.0.0.1 -P "$FERRY_MARIADB2_PORT" -u ferry -p ferry -d "$DUMP" -B sbtest_myloader \
    -t "$THREADS" -e -o >"$BENCH_DIR/myloader.log" 2>&1 || die "myloader failed; see $BENCH_DIR/myloader.log"
t1=$(now)
secs[myloader]=$(elapsed "$t0" "$t1")
dbcpu[myloader]=$(db_cpu_since "$c0")
dump_mb=$(du -sm "$DUMP" | cut -f1)
rm -rf -- "$DUMP"
say "mydumper | myloader: ${secs[myloader]} s"
verify sbtest_myloader
mysql2 -e 'DROP DATABASE sbtest_myloader'

# ------------------------------------------------------------ 4b. mariadb-dump | mariadb

say "mariadb-dump | mariadb into sbtest_dump"
mysql2 -e 'CREATE DATABASE sbtest_dump'
c0=$(db_cpu)
t0=$(now)
MYSQL_PWD=ferry mariadb-dump --no-defaults --protocol=TCP -h 127.0.0.1 -P "$FERRY_MARIADB1_PORT" \
    -u ferry --single-transaction --quick sbtest 2>"$BENCH_DIR/mariadb-dump.log" |
    MYSQL_PWD=ferry mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$FERRY_MARIADB2_PORT" \
        -u ferry sbtest_dump 2>"$BENCH_DIR/mariadb.log" ||
    die "mariadb-dump | mariadb failed; see $BENCH_DIR/mariadb-dump.log and mariadb.log"
t1=$(now)
secs[dump]=$(elapsed "$t0" "$t1")
dbcpu[dump]=$(db_cpu_since "$c0")
say "mariadb-dump | mariadb: ${secs[dump]} s"
verify sbtest_dump
mysql2 -e 'DROP DATABASE sbtest_dump'

# ------------------------------------------------------------ 4c. SELECT INTO OUTFILE + LOAD DATA INFILE

# The issue's "practical ceiling": no client in the way at all. Each server
# writes or reads a plain file itself; $THREADS tables at a time, each one
# dumped and then loaded, into tables created with the source's definitions
# whose plain secondary indexes are built after the load (as ferry does:
# cheaper for the destination than loading into them).
say "SELECT INTO OUTFILE + LOAD DATA INFILE, $THREADS tables at a time, into sbtest_outfile"
mysql2 -e 'DROP DATABASE IF EXISTS sbtest_outfile; CREATE DATABASE sbtest_outfile'
declare -A add_index
for ((i = 1; i <= TABLES; i++)); do
    ddl=$(mysql1 -e "SHOW CREATE TABLE sbtest.sbtest$i" | cut -f2-)
    mysql2 -D sbtest_outfile -e "$(printf '%b' "$ddl")"
    add_index[$i]=""
    while IFS=$'\t' read -r name cols; do
        mysql2 -e "ALTER TABLE sbtest_outfile.sbtest$i DROP INDEX \`$name\`"
        add_index[$i]+="${add_index[$i]:+, }ADD INDEX \`$name\` ($cols)"
    done < <(mysql1 -e "SELECT INDEX_NAME, GROUP_CONCAT(CONCAT('\`', COLUMN_NAME, '\`',
                            IFNULL(CONCAT('(', SUB_PART, ')'), '')) ORDER BY SEQ_IN_INDEX)
                        FROM information_schema.STATISTICS
                        WHERE TABLE_SCHEMA = 'sbtest' AND TABLE_NAME = 'sbtest$i' AND NON_UNIQUE = 1
                        GROUP BY INDEX_NAME")
done
mkdir -p "$DUMP"
# outfile_one I: table I through a file, dumped by the source, loaded by the
# destination, then its secondary indexes built.
outfile_one() {
    local f=$DUMP/sbtest$1.txt
    mysql1 -e "SELECT * FROM sbtest.sbtest$1 INTO OUTFILE '$f'" &&
        mysql2 -e "LOAD DATA INFILE '$f' INTO TABLE sbtest_outfile.sbtest$1" &&
        rm -f -- "$f" &&
        { [ -z "${add_index[$1]}" ] || mysql2 -e "ALTER TABLE sbtest_outfile.sbtest$1 ${add_index[$1]}"; }
}
# outfile_lane K: tables K, K + THREADS, ... one after the other.
outfile_lane() {
    local i
    for ((i = $1; i <= TABLES; i += THREADS)); do
        outfile_one "$i" || return 1
    done
}
c0=$(db_cpu)
t0=$(now)
lanes=()
for ((k = 1; k <= THREADS && k <= TABLES; k++)); do
    outfile_lane "$k" &
    lanes+=($!)
done
for pid in "${lanes[@]}"; do
    wait "$pid" || die "SELECT INTO OUTFILE + LOAD DATA INFILE failed"
done
t1=$(now)
secs[outfile]=$(elapsed "$t0" "$t1")
dbcpu[outfile]=$(db_cpu_since "$c0")
rm -rf -- "$DUMP"
say "SELECT INTO OUTFILE + LOAD DATA INFILE: ${secs[outfile]} s"
verify sbtest_outfile
mysql2 -e 'DROP DATABASE sbtest_outfile'
fi

# ------------------------------------------------------------ 4d. ferry

say "ferry (topics.partitions = $PARTITIONS) into sbtest_ferry"
mysql2 -e 'DROP DATABASE IF EXISTS sbtest_ferry'
cat >"$PROJECT" <<EOF
# Written by bench/fullload.sh.
project.name = bench
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = sbtest.*
rename.databases = sbtest:sbtest_ferry
runtime.dir = $RUN
# ferry-devkafka keeps 5 MB per partition: one partition per chunk of a table.
topics.partitions = $PARTITIONS
${FERRY_EXTRA:-}
EOF
"$CTL" check "$PROJECT" >&2 || die "ferryctl check refused the project file"

# ferry_report: what ferry said, for a failure report.
ferry_report() {
    "$CTL" status "$PROJECT" >&2 || true
    for s in producer consumer; do
        echo "--- $RUN/logs/$s.log (last 20 lines)" >&2
        tail -n 20 "$RUN/logs/$s.log" >&2 2>/dev/null || true
    done
}

# vmhwm SERVICE: peak resident set size of a running ferry service, in MB.
vmhwm() {
    local pid
    pid=$(cat "$RUN/$1.pid" 2>/dev/null) || { echo "?"; return; }
    awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo "?"
}

kpid=$(head -n 1 "$SERVERS/pids/devkafka.pid")
kcpu0=$(cpu_s "$kpid")
c0=$(db_cpu)
t0=$(now)
ferry_up=1
"$CTL" up "$PROJECT" >&2 || { ferry_report; die "ferryctl up failed"; }
if ! "$CTL" wait "$PROJECT" --until full-done --timeout 1800 >&2; then
    ferry_report
    die "ferry did not finish the full load"
fi
t1=$(now)
secs[ferry]=$(elapsed "$t0" "$t1")
dbcpu[ferry]=$(db_cpu_since "$c0")
rss_producer=$(vmhwm producer)
rss_consumer=$(vmhwm consumer)
rss_kafka=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$kpid/status" 2>/dev/null || echo "?")
cpu_producer=$(cpu_s "$(cat "$RUN/producer.pid")")
cpu_consumer=$(cpu_s "$(cat "$RUN/consumer.pid")")
cpu_kafka=$(awk -v a="$(cpu_s "$kpid")" -v b="$kcpu0" 'BEGIN { printf "%.1f", a - b }')
# The largest snapshot partition of the first table, in bytes of keys,
# values and headers as kcat reads them back (after the timing; it shows how
# close a partition came to ferry-devkafka's 5 MB).
part_mb=$(kcat -C -b "$FERRY_KAFKA_BOOTSTRAP" -t ferry.bench.fwd.snapshot.sbtest.sbtest1 -e -q \
    -f '%p %K %S %h\n' 2>/dev/null |
    awk '{ b[$1] += $2 + $3 + length($4) } END { for (p in b) if (b[p] > m) m = b[p]; printf "%.1f", m / 1048576 }') ||
    part_mb="?"
"$CTL" down "$PROJECT" --timeout 30 >&2 || say "ferryctl down reported a problem"
ferry_up=0
say "ferry: ${secs[ferry]} s"
verify sbtest_ferry
mysql2 -e 'DROP DATABASE sbtest_ferry'
load_end=$(loadavg)
# The largest number of chunks the producer cut for one table.
ferry_chunks=$(sed -n 's/.*msg="table snapshot done".* chunks=\([0-9]*\).*/\1/p' "$RUN/logs/producer.log" |
    sort -n | tail -n 1)

# ------------------------------------------------------------ 5. report

r_my=$(rate "$TOTAL" "${secs[myloader]}")
r_dump=$(rate "$TOTAL" "${secs[dump]}")
r_outfile=$(rate "$TOTAL" "${secs[outfile]}")
r_ferry=$(rate "$TOTAL" "${secs[ferry]}")
cat <<EOF
# ferry full-load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')
command: $COMMAND
machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo); load average $load_start before the copies, $load_end after
data: $TABLES sysbench tables x $ROWS rows = $TOTAL rows, $src_mb MB on the source (mydumper files: $dump_mb MB)
servers: MariaDB $(mysql1 -e 'SELECT VERSION()') (tests/harness/servers.sh), innodb_buffer_pool_size ${bp1}M / ${bp2}M, innodb_log_file_size ${redo1}M / ${redo2}M; ferry-devkafka --partitions $PARTITIONS
ferry: topics.partitions = $PARTITIONS (ferry-devkafka keeps only 5 MB per partition; the producer cut up to ${ferry_chunks:-?} chunks of at most $CHUNK_ROWS rows per table, each on its own partition; the fullest snapshot partition of sbtest1 held $part_mb MB of keys, values and headers)

| tool | rows | seconds | rows/s | source CPU s | destination CPU s |
|---|---|---|---|---|---|
| mydumper \| myloader ($THREADS threads, binlog on) | $TOTAL | ${secs[myloader]} | $r_my | ${dbcpu[myloader]} |
| mariadb-dump \| mariadb | $TOTAL | ${secs[dump]} | $r_dump | ${dbcpu[dump]} |
| SELECT INTO OUTFILE + LOAD DATA INFILE ($THREADS tables at a time, indexes after) | $TOTAL | ${secs[outfile]} | $r_outfile | ${dbcpu[outfile]} |
| ferry (up to full-done, via ferry-devkafka) | $TOTAL | ${secs[ferry]} | $r_ferry | ${dbcpu[ferry]} |

ferry / myloader:     $(ratio "$r_ferry" "$r_my")x
ferry / mariadb-dump: $(ratio "$r_ferry" "$r_dump")x
OUTFILE + LOAD DATA / myloader: $(ratio "$r_outfile" "$r_my")x (the issue's practical ceiling; the target asks ferry for 1.50x)
peak RSS (VmHWM) during the load: ferry-producer $rss_producer MB, ferry-consumer $rss_consumer MB (ferry-devkafka $rss_kafka MB)
CPU seconds from up to full-done: ferry-producer $cpu_producer, ferry-consumer $cpu_consumer, ferry-devkafka $cpu_kafka
every copy: row counts and CHECKSUM TABLE equal to the source
EOF
