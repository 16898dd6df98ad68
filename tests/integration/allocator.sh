#!/bin/sh
# memprof run --allocator: the acceptance fixture on glibc's malloc and on
# jemalloc gives the same requested figures and different usable sizes.
. "${top_srcdir:-.}/tests/integration/lib.sh"

# An unknown allocator is a usage error, before anything runs.
out=$("$MEMPROF" run --allocator tcmalloc -o "$work/x.db" -- "$FIXTURES/acceptance" 2>&1)
check "unknown allocator: exit 2" "$?" 2
check "unknown allocator: message" "$out" \
	"memprof: unknown allocator 'tcmalloc' (glibc|jemalloc); see 'memprof run --help'"
check "unknown allocator: no trace" "$(test -e "$work/x.db" && echo yes)" ""
check_match "--help names the option" "$("$MEMPROF" run --help)" "--allocator NAME +run PROGRAM on this malloc"

# glibc, the default: nothing is preloaded but memprof.
g=$work/glibc.db
"$MEMPROF" run -q --allocator glibc -o "$g" "$FIXTURES/acceptance"
check "glibc: exit status passed on" "$?" 3
check "glibc: figures" "$(sql "$g" 'SELECT allocations, allocated_bytes, peak_bytes, leaked_bytes, leaked_blocks FROM processes')" \
	"1025,3047600,1031232,14848,4"
check "glibc: allocator" "$(sql "$g" "SELECT value FROM meta WHERE key = 'env_allocator'")" glibc
sizes="SELECT kind || ':' || size || ':' || usable_size FROM allocations
	WHERE kind IN ('malloc', 'calloc', 'aligned_alloc') AND size IN (16, 2000, 2560, 4096, 100000)
	GROUP BY kind, size ORDER BY size"
check "glibc: usable sizes" "$(sql "$g" "$sizes" | tr '\n' ' ')" \
	"malloc:16:24 malloc:2000:2008 aligned_alloc:2560:2568 calloc:4096:4104 malloc:100000:100008 "
check "glibc: usable at the peak" "$(sql "$g" 'SELECT h.usable_bytes FROM heap_samples h JOIN processes p
	ON p.id = h.process_id AND h.time_ns = p.peak_time_ns')" 1031352
gs=$("$MEMPROF" summary "$g")
check_match "glibc: summary peak line" "$gs" "peak: +1007\.06 KiB \(1031232 bytes\) at [0-9.]+ [mu]?s, usable 1007\.18 KiB"
check_match "glibc: summary json" "$("$MEMPROF" summary --format json "$g")" '"peak_usable_bytes": 1031352,'
check "glibc: LD_PRELOAD" "$("$MEMPROF" run -q -o "$work/env-g.db" -- sh -c 'printf %s "$LD_PRELOAD"')" "$MEMPROF_LIB"

if ! have_jemalloc; then
	echo "$name: libjemalloc.so.2 not found (Debian's libjemalloc2 package): the jemalloc checks are skipped"
	finish || exit 1
	exit 77
fi

