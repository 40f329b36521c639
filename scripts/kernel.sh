#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# kernel.sh: the kernel trees and images the other scripts work on, fetched
# into $CACHE (default ~/.cache/kvm-zap-selftests) and reused from there.
#
# kernel.sh tree [KDIR]
#	Print the path of the kernel tree to build against.  With KDIR, check
#	that it is a kernel tree with KVM selftests.  Without it, Debian's
#	linux-source-$KERNEL_TREE (6.12, the default, installed with apt-get;
#	7.3 downloaded from trixie-backports with a private apt state, so the
#	machine's apt setup stays as it is), unpacked into $CACHE.  Nothing is
#	written into the tree, by this or any other command here.
# kernel.sh headers TREE
#	Print a folder whose usr/include holds TREE's exported UAPI headers
#	(make headers), made or brought up to date in $CACHE/headers with
#	make O=, so that TREE stays as it was.  A tree built in place (which
#	kbuild will not build out of the tree: it would mix in the tree's own
#	build products) gives its own usr/include if it has one, else the
#	headers are made from a copy of what make headers reads.
# kernel.sh debian [headers]
#	Fetch Debian's newest linux-image-6.12.*-amd64-unsigned (and with
#	"headers", its linux-headers package) with apt-get download, unpack it
#	into $CACHE and print the unpacked folder: the kernel vm-run.sh boots.
# kernel.sh scratch TREE DIR [PATCHDIR]
#	Make DIR a scratch copy of TREE to apply patches to:
#	tools/testing/selftests/kvm is a real copy committed into a new git
#	repository ("pristine"); usr is a symlink to the headers' (kernel.sh
#	headers), where the selftests Makefiles look for them; everything else
#	is a symlink into TREE, so the tree's own Makefiles and checkpatch work
#	there and TREE stays as it was.  With PATCHDIR, apply its series (not
#	the cover letter) with git am.
set -euo pipefail

CACHE=${CACHE:-$HOME/.cache/kvm-zap-selftests}
die() { echo "kernel.sh: $*" >&2; exit 1; }

is_tree() {
	[ -f "$1/Makefile" ] && grep -q '^VERSION = ' "$1/Makefile" &&
	[ -f "$1/tools/testing/selftests/kvm/lib/kvm_util.c" ] &&
	[ -d "$1/arch/x86/kvm/mmu" ]
}

# backports_deb PACKAGE: download PACKAGE from trixie-backports of the Debian
# archive this machine uses, with a private sources list and apt state;
# print the path of the .deb.
backports_deb() {
	local pkg=$1 dir=$CACHE/apt-trixie-backports uri opts
	mkdir -p "$dir/lists/partial" "$dir/cache" "$dir/debs"
	uri=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 1p)
	[ -n "$uri" ] || uri=$(sed -n 's/^deb \(http[^ ]*\/debian\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | sed -n 1p)
	[ -n "$uri" ] || die "no Debian archive in apt's sources"
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie-backports main" >"$dir/sources.list"
	opts=(-o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
	      -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache"
	      -o APT::Sandbox::User=root -q)
	if [ ! -f "$dir/lists/.updated" ]; then
		apt-get "${opts[@]}" update >&2
		touch "$dir/lists/.updated"
	fi
	ls "$dir/debs/$pkg"_*.deb >/dev/null 2>&1 ||
		(cd "$dir/debs" && apt-get "${opts[@]}" download "$pkg" >&2)
	ls "$dir/debs/$pkg"_*.deb | sort -V | tail -n 1
}

tree() {
	local kdir=${1:-} kernel_tree=${KERNEL_TREE:-6.12} pkg tree tarball
	pkg=linux-source-$kernel_tree
	if [ -n "$kdir" ]; then
		[ -d "$kdir" ] || die "KDIR=$kdir: no such directory"
		is_tree "$kdir" || die "KDIR=$kdir is not a kernel tree (need Makefile with VERSION, tools/testing/selftests/kvm/lib/kvm_util.c and arch/x86/kvm/mmu)"
		tree=$(cd "$kdir" && pwd)
	else
		tree=$CACHE/$pkg
		if ! is_tree "$tree"; then
			tarball=/usr/src/$pkg.tar.xz
			case $kernel_tree in
			6.12)
				if [ ! -f "$tarball" ]; then
					echo "kernel.sh: installing $pkg with apt-get" >&2
					[ "$(id -u)" = 0 ] || die "installing $pkg needs root"
					apt-get update -qq >&2
					DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >&2
				fi
				;;
			7.3)
				mkdir -p "$CACHE"
				tarball=$CACHE/$pkg.tar.xz
				dpkg-deb --fsys-tarfile "$(backports_deb "$pkg")" |
					tar -xOf - "./usr/src/$pkg.tar.xz" >"$tarball"
				;;
			*)
				die "KERNEL_TREE=$kernel_tree: 6.12 or 7.3 (or name a tree with KDIR=)"
				;;
			esac
			echo "kernel.sh: unpacking $tarball into $CACHE" >&2
			mkdir -p "$CACHE"
			rm -rf "$tree.tmp" && mkdir "$tree.tmp"
			tar -xJf "$tarball" -C "$tree.tmp" --strip-components=1
			rm -rf "$tree" && mv "$tree.tmp" "$tree"
		fi
	fi
	echo "$tree"
}

