#!/bin/sh
# memprof functions and memprof annotate on fixtures with exact figures:
# acceptance.c (1025 calls, 3047600 bytes, 14848 leaked) and inlined.c
# (an allocation in an inlined function).
. "${top_srcdir:-.}/tests/integration/lib.sh"
t=$work/trace.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/acceptance"
src=acceptance.c

# fig CSV FUNCTION: self_allocations..total_leaked_bytes of a function row
fig() {
	printf '%s\n' "$1" | awk -F, -v f="$2" '$2 == f {print $5 "," $6 "," $7 "," $8 "," $9 "," $10}'
}

# --- functions: self and total ---------------------------------------------
f=$("$MEMPROF" functions --format csv --limit 0 "$t")
check "csv header" "$(printf '%s\n' "$f" | head -n 1)" \
	"rank,function,file,module,self_allocations,self_bytes,self_leaked_bytes,total_allocations,total_bytes,total_leaked_bytes"
check "make_temporaries self = total" "$(fig "$f" make_temporaries)" "1000,2000000,0,1000,2000000,0"
check "hold_blocks" "$(fig "$f" hold_blocks)" "10,1000000,0,10,1000000,0"
check "leak_some leaks all it allocates" "$(fig "$f" leak_some)" "4,14848,14848,4,14848,14848"
check "grow_chain: malloc and 10 reallocs" "$(fig "$f" grow_chain)" "11,32752,0,11,32752,0"
check "main: nothing directly, every call in total" "$(fig "$f" main)" "0,0,0,1025,3047600,14848"
check "the self figures add up to every call" \
	"$(printf '%s\n' "$f" | tail -n +2 | awk -F, '{a += $5; b += $6; l += $7} END {print a "," b "," l}')" "1025,3047600,14848"
check "a function is its name and file" "$(printf '%s\n' "$f" | awk -F, '$2 == "main" {print $3}')" \
	"$(sql "$t" "SELECT DISTINCT file FROM frames WHERE function = 'main'")"

order() { # ORDER: the functions in that order, one line
	"$MEMPROF" functions --format csv --sort "$1" "$t" | tail -n +2 | cut -d, -f2 | tr '\n' ' '
}
check "sort self-bytes" "$(order self-bytes | cut -d' ' -f1-4)" "make_temporaries hold_blocks grow_chain leak_some"
check "sort self-count" "$(order self-count | cut -d' ' -f1-4)" "make_temporaries grow_chain hold_blocks leak_some"
check "sort leaked: only what leaked directly" "$(order leaked)" "leak_some "
check "sort total-leaked" "$(order total-leaked | cut -d' ' -f1)" "__libc_start_call_main"
check "sort total-leaked: functions that leaked" "$(order total-leaked | wc -w)" 5
check "sort total-count: the callers first" \
	"$("$MEMPROF" functions --format csv --sort total-count "$t" | sed -n 2p | cut -d, -f8,9)" "1025,3047600"
check "sort total-bytes: make_temporaries after the 4 callers" "$(order total-bytes | cut -d' ' -f5)" "make_temporaries"
check "--limit 2" "$("$MEMPROF" functions --format csv --limit 2 "$t" | tail -n +2 | wc -l)" 2
check "-n 3" "$("$MEMPROF" functions --format csv -n 3 "$t" | tail -n +2 | wc -l)" 3

j=$("$MEMPROF" functions --format json "$t")
for kv in '"order": "self-bytes"' '"allocations": 1025' '"bytes": 3047600' '"leaked_bytes": 14848' \
	'"function": "make_temporaries", "file": "[^"]*acceptance.c", "module": "[^"]*acceptance", "self_allocations": 1000, "self_bytes": 2000000, "self_leaked_bytes": 0, "total_allocations": 1000, "total_bytes": 2000000, "total_leaked_bytes": 0'; do
	check_match "functions json has $kv" "$j" "$kv"
done
txt=$("$MEMPROF" functions "$t")
check_match "text header" "$txt" "^functions by bytes allocated directly \(1025 allocations, 2.91 MiB, leaked 14.50 KiB in all\)"
check_match "text row" "$txt" " 1000 +1.91 MiB +0 B +1000 +1.91 MiB +0 B  make_temporaries \(.*$src\)"
check_match "text row of main" "$txt" " 0 +0 B +0 B +1025 +2.91 MiB +14.50 KiB  main \(.*$src\)"

# --- callers and callees -----------------------------------------------------
c=$("$MEMPROF" functions --format csv --callees main "$t")
check "callees csv header" "$(printf '%s\n' "$c" | head -n 1)" \
	"function,file,module,relation,other_function,other_file,other_module,allocations,bytes,leaked_bytes,allocations_share,bytes_share"
