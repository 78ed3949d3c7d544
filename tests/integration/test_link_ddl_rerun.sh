#!/usr/bin/env bash
# A consumer killed after running a DDL statement and before recording it
# (its ddl-done mark) runs it again when restarted: that second run fails
# (the column is already there), and must be taken for what it is, a
# statement that already ran, not reported as a DDL the consumer could not
# apply. sqlproxy drops every connection that tries to store the mark
# (next_offset 0; -1, stored before the statement runs, says it began) until
# the consumer is killed.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_ddl_rerun
. "$FERRY_SRC/tests/harness/link.sh"

src=ldr_$$
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $src'"
mysql1 -e "
CREATE DATABASE $src;
USE $src;
CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL);
INSERT INTO t SELECT seq, seq FROM seq_1_to_300;
"
project=$FERRY_TEST_TMP/ldr.properties
link_project_via_sqlproxy "$project" "ldr-$$" <<P
tables.include = $src.*
P
log=$(link_rundir "$project")/logs/consumer.log
link_up "$project"
link_wait "$project" caught-up 120

for i in 1 2 3 4 5 6; do
    link_sqlproxy_arm "drop:ddl-done:[0-9]+', 0, 0, "
done
mysql1 -e "ALTER TABLE $src.t ADD COLUMN w INT NOT NULL DEFAULT 7"
wait_for "[ \$(link_sqlproxy_cuts) -ge 1 ]" 60 "the consumer to try to record the statement"
link_kill "$project" consumer
link_sqlproxy_disarm
[ -n "$(mysql2 -e "SHOW COLUMNS FROM $src.t LIKE 'w'")" ] ||
    fail "the statement did not run at the destination before the consumer was killed"
grep -q '"DDL statement applied"' "$log" || fail "the consumer did not log the statement as applied"

"$LINK_CTL" up "$project" >/dev/null || fail "ferryctl up after kill -9 failed"
mysql1 -e "INSERT INTO $src.t VALUES (1000, 1000, 9); UPDATE $src.t SET w = 8 WHERE id <= 10"
link_wait "$project" caught-up 120
link_settle 15 link_same_rows "$src" "$src" t "id, v, w" id
grep -q 'DDL statement had already run' "$log" ||
    fail "the restarted consumer did not take the statement for one that already ran"
! grep -q '"DDL statement not applied"' "$log" ||
    fail "the statement's second run was reported as a failure: $(grep 'not applied' "$log" | tail -n 1)"
pass "a statement run before a kill -9 and run again after the restart was known for one that had run"
