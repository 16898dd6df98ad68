#!/bin/sh
# The window options (--phase NAME, --from T, --to T) of every query
# command, on the phases fixture whose figures per phase are known exactly:
# marks: 2 x 8 B before any phase; load: 3 x 10 B; run: 5 x 20 B, 2 freed
# (3 blocks, 60 B leaked); done: 1 x 30 B. sleep with --phase-after 0.5
# late --phase-after 0 early: early 2 x 40 B, late 3 x 50 B, all leaked.
# And a usage error for each combination a window cannot answer.
. "${top_srcdir:-.}/tests/integration/lib.sh"
t=$work/phases.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/phases" marks
check "phases: exit status" "$?" 0
s=$work/sleep.db
"$MEMPROF" run -q --phase-after 0.5 late --phase-after 0 early -o "$s" "$FIXTURES/phases" sleep
check "sleep: exit status" "$?" 0
run_line=$(line_of phases.c run)
site_re="main \(.*phases\.c:$run_line\)"

# usage_error WHAT MESSAGE-REGEX COMMAND...: exit 2, one line naming the problem
usage_error() {
	what=$1 re=$2
	shift 2
	"$@" >"$work/out" 2>"$work/err"
	check "$what: exit 2" "$?" 2
	check_match "$what: message" "$(cat "$work/err")" "$re"
	check "$what: one line" "$(wc -l <"$work/err" | tr -d ' ')" 1
	check "$what: nothing on stdout" "$(wc -c <"$work/out" | tr -d ' ')" 0
}

# --- leaks --------------------------------------------------------------------
out=$("$MEMPROF" leaks --phase run --format csv "$t")
check_match "leaks --phase run" "$out" "^1,60,3,$site_re"
check "leaks --phase run: one site" "$(printf '%s\n' "$out" | tail -n +2 | wc -l)" 1
out=$("$MEMPROF" leaks --phase run --format json "$t")
check_match "leaks --phase run json: total" "$out" '"leaked_bytes": 60,
    "leaked_blocks": 3,'
check_match "leaks --phase run json: window" "$out" '"window": \{"phase": "run", "from_ns": null, "to_ns": null\}'
check_match "leaks --phase run text" "$("$MEMPROF" leaks --phase run "$t")" \
	"^window: allocations made in phase 'run'
leaked: 60 B \(60 bytes\) in 3 blocks"
check "leaks --phase load: total" "$("$MEMPROF" leaks --phase load --format json "$t" | grep -c '"leaked_bytes": 30,')" 1
check "leaks --phase done" "$("$MEMPROF" leaks --phase done --format csv "$t" | tail -n +2 | cut -d, -f1-3)" "1,30,1"
# leaked: BYTES BLOCKS of leaks --format json
leaked() { "$MEMPROF" leaks --format json "$@" | sed -n 's/^    "leaked_\(bytes\|blocks\)": \([0-9]*\),$/\2/p' | tr '\n' ' '; }
check "leaks --from 0.5 (late)" "$(leaked --from 0.5 "$s")" "150 3 "
check "leaks --to 500ms (early)" "$(leaked --to 500ms "$s")" "80 2 "
check "leaks --from 0.5 --to 0.6 (none)" "$(leaked --from 0.5 --to 0.6 "$s")" "0 0 "
check "leaks --phase late = --from 0.5" "$("$MEMPROF" leaks --phase late --format csv "$s")" \
	"$("$MEMPROF" leaks --from 0.5 --format csv "$s")"
usage_error "leaks --phase with --mismatches" "^memprof: --mismatches cannot be used with --phase, --from or --to" \
	"$MEMPROF" leaks --mismatches --phase run "$t"
usage_error "leaks --phase unknown" "^memprof: no phase 'nope' in '$t'$" "$MEMPROF" leaks --phase nope "$t"
usage_error "leaks --from bad" "^memprof: option '--from' needs a time \(seconds, or 250ms, 40us\), not 'soon'" "$MEMPROF" leaks --from soon "$t"

