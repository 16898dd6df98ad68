#!/bin/sh
# memprof report rendered by headless Chromium: the page's DOM after its
# script ran (charts, tables and figures of the acceptance fixture), its
# flame graphs used through a harness page (hover, zoom, search), and a
# screenshot of the report of a real program (sqlite3 inserting rows).
# Skips when chromium is not installed. With MEMPROF_SCREENSHOT=FILE.png
# the screenshot is kept there (tests/browser/report.png, shown in
# README.md, is made so).
. "${top_srcdir:-.}/tests/integration/lib.sh"
. "$top_srcdir/tests/browser/lib.sh"
need_chromium
t=$work/trace.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/acceptance"
src=acceptance.c
"$MEMPROF" report "$t" -o "$work/report.html"
check "report: exit code" "$?" 0

# The DOM once the page is loaded, offline, from a file.
chromium --dump-dom "file://$work/report.html" >"$work/dom.html"
check "chromium: exit code" "$?" 0
dom=$(cat "$work/dom.html")
check "the script ran to its end" "$(grep -o '<body[^>]*>' "$work/dom.html")" \
	'<body data-memprof-ready="3 graphs, 23 frames">'
check "no script error" "$(grep -c 'data-memprof-error="' "$work/dom.html")" 0
check "SVG charts" "$(grep -o '<svg[^>]* id="[^"]*"' "$work/dom.html" | sed 's/.* id="//; s/"//' | tr '\n' ' ')" \
	"timeline-chart flame-bytes flame-peak flame-leaked "
check "each flame graph set up, with its frames" \
	"$(grep -o '<svg[^>]* id="flame-[a-z]*"[^>]*data-frames="[0-9]*"' "$work/dom.html" |
		sed 's/.* id="\([^"]*\)".*data-frames="\([0-9]*\)"/\1:\2/' | tr '\n' ' ')" \
	"flame-bytes:9 flame-peak:8 flame-leaked:6 "
check "frames drawn" "$(grep -o '<g class="f"' "$work/dom.html" | wc -l)" 23
check_match "timeline: the heap line" "$dom" '<polyline points="[0-9., ]+" class="heap"'
check_match "timeline: the peak" "$dom" 'peak 1007\.06 KiB \(1031232 bytes\) at'
check_match "summary: calls" "$dom" '<span id="calls">1025 allocations</span>, 1021 frees'
check_match "summary: peak" "$dom" '<th>peak</th><td>1007\.06 KiB \(1031232 bytes\) at'
check_match "summary: leaked" "$dom" '<th>leaked</th><td>14\.50 KiB \(14848 bytes\) in 4 blocks</td>'
check_match "summary: recorded" "$dom" '<th>recorded</th><td>[^<]+; glibc [^<]+; allocator [^<]+</td>'
for table in top-bytes top-count top-peak top-leaked top-temporary leaks peak; do
	check_match "table $table" "$dom" "<table class=\"sites\" id=\"$table-table\">"
done
check "rows of the tables: 6+6+4+2+3 top, 2 leaks, 4 at the peak" "$(grep -c '^<tr><td class="n">[0-9]*</td>' "$work/dom.html")" 27
check_match "top by count: 1000 calls first" "$dom" \
	"<tr><td class=\"n\">1</td><td class=\"n key\">1000</td><td class=\"n\" title=\"2000000 bytes\">1\.91 MiB</td>"
check_match "a stack with file:line" "$dom" "<summary class=\"stack\">hold_blocks \([^)]*$src:$(line_of $src held)\)</summary>"
check_match "leaks: the total" "$dom" 'Leaked: 14\.50 KiB \(14848 bytes\) in 4 blocks'
check_match "peak: the held blocks" "$dom" \
	'<td class="n key" title="1000000 bytes">976\.56 KiB</td><td class="n">10</td><td class="n">97\.0%</td>'

# The flame graphs in use, from a page that frames the report.
cp "$top_srcdir/tests/browser/harness.html" "$work/harness.html"
chromium --allow-file-access-from-files --dump-dom "file://$work/harness.html" >"$work/harness.out"
log=$(sed -n '/<pre id="log">/,/<\/pre>/p' "$work/harness.out" | sed 's/<[^>]*>//g')
check_match "harness: ran" "$(grep -o '<body[^>]*>' "$work/harness.out")" 'data-harness="done"'
check_match "harness: no error" "$log" '^error: null$'
check_match "hover: the frame, figure and share" "$log" \
	"^hover: hold_blocks \([^)]*$src:$(line_of $src held)\): 1000000 bytes \(976\.56 KiB\), 32\.81%$"
check_match "zoom: the frame fills the width, its siblings hidden" "$log" \
	'^zoom: hold_blocks 10\.0\+1180\.0, make_temporaries hidden$'
check_match "zoom: the other graph untouched" "$log" '^other graph untouched: hold_blocks 28\.7\+1144\.3$'
check_match "reset zoom" "$log" '^reset: make_temporaries 415\.6\+774\.4$'
check_match "search: the matched share of the peak" "$log" '^search: Matched: 98\.41% \(1014848\)$'
check_match "search: the other graph untouched" "$log" '^search in the other graph: \[ \]$'
check_match "a stack opens" "$log" '^stack: 5 frames, shown$'

# A real program: the report of sqlite3 inserting and indexing rows, and
# its screenshot.
if command -v sqlite3 >/dev/null; then
	"$MEMPROF" run -q -o "$work/sqlite.db" -- sqlite3 :memory: "CREATE TABLE t(a, b); WITH RECURSIVE c(i) AS
		(SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 100000) INSERT INTO t SELECT i, hex(randomblob(20))
		FROM c; CREATE INDEX t_b ON t(b);"
	"$MEMPROF" report "$work/sqlite.db" -o "$work/sqlite.html"
	check "sqlite3: report" "$?" 0
	calls=$(sql "$work/sqlite.db" 'SELECT sum(allocations) FROM processes')
	chromium --dump-dom "file://$work/sqlite.html" >"$work/sqlite.dom"
	check_match "sqlite3: the script ran" "$(grep -o '<body[^>]*>' "$work/sqlite.dom")" \
		'data-memprof-ready="3 graphs, [0-9]+ frames"'
	check_match "sqlite3: its calls" "$(cat "$work/sqlite.dom")" "<span id=\"calls\">$calls allocations</span>"
	png=${MEMPROF_SCREENSHOT:-$work/report.png}
	chromium --hide-scrollbars --window-size=1280,2000 --screenshot="$png" "file://$work/sqlite.html" >/dev/null
	check "screenshot: exit code" "$?" 0
	check "screenshot: a 1280x2000 PNG" "$(png_size "$png")" 1280x2000
	check "screenshot: not blank" "$([ "$(wc -c <"$png")" -gt 60000 ] && echo yes)" yes
else
	echo "$name: sqlite3 not installed, no screenshot of a real program"
fi
finish
