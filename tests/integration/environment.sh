#!/bin/sh
# diff and check --baseline warn, in one line on stderr, when the two
# traces were recorded in different environments (meta env_*).
. "${top_srcdir:-.}/tests/integration/lib.sh"
g=$work/glibc.db
g2=$work/glibc2.db
"$MEMPROF" run -q -o "$g" "$FIXTURES/acceptance"
"$MEMPROF" run -q -o "$g2" "$FIXTURES/acceptance"

# The same environment: no warning.
check "same environment: diff says nothing" "$("$MEMPROF" diff "$g" "$g2" 2>&1 >/dev/null)" ""
check "same environment: check says nothing" \
	"$("$MEMPROF" check --baseline "$g" --max-increase 0 "$g2" 2>&1 >/dev/null)" ""

# Another machine: what differs is named, in the order of summary's
# "recorded:" line, values as recorded.
o=$work/other.db
cp "$g" "$o"
sqlite3 "$o" "UPDATE meta SET value = 'Other CPU 9000' WHERE key = 'env_cpu';
	UPDATE meta SET value = '64' WHERE key = 'env_cpus';
	UPDATE meta SET value = 'MALLOC_ARENA_MAX=2' WHERE key = 'env_allocator_settings'"
cpu=$(sql "$g" "SELECT value FROM meta WHERE key = 'env_cpu'")
cpus=$(sql "$g" "SELECT value FROM meta WHERE key = 'env_cpus'")
want="memprof: warning: '$g' and '$o' were recorded in different environments: cpu ($cpu vs Other CPU 9000), cpus ($cpus vs 64), allocator settings (none vs MALLOC_ARENA_MAX=2)"
err=$("$MEMPROF" diff "$g" "$o" 2>&1 >/dev/null)
check "diff: warning" "$err" "$want"
"$MEMPROF" diff "$g" "$o" >/dev/null 2>&1
check "diff: still exits 0" "$?" 0
check "diff: the diff is still printed" "$("$MEMPROF" diff "$g" "$o" 2>/dev/null | tail -n 1)" "no change in 4 sites"
check "diff json: stdout stays JSON" "$("$MEMPROF" diff --format json "$g" "$o" 2>/dev/null | head -c 1)" "{"
# check: the baseline is named first.
err=$("$MEMPROF" check --baseline "$o" --max-increase 0 "$g" 2>&1 >/dev/null)
check_match "check --baseline: warning" "$err" \
	"^memprof: warning: '$o' and '$g' were recorded in different environments: cpu \(Other CPU 9000 vs .*\), cpus \(64 vs $cpus\), allocator settings \(MALLOC_ARENA_MAX=2 vs none\)\$"
"$MEMPROF" check --baseline "$o" --max-increase 0 "$g" >/dev/null 2>&1
check "check --baseline: verdict unchanged (0)" "$?" 0
check "check without --baseline: nothing" "$("$MEMPROF" check --max-peak 2M "$o" 2>&1 >/dev/null)" ""

# A hostile value is printed without its control characters.
cp "$g" "$work/ctl.db"
sqlite3 "$work/ctl.db" "UPDATE meta SET value = 'evil' || char(27) || '[2J' WHERE key = 'env_host'"
check_match "control characters replaced" "$("$MEMPROF" diff "$g" "$work/ctl.db" 2>&1 >/dev/null)" "host \(.* vs evil\?\[2J\)\$"

# A trace without the environment (from an older memprof): nothing is
# compared, nothing said, and both commands work as before.
old=$work/old.db
cp "$g" "$old"
sqlite3 "$old" "DELETE FROM meta WHERE key LIKE 'env_%'"
check "old trace: no env keys" "$(sql "$old" "SELECT count(*) FROM meta WHERE key LIKE 'env_%'")" 0
check "old trace: diff says nothing" "$("$MEMPROF" diff "$old" "$o" 2>&1 >/dev/null)" ""
"$MEMPROF" diff "$old" "$o" >/dev/null 2>&1
check "old trace: diff exits 0" "$?" 0
check "old trace: check says nothing" "$("$MEMPROF" check --baseline "$old" --max-increase 0 "$o" 2>&1 >/dev/null)" ""
"$MEMPROF" check --baseline "$o" --max-increase 0 "$old" >/dev/null 2>&1
check "old trace: check exits 0" "$?" 0
# Only the keys both have are compared.
cp "$o" "$work/partial.db"
sqlite3 "$work/partial.db" "DELETE FROM meta WHERE key IN ('env_cpu', 'env_allocator_settings')"
check "partial: only cpus compared" "$("$MEMPROF" diff "$g" "$work/partial.db" 2>&1 >/dev/null)" \
	"memprof: warning: '$g' and '$work/partial.db' were recorded in different environments: cpus ($cpus vs 64)"

if ! have_jemalloc; then
	echo "$name: libjemalloc.so.2 not found (Debian's libjemalloc2 package): the jemalloc checks are skipped"
	finish
	exit $?
fi
# The same fixture on jemalloc: the allocator is named, with its version.
j=$work/jemalloc.db
"$MEMPROF" run -q --allocator jemalloc -o "$j" "$FIXTURES/acceptance"
alloc=$(sql "$j" "SELECT value FROM meta WHERE key = 'env_allocator'")
check_match "jemalloc trace" "$alloc" "^jemalloc [0-9]"
check "diff glibc/jemalloc: warning" "$("$MEMPROF" diff "$g" "$j" 2>&1 >/dev/null)" \
	"memprof: warning: '$g' and '$j' were recorded in different environments: allocator (glibc vs $alloc)"
check "check --baseline glibc, jemalloc: warning" \
	"$("$MEMPROF" check --baseline "$g" --max-increase 1000 "$j" 2>&1 >/dev/null)" \
	"memprof: warning: '$g' and '$j' were recorded in different environments: allocator (glibc vs $alloc)"
# run --check --baseline too, after the run's summary line.
err=$("$MEMPROF" run --check --baseline "$g" --max-increase 1000 --allocator jemalloc -o "$work/run.db" "$FIXTURES/acceptance" 2>&1 >/dev/null)
check "run --check: exit is the program's" "$?" 3
check_match "run --check --baseline: warning" "$err" \
	"memprof: warning: '$g' and '$work/run.db' were recorded in different environments: allocator \(glibc vs $alloc\)"
# Settings of the same allocator.
MALLOC_CONF=narenas:1 "$MEMPROF" run -q --allocator jemalloc -o "$work/narenas.db" "$FIXTURES/acceptance"
check "jemalloc settings differ" "$("$MEMPROF" diff "$j" "$work/narenas.db" 2>&1 >/dev/null)" \
	"memprof: warning: '$j' and '$work/narenas.db' were recorded in different environments: allocator settings (none vs MALLOC_CONF=narenas:1)"
finish
