#!/usr/bin/env bash
# A restarted consumer tells the Kafka group the offsets it stored at the
# destination. The group hears of applied offsets at most once a second, so
# a consumer killed right after a batch leaves the group behind
# ferry_offsets. Lag tools and the full-load planner's pacing read the
# group: after a restart with nothing new to apply, the group must still
# learn where the destination is, instead of showing those changes as
# unapplied for good.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init consumer_group_offsets
. "$FERRY_SRC/tests/harness/link.sh"

PROBE=$FERRY_BUILD/tests/kafka_probe
src=cgo_$$
dst=cgo_$$_dst
name=cgo-$$
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
mysql1 -e "
CREATE DATABASE $src;
CREATE TABLE $src.t (id INT PRIMARY KEY, v VARCHAR(40));
INSERT INTO $src.t VALUES (1, 'one'), (2, 'two');
"
project=$FERRY_TEST_TMP/cgo.properties
link_project "$project" "$name" <<P
tables.include = $src.*
rename.databases = $src:$dst
topics.partitions = 1
P
link_up "$project"
link_wait "$project" caught-up 120

topic=ferry.$name.fwd.$src.t
group=ferry.$name.fwd.consumer

# stored: the next offset ferry_offsets holds for the change topic's partition
stored() {
    mysql2 -e "SELECT COALESCE(MAX(next_offset), -1) FROM ferry_meta.ferry_offsets
               WHERE link = '$name.fwd' AND topic = '$topic' AND \`partition\` = 0"
}
# in_group: the group's committed offset of that partition (-1001: none)
in_group() {
    "$PROBE" committed "$FERRY_KAFKA_BOOTSTRAP" "$group" "$topic" 1 | awk '$1 == 0 { print $2 }'
}
# applied ID: whether row ID is at the destination
applied() {
    [ "$(mysql2 -e "SELECT COUNT(*) FROM $dst.t WHERE id = $1")" = 1 ]
}

# Two rows a moment apart: the first batch's group commit starts the
# one-second timer, so the second batch's offsets wait for it, and the kill
# comes inside that wait. Tried a few times in case the machine stalls past
# the second.
id=10
behind=
for attempt in 1 2 3 4 5; do
    mysql1 -e "INSERT INTO $src.t VALUES ($id, 'a')"
    wait_for "applied $id" 30 "row $id at the destination"
    mysql1 -e "INSERT INTO $src.t VALUES ($((id + 1)), 'b')"
    for _ in $(seq 1 500); do
        applied $((id + 1)) && break
        sleep 0.02
    done
    link_kill "$project" consumer
    s=$(stored)
    g=$(in_group) || fail "could not read the group's offsets"
    killed_after=$((id + 1))
    id=$((id + 2))
    # the kill must come after the second row was applied (else a slow machine: again)
    if applied "$killed_after" && [ "$g" -lt "$s" ]; then
        behind="group at $g, ferry_offsets at $s"
        break
    fi
    echo "attempt $attempt: the group had the offsets already ($g), again" >&2
    "$LINK_CTL" up "$project" >/dev/null || fail "ferryctl up failed"
    link_wait "$project" caught-up 60
done
[ -n "$behind" ] || fail "the consumer could not be killed before its group commit in 5 attempts"
pass "consumer killed right after a batch: $behind"

# Restart with nothing new to apply: the group must reach ferry_offsets.
"$LINK_CTL" up "$project" >/dev/null || fail "ferryctl up failed"
wait_for "[ \"\$(in_group)\" = $s ]" 30 "the group's offset to reach ferry_offsets' $s"
[ "$(stored)" = "$s" ] || fail "ferry_offsets moved from $s to $(stored) with nothing to apply"
pass "restarted consumer with nothing to apply: the group learned offset $s"
