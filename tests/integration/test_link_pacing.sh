#!/usr/bin/env bash
# The full load waits for the consumer: with the consumer stopped, the
# planner hands out chunks only while the snapshot topic and the chunks being
# copied hold fewer than fullload.max.unapplied.rows rows the consumer has not
# applied, instead of copying the whole table into Kafka,
# where ferry-devkafka's 5 MB per partition (or a real broker's retention)
# would drop rows nobody read. A consumer started later takes the copy to
# its end.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_pacing
. "$FERRY_SRC/tests/harness/link.sh"

start_devkafka "$FERRY_TEST_TMP/devkafka"

src=lpc_$$
dst=lpc_$$_dst
rows=60000
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
mysql1 -e "
CREATE DATABASE $src;
CREATE TABLE $src.t (id INT PRIMARY KEY, v VARCHAR(40));
USE $src;
INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_$rows;
"
project=$FERRY_TEST_TMP/lpc.properties
link_project "$project" "lpc-$$" "$DEVKAFKA_BOOTSTRAP" <<P
tables.include = $src.*
rename.databases = $src:$dst
topics.partitions = 4
fullload.chunk.rows = 1000
fullload.max.unapplied.rows = 5000
P
link_up "$project"
link_kill "$project" consumer
dir=$(link_rundir "$project")

topic=ferry.lpc-$$.fwd.snapshot.$src.t
wait_for "grep -q 'full load waiting for the consumer' '$dir/logs/producer.log'" 60 \
    "the planner to wait for the consumer"
# the chunks handed out before it waited are copied; then nothing more
wait_for "link_topic_stable $topic 4" 60 "the snapshot topic to stop growing"
held=$LINK_HELD
# rows the consumer applied before it was killed do not count
applied=$(mysql2 -e "SELECT COUNT(*) FROM $dst.t" 2>/dev/null) || applied=0
unapplied=$((held - ${applied:-0}))
# tasks handed out count as unapplied: the limit, and the chunk that
# crossed it (and a transaction marker per chunk, where a broker counts them)
[ "$unapplied" -ge 5000 ] && [ "$unapplied" -le 6100 ] ||
    fail "the snapshot topic holds $held records, $applied of them applied, with no consumer running (limit 5,000 + a chunk)"
# the person's view says why (status exits 1: the consumer is down)
st=$("$LINK_CTL" status "$project" 2>&1) || true
grep -q "full load waiting for the consumer: [0-9]* snapshot rows not applied yet" <<<"$st" ||
    fail "ferryctl status does not say the full load waits for the consumer: $st"
pass "no consumer: the copy stopped at $held records of a $rows-row table ($applied applied before the kill)"

"$LINK_CTL" up "$project" >/dev/null || fail "ferryctl up failed"
link_wait "$project" caught-up 120
link_settle 10 link_same_rows "$src" "$dst" t "id, v" id
pass "consumer back: the copy went on, and the table arrived whole"
