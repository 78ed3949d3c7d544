#!/usr/bin/env bash
# The MySQL-family link end to end, through the real binaries: ferryctl up
# starts producer, consumer and verifier; a DML workload runs during the full
# load and after it (inserts, updates incl. key changes, deletes,
# multi-statement transactions, NULLs, a key-less table with duplicate rows);
# ferryctl wait --until caught-up; then the destination equals the source
# table by table, with the project's rename, excluded table and filtered
# column applied. Then kill -9 of producer and consumer in the middle of more
# writes, ferryctl up again, and still: equal, nothing doubled, nothing lost.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_mysql
ctl=$FERRY_BUILD/tools/ferryctl
src=lnk_$$
dst=lnk_$$_dst

mysql1 -e "
CREATE DATABASE $src;
CREATE TABLE $src.orders (id INT PRIMARY KEY, customer VARCHAR(40) NOT NULL, amount DECIMAL(12,2),
  created DATETIME(6), note TEXT, secret VARCHAR(20)) CHARSET utf8mb4;
CREATE TABLE $src.items (order_id INT, line SMALLINT, sku VARCHAR(20) NOT NULL, qty INT UNSIGNED,
  price DOUBLE, PRIMARY KEY (order_id, line));
CREATE TABLE $src.\`odd name\` (\`select\` INT PRIMARY KEY, \`back\`\`tick\` VARCHAR(10), \`día\` DATE);
CREATE TABLE $src.nokey (a INT, b VARCHAR(10));
CREATE TABLE $src.skipped (id INT PRIMARY KEY);
"
# initial rows: 3000 orders, 6000 items, a few odd rows, key-less duplicates
mysql1 -e "
USE $src;
INSERT INTO orders SELECT seq, CONCAT('c', seq % 97), seq * 1.25, '2026-01-02 03:04:05.123456' + INTERVAL seq SECOND,
  IF(seq % 7 = 0, NULL, REPEAT('x', seq % 50)), 'pw' FROM seq_1_to_3000;
INSERT INTO items SELECT (seq + 1) DIV 2, seq % 2, CONCAT('sku', seq), seq % 10, seq / 3 FROM seq_1_to_6000;
INSERT INTO \`odd name\` VALUES (1, 'a\`b', '2024-02-29'), (2, NULL, NULL);
INSERT INTO nokey VALUES (1, 'dup'), (1, 'dup'), (2, 'one');
INSERT INTO skipped VALUES (1);
"

project=$FERRY_TEST_TMP/link.properties
cat >"$project" <<P
project.name = link-$$
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = $src.*
tables.exclude = $src.skipped
rename.databases = $src:$dst
columns.exclude.$src.orders = secret
runtime.dir = $FERRY_TEST_TMP/run
kafka.session.timeout.ms = 6000
P
ferry_cleanup_add "$ctl down $project --timeout 10"
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"

"$ctl" check "$project" >/dev/null || fail "ferryctl check: $("$ctl" check "$project" 2>&1)"
"$ctl" up "$project" || fail "ferryctl up failed"

# a workload while the full load runs
workload() { # workload ROUND
    local r=$1 base=$((100000 + $1 * 1000))
    mysql1 -e "
    USE $src;
    INSERT INTO orders (id, customer, amount, created, note, secret)
      SELECT $base + seq, 'new', seq, NOW(6), NULL, 'pw' FROM seq_1_to_50;
    UPDATE orders SET amount = amount + 1, note = CONCAT('r$r-', id) WHERE id % 11 = $r % 11;
    UPDATE orders SET id = id + 500000 WHERE id = $((r * 7 + 1));
    DELETE FROM orders WHERE id % 13 = $r % 13 AND id < 3000;
    START TRANSACTION;
      INSERT INTO items VALUES ($base, 1, 'multi', 1, 0.5), ($base, 2, 'multi', 2, NULL);
      UPDATE items SET qty = qty + 1 WHERE order_id = $((r + 3));
      DELETE FROM items WHERE order_id = $((r + 100));
    COMMIT;
    INSERT INTO nokey VALUES ($r, 'w'), ($r, 'w');
    DELETE FROM nokey WHERE a = $r AND b = 'w' LIMIT 1;
    UPDATE \`odd name\` SET \`back\`\`tick\` = 'r$r' WHERE \`select\` = 1;
    "
}
for r in 1 2 3 4 5; do workload "$r"; done

"$ctl" wait "$project" --until caught-up --timeout 240 ||
    fail "not caught up: $("$ctl" status "$project" 2>&1)"

# compare: every row and every column, in key order
compare() {
    local t cols order a b
    for t in orders items "odd name" nokey; do
        case $t in
        orders) cols='id, customer, amount, created, note'; order=id ;;
        items) cols='order_id, line, sku, qty, price'; order='order_id, line' ;;
        "odd name") cols='`select`, `back``tick`, `día`'; order='`select`' ;;
        nokey) cols='a, b'; order='a, b' ;;
        esac
        a=$(mysql1 -e "SELECT $cols FROM $src.\`$t\` ORDER BY $order")
        b=$(mysql2 -e "SELECT $cols FROM $dst.\`$t\` ORDER BY $order") ||
            fail "destination table $dst.$t is missing"
        if [ "$a" != "$b" ]; then
            diff <(echo "$a") <(echo "$b") | head -20 >&2
            fail "$t differs between source and destination"
        fi
    done
    # checksums of whole tables whose columns are all migrated
    for t in items nokey; do
        a=$(mysql1 -e "CHECKSUM TABLE $src.$t" | awk '{print $2}')
        b=$(mysql2 -e "CHECKSUM TABLE $dst.$t" | awk '{print $2}')
        [ "$a" = "$b" ] || fail "CHECKSUM TABLE $t: source $a, destination $b"
    done
}
compare
[ -z "$(mysql2 -e "SHOW TABLES FROM $dst LIKE 'skipped'")" ] || fail "the excluded table was migrated"
[ -z "$(mysql2 -e "SHOW COLUMNS FROM $dst.orders LIKE 'secret'")" ] || fail "the filtered column was migrated"
pass "full load and changes during and after it: destination equals source"

# crash safety: kill -9 in the middle of more writes, then start again
for r in 6 7; do workload "$r"; done
for svc in producer consumer; do
    kill -9 "$(cat "$FERRY_TEST_TMP/run/$svc.pid")" 2>/dev/null || true
done
for r in 8 9; do workload "$r"; done
"$ctl" up "$project" >/dev/null || fail "ferryctl up after kill -9 failed"
for r in 10 11; do workload "$r"; done
"$ctl" wait "$project" --until caught-up --timeout 240 ||
    fail "not caught up after restart: $("$ctl" status "$project" 2>&1)"
compare
pass "kill -9 of producer and consumer mid-workload: still equal, nothing doubled or lost"
