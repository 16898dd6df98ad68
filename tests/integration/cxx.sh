#!/bin/sh
# C++: operator new/new[] and delete/delete[] recorded with their own kinds,
# stacks that begin at the program's code (allocator wrappers folded),
# exceptions and new_handler through libmemprof's operator new, and
# mismatched deallocations.
. "${top_srcdir:-.}/tests/integration/lib.sh"
src=cxx.cc
t=$work/cxx.db
out=$("$MEMPROF" run -q -o "$t" "$FIXTURES/cxx")
check "cxx fixture ran" "$?" 0
check "bad_alloc thrown through our operator new, new_handler called, nothrow gave NULL" \
	"$(printf '%s\n' "$out" | tail -n 1)" "bad_alloc caught 2, new_handler called 2, nothrow gave null"

# Every allocation of the fixture's own code: kind, size, count, leaked,
# and the innermost frame of its stack (the folded stack begins there).
innermost="SELECT a.kind || ':' || a.size || ':' || count(*) || ':' || sum(a.free_time_ns IS NULL) || ':' ||
	f.function || ':' || f.line AS x FROM allocations a JOIN stacks s ON s.id = a.stack_id
	JOIN frames f ON f.id = s.frame_id WHERE f.file LIKE '%$src' GROUP BY a.kind, a.size, f.function, f.line
	ORDER BY min(a.id)"
l() { line_of $src "$1"; }
check "kinds, sizes and innermost frames" "$(sql "$t" "$innermost" | tr '\n' ' ')" \
"new:4:1:1:plain_new():$(l new-int) new[]:100:1:1:plain_new():$(l new-array) \
new:64:1:1:plain_new():$(l new-aligned) new[]:128:1:0:plain_new():$(l new-aligned-array) \
new[]:32:10:0:plain_new():$(l new-loop) new:4:1:0:plain_new():$(l new-nothrow) \
new:64:1:0:containers():$(l vector-reserve) new:128:1:0:containers():$(l vector-grow) \
new:40:5:0:containers():$(l map-insert) new:101:1:0:containers():$(l string) \
new[]:8:1:0:two_paths(int):$(l path-b) new[]:8:1:0:two_paths(int):$(l path-a) \
new[]:1000:1:0:failing_new():$(l reserve) "
check "sites of the vector, map and string begin in the program" \
	"$(sql "$t" "SELECT f.function || ':' || f.line || ':' || s.allocations || ':' || s.bytes FROM sites s
		JOIN stacks k ON k.id = s.stack_id JOIN frames f ON f.id = k.frame_id
		WHERE f.function = 'containers()' ORDER BY f.line" | tr '\n' ' ')" \
	"containers():$(l vector-reserve):1:64 containers():$(l vector-grow):1:128 containers():$(l map-insert):5:200 containers():$(l string):1:101 "
check_match "top shows the program's line first" "$("$MEMPROF" top -n 0 --format csv "$t" | grep ',101,')" \
	",containers\(\) \(.*$src:$(l string)\) <- main "
check "no frame of the allocator left at the innermost end" \
	"$(sql "$t" "SELECT count(*) FROM sites s JOIN stacks k ON k.id = s.stack_id JOIN frames f ON f.id = k.frame_id
		WHERE f.function LIKE 'operator new%' OR f.function LIKE 'std::%' OR f.function LIKE '%new_allocator%'")" 0
check "default fold patterns recorded" "$(sql "$t" "SELECT value FROM meta WHERE key = 'fold'")" \
	"operator new*;operator delete*;std::*;__gnu_cxx::*;__cxa_*"
check "matched new/delete: no mismatch" "$(sql "$t" 'SELECT count(*) FROM mismatches')" 0
check "every block freed by its own kind of function" "$(sql "$t" 'SELECT unmatched_frees FROM processes')" 0

# --no-fold: the stacks begin in the program's inlined std:: code (the
# plain operator new calls malloc directly, MEMPROF_CXX_DIRECT), or in
# libstdc++'s operator new when it is called.
t2=$work/nofold.db
"$MEMPROF" run -q --no-fold -o "$t2" "$FIXTURES/cxx" >/dev/null
check "--no-fold: nothing recorded as folded" "$(sql "$t2" "SELECT value FROM meta WHERE key = 'fold'")" ""
innermost_of() { # DB KIND SIZE
	sql "$1" "SELECT DISTINCT f.function AS x FROM allocations a JOIN stacks s ON s.id = a.stack_id
		JOIN frames f ON f.id = s.frame_id WHERE a.kind = '$2' AND a.size = $3"
}
check_match "--no-fold: the map's node from std::__new_allocator" "$(innermost_of "$t2" new 40)" \
	"std::__new_allocator<.*>::allocate"
check_match "--no-fold: aligned new[] from operator new" "$(innermost_of "$t2" 'new[]' 128)" \
	'^"operator new\(unsigned long, std::align_val_t\)"$'
t5=$work/runtime.db
MEMPROF_CXX_DIRECT=0 "$MEMPROF" run -q --no-fold -o "$t5" "$FIXTURES/cxx" >/dev/null
check "MEMPROF_CXX_DIRECT=0: new[] from libstdc++'s operator new" "$(innermost_of "$t5" 'new[]' 1000)" \
	"operator new(unsigned long)"
check "MEMPROF_CXX_DIRECT=0: same kinds, sizes and counts" \
	"$(sql "$t5" "SELECT kind || ':' || size || ':' || count(*) FROM allocations GROUP BY kind, size" | md5sum)" \
	"$(sql "$t" "SELECT kind || ':' || size || ':' || count(*) FROM allocations GROUP BY kind, size" | md5sum)"
