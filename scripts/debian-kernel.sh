#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# debian-kernel.sh [headers]: fetch Debian's newest linux-image-6.12.*-amd64-
# unsigned (and with "headers", its linux-headers package) with apt-get
# download, unpack it into $CACHE, and print the unpacked folder.
set -euo pipefail

CACHE=${CACHE:-$HOME/.cache/kvm-zap-selftests}
die() { echo "debian-kernel.sh: $*" >&2; exit 1; }

pkg=$(apt-cache pkgnames linux-image-6.12. |
      grep -E '^linux-image-6\.12\.[0-9]+\+deb12-amd64-unsigned$' |
      sort -V | tail -n 1)
[ -n "$pkg" ] || die "no linux-image-6.12.*-amd64-unsigned known to apt (run apt-get update)"
release=${pkg#linux-image-}
release=${release%-unsigned}
dir=$CACHE/debian-$release

fetch() {
	local name=$1
	[ -f "$dir/.$name" ] && return
	echo "debian-kernel.sh: fetching $name" >&2
	mkdir -p "$CACHE/debs" "$dir"
	(cd "$CACHE/debs" && apt-get download -q "$name" >&2)
	dpkg-deb -x "$CACHE"/debs/"$name"_*.deb "$dir"
	touch "$dir/.$name"
}

fetch "$pkg"
[ "${1:-}" = headers ] && fetch "linux-headers-$release"
echo "$dir"
