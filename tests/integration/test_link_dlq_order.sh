#!/usr/bin/env bash
# A rejected event reaches the dead-letter topic before the offsets that skip
# it are stored.
#
# The destination rejects one change (a CHECK constraint the source lacks)
# while the dead-letter topic cannot be written (ferry-devkafka fails every
# produce request). The consumer must not commit the batch that leaves the
# event out: it rolls back, retries, and stops with an error naming the
# dead-letter topic, its stored offsets still before the event. Once the
# broker takes records again, a restarted consumer sends the event to the
# dead-letter topic and applies the rest. (When the dead letter was sent
# after the commit, the failed send was only logged and the event was gone
# from both the destination and the dead-letter topic.)
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_dlq_order
. "$FERRY_SRC/tests/harness/link.sh"

start_devkafka "$FERRY_TEST_TMP/devkafka"

src=ldo_$$
dst=ldo_$$_dst
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
mysql1 -e "
CREATE DATABASE $src;
CREATE TABLE $src.t (id INT PRIMARY KEY, n INT NOT NULL);
INSERT INTO $src.t VALUES (1, 1), (2, 2);
"
project=$FERRY_TEST_TMP/ldo.properties
link_project "$project" "ldo-$$" "$DEVKAFKA_BOOTSTRAP" <<P
tables.include = $src.*
rename.databases = $src:$dst
P
link_up "$project"
link_wait "$project" caught-up 120
mysql2 -e "ALTER TABLE $dst.t ADD CONSTRAINT small CHECK (n < 1000)" ||
    fail "could not add the CHECK constraint at the destination"

# the rejected change and one after it, captured while no consumer runs
link_kill "$project" consumer
topic=ferry.ldo-$$.fwd.$src.t
ends() { timeout 30 kcat -C -q -b "$DEVKAFKA_BOOTSTRAP" -t "$topic" -e -o beginning -f 'x\n' | wc -l; }
before=$(ends)
mysql1 -e "INSERT INTO $src.t VALUES (3, 5000); INSERT INTO $src.t VALUES (4, 4);"
wait_for "[ \"\$(ends)\" -ge $((before + 2)) ]" 30 "capture to publish the changes"
link_kill "$project" producer

# no produce request succeeds now; only the consumer runs
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST \
    "$DEVKAFKA_CONTROL/errors?api=Produce&code=TOPIC_AUTHORIZATION_FAILED&count=100000")
[ "$code" = 200 ] || fail "ferry-devkafka control /errors answered $code"
log=$FERRY_TEST_TMP/consumer-alone.log
"$FERRY_BUILD/consumer/ferry-consumer" "$project" >"$log" 2>&1 &
pid=$!
ferry_cleanup_add "kill -9 $pid 2>/dev/null"
wait_for "! ferry_proc_alive $pid" 60 "the consumer to stop on the unwritable dead-letter topic"
grep -q 'batch rolled back: could not .*dead-letter\|could not .* "ferry.ldo-[0-9]*.fwd.dlq"' "$log" ||
    fail "the consumer stopped without naming the dead-letter topic: $(tail -n 5 "$log")"
grep -q '"link stopped".*dlq' "$log" || fail "the consumer did not stop on the dead-letter topic: $(tail -n 5 "$log")"

# the broker takes records again
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$DEVKAFKA_CONTROL/errors/clear?api=Produce")
[ "$code" = 200 ] || fail "ferry-devkafka control /errors/clear answered $code"
"$LINK_CTL" up "$project" >/dev/null || fail "ferryctl up failed"
link_wait "$project" caught-up 120
link_settle 10 test "$(mysql2 -e "SELECT n FROM $dst.t WHERE id = 4")" = 4 ||
    fail "the change after the rejected one was not applied"
[ -z "$(mysql2 -e "SELECT id FROM $dst.t WHERE id = 3")" ] || fail "the rejected row is at the destination"
n=$(link_dlq_count "$project" "$DEVKAFKA_BOOTSTRAP")
[ "$n" -ge 1 ] || fail "the rejected event is not in the dead-letter topic"
pass "a rejected event waited for the dead-letter topic before its batch committed ($n dead letter(s))"
