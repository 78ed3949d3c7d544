#!/usr/bin/env bash
# test_devkafka.sh - ferry-devkafka as other processes see it: kcat and the
# kafka.h wrappers (kafka_probe) talk to it over the Kafka protocol, faults
# are injected through its HTTP control endpoint, and SIGTERM stops it with
# exit status 0. Starts its own instance on free ports under a temp dir.
set -u

: "${FERRY_BUILD:?FERRY_BUILD must name the build directory}"
DEVKAFKA=$FERRY_BUILD/tools/ferry-devkafka
PROBE=$FERRY_BUILD/tests/kafka_probe
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ferry-devkafka-test.XXXXXX")
DK_PID=

cleanup() {
    if [ -n "$DK_PID" ] && kill -0 "$DK_PID" 2>/dev/null; then
        kill -KILL "$DK_PID" 2>/dev/null
        wait "$DK_PID" 2>/dev/null
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    if [ -f "$TMP/devkafka.err" ]; then
        echo "--- ferry-devkafka stderr (last 20 lines) ---" >&2
        tail -n 20 "$TMP/devkafka.err" >&2
    fi
    exit 1
}

step() { echo "== $*"; }

for tool in kcat curl; do
    command -v "$tool" >/dev/null || fail "$tool is not installed"
done
[ -x "$DEVKAFKA" ] || fail "no ferry-devkafka at $DEVKAFKA (build it first)"
[ -x "$PROBE" ] || fail "no kafka_probe at $PROBE (build it first)"

step "--help states the mock's limits"
"$DEVKAFKA" --help >"$TMP/help" || fail "--help exited non-zero"
grep -q "5 MB" "$TMP/help" || fail "--help does not mention the 5 MB per-partition limit"
grep -qi "real Kafka" "$TMP/help" || fail "--help does not say when a real Kafka is needed"
"$DEVKAFKA" --version | grep -q "ferry-devkafka" || fail "--version printed nothing useful"
if "$DEVKAFKA" --brokers 0 2>/dev/null; then fail "--brokers 0 was accepted"; fi

step "start ferry-devkafka"
"$DEVKAFKA" --brokers 1 --partitions 6 --bootstrap-file "$TMP/bootstrap" \
    --control-file "$TMP/control" >"$TMP/devkafka.out" 2>"$TMP/devkafka.err" &
DK_PID=$!
for _ in $(seq 1 100); do
    [ -s "$TMP/control" ] && break
    kill -0 "$DK_PID" 2>/dev/null || fail "ferry-devkafka exited at start"
    sleep 0.1
done
[ -s "$TMP/control" ] || fail "ferry-devkafka wrote no control file within 10 s"
BS=$(cat "$TMP/bootstrap")
CTL=$(cat "$TMP/control")
grep -qx "bootstrap=$BS" "$TMP/devkafka.out" || fail "stdout lacks bootstrap=$BS"
grep -qx "control=$CTL" "$TMP/devkafka.out" || fail "stdout lacks control=$CTL"
echo "bootstrap=$BS control=$CTL"

# POSTs to the control endpoint; prints the HTTP status, then the body.
ctl() { curl -s -o "$TMP/ctl.body" -w '%{http_code}' -X POST "$CTL$1"; }

step "kcat round trip with keys"
printf 'k1:first\nk2:second\nk3:third\n' |
    timeout 30 kcat -P -b "$BS" -t demo.keys -K: || fail "kcat could not produce"
timeout 30 kcat -C -q -b "$BS" -t demo.keys -K: -e -o beginning -f '%k=%s\n' |
    sort >"$TMP/consumed" || fail "kcat could not consume"
printf 'k1=first\nk2=second\nk3=third\n' | diff -u - "$TMP/consumed" ||
    fail "messages did not round trip"

step "auto-created topics get --partitions partitions"
timeout 30 kcat -L -b "$BS" -t demo.keys >"$TMP/meta" || fail "kcat -L failed"
grep -q 'topic "demo.keys" with 6 partitions' "$TMP/meta" ||
    fail "demo.keys does not have 6 partitions: $(cat "$TMP/meta")"

step "group consumer through the coordinator"
timeout 60 kcat -b "$BS" -G ferry-test-group -q -e -X auto.offset.reset=earliest \
    -f '%k=%s\n' demo.keys | sort >"$TMP/group" || fail "kcat group consumer failed"
diff -u "$TMP/consumed" "$TMP/group" || fail "group consumer read something else"

step "admin CreateTopics through kafka.h"
out=$("$PROBE" create "$BS" demo.created 3 2>&1) || fail "create failed: $out"
[ "$out" = "partitions=3" ] || fail "created topic reports '$out', wanted partitions=3"
out=$("$PROBE" create "$BS" demo.created 3 2>&1) || fail "create of an existing topic failed: $out"

