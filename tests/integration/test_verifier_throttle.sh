#!/usr/bin/env bash
# ferry-test: serial (reads the source's server-wide Threads_running)
# verify.threads.running.max: while the source runs more statements than
# that (background clients in SELECT SLEEP), the verifier compares nothing,
# /status says it is paused with the source's Threads_running, and the log
# says so; once the sleeps end it resumes and finds the tables equal.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init verifier_throttle
bin=$FERRY_BUILD/verifier/ferry-verifier
db=vthr_$$
sleepers=10
max=5
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $db'; mysql2 -e 'DROP DATABASE IF EXISTS $db'"
for m in mysql1 mysql2; do
    "$m" -e "CREATE DATABASE $db; CREATE TABLE $db.t (id INT PRIMARY KEY, v VARCHAR(20));
      INSERT INTO $db.t SELECT seq, CONCAT('v', seq) FROM $db.seq_1_to_20000;" ||
        fail "could not create the table on $m"
done

project=$FERRY_TEST_TMP/throttle.properties
cat >"$project" <<P
project.name = vthr-$$
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = $db.*
runtime.dir = $FERRY_TEST_TMP/run
verify.threads.running.max = $max
P
log=$FERRY_TEST_TMP/verifier.log
"$bin" "$project" >"$log" 2>&1 &
pid=$!
ferry_cleanup_add "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
wait_for "[ -s '$FERRY_TEST_TMP/run/verifier.addr' ]" 30 "the verifier's address file"
base=$(cat "$FERRY_TEST_TMP/run/verifier.addr")
wait_http "$base/readyz" 30

# the sleepers, marked so that they can be told apart in the process list
sleeper_pids=()
for ((i = 0; i < sleepers; i++)); do
    mysql1 -e "SELECT SLEEP(8) /* $db */" >/dev/null &
    sleeper_pids+=($!)
done
ferry_cleanup_add "kill ${sleeper_pids[*]} 2>/dev/null; mysql1 -e \"SELECT CONCAT('KILL ', id, ';') FROM information_schema.processlist WHERE info LIKE '%SLEEP(8) /* $db */%' AND id <> CONNECTION_ID()\" | mysql1 2>/dev/null"
running() { mysql1 -e "SHOW GLOBAL STATUS LIKE 'Threads_running'" | cut -f2; }
wait_for "[ \"\$(running)\" -gt $max ]" 10 "Threads_running above $max"

curl -fsS -X POST "$base/verify" >/dev/null || fail "POST /verify failed"
paused() { curl -fsS "$base/status" | jq -e '.verification.paused == true' >/dev/null; }
wait_for paused 20 "/status to say the verification is paused"
status=$(curl -fsS "$base/status")
[ "$(jq .verification.rows_checked <<<"$status")" = 0 ] || fail "rows compared while paused: $status"
[ "$(jq .verification.threads_running <<<"$status")" -gt "$max" ] ||
    fail "/status does not give the source's Threads_running: $status"
[ "$(jq -r .verification.state <<<"$status")" = running ] || fail "not running while paused: $status"
grep -q "source busy, verification paused" "$log" || fail "the log does not say it paused: $(cat "$log")"
pass "paused while the source runs $sleepers sleeping statements (/status and the log)"

for p in "${sleeper_pids[@]}"; do wait "$p" || true; done
wait_for "curl -fsS '$base/status' | jq -e '.verification.state != \"running\"'" 120 "the verification to end"
status=$(curl -fsS "$base/status")
[ "$(jq -r .verification.state <<<"$status")" = equal ] || fail "after the pause: $status"
[ "$(jq .verification.rows_checked <<<"$status")" = 20000 ] || fail "rows checked: $status"
[ "$(jq .verification.paused <<<"$status")" = false ] || fail "still paused: $status"
grep -q "source quiet, verification resumed" "$log" || fail "the log does not say it resumed: $(cat "$log")"
pass "resumed when the sleeps ended and found the tables equal"
