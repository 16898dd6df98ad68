#!/bin/sh
# memprof flamegraph on the acceptance fixture: a well-formed SVG whose
# frames carry the exact figures and shares, in every ordering.
. "${top_srcdir:-.}/tests/integration/lib.sh"
t=$work/trace.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/acceptance"
src=acceptance.c
svg=$work/flame.svg

"$MEMPROF" flamegraph "$t" -o "$svg"
check "flamegraph: exit code" "$?" 0
if command -v xmllint >/dev/null; then
	xmllint --noout "$svg"
	check "well-formed XML (xmllint)" "$?" 0
else
	echo "flamegraph: xmllint not installed (libxml2-utils), well-formedness not checked"
fi
check_match "an svg document" "$(head -n 2 "$svg")" '<svg version="1.1"'
check "no outside reference" "$(grep -c 'href=\|src=' "$svg")" 0
titles=$(grep -o '<title>[^<]*</title>' "$svg")
check_match "root: the total" "$titles" '<title>all: 3047600 bytes \(2\.91 MiB\), 100\.00%</title>'
check_match "temporaries: figure and share" "$titles" \
	"<title>make_temporaries \(.*$src:$(line_of $src temporaries)\): 2000000 bytes \(1\.91 MiB\), 65\.63%</title>"
check_match "held: figure and share" "$titles" \
	"<title>hold_blocks \(.*$src:$(line_of $src held)\): 1000000 bytes \(976\.56 KiB\), 32\.81%</title>"
check_match "leaks: two lines merged into the file" "$titles" \
	"<title>leak_some \(.*$src\): 14848 bytes \(14\.50 KiB\), 0\.49%</title>"
check_match "realloc chain" "$titles" "<title>grow_chain \(.*$src\): 32752 bytes \(31\.98 KiB\), 1\.07%</title>"
check_match "main holds everything" "$titles" "<title>main \(.*$src\): 3047600 bytes"
# The leaves (the fixture's four functions) add up to the root.
leaves=$(grep -o 'data-n="\(make_temporaries\|hold_blocks\|leak_some\|grow_chain\)" data-v="[0-9]*"' "$svg" |
	sed 's/.*data-v="//; s/"//' | awk '{ s += $1 } END { print s }')
check "leaves sum to the total" "$leaves" 3047600
check "one frame per stack level" "$(grep -c '<g class="f"' "$svg")" 9

"$MEMPROF" flamegraph "$t" -o "$work/again.svg"
cmp -s "$svg" "$work/again.svg"
check "deterministic output" "$?" 0

# Every figure.
fig() { # fig BY: the titles of the graph weighted by BY
	"$MEMPROF" flamegraph --by "$1" "$t" | grep -o '<title>[^<]*</title>'
}
s=$(fig count)
check_match "count: total" "$s" '<title>all: 1025 allocations, 100\.00%</title>'
check_match "count: temporaries" "$s" '<title>make_temporaries \(.*\): 1000 allocations, 97\.56%</title>'
s=$(fig peak)
check_match "peak: total" "$s" '<title>all: 1031232 bytes \(1007\.06 KiB\), 100\.00%</title>'
check_match "peak: held" "$s" '<title>hold_blocks \(.*\): 1000000 bytes \(976\.56 KiB\), 96\.97%</title>'
check "peak: no temporaries" "$(printf '%s\n' "$s" | grep -c make_temporaries)" 0
s=$(fig leaked)
check_match "leaked: total" "$s" '<title>all: 14848 bytes \(14\.50 KiB\), 100\.00%</title>'
check_match "leaked: site" "$s" '<title>leak_some \(.*\): 14848 bytes \(14\.50 KiB\), 100\.00%</title>'
s=$(fig temporary)
check_match "temporary: total" "$s" '<title>all: 1011 temporary allocations, 100\.00%</title>'
check_match "temporary: chain" "$s" '<title>grow_chain \(.*\): 11 temporary allocations, 1\.09%</title>'

