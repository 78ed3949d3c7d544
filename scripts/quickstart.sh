#!/usr/bin/env bash
# Quick start: on a fresh Debian 12 machine (as root) installs what is
# missing, builds ferry, starts a demo setup on loopback -- a source and a
# destination MariaDB, and ferry-devkafka as the Kafka broker --
# creates a sample database on the source, starts ferry-producer,
# ferry-consumer and ferry-verifier, migrates the database while a small
# write load runs, shows both sides' checksums and where the services'
# health endpoints are. The services keep running (stop: see below).
#
#   scripts/quickstart.sh          start (or restart) the demo
#   scripts/quickstart.sh status   ferryctl status of the demo project
#   scripts/quickstart.sh stop     stop the services and the servers
#
# Everything lives under $FERRY_DEMO_DIR (default /tmp/ferry-demo; a start
# there stops and replaces the demo it holds); the build goes to
# $FERRY_DEMO_BUILD (default ./build). Give status and stop the same values.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DEMO=${FERRY_DEMO_DIR:-/tmp/ferry-demo}
BUILD=${FERRY_DEMO_BUILD:-$ROOT/build}
SERVERS=$DEMO/servers
PROJECT=$DEMO/demo.properties

stop_services() {
    [ -f "$PROJECT" ] && [ -x "$BUILD/tools/ferryctl" ] && "$BUILD/tools/ferryctl" down "$PROJECT" || true
}

case "${1:-start}" in
stop)
    stop_services
    FERRY_BUILD=$BUILD tests/harness/servers.sh stop "$SERVERS"
    echo "ferry demo stopped"
    exit 0
    ;;
status)
    exec "$BUILD/tools/ferryctl" status "$PROJECT"
    ;;
start) ;;
*)
    echo "usage: scripts/quickstart.sh [start|status|stop]" >&2
    exit 2
    ;;
esac

echo "==> installing missing Debian packages"
scripts/install-deps.sh
if [ "${FERRY_DEMO_SKIP_BUILD:-0}" = 1 ]; then
    echo "==> using the existing build in $BUILD"   # the test of this script does this
else
    echo "==> building ferry in $BUILD"
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_TESTS=OFF >/dev/null
    cmake --build "$BUILD" -j"$(nproc)" >/dev/null
fi

mkdir -p "$DEMO"
stop_services
echo "==> starting MariaDB (source, destination) and ferry-devkafka on loopback"
FERRY_BUILD=$BUILD FERRY_TEST_SKIP_PG=1 tests/harness/servers.sh start "$SERVERS" >/dev/null
# shellcheck source=/dev/null
. "$SERVERS/env.sh"

src() { mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$FERRY_MARIADB1_PORT" -u ferry -pferry -N -B "$@"; }
dst() { mariadb --no-defaults --protocol=TCP -h 127.0.0.1 -P "$FERRY_MARIADB2_PORT" -u ferry -pferry -N -B "$@"; }

echo "==> creating the sample database 'shop' on the source"
src -e "
DROP DATABASE IF EXISTS shop;
CREATE DATABASE shop;
USE shop;
CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(60) NOT NULL, email VARCHAR(80),
  created DATETIME(6) NOT NULL);
CREATE TABLE orders (id BIGINT PRIMARY KEY, customer_id INT NOT NULL, total DECIMAL(12,2),
  status ENUM('new','paid','shipped') NOT NULL, note TEXT, KEY (customer_id));
CREATE TABLE order_lines (order_id BIGINT, line SMALLINT, sku VARCHAR(20), qty INT,
  PRIMARY KEY (order_id, line));
INSERT INTO customers SELECT seq, CONCAT('customer ', seq), CONCAT('c', seq, '@example.com'),
  '2026-01-01' + INTERVAL seq MINUTE FROM seq_1_to_2000;
INSERT INTO orders SELECT seq, 1 + seq % 2000, seq * 3.25, ELT(1 + seq % 3, 'new', 'paid', 'shipped'),
  IF(seq % 5 = 0, NULL, CONCAT('order ', seq)) FROM seq_1_to_20000;
INSERT INTO order_lines SELECT 1 + seq DIV 2, seq % 2, CONCAT('sku-', seq % 500), 1 + seq % 4
  FROM seq_0_to_39999;"
dst -e "DROP DATABASE IF EXISTS shop"

cat >"$PROJECT" <<PROPS
# Demo project written by scripts/quickstart.sh; see docs/CONFIGURATION.md.
project.name = demo
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = shop.*
runtime.dir = $DEMO/run
PROPS

echo "==> starting the ferry services (logs in $DEMO/run/logs)"
"$BUILD/tools/ferryctl" up "$PROJECT"

# a small write load on the source while ferry copies and after
echo "==> writing to the source while ferry migrates it"
(
    for i in $(seq 1 20); do
        src -e "USE shop;
          INSERT INTO orders VALUES (100000 + $i, $i, $i * 1.5, 'new', 'live');
          INSERT INTO order_lines VALUES (100000 + $i, 0, 'sku-live', $i);
          UPDATE orders SET status = 'paid', total = total + 1 WHERE id % 97 = $i;
          DELETE FROM order_lines WHERE order_id = $((i * 50)) AND line = 1;
          UPDATE customers SET email = NULL WHERE id = $i;"
        sleep 0.3
    done
) &
load=$!
"$BUILD/tools/ferryctl" wait "$PROJECT" --until full-done --timeout 600
wait "$load"
"$BUILD/tools/ferryctl" wait "$PROJECT" --until caught-up --timeout 300

echo
echo "==> checksums, source and destination side by side"
same=1
for t in customers orders order_lines; do
    a=$(src -e "CHECKSUM TABLE shop.$t" | awk '{print $2}')
    b=$(dst -e "CHECKSUM TABLE shop.$t" | awk '{print $2}')
    mark=equal
    [ "$a" = "$b" ] || { mark=DIFFERENT; same=0; }
    printf '  shop.%-12s source %-12s destination %-12s %s\n' "$t" "$a" "$b" "$mark"
done
[ "$same" = 1 ] || echo "the copies differ: see $DEMO/run/logs" >&2

echo
echo "ferry demo is running. Kafka (ferry-devkafka): $FERRY_KAFKA_BOOTSTRAP"
echo "  source      $(sed 's/:ferry@/:***@/' <<<"$FERRY_MARIADB1_URL")"
echo "  destination $(sed 's/:ferry@/:***@/' <<<"$FERRY_MARIADB2_URL")"
for svc in producer consumer verifier; do
    url=$(cat "$DEMO/run/$svc.addr")
    printf '  ferry-%-9s %s/healthz  %s/readyz  %s/metrics  %s/status\n' "$svc" "$url" "$url" "$url" "$url"
done
echo
"$BUILD/tools/ferryctl" status "$PROJECT" || true
echo
echo "project file: $PROJECT"
# the commands to type, with the settings this run used
env_prefix=""
[ -n "${FERRY_DEMO_DIR:-}" ] && env_prefix+="FERRY_DEMO_DIR=$(printf '%q' "$DEMO") "
[ -n "${FERRY_DEMO_BUILD:-}" ] && env_prefix+="FERRY_DEMO_BUILD=$(printf '%q' "$BUILD") "
echo "status:       ${env_prefix}scripts/quickstart.sh status"
echo "stop:         ${env_prefix}scripts/quickstart.sh stop"
