#!/usr/bin/env bash
# ferry-test: serial
# test_binlog_types.sh - every MariaDB 10.11 column type through ferry's binlog
# decoder, compared value by value with the server's own rendering.
#
# On mariadb1 (binlog_row_metadata=FULL): a table with every column type,
# rows with NULLs, minima, maxima, zero dates, negative fractional TIME,
# several charsets, 4-byte UTF-8, BINARY with trailing zeros, ENUM/SET,
# JSON, GEOMETRY with SRID, INET6/UUID and a 1 MiB LONGBLOB; then an UPDATE
# of every row and a DELETE of every row. FLUSH BINARY LOGS, decode the file
# from the datadir with tests/integration/binlog_types.c, and compare each
# row image with a SELECT that renders the same canonical text (see the
# header of binlog_types.c). Also: every collation id the server knows maps
# to the server's charset name; on mariadb2 (global settings, restored at
# once) binlog_row_metadata=MINIMAL gives tables without names, and
# log_bin_compress=ON gives MariaDB's compressed QUERY/rows events, which
# must decode to the same rows.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init binlog_types

BT=$FERRY_BUILD/tests/binlog_types
DB=ferry_binlog_types
T=$FERRY_TEST_TMP

# name, definition, SQL rendering (the same canonical text binlog_types prints)
COLUMNS=(
    "id|INT NOT NULL PRIMARY KEY|id"
    "k|INT NOT NULL|k"
    "ti|TINYINT|ti" "tiu|TINYINT UNSIGNED|tiu" "si|SMALLINT|si" "siu|SMALLINT UNSIGNED|siu"
    "mi|MEDIUMINT|mi" "miu|MEDIUMINT UNSIGNED|miu" "ii|INT|ii" "iiu|INT UNSIGNED|iiu"
    "bi|BIGINT|bi" "biu|BIGINT UNSIGNED|biu"
    "d65|DECIMAL(65,30)|d65" "d10|DECIMAL(10,2)|d10" "d5|DECIMAL(5,0)|d5" "d38|DECIMAL(38,38)|d38"
    "f|FLOAT|f" "dbl|DOUBLE|dbl"
    "b1|BIT(1)|b1+0" "b10|BIT(10)|b10+0" "b64|BIT(64)|b64+0"
    "y|YEAR|y" "dt|DATE|dt"
    "tm|TIME|tm" "tm3|TIME(3)|tm3" "tm6|TIME(6)|tm6"
    "dtm|DATETIME|dtm" "dtm2|DATETIME(2)|dtm2" "dtm6|DATETIME(6)|dtm6"
    "ts|TIMESTAMP NULL|ts" "ts3|TIMESTAMP(3) NULL|ts3" "ts6|TIMESTAMP(6) NULL|ts6"
    "c|CHAR(10)|HEX(CONVERT(c USING utf8mb4))"
    "vc|VARCHAR(300)|HEX(CONVERT(vc USING utf8mb4))"
    "tt|TINYTEXT|HEX(CONVERT(tt USING utf8mb4))" "tx|TEXT|HEX(CONVERT(tx USING utf8mb4))"
    "mt|MEDIUMTEXT|HEX(CONVERT(mt USING utf8mb4))" "lt|LONGTEXT|HEX(CONVERT(lt USING utf8mb4))"
    "l1|VARCHAR(20) CHARACTER SET latin1|HEX(CONVERT(l1 USING utf8mb4))"
    "lc|CHAR(5) CHARACTER SET latin1|HEX(CONVERT(lc USING utf8mb4))"
    "u3|VARCHAR(20) CHARACTER SET utf8mb3|HEX(CONVERT(u3 USING utf8mb4))"
    "gk|VARCHAR(20) CHARACTER SET gbk|HEX(CONVERT(gk USING utf8mb4))"
    "cy|VARCHAR(20) CHARACTER SET cp1251|HEX(CONVERT(cy USING utf8mb4))"
    "u2|VARCHAR(20) CHARACTER SET ucs2|HEX(CONVERT(u2 USING utf8mb4))"
    "u16|VARCHAR(20) CHARACTER SET utf16|HEX(CONVERT(u16 USING utf8mb4))"
    "u32|CHAR(4) CHARACTER SET utf32|HEX(CONVERT(u32 USING utf8mb4))"
    "bn|BINARY(8)|HEX(bn)" "vb|VARBINARY(20)|HEX(vb)" "tb|TINYBLOB|HEX(tb)" "bl|BLOB|HEX(bl)"
    "mb|MEDIUMBLOB|HEX(mb)" "lb|LONGBLOB|HEX(lb)"
    "e|ENUM('a','b c','ü')|HEX(CONVERT(e USING utf8mb4))"
    "s|SET('x','y','z')|HEX(CONVERT(s USING utf8mb4))"
    "j|JSON|HEX(j)"
    "g|GEOMETRY|CONCAT(ST_SRID(g),':',HEX(ST_AsWKB(g)))"
    "p|POINT|CONCAT(ST_SRID(p),':',HEX(ST_AsWKB(p)))"
    "i6|INET6|HEX(CAST(i6 AS BINARY(16)))"
    "uu|UUID|HEX(CAST(uu AS BINARY(16)))"
)