# --- peak: refused ------------------------------------------------------------
usage_error "peak --phase" "^memprof: --phase, --from and --to cannot be used: a window's peak would not be exact" \
	"$MEMPROF" peak --phase run "$t"
usage_error "peak --from" "^memprof: --phase, --from and --to cannot be used" "$MEMPROF" peak --from 0 "$t"

# --- functions, annotate ---------------------------------------------------------
out=$("$MEMPROF" functions --phase run --format csv "$t")
check_match "functions --phase run: main" "$out" '^1,main,[^,]*tests/fixtures/phases\.c,[^,]*,5,100,60,5,100,60$'
check "functions --phase run: every caller totals 5 / 100" \
	"$(printf '%s\n' "$out" | tail -n +2 | awk -F, '$8 != 5 || $9 != 100' | wc -l)" 0
out=$("$MEMPROF" functions --phase load --format json "$t")
check_match "functions --phase load: totals" "$out" '"allocations": 3,
    "bytes": 30,
    "leaked_bytes": 30,'
check_match "functions --phase load --callers main" \
	"$("$MEMPROF" functions --phase load --callers main --format csv "$t")" '^main,[^,]*tests/fixtures/phases\.c,[^,]*,caller,__libc_start_call_main,[^,]*,[^,]*,3,30,30,1\.000000,1\.000000$'
out=$("$MEMPROF" annotate --function main --phase run --format csv "$t")
check_match "annotate --phase run: the run line" "$out" "^[^,]*tests/fixtures/phases\.c,main,$run_line,5,100,60,5,100,60,"
check "annotate --phase run: only that line" "$(printf '%s\n' "$out" | tail -n +2 | wc -l)" 1
check_match "annotate --phase run text" "$("$MEMPROF" annotate --function main --phase run "$t")" \
	"^window: allocations made in phase 'run'"

# --- histogram -----------------------------------------------------------------
check "histogram --phase run" "$("$MEMPROF" histogram --phase run --sites 0 --format csv "$t" | tail -n +2)" \
	"17-32,17,32,5,100,1.000000,1.000000,0,,,"
check "histogram --phase load" "$("$MEMPROF" histogram --phase load --sites 0 --format csv "$t" | tail -n +2)" \
	"9-16,9,16,3,30,1.000000,1.000000,0,,,"
check "histogram --from 0.5" "$("$MEMPROF" histogram --from 0.5 --sites 0 --format csv "$s" | tail -n +2)" \
	"33-64,33,64,3,150,1.000000,1.000000,0,,,"
check "histogram --lifetimes --phase run: never freed" \
	"$("$MEMPROF" histogram --lifetimes --phase run --sites 0 --format csv "$t" | grep '^never freed' | cut -d, -f4,5)" \
	"3,60"

# --- flamegraph, export ------------------------------------------------------------
"$MEMPROF" flamegraph --phase run -o "$work/f.svg" "$t"
check "flamegraph --phase run: exit" "$?" 0
check_match "flamegraph --phase run: total" "$(cat "$work/f.svg")" \
	"bytes, total 100 bytes \(100 B\) - .*phases marks, phase 'run'<"
check_match "flamegraph --phase run --by count" "$("$MEMPROF" flamegraph --phase run --by count "$t")" \
	"count, total 5 allocations"
check_match "flamegraph --phase run --by leaked" "$("$MEMPROF" flamegraph --phase run --by leaked "$t")" \
	"leaked, total 60 bytes"
usage_error "flamegraph --by peak --phase" "^memprof: --by peak cannot be used with --phase, --from or --to" \
	"$MEMPROF" flamegraph --by peak --phase run "$t"
usage_error "flamegraph --by temporary --to" "^memprof: --by temporary cannot be used with --phase, --from or --to" \
	"$MEMPROF" flamegraph --by temporary --to 1 "$t"
folded_total() { awk '{ n += $NF } END { print n + 0 }'; }
check "export folded --phase run: total bytes" \
	"$("$MEMPROF" export --format folded --phase run "$t" | folded_total)" 100
