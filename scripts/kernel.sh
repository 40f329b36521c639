#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# kernel.sh: the kernel trees and images the other scripts work on, fetched
# into $CACHE (default ~/.cache/kvm-zap-selftests) and reused from there.
#
# kernel.sh tree [KDIR]
#	Print the path of the kernel tree the tests are built against: KDIR,
#	checked to be a kernel tree with KVM selftests, Linux 7.3 or newer;
#	without it, Debian's linux-source-7.3 (kernel.sh source 7.3).
#	Nothing is written into the tree, by this or any other command here.
# kernel.sh source VERSION
#	Print the path of Debian's linux-source-VERSION, unpacked into $CACHE:
#	6.12 (bookworm, installed with apt-get) or 7.3 (downloaded from
#	trixie-backports with a private apt state, so the machine's apt setup
#	stays as it is).  The tests build against 7.3 only; each tree is also
#	where build.sh modules builds the kvm modules of Debian's kernel of
#	that version.
# kernel.sh headers TREE
#	Print a folder whose usr/include holds TREE's exported UAPI headers
#	(make headers), made or brought up to date in $CACHE/headers with
#	make O=, so that TREE stays as it was.  A tree built in place (which
#	kbuild will not build out of the tree: it would mix in the tree's own
#	build products) gives its own usr/include if it has one, else the
#	headers are made from a copy of what make headers reads.
# kernel.sh debian VERSION [headers]
#	Fetch Debian's newest kernel of VERSION (6.12: bookworm's
#	linux-image-6.12.*-amd64-unsigned; 7.3: trixie-backports'
#	linux-binary-7.3.*-amd64 and linux-modules-7.3.*-amd64), and with
#	"headers" the packages that hold its .config and Module.symvers
#	(linux-headers-<release> and, for 7.3, the linux-* packages it depends
#	on), with apt-get download; unpack them into $CACHE/debian-<release>
#	and print that folder: the kernel vm-run.sh boots.  Its vmlinuz is
#	boot/vmlinuz-* (6.12) or usr/lib/modules/*/vmlinuz (7.3), its modules
#	under lib/modules/*/kernel or usr/lib/modules/*/kernel.
# kernel.sh scratch TREE DIR [PATCHDIR]
#	Make DIR a scratch copy of TREE to apply patches to:
#	tools/testing/selftests/kvm, arch/x86/kvm and virt/kvm are real copies
#	committed into a new git repository ("pristine"), so that neither the
#	tests nor a KVM patch of the series writes through a symlink into
#	TREE; usr is a symlink to the headers' (kernel.sh headers), where the
#	selftests Makefiles look for them; everything else is a symlink into
#	TREE, so the tree's own Makefiles and checkpatch work there and TREE
#	stays as it was.  With PATCHDIR, apply its series (not the cover
#	letter) with git am.
set -euo pipefail

CACHE=${CACHE:-$HOME/.cache/kvm-zap-selftests}
die() { echo "kernel.sh: $*" >&2; exit 1; }

is_tree() {
	[ -f "$1/Makefile" ] && grep -q '^VERSION = ' "$1/Makefile" &&
	[ -f "$1/tools/testing/selftests/kvm/lib/kvm_util.c" ] &&
	[ -d "$1/arch/x86/kvm/mmu" ]
}

# The private apt state through which trixie-backports is read: bpo_apt
# COMMAND ARGS runs apt-get (or apt-cache) with it, after one update.
bpo=$CACHE/apt-trixie-backports
bpo_apt() {
	local cmd=$1 uri opts
	shift
	mkdir -p "$bpo/lists/partial" "$bpo/cache" "$bpo/debs"
	opts=(-o Dir::Etc::SourceList="$bpo/sources.list" -o Dir::Etc::SourceParts=/dev/null
	      -o Dir::State::Lists="$bpo/lists" -o Dir::Cache="$bpo/cache"
	      -o APT::Sandbox::User=root -q)
	if [ ! -f "$bpo/lists/.updated" ]; then
		uri=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 1p)
		[ -n "$uri" ] || uri=$(sed -n 's/^deb \(http[^ ]*\/debian\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | sed -n 1p)
		[ -n "$uri" ] || die "no Debian archive in apt's sources"
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri trixie-backports main" >"$bpo/sources.list"
		apt-get "${opts[@]}" update >&2
		touch "$bpo/lists/.updated"
	fi
	"$cmd" "${opts[@]}" "$@"
}

