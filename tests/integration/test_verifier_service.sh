#!/usr/bin/env bash
# ferry-verifier as a service: `ferryctl verify` starts a verification
# through the HTTP API, follows its progress in /status and prints the
# differences; /status holds the verification's state and counts, /metrics
# its gauges, GET /verify/report the JSON report. Exit status of ferryctl
# verify: 1 with a difference, 0 once it is repaired.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init verifier_service
ctl=$FERRY_BUILD/tools/ferryctl
bin=$FERRY_BUILD/verifier/ferry-verifier
db=vsvc_$$
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $db'; mysql2 -e 'DROP DATABASE IF EXISTS $db'"
for m in mysql1 mysql2; do
    "$m" -e "CREATE DATABASE $db; CREATE TABLE $db.t (id INT PRIMARY KEY, v VARCHAR(20));
      INSERT INTO $db.t SELECT seq, CONCAT('v', seq) FROM $db.seq_1_to_30000;" ||
        fail "could not create the table on $m"
done
mysql2 -e "UPDATE $db.t SET v = 'other' WHERE id = 12345" || fail "could not seed a difference"

project=$FERRY_TEST_TMP/svc.properties
cat >"$project" <<P
project.name = vsvc-$$
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = $db.*
runtime.dir = $FERRY_TEST_TMP/run
P
"$bin" "$project" >"$FERRY_TEST_TMP/verifier.log" 2>&1 &
pid=$!
ferry_cleanup_add "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
wait_for "[ -s '$FERRY_TEST_TMP/run/verifier.addr' ]" 30 "the verifier's address file"
base=$(cat "$FERRY_TEST_TMP/run/verifier.addr")
wait_http "$base/readyz" 30
[ "$(curl -fsS "$base/status" | jq -r .verification.state)" = idle ] || fail "not idle at start"

rc=0
"$ctl" verify "$project" --report "$FERRY_TEST_TMP/report.json" >"$FERRY_TEST_TMP/out.txt" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "ferryctl verify exited $rc, expected 1: $(cat "$FERRY_TEST_TMP/out.txt")"
grep -q "changed $db.t {\"id\":12345} \[\"v\"\]" "$FERRY_TEST_TMP/out.txt" ||
    fail "the difference is not printed: $(cat "$FERRY_TEST_TMP/out.txt")"
grep -q '100%' "$FERRY_TEST_TMP/out.txt" || fail "no progress shown: $(cat "$FERRY_TEST_TMP/out.txt")"
[ "$(jq '.differences | length' "$FERRY_TEST_TMP/report.json")" = 1 ] || fail "report not saved"
status=$(curl -fsS "$base/status")
[ "$(jq -r .verification.state <<<"$status")" = different ] || fail "/status: $status"
[ "$(jq .verification.rows_checked <<<"$status")" = 30000 ] || fail "/status rows: $status"
metrics=$(curl -fsS "$base/metrics")
grep -q '^ferry_verifier_differences 1$' <<<"$metrics" || fail "/metrics: $(grep verifier_ <<<"$metrics")"
grep -q '^ferry_verifier_rows_checked 30000$' <<<"$metrics" || fail "/metrics rows: $(grep verifier_ <<<"$metrics")"
[ "$(curl -fsS "$base/verify/report" | jq -r .verdict)" = different ] || fail "GET /verify/report"
pass "ferryctl verify: progress, the difference, /status, /metrics and the report"

mysql2 -e "UPDATE $db.t SET v = 'v12345' WHERE id = 12345"
"$ctl" verify "$project" --tables "$db.t" >"$FERRY_TEST_TMP/out2.txt" 2>&1 ||
    fail "ferryctl verify after the repair: $(cat "$FERRY_TEST_TMP/out2.txt")"
[ "$(curl -fsS "$base/status" | jq .verification.runs)" = 2 ] || fail "second run not counted"
pass "after the repair ferryctl verify exits 0"