rel() { # CSV OTHER: allocations..bytes_share of one row
	printf '%s\n' "$1" | awk -F, -v f="$2" '$5 == f {print $4 "," $8 "," $9 "," $10 "," $11 "," $12}'
}
check "main calls make_temporaries" "$(rel "$c" make_temporaries)" "callee,1000,2000000,0,0.975610,0.656254"
check "main calls hold_blocks" "$(rel "$c" hold_blocks)" "callee,10,1000000,0,0.009756,0.328127"
check "main calls grow_chain" "$(rel "$c" grow_chain)" "callee,11,32752,0,0.010732,0.010747"
check "main calls leak_some" "$(rel "$c" leak_some)" "callee,4,14848,14848,0.003902,0.004872"
check "main's callees, most bytes first" "$(printf '%s\n' "$c" | tail -n +2 | cut -d, -f5 | tr '\n' ' ')" \
	"make_temporaries hold_blocks grow_chain leak_some "
c=$("$MEMPROF" functions --format csv --callers leak_some --callees leak_some "$t")
check "leak_some's caller" "$(rel "$c" main)" "caller,4,14848,14848,1.000000,1.000000"
check "leak_some allocates itself" "$(rel "$c" '[self]')" "callee,4,14848,14848,1.000000,1.000000"
check "leak_some: one caller, one callee" "$(printf '%s\n' "$c" | tail -n +2 | wc -l)" 2
check "main's caller" "$("$MEMPROF" functions --format csv --callers main "$t" | tail -n +2 | cut -d, -f4,5,8,9,12)" \
	"caller,__libc_start_call_main,1025,3047600,1.000000"
check "the outermost frame" "$("$MEMPROF" functions --format csv --callers _start "$t" | tail -n +2 | cut -d, -f5,8)" \
	"[outermost],1025"
j=$("$MEMPROF" functions --format json --callers grow "$t")
check_match "json: a part of a name matches" "$j" '"query": "grow",'
check_match "json: says so" "$j" '"match": "substring",'
for kv in '"function": "grow_chain",' '"self_allocations": 11,' '"self_bytes": 32752,' '"total_allocations": 11,' \
	'"total_bytes": 32752,' '"total_leaked_bytes": 0,'; do
	check_match "json: the function has $kv" "$j" "$kv"
done
check_match "json: its caller" "$j" '"function": "main", "file": "[^"]*", "module": "[^"]*", "allocations": 11, "bytes": 32752, "leaked_bytes": 0, "allocations_share": 1, "bytes_share": 1'
check_match "json: exact" "$("$MEMPROF" functions --format json --callers main "$t")" '"match": "exact",'
txt=$("$MEMPROF" functions --callees main "$t")
check_match "text: what matched" "$txt" "^1 function is named 'main'"
check_match "text: its figures" "$txt" "self: 0 allocations, 0 B; total: 1025 allocations, 2.91 MiB, leaked 14.50 KiB"
check_match "text: a callee" "$txt" " 1000 +97.6% +1.91 MiB +65.6% +0 B  make_temporaries \(.*$src\)"
check_match "text: several matches" "$("$MEMPROF" functions --callers _ "$t")" "^[0-9]+ functions have in their names '_'"

# --- annotate ------------------------------------------------------------------
L() { line_of $src "$1"; }
rows() { # TEXT: the table rows of an annotation, after the header's rule
	printf '%s\n' "$1" | sed '1,/^----/d'
}
ml() { # TEXT: the line of main's call in the fixture
	grep -n "^[[:space:]]*$1" "$top_srcdir/tests/fixtures/$src" | head -n 1 | cut -d: -f1
}
a=$("$MEMPROF" annotate --format csv --file "$src" "$t")
check "annotate csv header" "$(printf '%s\n' "$a" | head -n 1)" \
	"file,function,line,self_allocations,self_bytes,self_leaked_bytes,total_allocations,total_bytes,total_leaked_bytes,text"
row() { # CSV LINE: function and figures of that line
	printf '%s\n' "$1" | awk -F, -v l="$2" '$3 == l {print $2 "," $4 "," $5 "," $6 "," $7 "," $8 "," $9}'
}
check "line temporaries" "$(row "$a" "$(L temporaries)")" "make_temporaries,1000,2000000,0,1000,2000000,0"
check "line held" "$(row "$a" "$(L held)")" "hold_blocks,10,1000000,0,10,1000000,0"
check "line leak-calloc" "$(row "$a" "$(L leak-calloc)")" "leak_some,3,12288,12288,3,12288,12288"
check "line leak-aligned" "$(row "$a" "$(L leak-aligned)")" "leak_some,1,2560,2560,1,2560,2560"
check "line chain-start" "$(row "$a" "$(L chain-start)")" "grow_chain,1,16,0,1,16,0"
check "line chain-grow" "$(row "$a" "$(L chain-grow)")" "grow_chain,10,32736,0,10,32736,0"
check "main's call of make_temporaries: total only" "$(row "$a" "$(ml 'make_temporaries(variant')")" \
	"main,0,0,0,1000,2000000,0"
