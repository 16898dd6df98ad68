#!/bin/sh
# memprof check and run --check on the acceptance fixture (peak 1031232,
# leaked 14848 in 4 blocks: 3 x 4096 by calloc and 2560 by aligned_alloc
# in leak_some, 1025 calls) and its variant (peak 1035040, leaked 23040,
# 1520 calls).
. "${top_srcdir:-.}/tests/integration/lib.sh"
a=$work/a.db
b=$work/b.db
"$MEMPROF" run -q -o "$a" "$FIXTURES/acceptance"
"$MEMPROF" run -q -o "$b" "$FIXTURES/acceptance" variant
src=acceptance.c

out=$("$MEMPROF" check --max-peak 2M --max-leaked 14848 --max-allocations 1025 "$a")
check "limits that hold: exit 0" "$?" 0
check "limits that hold: verdicts" "$out" "ok: peak 1007.06 KiB <= 2.00 MiB
ok: leaked 14.50 KiB <= 14.50 KiB
ok: allocations 1025 <= 1025"

out=$("$MEMPROF" check --max-peak 1031231 --max-leaked 1K --max-allocations 1024 --sites 1 "$a")
check "limits exceeded: exit 1" "$?" 1
check_match "peak verdict" "$out" "^FAIL: peak 1007.06 KiB > 1007.06 KiB$"
check_match "peak site: the held blocks" "$out" "^  #1  976.56 KiB in 10 blocks live at the peak$"
check_match "peak site's stack" "$out" "^    hold_blocks \(.*$src:$(line_of $src held)\)$"
check_match "leaked verdict" "$out" "^FAIL: leaked 14.50 KiB > 1.00 KiB$"
check_match "leaked site" "$out" "^  #1  12.00 KiB in 3 blocks leaked$"
check_match "leaked site's stack" "$out" "^    leak_some \(.*$src:$(line_of $src leak-calloc)\)$"
check_match "allocations verdict" "$out" "^FAIL: allocations 1025 > 1024$"
check_match "allocations site" "$out" "^  #1  1000 allocations, 1.91 MiB$"
check "one site each with --sites 1" "$(printf '%s\n' "$out" | grep -c '^  #')" 3
check "every leak site by default" "$("$MEMPROF" check --max-leaked 0 "$a" | grep -c '^  #')" 2
check "the process's pid" "$("$MEMPROF" check --max-allocations 2000 --pid "$(sql "$a" 'SELECT pid FROM processes')" "$a")" \
	"ok: allocations 1025 <= 2000"

# Sizes: 1024, 10K, 10KiB, 5M, 1G.
check "size 10K" "$("$MEMPROF" check --max-leaked 10K "$a" | head -n 1)" "FAIL: leaked 14.50 KiB > 10.00 KiB"
check "size 15KiB" "$("$MEMPROF" check --max-leaked 15KiB "$a")" "ok: leaked 14.50 KiB <= 15.00 KiB"
check "size 1G" "$("$MEMPROF" check --max-peak 1G "$a")" "ok: peak 1007.06 KiB <= 1.00 GiB"

# Suppressions (LeakSanitizer's format).
cat >"$work/supp" <<'SUPP'
# the aligned_alloc block and nothing else
leak:^leak_some$
SUPP
out=$("$MEMPROF" check --max-leaked 0 --suppressions "$work/supp" "$a")
check "suppressed by function: exit 0" "$?" 0
check_match "suppressed bytes in the verdict" "$out" "^ok: leaked 0 B <= 0 B \(14.50 KiB in 4 blocks suppressed\)$"
check_match "suppression used" "$out" "^suppressed by 'leak:\^leak_some\\$' \(.*supp line 2\): 14.50 KiB in 4 blocks$"
printf 'leak:acceptance.c\n' >"$work/supp2"
check "suppressed by source file" "$("$MEMPROF" check --max-leaked 0 --suppressions "$work/supp2" "$a" | head -n 1)" \
	"ok: leaked 0 B <= 0 B (14.50 KiB in 4 blocks suppressed)"
printf '  leak:*/acceptance$\n' >"$work/supp3"
check "suppressed by module path" "$("$MEMPROF" check --max-leaked 0 --suppressions "$work/supp3" "$a" | head -n 1)" \
	"ok: leaked 0 B <= 0 B (14.50 KiB in 4 blocks suppressed)"
