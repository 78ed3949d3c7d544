#!/usr/bin/env bash
# ferry-test: serial (compares the whole binlog with SHOW BINLOG EVENTS: other writers would interleave)
# The binlog stream reads a real MariaDB's binlog over the replication
# protocol: every event SHOW BINLOG EVENTS lists, across a rotation; resume
# at a saved position and at a GTID; clear errors for a purged position and
# a lost connection (see tests/integration/binlog_stream_check.c).
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init binlog_stream
out=$("$FERRY_BUILD/tests/binlog_stream_check" "$FERRY_MARIADB1_URL" 2>&1) || fail "$out"
echo "$out"
[ "$(grep -c '^ok:' <<<"$out")" -eq 5 ] || fail "expected 5 ok lines: $out"
pass "binlog stream"
