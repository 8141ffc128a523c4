#!/usr/bin/env bash
# fuzz/run.sh SECONDS TARGET... — for each target: replay its regression
# inputs (each once), then fuzz for SECONDS on a working copy of its seed
# corpus. New crashes land in build/fuzz/crashes/, logs in build/fuzz/logs/.
# Exits non-zero if any target failed. Runs FUZZ_JOBS targets at once (one
# per core by default: each libFuzzer process uses one), and reports them
# in the order given.
# fuzz/run.sh --found TARGET... — replays each input of fuzz/found/<t>/ on
# the strict build: these are known failures, reported, not yet fixed.
set -uo pipefail
cd "$(dirname "$0")/.."

if [ "$1" = --found ]; then
	shift
	for t in "$@"; do
		for input in fuzz/found/"$t"/*; do
			[ -e "$input" ] || continue
			if build/fuzz/strict/"$t" -runs=1 "$input" >/dev/null 2>&1; then
				echo "fixed:       $input (move it to fuzz/regressions/$t/, drop its KNOWN_BUG)"
			else
				echo "still fails: $input"
			fi
		done
	done
	exit 0
fi

seconds=$1
shift
mkdir -p build/fuzz/crashes build/fuzz/logs

# One target: its report in build/fuzz/logs/<t>.result, its status as ours.
fuzz_one() {
	local t=$1 bin=build/fuzz/$1 log=build/fuzz/logs/$1.log work=build/fuzz/corpus/$1
	local result=build/fuzz/logs/$1.result
	mkdir -p "$work" "fuzz/corpus/$t"
	# Regressions first: one run over each file, no fuzzing.
	local regressions=(fuzz/regressions/"$t"/*)
	if [ -e "${regressions[0]}" ]; then
		if ! "$bin" -runs=1 "${regressions[@]}" >"$log.replay" 2>&1; then
			{ echo "fuzz $t: a regression input fails again (see $log.replay)"
			  tail -n 30 "$log.replay"; } >"$result"
			return 1
		fi
	fi
	# The working corpus comes first: libFuzzer adds new inputs to the
	# first directory only, so the committed seeds stay as they are.
	"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="build/fuzz/crashes/$t-" \
		"$work" "fuzz/corpus/$t" >"$log" 2>&1
	local rc=$?
	local stats cov
	stats=$(grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" |
		sed 's/^stat:://; s/: */=/' | tr '\n' ' ')
	cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
	if [ $rc -ne 0 ]; then
		{ echo "fuzz $t: FAILED after ${seconds}s at most ($cov; $stats) — log: $log"
		  grep -E 'ERROR|SUMMARY|FUZZ CHECK|Test unit written' "$log" | head -n 20; } >"$result"
		return 1
	fi
	echo "fuzz $t: ok, ${seconds}s, $cov; $stats" >"$result"
}

jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 1)}
if ! [[ $jobs =~ ^[1-9][0-9]*$ ]]; then
	echo "fuzz: FUZZ_JOBS must be a positive whole number, not '$jobs'" >&2
	exit 2
fi
declare -A status
running=0
for t in "$@"; do
	rm -f "build/fuzz/logs/$t.result"
	if [ $running -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
	fuzz_one "$t" &
	status[$t]=$!
	running=$((running + 1))
done
failed=()
for t in "$@"; do
	wait "${status[$t]}" || failed+=("$t")
	cat "build/fuzz/logs/$t.result" 2>/dev/null || echo "fuzz $t: no report"
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: failed: ${failed[*]}"
	exit 1
fi
