#!/usr/bin/env bash
# Plain secondary indexes are built after a table's full load
# (consumer/tables.c): the destination table is created with its primary
# and unique keys only, the chunks are loaded, and the plain indexes (a
# composite one with a prefix and a DESC part, an IGNORED one) are added
# once the last chunk is in and before the table's change replay starts;
# unique keys never are. The consumer is killed while chunks load and
# started again, so a table whose load resumes still gets its indexes. At
# the end rows, checksums and the index definitions equal the source's,
# and changes made during the load (some of which hit the unique key)
# were replayed.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_index_after
. "$FERRY_SRC/tests/harness/link.sh"

db=ixa_$$
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $db'; mysql2 -e 'DROP DATABASE IF EXISTS $db'"
mysql1 -e "
CREATE DATABASE $db;
USE $db;
CREATE TABLE t (id INT PRIMARY KEY, u VARCHAR(20) NOT NULL, k INT, a VARCHAR(40), b DATE, n INT,
  UNIQUE KEY u_1 (u), KEY k_1 (k), KEY ab (a(5), b DESC), KEY ig (n) IGNORED);
INSERT INTO t SELECT seq, CONCAT('u', seq), seq % 97, CONCAT('text ', seq % 13),
  '2020-01-01' + INTERVAL seq % 400 DAY, seq % 5 FROM seq_1_to_30000;
CREATE TABLE plain (id INT PRIMARY KEY, v INT);
INSERT INTO plain SELECT seq, seq FROM seq_1_to_100;
"
project=$FERRY_TEST_TMP/ixa.properties
link_project "$project" "ixa-$$" <<P
tables.include = $db.*
fullload.chunk.rows = 500
P
run=$(link_rundir "$project")
link_up "$project"

# restart the consumer while chunks are loading
wait_for "[ \"\$(mysql2 -e 'SELECT COUNT(*) > 0 FROM $db.t' 2>/dev/null)\" = 1 ]" 120 \
    "the first chunks at the destination"
link_kill "$project" consumer
# changes during the load; the insert takes a unique value the delete frees
mysql1 -e "
UPDATE $db.t SET u = CONCAT('v', id), k = k + 1 WHERE id % 100 = 0;
DELETE FROM $db.t WHERE id BETWEEN 200 AND 260;
INSERT INTO $db.t VALUES (40000, 'u250', 1, 'new', '2024-02-29', 9);
"
"$LINK_CTL" up "$project" >/dev/null || fail "ferryctl up (consumer again) failed"
link_wait "$project" full-done 180
link_wait "$project" caught-up 120

compare() {
    link_same_rows "$db" "$db" t 'id, u, k, a, b, n' id
    link_same_checksum "$db" "$db" t plain
}
link_settle 10 compare

idx="SELECT INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART, COLLATION, NON_UNIQUE, IGNORED
     FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '$db' AND TABLE_NAME = 't'
     ORDER BY INDEX_NAME, SEQ_IN_INDEX"
a=$(mysql1 -e "$idx")
b=$(mysql2 -e "$idx")
[ -n "$a" ] || fail "no indexes of $db.t on the source"
if [ "$a" != "$b" ]; then
    diff <(echo "$a") <(echo "$b") >&2
    fail "the indexes of $db.t differ between source and destination"
fi

# the plain indexes came after the load, each before the table's replay; the keys never did
log=$run/logs/consumer.log
for ix in k_1 ab ig; do
    grep -q "msg=\"index added after the full load\" table=$db.t index=$ix " "$log" ||
        fail "no log line for index $ix added after the full load"
done
grep -q "msg=\"index added after the full load\" table=$db.t index=\(u_1\|PRIMARY\) " "$log" &&
    fail "a unique key was added after the full load"
first_added=$(grep -n "index added after the full load\" table=$db.t " "$log" | head -n 1 | cut -d: -f1)
catchup=$(grep -n "msg=\"table phase\" table=$db.t .*phase=catch-up" "$log" | tail -n 1 | cut -d: -f1)
[ -n "$catchup" ] || fail "table $db.t never entered catch-up"
[ "$first_added" -lt "$catchup" ] || fail "the indexes were added after the replay started"
grep -q "could not add a deferred index" "$log" && fail "an index could not be added: $(grep 'could not add a deferred index' "$log")"
pass "plain indexes built after the load (also after a consumer restart mid-load), keys from the start; rows and index definitions equal"
