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
