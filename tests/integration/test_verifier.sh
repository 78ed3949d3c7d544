#!/usr/bin/env bash
# ferry-verifier --once against a destination set up by hand with SQL: a
# table of every column type with one seeded difference per case (missing
# row, extra row, a changed value in each type, NULL vs '', trailing spaces
# in VARCHAR, case in a case-insensitive column, time precision, DECIMAL
# scale, a float at the tolerance boundary, JSON key order (equal) and value
# (different), a changed primary key), spread over chunks that are split
# down to row ranges. Each difference must be reported with its key, kind
# and column and nothing else; the project's rename, column filter and row
# filter must be applied; the repair SQL applied by --apply must make a
# second run exit 0; a table missing at the destination is "could not
# verify" (exit 2), and so is a --tables pattern or a project selection
# that matches no table (not "equal" having compared nothing). Missing and
# extra rows carry their one side's values; --help anywhere lists every
# option. Chunk planning: a composite text key (chunks that end
# where the source's rows say) and an integer key with a gap of 10^15 are
# each cut into more than one chunk, with differences on both sides of them.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init verifier
bin=$FERRY_BUILD/verifier/ferry-verifier
src=vfy_$$
dst=vfy_$$_dst
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"

# the same rows on both sides; the destination's types differ where a
# migration may make them differ (lower time precision, larger DECIMAL scale)
types_table() { # types_table DB DTM_FSP DEC_SCALE
    echo "CREATE TABLE $1.types (
      id INT PRIMARY KEY, i INT, bu BIGINT UNSIGNED, dec1 DECIMAL(12,$3), f FLOAT, d DOUBLE,
      dt DATE, dtm DATETIME($2), ts TIMESTAMP(6) NULL, tm TIME(6), y YEAR,
      vc VARCHAR(20), ch CHAR(10), ci VARCHAR(20) COLLATE utf8mb4_general_ci,
      lat VARCHAR(20) CHARACTER SET latin1, vb VARBINARY(10), bl BLOB, b BIT(8),
      e ENUM('a','b','c'), st SET('x','y','z'), j JSON, u UUID) CHARSET utf8mb4;"
}
fill="INSERT INTO types SELECT seq, CAST(seq AS SIGNED) * 3 - 5000, seq * 1000000007, seq / 8, seq / 4, seq / 7,
  '2024-01-01' + INTERVAL seq DAY, '2025-06-01 10:00:00.123000' + INTERVAL seq MINUTE,
  '2025-06-01 10:00:00.654321' + INTERVAL seq SECOND, SEC_TO_TIME(seq + 0.5),
  1901 + seq % 250, CONCAT('v', seq), CONCAT('c', seq % 13), CONCAT('Ci', seq),
  CONCAT('caf', CHAR(233), seq), UNHEX(HEX(seq)), REPEAT(CHAR(seq % 256), 5), seq % 256,
  ELT(seq % 3 + 1, 'a', 'b', 'c'), IF(seq % 2, 'x,z', 'y'), CONCAT('{\"a\": ', seq, ', \"b\": [1, 2]}'),
  UUID() FROM seq_1_to_6000;"
mysql1 -e "CREATE DATABASE $src; $(types_table "$src" 6 2)
  CREATE TABLE $src.filtered (id INT PRIMARY KEY, v VARCHAR(10), secret VARCHAR(10));
  CREATE TABLE $src.strkey (a VARCHAR(10) COLLATE utf8mb4_bin, b INT, v TEXT, PRIMARY KEY (a, b));
  CREATE TABLE $src.nokey (a INT, b VARCHAR(10));
  CREATE TABLE $src.gaps (id BIGINT PRIMARY KEY, v VARCHAR(10));" || fail "could not create the source tables"
mysql2 -e "CREATE DATABASE $dst; $(types_table "$dst" 3 4)
  CREATE TABLE $dst.filtered (id INT PRIMARY KEY, v VARCHAR(10));
  CREATE TABLE $dst.strkey (a VARCHAR(10) COLLATE utf8mb4_bin, b INT, v TEXT, PRIMARY KEY (a, b));
  CREATE TABLE $dst.nokey (a INT, b VARCHAR(10));
  CREATE TABLE $dst.gaps (id BIGINT PRIMARY KEY, v VARCHAR(10));" || fail "could not create the destination tables"
mysql1 -e "SET time_zone = '+00:00'; USE $src; $fill
  INSERT INTO filtered SELECT seq, CONCAT('v', seq), 'pw' FROM seq_1_to_300;
  INSERT INTO strkey SELECT CONCAT(IF(seq % 2, 'k', 'K'), seq % 40), seq, REPEAT('t', seq % 9) FROM seq_1_to_25000;
  INSERT INTO nokey VALUES (1, 'dup'), (1, 'dup'), (2, 'one');
  INSERT INTO gaps SELECT seq, 'low' FROM seq_1_to_3000;
  INSERT INTO gaps SELECT 1000000000000000 + seq, 'high' FROM seq_1_to_3000;" || fail "could not fill the source"
