#!/usr/bin/env bash
# ferry-test: serial
# ferryctl precheck on MySQL-family sources: a well-set server passes; a
# user without replication rights, and a server with the wrong binlog
# settings, get one line per problem naming the setting or right to fix.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init precheck
ctl=$FERRY_BUILD/tools/ferryctl

project() { # project FILE SOURCE_URL
    cat >"$1" <<P
project.name = precheck-$$
source.url = $2
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
P
}

# 1. the fixture's source is set up as ferry needs it
project "$FERRY_TEST_TMP/ok.properties" "$FERRY_MARIADB1_URL"
out=$("$ctl" precheck "$FERRY_TEST_TMP/ok.properties" 2>&1) || fail "precheck of a good source failed: $out"
grep -q ": 0 errors, 0 warnings$" <<<"$out" || fail "unexpected findings: $out"
pass "a correctly set source passes"

# 2. a user that may only SELECT
user=pc_$$
mysql1 -e "CREATE USER '$user'@'%' IDENTIFIED BY 'pw'; GRANT SELECT ON *.* TO '$user'@'%'"
ferry_cleanup_add "mysql1 -e \"DROP USER '$user'@'%'\""
project "$FERRY_TEST_TMP/user.properties" "mysql://$user:pw@127.0.0.1:$FERRY_MARIADB1_PORT"
if out=$("$ctl" precheck "$FERRY_TEST_TMP/user.properties" 2>&1); then
    fail "precheck passed for a user without replication rights: $out"
fi
grep -q "^error: source: the user may not list binlogs .*GRANT REPLICATION CLIENT" <<<"$out" || fail "$out"
mysql1 -e "GRANT BINLOG MONITOR ON *.* TO '$user'@'%'"
out=$("$ctl" precheck "$FERRY_TEST_TMP/user.properties" 2>&1) && fail "passed without REPLICATION SLAVE: $out"
grep -q "^error: source: the user may not read binlogs: GRANT REPLICATION SLAVE ON \*\.\*" <<<"$out" || fail "$out"
mysql1 -e "GRANT REPLICATION SLAVE ON *.* TO '$user'@'%'"
out=$("$ctl" precheck "$FERRY_TEST_TMP/user.properties" 2>&1) || fail "still failing with all rights: $out"
pass "missing replication rights are named, one line each"

# 3. wrong binlog settings, on the destination server (its binlog is not
#    read by other tests); restored afterwards
restore="SET GLOBAL binlog_format=ROW, GLOBAL binlog_row_image=FULL, GLOBAL binlog_row_metadata=FULL"
ferry_cleanup_add "mysql2 -e \"$restore\""
mysql2 -e "SET GLOBAL binlog_format=STATEMENT, GLOBAL binlog_row_image=MINIMAL, GLOBAL binlog_row_metadata=MINIMAL"
project "$FERRY_TEST_TMP/settings.properties" "$FERRY_MARIADB2_URL"
out=$("$ctl" precheck "$FERRY_TEST_TMP/settings.properties" 2>&1) && fail "passed with wrong settings: $out"
mysql2 -e "$restore"
grep -q "^error: source: binlog_format is STATEMENT, not ROW" <<<"$out" || fail "$out"
grep -q "^error: source: binlog_row_image is MINIMAL, not FULL" <<<"$out" || fail "$out"
grep -q "^warning: source: binlog_row_metadata is MINIMAL, not FULL" <<<"$out" || fail "$out"
grep -q ": 2 errors, 1 warning$" <<<"$out" || fail "$out"
pass "wrong binlog settings are named, one line each"
