#!/usr/bin/env bash
# Schema migration between the two MariaDB servers of the fixture, through
# libferry's schema layer (tests/integration/schema_migrate.c):
#  - on mariadb1, a database with every MariaDB 10.11 column type, defaults of
#    every kind, ON UPDATE, generated columns, quoted comments, a composite
#    primary key, unique/secondary/prefix/DESC/fulltext/spatial indexes,
#    AUTO_INCREMENT, a table without any key, awkward names, a foreign key, a
#    trigger and a view;
#  - definitions read from information_schema, carried through their JSON
#    event form, and created on mariadb2 under a rename (database renamed,
#    one table renamed) with one column filtered out;
#  - the destination's information_schema compared with the source's after
#    the mapping; foreign keys and triggers held back, then applied and
#    exercised;
#  - binlog-style DDL statements rewritten and applied to both sides, and the
#    comparison repeated.
# MariaDB keeps identifiers and comments in utf8mb3 metadata and refuses
# 4-byte UTF-8 there, so the awkward names use 3-byte characters; 4-byte
# names are covered by the unit test of the quoting and the rewriter.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init schema_migration

BIN=$FERRY_BUILD/tests/schema_migrate
[ -x "$BIN" ] || fail "no helper at $BIN"
SRC=schm_src
DST=schm_dst
OUT=$FERRY_TEST_TMP/out
mkdir -p "$OUT"
MAP=(--rename-db "$SRC:$DST" --rename-table "$SRC.alltypes:$DST.all_types2"
     --drop-column "$SRC.alltypes.secret" --include "$SRC.*")

mysql1 -e "DROP DATABASE IF EXISTS $SRC"
mysql2 -e "DROP DATABASE IF EXISTS $DST; DROP DATABASE IF EXISTS $SRC"
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $SRC' >/dev/null 2>&1"
ferry_cleanup_add "mysql2 -e 'DROP DATABASE IF EXISTS $DST' >/dev/null 2>&1"

mysql1 <<'SQL'
CREATE DATABASE schm_src CHARACTER SET utf8mb4;
USE schm_src;
CREATE TABLE alltypes (
  id INT NOT NULL AUTO_INCREMENT COMMENT 'the id',
  k2 VARCHAR(20) NOT NULL DEFAULT 'it''s a \\ "key"',
  c_tiny TINYINT DEFAULT -5,
  c_utiny TINYINT UNSIGNED ZEROFILL DEFAULT 7,
  c_small SMALLINT UNSIGNED NOT NULL DEFAULT 65535,
  c_medium MEDIUMINT DEFAULT NULL,
  c_int INT(5) UNSIGNED,
  c_big BIGINT UNSIGNED NOT NULL DEFAULT 18446744073709551615,
  c_dec DECIMAL(65,30) DEFAULT 0.000000000000000000000000000001,
  c_udec DECIMAL(10,2) UNSIGNED DEFAULT '12.50',
  c_float FLOAT(7,3) DEFAULT 1.5,
  c_double DOUBLE DEFAULT -2.5e-10,
  c_bit1 BIT(1) DEFAULT b'1',
  c_bit64 BIT(64) DEFAULT b'101',
  c_date DATE DEFAULT '2024-02-29',
  c_time TIME(3) DEFAULT '-838:59:59.000',
  c_dt DATETIME(6) DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
  c_ts TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
       COMMENT 'updated at',
  c_year YEAR DEFAULT 2155,
  c_char CHAR(10) CHARACTER SET latin1 COLLATE latin1_bin DEFAULT '',
  c_varchar VARCHAR(255) DEFAULT 'NULL',
  c_binary BINARY(4),
  c_varbinary VARBINARY(10) DEFAULT 'ab',
  c_tinyblob TINYBLOB,
  c_blob BLOB,
  c_mediumblob MEDIUMBLOB,
  c_longblob LONGBLOB,
  c_tinytext TINYTEXT,
  c_text TEXT DEFAULT 'text, default',
  c_mediumtext MEDIUMTEXT,
  c_longtext LONGTEXT COLLATE utf8mb4_unicode_ci,
  c_enum ENUM('a''b', 'c\\d', 'x,y', '€uro', '') NOT NULL DEFAULT 'c\\d',
  c_set SET('r', 'w''', 'x\\') DEFAULT 'r,x\\',
  c_json JSON,
  c_geom GEOMETRY,
  c_point POINT NOT NULL,
  c_line LINESTRING,
  c_poly POLYGON,
  c_mpoint MULTIPOINT,
  c_mline MULTILINESTRING,
  c_mpoly MULTIPOLYGON,
  c_gcoll GEOMETRYCOLLECTION,
  c_uuid UUID DEFAULT uuid(),
  c_inet4 INET4,
  c_inet6 INET6 DEFAULT '::1',
  c_expr VARCHAR(40) DEFAULT (concat('a', 'b')),
  c_virtual INT AS (c_int * 2) VIRTUAL COMMENT 'virtual ''one''',
  c_stored VARCHAR(30) AS (concat(k2, '-x')) STORED,
  c_invisible INT INVISIBLE DEFAULT 3,
  secret VARCHAR(100) DEFAULT 'hidden' COMMENT 'filtered out',
  PRIMARY KEY (id, k2),
  UNIQUE KEY uq_big (c_big, c_small),
  KEY ix_prefix (c_varchar(10), c_date DESC) COMMENT 'prefix ''index''',
  KEY ix_stored (c_stored),
  FULLTEXT KEY ft_text (c_text, c_mediumtext),
  SPATIAL KEY sp_point (c_point),
  CONSTRAINT ck_year CHECK (c_year > 1901)
) ENGINE=InnoDB AUTO_INCREMENT=1000 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci
  COMMENT='all the types: ''quoted'', \\backslash\\, "double"';

