#!/bin/bash
# The bash completion script (cli/completion/memprof): its commands are
# the table's, each command's options are the ones its --help lists, the
# --format/--by/--sort values are the ones the command takes, and
# completions driven through COMP_WORDS/COMP_CWORD give exact results.
. "${top_srcdir:-.}/tests/integration/lib.sh"
script=$top_srcdir/cli/completion/memprof

# complete WORD...: what the script offers for the last WORD (the one under
# the cursor), sorted, one per line; run in a clean bash from $work/files.
# With BASH_COMPLETION set, bash-completion is loaded first.
complete_words() {
	(
		cd "$work/files" || exit 1
		env -i PATH="$PATH" HOME="$work" BASH_COMPLETION="${BASH_COMPLETION:-}" \
			bash --norc --noprofile -c '
			[ -n "$BASH_COMPLETION" ] && . "$BASH_COMPLETION"
			. "$0"
			COMP_WORDS=("$@")
			COMP_CWORD=$(($# - 1))
			COMP_LINE="$*"
			COMP_POINT=${#COMP_LINE}
			_memprof
			printf "%s\n" "${COMPREPLY[@]}"' "$script" "$@" 2>"$work/err" | sed '/^$/d' | sort -u
	)
}
words() { printf '%s\n' "$@" | sort -u; }
flat() { tr '\n' ' ' | sed 's/ $//'; }

mkdir -p "$work/files/sub" "$work/files/src"
: >"$work/files/a.db"
: >"$work/files/b.db"
: >"$work/files/chart.svg"
: >"$work/files/notes.txt"

bash -n "$script"
check "the script parses" "$?" 0
check "loaded alone: completes memprof" \
	"$(bash --norc --noprofile -c '. "$0"; complete -p memprof' "$script")" "complete -F _memprof memprof"

# Commands: those of cli/memprof.c's table, and help.
commands=$(table_commands | sort)
check_match "the table has commands" "$(echo "$commands" | wc -l)" '^ *[1-9][0-9]+$'
check "commands: the table's (add a new one to _memprof_commands)" \
	"$(complete_words memprof '' | flat)" "$(words $commands help | flat)"
check "memprof su" "$(complete_words memprof su | flat)" "summary"
check "memprof help to" "$(complete_words memprof help to | flat)" "top"
check "memprof --v" "$(complete_words memprof --v | flat)" "--version"

# Every command's long options are those of its --help (--help too).
for cmd in $commands; do
	check "$cmd: options as its --help lists them" \
		"$(complete_words memprof "$cmd" -- | flat)" "$( (help_long_options "$cmd"; echo --help) | sort -u | flat)"
done
check "top --by-" "$(complete_words memprof top --by- | flat)" "--by-bytes --by-count --by-leaked --by-peak --by-temporary"
check "run --max-" "$(complete_words memprof run --max- | flat)" "--max-allocations --max-depth --max-increase --max-leaked --max-peak"

# Values: --format and --by as the usage line spells them (A|B|C).
usage_values() { # usage_values CMD OPTION: the first "OPTION a|b|c" of its --help
	"$MEMPROF" "$1" --help | grep -oE -- "$2 [a-z-]+(\|[a-z-]+)+" | head -n 1 | cut -d' ' -f2 | tr '|' '\n' | sort -u | flat
}
for cmd in $commands; do
	for opt in --format --by; do
		v=$(usage_values "$cmd" "$opt")
		[ -n "$v" ] || continue
		check "$cmd $opt: the values of its usage" "$(complete_words memprof "$cmd" "$opt" '' | flat)" "$v"
	done
done
check "export --format: the export formats" "$(complete_words memprof export --format '' | flat)" \
	"folded massif pprof speedscope"
check "top --format=j (split at =)" "$(complete_words memprof top --format = j | flat)" "json"
check "flamegraph --by=<TAB>" "$(complete_words memprof flamegraph --by = | flat)" \
	"bytes count leaked peak temporary"
sorts=$(complete_words memprof functions --sort '' | flat)
check "functions --sort" "$sorts" "leaked self-bytes self-count total-bytes total-count total-leaked"
help=$("$MEMPROF" functions --help)
for s in $sorts; do
	check_match "functions --sort $s: in its --help" "$help" "(^|[ ,])$s([ ,;]|$)"
done
check "--pid takes a number: nothing offered" "$(complete_words memprof summary --pid '' | flat)" ""

# Files: traces (*.db and directories) where a trace goes.
check "top: traces" "$(complete_words memprof top '' | flat)" "a.db b.db src sub"
check "top -n 5: traces after an option's value" "$(complete_words memprof top -n 5 '' | flat)" "a.db b.db src sub"
check "top --format=csv: traces after --opt=value" \
	"$(complete_words memprof top --format = csv '' | flat)" "a.db b.db src sub"
check "diff: the second trace" "$(complete_words memprof diff a.db '' | flat)" "a.db b.db src sub"
check "diff a: one trace" "$(complete_words memprof diff a | flat)" "a.db"
check "check --baseline" "$(complete_words memprof check --baseline '' | flat)" "a.db b.db src sub"
check "sql: the trace" "$(complete_words memprof sql --format csv '' | flat)" "a.db b.db src sub"
check "sql: no completion in the SQL" "$(complete_words memprof sql a.db '' | flat)" ""
check "run -o: a trace" "$(complete_words memprof run -o '' | flat)" "a.db b.db src sub"
check "timeline -o: an SVG" "$(complete_words memprof timeline -o '' | flat)" "chart.svg src sub"
check "flamegraph --output: an SVG" "$(complete_words memprof flamegraph --output '' | flat)" "chart.svg src sub"
check "export -o: any file" "$(complete_words memprof export -o '' | flat)" "a.db b.db chart.svg notes.txt src sub"
check "annotate --source-dir: directories" "$(complete_words memprof annotate --source-dir '' | flat)" "src sub"

# memprof run: options, then PROGRAM (a command), then PROGRAM's arguments.
check "run --q" "$(complete_words memprof run --q | flat)" "--quiet"
check_match "run -- tru: commands" "$(complete_words memprof run -- tru | flat)" "(^| )true( |$)"
check_match "run tru: commands" "$(complete_words memprof run -q tru | flat)" "(^| )true( |$)"
check_match "run --max-depth 4 tru: commands" "$(complete_words memprof run --max-depth 4 tru | flat)" "(^| )true( |$)"
check "run -- cat: PROGRAM's arguments are files" "$(complete_words memprof run -- cat n | flat)" "notes.txt"
check "run cat --: PROGRAM's options are not memprof's" "$(complete_words memprof run cat --qu | flat)" ""
check "nothing on stderr" "$(cat "$work/err")" ""

# With bash-completion loaded, PROGRAM's arguments are completed as
# PROGRAM's own (ls's long options here).
bc=/usr/share/bash-completion/bash_completion
if [ -r "$bc" ]; then
	check_match "bash-completion: run -- ls --al" "$(BASH_COMPLETION=$bc complete_words memprof run -q -- ls --al | flat)" \
		"(^| )--all( |$)"
	check "bash-completion: top traces" "$(BASH_COMPLETION=$bc complete_words memprof top '' | flat)" "a.db b.db src sub"
	check "bash-completion: run -- tru" \
		"$(BASH_COMPLETION=$bc complete_words memprof run -- tru | grep -x true)" "true"
else
	echo "completion: bash-completion not installed, completing PROGRAM's arguments through it not checked"
fi
finish
