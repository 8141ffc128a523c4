#!/usr/bin/env bash
# fuzz/run.sh SECONDS TARGET... — for each target: replay its regression
# inputs (each once), then fuzz for SECONDS on a working copy of its seed
# corpus. New crashes land in build/fuzz/crashes/, logs in build/fuzz/logs/.
# Exits non-zero if any target failed; runs one target at a time.
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
failed=()
for t in "$@"; do
	bin=build/fuzz/$t
	log=build/fuzz/logs/$t.log
	work=build/fuzz/corpus/$t
	mkdir -p "$work" "fuzz/corpus/$t"
	# Regressions first: one run over each file, no fuzzing.
	regressions=(fuzz/regressions/"$t"/*)
	if [ -e "${regressions[0]}" ]; then
		if ! "$bin" -runs=1 "${regressions[@]}" >"$log.replay" 2>&1; then
			echo "fuzz $t: a regression input fails again (see $log.replay)"
			tail -n 30 "$log.replay"
			failed+=("$t")
			continue
		fi
	fi
	# The working corpus comes first: libFuzzer adds new inputs to the
	# first directory only, so the committed seeds stay as they are.
	"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="build/fuzz/crashes/$t-" \
		"$work" "fuzz/corpus/$t" >"$log" 2>&1
	rc=$?
	stats=$(grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" |
		sed 's/^stat:://; s/: */=/' | tr '\n' ' ')
	cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -n 1)
	if [ $rc -ne 0 ]; then
		echo "fuzz $t: FAILED after ${seconds}s at most ($cov; $stats) — log: $log"
		grep -E 'ERROR|SUMMARY|FUZZ CHECK|Test unit written' "$log" | head -n 20
		failed+=("$t")
	else
		echo "fuzz $t: ok, ${seconds}s, $cov; $stats"
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: failed: ${failed[*]}"
	exit 1
fi
