#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# soak.sh OUT [RUNS [PARALLEL [KILLS]]]: the reliability soak (defaults: 50
# runs, 4 at once, 12 kills; make check runs 5, 2, 1).  Bad input first
# (scripts/check.sh bad-input), then scripts/soak-guest.sh where /dev/kvm
# is: on this machine's if it can run the tests, else in the QEMU guest.
#   SOAK_VM=1     in the QEMU guest even where this machine has /dev/kvm
#   SOAK_PLANT=1  the soak's self-test (scripts/soak-guest.sh): leftovers
#                 planted where each check looks must turn it red; no bad
#                 input, steps 1 and 3 only
set -euo pipefail

out=$(cd "$1" && pwd)
runs=${2:-50} par=${3:-4} kills=${4:-12}
here=$(cd "$(dirname "$0")" && pwd)

vg=()
if [ -z "${SOAK_PLANT:-}" ]; then
	"$here/check.sh" bad-input "$out"
	# The tests again, linked dynamically for valgrind, into OUT/valgrind.
	"$here/build.sh" tests --dynamic "$("$here/kernel.sh" tree ${KDIR:-})" "$out/valgrind" >"$out/valgrind.log" 2>&1 ||
		{ tail -n 30 "$out/valgrind.log"; exit 1; }
	vg=(VM_VALGRIND="$out/valgrind")
fi
if [ -w /dev/kvm ] && [ -d /sys/kernel/debug/kvm ] && [ -z "${SOAK_VM:-}" ]; then
	"$here/soak-guest.sh" "$out" "$runs" "$par" "$kills"
else
	env "${vg[@]}" VM_SOAK="$runs,$par,$kills" VM_MEM=8G \
		VM_TIMEOUT=${VM_TIMEOUT:-$((600 + runs * 180 + kills * 60))} "$here/vm-run.sh" "$out"
fi
