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
finish
