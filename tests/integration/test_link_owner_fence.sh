#!/usr/bin/env bash
# A consumer that lost the connection holding its table locks cannot get a
# batch past the consumer that takes its tables over.
#
# Consumer A applies the only table (key-less, so a batch applied twice
# shows) and reaches the destination through sqlproxy; consumer B of the
# same link waits for a table to take. A session at the destination locks
# the table, so A's next batch waits there after its transaction started.
# Then sqlproxy drops A's loop connection (the one running the ownership
# queries): the server frees A's table lock and B takes the table while A's
# batch is still open. Taking the table raises its ownership epoch in
# ferry_offsets, which A's batch reads right before its COMMIT: A's batch is
# refused, and B applies the changes once (before: B read where the table
# stood at once, and once the held table was let go both batches went in,
# every row twice).
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_owner_fence
. "$FERRY_SRC/tests/harness/link.sh"

src=lof_$$
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $src'"
mysql1 -e "
CREATE DATABASE $src;
USE $src;
CREATE TABLE nk (a INT NOT NULL, b VARCHAR(20));
INSERT INTO nk SELECT seq, 'first' FROM seq_1_to_500;
"

# A: ferryctl up, through sqlproxy
pa=$FERRY_TEST_TMP/a.properties
link_project_via_sqlproxy "$pa" "lof-$$" <<P
tables.include = $src.*
P
link_up "$pa"
link_wait "$pa" caught-up 120
alog=$(link_rundir "$pa")/logs/consumer.log

# B: the same link straight to the destination, its own runtime directory
pb=$FERRY_TEST_TMP/b.properties
sed -e "s|^destination\.url = .*|destination.url = $FERRY_MARIADB2_URL|" \
    -e "s|^runtime\.dir = .*|runtime.dir = $FERRY_TEST_TMP/b|" "$pa" >"$pb"
blog=$FERRY_TEST_TMP/b.log
"$FERRY_BUILD/consumer/ferry-consumer" "$pb" >"$blog" 2>&1 &
cb=$!
ferry_cleanup_add "kill $cb 2>/dev/null; sleep 1; kill -9 $cb 2>/dev/null"
wait_for "grep -q 'consumers of the link.*members=2' '$alog'" 30 "A to see B join the link"
! grep -q '"table taken"' "$blog" || fail "B took a table A owns"

# a session holds the destination table: A's next batch waits on it
mysql2 -e "SET SESSION innodb_lock_wait_timeout = 60; START TRANSACTION;
           SELECT COUNT(*) FROM $src.nk FOR UPDATE; DO SLEEP(600); ROLLBACK" >/dev/null &
holder=$!
waiting() { mysql2 -e "SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state = 'LOCK WAIT'"; }
wait_for "[ \"\$(mysql2 -e \"SELECT COUNT(*) FROM information_schema.INNODB_TRX
           WHERE trx_query LIKE 'DO SLEEP(600)%'\")\" -ge 1 ]" 10 "the session to hold the table"
mysql1 "$src" -e "INSERT INTO $src.nk SELECT seq, 'second' FROM seq_501_to_700"
wait_for "[ \"\$(waiting)\" -ge 1 ]" 30 "A's batch to wait on the held table"

# A loses the connection that holds its table lock; B takes the table
link_sqlproxy_arm "drop:IS_USED_LOCK"
wait_for "[ \$(link_sqlproxy_cuts) -ge 1 ]" 30 "sqlproxy to drop A's ownership connection"
# B has taken the table: its own batch waits on the held table too
wait_for "[ \"\$(waiting)\" -ge 2 ]" 30 "B to take the table while A's batch is open"
sleep 1
id=$(mysql2 -e "SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX
               WHERE trx_query LIKE 'DO SLEEP(600)%'")
mysql2 -e "KILL QUERY $id" || fail "could not end the session holding the table"
wait "$holder" || true

# a later change applied by B: everything before it is settled
mysql1 -e "INSERT INTO $src.nk VALUES (9999, 'marker')"
wait_for "[ -n \"\$(mysql2 -e 'SELECT 1 FROM $src.nk WHERE a = 9999')\" ]" 60 \
    "B to apply a later change: $(tail -n 3 "$blog")"
grep -q '"table taken"' "$blog" || fail "B never took the table"
link_same_rows "$src" "$src" nk "a, b" "a, b"
pass "B took the table only after A's open batch settled: every row once"