check "main's call of leak_some" "$(row "$a" "$(ml 'leak_some(variant')")" "main,0,0,0,4,14848,14848"
check "main's call of grow_chain" "$(row "$a" "$(ml 'chain = grow_chain();')")" "main,0,0,0,11,32752,0"
check "lines with figures" "$(printf '%s\n' "$a" | tail -n +2 | wc -l)" 10
check_match "csv: the source text" "$a" "$(L held),10,1000000,0,10,1000000,0,.*held\[i\] = malloc\(100000\); /\* SITE:held \*/"

recorded=$(sql "$t" "SELECT DISTINCT file FROM frames WHERE function = 'main'")
check_match "--file by recorded path" "$("$MEMPROF" annotate --format json --file "$recorded" "$t")" '"match": "path"'
check_match "--file by base name" "$("$MEMPROF" annotate --format json --file "$src" "$t")" '"match": "basename"'
check_match "--file by last components" "$("$MEMPROF" annotate --format json --file "fixtures/$src" "$t")" \
	'"match": "path-suffix"'

j=$("$MEMPROF" annotate --format json --function leak_some "$t")
check_match "json: the query" "$j" '"query": "leak_some",'
check_match "json: the source read" "$j" "\"source\": \"[^\"]*$src\""
check_match "json: a line" "$j" "\"line\": $(L leak-calloc), \"function\": \"leak_some\", \"self_allocations\": 3, \"self_bytes\": 12288, \"self_leaked_bytes\": 12288, \"total_allocations\": 3, \"total_bytes\": 12288, \"total_leaked_bytes\": 12288, \"text\": \"[^\"]*calloc\(1, 4096\)"
check "json: only leak_some's lines" "$(printf '%s\n' "$j" | grep -c '"line":')" 2

txt=$("$MEMPROF" annotate --function main "$t")
first=$(($(ml 'make_temporaries(variant') - 3))
last=$(($(ml 'chain = grow_chain();') + 3))
check_match "text: the function" "$txt" "main \(.*$src\): lines $((first + 3))-$((last - 3)) have figures"
check "text: the range with 3 lines of context" \
	"$(rows "$txt" | awk '{print $1}' | sed -n '1p;$p' | tr '\n' ' ')" "$first $last "
check_match "text: a total line" "$txt" "^ *$(ml 'hold_blocks') +10 +976.56 KiB +0 B +hold_blocks\(held\);"
check "--context 0" "$(rows "$("$MEMPROF" annotate --context 0 --function main "$t")" | wc -l)" $((last - first - 5))
txt=$("$MEMPROF" annotate --function make_temporaries "$t")
check_match "text: a self line" "$txt" \
	"^ *$(L temporaries) +1000 +1.91 MiB +1000 +1.91 MiB +0 B +void \*p = malloc\(2000\); /\* SITE:temporaries \*/"

# The source elsewhere: a copied trace, the source moved to another directory.
mkdir "$work/moved" "$work/run"
cp "$t" "$work/run/copy.db"
sed 's/SITE:held/SITE:held (the moved copy)/' "$top_srcdir/tests/fixtures/$src" >"$work/moved/$src"
txt=$("$MEMPROF" annotate --function hold_blocks --source-dir "$work/moved" "$work/run/copy.db")
check_match "--source-dir: read there" "$txt" "source: $work/moved/$src"
check_match "--source-dir: its text" "$txt" "^ *$(L held) +10 +976.56 KiB +10 +976.56 KiB +0 B +held\[i\] = .*the moved copy"
txt=$("$MEMPROF" annotate --function hold_blocks --source-dir "$work/nonexistent" "$work/run/copy.db")
check_match "no source: a note" "$txt" "source not found: .*$src \(--source-dir DIR says where to look\); only the lines with figures are listed"
check "no source: only the lines with figures, no source column" "$(rows "$txt" | awk '{print NF ":" $1 "," $2 "," $8 $9}')" \
	"9:$(L held),10,0B"
mkdir "$work/short"
head -n 5 "$top_srcdir/tests/fixtures/$src" >"$work/short/$src"
txt=$("$MEMPROF" annotate --function hold_blocks --source-dir "$work/short" "$work/run/copy.db")
check_match "a shorter source: a warning" "$txt" "warning: the source has 5 lines, fewer than the trace knows \($(L held)\)"
check "a shorter source: the lines past its end with their figures" "$(rows "$txt" | awk '{print $1 "," $2}')" "$(L held),10"
a=$("$MEMPROF" annotate --format csv --file "$src" --source-dir "$work/nonexistent" "$work/run/copy.db")
check "no source: csv lines without text" "$(row "$a" "$(L held)")" "hold_blocks,10,1000000,0,10,1000000,0"
check "no source: csv text empty" "$(printf '%s\n' "$a" | awk -F, -v l="$(L held)" '$3 == l {print "[" $10 "]"}')" "[]"
check_match "no source: json" "$("$MEMPROF" annotate --format json --file "$src" --source-dir "$work/nonexistent" "$work/run/copy.db")" \
	'"source": null,'

