#!/bin/sh
# No wrapper: LD_PRELOAD and MEMPROF_OUTPUT, the way test runners preload.
# The trace must be finished when the program has exited, and the program's
# output, exit status and pipes must be untouched.
. "${top_srcdir:-.}/tests/integration/lib.sh"
t=$work/preload.db
MEMPROF_BIN=$MEMPROF LD_PRELOAD=$MEMPROF_LIB MEMPROF_OUTPUT=$t "$FIXTURES/acceptance"
check "exit status" "$?" 3
check "finished when the program exits" "$(sql "$t" "SELECT value FROM meta WHERE key = 'state'")" complete
check "figures" "$(sql "$t" 'SELECT allocations, frees, peak_bytes, leaked_bytes, leaked_blocks, exit_status FROM processes')" \
	"1025,1021,1031232,14848,4,3"

# A pipe reader sees EOF when the program ends: the collector keeps no pipe.
out=$(MEMPROF_BIN=$MEMPROF LD_PRELOAD=$MEMPROF_LIB MEMPROF_OUTPUT=$work/echo.db sh -c 'echo hello; exit 7' | cat)
check "output through a pipe" "$out" hello
check "shell trace" "$(sql "$work/echo.db" "SELECT count(*) > 0 FROM processes")" 1

# The same program under memprof run prints exactly what it prints alone.
native=$(sh -c 'printf "a\nb\n"; echo err >&2' 2>&1)
traced=$("$MEMPROF" run -q -o "$work/same.db" sh -c 'printf "a\nb\n"; echo err >&2' 2>&1)
check "output unchanged" "$traced" "$native"

# A signal: 128 + N, and the process is marked as killed.
"$MEMPROF" run -q -o "$work/kill.db" sh -c 'kill -TERM $$'
check "killed: exit code" "$?" 143
check "killed: recorded" "$(sql "$work/kill.db" "SELECT ended_by, signal FROM processes")" "signal,15"
finish
