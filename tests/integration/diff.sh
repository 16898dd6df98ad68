#!/bin/sh
# memprof diff: the acceptance fixture against its variant (acceptance.c:
# 1500 temporaries instead of 1000, 5 callocs leaked instead of 3, no
# realloc chain, 4 x 3000 bytes held by a new site), exact deltas.
. "${top_srcdir:-.}/tests/integration/lib.sh"
a=$work/a.db
b=$work/b.db
"$MEMPROF" run -q -o "$a" "$FIXTURES/acceptance"
"$MEMPROF" run -q -o "$b" "$FIXTURES/acceptance" variant
src=acceptance.c

# A trace with itself: nothing changed, exit 0.
out=$("$MEMPROF" diff "$a" "$a")
check "diff with itself exits 0" "$?" 0
check_match "diff with itself: no change" "$out" "^no change in 4 sites$"
check_match "diff with itself: zero change" "$out" "^change: \+0 allocations, \+0 B, peak \+0 B, leaked \+0 B in \+0 blocks$"
"$MEMPROF" diff --fail-if 'peak_bytes>+0%' --fail-if 'allocations>+0' "$a" "$a" >/dev/null 2>&1
check "diff with itself passes --fail-if" "$?" 0

# Totals and per-site deltas, as JSON.
"$MEMPROF" diff --format json "$a" "$b" >"$work/d.json"
check "diff json exits 0" "$?" 0
# q EXPR [JOIN]: EXPR over the JSON document d
q() { sqlite3 :memory: "SELECT $1 FROM (SELECT CAST(readfile('$work/d.json') AS TEXT) AS d) ${2:-}"; }
check "totals before" "$(q "json_extract(d, '$.diff.before.allocations'), json_extract(d, '$.diff.before.bytes'), json_extract(d, '$.diff.before.peak_bytes'), json_extract(d, '$.diff.before.leaked_bytes'), json_extract(d, '$.diff.before.leaked_blocks')")" \
	"1025|3047600|1031232|14848|4"
check "totals after" "$(q "json_extract(d, '$.diff.after.allocations'), json_extract(d, '$.diff.after.bytes'), json_extract(d, '$.diff.after.peak_bytes'), json_extract(d, '$.diff.after.leaked_bytes'), json_extract(d, '$.diff.after.leaked_blocks')")" \
	"1520|4035040|1035040|23040|6"
check "totals delta" "$(q "json_extract(d, '$.diff.delta.allocations'), json_extract(d, '$.diff.delta.bytes'), json_extract(d, '$.diff.delta.peak_bytes'), json_extract(d, '$.diff.delta.leaked_bytes'), json_extract(d, '$.diff.delta.leaked_blocks')")" \
	"495|987440|3808|8192|2"
check "changed and unchanged sites" "$(q "json_extract(d, '$.diff.changed_sites'), json_extract(d, '$.diff.unchanged_sites')")" "4|1"
sites=$(q "group_concat(json_extract(value, '$.status') || ':' || json_extract(value, '$.stack[0].function') || ':' || json_extract(value, '$.delta.allocations') || ',' || json_extract(value, '$.delta.bytes') || ',' || json_extract(value, '$.delta.peak_bytes') || ',' || json_extract(value, '$.delta.leaked_bytes') || ',' || json_extract(value, '$.delta.leaked_blocks'), ' ')" \
	", json_each(json_extract(d, '$.diff.sites'))")
check "sites by largest change of bytes" "$sites" \
	"changed:make_temporaries:500,1000000,0,0,0 gone:grow_chain:-11,-32752,-16384,0,0 new:extra_blocks:4,12000,12000,0,0 changed:leak_some:2,8192,8192,8192,2"
check "gone site: before figures, no after" "$(q "json_extract(d, '$.diff.sites[1].before.allocations') || ',' || json_extract(d, '$.diff.sites[1].before.bytes') || ',' || json_type(d, '$.diff.sites[1].after')")" "11,32752,null"
check "merged stacks (calloc and aligned_alloc lines of leak_some)" "$(q "json_extract(d, '$.diff.sites[3].stacks_before') || ',' || json_extract(d, '$.diff.sites[3].stacks_after')")" "2,2"
check "new site's line" "$(q "json_extract(d, '$.diff.sites[2].stack[0].line')")" "$(line_of $src extra)"

