#!/usr/bin/env bash
# file-deps.sh [SRC_DIR [OBJ_DIR]] — which file of SRC_DIR (src) calls
# which other file's functions there, read from the objects' symbol tables
# (nm, objects in OBJ_DIR, build/obj/SRC_DIR), and whether that graph has a
# cycle (tsort finds one). Calls into other directories are left out: they
# point down by construction (tool/ -> src/ -> libc). Prints "caller ->
# callee" lines; exits 1 on a cycle. Run by `make check-deps` (part of
# `make test`) for src/ and tool/.
set -euo pipefail
src=${1:-src}
dir=${2:-build/obj/$src}
declare -A owner
# The objects of today's sources only: a stale one from a moved file lies.
objects=$(cd "$src" && find . -name '*.c' | sed "s|^\./|$dir/|; s|\.c\$|.o|" | sort)
for o in $objects; do
	file=${o#"$dir"/}
	file=${file%.o}.c
	for sym in $(nm --defined-only "$o" | awk '$2 ~ /^[TDBR]$/ { print $3 }'); do
		owner[$sym]=$file
	done
done
edges=$(for o in $objects; do
	file=${o#"$dir"/}
	file=${file%.o}.c
	for sym in $(nm --undefined-only "$o" | awk '{ print $2 }'); do
		callee=${owner[$sym]:-}
		if [ -n "$callee" ] && [ "$callee" != "$file" ]; then
			echo "$file $callee"
		fi
	done
done | sort -u)
echo "$edges" | awk 'NF { print $1 " -> " $2 }'
if ! echo "$edges" | tsort > /dev/null 2> /tmp/file-deps.$$; then
	cat /tmp/file-deps.$$ >&2
	rm -f /tmp/file-deps.$$
	echo "$src/ has a dependency cycle" >&2
	exit 1
fi
rm -f /tmp/file-deps.$$
echo "no cycle"
