#!/usr/bin/env bash
# Every service binary starts from a project file against the real servers of
# the fixture, answers /healthz, /readyz, /metrics and /status, is seen by
# `ferryctl status`, stops with exit 0 on SIGTERM, and refuses to start with
# a one-line error naming the problem for: a missing file, an unknown key, a
# bad value, unreachable Kafka, an unreachable database and a wrong password.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init services

BIN=$FERRY_BUILD
SERVICES=(producer consumer verifier)
RUNTIME=$FERRY_TEST_TMP/run
# the project selects only a database of its own, so other tests' tables
# (and their copies at the destination) do not meet its prechecks
DB=svc_$$
mysql1 -e "CREATE DATABASE $DB; CREATE TABLE $DB.t (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO $DB.t VALUES (1, 'a')"
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $DB'; mysql2 -e 'DROP DATABASE IF EXISTS $DB'"

# write_project FILE [extra key=value lines...]
write_project() {
    local file=$1
    shift
    {
        echo "# written by test_services.sh"
        echo "project.name = svc-test-$$"
        echo "source.url = $FERRY_MARIADB1_URL"
        echo "destination.url = $FERRY_MARIADB2_URL"
        echo "kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP"
        echo "runtime.dir = $RUNTIME"
        echo "connect.timeout.ms = 3000"
        echo "tables.include = $DB.*"
        local line
        for line in "$@"; do echo "$line"; done
    } >"$file"
}

# A project file whose key is replaced: the base without KEY, plus KEY = VALUE.
write_project_with() {
    local file=$1 key=$2 value=$3
    write_project "$file.base"
    grep -v "^$key = " "$file.base" >"$file"
    echo "$key = $value" >>"$file"
    rm -f "$file.base"
}

# exactly one line on stderr, and nothing that looks like a password
assert_one_line() {
    local n
    n=$(printf '%s\n' "$FERRY_LAST_STDERR" | wc -l)
    [ "$n" -eq 1 ] || fail "expected a one-line error, got $n lines: $FERRY_LAST_STDERR"
    if grep -q "ferry:ferry@\|wrongpass" <<<"$FERRY_LAST_STDERR"; then
        fail "error shows a password: $FERRY_LAST_STDERR"
    fi
}

# --- refusals, for each service --------------------------------------------
for svc in "${SERVICES[@]}"; do
    exe=$BIN/$svc/ferry-$svc
    [ -x "$exe" ] || fail "no binary at $exe"

    "$exe" --version | grep -q "^ferry-$svc " || fail "ferry-$svc --version"
    "$exe" --help | grep -q "usage: ferry-$svc" || fail "ferry-$svc --help"

    expect_fail_with "^ferry-$svc: .*/nope.properties: could not open project file: No such file" \
        "$exe" "$FERRY_TEST_TMP/nope.properties"
    assert_one_line

    f=$FERRY_TEST_TMP/unknown.properties
    write_project "$f" "bogus.key = 1"
    expect_fail_with "^ferry-$svc: .*unknown.properties:9: unknown key \"bogus.key\"$" "$exe" "$f"
    assert_one_line

    f=$FERRY_TEST_TMP/badvalue.properties
    write_project "$f" "http.port = 99999"
    expect_fail_with "^ferry-$svc: .*badvalue.properties:9: invalid value for \"http.port\"" \
        "$exe" "$f"
    assert_one_line

    # nothing listens on port 1
    f=$FERRY_TEST_TMP/nokafka.properties
    write_project_with "$f" kafka.bootstrap.servers 127.0.0.1:1
    expect_fail_with "^ferry-$svc: could not reach Kafka at \"127.0.0.1:1\"" "$exe" "$f"
    assert_one_line
done

