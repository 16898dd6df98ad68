#!/bin/sh
# memprof run --repeat: several runs in one trace. The acceptance fixture
# three times (1025 calls, peak 1031232, leaked 14848 in 4 blocks each
# run: min = median = max, nothing varies), and the repeat fixture whose
# figures follow MEMPROF_RUN (repeat.c: n = (2 * run) % 5 + 1, so runs 1, 2,
# 3, 4 have n = 3, 5, 2, 4; n + 2 allocations, n + 1 frees, n * 11000 + 100
# bytes, peak n * 10000 + 1000, n temporaries, 100 bytes leaked in 1 block).
. "${top_srcdir:-.}/tests/integration/lib.sh"
R=$FIXTURES/repeat
# q FILE EXPR: EXPR over the JSON document d read from FILE
q() { sqlite3 :memory: "SELECT $2 FROM (SELECT CAST(readfile('$1') AS TEXT) AS d)"; }

# --- the acceptance fixture, 3 runs: the same figures each time ---------
a=$work/a.db
"$MEMPROF" run -q --repeat 3 -o "$a" "$FIXTURES/acceptance" 2>"$work/a.err"
check "acceptance x3: exit status of the first failed run (all exit 3)" "$?" 3
check "acceptance x3: each failed run said" "$(cat "$work/a.err")" "memprof: run 1 of 3 failed: exit status 3
memprof: run 2 of 3 failed: exit status 3
memprof: run 3 of 3 failed: exit status 3"
check "acceptance x3: runs table" "$(sql "$a" 'SELECT run, ended_by, exit_status, end_ns >= start_ns FROM runs ORDER BY run')" \
	"1,exit,3,1
2,exit,3,1
3,exit,3,1"
check "acceptance x3: one process per run" "$(sql "$a" 'SELECT run, allocations, peak_bytes, leaked_bytes, leaked_blocks FROM processes ORDER BY id')" \
	"1,1025,1031232,14848,4
2,1025,1031232,14848,4
3,1025,1031232,14848,4"
"$MEMPROF" summary --format csv "$a" >"$work/a.csv"
check "acceptance x3: summary csv min = median = max, nothing varies" "$(grep -v '^duration_ns,' "$work/a.csv")" \
	"figure,min,median,max,median_run,varies
allocations,1025,1025,1025,1,0
frees,1021,1021,1021,1,0
allocated_bytes,3047600,3047600,3047600,1,0
peak_bytes,1031232,1031232,1031232,1,0
leaked_bytes,14848,14848,14848,1,0
leaked_blocks,4,4,4,1,0
temporary,1011,1011,1011,1,0
threads,1,1,1,1,0"
check_match "acceptance x3: duration not flagged" "$(grep '^duration_ns,' "$work/a.csv")" '^duration_ns,[0-9]+,[0-9]+,[0-9]+,[123],0$'
"$MEMPROF" summary --format json "$a" >"$work/a.json"
check "acceptance x3: summary json totals are the medians" \
	"$(q "$work/a.json" "json_extract(d, '$.summary.allocations'), json_extract(d, '$.summary.peak_bytes'), json_extract(d, '$.summary.leaked_bytes'), json_extract(d, '$.summary.leaked_blocks'), json_extract(d, '$.summary.runs'), json_array_length(json_extract(d, '$.summary.processes'))")" \
	"1025|1031232|14848|4|3|3"
check "acceptance x3: json varies nothing" "$(q "$work/a.json" "json_extract(d, '$.summary.repeat.varies'), json_extract(d, '$.summary.repeat.figures.peak_bytes')")" \
	'[]|{"min":1031232,"median":1031232,"max":1031232,"median_run":1,"varies":false}'
check "acceptance x3: json runs" "$(q "$work/a.json" "json_extract(d, '$.summary.repeat.runs[2].run'), json_extract(d, '$.summary.repeat.runs[2].exit_status'), json_extract(d, '$.summary.repeat.runs[2].allocations')")" \
	"3|3|1025"
out=$("$MEMPROF" summary "$a")
check_match "acceptance x3: text says nothing varies" "$out" "varies: +nothing \(every run has the same figures\)"
check_match "acceptance x3: text figure row" "$out" "peak bytes +1031232 +1031232 +1031232 *$(printf '\n')"
check_match "acceptance x3: text run rows" "$out" "3 +exit 3 +1 +1025 "
check "acceptance x3: leaks of the median run" "$("$MEMPROF" leaks "$a" | head -n 2)" \
	"run 1 of 3 (the median run by leaked bytes; --run K for another)
