#!/usr/bin/env bash
# deb-smoke.sh — the Debian packages as a user meets them. As root on
# Debian: builds handoff, libhandoff1 and libhandoff-dev from a copy of the
# tree (dpkg-buildpackage), lints them (any lintian error fails), installs
# them, builds examples/httpd against the installed library with nothing but
# pkg-config, runs it under the installed /usr/bin/handoff with load on it,
# reloads RELOADS (5) times, checks the load client saw no failed request,
# then purges the packages and checks they are gone.
#
# Skips (exit 0) where it cannot run: not root, or not Debian. `make
# deb-smoke` runs it; so does CI (.ci/run).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
reloads=${RELOADS:-5}
packages=(handoff libhandoff1 libhandoff-dev)

if [ "$(id -u)" != 0 ]; then
	echo "deb-smoke: skipped: needs root (it installs and purges packages)"
	exit 0
fi
if [ ! -e /etc/debian_version ] || ! command -v apt-get >/dev/null; then
	echo "deb-smoke: skipped: not a Debian system"
	exit 0
fi

started=$(date +%s)
tmp=$(mktemp -d /tmp/deb-smoke.XXXXXX)
sup_pid='' load_pid='' installed=''

# Prints what we saw, then ends what we started and leaves nothing behind:
# our own pids only, the packages only if we installed them.
cleanup() {
	local status=$?
	set +e
	if [ "$status" != 0 ]; then
		echo "deb-smoke: FAILED (exit $status)"
		for f in handoff.log load.out; do
			[ -s "$tmp/$f" ] && { echo "--- $f (last 40 lines)"; tail -n 40 "$tmp/$f"; }
		done
	fi
	[ -n "$load_pid" ] && kill -TERM "$load_pid" 2>/dev/null
	if [ -n "$sup_pid" ] && kill -0 "$sup_pid" 2>/dev/null; then
		# TERM stops it gracefully, a second one kills the generations.
		kill -TERM "$sup_pid"
		wait_for 100 "! kill -0 $sup_pid 2>/dev/null" || kill -TERM "$sup_pid"
		wait_for 100 "! kill -0 $sup_pid 2>/dev/null" || kill -KILL "$sup_pid"
	fi
	wait 2>/dev/null
	if [ -n "$installed" ] && dpkg -s handoff >/dev/null 2>&1; then
		DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "${packages[@]}" >/dev/null
	fi
	rm -rf "$tmp"
	exit "$status"
}
trap cleanup EXIT

fail() {
	echo "deb-smoke: $*" >&2
	exit 1
}

# wait_for TRIES CONDITION: polls CONDITION (a shell command) every 0.1 s,
# at most TRIES times; fails (1) if it never held.
wait_for() {
	local tries=$1 cond=$2
	for ((i = 0; i < tries; i++)); do
		eval "$cond" && return 0
		sleep 0.1
	done
	return 1
}

# GET / on the server: "generation=N pid=P" (bash's /dev/tcp, no client
# needed). Empty if nothing answers.
get() (
	exec 2>/dev/null
	exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 0
	printf 'GET / HTTP/1.0\r\nHost: x\r\n\r\n' >&3 || exit 0
	timeout 5 cat <&3 | tr -d '\r' | tail -n 1 || true
)

echo "== build dependencies"
needed=(build-essential debhelper dpkg-dev lintian pkg-config python3)
missing=()
for p in "${needed[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Installed already, they are someone's: the purge at the end would remove
# them.
for p in "${packages[@]}"; do
	! dpkg -s "$p" >/dev/null 2>&1 || fail "$p is installed already; purge it first"
done

echo "== dpkg-buildpackage, in a copy of the tree"
# The files git knows (committed or not, minus what .gitignore ignores),
# so that the working tree gets no build/ or debian/ output, and the
# .debs land in $tmp, the copy's parent.
mkdir "$tmp/src"
if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$repo" && git ls-files -z -c -o --exclude-standard |
		while IFS= read -r -d '' f; do
			[ -e "$f" ] && printf '%s\0' "$f"  # not deleted since
		done | tar --null -T - -cf -) | tar -x -C "$tmp/src"
else
	tar -C "$repo" --exclude=./build --exclude=./.git -cf - . | tar -x -C "$tmp/src"
fi
if ! (cd "$tmp/src" && dpkg-buildpackage -us -uc -b) >"$tmp/build.log" 2>&1; then
	tail -n 40 "$tmp/build.log"
	fail "dpkg-buildpackage failed"
