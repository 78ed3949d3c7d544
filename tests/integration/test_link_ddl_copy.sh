#!/usr/bin/env bash
# DDL on tables whose full load is in progress, through the real binaries
# (ferryctl up, one ferry-worker copying small chunks): the worker copies a
# few chunks of each table, is stopped (kill -9), and while the remaining
# chunks wait the source runs ADD COLUMN, DROP COLUMN (NOT NULL without a
# default), MODIFY (wider text, wider integer, with values only the new type
# holds), CHANGE (a column renamed in place, and a key column renamed: the
# chunks planned under its old name are read under the new one, and the
# planner, which can no longer cut the table by the old name, makes the rest
# one last chunk), RENAME TABLE and DROP TABLE,
# each between changes of the same table. Then a new worker copies the rest:
# it reads each table where it is now and publishes the rows in the shape the
# destination has during the load (fullload_shape.h). At the end the
# destination equals the source (columns, rows one by one, CHECKSUM TABLE),
# the dropped table is gone, nothing went to the dead-letter topic, and the
# worker's log shows it read tables whose definition had changed.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_ddl_copy
. "$FERRY_SRC/tests/harness/link.sh"
src=ddlcopy_$$
dst=ddlcopy_$$_dst
rows=6000

mysql1 -e "
CREATE DATABASE $src;
USE $src;
CREATE TABLE addc (id INT PRIMARY KEY, a INT, b VARCHAR(20));
CREATE TABLE dropc (id INT PRIMARY KEY, a INT NOT NULL, b VARCHAR(20) NOT NULL);
CREATE TABLE modc (id INT PRIMARY KEY, v VARCHAR(10) NOT NULL, n SMALLINT, w INT);
CREATE TABLE chg (id INT PRIMARY KEY, old_name INT, w VARCHAR(10));
CREATE TABLE ren (id INT PRIMARY KEY, v INT);
CREATE TABLE gone (id INT PRIMARY KEY, v INT);
CREATE TABLE keyc (id INT PRIMARY KEY, v INT);
INSERT INTO addc SELECT seq, seq, CONCAT('a', seq) FROM seq_1_to_$rows;
INSERT INTO dropc SELECT seq, seq * 3, CONCAT('d', seq) FROM seq_1_to_$rows;
INSERT INTO modc SELECT seq, CONCAT('m', seq), seq % 30000, seq FROM seq_1_to_$rows;
INSERT INTO chg SELECT seq, seq * 7, CONCAT('c', seq) FROM seq_1_to_$rows;
INSERT INTO ren SELECT seq, seq FROM seq_1_to_$rows;
INSERT INTO gone SELECT seq, seq FROM seq_1_to_$rows;
INSERT INTO keyc SELECT seq, seq FROM seq_1_to_$rows;
"
project=$FERRY_TEST_TMP/ddlcopy.properties
link_project "$project" "ddlcopy-$$" <<P
tables.include = $src.*
rename.databases = $src:$dst
fullload.chunk.rows = 100
fullload.in.producer = false
fullload.workers = 1
fullload.threads = 1
P
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
run=$(link_rundir "$project")

link_up "$project"
# a few chunks copied, then no worker: every chunk left is read after the DDL
wait_for "grep -q 'msg=\"chunk copied\"' $run/logs/worker-1.log" 60 "the worker to copy a chunk"
link_kill "$project" worker-1

mysql1 -e "
USE $src;
UPDATE addc SET a = -a WHERE id % 7 = 0;
ALTER TABLE addc ADD COLUMN c INT NOT NULL DEFAULT 5;
UPDATE addc SET c = id WHERE id % 11 = 0;
INSERT INTO addc VALUES ($rows + 1, 1, 'new', 99);

UPDATE dropc SET b = 'x' WHERE id % 13 = 0;
ALTER TABLE dropc DROP COLUMN a;
INSERT INTO dropc VALUES ($rows + 1, 'new');
UPDATE dropc SET b = 'y' WHERE id % 17 = 0;

ALTER TABLE modc MODIFY v VARCHAR(40) NOT NULL, MODIFY n INT, MODIFY w VARCHAR(30);
UPDATE modc SET v = CONCAT('a value longer than ten ', id) WHERE id % 9 = 0;
UPDATE modc SET n = 100000 + id WHERE id % 10 = 0;
UPDATE modc SET w = CONCAT('text ', id) WHERE id % 8 = 0;
INSERT INTO modc VALUES ($rows + 1, 'a new and long value', 1234567, 'seven');

UPDATE chg SET old_name = old_name + 1 WHERE id % 5 = 0;
ALTER TABLE chg CHANGE old_name new_name BIGINT;
UPDATE chg SET new_name = new_name * 1000000 WHERE id % 6 = 0;
ALTER TABLE chg RENAME COLUMN w TO w2;

UPDATE ren SET v = v + 1 WHERE id % 4 = 0;
RENAME TABLE ren TO ren2;
UPDATE ren2 SET v = v * 2 WHERE id % 3 = 0;
DELETE FROM ren2 WHERE id % 50 = 0;

UPDATE gone SET v = 0 WHERE id % 2 = 0;
DROP TABLE gone;

UPDATE keyc SET v = v + 1 WHERE id % 3 = 0;
ALTER TABLE keyc CHANGE id kid INT NOT NULL;
UPDATE keyc SET v = -v WHERE kid % 7 = 0;
DELETE FROM keyc WHERE kid % 40 = 0;
INSERT INTO keyc VALUES ($rows + 1, 1);
"

link_up "$project" # a new worker copies the remaining chunks
link_wait "$project" caught-up 120

cols() {
    mysql1 -N -e "SELECT GROUP_CONCAT(COLUMN_NAME, ' ', COLUMN_TYPE, ' ', IS_NULLABLE
        ORDER BY ORDINAL_POSITION) FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = '$1' AND TABLE_NAME = '$2'"
}
cols2() {
    mysql2 -N -e "SELECT GROUP_CONCAT(COLUMN_NAME, ' ', COLUMN_TYPE, ' ', IS_NULLABLE
        ORDER BY ORDINAL_POSITION) FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = '$1' AND TABLE_NAME = '$2'"
}
same() {
    local t
    for t in addc dropc modc chg ren2; do
        [ "$(cols "$src" "$t")" = "$(cols2 "$dst" "$t")" ] ||
            fail "columns of $t: source $(cols "$src" "$t"), destination $(cols2 "$dst" "$t")"
        link_same_rows "$src" "$dst" "$t" '*' id
    done
    [ "$(cols "$src" keyc)" = "$(cols2 "$dst" keyc)" ] ||
        fail "columns of keyc: source $(cols "$src" keyc), destination $(cols2 "$dst" keyc)"
    link_same_rows "$src" "$dst" keyc '*' kid
    link_same_checksum "$src" "$dst" addc dropc modc chg ren2 keyc
    [ -z "$(mysql2 -N -e "SHOW TABLES FROM $dst LIKE 'gone'")" ] || fail "dropped table still there"
    [ -z "$(mysql2 -N -e "SHOW TABLES FROM $dst LIKE 'ren'")" ] || fail "old name of ren still there"
}
link_settle 20 same

n=$(link_dlq_count "$project")
[ "$n" = 0 ] || fail "$n events went to the dead-letter topic"
grep -q "reading it in the announced shape" "$run/logs/worker-1.log" ||
    fail "the worker never read a table whose definition had changed"
pass
