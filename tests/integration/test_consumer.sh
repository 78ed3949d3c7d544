#!/usr/bin/env bash
# ferry-consumer on the MySQL-family forward link, with consumer_feed playing
# the producer: tables of several types, a composite key, no key and an
# awkward name are announced (SNAPSHOT_TABLE), changed before the full load
# (replayed in safe mode), copied by the full-load planner and worker,
# closed with SNAPSHOT_DONE at H, and changed again after H (strict mode).
# The consumer (one database and one table renamed) must bring every table
# to "incremental" with the destination equal to the source row by row.
# Then: kill -9 mid-way through a second feed and restart (nothing doubled,
# nothing missing), a poison event to the dead-letter topic while the rest
# applies, and apply.on.error=stop ending the consumer with the table named.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init consumer

feed=$FERRY_BUILD/tests/consumer_feed
bin=$FERRY_BUILD/consumer/ferry-consumer
[ -x "$feed" ] && [ -x "$bin" ] || fail "build consumer_feed and ferry-consumer first"

src=cs_$$
dst=cs_$$_dst
other=cs_$$_other
project=cs-$$
url="mysql://$FERRY_DB_USER:$FERRY_DB_PASSWORD@$FERRY_MARIADB1_HOST:$FERRY_MARIADB1_PORT"
tmp=$FERRY_TEST_TMP
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src' >/dev/null 2>&1"
ferry_cleanup_add "mysql2 -e 'DROP DATABASE IF EXISTS $dst; DROP DATABASE IF EXISTS $other; DELETE FROM ferry_meta.ferry_offsets WHERE link = \"$project.fwd\"; DELETE FROM ferry_meta.ferry_progress WHERE link = \"$project.fwd\"' >/dev/null 2>&1"

mysql1 <<SQL || fail "could not create the source tables"
CREATE DATABASE $src;
USE $src;
CREATE TABLE types (id INT PRIMARY KEY, vc VARCHAR(50) CHARACTER SET utf8mb4, d DECIMAL(12,3),
  dt DATETIME(6), j JSON, b VARBINARY(16), e ENUM('a','b','c'), f DOUBLE, n BIGINT UNSIGNED);
INSERT INTO types SELECT seq, CONCAT('välue ', seq), seq * 1.125, '2024-01-02 03:04:05.123456' + INTERVAL seq MINUTE,
  CONCAT('{"k": ', seq, '}'), UNHEX(HEX(seq)), ELT(seq % 3 + 1, 'a', 'b', 'c'), seq / 7, 18446744073709551615 - seq
  FROM seq_1_to_300;
