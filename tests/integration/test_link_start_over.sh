#!/usr/bin/env bash
# The README's "Starting a link over" (the answer to errors that say "copy
# again"): ferryctl down, drop the link's tables at the destination, a new
# project.name, ferryctl up. The new project copies the source as it is now,
# changes made while the old link was down included, and keeps up after;
# nothing of the old project's topics, groups or ferry_offsets rows gets in
# the way.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_start_over
. "$FERRY_SRC/tests/harness/link.sh"

src=lso_$$
dst=lso_$$_dst
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
mysql1 -e "
CREATE DATABASE $src;
USE $src;
CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(40));
INSERT INTO t SELECT seq, MD5(seq) FROM seq_1_to_5000;
"
project=$FERRY_TEST_TMP/lso.properties
settings="tables.include = $src.*
rename.databases = $src:$dst"
link_project "$project" "lso-a-$$" <<<"$settings"
link_up "$project"
link_wait "$project" caught-up 120
mysql1 -e "UPDATE $src.t SET v = 'changed' WHERE id < 100"
link_settle 10 link_same_rows "$src" "$dst" t "id, v" id
"$LINK_CTL" down "$project" >/dev/null || fail "ferryctl down failed"
pass "the first project copied the table and kept up"

# while no link runs: changes the old project never sees
mysql1 -e "USE $src; INSERT INTO t SELECT seq, 'new' FROM seq_5001_to_6000;
  DELETE FROM t WHERE id <= 10; UPDATE t SET v = 'later' WHERE id BETWEEN 400 AND 450"

# start over: the destination's tables dropped, a new project name
mysql2 -e "DROP TABLE $dst.t"
link_project "$project" "lso-b-$$" <<<"$settings"
link_up "$project"
link_wait "$project" caught-up 120
mysql1 -e "UPDATE $src.t SET v = 'again' WHERE id BETWEEN 200 AND 300"
link_settle 10 link_same_rows "$src" "$dst" t "id, v" id
link_same_checksum "$src" "$dst" t
pass "started over under a new project name: the destination equals the source again"
