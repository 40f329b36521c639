#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# deps.sh: install the Debian packages the Makefile's targets need, if any
# is missing (apt-get needs root).
set -euo pipefail

pkgs=(gcc make libc6-dev perl bc flex bison libelf-dev libssl-dev rsync
      xz-utils cpio gzip file clang-format git
      qemu-system-x86 busybox-static dwarves gnuplot-nox bsdextrautils
      python3-ply python3-git valgrind libc6-dbg)
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
