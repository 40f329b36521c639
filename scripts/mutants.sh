#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# mutants.sh [--quick] [--modes "shadow nested"] OUT [MUTANT...]: the
# mutation matrix.  The base is Debian's 6.12 kernel with kvm modules built
# from its linux-source-6.12 with the series' KVM fixes (kvm/6.12/*.diff;
# scripts/build.sh modules 6.12).  For that base ("unmutated") and for
# each mutants/*.patch applied on top of it (a one-idea change to
# arch/x86/kvm/mmu/mmu.c), build the kvm modules, boot the kernel with
# them under QEMU (scripts/vm-run.sh) once per mode (shadow: kvm_amd npt=0;
# nested: npt=1) and record, per mode, which tests killed the mutant
# (failed, hung, or the guest crashed), or that it survived.  A kernel
# WARN/BUG/oops kills a mutant too.  A mutant whose patch says
# "Equivalent:" (no caller can observe the change; the patch says why) is
# reported as such when it survives.  Writes OUT/mutants.md and exits
# non-zero if the unmutated modules fail or any mutant survives.
#   MUTANT...         only those mutants
#   --modes shadow    only that mode (default "shadow nested")
#   --quick           (make check) a mutant only in the mode(s) of its
#                     "Killed-in:" line (default shadow), with only the
#                     tests of its "Killed-by:" line; equivalents not run.
#                     make mutants runs every test in both modes.
set -uo pipefail

quick=0 modes="shadow nested"
while :; do
	case ${1:-} in
	--quick) quick=1; shift ;;
	--modes) modes=$2; shift 2 ;;
	*) break ;;
	esac
