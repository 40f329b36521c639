#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# get-source-pkg.sh SUITE PACKAGE DIR: download PACKAGE (e.g. linux-source-7.3)
# from SUITE (e.g. trixie-backports) of the Debian archive this machine
# already uses, with a private sources list and apt state under DIR, so the
# machine's apt setup and installed packages stay as they are.  Prints the
# path of the downloaded .deb.
set -euo pipefail

suite=$1 pkg=$2 dir=$3
mkdir -p "$dir/lists/partial" "$dir/cache" "$dir/debs"
uri=$(sed -n 's/^URIs: *\([^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 1p)
[ -n "$uri" ] || uri=$(sed -n 's/^deb \(http[^ ]*\/debian\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | sed -n 1p)
[ -n "$uri" ] || { echo "get-source-pkg.sh: no Debian archive in apt's sources" >&2; exit 1; }
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri $suite main" >"$dir/sources.list"
opts=(-o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache"
      -o APT::Sandbox::User=root -q)
if [ ! -f "$dir/lists/.updated" ]; then
	apt-get "${opts[@]}" update >&2
	touch "$dir/lists/.updated"
fi
cd "$dir/debs"
ls "$pkg"_*.deb >/dev/null 2>&1 || apt-get "${opts[@]}" download "$pkg" >&2
echo "$dir/debs/$(ls "$pkg"_*.deb | sort -V | tail -n 1)"
