#!/usr/bin/env bash
# ferry-verifier --live while a link runs (ferryctl up) and a write load
# keeps changing the source: a verification of the in-step destination
# reports no difference (what differs while a chunk is read is looked at
# again only after the consumer has applied past that moment); then one row
# changed behind ferry's back at the destination, under the same load, is
# exactly what is reported.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init verifier_live
ctl=$FERRY_BUILD/tools/ferryctl
bin=$FERRY_BUILD/verifier/ferry-verifier
src=vlive_$$
dst=vlive_$$_dst

mysql1 -e "CREATE DATABASE $src; USE $src;
  CREATE TABLE acct (id INT PRIMARY KEY, owner VARCHAR(30) NOT NULL, balance DECIMAL(12,2),
    touched DATETIME(6), note TEXT) CHARSET utf8mb4;
  INSERT INTO acct SELECT seq, CONCAT('owner', seq), seq * 10, '2026-01-01 00:00:00', NULL
    FROM seq_1_to_20000;
  CREATE TABLE ledger (acct INT, n INT, amount DOUBLE, PRIMARY KEY (acct, n));
  INSERT INTO ledger SELECT seq % 2000, seq, seq / 7 FROM seq_1_to_10000;" ||
    fail "could not create the source tables"

project=$FERRY_TEST_TMP/live.properties
cat >"$project" <<P
project.name = vlive-$$
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = $src.*
rename.databases = $src:$dst
runtime.dir = $FERRY_TEST_TMP/run
verify.rounds = 3
verify.settle.timeout.ms = 60000
P
ferry_cleanup_add "$ctl down $project --timeout 10"
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
"$ctl" up "$project" >/dev/null || fail "ferryctl up failed"
"$ctl" wait "$project" --until caught-up --timeout 240 ||
    fail "not caught up: $("$ctl" status "$project" 2>&1)"

# the write load: small transactions all over both tables, never id 17
load() {
    local r=0
    while [ ! -e "$FERRY_TEST_TMP/stop-load" ]; do
        r=$((r + 1))
        mysql1 -e "USE $src;
          UPDATE acct SET balance = balance + 1, touched = NOW(6) WHERE id = 100 + ($r * 37) % 19000;
          UPDATE acct SET note = 'r$r' WHERE id BETWEEN 1000 + ($r * 13) % 18000 AND 1010 + ($r * 13) % 18000;
          INSERT INTO ledger VALUES (($r * 7) % 2000, 100000 + $r, $r / 3);
          DELETE FROM ledger WHERE n = 100000 + $r - 20;
          INSERT INTO acct VALUES (50000 + $r, 'new', $r, NOW(6), NULL);
          DELETE FROM acct WHERE id = 50000 + $r - 5;" >/dev/null 2>&1 || true
        sleep 0.05
    done
}
load &
load_pid=$!
ferry_cleanup_add "touch $FERRY_TEST_TMP/stop-load; kill $load_pid 2>/dev/null"
sleep 2

run_live() { # run_live EXPECTED_STATUS NAME
    local rc=0
    "$bin" "$project" --once --live --report "$FERRY_TEST_TMP/$2.json" \
        >"$FERRY_TEST_TMP/$2.out" 2>&1 || rc=$?
    [ "$rc" -eq "$1" ] || fail "ferry-verifier --live exited $rc, expected $1: $(cat "$FERRY_TEST_TMP/$2.out")"
}
run_live 0 instep
[ "$(jq '.differences | length' "$FERRY_TEST_TMP/instep.json")" = 0 ] ||
    fail "differences reported under load: $(jq -c .differences "$FERRY_TEST_TMP/instep.json")"
[ "$(jq '.rows_checked' "$FERRY_TEST_TMP/instep.json")" -ge 30000 ] || fail "not every row was checked"
pass "under a write load, an in-step destination verifies with no difference"

mysql2 -e "UPDATE $dst.acct SET owner = 'tampered' WHERE id = 17" || fail "could not change the row"
run_live 1 tampered
got=$(jq -c '[.differences[] | {table, key, kind, columns}]' "$FERRY_TEST_TMP/tampered.json")
[ "$got" = "[{\"table\":\"$src.acct\",\"key\":{\"id\":17},\"kind\":\"changed\",\"columns\":[\"owner\"]}]" ] ||
    fail "expected exactly acct id 17 / owner, got $got"
pass "a row changed behind ferry's back at the destination is exactly what is reported"
touch "$FERRY_TEST_TMP/stop-load"
wait "$load_pid" 2>/dev/null || true
