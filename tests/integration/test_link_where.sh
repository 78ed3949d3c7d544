#!/usr/bin/env bash
# Row filters (where.<db>.<table>) end to end, through the real binaries:
# rows in and out of the filter before the link starts, then a workload
# during the full load and after it whose updates move rows into and out of
# the filter (some changing the key at the same time). At the end the
# destination holds exactly the source rows that match: compared row by row
# and by checksum against SELECT ... WHERE <filter> on the source. The filter
# compares a _ci column with non-ASCII values ('éu' equals 'EU' in
# utf8mb4_general_ci), which capture settles by asking the source. Then bad
# filters are refused by the precheck with one line naming the key.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_where
ctl=$FERRY_BUILD/tools/ferryctl
src=lw_$$
dst=lw_$$_dst
filter="region IN ('EU', 'us') AND amount >= 10.5 OR note LIKE 'keep%'"

mysql1 -e "
CREATE DATABASE $src;
USE $src;
CREATE TABLE $src.orders (id INT PRIMARY KEY, region VARCHAR(10) COLLATE utf8mb4_general_ci,
  amount DECIMAL(10,2), note VARCHAR(20), secret VARCHAR(10)) CHARSET utf8mb4;
INSERT INTO $src.orders SELECT seq, ELT(seq % 6 + 1, 'EU', 'eu', 'US', 'asia', 'éu', NULL),
  IF(seq % 10 = 0, NULL, seq % 40 * 0.75), IF(seq % 9 = 0, 'Keep me', 'x'), 'pw'
  FROM seq_1_to_2000;
"
project=$FERRY_TEST_TMP/where.properties
cat >"$project" <<P
project.name = where-$$
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = $src.*
rename.databases = $src:$dst
columns.exclude.$src.orders = secret
where.$src.orders = $filter
runtime.dir = $FERRY_TEST_TMP/run
kafka.session.timeout.ms = 6000
P
ferry_cleanup_add "$ctl down $project --timeout 10"
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"

# bad filters: refused by the precheck, one line each naming the key
bad=$FERRY_TEST_TMP/bad.properties
sed "s/^where\..*/where.$src.orders = lower(region) = 'eu'/" "$project" >"$bad"
out=$("$ctl" precheck "$bad" 2>&1) && fail "precheck passed a filter with a function: $out"
grep -q "error.*row filter where.$src.orders: functions are not supported at \"lower(region)" <<<"$out" ||
    fail "no clear line for the function: $out"
sed -i "s/^where\..*/where.$src.orders = secret = 'pw'/" "$bad"
out=$("$ctl" precheck "$bad" 2>&1) && fail "precheck passed a filter on a filtered-out column: $out"
grep -q "row filter where.$src.orders: column \`secret\` does not exist" <<<"$out" ||
    fail "no clear line for the filtered-out column: $out"
sed -i "s/^where\..*/where.$src.orders = region = 5/" "$bad"
out=$("$ctl" precheck "$bad" 2>&1) && fail "precheck passed a text column compared with a number: $out"
grep -q "row filter where.$src.orders: column \`region\` is string: compare it with a 'quoted'" <<<"$out" ||
    fail "no clear line for the text/number comparison: $out"
pass "bad row filters are refused by the precheck, naming the key"

out=$("$ctl" precheck "$project" 2>&1) || fail "precheck refused a good filter: $out"
"$ctl" up "$project" || fail "ferryctl up failed"

workload() { # workload ROUND
    local r=$1 base=$((100000 + $1 * 1000))
    mysql1 -e "
    USE $src;
    INSERT INTO orders SELECT $base + seq, ELT(seq % 5 + 1, 'EU', 'asia', 'éu', 'us', NULL),
      seq * 1.5, 'x', 'pw' FROM seq_1_to_40;
    -- into the filter, out of it, within it, outside it
    UPDATE orders SET amount = 20 WHERE region = 'EU' AND amount < 10.5 AND id % 17 = $r;
    UPDATE orders SET region = 'asia' WHERE region IN ('US', 'éu') AND amount >= 10.5 AND id % 19 = $r;
    UPDATE orders SET amount = amount + 1 WHERE region = 'eu' AND amount >= 10.5 AND id % 7 = $r;
    UPDATE orders SET note = 'y' WHERE region = 'asia' AND id % 5 = $r % 5;
    UPDATE orders SET note = 'keep $r' WHERE note = 'x' AND region IS NULL AND id % 23 = $r;
    -- a key change leaving the filter, and one entering it
    UPDATE orders SET id = id + 500000, region = 'asia', note = 'x' WHERE id = $((r * 6 + 1));
    UPDATE orders SET id = id + 600000, amount = 99 WHERE id = $((r * 6 + 2)) AND note = 'x';
    DELETE FROM orders WHERE id % 29 = $r;
    START TRANSACTION;
      UPDATE orders SET amount = 1 WHERE id = $((r * 6 + 3));
      UPDATE orders SET amount = 50 WHERE id = $((r * 6 + 3));
    COMMIT;
    "
}
for r in 1 2 3 4; do workload "$r"; done

compare() {
    local cols='id, region, amount, note' a b
    a=$(mysql1 -e "SELECT $cols FROM $src.orders WHERE $filter ORDER BY id")
    b=$(mysql2 -e "SELECT $cols FROM $dst.orders ORDER BY id") || fail "destination table is missing"
    if [ "$a" != "$b" ]; then
        diff <(echo "$a") <(echo "$b") | head -20 >&2
        fail "the destination does not hold exactly the source rows that match"
    fi
    local sum="COUNT(*), BIT_XOR(CRC32(CONCAT_WS('|', id, region, amount, note)))"
    a=$(mysql1 -e "SELECT $sum FROM $src.orders WHERE $filter")
    b=$(mysql2 -e "SELECT $sum FROM $dst.orders")
    [ "$a" = "$b" ] || fail "checksums differ: source $a, destination $b"
    [ "$(cut -f1 <<<"$a")" -gt 500 ] || fail "too few rows match to prove anything: $a"
}

"$ctl" wait "$project" --until caught-up --timeout 240 ||
    fail "not caught up: $("$ctl" status "$project" 2>&1)"
for r in 5 6 7; do workload "$r"; done
"$ctl" wait "$project" --until caught-up --timeout 240 ||
    fail "not caught up after the second workload: $("$ctl" status "$project" 2>&1)"
# caught-up means lag under a second: give the last changes that second
same() {
    local sum="COUNT(*), BIT_XOR(CRC32(CONCAT_WS('|', id, region, amount, note)))"
    [ "$(mysql1 -e "SELECT $sum FROM $src.orders WHERE $filter")" = \
        "$(mysql2 -e "SELECT $sum FROM $dst.orders")" ]
}
for _ in $(seq 150); do same && break || sleep 0.2; done
compare
pass "full load and changes moving rows into and out of the filter: destination = source WHERE filter"
