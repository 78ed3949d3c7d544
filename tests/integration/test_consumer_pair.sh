#!/usr/bin/env bash
# Two consumers of one link under a write load, through the real binaries:
# with consumer.instances = 2, ferryctl up starts the producer and two
# ferry-consumer processes (consumer-1 and consumer-2, each with its own
# address, pid and log file), and the two share the tables (each owns some:
# named locks on the destination). In the middle of the load the first is
# killed with SIGKILL: the second takes all its tables from what the
# destination holds; ferryctl up starts the first again and it takes its
# share back; a table created at the source then is applied by one of
# them. ferryctl status shows both and ferryctl wait --until caught-up
# speaks for the tables of both. At the end the destination equals the
# source, row by row and by CHECKSUM TABLE, the key-less table shows no row
# applied twice, and ferryctl down stops both consumers.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init consumer_pair
ctl=$FERRY_BUILD/tools/ferryctl
src=pair_$$
dst=pair_$$_dst

mysql1 -e "
CREATE DATABASE $src;
USE $src;
CREATE TABLE big (id INT PRIMARY KEY, v INT, s VARCHAR(40));
CREATE TABLE t1 (id INT PRIMARY KEY, v INT, s VARCHAR(40));
CREATE TABLE t2 (id INT PRIMARY KEY, v INT, s VARCHAR(40));
CREATE TABLE t3 (k1 INT, k2 VARCHAR(10), v INT, PRIMARY KEY (k1, k2));
CREATE TABLE nk (a INT, b VARCHAR(10));
INSERT INTO big SELECT seq, seq, CONCAT('s', seq) FROM seq_1_to_80000;
INSERT INTO t1 SELECT seq, seq, 'a' FROM seq_1_to_2000;
INSERT INTO t2 SELECT seq, seq, 'b' FROM seq_1_to_2000;
INSERT INTO t3 SELECT seq, 'x', seq FROM seq_1_to_2000;
INSERT INTO nk SELECT seq % 50, 'dup' FROM seq_1_to_1000;
"

project=$FERRY_TEST_TMP/pair.properties
cat >"$project" <<P
project.name = pair-$$
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = $src.*
rename.databases = $src:$dst
runtime.dir = $FERRY_TEST_TMP/run
kafka.session.timeout.ms = 6000
consumer.instances = 2
P
run=$FERRY_TEST_TMP/run
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
ferry_cleanup_add "$ctl down $project --timeout 10"

"$ctl" up "$project" || fail "ferryctl up failed"
for k in 1 2; do
    [ -s "$run/consumer-$k.addr" ] && [ -s "$run/consumer-$k.pid" ] && [ -e "$run/logs/consumer-$k.log" ] ||
        fail "ferryctl up did not start consumer-$k (address, pid and log file)"
done

status() { # status N: consumer-N's /status
    curl -fsS --max-time 5 "$(cat "$run/consumer-$1.addr")/status"
}
owned() { # owned N: how many tables consumer-N applies now
    status "$1" | jq '[.tables[] | select(.owned)] | length'
}
both_own() {
    [ "$(owned 1)" -ge 1 ] && [ "$(owned 2)" -ge 1 ] && [ $(($(owned 1) + $(owned 2))) -eq 5 ]
}

load() { # load FIRST LAST: rounds of changes on every table
    local r
    for r in $(seq "$1" "$2"); do
        mysql1 -e "
        USE $src;
        INSERT INTO t1 VALUES ($((10000 + r)), $r, 'n');
        UPDATE t1 SET v = v + 1 WHERE id % 17 = $((r % 17));
        DELETE FROM t1 WHERE id = $((r * 3));
        UPDATE t2 SET id = id + 100000, s = 'moved' WHERE id = $((r * 5 + 1));
        UPDATE t2 SET v = v * 2 WHERE id % 13 = $((r % 13));
        START TRANSACTION;
          INSERT INTO t3 VALUES ($((5000 + r)), 'y', $r);
          UPDATE t3 SET v = v + 1 WHERE k1 % 19 = $((r % 19));
          INSERT INTO nk VALUES ($r, 'w'), ($r, 'w');
        COMMIT;
        DELETE FROM nk WHERE a = $((r % 50)) AND b = 'dup' LIMIT 1;
        UPDATE big SET v = v + 1 WHERE id % 101 = $((r % 101));
        " || return 1
        sleep 0.1
    done
}

