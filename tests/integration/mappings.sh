#!/bin/sh
# Anonymous mappings (mmap, munmap, mremap) and RSS samples, with the exact
# figures of tests/fixtures/mappings.c; --no-mmap and MEMPROF_MMAP=0.
. "${top_srcdir:-.}/tests/integration/lib.sh"
t=$work/m.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/mappings"
check "fixture ran" "$?" 0

# Mappings: 3 mmap + 1 mremap; releases: the partial munmap, the mremap's
# old range, munmap(a); 5 MiB mapped; peak 3.75 MiB; b's 768 KiB remnant
# and c's 2 MiB still mapped. The file and shared mappings are not there.
check "mapping figures" "$(sql "$t" "SELECT mmap_calls, munmap_calls, mmap_bytes, mmap_peak_bytes,
	mmap_leaked_bytes, mmap_leaked_blocks FROM processes")" "4,3,5242880,3932160,2883584,2"
# The heap holds the 3 MiB malloc only (glibc mmaps it: heap, not a mapping).
check "heap figures" "$(sql "$t" "SELECT allocations, frees, allocated_bytes, peak_bytes, leaked_bytes,
	unmatched_frees FROM processes")" "1,1,3145728,3145728,0,0"
check "sites are heap only" "$(sql "$t" "SELECT count(*), sum(bytes) FROM sites")" "1,3145728"
# Rows: a, b, c, b's remnant (same stack as b, allocated when b was cut),
# the mremap'd c; a freed at the end, b and c freed by the munmap/mremap.
check "mapping rows" "$(sql "$t" "SELECT size || ':' || (free_time_ns IS NULL) FROM allocations
	WHERE kind = 'mmap' ORDER BY id" | tr '\n' ' ')" "1048576:0 1048576:0 1048576:0 786432:1 2097152:1 "
check "remnant keeps b's stack" "$(sql "$t" "SELECT (SELECT stack_id FROM allocations WHERE kind = 'mmap'
	ORDER BY id LIMIT 1 OFFSET 1) = (SELECT stack_id FROM allocations WHERE size = 786432) AS same")" 1
check "remnant made when b was cut" "$(sql "$t" "SELECT (SELECT free_time_ns FROM allocations WHERE kind = 'mmap'
	ORDER BY id LIMIT 1 OFFSET 1) = (SELECT alloc_time_ns FROM allocations WHERE size = 786432) AS same")" 1
check "heap block kind" "$(sql "$t" "SELECT kind FROM allocations WHERE size = 3145728")" malloc

# Mapping sites, with their lines: the mremap in main, the three mmaps
# through map_anon called from three lines of main.
remap=$(line_of mappings.c remap-c)
mapb=$(line_of mappings.c map-b)
check "mapping sites" "$(sql "$t" "SELECT f.line, s.allocations, s.frees, s.bytes, s.peak_bytes, s.leaked_bytes
	FROM mapping_sites s JOIN stacks k ON k.id = s.stack_id JOIN frames f ON f.id = k.frame_id
	WHERE f.function = 'main' ORDER BY s.bytes DESC, f.line" | tr '\n' ' ')" "$remap,1,0,2097152,2097152,2097152 "
check "b's site: cut, peak and end" "$(sql "$t" "SELECT s.frees, s.peak_bytes, s.leaked_bytes FROM mapping_sites s
	JOIN stacks k ON k.id = s.stack_id JOIN frames f ON f.id = (SELECT frame_id FROM stacks WHERE id = k.parent_id)
	WHERE f.function = 'main' AND f.line = $mapb")" "1,786432,786432"
j=$("$MEMPROF" top --mappings --by-leaked --format json "$t")
check_match "top --mappings: the mremap first" "$j" "\"leaked_bytes\": 2097152,.*"
check_match "top --mappings json" "$j" '"of": "mappings"'
check "top --mappings csv" "$("$MEMPROF" top --mappings --format csv "$t" | cut -d, -f1-7 | tr '\n' ' ')" \
	"rank,allocations,bytes,peak_bytes,leaked_bytes,leaked_blocks,temporary 1,1,2097152,2097152,2097152,1,0 2,1,1048576,1048576,0,0,0 3,1,1048576,786432,786432,1,0 4,1,1048576,0,0,0,0 "
check_match "top (heap) unchanged" "$("$MEMPROF" top --format csv "$t" | tail -n +2)" "^1,1,3145728,3145728,0,0,1,"

