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

# TYPES_COLUMNS, TYPES_ALL, TYPES_ROWS: every column type and its edge values
. "$FERRY_SRC/tests/harness/types.sh"
COLUMNS=("${TYPES_COLUMNS[@]}")
ALL=$TYPES_ALL
ROWS=$TYPES_ROWS

defs=() exprs=() names=()
for c in "${COLUMNS[@]}"; do
    IFS='|' read -r name def expr <<<"$c"
    names+=("$name")
    defs+=("\`$name\` $def")
    exprs+=("IFNULL($expr,'NULL')")
done
create_sql="CREATE TABLE $DB.t ($(IFS=,; echo "${defs[*]}")) DEFAULT CHARSET=utf8mb4"
select_sql="SELECT CONCAT_WS('|',$(IFS=,; echo "${exprs[*]}")) FROM $DB.t ORDER BY id"

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
