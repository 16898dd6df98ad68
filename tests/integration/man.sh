#!/bin/sh
# The man pages (cli/man): one per command of cli/memprof.c's table and
# none for a command that is not there, each installed (Makefile.am) and
# listed in memprof(1); each renders without a warning and documents every
# long option its command's --help names; memprof(1) documents every
# MEMPROF_* variable that lib/ and cli/ read.
. "${top_srcdir:-.}/tests/integration/lib.sh"
man=$top_srcdir/cli/man
commands=$(table_commands)
check_match "the table has commands" "$(echo "$commands" | wc -l)" '^ *[1-9][0-9]+$'
check "the table is what --help lists" "$(echo "$commands" | tr '\n' ' ')" \
	"$("$MEMPROF" --help | sed -n 's/^   \([a-z][a-z0-9-]*\) .*/\1/p' | tr '\n' ' ')"

# render PAGE: the page as plain text (groff), else its source without the
# roff (no groff: the options are still looked for).
render() {
	if [ -n "$groff" ]; then
		groff -man -Tascii -P-c -P-b -P-u -ww "$1"
	else
		sed -e '/^\.\\"/d' -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\&//g' \
			-e 's/^\.SH "*\([^"]*\)"*$/\1/' -e 's/^\.[A-Za-z]* / /' "$1"
	fi
}
groff=$(command -v groff)
[ -n "$groff" ] || echo "man: groff not installed (groff-base), pages not rendered: their warnings not checked"

# documents PAGE_TEXT OPTION...: each option appears as a word in the text
documents() {
	text=$1
	shift
	for o; do
		printf '%s\n' "$text" | grep -Eq -- "(^|[^[:alnum:]-])$o([^[:alnum:]-]|$)"
		check "$page documents $o" "$?" 0
	done
}

for cmd in "" $commands; do
	page=memprof${cmd:+-$cmd}.1
	if [ ! -f "$man/$page" ]; then
		check "$page exists (cli/man: a page per command of cli/memprof.c)" missing present
		continue
	fi
	check "$page is installed (dist_man1_MANS in Makefile.am)" \
		"$(grep -c "cli/man/$page\( \|\$\)" "$top_srcdir/Makefile.am")" 1
	check "$page: its .TH" "$(sed -n 's/^\.TH \([^ ]*\) 1 .*/\1/p' "$man/$page")" \
		"$(printf 'MEMPROF%s' "${cmd:+\\-$cmd}" | tr a-z A-Z)"
	check "$page: its NAME" "$(sed -n '/^\.SH NAME/{n;p;}' "$man/$page" | grep -c "^memprof${cmd:+\\\\-$cmd} \\\\- ")" 1
	for section in SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES "SEE ALSO"; do
		check "$page: section $section" "$(grep -c "^\.SH \"*$section\"*\$" "$man/$page")" 1
	done
	if [ -n "$groff" ]; then
		groff -man -ww -z "$man/$page" 2>"$work/warnings"
		check "$page renders" "$?" 0
		check "$page: no groff warning" "$(cat "$work/warnings")" ""
	fi
	text=$(render "$man/$page" 2>"$work/warnings")
	check "$page: rendered, no warning" "$(cat "$work/warnings")" ""
	# A command's options are documented in its OPTIONS section.
	[ -n "$cmd" ] && text=$(printf '%s\n' "$text" | sed -n '/^OPTIONS$/,/^[A-Z][A-Z ]*$/p')
	documents "$text" $(help_long_options $cmd)
	# The options the page lists (its .TP tags) are the command's.
	opts=$(awk '/^\.SH /{o = ($0 ~ /OPTIONS/)} o && t {print} {t = ($0 == ".TP")}' "$man/$page" |
		sed 's/\\-/-/g' | grep -oE -- '(^|[^[:alnum:]-])--[a-z][a-z0-9-]*' | sed 's/^[^-]*//' | sort -u)
	for o in $opts; do
		help_long_options $cmd | grep -qx -- "$o"
		check "$page: $o is an option of 'memprof${cmd:+ $cmd} --help'" "$?" 0
	done
	if [ -n "$cmd" ]; then
		check "memprof.1 lists $cmd" "$(sed -n '/^\.SH COMMANDS/,/^\.SH [^C]/p' "$man/memprof.1" | grep -c "^\.B $cmd\$")" 1
		check "memprof.1 refers to $page" "$(grep -c "^\.BR memprof\\\\-$cmd (1)" "$man/memprof.1")" 2
	fi
done

# No page for a command that is not in the table.
for f in "$man"/memprof-*.1; do
	cmd=$(basename "$f" .1 | sed 's/^memprof-//')
	echo "$commands" | grep -qx -- "$cmd"
	check "$(basename "$f") names a command of cli/memprof.c" "$?" 0
done

# memprof(1) documents every MEMPROF_* variable that the code reads.
vars=$(grep -ho 'getenv("MEMPROF_[A-Z_]*")' "$top_srcdir"/lib/*.c "$top_srcdir"/cli/*.c | sed 's/getenv("\(.*\)")/\1/' | sort -u)
check_match "variables found" "$vars" MEMPROF_OUTPUT
page=memprof.1
documents "$(render "$man/memprof.1" 2>/dev/null | sed -n '/^ENVIRONMENT/,/^EXIT STATUS/p')" $vars

# man(1) finds and formats a page as a user would read it.
if command -v man >/dev/null && [ -n "$groff" ]; then
	MANWIDTH=80 man -l "$man/memprof-top.1" 2>"$work/warnings" | grep -q 'memprof-top - the top allocation sites'
	check "man -l memprof-top.1" "$?" 0
	check "man -l: no warning" "$(cat "$work/warnings")" ""
else
	echo "man: man-db not installed, 'man -l' not checked"
fi
finish
