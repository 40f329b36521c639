#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# build.sh tests [--dynamic] TREE OUT [EXTRA_CFLAGS]
#	Build libkvm, this suite's library and the tests and benchmarks of patches/series with
#	TREE's own selftests Makefile, and put each binary at OUT/<test-name>,
#	linked statically (one binary serves the host and the QEMU initramfs);
#	--dynamic links dynamically, for valgrind (which cannot replace the
#	allocator of a static binary).  TREE is left exactly as it was: the
#	build runs in OUT/src/<tree>, a scratch tree (kernel.sh scratch) into
#	which this suite's files are laid as symlinks, so edits here need no
#	copy, and whose usr holds TREE's UAPI headers, exported outside TREE
#	(kernel.sh headers).  Objects go to OUT/build/<tree>.
# build.sh modules TREE OUT [PATCH]
#	Build kvm.ko and kvm-amd.ko from TREE's arch/x86/kvm and virt/kvm (with
#	PATCH applied) for Debian's stock 6.12 kernel, with its .config and
#	Module.symvers (from its linux-headers package), so that kernel loads
#	them; into OUT.  The build tree is a copy of TREE in $CACHE/kvm-src;
#	after a change to one file only that file is rebuilt.  TREE must be the
#	version of Debian's kernel (6.12.N).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE:-$HOME/.cache/kvm-zap-selftests}
die() { echo "build.sh: $*" >&2; exit 1; }

build_tests() {
	local dynamic='' tree out extra_cflags src name mirror hdr kvm arch libs f dst tests build t
	if [ "$1" = --dynamic ]; then
		dynamic=1
		shift
	fi
	# An empty TREE (kernel.sh tree failed): cd "" would stay here and
	# mirror this repository as if it were the tree.
	[ -d "$1" ] || die "no kernel tree: TREE is \"$1\""
	tree=$(cd "$1" && pwd)
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

	# The tree names the x86 folders x86_64 up to 6.13 and x86 after.
	arch=x86
	[ -d "$kvm/x86_64" ] && arch=x86_64

	libs=()
	while read -r f; do
		dst=${f/x86/$arch}
		ln -sfn "$src/$f" "$kvm/$dst"
		case $f in lib/*.c) libs+=("$dst") ;; esac
	done < <(cd "$src" && find include lib x86 -name '*.[ch]' | sort)
	mapfile -t tests < <("$here/scripts/run-tests.sh" --list --all)
	[ ${#tests[@]} -gt 0 ] || die "no tests in patches/series"

	# The tree's Makefile, with this suite's library and tests added as the
	# patch series registers them.  Set before the tree's Makefile is read,
	# so that its "+=" lines append to ours.
	build=$out/build/$name
	mkdir -p "$build"
	cat >"$build/zap.mk" <<'MK'
LIBKVM_$(ZAP_ARCH) += $(ZAP_LIBS)
TEST_GEN_PROGS_EXTENDED_$(ZAP_ARCH) += $(addprefix $(ZAP_ARCH)/,$(ZAP_TESTS))
ifneq ($(ZAP_DYNAMIC),1)
LDFLAGS += -static
endif
include Makefile
MK
	make -C "$kvm" -f "$build/zap.mk" \
		OUTPUT="$build" ZAP_ARCH="$arch" ZAP_LIBS="${libs[*]}" ZAP_TESTS="${tests[*]}" \
		ZAP_DYNAMIC="$dynamic" EXTRA_CFLAGS="$extra_cflags" -j"$(nproc)" \
		"${tests[@]/#/$build/$arch/}"

	for t in "${tests[@]}"; do
		cp "$build/$arch/$t" "$out/$t"
	done
}

build_modules() {
	local tree out patch src deb hdr release version d f m vermagic
	tree=$(cd "$1" && pwd)
	mkdir -p "$2"
	out=$(cd "$2" && pwd)
	patch=${3:+$(readlink -f "$3")}
	src=$CACHE/kvm-src

	# One build at a time in the shared build tree (two make mutants at once).
	mkdir -p "$CACHE"
	exec 9>"$CACHE/kvm-src.lock"
	flock 9

	deb=$("$here/scripts/kernel.sh" debian headers)
	hdr=$(ls -d "$deb"/usr/src/linux-headers-*-amd64)
	release=${hdr##*/linux-headers-}
	version=$(make -s -C "$tree" kernelversion)
	[ "${release%%+*}" = "$version" ] ||
		die "TREE is $version but Debian's kernel is $release: the modules would not load"

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

	# Bring the KVM sources back to TREE's, then apply PATCH.  Touch what
	# changed: a restored file is older than the object built from a mutant.
	for d in arch/x86/kvm virt/kvm; do
		rsync -a --checksum --out-format='%n' --include='*/' \
			--include='*.[chS]' --include='Makefile*' --include='Kconfig' \
			--exclude='*' "$tree/$d/" "$src/$d/" |
			while read -r f; do
				if [ -f "$src/$d/$f" ]; then touch "$src/$d/$f"; fi
			done
	done
	if [ -n "$patch" ]; then
		patch -s -p1 -d "$src" <"$patch"
	fi

	make -s -C "$src" -j"$(nproc)" LOCALVERSION="+${release#*+}" M=arch/x86/kvm modules >&2
	for m in kvm kvm-amd; do
		cp "$src/arch/x86/kvm/$m.ko" "$out/$m.ko"
	done
	vermagic=$(modinfo -F vermagic "$out/kvm.ko")
	[ "${vermagic%% *}" = "$release" ] || die "built for ${vermagic%% *}, not $release"
}

cmd=${1:-}
shift || true
case $cmd in
tests) [ $# -ge 2 ] || die "usage: build.sh tests [--dynamic] TREE OUT [EXTRA_CFLAGS]"; build_tests "$@" ;;
modules) [ $# -ge 2 ] || die "usage: build.sh modules TREE OUT [PATCH]"; build_modules "$@" ;;
*) die "usage: build.sh tests [--dynamic] TREE OUT [EXTRA_CFLAGS] | modules TREE OUT [PATCH]" ;;
esac
