#!/bin/sh
# memprof timeline on the acceptance fixture (peak 1031232 bytes) and the
# forks fixture (5 process images): samples, terminal chart, SVG. The heap's
# figures are checked on a trace without RSS samples (MEMPROF_RSS_MS=0),
# the RSS series on one with them.
. "${top_srcdir:-.}/tests/integration/lib.sh"
t=$work/trace.db
MEMPROF_RSS_MS=0 "$MEMPROF" run -q -o "$t" "$FIXTURES/acceptance"
check "no RSS samples" "$(sql "$t" 'SELECT count(*) FROM rss_samples')" 0
peak=$(sql "$t" 'SELECT peak_bytes FROM processes')
check "fixture peak" "$peak" 1031232
peak_t=$(sql "$t" 'SELECT peak_time_ns FROM processes')

# The samples: exactly the heap_samples rows, in time order.
rows="SELECT p.pid, s.process_id, s.time_ns, s.heap_bytes, s.usable_bytes FROM heap_samples s
	JOIN processes p ON p.id = s.process_id ORDER BY s.process_id, s.time_ns, s.rowid"
check "csv header" "$("$MEMPROF" timeline --format csv "$t" | head -n 1)" "pid,process_id,time_ns,heap_bytes,usable_bytes"
check "csv rows = heap_samples" "$("$MEMPROF" timeline --format csv "$t" | tail -n +2)" "$(sql "$t" "$rows")"
check "a sample at the peak" "$(sql "$t" "SELECT count(*) FROM heap_samples WHERE heap_bytes = $peak AND time_ns = $peak_t")" 1
j=$("$MEMPROF" timeline --format json "$t")
check "json samples = heap_samples" \
	"$(printf '%s\n' "$j" | grep '"time_ns"' | sed 's/^ *{"time_ns": \([0-9]*\), "heap_bytes": \([0-9]*\), "usable_bytes": \([0-9]*\)},\{0,1\}$/\1,\2,\3/')" \
	"$(sql "$t" 'SELECT time_ns, heap_bytes, usable_bytes FROM heap_samples ORDER BY time_ns, rowid')"
check_match "json peak" "$j" "\"peak_bytes\": $peak,"
check_match "json peak time" "$j" "\"peak_time_ns\": $peak_t"
check_match "json argv" "$j" '"argv": \[".*acceptance"\]'

# The terminal chart: the requested size, the peak in its column.
c=$("$MEMPROF" timeline --ascii --width 37 --height 5 "$t")
check_match "text names the peak" "$(printf '%s\n' "$c" | head -n 1)" "^pid [0-9]+ \(.*acceptance\): peak 1007.06 KiB \($peak bytes\) at "
check "chart rows" "$(printf '%s\n' "$c" | grep -c ' [|+]')" 6
check "every row 37 cells" "$(printf '%s\n' "$c" | grep ' [|+]' | sed 's/^[^|+]*[|+]//' | awk '{print length($0)}' | sort -u)" 37
check_match "top label: the highest sample" "$(printf '%s\n' "$c" | sed -n 2p)" \
	"^$(sql "$t" 'SELECT max(usable_bytes) FROM heap_samples' | awk '{printf "%.2f KiB", $1 / 1024}') \+"
# the peak's column: its time's share of the process's span, times the width
col=$(sql "$t" "SELECT ($peak_t - x0) * 37 / (x1 - x0) FROM (SELECT min(start_ns, (SELECT min(time_ns) FROM heap_samples)) AS x0,
	max(end_ns, (SELECT max(time_ns) FROM heap_samples), peak_time_ns) AS x1 FROM processes)")