CREATE TABLE nokey (a INT, b VARCHAR(5)) COMMENT 'no key at all';

CREATE TABLE `we``ird "na'me" tbl` (
  `sel``ect` INT NOT NULL,
  `select` VARCHAR(10) DEFAULT 'from',
  `sp ace` INT,
  `quo"te'` INT DEFAULT 1,
  `€uro` DECIMAL(5,2),
  `表` VARCHAR(10) COMMENT '注释 ''q''',
  PRIMARY KEY (`sel``ect`),
  UNIQUE KEY `order` (`select`, `sp ace`),
  KEY `ke``y 2` (`€uro`, `表`)
);

CREATE TABLE parent (id INT PRIMARY KEY, name VARCHAR(20));
CREATE TABLE child (
  id INT PRIMARY KEY,
  pid INT NOT NULL,
  note VARCHAR(50),
  KEY ix_pid (pid),
  CONSTRAINT fk_child_parent FOREIGN KEY (pid) REFERENCES parent (id)
    ON DELETE CASCADE ON UPDATE RESTRICT
);
CREATE TRIGGER trg_child_note BEFORE INSERT ON child FOR EACH ROW
  SET NEW.note = CONCAT('trg:', COALESCE(NEW.note, ''));
CREATE VIEW v_child AS
  SELECT c.id, c.note, p.name FROM child c JOIN parent p ON p.id = c.pid;
SQL
pass "source schema created"

"$BIN" "${MAP[@]}" migrate "$FERRY_MARIADB1_URL" "$FERRY_MARIADB2_URL" "$SRC.*" "$OUT" \
    >"$OUT/migrate.log" 2>&1 || fail "migrate failed: $(cat "$OUT/migrate.log")"
grep -q "created view $SRC.v_child" "$OUT/migrate.log" || fail "view not created: $(cat "$OUT/migrate.log")"

# --- prechecks -------------------------------------------------------------
grep -q "warning: table \"$SRC.nokey\" has no primary key" "$OUT/precheck.txt" ||
    fail "no-key warning missing: $(cat "$OUT/precheck.txt")"
if grep -q "^error:" "$OUT/precheck.txt"; then fail "unexpected precheck error: $(cat "$OUT/precheck.txt")"; fi
grep -q "foreign key" "$OUT/precheck.txt" || fail "foreign key precheck note missing"
pass "prechecks: table without key warned, no type refused"

