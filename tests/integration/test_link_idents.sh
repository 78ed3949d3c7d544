#!/usr/bin/env bash
# Destination-side identifiers through a whole link run, full load and
# incremental: a database whose name holds a space, both quote characters and
# 3-byte UTF-8; tables and columns named with backticks, quotes, spaces,
# reserved words and 3-byte UTF-8 (MySQL-family servers refuse 4-byte UTF-8
# identifiers), an index with such a name, a default and a comment holding
# quotes, a composite key, a key change and a table without any key. At the
# end every table is equal row by row and by CHECKSUM TABLE, and the
# destination's definitions name the same columns and indexes.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_idents
. "$FERRY_SRC/tests/harness/link.sh"

db="idents_$$ 'q' \"d\" 表"
# the name as SQL writes it (no backtick inside)
q=\`$db\`
t1='select'
t2='tab``le "x" '"'"'y'"'"
t3='表 データ'

drop_databases() { mysql1 -e "DROP DATABASE IF EXISTS $q"; mysql2 -e "DROP DATABASE IF EXISTS $q"; }
ferry_cleanup_add drop_databases
mysql1 -e "
CREATE DATABASE $q CHARACTER SET utf8mb4;
USE $q;
CREATE TABLE \`$t1\` (\`from\` INT PRIMARY KEY, \`order\` VARCHAR(20), \`group\` INT,
  \`key\` VARCHAR(10) DEFAULT 'it''s' COMMENT 'a \"quoted\" ''comment''');
CREATE TABLE \`$t2\` (\`a b\` INT, \`c\`\`d\` VARCHAR(20), \`\"e\"\` INT, \`'f'\` TEXT,
  \`列名\` VARCHAR(20) NOT NULL, \`ü\` DATE,
  PRIMARY KEY (\`a b\`, \`列名\`), KEY \`idx \`\`q\` (\`c\`\`d\`, \`\"e\"\`));
CREATE TABLE \`$t3\` (\`值\` INT, \`x y\` VARCHAR(20));
INSERT INTO \`$t1\` SELECT seq, CONCAT('o', seq), seq % 3, IF(seq % 2, NULL, 'k') FROM seq_1_to_300;
INSERT INTO \`$t2\` SELECT seq, CONCAT('c\`', seq), seq, CONCAT('''', seq), CONCAT('列', seq % 4),
  '2024-02-29' + INTERVAL seq DAY FROM seq_1_to_300;
INSERT INTO \`$t3\` SELECT seq % 50, CONCAT('x y ', seq % 3) FROM seq_1_to_300;
"

project=$FERRY_TEST_TMP/idents.properties
link_project "$project" "idents-$$" <<P
tables.include = idents_$$*.*
P
link_up "$project"
link_wait "$project" full-done 120

# incremental: inserts, updates (one moves a key), deletes, key-less twins
mysql1 -e "
USE $q;
INSERT INTO \`$t1\` (\`from\`, \`order\`) VALUES (1000, 'new'), (1001, 'n\"e''w');
UPDATE \`$t1\` SET \`group\` = \`group\` + 10, \`key\` = 'k\`' WHERE \`from\` % 7 = 0;
UPDATE \`$t1\` SET \`from\` = 2000 WHERE \`from\` = 5;
DELETE FROM \`$t1\` WHERE \`from\` BETWEEN 100 AND 120;
INSERT INTO \`$t2\` VALUES (1000, 'new', 1, 'x', '列x', NULL);
UPDATE \`$t2\` SET \`列名\` = '列moved' WHERE \`a b\` = 3;
UPDATE \`$t2\` SET \`'f'\` = NULL, \`ü\` = '2000-01-01' WHERE \`a b\` % 5 = 0;
DELETE FROM \`$t2\` WHERE \`a b\` > 290;
INSERT INTO \`$t3\` VALUES (7, 'twin'), (7, 'twin');
UPDATE \`$t3\` SET \`x y\` = 'changed' WHERE \`值\` = 7 AND \`x y\` = 'twin' LIMIT 1;
DELETE FROM \`$t3\` WHERE \`值\` = 8 LIMIT 1;
"
link_wait "$project" caught-up 120

compare() {
    link_same_rows "$db" "$db" "$t1" '`from`, `order`, `group`, `key`' '`from`'
    link_same_rows "$db" "$db" "${t2//\`\`/\`}" '`a b`, `c``d`, `"e"`, `'"'"'f'"'"'`, HEX(`列名`), `ü`' '`a b`, `列名`'
    link_same_rows "$db" "$db" "$t3" '`值`, `x y`' '`值`, `x y`'
    link_same_checksum "$db" "$db" "$t1" "${t2//\`\`/\`}" "$t3"
}
link_settle 5 compare

# the definitions: same columns (names, types, defaults, comments) and indexes
for t in "$t1" "${t2//\`\`/\`}" "$t3"; do
    lit=${t//\'/\'\'}
    dlit=${db//\'/\'\'}
    cols="SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT
          FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '$dlit' AND TABLE_NAME = '$lit'
          ORDER BY ORDINAL_POSITION"
    idx="SELECT INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE FROM information_schema.STATISTICS
         WHERE TABLE_SCHEMA = '$dlit' AND TABLE_NAME = '$lit' ORDER BY INDEX_NAME, SEQ_IN_INDEX"
    for sql in "$cols" "$idx"; do
        a=$(mysql1 -e "$sql")
        b=$(mysql2 -e "$sql")
        [ -n "$a" ] || [ "$sql" = "$idx" ] || fail "no definition of $t on the source"
        if [ "$a" != "$b" ]; then
            diff <(echo "$a") <(echo "$b") >&2
            fail "the definition of $t differs between source and destination"
        fi
    done
done
n=$(link_dlq_count "$project")
[ "$n" = 0 ] || fail "$n events went to the dead-letter topic"
pass "database, tables, columns and an index with quotes, spaces, reserved words and 3-byte UTF-8: equal after full load and changes"
