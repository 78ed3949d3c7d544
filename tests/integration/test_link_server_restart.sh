#!/usr/bin/env bash
# ferry-test: serial
# A running link rides out restarts of its source and destination servers.
#
# Both MariaDB servers are stopped with SIGTERM (as a service manager stops
# them) and started again on the same port (servers.sh restart) while a
# write load runs against the source:
#
#   1. During the full load. The destination goes down once the consumer
#      has loaded its first chunk; the copy then waits for the consumer
#      (pacing), and the source restarts meanwhile. The consumer starts over
#      once the destination answers again (from the offsets, chunks and DDL
#      marks the destination holds), the producer's snapshot starts over once
#      it finds its source session gone (planner and full-load workers), and
#      capture reconnects.
#   2. In incremental mode: the destination restarts, then the source.
#   3. A separate ferry-worker process loses the source while it has chunks
#      to copy, and starts over once the source answers.
#   4. A connection the destination drops again and again (a statement over
#      its max_allowed_packet) stops the consumer after a few starts over.
#   5. A ferry-verifier --once run loses the destination midway and still
#      ends "equal", having compared the chunk it was on again.
#
# After each phase the destination equals the source row by row and by
# CHECKSUM TABLE (a key-less table shows any row applied twice), the
# dead-letter topic is empty, no ferry process was restarted by anyone (same
# pids), and /status counts the start-overs. Runs alone: every test shares
# these two servers.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_server_restart
. "$FERRY_SRC/tests/harness/link.sh"

SERVERS=$FERRY_SRC/tests/harness/servers.sh
src=rsrc_$$ dst=rdst_$$
ROWS=100000

restart() { # restart mariadb1|mariadb2 DOWN_SECONDS
    "$SERVERS" restart "$FERRY_TEST_DIR" "$1" "$2" || fail "could not restart $1"
}

mysql1 -e "
CREATE DATABASE $src;
USE $src;
CREATE TABLE big (id INT PRIMARY KEY, k INT NOT NULL, v VARCHAR(64), pad CHAR(100), KEY (k));
INSERT INTO big SELECT seq, seq % 97, CONCAT('v', seq), REPEAT(CHAR(97 + seq % 26), 100)
  FROM seq_1_to_$ROWS;
CREATE TABLE nokey (a INT, b VARCHAR(20));
INSERT INTO nokey SELECT seq % 300, IF(seq % 5, 'dup', NULL) FROM seq_1_to_3000;
"
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"

project=$FERRY_TEST_TMP/restart.properties
# Small chunks, one loader and a low pacing limit: the copy keeps pace with
# the consumer, so it is still going when the destination goes down, and
# soon waits for the consumer, so the source restarts during the full load.
link_project "$project" "restart-$$" <<P
tables.include = $src.*
rename.databases = $src:$dst
fullload.chunk.rows = 2000
fullload.max.unapplied.rows = 6000
apply.snapshot.threads = 1
P
run=$(link_rundir "$project")

# ---- the write load: small transactions; those the restarts cut off fail --

stop=$FERRY_TEST_TMP/stop
workload() {
    local i=0
    while [ ! -e "$stop" ]; do
        i=$((i + 1))
        mysql1 -e "USE $src;
            UPDATE big SET v = CONCAT('u', $i), k = k + 1 WHERE id = $((1 + (i * 7919) % ROWS));
            INSERT INTO big VALUES ($((ROWS + i)), $((i % 97)), NULL, 'n');
            DELETE FROM big WHERE id = $((1 + (i * 104729) % ROWS));
            INSERT INTO nokey VALUES ($((i % 300)), 'w'), ($((i % 300)), 'w');
            DELETE FROM nokey WHERE a = $((i % 300)) AND b = 'dup' LIMIT 1;" \
            >/dev/null 2>&1 || true
        sleep 0.02
    done
}
workload &
wl=$!
ferry_cleanup_add "touch $stop; wait $wl 2>/dev/null"

status() { # status producer|consumer: the service's /status JSON
    curl -fsS --max-time 5 "$(cat "$run/$1.addr")/status"
}
pid_of() { cat "$run/$1.pid"; }

# same_now: the destination equals the source (load stopped, link caught up)
same_now() {
    link_same_rows "$src" "$dst" big 'id, k, v, pad' id
    link_same_rows "$src" "$dst" nokey 'a, IFNULL(b, "-")' 'a, b'
    link_same_checksum "$src" "$dst" big nokey
}

# check_phase NAME: stops the load, waits for the link, compares, restarts the load
check_phase() {
    touch "$stop"
    wait "$wl" || true
    link_wait "$project" caught-up 180
    link_settle 30 same_now
    [ "$(link_dlq_count "$project")" = 0 ] || fail "$1: events went to the dead-letter topic"
    for s in producer consumer; do
        [ "$(pid_of $s)" = "${pids[$s]}" ] || fail "$1: ferry-$s was restarted (pid $(pid_of $s))"
    done
    pass "$1: destination equals source ($(mysql2 -Ne "SELECT COUNT(*) FROM $dst.big") rows in big)"
    rm -f "$stop"
    workload &
    wl=$!
}

