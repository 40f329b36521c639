#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# check-kselftest.sh TREE PATCHDIR OUT: apply the series to a scratch copy
# of TREE, build and install the kvm selftests the way kernel CI does
# (make -C tools/testing/selftests TARGETS=kvm install), and run each of
# this suite's tests with the installed run_kselftest.sh; its KTAP goes to
# OUT/kselftest.log.  The binaries are linked statically, so the install
# folder also runs in the QEMU guest.  Fails if a test fails (a skip, as
# here without /dev/kvm, is no failure).
set -euo pipefail

tree=$(cd "$1" && pwd)
patches=$(cd "$2" && pwd)
mkdir -p "$3"
out=$(cd "$3" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$here/scripts/scratch-tree.sh" "$tree" "$work/linux" "$patches"
start=$(date +%s)
make -s -C "$work/linux/tools/testing/selftests" TARGETS=kvm \
	INSTALL_PATH="$out/install" LDFLAGS=-static -j"$(nproc)" install \
	>"$out/build.log" 2>&1 || { tail -n 30 "$out/build.log"; exit 1; }
echo "check-kselftest.sh: built and installed TARGETS=kvm in $(($(date +%s) - start)) s"

args=()
for t in $(grep -v '^#' "$here/scripts/tests.list"); do
	args+=(-t "kvm:$t")
done
"$out/install/run_kselftest.sh" "${args[@]}" 2>&1 | tee "$out/kselftest.log"
! grep -q '^not ok' "$out/kselftest.log"
