#!/usr/bin/env bash
# Verification benchmark: the same sysbench data set on two MariaDB servers,
# compared by three tools one after the other in one run:
#
#   CHECKSUM TABLE     on both servers at the same time, every table (the
#                      fastest check MariaDB has: whole-table, no chunks, no
#                      row diffs, a 32-bit checksum): the headline comparison;
#                      also on the source and then on the destination, as a
#                      user typing it by hand gets it (reported separately,
#                      never as the target)
#   pt-table-checksum  on both servers at the same time (--recursion-method
#                      none: each computes its own chunk checksums, the work
#                      it does per side)
#   ferry-verifier     --once, both sides compared chunk by chunk, with each
#                      of its two checksum modes (stream: rows hashed in C;
#                      sql: CRC32 + CRC32C sums computed by the servers)
#
# then candidate checksum expressions, each one query over every table on
# the source alone, and the time ferry-verifier takes to locate and report
# DIFFS rows changed at the destination, spread over the tables.
#
# Usage (as root on Debian 12, from anywhere):
#   bench/verify.sh                        4 tables x 250,000 rows
#   TABLES=2 ROWS=20000 bench/verify.sh    a quick run
#
# Environment: TABLES, ROWS (default 4 x 250000), DIFFS (100), RUNS (3: rounds
# of the equal-table tools, one tool after the other in each round; each
# tool's best round is reported, which keeps other work's noise out), BUFFER_POOL
# (innodb_buffer_pool_size of both servers, default 1G), BENCH_DIR (default
# /tmp/ferry-bench-verify), SKIP_BUILD=1 (use build-bench as it is),
# BASELINE=PATH (another ferry-verifier executable, e.g. built from an older
# commit, measured in the same run in stream mode: before/after figures).
#
# Besides wall-clock seconds, each tool's CPU seconds are measured: both
# servers' (from /proc) plus the tool's own processes (bash's times). On a
# machine shared with other work the wall clock favours tools with more
# threads; CPU seconds do not depend on the load as much.
# Progress goes to stderr; the result table to stdout.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TABLES=${TABLES:-4}
ROWS=${ROWS:-250000}
DIFFS=${DIFFS:-100}
RUNS=${RUNS:-3}
BUFFER_POOL=${BUFFER_POOL-1G}
BENCH_DIR=${BENCH_DIR:-/tmp/ferry-bench-verify}
BUILD=$SRC/build-bench

COMMAND="cd $SRC && TABLES=$TABLES ROWS=$ROWS"
[ "$DIFFS" != 100 ] && COMMAND+=" DIFFS=$DIFFS"
[ "$RUNS" != 3 ] && COMMAND+=" RUNS=$RUNS"
[ "$BUFFER_POOL" != 1G ] && COMMAND+=" BUFFER_POOL=$BUFFER_POOL"
COMMAND+=" bench/verify.sh"

say() { echo "verify: $*" >&2; }
die() {
    echo "verify: FAIL: $*" >&2
    exit 1
}
[[ $TABLES =~ ^[1-9][0-9]*$ ]] || die "TABLES must be a positive integer, not '$TABLES'"
[[ $ROWS =~ ^[1-9][0-9]*$ ]] || die "ROWS must be a positive integer, not '$ROWS'"
[[ $DIFFS =~ ^[0-9]+$ ]] || die "DIFFS must be an integer, not '$DIFFS'"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive integer, not '$RUNS'"

SERVERS=$BENCH_DIR/servers
cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM
    if [ -d "$SERVERS" ]; then
        say "stopping the servers"
        "$SRC/tests/harness/servers.sh" stop "$SERVERS" >/dev/null 2>&1
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v r="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? r / s : 0) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

# ------------------------------------------------------------ 1. tools, build

say "command: $COMMAND"
"$SRC/scripts/install-deps.sh" --bench
for t in sysbench pt-table-checksum mariadb-dump mariadb jq; do
    command -v "$t" >/dev/null || die "$t is not installed"
done
mkdir -p "$BENCH_DIR"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    say "building a Release ferry in $BUILD"
    # CMAKE_C_FLAGS emptied: no flag an earlier configure cached (the build is -Werror)
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DFERRY_TESTS=OFF -DCMAKE_C_FLAGS= \
        >"$BENCH_DIR/build.log" 2>&1 ||
        die "cmake configure failed; see $BENCH_DIR/build.log"
    cmake --build "$BUILD" -j2 --target ferry-verifier >>"$BENCH_DIR/build.log" 2>&1 ||
        die "build failed; see $BENCH_DIR/build.log"
