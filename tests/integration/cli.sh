#!/bin/sh
# The command line: help, version, usage errors and bad traces, each with
# its documented exit code and a message naming the file.
. "${top_srcdir:-.}/tests/integration/lib.sh"
"$MEMPROF" --version | grep -q '^memprof [0-9]'
check "--version" "$?" 0
"$MEMPROF" --help | grep -q 'summary'
check "--help" "$?" 0
for cmd in run summary top peak leaks sql timeline histogram; do
	"$MEMPROF" $cmd --help >/dev/null
	check "$cmd --help" "$?" 0
done
"$MEMPROF" frobnicate 2>/dev/null
check "unknown command" "$?" 2
"$MEMPROF" top --no-such-option x.db 2>/dev/null
check "unknown option" "$?" 2
"$MEMPROF" top -n abc x.db 2>/dev/null
check "bad number" "$?" 2

t=$work/ok.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/acceptance"
"$MEMPROF" run -q -o "$t" "$FIXTURES/acceptance" 2>"$work/err"
check "existing -o refused" "$?" 2
check_match "message names the file" "$(cat "$work/err")" "'$t' exists"
"$MEMPROF" run -q -f -o "$t" "$FIXTURES/acceptance"
check "--force replaces" "$?" 3
# --force replaces files only: not a directory, nor through a symbolic
# link (as root, -f -o /dev/null once deleted the device).
mkdir "$work/adir"
ln -s "$t" "$work/alink"
for o in "$work/adir" "$work/alink"; do
	"$MEMPROF" run -q -f -o "$o" "$FIXTURES/acceptance" 2>"$work/err"
	check "--force refuses $(basename "$o")" "$?" 3
	check_match "$(basename "$o"): the message" "$(cat "$work/err")" "'$o' exists and is not a regular file"
done
check "the link's target is intact" "$(sql "$t" 'SELECT allocations FROM processes')" 1025
"$MEMPROF" top "$t" --by-count -n 2 >/dev/null
check "options after the path" "$?" 0

bad() { # bad WHAT FILE PATTERN
	"$MEMPROF" summary "$2" >/dev/null 2>"$work/err"
	check "$1: exit code" "$?" 3
	check_match "$1: message" "$(cat "$work/err")" "$3"
	check "$1: one line" "$(wc -l <"$work/err")" 1
}
bad "missing file" "$work/nope.db" "cannot open '$work/nope.db'"
: >"$work/empty.db"
bad "empty file" "$work/empty.db" "'$work/empty.db'"
echo "not a database at all, just some text that goes on for a while....." >"$work/text.db"
bad "not sqlite" "$work/text.db" "'$work/text.db'"
"$MEMPROF" sql "$t" "SELECT 1" >/dev/null
"$MEMPROF" sql --materialize "$work/plain.db" "$t" >/dev/null 2>&1 || "$MEMPROF" sql "$t" --materialize "$work/plain.db" >/dev/null
check "materialized rows" "$(sql "$work/plain.db" 'SELECT count(*) FROM allocations_table')" 1025
sqlite3 "$work/other.db" 'CREATE TABLE t(x)' 2>/dev/null || "$MEMPROF" sql --materialize "$work/other.db" "$t" >/dev/null
bad "sqlite but not a trace" "$work/other.db" "not a memprof trace"
cp "$t" "$work/newer.db"
"$MEMPROF" sql "$work/newer.db" "SELECT 1" >/dev/null
python_free_update() { sqlite3 "$1" "$2" 2>/dev/null; }
if command -v sqlite3 >/dev/null; then
	sqlite3 "$work/newer.db" "UPDATE meta SET value = '99' WHERE key = 'schema_version'"
	bad "newer schema" "$work/newer.db" "newer memprof"
	head -c 20000 "$t" >"$work/trunc.db"
	"$MEMPROF" summary "$work/trunc.db" >/dev/null 2>&1
	check_match "truncated trace: exit code 3" "$?" "^3$"
fi
"$MEMPROF" sql "$t" "SELEC nonsense" >/dev/null 2>"$work/err"
check "sql error: exit code" "$?" 2
check_match "sql error: message" "$(cat "$work/err")" "'$t'"
mkdir "$work/ro" && chmod 555 "$work/ro"
if [ "$(id -u)" != 0 ]; then
	"$MEMPROF" run -q -o "$work/ro/t.db" true 2>/dev/null
	check "read-only directory" "$?" 3
fi
# (root writes anywhere: a directory that is a file cannot be written by anyone)
: >"$work/plainfile"
"$MEMPROF" run -q -o "$work/plainfile/t.db" true 2>"$work/err"
check "unwritable -o: exit code, before running anything" "$?" 3
check_match "unwritable -o: message" "$(cat "$work/err")" "cannot write the trace '$work/plainfile/t.db'"

finish