# the destination gets exactly the source's rows (UUIDs included), through a dump
MYSQL_PWD=$FERRY_DB_PASSWORD mariadb-dump --no-defaults --protocol=TCP -h "$FERRY_MARIADB1_HOST" \
    -P "$FERRY_MARIADB1_PORT" -u "$FERRY_DB_USER" --no-create-info --hex-blob --skip-triggers \
    --compact "$src" types strkey nokey gaps >"$FERRY_TEST_TMP/dump.sql" || fail "could not dump the source"
mysql2 "$dst" <"$FERRY_TEST_TMP/dump.sql" || fail "could not load the dump into the destination"
mysql2 -e "INSERT INTO $dst.filtered SELECT seq, CONCAT('v', seq) FROM $dst.seq_1_to_100" ||
    fail "could not fill the destination"

project=$FERRY_TEST_TMP/verify.properties
cat >"$project" <<P
project.name = vfy-$$
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = 127.0.0.1:9
tables.include = $src.*
rename.databases = $src:$dst
columns.exclude.$src.filtered = secret
where.$src.filtered = id <= 100
runtime.dir = $FERRY_TEST_TMP/run
verify.float.tolerance = 1e-6
verify.chunk.target.ms = 20
P

# --help anywhere: every option of verifier/main.c, exit 0
for args in "--help" "$project --worker --help" "$project --once --help" "$project --help"; do
    # shellcheck disable=SC2086
    "$bin" $args >"$FERRY_TEST_TMP/help.txt" 2>&1 ||
        fail "ferry-verifier $args exited $?: $(cat "$FERRY_TEST_TMP/help.txt")"
    for opt in --once --worker --shared --report --repair-sql --apply --tables --live \
        --checkpoint --log-level --version --help; do
        grep -q -- "^  $opt\b" "$FERRY_TEST_TMP/help.txt" ||
            fail "ferry-verifier $args does not list $opt: $(cat "$FERRY_TEST_TMP/help.txt")"
    done
done
pass "--help anywhere on the command line lists every option"

report=$FERRY_TEST_TMP/report.json
repair=$FERRY_TEST_TMP/repair.sql
run_verifier() { # run_verifier EXPECTED_STATUS [ARGS...]
    local want=$1 rc=0
    shift
    "$bin" "$project" --once --report "$report" --repair-sql "$repair" "$@" \
        >"$FERRY_TEST_TMP/out.txt" 2>"$FERRY_TEST_TMP/err.txt" || rc=$?
    [ "$rc" -eq "$want" ] || fail "ferry-verifier exited $rc, expected $want:" \
        "$(cat "$FERRY_TEST_TMP/out.txt" "$FERRY_TEST_TMP/err.txt")"
}

run_verifier 0
[ "$(jq -r .verdict "$report")" = equal ] || fail "identical tables not reported equal"
[ "$(jq '[.tables[] | select(.table == "'"$src"'.filtered")][0].rows_source' "$report")" = 100 ] ||
    fail "the row filter was not applied: $(jq -c .tables "$report")"
# a key with a gap of 10^15: the 3000 rows on each side of it are not one chunk
gaps=$(jq -c '[.tables[] | select(.table == "'"$src"'.gaps")][0]' "$report")
[ "$(jq .rows_source <<<"$gaps")" = 6000 ] && [ "$(jq .chunks <<<"$gaps")" -ge 2 ] ||
    fail "the table with a gap in its key was not cut into chunks: $gaps"
# a composite text key: chunks end where the source's rows say, more than one of them
strkey=$(jq -c '[.tables[] | select(.table == "'"$src"'.strkey")][0]' "$report")
[ "$(jq .rows_source <<<"$strkey")" = 25000 ] && [ "$(jq .chunks <<<"$strkey")" -ge 2 ] ||
    fail "the table with a composite text key was not cut into chunks: $strkey"
pass "identical tables (rename, column and row filters applied) are equal"