check "export folded --phase run --by count" "$("$MEMPROF" export --format folded --phase run --by count "$t" | folded_total)" 5
check "export folded --phase run --by leaked" "$("$MEMPROF" export --format folded --phase run --by leaked "$t" | folded_total)" 60
check "export folded --phase load --by count" "$("$MEMPROF" export --format folded --phase load --by count "$t" | folded_total)" 3
check "export folded --from 0.5" "$("$MEMPROF" export --format folded --from 0.5 "$s" | folded_total)" 150
check_match "export speedscope --phase run: named" "$("$MEMPROF" export --format speedscope --phase run "$t")" \
	"\"name\": \"phases\.db phase 'run'\""
"$MEMPROF" export --format pprof --phase run -o "$work/p.pb.gz" "$t"
check "export pprof --phase run: totals (calls, bytes, leaked blocks, leaked bytes)" \
	"$("$top_builddir/tests/check/pprof-check" "$work/p.pb.gz" | grep '^total')" "total 5 100 3 60"
usage_error "export massif --phase" "^memprof: --format massif cannot be used with --phase, --from or --to" \
	"$MEMPROF" export --format massif --phase run "$t"
usage_error "export --by peak --from" "^memprof: --by peak cannot be used with --phase, --from or --to" \
	"$MEMPROF" export --format folded --by peak --from 0 "$t"

# --- diff ---------------------------------------------------------------------------
out=$("$MEMPROF" diff --phase load "$t" "$t")
check "diff --phase load, same trace: exit" "$?" 0
check_match "diff --phase load, same trace: no change" "$out" \
	"change: \+0 allocations, \+0 B, leaked \+0 B in \+0 blocks

no change in 1 site"
check_match "diff --phase load: totals without peak" "$out" \
	"before: $t: 3 allocations, 30 B, leaked 30 B in 3 blocks"
# the phase 'run' of another program: the sleep run, all 5 in one phase
r=$work/run.db
"$MEMPROF" run -q --phase-after 0 run -o "$r" "$FIXTURES/phases" sleep
out=$("$MEMPROF" diff --phase run --format json "$t" "$r")
check_match "diff --phase run: delta" "$out" '"delta": \{
      "allocations": 0,
      "bytes": 130,
      "leaked_bytes": 170,
      "leaked_blocks": 2
    \}'
check "diff --phase run: no peak" "$(printf '%s\n' "$out" | grep -c peak)" 0
# sites match by function and file: main in phases.c on both sides
check "diff --phase run: the site" \
	"$("$MEMPROF" diff --phase run --format csv "$t" "$r" | tail -n +2 | cut -d, -f1-14)" \
	"1,changed,5,5,0,100,230,130,60,230,170,3,5,2"
"$MEMPROF" diff --phase run --fail-if 'bytes>+100' "$t" "$r" >/dev/null 2>"$work/err"
check "diff --phase run --fail-if bytes: fails" "$?:$(cat "$work/err")" \
	"1:FAIL: --fail-if 'bytes>+100': bytes 230 B vs before 100 B: +130 B (+130.00%) > +100 B"
usage_error "diff --fail-if peak_bytes --phase" "^memprof: --fail-if peak_bytes cannot be used with --phase, --from or --to" \
	"$MEMPROF" diff --phase run --fail-if 'peak_bytes>+1%' "$t" "$t"
usage_error "diff --phase unknown in AFTER" "^memprof: no phase 'load' in '$r'$" "$MEMPROF" diff --phase load "$t" "$r"

# --- check ------------------------------------------------------------------------
out=$("$MEMPROF" check --phase run --max-leaked 50 "$t")
check "check --phase run --max-leaked 50: fails" "$?" 1
check_match "check --phase run --max-leaked 50: verdict" "$out" "^window: allocations made in phase 'run'
FAIL: leaked 60 B > 50 B
  #1  60 B in 3 blocks leaked"
out=$("$MEMPROF" check --phase run --max-leaked 60 --max-allocations 5 "$t")
check "check --phase run within limits" "$?:$(printf '%s\n' "$out" | tail -n +2 | tr '\n' '|')" \
	"0:ok: leaked 60 B <= 60 B|ok: allocations 5 <= 5|"
