#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# check-bad-input.sh OUT: every malformed or out-of-range flag of every test
# must get a message and a non-zero exit that is not a skip (4), before the
# test opens /dev/kvm; a KDIR that is not a kernel tree must fail the build.
set -uo pipefail

out=$1
here=$(cd "$(dirname "$0")" && pwd)
fail=0

expect_error() {
	local what=$1
	shift
	local msg rc
	msg=$("$@" 2>&1)
	rc=$?
	if [ $rc = 0 ] || [ $rc = 4 ] || [ -z "$msg" ]; then
		echo "FAIL: $what: exit $rc, output: $msg"
		fail=1
	else
		echo "ok: $what: exit $rc: $(echo "$msg" | grep -v '^Random seed' | head -n 1)"
	fi
}

for t in $(grep -v '^#' "$here/tests.list"); do
	for args in "-n 0" "-n -1" "-n 99999999999" "-n abc" "-n 12x" "-n ''" \
		    "-c 0" "-c 1000" "-c -3" "-c two" "-r 0" "-r 99999" "-r x" \
		    "-x" "stray-argument"; do
		eval "expect_error \"$t $args\" \"$out/$t\" $args"
	done
	if ! "$out/$t" -h | grep '^usage:' >/dev/null; then
		echo "FAIL: $t -h prints no usage"
		fail=1
	fi
done

expect_error "make build KDIR=/tmp" make -s --no-print-directory -C "$here/.." build KDIR=/tmp
expect_error "make build KDIR=/nonexistent" make -s --no-print-directory -C "$here/.." build KDIR=/nonexistent
exit $fail