CREATE TABLE comp (a INT, b VARCHAR(20), v INT, PRIMARY KEY (a, b));
INSERT INTO comp SELECT seq % 10, CONCAT('k', seq), seq FROM seq_1_to_200;
CREATE TABLE nokey (a INT, b VARCHAR(20));
INSERT INTO nokey SELECT seq % 50, IF(seq % 3, 'dup', NULL) FROM seq_1_to_150;
CREATE TABLE \`we ird-näme\` (id INT PRIMARY KEY, \`sel ect\` VARCHAR(10));
INSERT INTO \`we ird-näme\` SELECT seq, CONCAT('w', seq) FROM seq_1_to_60;
CREATE TABLE moved (id INT PRIMARY KEY, v INT);
INSERT INTO moved SELECT seq, seq * 2 FROM seq_1_to_100;
SQL
tables=(types comp nokey "we ird-näme" moved)
# source table -> destination table, and an ORDER BY covering every column
declare -A dest=([types]="$dst.types" [comp]="$dst.comp" [nokey]="$dst.nokey"
                 ["we ird-näme"]="$dst.\`we ird-näme\`" [moved]="$other.moved_t")
declare -A order=([types]="1" [comp]="1,2" [nokey]="1,2" ["we ird-näme"]="1" [moved]="1")

"$feed" schema "$FERRY_KAFKA_BOOTSTRAP" "$project" "$url" "$src" "${tables[@]}" >"$tmp/schema.out" 2>&1 ||
    fail "feed schema: $(tail -n 3 "$tmp/schema.out")"

# Changes before the snapshot is copied: in the snapshot already, replayed in safe mode.
cat >"$tmp/ops1" <<OPS
u|types|id = 5|UPDATE $src.types SET vc = 'pre-H update' WHERE id = 5
c|types|id = 1001|INSERT INTO $src.types (id, vc, d) VALUES (1001, 'pre-H insert', 1.5)
d|types|id = 7|DELETE FROM $src.types WHERE id = 7
u|comp|a = 1 AND b = 'k1'|UPDATE $src.comp SET v = -1 WHERE a = 1 AND b = 'k1'
d|comp|a = 2 AND b = 'k2'|DELETE FROM $src.comp WHERE a = 2 AND b = 'k2'
c|nokey|a = 900|INSERT INTO $src.nokey VALUES (900, 'pre')
u|we ird-näme|id = 3|UPDATE $src.\`we ird-näme\` SET \`sel ect\` = 'pre' WHERE id = 3
u|moved|id = 10|UPDATE $src.moved SET v = 0 WHERE id = 10
OPS
"$feed" changes "$FERRY_KAFKA_BOOTSTRAP" "$project" "$url" "$src" "$tmp/ops1" >"$tmp/ops1.out" 2>&1 ||
    fail "feed changes before H: $(tail -n 3 "$tmp/ops1.out")"
"$feed" load "$FERRY_KAFKA_BOOTSTRAP" "$project" "$url" "$src" "${tables[@]}" >"$tmp/load.out" 2>&1 ||
    fail "feed load: $(tail -n 3 "$tmp/load.out")"
grep '^H ' "$tmp/load.out"

# Changes after H: strict mode, including updates of rows from the snapshot.
cat >"$tmp/ops2" <<OPS
u|types|id = 6|UPDATE $src.types SET vc = 'post-H update', j = '[1, 2]' WHERE id = 6
c|types|id = 1002|INSERT INTO $src.types (id, vc, n) VALUES (1002, 'post-H insert', 0)
d|types|id = 8|DELETE FROM $src.types WHERE id = 8
c|comp|a = 99 AND b = 'new'|INSERT INTO $src.comp VALUES (99, 'new', 1)
u|comp|a = 3 AND b = 'k3'|UPDATE $src.comp SET v = 333 WHERE a = 3 AND b = 'k3'
u|nokey|a = 900|UPDATE $src.nokey SET b = 'post' WHERE a = 900
d|nokey|a = 1 AND b IS NULL|DELETE FROM $src.nokey WHERE a = 1 AND b IS NULL LIMIT 1
c|we ird-näme|id = 100|INSERT INTO $src.\`we ird-näme\` VALUES (100, 'new')
d|moved|id = 11|DELETE FROM $src.moved WHERE id = 11
OPS
"$feed" changes "$FERRY_KAFKA_BOOTSTRAP" "$project" "$url" "$src" "$tmp/ops2" >"$tmp/ops2.out" 2>&1 ||
    fail "feed changes after H: $(tail -n 3 "$tmp/ops2.out")"
pass "producer's part played: schema, changes before H, full load, changes after H"

# write_project FILE ON_ERROR
write_project() {
    cat >"$1" <<CONF
project.name = $project
source.url = $url
destination.url = mysql://$FERRY_DB_USER:$FERRY_DB_PASSWORD@$FERRY_MARIADB2_HOST:$FERRY_MARIADB2_PORT
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
kafka.session.timeout.ms = 6000
kafka.heartbeat.interval.ms = 500
runtime.dir = $tmp/run
rename.databases = $src:$dst
rename.tables = $src.moved:$other.moved_t
apply.on.error = $2
CONF
}
write_project "$tmp/project.properties" dlq
write_project "$tmp/project-stop.properties" stop
mkdir -p "$tmp/run"

consumer_pid=
start_consumer() {
    rm -f "$tmp/run/consumer.addr"
    "$bin" "${1:-$tmp/project.properties}" >>"$tmp/consumer.log" 2>&1 &
    consumer_pid=$!
    ferry_cleanup_add "kill -9 $consumer_pid 2>/dev/null"
    wait_for "test -s $tmp/run/consumer.addr" 30 "ferry-consumer to write its address"
    status_url="$(cat "$tmp/run/consumer.addr")/status"
}
status() { curl -fsS --max-time 5 "$status_url"; }
all_incremental() {
    [ "$(status | jq '[.tables[] | select(.phase == "incremental")] | length')" = 5 ]
}

# same_table SRC_TABLE: source and destination hold the same rows.
same_table() {
    local t=$1 a b
    a=$(mysql1 -e "SELECT * FROM $src.\`$t\` ORDER BY ${order[$t]}")
    b=$(mysql2 -e "SELECT * FROM ${dest[$t]} ORDER BY ${order[$t]}")
    [ "$a" = "$b" ]
}
all_same() {
    for t in "${tables[@]}"; do same_table "$t" || return 1; done
}

start_consumer
wait_for all_incremental 60 "every table to reach incremental: $(status 2>/dev/null | jq -c '[.tables[] | {source, phase, snapshot_chunks_done, snapshot_chunks_total, last_error}]' 2>/dev/null)"
status | jq -c '.tables[] | {source, destination, phase, rows_applied, events_applied, snapshot_chunks_done, snapshot_chunks_total}'
for t in "${tables[@]}"; do
    same_table "$t" || fail "table $t differs between source and destination"
done
for t in types comp "we ird-näme" moved; do
    a=$(mysql1 -e "CHECKSUM TABLE $src.\`$t\`" | cut -f2)
    b=$(mysql2 -e "CHECKSUM TABLE ${dest[$t]}" | cut -f2)
    [ "$a" = "$b" ] || fail "CHECKSUM TABLE of $t differs: $a vs $b"
done
pass "snapshot, safe replay before H and strict changes after H: every table equal, row by row"

# ---- kill -9 mid-way through a second feed ---------------------------------
: >"$tmp/ops3"
for i in $(seq 2000 2600); do
    echo "c|types|id = $i|INSERT INTO $src.types (id, vc) VALUES ($i, 'bulk $i')" >>"$tmp/ops3"
    echo "c|nokey|a = $i|INSERT INTO $src.nokey VALUES ($i, 'bulk')" >>"$tmp/ops3"
    [ $((i % 3)) = 0 ] && echo "u|types|id = $i|UPDATE $src.types SET d = $i WHERE id = $i" >>"$tmp/ops3"
done
"$feed" changes "$FERRY_KAFKA_BOOTSTRAP" "$project" "$url" "$src" "$tmp/ops3" >"$tmp/ops3.out" 2>&1 &
feed_pid=$!
before=$(status | jq '.totals.events_applied')
wait_for "[ \$(status | jq '.totals.events_applied') -gt $((before + 300)) ]" 60 "the consumer to apply part of the second feed"
kill -9 "$consumer_pid"
wait "$consumer_pid" 2>/dev/null || true
wait "$feed_pid" || fail "second feed: $(tail -n 3 "$tmp/ops3.out")"
start_consumer
wait_for all_same 60 "the destination to equal the source after the restart"
n1=$(mysql1 -e "SELECT COUNT(*) FROM $src.nokey")
n2=$(mysql2 -e "SELECT COUNT(*) FROM $dst.nokey")
[ "$n1" = "$n2" ] || fail "nokey: $n1 rows at the source, $n2 at the destination"
pass "killed with SIGKILL mid-feed and restarted: nothing doubled ($n2 rows in the key-less table), nothing missing"

# ---- copies of applied changes, met after a restart ---------------------------
# ferry-devkafka shows the records of a capture group that was aborted after
# they reached it, and capture's replay writes them again: the same changes
# at later offsets. The dedup position stored with the offsets makes a
# restarted consumer skip them (in memory only, it would apply them again).
kill -9 "$consumer_pid"
wait "$consumer_pid" 2>/dev/null || true
nk_topic="ferry.$project.fwd.$src.nokey"
"$feed" copy "$FERRY_KAFKA_BOOTSTRAP" "$project" "$nk_topic" >"$tmp/copy.out" 2>&1 ||
    fail "copy: $(tail -n 3 "$tmp/copy.out")"
copied=$(sed -n 's/^copied //p' "$tmp/copy.out")
echo "c|nokey|a = 4000|INSERT INTO $src.nokey VALUES (4000, 'after')" >"$tmp/ops6"
"$feed" changes "$FERRY_KAFKA_BOOTSTRAP" "$project" "$url" "$src" "$tmp/ops6" >"$tmp/ops6.out" 2>&1 ||
    fail "feed after the copies: $(tail -n 3 "$tmp/ops6.out")"
start_consumer
stored() {
    mysql2 -e "SELECT COALESCE(SUM(next_offset), 0) FROM ferry_meta.ferry_offsets WHERE topic = '$nk_topic'"
}
wait_for "[ \$(stored) -ge $((2 * copied + 1)) ]" 60 "the consumer to read past the $copied copies"
n1=$(mysql1 -e "SELECT COUNT(*) FROM $src.nokey")
n2=$(mysql2 -e "SELECT COUNT(*) FROM $dst.nokey")
[ "$n1" = "$n2" ] || fail "nokey after $copied copies: $n1 rows at the source, $n2 at the destination"
pass "$copied copies of applied changes met after a restart: skipped by the stored dedup position"

# ---- a poison event goes to the dead-letter topic ---------------------------
weird="$dst.\`we ird-näme\`"
mysql2 -e "ALTER TABLE $weird MODIFY \`sel ect\` VARCHAR(4)" || fail "could not narrow the destination column"
cat >"$tmp/ops4" <<OPS
c|we ird-näme|id = 3001|INSERT INTO $src.\`we ird-näme\` VALUES (3001, 'too long')
c|we ird-näme|id = 3002|INSERT INTO $src.\`we ird-näme\` VALUES (3002, 'ok')
c|comp|a = 77 AND b = 'x'|INSERT INTO $src.comp VALUES (77, 'x', 7)
OPS
"$feed" changes "$FERRY_KAFKA_BOOTSTRAP" "$project" "$url" "$src" "$tmp/ops4" >"$tmp/ops4.out" 2>&1 ||
    fail "poison feed: $(tail -n 3 "$tmp/ops4.out")"
wait_for "[ \$(status | jq '.totals.dlq') -ge 1 ]" 30 "the poison event to reach the dead-letter topic"
wait_for "[ \"\$(mysql2 -e 'SELECT v FROM $dst.comp WHERE a = 77')\" = 7 ]" 30 "the events after the poison one"
[ "$(mysql2 -e "SELECT \`sel ect\` FROM $weird WHERE id = 3002")" = ok ] || fail "row 3002 was not applied"
[ -z "$(mysql2 -e "SELECT id FROM $weird WHERE id = 3001")" ] || fail "row 3001 should not be there"
"$feed" dlq "$FERRY_KAFKA_BOOTSTRAP" "$project" 1 >"$tmp/dlq.out" 2>&1 || fail "dlq: $(cat "$tmp/dlq.out")"
cat "$tmp/dlq.out"
grep -q 'ferry.error.sqlstate=22001' "$tmp/dlq.out" || fail "the DLQ message lacks the SQLSTATE"
grep -q "ferry.error.errno=1406" "$tmp/dlq.out" || fail "the DLQ message lacks the errno"
grep -q "ferry.topic=ferry.$project.fwd.$src.we_ird-n" "$tmp/dlq.out" || fail "the DLQ message lacks its topic"
grep -q "ferry.offset=[0-9]" "$tmp/dlq.out" || fail "the DLQ message lacks its offset"
status | jq -e '.tables[] | select(.source == "'"$src"'.we ird-näme") | .dlq == 1 and (.last_error | test("too long"))' >/dev/null ||
    fail "/status does not show the poison event on the table: $(status | jq -c .tables)"
pass "poison event dead-lettered with errno, SQLSTATE, message and origin; the rest applied"

# ---- apply.on.error = stop --------------------------------------------------
ferry_stop_pid "$consumer_pid" TERM 20
wait "$consumer_pid" && rc=0 || rc=$?
[ "$rc" = 0 ] || fail "ferry-consumer exited $rc on SIGTERM"
: >"$tmp/consumer.log"
start_consumer "$tmp/project-stop.properties"
echo "c|we ird-näme|id = 3003|INSERT INTO $src.\`we ird-näme\` VALUES (3003, 'too long')" >"$tmp/ops5"
"$feed" changes "$FERRY_KAFKA_BOOTSTRAP" "$project" "$url" "$src" "$tmp/ops5" >"$tmp/ops5.out" 2>&1 ||
    fail "stop feed: $(tail -n 3 "$tmp/ops5.out")"
wait_for "! ferry_proc_alive $consumer_pid" 30 "ferry-consumer to stop on the poison event"
wait "$consumer_pid" && rc=0 || rc=$?
[ "$rc" != 0 ] || fail "ferry-consumer exited 0 with apply.on.error = stop"
grep -qF "$dst.we ird-näme" "$tmp/consumer.log" || fail "the error does not name the table: $(tail -n 3 "$tmp/consumer.log")"
grep "link stopped" "$tmp/consumer.log" | tail -n 1
pass "apply.on.error = stop: the consumer exits $rc naming the table"
