#!/usr/bin/env bash
# A table with a unique key besides its primary key, whose rows trade
# values of that key, through the real binaries (topics.partitions = 4,
# apply.threads = 4). MySQL checks uniqueness row by row, so a swap goes
# through a free value: a -> free, b -> a's old value, a -> b's old value,
# in one transaction; applied in any other order the second update meets a
# duplicate. Rows a and b hash to different partitions most of the time, so
# capture must keep such a table's changes in one partition (source order)
# for the consumer to replay them. Inserts and deletes of values run
# alongside. At the end the destination equals the source, nothing went to
# the dead-letter topic, and the table's change topic used one partition
# while a table with only its primary key used several.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_unique_swap
. "$FERRY_SRC/tests/harness/link.sh"

src=lus_$$
dst=lus_$$_dst
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
mysql1 -e "
CREATE DATABASE $src;
USE $src;
CREATE TABLE seat (id INT PRIMARY KEY, slot INT NOT NULL, who VARCHAR(20), UNIQUE KEY (slot));
CREATE TABLE plain (id INT PRIMARY KEY, n INT NOT NULL);
INSERT INTO seat SELECT seq, seq, CONCAT('s', seq) FROM seq_1_to_40;
INSERT INTO plain SELECT seq, 0 FROM seq_1_to_40;
"
project=$FERRY_TEST_TMP/lus.properties
link_project "$project" "lus-$$" <<P
tables.include = $src.*
rename.databases = $src:$dst
topics.partitions = 4
apply.threads = 4
P
link_up "$project"
link_wait "$project" caught-up 120

# Each round: five swaps of slot between random rows, a row that leaves and
# one that comes back on a free slot, and an update of the plain table.
RANDOM=$$
for ((r = 1; r <= 60; r++)); do
    sql="USE $src; START TRANSACTION;"
    for ((j = 0; j < 5; j++)); do
        a=$((1 + RANDOM % 40)) b=$((1 + RANDOM % 40))
        [ "$a" = "$b" ] && continue
        sql+="
SELECT slot INTO @sa FROM seat WHERE id = $a;
SELECT slot INTO @sb FROM seat WHERE id = $b;
UPDATE seat SET slot = -1 WHERE id = $a;
UPDATE seat SET slot = @sa, who = 'r$r' WHERE id = $b;
UPDATE seat SET slot = @sb, who = 'r$r' WHERE id = $a;"
    done
    k=$((1 + RANDOM % 40))
    sql+="
DELETE FROM seat WHERE id = $((100 + r - 1));
INSERT INTO seat VALUES ($((100 + r)), $((1000 + r)), 'new');
UPDATE plain SET n = n + 1 WHERE id = $k;
COMMIT;"
    mysql1 -e "$sql" || fail "workload round $r failed"
done

link_wait "$project" caught-up 120
compare() {
    link_same_rows "$src" "$dst" seat 'id, slot, who' id
    link_same_rows "$src" "$dst" plain 'id, n' id
    link_same_checksum "$src" "$dst" seat plain
}
n=$(link_dlq_count "$project")
[ "$n" = 0 ] || fail "$n events went to the dead-letter topic"
link_settle 10 compare
pass "300 swaps of a unique key's values between rows: destination equals source, nothing in the dead-letter topic"

# partitions of a change topic that hold events
used() {
    local p n=0 end
    for p in 0 1 2 3; do
        end=$(timeout 30 kcat -Q -b "$FERRY_KAFKA_BOOTSTRAP" -t "ferry.lus-$$.fwd.$src.$1:$p:-1" |
            awk '{print $NF}')
        [ "${end:-0}" -gt 0 ] && n=$((n + 1))
    done
    echo "$n"
}
[ "$(used seat)" = 1 ] || fail "the change topic of seat has events in $(used seat) partitions, not 1"
[ "$(used plain)" -ge 2 ] || fail "the change topic of plain has events in only $(used plain) partition"
pass "the table with a second unique key kept its changes in one partition; the other spread them"
