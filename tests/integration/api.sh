#!/bin/sh
# memprof.h: pools, pauses (calls, signal, --start-paused), phases (calls,
# --phase-after), the queries on them, and programs that include the
# header running unchanged without memprof.
. "${top_srcdir:-.}/tests/integration/lib.sh"
src=pools.c

# --- without memprof: no library, no crash, no output --------------------
out=$("$FIXTURES/pools" 2>&1)
check "pools runs alone" "$?" 0
check "pools prints nothing alone" "$out" ""
check "pools needs no memprof library" "$(objdump -p "$FIXTURES/pools" | grep NEEDED | grep -c 'memprof\|libdl')" 0
out=$("$FIXTURES/pause" api 2>&1)
check "pause runs alone" "$?:$out" "0:"
out=$("$FIXTURES/phases" marks 2>&1)
check "phases runs alone" "$?:$out" "0:"

# The header compiles without a warning in C and C++, and a program using
# every call runs the same with and without memprof.
cat >"$work/use.c" <<'EOC'
#include <stdio.h>
#include <stdlib.h>
#include "memprof.h"
int main(void)
{
	memprof_pool_t pool = memprof_pool_create("mine");
	char *arena = (char *)malloc(256);
	void (*fn)(memprof_pool_t, const void *, size_t) = memprof_alloc;
	memprof_phase("one");
	memprof_alloc(pool, arena, 16);
	fn(pool, arena + 16, 16);
	memprof_realloc(pool, arena + 16, arena + 32, 32);
	memprof_free(pool, arena);
	memprof_pause();
	memprof_resume();
	printf("%d\n", memprof_present());
	free(arena);
	return 0;
}
EOC
cp "$work/use.c" "$work/use.cc"
for std in c99 c11; do
	${CC:-cc} -std=$std -Wall -Wextra -pedantic -Werror -I"$top_srcdir/lib" -o "$work/use-$std" "$work/use.c" \
		>"$work/cc.out" 2>&1
	check "the header compiles in $std without warnings" "$?:$(cat "$work/cc.out")" "0:"
done
for std in c++11 c++17; do
	${CXX:-c++} -std=$std -Wall -Wextra -pedantic -Werror -I"$top_srcdir/lib" -o "$work/use-$std" \
		"$work/use.cc" >"$work/cc.out" 2>&1
	check "the header compiles in $std without warnings" "$?:$(cat "$work/cc.out")" "0:"
done
for std in c99 c11 c++11 c++17; do
	[ -x "$work/use-$std" ] || continue
	check "$std: runs alone, memprof absent" "$("$work/use-$std" 2>&1)" 0
	check "$std: under memprof, present" "$("$MEMPROF" run -q -f -o "$work/use.db" "$work/use-$std" 2>&1)" 1
	check "$std: its pool" "$(sql "$work/use.db" 'SELECT name, allocations, frees, bytes, leaked_bytes FROM pools')" \
		"mine,3,2,64,32"
done

# --- pools --------------------------------------------------------------
t=$work/pools.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/pools"
check "pools: exit status" "$?" 0
check "heap figures leave the pools out" \
	"$(sql "$t" 'SELECT allocations, frees, allocated_bytes, peak_bytes, leaked_bytes, unmatched_frees FROM processes')" \
	"2,2,131072,131072,0,0"
check "heap sites: only the arenas" "$(sql "$t" 'SELECT count(*), sum(allocations), sum(bytes) FROM sites')" "2,2,131072"
check "pools table" "$(sql "$t" 'SELECT pool_id, name, allocations, frees, bytes, peak_bytes, leaked_bytes,
	leaked_blocks, unmatched_frees FROM pools ORDER BY pool_id' | tr '\n' ' ')" \
	"1,nodes,10,4,480,480,288,6,0 2,text,4,1,500,400,400,3,0 "
check "pool blocks in allocations" "$(sql "$t" "SELECT kind, pool_id, count(*), sum(size), count(free_time_ns)
	FROM allocations GROUP BY kind, pool_id ORDER BY kind, pool_id" | tr '\n' ' ')" \
	"malloc,,2,131072,2 pool,1,10,480,4 pool,2,4,500,1 "
top=$("$MEMPROF" top --pool nodes --format csv "$t")
check "top --pool nodes: one site" "$(printf '%s\n' "$top" | tail -n +2 | wc -l)" 1
check_match "top --pool nodes: figures and stack from memprof_alloc's caller" "$top" \
	"^1,10,480,,288,6,,pool_get \(.*$src:$(line_of $src pool_get)\) <- make_nodes \(.*$src:$(line_of $src nodes)\)"