leaked: 14.50 KiB (14848 bytes) in 4 blocks"
check "acceptance x3: peak json of one run" "$("$MEMPROF" peak --format json "$a" >"$work/p.json"; q "$work/p.json" "json_extract(d, '$.peak.run'), json_extract(d, '$.peak.runs'), json_extract(d, '$.peak.peak_bytes')")" \
	"1|3|1031232"
check "acceptance x3: top of one run counts one run" "$("$MEMPROF" top --by-count --format csv -n 1 "$a" | tail -n 1 | cut -d, -f1-3)" "1,1000,2000000"
check "acceptance x3: top --run 3" "$("$MEMPROF" top --run 3 --by-count --format csv -n 1 "$a" | tail -n 1 | cut -d, -f1-3)" "1,1000,2000000"
out=$("$MEMPROF" check --max-peak 1031232 --max-leaked 14848 --max-allocations 1025 "$a")
check "acceptance x3: check on the medians holds" "$?" 0
check "acceptance x3: check verdicts" "$out" "ok: peak 1007.06 KiB (median of 3 runs) <= 1007.06 KiB
ok: leaked 14.50 KiB (median of 3 runs) <= 14.50 KiB
ok: allocations 1025 (median of 3 runs) <= 1025"
"$MEMPROF" run -q -o "$work/a1.db" "$FIXTURES/acceptance"
out=$("$MEMPROF" diff "$work/a1.db" "$a")
check "acceptance x3: diff with one run exits 0" "$?" 0
check_match "acceptance x3: diff with one run: no change" "$out" "^no change in 4 sites$"
check_match "acceptance x3: diff says medians" "$out" "^after:  .*a.db: 1025 allocations, 2.91 MiB, peak 1007.06 KiB, leaked 14.50 KiB in 4 blocks \(medians of 3 runs\)$"

# --- a program whose figures vary per run ---------------------------------
v=$work/v.db
"$MEMPROF" run --repeat 3 -o "$v" "$R" 2>"$work/v.err"
check "varying x3: exit 0" "$?" 0
check "varying x3: summary line" "$(cat "$work/v.err")" \
	"memprof: 3 runs, medians: 5 allocations, peak 30.27 KiB, leaked 100 B in 1 block; varies: allocations, frees, allocated_bytes, peak_bytes, temporary; trace in '$v' (try 'memprof summary $v')"
check "varying x3: MEMPROF_RUN is the run number" "$(sql "$v" 'SELECT run, allocations, allocated_bytes, peak_bytes, temporary FROM processes ORDER BY id')" \
	"1,5,33100,31000,3
2,7,55100,51000,5
3,4,22100,21000,2"
check "varying x3: summary csv" "$("$MEMPROF" summary --format csv "$v" | grep -v '^duration_ns,')" \
	"figure,min,median,max,median_run,varies
allocations,4,5,7,1,1
frees,3,4,6,1,1
allocated_bytes,22100,33100,55100,1,1
peak_bytes,21000,31000,51000,1,1
leaked_bytes,100,100,100,1,0
leaked_blocks,1,1,1,1,0
temporary,2,3,5,1,1
threads,1,1,1,1,0"
"$MEMPROF" summary --format json "$v" >"$work/v.json"
check "varying x3: json medians and varies" \
	"$(q "$work/v.json" "json_extract(d, '$.summary.allocations'), json_extract(d, '$.summary.allocated_bytes'), json_extract(d, '$.summary.peak_bytes'), json_extract(d, '$.summary.temporary'), json_extract(d, '$.summary.repeat.varies')")" \
	'5|33100|31000|3|["allocations","frees","allocated_bytes","peak_bytes","temporary"]'
check "varying x3: json figure" "$(q "$work/v.json" "json_extract(d, '$.summary.repeat.figures.allocated_bytes')")" \
	'{"min":22100,"median":33100,"max":55100,"median_run":1,"varies":true}'
out=$("$MEMPROF" summary "$v")
check_match "varying x3: text flags a figure" "$out" "allocated bytes +22100 +33100 +55100 +varies"
check_match "varying x3: text does not flag a constant one" "$out" "leaked bytes +100 +100 +100 *$(printf '\n')"
check_match "varying x3: text names what varies" "$out" "varies: +allocations, frees, allocated_bytes, peak_bytes, temporary \(the runs differ"
out=$("$MEMPROF" summary --run 2 "$v")
check "varying x3: summary --run 2" "$(printf '%s\n' "$out" | sed -n '2p;4,5p;7p')" "run:        2 of 3
calls:      7 allocations, 6 frees
allocated:  53.81 KiB (55100 bytes)
leaked:     100 B (100 bytes) in 1 block (0 unreachable, 0 B)"
"$MEMPROF" summary --run 4 "$v" >/dev/null 2>"$work/err"
check "varying x3: summary --run 4 is a usage error" "$?" 2
check "varying x3: no run 4" "$(cat "$work/err")" "memprof: no run 4 in '$v' (it has 3 runs)"

