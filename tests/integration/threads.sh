#!/bin/sh
# 8 threads freeing each other's blocks, addresses reused: exact every run.
. "${top_srcdir:-.}/tests/integration/lib.sh"
for run in 1 2 3; do
	t=$work/threads$run.db
	"$MEMPROF" run -q -o "$t" "$FIXTURES/threads"
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
# every one of its allocations is recorded, none deadlocks.
t=$work/signals.db
handled=$("$MEMPROF" run -q -o "$t" "$FIXTURES/signals")
check "signals: exit" "$?" 0
check "signals: the handler's allocations" \
	"$(sql "$t" 'SELECT count(*), count(free_time_ns) FROM allocations WHERE size = 333')" "$handled,$handled"
check "signals: no unmatched frees" "$(sql "$t" 'SELECT unmatched_frees FROM processes')" 0
check "signals: all the loop's" "$(sql "$t" 'SELECT count(*) FROM allocations WHERE size BETWEEN 16 AND 215')" 1000000
finish
