#!/bin/sh
# memprof histogram on the acceptance fixture, whose sizes are known from
# its code: 1000 x 2000 B, 10 x 100000 B, 3 x 4096 B (calloc), 2560 B
# (aligned_alloc), and malloc(16) grown by realloc to 32, 64, ..., 16384.
. "${top_srcdir:-.}/tests/integration/lib.sh"
t=$work/trace.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/acceptance"
src=acceptance.c

# Sizes: the buckets (rows with site_rank 0) as label,allocations,bytes.
buckets() { awk -F, '$8 == 0 { print $1 "," $4 "," $5 }'; }
h=$("$MEMPROF" histogram --format csv "$t")
check "csv header" "$(printf '%s\n' "$h" | head -n 1)" \
	"bucket,min,max,allocations,bytes,share,bytes_share,site_rank,site_allocations,site_bytes,stack"
expected="9-16,1,16
17-32,1,32
33-64,1,64
65-128,1,128
129-256,1,256
257-512,1,512
513-1024,1,1024
1025-2048,1001,2002048
2049-4096,5,18944
4097-8192,1,8192
8193-16384,1,16384
16385-32768,0,0
32769-65536,0,0
65537-131072,10,1000000"
check "size buckets (from the fixture's code)" "$(printf '%s\n' "$h" | tail -n +2 | buckets)" "$expected"
# The same from the allocations table with SQL: the bucket of size s is (lo, 2 lo].
check "size buckets (from SQL)" "$(sql "$t" "WITH RECURSIVE b(lo, hi) AS (SELECT 9, 16 UNION ALL SELECT hi + 1, hi * 2 FROM b WHERE hi < 131072)
	SELECT lo || '-' || hi, (SELECT count(*) FROM allocations WHERE size BETWEEN lo AND hi),
	(SELECT coalesce(sum(size), 0) FROM allocations WHERE size BETWEEN lo AND hi) AS bytes FROM b")" "$expected"
check "bounds and shares" "$(printf '%s\n' "$h" | grep '^1025-2048,' | head -n 1 | cut -d, -f1-7)" \
	"1025-2048,1025,2048,1001,2002048,0.976585,0.656926"
site() { # site BUCKET RANK: allocations,bytes of that site, and its innermost frame
	printf '%s\n' "$h" | awk -F, -v b="$1" -v r="$2" '$1 == b && $8 == r { print $9 "," $10 "," $11 }' | sed 's/ <- .*//'
}
check_match "1025-2048 #1: the temporaries" "$(site 1025-2048 1)" "^1000,2000000,make_temporaries \(.*$src:$(line_of $src temporaries)\)$"
check_match "1025-2048 #2: the chain" "$(site 1025-2048 2)" "^1,2048,grow_chain \(.*$src:$(line_of $src chain-grow)\)$"
check_match "2049-4096 #1: calloc" "$(site 2049-4096 1)" "^3,12288,leak_some \(.*$src:$(line_of $src leak-calloc)\)$"
check_match "2049-4096 #2: the chain (more bytes)" "$(site 2049-4096 2)" "^1,4096,grow_chain \(.*$src:$(line_of $src chain-grow)\)$"
check_match "2049-4096 #3: aligned_alloc" "$(site 2049-4096 3)" "^1,2560,leak_some \(.*$src:$(line_of $src leak-aligned)\)$"
check_match "9-16: the chain's start" "$(site 9-16 1)" "^1,16,grow_chain \(.*$src:$(line_of $src chain-start)\)$"
check_match "65537-131072: held" "$(site 65537-131072 1)" "^10,1000000,hold_blocks \(.*$src:$(line_of $src held)\)$"
check "3 sites at most per bucket" "$(printf '%s\n' "$h" | awk -F, 'NR > 1 && $8 > 3' | wc -l)" 0
check "--sites 1" "$("$MEMPROF" histogram --sites 1 --format csv "$t" | awk -F, 'NR > 1 && $8 > 0' | wc -l)" 12
check "--sites 0" "$("$MEMPROF" histogram --sites 0 --format csv "$t" | awk -F, 'NR > 1 && $8 > 0' | wc -l)" 0

x=$("$MEMPROF" histogram --ascii "$t")
check "text heading" "$(printf '%s\n' "$x" | head -n 1)" "sizes of 1025 allocations, 2.91 MiB (3047600 bytes):"
check_match "text bucket" "$x" "  1025-2048  +1001   97.7%    1.91 MiB   65.7%  #{30}$"
check_match "text site" "$x" "^ +1000  make_temporaries \(.*$src:$(line_of $src temporaries)\)$"
check_match "text bar of a small bucket" "$x" "^65537-131072 +10    1.0%  976.56 KiB   32.8%  #$"
check_match "UTF-8 bars" "$(LC_ALL=C.UTF-8 "$MEMPROF" histogram "$t")" "1025-2048 .*██████████████████████████████$"

