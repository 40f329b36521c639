#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# build-tests.sh TREE OUT [EXTRA_CFLAGS]: build libkvm, this suite's library
# and the tests in scripts/tests.list and scripts/bench.list with TREE's own
# selftests Makefile, and put each binary at OUT/<test-name>.  TREE is left
# exactly as it was: the build runs in OUT/src/<tree>, a mirror of TREE
# (scripts/kernel.sh scratch: symlinks, with a real copy of the kvm selftests
# folder) into which this suite's files are laid as symlinks, so edits here
# need no copy.  Objects go to OUT/build/<tree>.
set -euo pipefail

tree=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
extra_cflags=${3:-}
here=$(cd "$(dirname "$0")/.." && pwd)
src=$here/tools/testing/selftests/kvm
name=$(echo "$tree" | tr / _)
mirror=$out/src/$name
kvm=$mirror/tools/testing/selftests/kvm

if [ ! -f "$mirror/.mirror-of" ] || [ "$(cat "$mirror/.mirror-of")" != "$tree" ]; then
	"$here/scripts/kernel.sh" scratch "$tree" "$mirror"
	echo "$tree" >"$mirror/.mirror-of"
fi

# The tree names the x86 folders x86_64 up to 6.13 and x86 after.
arch=x86
[ -d "$kvm/x86_64" ] && arch=x86_64

libs=()
while read -r f; do
	dst=${f/x86/$arch}
	ln -sfn "$src/$f" "$kvm/$dst"
	case $f in lib/*.c) libs+=("$dst") ;; esac
done < <(cd "$src" && find include lib x86 -name '*.[ch]' | sort)
mapfile -t tests < <(cat "$here/scripts/tests.list" "$here/scripts/bench.list" | grep -v '^#')

build=$out/build/$name
mkdir -p "$build"
make -C "$kvm" -f "$here/scripts/kvm-selftests.mk" \
	OUTPUT="$build" ZAP_LIBS="${libs[*]}" ZAP_TESTS="${tests[*]}" \
	EXTRA_CFLAGS="$extra_cflags" -j"$(nproc)" \
	"${tests[@]/#/$build/$arch/}"

for t in "${tests[@]}"; do
	cp "$build/$arch/$t" "$out/$t"
done
