#!/usr/bin/env bash
# The README's quick start command works: it starts its own servers and the
# three services, migrates its sample database while writing to it, shows
# equal checksums on both sides, prints the health endpoints, and those
# answer; `stop` takes everything down again. It reuses the test build.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init quickstart

demo=$FERRY_TEST_TMP/demo
export FERRY_DEMO_DIR=$demo FERRY_DEMO_BUILD=$FERRY_BUILD FERRY_DEMO_SKIP_BUILD=1
ferry_cleanup_add "$FERRY_SRC/scripts/quickstart.sh stop"

out=$("$FERRY_SRC/scripts/quickstart.sh" 2>&1) || fail "quickstart failed: $out"
for svc in producer consumer verifier; do
    line=$(grep -E "^  ferry-$svc +http://" <<<"$out") || fail "no endpoints printed for $svc: $out"
    url=$(awk '{print $2}' <<<"$line")
    [ "$(curl -fsS "$url")" = ok ] || fail "$url does not answer ok"
    grep -Eq "^  $svc +ready " <<<"$out" || fail "ferryctl status in the quickstart output does not show $svc ready: $out"
done
if grep -q ":ferry@" <<<"$out"; then fail "quickstart printed a password: $out"; fi
# the demo migrated the sample database under a write load: checksums agree
[ "$(grep -cE '^  shop\.[a-z_]+ +source [0-9]+ +destination [0-9]+ +equal$' <<<"$out")" -eq 3 ] ||
    fail "the demo's checksums do not agree: $out"

"$FERRY_SRC/scripts/quickstart.sh" status >/dev/null || fail "quickstart status"
# the closing hint is a command that works as printed, in this demo directory
hint=$(sed -n 's/^status: *//p' <<<"$out")
grep -q "FERRY_DEMO_DIR=" <<<"$hint" || fail "the status hint drops FERRY_DEMO_DIR: $hint"
(unset FERRY_DEMO_DIR FERRY_DEMO_BUILD && cd "$FERRY_SRC" && eval "$hint" >/dev/null) ||
    fail "the printed status command fails: $hint"
# ferryctl up on a running project leaves it alone
again=$("$FERRY_BUILD/tools/ferryctl" up "$demo/demo.properties" 2>&1) || fail "second ferryctl up: $again"
[ "$(grep -c 'is already running (pid ' <<<"$again")" -eq 3 ] || fail "second ferryctl up: $again"
for svc in producer consumer verifier; do
    [ -s "$demo/run/logs/$svc.log" ] || fail "no log for $svc under runtime.dir/logs"
done
"$FERRY_SRC/scripts/quickstart.sh" stop >/dev/null || fail "quickstart stop"
for svc in producer consumer verifier; do
    [ ! -e "$demo/run/$svc.pid" ] || fail "ferryctl down left $svc.pid behind"
    grep -q 'msg="stopped" status=0' "$demo/run/logs/$svc.log" || fail "$svc did not stop cleanly: $(tail -3 "$demo/run/logs/$svc.log")"
done
if "$FERRY_SRC/scripts/quickstart.sh" status >/dev/null 2>&1; then
    fail "services still answer after quickstart stop"
fi
pass "quick start starts the demo, prints live endpoints, and stops it"