defs=() exprs=() names=()
for c in "${COLUMNS[@]}"; do
    IFS='|' read -r name def expr <<<"$c"
    names+=("$name")
    defs+=("\`$name\` $def")
    exprs+=("IFNULL($expr,'NULL')")
done
create_sql="CREATE TABLE $DB.t ($(IFS=,; echo "${defs[*]}")) DEFAULT CHARSET=utf8mb4"
select_sql="SELECT CONCAT_WS('|',$(IFS=,; echo "${exprs[*]}")) FROM $DB.t ORDER BY id"

# Row values: NULLs, minima, maxima, zero / special values, fractions.
ALL="id,k,ti,tiu,si,siu,mi,miu,ii,iiu,bi,biu,d65,d10,d5,d38,f,dbl,b1,b10,b64,y,dt,tm,tm3,tm6,dtm,dtm2,dtm6,ts,ts3,ts6"
ALL="$ALL,c,vc,tt,tx,mt,lt,l1,lc,u3,gk,cy,u2,u16,u32,bn,vb,tb,bl,mb,lb,e,s,j,g,p,i6,uu"
read -r -d '' ROWS <<'EOF' || true
(1,1,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,
 NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL),
(2,2,-128,0,-32768,0,-8388608,0,-2147483648,0,-9223372036854775808,0,
 -99999999999999999999999999999999999.999999999999999999999999999999,-99999999.99,-99999,-0.99999999999999999999999999999999999999,
 -3.40282e38,-1.7976931348623157e308,0,0,0,1901,'1000-01-01','-838:59:59','-838:59:59.000','-838:59:59.000000',
 '1000-01-01 00:00:00','1000-01-01 00:00:00.00','1000-01-01 00:00:00.000000','1970-01-01 00:00:01','1970-01-01 00:00:01.000','1970-01-01 00:00:01.000001',
 '','','','','','','','','','','','','','','',x'','','','','','a','','[]',ST_GeomFromText('POINT(0 0)'),POINT(0,0),'::','00000000-0000-0000-0000-000000000000'),
