#!/usr/bin/env bash
# DDL in the middle of row changes, through the real binaries (ferryctl up):
# ALTER TABLE ADD COLUMN / MODIFY / ADD INDEX and TRUNCATE while the full
# load runs, then DROP COLUMN, MODIFY, RENAME TABLE and ADD COLUMN on a
# key-less table after it, each between changes of the same tables (also in
# one transaction with them). The consumer applies every change before a
# statement's binlog position, then the statement, then the later changes,
# each decoded with the schema it was written with. At the end the
# destination has the source's columns and rows (row by row and CHECKSUM
# TABLE). The last statement has no change after it (its table's change
# partitions are idle) and still runs. One statement fails at the
# destination on purpose (an index of
# that name already exists there): /status names the statement and the
# reason, and that table and the others go on.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_ddl
ctl=$FERRY_BUILD/tools/ferryctl
src=ddl_$$
dst=ddl_$$_dst

mysql1 -e "
CREATE DATABASE $src;
CREATE TABLE $src.big (id INT PRIMARY KEY, a INT NOT NULL, b VARCHAR(20), note TEXT);
CREATE TABLE $src.tr (id INT PRIMARY KEY, v VARCHAR(10));
CREATE TABLE $src.moved (id INT PRIMARY KEY, v INT);
CREATE TABLE $src.dropcol (id INT PRIMARY KEY, x INT, y VARCHAR(10), z INT);
CREATE TABLE $src.nokey (a INT, b VARCHAR(10));
CREATE TABLE $src.clash (id INT PRIMARY KEY, v INT);
USE $src;
INSERT INTO big SELECT seq, seq % 1000, CONCAT('b', seq), REPEAT('n', seq % 30) FROM seq_1_to_60000;
INSERT INTO tr SELECT seq, 'old' FROM seq_1_to_3000;
INSERT INTO moved SELECT seq, seq FROM seq_1_to_500;
INSERT INTO dropcol SELECT seq, seq, 'y', seq * 2 FROM seq_1_to_500;
INSERT INTO nokey VALUES (1, 'dup'), (1, 'dup'), (2, 'one');
INSERT INTO clash SELECT seq, seq FROM seq_1_to_100;
"

project=$FERRY_TEST_TMP/ddl.properties
cat >"$project" <<P
project.name = ddl-$$
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = $src.*
rename.databases = $src:$dst
runtime.dir = $FERRY_TEST_TMP/run
kafka.session.timeout.ms = 6000
P
ferry_cleanup_add "$ctl down $project --timeout 10"
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"

"$ctl" up "$project" || fail "ferryctl up failed"

# while the full load runs: statements between changes of the same tables
mysql1 -e "
USE $src;
UPDATE big SET a = a + 1 WHERE id % 97 = 0;
INSERT INTO big VALUES (100001, 1, 'new', NULL);
ALTER TABLE big ADD COLUMN extra INT NOT NULL DEFAULT 7;
UPDATE big SET extra = id WHERE id % 89 = 0;
INSERT INTO big (id, a, b, extra) VALUES (100002, 2, 'new2', 42);
ALTER TABLE big MODIFY b VARCHAR(60);
ALTER TABLE big ADD INDEX ix_a (a);
UPDATE big SET a = a + 2, extra = extra + 1 WHERE id % 83 = 0;
UPDATE tr SET v = 'upd' WHERE id % 10 = 0;
TRUNCATE TABLE tr;
INSERT INTO tr SELECT seq, 'new' FROM seq_1_to_50;
UPDATE moved SET v = v + 1 WHERE id % 5 = 0;
"
phases=$("$ctl" status "$project" 2>&1 | tr '\n' ' ')
echo "status right after the first statements: $phases" | cut -c1-600

"$ctl" wait "$project" --until caught-up --timeout 240 ||
    fail "not caught up after the full load: $("$ctl" status "$project" 2>&1)"

# an index the next statement will want already exists at the destination
mysql2 -e "ALTER TABLE $dst.clash ADD INDEX ix_dup (v)"

# after the full load, again in the middle of changes
mysql1 -e "
USE $src;
UPDATE big SET b = REPEAT('w', 50) WHERE id % 71 = 0;
UPDATE dropcol SET y = 'y2', z = z + 1 WHERE id % 3 = 0;
ALTER TABLE dropcol DROP COLUMN y;
UPDATE dropcol SET z = z + 10 WHERE id % 4 = 0;
INSERT INTO dropcol VALUES (1000, 1, 2);
UPDATE moved SET v = v * 10 WHERE id % 7 = 0;
START TRANSACTION;
  INSERT INTO moved VALUES (1001, 1);
  UPDATE big SET a = 0 WHERE id = 5;
