#!/bin/sh
# Allocations before main, in atexit handlers, TLS destructors, detached
# threads and a thread still running at exit; children of system, popen
# and vfork. Every allocation is recorded, nothing deadlocks, and the
# frees match.
. "${top_srcdir:-.}/tests/integration/lib.sh"
t=$work/lifecycle.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/lifecycle"
check "exit status" "$?" 0
main="SELECT id FROM processes WHERE argv LIKE '%lifecycle%'"
check "every stage's allocation, leaked" \
	"$(sql "$t" "SELECT group_concat(size, ' ') FROM (SELECT size FROM allocations WHERE process_id IN ($main)
		AND free_time_ns IS NULL AND size IN (1111, 2222, 3333, 5555) ORDER BY size)")" "1111 2222 3333 5555"
check "the TLS value freed by its destructor" \
	"$(sql "$t" "SELECT count(*) FROM allocations WHERE process_id IN ($main) AND size = 444 AND free_time_ns IS NOT NULL")" 1
check "no unmatched frees" "$(sql "$t" "SELECT unmatched_frees FROM processes WHERE id IN ($main)")" 0
check_match "the thread running at exit was recorded" \
	"$(sql "$t" "SELECT count(*) FROM allocations WHERE process_id IN ($main) AND size = 77")" "^[1-9][0-9]*$"
check_match "leaks: the constructor's site" "$("$MEMPROF" leaks --format csv --pid "$(sql "$t" "SELECT pid FROM processes WHERE argv LIKE '%lifecycle%'")" "$t")" \
	"before_main \(.*lifecycle.c:$(line_of lifecycle.c constructor)\)"
check "children: system, popen (shells) and vfork + exec of true" \
	"$(sql "$t" "SELECT count(*) FROM processes WHERE argv LIKE '%\"true\"%' OR argv LIKE '%echo hi%'")" 3
finish