link_up "$project"
declare -A pids=([producer]=$(pid_of producer) [consumer]=$(pid_of consumer))

# ---- 1. restarts during the full load ---------------------------------------

loaded() { status consumer | jq -e '[.tables[] | select(.source | endswith(".big"))][0].rows_applied >= 2000' >/dev/null; }
wait_for loaded 120 "the consumer to load a first chunk of big"
# /status rates over the last seconds: rows copied and loaded while the copy runs
copying() {
    status producer | jq -e '[.tables[] | select(.source | endswith(".big"))][0].rows_per_s > 0' &&
        status consumer | jq -e '[.tables[] | select(.source | endswith(".big"))][0] |
            .rows_per_s > 0 and .bytes_per_s > 0'
}
wait_for copying 60 "/status to show rows copied and loaded per second"
done_before=$(status producer | jq -r '.snapshot_done')
[ "$done_before" = false ] || fail "the full load ended before the destination restart"
"$SERVERS" restart "$FERRY_TEST_DIR" mariadb2 6 >/dev/null 2>&1 &
down=$!
wait_for "! mysql2 --connect-timeout=1 -e 'SELECT 1'" 30 "the destination to go down"
# while the destination is down the copy waits for the consumer (pacing)
waiting() { status producer | jq -e '.snapshot_waiting_for_consumer' >/dev/null; }
wait_for waiting 60 "the copy to wait for the consumer"
restart mariadb1 1
wait "$down" || fail "mariadb2 did not come back"
link_wait "$project" full-done 180
[ "$(status consumer | jq '.restarts')" -ge 1 ] || fail "the consumer did not start over"
[ "$(status producer | jq '.snapshot_restarts')" -ge 1 ] ||
    fail "the producer's snapshot did not start over after the source restart"
check_phase "restarts during the full load"

# ---- 2. restarts in incremental mode ----------------------------------------

# the write load's changes per second, at both ends (and in ferryctl status)
changing() {
    status producer | jq -e '[.capture.tables[] | select(.source | endswith(".big"))][0].changes_per_s > 0' &&
        status consumer | jq -e '[.tables[] | select(.source | endswith(".big"))][0].events_per_s > 0' &&
        "$LINK_CTL" status "$project" | grep -q "changes/s"
}
wait_for changing 60 "/status and ferryctl status to show changes per second"
metric() { # metric NAME: the producer's /metrics value of NAME
    curl -fsS --max-time 5 "$(cat "$run/producer.addr")/metrics" | awk -v m="$1" '$1 == m {print $2}'
}
restarts_before=$(status consumer | jq '.restarts')
reconnects_before=$(metric ferry_producer_capture_reconnects_total)
restart mariadb2 2
sleep 3
restart mariadb1 2
sleep 3
check_phase "restarts in incremental mode"
[ "$(status consumer | jq '.restarts')" -gt "$restarts_before" ] ||
    fail "the consumer did not start over after the second destination restart"
reconnects=$(metric ferry_producer_capture_reconnects_total)
[ "${reconnects:-0}" -gt "${reconnects_before:-0}" ] ||
    fail "capture did not reconnect after the second source restart ($reconnects_before, then $reconnects)"
# ---- 3. a ferry-worker process cut off from the source ---------------------

# A separate full-load worker process finds the source gone while it has
# chunks to copy: it is paused (SIGSTOP) while the planner hands chunks out,
# and let go once the source is down. Its attempts fail, and it starts over
# once the source answers again.
wsrc=wsrc_$$ wdst=wdst_$$
mysql1 -e "CREATE DATABASE $wsrc; USE $wsrc;
CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40));
INSERT INTO t SELECT seq, CONCAT('w', seq) FROM seq_1_to_40000;"
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $wsrc'; mysql2 -e 'DROP DATABASE IF EXISTS $wdst'"
wproject=$FERRY_TEST_TMP/worker.properties
link_project "$wproject" "restartw-$$" <<P
tables.include = $wsrc.*
rename.databases = $wsrc:$wdst
fullload.in.producer = false
fullload.workers = 1
fullload.threads = 1
fullload.chunk.rows = 500
fullload.max.unapplied.rows = 4000
P
wrun=$(link_rundir "$wproject")
link_up "$wproject"
wstatus() { curl -fsS --max-time 5 "$(cat "$wrun/$1.addr")/status"; }
wloaded() { wstatus consumer | jq -e '.tables[0].rows_applied >= 1000' >/dev/null; }
wait_for wloaded 120 "the consumer to load a first chunk of $wsrc.t"
wpid=$(cat "$wrun/worker-1.pid")
kill -STOP "$wpid"
ferry_cleanup_add "kill -CONT $wpid 2>/dev/null"
sleep 2 # the planner hands chunks out up to the pacing limit meanwhile
"$SERVERS" restart "$FERRY_TEST_DIR" mariadb1 6 >/dev/null 2>&1 &
down=$!
wait_for "! mysql1 --connect-timeout=1 -e 'SELECT 1'" 30 "the source to go down"
kill -CONT "$wpid"
wait "$down" || fail "mariadb1 did not come back"
link_wait "$wproject" full-done 180
[ "$(wstatus worker-1 | jq '.restarts')" -ge 1 ] || fail "the ferry-worker did not start over"
[ "$(cat "$wrun/worker-1.pid")" = "$wpid" ] || fail "the ferry-worker was restarted by hand"
link_settle 30 link_same_rows "$wsrc" "$wdst" t 'id, v' id
link_same_checksum "$wsrc" "$wdst" t
pass "a ferry-worker cut off from the source started over; $wdst.t equals $wsrc.t"

