#!/bin/sh
# memprof export on the acceptance fixture: folded, speedscope, pprof and
# massif files holding its exact figures, read back by other means
# (sqlite3's JSON functions, a protobuf decoder, gzip, ms_print).
. "${top_srcdir:-.}/tests/integration/lib.sh"
t=$work/trace.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/acceptance"
src=acceptance.c

# --- folded: one line per stack, the weights add up to the sites' sums.
for kv in bytes:3047600 count:1025 peak:1031232 leaked:14848 temporary:1011; do
	by=${kv%%:*}
	"$MEMPROF" export --format folded --by "$by" -o "$work/$by.folded" "$t"
	check "folded --by $by: exit code" "$?" 0
	check "folded --by $by: total" "$(awk '{ s += $NF } END { print s + 0 }' "$work/$by.folded")" "${kv#*:}"
done
check "folded: site sums" "$(sql "$t" 'SELECT sum(bytes), sum(allocations), sum(peak_bytes), sum(leaked_bytes), sum(temporary) FROM sites')" \
	"3047600,1025,1031232,14848,1011"
f=$(cat "$work/bytes.folded")
check "folded: four lines" "$(printf '%s\n' "$f" | wc -l)" 4
check_match "folded: root to leaf" "$f" '^_start;__libc_start_main;.*;main;make_temporaries 2000000$'
check_match "folded: held" "$f" ';main;hold_blocks 1000000$'
check_match "folded: the two leak sites merged" "$f" ';main;leak_some 14848$'
check "folded: leaked only" "$(sed 's/.*;//' "$work/leaked.folded")" "leak_some 14848"
"$MEMPROF" export --format folded "$t" >"$work/stdout.folded"
cmp -s "$work/stdout.folded" "$work/bytes.folded"
check "folded: standard output by default, same bytes" "$?" 0

# --- speedscope: valid JSON in the file format, with the right weights.
"$MEMPROF" export --format speedscope -o "$work/s.json" "$t"
check "speedscope: exit code" "$?" 0
if command -v sqlite3 >/dev/null; then
	js() { sqlite3 :memory: "WITH d(j) AS (SELECT CAST(readfile('$1') AS TEXT)) SELECT $2 FROM d"; }
	s=$work/s.json
	check "speedscope: valid JSON" "$(js "$s" 'json_valid(j)')" 1
	check "speedscope: schema" "$(js "$s" "json_extract(j, '\$.\"\$schema\"')")" \
		"https://www.speedscope.app/file-format-schema.json"
	check "speedscope: a sampled profile in bytes" \
		"$(js "$s" "json_extract(j, '\$.profiles[0].type') || ' ' || json_extract(j, '\$.profiles[0].unit')")" "sampled bytes"
	check "speedscope: weights sum to the total" \
		"$(js "$s" "(SELECT sum(value) FROM json_each(j, '\$.profiles[0].weights')) || ' ' || json_extract(j, '\$.profiles[0].endValue')")" \
		"3047600 3047600"
	check "speedscope: one weight per sample" \
		"$(js "$s" "json_array_length(j, '\$.profiles[0].samples') || ' ' || json_array_length(j, '\$.profiles[0].weights')")" "4 4"
	check "speedscope: frame indices in range" "$(js "$s" "(SELECT count(*) FROM json_each(j, '\$.profiles[0].samples') s,
		json_each(s.value) i WHERE i.value < 0 OR i.value >= json_array_length(j, '\$.shared.frames'))")" 0
	leaves=$(js "$s" "(SELECT group_concat(x, ', ') FROM (SELECT json_extract(j, '\$.shared.frames[' ||
		json_extract(s.value, '\$[#-1]') || '].name') || ' ' || json_extract(j, '\$.profiles[0].weights[' || s.key || ']') AS x
		FROM json_each(j, '\$.profiles[0].samples') s ORDER BY x))")
	check "speedscope: leaves and weights" "$leaves" \
		"grow_chain 32752, hold_blocks 1000000, leak_some 14848, make_temporaries 2000000"
	check "speedscope: roots" "$(js "$s" "(SELECT group_concat(DISTINCT json_extract(j, '\$.shared.frames[' ||
		json_extract(s.value, '\$[0]') || '].name')) FROM json_each(j, '\$.profiles[0].samples') s)")" "_start"
	check_match "speedscope: frames with file and line" "$(js "$s" "(SELECT group_concat(value, ' ')
		FROM json_each(j, '\$.shared.frames') WHERE json_extract(value, '\$.name') = 'hold_blocks')")" \
		"\"file\":\".*$src\",\"line\":$(line_of $src held)"
	"$MEMPROF" export --format speedscope --by count -o "$work/c.json" "$t"
	check "speedscope --by count: unit none, total" \
		"$(js "$work/c.json" "json_extract(j, '\$.profiles[0].unit') || ' ' || (SELECT sum(value) FROM json_each(j, '\$.profiles[0].weights'))")" \
		"none 1025"
