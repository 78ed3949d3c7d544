#!/usr/bin/env bash
# ferry-test: serial
# Parallel apply when one apply worker's transaction rolls back: it waits on
# a row lock at the destination until it times out (retriable, like a
# deadlock between workers), while the other workers commit their shares.
# The rolled-back job must run again alone and commit before anything later
# of its partitions, and every change must be applied once, in order.
#
# innodb_lock_wait_timeout is set to 1 s on mariadb2 (hence serial); a
# session there holds the lock of one destination row for 4 s, three times,
# while a workload updates every row of the table over and over (each update
# sets n to the next number of that row's sequence: an older change applied
# after a newer one leaves a smaller n than the source's) and updates the
# locked row right after the lock is taken. The worker that meets the lock
# times out (its first try runs beside the others), then runs again alone
# up to three times, 0.5 s apart, so its third try comes after the lock is
# gone. At the end the destination equals the source row by row, nothing
# went to the dead-letter topic, and the consumer logged the rolled-back
# batch.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_apply_stall
. "$FERRY_SRC/tests/harness/link.sh"

src=las_$$
dst=las_$$_dst
old_timeout=$(mysql2 -e 'SELECT @@GLOBAL.innodb_lock_wait_timeout')
ferry_cleanup_add "mysql2 -e 'SET GLOBAL innodb_lock_wait_timeout = $old_timeout'"
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
mysql1 -e "
CREATE DATABASE $src;
USE $src;
CREATE TABLE t (id INT PRIMARY KEY, n BIGINT NOT NULL, v VARCHAR(40));
INSERT INTO t SELECT seq, 0, 'start' FROM seq_1_to_64;
"
# the apply workers' sessions take the global value when they connect
mysql2 -e 'SET GLOBAL innodb_lock_wait_timeout = 1'
project=$FERRY_TEST_TMP/las.properties
link_project "$project" "las-$$" <<P
tables.include = $src.*
rename.databases = $src:$dst
topics.partitions = 8
apply.threads = 4
P
link_up "$project"
link_wait "$project" caught-up 120

stop=$FERRY_TEST_TMP/las.stop
workload() {
    local r=0 j sql
    RANDOM=$$
    while [ ! -e "$stop" ]; do
        r=$((r + 1))
        sql="USE $src;"
        for ((j = 0; j < 16; j++)); do
            sql+=" UPDATE t SET n = n + 1, v = 'r$r.$j' WHERE id = $((1 + RANDOM % 64));"
        done
        mysql1 -e "$sql" || {
            touch "$stop.failed"
            return 1
        }
    done
}
workload &
wl=$!
ferry_cleanup_add "touch $stop; wait $wl 2>/dev/null"

for round in 1 2 3; do
    sleep 1
    # the lock holder waits as long as it needs for the row itself
    mysql2 -e "SET SESSION innodb_lock_wait_timeout = 30; START TRANSACTION;
               SELECT n FROM $dst.t WHERE id = $round FOR UPDATE; DO SLEEP(4); ROLLBACK" >/dev/null &
    holder=$!
    wait_for "[ \"\$(mysql2 -e \"SELECT COUNT(*) FROM information_schema.INNODB_TRX
               WHERE trx_query LIKE 'DO SLEEP(4)%'\")\" -ge 1 ]" 10 "the lock holder to hold its row"
    mysql1 -e "UPDATE $src.t SET n = n + 1, v = 'locked$round' WHERE id = $round"
    wait "$holder" || fail "the lock holder's session failed"
    echo "link_apply_stall: ${SECONDS}s: row $round of the destination was locked for 4 s ($round of 3)"
done
touch "$stop"
wait "$wl" || true
[ ! -e "$stop.failed" ] || fail "the workload failed"

link_wait "$project" caught-up 120
compare() {
    link_same_rows "$src" "$dst" t 'id, n, v' id
    link_same_checksum "$src" "$dst" t
}
link_settle 10 compare
n=$(link_dlq_count "$project")
[ "$n" = 0 ] || fail "$n events went to the dead-letter topic"
log=$(link_rundir "$project")/logs/consumer.log
rolled=$(grep -c 'batch rolled back, retrying.*Lock wait timeout' "$log" || true)
[ "$rolled" -ge 1 ] || fail "no apply worker met the locked row (no rolled-back batch in $log)"
pass "an apply worker rolled back by a locked row $rolled time(s) and retried alone: destination equals source, nothing doubled or lost"
