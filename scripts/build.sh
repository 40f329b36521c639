#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# build.sh tests [--dynamic] TREE OUT [EXTRA_CFLAGS]
#	Build libkvm, this suite's library and the tests and benchmarks of
#	patches/series with TREE's own selftests Makefile (TREE: Linux 7.3 or
#	newer, kernel.sh tree), and put each binary at OUT/<test-name>,
#	linked statically (one binary serves the host and the QEMU initramfs);
#	--dynamic links dynamically, for valgrind (which cannot replace the
#	allocator of a static binary).  TREE is left exactly as it was: the
#	build runs in OUT/src/<tree>, a scratch tree (kernel.sh scratch) into
#	which this suite's files are laid as symlinks, so edits here need no
#	copy, and whose usr holds TREE's UAPI headers, exported outside TREE
#	(kernel.sh headers).  Objects go to OUT/build/<tree>.
# build.sh modules [--stock] VERSION OUT [PATCH...]
#	Build kvm.ko and kvm-amd.ko for Debian's kernel of VERSION (6.12 or
#	7.3, kernel.sh debian) from Debian's linux-source-VERSION, with that
#	kernel's .config and Module.symvers (from its headers packages), so
#	that it loads them; into OUT.  The series' KVM fixes (the kvm= entries
#	of patches/series: kvm/VERSION/NAME.diff, in series order) are applied
#	first (--stock: none), then each PATCH (a mutant).  The build tree is
#	a copy of the source tree in $CACHE/kvm-src-VERSION; only what differs
#	from its last build is rebuilt (about 15 s after a change to mmu.c).
#	One module build runs at a time (a lock in $CACHE).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE:-$HOME/.cache/kvm-zap-selftests}
die() { echo "build.sh: $*" >&2; exit 1; }