fi
grep -E '^dpkg-deb: building package' "$tmp/build.log"
debs=()
for p in "${packages[@]}"; do
	deb=$(ls "$tmp/${p}_"*.deb 2>/dev/null) || fail "no .deb for $p"
	debs+=("$deb")
done

echo "== lintian"
lintian_out=$(lintian "$tmp"/*.changes 2>&1) || true
echo "${lintian_out:-(nothing to say)}"
! grep -q '^E: ' <<<"$lintian_out" || fail "lintian reports errors"

echo "== install"
libdir=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)
installed=1
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${debs[@]}" >/dev/null ||
	fail "apt-get install of the .debs failed"
/usr/bin/handoff --version

echo "== httpd against the installed library, the load client"
# examples/httpd includes "handoff.h": with no -I of the tree, it is
# /usr/include's, and pkg-config alone says how to link.
# shellcheck disable=SC2046 # pkg-config's words are meant to split
cc -std=c17 -D_GNU_SOURCE -O2 -o "$tmp/httpd" "$tmp"/src/examples/httpd/*.c \
	$(pkg-config --cflags --libs handoff) ||
	fail "examples/httpd does not build against the installed library"
# /lib is /usr/lib where /usr is merged: compared as real paths.
lib=$(ldd "$tmp/httpd" | awk '$1 == "libhandoff.so.1" { print $3 }')
if [ -z "$lib" ] || [ "$(readlink -f "$lib")" != "$(readlink -f "$libdir/libhandoff.so.1")" ]; then
	fail "httpd links '$lib', not the installed $libdir/libhandoff.so.1"
fi
echo "httpd links $lib"
make -s -C "$tmp/src" build/loadgen >/dev/null || fail "make build/loadgen failed"

echo "== handoff run, $reloads reloads under load"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
pidfile=$tmp/handoff.pid
/usr/bin/handoff run --pidfile "$pidfile" --log "$tmp/handoff.log" -l "127.0.0.1:$port" -- \
	"$tmp/httpd" --listen "127.0.0.1:$port" &
sup_pid=$!
wait_for 200 "grep -q 'ok: generation 1 (pid' '$tmp/handoff.log' 2>/dev/null" ||
	fail "the first generation is not ready after 20 s"
[[ $(get) == generation=1* ]] || fail "generation 1 does not answer: '$(get)'"

"$tmp/src/build/loadgen" --target "127.0.0.1:$port" --keepalive 8 --fresh 2 >"$tmp/load.out" 2>&1 &
load_pid=$!
for ((n = 2; n <= reloads + 1; n++)); do
	out=$(/usr/bin/handoff reload --pidfile "$pidfile" 2>&1) || fail "reload $((n - 1)): $out"
	[[ $out == "ok generation $n "* ]] || fail "reload $((n - 1)) said: $out"
	echo "$out"
	# The old generation drains while the new one serves: wait until it
	# has exited, so that every reload counts a full hand-over.
	wait_for 300 "[ \$(grep -c 'exited with status 0 after draining' '$tmp/handoff.log') -ge $((n - 1)) ]" ||
		fail "generation $((n - 1)) did not drain within 30 s"
	[[ $(get) == generation=$n* ]] || fail "generation $n does not answer: '$(get)'"
done

kill -TERM "$load_pid"
wait "$load_pid" || fail "loadgen exited $?"
load_pid=''
grep -E '^(requests|ok|failed)=' "$tmp/load.out" | paste -sd ' '
grep -qx 'failed=0' "$tmp/load.out" || fail "requests failed during the reloads"
grep -qx 'ok=0' "$tmp/load.out" && fail "the load client got no answer at all"

# Stopped by its pid, as an init system would: TERM is a graceful stop,
# and it exits 0 once every generation is gone.
kill -TERM "$sup_pid"
wait_for 300 "! kill -0 $sup_pid 2>/dev/null" || fail "the supervisor did not stop within 30 s"
wait "$sup_pid" || fail "the supervisor exited $?"
sup_pid=''
[ ! -e "$pidfile" ] || fail "the supervisor left its pid file"

echo "== purge"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "${packages[@]}" >/dev/null
installed=''
for f in /usr/bin/handoff /usr/include/handoff.h \
	"$libdir/libhandoff.so.1"; do
	[ ! -e "$f" ] || fail "$f is still there after the purge"
done

echo "deb-smoke: ok: $reloads reloads under load, failed=0, in $(($(date +%s) - started)) s"
