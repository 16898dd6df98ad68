#!/bin/sh
# memprof export --format speedscope, opened by speedscope itself in
# headless Chromium: the profile loads (its name in the title and the
# toolbar) and speedscope's sandwich view lists the fixture's functions
# with their bytes.
#
# speedscope comes from $SPEEDSCOPE_DIR (a directory where `npm install
# speedscope` ran, or its node_modules/speedscope, or the built
# dist/release); without it the test runs `npm install speedscope` in its
# own temporary directory. Skips when chromium, python3, or speedscope
# (npm or the network missing) is not there.
. "${top_srcdir:-.}/tests/integration/lib.sh"
. "$top_srcdir/tests/browser/lib.sh"
need_chromium
command -v python3 >/dev/null || skip "python3 not installed (it serves the files)"

# The built speedscope app: the directory with index.html.
find_release() {
	for d in "$1" "$1/dist/release" "$1/node_modules/speedscope/dist/release"; do
		[ -f "$d/index.html" ] && ls "$d"/speedscope-*.js >/dev/null 2>&1 && { echo "$d"; return; }
	done
}
if [ -n "${SPEEDSCOPE_DIR:-}" ]; then
	release=$(find_release "$SPEEDSCOPE_DIR")
	[ -n "$release" ] || skip "no built speedscope under SPEEDSCOPE_DIR=$SPEEDSCOPE_DIR"
else
	command -v npm >/dev/null || skip "npm not installed and SPEEDSCOPE_DIR not set"
	if ! timeout 300 npm install --prefix "$work/npm" --no-audit --no-fund --no-save --fetch-retries=1 speedscope \
		>"$work/npm.log" 2>&1; then
		skip "npm install speedscope failed (no network?): $(grep -m 1 . "$work/npm.log")"
	fi
	release=$(find_release "$work/npm")
	[ -n "$release" ] || skip "npm installed no built speedscope"
fi
echo "$name: speedscope $(cat "$release/release.txt" 2>/dev/null | head -n 1) from $release"

t=$work/trace.db
"$MEMPROF" run -q -o "$t" "$FIXTURES/acceptance"
mkdir "$work/www"
cp -R "$release/." "$work/www/"
"$MEMPROF" export --format speedscope -o "$work/www/profile.json" "$t"
check "export: exit code" "$?" 0

# A local server on a port of the system's choosing (speedscope fetches
# the profile, which file:// does not allow).
(cd "$work/www" && exec python3 -u -m http.server --bind 127.0.0.1 0) >"$work/http.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
port=
for _ in $(seq 50); do
	port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$work/http.log")
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || skip "the local HTTP server did not start: $(cat "$work/http.log")"
url="http://127.0.0.1:$port/index.html#profileURL=http://127.0.0.1:$port/profile.json"

chromium --virtual-time-budget=10000 --dump-dom "$url" >"$work/flame.html"
check "chromium: exit code" "$?" 0
check "the profile loaded: its name in the title" "$(grep -o '<title>[^<]*</title>' "$work/flame.html")" \
	"<title>trace.db - speedscope</title>"
check_match "the profile's name in the toolbar" "$(cat "$work/flame.html")" '>trace\.db \(bytes\)<'
check "no import error" "$(grep -ci 'something went wrong\|unrecognized format\|failed to' "$work/flame.html")" 0

# The sandwich view: one row per function with its total and self bytes.
# On a loaded machine (make -j distcheck) the page was once dumped before
# speedscope drew the table: up to 3 tries.
for try in 1 2 3; do
	chromium --virtual-time-budget=10000 --dump-dom "$url&view=sandwich" >"$work/sandwich.html"
	rows=$(sed 's/></>\n</g' "$work/sandwich.html" | grep -o '>[^<]\{2,\}<' | sed 's/^>//; s/<$//' |
		awk '/^Symbol Name$/ {f = 1; next} f' | paste -d '|' - - - | head -n 5)
	[ -n "$rows" ] && break
	echo "$name: try $try: the sandwich table was not drawn yet"
done
check "sandwich: the functions by bytes" "$rows" "1.91 MB (66%)|1.91 MB (66%)|make_temporaries
976.56 KB (33%)|976.56 KB (33%)|hold_blocks
31.98 KB (1.1%)|31.98 KB (1.1%)|grow_chain
14.50 KB (0.49%)|14.50 KB (0.49%)|leak_some
2.91 MB (100%)|0 B (&lt;0.01%)|main"
finish
