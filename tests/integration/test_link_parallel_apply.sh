#!/usr/bin/env bash
# Parallel apply (apply.threads = 4) keeps per-key order and applies every
# change once, through the real binaries and kill -9 of the consumer.
#
# The workload hammers a few hot keys: each round updates them several
# times (each update sets n to the next number of a per-key sequence, so an
# older change applied after a newer one leaves a smaller n than the
# source's), moves one hot row to another key and back (the delete and the
# create travel in different partitions), deletes a hot row and inserts it
# again and inserts and deletes a new key in one transaction (the sink folds
# a key's changes in a batch: one update, and nothing), with NULLs coming and
# going, appends the value it wrote to a
# key-less log table (a change applied twice shows there as a doubled row),
# and gives rows of a table with a second unique key fresh values of it
# (such a table stays on one apply connection). Meanwhile the consumer is killed with kill -9 a few times
# and restarted. At the end the destination equals the source row by row
# (duplicates included) and by CHECKSUM TABLE, nothing went to the
# dead-letter topic (strict mode reports an update that finds no row), and
# more than one apply connection committed changes of the hot table.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_parallel_apply
. "$FERRY_SRC/tests/harness/link.sh"

src=lpa_$$
dst=lpa_$$_dst
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
mysql1 -e "
CREATE DATABASE $src;
USE $src;
CREATE TABLE hot (id INT PRIMARY KEY, n BIGINT NOT NULL, v VARCHAR(40), KEY (n));
CREATE TABLE hot_log (id INT, n BIGINT, note VARCHAR(20));
CREATE TABLE uq (id INT PRIMARY KEY, slot INT NULL, UNIQUE KEY (slot));
INSERT INTO hot SELECT seq, 0, 'start' FROM seq_1_to_12;
INSERT INTO uq VALUES (1, 1), (2, 2), (3, 3), (4, 4);
"
project=$FERRY_TEST_TMP/lpa.properties
link_project "$project" "lpa-$$" <<P
tables.include = $src.*
rename.databases = $src:$dst
topics.partitions = 8
apply.threads = 4
P
link_up "$project"
link_wait "$project" caught-up 120

# round_sql ROUND: one round of the workload in $SQL
round_sql() {
    local r=$1 j k a b
    SQL="USE $src;"
    for ((j = 0; j < 6; j++)); do
        k=$((1 + RANDOM % 12))
        SQL+="
START TRANSACTION;
UPDATE hot SET n = n + 1, v = CONCAT('r$r.$j') WHERE id = $k;
INSERT INTO hot_log SELECT id, n, 'upd' FROM hot WHERE id = $k;
COMMIT;"
    done
    # a hot row leaves its key and comes back (delete + create, both ways)
    k=$((1 + RANDOM % 12))
    SQL+="
UPDATE hot SET id = id + 1000, n = n + 1 WHERE id = $k;
UPDATE hot SET id = id - 1000, n = n + 1 WHERE id = $((k + 1000));
INSERT INTO hot_log VALUES ($k, $r, 'moved'), ($k, $r, 'moved');"
    # in one transaction, a hot row is deleted and inserted again (the
    # consumer folds the pair into one update) and a new key is inserted and
    # deleted (folded into nothing); v goes NULL and back
    k=$((1 + RANDOM % 12))
    SQL+="
START TRANSACTION;
SELECT n INTO @n FROM hot WHERE id = $k;
DELETE FROM hot WHERE id = $k;
INSERT INTO hot VALUES ($k, @n + 1, IF($r % 2, NULL, 'again$r'));
INSERT INTO hot VALUES ($((500 + r)), 0, 'brief');
UPDATE hot SET v = NULL WHERE id = $((500 + r));
DELETE FROM hot WHERE id = $((500 + r));
COMMIT;"
    # a row of the table with a second unique key takes a fresh value of it
    a=$((1 + RANDOM % 4))
    SQL+="
UPDATE uq SET slot = $((r * 10 + a)) WHERE id = $a;"
}

stop=$FERRY_TEST_TMP/lpa.stop
workload() {
    local r=0
    RANDOM=$$
    while [ ! -e "$stop" ]; do
        r=$((r + 1))
        round_sql "$r"
        mysql1 -e "$SQL" || {
            echo "workload round $r failed:" >&2
            echo "$SQL" >&2
            touch "$stop.failed"
            return 1
        }
    done
    echo "$r" >"$stop.rounds"
}
workload &
wl=$!
ferry_cleanup_add "touch $stop; wait $wl 2>/dev/null"

for kill in 1 2 3; do
    sleep "$((2 + kill)).$((RANDOM % 10))"
    link_kill "$project" consumer
    echo "link_parallel_apply: ${SECONDS}s: kill -9 consumer ($kill of 3)"
    sleep 0.$((RANDOM % 10))
    "$LINK_CTL" up "$project" >/dev/null || fail "ferryctl up after kill -9 of the consumer failed"
done
sleep 3
touch "$stop"
wait "$wl" || true
[ ! -e "$stop.failed" ] || fail "the workload failed (see above)"
echo "link_parallel_apply: workload ran $(cat "$stop.rounds") rounds"

link_wait "$project" caught-up 120
compare() {
    link_same_rows "$src" "$dst" hot 'id, n, v' id
    link_same_rows "$src" "$dst" hot_log 'id, n, note' 'id, n, note'
    link_same_rows "$src" "$dst" uq 'id, slot' id
    link_same_checksum "$src" "$dst" hot hot_log uq
}
n=$(link_dlq_count "$project")
[ "$n" = 0 ] || fail "$n events went to the dead-letter topic"
link_settle 10 compare
workers=$(mysql2 -e "SELECT COUNT(DISTINCT worker) FROM ferry_meta.ferry_progress
  WHERE link = 'lpa-$$.fwd' AND db = '$dst' AND tbl = 'hot' AND phase = 'strict'
  AND worker LIKE 'consumer-apply%'")
[ "$workers" -ge 2 ] || fail "changes of the hot table were committed by $workers apply connection(s), expected several"
pass "kill -9 of the consumer under a hot-key workload with apply.threads = 4: destination equals source, nothing doubled, $workers apply connections used"