load 1 20
wait_for both_own 60 "both consumers to own tables: $(status 1 | jq -c '[.tables[] | {source, owned, phase}]' 2>/dev/null) $(status 2 | jq -c '[.tables[] | {source, owned, phase}]' 2>/dev/null)"
echo "shares: first $(owned 1), second $(owned 2)"
load 21 60
st=$("$ctl" status "$project") || fail "ferryctl status failed: $st"
grep -q "^  consumer-1 " <<<"$st" && grep -q "^  consumer-2 " <<<"$st" ||
    fail "ferryctl status does not show both consumers: $st"
[ "$(grep -c "^  $src\." <<<"$st")" -eq 5 ] || fail "ferryctl status does not list each table once: $st"
pass "ferryctl up started two consumers of the link and the two share its tables"

# SIGKILL the first in the middle of the load
load 61 100 &
loader=$!
sleep 1
kill -9 "$(cat "$run/consumer-1.pid")"
wait_for "[ \$(owned 2) -eq 5 ]" 60 "the second consumer to take every table"
wait "$loader" || fail "the write load failed"
"$ctl" up "$project" >/dev/null || fail "ferryctl up after kill -9 failed"
load 101 130 &
loader=$!
wait_for both_own 60 "the restarted consumer to take its share back"
wait "$loader" || fail "the write load failed"
pass "the first consumer killed with SIGKILL: the second took its tables; restarted, it took its share back"

# a table created at the source now: one of the two creates it and applies it
mysql1 -e "
USE $src;
CREATE TABLE t4 (id INT PRIMARY KEY, v INT);
INSERT INTO t4 SELECT seq, seq FROM seq_1_to_500;
UPDATE t4 SET v = -v WHERE id % 7 = 0;
"
load 131 140

same() {
    local t
    for t in big t1 t2 t3 t4 nk; do
        [ "$(mysql1 -e "CHECKSUM TABLE $src.$t" | awk '{print $2}')" = \
            "$(mysql2 -e "CHECKSUM TABLE $dst.$t" 2>/dev/null | awk '{print $2}')" ] || return 1
    done
}
"$ctl" wait "$project" --until caught-up --timeout 120 ||
    fail "ferryctl wait: not caught up: $("$ctl" status "$project" 2>&1)"
wait_for same 120 "the destination to equal the source (CHECKSUM TABLE)"
for spec in "big id" "t1 id" "t2 id" "t3 k1,k2" "t4 id" "nk a,b"; do
    set -- $spec
    a=$(mysql1 -e "SELECT * FROM $src.$1 ORDER BY $2")
    b=$(mysql2 -e "SELECT * FROM $dst.$1 ORDER BY $2")
    [ "$a" = "$b" ] || fail "rows of $1 differ: $(diff <(echo "$a") <(echo "$b") | head -10)"
done
a=$(mysql1 -e "SELECT a, b, COUNT(*) FROM $src.nk GROUP BY a, b ORDER BY a, b")
b=$(mysql2 -e "SELECT a, b, COUNT(*) FROM $dst.nk GROUP BY a, b ORDER BY a, b")
[ "$a" = "$b" ] || fail "key-less table: rows doubled or lost: $(diff <(echo "$a") <(echo "$b") | head -10)"
pass "destination equals source row by row and by CHECKSUM TABLE; nothing doubled in the key-less table"

pids="$(cat "$run/consumer-1.pid") $(cat "$run/consumer-2.pid")"
"$ctl" down "$project" --timeout 20 || fail "ferryctl down failed"
for pid in $pids; do
    ! ferry_proc_alive "$pid" || fail "consumer pid $pid still runs after ferryctl down"
done
pass "ferryctl wait spoke for both consumers' tables; ferryctl down stopped both"