check "MEMPROF_CXX_DIRECT=0: no mismatch" "$(sql "$t5" 'SELECT count(*) FROM mismatches')" 0

# --fold and MEMPROF_FOLD add patterns; stacks that become one merge
# their figures into one site.
t3=$work/fold.db
MEMPROF_FOLD='containers*' "$MEMPROF" run -q --fold 'two_paths*' -o "$t3" "$FIXTURES/cxx" >/dev/null
check "added patterns recorded" "$(sql "$t3" "SELECT value FROM meta WHERE key = 'fold'")" \
	"operator new*;operator delete*;std::*;__gnu_cxx::*;__cxa_*;containers*;two_paths*"
check "two sites folded into their caller's one" \
	"$(sql "$t3" "SELECT f.function || ':' || f.line || ':' || s.allocations || ':' || s.frees || ':' || s.bytes AS x
		FROM sites s JOIN stacks k ON k.id = s.stack_id JOIN frames f ON f.id = k.frame_id
		WHERE f.function = 'merged()'")" "merged():$(l merged):2:2:16"
check "MEMPROF_FOLD: the containers' four sites are one of main's" \
	"$(sql "$t3" "SELECT s.allocations || ':' || s.bytes AS x FROM sites s JOIN stacks k ON k.id = s.stack_id
		JOIN frames f ON f.id = k.frame_id WHERE f.function = 'main' AND f.file LIKE '%$src'")" "8:493"

# A C program does not load libstdc++ because of libmemprof.so.
t4=$work/c.db
"$MEMPROF" run -q -o "$t4" "$FIXTURES/aligned" >/dev/null
check "C program: no libstdc++ loaded" "$(sql "$t4" "SELECT count(*) FROM modules WHERE path LIKE '%libstdc++%'")" 0
check "libmemprof.so needs no libstdc++" "$(objdump -p "$MEMPROF_LIB" | grep NEEDED | grep -c 'stdc++')" 0

# Mismatched deallocations: exactly the fixture's.
src=mismatch.cc
t=$work/mismatch.db
MEMPROF_DELETE_STACKS=1 "$MEMPROF" run -q -o "$t" "$FIXTURES/mismatch"
check "mismatch fixture ran" "$?" 0
csv=$("$MEMPROF" leaks --mismatches --format csv "$t")
check "leaks --mismatches exits 0" "$?" 0
row() { printf '%s\n' "$csv" | sed -n "$1p"; }
check "csv header" "$(row 1)" "rank,alloc_kind,free_kind,blocks,bytes,alloc_stack,free_stack"
check_match "3 free of new at one site, no releasing stack" "$(row 2)" \
	"^1,new,free,3,72,free_of_new\(\) \(.*$src:$(line_of $src new-freed)\) <- main .*,$"
check_match "2 delete of new[]" "$(row 3)" \
	"^2,new\[\],delete,2,200,delete_of_array\(\) \(.*$src:$(line_of $src array-deleted)\) <- .*,delete_of_array\(\) \(.*$src:$(line_of $src delete-of-array)\) <- main "
check_match "1 delete[] of malloc" "$(row 4)" \
	"^3,malloc,delete\[\],1,50,array_delete_of_malloc\(\) \(.*$src:$(line_of $src malloc-deleted)\) <- .*,array_delete_of_malloc\(\) \(.*$src:$(line_of $src array-delete-of-malloc)\) <- main "
check "nothing else" "$(printf '%s\n' "$csv" | wc -l)" 4
check "mismatches table" "$(sql "$t" 'SELECT alloc_kind, free_kind, count, bytes, free_stack_id IS NULL AS f FROM mismatches ORDER BY count DESC')" \
"new,free,3,72,1
new[],delete,2,200,0
malloc,delete[],1,50,0"
j=$("$MEMPROF" leaks --mismatches --format json "$t")
check_match "json totals" "$j" '"blocks": 6,'
check_match "json bytes" "$j" '"bytes": 322,'
check_match "json: no releasing stack for free" "$j" '"free_stack": null'
check_match "json kinds" "$j" '"alloc_kind": "new\[\]",'
txt=$("$MEMPROF" leaks --mismatches "$t")
check_match "text head" "$txt" "^mismatched deallocations: 6 blocks \(322 B\)"
check_match "text site" "$txt" "#2  2 blocks \(200 B\) allocated by new\[\], released by delete"
check_match "text: released at" "$txt" "released at: unknown \(free records no stack\)"
check "matched pairs are kinds of their own" "$(sql "$t" "SELECT kind || ':' || size AS x FROM allocations
	WHERE size IN (96, 10) OR (size = 24 AND free_time_ns IS NOT NULL AND kind = 'new') ORDER BY id" | tr '\n' ' ')" \
	"new:24 new:24 new:24 new:24 new[]:96 malloc:10 "
pid=$(sql "$t" 'SELECT pid FROM processes')
check "--pid" "$("$MEMPROF" leaks --mismatches --format csv --pid "$pid" "$t" | wc -l)" 4
t5=$work/nostacks.db
"$MEMPROF" run -q -o "$t5" "$FIXTURES/mismatch"
check "by default: the same mismatches, no releasing stacks" \
	"$(sql "$t5" 'SELECT alloc_kind, free_kind, count, bytes, free_stack_id IS NULL AS f FROM mismatches ORDER BY count DESC')" \
"new,free,3,72,1
new[],delete,2,200,1
malloc,delete[],1,50,1"
check "no mismatches in a C trace" "$("$MEMPROF" leaks --mismatches "$t4")" "no mismatched deallocations"
finish
