#!/usr/bin/env bash
# Full load through the fixture's broker: the planner splits tables with
# integer (with gaps), composite, string (utf8mb4, case variants, a
# case-insensitive collation), unique-but-no-primary and no keys, an empty
# table and an all-types table into small chunks; two workers share the
# tasks, the busier one is killed with SIGKILL early and a third joins. A
# checking consumer then applies the chunk contract of libferry/fullload.h
# (first done-marker's attempt only) and finds every source row exactly
# once, value by value.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init fullload

prog=$FERRY_BUILD/tests/fullload_check
[ -x "$prog" ] || fail "no $prog"

db=fl_$$
project=fl-$$
url="mysql://$FERRY_DB_USER:$FERRY_DB_PASSWORD@$FERRY_MARIADB1_HOST:$FERRY_MARIADB1_PORT"
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $db' >/dev/null 2>&1"

mysql1 <<SQL || fail "could not create the source tables"
SET SESSION sql_mode = '', time_zone = '+00:00';
CREATE DATABASE $db;
USE $db;
CREATE TABLE int_gaps (id INT PRIMARY KEY, v VARCHAR(20), n BIGINT);
INSERT INTO int_gaps SELECT seq * 5 + seq % 3, CONCAT('row ', seq), seq * seq FROM seq_1_to_20000;
CREATE TABLE composite (a INT, b VARCHAR(20) CHARACTER SET utf8mb4, v INT, PRIMARY KEY (a, b));
INSERT INTO composite SELECT seq % 50, CONCAT(IF(seq % 2, 'k', 'K'), seq), seq FROM seq_1_to_3000;
CREATE TABLE strkey (k VARCHAR(40) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin PRIMARY KEY, v INT);
INSERT INTO strkey VALUES ('a', 1), ('A', 2), ('ä', 3), ('Ä', 4), ('😀', 5), ('z😀z', 6),
  ('', 7), ('it''s', 10), ('back\\\\slash', 11), ('x', 12);
INSERT INTO strkey SELECT CONCAT(IF(seq % 3, 'key-', 'KEY-'), seq, IF(seq % 5, '', 'é')), seq FROM seq_1_to_2000;
CREATE TABLE strci (k VARCHAR(30) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PRIMARY KEY, v INT);
INSERT INTO strci SELECT CONCAT(ELT(seq % 4 + 1, 'Key', 'kéy', 'KEY_', 'ß'), seq), seq FROM seq_1_to_1000;
CREATE TABLE uniq (id INT NOT NULL, code VARCHAR(10) NOT NULL, v TEXT, UNIQUE KEY (code));
INSERT INTO uniq SELECT seq, CONCAT('c', seq * 7), REPEAT('x', seq % 40) FROM seq_1_to_1500;
CREATE TABLE nokey (a INT, b TEXT);
INSERT INTO nokey SELECT seq % 100, IF(seq % 10, 'dup', NULL) FROM seq_1_to_700;
CREATE TABLE empty (id INT PRIMARY KEY);
CREATE TABLE all_types (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, mi MEDIUMINT, i INT, iu INT UNSIGNED,
  bi BIGINT, biu BIGINT UNSIGNED, dec1 DECIMAL(65,30), dec0 DECIMAL(10,0),
  f FLOAT, d DOUBLE, dt DATE, tm TIME(6), dtm DATETIME(6), ts TIMESTAMP(6) NULL, y YEAR,
  vc VARCHAR(50) CHARACTER SET utf8mb4, ch CHAR(5), txt TEXT, lat VARCHAR(10) CHARACTER SET latin1,
  bin BINARY(4), vb VARBINARY(10), bl BLOB, b1 BIT(1), b64 BIT(64),
  e ENUM('a','b','c'), st SET('x','y','z'), j JSON, g GEOMETRY, u UUID);
