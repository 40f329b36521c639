#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# mutants.sh TREE OUT: the mutation matrix.  For the unmutated TREE and for
# each mutants/*.patch (a one-idea change to arch/x86/kvm/mmu/mmu.c), build
# the kvm modules (scripts/build-kvm-modules.sh), boot Debian's kernel with
# them under QEMU (scripts/vm-run.sh) and record, for each test, whether it
# killed the mutant (failed), let it survive (passed), hung, or the guest
# crashed.  A kernel WARN/BUG/oops kills a mutant too.  A mutant whose
# patch says "Equivalent:" (no caller can observe the change; the patch
# says why) is reported as such when it survives.  Writes
# OUT/mutants.md and exits non-zero if the unmutated modules fail or any
# mutant survives.  MUTANTS="a b" runs only those; BASELINE_BOOTS=n boots
# the unmutated modules n times (default 1).  QUICK=1 (make check) runs,
# for a mutant whose patch names them in a "Killed-by: a,b" line, only
# those tests; the full matrix (make mutants) runs every test.
set -uo pipefail

tree=$1
out=$(cd "$2" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
work=$out/mutants
mkdir -p "$work"
mapfile -t tests < <(grep -v '^#' "$here/tests.list")
names=${MUTANTS:-$(cd "$here/../mutants" && ls ./*.patch | sed 's|^\./||; s|\.patch$||')}

table=$work/table.md
{
	printf '| mutant | build s | run s |'
	printf ' %s |' "${tests[@]}"
	printf ' verdict |\n|---|---|---|'
	printf -- '---|%.0s' "${tests[@]}"
	printf -- '---|\n'
} >"$table"

# run NAME PATCH: build, boot, append a row; returns 0 if any test failed.
run() {
	local name=$1 patch=$2 t0 t1 t2 log rc cells="" verdict killed=0 only=""
	log=$work/$name.log
	if [ "${QUICK:-0}" = 1 ] && [ -n "$patch" ]; then
		only=$(sed -n 's/^Killed-by: *//p' "$patch" | tr -d ' ')
	fi
	t0=$(date +%s)
	if ! "$here/build-kvm-modules.sh" "$tree" "$work/$name.ko" $patch >"$log.build" 2>&1; then
		echo "| $name | build failed | | $(printf ' |%.0s' "${tests[@]}") build failed |" >>"$table"
		tail -n 20 "$log.build" >&2
		return 2
	fi
	t1=$(date +%s)
	# Not locked down: debugfs cross-checks the binary stats in these boots.
	KVM_MODULES=$work/$name.ko VM_DIR=$work/$name.vm VM_TIMEOUT=${VM_TIMEOUT:-900} VM_LOCKDOWN= VM_TESTS=$only \
		TEST_TIMEOUT=${TEST_TIMEOUT:-300} "$here/vm-run.sh" "$out" >"$log" 2>&1
	rc=$?
	t2=$(date +%s)
	for t in "${tests[@]}"; do
		case ,${only:-$t}, in
		*,$t,*) ;;
		*) cells+=" - |" && continue ;; # not run (QUICK)
		esac
		if grep -q "^ok [0-9]* $t\b" "$log"; then
			cell=survived
		elif grep -q "^not ok [0-9]* $t # TIMEOUT" "$log"; then
			cell=hung killed=1
		elif grep -q "^not ok [0-9]* $t\b" "$log"; then
			cell=killed killed=1
		else
			cell=crashed killed=1
		fi
		cells+=" $cell |"
	done
	if grep -q 'kernel log shows a warning or oops' "$log"; then
		verdict="killed (kernel WARN)" killed=1
	elif grep -q 'did not finish within' "$log"; then
		verdict="killed (hung)" killed=1
	elif [ $killed = 1 ]; then
		verdict=killed
	elif [ $rc != 0 ]; then
		verdict="killed (guest status)" killed=1
	elif [ -n "$patch" ] && grep -q '^Equivalent:' "$patch"; then
		# Declared in the patch, with the reason: no test can tell.
		verdict="equivalent (see patch)" killed=1
	else
		verdict=survived
	fi
	if [ "${name#unmutated}" != "$name" ]; then
		# For the unmutated modules a "survivor" is a passing test.
		cells=${cells//survived/pass}
		[ $killed = 1 ] && verdict="FAILED" || verdict=pass
	fi
	echo "| $name | $((t1 - t0)) | $((t2 - t1)) |$cells $verdict |" >>"$table"
	echo "mutants.sh: $name: $verdict (build $((t1 - t0)) s, run $((t2 - t1)) s)" >&2
	[ $killed = 1 ]
}

fail=0
for i in $(seq "${BASELINE_BOOTS:-1}"); do
	if run "unmutated-$i" ""; then
		echo "mutants.sh: the unmutated modules failed (boot $i): see $work/unmutated-$i.log" >&2
		fail=1
	fi
done
for m in $names; do
	if [ "${QUICK:-0}" = 1 ] && grep -q '^Equivalent:' "$here/../mutants/$m.patch"; then
		echo "| $m | | |$(printf ' - |%.0s' "${tests[@]}") equivalent (see patch; not run by QUICK) |" >>"$table"
		continue
	fi
	if ! run "$m" "$here/../mutants/$m.patch"; then
		echo "mutants.sh: mutant $m survived" >&2
		fail=1
	fi
done

{
	echo "# Mutation matrix"
	echo
	echo "Kernel: Debian's $(ls -d "${CACHE:-$HOME/.cache/kvm-zap-selftests}"/debian-6.12.* | sed 's|.*/debian-||'),"
	echo "kvm modules built from $tree with each mutant; $(date -u +%F)."
	echo
	cat "$table"
} >"$out/mutants.md"
cat "$out/mutants.md"
exit $fail
