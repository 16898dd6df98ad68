#!/bin/sh
# A trace copied to a place without the program's binaries still shows
# function names and file:line: symbols are stored in the file.
. "${top_srcdir:-.}/tests/integration/lib.sh"
mkdir "$work/bin" "$work/elsewhere"
cp "$FIXTURES/acceptance" "$work/bin/prog"
"$MEMPROF" run -q -o "$work/t.db" "$work/bin/prog"
rm -rf "$work/bin"
mv "$work/t.db" "$work/elsewhere/t.db"
top=$("$MEMPROF" top --by-bytes -n 1 "$work/elsewhere/t.db")
check_match "names without the binary" "$top" "make_temporaries \(.*acceptance.c:[0-9]+\)"
check_match "json frames" "$("$MEMPROF" top --format json -n 1 "$work/elsewhere/t.db")" '"function": "make_temporaries"'

# Plain sqlite3 reads every allocation through the extension, and the
# extension exports nothing but its entry point.
if command -v sqlite3 >/dev/null; then
	check "sqlite3 .load: allocations" \
		"$(sqlite3 "$work/elsewhere/t.db" ".load ${MEMPROF_EXT%.so}" 'SELECT count(*), sum(size) FROM allocations')" \
		"$("$MEMPROF" sql --format csv "$work/elsewhere/t.db" 'SELECT count(*) || "|" || sum(size) FROM allocations' | tail -n 1)"
	check "sqlite3 .load: a pid filter" \
		"$(sqlite3 "$work/elsewhere/t.db" ".load $MEMPROF_EXT" 'SELECT count(*) FROM allocations WHERE pid = (SELECT pid FROM processes)')" 1025
fi
check "extension exports" "$(nm -D --defined-only "$MEMPROF_EXT" | awk '{print $3}' | tr '\n' ' ')" "sqlite3_memprofsqlite_init "
finish