out=$("$MEMPROF" check --phase load --baseline "$t" --max-increase 0 "$t")
check "check --phase --baseline: no peak" "$?:$(printf '%s\n' "$out" | tail -n +2 | tr '\n' '|')" \
	"0:ok: leaked 30 B vs baseline 30 B: +0 B (+0.00%) <= +0%|ok: allocations 3 vs baseline 3: +0 (+0.00%) <= +0%|"
usage_error "check --max-peak --phase" "^memprof: --max-peak cannot be used with --phase, --from or --to" \
	"$MEMPROF" check --phase run --max-peak 1M "$t"

# --- report -------------------------------------------------------------------------
"$MEMPROF" report --phase run -o "$work/r.html" "$t"
check "report --phase run: exit" "$?" 0
html=$(cat "$work/r.html")
check_match "report --phase run: window" "$html" "<span id=\"window\">allocations made in phase &#39;run&#39;</span>"
check_match "report --phase run: calls" "$html" '<span id="calls">5 allocations</span>, 2 of them freed'
check_match "report --phase run: leaked" "$html" '<th>leaked</th><td>60 B \(60 bytes\) in 3 blocks</td>'
check "report --phase run: charts" "$(printf '%s\n' "$html" | grep -o '<svg [^>]*id="[^"]*"' | sed 's/.*id="//; s/"//' | tr '\n' ' ')" \
	"timeline-chart flame-bytes flame-leaked "
check_match "report --phase run: flame graph total" "$html" 'id="flame-bytes-subtitle"[^>]*>bytes, total 100 bytes'
check "report --phase run: top tables" "$(printf '%s\n' "$html" | grep -o 'id="top-[a-z]*-table"' | tr '\n' ' ')" \
	'id="top-bytes-table" id="top-count-table" id="top-leaked-table" '
check_match "report --phase run: no peak" "$html" "Not shown for a window"

# --- timeline -------------------------------------------------------------------------
span=$(sql "$t" "SELECT start_ns, end_ns FROM phases WHERE name = 'run'")
out=$("$MEMPROF" timeline --phase run --format csv "$t" | tail -n +2)
check "timeline --phase run: samples in the phase" \
	"$(printf '%s\n' "$out" | awk -F, -v s="$span" 'BEGIN { split(s, w, ",") } $3 < w[1] || $3 > w[2]' | wc -l)" 0
check "timeline --phase run: the peak sample" "$(printf '%s\n' "$out" | cut -d, -f4 | sort -n | tail -n 1)" 146
check_match "timeline --phase run: title" "$("$MEMPROF" timeline --phase run --ascii "$t" | head -n 1)" \
	"phase 'run' \([0-9.]+-[0-9.]+ s\), peak 146 B"
check_match "timeline --phase load: no peak in it" "$("$MEMPROF" timeline --phase load --ascii "$t" | head -n 1)" \
	"phase 'load' \([0-9.]+-[0-9.]+ s\)$"
check_match "timeline --phase run json: window" "$("$MEMPROF" timeline --phase run --format json "$t")" \
	"\"window_start_ns\": $(echo "$span" | cut -d, -f1),
        \"window_end_ns\": $(echo "$span" | cut -d, -f2),"
check "timeline --from past the end" "$("$MEMPROF" timeline --from 100 "$t")" "no process in the window"
usage_error "timeline --phase unknown" "^memprof: no phase 'nope' in '$t'$" "$MEMPROF" timeline --phase nope "$t"

# --- top and summary: --run K with a window ------------------------------------------------
check "summary --phase run --run 1" "$("$MEMPROF" summary --phase run --run 1 --format csv "$t" | tail -n 1)" \
	"phase 'run',5,2,100,60,3"
usage_error "summary --phase --run 2" "^memprof: no run 2 in '$t'" "$MEMPROF" summary --phase run --run 2 "$t"
check_match "top --phase run --run 1" "$("$MEMPROF" top --phase run --run 1 --format csv "$t")" "^1,5,100,,60,3,,$site_re"

finish
