#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make-patches.sh TREE OUTDIR: write this suite as a git format-patch series
# against TREE (cover letter, the library, one patch per test, the trace
# capture last with the test that needs it) into OUTDIR.  Files go where
# TREE keeps them (x86_64/ or x86/), and each patch registers its files in
# TREE's Makefile (or Makefile.kvm) and adds the kernel options it needs to
# the kvm folder's config.  Commit messages are
# in patches/; PATCH_AUTHOR="Name <email>" signs the series.
set -euo pipefail

tree=$(cd "$1" && pwd)
mkdir -p "$2"
outdir=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
src=$here/tools/testing/selftests/kvm
msgs=$here/patches
# The series is signed off by PATCH_AUTHOR, else by the user's git identity;
# never under a placeholder.
author=${PATCH_AUTHOR:-}
if [ -z "$author" ] && git config user.name >/dev/null && git config user.email >/dev/null; then
	author="$(git config user.name) <$(git config user.email)>"
fi
case $author in
*?" <"?*@?*">") ;;
*) echo "make-patches.sh: set PATCH_AUTHOR=\"Name <email>\" or git config user.name and user.email" >&2
   exit 1 ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$here/scripts/kernel.sh" scratch "$tree" "$work/linux"
kvm=$work/linux/tools/testing/selftests/kvm
arch=x86
[ -d "$kvm/x86_64" ] && arch=x86_64
mk=$kvm/Makefile
[ -f "$kvm/Makefile.kvm" ] && mk=$kvm/Makefile.kvm

# register VAR PATH: "VAR += PATH" among VAR's lines, in sorted position.
register() {
	python3 - "$mk" "$1" "$2" <<'PY'
import re, sys
mk, var, path = sys.argv[1:]
lines = open(mk).read().split('\n')
pat = re.compile(r'^%s\s*\+?=\s*(\S+)' % re.escape(var))
idx = [i for i, l in enumerate(lines) if pat.match(l)]
assert idx, "no %s lines in %s" % (var, mk)
at = idx[-1] + 1
for i in idx:
    if pat.match(lines[i]).group(1) > path:
        at = i
        break
if at == idx[0] and '+=' not in lines[at]:
    at += 1  # never in front of the "VAR = ..." line that starts the list
lines.insert(at, '%s += %s' % (var, path))
open(mk, 'w').write('\n'.join(lines))
PY
}

# need OPTION...: add the kernel options that the kvm config lacks.
need() {
	local o
	for o in "$@"; do
		grep -qx "$o" "$kvm/config" || echo "$o" >>"$kvm/config"
	done
}

name=${author% <*}
email=${author##*<}
email=${email%>}

commit() {
	(cd "$work/linux" && git add -A tools/testing/selftests/kvm &&
	 git -c user.name="$name" -c user.email="$email" \
		commit -q -s -F "$msgs/$1")
}

for f in shadow_mmu zap_stats nested_npt; do
	cp "$src/lib/x86/$f.c" "$kvm/lib/$arch/"
	cp "$src/include/x86/$f.h" "$kvm/include/$arch/"
	register "LIBKVM_$arch" "lib/$arch/$f.c"
done
need CONFIG_DEBUG_FS=y
commit 0001-library.txt

n=2
for t in mmu_pages_unsync_zap_test memslot_unsync_zap_test; do
	cp "$src/x86/$t.c" "$kvm/$arch/"
	register "TEST_GEN_PROGS_$arch" "$arch/$t"
	commit "$(printf '%04d' $n)-$t.txt"
	n=$((n + 1))
done

# A benchmark: built, not run by default (like nx_huge_pages_test).
cp "$src/x86/mmu_zap_perf_test.c" "$kvm/$arch/"
register "TEST_GEN_PROGS_EXTENDED_$arch" "$arch/mmu_zap_perf_test"
commit 0004-mmu_zap_perf_test.txt

# Last, so that a maintainer can take the rest without it: the tracefs and
# kprobe capture of the zaps, its parser, and the test that needs them.
cp "$src/include/x86/zap_trace.h" "$kvm/include/$arch/"
for f in zap_trace zap_trace_parse zap_trace_stale; do
	cp "$src/lib/x86/$f.c" "$kvm/lib/$arch/"
	register "LIBKVM_$arch" "lib/$arch/$f.c"
done
cp "$src/x86/mmu_zap_restart_test.c" "$kvm/$arch/"
register "TEST_GEN_PROGS_$arch" "$arch/mmu_zap_restart_test"
need CONFIG_FTRACE=y CONFIG_KPROBES=y CONFIG_KPROBE_EVENTS=y
commit 0005-mmu_zap_restart_test.txt

# The walk shapes: families of unsync pages, checked with the zap trace.
cp "$src/lib/x86/unsync_families.c" "$kvm/lib/$arch/"
cp "$src/include/x86/unsync_families.h" "$kvm/include/$arch/"
register "LIBKVM_$arch" "lib/$arch/unsync_families.c"
cp "$src/x86/mmu_zap_walk_test.c" "$kvm/$arch/"
register "TEST_GEN_PROGS_$arch" "$arch/mmu_zap_walk_test"
commit 0006-mmu_zap_walk_test.txt

rm -rf "$outdir"
mkdir -p "$outdir"
(cd "$work/linux" && git format-patch -q --cover-letter -o "$outdir" HEAD~6)
cover=$(ls "$outdir"/0000-*.patch)
base="Linux $(make -s -C "$tree" kernelversion)"
python3 - "$cover" "$msgs/0000-cover.txt" "$base" <<'PY'
import sys
cover, msg, base = sys.argv[1:]
subject, body = open(msg).read().split('\n', 1)
s = open(cover).read()
s = s.replace('*** SUBJECT HERE ***', subject)
s = s.replace('*** BLURB HERE ***', body.strip('\n').replace('@BASE@', base))
open(cover, 'w').write(s)
PY
ls "$outdir"
