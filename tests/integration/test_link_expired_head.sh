#!/usr/bin/env bash
# Changes that expired from Kafka before the consumer applied any of them
# stop the link with an error naming the table, instead of being skipped.
#
# A table waits in its full load (no chunk is copied: no full-load worker
# runs) while its changes pile up in its change topic; its consumer is killed
# before it applied any of them. More changes than ferry-devkafka keeps (about
# 5 MB per partition; a real broker's retention does the same) push the
# first ones out. A restarted consumer must not start reading after the gap
# as if nothing had been there: it stops and says which table to copy again.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_expired_head
. "$FERRY_SRC/tests/harness/link.sh"

start_devkafka "$FERRY_TEST_TMP/devkafka"

src=leh_$$
dst=leh_$$_dst
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
# key-less: every change goes to partition 0
mysql1 -e "
CREATE DATABASE $src;
CREATE TABLE $src.t (a INT, big MEDIUMTEXT);
INSERT INTO $src.t VALUES (1, 'one'), (2, 'two');
"
project=$FERRY_TEST_TMP/leh.properties
link_project "$project" "leh-$$" "$DEVKAFKA_BOOTSTRAP" <<P
tables.include = $src.*
rename.databases = $src:$dst
fullload.in.producer = false
fullload.workers = 0
P
link_up "$project"
dir=$(link_rundir "$project")
wait_for "grep -q 'partitions assigned' '$dir/logs/consumer.log'" 60 "the consumer to take the table"
sleep 1
link_kill "$project" consumer

# about 15 MB of changes (hex of random digests: they do not compress away)
# in partition 0 while no consumer runs
topic=ferry.leh-$$.fwd.$src.t
{
    echo "USE $src; SET SESSION group_concat_max_len = 1048576;"
    for ((i = 100; i < 260; i++)); do
        echo "INSERT INTO t SELECT $i, GROUP_CONCAT(MD5(RAND()) SEPARATOR '') FROM seq_1_to_3000;"
    done
} | mysql1 || fail "could not write the changes"
low() { timeout 30 kcat -Q -b "$DEVKAFKA_BOOTSTRAP" -t "$topic:0:-2" | awk '{print $NF}'; }
wait_for "[ \"\$(low)\" -gt 0 ]" 60 "the broker to drop the first changes of $topic [0]"

"$LINK_CTL" up "$project" >/dev/null || fail "ferryctl up failed"
wait_for "grep -q 'copy again: $src.t' '$dir/logs/consumer.log'" 60 \
    "the consumer to stop on the expired changes of $src.t"
pass "changes expired before any was applied: the consumer stopped and named $src.t to copy again"

# ferryctl wait says so at once instead of waiting out its timeout
out=$("$LINK_CTL" wait "$project" --until caught-up --timeout 300 2>&1) &&
    fail "ferryctl wait succeeded with the consumer stopped: $out"
grep -q "not caught-up: ferry-consumer stopped on an error .*copy again: $src.t" <<<"$out" ||
    fail "ferryctl wait did not report the consumer's error: $out"
pass "ferryctl wait reported the stopped consumer: ${out:0:160}"
st=$("$LINK_CTL" status "$project" 2>&1) || true
grep -q "ferry-consumer stopped on an error .*copy again: $src.t" <<<"$st" ||
    fail "ferryctl status does not show the consumer's error: $st"
pass "ferryctl status shows it too"