headers() {
	local tree hdr src
	tree=$(cd "$1" && pwd)
	src=$tree
	hdr=$CACHE/headers/$(echo "$tree" | tr / _)
	mkdir -p "$CACHE/headers"
	exec 8>"$hdr.lock"
	flock 8
	# Built in place: what kbuild checks before it builds with O=.
	if [ -f "$tree/.config" ] || [ -d "$tree/include/config" ] ||
	   [ -d "$tree/arch/x86/include/generated" ]; then
		if [ -f "$tree/usr/include/linux/kvm.h" ]; then
			echo "$tree"
			return
		fi
		# A copy of what make headers reads, without the tree's build
		# products (no .cmd file: kbuild rebuilds what a copy brought).
		src=$hdr.src
		mkdir -p "$src"
		(cd "$tree" && rsync -a --delete -R --exclude=/include/config \
			--exclude=/include/generated --exclude=/arch/x86/include/generated \
			--exclude='*.o' --exclude='.*.cmd' \
			Makefile scripts include arch/x86 tools/include "$src/")
	fi
	[ -f "$hdr/usr/include/linux/kvm.h" ] ||
		echo "kernel.sh: exporting the UAPI headers of $tree into $hdr" >&2
	make -s -C "$src" O="$hdr" headers >&2
	echo "$hdr"
}

debian() {
	local pkg release dir names name
	pkg=$(apt-cache pkgnames linux-image-6.12. |
	      grep -E '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' |
	      sort -V | tail -n 1)
	[ -n "$pkg" ] || die "no linux-image-6.12.*-amd64-unsigned known to apt (run apt-get update)"
	release=${pkg#linux-image-}
	release=${release%-unsigned}
	dir=$CACHE/debian-$release
	names=("$pkg")
	[ "${1:-}" = headers ] && names+=("linux-headers-$release")
	for name in "${names[@]}"; do
		[ -f "$dir/.$name" ] && continue
		echo "kernel.sh: fetching $name" >&2
		mkdir -p "$CACHE/debs" "$dir"
		(cd "$CACHE/debs" && apt-get download -q "$name" >&2)
		dpkg-deb -x "$CACHE"/debs/"$name"_*.deb "$dir"
		touch "$dir/.$name"
	done
	echo "$dir"
}

# mirror SRC DST REL: DST holds symlinks to SRC's entries, except along
# REL, whose last component is copied.
mirror() {
	local src=$1 dst=$2 rel=$3 first=${3%%/*} e
	mkdir -p "$dst"
	for e in "$src"/* "$src"/.[!.]*; do
		[ -e "$e" ] || [ -L "$e" ] || continue
		case ${e##*/} in
		"$first" | .git* | .mailmap) ;; # git reads none of these via links
		*) ln -s "$e" "$dst/${e##*/}" ;;
		esac
	done
	if [ "$rel" = "$first" ]; then
		cp -a "$src/$first" "$dst/$first"
		# An older build laid this suite into the tree as symlinks.
		find "$dst/$first" -type l -delete
	else
		mirror "$src/$first" "$dst/$first" "${rel#*/}"
	fi
}

scratch() {
	local tree dir=$2 patches hdr rel=tools/testing/selftests/kvm
	tree=$(cd "$1" && pwd)
	patches=${3:+$(cd "$3" && pwd)}
	rm -rf "$dir"
	mirror "$tree" "$dir" "$rel"
	hdr=$(headers "$tree")
	ln -sfn "$hdr/usr" "$dir/usr"
	cd "$dir"
	git init -q
	git add "$rel"
	git -c user.name=pristine -c user.email=pristine@localhost commit -q -m pristine
	if [ -n "$patches" ]; then
		git -c user.name=check -c user.email=check@localhost am -q \
			$(ls "$patches"/*.patch | grep -v /0000-)
		echo "kernel.sh: the series in $patches applies to $tree" >&2
	fi
}

cmd=${1:-}
shift || true
case $cmd in
tree) tree "$@" ;;
headers) [ $# = 1 ] || die "usage: kernel.sh headers TREE"; headers "$@" ;;
debian) debian "$@" ;;
scratch) [ $# -ge 2 ] || die "usage: kernel.sh scratch TREE DIR [PATCHDIR]"; scratch "$@" ;;
*) die "usage: kernel.sh tree [KDIR] | headers TREE | debian [headers] | scratch TREE DIR [PATCHDIR]" ;;
esac