top=$("$MEMPROF" top --pool text --format csv "$t")
check_match "top --pool text: the three blocks" "$top" \
	"1,3,300,,200,2,,pool_get \(.*$src:$(line_of $src pool_get)\) <- make_text \(.*$src:$(line_of $src text)\)"
check_match "top --pool text: the resized block" "$top" "2,1,200,,200,1,,pool_grow[.a-z0-9]* \(.*$src:$(line_of $src grow)\) <- main"
check_match "top --pool --by-leaked" "$("$MEMPROF" top --pool nodes --by-leaked -n 1 "$t")" \
	"480 B in 10 allocations \(leaked 288 B in 6 blocks, 4 freed\)"
check_match "top --pool json" "$("$MEMPROF" top --pool nodes --format json "$t")" '"pool": "nodes"'
check_match "top without --pool: the heap's arenas" "$("$MEMPROF" top --format csv "$t" | tail -n +2 | tr '\n' ' ')" \
	"^1,1,65536,.*pool_init \(.*$src:$(line_of $src arena)\).* 2,1,65536,.*pool_init \(.*$src:$(line_of $src arena)\)"
"$MEMPROF" top --pool nope "$t" >/dev/null 2>"$work/err"
check "top --pool unknown: usage error" "$?:$(cat "$work/err")" "2:memprof: no pool 'nope' in '$t'"
"$MEMPROF" top --pool nodes --by-peak "$t" >/dev/null 2>&1
check "top --pool --by-peak refused" "$?" 2
s=$("$MEMPROF" summary "$t")
check_match "summary lists pool nodes" "$s" "pools: +nodes: 10 allocations, 480 B, peak 480 B, leaked 288 B in 6 blocks"
check_match "summary lists pool text" "$s" " +text: 4 allocations, 500 B, peak 400 B, leaked 400 B in 3 blocks"
check_match "summary json pools" "$("$MEMPROF" summary --format json "$t")" \
	'\{"name": "nodes", "allocations": 10, "frees": 4, "bytes": 480, "peak_bytes": 480, "leaked_bytes": 288, "leaked_blocks": 6\}'

# --- pauses ---------------------------------------------------------------
figures='SELECT allocations, frees, allocated_bytes, leaked_bytes, leaked_blocks, unmatched_frees FROM processes'
for how in "api" "signal $(kill -l USR2 2>/dev/null || echo 12)"; do
	t=$work/pause.db
	# shellcheck disable=SC2086
	"$MEMPROF" run -q -f -o "$t" "$FIXTURES/pause" $how
	check "pause ($how): exit status" "$?" 0
	check "pause ($how): recorded figures" "$(sql "$t" "$figures")" "9,3,1700,1200,6,0"
	check "pause ($how): one pause, 2 unrecorded frees" \
		"$(sql "$t" 'SELECT count(*), sum(unrecorded_frees), sum(end_ns > start_ns) FROM pauses')" "1,2,1"
	check "pause ($how): sites" "$(sql "$t" "SELECT group_concat(allocations || 'x' || (bytes / allocations), ' ')
		FROM (SELECT * FROM sites ORDER BY bytes)")" "5x100 4x300"
done
check_match "summary says what was not recorded" "$("$MEMPROF" summary "$t")" \
	"paused: +1 pause, .* in all: allocations made then are in no figure \(2 frees of them seen\)"
"$MEMPROF" run -q -f -o "$t" "$FIXTURES/pause" own-handler
check "a handler of the program's own: nothing paused" "$?:$(sql "$t" "$figures"):$(sql "$t" 'SELECT count(*) FROM pauses')" \
	"0:12,5,2300,1400,7,0:0"
"$MEMPROF" run -q -f --toggle-signal USR1 -o "$t" "$FIXTURES/pause" signal "$(kill -l USR1 2>/dev/null || echo 10)"
check "--toggle-signal USR1" "$?:$(sql "$t" "$figures")" "0:9,3,1700,1200,6,0"
MEMPROF_TOGGLE_SIGNAL=0 "$MEMPROF" run -q -f -o "$t" "$FIXTURES/pause" signal "$(kill -l USR2 2>/dev/null || echo 12)"
check "MEMPROF_TOGGLE_SIGNAL=0: the signal keeps its default action" "$?" $((128 + $(kill -l USR2 2>/dev/null || echo 12)))
"$MEMPROF" run -q -f --start-paused -o "$t" "$FIXTURES/pause" api
check "--start-paused" "$?:$(sql "$t" "$figures")" "0:4,1,1200,900,3,0"
check "--start-paused: the pause starts with the process" \
	"$(sql "$t" 'SELECT count(*), sum(unrecorded_frees), sum(pauses.start_ns - processes.start_ns < 50000000)
	FROM pauses JOIN processes ON processes.id = pauses.process_id')" "1,4,1"
