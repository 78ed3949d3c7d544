#!/usr/bin/env bash
# ferryctl's checks and up / wait / down when something is wrong, with the
# real binaries:
#  - check names every kafka.* key librdkafka refuses (with and without
#    --connect); up refuses, before starting anything, a fixed HTTP port two
#    services would share, and check warns of it (fine in containers);
#  - up on a project the producer refuses (destination already holds rows,
#    wrong source password) exits 1 and leaves nothing running, showing only
#    this start's log lines; wait then ends at once with the producer's reason
#    instead of waiting out its timeout;
#  - a service that fails after others started (the verifier's fixed port is
#    taken) makes up stop the ones it started;
#  - down with nothing running says so; --help after a command; --until
#    names its values.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init ctl_lifecycle
. "$FERRY_SRC/tests/harness/link.sh"

ctl=$LINK_CTL
src=ctl_$$
dst=ctl_$$_dst
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
mysql1 -e "CREATE DATABASE $src; CREATE TABLE $src.t (id INT PRIMARY KEY, v INT);
  INSERT INTO $src.t VALUES (1, 1), (2, 2)"
settings="tables.include = $src.*
rename.databases = $src:$dst
connect.timeout.ms = 3000"

# no_process_of PROJECT SERVICE...: fails if a service still runs
no_process_of() {
    local project=$1 svc pid dir
    shift
    dir=$(link_rundir "$project")
    for svc in "$@"; do
        pid=$(cat "$dir/$svc.pid" 2>/dev/null) || continue
        if ferry_proc_alive "$pid" && grep -q "ferry-" "/proc/$pid/cmdline" 2>/dev/null; then
            fail "ferry-$svc (pid $pid) still runs"
        fi
    done
}

# --- check: every bad kafka.* key, and shared fixed ports ---------------------
project=$FERRY_TEST_TMP/kafka.properties
link_project "$project" "ctl-k-$$" <<<"$settings
kafka.no.such.prop = 1
kafka.linger.ms = abc"
for connect in "" --connect; do
    # shellcheck disable=SC2086
    expect_fail_with "kafka\.no\.such\.prop: No such configuration property" "$ctl" check $connect "$project"
    grep -q "kafka\.linger\.ms: Invalid value" <<<"$FERRY_LAST_STDERR" ||
        fail "check $connect does not name kafka.linger.ms: $FERRY_LAST_STDERR"
    grep -q "2 problems found" <<<"$FERRY_LAST_STDERR" || fail "check $connect: $FERRY_LAST_STDERR"
done
pass "ferryctl check names each kafka.* key librdkafka refuses, with or without --connect"

port=$(free_port)
project=$FERRY_TEST_TMP/port.properties
link_project "$project" "ctl-p-$$" <<<"$settings
http.port = $port"
# check: a warning (services in containers of their own may share a port);
# up: refused before anything starts
"$ctl" check "$project" >/dev/null 2>"$FERRY_TEST_TMP/check.err" || fail "check: $(cat "$FERRY_TEST_TMP/check.err")"
grep -q "warning: ferryctl up would refuse this: ferry-producer (http.port), ferry-consumer (http.port), ferry-verifier (http.port) would all listen on port $port" \
    "$FERRY_TEST_TMP/check.err" || fail "check does not warn of the shared port: $(cat "$FERRY_TEST_TMP/check.err")"
[ "$(grep -c "would" "$FERRY_TEST_TMP/check.err")" -eq 1 ] || fail "one line per port: $(cat "$FERRY_TEST_TMP/check.err")"
expect_fail_with "^ferryctl up: ferry-producer \(http\.port\), .* would all listen on port $port" "$ctl" up "$project"
[ ! -e "$(link_rundir "$project")/producer.pid" ] || fail "up started something on clashing ports"
# the producer moved away; consumer-2 would take the producer's port
link_project "$project" "ctl-p-$$" <<<"$settings
http.port = $port
producer.http.port = $((port + 1))
consumer.instances = 2"
expect_fail_with "ferry-producer \(producer\.http\.port\), ferry-consumer-2 \(http\.port \+ 1\) would both listen on port $((port + 1))" \
    "$ctl" up "$project"
grep -q "ferry-consumer-1 (http.port), ferry-verifier (http.port) would both listen on port $port" \
    <<<"$FERRY_LAST_STDERR" || fail "up misses consumer-1 and the verifier: $FERRY_LAST_STDERR"
link_project "$project" "ctl-p-$$" <<<"$settings
http.port = $port
consumer.http.port = $((port + 1))
verifier.http.port = 0"
out=$("$ctl" check "$project" 2>&1) || fail "check refused distinct ports: $out"
if grep -q warning <<<"$out"; then fail "check warns of distinct ports: $out"; fi
pass "ferryctl up refuses (and check warns of) a fixed HTTP port two services would share, naming the keys"