# top, peak, leaks: the median run by their figure, or --run K.
src=repeat.c
out=$("$MEMPROF" peak "$v")
check "peak: the median run by peak" "$(printf '%s\n' "$out" | head -n 1)" "run 1 of 3 (the median run by peak; --run K for another)"
check_match "peak: the median run's peak" "$(printf '%s\n' "$out" | sed -n 2p)" "^peak: 30.27 KiB \(31000 bytes\) at "
out=$("$MEMPROF" peak --run 2 -n 1 "$v")
check "peak --run 2" "$(printf '%s\n' "$out" | sed -n '1p;4p' | cut -c1-33)" "run 2 of 3
#1  48.83 KiB in 1 block (98.0%)"
check_match "peak --run 2: figure" "$out" "^peak: 49.80 KiB \(51000 bytes\) at "
check_match "peak --run 2: the held site" "$out" "main \(.*$src:$(line_of $src repeat-held)\)"
check "top --by-temporary: the median run's temporaries" "$("$MEMPROF" top --by-temporary --format csv "$v" | tail -n +2 | cut -d, -f1-3,7)" "1,3,3000,3"
check "top --run 3" "$("$MEMPROF" top --run 3 --by-count --format csv -n 1 "$v" | tail -n +2 | cut -d, -f1-3)" "1,2,2000"
check "leaks json of the median run" "$("$MEMPROF" leaks --format json "$v" >"$work/l.json"; q "$work/l.json" "json_extract(d, '$.leaks.run'), json_extract(d, '$.leaks.leaked_bytes'), json_array_length(json_extract(d, '$.leaks.sites'))")" "1|100|1"
"$MEMPROF" top --run 0 "$v" >/dev/null 2>&1
check "top --run 0 is a usage error" "$?" 2

# check compares the medians; the sites shown are the median run's.
out=$("$MEMPROF" check --max-peak 31000 --max-allocations 4 --sites 1 "$v")
check "check on the medians: exit 1" "$?" 1
check_match "check: peak median holds" "$out" "^ok: peak 30.27 KiB \(median of 3 runs\) <= 30.27 KiB$"
check "check: allocations median fails" "$(printf '%s\n' "$out" | sed -n '2,4p')" "FAIL: allocations 5 (median of 3 runs) > 4
  sites of run 1, the median run:
  #1  3 allocations, 2.93 KiB"
check_match "check: the median run's site" "$(printf '%s\n' "$out" | sed -n '5p')" "^    temporaries \(.*$src:$(line_of $src repeat-temporary)\)$"
"$MEMPROF" run -q -o "$work/v2.db" "$R" run=2
check "one run as run 2" "$(sql "$work/v2.db" 'SELECT allocations, peak_bytes FROM processes')" "7,51000"
out=$("$MEMPROF" check --baseline "$work/v2.db" --max-increase 0 "$v")
check "check: repeated trace vs a baseline of one run (all smaller)" "$?" 0
check_match "check: baseline verdict on the medians" "$out" "^ok: peak 30.27 KiB vs baseline 49.80 KiB: -19.53 KiB \(-39.22%\) <= \+0% \(medians of 3 and 1 runs\)$"
out=$("$MEMPROF" check --baseline "$v" --max-increase 10 --sites 0 "$work/v2.db")
check "check: a baseline of several runs counts by its medians" "$?" 1
check_match "check: allocations vs the baseline's median" "$out" "FAIL: allocations 7 vs baseline 5: \+2 \(\+40.00%\) > \+10% \(medians of 1 and 3 runs\)"

# diff: medians of the totals and of each site.
"$MEMPROF" diff --format json -n 0 "$work/v2.db" "$v" >"$work/d.json"
check "diff: totals before, after (medians), delta" \
	"$(q "$work/d.json" "json_extract(d, '$.diff.before.allocations'), json_extract(d, '$.diff.before.bytes'), json_extract(d, '$.diff.after.allocations'), json_extract(d, '$.diff.after.bytes'), json_extract(d, '$.diff.after.peak_bytes'), json_extract(d, '$.diff.after.runs'), json_extract(d, '$.diff.delta.allocations'), json_extract(d, '$.diff.delta.peak_bytes')")" \
	"7|55100|5|33100|31000|3|-2|-20000"
