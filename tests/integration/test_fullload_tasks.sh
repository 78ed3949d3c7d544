#!/usr/bin/env bash
# The full load's task source (libferry/fullload.h): the worker threads of a
# process share one membership of the worker group, take tasks in turn and
# finish them out of order, and the group's committed offset never passes
# a task still open or failed, so the next member starts at it
# (tests/integration/fullload_tasks_check.c has the steps).
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init fullload_tasks

prog=$FERRY_BUILD/tests/fullload_tasks_check
[ -x "$prog" ] || fail "no $prog"
out=$("$prog" "$FERRY_KAFKA_BOOTSTRAP" "flt-$$" 2>&1) || fail "fullload_tasks_check: $out"
echo "$out"
grep -q '^ok$' <<<"$out" || fail "fullload_tasks_check did not finish"
pass "threads share one group member; commits never pass an open or failed task"