# backports_deb PACKAGE: download PACKAGE from trixie-backports of the Debian
# archive this machine uses (bpo_apt); print the path of the .deb.
backports_deb() {
	local pkg=$1
	ls "$bpo/debs/$pkg"_*.deb >/dev/null 2>&1 ||
		(mkdir -p "$bpo/debs" && cd "$bpo/debs" && bpo_apt apt-get download "$pkg" >&2)
	ls "$bpo/debs/$pkg"_*.deb | sort -V | tail -n 1
}

# bookworm_deb PACKAGE: the same from the machine's own apt sources.
bookworm_deb() {
	local pkg=$1
	mkdir -p "$CACHE/debs"
	ls "$CACHE/debs/$pkg"_*.deb >/dev/null 2>&1 ||
		(cd "$CACHE/debs" && apt-get download -q "$pkg" >&2)
	ls "$CACHE/debs/$pkg"_*.deb | sort -V | tail -n 1
}

# version TREE: "VERSION PATCHLEVEL" of TREE's Makefile.
version() {
	sed -n -e 's/^VERSION = \([0-9]*\)$/\1/p' -e 's/^PATCHLEVEL = \([0-9]*\)$/\1/p' "$1/Makefile" |
		tr '\n' ' '
}

source_tree() {
	local v=${1:-} pkg tree tarball
	case $v in
	6.12 | 7.3) ;;
	*) die "kernel.sh source $v: 6.12 or 7.3" ;;
	esac
	pkg=linux-source-$v
	tree=$CACHE/$pkg
	if ! is_tree "$tree"; then
		mkdir -p "$CACHE"
		tarball=/usr/src/$pkg.tar.xz
		if [ "$v" = 6.12 ] && [ ! -f "$tarball" ]; then
			echo "kernel.sh: installing $pkg with apt-get" >&2
			[ "$(id -u)" = 0 ] || die "installing $pkg needs root"
			apt-get update -qq >&2
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >&2
		elif [ "$v" = 7.3 ]; then
			tarball=$CACHE/$pkg.tar.xz
			dpkg-deb --fsys-tarfile "$(backports_deb "$pkg")" |
				tar -xOf - "./usr/src/$pkg.tar.xz" >"$tarball"
		fi
		echo "kernel.sh: unpacking $tarball into $CACHE" >&2
		rm -rf "$tree.tmp" && mkdir "$tree.tmp"
		tar -xJf "$tarball" -C "$tree.tmp" --strip-components=1
		rm -rf "$tree" && mv "$tree.tmp" "$tree"
	fi
	echo "$tree"
}

