#!/bin/sh
# memprof strip: a copy without the allocation rows answers summary, top,
# peak and leaks exactly as the original; --anonymize-paths leaves no
# directory of the build in the file.
. "${top_srcdir:-.}/tests/integration/lib.sh"
t=$work/trace.db
s=$work/small.db
n=$work/anon.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/acceptance"

out=$("$MEMPROF" strip --keep-summaries-only -o "$s" "$t")
check "strip exits 0" "$?" 0
check_match "strip says what it wrote" "$out" "^wrote '.*small.db': .*, allocations stripped$"
for cmd in summary top peak leaks; do
	for fmt in text json csv; do
		check "$cmd --format $fmt: same output" "$("$MEMPROF" $cmd --format $fmt "$s")" \
			"$("$MEMPROF" $cmd --format $fmt "$t")"
	done
done
check "top --by-leaked -n 0: same" "$("$MEMPROF" top --by-leaked -n 0 --full-stacks "$s")" \
	"$("$MEMPROF" top --by-leaked -n 0 --full-stacks "$t")"
check "no chunks left" "$(sqlite3 "$s" 'SELECT count(*) FROM alloc_chunks')" 0
check "marked in meta" "$(sqlite3 "$s" "SELECT value FROM meta WHERE key = 'allocations_stripped'")" 1025
check "the rest kept" "$(sqlite3 "$s" 'SELECT (SELECT count(*) FROM sites), (SELECT count(*) FROM stacks), (SELECT count(*) FROM frames), (SELECT count(*) FROM modules), (SELECT count(*) FROM heap_samples) > 0, (SELECT count(*) FROM threads)')" \
	"$(sqlite3 "$t" 'SELECT (SELECT count(*) FROM sites), (SELECT count(*) FROM stacks), (SELECT count(*) FROM frames), (SELECT count(*) FROM modules), (SELECT count(*) FROM heap_samples) > 0, (SELECT count(*) FROM threads)')"
err=$("$MEMPROF" sql "$s" 'SELECT count(*) FROM allocations' 2>&1 >/dev/null)
check "allocations of a stripped trace: an error" "$?" 2
check_match "allocations of a stripped trace: says why" "$err" "its allocations were stripped \(memprof strip --keep-summaries-only\)"
check "the extension says so too" \
	"$(sqlite3 -cmd ".load $MEMPROF_EXT" "$s" 'SELECT count(*) FROM allocations' 2>&1 | grep -c 'were stripped')" 1
check "a diff with the original: no change" "$("$MEMPROF" diff "$t" "$s" | tail -n 1)" "no change in 4 sites"
"$MEMPROF" check --max-leaked 14848 --max-peak 1031232 --max-allocations 1025 "$s" >/dev/null
check "check on a stripped trace" "$?" 0

# A larger trace shrinks, and still answers the same.
big=$work/big.db
"$MEMPROF" run -q -o "$big" -- sqlite3 :memory: "CREATE TABLE t(a); WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL
	SELECT i + 1 FROM c WHERE i < 20000) INSERT INTO t SELECT hex(randomblob(20)) FROM c; CREATE INDEX ti ON t(a);"
"$MEMPROF" strip --keep-summaries-only -o "$work/big-small.db" "$big" >/dev/null
check "smaller file" "$(($(wc -c <"$work/big-small.db") < $(wc -c <"$big")))" 1
for cmd in summary top peak leaks; do
	check "$cmd on the larger trace: same output" "$("$MEMPROF" $cmd --format json "$work/big-small.db")" \
		"$("$MEMPROF" $cmd --format json "$big")"
done

# --anonymize-paths
out=$("$MEMPROF" strip --anonymize-paths -o "$n" "$t")
check "anonymize exits 0" "$?" 0
check_match "anonymize says so" "$out" ", paths anonymized$"
check "no build directory left in the file" "$(grep -c -a -F "$top_builddir" "$n")" 0
check "no source directory left in the file" "$(grep -c -a -F "tests/fixtures" "$n")" 0
check "module base names kept" "$(sqlite3 "$n" "SELECT count(*) FROM modules WHERE path LIKE '<dir%>/acceptance'")" 1
check "one placeholder per directory" "$(sqlite3 "$n" "SELECT count(DISTINCT substr(file, 1, instr(file, '/'))) FROM frames WHERE file LIKE '%acceptance.c'")" 1
check "source base names kept, lines too" "$(sqlite3 "$n" "SELECT count(*) FROM frames WHERE file LIKE '<dir%>/acceptance.c' AND line > 0")" \
	"$(sqlite3 "$t" "SELECT count(*) FROM frames WHERE file LIKE '%/acceptance.c'")"
check "argv anonymized" "$(sqlite3 "$n" "SELECT argv LIKE '[\"<dir%>/acceptance\"]' FROM processes")" 1
check "command anonymized" "$(sqlite3 "$n" "SELECT value LIKE '[\"<dir%>/acceptance\"]' FROM meta WHERE key = 'command'")" 1
check_match "top shows the placeholders" "$("$MEMPROF" top -n 1 "$n")" "make_temporaries \(<dir[0-9]+>/acceptance.c:$(line_of acceptance.c temporaries)\)"
check "anonymized figures unchanged" "$("$MEMPROF" summary --format csv "$n" | cut -d, -f5-)" \
	"$("$MEMPROF" summary --format csv "$t" | cut -d, -f5-)"
check "a diff with the original: no change" "$("$MEMPROF" diff "$t" "$n" | tail -n 1)" "no change in 4 sites"
check "allocations still there" "$(sql "$n" 'SELECT count(*) FROM allocations')" 1025
"$MEMPROF" strip --anonymize-paths --keep-summaries-only -f -o "$n" "$t" >/dev/null
check "both, with --force" "$?" 0
check "both: top the same but paths" "$("$MEMPROF" top --format csv "$n" | sed 's/<dir[0-9]*>\///g')" \
	"$("$MEMPROF" top --format csv "$t" | sed 's/[^ (]*\///g')"

# Refusals.
"$MEMPROF" strip -o "$t" "$t" 2>/dev/null
check "refuses to overwrite the input" "$?" 2
"$MEMPROF" strip -f -o "$t" "$t" 2>/dev/null
check "refuses to overwrite the input, even with --force" "$?" 2
ln -s "$t" "$work/link.db"
"$MEMPROF" strip -f -o "$work/link.db" "$t" 2>/dev/null
check "refuses to overwrite the input through a link" "$?" 2
"$MEMPROF" strip -o "$s" "$t" 2>/dev/null
check "refuses an existing output" "$?" 2
"$MEMPROF" strip "$t" 2>/dev/null
check "needs -o" "$?" 2
echo "not a trace" >"$work/text.db"
"$MEMPROF" strip -o "$work/x.db" "$work/text.db" 2>/dev/null
check "not a trace" "$?" 3
check "no output left behind" "$(ls "$work" | grep -c '^x.db')" 0
check "the original intact" "$(sql "$t" 'SELECT count(*) FROM allocations')" 1025
check_match "help" "$("$MEMPROF" strip --help)" "^usage: memprof strip"
finish
