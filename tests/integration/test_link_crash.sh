#!/usr/bin/env bash
# Crash safety of the MySQL-family link, through the real binaries.
#
# Phase 1: while a random DML workload runs against the source (inserts,
# updates incl. primary-key changes, deletes, multi-statement transactions,
# rolled back ones, large rows, NULLs, a composite key, and a table without
# any key so that a row applied twice shows), the producer (capture and a
# full-load worker thread), a separate ferry-worker process and the consumer
# (alone or with the producer) are killed with kill -9 at random moments,
# many times, during the full load and after it, and restarted with ferryctl
# up. At the end (ferryctl wait --until caught-up) the destination
# equals the source row by row and by CHECKSUM TABLE, and nothing went to the
# dead-letter topic (a change applied twice to a keyed table would be a
# strict-mode error there).
#
# Phase 2: the same on a private ferry-devkafka while Kafka faults are
# injected through its control endpoint (broker down and up, request errors,
# round-trip delays), mixed with more kills.
#
# Random but replayable: the seed is printed; FERRY_CRASH_SEED=<seed> runs the
# same plan again (the moments of the kills still depend on the machine).
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init link_crash
. "$FERRY_SRC/tests/harness/link.sh"

seed=${FERRY_CRASH_SEED:-$(((RANDOM << 15 | RANDOM) % 1000000))}
echo "link_crash: seed $seed (replay with FERRY_CRASH_SEED=$seed)"
RANDOM=$seed

# (bash reseeds $RANDOM in every subshell, so it is only read in this shell
# and in the workload's, which seeds itself: never inside $(...).)
# nap MIN_MS MAX_MS: sleeps a random time in [MIN, MAX) milliseconds
nap() {
    local ms=$(($1 + RANDOM % ($2 - $1)))
    sleep "$((ms / 1000)).$((ms % 1000 / 100))$((ms % 100 / 10))$((ms % 10))"
}

# ---- tables and their first rows (copied by the full load) ---------------

# Sized for ferry-devkafka, which keeps about 5 MB per partition: every
# attempt at a chunk (redone after each producer kill) sends all its rows to
# one partition, so a chunk must stay well under 1 MB.
N_ACCT=4000
create_source() { # create_source DB
    mysql1 -e "
    CREATE DATABASE $1;
    USE $1;
    CREATE TABLE $1.acct (id INT PRIMARY KEY, k INT NOT NULL, v VARCHAR(64), big MEDIUMTEXT,
      d DECIMAL(12,2), ts DATETIME(6), KEY (k)) CHARSET utf8mb4;
    CREATE TABLE $1.pair (a INT, b VARCHAR(16), n BIGINT, note VARCHAR(200),
      PRIMARY KEY (a, b));
    CREATE TABLE $1.nokey (a INT, b VARCHAR(20), c TEXT);
    INSERT INTO $1.acct SELECT seq, seq % 101, IF(seq % 9 = 0, NULL, CONCAT('v', seq)),
      IF(seq % 500 = 0, REPEAT(CHAR(65 + seq % 26), 20000), NULL),
      IF(seq % 5 = 0, NULL, seq / 7), '2026-03-04 05:06:07.000001' + INTERVAL seq SECOND
      FROM seq_1_to_$N_ACCT;
    INSERT INTO $1.pair SELECT seq DIV 3, CONCAT('b', seq % 3), seq * 1000003, REPEAT('p', seq % 40)
      FROM seq_1_to_3000;
    INSERT INTO $1.nokey SELECT seq % 500, CONCAT('w', seq % 7), IF(seq % 4 = 0, NULL, 'c')
      FROM seq_1_to_2000;
    "
}

# ---- the workload ---------------------------------------------------------

add() { SQL+=$'\n'"$1"; }

