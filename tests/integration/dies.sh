#!/bin/sh
# A program that dies at any moment keeps what it recorded: SIGKILL, a
# crash, abort, quick_exit, _exit; run directly and as a shell's child
# (whose status the shell's wait reports).
. "${top_srcdir:-.}/tests/integration/lib.sh"
figures="1000,500,50000,500"
for how in kill segv abort; do
	case $how in kill) sig=9 ;; segv) sig=11 ;; abort) sig=6 ;; esac
	t=$work/$how.db
	"$MEMPROF" run -q -o "$t" "$FIXTURES/dies" $how 2>/dev/null
	check "$how: exit code" "$?" $((128 + sig))
	check "$how: figures" "$(sql "$t" 'SELECT allocations, frees, leaked_bytes, leaked_blocks FROM processes')" "$figures"
	check "$how: ended by" "$(sql "$t" 'SELECT ended_by, signal FROM processes')" "signal,$sig"
	check_match "$how: leaks shows the site" "$("$MEMPROF" leaks --format csv "$t")" "main \(.*dies.c:$(line_of dies.c dies-alloc)\)"
	t=$work/sh-$how.db
	"$MEMPROF" run -q -o "$t" sh -c "\"$FIXTURES/dies\" $how; exit 0" 2>/dev/null
	check "$how under sh: exit code" "$?" 0
	check "$how under sh: figures and end" \
		"$(sql "$t" "SELECT allocations, frees, leaked_bytes, leaked_blocks, ended_by, signal FROM processes WHERE json_extract(argv, '$[1]') = '$how'")" \
		"$figures,signal,$sig"
done
# Killed with its parent (timeout kills its whole process group): no
# parent reaps it; memprof run, the tree's subreaper, learns the signal.
t=$work/orphan.db
"$MEMPROF" run -q -o "$t" -- timeout -s KILL 0.15 "$FIXTURES/dies" _exit
check "orphan: exit code" "$?" 137
check "orphan: figures and end" \
	"$(sql "$t" "SELECT allocations, frees, ended_by, signal FROM processes WHERE json_extract(argv, '$[1]') = '_exit'")" \
	"1000,500,signal,9"

# An uncaught C++ exception: std::terminate, abort.
t=$work/throws.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/throws" 2>/dev/null
check "uncaught exception: exit code" "$?" 134
check "uncaught exception: ended by" "$(sql "$t" 'SELECT ended_by, signal FROM processes')" "signal,6"
check "uncaught exception: the program's blocks are live at death" \
	"$(sql "$t" "SELECT count(*) FROM allocations WHERE size = 64 AND free_time_ns IS NULL")" 100

# memprof run passes SIGTERM on and still finishes the trace.
t=$work/term.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/dies" sleep &
pid=$!
sleep 1
kill -TERM $pid
wait $pid
check "SIGTERM to memprof run: the program's status" "$?" 143
check "SIGTERM: finished trace" "$(sql "$t" "SELECT value FROM meta WHERE key = 'state'")" complete
check "SIGTERM: figures" "$(sql "$t" 'SELECT allocations, ended_by, signal FROM processes')" "1000,signal,15"

# The collector itself killed: the program goes on unharmed (one line on
# stderr), and the trace opens as interrupted, with what was checkpointed.
t=$work/collector-killed.db
MEMPROF_BIN=$MEMPROF LD_PRELOAD=$MEMPROF_LIB MEMPROF_OUTPUT=$t "$FIXTURES/dies" sleep 2>"$work/err" &
pid=$!
sleep 1.5
# (a checkpoint may be copying pages at that very moment: read again)
for _ in 1 2 3; do "$MEMPROF" summary "$t" >/dev/null 2>"$work/reading" && break; sleep 0.3; done
check "a trace being written opens" "$?" 0
check_match "... as interrupted" "$(cat "$work/reading")" "interrupted"
pkill -KILL -f "__collect .*$t" 
wait $pid
check "collector killed: the program's status" "$?" 0
check_match "collector killed: said once" "$(grep -c 'recording stopped' "$work/err")" "^[01]$"
"$MEMPROF" summary "$t" >/dev/null 2>"$work/reading"
check "collector killed: the trace opens" "$?" 0
check "collector killed: what was checkpointed" "$(sql "$t" 'SELECT allocations, frees FROM processes' 2>/dev/null)" "1000,500"

t=$work/quick.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/dies" quick_exit
check "quick_exit: exit code" "$?" 5
check "quick_exit: the handler's allocation counts" \
	"$(sql "$t" 'SELECT allocations, leaked_bytes, ended_by, exit_status FROM processes')" "1001,50777,exit,5"
t=$work/exit.db
MEMPROF_BIN=$MEMPROF LD_PRELOAD=$MEMPROF_LIB MEMPROF_OUTPUT=$t "$FIXTURES/dies" _exit
check "_exit (preload only): exit code" "$?" 4
check "_exit: figures" "$(sql "$t" 'SELECT allocations, leaked_bytes, ended_by, exit_status FROM processes')" "1000,50000,exit,4"
finish
