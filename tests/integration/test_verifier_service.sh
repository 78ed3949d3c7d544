#!/usr/bin/env bash
# ferry-verifier as a service: `ferryctl verify` starts a verification
# through the HTTP API, follows its progress in /status and prints the
# differences; /status holds the verification's state and counts, /metrics
# its gauges and counters, GET /verify/report the JSON report and
# GET /verify/repair (ferryctl verify --repair-sql) the repair SQL. Exit
# status of ferryctl verify: 1 with a difference, 0 once it is repaired, 2
# with the reason for a --tables pattern that matches no table. The
# progress line never shows more rows done than the total, and at the end
# the count as the total. `ferry-verifier <project> --live` makes the
# service's verifications live.
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
where.$db.filtered = id <= 1000
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
"$ctl" verify "$project" --report "$FERRY_TEST_TMP/report.json" --repair-sql "$FERRY_TEST_TMP/repair.sql" \
    >"$FERRY_TEST_TMP/out.txt" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "ferryctl verify exited $rc, expected 1: $(cat "$FERRY_TEST_TMP/out.txt")"
grep -q "^UPDATE \`$db\`.\`t\` SET \`v\` = 'v12345' WHERE \`id\` = 12345;$" "$FERRY_TEST_TMP/repair.sql" &&
    [ "$(tail -n 1 "$FERRY_TEST_TMP/repair.sql")" = "COMMIT;" ] && [ -z "$(tail -c 1 "$FERRY_TEST_TMP/repair.sql")" ] ||
    fail "ferryctl verify --repair-sql: $(cat "$FERRY_TEST_TMP/repair.sql" 2>&1)"
[ "$(curl -fsS "$base/verify/repair")" = "$(cat "$FERRY_TEST_TMP/repair.sql")" ] || fail "GET /verify/repair"
grep -q "changed $db.t {\"id\":12345} \[\"v\"\]" "$FERRY_TEST_TMP/out.txt" ||
    fail "the difference is not printed: $(cat "$FERRY_TEST_TMP/out.txt")"
grep -q '100%' "$FERRY_TEST_TMP/out.txt" || fail "no progress shown: $(cat "$FERRY_TEST_TMP/out.txt")"
[ "$(jq '.differences | length' "$FERRY_TEST_TMP/report.json")" = 1 ] || fail "report not saved"
status=$(curl -fsS "$base/status")
[ "$(jq -r .verification.state <<<"$status")" = different ] || fail "/status: $status"
[ "$(jq .verification.rows_checked <<<"$status")" = 30000 ] || fail "/status rows: $status"
metrics=$(curl -fsS "$base/metrics")
grep -q '^ferry_verifier_differences 1$' <<<"$metrics" || fail "/metrics: $(grep verifier_ <<<"$metrics")"
grep -q '^ferry_verifier_rows_checked_total 30000$' <<<"$metrics" &&
    grep -q '^# TYPE ferry_verifier_rows_checked_total counter$' <<<"$metrics" ||
    fail "/metrics rows: $(grep verifier_ <<<"$metrics")"
grep -q '^ferry_verifier_runs_total 1$' <<<"$metrics" && grep -q '^# TYPE ferry_verifier_runs_total counter$' <<<"$metrics" ||
    fail "/metrics runs: $(grep verifier_ <<<"$metrics")"
[ "$(curl -fsS "$base/verify/report" | jq -r .verdict)" = different ] || fail "GET /verify/report"
pass "ferryctl verify: progress, the difference, /status, /metrics and the report"

mysql2 -e "UPDATE $db.t SET v = 'v12345' WHERE id = 12345"
"$ctl" verify "$project" --tables "$db.t" >"$FERRY_TEST_TMP/out2.txt" 2>&1 ||
    fail "ferryctl verify after the repair: $(cat "$FERRY_TEST_TMP/out2.txt")"
[ "$(curl -fsS "$base/status" | jq .verification.runs)" = 2 ] || fail "second run not counted"
pass "after the repair ferryctl verify exits 0"
metrics=$(curl -fsS "$base/metrics")
grep -q '^ferry_verifier_rows_checked_total 60000$' <<<"$metrics" && grep -q '^ferry_verifier_runs_total 2$' <<<"$metrics" ||
    fail "/metrics counters after two runs: $(grep verifier_ <<<"$metrics")"

# a pattern that matches no table: exit 2 with one line naming it, no verdict
rc=0
"$ctl" verify "$project" --tables "nodb_$$.*" >"$FERRY_TEST_TMP/none.txt" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "ferryctl verify of no table exited $rc, expected 2: $(cat "$FERRY_TEST_TMP/none.txt")"
[ "$(cat "$FERRY_TEST_TMP/none.txt")" = \
    "ferryctl verify: could not verify: no selected table matches the pattern \"nodb_$$.*\"" ] ||
    fail "ferryctl verify of no table: $(cat "$FERRY_TEST_TMP/none.txt")"
[ "$(curl -fsS "$base/status" | jq -r .verification.state)" = failed ] || fail "/status after no table"
pass "a pattern that matches no table: could not verify (exit 2), the pattern named"

# a row filter keeps most rows out: the servers' estimate (5000) is far from
# the rows compared; the line must end with the count as the total
mysql1 -e "CREATE TABLE $db.filtered (id INT PRIMARY KEY); INSERT INTO $db.filtered SELECT seq FROM $db.seq_1_to_5000" &&
    mysql2 -e "CREATE TABLE $db.filtered (id INT PRIMARY KEY); INSERT INTO $db.filtered SELECT seq FROM $db.seq_1_to_1000" ||
    fail "could not create the filtered table"
"$ctl" verify "$project" --tables "$db.filtered" >"$FERRY_TEST_TMP/filtered.txt" 2>&1 ||
    fail "ferryctl verify of the filtered table: $(cat "$FERRY_TEST_TMP/filtered.txt")"
grep -q '100%  1000/1000 rows' "$FERRY_TEST_TMP/filtered.txt" ||
    fail "the progress line does not end with the count: $(cat "$FERRY_TEST_TMP/filtered.txt")"
if grep -h -o '[0-9]*/[0-9]* rows' "$FERRY_TEST_TMP/filtered.txt" "$FERRY_TEST_TMP/out.txt" |
    awk -F'[/ ]' '$1 + 0 > $2 + 0 { bad = 1 } END { exit !bad }'; then
    fail "more rows done than the total: $(cat "$FERRY_TEST_TMP/filtered.txt" "$FERRY_TEST_TMP/out.txt")"
fi
pass "the progress line: the total is the count at the end"

# --live on the service's command line: its verifications are live
kill "$pid"
wait "$pid" 2>/dev/null || true
"$bin" "$project" --live >"$FERRY_TEST_TMP/verifier2.log" 2>&1 &
pid=$!
ferry_cleanup_add "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
wait_for "[ -s '$FERRY_TEST_TMP/run/verifier.addr' ]" 30 "the verifier's address file"
base=$(cat "$FERRY_TEST_TMP/run/verifier.addr")
wait_http "$base/readyz" 30
"$ctl" verify "$project" --tables "$db.t" >"$FERRY_TEST_TMP/live.txt" 2>&1 ||
    fail "ferryctl verify with ferry-verifier --live: $(cat "$FERRY_TEST_TMP/live.txt")"
[ "$(curl -fsS "$base/status" | jq .verification.live)" = true ] ||
    fail "ferry-verifier --live: the verification was not live: $(curl -fsS "$base/status")"
pass "ferry-verifier <project> --live: the service's verifications are live"
