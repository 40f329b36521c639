#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# vm-run-modes.sh OUT: run the suite under QEMU (scripts/vm-run.sh) once per
# mode of KVM in the guest, each with its own KTAP section: kvm_amd npt=0
# (KVM shadows guest page tables: shadow mode) and npt=1 (KVM uses TDP: the
# tests run in nested mode).  VM_MODES="0" or "1" runs only one.  Exit 0
# only if every run passed.
set -uo pipefail

out=$1
here=$(cd "$(dirname "$0")" && pwd)
rc=0
for npt in ${VM_MODES:-0 1}; do
	case $npt in
	0) echo "=== vm-run: kvm_amd npt=0 (shadow mode)" ;;
	1) echo "=== vm-run: kvm_amd npt=1 (nested mode)" ;;
	*) echo "vm-run-modes.sh: VM_MODES: 0 or 1, not '$npt'" >&2; exit 1 ;;
	esac
	dir=${VM_DIR:-$out/vm}
	[ "$npt" = 1 ] && dir=$dir-nested
	VM_NPT=$npt VM_DIR=$dir "$here/vm-run.sh" "$out" || rc=1
done
exit $rc