printf 'leak:^eak_some\nleak:hold_blocks\nleak:libc.so.7\n' >"$work/supp4"
out=$("$MEMPROF" check --max-leaked 0 --suppressions "$work/supp4" "$a")
check "nothing suppressed: exit 1" "$?" 1
check_match "nothing suppressed: verdict" "$out" "^FAIL: leaked 14.50 KiB > 0 B \(0 B in 0 blocks suppressed\)$"
printf 'leak:x\ninterceptor_via_fun:y\n' >"$work/supp5"
"$MEMPROF" check --max-leaked 0 --suppressions "$work/supp5" "$a" >/dev/null 2>&1
check "unknown suppression type" "$?" 2
"$MEMPROF" check --max-leaked 0 --suppressions "$work/none" "$a" >/dev/null 2>&1
check "missing suppressions file" "$?" 2

# Against a baseline.
out=$("$MEMPROF" check --baseline "$a" --max-increase 60 "$b")
check "baseline within 60%: exit 0" "$?" 0
check "baseline verdicts" "$out" "ok: peak 1010.78 KiB vs baseline 1007.06 KiB: +3.72 KiB (+0.37%) <= +60%
ok: leaked 22.50 KiB vs baseline 14.50 KiB: +8.00 KiB (+55.17%) <= +60%
ok: allocations 1520 vs baseline 1025: +495 (+48.29%) <= +60%"
out=$("$MEMPROF" check --baseline "$a" --max-increase 50% --sites 1 "$b")
check "baseline over 50%: exit 1" "$?" 1
check_match "leaked over the baseline" "$out" "^FAIL: leaked 22.50 KiB vs baseline 14.50 KiB: \+8.00 KiB \(\+55.17%\) > \+50%$"
check_match "its site" "$out" "^  #1  20.00 KiB in 5 blocks leaked$"
check_match "allocations under 50%" "$out" "^ok: allocations 1520 vs baseline 1025"
check "baseline with itself" "$("$MEMPROF" check --baseline "$a" --max-increase 0 "$a" | grep -c '^ok: ')" 3

# Usage errors.
"$MEMPROF" check "$a" >/dev/null 2>&1
check "no limit" "$?" 2
"$MEMPROF" check --baseline "$a" "$b" >/dev/null 2>&1
check "--baseline without --max-increase" "$?" 2
"$MEMPROF" check --max-peak 12parsecs "$a" >/dev/null 2>&1
check "bad size" "$?" 2
"$MEMPROF" check --max-peak 1M "$work/missing.db" >/dev/null 2>&1
check "missing trace" "$?" 3
check_match "help" "$("$MEMPROF" check --help)" "^usage: memprof check"

# run --check: the check's status, unless the program failed.
r=$work/r.db
err=$("$MEMPROF" run -q --check --max-peak 1000000 -o "$r" -- sh -c "'$FIXTURES/acceptance'; exit 0" 2>&1)
check "run --check: limit exceeded" "$?" 1
check_match "run --check: verdict on stderr" "$err" "^FAIL: peak 1007.06 KiB > 976.56 KiB$"
check_match "run --check: offending site" "$err" "hold_blocks \(.*$src:$(line_of $src held)\)"
"$MEMPROF" run -q --check --max-peak 2M -f -o "$r" -- sh -c "'$FIXTURES/acceptance'; exit 0" 2>/dev/null
check "run --check: limits hold" "$?" 0
"$MEMPROF" run -q --check --max-peak 1 -f -o "$r" -- "$FIXTURES/acceptance" 2>/dev/null
check "run --check: the program's own failure wins" "$?" 3
"$MEMPROF" run -q --check --max-peak 1 -f -o "$r" -- sh -c 'kill -TERM $$' 2>/dev/null
check "run --check: killed program" "$?" 143
"$MEMPROF" run -q --max-peak 1M -f -o "$r" -- true 2>/dev/null
check "run: check options need --check" "$?" 2
"$MEMPROF" run -q --check -f -o "$r" -- true 2>/dev/null
check "run --check: no limit" "$?" 2
"$MEMPROF" run -q --check --baseline "$work/missing.db" --max-increase 5 -f -o "$r" -- true 2>/dev/null
check "run --check: missing baseline, before running" "$?" 3
finish
