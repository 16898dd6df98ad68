#!/bin/sh
# The leak scan at exit: which leaked blocks are unreachable, with the exact
# figures of tests/fixtures/reach.c (globals, a block reached only from
# another, a list whose head was overwritten, a cycle, an interior pointer,
# a second thread's stack, a pointer left in freed memory), unreadable
# holes on the way, /proc/self/mem instead of process_vm_readv, --no-scan,
# MEMPROF_SCAN=0, killed and forked processes, and the commands' output.
. "${top_srcdir:-.}/tests/integration/lib.sh"
t=$work/r.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/reach"
check "fixture ran" "$?" 0

# Of the fixture's own blocks (libc's are the threads' DTVs, reachable):
# unreachable the list (5 x 64), the cycle (2 x 48) and F (600).
check "scan done" "$(sql "$t" "SELECT leak_scan, leak_scan_ns > 0 FROM processes")" "done,1"
check "unreachable figures" "$(sql "$t" "SELECT unreachable_bytes, unreachable_blocks FROM processes")" "1016,8"
check "everything else reachable" "$(sql "$t" "SELECT leaked_blocks - unreachable_blocks = reachable_blocks,
	leaked_bytes - unreachable_bytes = reachable_bytes, mmap_unreachable_blocks FROM processes")" "1,1,0"
check "each block's finding" "$(sql "$t" "SELECT group_concat(size || ':' || (id IN (SELECT allocation_id
	FROM unreachable)), ' ') AS f FROM (SELECT id, size FROM allocations WHERE free_time_ns IS NULL
	AND size IN (32, 48, 64, 100, 200, 400, 500, 600, 1024) ORDER BY id)")" \
	"500:0 100:0 200:0 64:1 64:1 64:1 64:1 64:1 48:1 48:1 400:0 600:1 32:0 1024:0"
check "unreachable rows are leaked blocks" "$(sql "$t" "SELECT count(*) FROM unreachable u JOIN allocations a
	ON a.id = u.allocation_id WHERE a.free_time_ns IS NULL")" 8
check "reachable fixture bytes" "$(sql "$t" "SELECT sum(size), count(*) FROM allocations WHERE free_time_ns IS NULL
	AND size IN (32, 100, 200, 400, 500, 1024) AND id NOT IN (SELECT allocation_id FROM unreachable)")" "2256,6"

# Per site, through leaks: unreachable bytes, blocks, reachable bytes, blocks.
l=$("$MEMPROF" leaks --format csv "$t")
site() {
	printf '%s\n' "$l" | grep "reach.c:$(line_of reach.c "$1"))" | awk -F, '{print $2","$3":"$(NF-3)","$(NF-2)","$(NF-1)","$NF}'
}
check "site: global" "$(site reach-global)" "100,1:0,0,100,1"
check "site: only from another leaked block" "$(site reach-child)" "200,1:0,0,200,1"
check "site: list with its head overwritten" "$(site reach-list)" "320,5:320,5,0,0"
check "site: cycle (two call sites)" "$(site reach-cycle | tr '\n' ' ')" "48,1:48,1,0,0 48,1:48,1,0,0 "
check "site: interior pointer only" "$(site reach-interior)" "400,1:0,0,400,1"
check "site: a running thread's stack" "$(site reach-thread)" "500,1:0,0,500,1"
check "site: pointer in freed memory" "$(site reach-stale)" "600,1:600,1,0,0"
check "site: global (guard)" "$(site reach-guard)" "32,1:0,0,32,1"
check "site: reused memory" "$(site reach-reused)" "1024,1:0,0,1024,1"
dtv=$(printf '%s\n' "$l" | grep 'dl-tls' | awk -F, '{n++; u += $(NF-2); r += $NF} END {print n ":" u ":" r}')
check "site: DTVs the loader allocated (one in glibc's stack cache) are reachable" "$dtv" "2:0:2"
check "sites table" "$(sql "$t" "SELECT sum(unreachable_bytes), sum(unreachable_blocks) FROM sites")" "1016,8"

# leaks: definitely lost first; --unreachable only those.
txt=$("$MEMPROF" leaks "$t")
check_match "leaks: definitely lost line" "$txt" "definitely lost: 1016 B \(1016 bytes\) in 8 blocks \(unreachable\)"
check "leaks: groups in order" "$(printf '%s\n' "$txt" | grep '^== ' | tr '\n' '|')" \
	"== definitely lost (unreachable) ==|== still reachable ==|"
only=$("$MEMPROF" leaks --unreachable --format csv "$t" | tail -n +2)
check "leaks --unreachable: sites" "$(printf '%s\n' "$only" | awk -F, '{print $(NF-3)}' | tr '\n' ' ')" "600 320 48 48 "
check_match "leaks --unreachable text" "$("$MEMPROF" leaks --unreachable "$t" | head -n 1)" \
	"^definitely lost: 1016 B \(1016 bytes\) in 8 blocks"