fi
VERIFIER=$BUILD/verifier/ferry-verifier
[ -x "$VERIFIER" ] || die "$VERIFIER is missing"
BASELINE=${BASELINE:-}
[ -z "$BASELINE" ] || [ -x "$BASELINE" ] || die "BASELINE $BASELINE is not an executable"
grep -q '^FERRY_SANITIZE:BOOL=ON$' "$BUILD/CMakeCache.txt" && die "$BUILD is built with sanitizers"

# ------------------------------------------------------------ 2. servers, data

say "starting two MariaDB servers in $SERVERS"
FERRY_TEST_SKIP_KAFKA=1 "$SRC/tests/harness/servers.sh" start "$SERVERS" >&2
# shellcheck source=/dev/null
. "$SERVERS/env.sh"
# shellcheck source-path=SCRIPTDIR source=../tests/harness/lib.sh
. "$SRC/tests/harness/lib.sh"
if [ -n "$BUFFER_POOL" ]; then
    bytes=$(numfmt --from=iec "$BUFFER_POOL")
    for m in mysql1 mysql2; do
        "$m" -e "SET GLOBAL innodb_buffer_pool_size = $bytes"
        for _ in $(seq 300); do
            [ "$("$m" -e 'SELECT @@innodb_buffer_pool_size')" -ge "$bytes" ] && break
            sleep 0.1
        done
    done
fi

say "loading $TABLES tables x $ROWS rows with sysbench into both servers (sbtest)"
for m in mysql1 mysql2; do
    "$m" -e 'DROP DATABASE IF EXISTS sbtest; CREATE DATABASE sbtest'
done
sysbench oltp_read_write --db-driver=mysql --mysql-host=127.0.0.1 \
    --mysql-port="$FERRY_MARIADB1_PORT" --mysql-user=ferry --mysql-password=ferry \
    --mysql-db=sbtest --tables="$TABLES" --table-size="$ROWS" --threads=2 \
    prepare >"$BENCH_DIR/sysbench.log" 2>&1 || die "sysbench prepare failed; see $BENCH_DIR/sysbench.log"
MYSQL_PWD=ferry mariadb-dump --no-defaults --protocol=TCP -h 127.0.0.1 -P "$FERRY_MARIADB1_PORT" \
    -u ferry --single-transaction --quick sbtest | mysql2 sbtest || die "could not copy sbtest"
TOTAL=$((TABLES * ROWS))
# warm both buffer pools, and check the copy
for ((i = 1; i <= TABLES; i++)); do
    a=$(mysql1 -e "CHECKSUM TABLE sbtest.sbtest$i" | cut -f2)
    b=$(mysql2 -e "CHECKSUM TABLE sbtest.sbtest$i" | cut -f2)
    [ "$a" = "$b" ] || die "sbtest$i differs after the copy"
done

project=$BENCH_DIR/verify.properties
cat >"$project" <<P
project.name = bench-verify
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = 127.0.0.1:9
tables.include = sbtest.*
runtime.dir = $BENCH_DIR/run
P

# ------------------------------------------------------------ 3. equal tables

tables_list=$(seq -s, -f "sbtest.sbtest%g" 1 "$TABLES")
declare -A secs cpus