# --- up on a project the producer refuses -------------------------------------
mysql2 -e "CREATE DATABASE $dst; CREATE TABLE $dst.t (id INT PRIMARY KEY, v INT); INSERT INTO $dst.t VALUES (7, 7)"
project=$FERRY_TEST_TMP/rows.properties
link_project "$project" "ctl-r-$$" <<<"$settings"
run=$(link_rundir "$project")
for try in 1 2 3; do
    expect_fail_with "ferryctl up: ferry-producer did not start" "$ctl" up "$project"
    grep -q "already holds rows" <<<"$FERRY_LAST_STDERR" || fail "up (try $try) shows no reason: $FERRY_LAST_STDERR"
    # only this start's lines: one "started", as many runs as the log holds
    [ "$(grep -c 'msg="started"' <<<"$FERRY_LAST_STDERR")" -eq 1 ] ||
        fail "up (try $try) shows lines of earlier runs: $FERRY_LAST_STDERR"
    if grep -q "^ferry-producer  *pid" <<<"$FERRY_LAST_STDOUT"; then
        fail "up (try $try) called the producer started: $FERRY_LAST_STDOUT"
    fi
    [ ! -e "$run/consumer.pid" ] && [ ! -e "$run/verifier.pid" ] ||
        fail "up (try $try) started the consumer or verifier after the producer failed"
done
[ "$(grep -c 'msg="started"' "$run/logs/producer.log")" -eq 3 ] || fail "the producer ran other than 3 times"
no_process_of "$project" producer consumer verifier
expect_fail_with "not full-done: ferry-producer stopped on an error .*already holds rows" \
    "$ctl" wait "$project" --until full-done --timeout 120
out=$("$ctl" status "$project" 2>&1) && fail "status succeeded with nothing running: $out"
grep -q "ferry-producer stopped on an error" <<<"$out" || fail "status does not say the producer failed: $out"
pass "up stops at a producer that refuses the destination; wait ends at once with its reason"

# wrong source password: refused in the start-up checks, before any log line
project=$FERRY_TEST_TMP/pw.properties
link_project "$project" "ctl-w-$$" <<<"$settings"
sed -i "s|^source.url = .*|source.url = mysql://ferry:wrongpass@127.0.0.1:$FERRY_MARIADB1_PORT|" "$project"
for try in 1 2; do
    expect_fail_with "ferryctl up: ferry-producer did not start" "$ctl" up "$project"
    [ "$(grep -c "Access denied" <<<"$FERRY_LAST_STDERR")" -eq 1 ] ||
        fail "up (try $try) shows other than this start's refusal: $FERRY_LAST_STDERR"
done
no_process_of "$project" producer consumer verifier
expect_fail_with "not caught-up: ferry-producer stopped on an error .*Access denied" \
    "$ctl" wait "$project" --until caught-up --timeout 120
pass "a wrong source password: up leaves nothing running, wait ends with the refusal"

# --- a service that fails after others started --------------------------------
mysql2 -e "DROP DATABASE IF EXISTS $dst"
project=$FERRY_TEST_TMP/late.properties
# the fixture's broker holds this port
link_project "$project" "ctl-l-$$" <<<"$settings
verifier.http.port = ${FERRY_KAFKA_BOOTSTRAP##*:}"
run=$(link_rundir "$project")
expect_fail_with "ferryctl up: ferry-verifier did not start" "$ctl" up "$project"
grep -q "Address already in use" <<<"$FERRY_LAST_STDERR" || fail "up shows no reason: $FERRY_LAST_STDERR"
grep -q "^ferry-producer  *pid" <<<"$FERRY_LAST_STDOUT" || fail "the producer did not start: $FERRY_LAST_STDOUT"
grep -q "^ferry-producer stopped" <<<"$FERRY_LAST_STDOUT" || fail "up did not stop the producer: $FERRY_LAST_STDOUT"
grep -q "^ferry-consumer stopped" <<<"$FERRY_LAST_STDOUT" || fail "up did not stop the consumer: $FERRY_LAST_STDOUT"
no_process_of "$project" producer consumer verifier
for svc in producer consumer; do
    [ "$(tail -n 1 "$run/logs/$svc.log" | grep -c 'msg="stopped" status=0')" -eq 1 ] ||
        fail "ferry-$svc was not stopped gracefully: $(tail -n 3 "$run/logs/$svc.log")"
done
out=$("$ctl" down "$project") || fail "down after a failed up: $out"
[ "$out" = "nothing running (no service of this project has a live pid file in $run)" ] ||
    fail "down with nothing running says: '$out'"
pass "up stops the producer and consumer it started when the verifier cannot start; down says nothing runs"

# --- usage -------------------------------------------------------------------
for args in "status --help" "wait $project --help" "up -h"; do
    # shellcheck disable=SC2086
    out=$("$ctl" $args) || fail "ferryctl $args exited non-zero"
    grep -q "^usage: ferryctl" <<<"$out" || fail "ferryctl $args prints no usage: $out"
done
grep -q "down FILE \[--timeout S\]" <<<"$out" || fail "the down synopsis lacks --timeout: $out"
expect_fail_with 'unknown --until "done" \(full-done: .*caught-up: ' "$ctl" wait "$project" --until done
pass "--help after a command prints the usage; a bad --until names the valid ones"