COMMIT;
RENAME TABLE moved TO moved2;
UPDATE moved2 SET v = v + 1000 WHERE id % 11 = 0;
INSERT INTO moved2 VALUES (1002, 2);
DELETE FROM moved2 WHERE id % 13 = 0;
INSERT INTO nokey VALUES (3, 'x'), (3, 'x');
ALTER TABLE nokey ADD COLUMN c INT DEFAULT 5;
INSERT INTO nokey VALUES (4, 'y', 9), (4, 'y', 9);
DELETE FROM nokey WHERE a = 3 LIMIT 1;
ALTER TABLE big MODIFY a BIGINT NOT NULL;
UPDATE big SET a = 9000000000 + id WHERE id % 101 = 0;
ALTER TABLE big DROP COLUMN note;
UPDATE clash SET v = v + 1 WHERE id < 10;
ALTER TABLE clash ADD INDEX ix_dup (v);
UPDATE clash SET v = v + 100 WHERE id > 90;
INSERT INTO clash VALUES (101, 1);
ALTER TABLE tr ADD COLUMN idle INT DEFAULT 1;
"

"$ctl" wait "$project" --until caught-up --timeout 240 ||
    fail "not caught up after the statements: $("$ctl" status "$project" 2>&1)"

columns() { # columns CLIENT DB TABLE: name and type of each column, in order
    "$1" -e "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT FROM information_schema.COLUMNS
             WHERE TABLE_SCHEMA = '$2' AND TABLE_NAME = '$3' ORDER BY ORDINAL_POSITION"
}
compare() { # compare TABLE ORDER
    local a b
    a=$(columns mysql1 "$src" "$1")
    b=$(columns mysql2 "$dst" "$1")
    [ -n "$a" ] || fail "source table $1 is missing"
    [ "$a" = "$b" ] || fail "columns of $1 differ: source [$a] destination [$b]"
    a=$(mysql1 -e "SELECT * FROM $src.$1 ORDER BY $2")
    b=$(mysql2 -e "SELECT * FROM $dst.$1 ORDER BY $2")
    if [ "$a" != "$b" ]; then
        diff <(echo "$a") <(echo "$b") | head -20 >&2
        fail "rows of $1 differ between source and destination"
    fi
    a=$(mysql1 -e "CHECKSUM TABLE $src.$1" | awk '{print $2}')
    b=$(mysql2 -e "CHECKSUM TABLE $dst.$1" | awk '{print $2}')
    [ "$a" = "$b" ] || fail "CHECKSUM TABLE $1: source $a, destination $b"
}
wait_equal() { # the last changes may still be on their way when caught-up is first seen
    local t
    for t in big tr dropcol moved2 nokey clash; do
        [ "$(mysql1 -e "CHECKSUM TABLE $src.$t" | awk '{print $2}')" = \
            "$(mysql2 -e "CHECKSUM TABLE $dst.$t" 2>/dev/null | awk '{print $2}')" ] || return 1
    done
}
wait_for wait_equal 60 "the destination to hold the source's rows"
compare big id
compare tr id
compare dropcol id
compare moved2 id
compare nokey 'a, b, c'
compare clash id
[ -z "$(mysql2 -e "SHOW TABLES FROM $dst LIKE 'moved'")" ] || fail "the renamed table is still there"
[ "$(mysql2 -e "SELECT COUNT(*) FROM $dst.nokey WHERE a = 4")" = 2 ] || fail "nokey: doubled or lost rows"
[ "$(mysql2 -e "SHOW INDEX FROM $dst.big WHERE Key_name = 'ix_a'" | wc -l)" -ge 1 ] ||
    fail "index ix_a was not created at the destination"
pass "ADD/DROP/MODIFY COLUMN, ADD INDEX, TRUNCATE and RENAME between row changes, during and after the full load: destination equals source"

status_url="$(cat "$FERRY_TEST_TMP/run/consumer.addr")/status"
st=$(curl -fsS --max-time 5 "$status_url") || fail "no /status from the consumer"
jq -e '.ddl_errors | any(test("ix_dup") and test("Duplicate key name"))' <<<"$st" >/dev/null ||
    fail "/status does not report the failed statement with its reason: $(jq -c '.ddl_errors' <<<"$st")"
jq -e '.totals.ddl_failed == 1' <<<"$st" >/dev/null ||
    fail "expected exactly one failed statement: $(jq -c '.totals' <<<"$st")"
pass "a statement the destination refuses is reported with its text and reason; its table and the others went on"
