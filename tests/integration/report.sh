#!/bin/sh
# memprof report on the acceptance fixture: one self-contained HTML page
# with the summary, the charts and the site tables, with exact figures.
# tests/browser/report.sh renders it in a browser.
. "${top_srcdir:-.}/tests/integration/lib.sh"
t=$work/trace.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/acceptance"
src=acceptance.c
html=$work/report.html

"$MEMPROF" report "$t" -o "$html"
check "report: exit code" "$?" 0
check "an HTML document" "$(head -n 1 "$html")" "<!DOCTYPE html>"
check "one document" "$(grep -c '</html>' "$html")" 1

# Self-contained: no script, style, image or link from elsewhere; links
# are the page's own anchors.
check "no outside reference" "$(grep -o 'src=[^ >]*\|url([^)]*)\|@import\|href="[^#][^"]*"' "$html" | head -n 3)" ""
check "only inline scripts" "$(grep -c '<script[^>]*>' "$html")" 1
check_match "a policy that forbids loading" "$(grep -o '<meta http-equiv="Content-Security-Policy"[^>]*>' "$html")" \
	"default-src 'none'"
check "ids are unique" "$(grep -o ' id="[^"]*"' "$html" | sort | uniq -d)" ""

# The summary: the figures summary shows, with its recorded: line.
check_match "calls" "$(cat "$html")" '<span id="calls">1025 allocations</span>, 1021 frees'
check_match "allocated" "$(cat "$html")" '<th>allocated</th><td>2\.91 MiB \(3047600 bytes\)</td>'
check_match "peak" "$(cat "$html")" '<th>peak</th><td>1007\.06 KiB \(1031232 bytes\) at '
check_match "leaked" "$(cat "$html")" '<th>leaked</th><td>14\.50 KiB \(14848 bytes\) in 4 blocks</td>'
check_match "temporary" "$(cat "$html")" '<th>temporary</th><td>1011 allocations</td>'
check_match "ended by" "$(cat "$html")" '<th>ended by</th><td>exit 3</td>'
recorded=$("$MEMPROF" summary "$t" | sed -n 's/^recorded: *//p' | sed 's/&/\&amp;/g; s/</\&lt;/g; s/>/\&gt;/g')
check "summary has a recorded line" "$([ -n "$recorded" ] && echo yes)" yes
check "the recorded line, as summary shows it" \
	"$(grep -c -F "<th>recorded</th><td>$recorded</td>" "$html")" 1

# The charts: the timeline and three flame graphs, each an inline SVG with
# the frames of flamegraph.
check "SVG charts" "$(grep -o '<svg [^>]*id="[^"]*"' "$html" | sed 's/.*id="//; s/"//' | tr '\n' ' ')" \
	"timeline-chart flame-bytes flame-peak flame-leaked "
check_match "timeline: the peak marked" "$(cat "$html")" 'peak 1007\.06 KiB \(1031232 bytes\) at'
frames() { # frames ID: the frames of that flame graph
	awk -v id="id=\"$1\"" 'index($0, "<svg ") && index($0, id) {f = 1} f && /<g class="f"/ {n++} f && /<\/svg>/ {f = 0}
		END {print n + 0}' "$html"
}
check "flame by bytes: frames" "$(frames flame-bytes)" 9
check "flame by peak: frames" "$(frames flame-peak)" 8
check "flame of leaks: frames" "$(frames flame-leaked)" 6
check_match "flame by bytes: the held site" "$(cat "$html")" \
	"<title>hold_blocks \(.*$src:$(line_of $src held)\): 1000000 bytes \(976\.56 KiB\), 32\.81%</title>"
check_match "flame by peak: total" "$(cat "$html")" '<title>all: 1031232 bytes \(1007\.06 KiB\), 100\.00%</title>'
check_match "flame of leaks: total" "$(cat "$html")" '<title>all: 14848 bytes \(14\.50 KiB\), 100\.00%</title>'
check "controls of each graph" "$(grep -o 'id="flame-[a-z]*-search"' "$html" | tr '\n' ' ')" \
	'id="flame-bytes-search" id="flame-peak-search" id="flame-leaked-search" '
check "styles scoped to their chart" "$(grep -c '^text {' "$html")" 0

# The site tables: rows of one table, as "allocations bytes ... | site".
rows() { # rows TABLE-ID
	awk -v id="id=\"$1\"" 'index($0, id) {f = 1; next} f && /<\/table>/ {exit} f && /^<tr>/' "$html" |
		sed 's/<summary class="stack">\([^<]*\)<.*/| \1/; s/<td class="n[^"]*"[^>]*>\([^<]*\)<\/td>/\1 /g; s/<tr>//; s/<td class="site"><details>//'
}
check "top by bytes: every site" "$(rows top-bytes-table | wc -l)" 6
check_match "top by bytes: first" "$(rows top-bytes-table | head -n 1)" \
	"^1 1000 1\.91 MiB 0 B 0 B 0 1000 \| make_temporaries \(.*$src:$(line_of $src temporaries)\)$"
check_match "top by count: first" "$(rows top-count-table | head -n 1)" "^1 1000 .*\| make_temporaries"
check_match "top by peak: first" "$(rows top-peak-table | head -n 1)" \
	"^1 10 976\.56 KiB 976\.56 KiB 0 B 0 0 \| hold_blocks \(.*$src:$(line_of $src held)\)$"
check_match "top by leaked: first" "$(rows top-leaked-table | head -n 1)" \
	"^1 3 12\.00 KiB 12\.00 KiB 12\.00 KiB 3 0 \| leak_some \(.*$src:$(line_of $src leak-calloc)\)$"
check "top by leaked: sites" "$(rows top-leaked-table | wc -l)" 2
check_match "top by temporary: first" "$(rows top-temporary-table | head -n 1)" "^1 1000 .* 1000 \| make_temporaries"
check "top by temporary: sites" "$(rows top-temporary-table | wc -l)" 3
check_match "exact bytes in the tooltip" "$(grep -o '<td class="n key" title="2000000 bytes">1\.91 MiB</td>' "$html" | head -n 1)" .
check_match "a stack, every frame with file:line" "$(cat "$html")" \
	"<li>make_temporaries \(.*$src:$(line_of $src temporaries)\)</li><li>main \(.*$src:[0-9]+\)</li>"
check_match "leaks: the total" "$(cat "$html")" 'Leaked: 14\.50 KiB \(14848 bytes\) in 4 blocks'
check_match "leaks: sites" "$(rows leaks-table | tr '\n' ';')" \
	"^1 12\.00 KiB 3 \| leak_some \([^)]*$src:$(line_of $src leak-calloc)\);2 2\.50 KiB 1 \| leak_some \([^)]*$src:$(line_of $src leak-aligned)\);$"
check_match "peak: the process" "$(cat "$html")" "Peak: 1007\.06 KiB \(1031232 bytes\) at .* in pid [0-9]+ \(<code>.*/acceptance</code>\)"
check_match "peak: the held blocks first" "$(rows peak-table | head -n 1)" \
	"^1 976\.56 KiB 10 97\.0% \| hold_blocks \(.*$src:$(line_of $src held)\)$"
check "peak: sites (held, two leaks, the realloc chain)" "$(rows peak-table | wc -l)" 4

# -n limits every table and the page says so.
"$MEMPROF" report -n 1 "$t" -o "$work/n1.html"
check "-n 1: one row per table" "$(grep -c '^<tr><td class="n">1</td>' "$work/n1.html")" 7
check "-n 1: no second row" "$(grep -c '^<tr><td class="n">2</td>' "$work/n1.html")" 0
check_match "-n 1: says how many are left out" "$(cat "$work/n1.html")" \
	'The first 1 of 6 sites \(<code>-n</code> sets how many are listed\)'
check_match "-n 1: leaks too" "$(cat "$work/n1.html")" 'The first 1 of 2 leaking sites'

# Standard output without -o; the same page every time.
"$MEMPROF" report "$t" >"$work/stdout.html"
check "to standard output" "$?" 0
cmp -s "$html" "$work/stdout.html"
check "deterministic output" "$?" 0

# Several processes: a table of them; --pid keeps one.
"$MEMPROF" run -q -o "$work/forks.db" "$FIXTURES/forks"
"$MEMPROF" report "$work/forks.db" -o "$work/forks.html"
check "forks: exit code" "$?" 0
n=$(sql "$work/forks.db" 'SELECT count(*) FROM processes')
check "forks: a row per process" "$(awk '/<table class="processes">/ {f = 1} f && /^<tr>/ {n++} f && /<\/table>/ {f = 0} END {print n}' \
	"$work/forks.html")" "$n"
check "forks: a timeline panel per process" "$(grep -c '<g[^>]* class="process"' "$work/forks.html")" "$n"
child=$(sql "$work/forks.db" "SELECT pid FROM processes WHERE argv LIKE '%spawn-child%'")
"$MEMPROF" report --pid "$child" "$work/forks.db" -o "$work/child.html"
check "--pid: exit code" "$?" 0
check_match "--pid: said" "$(cat "$work/child.html")" "<code>forks.db</code> \(pid $child only\)"
check_match "--pid: its leak only" "$(cat "$work/child.html")" 'Leaked: 5\.42 KiB \(5555 bytes\) in 1 block,'

# Errors: nothing left behind.
"$MEMPROF" report --pid 999999999 "$t" -o "$work/x.html" 2>/dev/null
check "unknown pid" "$?" 2
check "no file for an unknown pid" "$(test -e "$work/x.html" && echo yes || echo no)" no
"$MEMPROF" report "$work/nope.db" -o "$work/x.html" 2>"$work/err"
check "missing trace" "$?" 3
check "no file for a missing trace" "$(test -e "$work/x.html" && echo yes || echo no)" no
"$MEMPROF" report "$t" -o "$work/no/such/dir.html" 2>"$work/err"
check "unwritable -o" "$?" 3
check_match "unwritable -o: message" "$(cat "$work/err")" "cannot write '$work/no/such/dir.html'"
"$MEMPROF" report -n x "$t" >/dev/null 2>"$work/err"
check "bad -n" "$?" 2
"$MEMPROF" report "$t" "$t" >/dev/null 2>&1
check "two traces" "$?" 2
"$MEMPROF" report --help | grep -q -- '--pid'
check "--help" "$?" 0

# The page's script is our own and parses.
if command -v node >/dev/null; then
	sed -n '/^<script>$/,/^<\/script>$/p' "$html" | sed '1d;$d' >"$work/page.js"
	node --check "$work/page.js"
	check "script parses (node --check)" "$?" 0
else
	echo "report: node not installed, the script's syntax not checked"
fi
finish