# ---- 4. a connection the destination drops again and again ----------------

# Not every lost connection is a restart: the destination also drops the
# session of a statement over its max_allowed_packet. The consumer (one apply
# connection, so the loop's own) starts over a few times, then stops with
# status 1 and the reason instead of looping for ever.
psrc=psrc_$$ pdst=pdst_$$
mysql1 -e "CREATE DATABASE $psrc; CREATE TABLE $psrc.t (id INT PRIMARY KEY, b LONGTEXT);
INSERT INTO $psrc.t VALUES (1, 'small');"
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $psrc'; mysql2 -e 'DROP DATABASE IF EXISTS $pdst'"
old_packet=$(mysql2 -e 'SELECT @@GLOBAL.max_allowed_packet')
ferry_cleanup_add "mysql2 -e 'SET GLOBAL max_allowed_packet = $old_packet'"
pproject=$FERRY_TEST_TMP/packet.properties
link_project "$pproject" "restartp-$$" <<P
tables.include = $psrc.*
rename.databases = $psrc:$pdst
apply.threads = 1
P
prun=$(link_rundir "$pproject")
link_up "$pproject"
link_wait "$pproject" caught-up 120
# sessions take the global value when they connect: a new consumer gets 1 MB
mysql2 -e "SET GLOBAL max_allowed_packet = 1048576"
link_kill "$pproject" consumer
mysql1 -e "UPDATE $psrc.t SET b = REPEAT('x', 3000000) WHERE id = 1"
"$LINK_CTL" up "$pproject" >/dev/null || fail "ferryctl up (the consumer) failed"
ppid=$(cat "$prun/consumer.pid")
wait_for "! ferry_proc_alive $ppid" 180 "the consumer to give up on a connection dropped again and again"
grep -q 'again and again' "$prun/logs/consumer.log" ||
    fail "the consumer stopped without saying why: $(tail -n 3 "$prun/logs/consumer.log")"
pass "a statement the destination drops the connection for: the consumer started over $(grep -c 'starting over from what it holds' "$prun/logs/consumer.log") times, then stopped with the reason"
mysql2 -e "SET GLOBAL max_allowed_packet = $old_packet"

# ---- 5. a verification across a destination restart -------------------

# With the link caught up and the load stopped, a throttled ferry-verifier
# --once loses the destination midway, compares the chunk it was on again on
# new sessions, and ends "equal" (exit 0).
touch "$stop"
wait "$wl" || true
link_wait "$project" caught-up 180
link_settle 30 same_now
vproject=$FERRY_TEST_TMP/verify.properties
{ cat "$project"; echo "verify.rows.per.second = 15000"; } >"$vproject"
vrc=0
"$FERRY_BUILD/verifier/ferry-verifier" "$vproject" --once --tables "$src.big" \
    --report "$FERRY_TEST_TMP/verify.json" >"$FERRY_TEST_TMP/verify.out" 2>&1 &
vpid=$!
sleep 1
restart mariadb2 2
wait "$vpid" || vrc=$?
[ "$vrc" = 0 ] || fail "the verification ended with exit status $vrc: $(tail -n 3 "$FERRY_TEST_TMP/verify.out")"
grep -q 'comparing it again on new sessions' "$FERRY_TEST_TMP/verify.out" ||
    fail "the destination restart did not reach the verification (ended too soon?)"
[ "$(jq '.tables[0].rows_source' "$FERRY_TEST_TMP/verify.json")" = "$(mysql1 -e "SELECT COUNT(*) FROM $src.big")" ] ||
    fail "the verification did not count every row: $(jq -c '.tables[0]' "$FERRY_TEST_TMP/verify.json")"
pass "a verification that lost the destination midway compared the chunk again and reported equal"

pass "consumer started over $(status consumer | jq '.restarts') times, the snapshot $(status producer | jq '.snapshot_restarts'), capture reconnected $reconnects times"
