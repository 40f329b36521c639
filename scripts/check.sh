#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# check.sh: the project's own checks that are not a run of the suite (make
# check calls each).
#
# check.sh style TREE
#	Our C sources must be clean under TREE's scripts/checkpatch.pl
#	--strict (not clang-format: the kvm selftests upstream are not).
# check.sh bad-input OUT
#	Every malformed or out-of-range flag of every test in OUT must get a
#	message and a non-zero exit that is not a skip (4), before the test
#	opens /dev/kvm; a KDIR that is not a kernel tree, or is older than
#	7.3, must fail the build.
# check.sh patches TREE PATCHDIR
#	The series in PATCHDIR must apply with git am to a pristine scratch
#	copy of TREE, the tree's own KVM selftests Makefile must then build
#	the suite with -Werror, and TREE's checkpatch.pl --strict must find no
#	error and no warning in any patch, the KVM fixes' included (the cover
#	letter is no patch).
# check.sh kselftest TREE PATCHDIR OUT
#	Apply the series to a scratch copy of TREE, build and install the kvm
#	selftests the way kernel CI does (make -C tools/testing/selftests
#	TARGETS=kvm install, linked statically), and run each of this suite's
#	tests with the installed run_kselftest.sh; its KTAP goes to
#	OUT/kselftest.log.  Fails if a test fails (a skip, as where there is no
#	/dev/kvm, is no failure).  On a PVM host (kvm_pvm) the tests are built
#	and installed, not run (see run-tests.sh).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "check.sh: $*" >&2; exit 1; }
tests() { "$here/scripts/run-tests.sh" --list; }
all_tests() { "$here/scripts/run-tests.sh" --list --all; }

style() {
	local tree=$1 files rc=0
	cd "$here"
	mapfile -t files < <(git ls-files '*.c' '*.h')
	perl "$tree/scripts/checkpatch.pl" --strict --no-tree --quiet --file "${files[@]}" || rc=1
	[ $rc = 0 ] && echo "check.sh style: ${#files[@]} files clean (checkpatch --strict)"
	return $rc
}

expect_error() { # expect_error WHAT CMD...: CMD must fail, not skip, and say why
	local what=$1 msg rc
	shift
	rc=0
	msg=$("$@" 2>&1) || rc=$?
	if [ $rc = 0 ] || [ $rc = 4 ] || [ -z "$msg" ]; then
		echo "FAIL: $what: exit $rc, output: $msg"
		return 1
	fi
	echo "ok: $what: exit $rc: $(echo "$msg" | grep -v '^Random seed' | head -n 1)"
}

bad_input() {
	local out=$1 t o v usage old fail=0
	# libkvm opens /dev/kvm in its constructor, before a test reads its
	# flags: without one every test skips (4) whatever it is given.
	if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
		for t in $(tests); do
			usage=$("$out/$t" -h 2>&1 | grep '^usage:') ||
				{ echo "FAIL: $t -h prints no usage"; fail=1; }
			expect_error "$t -x" "$out/$t" -x || fail=1
			# Each option with a value, from the usage line: bad values.
			for o in $(echo "$usage" | grep -o '\[-[a-z] [^]]*\]' | cut -c3); do
				case $o in
				m) set -- bogus ;;
				p) set -- bogus ;;
				*) set -- 0 -1 99999999999 abc 12x "" ;;
				esac
				for v in "$@"; do
					expect_error "$t -$o '$v'" "$out/$t" "-$o" "$v" || fail=1
				done
			done
		done
	else
		echo "check.sh bad-input: no usable /dev/kvm: the tests' flags are not checked here (libkvm opens /dev/kvm before a test reads them)"
	fi
	expect_error "make build KDIR=/tmp" make -s --no-print-directory -C "$here" build KDIR=/tmp || fail=1
	expect_error "make build KDIR=/nonexistent" make -s --no-print-directory -C "$here" build KDIR=/nonexistent || fail=1
	old=$("$here/scripts/kernel.sh" source 6.12)
	expect_error "make build KDIR=<linux-source-6.12>" make -s --no-print-directory -C "$here" build KDIR="$old" || fail=1
	return $fail
}

