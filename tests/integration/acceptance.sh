#!/bin/sh
# The core issue's acceptance fixture: exact figures, sites, exit status.
. "${top_srcdir:-.}/tests/integration/lib.sh"
t=$work/trace.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/acceptance"
check "exit status passed on" "$?" 3

s=$("$MEMPROF" summary --format json "$t")
for kv in '"allocations": 1025' '"frees": 1021' '"peak_bytes": 1031232' '"leaked_bytes": 14848' \
	'"leaked_blocks": 4' '"temporary": 1011' '"exit_status": 3'; do
	check_match "summary has $kv" "$s" "$kv"
done
check "allocated bytes" "$(sql "$t" 'SELECT sum(allocated_bytes) FROM processes')" $((2000000 + 1000000 + 12288 + 2560 + 32752))

src=acceptance.c
for order in bytes count; do
	top=$("$MEMPROF" top --by-$order --format csv -n 1 "$t")
	check_match "top --by-$order ranks the 1000-call site first" "$top" \
		"make_temporaries \(.*$src:$(line_of $src temporaries)\)"
done
check_match "top --by-bytes text shows function (file:line)" "$("$MEMPROF" top --by-bytes -n 1 "$t")" \
	"make_temporaries \(.*$src:$(line_of $src temporaries)\)"
check_match "callers shown" "$("$MEMPROF" top --by-bytes -n 1 "$t")" "called from main \(.*$src:"
check_match "peak ranks the held site first" "$("$MEMPROF" peak --format csv -n 1 "$t")" \
	"hold_blocks \(.*$src:$(line_of $src held)\)"
check_match "peak json" "$("$MEMPROF" peak --format json "$t")" '"peak_bytes": 1031232'
l=$("$MEMPROF" leaks --format csv "$t")
check_match "leaks: calloc site" "$l" "leak_some \(.*$src:$(line_of $src leak-calloc)\)"
check_match "leaks: aligned_alloc site" "$l" "leak_some \(.*$src:$(line_of $src leak-aligned)\)"
check "leaks: site count" "$(printf '%s\n' "$l" | tail -n +2 | wc -l)" 2

# Every allocation, through the virtual table.
check "allocations rows" "$(sql "$t" 'SELECT count(*) FROM allocations')" 1025
check "never freed" "$(sql "$t" 'SELECT count(*), sum(size) FROM allocations WHERE free_time_ns IS NULL')" "4,14848"
check "kinds" "$(sql "$t" "SELECT kind || ':' || count(*) FROM allocations GROUP BY kind ORDER BY kind" | tr '\n' ' ')" \
	"aligned_alloc:1 calloc:3 malloc:1011 realloc:10 "
check "realloc chain" "$(sql "$t" "SELECT max(size) FROM allocations WHERE kind = 'realloc'")" 16384
check "usable >= size" "$(sql "$t" 'SELECT count(*) FROM allocations WHERE usable_size < size')" 0
check "times ordered" "$(sql "$t" 'SELECT count(*) FROM allocations WHERE free_time_ns < alloc_time_ns')" 0
finish