# ---- seed one difference per case at the destination ---------------------
mysql2 -e "SET time_zone = '+00:00'; USE $dst;
DELETE FROM types WHERE id = 2;                                  -- missing
INSERT INTO types (id, i) VALUES (9000, 1);                      -- extra
UPDATE types SET i = i + 1 WHERE id = 110;
UPDATE types SET bu = bu + 1 WHERE id = 220;
UPDATE types SET dec1 = dec1 + 0.0001 WHERE id = 330;            -- DECIMAL scale: 4 digits here
UPDATE types SET f = f * 2 WHERE id = 440;
UPDATE types SET d = d * (1 + 4e-7) WHERE id = 550;              -- inside the tolerance: equal
UPDATE types SET d = d * (1 + 3e-6) WHERE id = 660;              -- beyond it
UPDATE types SET dt = dt + INTERVAL 1 DAY WHERE id = 770;
UPDATE types SET dtm = dtm + INTERVAL 1 MICROSECOND WHERE id = 880;   -- below DATETIME(3): no change
UPDATE types SET dtm = dtm + INTERVAL 1000 MICROSECOND WHERE id = 990;
UPDATE types SET ts = ts - INTERVAL 1 MICROSECOND WHERE id = 1100;
UPDATE types SET tm = tm + INTERVAL 1 SECOND WHERE id = 1210;
UPDATE types SET y = 2155 WHERE id = 1320;
UPDATE types SET vc = CONCAT(vc, ' ') WHERE id = 1430;            -- trailing space
UPDATE types SET vc = '' WHERE id = 1540;
UPDATE types SET ch = 'zz' WHERE id = 1650;
UPDATE types SET ci = LOWER(ci) WHERE id = 1760;                 -- case only
UPDATE types SET lat = 'cafe' WHERE id = 1870;
UPDATE types SET vb = X'00' WHERE id = 1980;
UPDATE types SET bl = X'0102' WHERE id = 2090;
UPDATE types SET b = b ^ 1 WHERE id = 2200;
UPDATE types SET e = IF(e = 'a', 'b', 'a') WHERE id = 2310;
UPDATE types SET st = 'x,y,z' WHERE id = 2420;
UPDATE types SET j = JSON_OBJECT('b', JSON_ARRAY(1, 2), 'a', 2530) WHERE id = 2530;  -- key order: equal
UPDATE types SET j = '{\"a\": 2640, \"b\": [1, 3]}' WHERE id = 2640;
UPDATE types SET u = '00000000-0000-0000-0000-000000000001' WHERE id = 2750;
UPDATE types SET id = 9500 WHERE id = 2860;                      -- changed key
UPDATE strkey SET v = 'changed' WHERE a = 'K4' AND b = 2004;
DELETE FROM strkey WHERE a = 'k1' AND b = 1;                      -- missing, text key
INSERT INTO strkey VALUES ('zz', 1, 'after the last key');        -- past the source's last key
UPDATE nokey SET b = 'two' WHERE a = 2;
UPDATE gaps SET v = 'x' WHERE id IN (1500, 1000000000002500);     -- both sides of a gap of 10^15
" || fail "could not seed the differences"
mysql1 -e "UPDATE $src.types SET vc = NULL WHERE id = 1540" || fail "could not set a NULL"

