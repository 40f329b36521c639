#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# scratch-tree.sh TREE DIR [PATCHDIR]: make DIR a scratch copy of kernel
# TREE for applying patches: tools/testing/selftests/kvm is a real copy
# committed into a new git repository ("pristine"); everything else is a
# symlink into TREE, so the tree's own Makefiles and checkpatch work there.
# With PATCHDIR, apply its series (not the cover letter) with git am.
set -euo pipefail

tree=$(cd "$1" && pwd)
dir=$2
patches=${3:+$(cd "$3" && pwd)}
rel=tools/testing/selftests/kvm

mirror() { # mirror SRC DST REL
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
		# An older build-tests.sh laid this suite into the tree as symlinks.
		find "$dst/$first" -type l -delete
	else
		mirror "$src/$first" "$dst/$first" "${rel#*/}"
	fi
}

rm -rf "$dir"
mirror "$tree" "$dir" "$rel"
cd "$dir"
git init -q
git add "$rel"
git -c user.name=pristine -c user.email=pristine@localhost commit -q -m pristine
if [ -n "$patches" ]; then
	git -c user.name=check -c user.email=check@localhost am -q \
		$(ls "$patches"/*.patch | grep -v /0000-)
	echo "scratch-tree.sh: the series in $patches applies to $tree" >&2
fi
