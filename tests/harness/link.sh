# shellcheck shell=bash
# Helpers for tests that run a whole MySQL-family link through the real
# binaries (ferryctl up / wait / down) and compare source and destination.
# Source it after lib.sh and ferry_test_init:
#     . "$FERRY_SRC/tests/harness/lib.sh"
#     ferry_test_init my_link_test
#     . "$FERRY_SRC/tests/harness/link.sh"

LINK_CTL=$FERRY_BUILD/tools/ferryctl

# link_project FILE NAME [BOOTSTRAP]
#   Writes a project file named NAME from source (mariadb1) to destination
#   (mariadb2) through BOOTSTRAP (default: the fixture's ferry-devkafka),
#   runtime files under $FERRY_TEST_TMP/NAME, then the lines read from stdin
#   (tables.include, renames ...). Registers `ferryctl down` as a cleanup.
link_project() {
    local file=$1 name=$2 bootstrap=${3:-$FERRY_KAFKA_BOOTSTRAP}
    {
        echo "project.name = $name"
        echo "source.url = $FERRY_MARIADB1_URL"
        echo "destination.url = $FERRY_MARIADB2_URL"
        echo "kafka.bootstrap.servers = $bootstrap"
        echo "runtime.dir = $FERRY_TEST_TMP/$name"
        echo "kafka.session.timeout.ms = 6000"
        cat
    } >"$file"
    ferry_cleanup_add "$LINK_CTL down $(printf '%q' "$file") --timeout 10 >/dev/null"
}

# link_rundir PROJECT: the runtime directory link_project gave PROJECT.
link_rundir() {
    sed -n 's/^runtime\.dir = //p' "$1"
}

# link_up PROJECT: checks the project file and starts its services.
link_up() {
    "$LINK_CTL" check "$1" >/dev/null || fail "ferryctl check: $("$LINK_CTL" check "$1" 2>&1)"
    "$LINK_CTL" up "$1" >/dev/null || fail "ferryctl up $1 failed"
}