# --- the destination's information_schema against the source's ---------------
# dump DBNAME TABLE SIDE: columns, indexes, checks and table options of one
# table, without the names that the mapping changes.
dump() {
    local db=$1 tbl=$2 side=$3
    "mysql$side" -e "
      SELECT 'col', COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, IFNULL(COLUMN_DEFAULT, '<none>'),
             EXTRA, COLUMN_COMMENT, IFNULL(CHARACTER_SET_NAME, '-'), IFNULL(COLLATION_NAME, '-'),
             IFNULL(GENERATION_EXPRESSION, '-')
        FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$db' AND TABLE_NAME = '$tbl'
        ORDER BY ORDINAL_POSITION;
      SELECT 'idx', INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, IFNULL(COLLATION, '-'),
             IFNULL(SUB_PART, '-'), INDEX_TYPE, INDEX_COMMENT, IGNORED
        FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '$db' AND TABLE_NAME = '$tbl'
        ORDER BY INDEX_NAME, SEQ_IN_INDEX;
      SELECT 'chk', CONSTRAINT_NAME, LEVEL, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
        WHERE CONSTRAINT_SCHEMA = '$db' AND TABLE_NAME = '$tbl' ORDER BY CONSTRAINT_NAME;
      SELECT 'tbl', ENGINE, TABLE_COLLATION, TABLE_COMMENT, IFNULL(AUTO_INCREMENT, '-')
        FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$db' AND TABLE_NAME = '$tbl';"
}

