#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# deps.sh GROUP...: install the Debian packages that the named groups of
# Makefile targets need, if any is missing (apt-get needs root).  Each
# target asks only for what it uses, so that "make run" installs no QEMU.
set -euo pipefail

declare -A group=(
	[build]="gcc make libc6-dev perl rsync xz-utils git"
	[vm]="qemu-system-x86 busybox-static cpio gzip file"
	[modules]="bc flex bison libelf-dev libssl-dev dwarves"
	
	[soak]="valgrind libc6-dbg"
	[check]="git clang-format python3-ply python3-git bsdextrautils"
)
pkgs=()
for g in "${@:-build}"; do
	[ -n "${group[$g]:-}" ] || { echo "deps.sh: no group $g (${!group[*]})" >&2; exit 2; }
	read -ra p <<<"${group[$g]}"
	pkgs+=("${p[@]}")
done
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null ||
		missing+=("$p")
done
[ ${#missing[@]} = 0 ] && exit 0
[ "$(id -u)" = 0 ] || { echo "deps.sh: need root to install: ${missing[*]}" >&2; exit 1; }
echo "deps.sh: installing ${missing[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
