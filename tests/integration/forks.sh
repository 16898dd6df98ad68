#!/bin/sh
# A process tree: fork (inherited blocks), fork+exec, posix_spawn.
. "${top_srcdir:-.}/tests/integration/lib.sh"
t=$work/forks.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/forks"
check "exit" "$?" 0
check "processes" "$(sql "$t" "SELECT origin || ':' || ended_by || ':' || leaked_bytes FROM processes ORDER BY id" | tr '\n' ' ')" \
	"start:exit:3333 fork:exit:2222 fork:exec:0 exec:exit:4444 spawn:exit:5555 "
check "fork child frees its inherited blocks" "$(sql "$t" "SELECT frees, unmatched_frees FROM processes WHERE origin = 'fork' AND ended_by = 'exit'")" "4,0"
check "exec'd image has its own argv" "$(sql "$t" "SELECT argv FROM processes WHERE origin = 'exec'")" '"[""'"$FIXTURES"'/forks"",""exec-child""]"'
check "same pid across exec" "$(sql "$t" "SELECT count(DISTINCT pid) FROM processes WHERE id IN (3, 4)")" 1
check "parent links" "$(sql "$t" "SELECT group_concat(coalesce(parent_id, 0), ' ') FROM processes")" "0 1 1 3 1"
j=$("$MEMPROF" summary --format json "$t")
check_match "summary lists processes" "$j" '"processes": \['
check_match "--pid restricts" "$("$MEMPROF" leaks --format csv --pid "$(sql "$t" "SELECT pid FROM processes WHERE origin='spawn'")" "$t")" "spawn-leak|forks.c"

# A fork child's inherited blocks at sites it never used are one row of
# its sites, at the frame "[inherited at the fork]", not a row per site.
t=$work/untouched.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/forks" untouched
check "untouched: exit" "$?" 0
check "untouched: the child's peak and its sites" \
	"$(sql "$t" "SELECT p.peak_bytes, sum(s.peak_bytes), count(*) FROM processes p JOIN sites s ON s.process_id = p.id WHERE p.origin = 'fork'")" \
	"8222,8222,2"
check "untouched: the inherited row" \
	"$(sql "$t" "SELECT s.allocations, s.frees, s.peak_bytes, s.peak_blocks, f.function FROM sites s JOIN processes p ON p.id = s.process_id JOIN stacks k ON k.id = s.stack_id JOIN frames f ON f.id = k.frame_id WHERE p.origin = 'fork' AND k.parent_id = 0 AND f.module_id IS NULL")" \
	"0,0,6000,4,[inherited at the fork]"
check "untouched: the parent's site" "$(sql "$t" "SELECT peak_bytes, peak_blocks FROM sites WHERE process_id = 1")" "6000,4"
child=$(sql "$t" "SELECT pid FROM processes WHERE origin = 'fork'")
check_match "untouched: peak shows it as a site" "$("$MEMPROF" peak --pid "$child" "$t")" \
	'#1  5.86 KiB in 4 blocks \(73.0%\)
^    \[inherited at the fork\]$
#2  2.17 KiB in 1 block \(27.0%\)'
check "untouched: functions lists no function of zeros" \
	"$("$MEMPROF" functions --format csv "$t" | grep -c 'inherited at the fork')" 0
check_match "untouched: and the massif export adds up" \
	"$("$MEMPROF" export --format massif --pid "$child" -o - "$t" 2>/dev/null)" 'n0: 6000 0x2: \[inherited at the fork\]'

# A parent whose thread allocates without pause keeps the replay busy:
# the images take turns, so its fork child's leak scan is still answered
# (without turns it waited the 2 s the collector gives a scan, in vain).
t=$work/busy.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/forks" busy
check "busy parent: exit" "$?" 0
check "busy parent: the child's scan done, its leak" \
	"$(sql "$t" "SELECT leak_scan, leaked_bytes FROM processes WHERE origin = 'fork'")" "done,2222"

# Every process's sites add up to its peak, a fork child's whether it grew
# past the inherited heap or not (fork then exec).
for t in "$work/forks-all.db" "$work/untouched.db"; do
	[ -f "$work/forks-all.db" ] || "$MEMPROF" run -q -o "$work/forks-all.db" "$FIXTURES/forks"
	check "$(basename "$t"): peaks add up" "$(sql "$t" "SELECT count(*) FROM processes p WHERE peak_bytes !=
		(SELECT coalesce(sum(peak_bytes), 0) FROM sites s WHERE s.process_id = p.id)")" 0
done

# A parent that forks and waits sends a mark past the fork at once: its
# children's leak scans need its live blocks at the fork, and must not
# wait for its flusher (here every 10 s; each scan may wait 5 s).
t=$work/subshells.db
MEMPROF_FLUSH_MS=10000 MEMPROF_SCAN_WAIT=5 "$MEMPROF" run -q -o "$t" -- \
	/bin/sh -c 'x=$(printf a); y=$(printf b); echo "$x$y"' >"$work/subshells.out"
check "subshells: exit" "$?" 0
check "subshells: output" "$(cat "$work/subshells.out")" ab
check "subshells: every fork child's leak scan done" \
	"$(sql "$t" "SELECT count(*), count(*) FILTER (WHERE leak_scan = 'done') FROM processes WHERE origin = 'fork' AND ended_by = 'exit'")" \
	"2,2"
finish