axis=$(printf '%s\n' "$c" | grep '0 B +')
check "peak marked once" "$(printf '%s' "$axis" | tr -cd '^' | wc -c)" 1
check "peak column" "$(printf '%s' "$axis" | sed 's/^.*+//' | awk '{print index($0, "^") - 1}')" "$col"
check_match "legend" "$c" '# heap \(requested\)  : heap \(usable\)  \^ peak'
check "default width: 60 cells" "$("$MEMPROF" timeline --ascii "$t" | grep '0 B +' | sed 's/^.*+//' | awk '{print length($0)}')" 60
check "default height: 12 rows" "$("$MEMPROF" timeline --ascii "$t" | grep -c ' [|+]')" 13
u=$(LC_ALL=C.UTF-8 "$MEMPROF" timeline --width 37 --height 5 "$t")
check_match "UTF-8 blocks in a UTF-8 locale" "$u" "█"
check "UTF-8 axis: 37 cells" "$(printf '%s\n' "$u" | grep '0 B └' | sed 's/^.*└//' | LC_ALL=C.UTF-8 wc -m)" 38
check "UTF-8 peak marked" "$(printf '%s\n' "$u" | grep -c '└.*▲')" 1
check "ASCII outside a UTF-8 locale" "$(LC_ALL=C "$MEMPROF" timeline "$t" | grep -c '█')" 0

