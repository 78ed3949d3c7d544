#!/usr/bin/env bash
# Installs the Debian 12 packages ferry needs to build, test and run its demo.
# Safe to run again: it installs only what is missing. Needs root (or sudo).
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config git ca-certificates
            librdkafka-dev libavro-dev libmariadb-dev libpq-dev
            libcurl4-openssl-dev libmicrohttpd-dev libcmocka-dev
            libzstd-dev zlib1g-dev libjansson-dev)
SERVER_PKGS=(mariadb-server mariadb-client postgresql postgresql-client)
TOOL_PKGS=(kcat curl jq procps iproute2 docker-compose)

want=("${BUILD_PKGS[@]}" "${SERVER_PKGS[@]}" "${TOOL_PKGS[@]}")
if [ "${1:-}" = "--bench" ]; then
    want+=(sysbench mydumper percona-toolkit pgloader)
fi

missing=()
for p in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "ferry: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The servers must not start by themselves in a container or CI machine; the
# tests start their own instances on free ports.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