run_verifier 1
expected="$src.gaps changed {\"id\":1500} v
$src.gaps changed {\"id\":1000000000002500} v
$src.nokey extra {\"a\":2,\"b\":\"two\"}
$src.nokey missing {\"a\":2,\"b\":\"one\"}
$src.strkey changed {\"a\":\"K4\",\"b\":2004} v
$src.strkey extra {\"a\":\"zz\",\"b\":1}
$src.strkey missing {\"a\":\"k1\",\"b\":1}
$src.types changed {\"id\":110} i
$src.types changed {\"id\":220} bu
$src.types changed {\"id\":330} dec1
$src.types changed {\"id\":440} f
$src.types changed {\"id\":660} d
$src.types changed {\"id\":770} dt
$src.types changed {\"id\":990} dtm
$src.types changed {\"id\":1100} ts
$src.types changed {\"id\":1210} tm
$src.types changed {\"id\":1320} y
$src.types changed {\"id\":1430} vc
$src.types changed {\"id\":1540} vc
$src.types changed {\"id\":1650} ch
$src.types changed {\"id\":1760} ci
$src.types changed {\"id\":1870} lat
$src.types changed {\"id\":1980} vb
$src.types changed {\"id\":2090} bl
$src.types changed {\"id\":2200} b
$src.types changed {\"id\":2310} e
$src.types changed {\"id\":2420} st
$src.types changed {\"id\":2640} j
$src.types changed {\"id\":2750} u
$src.types extra {\"id\":9000}
$src.types extra {\"id\":9500}
$src.types missing {\"id\":2}
$src.types missing {\"id\":2860}"
got=$(jq -r '.differences[] | "\(.table) \(.kind) \(.key | tojson) \(.columns | join(","))" | sub(" $"; "")' \
    "$report" | sort)
[ "$got" = "$(sort <<<"$expected")" ] ||
    fail "differences not as seeded:$(diff <(sort <<<"$expected") <(echo "$got"))"
# the same with the stream read through libmariadb (as with TLS or compression)
cp "$report" "$FERRY_TEST_TMP/stream.json"
FERRY_VERIFY_NO_WIRE=1 run_verifier 1
[ "$(jq -c .differences "$report")" = "$(jq -c .differences "$FERRY_TEST_TMP/stream.json")" ] ||
    fail "the stream read through libmariadb found other differences than from the sockets"
# the same with the checksums computed by the servers (verify.checksum = sql)
echo "verify.checksum = sql" >>"$project"
run_verifier 1
sed -i '/^verify.checksum/d' "$project"
[ "$(jq -c .differences "$report")" = "$(jq -c .differences "$FERRY_TEST_TMP/stream.json")" ] ||
    fail "verify.checksum = sql found other differences than stream"
[ "$(jq -c '.differences[] | select(.key.id == 1540) | .values.vc' "$report")" = \
    '{"source":null,"destination":""}' ] || fail "NULL vs '' not shown with both values"
[ "$(jq -r '[.tables[] | select(.table == "'"$src"'.types")][0] | "\(.missing) \(.extra) \(.changed)"' \
    "$report")" = "2 2 22" ] || fail "per-table counts wrong: $(jq -c .tables "$report")"
grep -q "time_zone = '+00:00'" "$repair" || fail "the repair SQL does not pin the time zone"
grep -q "REPLACE INTO \`$dst\`.\`types\`" "$repair" || fail "the repair SQL does not use the destination's names"
[ "$(tail -n 1 "$repair")" = "COMMIT;" ] && [ -z "$(tail -c 1 "$repair")" ] ||
    fail "the repair SQL does not end with COMMIT; and a newline: $(tail -c 20 "$repair" | od -c)"
# a missing row carries its source values, an extra row its destination values
[ "$(jq -c '.differences[] | select(.kind == "missing" and .key.id == 2) | [.values.id, .values.i, .values.vc]' \
    "$report")" = '[{"source":2},{"source":-4994},{"source":"v2"}]' ] ||
    fail "a missing row without its source values: $(jq -c '.differences[] | select(.key.id == 2)' "$report")"
[ "$(jq -c '.differences[] | select(.kind == "extra" and .key.id == 9000) | [.values.i, .values.vc]' \
    "$report")" = '[{"destination":1},{"destination":null}]' ] ||
    fail "an extra row without its destination values: $(jq -c '.differences[] | select(.key.id == 9000)' "$report")"
[ "$(jq '[.differences[] | select(.values == null)] | length' "$report")" = 0 ] ||
    fail "differences without values: $(jq -c '[.differences[] | select(.values == null)]' "$report")"
pass "every seeded difference found with its key, kind and column, and nothing else (both checksum modes, both stream readers)"

run_verifier 0 --apply
grep -q "^repair applied: 33 statements" "$FERRY_TEST_TMP/out.txt" ||
    fail "no repair was applied: $(cat "$FERRY_TEST_TMP/out.txt")"
run_verifier 0
pass "the repair SQL applied by --apply makes a second run report equal"

mysql2 -e "DROP TABLE $dst.nokey"
run_verifier 2
grep -q "does not exist at the destination" "$FERRY_TEST_TMP/err.txt" ||
    fail "no reason for the missing table: $(cat "$FERRY_TEST_TMP/err.txt")"
[ "$(wc -l <"$FERRY_TEST_TMP/err.txt")" -eq 1 ] || fail "the reason is not one line"
pass "a table missing at the destination: could not verify (exit 2) with the reason"

# a selection of no table is "could not verify", never "equal" having compared nothing
run_verifier 2 --tables "nodb_$$.*"
grep -q "could not verify: no selected table matches the pattern \"nodb_$$\.\*\"" "$FERRY_TEST_TMP/err.txt" ||
    fail "no reason for the pattern that matches nothing: $(cat "$FERRY_TEST_TMP/out.txt" "$FERRY_TEST_TMP/err.txt")"
[ "$(wc -l <"$FERRY_TEST_TMP/err.txt")" -eq 1 ] && [ ! -s "$FERRY_TEST_TMP/out.txt" ] ||
    fail "not one line: $(cat "$FERRY_TEST_TMP/out.txt" "$FERRY_TEST_TMP/err.txt")"
sed -i "s/^tables.include = .*/tables.include = nodb_$$.*/" "$project"
run_verifier 2
grep -q "could not verify: no source table matches the project's selection (tables.include \"nodb_$$\.\*\"" \
    "$FERRY_TEST_TMP/err.txt" || fail "no reason for the empty selection: $(cat "$FERRY_TEST_TMP/err.txt")"
[ "$(wc -l <"$FERRY_TEST_TMP/err.txt")" -eq 1 ] || fail "not one line: $(cat "$FERRY_TEST_TMP/err.txt")"
pass "a --tables pattern or a project selection that matches no table: could not verify (exit 2)"