tree() {
	local kdir=${1:-} v
	[ -n "$kdir" ] || { source_tree 7.3; return; }
	[ -d "$kdir" ] || die "KDIR=$kdir: no such directory"
	is_tree "$kdir" || die "KDIR=$kdir is not a kernel tree (need Makefile with VERSION, tools/testing/selftests/kvm/lib/kvm_util.c and arch/x86/kvm/mmu)"
	read -r -a v <<<"$(version "$kdir")"
	[ "${v[0]:-0}" -gt 7 ] || { [ "${v[0]:-0}" = 7 ] && [ "${v[1]:-0}" -ge 3 ]; } ||
		die "KDIR=$kdir is Linux ${v[0]:-?}.${v[1]:-?}: the tests build against 7.3 or newer (its libkvm and Makefile.kvm)"
	cd "$kdir" && pwd
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
	local ver=${1:-} pkg release dir names name deb deps
	case $ver in
	6.12)
		pkg=$(apt-cache pkgnames linux-image-6.12. |
		      grep -E '^linux-image-6\.12\.[0-9]+\+deb[0-9]+-amd64-unsigned$' |
		      sort -V | tail -n 1)
		[ -n "$pkg" ] || die "no linux-image-6.12.*-amd64-unsigned known to apt (run apt-get update)"
		release=${pkg#linux-image-}
		release=${release%-unsigned}
		names=("$pkg")
		[ "${2:-}" = headers ] && names+=("linux-headers-$release")
		;;
	7.3)
		pkg=$(bpo_apt apt-cache pkgnames linux-binary-7.3. |
		      grep -E '^linux-binary-7\.3\.[0-9]+\+deb[0-9]+-amd64$' |
		      sort -V | tail -n 1)
		[ -n "$pkg" ] || die "no linux-binary-7.3.*-amd64 in trixie-backports (rm -r $bpo/lists to read it again)"
		release=${pkg#linux-binary-}
		names=("$pkg" "linux-modules-$release")
		if [ "${2:-}" = headers ]; then
			# With the linux-* packages of the same build it depends
			# on (common headers, kbuild, base files).
			mapfile -t deps < <(bpo_apt apt-cache depends "linux-headers-$release" |
				sed -n 's/^ *Depends: \(linux-[^ ]*\)$/\1/p' | grep -F "${release%-amd64}")
			names+=("linux-headers-$release" "${deps[@]}")
		fi
		;;
	*)
		die "kernel.sh debian $ver: 6.12 or 7.3"
		;;
	esac
	dir=$CACHE/debian-$release
	for name in "${names[@]}"; do
		[ -f "$dir/.$name" ] && continue
		echo "kernel.sh: fetching $name" >&2
		if [ "$ver" = 6.12 ]; then
			deb=$(bookworm_deb "$name")
		else
			deb=$(backports_deb "$name")
		fi
		mkdir -p "$dir"
		dpkg-deb -x "$deb" "$dir"
		touch "$dir/.$name"
	done
	echo "$dir"
}

# mirror SRC DST REL...: DST holds symlinks to SRC's entries, except along
# each REL, whose last component is copied.
mirror() {
	local src=$1 dst=$2 e name rel sub
	shift 2
	mkdir -p "$dst"
	for e in "$src"/* "$src"/.[!.]*; do
		[ -e "$e" ] || [ -L "$e" ] || continue
		name=${e##*/}
		case $name in .git* | .mailmap) continue ;; esac # git reads none of these via links
		sub=()
		for rel in "$@"; do
			if [ "$rel" = "$name" ]; then
				sub=(copy)
				break
			fi
			[ "${rel%%/*}" = "$name" ] && sub+=("${rel#*/}")
		done
		if [ "${sub[*]}" = copy ]; then
			cp -a "$e" "$dst/$name"
			# An older build laid this suite into the tree as symlinks.
			find "$dst/$name" -type l -delete
		elif [ ${#sub[@]} -gt 0 ]; then
			mirror "$e" "$dst/$name" "${sub[@]}"
		else
			ln -s "$e" "$dst/$name"
		fi
	done
}

# What a scratch tree holds as real copies: the tests, and what the KVM
# patches of the series change.
copied=(tools/testing/selftests/kvm arch/x86/kvm virt/kvm)

scratch() {
	local tree dir=$2 patches hdr
	tree=$(cd "$1" && pwd)
	patches=${3:+$(cd "$3" && pwd)}
	rm -rf "$dir"
	mirror "$tree" "$dir" "${copied[@]}"
	hdr=$(headers "$tree")
	ln -sfn "$hdr/usr" "$dir/usr"
	cd "$dir"
	git init -q
	git add "${copied[@]}"
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
tree) [ $# -le 1 ] || die "usage: kernel.sh tree [KDIR]"; tree "$@" ;;
source) [ $# = 1 ] || die "usage: kernel.sh source 6.12|7.3"; source_tree "$@" ;;
headers) [ $# = 1 ] || die "usage: kernel.sh headers TREE"; headers "$@" ;;
debian) [ $# -ge 1 ] || die "usage: kernel.sh debian 6.12|7.3 [headers]"; debian "$@" ;;
scratch) [ $# -ge 2 ] || die "usage: kernel.sh scratch TREE DIR [PATCHDIR]"; scratch "$@" ;;
*) die "usage: kernel.sh tree [KDIR] | source 6.12|7.3 | headers TREE | debian 6.12|7.3 [headers] | scratch TREE DIR [PATCHDIR]" ;;
esac