# round_sql DB ROUND: one round of random statements in $SQL.
round_sql() {
    local db=$1 r=$2 j id x n v d
    SQL="USE $db;"
    # inserts of new keys (ranges per round never collide)
    n=$((1 + RANDOM % 8))
    for ((j = 0; j < n; j++)); do
        id=$((1000000 + r * 100 + j))
        v="'n$r'" d=$RANDOM.25
        [ $((RANDOM % 4)) != 0 ] || v=NULL
        [ $((RANDOM % 3)) != 0 ] || d=NULL
        add "INSERT INTO acct VALUES ($id, $((RANDOM % 101)), $v, NULL, $d, NOW(6));"
    done
    # updates, some to NULL
    add "UPDATE acct SET d = d + 1, v = CONCAT('u$r-', id) WHERE k = $((RANDOM % 101)) AND id % 7 = $((RANDOM % 7));"
    add "UPDATE acct SET v = NULL, d = NULL WHERE id = $((1 + RANDOM % N_ACCT));"
    # a primary-key change (to a key no round uses otherwise)
    x=$((1 + RANDOM % N_ACCT))
    add "UPDATE acct SET id = $((5000000 + r)) WHERE id = $x;"
    # deletes
    x=$((1 + RANDOM % N_ACCT))
    add "DELETE FROM acct WHERE id BETWEEN $x AND $((x + RANDOM % 4));"
    # a large row now and then
    if [ $((RANDOM % 6)) = 0 ]; then
        add "UPDATE acct SET big = REPEAT(CHAR(97 + $r % 26), $((20000 + RANDOM))) WHERE id = $((1 + RANDOM % N_ACCT));"
    fi
    # a multi-statement transaction over all three tables, sometimes rolled back
    add "START TRANSACTION;"
    add "INSERT INTO pair VALUES ($((10000 + r)), 'x', $r, NULL), ($((10000 + r)), 'y', NULL, 'two');"
    add "UPDATE pair SET n = n + 1, note = 'r$r' WHERE a = $((RANDOM % 1000));"
    add "UPDATE pair SET b = 'moved$r' WHERE a = $((RANDOM % 1000)) AND b = 'b1';"
    add "DELETE FROM pair WHERE a = $((RANDOM % 1000)) AND b = 'b2';"
    add "INSERT INTO nokey VALUES ($r, 'dup', NULL), ($r, 'dup', NULL);"
    add "UPDATE acct SET k = k + 1 WHERE id = $((1 + RANDOM % N_ACCT));"
    if [ $((RANDOM % 5)) = 0 ]; then add "ROLLBACK;"; else add "COMMIT;"; fi
    # key-less table: identical rows, one of them changed or deleted
    x=$((RANDOM % 500))
    add "INSERT INTO nokey VALUES ($x, 'twin', 'x'), ($x, 'twin', 'x');"
    add "UPDATE nokey SET c = 'changed$r' WHERE a = $x AND b = 'twin' LIMIT 1;"
    add "DELETE FROM nokey WHERE a = $((RANDOM % 500)) LIMIT 1;"
}

# workload DB STOPFILE: rounds until STOPFILE exists; a failed round fails the test.
workload() {
    local db=$1 stop=$2 r=0
    RANDOM=$((seed + ${#db}))
    while [ ! -e "$stop" ]; do
        r=$((r + 1))
        round_sql "$db" "$r"
        mysql1 -e "$SQL" || {
            echo "workload round $r failed:" >&2
            echo "$SQL" >&2
            touch "$stop.failed"
            return 1
        }
        sleep 0.05
    done
    echo "$r" >"$stop.rounds"
}

WL_PID=
start_workload() { # start_workload DB STOPFILE
    workload "$1" "$2" &
    WL_PID=$!
    ferry_cleanup_add "touch $2; wait $WL_PID 2>/dev/null"
}
stop_workload() { # stop_workload STOPFILE
    touch "$1"
    wait "$WL_PID" || true
    [ ! -e "$1.failed" ] || fail "the workload failed (see above)"
    echo "link_crash: workload ran $(cat "$1.rounds") rounds"
}

# ---- kills ------------------------------------------------------------------

# kill_and_restart PROJECT [TRIES]: kill -9 of the producer, the consumer or
# both, a random pause, then ferryctl up (tried TRIES times, default 1: a
# service may fail to start while Kafka is being faulted).
kill_and_restart() {
    local project=$1 max=${2:-1} who tries
    case $((RANDOM % 6)) in
    0 | 1) who=producer ;;
    2 | 3) who=consumer ;;
    4) who=worker-1 ;;
    *) who="producer consumer" ;;
    esac
    for svc in $who; do link_kill "$project" "$svc"; done
    echo "link_crash: ${SECONDS}s: kill -9 $who"
    nap 0 1500
    for ((tries = 1; tries <= max; tries++)); do
        if "$LINK_CTL" up "$project" >/dev/null; then
            return 0
        fi
        echo "link_crash: ferryctl up failed (try $tries of $max)" >&2
        sleep 2
    done
    fail "ferryctl up after kill -9 of $who failed"
}

