#!/usr/bin/env bash
# ferry-test: serial
# ferryctl precheck on MySQL-family sources: a well-set server passes; a
# user without replication rights, and a server with the wrong binlog
# settings, get one line per problem naming the setting or right to fix.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init precheck
ctl=$FERRY_BUILD/tools/ferryctl

db=pc_$$
mysql1 -e "CREATE DATABASE $db; CREATE TABLE $db.t (id INT PRIMARY KEY, v VARCHAR(10))"
mysql2 -e "CREATE DATABASE $db; CREATE TABLE $db.s (id INT PRIMARY KEY)"
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $db'; mysql2 -e 'DROP DATABASE IF EXISTS $db'"

project() { # project FILE SOURCE_URL [more lines]
    {
        echo "project.name = precheck-$$"
        echo "source.url = $2"
        echo "destination.url = $FERRY_MARIADB2_URL"
        echo "kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP"
        echo "tables.include = $db.*"
        shift 2
        local line
        for line in "$@"; do echo "$line"; done
    } >"$1"
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
# both missing rights at once, not one per round
grep -q "^error: source: the user may not read binlogs: GRANT REPLICATION SLAVE ON \*\.\*" <<<"$out" ||
    fail "REPLICATION SLAVE is not named next to REPLICATION CLIENT: $out"
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

# 4. tables and destination
mysql1 -e "CREATE TABLE $db.nokey (a INT, b INT); CREATE TABLE $db.c (id INT PRIMARY KEY, x INT)"
mysql2 -e "CREATE TABLE $db.t (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO $db.t VALUES (1, 'x')"
project "$FERRY_TEST_TMP/tables.properties" "$FERRY_MARIADB1_URL" "columns.exclude.$db.c = id"
out=$("$ctl" precheck "$FERRY_TEST_TMP/tables.properties" 2>&1) && fail "passed with table problems: $out"
grep -q "^warning: .*$db.*nokey.*" <<<"$out" || fail "no warning for the key-less table: $out"
grep -q "^error: could not filter the columns of \`$db\`.\`c\`: column \`id\` is part of the key" <<<"$out" ||
    fail "a filtered key column is not refused: $out"
grep -q "^error: destination: table \`$db\`.\`t\` already holds rows" <<<"$out" ||
    fail "rows at the destination are not reported: $out"
project "$FERRY_TEST_TMP/none.properties" "$FERRY_MARIADB1_URL" "tables.exclude = $db.*"
out=$("$ctl" precheck "$FERRY_TEST_TMP/none.properties" 2>&1) && fail "passed with no table: $out"
grep -q "^error: source: no table matches tables.include" <<<"$out" || fail "$out"
# misspelt table or column in a per-table key: refused, not silently unfiltered
project "$FERRY_TEST_TMP/typo.properties" "$FERRY_MARIADB1_URL" "destination.keep.rows = true" \
    "columns.exclude.$db.tt = v" "where.$db.cc = id > 1" "columns.exclude.$db.c = xx" \
    "where.mysql.db = Host = 'x'"
out=$("$ctl" precheck "$FERRY_TEST_TMP/typo.properties" 2>&1) && fail "passed with misspelt keys: $out"
grep -q "^error: columns.exclude.$db.tt names no table the project selects" <<<"$out" || fail "$out"
grep -q "^error: where.$db.cc names no table the project selects" <<<"$out" || fail "$out"
# a table the source has but the project leaves out: a warning, not a refusal
grep -q "^warning: where.mysql.db names a table the project does not select" <<<"$out" || fail "$out"
grep -q "^error: columns.exclude.$db.c names column \`xx\`, which \`$db\`.\`c\` does not have" <<<"$out" ||
    fail "a misspelt column is not refused: $out"
# the producer refuses to start on them too, before it copies anything
expect_fail_with "columns.exclude.$db.tt names no table" "$FERRY_BUILD/producer/ferry-producer" \
    "$FERRY_TEST_TMP/typo.properties"
project "$FERRY_TEST_TMP/keep.properties" "$FERRY_MARIADB1_URL" "destination.keep.rows = true"
out=$("$ctl" precheck "$FERRY_TEST_TMP/keep.properties" 2>&1)
grep -q "already holds rows" <<<"$out" && fail "keep.rows did not allow the rows: $out"
pass "table and destination problems are named, one line each"

# 5. a PostgreSQL source: the link cannot read it yet (the verifier can)
project "$FERRY_TEST_TMP/pg.properties" "$FERRY_PG_URL"
out=$("$ctl" precheck "$FERRY_TEST_TMP/pg.properties" 2>&1) && fail "precheck passed a PostgreSQL source: $out"
grep -q "^error: source: postgresql sources are not supported by the link yet" <<<"$out" || fail "$out"
expect_fail_with "postgresql sources are not supported by the link yet" \
    "$FERRY_BUILD/producer/ferry-producer" "$FERRY_TEST_TMP/pg.properties"
pass "a PostgreSQL source is refused by precheck and by ferry-producer, naming why"
