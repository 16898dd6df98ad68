#!/bin/sh
# make install and make uninstall of the built tree, into a DESTDIR and
# into another prefix: exactly the expected files (the command, the
# libraries, the schema, a man page per command, the bash completion),
# the installed memprof records and reads a trace, bash-completion and
# man find what was installed, and uninstall leaves no file behind.
. "${top_srcdir:-.}/tests/integration/lib.sh"
: "${MAKE:=make}" "${top_builddir:?set by make check}" "${inst_prefix:?set by make check}"

# mk ARGS...: make in the build tree, as a separate run (not a job of the
# make check that runs this test).
mk() {
	(cd "$top_builddir" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES $MAKE "$@") \
		>"$work/make.log" 2>&1
	rc=$?
	[ $rc -eq 0 ] || tail -n 20 "$work/make.log"
	return $rc
}

# expected BASE [DROP]: the files an install puts under BASE (a DESTDIR;
# or a prefix given to make, in place of DROP, the configured one), sorted.
expected() {
	{
		echo "$inst_bindir/memprof"
		echo "$inst_libdir/libmemprof.so"
		echo "$inst_libdir/libmemprof.la"
		echo "$inst_pkglibdir/memprof_sqlite.so"
		echo "$inst_pkglibdir/memprof_sqlite.la"
		echo "$inst_pkgdatadir/memprof.sql"
		echo "$inst_pkgdatadir/README.md"
		echo "$inst_man1dir/memprof.1"
		for cmd in $(table_commands); do
			echo "$inst_man1dir/memprof-$cmd.1"
		done
		[ -n "$inst_bashcompletiondir" ] && echo "$inst_bashcompletiondir/memprof"
		# Being added: the public header and the pkg-config file, expected
		# when Makefile.am installs them (or when they are there).
		h=$inst_includedir/memprof.h
		if grep -q '^[a-z_]*include_HEADERS.*memprof\.h' "$top_srcdir/Makefile.am" || [ -e "$1${h#${2:-}}" ]; then
			echo "$h"
		fi
		pc=$inst_libdir/pkgconfig/memprof.pc
		if grep -q '^[a-z_]*pkgconfig_DATA.*memprof\.pc' "$top_srcdir/Makefile.am" || [ -e "$1${pc#${2:-}}" ]; then
			echo "$pc"
		fi
	} | while read -r f; do echo "$1${f#${2:-}}"; done | sort
}
# check_files WHAT ACTUAL EXPECTED: two file lists, the differences told
check_files() {
	if [ "$2" = "$3" ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL: $1:"
		printf '%s\n' "$2" >"$work/actual"
		printf '%s\n' "$3" >"$work/expected"
		comm -13 "$work/actual" "$work/expected" | sed '/^$/d; s/^/  missing: /'
		comm -23 "$work/actual" "$work/expected" | sed '/^$/d; s/^/  not expected (add it to tests\/integration\/install.sh): /'
	fi
}
installed() { (cd "$1" && find . -type f -o -type l) | sed "s|^\.|$1|" | sort; }

dest=$work/dest
root=$dest$inst_prefix
mk install DESTDIR="$dest"
check "make install DESTDIR: exit code" "$?" 0
check_files "make install DESTDIR: the files" "$(installed "$dest")" "$(expected "$dest")"
# Whether every directory is under the prefix (configure may put some
# elsewhere: --libdir=/usr/lib/..., a bash-completion outside it).
under_prefix=yes
for d in "$inst_bindir" "$inst_libdir" "$inst_pkglibdir" "$inst_pkgdatadir" "$inst_man1dir" \
	${inst_bashcompletiondir:+"$inst_bashcompletiondir"}; do
	case $d in "$inst_prefix"/*) ;; *) under_prefix=no ;; esac
done
test -x "$dest$inst_bindir/memprof"
check "memprof is executable" "$?" 0
for page in "$dest$inst_man1dir"/*.1; do
	cmp -s "$page" "$top_srcdir/cli/man/$(basename "$page")"
	check "$(basename "$page") installed as written" "$?" 0
done
if [ -n "$inst_bashcompletiondir" ]; then
	cmp -s "$dest$inst_bashcompletiondir/memprof" "$top_srcdir/cli/completion/memprof"
	check "completion installed as written" "$?" 0
fi
pc=$dest$inst_libdir/pkgconfig/memprof.pc
if [ -f "$pc" ]; then
	check "memprof.pc: its version" "$(PKG_CONFIG_PATH="${pc%/*}" pkg-config --modversion memprof)" \
		"$("$MEMPROF" --version | cut -d' ' -f2)"
fi
if [ -f "$dest$inst_includedir/memprof.h" ]; then
	printf '#include <memprof.h>\nint main(void) { return 0; }\n' >"$work/h.c"
	${CC:-cc} -fsyntax-only -I"$dest$inst_includedir" "$work/h.c"
	check "memprof.h compiles" "$?" 0
fi

# The installed command, with the installed library, records the fixture.
m=$dest$inst_bindir/memprof
check "installed memprof --version" "$("$m" --version)" "$("$MEMPROF" --version)"
MEMPROF_LIB=$dest$inst_libdir/libmemprof.so "$m" run -q -o "$work/run.db" "$FIXTURES/acceptance"
check "installed memprof run: the program's status" "$?" 3
s=$("$m" summary --format json "$work/run.db")
for kv in '"allocations": 1025' '"frees": 1021' '"peak_bytes": 1031232' '"leaked_bytes": 14848'; do
	check_match "installed memprof summary: $kv" "$s" "$kv"
done
check "installed memprof sql: rows" "$("$m" sql --format csv "$work/run.db" 'SELECT count(*) FROM allocations' | tail -n 1)" 1025
# Without the wrapper: the installed library starts the installed command
# as its collector.
env -u MEMPROF_LIB LD_PRELOAD="$dest$inst_libdir/libmemprof.so" MEMPROF_OUTPUT="$work/preload.db" \
	MEMPROF_BIN="$m" "$FIXTURES/acceptance"
check "preloaded: the program's status" "$?" 3
check "preloaded: allocations, leaked" \
	"$("$m" sql --format csv "$work/preload.db" 'SELECT allocations, leaked_bytes FROM processes' | tail -n 1)" "1025,14848"
if command -v sqlite3 >/dev/null; then
	check "the installed sqlite extension" \
		"$(sqlite3 "$work/run.db" ".load $dest$inst_pkglibdir/memprof_sqlite" 'SELECT count(*), sum(size) FROM allocations WHERE free_time_ns IS NULL')" \
		"4|14848"
else
	echo "install: sqlite3 not installed, the extension not loaded"
fi

# What a user's tools find there: man(1) the pages, bash-completion the
# script (it looks in \$XDG_DATA_DIRS/bash-completion/completions).
if command -v man >/dev/null; then
	check "man -w memprof-top" "$(MANPATH="$root/share/man" man -w memprof-top 2>&1)" "$dest$inst_man1dir/memprof-top.1"
else
	echo "install: man-db not installed, man -w not checked"
fi
bc=/usr/share/bash-completion/bash_completion
case $inst_bashcompletiondir in
*/bash-completion/completions)
	if [ -r "$bc" ]; then
		check "bash-completion loads it" "$(env -i PATH="$PATH" HOME="$work" \
			XDG_DATA_DIRS="${dest}${inst_bashcompletiondir%/bash-completion/completions}" \
			bash --norc --noprofile -c '. "$0" && __load_completion memprof && complete -p memprof' "$bc" 2>&1)" \
			"complete -F _memprof memprof"
	else
		echo "install: bash-completion not installed, its loading not checked"
	fi
	;;
esac

mk uninstall DESTDIR="$dest"
check "make uninstall DESTDIR: exit code" "$?" 0
check_files "make uninstall DESTDIR: no file left" "$(installed "$dest")" ""
for d in "$inst_pkglibdir" "$inst_pkgdatadir"; do
	check "make uninstall: $d removed" "$(test -e "$dest$d" && echo present)" ""
done

# Another prefix given to make, without DESTDIR.
if [ $under_prefix = yes ]; then
	prefix=$work/prefix
	mk install prefix="$prefix"
	check "make install prefix=: exit code" "$?" 0
	check_files "make install prefix=: the files" "$(installed "$prefix")" \
		"$(expected "$prefix" "$inst_prefix")"
	mk uninstall prefix="$prefix"
	check "make uninstall prefix=: exit code" "$?" 0
	check_files "make uninstall prefix=: no file left" "$(installed "$prefix")" ""
else
	echo "install: some directories are outside the prefix $inst_prefix, install with another prefix not checked"
fi
finish