INSERT INTO all_types VALUES
 (1, 127, 255, 32767, 8388607, 2147483647, 4294967295, 9223372036854775807,
  18446744073709551615, '99999999999999999999999999999999999.999999999999999999999999999999',
  -9999999999, 1.2345679, 1.7976931348623157e308, '0000-00-00', '-838:59:59',
  '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07.999999', 0, '😀 héllo', 'ab',
  'line1\nline2\ttab', 'café', 'a', X'00FF', '', b'1', b'1111111111111111111111111111111111111111111111111111111111111111',
  'c', 'x,z', '{"a": [1, 2.5, "x"]}', ST_GeomFromText('POINT(1 2)', 4326),
  '123e4567-e89b-12d3-a456-426614174000'),
 (2, -128, 0, -32768, -8388608, -2147483648, 0, -9223372036854775808, 0,
  '-0.000000000000000000000000000001', 0, -16777216, 4.9406564584124654e-324, '2024-02-29',
  '-00:00:00.5', '0000-00-00 00:00:00', '1970-01-01 00:00:01', 2155, '', '', '', '',
  X'00000000', X'', '', b'0', b'0', '', '', 'null', ST_GeomFromText('POINT(1 2)'),
  '00000000-0000-0000-0000-000000000000'),
 (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SQL
tables="int_gaps composite strkey strci uniq nokey empty all_types"

log=$FERRY_TEST_TMP
"$prog" plan "$FERRY_KAFKA_BOOTSTRAP" "$project" "$url" "$db" 500 8 $tables >"$log/plan.out" 2>&1 &
plan_pid=$!
ferry_cleanup_add "kill $plan_pid 2>/dev/null"

# start_worker NAME: runs a worker in the background; its pid goes to $worker_pid
start_worker() {
    "$prog" work "$FERRY_KAFKA_BOOTSTRAP" "$project" "$url" "$1" >"$log/$1.out" 2>&1 &
    worker_pid=$!
    ferry_cleanup_add "kill $worker_pid 2>/dev/null"
}
start_worker wa
pid_a=$worker_pid
start_worker wb
pid_b=$worker_pid
done_by() { grep -c '^done' "$log/w$1.out" 2>/dev/null || true; }

# Until the group's first assignment (about 3 s) both workers read every task
# (the head start, fullload_tasks.c) and either may copy most of them, so the
# one that copied more is killed once the two have copied 3 chunks, most
# likely in the middle of its next one; the other and a third take over.
wait_for "[ \$((\$(done_by a) + \$(done_by b))) -ge 3 ]" 60 "the workers to copy 3 chunks"
if [ "$(done_by a)" -ge "$(done_by b)" ]; then
    victim=a survivor=b
    kill -9 "$pid_a"
    wait "$pid_a" 2>/dev/null || true
else
    victim=b survivor=a
    kill -9 "$pid_b"
    wait "$pid_b" 2>/dev/null || true
fi
killed_at=$(done_by $victim)
start_worker wc
pid_c=$worker_pid
[ $survivor = a ] && pid_s=$pid_a || pid_s=$pid_b

wait "$plan_pid" || fail "planner: $(tail -n 5 "$log/plan.out")"
grep '^finished' "$log/plan.out"
for w in "$pid_s" "$pid_c"; do
    ferry_stop_pid "$w" TERM 20
    wait "$w" || fail "a worker failed: $(tail -n 3 "$log/w$survivor.out" "$log/wc.out")"
done
echo "chunks copied: a $(done_by a), b $(done_by b), c $(done_by c); worker $victim killed after $killed_at"
[ $(($(done_by $survivor) + $(done_by c))) -ge 1 ] ||
    fail "no other worker copied a chunk after worker $victim was killed: the load was not shared"
pass "planner finished with two workers sharing the tasks, one killed and replaced"

out=$("$prog" verify "$FERRY_KAFKA_BOOTSTRAP" "$project" "$url" "$db" $tables 2>&1) || fail "verify: $out"
echo "$out"
grep -q "^ok: the row reader gives the known edge values" <<<"$out" || fail "$out"
grep -Eq "^ok: int_gaps: 20000 rows exactly once in [0-9]+ chunks" <<<"$out" || fail "int_gaps: $out"
grep -q "^ok: nokey: 700 rows exactly once in 1 chunks" <<<"$out" || fail "nokey: $out"
grep -q "^ok: empty: 0 rows exactly once in 1 chunks" <<<"$out" || fail "empty: $out"
pass "every source row arrived exactly once under the chunk contract"