# Text and CSV.
t=$("$MEMPROF" diff -n 2 "$a" "$b")
check_match "text: totals change" "$t" "^change: \+495 allocations, \+964.30 KiB, peak \+3.72 KiB, leaked \+8.00 KiB in \+2 blocks$"
check_match "text: first site" "$t" "^#1  changed: \+500 allocations, \+976.56 KiB, peak \+0 B, leaked \+0 B in \+0 blocks$"
check_match "text: its stack" "$t" "make_temporaries \(.*$src:$(line_of $src temporaries)\)"
check_match "text: gone site" "$t" "^#2  gone: -11 allocations, -31.98 KiB, peak -16.00 KiB"
check "text: --limit" "$(printf '%s\n' "$t" | grep -c '^#')" 2
c=$("$MEMPROF" diff --format csv --limit 0 "$a" "$b")
check "csv rows" "$(printf '%s\n' "$c" | tail -n +2 | wc -l)" 4
check_match "csv new site" "$c" "^3,new,0,4,4,0,12000,12000,0,12000,12000,0,0,0,0,0,0,extra_blocks \("
check_match "csv header" "$c" "^rank,status,allocations_before,allocations_after,allocations_delta,bytes_before,"

# --fail-if: relative and absolute thresholds on the totals.
err=$("$MEMPROF" diff --fail-if 'peak_bytes>+10%' --fail-if 'bytes>+1MiB' --fail-if 'leaked_blocks>+2' "$a" "$b" 2>&1 >/dev/null)
check "thresholds that hold: exit 0" "$?" 0
check "thresholds that hold: no verdict" "$err" ""
err=$("$MEMPROF" diff --fail-if 'peak_bytes>+0.3%' --fail-if 'bytes>+900KiB' --fail-if 'leaked_blocks>+1' --fail-if 'allocations>+495' "$a" "$b" 2>&1 >/dev/null)
check "thresholds exceeded: exit 1" "$?" 1
check "one verdict per failed threshold" "$(printf '%s\n' "$err" | grep -c '^FAIL: ')" 3
check_match "relative verdict" "$err" "^FAIL: --fail-if 'peak_bytes>\+0.3%': peak_bytes 1010.78 KiB vs before 1007.06 KiB: \+3.72 KiB \(\+0.37%\) > \+0.3%$"
check_match "absolute size verdict" "$err" "^FAIL: --fail-if 'bytes>\+900KiB': bytes 3.85 MiB vs before 2.91 MiB: \+964.30 KiB \(\+32.40%\) > \+900.00 KiB$"
check_match "absolute count verdict" "$err" "^FAIL: --fail-if 'leaked_blocks>\+1': leaked_blocks 6 vs before 4: \+2 \(\+50.00%\) > \+1$"
"$MEMPROF" diff --format json --fail-if 'leaked_bytes>+8191' "$a" "$b" >"$work/d.json" 2>/dev/null
check "json thresholds" "$(q "json_extract(d, '$.diff.thresholds[0].metric') || ',' || json_extract(d, '$.diff.thresholds[0].before') || ',' || json_extract(d, '$.diff.thresholds[0].after') || ',' || json_extract(d, '$.diff.thresholds[0].failed')")" "leaked_bytes,14848,23040,1"

# --pid: one pid for both, or BEFORE:AFTER.
pa=$(sql "$a" 'SELECT pid FROM processes')
pb=$(sql "$b" 'SELECT pid FROM processes')
check_match "--pid BEFORE:AFTER" "$("$MEMPROF" diff --pid "$pa:$pb" "$a" "$b")" "^change: \+495 allocations"
"$MEMPROF" diff --pid "$pa" "$a" "$b" >/dev/null 2>&1
check "--pid missing in AFTER" "$?" 2

# Bad input.
"$MEMPROF" diff --fail-if 'size>+1' "$a" "$b" >/dev/null 2>&1
check "unknown metric" "$?" 2
"$MEMPROF" diff --fail-if 'bytes>+ten' "$a" "$b" >/dev/null 2>&1
check "bad threshold" "$?" 2
"$MEMPROF" diff "$a" >/dev/null 2>&1
check "one trace only" "$?" 2
"$MEMPROF" diff "$a" "$work/missing.db" >/dev/null 2>&1
check "missing trace" "$?" 3
check_match "help" "$("$MEMPROF" diff --help)" "^usage: memprof diff"
finish
