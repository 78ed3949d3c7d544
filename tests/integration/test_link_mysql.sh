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
. "$FERRY_SRC/tests/harness/link.sh"
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
link_project "$project" "link-$$" <<P
tables.include = $src.*
tables.exclude = $src.skipped
rename.databases = $src:$dst
columns.exclude.$src.orders = secret
P
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
link_up "$project"

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

link_wait "$project" caught-up 240

# compare: every row and every column, in key order; checksums of whole
# tables whose columns are all migrated
compare() {
    link_same_rows "$src" "$dst" orders 'id, customer, amount, created, note' id
    link_same_rows "$src" "$dst" items 'order_id, line, sku, qty, price' 'order_id, line'
    link_same_rows "$src" "$dst" "odd name" '`select`, `back``tick`, `día`' '`select`'
    link_same_rows "$src" "$dst" nokey 'a, b' 'a, b'
    link_same_checksum "$src" "$dst" items nokey
}
compare
[ -z "$(mysql2 -e "SHOW TABLES FROM $dst LIKE 'skipped'")" ] || fail "the excluded table was migrated"
[ -z "$(mysql2 -e "SHOW COLUMNS FROM $dst.orders LIKE 'secret'")" ] || fail "the filtered column was migrated"
pass "full load and changes during and after it: destination equals source"

# /metrics shows each table's phase, rows copied against the estimate,
# events and bytes (rates through rate()), and the lags, as /status does
run=$(link_rundir "$project")
pm=$(curl -fsS "$(cat "$run/producer.addr")/metrics") || fail "no producer /metrics"
cm=$(curl -fsS "$(cat "$run/consumer.addr")/metrics") || fail "no consumer /metrics"
metric() { # metric TEXT NAME LABELS: the value of one series
    awk -v k="$2{$3}" '$1 == k { print $2 }' <<<"$1"
}
t="table=\"$src.orders\""
# (the workload ran during the copy: rows copied need not be the first 3000)
[ "$(metric "$pm" ferry_producer_fullload_rows_copied_total "$t")" -gt 1000 ] ||
    fail "producer /metrics: rows copied of orders: $(grep orders <<<"$pm")"
[ "$(metric "$pm" ferry_producer_fullload_done "$t")" = 1 ] || fail "producer /metrics: orders not done: $pm"
[ "$(metric "$pm" ferry_producer_fullload_rows_estimate "$t")" -gt 0 ] || fail "producer /metrics: no estimate: $pm"
[ "$(metric "$pm" ferry_producer_changes_total "$t")" -gt 0 ] || fail "producer /metrics: no changes of orders: $pm"
grep -Eq '^ferry_producer_capture_events_total [1-9]' <<<"$pm" || fail "producer /metrics: no capture events: $pm"
# caught up: capture's lag is a number under a minute (0 when idle)
awk '$1 == "ferry_producer_capture_lag_seconds" && $2 >= 0 && $2 < 60 { ok = 1 } END { exit !ok }' <<<"$pm" ||
    fail "producer /metrics: no capture lag: $(grep lag <<<"$pm")"
[ "$(metric "$cm" ferry_consumer_table_phase "$t")" = 3 ] || fail "consumer /metrics: orders not incremental (3): $cm"
[ "$(metric "$cm" ferry_consumer_bytes_applied_total "$t")" -gt 0 ] || fail "consumer /metrics: no bytes: $cm"
awk -v k="ferry_consumer_lag_seconds{$t}" '$1 == k && $2 >= 0 && $2 < 60 { ok = 1 } END { exit !ok }' <<<"$cm" ||
    fail "consumer /metrics: no lag: $(grep lag <<<"$cm")"
pass "/metrics of producer and consumer: per-table phase, rows copied and estimate, events, bytes, lag"

# crash safety: kill -9 in the middle of more writes, then start again
for r in 6 7; do workload "$r"; done
link_kill "$project" producer
link_kill "$project" consumer
for r in 8 9; do workload "$r"; done
"$LINK_CTL" up "$project" >/dev/null || fail "ferryctl up after kill -9 failed"
for r in 10 11; do workload "$r"; done
link_wait "$project" caught-up 240
compare
pass "kill -9 of producer and consumer mid-workload: still equal, nothing doubled or lost"
