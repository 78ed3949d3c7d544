#!/usr/bin/env bash
# Checks docker/ without a Docker engine: docker-compose.yml must parse, hold
# every service of the production setup with OceanBase (the destination)
# starting by default, and run each ferry service from the project file with
# a /healthz healthcheck, after the databases and Kafka are healthy; the
# project file (MySQL into OceanBase) and Dockerfile must match it.
# shellcheck source-path=SCRIPTDIR source=../harness/lib.sh
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init compose

docker_dir=$FERRY_SRC/docker
compose=$docker_dir/docker-compose.yml
command -v docker-compose >/dev/null || fail "docker-compose is not installed (scripts/install-deps.sh installs it)"

# A daemon address that cannot answer proves that nothing here needs one.
export DOCKER_HOST=unix://$FERRY_TEST_TMP/no-docker.sock
# Defaults in the file must be enough: nothing from the caller's environment.
unset FERRY_SOURCE_PASSWORD FERRY_DESTINATION_PASSWORD MYSQL_ROOT_PASSWORD OB_TENANT_PASSWORD
dc() { docker-compose --project-directory "$docker_dir" -f "$compose" "$@"; }

dc config -q 2>"$FERRY_TEST_TMP/config.err" ||
    fail "docker-compose config rejects $compose: $(cat "$FERRY_TEST_TMP/config.err")"
if grep -qi 'warn' "$FERRY_TEST_TMP/config.err"; then
    fail "docker-compose config warns: $(cat "$FERRY_TEST_TMP/config.err")"
fi
dc config >"$FERRY_TEST_TMP/config.yml"
pass "docker-compose config accepts $compose"

services=$(dc config --services)
for s in kafka schema-registry mysql postgres oceanbase ferry-producer ferry-consumer ferry-verifier; do
    grep -qx "$s" <<<"$services" || fail "service $s is missing from $compose"
done

# Split the normalised output into one file per service (service names sit
# at two spaces of indentation under "services:").
mkdir -p "$FERRY_TEST_TMP/svc"
awk -v out="$FERRY_TEST_TMP/svc" '
    /^[^ ]/ { in_services = ($0 == "services:"); file = ""; next }
    in_services && /^  [^ ]/ { name = $1; sub(/:$/, "", name); file = out "/" name; next }
    file != "" { print > file }
' "$FERRY_TEST_TMP/config.yml"

# section FILE KEY: the lines of a service's top-level KEY block.
section() {
    awk -v key="    $2:" '
        index($0, key) == 1 { on = 1; print; next }
        on && /^    [^ -]/ { on = 0 }
        on { print }
    ' "$1"
}

for s in ferry-producer ferry-consumer ferry-verifier; do
    f=$FERRY_TEST_TMP/svc/$s
    hc=$(section "$f" healthcheck)
    [ -n "$hc" ] || fail "$s has no healthcheck"
    grep -q 'http://localhost:[0-9]*/healthz' <<<"$hc" ||
        fail "$s's healthcheck does not query http://localhost:<port>/healthz:
$hc"
    cmd=$(section "$f" command | tr -d ' \n')
    [ "$cmd" = "command:-$s-/etc/ferry/project.properties" ] ||
        fail "$s does not run '$s /etc/ferry/project.properties' (command: $cmd)"
    section "$f" build | grep -q 'dockerfile: docker/Dockerfile' ||
        fail "$s is not built from docker/Dockerfile"
    deps=$(section "$f" depends_on)
    for d in kafka mysql postgres oceanbase; do
        awk -v d="      $d:" 'index($0, d) == 1 { getline; print; exit }' <<<"$deps" |
            grep -q 'condition: service_healthy' ||
            fail "$s does not wait for $d to be healthy (depends_on: $deps)"
    done
    pass "$s: built from docker/Dockerfile, /healthz healthcheck, waits for healthy kafka/mysql/postgres/oceanbase"
done

# OceanBase is the destination of the default project, so it must come up
# with a plain "up": no profile, neither in the file nor after normalising.
ob=$FERRY_TEST_TMP/svc/oceanbase
[ -z "$(section "$ob" profiles)" ] || fail "oceanbase has a profile: $(section "$ob" profiles)"
awk '/^  oceanbase:/ { on = 1; next } on && /^  [^ ]/ { on = 0 } on && /^    profiles:/ { found = 1 } END { exit !found }' \
    "$compose" && fail "oceanbase in $compose still has a profiles: key"
grep -q "MODE: mini" "$ob" || fail "oceanbase does not run in mini mode (MODE: mini)"
# The tenant password the image sets must be the one ferry logs in with.
ob_pw=$(sed -n 's/^      OB_TENANT_PASSWORD: //p' "$ob")
ferry_pw=$(sed -n 's/^      FERRY_DESTINATION_PASSWORD: //p' "$FERRY_TEST_TMP/svc/ferry-consumer")
if [ -z "$ob_pw" ] || [ "$ob_pw" != "$ferry_pw" ]; then
    fail "oceanbase's OB_TENANT_PASSWORD ($ob_pw) differs from the ferry services' FERRY_DESTINATION_PASSWORD ($ferry_pw)"