# Reversed: the allocation sites sit on the root, their callers above.
"$MEMPROF" flamegraph --reverse --by peak "$t" -o "$work/rev.svg"
check "reverse: exit code" "$?" 0
first=$(grep -o 'data-n="[^"]*"' "$work/rev.svg" | sed -n 2p)
check "reverse: the root's first child is an allocation site" "$first" 'data-n="grow_chain"'
check "reverse: main once per site" "$(grep -c 'data-n="main"' "$work/rev.svg")" 3
check_match "reverse: callers keep the site's figure" "$(grep -o '<title>main[^<]*</title>' "$work/rev.svg")" \
	'main \(.*\): 1000000 bytes \(976\.56 KiB\), 96\.97%'

# The script is our own and parses.
if command -v node >/dev/null; then
	sed -n '/<!\[CDATA\[/,/\]\]>/p' "$svg" | sed '1d;$d' >"$work/flame.js"
	node --check "$work/flame.js"
	check "script parses (node --check)" "$?" 0
	# Run it on a stand-in for the DOM: hover, click to zoom, search.
	d=$(node "$top_srcdir/tests/integration/flamegraph-dom.js" "$svg")
	check_match "hover shows the frame, figure and share" "$d" \
		"^hover: hold_blocks \(.*$src:$(line_of $src held)\): 1000000 bytes \(976\.56 KiB\), 32\.81%$"
	check_match "zoom: the frame fills the width" "$d" '^hold_blocks 10\.0\+1180\.0 "hold_blocks"$'
	check_match "zoom: its callers too" "$d" '^main 10\.0\+1180\.0 "main"$'
	check_match "zoom: its siblings hidden" "$d" '^make_temporaries hidden'
	check_match "reset zoom" "$d" '^make_temporaries 415\.6\+774\.4 "make_temporaries"$'
	check_match "search: the matched share" "$d" '^search: Matched: 33\.30% \(1014848\) hold_blocks,leak_some$'
	check_match "search: nested matches count once" "$d" '^search nested: Matched: 100\.00% \(3047600\)$'
else
	echo "flamegraph: node not installed, the script's syntax not checked"
fi

# Frames without a function show as module+offset.
cp "$t" "$work/nosym.db"
sqlite3 "$work/nosym.db" "UPDATE frames SET function = NULL WHERE function = 'main'"
off=$(sqlite3 "$work/nosym.db" "SELECT printf('+0x%x', f.address) FROM frames f JOIN modules m ON m.id = f.module_id
	WHERE f.function IS NULL AND m.path LIKE '%/acceptance' ORDER BY f.id LIMIT 1")
"$MEMPROF" flamegraph "$work/nosym.db" -o "$work/nosym.svg"
check_match "unknown function: module+offset" "$(grep -o 'data-n="[^"]*"' "$work/nosym.svg")" "data-n=\"acceptance\\$off\""

# Errors.
"$MEMPROF" flamegraph --by size "$t" >/dev/null 2>"$work/err"
check "bad --by: exit code" "$?" 2
check_match "bad --by: message" "$(cat "$work/err")" "needs bytes, count, peak, leaked or temporary, not 'size'"
"$MEMPROF" flamegraph --pid 999999999 "$t" >/dev/null 2>&1
check "unknown pid" "$?" 2
"$MEMPROF" flamegraph "$work/nope.db" -o "$work/x.svg" 2>/dev/null
check "missing trace" "$?" 3
check "no file left for a missing trace" "$(test -e "$work/x.svg" && echo yes || echo no)" no
"$MEMPROF" flamegraph "$t" -o "$work/no/such/dir.svg" 2>"$work/err"
check "unwritable -o" "$?" 3
check_match "unwritable -o: message" "$(cat "$work/err")" "cannot write '$work/no/such/dir.svg'"
"$MEMPROF" flamegraph --help | grep -q -- '--reverse'
check "--help" "$?" 0
finish
