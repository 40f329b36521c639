#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# check-patches.sh TREE PATCHDIR: the series in PATCHDIR must apply with
# git am to a pristine scratch copy of TREE, the tree's own KVM selftests
# Makefile must then build the suite, and the tree's
# scripts/checkpatch.pl --strict must find no error and no warning in any
# patch (the cover letter is no patch).
set -euo pipefail

tree=$(cd "$1" && pwd)
patches=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$here/scripts/kernel.sh" scratch "$tree" "$work/linux" "$patches"

kvm=$work/linux/tools/testing/selftests/kvm
arch=x86
[ -d "$kvm/x86_64" ] && arch=x86_64
targets=()
for t in $(cat "$here/scripts/tests.list" "$here/scripts/bench.list" | grep -v '^#'); do
	targets+=("$work/build/$arch/$t")
done
make -s -C "$kvm" OUTPUT="$work/build" EXTRA_CFLAGS=-Werror -j"$(nproc)" \
	"${targets[@]}" >"$work/build.log" 2>&1 || { tail -n 30 "$work/build.log"; exit 1; }
echo "check-patches.sh: the patched tree builds ${#targets[@]} tests with -Werror"

# Run from the tree (no .git): checkpatch would look commit ids up in
# whatever repository holds the current folder.  FILE_PATH_CHANGES asks
# whether MAINTAINERS needs updating for new files; it does not, as the
# KVM entry there covers tools/testing/selftests/kvm/.
grep -q 'F:[[:space:]]*tools/testing/selftests/kvm/$' "$tree/MAINTAINERS"
rc=0
for p in $(ls "$patches"/*.patch | grep -v /0000-); do
	out=$(cd "$tree" && perl scripts/checkpatch.pl --strict --show-types \
	      --ignore FILE_PATH_CHANGES "$p" 2>&1 || true)
	summary=$(echo "$out" | grep '^total:')
	echo "checkpatch --strict: ${p##*/}: $summary"
	case $summary in
	"total: 0 errors, 0 warnings,"*) ;;
	*) echo "$out"; rc=1 ;;
	esac
done
exit $rc