fi
ob_start=$(section "$ob" healthcheck | sed -n 's/^ *start_period: *//p')
case $ob_start in
    [0-9]*m*s | [0-9]*m | [1-9][0-9][0-9]s | [1-9][0-9][0-9][0-9]*s) ;;
    *) fail "oceanbase's healthcheck start_period ($ob_start) leaves it no time to boot (minutes are needed)" ;;
esac
pass "oceanbase starts with the stack (no profile), mini mode, tenant password = FERRY_DESTINATION_PASSWORD, start_period $ob_start"

for d in kafka schema-registry mysql postgres oceanbase; do
    [ -n "$(section "$FERRY_TEST_TMP/svc/$d" healthcheck)" ] || fail "$d has no healthcheck"
done

# The databases are set up the way ferry's capture needs them.
mysql_cmd=$(section "$FERRY_TEST_TMP/svc/mysql" command)
for flag in --binlog-format=ROW --binlog-row-image=FULL --binlog-row-metadata=FULL \
    --gtid-mode=ON --enforce-gtid-consistency=ON; do
    grep -q -- "- $flag\$" <<<"$mysql_cmd" || fail "mysql is not started with $flag"
done
section "$FERRY_TEST_TMP/svc/postgres" command | grep -q -- '- wal_level=logical$' ||
    fail "postgres is not started with wal_level=logical"
grep -q 'KAFKA_PROCESS_ROLES: broker,controller' "$FERRY_TEST_TMP/svc/kafka" ||
    fail "kafka does not run in KRaft mode (KAFKA_PROCESS_ROLES)"
pass "mysql binlog/GTID flags, postgres wal_level=logical, kafka in KRaft mode"

# The project file the services read: every key the setup relies on, and
# no password written out.
props=$docker_dir/project.properties
for key in project.name source.url destination.url kafka.bootstrap.servers schema.registry.url \
    tables.include tables.exclude http.port http.bind; do
    grep -q "^$key=" "$props" || fail "$props lacks $key"
done
# shellcheck disable=SC2016 # a literal ${env:NAME}, not an expansion
env_ref='\$\{env:([A-Z_][A-Z0-9_]*)\}'
grep -E '^(source|destination)\.url=' "$props" | grep -Evq "$env_ref" &&
    fail "a database URL in $props does not take its password from \${env:...}"
grep -v '^ *#' "$props" | grep -oE "$env_ref" | sed -E "s/$env_ref/\\1/" | sort -u | while read -r var; do
    for s in ferry-producer ferry-consumer ferry-verifier; do
        section "$FERRY_TEST_TMP/svc/$s" environment | grep -q "^      $var:" ||
            fail "$s does not set $var, which $props needs"
    done
done
# The default demo migrates MySQL into OceanBase's MySQL tenant.
grep -q '^source\.url=mysql://' "$props" || fail "$props does not take MySQL as the source"
grep -q '^destination\.url=oceanbase://' "$props" || fail "$props does not have an oceanbase:// destination"
grep -q '^destination\.url=oceanbase://[^:@/]*%40test:[^@]*@oceanbase:2881' "$props" ||
    fail "$props: destination.url is not root%40test@oceanbase:2881 (the image's tenant \"test\")"
grep -q '^# *source\.url=postgresql://' "$props" ||
    fail "$props lacks the commented-out PostgreSQL source.url alternative"
http_port=$(sed -n 's/^http\.port=//p' "$props")
grep -q "localhost:$http_port/healthz" "$FERRY_TEST_TMP/svc/ferry-producer" ||
    fail "healthchecks do not use http.port $http_port from $props"
pass "project.properties has the keys, passwords from \${env:...} set by compose"

# When ferryctl is built, the configuration module itself must accept the file.
ferryctl=$FERRY_BUILD/tools/ferryctl
if [ -x "$ferryctl" ] && "$ferryctl" --help 2>&1 | grep -q '^ *check'; then
    FERRY_SOURCE_PASSWORD=x FERRY_DESTINATION_PASSWORD=y "$ferryctl" check "$props" \
        >"$FERRY_TEST_TMP/check.out" 2>&1 ||
        fail "ferryctl check rejects $props: $(cat "$FERRY_TEST_TMP/check.out")"
    pass "ferryctl check accepts $props"
fi

# The runtime image carries every program.
for prog in ferry-producer ferry-consumer ferry-verifier ferryctl ferry-devkafka; do
    grep -q "/$prog" "$docker_dir/Dockerfile" || fail "docker/Dockerfile does not install $prog"
done
grep -q '^FROM debian:12' "$docker_dir/Dockerfile" || fail "docker/Dockerfile is not Debian 12 based"
[ "$(grep -c '^FROM ' "$docker_dir/Dockerfile")" -ge 2 ] || fail "docker/Dockerfile is not multi-stage"
pass "Dockerfile: Debian 12, multi-stage, all five programs"
