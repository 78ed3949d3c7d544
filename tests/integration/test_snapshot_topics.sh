#!/usr/bin/env bash
# The producer makes each announced table's snapshot topic itself, with
# topics.partitions partitions, before it announces the table, so that a
# consumer reading the announcements finds every snapshot partition at once
# instead of waiting for a worker's first chunk of each table. Run with no
# full-load worker at all (fullload.in.producer = false, no ferry-worker):
# once the producer says the snapshot started, both tables' snapshot topics
# exist with 3 partitions (the broker's auto-creation would give 16) and
# hold nothing yet, and the ddl topic holds one announcement per table.
# The change topic of a table created at the source later exists with 3
# partitions before its CREATE TABLE reaches the ddl topic (capture makes
# it; a consumer reading the statement might otherwise meet a topic the
# broker made with its own count).
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init snapshot_topics
src=st_$$
run=$FERRY_TEST_TMP/run
mkdir -p "$run"

mysql1 -e "
CREATE DATABASE $src;
USE $src;
CREATE TABLE $src.a (id INT PRIMARY KEY, v INT);
CREATE TABLE $src.\`b c\` (id INT PRIMARY KEY, v INT);
INSERT INTO $src.a SELECT seq, seq FROM seq_1_to_100;
INSERT INTO $src.\`b c\` SELECT seq, seq FROM seq_1_to_100;
"
project=$FERRY_TEST_TMP/st.properties
cat >"$project" <<P
project.name = st-$$
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = $src.*
runtime.dir = $run
fullload.in.producer = false
topics.partitions = 3
P
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'"

"$FERRY_BUILD/producer/ferry-producer" "$project" >"$run/producer.log" 2>&1 &
pid=$!
ferry_cleanup_add "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
wait_for "grep -q 'msg=\"snapshot started\"' $run/producer.log" 60 "the snapshot to start"

# the whole topic list: naming a topic in a metadata request would create it
topics=$(timeout 30 kcat -L -b "$FERRY_KAFKA_BOOTSTRAP" -J) || fail "could not list the topics"
snaps=$(jq -r --arg p "ferry.st-$$.fwd.snapshot." \
    '.topics[] | select(.topic | startswith($p)) | "\(.topic)\t\(.partitions | length)"' <<<"$topics")
[ "$(grep -c . <<<"$snaps")" = 2 ] || fail "snapshot topics after the announcements: [$snaps]"
while IFS=$'\t' read -r topic n; do
    [ "$n" = 3 ] || fail "snapshot topic \"$topic\" has $n partitions; topics.partitions is 3"
    for p in 0 1 2; do
        end=$(timeout 30 kcat -Q -b "$FERRY_KAFKA_BOOTSTRAP" -t "$topic:$p:-1" | awk '{print $NF}')
        [ "$end" = 0 ] || fail "snapshot topic \"$topic\" [$p] ends at offset ${end:-?} with no worker"
    done
done <<<"$snaps"
pass "both snapshot topics were made by the producer with 3 partitions before any chunk was copied"

announced=$(grep -c 'msg="table announced"' "$run/producer.log")
[ "$announced" = 2 ] || fail "the producer announced $announced tables, not 2"
ddl=$(timeout 30 kcat -C -b "$FERRY_KAFKA_BOOTSTRAP" -t "ferry.st-$$.fwd.ddl" -e -q -f '%k\n' |
    sort | paste -sd,)
[ "$ddl" = "$src.a,$src.b c" ] || fail "the ddl topic holds announcements for [$ddl]"
pass "one announcement per table reached the ddl topic (flushed together)"

mysql1 -e "CREATE TABLE $src.later (id INT PRIMARY KEY)"
wait_for "grep -q 'msg=\"captured DDL\" kind=CREATE_TABLE' $run/producer.log" 30 "capture to take the CREATE TABLE"
n=$(timeout 30 kcat -L -b "$FERRY_KAFKA_BOOTSTRAP" -J |
    jq -r --arg t "ferry.st-$$.fwd.$src.later" '.topics[] | select(.topic == $t) | .partitions | length')
[ "$n" = 3 ] || fail "the change topic of a table created later has ${n:-no} partitions; topics.partitions is 3"
pass "the change topic of a table created later was made with 3 partitions"
