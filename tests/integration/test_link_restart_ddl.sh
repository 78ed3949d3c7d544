#!/usr/bin/env bash
# A producer restarted while the binlog holds CREATE and RENAME TABLE
# statements it had not captured (it was killed, the statements ran, then it
# came back): it must not announce the new names as tables of their own (a
# full load of its own), because capture publishes the statements when it
# gets there and the consumer follows the tables from them. Statements: a
# CREATE with rows, a CREATE ... LIKE, a RENAME TABLE of a loaded table with
# changes before and after it (the first changes its change topic gets),
# and a table created, given rows and renamed. At
# the end every destination table equals its source (columns, rows one by
# one, CHECKSUM TABLE), the old names are gone at the destination, no
# statement failed at the consumer, nothing went to the dead-letter topic.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_restart_ddl
. "$FERRY_SRC/tests/harness/link.sh"
src=rsddl_$$
dst=rsddl_$$_dst

mysql1 -e "
CREATE DATABASE $src;
USE $src;
CREATE TABLE base (id INT PRIMARY KEY, v INT);
CREATE TABLE old (id INT PRIMARY KEY, v VARCHAR(20));
INSERT INTO base SELECT seq, seq FROM seq_1_to_300;
INSERT INTO old SELECT seq, CONCAT('o', seq) FROM seq_1_to_200;
"
project=$FERRY_TEST_TMP/rsddl.properties
link_project "$project" "rsddl-$$" <<P
tables.include = $src.*
rename.databases = $src:$dst
P
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
run=$(link_rundir "$project")

link_up "$project"
link_wait "$project" caught-up 120
link_kill "$project" producer

mysql1 -e "
USE $src;
UPDATE base SET v = v + 1 WHERE id % 3 = 0;
CREATE TABLE fresh (id INT PRIMARY KEY, v VARCHAR(20));
INSERT INTO fresh SELECT seq, CONCAT('f', seq) FROM seq_1_to_120;
UPDATE fresh SET v = 'changed' WHERE id % 7 = 0;
CREATE TABLE made LIKE base;
INSERT INTO made SELECT * FROM base WHERE id <= 40;
UPDATE old SET v = 'before' WHERE id % 5 = 0;
RENAME TABLE old TO old2;
UPDATE old2 SET v = 'after' WHERE id % 4 = 0;
DELETE FROM old2 WHERE id % 9 = 0;
CREATE TABLE tmp (id INT PRIMARY KEY, w INT);
INSERT INTO tmp VALUES (1, 1), (2, 2);
RENAME TABLE tmp TO tmp2;
INSERT INTO tmp2 VALUES (3, 3);
"

link_up "$project" # the producer again
link_wait "$project" caught-up 120

same() {
    local t
    for t in base fresh made old2 tmp2; do
        link_same_rows "$src" "$dst" "$t" '*' id
    done
    link_same_checksum "$src" "$dst" base fresh made old2 tmp2
    for t in old tmp; do
        [ -z "$(mysql2 -N -e "SHOW TABLES FROM $dst LIKE '$t'")" ] || fail "old name $t still at the destination"
    done
}
link_settle 20 same

st=$(curl -fsS "$(cat "$run/consumer.addr")/status") || fail "no consumer status"
jq -e '(.ddl_errors | length) == 0' <<<"$st" >/dev/null ||
    fail "statements failed at the consumer: $(jq -c .ddl_errors <<<"$st")"
n=$(link_dlq_count "$project")
[ "$n" = 0 ] || fail "$n events went to the dead-letter topic"
grep -q 'msg="table left to capture' "$run/logs/producer.log" ||
    fail "the restarted producer did not leave the new tables to capture"
pass