done
out=$(cd "${1:-}" && pwd) || { echo "mutants.sh: no build in '${1:-}' (make build OUT=${1:-})" >&2; exit 1; }
shift
here=$(cd "$(dirname "$0")" && pwd)
work=$out/mutants
mkdir -p "$work"
mapfile -t tests < <("$here/run-tests.sh" --list)
names=${*:-$(cd "$here/../mutants" && ls ./*.patch | sed 's|^\./||; s|\.patch$||')}

# The modes of KVM in the guest: shadow (kvm_amd npt=0: KVM shadows the
# guest's page tables) and nested (npt=1: KVM uses TDP and shadows an L1's
# NPT tables).  --modes shadow (or nested) runs one.  --quick runs a
# mutant only in the mode(s) its "Killed-in:" line names (default shadow).
table=$work/table.md
{
	printf '| mutant | build s |'
	printf ' %s |' $modes
	printf ' verdict |\n|---|---|'
	printf -- '---|%.0s' $modes
	printf -- '---|\n'
} >"$table"

# cell LOG ONLY RC: what one boot did to a mutant: "killed: <tests>",
# survived or skipped.  Tests are named short: mmu_pages_unsync_zap_test
# is pages.
cell() {
	local log=$1 only=$2 rc=$3 t short by="" ran=0 skipped=0
	for t in "${tests[@]}"; do
		case ,${only:-$t}, in
		*,$t,*) ;;
		*) continue ;; # not run (--quick)
		esac
		ran=$((ran + 1))
		short=${t#mmu_}
		short=${short%_test}
		short=${short%_unsync_zap}
		short=${short%_zap}
		short=${short#zap_}
		if grep -q "^ok [0-9]* $t # SKIP" "$log"; then
			skipped=$((skipped + 1))
		elif grep -q "^ok [0-9]* $t\b" "$log"; then
			:
		elif grep -q "^not ok [0-9]* $t # TIMEOUT" "$log"; then
			by+=" $short(hung)"
		elif grep -q "^not ok [0-9]* $t\b" "$log"; then
			by+=" $short"
		else
			by+=" $short(crashed)"
		fi
	done
	if grep -q 'kernel log shows a warning or oops' "$log"; then
		echo "killed:$by WARN"
	elif grep -q 'did not finish within' "$log"; then
		echo "killed:$by (hung)"
	elif [ -n "$by" ]; then
		echo "killed:$by"
	elif [ $rc != 0 ]; then
		echo "killed (guest status)"
	elif [ $skipped = $ran ]; then
		echo skipped
	else
		echo survived
	fi
}

# run NAME PATCH: build, boot once per mode, append a row; returns 0 if
# the mutant was killed in some mode.
run() {
	local name=$1 patch=$2 t0 t1 mode log rc cells="" verdict any=0 only="" run_modes=$modes c
	if [ $quick = 1 ] && [ -n "$patch" ]; then
		only=$(sed -n 's/^Killed-by: *//p' "$patch" | tr -d ' ')
		run_modes=$(killed_in "$patch")
	elif [ $quick = 1 ]; then
		run_modes=$quick_modes # the unmutated modules: where mutants run
	fi
	t0=$(date +%s)
	if ! "$here/build.sh" modules 6.12 "$work/$name.ko" $patch >"$work/$name.build.log" 2>&1; then
		echo "| $name | build failed |$(printf ' |%.0s' $modes) build failed |" >>"$table"
		tail -n 20 "$work/$name.build.log" >&2
		return 2
	fi
	t1=$(date +%s)
	for mode in $modes; do
		case " $run_modes " in
		*" $mode "*) ;;
		*) cells+=" - |" && continue ;;
		esac
		log=$work/$name.$mode.log
		# Not locked down: debugfs cross-checks the binary stats in these boots.
		"$here/vm-run.sh" --kernel 6.12 --modules "$work/$name.ko" --dir "$work/$name.vm" \
			--timeout 900 --open --tests "$only" "$out" "$mode" >"$log" 2>&1
		rc=$?
		c=$(cell "$log" "$only" $rc)
		grep -q '^killed' <<<"$c" && any=1
		cells+=" $c ($(($(date +%s) - t1)) s) |"
		t1=$(date +%s)
	done
	if [ "${name#unmutated}" != "$name" ]; then
		# For the unmutated modules any "kill" is a failure.
		cells=${cells//survived/pass}
		[ $any = 1 ] && verdict=FAILED || verdict=pass
	elif [ $any = 1 ]; then
		verdict=killed
	elif [ -n "$patch" ] && grep -q '^Equivalent:' "$patch"; then
		# Declared in the patch, with the reason: no test can tell.
		verdict="equivalent (see patch)" any=1
	else
		verdict=survived
	fi
	echo "| $name | $((t1 - t0)) |$cells $verdict |" >>"$table"
	echo "mutants.sh: $name:$cells $verdict" >&2
	[ $any = 1 ]
}

killed_in() { sed -n 's/^Killed-in: *//p' "$1" | grep . || echo shadow; }
quick_modes=$(for m in $names; do killed_in "$here/../mutants/$m.patch"; done | tr ' ' '\n' | sort -u | tr '\n' ' ')
fail=0
if run unmutated ""; then
	echo "mutants.sh: the unmutated modules failed: see $work/unmutated.*.log" >&2
	fail=1
fi
for m in $names; do
	if [ $quick = 1 ] && grep -q '^Equivalent:' "$here/../mutants/$m.patch"; then
		echo "| $m | |$(printf ' - |%.0s' $modes) equivalent (see patch; not run by --quick) |" >>"$table"
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
	echo "kvm modules built from its linux-source-6.12 with the series' KVM fixes"
	echo "($(sed 's|.*/||' "$work/unmutated.ko/patches" 2>/dev/null | tr '\n' ' ' | sed 's/ $//')) and each mutant; $(date -u +%F)."
	echo "One column per mode of KVM in the guest: the tests that killed the"
	echo "mutant there (pages, memslot, restart, walk), and the boot's seconds."
	echo
	cat "$table"
} >"$out/mutants.md"
cat "$out/mutants.md"
exit $fail
