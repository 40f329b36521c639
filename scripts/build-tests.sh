#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# build-tests.sh TREE OUT [EXTRA_CFLAGS]: lay this suite's files into TREE's
# tools/testing/selftests/kvm (as symlinks, so edits here need no copy), build
# libkvm, the tests in scripts/tests.list and the benchmarks in
# scripts/bench.list with the tree's own selftests Makefile into OUT/build,
# and put each binary at OUT/<test-name>.
set -euo pipefail

tree=$1 out=$2 extra_cflags=${3:-}
here=$(cd "$(dirname "$0")/.." && pwd)
src=$here/tools/testing/selftests/kvm
kvm=$tree/tools/testing/selftests/kvm

# The tree names the x86 folders x86_64 up to 6.13 and x86 after.
arch=x86
[ -d "$kvm/x86_64" ] && arch=x86_64

ln -sfn "$src/include/x86/shadow_mmu.h" "$kvm/include/$arch/shadow_mmu.h"
ln -sfn "$src/lib/x86/shadow_mmu.c" "$kvm/lib/$arch/shadow_mmu.c"
mapfile -t tests < <(cat "$here/scripts/tests.list" "$here/scripts/bench.list" | grep -v '^#')
for t in "${tests[@]}"; do
	ln -sfn "$src/x86/$t.c" "$kvm/$arch/$t.c"
done

# Objects of each tree in a folder of their own.
mkdir -p "$out"
out=$(cd "$out" && pwd)
build=$out/build/$(echo "$tree" | tr / _)
mkdir -p "$build"
make -C "$kvm" -f "$here/scripts/kvm-selftests.mk" \
	OUTPUT="$build" ZAP_TESTS="${tests[*]}" \
	EXTRA_CFLAGS="$extra_cflags" -j"$(nproc)" \
	"${tests[@]/#/$build/$arch/}"

for t in "${tests[@]}"; do
	cp "$build/$arch/$t" "$out/$t"
done