else
	echo "export: sqlite3 not installed, speedscope JSON not checked"
fi

# --- pprof: valid gzip (stored blocks) holding a Profile with 4 values.
pc=$top_builddir/tests/check/pprof-check
"$MEMPROF" export --format pprof -o "$work/p.pb.gz" "$t"
check "pprof: exit code" "$?" 0
gzip -t "$work/p.pb.gz"
check "pprof: gzip -t accepts it" "$?" 0
check "pprof: gzip -d gives the decoded bytes" "$(gzip -dc "$work/p.pb.gz" | wc -c)" "$(gzip -l "$work/p.pb.gz" | awk 'NR == 2 { print $2 }')"
p=$("$pc" "$work/p.pb.gz")
check "pprof: decodes" "$?" 0
check "pprof: sample types" "$(printf '%s\n' "$p" | grep '^sample_type')" \
	"sample_type alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes"
check "pprof: default type" "$(printf '%s\n' "$p" | grep '^default')" "default alloc_space"
check "pprof: totals (calls, bytes, leaked blocks, leaked bytes)" "$(printf '%s\n' "$p" | grep '^total')" \
	"total 1025 3047600 4 14848"
check "pprof: one sample per site" "$(printf '%s\n' "$p" | grep '^samples')" "samples 6"
check "pprof: samples" "$(printf '%s\n' "$p" | grep '^leaf' | sort | tr '\n' '|')" \
	"leaf grow_chain 1 16 0 0|leaf grow_chain 10 32736 0 0|leaf hold_blocks 10 1000000 0 0|leaf leak_some 1 2560 1 2560|leaf leak_some 3 12288 3 12288|leaf make_temporaries 1000 2000000 0 0|"
check "pprof: outermost frames" "$(printf '%s\n' "$p" | grep '^root' | sort -u)" "root _start"
"$MEMPROF" export --format pprof --by leaked -o "$work/l.pb.gz" "$t"
check "pprof --by leaked: default inuse_space" "$("$pc" "$work/l.pb.gz" | grep '^default')" "default inuse_space"
"$MEMPROF" export --format pprof --by count -o "$work/n.pb.gz" "$t"
check "pprof --by count: default alloc_objects" "$("$pc" "$work/n.pb.gz" | grep '^default')" "default alloc_objects"

# --- massif: the heap over time and the tree at the peak.
m=$work/massif.out
"$MEMPROF" export --format massif -o "$m" "$t"
check "massif: exit code" "$?" 0
check "massif: header" "$(head -n 3 "$m" | cut -d' ' -f1 | tr '\n' ' ')" "desc: cmd: time_unit: "
check "massif: one peak snapshot" "$(grep -c '^heap_tree=peak$' "$m")" 1
check "massif: peak snapshot size" "$(grep -B 4 '^heap_tree=peak$' "$m" | grep '^mem_heap_B=')" "mem_heap_B=1031232"
check "massif: tree root" "$(grep -A 1 '^heap_tree=peak$' "$m" | tail -n 1)" \
	"n3: 1031232 (heap allocation functions) malloc/new/new[], --alloc-fns, etc."
