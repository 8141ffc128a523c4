#!/usr/bin/env bash
# Runs the suites again and again, to catch what fails only sometimes.
#
#   tests/repeat.sh [--stress] RUNS RUNNER...
#
# Each run is tests/run-suites.sh RUNNER...; the first run that fails stops
# the loop, and what its failed tests printed (TAP "not ok" and the comment
# lines after it) is shown again at the end. With --stress, stress-ng keeps
# every core busy meanwhile (installed with apt-get when missing and root).
set -u
cd "$(dirname "$0")/.."
stress=0
if [ "${1:-}" = --stress ]; then stress=1; shift; fi
runs=${1:?usage: tests/repeat.sh [--stress] RUNS RUNNER...}
shift
if ! [[ $runs =~ ^[1-9][0-9]*$ ]]; then
	echo "repeat: RUNS must be a positive whole number, not '$runs'" >&2
	exit 2
fi
log=$(mktemp)
stress_pid=
finish() {
	if [ -n "$stress_pid" ]; then
		kill "$stress_pid" 2>/dev/null
		wait "$stress_pid" 2>/dev/null
	fi
	rm -f "$log"
}
trap finish EXIT
trap 'exit 130' INT TERM

if [ $stress -eq 1 ]; then
	if ! command -v stress-ng >/dev/null; then
		if [ "$(id -u)" -eq 0 ]; then
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q stress-ng >/dev/null ||
				{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q stress-ng >/dev/null; }
		fi
		command -v stress-ng >/dev/null || { echo "repeat: stress-ng is not installed" >&2; exit 2; }
	fi
	cores=$(nproc)
	# Bounded: it stops by itself after a day even if this script is killed.
	stress-ng --cpu "$cores" --timeout 86400 --quiet &
	stress_pid=$!
	echo "== stress-ng --cpu $cores (pid $stress_pid) keeps every core busy"
fi

start=$SECONDS
for ((run = 1; run <= runs; run++)); do
	echo "== run $run of $runs"
	tests/run-suites.sh "$@" >"$log" 2>&1
	rc=$?
	tail -n 1 "$log"
	if [ $rc -ne 0 ]; then
		echo "== run $run of $runs failed after $((SECONDS - start)) s; what failed:"
		# A failed test's line, then its comment lines, up to the next test.
		awk '/^not ok /{show=1; print; next} /^(ok |[0-9]+ passed)/{show=0} show' "$log"
		exit 1
	fi
done
echo "== $runs of $runs runs passed in $((SECONDS - start)) s"
