#!/usr/bin/env bash
# Wide rows: a table of 64 KB rows is cut into chunks of about
# fullload.chunk.bytes (2 MiB: 32 rows) instead of fullload.chunk.rows
# (10,000: the whole 400-row table, 26 MB, in one chunk, which no
# ferry-devkafka partition of 5 MB holds), and with the consumer stopped the
# copy holds at fullload.max.unapplied.bytes' worth of rows. The table
# arrives whole once the consumer runs.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_wide_rows
. "$FERRY_SRC/tests/harness/link.sh"

start_devkafka "$FERRY_TEST_TMP/devkafka"

src=lwr_$$
dst=lwr_$$_dst
rows=400
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
# 64 KB of random bytes a row: nothing for lz4 to shrink
blob="CONCAT($(printf 'RANDOM_BYTES(1024),%.0s' $(seq 63))RANDOM_BYTES(1024))"
mysql1 -e "
CREATE DATABASE $src;
CREATE TABLE $src.t (id INT PRIMARY KEY, doc LONGBLOB NOT NULL);
USE $src;
INSERT INTO t SELECT seq, $blob FROM seq_1_to_$rows;
"
project=$FERRY_TEST_TMP/lwr.properties
link_project "$project" "lwr-$$" "$DEVKAFKA_BOOTSTRAP" <<P
tables.include = $src.*
rename.databases = $src:$dst
topics.partitions = 4
fullload.max.unapplied.bytes = 8388608
P
link_up "$project"
link_kill "$project" consumer
dir=$(link_rundir "$project")

wait_for "grep -q 'wide rows: smaller chunks' '$dir/logs/producer.log'" 60 \
    "the planner to size the table's chunks"
line=$(grep 'wide rows: smaller chunks' "$dir/logs/producer.log")
chunk_rows=$(sed -n 's/.* chunk_rows=\([0-9]*\).*/\1/p' <<<"$line")
limit=$(sed -n 's/.* max_unapplied_rows=\([0-9]*\).*/\1/p' <<<"$line")
# 2 MiB / (65,536 + a few bytes of id) and 8 MiB / the same
[ "$chunk_rows" = 31 ] && [ "$limit" = 127 ] ||
    fail "expected 31 rows a chunk and a limit of 127 rows, the planner says: $line"

topic=ferry.lwr-$$.fwd.snapshot.$src.t
wait_for "link_topic_stable $topic 4" 60 "the snapshot topic to stop growing"
held=$LINK_HELD
applied=$(mysql2 -e "SELECT COUNT(*) FROM $dst.t" 2>/dev/null) || applied=0
unapplied=$((held - ${applied:-0}))
# the limit, the chunk that crossed it, and a transaction marker per chunk
[ "$unapplied" -ge "$limit" ] && [ "$unapplied" -le $((limit + chunk_rows + 8)) ] ||
    fail "the snapshot topic holds $held records, $applied of them applied, with no consumer (limit $limit rows + a chunk of $chunk_rows)"
max=$(sed -n 's/.*msg="chunk copied".* rows=\([0-9]*\).*/\1/p' "$dir/logs/producer.log" | sort -n | tail -1)
[ -n "$max" ] && [ "$max" -le "$chunk_rows" ] || fail "a chunk of $max rows was copied (at most $chunk_rows)"
pass "64 KB rows: chunks of $chunk_rows rows; no consumer: the copy held at $unapplied unapplied rows (limit $limit)"

"$LINK_CTL" up "$project" >/dev/null || fail "ferryctl up failed"
link_wait "$project" caught-up 180
link_settle 10 link_same_checksum "$src" "$dst" t
pass "consumer back: the $rows rows ($((rows * 64 / 1024)) MB) arrived whole through 4 partitions of 5 MB"
