#!/usr/bin/env bash
# The MySQL-family sink (libferry/mysql_sink.h) against the fixture's second
# MariaDB as destination: every column type with edge values through
# inserts, updates (also of the key), deletes and safe-mode replays; snapshot
# rows through LOAD DATA LOCAL INFILE and through the INSERT fallback;
# awkward identifiers; unique-key and key-less tables; exactly-once offsets
# across a connection killed before COMMIT; the dedup position stored with
# each offset (and an old offsets table upgraded); poison events isolated and
# returned with the server's error; compact runs (a key's changes folded into
# their net effect) against plain ones over random batches. The C program sink_apply checks values
# one by one; this script adds what the mariadb client sees.
. "$FERRY_SRC/tests/harness/lib.sh"
ferry_test_init mysql_sink

prog=$FERRY_BUILD/tests/sink_apply
[ -x "$prog" ] || fail "no $prog"

run() {
    local out
    out=$("$prog" "$1" 2>&1) || fail "sink_apply $1: $out"
    printf '%s\n' "$out"
    grep -q "^ok: $1" <<<"$out" || fail "sink_apply $1 printed no ok line: $out"
}

for scenario in types snapshot names ukey nokey exactly_once poison positions fold; do
    run "$scenario"
    pass "$scenario"
done

# The same rows loaded with LOAD DATA and with INSERT are the same bytes.
sums=$(mysql2 -e 'CHECKSUM TABLE sink_test.snap_load, sink_test.snap_insert EXTENDED' | cut -f2)
[ "$(wc -l <<<"$sums")" -eq 2 ] || fail "CHECKSUM TABLE gave: $sums"
[ "$(sed -n 1p <<<"$sums")" = "$(sed -n 2p <<<"$sums")" ] ||
    fail "LOAD DATA and INSERT tables differ: $sums"
n=$(mysql2 -e 'SELECT COUNT(*) FROM sink_test.snap_load')
[ "$n" -eq 205 ] || fail "snap_load holds $n rows, expected 205"
pass "CHECKSUM TABLE of the LOAD DATA and the INSERT copies is equal ($(sed -n 1p <<<"$sums"))"

# The fallback says why, once, on the connection without local infile.
out=$("$prog" progress 2>&1) || fail "sink_apply progress: $out"
grep -q 'msg="snapshot rows go in as multi-row INSERT' <<<"$out" || fail "no fallback log line: $out"
grep -q 'progress: sink_test.snap_load snapshot 410' <<<"$out" || fail "progress rows: $out"
pass "progress rows per table and phase; fallback to INSERT logged"

# Offsets live in the destination, per link, topic and partition.
row=$(mysql2 -e "SELECT link, topic, \`partition\`, next_offset FROM sink_meta_eo.ferry_offsets")
[ "$row" = "$(printf 'sinktest.fwd\tferry.sinktest.fwd.src.eo\t3\t110')" ] ||
    fail "ferry_offsets holds: $row"
pass "ferry_offsets: $row"