patches() {
	local tree patches work kvm targets t p out summary ignore rc=0
	tree=$(cd "$1" && pwd)
	patches=$(cd "$2" && pwd)
	work=$(mktemp -d)
	# shellcheck disable=SC2064
	trap "rm -rf '$work'" EXIT
	"$here/scripts/kernel.sh" scratch "$tree" "$work/linux" "$patches"

	kvm=$work/linux/tools/testing/selftests/kvm
	targets=()
	for t in $(all_tests); do
		targets+=("$work/build/x86/$t")
	done
	make -s -C "$kvm" OUTPUT="$work/build" EXTRA_CFLAGS=-Werror -j"$(nproc)" \
		"${targets[@]}" >"$work/build.log" 2>&1 || { tail -n 30 "$work/build.log"; return 1; }
	echo "check.sh patches: the patched tree builds ${#targets[@]} tests with -Werror"

	# Run from the tree (no .git): checkpatch would look commit ids up in
	# whatever repository holds the current folder.  FILE_PATH_CHANGES asks
	# whether MAINTAINERS needs updating for new files; it does not, as the
	# KVM entry there covers tools/testing/selftests/kvm/.
	# A tree without git history (Debian's) cannot look up the commit ids
	# of Fixes: tags (UNKNOWN_COMMIT_ID); a git checkout does.
	grep -q 'F:[[:space:]]*tools/testing/selftests/kvm/$' "$tree/MAINTAINERS"
	ignore=FILE_PATH_CHANGES
	[ -e "$tree/.git" ] || ignore+=,UNKNOWN_COMMIT_ID
	for p in $(ls "$patches"/*.patch | grep -v /0000-); do
		out=$(cd "$tree" && perl scripts/checkpatch.pl --strict --show-types \
		      --ignore "$ignore" "$p" 2>&1 || true)
		summary=$(echo "$out" | grep '^total:')
		echo "checkpatch --strict: ${p##*/}: $summary"
		case $summary in
		"total: 0 errors, 0 warnings,"*) ;;
		*) echo "$out"; rc=1 ;;
		esac
	done
	return $rc
}

kselftest() {
	local tree patches out work start control rc=0 args t
	tree=$(cd "$1" && pwd)
	patches=$(cd "$2" && pwd)
	mkdir -p "$3"
	out=$(cd "$3" && pwd)
	work=$(mktemp -d)
	# shellcheck disable=SC2064
	trap "rm -rf '$work'" EXIT

	"$here/scripts/kernel.sh" scratch "$tree" "$work/linux" "$patches"
	start=$(date +%s)
	make -s -C "$work/linux/tools/testing/selftests" TARGETS=kvm \
		INSTALL_PATH="$out/install" LDFLAGS=-static -j"$(nproc)" install \
		>"$out/build.log" 2>&1 || { tail -n 30 "$out/build.log"; return 1; }
	echo "check.sh kselftest: built and installed TARGETS=kvm in $(($(date +%s) - start)) s"
	if [ -d /sys/module/kvm_pvm ]; then
		echo "check.sh kselftest: kvm_pvm builds no shadow pages for ring-0 guest code: not run here (make vm-run runs the suite under QEMU)"
		return 0
	fi

	# A control: the tree's own set_memory_region_test.  Where the tree's
	# libkvm cannot run on this host's KVM at all (7.3's vCPU setup is
	# refused by the PVM host: KVM_SET_SREGS, EINVAL), our tests could not
	# either, and their run proves nothing here: say so rather than fail.
	control=$out/install/kvm/set_memory_region_test
	"$control" >"$out/control.log" 2>&1 || rc=$?
	if [ $rc != 0 ] && [ $rc != 4 ]; then
		echo "check.sh kselftest: the tree's own set_memory_region_test fails here too ($(tail -n 1 "$out/control.log" | sed 's/^ *//'));"
		echo "check.sh kselftest: the suite is not run through this tree's kselftest on this KVM"
		return 0
	fi

	args=()
	for t in $(tests); do
		args+=(-t "kvm:$t")
	done
	"$out/install/run_kselftest.sh" "${args[@]}" 2>&1 | tee "$out/kselftest.log"
	! grep -q '^not ok' "$out/kselftest.log"
}

cmd=${1:-}
shift || true
case $cmd:$# in
style:1) style "$@" ;;
bad-input:1) bad_input "$@" ;;
patches:2) patches "$@" ;;
kselftest:3) kselftest "$@" ;;
*) die "usage: check.sh style TREE | bad-input OUT | patches TREE PATCHDIR | kselftest TREE PATCHDIR OUT" ;;
esac
