#!/usr/bin/env bash
# Change events travel end to end through the fixture's broker in both wire
# formats: a producer process encodes insert/update/delete events of every
# column type's edge values and frames them through the schema store; a
# second process that never saw the schema fetches it (from the schemas
# topic, or from a Schema Registry), compiles a codec and gets every value
# back exactly. kcat sees the same messages.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init events

prog=$FERRY_BUILD/tests/event_roundtrip
[ -x "$prog" ] || fail "no $prog"

# 1. Avro single-object encoding, schemas in ferry.<project>.schemas
project=ev-soe-$$
out=$("$prog" produce "$FERRY_KAFKA_BOOTSTRAP" "$project" 2>&1) || fail "produce (single-object): $out"
grep -q "value schema header 10 bytes" <<<"$out" || fail "single-object header: $out"
out=$("$prog" consume "$FERRY_KAFKA_BOOTSTRAP" "$project" 2>&1) || fail "consume (single-object): $out"
grep -q "^ok: 15 events decoded with 2 schemas fetched from the schemas topic" <<<"$out" || fail "$out"
# the magic bytes are on the wire, as any other Kafka client sees them
first=$(kcat -C -b "$FERRY_KAFKA_BOOTSTRAP" -t "ferry.$project.fwd.test.all_types" -p 0 -o beginning -c 1 -e -f '%s' 2>/dev/null | head -c 2 | od -An -tx1 | tr -d ' \n')
[ "$first" = c301 ] || fail "first message starts with '$first', expected c301"
kcat -C -b "$FERRY_KAFKA_BOOTSTRAP" -t "ferry.$project.schemas" -o beginning -e -f '%k\n' 2>/dev/null |
    grep -Eq '^[0-9a-f]{16}$' || fail "the schemas topic holds no fingerprint-keyed schema"
pass "single-object encoding: 15 events decoded by a process that fetched the schemas from Kafka"

# 2. Confluent framing with a Schema Registry (the test stand-in)
"$FERRY_BUILD/tests/fake_registry" --url-file "$FERRY_TEST_TMP/registry.url" >"$FERRY_TEST_TMP/registry.log" 2>&1 &
ferry_cleanup_add "kill $! 2>/dev/null"
wait_for "test -s $FERRY_TEST_TMP/registry.url" 20 "the stand-in schema registry"
url=$(cat "$FERRY_TEST_TMP/registry.url")
project=ev-conf-$$
out=$("$prog" produce "$FERRY_KAFKA_BOOTSTRAP" "$project" "$url" 2>&1) || fail "produce (Confluent): $out"
grep -q "value schema header 5 bytes" <<<"$out" || fail "Confluent header: $out"
out=$("$prog" consume "$FERRY_KAFKA_BOOTSTRAP" "$project" "$url" 2>&1) || fail "consume (Confluent): $out"
grep -q "^ok: 15 events decoded with 2 schemas fetched from the schema registry" <<<"$out" || fail "$out"
first=$(kcat -C -b "$FERRY_KAFKA_BOOTSTRAP" -t "ferry.$project.fwd.test.all_types" -p 0 -o beginning -c 1 -e -f '%s' 2>/dev/null | head -c 1 | od -An -tx1 | tr -d ' \n')
[ "$first" = 00 ] || fail "first message starts with '$first', expected 00"
pass "Confluent framing: 15 events decoded by a process that fetched the schemas from the registry"
