#!/usr/bin/env bash
# Quick start: on a fresh Debian 12 machine (as root) installs what is
# missing, builds ferry, starts a demo setup on loopback -- a source and a
# destination MariaDB, a PostgreSQL, and ferry-devkafka as the Kafka broker --
# then starts ferry-producer, ferry-consumer and ferry-verifier against a demo
# project file and prints where their health endpoints are.
#
#   scripts/quickstart.sh          start (or restart) the demo
#   scripts/quickstart.sh status   ferryctl status of the demo project
#   scripts/quickstart.sh stop     stop the services and the servers
#
# Everything lives under $FERRY_DEMO_DIR (default /tmp/ferry-demo); the build
# goes to $FERRY_DEMO_BUILD (default ./build).
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
echo "==> starting MariaDB (source, destination), PostgreSQL and ferry-devkafka on loopback"
FERRY_BUILD=$BUILD tests/harness/servers.sh start "$SERVERS" >/dev/null
# shellcheck source=/dev/null
. "$SERVERS/env.sh"

cat >"$PROJECT" <<PROPS
# Demo project written by scripts/quickstart.sh; see docs/CONFIGURATION.md.
project.name = demo
source.url = $FERRY_MARIADB1_URL
destination.url = $FERRY_MARIADB2_URL
kafka.bootstrap.servers = $FERRY_KAFKA_BOOTSTRAP
tables.include = demo.*
runtime.dir = $DEMO/run
PROPS

echo "==> starting the ferry services (logs in $DEMO/run/logs)"
"$BUILD/tools/ferryctl" up "$PROJECT"

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
echo "status:       scripts/quickstart.sh status"
echo "stop:         scripts/quickstart.sh stop"
