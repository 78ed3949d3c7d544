#!/usr/bin/env bash
# Incremental capture (libferry/capture.h) against the fixture's MariaDB and
# broker: every row change of the selected tables arrives once, in binlog
# order, with its key and images; excluded tables and dropped columns never
# reach Kafka; an ALTER lands on the ddl topic between the right changes;
# the offsets topic ends at capture's last position; a restart resumes from
# the checkpoint, a killed binlog session is reconnected, a purged position
# and a row filter outside ferry's grammar are clear errors (see tests/integration/capture_check.c).
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init capture
prog=$FERRY_BUILD/tests/capture_check
[ -x "$prog" ] || fail "no $prog"
out=$("$prog" "$FERRY_MARIADB1_URL" "$FERRY_MARIADB2_URL" "$FERRY_KAFKA_BOOTSTRAP" 2>"$FERRY_TEST_TMP/capture.log") ||
    fail "$out
$(tail -n 40 "$FERRY_TEST_TMP/capture.log")"
echo "$out"
[ "$(grep -c '^ok:' <<<"$out")" -eq 7 ] || fail "expected 7 ok lines: $out"
pass "capture"

# Broker errors inside capture's Kafka transactions (a private ferry-devkafka
# with injected Produce errors): capture aborts, replays from its checkpoint,
# and every change is still there once after dropping duplicates by position.
start_devkafka "$FERRY_TEST_TMP/kafka"
out=$("$prog" faults "$FERRY_MARIADB1_URL" "$FERRY_MARIADB2_URL" "$DEVKAFKA_BOOTSTRAP" "$DEVKAFKA_CONTROL" \
    2>"$FERRY_TEST_TMP/faults.log") ||
    fail "$out
$(tail -n 40 "$FERRY_TEST_TMP/faults.log")"
echo "$out"
[ "$(grep -c '^ok:' <<<"$out")" -eq 5 ] || fail "expected 5 ok lines: $out"
pass "capture through broker errors"
