#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# check-style.sh TREE: our C sources must be clean under the tree's
# "scripts/checkpatch.pl --strict" and unchanged by its .clang-format.
set -euo pipefail

tree=$1
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.c' '*.h')
rc=0
perl "$tree/scripts/checkpatch.pl" --strict --no-tree --quiet --file "${files[@]}" || rc=1
for f in "${files[@]}"; do
	if ! clang-format --style=file:"$tree/.clang-format" "$f" | diff -u "$f" -; then
		echo "check-style.sh: $f differs from the tree's .clang-format" >&2
		rc=1
	fi
done
[ $rc = 0 ] && echo "check-style.sh: ${#files[@]} files clean (checkpatch --strict, clang-format)"
exit $rc
