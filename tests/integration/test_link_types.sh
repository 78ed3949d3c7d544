#!/usr/bin/env bash
# Every MariaDB 10.11 column type with its edge values (tests/harness/types.sh:
# NULLs, minima, maxima, zero dates, negative fractional TIME, many charsets,
# 4-byte UTF-8, BINARY with trailing zeros, ENUM/SET, JSON, GEOMETRY with SRID,
# INET6/UUID, a 1 MiB LONGBLOB) through one link run, full load and
# incremental: rows present before the link starts, rows inserted while it
# copies, then updates that swap edge rows, deletes, and more inserts. Two
# tables: one with a primary key and one without any key (its updates and
# deletes match rows on every column). At the end both tables are compared
# row by row through each column's canonical rendering (HEX for strings and
# binary data) and by CHECKSUM TABLE.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_types
. "$FERRY_SRC/tests/harness/link.sh"
. "$FERRY_SRC/tests/harness/types.sh"

src=types_$$
dst=types_$$_dst

defs=() exprs=() sets=()
for c in "${TYPES_COLUMNS[@]}"; do
    IFS='|' read -r name def expr <<<"$c"
    defs+=("\`$name\` $def")
    exprs+=("$expr")
    # FLOAT renders with 6 digits: also show the value it holds exactly
    case $def in FLOAT*) exprs+=("CAST($name AS DOUBLE)") ;; esac
    [ "$name" = id ] || sets+=("a.\`$name\` = b.\`$name\`")
done
cols=$(IFS=,; echo "${exprs[*]}")
keyed=$(IFS=,; echo "${defs[*]}")
keyless=${keyed/INT NOT NULL PRIMARY KEY/INT NOT NULL}

# rows VALUES_PREFIX: TYPES_ROWS with ids (and k) 1-5 turned into PREFIX1-PREFIX5
rows() { sed -E "s/^\(([1-5]),\1,/($1\1,$1\1,/" <<<"$TYPES_ROWS"; }
insert() { # insert TABLE ID_PREFIX
    mysql1 -e "SET SESSION sql_mode = ''; SET SESSION time_zone = '+00:00';
               INSERT INTO $src.$1 ($TYPES_ALL) VALUES $(rows "$2")" ||
        fail "could not insert rows $2* into $1"
}

ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
mysql1 -e "CREATE DATABASE $src;
           CREATE TABLE $src.t ($keyed) DEFAULT CHARSET=utf8mb4;
           CREATE TABLE $src.nk ($keyless) DEFAULT CHARSET=utf8mb4"
insert t ""
insert nk ""

project=$FERRY_TEST_TMP/types.properties
link_project "$project" "types-$$" <<P
tables.include = $src.*
rename.databases = $src:$dst
P
link_up "$project"
# while the full load runs (or just after it): applied in safe mode
insert t 1
insert nk 1
link_wait "$project" full-done 120

# incremental: rows 11-15 take the values of rows 5-1 (every edge value in
# both the before and the after image), updates and deletes of copied rows,
# then new rows
for t in t nk; do
    mysql1 -e "SET SESSION sql_mode = ''; SET SESSION time_zone = '+00:00';
        UPDATE $src.$t a JOIN $src.$t b ON b.id = 16 - a.id
          SET $(IFS=,; echo "${sets[*]}") WHERE a.id BETWEEN 11 AND 15;
        UPDATE $src.$t SET k = k + 100 WHERE id <= 5;
        DELETE FROM $src.$t WHERE id IN (4, 12);" || fail "could not change $t"
    insert "$t" 2
done
link_wait "$project" caught-up 120

compare() {
    for t in t nk; do
        link_same_rows "$src" "$dst" "$t" "$cols" id
        link_same_checksum "$src" "$dst" "$t"
    done
}
link_settle 5 compare
n=$(mysql1 -e "SELECT COUNT(*) FROM $src.nk")
[ "$n" = 13 ] || fail "expected 13 rows in nk, found $n"
pass "${#TYPES_COLUMNS[@]} columns, keyed and key-less, full load and incremental: equal row by row and by CHECKSUM TABLE"
