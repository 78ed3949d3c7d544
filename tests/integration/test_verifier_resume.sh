#!/usr/bin/env bash
# A verification killed with SIGKILL in the middle resumes from its per-chunk
# checkpoint: the second run starts after the committed chunks (it says so,
# and checks fewer rows than the whole), keeps the differences found before
# the kill, and ends with the same verdict and the same differences as an
# uninterrupted run. A finished run removes its checkpoint.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init verifier_resume
bin=$FERRY_BUILD/verifier/ferry-verifier
db=vres_$$
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $db'; mysql2 -e 'DROP DATABASE IF EXISTS $db'"

for m in mysql1 mysql2; do
    "$m" -e "CREATE DATABASE $db; USE $db;
      CREATE TABLE a (id INT PRIMARY KEY, v VARCHAR(30), n BIGINT);
      INSERT INTO a SELECT seq, CONCAT('row ', seq), seq * seq FROM seq_1_to_60000;
      CREATE TABLE b (k VARCHAR(20) PRIMARY KEY, v INT);
      INSERT INTO b SELECT CONCAT('key', seq), seq FROM seq_1_to_20000;" ||
        fail "could not create the tables on $m"
done
mysql2 -e "USE $db; UPDATE a SET v = 'early' WHERE id = 7; UPDATE a SET n = 0 WHERE id = 59000;
  DELETE FROM b WHERE k = 'key19999';" || fail "could not seed the differences"

project=$FERRY_TEST_TMP/verify.properties
cat >"$project" <<P
project.name = vres-$$
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = 127.0.0.1:9
tables.include = $db.*
runtime.dir = $FERRY_TEST_TMP/run
verify.threads = 1
verify.chunk.target.ms = 10
verify.rows.per.second = 20000
P
checkpoint=$FERRY_TEST_TMP/run/verify.checkpoint

# an interrupted run: killed once two chunks of table a are committed
"$bin" "$project" --once --report "$FERRY_TEST_TMP/killed.json" >"$FERRY_TEST_TMP/killed.out" 2>&1 &
pid=$!
ferry_cleanup_add "kill -9 $pid 2>/dev/null"
wait_for "grep -qE '^table x[0-9a-f]+ 0 [2-9]' '$checkpoint'" 60 "two committed chunks in the checkpoint"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
[ -s "$checkpoint" ] || fail "no checkpoint left after kill -9"
grep -q '^diff ' "$checkpoint" || fail "the difference found before the kill is not in the checkpoint"
pass "killed mid-run with a checkpoint of $(grep -c '^table ' "$checkpoint") table(s)"

rc=0
"$bin" "$project" --once --report "$FERRY_TEST_TMP/resumed.json" >"$FERRY_TEST_TMP/resumed.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "resumed run exited $rc, expected 1: $(cat "$FERRY_TEST_TMP/resumed.out")"
grep -q "resuming verification" "$FERRY_TEST_TMP/resumed.out" || fail "the second run did not resume"
[ ! -e "$checkpoint" ] || fail "a finished run left its checkpoint"

rc=0
"$bin" "$project" --once --report "$FERRY_TEST_TMP/full.json" >"$FERRY_TEST_TMP/full.out" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "uninterrupted run exited $rc, expected 1: $(cat "$FERRY_TEST_TMP/full.out")"
grep -q "resuming verification" "$FERRY_TEST_TMP/full.out" && fail "a run after a finished one resumed"

diffs() { jq -c '[.differences[] | {table, key, kind, columns}]' "$1"; }
[ "$(diffs "$FERRY_TEST_TMP/resumed.json")" = "$(diffs "$FERRY_TEST_TMP/full.json")" ] ||
    fail "resumed and uninterrupted runs differ: $(diffs "$FERRY_TEST_TMP/resumed.json") vs $(diffs "$FERRY_TEST_TMP/full.json")"
[ "$(jq '.differences | length' "$FERRY_TEST_TMP/full.json")" = 3 ] ||
    fail "expected 3 differences: $(diffs "$FERRY_TEST_TMP/full.json")"
counts() { jq -c '[.tables[] | {table, rows_source, rows_destination}]' "$1"; }
[ "$(counts "$FERRY_TEST_TMP/resumed.json")" = "$(counts "$FERRY_TEST_TMP/full.json")" ] ||
    fail "row counts differ: $(counts "$FERRY_TEST_TMP/resumed.json") vs $(counts "$FERRY_TEST_TMP/full.json")"
pass "the resumed run ends with the same verdict, differences and counts as an uninterrupted one"