check "diff: per-site medians" "$(sqlite3 :memory: "SELECT json_extract(s.value, '$.status'), json_extract(s.value, '$.before.allocations'), json_extract(s.value, '$.after.allocations'), json_extract(s.value, '$.delta.bytes'), json_extract(s.value, '$.stack[0].function') FROM json_each(json_extract(CAST(readfile('$work/d.json') AS TEXT), '$.diff.sites')) s")" \
	"changed|2|2|-20000|main
changed|5|3|-2000|temporaries"
"$MEMPROF" diff --fail-if 'allocations>+0' "$v" "$work/v2.db" >/dev/null 2>"$work/err"
check "diff --fail-if on the medians" "$?" 1
check "diff --fail-if verdict" "$(cat "$work/err")" "FAIL: --fail-if 'allocations>+0': allocations 7 vs before 5: +2 (+40.00%) > +0"

# An even number of runs: the median is the lower middle value.
"$MEMPROF" run -q --repeat 4 -o "$work/v4.db" "$R"
check "4 runs: lower medians" "$("$MEMPROF" summary --format csv "$work/v4.db" | grep -E '^(allocations|peak_bytes),')" \
	"allocations,4,5,7,1,1
peak_bytes,21000,31000,51000,1,1"

# A site in fewer than half the runs has median 0: absent from that side.
"$MEMPROF" run -q --repeat 3 -o "$work/x1.db" "$R" extra=2
"$MEMPROF" run -q --repeat 3 -o "$work/x2.db" "$R" extra=2 extra=3
check "extra in run 2: summary" "$("$MEMPROF" summary --format csv "$work/x1.db" | grep '^allocations,')" "allocations,4,5,8,1,1"
check_match "a site in 1 run of 3 is no site" "$("$MEMPROF" diff "$v" "$work/x1.db")" "^no change in 2 sites$"
"$MEMPROF" diff --format json "$v" "$work/x2.db" >"$work/d2.json"
check "a site in 2 runs of 3 is new" "$(sqlite3 :memory: "SELECT json_extract(s.value, '$.status'), json_extract(s.value, '$.after.allocations'), json_extract(s.value, '$.after.bytes'), json_extract(s.value, '$.stack[0].function') FROM json_each(json_extract(CAST(readfile('$work/d2.json') AS TEXT), '$.diff.sites')) s")" \
	"new|1|777|extra"

# A run of several processes (forks.c: a fork, a fork that execs, a
# spawn): each run has all of them, linked within the run.
"$MEMPROF" run -q --repeat 2 -o "$work/f.db" "$FIXTURES/forks" >/dev/null
check "forks x2: processes per run" "$(sql "$work/f.db" "SELECT run, group_concat(origin, ' ') FROM (SELECT * FROM processes ORDER BY id) GROUP BY run")" \
	"1,start fork fork exec spawn
2,start fork fork exec spawn"
check "forks x2: parents in their own run" "$(sql "$work/f.db" 'SELECT count(*) FROM processes c JOIN processes p ON p.id = c.parent_id WHERE p.run != c.run')" 0
check "forks x2: medians" "$("$MEMPROF" summary --format csv "$work/f.db" | grep -E '^(allocations|leaked_bytes|leaked_blocks),')" \
	"allocations,10,10,10,1,0
leaked_bytes,15554,15554,15554,1,0
leaked_blocks,6,6,6,1,0"