check "leaks json: totals" "$("$MEMPROF" leaks --format json "$t" | python3 -c 'import json,sys
s=json.load(sys.stdin)["leaks"]["leak_scan"]
print(s["unreachable_blocks"], s["unreachable_bytes"], s["unknown_blocks"], s["scanned_processes"])')" "8 1016 0 1"
check_match "summary: unreachable count" "$("$MEMPROF" summary "$t" | grep '^leaked:')" "in 16 blocks \(8 unreachable, 1016 B\)$"
check "summary json" "$("$MEMPROF" summary --format json "$t" | python3 -c 'import json,sys
print(json.load(sys.stdin)["summary"]["leak_scan"]["unreachable_blocks"])')" 8

# Unreadable holes: a PROT_NONE page in a scanned mapping and in the bss,
# a mapping partly unmapped behind the profiler's back, pointers into a
# reservation and into unmapped memory. H1-H3 reachable past the holes.
for how in vm mem; do
	t=$work/holes-$how.db
	env MEMPROF_SCAN=$([ $how = mem ] && echo mem || echo 1) "$MEMPROF" run -q -o "$t" "$FIXTURES/reach" holes
	check "holes ($how): ran" "$?" 0
	check "holes ($how): figures" "$(sql "$t" "SELECT leak_scan, leaked_blocks, unreachable_bytes, unreachable_blocks,
		reachable_bytes, reachable_blocks, mmap_leaked_blocks, mmap_unreachable_blocks FROM processes")" \
		"done,3,0,0,768,3,2,0"
done

# No scan: --no-scan, MEMPROF_SCAN=0; the figures stay unknown.
t=$work/off.db
"$MEMPROF" run -q --no-scan -o "$t" "$FIXTURES/reach"
check "--no-scan: nothing stored" "$(sql "$t" "SELECT coalesce(leak_scan, 'none'), unreachable_blocks IS NULL,
	(SELECT count(*) FROM unreachable), (SELECT sum(unreachable_blocks) + sum(reachable_blocks) FROM sites)
	FROM processes")" "none,1,0,0"
check "--no-scan: leaks --unreachable" "$("$MEMPROF" leaks --unreachable "$t")" \
	"no leak scan in this trace (processes killed, exec'd, or run with --no-scan)"
check_match "--no-scan: leaks as before" "$("$MEMPROF" leaks "$t" | head -n 1)" "^leaked: .* in 16 blocks$"
check_match "--no-scan: summary" "$("$MEMPROF" summary "$t" | grep '^leaked:')" "in 16 blocks$"
t=$work/off0.db
MEMPROF_SCAN=0 "$MEMPROF" run -q -o "$t" "$FIXTURES/reach"
check "MEMPROF_SCAN=0" "$(sql "$t" "SELECT coalesce(leak_scan, 'none') FROM processes")" "none"

# A killed process never scans; forked and exec'd ones do at their exit.
t=$work/dies.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/dies" kill 2>/dev/null
check "killed: no scan" "$(sql "$t" "SELECT coalesce(leak_scan, 'none') FROM processes")" "none"
t=$work/forks.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/forks"
check "forks: each image that exited scanned" "$(sql "$t" "SELECT origin || ':' || coalesce(leak_scan, 'none')
	FROM processes ORDER BY id" | tr '\n' ' ')" "start:done fork:done fork:none exec:done spawn:done "
# The fork child leaks one of its 2222-byte blocks (c[2], a dead local of
# a process that exited through exit()): unreachable or not, classified.
check "forks: child's leak classified" "$(sql "$t" "SELECT unreachable_blocks + reachable_blocks FROM processes
	WHERE origin = 'fork' AND leak_scan = 'done'")" 1
# Without the flusher the forking thread's own mark past the fork lets a
# child's scan go on; but a parent with another thread that allocated and
# then waits never passes the fork point: the collector gives the child's
# scan up after 2 s.
t=$work/forks-noflush.db
MEMPROF_FLUSH_MS=0 "$MEMPROF" run -q -o "$t" "$FIXTURES/forks"
check "forks without flusher: child's scan done" "$(sql "$t" "SELECT origin || ':' || coalesce(leak_scan, 'none')
	FROM processes ORDER BY id" | tr '\n' ' ')" "start:done fork:done fork:none exec:done spawn:done "
t=$work/forks-threaded.db
MEMPROF_FLUSH_MS=0 "$MEMPROF" run -q -o "$t" "$FIXTURES/forks" threaded
check "forks without flusher, a waiting thread: child's scan given up" \
	"$(sql "$t" "SELECT origin || ':' || coalesce(leak_scan, 'none') FROM processes ORDER BY id" | tr '\n' ' ')" \
	"start:done fork:failed "
check "forks without flusher, a waiting thread: child's leak" \
	"$(sql "$t" "SELECT leaked_bytes FROM processes WHERE origin = 'fork'")" 2222
finish
