#!/usr/bin/env bash
# The full load shared by separate ferry-worker processes, through the real
# binaries: ferryctl up starts the producer (planner only:
# fullload.in.producer = false), the consumer and two ferry-worker processes
# (fullload.workers = 2) that split a 40,000-row table cut into 80 chunks.
# Once worker 1 has copied a few chunks it is killed with SIGKILL, and so is
# the consumer, which is started again at once; worker 1 stays dead, so the
# load can only finish if worker 2 takes over its tasks. At the end the
# destination equals the source, the key-less table's duplicate rows are
# neither lost nor doubled, and the rows the consumer recorded as loaded per
# table equal the source's counts (a chunk loaded twice would show there).
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init fullload_workers
ctl=$FERRY_BUILD/tools/ferryctl
src=flw_$$
dst=flw_$$_dst
run=$FERRY_TEST_TMP/run

mysql1 -e "
CREATE DATABASE $src;
USE $src;
CREATE TABLE $src.big (id INT PRIMARY KEY, v VARCHAR(40), n BIGINT);
INSERT INTO $src.big SELECT seq * 3, CONCAT('row ', seq), seq * seq FROM seq_1_to_40000;
CREATE TABLE $src.nokey (a INT, b VARCHAR(10));
INSERT INTO $src.nokey SELECT seq % 50, IF(seq % 7, 'dup', NULL) FROM seq_1_to_900;
"
project=$FERRY_TEST_TMP/workers.properties
cat >"$project" <<P
project.name = flw-$$
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = $src.*
rename.databases = $src:$dst
runtime.dir = $run
fullload.in.producer = false
fullload.workers = 2
fullload.threads = 1
fullload.chunk.rows = 500
kafka.session.timeout.ms = 6000
P
ferry_cleanup_add "$ctl down $project --timeout 10"
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"

"$ctl" check "$project" >/dev/null || fail "ferryctl check: $("$ctl" check "$project" 2>&1)"
out=$("$ctl" up "$project") || fail "ferryctl up failed: $out"
echo "$out"
for w in worker-1 worker-2; do
    grep -q "^ferry-$w " <<<"$out" || fail "ferryctl up did not start $w"
done

copied() { grep -c 'msg="chunk copied"' "$run/logs/$1.log" 2>/dev/null || true; }
wait_for "[ \$(grep -c 'msg=\"chunk copied\"' $run/logs/worker-1.log) -ge 3 ]" 120 \
    "worker 1 to copy 3 chunks"
kill -9 "$(cat "$run/worker-1.pid")"
kill -9 "$(cat "$run/consumer.pid")"
w1=$(copied worker-1)
echo "killed worker 1 after $w1 chunks (worker 2 had $(copied worker-2)) and the consumer"
# the consumer comes back at once; worker 1 does not
"$FERRY_BUILD/consumer/ferry-consumer" "$project" >>"$run/logs/consumer.log" 2>&1 &
echo $! >"$run/consumer.pid"

"$ctl" wait "$project" --until full-done --timeout 300 ||
    fail "the full load did not finish without worker 1: $("$ctl" status "$project" 2>&1)"
w2=$(copied worker-2)
[ "$w2" -ge 1 ] || fail "worker 2 copied nothing: the load was not shared"
[ "$w1" -lt 81 ] || fail "worker 1 had copied every chunk before it was killed"
pass "two ferry-worker processes shared the chunks; after kill -9 of one, the other finished ($w1 + $w2 chunks)"

for t in big nokey; do
    a=$(mysql1 -e "SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', $([ $t = big ] && echo 'id, v, n' || echo 'a, b')))) FROM $src.$t")
    b=$(mysql2 -e "SELECT COUNT(*), SUM(CRC32(CONCAT_WS('|', $([ $t = big ] && echo 'id, v, n' || echo 'a, b')))) FROM $dst.$t") ||
        fail "destination table $dst.$t is missing"
    [ "$a" = "$b" ] || fail "$t: source (count, sum of row CRCs) $a, destination $b"
    c=$(mysql1 -e "CHECKSUM TABLE $src.$t" | cut -f2)
    d=$(mysql2 -e "CHECKSUM TABLE $dst.$t" | cut -f2)
    [ "$c" = "$d" ] || fail "CHECKSUM TABLE $t: source $c, destination $d"
    loaded=$(mysql2 -e "SELECT SUM(rows_applied) FROM ferry_meta.ferry_progress
                        WHERE link = 'flw-$$.fwd' AND db = '$dst' AND tbl = '$t' AND phase = 'snapshot'")
    [ "$loaded" = "$(cut -f1 <<<"$a")" ] ||
        fail "$t: the consumer recorded $loaded snapshot rows loaded, the source has $(cut -f1 <<<"$a")"
done
pass "destination equals source; every row loaded exactly once"