build_tests() {
	local dynamic='' tree out extra_cflags src name mirror hdr kvm libs f tests build t
	if [ "$1" = --dynamic ]; then
		dynamic=1
		shift
	fi
	# An empty TREE (kernel.sh tree failed): cd "" would stay here and
	# mirror this repository as if it were the tree.
	[ -d "$1" ] || die "no kernel tree: TREE is \"$1\""
	tree=$("$here/scripts/kernel.sh" tree "$1") # a tree, 7.3 or newer
	mkdir -p "$2"
	out=$(cd "$2" && pwd)
	extra_cflags=${3:-}
	src=$here/tools/testing/selftests/kvm
	name=$(echo "$tree" | tr / _)
	mirror=$out/src/$name
	kvm=$mirror/tools/testing/selftests/kvm

	if [ ! -f "$mirror/.mirror-of" ] || [ "$(cat "$mirror/.mirror-of")" != "$tree" ]; then
		# The scratch tree comes with the UAPI headers linked in.
		"$here/scripts/kernel.sh" scratch "$tree" "$mirror"
		echo "$tree" >"$mirror/.mirror-of"
	else
		# The tree's UAPI headers, brought up to date outside the tree.
		hdr=$("$here/scripts/kernel.sh" headers "$tree")
		ln -sfn "$hdr/usr" "$mirror/usr"
	fi

	# The series' prep patches to the tree's selftests (diff=NAME:
	# patches/NAME.diff), applied to the mirror's pristine copy.
	git -C "$mirror" checkout -q -- tools/testing/selftests/kvm
	for f in $(awk '!/^[[:space:]]*(#|$)/ {
			for (i = 2; i <= NF; i++)
				if ($i ~ /^diff=/) print substr($i, 6)
		}' "$here/patches/series"); do
		git -C "$mirror" apply "$here/patches/$f.diff" ||
			die "patches/$f.diff does not apply to $tree"
	done

	libs=()
	while read -r f; do
		ln -sfn "$src/$f" "$kvm/$f"
		case $f in lib/*.c) libs+=("$f") ;; esac
	done < <(cd "$src" && find include lib x86 -name '*.[ch]' | sort)
	mapfile -t tests < <("$here/scripts/run-tests.sh" --list --all)
	[ ${#tests[@]} -gt 0 ] || die "no tests in patches/series"

	# The tree's Makefile, with this suite's library and tests added as the
	# patch series registers them.  Set before the tree's Makefile is read,
	# so that its "+=" lines append to ours.
	build=$out/build/$name
	mkdir -p "$build"
	cat >"$build/zap.mk" <<'MK'
LIBKVM_x86 += $(ZAP_LIBS)
TEST_GEN_PROGS_EXTENDED_x86 += $(addprefix x86/,$(ZAP_TESTS))
ifneq ($(ZAP_DYNAMIC),1)
LDFLAGS += -static
endif
include Makefile
MK
	make -s -C "$kvm" -f "$build/zap.mk" \
		OUTPUT="$build" ZAP_LIBS="${libs[*]}" ZAP_TESTS="${tests[*]}" \
		ZAP_DYNAMIC="$dynamic" EXTRA_CFLAGS="$extra_cflags" -j"$(nproc)" \
		"${tests[@]/#/$build/x86/}"

	for t in "${tests[@]}"; do
		cp "$build/x86/$t" "$out/$t"
	done
}

# fixes VERSION: the series' KVM fixes for VERSION, in series order.
fixes() {
	local name
	for name in $(awk '!/^[[:space:]]*(#|$)/ {
			for (i = 2; i <= NF; i++)
				if ($i ~ /^kvm=/) {
					n = split(substr($i, 5), v, ",")
					for (j = 1; j <= n; j++) print v[j]
				}
		}' "$here/patches/series"); do
		[ -f "$here/kvm/$1/$name.diff" ] ||
			die "patches/series names kvm=$name, but kvm/$1/$name.diff is missing"
		echo "$here/kvm/$1/$name.diff"
	done
}

build_modules() {
	local stock='' ver tree out src stage deb hdr release version d f m p vermagic patches=()
	if [ "$1" = --stock ]; then
		stock=1
		shift
	fi
	ver=$1
	case $ver in
	6.12 | 7.3) ;;
	*) die "modules: VERSION is 6.12 or 7.3 (Debian's kernels), not '$ver'" ;;
	esac
	mkdir -p "$2"
	out=$(cd "$2" && pwd)
	shift 2
	[ -n "$stock" ] || mapfile -t patches < <(fixes "$ver")
	for p in "$@"; do
		[ -f "$p" ] || die "no patch $p"
		patches+=("$(readlink -f "$p")")
	done
	tree=$("$here/scripts/kernel.sh" source "$ver")
	src=$CACHE/kvm-src-$ver
	stage=$src.stage

	# One module build at a time, of either version (two cores; two make
	# mutants at once would share a build tree).
	mkdir -p "$CACHE"
	exec 9>"$CACHE/kvm-src.lock"
	flock 9
	rm -rf "$CACHE/kvm-src" # the one build tree before there was one per version

	deb=$("$here/scripts/kernel.sh" debian "$ver" headers)
	hdr=$(ls -d "$deb"/usr/src/linux-headers-*-amd64)
	release=${hdr##*/linux-headers-}
	version=$(make -s -C "$tree" kernelversion)
	[ "${release%%+*}" = "$version" ] ||
		die "linux-source-$ver is $version but Debian's kernel is $release: the modules would not load"

	if [ ! -f "$src/.prepared-$release" ] || [ "$(cat "$src/.tree")" != "$tree" ]; then
		echo "build.sh: preparing $src (a copy of $tree)" >&2
		rm -rf "$src"
		mkdir -p "$src"
		tar -C "$tree" --exclude=./usr/include -cf - . | tar -C "$src" -xf -
		cp "$hdr/.config" "$hdr/Module.symvers" "$src/"
		# Debian signs with a key we do not have; the kernel loads unsigned.
		"$src/scripts/config" --file "$src/.config" --disable MODULE_SIG_ALL \
			--set-str MODULE_SIG_KEY "" --set-str SYSTEM_TRUSTED_KEYS "" \
			--set-str SYSTEM_REVOCATION_KEYS ""
		make -s -C "$src" RUSTC=/bin/false olddefconfig >&2
		make -s -C "$src" -j"$(nproc)" LOCALVERSION="+${release#*+}" modules_prepare >&2
		echo "$tree" >"$src/.tree"
		touch "$src/.prepared-$release"
	fi

	# The KVM sources as this build wants them: the tree's, with the fixes
	# and PATCHes applied, in a staging copy.  Only the files whose content
	# differs from the build tree's go there, with a new mtime (rsync
	# without -t): a restored file is older than the object built from a
	# mutant, and what did not change is not rebuilt.
	rm -rf "$stage"
	for d in arch/x86/kvm virt/kvm; do
		mkdir -p "$stage/$d"
		rsync -a --include='*/' --include='*.[chS]' --include='Makefile*' \
			--include='Kconfig' --exclude='*' "$tree/$d/" "$stage/$d/"
	done
	for p in "${patches[@]}"; do
		f=$(sed -n 's|^+++ [^/]*/\([^[:space:]]*\).*|\1|p' "$p" |
		    grep -v -e '^arch/x86/kvm/' -e '^virt/kvm/' | head -n 1) || true
		[ -z "$f" ] || die "${p##*/} changes $f: only arch/x86/kvm and virt/kvm are rebuilt"
		patch -s -p1 -F0 -d "$stage" <"$p" ||
			die "${p#"$here"/} does not apply to linux-source-$ver$([ -n "$stock" ] || echo " with the fixes")"
	done
	for d in arch/x86/kvm virt/kvm; do
		rsync -r --checksum "$stage/$d/" "$src/$d/"
	done

	make -s -C "$src" -j"$(nproc)" LOCALVERSION="+${release#*+}" M=arch/x86/kvm modules >&2
	for m in kvm kvm-amd; do
		cp "$src/arch/x86/kvm/$m.ko" "$out/$m.ko"
	done
	vermagic=$(modinfo -F vermagic "$out/kvm.ko")
	[ "${vermagic%% *}" = "$release" ] || die "built for ${vermagic%% *}, not $release"
	# What went in, for the logs.
	: >"$out/patches"
	[ ${#patches[@]} = 0 ] || printf '%s\n' "${patches[@]#"$here"/}" >"$out/patches"
	echo "build.sh: kvm modules for $release in $out ($(
		[ ${#patches[@]} = 0 ] && echo stock || echo "${patches[*]##*/}"))" >&2
}

cmd=${1:-}
shift || true
case $cmd in
tests) [ $# -ge 2 ] || die "usage: build.sh tests [--dynamic] TREE OUT [EXTRA_CFLAGS]"; build_tests "$@" ;;
modules) [ $# -ge 2 ] || die "usage: build.sh modules [--stock] VERSION OUT [PATCH...]"; build_modules "$@" ;;
*) die "usage: build.sh tests [--dynamic] TREE OUT [EXTRA_CFLAGS] | modules [--stock] VERSION OUT [PATCH...]" ;;
esac
