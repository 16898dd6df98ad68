#!/bin/sh
# Benchmark workload: a shell starting 300 short programs, as a test
# suite or a configure script does (fork, exec, a few hundred allocations
# each, some left for exit); what memprof costs per process.
i=0
while [ $i -lt 300 ]; do
	echo "line $i" | sed 's/line/row/' >/dev/null
	i=$((i + 1))
done