(3,3,127,255,32767,65535,8388607,16777215,2147483647,4294967295,9223372036854775807,18446744073709551615,
 99999999999999999999999999999999999.999999999999999999999999999999,99999999.99,99999,0.99999999999999999999999999999999999999,
 3.40282e38,1.7976931348623157e308,1,1023,18446744073709551615,2155,'9999-12-31','838:59:59','838:59:59.000','838:59:59.000000',
 '9999-12-31 23:59:59','9999-12-31 23:59:59.99','9999-12-31 23:59:59.999999','2038-01-19 03:14:07','2038-01-19 03:14:07.999','2038-01-19 03:14:07.999999',
 'abcdefghij',REPEAT('é',300),REPEAT('t',255),REPEAT('x',1000),REPEAT('m',70000),REPEAT('l',70000),
 'Grüße €‚ƒ','ÿü  ','utf8mb3 ü','中文字符','Привет','∆˚ø¨´…','😀 𝄞','😀ü',
 x'ffffffffffffffff',x'00ff00ff',x'01',x'0000',REPEAT(x'ab',70000),REPEAT(x'00ff',524288),
 'ü','x,y,z','{"a": [1, 2.5, "é"], "b": {"c": null}}',ST_GeomFromText('LINESTRING(1 1,2 2,3 5)',4326),ST_PointFromText('POINT(3 4)',3857),
 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff','ffffffff-ffff-ffff-ffff-ffffffffffff'),
(4,4,0,1,0,1,0,1,0,1,0,1,0,0.00,0,0,0,0,0,0,0,0,'0000-00-00','00:00:00','-00:00:00.001','-00:00:00.500000',
 '0000-00-00 00:00:00','0000-00-00 00:00:00.00','0000-00-00 00:00:00.000000','0000-00-00 00:00:00','0000-00-00 00:00:00.000','0000-00-00 00:00:00.000000',
 ' ','trailing  ','tab\there','line\nbreak','quote\'s','back\\slash','','','','','','','','',
 x'6162',x'00',x'',x'00',x'',x'',
 'b c','','"just a string"',ST_GeomFromText('POLYGON((0 0,1 0,1 1,0 0))'),NULL,'2001:db8::ff00:42:8329','123e4567-e89b-12d3-a456-426614174000'),
(5,5,-1,127,-1,32768,-1,8388608,-1,2147483648,-1,9223372036854775808,
 -0.000000000000000000000000000001,-0.01,-1,-0.00000000000000000000000000000000000001,
 1.5,-2.25,1,682,9223372036854775808,1999,'2024-02-29','-12:34:56','-01:02:03.456','-10:23:45.123456',
 '2023-11-30 12:34:56','2023-11-30 12:34:56.12','2023-11-30 12:34:56.123456','2023-11-30 12:34:56','2023-11-30 12:34:56.123','2023-11-30 12:34:56.123456',
 'x','y','z','w','v','u','a','b','c','d','e','f','g','h',
 x'0102030000000000',x'ff',x'7f',x'80',x'81',x'82',
 'a','y','{"n": -1.5e-7, "big": 18446744073709551615}',NULL,ST_PointFromText('POINT(-1.5 2.25)'),'::ffff:1.2.3.4','00112233-4455-6677-8899-aabbccddeeff')
EOF

mysql1 -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB"
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $DB' >/dev/null 2>&1"
mysql1 -e "$create_sql"
mysql1 -e "FLUSH BINARY LOGS"
file=$(mysql1 -e "SHOW MASTER STATUS" | cut -f1)
datadir=$(mysql1 -e "SELECT @@datadir")
mysql1 -e "SET SESSION sql_mode=''; SET SESSION time_zone='+00:00';
           INSERT INTO $DB.t ($ALL) VALUES $ROWS" || fail "could not insert the rows"
mysql1 -e "SET SESSION time_zone='+00:00'; $select_sql" >"$T/snap1.txt"
mysql1 -e "SET SESSION sql_mode=''; UPDATE $DB.t SET k = k + 100, c = CONCAT('u', id)"
mysql1 -e "SET SESSION time_zone='+00:00'; $select_sql" >"$T/snap2.txt"
mysql1 -e "DELETE FROM $DB.t"
mysql1 -e "FLUSH BINARY LOGS"
[ "$(wc -l <"$T/snap1.txt")" -eq 5 ] || fail "expected 5 rows, got $(wc -l <"$T/snap1.txt")"

{
    sed 's/^/insert after /' "$T/snap1.txt"
    paste -d '\n' <(sed 's/^/update before /' "$T/snap1.txt") <(sed 's/^/update after /' "$T/snap2.txt")
    sed 's/^/delete before /' "$T/snap2.txt"
} >"$T/expected.txt"
"$BT" rows "$datadir/$file" "$DB.t" >"$T/decoded.txt" || fail "binlog_types could not decode $file"

if ! cmp -s "$T/expected.txt" "$T/decoded.txt"; then
    # name the first differing value
    paste -d '\n' "$T/expected.txt" "$T/decoded.txt" | awk -v names="$(IFS=,; echo "${names[*]}")" '
        NR % 2 == 1 { want = $0; next }
        want != $0 {
            split(names, n, ","); nw = split(want, a, "|"); nd = split($0, b, "|")
            for (i = 1; i <= (nw > nd ? nw : nd); i++)
                if (a[i] != b[i]) {
                    printf "row image %d column %s: server %.200s, ferry %.200s\n", NR / 2, n[i], a[i], b[i]
                    bad++
                    if (bad > 20) exit
                }
        }' >&2
    fail "decoded rows differ from the server's (files in $T)"
fi
pass "$(wc -l <"$T/decoded.txt") row images x ${#COLUMNS[@]} columns match the server"

# Column descriptions from FULL metadata: names, unsigned, charsets, pk.
"$BT" columns "$datadir/$file" "$DB.t" >"$T/columns.txt"
grep -q '^table .* names_missing=0 pk_known=1' "$T/columns.txt" || fail "names/pk missing: $(head -1 "$T/columns.txt")"
for want in "id int int - flags=0x0 .* pk=1" "biu uint bigint unsigned -" "d65 decimal decimal(65,30) -" \
    "tm6 time time(6) -" "ts3 timestamp timestamp(3) -" "l1 string varchar(20) latin1" \
    "u3 string varchar(20) utf8mb3" "u32 string char(4) utf32" "bn bytes binary(8) -" \
    "e enum enum utf8mb4 .* members=3" "s set set utf8mb4 .* members=3" "g geometry geometry -" \
    "p geometry point -" "b64 bit bit(64) -"; do
    grep -q "^$want" "$T/columns.txt" || fail "column description '$want' not in: $(cat "$T/columns.txt")"
done
pass "column names, types, charsets and primary key come from the TABLE_MAP"

# Every collation the server knows maps to its character set.
# (COLLATIONS leaves the ids of MariaDB's UCA 14.0 collations NULL; this view has them all)
mysql1 -e "SELECT DISTINCT ID, CHARACTER_SET_NAME
           FROM information_schema.COLLATION_CHARACTER_SET_APPLICABILITY
           WHERE ID IS NOT NULL ORDER BY ID" |
    tr '\t' ' ' >"$T/collations.txt"
# shellcheck disable=SC2046
"$BT" collation $(cut -d' ' -f1 "$T/collations.txt") >"$T/ferry_collations.txt"
diff "$T/collations.txt" "$T/ferry_collations.txt" >&2 || fail "collation ids map to other charsets"
pass "$(wc -l <"$T/collations.txt") collation ids map to the server's charsets"

# mariadb2: binlog_row_metadata and log_bin_compress are global in MariaDB
# 10.11, so they are changed on the destination instance, for as short a time
# as possible, and restored by a cleanup as well.
old_meta=$(mysql2 -e "SELECT @@GLOBAL.binlog_row_metadata")
old_compress=$(mysql2 -e "SELECT @@GLOBAL.log_bin_compress")
ferry_cleanup_add "mysql2 -e \"SET GLOBAL binlog_row_metadata='$old_meta', GLOBAL log_bin_compress=$old_compress\""
ferry_cleanup_add "mysql2 -e 'DROP DATABASE IF EXISTS $DB' >/dev/null 2>&1"
mysql2 -e "DROP DATABASE IF EXISTS $DB; CREATE DATABASE $DB; $create_sql"
mysql2 -e "FLUSH BINARY LOGS"
file2=$(mysql2 -e "SHOW MASTER STATUS" | cut -f1)
datadir2=$(mysql2 -e "SELECT @@datadir")
mysql2 -e "SET GLOBAL binlog_row_metadata='MINIMAL', GLOBAL log_bin_compress=ON;
           SET SESSION sql_mode=''; SET SESSION time_zone='+00:00';
           INSERT INTO $DB.t ($ALL) VALUES $ROWS;
           CREATE TABLE $DB.t2 (a INT) COMMENT '$(printf 'c%.0s' {1..300})';
           SET GLOBAL binlog_row_metadata='$old_meta', GLOBAL log_bin_compress=$old_compress" ||
    fail "could not insert on mariadb2"
mysql2 -e "FLUSH BINARY LOGS"
"$BT" dump "$datadir2/$file2" >"$T/dump2.txt" || fail "could not decode $file2"
grep -q 'MARIA_WRITE_ROWS_COMPRESSED_V1 .* rows=' "$T/dump2.txt" ||
    fail "no compressed rows event decoded: $(grep -c . "$T/dump2.txt") events"
grep -q "MARIA_QUERY_COMPRESSED .* sql=CREATE TABLE $DB.t2 (a INT) COMMENT 'ccc" "$T/dump2.txt" ||
    fail "no compressed QUERY event"
grep -q "TABLE_MAP .* $DB.t cols=${#COLUMNS[@]} names-missing" "$T/dump2.txt" ||
    fail "MINIMAL metadata did not give a table without names"
"$BT" columns "$datadir2/$file2" "$DB.t" >"$T/columns2.txt"
grep -q '^@1 int int' "$T/columns2.txt" || fail "no @1 column: $(head -3 "$T/columns2.txt")"
grep -q '^@12 uint bigint unsigned' "$T/columns2.txt" || fail "signedness lost under MINIMAL"
# With MINIMAL metadata ENUM/SET are numbers; everything else decodes as with FULL.
"$BT" rows "$datadir2/$file2" "$DB.t" >"$T/decoded2.txt"
awk -F'|' 'BEGIN { OFS = "|" } { $53 = "-"; $54 = "-"; print }' "$T/decoded2.txt" >"$T/d2.txt"
sed 's/^/insert after /' "$T/snap1.txt" | awk -F'|' 'BEGIN { OFS = "|" } { $53 = "-"; $54 = "-"; print }' >"$T/e2.txt"
diff "$T/e2.txt" "$T/d2.txt" >&2 || fail "MINIMAL-metadata, compressed rows differ from the server's"
pass "MINIMAL metadata: names missing, compressed events decode to the same rows"
