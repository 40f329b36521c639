#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# build-kvm-modules.sh TREE OUT [PATCH]: build kvm.ko and kvm-amd.ko from
# TREE's arch/x86/kvm and virt/kvm (with PATCH applied) for Debian's stock
# 6.12 kernel: with its .config and Module.symvers (from its linux-headers
# package), so that kernel loads them.  The build tree is a copy of TREE in
# $CACHE/kvm-src; after a change to one file only that file is rebuilt.
# TREE must be the version of Debian's kernel (6.12.N).
set -euo pipefail

tree=$(cd "$1" && pwd)
mkdir -p "$2"
out=$(cd "$2" && pwd)
patch=${3:+$(readlink -f "$3")}
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${CACHE:-$HOME/.cache/kvm-zap-selftests}
src=$CACHE/kvm-src
die() { echo "build-kvm-modules.sh: $*" >&2; exit 1; }

# One build at a time in the shared build tree (two make mutants at once).
mkdir -p "$CACHE"
exec 9>"$CACHE/kvm-src.lock"
flock 9

deb=$("$here/kernel.sh" debian headers)
hdr=$(ls -d "$deb"/usr/src/linux-headers-*-amd64)
release=${hdr##*/linux-headers-}
version=$(make -s -C "$tree" kernelversion)
[ "${release%%+*}" = "$version" ] ||
	die "TREE is $version but Debian's kernel is $release: the modules would not load"

if [ ! -f "$src/.prepared-$release" ] || [ "$(cat "$src/.tree")" != "$tree" ]; then
	echo "build-kvm-modules.sh: preparing $src (a copy of $tree)" >&2
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