step "control: create a topic"
[ "$(ctl '/topics/demo.ctl?partitions=5')" = 200 ] || fail "POST /topics: $(cat "$TMP/ctl.body")"
[ "$(ctl '/topics/demo.ctl?partitions=5')" = 409 ] || fail "a second create was not refused"
[ "$(ctl '/topics/bad%20name')" = 400 ] || fail "a bad topic name was accepted"
timeout 30 kcat -L -b "$BS" -t demo.ctl | grep -q 'topic "demo.ctl" with 5 partitions' ||
    fail "demo.ctl does not have 5 partitions"

step "control: injected Produce errors reach the client"
"$PROBE" produce "$BS" demo.errors 3 || fail "produce before the fault failed"
[ "$(ctl '/errors?api=Produce&code=TOPIC_AUTHORIZATION_FAILED&count=1')" = 200 ] ||
    fail "POST /errors: $(cat "$TMP/ctl.body")"
if "$PROBE" produce "$BS" demo.errors 1 2>"$TMP/probe.err"; then
    fail "the injected Produce error was not seen by the producer"
fi
grep -q 'could not deliver to "demo.errors"' "$TMP/probe.err" ||
    fail "unexpected producer error: $(cat "$TMP/probe.err")"
"$PROBE" produce "$BS" demo.errors 3 || fail "produce after the fault was used up failed"
[ "$(ctl '/errors?api=NoSuchApi&code=1')" = 400 ] || fail "a bad api was accepted"
[ "$(ctl '/errors?api=Fetch&code=NO_SUCH_ERROR')" = 400 ] || fail "a bad error code was accepted"

step "control: broker down and up"
[ "$(ctl '/brokers/1/rtt?ms=5')" = 200 ] || fail "POST rtt: $(cat "$TMP/ctl.body")"
[ "$(ctl '/brokers/1/rtt?ms=x')" = 400 ] || fail "a bad rtt was accepted"
[ "$(ctl '/brokers/9/down')" = 400 ] || fail "an unknown broker was accepted"
[ "$(ctl '/brokers/1/down')" = 200 ] || fail "POST down: $(cat "$TMP/ctl.body")"
if "$PROBE" probe "$BS" 1500 2>"$TMP/probe.err"; then
    fail "the probe reached a cluster whose only broker is down"
fi
grep -q "could not reach Kafka at \"$BS\"" "$TMP/probe.err" ||
    fail "unexpected probe error: $(cat "$TMP/probe.err")"
[ "$(ctl '/brokers/1/up')" = 200 ] || fail "POST up: $(cat "$TMP/ctl.body")"
"$PROBE" probe "$BS" 10000 || fail "the probe failed after the broker came back"

step "status lists brokers and topics"
curl -sf "$CTL/status" >"$TMP/status" || fail "GET /status failed"
grep -q "broker id=1 state=up" "$TMP/status" || fail "status: $(cat "$TMP/status")"
grep -q "topic name=demo.ctl partitions=5" "$TMP/status" || fail "status: $(cat "$TMP/status")"

# librdkafka 2.0.2's mock thread loses wake-ups: now and then a call into it
# waits out its 1 s poll. The proxy used to make one such call per topic of
# every Metadata request, and under many clients naming new topics it stalled
# for minutes, accepting no one (a test_link_crash failure); before the fix
# this load stopped the proxy within 22-31 s in each of 4 runs.
step "many producers naming new topics: the proxy keeps answering"
SPREAD_S=${FERRY_DEVKAFKA_SPREAD_S:-40}
"$PROBE" spread "$BS" 15 30 spread-a "$SPREAD_S" 2>"$TMP/spread-a.err" &
SPREAD_A=$!
"$PROBE" spread "$BS" 15 30 spread-b "$SPREAD_S" 2>"$TMP/spread-b.err" &
SPREAD_B=$!
misses=0
while kill -0 "$SPREAD_A" 2>/dev/null || kill -0 "$SPREAD_B" 2>/dev/null; do
    sleep 2
    if timeout 6 kcat -b "$BS" -L -m 5 >/dev/null 2>&1; then
        misses=0
    else
        misses=$((misses + 1))
        echo "   metadata probe $misses failed"
    fi
    if [ "$misses" -ge 3 ]; then
        kill -KILL "$SPREAD_A" "$SPREAD_B" 2>/dev/null
        fail "the proxy stopped answering metadata requests under $((2 * 15)) producers"
    fi
done
wait "$SPREAD_A" || fail "kafka_probe spread failed: $(tail -n 3 "$TMP/spread-a.err")"
wait "$SPREAD_B" || fail "kafka_probe spread failed: $(tail -n 3 "$TMP/spread-b.err")"
timeout 10 kcat -b "$BS" -L -t spread-a29 | grep -q "topic \"spread-a29\" with 6 partitions" ||
    fail "spread-a29 was not created with --partitions 6"

step "SIGTERM stops it cleanly"
kill -TERM "$DK_PID"
wait "$DK_PID"
status=$?
DK_PID=
[ "$status" = 0 ] || fail "ferry-devkafka exited with status $status after SIGTERM"
if grep -q "ERROR: \(AddressSanitizer\|LeakSanitizer\)" "$TMP/devkafka.err"; then
    fail "sanitizer report in ferry-devkafka's stderr"
fi

echo "PASS: test_devkafka"