# --- exit status --------------------------------------------------------
"$MEMPROF" run -q --repeat 3 -o "$work/e.db" "$R" exit=2:5 2>"$work/err"
check "run 2 fails: its status" "$?" 5
check "run 2 fails: said" "$(cat "$work/err")" "memprof: run 2 of 3 failed: exit status 5"
check "run 2 fails: every run recorded" "$(sql "$work/e.db" 'SELECT run, ended_by, exit_status FROM runs ORDER BY run')" "1,exit,0
2,exit,5
3,exit,0"
"$MEMPROF" run -q -f --repeat 3 -o "$work/e.db" "$R" exit=3:6 exit=2:5 2>"$work/err"
check "runs 2 and 3 fail: the first one's status" "$?" 5
check "runs 2 and 3 fail: both said" "$(cat "$work/err")" "memprof: run 2 of 3 failed: exit status 5
memprof: run 3 of 3 failed: exit status 6"
"$MEMPROF" run -q -f --repeat 3 -o "$work/e.db" "$R" kill=3 2>"$work/err"
check "run 3 killed: 128+9" "$?" 137
check "run 3 killed: said" "$(cat "$work/err")" "memprof: run 3 of 3 failed: killed by signal 9"
check "run 3 killed: runs row" "$(sql "$work/e.db" 'SELECT ended_by, signal FROM runs WHERE run = 3')" "signal,9"
"$MEMPROF" run -q -f --repeat 2 --check --max-allocations 5 -o "$work/e.db" "$R" 2>/dev/null
check "run --repeat --check: medians hold" "$?" 0
"$MEMPROF" run -q -f --repeat 3 --check --max-allocations 4 -o "$work/e.db" "$R" 2>"$work/err"
check "run --repeat --check: median over the limit" "$?" 1
check_match "run --repeat --check: verdict" "$(cat "$work/err")" "FAIL: allocations 5 \(median of 3 runs\) > 4"
"$MEMPROF" run -q -f --repeat 3 --check --max-allocations 100 -o "$work/e.db" "$R" exit=1:4 2>/dev/null
check "run --repeat --check: a failed run's status wins" "$?" 4
"$MEMPROF" run -q -f --repeat 3 -o "$work/e.db" "$work/no-such-program" 2>"$work/err"
check "a program that cannot run: 127" "$?" 127
check "a program that cannot run: stops after run 1" "$(grep -c 'cannot run' "$work/err")" 1
"$MEMPROF" run -q -f --repeat 5 -o "$work/e.db" sh -c 'kill -TERM $PPID; sleep 1' 2>"$work/err"
check "SIGTERM to memprof: passed on, status 128+15" "$?" 143
check "SIGTERM to memprof: no further run" "$(cat "$work/err")" "memprof: run 1 of 5 failed: killed by signal 15
memprof: stopped after run 1 of 5"
check "SIGTERM to memprof: one run recorded" "$(sql "$work/e.db" 'SELECT run, ended_by, signal FROM runs')" "1,signal,15"
"$MEMPROF" run -q -f --repeat 0 -o "$work/e.db" "$R" 2>/dev/null
check "--repeat 0 is a usage error" "$?" 2

# --- standard input, MEMPROF_RUN and warm-ups ------------------------------
printf 'one\ntwo\n' | "$MEMPROF" run -q -f --repeat 3 -o "$work/s.db" sh -c "cat >>'$work/piped'; echo \$MEMPROF_RUN >>'$work/runs'"
check "a piped stdin is replayed to every run" "$(cat "$work/piped")" "one
two
one
two
one
two"
check "MEMPROF_RUN counts the runs" "$(tr '\n' ' ' <"$work/runs")" "1 2 3 "
printf 'abc\n' >"$work/in"
"$MEMPROF" run -q -f --repeat 2 --warmup 2 -o "$work/s.db" sh -c "cat >>'$work/filed'; echo \$MEMPROF_RUN >>'$work/wruns'" <"$work/in"
check "a file stdin is rewound for every run, warm-ups too" "$(cat "$work/filed")" "abc
abc
abc
abc"
check "warm-ups run first with MEMPROF_RUN=0" "$(tr '\n' ' ' <"$work/wruns")" "0 0 1 2 "
check "warm-ups are not recorded" "$(sql "$work/s.db" 'SELECT count(*), max(run) FROM runs')" "2,2"

# --- a trace without runs (an older memprof's) still reads ----------------
cp "$work/a1.db" "$work/old.db"
sqlite3 "$work/old.db" 'ALTER TABLE processes DROP COLUMN run; DROP TABLE runs'
check "old trace: summary" "$("$MEMPROF" summary --format json "$work/old.db" >"$work/o.json"; q "$work/o.json" "json_extract(d, '$.summary.allocations'), json_extract(d, '$.summary.runs'), json_extract(d, '$.summary.processes[0].run')")" "1025|1|1"
check "old trace: top --run 1" "$("$MEMPROF" top --run 1 --by-count --format csv -n 1 "$work/old.db" | tail -n 1 | cut -d, -f1-3)" "1,1000,2000000"
"$MEMPROF" top --run 2 "$work/old.db" >/dev/null 2>"$work/err"
check "old trace: --run 2 is a usage error" "$?" 2
check "old trace: no run 2" "$(cat "$work/err")" "memprof: no run 2 in '$work/old.db' (it has 1 run)"
"$MEMPROF" check --max-peak 1031232 "$work/old.db" >/dev/null
check "old trace: check" "$?" 0
check_match "old trace: diff with the 3 runs" "$("$MEMPROF" diff "$work/old.db" "$a")" "^no change in 4 sites$"
finish