# jemalloc: preloaded after libmemprof.so (its hooks see every call and
# reach jemalloc through RTLD_NEXT), before the user's own LD_PRELOAD.
# (memprof itself runs with that LD_PRELOAD: an ASan build must accept it.)
pre=$(ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" LD_PRELOAD=libm.so.6 "$MEMPROF" run -q --allocator jemalloc -o "$work/env-j.db" -- sh -c 'printf %s "$LD_PRELOAD"')
check_match "jemalloc: LD_PRELOAD order" "$pre" "^$MEMPROF_LIB /[^ ]*/libjemalloc\.so\.2 libm\.so\.6\$"

# Warm-ups run on it too (not recorded: without memprof), and every run.
wr=$("$MEMPROF" run -q --warmup 1 --repeat 2 --allocator jemalloc -o "$work/wr.db" -- sh -c 'echo "$MEMPROF_RUN:$LD_PRELOAD"' |
	sed 's|/[^ ]*/libjemalloc\.so\.2|JE|' | tr '\n' ' ')
check "jemalloc: warm-up and runs" "$wr" "0:JE 1:$MEMPROF_LIB JE 2:$MEMPROF_LIB JE "

j=$work/jemalloc.db
"$MEMPROF" run -q --allocator jemalloc -o "$j" "$FIXTURES/acceptance"
check "jemalloc: exit status passed on" "$?" 3
ver=$(jemalloc_version)
if [ -n "$ver" ]; then
	check "jemalloc: allocator and version" "$(sql "$j" "SELECT value FROM meta WHERE key = 'env_allocator'")" "jemalloc $ver"
else
	check_match "jemalloc: allocator and version" "$(sql "$j" "SELECT value FROM meta WHERE key = 'env_allocator'")" \
		'^jemalloc [0-9]+\.[0-9]+\.[0-9]+'
fi
check_match "jemalloc: summary json" "$("$MEMPROF" summary --format json "$j")" '"allocator": "jemalloc [0-9]'
check_match "jemalloc: summary text" "$("$MEMPROF" summary "$j")" "recorded: .*; allocator jemalloc [0-9.]+$"

# Debian's jemalloc links libstdc++, whose emergency exception pool (one
# block, allocated as it loads and never freed) is the only allocation the
# program gains; without it every requested figure is glibc's.
pool="SELECT sum(s.allocations), sum(s.bytes), sum(s.peak_bytes), sum(s.leaked_bytes), sum(s.leaked_blocks)
	FROM sites s JOIN stacks k ON k.id = s.stack_id JOIN frames f ON f.id = k.frame_id
	JOIN modules m ON m.id = f.module_id WHERE m.path LIKE '%/libstdc++.so%'"
check "jemalloc: libstdc++'s pool" "$(sql "$j" "$pool")" "1,72704,72704,72704,1"
check "jemalloc: figures" "$(sql "$j" 'SELECT allocations - 1, allocated_bytes - 72704, peak_bytes - 72704,
	leaked_bytes - 72704, leaked_blocks - 1 FROM processes')" "1025,3047600,1031232,14848,4"
own="SELECT f.function, f.line, s.allocations, s.frees, s.bytes, s.peak_bytes, s.leaked_bytes, s.leaked_blocks,
	s.temporary FROM sites s JOIN stacks k ON k.id = s.stack_id JOIN frames f ON f.id = k.frame_id
	WHERE f.file LIKE '%acceptance.c' ORDER BY f.line"
check "jemalloc: the fixture's sites are glibc's" "$(sql "$j" "$own")" "$(sql "$g" "$own")"
check "jemalloc: the fixture's sites" "$(sql "$j" "$own" | wc -l)" 6
check "jemalloc: the fixture's allocations" \
	"$(sql "$j" "SELECT count(*), sum(size) FROM allocations a JOIN stacks k ON k.id = a.stack_id
		JOIN frames f ON f.id = k.frame_id WHERE f.file LIKE '%acceptance.c'")" "1025,3047600"

# Usable sizes are jemalloc's size classes.
check "jemalloc: usable sizes" "$(sql "$j" "$sizes" | tr '\n' ' ')" \
	"malloc:16:16 malloc:2000:2048 aligned_alloc:2560:2560 calloc:4096:4096 malloc:100000:114688 "
check "jemalloc: realloc chain usable" "$(sql "$j" "SELECT count(*) FROM allocations WHERE kind = 'realloc' AND usable_size = size")" 10
# At the peak: 10 x 114688 + 3 x 4096 + 2560 + 16384 + the pool's 81920.
check "jemalloc: usable at the peak" "$(sql "$j" 'SELECT h.usable_bytes FROM heap_samples h JOIN processes p
	ON p.id = h.process_id AND h.time_ns = p.peak_time_ns')" 1260032
js=$("$MEMPROF" summary "$j")
check_match "jemalloc: summary peak line" "$js" "peak: +1\.05 MiB \(1103936 bytes\) at [0-9.]+ [mu]?s, usable 1\.20 MiB"
check_match "jemalloc: summary json" "$("$MEMPROF" summary --format json "$j")" '"peak_usable_bytes": 1260032,'
# Both have an RSS peak; jemalloc's (with libstdc++ and its arenas) is larger.
check "both: RSS peaks" "$(sql "$g" 'SELECT rss_peak_bytes > 0 FROM processes'),$(sql "$j" 'SELECT rss_peak_bytes > 0 FROM processes')" "1,1"
check "jemalloc: larger RSS peak" "$(sql "$j" "SELECT rss_peak_bytes FROM processes" | awk -v g="$(sql "$g" 'SELECT rss_peak_bytes FROM processes')" '{ print ($1 > g) }')" 1
check_match "both: summary rss lines" "$gs
$js" "rss: +peak [0-9.]+ MiB.*
.*rss: +peak [0-9.]+ MiB"

# A program that calls jemalloc's *allocx API directly, linked with it:
# the preloaded jemalloc is the same library, loaded once.
a=$work/allocx.db
"$MEMPROF" run -q --allocator jemalloc -o "$a" "$FIXTURES/jemalloc-api"
check "allocx program: exit 0" "$?" 0
check "allocx program: kinds" "$(sql "$a" "SELECT kind || ':' || size || ':' || (free_time_ns IS NULL) FROM allocations WHERE size BETWEEN 1000 AND 6000 ORDER BY id" | tr '\n' ' ')" \
	"mallocx:1000:0 rallocx:2000:0 mallocx:3000:0 mallocx:4000:0 mallocx:5000:1 malloc:6000:1 "
check "allocx program: usable sizes" "$(sql "$a" "SELECT size || ':' || usable_size FROM allocations WHERE size IN (1000, 2000, 3000, 5000) ORDER BY id" | tr '\n' ' ')" \
	"1000:1024 2000:2048 3000:3072 5000:5120 "
check "allocx program: jemalloc loaded once" "$(sql "$a" "SELECT count(*) FROM modules WHERE path LIKE '%libjemalloc%'")" 1
check_match "allocx program: allocator" "$(sql "$a" "SELECT value FROM meta WHERE key = 'env_allocator'")" '^jemalloc [0-9]'
finish