# RSS: samples every 10 ms through the fixture's 200 ms pause, all positive;
# the peak covers the touched heap and mappings; while everything was live
# a sample saw the heap and the mappings at their figures.
check_match "rss samples" "$(sql "$t" "SELECT count(*) >= 5, min(rss_bytes) > 0, min(anon_bytes) > 0 FROM rss_samples")" "^1,1,1$"
check "rss peak >= heap peak + mapping peak" "$(sql "$t" "SELECT rss_peak_bytes >= peak_bytes + mmap_peak_bytes,
	rss_peak_bytes >= (SELECT max(rss_bytes) FROM rss_samples) FROM processes")" "1,1"
check "a sample with everything live" "$(sql "$t" "SELECT count(*) > 0 FROM rss_samples WHERE heap_bytes = 3145728
	AND mapped_bytes = 3932160 AND rss_bytes >= heap_bytes + mapped_bytes")" 1
check "the last sample: at exit" "$(sql "$t" "SELECT heap_bytes, mapped_bytes FROM rss_samples ORDER BY time_ns DESC LIMIT 1")" "0,2883584"
s=$("$MEMPROF" summary "$t")
check_match "summary: mappings" "$s" "mappings:   4 calls, 3 releases, 5.00 MiB mapped, peak 3.75 MiB at .*, still mapped at exit 2.75 MiB in 2 mappings"
check_match "summary: rss" "$s" "rss:        peak .* at .*: heap 3.00 MiB \(usable 3.00 MiB\), mappings 3.75 MiB, other "
s=$("$MEMPROF" summary --format json "$t")
check_match "summary json: mappings" "$s" '"mappings": \{"calls": 4, "releases": 3, "bytes": 5242880, "peak_bytes": 3932160, "peak_time_ns": [0-9]+, "leaked_bytes": 2883584, "leaked_blocks": 2\}'
check_match "summary json: rss sample" "$s" '"heap_bytes": 3145728, "usable_bytes": [0-9]+, "mapped_bytes": 3932160'
check_match "summary csv" "$("$MEMPROF" summary --format csv "$t" | tail -n 1)" ",4,3,5242880,3932160,[0-9]+,2883584,2,[0-9]+,[0-9]+,1$"
check "meta" "$(sql "$t" "SELECT value FROM meta WHERE key IN ('mappings_recorded', 'rss_sample_ms') ORDER BY key" | tr '\n' ' ')" "1 10 "

# --no-mmap, and MEMPROF_MMAP=0: no mapping, the same heap figures.
for how in --no-mmap env; do
	n=$work/n-$how.db
	if [ "$how" = env ]; then
		MEMPROF_MMAP=0 "$MEMPROF" run -q -o "$n" "$FIXTURES/mappings" 20
	else
		"$MEMPROF" run -q --no-mmap -o "$n" "$FIXTURES/mappings" 20
	fi
	check "$how: ran" "$?" 0
	check "$how: no mappings" "$(sql "$n" "SELECT mmap_calls, munmap_calls, mmap_bytes, mmap_peak_bytes,
		(SELECT count(*) FROM mapping_sites), (SELECT count(*) FROM allocations WHERE kind = 'mmap') FROM processes")" "0,0,0,0,0,0"
	check "$how: heap figures" "$(sql "$n" "SELECT allocations, frees, allocated_bytes, peak_bytes, leaked_bytes FROM processes")" "1,1,3145728,3145728,0"
	check "$how: recorded as off" "$(sql "$n" "SELECT value FROM meta WHERE key = 'mappings_recorded'")" 0
	check_match "$how: summary" "$("$MEMPROF" summary "$n")" "mappings:   not recorded"
done

# RSS off (MEMPROF_RSS_MS=0): no samples, peak NULL, the rest unchanged.
o=$work/o.db
MEMPROF_RSS_MS=0 "$MEMPROF" run -q -o "$o" "$FIXTURES/mappings" 20
check "rss off" "$(sql "$o" "SELECT (SELECT count(*) FROM rss_samples), rss_peak_bytes IS NULL, mmap_calls FROM processes")" "0,1,4"
check_match "rss off: summary" "$("$MEMPROF" summary "$o")" "rss:        no samples"

# A program linked with jemalloc: its chunks are heap, not mappings.
je=$work/je.db
"$MEMPROF" run -q -o "$je" "$FIXTURES/jemalloc-api"
check "jemalloc's own mmaps not recorded" "$(sql "$je" "SELECT mmap_calls FROM processes")" 0

# A short-lived process still has its final sample, with the high-water mark.
sh=$work/short.db
"$MEMPROF" run -q -o "$sh" "$FIXTURES/mappings" 0
check "short-lived: samples" "$(sql "$sh" "SELECT count(*) >= 1, rss_peak_bytes >= peak_bytes + mmap_peak_bytes FROM rss_samples, processes")" "1,1"
finish
