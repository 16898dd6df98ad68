# Headless Chromium for the browser tests; sourced after
# tests/integration/lib.sh. $CHROMIUM names the browser (default: chromium,
# Debian's package, found on PATH).
name=browser-$name
CHROMIUM=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}

# skip WHY: the test cannot run here; automake counts exit 77 as SKIP.
skip() {
	echo "$name: SKIP: $1"
	exit 77
}

need_chromium() {
	[ -n "$CHROMIUM" ] && [ -x "$CHROMIUM" ] || skip "chromium not installed (apt-get install -y chromium)"
}

# chromium ARGS... URL: headless, with a fresh profile, no sandbox (root),
# no GPU and no network of its own; stderr (its chatter) into
# $work/chromium.err.
chromium() {
	_profile=$(mktemp -d "$work/profile.XXXXXX")
	timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
		--disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir="$_profile" "$@" 2>>"$work/chromium.err"
}

# png_size FILE: "WIDTHxHEIGHT" from the PNG header ("" if not a PNG).
png_size() {
	[ "$(od -An -tx1 -N8 "$1" | tr -d ' \n')" = 89504e470d0a1a0a ] || return 0
	set -- $(od -An -tu1 -j16 -N8 "$1")
	echo "$(($1 * 16777216 + $2 * 65536 + $3 * 256 + $4))x$(($5 * 16777216 + $6 * 65536 + $7 * 256 + $8))"
}