# --- one process of several, errors ---------------------------------------------
pid=$(sql "$t" "SELECT pid FROM processes")
check "--pid" "$(fig "$("$MEMPROF" functions --format csv --pid "$pid" "$t")" main)" "0,0,0,1025,3047600,14848"
"$MEMPROF" functions --pid 999999999 "$t" >/dev/null 2>&1
check "functions: unknown pid" "$?" 2
"$MEMPROF" annotate --function main --pid 999999999 "$t" >/dev/null 2>&1
check "annotate: unknown pid" "$?" 2
err=$("$MEMPROF" functions --callers no_such_function "$t" 2>&1)
check "no such function: exit" "$?" 2
check "no such function: message" "$err" \
	"memprof: no function named 'no_such_function' or with 'no_such_function' in its name in '$t'"
"$MEMPROF" annotate --file nosuch.c "$t" >/dev/null 2>&1
check "no such file" "$?" 2
"$MEMPROF" annotate "$t" >/dev/null 2>&1
check "annotate needs --function or --file" "$?" 2
"$MEMPROF" annotate --function main --file "$src" "$t" >/dev/null 2>&1
check "annotate takes one of them" "$?" 2
"$MEMPROF" annotate --function main --context x "$t" >/dev/null 2>&1
check "bad --context" "$?" 2
"$MEMPROF" functions --sort nope "$t" >/dev/null 2>&1
check "bad --sort" "$?" 2
"$MEMPROF" functions --limit -1 "$t" >/dev/null 2>&1
check "bad --limit" "$?" 2
"$MEMPROF" functions "$work/missing.db" >/dev/null 2>&1
check "missing trace" "$?" 3
"$MEMPROF" annotate --function main "$work/missing.db" >/dev/null 2>&1
check "annotate: missing trace" "$?" 3
printf 'not a trace' >"$work/bad.db"
"$MEMPROF" functions "$work/bad.db" >/dev/null 2>&1
check "not a trace" "$?" 3
check_match "functions --help" "$("$MEMPROF" functions --help)" "^usage: memprof functions"
check_match "annotate --help" "$("$MEMPROF" annotate --help)" "^usage: memprof annotate"

# Several processes: the figures are summed over them, or one's with --pid.
k=$work/forks.db
"$MEMPROF" run -q -o "$k" "$FIXTURES/forks" >/dev/null 2>&1
f=$("$MEMPROF" functions --format csv --limit 0 "$k")
check "forks: main's total is every process's" "$(fig "$f" main | cut -d, -f4-6)" \
	"$(sql "$k" "SELECT sum(allocations), sum(allocated_bytes), sum(leaked_bytes) FROM processes")"
spawned=$(sql "$k" "SELECT pid FROM processes WHERE origin = 'spawn'")
check "forks: --pid" "$(fig "$("$MEMPROF" functions --format csv --pid "$spawned" "$k")" main | cut -d, -f4-6)" \
	"$(sql "$k" "SELECT allocations, allocated_bytes, leaked_bytes FROM processes WHERE origin = 'spawn'")"

# --- inlined functions are functions of their own -------------------------------
i=$work/inlined.db
"$MEMPROF" run -q -o "$i" "$FIXTURES/inlined"
f=$("$MEMPROF" functions --format csv --limit 0 "$i")
check "inlined: make_block allocates" "$(fig "$f" make_block)" "7,700,600,7,700,600"
check "inlined: builder, into which it is inlined" "$(fig "$f" builder)" "0,0,0,7,700,600"
check "inlined: main" "$(fig "$f" main)" "0,0,0,7,700,600"
check "inlined: make_block's caller" \
	"$("$MEMPROF" functions --format csv --callers make_block "$i" | tail -n +2 | cut -d, -f5,8,9,10)" "builder,7,700,600"
a=$("$MEMPROF" annotate --format csv --file inlined.c "$i")
check "inlined: the allocating line" "$(row "$a" "$(line_of inlined.c inlined)")" "make_block,7,700,600,7,700,600"
check "inlined: the line calling it" "$(row "$a" "$(line_of inlined.c builder)")" "builder,0,0,0,7,700,600"
check "inlined: main's line" "$(row "$a" "$(line_of inlined.c main)")" "main,0,0,0,7,700,600"
finish