# link_wait PROJECT full-done|caught-up TIMEOUT_S
#   ferryctl wait; on timeout fails with the status and the logs' tails.
link_wait() {
    local project=$1 until=$2 timeout=$3 dir
    if ! "$LINK_CTL" wait "$project" --until "$until" --timeout "$timeout"; then
        dir=$(link_rundir "$project")
        "$LINK_CTL" status "$project" >&2 || true
        for log in "$dir"/logs/*.log; do
            echo "--- $log (last 15 lines)" >&2
            tail -n 15 "$log" | _ferry_indent >&2
        done
        fail "not $until within ${timeout}s"
    fi
}

# link_kill PROJECT SERVICE: kill -9 of the service's process, if it runs.
link_kill() {
    local pidfile pid
    pidfile=$(link_rundir "$1")/$2.pid
    pid=$(cat "$pidfile" 2>/dev/null) || return 0
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    # wait until it is gone, so that `ferryctl up` starts a new one
    wait_for "! ferry_proc_alive $pid" 10 "ferry-$2 (pid $pid) to die"
}

# link_same_rows SRC_DB DST_DB TABLE COLUMNS ORDER
#   Fails unless SELECT COLUMNS ... ORDER BY ORDER gives the same result on
#   both sides (every row, duplicates included). TABLE is unquoted; COLUMNS
#   and ORDER are SQL text (wrap columns in HEX() for an exact comparison).
link_same_rows() {
    local sdb=$1 ddb=$2 t=$3 cols=$4 order=$5 a b qt
    qt=\`${t//\`/\`\`}\`
    a=$(mysql1 -e "SELECT $cols FROM \`$sdb\`.$qt ORDER BY $order") ||
        fail "could not read source table $sdb.$t"
    b=$(mysql2 -e "SELECT $cols FROM \`$ddb\`.$qt ORDER BY $order") ||
        fail "could not read destination table $ddb.$t"
    if [ "$a" != "$b" ]; then
        echo "rows of $t: < source, > destination" >&2
        diff <(echo "$a") <(echo "$b") | cut -c1-300 | head -20 >&2 || true
        fail "$t differs between source ($(wc -l <<<"$a") rows) and destination ($(wc -l <<<"$b") rows)"
    fi
}

# link_same_checksum SRC_DB DST_DB TABLE...: CHECKSUM TABLE equal on both sides.
link_same_checksum() {
    local sdb=$1 ddb=$2 t a b qt
    shift 2
    for t in "$@"; do
        qt=\`${t//\`/\`\`}\`
        a=$(mysql1 -e "CHECKSUM TABLE \`$sdb\`.$qt EXTENDED" | awk -F'\t' '{print $2}')
        b=$(mysql2 -e "CHECKSUM TABLE \`$ddb\`.$qt EXTENDED" | awk -F'\t' '{print $2}')
        [ -n "$a" ] && [ "$a" != NULL ] || fail "no checksum for source table $sdb.$t"
        [ "$a" = "$b" ] || fail "CHECKSUM TABLE $t: source $a, destination $b"
    done
}

# link_dlq_count PROJECT [BOOTSTRAP]: messages on the link's dead-letter topic.
link_dlq_count() {
    local name bootstrap=${2:-$FERRY_KAFKA_BOOTSTRAP}
    name=$(sed -n 's/^project\.name = //p' "$1")
    timeout 30 kcat -C -q -b "$bootstrap" -t "ferry.$name.fwd.dlq" -e -o beginning \
        -f 'x\n' 2>/dev/null | wc -l
}

# link_settle TIMEOUT_S CMD [ARG...]
#   For right after `link_wait ... caught-up`, which means every table is
#   incremental with a lag under a second, not that the last change is
#   applied yet. Runs CMD (a comparison that fails the test) quietly until it
#   holds or TIMEOUT_S pass (a few seconds: the lag allowed), then once more
#   for the verdict.
link_settle() {
    local timeout=$1 deadline
    shift
    deadline=$((SECONDS + timeout))
    until ("$@") >/dev/null 2>&1 || [ "$SECONDS" -ge "$deadline" ]; do
        sleep 1
    done
    "$@"
}


# link_sqlproxy
#   Starts tests/sqlproxy in front of mariadb2 (stopped at cleanup) and sets
#   SQLPROXY_URL (a destination.url through it) and SQLPROXY_LOG. Arm it with
#   link_sqlproxy_arm.
link_sqlproxy() {
    local dir=$FERRY_TEST_TMP/sqlproxy pid
    mkdir -p "$dir"
    SQLPROXY_LOG=$dir/log
    "$FERRY_BUILD/tests/sqlproxy" --target-port "$FERRY_MARIADB2_PORT" \
        --port-file "$dir/port" --arm-file "$dir/arm" 2>"$SQLPROXY_LOG" &
    pid=$!
    echo "$pid" >"$dir/pid"
    ferry_cleanup_add "kill $pid 2>/dev/null"
    wait_for "[ -s '$dir/port' ]" 10 "sqlproxy to listen"
    SQLPROXY_URL="mysql://$FERRY_DB_USER:$FERRY_DB_PASSWORD@127.0.0.1:$(cat "$dir/port")"
}

# link_project_via_sqlproxy FILE NAME
#   link_project (extra lines from stdin), with the destination reached
#   through sqlproxy (started by link_sqlproxy if it does not run yet).
link_project_via_sqlproxy() {
    [ -n "${SQLPROXY_URL:-}" ] || link_sqlproxy
    link_project "$1" "$2"
    sed -i "s|^destination\.url = .*|destination.url = $SQLPROXY_URL|" "$1"
}

# link_sqlproxy_arm PATTERN
#   The next COMMIT holding PATTERN loses its answer (drop:PATTERN: the next
#   statement holding it loses its connection); returns once armed.
link_sqlproxy_arm() {
    local dir=$FERRY_TEST_TMP/sqlproxy n
    n=$(grep -c 'sqlproxy: armed' "$SQLPROXY_LOG" || true)
    printf '%s\n' "$1" >"$dir/arm"
    kill -USR1 "$(cat "$dir/pid")"
    wait_for "[ \$(grep -c 'sqlproxy: armed' '$SQLPROXY_LOG') -gt $n ]" 10 "sqlproxy to be armed with $1"
}

# link_sqlproxy_disarm: takes back the cuts armed and not made yet.
link_sqlproxy_disarm() {
    local n
    n=$(grep -c 'disarmed' "$SQLPROXY_LOG" || true)
    kill -USR2 "$(cat "$FERRY_TEST_TMP/sqlproxy/pid")"
    wait_for "[ \$(grep -c 'disarmed' '$SQLPROXY_LOG') -gt $n ]" 10 "sqlproxy to be disarmed"
}

# link_sqlproxy_cuts: how many connections sqlproxy has cut so far.
link_sqlproxy_cuts() {
    grep -c 'cut connection' "$SQLPROXY_LOG" || true
}

# link_topic_records TOPIC PARTITIONS: the records in TOPIC on ferry-devkafka,
# the sum of the ends of its partitions 0 .. PARTITIONS-1 (kcat).
link_topic_records() {
    local topic=$1 parts=$2 p n=0 end
    for ((p = 0; p < parts; p++)); do
        end=$(timeout 30 kcat -Q -b "$DEVKAFKA_BOOTSTRAP" -t "$topic:$p:-1" | awk '{print $NF}')
        [[ $end =~ ^[0-9]+$ ]] || fail "kcat gave no end for $topic [$p]: '$end'"
        n=$((n + end))
    done
    echo "$n"
}

# link_topic_stable TOPIC PARTITIONS: true when TOPIC holds records and
# their number did not change in 2 s; sets LINK_HELD to it (for wait_for).
LINK_HELD=0
link_topic_stable() {
    local before
    before=$(link_topic_records "$1" "$2")
    sleep 2
    LINK_HELD=$(link_topic_records "$1" "$2")
    [ "$LINK_HELD" -gt 0 ] && [ "$LINK_HELD" = "$before" ]
}