# an unreachable database, and a wrong password, named by role
down_port=$(free_port)
for pair in producer:source consumer:destination verifier:source; do
    svc=${pair%%:*} role=${pair#*:}
    exe=$BIN/$svc/ferry-$svc
    f=$FERRY_TEST_TMP/nodb-$svc.properties
    write_project_with "$f" "$role.url" "mysql://ferry:ferry@127.0.0.1:$down_port"
    expect_fail_with "^ferry-$svc: could not connect to $role \"mysql://ferry:\*\*\*@127.0.0.1:$down_port\": .*" \
        "$exe" "$f"
    assert_one_line

    f=$FERRY_TEST_TMP/badpw-$svc.properties
    write_project_with "$f" "$role.url" "mysql://ferry:wrongpass@127.0.0.1:$FERRY_MARIADB1_PORT"
    expect_fail_with "^ferry-$svc: could not connect to $role .*Access denied for user 'ferry'" \
        "$exe" "$f"
    assert_one_line
done

# PostgreSQL: wrong password and a working connection through the verifier
f=$FERRY_TEST_TMP/badpw-pg.properties
write_project_with "$f" source.url "postgresql://ferry:wrongpass@127.0.0.1:$FERRY_PG_PORT/ferry"
expect_fail_with "^ferry-verifier: could not connect to source .*password authentication failed" \
    "$BIN/verifier/ferry-verifier" "$f"
assert_one_line
pass "refusals: missing file, unknown key, bad value, no Kafka, no database, wrong password"

# --- a running project -----------------------------------------------------
good=$FERRY_TEST_TMP/good.properties
write_project "$good"
# the verifier of this project reads PostgreSQL as its source, proving libpq works too
pids=()
for svc in "${SERVICES[@]}"; do
    conf=$good
    if [ "$svc" = verifier ]; then
        conf=$FERRY_TEST_TMP/good-verifier.properties
        write_project_with "$conf" source.url "$FERRY_PG_URL"
    fi
    "$BIN/$svc/ferry-$svc" "$conf" >"$FERRY_TEST_TMP/$svc.log" 2>&1 &
    pids+=($!)
    ferry_cleanup_add "kill -9 $! 2>/dev/null"
done

for svc in "${SERVICES[@]}"; do
    wait_for "test -s $RUNTIME/$svc.addr" 60 "ferry-$svc to write its address file"
    url=$(cat "$RUNTIME/$svc.addr")
    wait_http "$url/healthz" 30
    [ "$(curl -fsS "$url/healthz")" = ok ] || fail "$svc /healthz"
    curl -fsS "$url/readyz" | grep -q ready || fail "$svc /readyz is not ready: $(curl -sS "$url/readyz")"
    metrics=$(curl -fsS -D "$FERRY_TEST_TMP/h" "$url/metrics")
    grep -qi '^content-type: text/plain; version=0.0.4' "$FERRY_TEST_TMP/h" || fail "$svc /metrics content type"
    grep -q "^ferry_${svc}_ready 1$" <<<"$metrics" || fail "$svc /metrics lacks ferry_${svc}_ready 1: $metrics"
    grep -q "^# TYPE ferry_${svc}_ready gauge$" <<<"$metrics" || fail "$svc /metrics TYPE line"
    status=$(curl -fsS "$url/status")
    grep -q "\"service\":\"$svc\"" <<<"$status" || fail "$svc /status: $status"
    if grep -q "ferry:ferry@" <<<"$status"; then fail "$svc /status shows a password: $status"; fi
done
grep -q '"topics_ready":true' <<<"$(curl -fsS "$(cat "$RUNTIME/producer.addr")/status")" ||
    wait_for "curl -fsS $(cat "$RUNTIME/producer.addr")/status | grep -q '\"topics_ready\":true'" 30 \
        "the producer to create its topics"
# the producer created the link's topics on the broker
kcat -L -b "$FERRY_KAFKA_BOOTSTRAP" -t "ferry.svc-test-$$.fwd.offsets" -m 5 2>/dev/null |
    grep -q 'topic "ferry.svc-test-'"$$"'.fwd.offsets" with 1 partitions' ||
    fail "topic ferry.svc-test-$$.fwd.offsets missing: $(kcat -L -b "$FERRY_KAFKA_BOOTSTRAP" 2>&1 | head -20)"

out=$("$BIN/tools/ferryctl" status "$good") || fail "ferryctl status failed: $out"
for svc in "${SERVICES[@]}"; do
    grep -Eq "^  $svc +ready " <<<"$out" || fail "ferryctl status does not show $svc ready: $out"
done
"$BIN/tools/ferryctl" status --json "$good" | grep -q '"service": "consumer"' || fail "ferryctl status --json"
pass "three services running, healthy and ready; ferryctl status sees them"

# not ready when the destination goes away is covered by the watcher; here:
# graceful stop on SIGTERM with exit 0 and the address file removed
for i in "${!SERVICES[@]}"; do
    svc=${SERVICES[$i]} pid=${pids[$i]}
    kill -TERM "$pid"
    rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || fail "ferry-$svc exited $rc after SIGTERM: $(tail -5 "$FERRY_TEST_TMP/$svc.log")"
    [ ! -e "$RUNTIME/$svc.addr" ] || fail "ferry-$svc left its address file behind"
    grep -q 'msg="stopped"' "$FERRY_TEST_TMP/$svc.log" || fail "ferry-$svc did not log its stop"
done
if "$BIN/tools/ferryctl" status "$good" >"$FERRY_TEST_TMP/st" 2>&1; then
    fail "ferryctl status succeeded with every service stopped"
fi
grep -q "not running" "$FERRY_TEST_TMP/st" || fail "ferryctl status: $(cat "$FERRY_TEST_TMP/st")"
pass "SIGTERM stops every service with exit 0"

# --- /readyz follows its dependencies --------------------------------------
# A verifier on a private broker turns not-ready, with the reason, once that
# broker is gone, while /healthz (the process is alive) stays ok.
start_devkafka "$FERRY_TEST_TMP/kafka2"
ready_conf=$FERRY_TEST_TMP/ready.properties
write_project_with "$ready_conf" kafka.bootstrap.servers "$DEVKAFKA_BOOTSTRAP"
sed -i "s|^runtime.dir = .*|runtime.dir = $FERRY_TEST_TMP/run2|" "$ready_conf"
"$BIN/verifier/ferry-verifier" "$ready_conf" >"$FERRY_TEST_TMP/verifier2.log" 2>&1 &
vpid=$!
ferry_cleanup_add "kill -9 $vpid 2>/dev/null"
wait_for "test -s $FERRY_TEST_TMP/run2/verifier.addr" 60 "the second verifier to start"
url=$(cat "$FERRY_TEST_TMP/run2/verifier.addr")
curl -fsS "$url/readyz" | grep -q ready || fail "verifier not ready with its broker up"
ferry_stop_pid "$DEVKAFKA_PID" TERM 10
# the watcher probes every 5 s with connect.timeout.ms = 3000
wait_for "[ \$(curl -s -o /dev/null -w '%{http_code}' $url/readyz) = 503 ]" 30 "/readyz to turn 503"
curl -s "$url/readyz" | grep -q "could not reach Kafka at \"$DEVKAFKA_BOOTSTRAP\"" ||
    fail "/readyz reason: $(curl -s "$url/readyz")"
[ "$(curl -fsS "$url/healthz")" = ok ] || fail "/healthz while Kafka is down"
curl -fsS "$url/metrics" | grep -q '^ferry_verifier_ready 0$' || fail "ferry_verifier_ready should be 0"
kill -TERM "$vpid"
rc=0
wait "$vpid" || rc=$?
[ "$rc" -eq 0 ] || fail "the verifier exited $rc on SIGTERM while Kafka was down"
pass "/readyz turns 503 naming Kafka when the broker goes away; /healthz stays ok"
