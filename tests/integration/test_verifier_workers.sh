#!/usr/bin/env bash
# Verifier workers sharing one verification through Kafka: a coordinator
# (ferry-verifier --once --shared) publishes the chunks, two workers
# (ferry-verifier --worker --once) checksum them; one worker is killed -9
# after its first chunks, the other takes over its partitions, and the
# coordinator reports exactly what a verification without workers reports.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init verifier_workers
bin=$FERRY_BUILD/verifier/ferry-verifier
db=vwrk_$$
rows=100000
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $db'; mysql2 -e 'DROP DATABASE IF EXISTS $db'"
for m in mysql1 mysql2; do
    "$m" -e "CREATE DATABASE $db;
      CREATE TABLE $db.a (id INT PRIMARY KEY, v VARCHAR(20));
      INSERT INTO $db.a SELECT seq, CONCAT('v', seq) FROM $db.seq_1_to_$rows;
      CREATE TABLE $db.b (k VARCHAR(10) PRIMARY KEY, n INT);
      INSERT INTO $db.b SELECT CONCAT('k', seq), seq FROM $db.seq_1_to_3000;" ||
        fail "could not create the tables on $m"
done
mysql2 -e "UPDATE $db.a SET v = 'other' WHERE id = 77777; DELETE FROM $db.a WHERE id = 12;
  INSERT INTO $db.b VALUES ('zz', 1)" || fail "could not seed the differences"

project=$FERRY_TEST_TMP/workers.properties
cat >"$project" <<P
project.name = vwrk-$$
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = $db.*
runtime.dir = $FERRY_TEST_TMP/run
verify.chunk.target.ms = 10
verify.rows.per.second = 25000
P

# the verdict without workers
rc=0
"$bin" "$project" --once --report "$FERRY_TEST_TMP/local.json" >"$FERRY_TEST_TMP/local.txt" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "the local verification exited $rc: $(cat "$FERRY_TEST_TMP/local.txt")"
[ "$(jq '.differences | length' "$FERRY_TEST_TMP/local.json")" = 3 ] ||
    fail "the local verification did not find the 3 differences: $(jq -c .differences "$FERRY_TEST_TMP/local.json")"

"$bin" "$project" --worker --once --log-level debug >"$FERRY_TEST_TMP/w1.log" 2>&1 &
w1=$!
"$bin" "$project" --worker --once --log-level debug >"$FERRY_TEST_TMP/w2.log" 2>&1 &
w2=$!
ferry_cleanup_add "kill -9 $w1 $w2 2>/dev/null; wait $w1 $w2 2>/dev/null"
wait_for "grep -q 'verifier worker ready' '$FERRY_TEST_TMP/w1.log' && grep -q 'verifier worker ready' '$FERRY_TEST_TMP/w2.log'" 60 "both workers to start"

"$bin" "$project" --once --shared --report "$FERRY_TEST_TMP/shared.json" \
    --repair-sql "$FERRY_TEST_TMP/shared.sql" >"$FERRY_TEST_TMP/shared.txt" 2>&1 &
coord=$!
ferry_cleanup_add "kill $coord 2>/dev/null; wait $coord 2>/dev/null"
# the rows/s cap makes the run last about 4 s: the kill comes while it runs
wait_for "[ \$(grep -c 'chunk checksummed' '$FERRY_TEST_TMP/w1.log') -ge 2 ]" 60 "worker 1 to checksum two chunks"
kill -9 "$w1"
wait "$w1" 2>/dev/null || true
ferry_proc_alive "$coord" || fail "the verification ended before the kill: $(cat "$FERRY_TEST_TMP/shared.txt")"

rc=0
wait "$coord" || rc=$?
[ "$rc" = 1 ] || fail "the shared verification exited $rc, expected 1: $(cat "$FERRY_TEST_TMP/shared.txt")"
[ "$(jq -c .differences "$FERRY_TEST_TMP/shared.json")" = "$(jq -c .differences "$FERRY_TEST_TMP/local.json")" ] ||
    fail "the shared verification found other differences:$(diff <(jq . "$FERRY_TEST_TMP/local.json") <(jq . "$FERRY_TEST_TMP/shared.json"))"
[ "$(jq .rows_checked "$FERRY_TEST_TMP/shared.json")" = "$(jq .rows_checked "$FERRY_TEST_TMP/local.json")" ] ||
    fail "rows checked differ: $(jq .rows_checked "$FERRY_TEST_TMP/shared.json")"
grep -q 'chunk checksummed' "$FERRY_TEST_TMP/w2.log" || fail "worker 2 did no chunk"
rc=0
wait "$w2" || rc=$?
[ "$rc" = 0 ] || fail "worker 2 exited $rc: $(tail -5 "$FERRY_TEST_TMP/w2.log")"
grep -q 'verification ended' "$FERRY_TEST_TMP/w2.log" || fail "worker 2 did not see the end"
pass "two workers, one killed -9 mid-run: the same differences and rows as without workers"