MEMPROF_START_PAUSED=1 "$MEMPROF" run -q -f -o "$t" "$FIXTURES/pause" api
check "MEMPROF_START_PAUSED=1" "$?:$(sql "$t" "$figures")" "0:4,1,1200,900,3,0"

# The toggle signal sent from outside to memprof run reaches the program:
# the phases fixture sleeps 1 s between its 2 and its 3 allocations.
"$MEMPROF" run -q -f -o "$t" "$FIXTURES/phases" sleep &
run=$!
sleep 0.5
kill -USR2 "$run"
wait "$run"
check "signal to memprof run: exit status" "$?" 0
check "signal to memprof run: the 3 later allocations not recorded" \
	"$(sql "$t" 'SELECT allocations, allocated_bytes FROM processes')" "2,80"
check "signal to memprof run: an open pause to the end" \
	"$(sql "$t" 'SELECT count(*), sum(pauses.end_ns = processes.end_ns) FROM pauses JOIN processes')" "1,1"

# --- phases ---------------------------------------------------------------
t=$work/phases.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/phases" marks
check "phases: exit status" "$?" 0
check "phases table" "$(sql "$t" 'SELECT name, source, allocations, bytes, end_alloc_id - first_alloc_id,
	start_ns <= end_ns FROM phases ORDER BY start_ns' | tr '\n' ' ')" \
	"load,program,3,30,3,1 run,program,5,100,5,1 done,program,1,30,1,1 "
check "phases follow each other" "$(sql "$t" 'SELECT count(*) FROM phases a JOIN phases b
	ON b.first_alloc_id = a.end_alloc_id AND b.start_ns = a.end_ns')" 2
check "phase windows hold their allocations" "$(sql "$t" "SELECT ph.name, count(a.id), sum(a.size)
	FROM phases ph JOIN allocations a ON a.process_id = ph.process_id AND a.id >= ph.first_alloc_id
	AND a.id < ph.end_alloc_id AND a.alloc_time_ns >= ph.start_ns / 100000 * 100000
	AND a.alloc_time_ns <= ph.end_ns GROUP BY ph.name ORDER BY ph.start_ns" | tr '\n' ' ')" \
	"load,3,30 run,5,100 done,1,30 "
check "summary --phase run" "$("$MEMPROF" summary --phase run --format csv "$t" | tail -n 1)" "phase 'run',5,2,100,60,3"
check_match "summary --phase text" "$("$MEMPROF" summary --phase load "$t")" "calls: +3 allocations, 0 of them freed"
check_match "summary lists the phases" "$("$MEMPROF" summary "$t")" \
	"phases: +load: .* to .*, 3 allocations, 30 B
 +run: .*, 5 allocations, 100 B
 +done: .*, 1 allocation, 30 B"
top=$("$MEMPROF" top --phase run --format csv "$t")
check_match "top --phase run" "$top" "^1,5,100,,60,3,,main \(.*phases.c:$(line_of phases.c run)\)"
check "top --phase run: one site" "$(printf '%s\n' "$top" | tail -n +2 | wc -l)" 1
"$MEMPROF" summary --phase nope "$t" >/dev/null 2>"$work/err"
check "summary --phase unknown" "$?:$(cat "$work/err")" "2:memprof: no phase 'nope' in '$t'"
"$MEMPROF" summary --from soon "$t" >/dev/null 2>&1
check "summary --from bad time" "$?" 2

t=$work/after.db
"$MEMPROF" run -q --phase-after 0.5 late --phase-after 0 early -o "$t" "$FIXTURES/phases" sleep
check "--phase-after: exit status" "$?" 0
check "--phase-after: phases" "$(sql "$t" 'SELECT name, source, allocations, bytes FROM phases ORDER BY start_ns' |
	tr '\n' ' ')" "early,run,2,80 late,run,3,150 "
check "summary --phase late" "$("$MEMPROF" summary --phase late --format csv "$t" | tail -n 1)" "phase 'late',3,0,150,150,3"
check "summary --from 0.5" "$("$MEMPROF" summary --from 0.5 --format csv "$t" | tail -n 1)" "from 0.500 s,3,0,150,150,3"
check "summary --to 500ms" "$("$MEMPROF" summary --to 500ms --format csv "$t" | tail -n 1)" "to 0.500 s,2,0,80,80,2"
check "top --from --to: nothing" "$("$MEMPROF" top --from 0.5 --to 0.6 --format csv "$t" | tail -n +2)" ""
"$MEMPROF" run -q -f --phase-after soon x -o "$t" "$FIXTURES/phases" sleep 2>/dev/null
check "--phase-after bad time" "$?" 2
finish
