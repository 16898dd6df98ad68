#!/bin/sh
# Every allocation function, and a program linked with jemalloc's *allocx API.
. "${top_srcdir:-.}/tests/integration/lib.sh"
t=$work/aligned.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/aligned"
check "aligned fixture ran" "$?" 0
leaked=$(sql "$t" "SELECT kind || ':' || size FROM allocations WHERE free_time_ns IS NULL AND size IN (100,256,48,1000,5000,300,63,77) ORDER BY id" | tr '\n' ' ')
check "one of each kind" "$leaked" \
	"posix_memalign:100 aligned_alloc:256 memalign:48 valloc:1000 pvalloc:5000 reallocarray:300 calloc:63 realloc:77 "
check "realloc(p, 0) frees" "$(sql "$t" 'SELECT count(*) FROM allocations WHERE size = 4321 AND free_time_ns IS NOT NULL')" 1

t=$work/je.db
MALLOC_CONF=narenas:1 "$MEMPROF" run -q -o "$t" "$FIXTURES/jemalloc-api"
check "jemalloc fixture ran" "$?" 0
check "allocx kinds" "$(sql "$t" "SELECT kind || ':' || size || ':' || (free_time_ns IS NULL) FROM allocations WHERE size BETWEEN 1000 AND 6000 ORDER BY id" | tr '\n' ' ')" \
	"mallocx:1000:0 rallocx:2000:0 mallocx:3000:0 mallocx:4000:0 mallocx:5000:1 malloc:6000:1 "
# libstdc++ (which Debian's jemalloc loads) keeps a pool it never frees;
# the fixture's own leaks are those allocated directly by main.
check "jemalloc leaks" "$(sql "$t" "SELECT sum(s.leaked_bytes) FROM sites s JOIN stacks k ON k.id = s.stack_id
	JOIN frames f ON f.id = k.frame_id WHERE f.function = 'main'")" 11000

# The environment is recorded: the allocator and its settings.
check "glibc program: allocator" "$(sql "$work/aligned.db" "SELECT value FROM meta WHERE key = 'env_allocator'")" glibc
check_match "jemalloc program: allocator and version" "$(sql "$t" "SELECT value FROM meta WHERE key = 'env_allocator'")" \
	'^jemalloc [0-9]+\.[0-9]+\.[0-9]+$'
check_match "allocator settings" "$(sql "$t" "SELECT value FROM meta WHERE key = 'env_allocator_settings'")" "MALLOC_CONF=narenas:1"
j=$("$MEMPROF" summary --format json "$t")
check_match "summary json: environment" "$j" '"allocator": "jemalloc [0-9]'
check_match "summary json: kernel" "$j" '"kernel": "Linux '
check_match "summary text: recorded" "$("$MEMPROF" summary "$t")" "recorded: .*allocator jemalloc [0-9.]+ MALLOC_CONF=narenas:1"
finish
