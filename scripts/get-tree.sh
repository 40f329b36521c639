#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# get-tree.sh [KDIR]: print the path of the kernel tree to build against.
# With KDIR, check that it is a kernel tree with KVM selftests.  Without it,
# take Debian's linux-source-$KERNEL_TREE (6.12, the default, installed with
# apt-get; 7.3 downloaded from trixie-backports without touching the
# machine's apt setup) and unpack it into the cache folder ($CACHE),
# reusing an earlier unpack.  Then make sure the tree's exported UAPI
# headers (make headers) exist.
set -euo pipefail

CACHE=${CACHE:-$HOME/.cache/kvm-zap-selftests}
KERNEL_TREE=${KERNEL_TREE:-6.12}
SRC_PKG=linux-source-$KERNEL_TREE
kdir=${1:-}

die() { echo "get-tree.sh: $*" >&2; exit 1; }

is_tree() {
	[ -f "$1/Makefile" ] && grep -q '^VERSION = ' "$1/Makefile" &&
	[ -f "$1/tools/testing/selftests/kvm/lib/kvm_util.c" ] &&
	[ -d "$1/arch/x86/kvm/mmu" ]
}

if [ -n "$kdir" ]; then
	[ -d "$kdir" ] || die "KDIR=$kdir: no such directory"
	is_tree "$kdir" || die "KDIR=$kdir is not a kernel tree (need Makefile with VERSION, tools/testing/selftests/kvm/lib/kvm_util.c and arch/x86/kvm/mmu)"
	tree=$(cd "$kdir" && pwd)
else
	tree=$CACHE/$SRC_PKG
	if ! is_tree "$tree"; then
		tarball=/usr/src/$SRC_PKG.tar.xz
		case $KERNEL_TREE in
		6.12)
			if [ ! -f "$tarball" ]; then
				echo "get-tree.sh: installing $SRC_PKG with apt-get" >&2
				[ "$(id -u)" = 0 ] || die "installing $SRC_PKG needs root"
				apt-get update -qq >&2
				DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$SRC_PKG" >&2
			fi
			;;
		7.3)
			deb=$("$(dirname "$0")/get-source-pkg.sh" trixie-backports \
			      "$SRC_PKG" "$CACHE/apt-trixie-backports")
			tarball=$CACHE/$SRC_PKG.tar.xz
			dpkg-deb --fsys-tarfile "$deb" |
				tar -xOf - "./usr/src/$SRC_PKG.tar.xz" >"$tarball"
			;;
		*)
			die "KERNEL_TREE=$KERNEL_TREE: 6.12 or 7.3 (or name a tree with KDIR=)"
			;;
		esac
		echo "get-tree.sh: unpacking $tarball into $CACHE" >&2
		mkdir -p "$CACHE"
		rm -rf "$tree.tmp" && mkdir "$tree.tmp"
		tar -xJf "$tarball" -C "$tree.tmp" --strip-components=1
		rm -rf "$tree" && mv "$tree.tmp" "$tree"
	fi
fi

if [ ! -f "$tree/usr/include/linux/kvm.h" ]; then
	echo "get-tree.sh: make headers in $tree" >&2
	make -s -C "$tree" headers >&2
fi
echo "$tree"