compare() { # compare SRC_DB DST_DB
    link_same_rows "$1" "$2" acct 'id, k, v, LENGTH(big), MD5(big), d, ts' id
    link_same_rows "$1" "$2" pair 'a, b, n, note' 'a, b'
    link_same_rows "$1" "$2" nokey 'a, b, c' 'a, b, c'
    link_same_checksum "$1" "$2" acct pair nokey
}

# phase_start NAME [BOOTSTRAP]: databases NAME_<pid> (source) and
# NAME_<pid>_dst, their link (project file in $project) started, and the
# workload running.
phase_start() {
    src=$1_$$ dst=$1_$$_dst project=$FERRY_TEST_TMP/$1.properties stop=$FERRY_TEST_TMP/$1.stop
    ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $src'; mysql2 -e 'DROP DATABASE IF EXISTS $dst'"
    create_source "$src"
    link_project "$project" "$1-$$" "${2:-$FERRY_KAFKA_BOOTSTRAP}" <<P
tables.include = $src.*
rename.databases = $src:$dst
fullload.workers = 1
P
    link_up "$project"
    start_workload "$src" "$stop"
}

# several N CMD [ARG...]: N times a random pause, then CMD.
several() {
    local n=$1 i
    shift
    for ((i = 1; i <= n; i++)); do
        nap 300 2500
        "$@"
    done
}

# phase_end [BOOTSTRAP]: the workload stopped, the link caught up, the
# destination equal to the source, nothing in the dead-letter topic.
phase_end() {
    local n
    stop_workload "$stop"
    link_wait "$project" caught-up 180
    link_settle 5 compare "$src" "$dst"
    n=$(link_dlq_count "$project" "${1:-$FERRY_KAFKA_BOOTSTRAP}")
    [ "$n" = 0 ] || fail "$n events went to the dead-letter topic"
}

# ---- phase 1: kills during the full load and after it ----------------------

phase_start crash
# kills while the tables are copied (each producer kill redoes chunks) ...
kills_full=$((4 + RANDOM % 3))
several "$kills_full" kill_and_restart "$project"
link_wait "$project" full-done 180
echo "link_crash: ${SECONDS}s: full load done"
# ... and while only changes flow
kills_incr=$((4 + RANDOM % 3))
several "$kills_incr" kill_and_restart "$project"
phase_end
pass "$((kills_full + kills_incr)) kills of producer, worker and consumer under a workload: destination equals source, nothing doubled"
"$LINK_CTL" down "$project" --timeout 20 >/dev/null

# ---- phase 2: the same with Kafka faults -------------------------------------

start_devkafka "$FERRY_TEST_TMP/devkafka"

control() { # control PATH: POST to ferry-devkafka's control endpoint
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$DEVKAFKA_CONTROL$1")
    [ "$code" = 200 ] || fail "ferry-devkafka control $1 answered $code"
    echo "link_crash: ${SECONDS}s: fault $1"
}

apis=(Produce Fetch EndTxn AddPartitionsToTxn InitProducerId FindCoordinator OffsetCommit
      Heartbeat ListOffsets)
codes=(NOT_LEADER_FOR_PARTITION REQUEST_TIMED_OUT COORDINATOR_NOT_AVAILABLE NOT_COORDINATOR
       LEADER_NOT_AVAILABLE)
fault() { # fault PROJECT: one random fault or kill, undone before it returns
    case $((RANDOM % 5)) in
    0)
        control /brokers/1/down
        nap 500 3000
        control /brokers/1/up
        ;;
    1)
        control "/brokers/1/rtt?ms=$((50 + RANDOM % 400))"
        nap 1000 3000
        control "/brokers/1/rtt?ms=0"
        ;;
    2 | 3)
        control "/errors?api=${apis[RANDOM % ${#apis[@]}]}&code=${codes[RANDOM % ${#codes[@]}]}&count=$((1 + RANDOM % 4))"
        ;;
    *)
        kill_and_restart "$1" 3
        ;;
    esac
}

phase_start crashf "$DEVKAFKA_BOOTSTRAP"
faults=$((8 + RANDOM % 5))
several "$faults" fault "$project"
phase_end "$DEVKAFKA_BOOTSTRAP"
pass "$faults Kafka faults and kills under a workload: destination equals source, nothing doubled"
