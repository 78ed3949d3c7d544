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
verify.rows.per.second = 8000
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
# both hold partitions of the tasks topic (the later one's come with the rebalance that shares them)
wait_for "grep -q 'partition assigned' '$FERRY_TEST_TMP/w1.log' && grep -q 'partition assigned' '$FERRY_TEST_TMP/w2.log'" 60 "both workers to get partitions"

"$bin" "$project" --once --shared --report "$FERRY_TEST_TMP/shared.json" \
    --repair-sql "$FERRY_TEST_TMP/shared.sql" >"$FERRY_TEST_TMP/shared.txt" 2>&1 &
coord=$!
ferry_cleanup_add "kill $coord 2>/dev/null; wait $coord 2>/dev/null"
# the rows/s cap makes the run last about 13 s: the kill comes while it runs
wait_for "[ \$(grep -c 'chunk checksummed' '$FERRY_TEST_TMP/w1.log') -ge 1 ]" 60 "worker 1 to checksum a chunk"
kill -9 "$w1" 2>/dev/null ||
    fail "worker 1 was gone before the kill: $(tail -5 "$FERRY_TEST_TMP/w1.log"); coordinator: $(tail -3 "$FERRY_TEST_TMP/shared.txt")"
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

# the same through the service: ferryctl verify --shared, one worker that stays
"$bin" "$project" --worker >"$FERRY_TEST_TMP/w3.log" 2>&1 &
w3=$!
"$bin" "$project" >"$FERRY_TEST_TMP/service.log" 2>&1 &
svc=$!
ferry_cleanup_add "kill $w3 $svc 2>/dev/null; wait $w3 $svc 2>/dev/null"
wait_for "[ -s '$FERRY_TEST_TMP/run/verifier.addr' ]" 30 "the verifier's address file"
wait_http "$(cat "$FERRY_TEST_TMP/run/verifier.addr")/readyz" 30
sed -i '/^verify.rows.per.second/d' "$project"
rc=0
"$FERRY_BUILD/tools/ferryctl" verify "$project" --shared --report "$FERRY_TEST_TMP/ctl.json" \
    >"$FERRY_TEST_TMP/ctl.txt" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "ferryctl verify --shared exited $rc: $(cat "$FERRY_TEST_TMP/ctl.txt")"
[ "$(jq -c .differences "$FERRY_TEST_TMP/ctl.json")" = "$(jq -c .differences "$FERRY_TEST_TMP/local.json")" ] ||
    fail "ferryctl verify --shared found other differences: $(jq -c .differences "$FERRY_TEST_TMP/ctl.json")"
grep -q "verification shared with workers through kafka" "$FERRY_TEST_TMP/service.log" ||
    fail "the service did not share the verification: $(cat "$FERRY_TEST_TMP/service.log")"
kill "$w3"
rc=0
wait "$w3" || rc=$?
[ "$rc" = 0 ] || fail "the worker did not stop cleanly on SIGTERM (exit $rc): $(tail -5 "$FERRY_TEST_TMP/w3.log")"
pass "ferryctl verify --shared through the service and a long-running worker"