check_match "massif: held site under the root" "$(cat "$m")" \
	"^ n1: 1000000 0x[0-9A-F]+: hold_blocks \(.*$src:$(line_of $src held)\)$"
check "massif: snapshots numbered" "$(grep '^snapshot=' "$m" | cut -d= -f2 | tr '\n' ' ')" \
	"$(seq 0 $(($(grep -c '^snapshot=' "$m") - 1)) | tr '\n' ' ')"
if command -v ms_print >/dev/null; then
	out=$(ms_print "$m")
	check "ms_print reads it" "$?" 0
	check_match "ms_print: the peak snapshot" "$out" 'Detailed snapshots: \[[0-9]+ \(peak\)\]'
	check_match "ms_print: the peak figure" "$out" '^ +[0-9]+ +[0-9.]+ +[0-9,]+ +1,031,232 +[0-9,]+ +0$'
	check_match "ms_print: the tree" "$out" '^->[0-9.]+% \(1,000,000B\) 0x[0-9A-F]+: hold_blocks'
else
	echo "export: ms_print not installed (apt-get install valgrind), massif not read back"
fi

# --- errors
"$MEMPROF" export "$t" >/dev/null 2>"$work/err"
check "no --format: exit code" "$?" 2
check_match "no --format: message" "$(cat "$work/err")" "no --format given"
"$MEMPROF" export --format svg "$t" >/dev/null 2>&1
check "bad --format" "$?" 2
"$MEMPROF" export --format pprof --by peak "$t" >/dev/null 2>&1
check "pprof --by peak" "$?" 2
"$MEMPROF" export --format massif --by bytes "$t" >/dev/null 2>&1
check "massif --by" "$?" 2
"$MEMPROF" export --format folded --pid 999999999 "$t" >/dev/null 2>&1
check "unknown pid" "$?" 2
"$MEMPROF" export --format folded "$work/nope.db" 2>/dev/null
check "missing trace" "$?" 3
"$MEMPROF" export --format pprof -o "$work/no/dir/p.gz" "$t" 2>/dev/null
check "unwritable -o" "$?" 3
# A trace whose heap samples are damaged (the page of their table): massif
# fails after opening -o; a regular file is removed, a pipe never is.
cp "$t" "$work/bad.db"
root=$(sqlite3 "$work/bad.db" "SELECT rootpage FROM sqlite_master WHERE name = 'heap_samples'")
size=$(sqlite3 "$work/bad.db" "PRAGMA page_size")
printf '\377' | dd of="$work/bad.db" bs=1 seek=$(((root - 1) * size)) conv=notrunc 2>/dev/null
"$MEMPROF" export --format massif -o "$work/bad.out" "$work/bad.db" 2>"$work/err"
check "damaged heap samples: exit code" "$?" 3
check_match "damaged heap samples: message" "$(cat "$work/err")" "cannot read '$work/bad.db': damaged trace"
check "damaged heap samples: no file left" "$(test -e "$work/bad.out" && echo yes || echo no)" no
check "damaged heap samples: nothing on standard output" "$("$MEMPROF" export --format massif "$work/bad.db" 2>/dev/null | wc -c)" 0
mkfifo "$work/fifo"
cat "$work/fifo" >/dev/null &
"$MEMPROF" export --format massif -o "$work/fifo" "$work/bad.db" 2>/dev/null
check "a pipe as -o: failure" "$?" 3
wait
check "a pipe as -o: never removed" "$(test -p "$work/fifo" && echo pipe || echo gone)" pipe

pid=$(sql "$t" 'SELECT pid FROM processes LIMIT 1')
check "--pid: the process's figures" "$("$MEMPROF" export --format folded --by peak --pid "$pid" "$t" | awk '{ s += $NF } END { print s }')" 1031232
"$MEMPROF" export --help | grep -q speedscope
check "--help" "$?" 0
finish
