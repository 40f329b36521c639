#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# make-patches.sh TREE OUTDIR: write this suite as a git format-patch series
# against TREE (Linux 7.3 or newer) into OUTDIR: a cover letter
# (patches/0000-cover.txt), then one patch per entry of patches/series
# ("FILE key=value...", FILE its commit message): the KVM fixes first
# (kvm=NAME: kvm/7.3/NAME.diff), then one patch per test, each library file
# with its first user, the trace capture with the first test that needs it,
# after the tests that do not.  Each test patch registers its files in
# TREE's Makefile.kvm and adds the kernel options it needs to the kvm
# folder's config.  PATCH_AUTHOR="Name <email>" signs the series.
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
	(cd "$work/linux" && git add -A tools/testing/selftests/kvm arch/x86/kvm virt/kvm &&
	 git -c user.name="$name" -c user.email="$email" \
		commit -q -s -F "$msgs/$1")
}

# One commit per entry of patches/series: its files, registered in the
# tree's Makefile, its config options or its KVM diff, its commit message.
n=0
while read -r msg adds <&3; do
	case $msg in "" | "#"*) continue ;; esac
	[ -f "$msgs/$msg" ] || { echo "make-patches.sh: patches/series: no commit message patches/$msg" >&2; exit 1; }
	for add in $adds; do
		for v in $(echo "${add#*=}" | tr , ' '); do
			case ${add%%=*} in
			lib)
				cp "$src/lib/x86/$v.c" "$kvm/lib/x86/"
				if [ -f "$src/include/x86/$v.h" ]; then
					cp "$src/include/x86/$v.h" "$kvm/include/x86/"
				fi
				register LIBKVM_x86 "lib/x86/$v.c"
				;;
			test)
				cp "$src/x86/$v.c" "$kvm/x86/"
				register TEST_GEN_PROGS_x86 "x86/$v"
				;;
			bench)
				cp "$src/x86/$v.c" "$kvm/x86/"
				register TEST_GEN_PROGS_EXTENDED_x86 "x86/$v"
				;;
			config)
				need "$v"
				;;
			kvm)
				# git apply writes through no symlink: the scratch
				# tree's arch/x86/kvm and virt/kvm are real copies.
				if ! (cd "$work/linux" && git apply "$here/kvm/7.3/$v.diff"); then
					echo "make-patches.sh: kvm/7.3/$v.diff does not apply to $tree" >&2
					exit 1
				fi
				;;
			diff)
				# A change to the tree's selftests (a prep patch).
				if ! (cd "$work/linux" && git apply "$here/patches/$v.diff"); then
					echo "make-patches.sh: patches/$v.diff does not apply to $tree" >&2
					exit 1
				fi
				;;
			*)
				echo "make-patches.sh: patches/series: '$add' in $msg?" >&2
				exit 1
				;;
			esac
		done
	done
	commit "$msg"
	n=$((n + 1))
done 3<"$msgs/series"

rm -rf "$outdir"
mkdir -p "$outdir"
(cd "$work/linux" && git format-patch -q --cover-letter -o "$outdir" "HEAD~$n")
cover=$(ls "$outdir"/0000-*.patch)
base="Linux $(make -s -C "$tree" kernelversion)"
base_commit=''
# A git checkout also names its commit (base-commit, as format-patch --base).
if [ "$(git -C "$tree" rev-parse --show-toplevel 2>/dev/null)" = "$(cd "$tree" && pwd -P)" ]; then
	base_commit=$(git -C "$tree" rev-parse HEAD)
fi
python3 - "$cover" "$msgs/0000-cover.txt" "$base" "$base_commit" <<'PY'
import sys
cover, msg, base, base_commit = sys.argv[1:]
subject, body = open(msg).read().split('\n', 1)
s = open(cover).read()
s = s.replace('*** SUBJECT HERE ***', subject)
s = s.replace('*** BLURB HERE ***', body.strip('\n').replace('@BASE@', base))
if base_commit:
    # Where format-patch --base puts it: alone, just before the signature.
    head, sig = s.rsplit('\n-- \n', 1)
    s = head.rstrip('\n') + '\n\nbase-commit: ' + base_commit + '\n-- \n' + sig
open(cover, 'w').write(s)
PY
ls "$outdir"
