#!/bin/sh
# The fast unwinder (lib/cfi.c) gives the very stacks libunwind gives:
# MEMPROF_UNWIND=check runs both on every stack of these programs and
# counts the disagreements, at each process's exit.
. "${top_srcdir:-.}/tests/integration/lib.sh"
for prog in acceptance threads forks signals lifecycle cxx mismatch; do
	flush= # the signals fixture stays single-threaded (threads.sh says why)
	[ $prog = signals ] && flush=0
	MEMPROF_FLUSH_MS=$flush MEMPROF_UNWIND=check "$MEMPROF" run -q -o "$work/$prog.db" "$FIXTURES/$prog" >/dev/null 2>"$work/err"
	check_match "$prog: stacks checked" "$(grep -c 'unwind check: [1-9][0-9]* stacks' "$work/err")" "^[1-9]"
	check "$prog: none disagreed" "$(grep 'unwind check' "$work/err" | grep -vc ' 0 disagreed')" 0
done
if command -v sqlite3 >/dev/null; then
	MEMPROF_UNWIND=check "$MEMPROF" run -q -o "$work/sqlite.db" sqlite3 :memory: \
		"CREATE TABLE t(a); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000)
		 INSERT INTO t SELECT hex(randomblob(i % 50)) FROM c; CREATE INDEX ta ON t(a);" >/dev/null 2>"$work/err"
	check "sqlite3: none disagreed" "$(grep 'unwind check' "$work/err" | grep -vc ' 0 disagreed')" 0
fi
finish
