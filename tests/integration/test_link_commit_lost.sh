#!/usr/bin/env bash
# A destination COMMIT whose answer is lost is not applied a second time.
#
# The consumer reaches the destination through sqlproxy, which lets the
# server run a matching COMMIT and then drops the connection before the
# answer reaches the consumer. The outcome is unknown to the consumer; it
# must look its offsets up in ferry_offsets on a new connection instead of
# applying the batch again. Done twice: for a snapshot chunk and for a batch
# of changes, both of a table without a key, where a batch applied twice
# leaves every one of its rows doubled (before: the chunk's 2000 rows were
# loaded twice).
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_commit_lost
. "$FERRY_SRC/tests/harness/link.sh"

src=lcl_$$
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $src'"
mysql1 -e "
CREATE DATABASE $src;
USE $src;
CREATE TABLE $src.t (id INT PRIMARY KEY, n INT NOT NULL);
CREATE TABLE $src.k (a INT NOT NULL, b VARCHAR(20));
INSERT INTO $src.t SELECT seq, seq FROM seq_1_to_2000;
INSERT INTO $src.k SELECT seq, CONCAT('row ', seq) FROM seq_1_to_2000;
"

project=$FERRY_TEST_TMP/lcl.properties
link_project_via_sqlproxy "$project" "lcl-$$" <<P
tables.include = $src.*
P
clog=$(link_rundir "$project")/logs/consumer.log

# 1. the snapshot chunk of the key-less table
link_sqlproxy_arm "chunk:$src.k#"
link_up "$project"
link_wait "$project" full-done 120
[ "$(link_sqlproxy_cuts)" -eq 1 ] || fail "sqlproxy cut no chunk's COMMIT answer: $(cat "$SQLPROXY_LOG")"
link_same_rows "$src" "$src" k "a, b" "a, b"
grep -q 'chunk committed before its connection was lost' "$clog" ||
    fail "the consumer did not find the chunk committed: $(grep -i 'chunk' "$clog" | tail -n 5)"

# 2. a batch of changes to the key-less table
link_sqlproxy_arm "fwd.$src.k'"
mysql1 "$src" -e "
INSERT INTO $src.k SELECT seq, 'later' FROM seq_2001_to_2300;
UPDATE $src.t SET n = n + 1 WHERE id <= 300;
DELETE FROM $src.k WHERE a <= 100;
"
wait_for "[ \$(link_sqlproxy_cuts) -ge 2 ]" 60 "sqlproxy to cut a change batch's COMMIT answer"
# batches are applied one after the other: once a later change is in, the
# batch whose answer was lost is settled
mysql1 -e "INSERT INTO $src.t VALUES (5000, 5000)"
wait_for "[ -n \"\$(mysql2 -e 'SELECT 1 FROM $src.t WHERE id = 5000')\" ]" 60 "a later change to be applied"
link_wait "$project" caught-up 120
link_settle 15 link_same_rows "$src" "$src" k "a, b" "a, b"
link_same_rows "$src" "$src" t "id, n" "id"
grep -q 'batch committed before its connection was lost' "$clog" ||
    fail "the consumer did not find the change batch committed: $(grep -i 'batch' "$clog" | tail -n 5)"
n=$(link_dlq_count "$project")
[ "$n" -eq 0 ] || fail "$n event(s) went to the dead-letter topic"
pass "two COMMITs whose answers were lost (a chunk, a change batch) were each applied once"