j=$("$MEMPROF" histogram --format json "$t")
check_match "json of" "$j" '"of": "sizes"'
check_match "json totals" "$j" '"allocations": 1025,
    "bytes": 3047600,'
check "json buckets" "$(printf '%s\n' "$j" | grep -c '"label"')" 14
check_match "json bucket" "$j" '"label": "2049-4096",
        "min": 2049,
        "max": 4096,
        "allocations": 5,
        "bytes": 18944,'

# Lifetimes: 4 blocks never freed (14848 bytes); the others by decades of
# free time - alloc time, as SQL counts them.
l=$("$MEMPROF" histogram --lifetimes --format csv "$t")
check "never freed" "$(printf '%s\n' "$l" | tail -n +2 | buckets | grep '^never freed')" "never freed,4,14848"
check "lifetimes cover every allocation" "$(printf '%s\n' "$l" | tail -n +2 | buckets | awk -F, '{ n += $2 } END { print n }')" 1025
check "lifetime buckets (from SQL)" "$(printf '%s\n' "$l" | tail -n +2 | buckets | awk -F, '$2 > 0')" \
	"$(sql "$t" "SELECT CASE k WHEN 2 THEN '< 100 us' -- decades under the time resolution (0.1 ms): one
		WHEN 3 THEN '100 us-1 ms' WHEN 4 THEN '1-10 ms' WHEN 5 THEN '10-100 ms' WHEN 6 THEN '100 ms-1 s'
		WHEN 7 THEN '1-10 s' WHEN 8 THEN '10-100 s' WHEN 9 THEN '>= 100 s' ELSE 'never freed' END AS bucket, count(*), sum(size)
		FROM (SELECT size, CASE WHEN free_time_ns IS NULL THEN 10 -- decades: digits of the lifetime in ns, less 3
			ELSE max(2, min(9, length(CAST(max(free_time_ns - alloc_time_ns, 0) AS TEXT)) - 3)) END AS k
			FROM allocations) GROUP BY k ORDER BY k")"
check_match "never freed: calloc site first" \
	"$(printf '%s\n' "$l" | awk -F, '$1 == "never freed" && $8 == 1 { print $9 "," $11 }')" \
	"^3,leak_some \(.*$src:$(line_of $src leak-calloc)\)"
check_match "lifetime bounds" "$l" '
< 100 us,0,99999,.*
100 us-1 ms,100000,999999,'
# A trace of an older memprof (no meta time_resolution_ns: times to the
# microsecond) starts at < 1 us.
cp "$t" "$work/old.db"
sqlite3 "$work/old.db" "DELETE FROM meta WHERE key = 'time_resolution_ns'"
check_match "older trace: from < 1 us" "$("$MEMPROF" histogram --lifetimes --sites 0 --format csv "$work/old.db")" '
< 1 us,0,999,[0-9]+,'
check_match "json never freed bounds" "$("$MEMPROF" histogram --lifetimes --format json "$t")" '"label": "never freed",
        "min": null,
        "max": null,
        "allocations": 4,
        "bytes": 14848,'

# --pid: the allocations of that pid's images only.
f=$work/forks.db
"$MEMPROF" run -q -o "$f" "$FIXTURES/forks"
for pid in $(sql "$f" 'SELECT DISTINCT pid FROM processes'); do
	check "--pid $pid: its allocations" \
		"$("$MEMPROF" histogram --pid "$pid" --format csv "$f" | awk -F, 'NR > 1 && $8 == 0 { n += $4; b += $5 } END { print n + 0 "," b + 0 }')" \
		"$(sql "$f" "SELECT sum(allocations), sum(allocated_bytes) FROM processes WHERE pid = $pid")"
done
check "all processes" "$("$MEMPROF" histogram --format csv "$f" | awk -F, 'NR > 1 && $8 == 0 { n += $4 } END { print n }')" \
	"$(sql "$f" 'SELECT sum(allocations) FROM processes')"

"$MEMPROF" histogram --sites x "$t" 2>/dev/null
check "bad --sites" "$?" 2
"$MEMPROF" histogram --pid 1 "$t" 2>/dev/null
check "no such pid" "$?" 2
"$MEMPROF" histogram "$work/nope.db" 2>/dev/null
check "missing trace" "$?" 3
finish