# The SVG: well-formed, one panel, the series, the peak with its value and time.
s=$work/t.svg
"$MEMPROF" timeline -o "$s" "$t"
check "svg written" "$?" 0
well_formed() {
	if command -v xmllint >/dev/null; then
		xmllint --noout "$1"
	elif command -v python3 >/dev/null; then
		python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$1"
	else # tags nest and close, and no stray '&' or '<'
		perl -0777 -ne 's/<\?xml[^>]*\?>//; my @s; while (/<(\/?)([a-zA-Z]+)[^<>]*?(\/?)>|(&(?!amp;|lt;|gt;|quot;|#39;))/g) {
			exit 1 if defined $4; next if $3; if ($1) { exit 1 if !@s || pop(@s) ne $2 } else { push @s, $2 } }
			exit(@s ? 1 : 0)' "$1"
	fi
}
well_formed "$s"
check "svg well-formed" "$?" 0
svg=$(cat "$s")
check_match "svg root" "$svg" '<svg xmlns="http://www.w3.org/2000/svg" width="960" height="300"'
check "svg panels" "$(grep -c '<g[^>]* class="process"' "$s")" 1
check "svg heap series" "$(grep -c '<polyline points="[^"]*" class="heap"/>' "$s")" 1
check "svg usable series" "$(grep -c '<polyline points="[^"]*" class="usable"/>' "$s")" 1
check "svg no RSS series (not recorded)" "$(grep -c 'class="rss"' "$s")" 0
r=$work/rss.db
"$MEMPROF" run -q -o "$r" "$FIXTURES/mappings" >/dev/null
check_match "RSS samples" "$(sql "$r" 'SELECT count(*) FROM rss_samples')" '^[1-9]'
"$MEMPROF" timeline -o "$work/rss.svg" "$r"
check "svg: the RSS series" "$(grep -c '<polyline points="[^"]*" class="rss"/>' "$work/rss.svg")" 1
rc=$("$MEMPROF" timeline --ascii "$r")
check_match "chart: the RSS legend" "$rc" '\* RSS'
check_match "chart: the top label is the largest RSS sample" "$(printf '%s\n' "$rc" | sed -n 2p)" \
	"^ *$(sql "$r" 'SELECT max(rss_bytes) FROM rss_samples' | awk '{printf "%.2f MiB", $1 / 1048576}') \\+"
check "svg heap points: one per distinct sample and the end" \
	"$(grep -o '<polyline points="[^"]*" class="heap"' "$s" | sed 's/.*points="//; s/".*//' | tr ' ' '\n' | wc -l)" \
	"$(($(sql "$t" "SELECT count(DISTINCT time_ns || ',' || heap_bytes) FROM heap_samples") + 1))"
check_match "svg peak marker with value and time" "$svg" \
	"<circle [^>]*class=\"peak\"><title>peak 1007.06 KiB \($peak bytes\) at $(awk -v t="$peak_t" 'BEGIN {printf "%.6f", t / 1e9}') s</title>"
check_match "svg peak label" "$svg" "class=\"peak-label\">peak 1007.06 KiB \($peak bytes\)"
check_match "svg size axis" "$svg" 'class="tick">1000 KiB<'
check_match "svg time axis" "$svg" 'class="tick">0(\.0+)? s<'
check_match "svg tooltips" "$svg" '<title>[0-9.]+-[0-9.]+ s \([0-9]+ samples?\)'
check "svg has no script" "$(grep -ci '<script' "$s")" 0
"$MEMPROF" timeline -o "$s" --width 500 --height 200 "$t"
check "an existing svg is replaced" "$?" 0
check_match "svg size options" "$(cat "$s")" 'width="500" height="200"'
# A narrow panel cuts the command, never the peak.
"$MEMPROF" timeline -o "$s" --width 640 "$t"
check_match "svg: a long title cut in the command" "$(grep 'class="title"' "$s")" \
	'>pid [0-9]+ \([^)]*…\): peak 1007\.06 KiB \(1031232 bytes\) at [0-9.]+ s</text>'
check "svg to stdout" "$("$MEMPROF" timeline -o - "$t" | grep -c '</svg>')" 1
"$MEMPROF" timeline -o "$work/nodir/t.svg" "$t" 2>"$work/err"
check "unwritable svg: exit code" "$?" 3
check_match "unwritable svg: message" "$(cat "$work/err")" "cannot write '$work/nodir/t.svg'"

# Several processes: one panel each, or those of --pid.
f=$work/forks.db
"$MEMPROF" run -q -o "$f" "$FIXTURES/forks"
"$MEMPROF" timeline -o "$work/f.svg" "$f"
well_formed "$work/f.svg"
check "forks svg well-formed" "$?" 0
check "a panel per process" "$(grep -c '<g[^>]* class="process"' "$work/f.svg")" "$(sql "$f" 'SELECT count(*) FROM processes')"
check "svg height: panels x 300" "$(grep -o '<svg [^>]*height="[0-9]*"' "$work/f.svg" | sed 's/.*height="//; s/"//')" \
	"$((300 * $(sql "$f" 'SELECT count(*) FROM processes')))"
pid=$(sql "$f" "SELECT pid FROM processes WHERE origin = 'exec'")
"$MEMPROF" timeline --pid "$pid" -o "$work/p.svg" "$f"
check "--pid: its images" "$(grep -c '<g[^>]* class="process"' "$work/p.svg")" 2
check "--pid text: its images" "$("$MEMPROF" timeline --pid "$pid" "$f" | grep -c "^pid $pid ")" 2
check "--pid csv" "$("$MEMPROF" timeline --pid "$pid" --format csv "$f" | tail -n +2 | cut -d, -f1 | sort -u)" "$pid"
for id in $(sql "$f" 'SELECT id FROM processes'); do
	check "peak of image $id marked" "$(grep -c "class=\"peak-label\">peak [^<]*($(sql "$f" "SELECT peak_bytes FROM processes WHERE id = $id")\
 bytes) at $(awk -v t="$(sql "$f" "SELECT peak_time_ns FROM processes WHERE id = $id")" 'BEGIN {printf "%.6f", t / 1e9}') s<" \
		"$work/f.svg")" 1
done

# Errors.
"$MEMPROF" timeline --width 3 "$t" 2>/dev/null
check "too narrow" "$?" 2
"$MEMPROF" timeline --height abc "$t" 2>/dev/null
check "bad height" "$?" 2
"$MEMPROF" timeline --pid 1 "$t" 2>/dev/null
check "no such pid" "$?" 2
"$MEMPROF" timeline -o - --format json "$t" 2>/dev/null
check "svg and json both on stdout" "$?" 2
"$MEMPROF" timeline "$work/nope.db" 2>/dev/null
check "missing trace" "$?" 3
finish
