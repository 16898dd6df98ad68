#!/bin/sh
# What recording cost, as the trace states it: the events counted exactly,
# about one in 32 timed, and the time in hooks checked against what the
# program really spent more than natively (its own CPU time, measured the
# same way, on the same machine, median of 3 runs each). The tolerance is
# wide on purpose (the machines are shared): the stated time in hooks must
# lie between 0.3 and 2 times the CPU time the program gained.
. "${top_srcdir:-.}/tests/integration/lib.sh"
fx=$FIXTURES/overhead
med() { sort -n | sed -n 2p; }
"$fx" >/dev/null # warm-up
native=$(for _ in 1 2 3; do "$fx"; done | med)
for i in 1 2 3; do
	"$MEMPROF" run -q -o "$work/o$i.db" "$fx" >"$work/cpu$i"
done
t=$work/o1.db
row() { sql "$1" "SELECT $2 FROM overhead WHERE tid IS NULL"; }
# The run whose CPU time is the median, and its figures.
best=$(for i in 1 2 3; do echo "$(cat "$work/cpu$i") $i"; done | sort -n | sed -n 2p | cut -d' ' -f2)
m=$work/o$best.db
profiled=$(cat "$work/cpu$best")
check "the process's CPU time is the program's own figure" \
	"$(awk -v a="$(row "$m" cpu_ns)" -v b="$profiled" 'BEGIN {print (a >= b && a < b + 50000000) ? "close" : a " vs " b}')" close
hook=$(row "$m" hook_ns)
check "time in hooks within 0.3-2 x the CPU time gained" \
	"$(awk -v h="$hook" -v p="$profiled" -v n="$native" 'BEGIN {g = p - n; print (g > 0 && h >= 0.3 * g && h <= 2 * g) ? "within" : "hooks " h " ns, gained " g " ns"}')" within

# Events: every allocation and free, exactly: 300000 of each (free(NULL)
# records nothing), and the allocation of printf's buffer.
check "events" "$(row "$t" events)" "$(sql "$t" 'SELECT allocations + frees FROM processes')"
check "events of the fixture" "$(row "$t" events)" 600001
check "the threads' events add up" "$(sql "$t" 'SELECT sum(events) FROM overhead WHERE tid IS NOT NULL')" 600001
check_match "about one event in 32 timed" \
	"$(awk -v s="$(row "$t" sampled_events)" 'BEGIN {print (s > 600001 / 50 && s < 600001 / 20) ? "yes" : s}')" '^yes$'
check_match "profiler memory in the program" "$(row "$t" profiler_bytes)" '^[1-9][0-9]{5,}$'

s=$("$MEMPROF" summary "$t")
check_match "summary: the overhead line" "$s" \
	"overhead:   [0-9.]+ m?s in hooks \([0-9]+% of the program's CPU time, [0-9.]+ m?s\), [0-9.]+ [KM]iB profiler memory in the program, [0-9.]+ MiB in the collector; 600001 events, [0-9]+ timed"
j=$("$MEMPROF" summary --format json "$t")
check_match "json: overhead" "$j" '"overhead": \{'
check_match "json: hook_share" "$j" '"hook_share": [0-9]+(\.[0-9]+)?'
check_match "json: the collector" "$j" '"collector_peak_rss_bytes": [1-9][0-9]+'

# A killed process tells no CPU time: unknown, not zero.
"$MEMPROF" run -q -o "$work/k.db" sh -c 'kill -9 $$' 2>/dev/null
check "killed: cpu_ns unknown" "$(row "$work/k.db" "coalesce(cpu_ns, 'NULL')")" NULL
finish
