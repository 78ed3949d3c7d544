#!/usr/bin/env bash
# Tables made and ended at the source while the link runs, through the real
# binaries (ferryctl up): CREATE TABLE (plain, ... SELECT and ... LIKE) of
# selected tables, their changes applied from the CREATE on with no full
# load; DROP TABLE, and CREATE TABLE again under the dropped name with other
# columns; ALTER TABLE ... RENAME TO, ALTER TABLE t RENAME t2 and a RENAME
# combined with ADD COLUMN, followed like RENAME TABLE (later changes land
# in the renamed destination table). Change topics are made by capture with
# topics.partitions partitions (3 here; the broker's auto-creation would give
# 16). At the end each destination table
# equals its source (columns, rows one by one, CHECKSUM TABLE), dropped and
# old names are gone at the destination and from /status.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_newtables
ctl=$FERRY_BUILD/tools/ferryctl
src=nt_$$
dst=nt_$$_dst

mysql1 -e "
CREATE DATABASE $src;
CREATE TABLE $src.base (id INT PRIMARY KEY, v INT);
USE $src;
INSERT INTO base SELECT seq, seq FROM seq_1_to_300;
"
project=$FERRY_TEST_TMP/nt.properties
cat >"$project" <<P
project.name = nt-$$
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = $src.*
rename.databases = $src:$dst
runtime.dir = $FERRY_TEST_TMP/run
kafka.session.timeout.ms = 6000
topics.partitions = 3
P
ferry_cleanup_add "$ctl down $project --timeout 10"
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"

"$ctl" up "$project" || fail "ferryctl up failed"
"$ctl" wait "$project" --until caught-up --timeout 240 ||
    fail "not caught up after the full load: $("$ctl" status "$project" 2>&1)"

mysql1 -e "
USE $src;
CREATE TABLE fresh (id INT PRIMARY KEY, v VARCHAR(20));
INSERT INTO fresh VALUES (1, 'a'), (2, 'b');
UPDATE fresh SET v = 'bb' WHERE id = 2;
UPDATE base SET v = v + 1 WHERE id % 3 = 0;
CREATE TABLE ctas SELECT id, v FROM base WHERE id <= 50;
INSERT INTO ctas VALUES (1000, 5), (1000, 5);
DELETE FROM ctas WHERE id = 7;
CREATE TABLE liked LIKE base;
INSERT INTO liked SELECT * FROM base WHERE id < 20;
CREATE TABLE gone (id INT PRIMARY KEY, a INT);
INSERT INTO gone VALUES (1, 1), (2, 2);
DROP TABLE gone;
CREATE TABLE gone (id INT PRIMARY KEY, b VARCHAR(5), c INT);
INSERT INTO gone VALUES (7, 'x', 1), (8, 'y', 1);
UPDATE gone SET c = 2 WHERE id = 8;
CREATE TABLE dropme (id INT PRIMARY KEY);
INSERT INTO dropme VALUES (1);
DROP TABLE dropme;
ALTER TABLE fresh RENAME TO fresh2;
INSERT INTO fresh2 VALUES (3, 'c');
ALTER TABLE base RENAME base2;
UPDATE base2 SET v = v * 2 WHERE id % 2 = 0;
ALTER TABLE liked ADD COLUMN extra INT DEFAULT 3, RENAME TO liked2;
INSERT INTO liked2 (id, v) VALUES (100, 1);
UPDATE liked2 SET extra = id WHERE id < 5;
"

"$ctl" wait "$project" --until caught-up --timeout 240 ||
    fail "not caught up after the statements: $("$ctl" status "$project" 2>&1)"

tables="base2 fresh2 ctas liked2 gone"
wait_equal() {
    local t
    for t in $tables; do
        [ "$(mysql1 -e "CHECKSUM TABLE $src.$t" | awk '{print $2}')" = \
            "$(mysql2 -e "CHECKSUM TABLE $dst.$t" 2>/dev/null | awk '{print $2}')" ] || return 1
    done
}
wait_for wait_equal 60 "the destination to hold the source's rows" ||
    fail "destination differs: $("$ctl" status "$project" 2>&1)"
for t in $tables; do
    cols="SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT FROM information_schema.COLUMNS
          WHERE TABLE_NAME = '$t' AND TABLE_SCHEMA ="
    a=$(mysql1 -e "$cols '$src' ORDER BY ORDINAL_POSITION")
    b=$(mysql2 -e "$cols '$dst' ORDER BY ORDINAL_POSITION")
    [ -n "$a" ] && [ "$a" = "$b" ] || fail "columns of $t differ: source [$a] destination [$b]"
    a=$(mysql1 -e "SELECT * FROM $src.$t ORDER BY 1, 2")
    b=$(mysql2 -e "SELECT * FROM $dst.$t ORDER BY 1, 2")
    [ "$a" = "$b" ] || fail "rows of $t differ: $(diff <(echo "$a") <(echo "$b") | head -10)"
done
left=$(mysql2 -e "SELECT GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME) FROM information_schema.TABLES
                  WHERE TABLE_SCHEMA = '$dst'")
[ "$left" = "base2,ctas,fresh2,gone,liked2" ] || fail "destination tables are [$left]"
[ "$(mysql2 -e "SELECT COUNT(*) FROM $dst.ctas WHERE id = 1000")" = 2 ] || fail "ctas: doubled or lost rows"
pass "CREATE TABLE (plain, SELECT, LIKE), DROP and CREATE again, ALTER TABLE ... RENAME: destination equals source"

st=$(curl -fsS --max-time 5 "$(cat "$FERRY_TEST_TMP/run/consumer.addr")/status") || fail "no /status"
names=$(jq -r '[.tables[].source] | sort | join(",")' <<<"$st")
[ "$names" = "$src.base2,$src.ctas,$src.fresh2,$src.gone,$src.liked2" ] ||
    fail "/status lists [$names]"
jq -e '.totals.ddl_failed == 0' <<<"$st" >/dev/null || fail "DDL failed: $(jq -c .ddl_errors <<<"$st")"
pass "/status lists the tables as they are now, with no DDL failure"

parts_of() {
    timeout 30 kcat -L -b "$FERRY_KAFKA_BOOTSTRAP" -t "ferry.nt-$$.fwd.$src.$1" -J |
        jq '.topics[0].partitions | length'
}
for t in base fresh2 ctas; do
    n=$(parts_of "$t") || fail "could not describe the change topic of $t"
    [ "$n" = 3 ] || fail "the change topic of $t has $n partitions, topics.partitions is 3"
done
pass "change topics are created with topics.partitions partitions"