# compare SRC_TABLE DST_TABLE [FILTERED_COLUMN]
compare() {
    local s=$1 d=$2 drop=${3:-}
    local sq=${s//\'/\'\'} dq=${d//\'/\'\'}
    dump "$SRC" "$sq" 1 >"$OUT/src.$d.txt"
    dump "$DST" "$dq" 2 >"$OUT/dst.$d.txt"
    if [ -n "$drop" ]; then
        grep -v -P "^col\t$drop\t" "$OUT/src.$d.txt" >"$OUT/src.$d.filtered" || true
        mv "$OUT/src.$d.filtered" "$OUT/src.$d.txt"
    fi
    [ "$(grep -c '^col' "$OUT/src.$d.txt")" -gt 0 ] || fail "no columns read for $s"
    diff -u "$OUT/src.$d.txt" "$OUT/dst.$d.txt" >"$OUT/diff.$d.txt" ||
        fail "destination table $d differs from source $s (- source, + destination):
$(cat "$OUT/diff.$d.txt")"
}

compare alltypes all_types2 secret
compare nokey nokey
compare "we\`ird \"na'me\" tbl" "we\`ird \"na'me\" tbl"
compare parent parent
# the child's FK index is compared; the FK itself is held back
compare child child
pass "destination matches the source: types, nullability, defaults, extras, comments, indexes, checks"

[ "$(mysql2 -e "SELECT COUNT(*) FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = '$DST' AND TABLE_NAME = 'all_types2' AND COLUMN_NAME = 'secret'")" = 0 ] ||
    fail "filtered column secret exists on the destination"
[ "$(mysql2 -e "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$SRC'")" = 0 ] ||
    fail "the source database name leaked to the destination"
grep -q 'column "secret" of "schm_src.alltypes" is left out' "$OUT/notes.txt" ||
    fail "no note about the filtered column: $(cat "$OUT/notes.txt")"
# the JSON event form is self-contained: it holds the table's columns, keys and held-back parts
grep -q '"foreign_keys":\[{"name":"fk_child_parent"' "$OUT/$SRC.child.json" ||
    fail "child's JSON lacks its foreign key"
pass "rename and column filter applied; notes and JSON event written"

# --- held back: foreign keys and triggers -------------------------------------
[ "$(mysql2 -e "SELECT COUNT(*) FROM information_schema.REFERENTIAL_CONSTRAINTS
      WHERE CONSTRAINT_SCHEMA = '$DST'")" = 0 ] || fail "a foreign key was created before switchover"
[ "$(mysql2 -e "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '$DST'")" = 0 ] ||
    fail "a trigger was created before switchover"
grep -q "ADD CONSTRAINT \`fk_child_parent\` FOREIGN KEY (\`pid\`) REFERENCES \`$DST\`.\`parent\` (\`id\`) ON DELETE CASCADE ON UPDATE RESTRICT" \
    "$OUT/held_back.sql" || fail "held-back FK statement: $(cat "$OUT/held_back.sql")"
grep -q "CREATE TRIGGER \`$DST\`.\`trg_child_note\` BEFORE INSERT ON \`$DST\`.\`child\`" \
    "$OUT/held_back.sql" || fail "held-back trigger statement: $(cat "$OUT/held_back.sql")"
"$BIN" exec "$FERRY_MARIADB2_URL" "$OUT/held_back.sql" || fail "could not apply held-back statements"
[ "$(mysql2 -e "SELECT CONCAT(UPDATE_RULE, '/', DELETE_RULE, '/', REFERENCED_TABLE_NAME)
      FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = '$DST'")" = "RESTRICT/CASCADE/parent" ] ||
    fail "foreign key not as at the source"
mysql2 -e "INSERT INTO $DST.parent VALUES (1, 'p1'); INSERT INTO $DST.child (id, pid, note) VALUES (10, 1, 'n')"
if mysql2 -e "INSERT INTO $DST.child (id, pid) VALUES (11, 99)" 2>/dev/null; then
    fail "the foreign key does not refuse an orphan"
fi
[ "$(mysql2 -e "SELECT note FROM $DST.child WHERE id = 10")" = "trg:n" ] || fail "trigger did not fire"
[ "$(mysql2 -e "SELECT name FROM $DST.v_child WHERE id = 10")" = "p1" ] || fail "view does not read the destination tables"
mysql2 -e "DELETE FROM $DST.parent WHERE id = 1"
[ "$(mysql2 -e "SELECT COUNT(*) FROM $DST.child")" = 0 ] || fail "ON DELETE CASCADE did not cascade"
pass "foreign key and trigger held back, then applied and working; view works"

# --- binlog-style DDL through the rewriter --------------------------------------
# rewrite SQL: applies SQL at the source, and its rewrite at the destination.
rewrite() {
    local sql=$1
    mysql1 -D "$SRC" -e "$sql" || fail "source refused: $sql"
    "$BIN" "${MAP[@]}" rewrite "$FERRY_MARIADB2_URL" "$SRC" "$sql" >"$OUT/rw.out" 2>"$OUT/rw.err" ||
        fail "rewrite of '$sql' failed: $(cat "$OUT/rw.err")"
    cat "$OUT/rw.out" >>"$OUT/rewrites.log"
}
rewrite "ALTER TABLE alltypes ADD COLUMN added INT DEFAULT 7 COMMENT 'new ''one''' AFTER c_int, DROP COLUMN secret"
grep -q "dropped column: secret" "$OUT/rw.out" || fail "dropped column not reported: $(cat "$OUT/rw.out")"
grep -q "^sql: ALTER TABLE \`$DST\`.\`all_types2\` ADD COLUMN added INT" "$OUT/rw.out" || fail "rewrite: $(cat "$OUT/rw.out")"
rewrite "CREATE INDEX ix_added ON alltypes (added DESC)"
rewrite "/* a comment with DROP TABLE x */ CREATE TABLE IF NOT EXISTS \`new tbl\` (id INT PRIMARY KEY, v VARCHAR(10) DEFAULT 'a,b') COMMENT 'made by ''DDL'''"
rewrite "RENAME TABLE \`new tbl\` TO new_tbl2, nokey TO nokey2"
rewrite "ALTER TABLE new_tbl2 MODIFY v VARCHAR(20) NOT NULL DEFAULT '', ADD UNIQUE KEY uq_v (v)"
rewrite "TRUNCATE TABLE nokey2"
rewrite "ALTER TABLE \`we\`\`ird \"na'me\" tbl\` CHANGE \`sp ace\` \`sp ace 2\` BIGINT, DROP INDEX \`ke\`\`y 2\`"
compare alltypes all_types2
compare new_tbl2 new_tbl2
compare nokey2 nokey2
compare "we\`ird \"na'me\" tbl" "we\`ird \"na'me\" tbl"
rewrite "DROP TABLE IF EXISTS new_tbl2 /* generated by server */"
[ "$(mysql2 -e "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '$DST' AND TABLE_NAME = 'new_tbl2'")" = 0 ] ||
    fail "DROP TABLE was not applied"
# a statement that cannot be applied safely is refused with its reason
if "$BIN" "${MAP[@]}" rewrite "$FERRY_MARIADB2_URL" "$SRC" "ALTER TABLE alltypes ADD INDEX ix_secret (secret)" \
    >"$OUT/rw.out" 2>"$OUT/rw.err"; then
    fail "an index on a filtered column was not refused"
fi
grep -q 'uses column "secret" of "schm_src.alltypes", which the column filter leaves out' "$OUT/rw.err" ||
    fail "refusal reason: $(cat "$OUT/rw.err")"
pass "binlog DDL rewritten (rename, filter, comments, quoting) and applied; destination still matches"
