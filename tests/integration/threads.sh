#!/bin/sh
# 8 threads freeing each other's blocks, addresses reused: exact every run,
# with both ways of handing a thread's buffer over (run 3 without
# membarrier, lib/thread.c), and with the collector holding its backlog
# to 1 MiB (run 4: it stops reading, the threads wait on the socket).
. "${top_srcdir:-.}/tests/integration/lib.sh"
for run in 1 2 3 4; do
	t=$work/threads$run.db
	membarrier=1 backlog=8
	[ $run = 3 ] && membarrier=0
	[ $run = 4 ] && backlog=1
	MEMPROF_MEMBARRIER=$membarrier MEMPROF_BACKLOG_MB=$backlog "$MEMPROF" run -q -o "$t" "$FIXTURES/threads"
	check "run $run: exit" "$?" 0
	check "run $run: worker blocks" \
		"$(sql "$t" 'SELECT count(*), sum(size), count(free_time_ns) FROM allocations WHERE (size - 19) % 16 = 0 AND size BETWEEN 19 AND 131')" \
		"240000,$((30000 * (19 + 35 + 51 + 67 + 83 + 99 + 115 + 131))),240000"
	check "run $run: no unmatched frees" "$(sql "$t" 'SELECT unmatched_frees FROM processes')" 0
	check "run $run: leaks by the workers" \
		"$(sql "$t" 'SELECT count(*), sum(size) FROM allocations WHERE free_time_ns IS NULL AND size BETWEEN 7777 AND 7784')" \
		"8,$((8 * 7777 + 28))"
	check "run $run: threads" "$(sql "$t" 'SELECT count(*) >= 9 FROM threads')" 1
	check "run $run: every free after its allocation" \
		"$(sql "$t" 'SELECT count(*) FROM allocations WHERE free_time_ns < alloc_time_ns')" 0
done

# A signal handler that allocates, mostly landing inside memprof's hooks:
# every one of its allocations is recorded, none deadlocks. The fixture
# stays single-threaded (no flusher): its handler also lands inside
# glibc's malloc, which locks nothing only in a single-threaded process
# (README, Limitations).
MEMPROF_FLUSH_MS=0
export MEMPROF_FLUSH_MS
t=$work/signals.db
out=$("$MEMPROF" run -q -o "$t" "$FIXTURES/signals")
check "signals: exit" "$?" 0
handled=${out% *} objects=${out#* }
check "signals: the handler's allocations" \
	"$(sql "$t" 'SELECT count(*), count(free_time_ns) FROM allocations WHERE size IN (333, 334)')" "$handled,$handled"
check "signals: no unmatched frees" "$(sql "$t" 'SELECT unmatched_frees FROM processes')" 0
check "signals: all the loop's" "$(sql "$t" 'SELECT count(*) FROM allocations WHERE size BETWEEN 16 AND 215')" 1000000
# A handler that interrupted dl_iterate_phdr must not unwind with
# libunwind, which takes the loader's lock the thread may hold: with the
# fast unwinder off, its allocations are recorded, their stacks cut.
MEMPROF_UNWIND=libunwind "$MEMPROF" run -q -o "$work/loader.db" "$FIXTURES/signals" >/dev/null
check "signals in the loader: recorded" \
	"$(sql "$work/loader.db" 'SELECT count(*) FROM allocations WHERE size = 334')" "$objects"
check "signals in the loader: stacks cut" \
	"$(sql "$work/loader.db" 'SELECT count(DISTINCT stack_id) FROM allocations WHERE size = 334')" 1
finish
