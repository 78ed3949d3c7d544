#!/usr/bin/env bash
# Capture's checkpoint must never be visible before the changes it covers.
#
# ferry-devkafka (librdkafka's mock broker) shows the records of a
# transaction that never committed, so a producer restarted after kill -9
# may resume from a checkpoint whose Kafka transaction was cut short. That
# is safe only if every change before the checkpoint reached the broker
# before the checkpoint did. Here one produce request at a time is made to
# fail while a workload runs; the client retries it after
# retry.backoff.ms = 3 s, so its partition's changes wait at the client while
# capture goes on to end its group. The producer is killed inside that wait
# and restarted. If the checkpoint had been sent in the meantime (as it was
# when the commit sent every partition at once), the restarted capture
# would skip the stuck changes and the destination would miss them.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_checkpoint_order
. "$FERRY_SRC/tests/harness/link.sh"

start_devkafka "$FERRY_TEST_TMP/devkafka"

src=lco_$$
dst=lco_$$_dst
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
mysql1 -e "
CREATE DATABASE $src;
USE $src;
CREATE TABLE $src.t (id INT PRIMARY KEY, n INT NOT NULL);
INSERT INTO $src.t SELECT seq, 0 FROM seq_1_to_64;
"
project=$FERRY_TEST_TMP/lco.properties
link_project "$project" "lco-$$" "$DEVKAFKA_BOOTSTRAP" <<P
tables.include = $src.*
rename.databases = $src:$dst
topics.partitions = 4
kafka.retry.backoff.ms = 3000
P
link_up "$project"
link_wait "$project" caught-up 120

# the workload: every round inserts 16 new rows (all four partitions) one
# statement at a time, so a capture group spans several source
# transactions. Inserts, because a lost insert stays lost, where a lost
# update would be hidden by the next update of its row (row images are
# whole).
stop=$FERRY_TEST_TMP/lco.stop
workload() {
    local r=0 sql j
    while [ ! -e "$stop" ]; do
        r=$((r + 1)) sql="USE $src;"
        for ((j = 0; j < 16; j++)); do
            sql+=" INSERT INTO t VALUES ($((1000 + r * 16 + j)), $r);"
        done
        mysql1 -e "$sql" || {
            touch "$stop.failed"
            return 1
        }
        sleep 0.02
    done
}
workload &
wl=$!
ferry_cleanup_add "touch $stop; wait $wl 2>/dev/null"

# resumed N: capture has started from a checkpoint N times (producer log)
log=$(link_rundir "$project")/logs/producer.log
resumed() { [ "$(grep -c 'resuming from the checkpoint' "$log")" -ge "$1" ]; }

rounds=4
for ((i = 1; i <= rounds; i++)); do
    # capture reading the binlog again, with changes flowing
    wait_for "resumed $((i - 1))" 60 "capture to resume"
    sleep 0.5
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
        "$DEVKAFKA_CONTROL/errors?api=Produce&code=REQUEST_TIMED_OUT&count=1")
    [ "$code" = 200 ] || fail "ferry-devkafka control /errors answered $code"
    sleep 1.2
    link_kill "$project" producer
    "$LINK_CTL" up "$project" >/dev/null || fail "ferryctl up after kill -9 of the producer failed"
done
touch "$stop"
wait "$wl" || true
[ ! -e "$stop.failed" ] || fail "the workload failed"

link_wait "$project" caught-up 120
compare() {
    link_same_rows "$src" "$dst" t 'id, n' id
}
link_settle 10 compare
n=$(link_dlq_count "$project" "$DEVKAFKA_BOOTSTRAP")
[ "$n" = 0 ] || fail "$n events went to the dead-letter topic"
pass "$rounds kills of the producer while a produce request waited for its retry: no change lost"
