#!/usr/bin/env bash
# Checks that the "servers" fixture gives the other integration tests what
# they count on: two MariaDB instances that write full row images with
# metadata to their binary logs, a PostgreSQL that does logical decoding for
# the ferry role, and a ferry-devkafka broker that answers Kafka requests.
# shellcheck source-path=SCRIPTDIR source=../harness/lib.sh
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init harness

# --- MariaDB: settings ferry's capture requires, on both instances.
declare -A server_ids=()
for n in 1 2; do
    row=$(mysql$n -e "SELECT @@log_bin, @@binlog_format, @@binlog_row_image,
                             @@binlog_row_metadata, @@server_id, @@local_infile,
                             @@character_set_server")
    read -r log_bin fmt image meta sid infile charset <<<"$row"
    [ "$log_bin" = 1 ] || fail "mariadb$n: log_bin is $log_bin, want ON"
    [ "$fmt" = ROW ] || fail "mariadb$n: binlog_format is $fmt, want ROW"
    [ "$image" = FULL ] || fail "mariadb$n: binlog_row_image is $image, want FULL"
    [ "$meta" = FULL ] || fail "mariadb$n: binlog_row_metadata is $meta, want FULL"
    [ "$infile" = 1 ] || fail "mariadb$n: local_infile is off"
    [ "$charset" = utf8mb4 ] || fail "mariadb$n: character_set_server is $charset"
    [ -z "${server_ids[$sid]:-}" ] || fail "mariadb$n shares server_id $sid with mariadb${server_ids[$sid]}"
    server_ids[$sid]=$n
    pass "mariadb$n: binlog ROW/FULL/FULL, server_id $sid"
done

# The socket works too, for ferry@localhost.
sock_user=$(MYSQL_PWD=ferry mariadb --no-defaults -S "$FERRY_MARIADB1_SOCKET" -u ferry -N -B \
    -e 'SELECT CURRENT_USER()')
[ "$sock_user" = ferry@localhost ] || fail "socket login gave '$sock_user'"

# --- A write on the source shows up in its binary log.
db=ferry_harness_$$
ferry_cleanup_add "mysql1 -e 'DROP DATABASE IF EXISTS $db'"
read -r binlog_file binlog_pos _ < <(mysql1 -e 'SHOW MASTER STATUS')
[ -n "$binlog_file" ] || fail "SHOW MASTER STATUS on mariadb1 returned nothing"
mysql1 -e "CREATE DATABASE $db;
           CREATE TABLE $db.t (id INT PRIMARY KEY, v VARCHAR(20));
           INSERT INTO $db.t VALUES (1, 'hello');"
events=$(mysql1 -e "SHOW BINLOG EVENTS IN '$binlog_file' FROM $binlog_pos")
grep -q "Table_map.*table_id: [0-9]* (\`\?$db\`\?\.\`\?t\`\?)" <<<"$events" ||
    fail "no Table_map for $db.t in mariadb1's binlog after the insert; got:
$events"
grep -q 'Write_rows' <<<"$events" || fail "no Write_rows event in mariadb1's binlog; got:
$events"
pass "mariadb1: an insert is in $binlog_file as Table_map + Write_rows"

# --- PostgreSQL: logical decoding for ferry, and password authentication.
wal_level=$(psql_ferry -c 'SHOW wal_level')
[ "$wal_level" = logical ] || fail "PostgreSQL wal_level is $wal_level, want logical"
slot=ferry_harness_$$
ferry_cleanup_add "psql_ferry -c \"SELECT pg_drop_replication_slot('$slot')
                   FROM pg_replication_slots WHERE slot_name = '$slot'\""
psql_ferry -c "SELECT pg_create_logical_replication_slot('$slot', 'pgoutput')" >/dev/null
plugin=$(psql_ferry -c "SELECT plugin FROM pg_replication_slots WHERE slot_name = '$slot'")
[ "$plugin" = pgoutput ] || fail "created slot reports plugin '$plugin'"
psql_ferry -c "SELECT pg_drop_replication_slot('$slot')" >/dev/null
# The replication protocol itself, over TCP with a password.
sysid=$(PGPASSWORD=$FERRY_DB_PASSWORD psql -X -At -h "$FERRY_PG_HOST" -p "$FERRY_PG_PORT" \
    -U "$FERRY_DB_USER" "dbname=ferry replication=database" -c IDENTIFY_SYSTEM)
[ -n "$sysid" ] || fail "IDENTIFY_SYSTEM over a replication connection returned nothing"
expect_fail_with 'password authentication failed' \
    env PGPASSWORD=wrong PGCONNECT_TIMEOUT=10 psql -X -h "$FERRY_PG_HOST" -p "$FERRY_PG_PORT" \
    -U "$FERRY_DB_USER" -d ferry -c 'SELECT 1'
pass "PostgreSQL: wal_level=logical, pgoutput slot created and dropped, passwords checked"

# --- ferry-devkafka answers a metadata request.
[ -n "$FERRY_KAFKA_BOOTSTRAP" ] || fail "the fixture has no Kafka (FERRY_KAFKA_BOOTSTRAP is empty)"
wait_for "kcat -L -b '$FERRY_KAFKA_BOOTSTRAP' -m 5 | grep -q broker" 30 \
    "ferry-devkafka at $FERRY_KAFKA_BOOTSTRAP to answer a metadata request"
case $FERRY_KAFKA_CONTROL in
    http://127.0.0.1:[0-9]*) ;;
    *) fail "FERRY_KAFKA_CONTROL is '$FERRY_KAFKA_CONTROL', want http://127.0.0.1:PORT" ;;
esac
code=$(curl -s -o /dev/null --max-time 5 -w '%{http_code}' "$FERRY_KAFKA_CONTROL/" || true)
[ "$code" != 000 ] || fail "nothing answers HTTP at $FERRY_KAFKA_CONTROL"
pass "ferry-devkafka: metadata from $FERRY_KAFKA_BOOTSTRAP, control at $FERRY_KAFKA_CONTROL"

# --- The helpers themselves.
port=$(free_port)
if ! [[ $port =~ ^[0-9]+$ ]] || port_in_use "$port"; then
    fail "free_port gave '$port', which is not a free port"
fi
pass "all checks"
