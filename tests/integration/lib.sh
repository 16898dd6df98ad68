# Shared by the integration tests: run memprof on fixtures, assert figures.
# Sourced with MEMPROF, MEMPROF_LIB, FIXTURES and top_srcdir set by
# Makefile.am (AM_TESTS_ENVIRONMENT); runnable by hand with those exported.
set -u
: "${MEMPROF:?set by make check}" "${FIXTURES:?set by make check}"
export MEMPROF_LIB
passed=0
failed=0
name=$(basename "$0" .sh)
work=$(mktemp -d "${TMPDIR:-/tmp}/memprof-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT

# check WHAT ACTUAL EXPECTED
check() {
	if [ "$2" = "$3" ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		printf 'FAIL: %s: got [%s], expected [%s]\n' "$1" "$2" "$3"
	fi
}

# check_match WHAT ACTUAL EXTENDED-REGEX: a pattern of several lines asks
# for each of its non-empty lines (grep would take any one of them, and an
# empty one matches anything)
check_match() {
	_ok=1
	_pats=$(printf '%s\n' "$3" | grep -v '^$')
	[ -n "$_pats" ] || _ok=0
	while IFS= read -r _p; do
		printf '%s' "$2" | grep -Eq -- "$_p" || _ok=0
	done <<EOF_PATS
$_pats
EOF_PATS
	if [ "$_ok" = 1 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		printf 'FAIL: %s: [%s] does not match /%s/\n' "$1" "$2" "$3"
	fi
}

# sql TRACE QUERY: the result as CSV without the header line
sql() {
	"$MEMPROF" sql --format csv "$1" "$2" | tail -n +2
}

# line_of FILE MARKER: the line number of the marker comment in a fixture
line_of() {
	grep -n "SITE:$2 " "$top_srcdir/tests/fixtures/$1" | head -n 1 | cut -d: -f1
}

# have_jemalloc: whether the dynamic loader finds libjemalloc.so.2 (Debian's
# libjemalloc2), as memprof run --allocator jemalloc asks it
have_jemalloc() {
	LD_TRACE_LOADED_OBJECTS=1 LD_PRELOAD=libjemalloc.so.2 "$MEMPROF" 2>/dev/null | grep -q 'libjemalloc\.so\.2 => /'
}

# jemalloc_version: the upstream version of Debian's libjemalloc2 ("5.3.0"),
# or nothing without dpkg-query
jemalloc_version() {
	dpkg-query -W -f '${Version}' libjemalloc2 2>/dev/null | sed -e 's/^[0-9]*://' -e 's/-[^-]*$//'
}

# table_commands: the commands of cli/memprof.c's table, hidden ones aside
table_commands() {
	sed -n 's/^[[:space:]]*{"\([a-z][a-z0-9-]*\)", *cmd_[a-z0-9_]*, *".*/\1/p' "$top_srcdir/cli/memprof.c"
}

# help_long_options [COMMAND]: the long options that `memprof [COMMAND] --help`
# names in its usage (the first paragraph) and its option lines (indented,
# starting with -), not those the prose mentions
help_long_options() {
	"$MEMPROF" ${1:+"$1"} --help | awk 'NR == 1 {u = 1} u && /^$/ {u = 0} u || /^[[:space:]]+-/' |
		grep -oE '(^|[^[:alnum:]-])--[a-z][a-z0-9-]*' | sed 's/^[^-]*//' | sort -u
}

finish() {
	echo "$name: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