# CPU seconds: both servers' (utime + stime from /proc) and this shell's
# finished children's (bash's times), read before and after each tool
TICK=$(getconf CLK_TCK)
server_ticks() {
    local n=0 pid
    for pid in "$(cat "$SERVERS/mariadb1/mariadbd.pid")" "$(cat "$SERVERS/mariadb2/mariadbd.pid")"; do
        n=$((n + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    echo "$n"
}
child_secs() { times | tail -1 | awk '{ for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } } END { printf "%.3f", s }'; }
cpu_start() { CPU0_SERVERS=$(server_ticks) CPU0_CHILD=$(child_secs); }
cpu_end() { # cpu_end NAME: keeps the least of the runs
    local c
    c=$(awk -v a="$CPU0_SERVERS" -v b="$(server_ticks)" -v c="$CPU0_CHILD" -v d="$(child_secs)" \
        -v tk="$TICK" 'BEGIN { printf "%.2f", (b - a) / tk + d - c }')
    cpus[$1]=$(least "${cpus[$1]:-}" "$c")
}
least() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'; }
took() { secs[$1]=$(least "${secs[$1]:-}" "$(elapsed "$2" "$(now)")"); } # took NAME T0

checksum_table() {
    say "CHECKSUM TABLE on both servers"
    cpu_start
    t0=$(now)
    mysql1 -e "CHECKSUM TABLE $tables_list" >/dev/null &
    p1=$!
    mysql2 -e "CHECKSUM TABLE $tables_list" >/dev/null
    wait "$p1"
    took checksum "$t0"
    cpu_end checksum
}

# what a user typing it by hand gets: the source, then the destination
checksum_table_serial() {
    say "CHECKSUM TABLE on the source, then on the destination"
    cpu_start
    t0=$(now)
    mysql1 -e "CHECKSUM TABLE $tables_list" >/dev/null
    mysql2 -e "CHECKSUM TABLE $tables_list" >/dev/null
    took checksum_serial "$t0"
    cpu_end checksum_serial
}

pt() {
    pt-table-checksum "h=127.0.0.1,P=$1,u=ferry,p=ferry" --databases sbtest --recursion-method=none \
        --no-check-binlog-format --no-check-replication-filters --no-version-check \
        >"$BENCH_DIR/pt-$1.log" 2>&1
}
pt_both() {
    say "pt-table-checksum on both servers"
    cpu_start
    t0=$(now)
    pt "$FERRY_MARIADB1_PORT" &
    p1=$!
    pt "$FERRY_MARIADB2_PORT" || die "pt-table-checksum failed; see $BENCH_DIR/pt-$FERRY_MARIADB2_PORT.log"
    wait "$p1" || die "pt-table-checksum failed; see $BENCH_DIR/pt-$FERRY_MARIADB1_PORT.log"
    took pt "$t0"
    cpu_end pt
}

# ferry_verify MODE [NAME EXECUTABLE]: ferry-verifier --once with verify.checksum = MODE
ferry_verify() {
    local name=${2:-$1} bin=${3:-$VERIFIER}
    say "$bin --once, verify.checksum = $1"
    sed -i '/^verify.checksum/d' "$project"
    echo "verify.checksum = $1" >>"$project"
    cpu_start
    t0=$(now)
    "$bin" "$project" --once --report "$BENCH_DIR/equal-$name.json" >"$BENCH_DIR/equal-$name.txt" 2>&1 ||
        die "ferry-verifier did not find the tables equal; see $BENCH_DIR/equal-$name.txt"
    took "ferry_$name" "$t0"
    cpu_end "ferry_$name"
    [ "$(jq .rows_checked "$BENCH_DIR/equal-$name.json")" = "$TOTAL" ] ||
        die "ferry-verifier did not check $TOTAL rows"
}
# RUNS rounds of every tool, one after the other; each tool's best round counts
for ((run = 1; run <= RUNS; run++)); do
    checksum_table
    checksum_table_serial
    pt_both
    [ -z "$BASELINE" ] || ferry_verify stream baseline "$BASELINE"
    ferry_verify stream
    ferry_verify sql
done
sed -i '/^verify.checksum/d' "$project"

# ------------------------------------------------------------ 4. candidate expressions

# One query per table on the source alone; the text of a sysbench row with
# the separators and lengths ferry's canonical text has.
text="CONCAT_WS('#',id,k,c,pad,LENGTH(c),LENGTH(pad))"
declare -A cand=(
    [bitxor_crc32]="COUNT(*), BIT_XOR(CRC32($text))"
    [sum_crc32_crc32c_twice]="COUNT(*), SUM(CRC32($text)), SUM(CRC32C($text))"
    [sum_crc32_crc32c_once]="COUNT(*), SUM(CRC32(@r := $text)), SUM(CRC32C(@r))"
    [sum_md5_64]="COUNT(*), SUM(CONV(LEFT(MD5($text), 16), 16, 10))"
)
declare -A csecs
for name in bitxor_crc32 sum_crc32_crc32c_twice sum_crc32_crc32c_once sum_md5_64; do
    t0=$(now)
    for ((i = 1; i <= TABLES; i++)); do
        mysql1 -e "SELECT ${cand[$name]} FROM sbtest.sbtest$i" >/dev/null
    done
    csecs[$name]=$(elapsed "$t0" "$(now)")
done
t0=$(now)
mysql1 -e "CHECKSUM TABLE $tables_list" >/dev/null
csecs[checksum_table_one_side]=$(elapsed "$t0" "$(now)")

# ------------------------------------------------------------ 5. locating differences

say "changing $DIFFS rows at the destination, spread over the tables"
for ((n = 0; n < DIFFS; n++)); do
    i=$((n % TABLES + 1))
    id=$(((n / TABLES) * (ROWS / ((DIFFS + TABLES - 1) / TABLES)) + 1 + n % 7))
    echo "UPDATE sbtest.sbtest$i SET c = REVERSE(c) WHERE id = $id;"
done | mysql2
t0=$(now)
rc=0
"$VERIFIER" "$project" --once --report "$BENCH_DIR/diffs.json" --repair-sql "$BENCH_DIR/repair.sql" \
    >"$BENCH_DIR/diffs.txt" 2>&1 || rc=$?
secs[locate]=$(elapsed "$t0" "$(now)")
[ "$rc" = 1 ] || die "ferry-verifier exited $rc with $DIFFS rows changed; see $BENCH_DIR/diffs.txt"
found=$(jq '.differences | length' "$BENCH_DIR/diffs.json")
[ "$found" = "$DIFFS" ] || die "ferry-verifier reported $found differences, not $DIFFS"

# ------------------------------------------------------------ 6. results

r_ck=$(rate "$TOTAL" "${secs[checksum]}")
r_cs=$(rate "$TOTAL" "${secs[checksum_serial]}")
r_pt=$(rate "$TOTAL" "${secs[pt]}")
r_fe=$(rate "$TOTAL" "${secs[ferry_stream]}")
r_fs=$(rate "$TOTAL" "${secs[ferry_sql]}")
baseline_row=
if [ -n "$BASELINE" ]; then
    r_bl=$(rate "$TOTAL" "${secs[ferry_baseline]}")
    baseline_row="| BASELINE $BASELINE (stream) | ${secs[ferry_baseline]} | $r_bl | $(ratio "$r_fe" "$r_bl") |"
    baseline_row+=" ${cpus[ferry_baseline]} | $(ratio "${cpus[ferry_baseline]}" "${cpus[ferry_stream]}") |"
fi
cat <<EOF

Verification of $TABLES x $ROWS sysbench rows ($TOTAL) on two MariaDB $(mysql1 -e 'SELECT VERSION()' | cut -d- -f1), both sides at once
command: $COMMAND
load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); each tool's best of $RUNS rounds

| tool | seconds | rows/s | ferry's rows/s : tool's | CPU s (servers + tool) | tool's CPU s : ferry's |
|---|---:|---:|---:|---:|---:|
| CHECKSUM TABLE, both servers | ${secs[checksum]} | $r_ck | $(ratio "$r_fe" "$r_ck") | ${cpus[checksum]} | $(ratio "${cpus[checksum]}" "${cpus[ferry_stream]}") |
| CHECKSUM TABLE, source then destination (by hand; not the target) | ${secs[checksum_serial]} | $r_cs | $(ratio "$r_fe" "$r_cs") | ${cpus[checksum_serial]} | $(ratio "${cpus[checksum_serial]}" "${cpus[ferry_stream]}") |
| pt-table-checksum, both servers | ${secs[pt]} | $r_pt | $(ratio "$r_fe" "$r_pt") | ${cpus[pt]} | $(ratio "${cpus[pt]}" "${cpus[ferry_stream]}") |
| ferry-verifier --once (verify.checksum = stream, the default) | ${secs[ferry_stream]} | $r_fe | 1.00 | ${cpus[ferry_stream]} | 1.00 |
| ferry-verifier --once (verify.checksum = sql) | ${secs[ferry_sql]} | $r_fs | $(ratio "$r_fe" "$r_fs") | ${cpus[ferry_sql]} | $(ratio "${cpus[ferry_sql]}" "${cpus[ferry_stream]}") |
$baseline_row

Targets (stream, the default): rows/s at least 2x pt-table-checksum's: $(ratio "$r_fe" "$r_pt")x,
$(awk -v r="$(ratio "$r_fe" "$r_pt")" 'BEGIN { print (r >= 2 ? "met" : "NOT met") }'); at least half of CHECKSUM TABLE's on both servers at once:
$(ratio "$r_fe" "$r_ck")x, $(awk -v r="$(ratio "$r_fe" "$r_ck")" 'BEGIN { print (r >= 0.5 ? "met" : "NOT met") }') (against CHECKSUM TABLE run by hand on one server after the
other: $(ratio "$r_fe" "$r_cs")x, which is not the target).
By CPU seconds, which depend much less on other work: ferry-verifier costs $(ratio "${cpus[ferry_stream]}" "${cpus[checksum]}")x
CHECKSUM TABLE's CPU (half its rate on 2 idle cores needs 2x or less) and
$(ratio "${cpus[ferry_stream]}" "${cpus[pt]}")x pt-table-checksum's.$(awk -v l="$(cut -d' ' -f1 /proc/loadavg)" -v n="$(nproc)" \
    'BEGIN { if (l > n) printf "\nWARNING: load average %s on %d cores: the wall-clock ratios above are not reliable.", l, n }')

Locating $DIFFS changed rows spread over $TABLES tables: ${secs[locate]} s for a full run
(stream) that reported all $found (and nothing else), with their repair SQL.

Checksum expressions, one query per table on the source alone ($TOTAL rows):

| expression | seconds | rows/s |
|---|---:|---:|
EOF
for name in checksum_table_one_side bitxor_crc32 sum_crc32_crc32c_once sum_crc32_crc32c_twice sum_md5_64; do
    echo "| $name | ${csecs[$name]} | $(rate "$TOTAL" "${csecs[$name]}") |"
done
