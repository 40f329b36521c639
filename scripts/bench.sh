#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# bench.sh OUT [PERF_ARGS]: run mmu_zap_perf_test (PERF_ARGS, e.g. -L) and
# the root-skew timing of mmu_zap_restart_test, on this machine's /dev/kvm
# if it can run them (not a PVM host's), else under QEMU (scripts/vm-run.sh:
# Debian's 6.12 with the series' KVM fixes, or $KERNEL: 7.3, a bzImage).  Writes
# OUT/bench/zap.csv and OUT/bench/zap.png (gnuplot), prints the table, the
# linearity figure (shrink ns per zapped page at the largest size divided by
# that at the smallest, measured in the same run) and the root-skew ratio.
set -euo pipefail

out=$(cd "$1" && pwd)
shift
perf_args=${*:-}
here=$(cd "$(dirname "$0")" && pwd)
bench=$out/bench
mkdir -p "$bench"

run() { # run TEST ARGS: its output, wherever it can run
	local t=$1
	shift
	if [ -w /dev/kvm ] && [ -d /sys/kernel/debug/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then
		"$out/$t" "$@" 2>&1 || true
	else
		TEST_ARGS="$*" "$here/vm-run.sh" --tests "$t" --dir "$bench/vm-$t" \
			--mem 12G "$out" 2>&1 || true
	fi
}

start=$(date +%s)
run mmu_zap_perf_test $perf_args >"$bench/perf.log"
run mmu_zap_restart_test -s >"$bench/skew.log"
secs=$(($(date +%s) - start))

grep -o 'csv,.*' "$bench/perf.log" | sed 's/^csv,//' >"$bench/zap.csv"
if [ "$(wc -l <"$bench/zap.csv")" -lt 2 ]; then
	cat "$bench/perf.log" >&2
	echo "bench.sh: mmu_zap_perf_test printed no results" >&2
	exit 1
fi
column -t -s, "$bench/zap.csv"

gnuplot <<GP
set datafile separator ","
set terminal png size 900,600 noenhanced
set yrange [0:*]
set output "$bench/zap.png"
set title "Shadow MMU zap cost per zapped page"
set logscale x 2
set xlabel "unsync shadow pages built"
set ylabel "ns per zapped page"
set key bottom left
plot "$bench/zap.csv" using 1:5 skip 1 with linespoints title "shrink to 64 (KVM_SET_NR_MMU_PAGES)", \
     "" using 1:6 skip 1 with linespoints title "delete page-table slot, zap all", \
     "" using 1:7 skip 1 with linespoints title "delete page-table slot, quirk off"
GP

awk -F, 'NR == 2 { first = $5; n1 = $1 } NR > 1 { last = $5; n2 = $1 }
	END { printf "linearity: shrink %.0f ns/page at %d pages, %.0f at %d: ratio %.2f\n",
		     first, n1, last, n2, last / first }' "$bench/zap.csv"
grep -o 'root skew ratio [0-9.]* (bound [0-9.]*)' "$bench/skew.log" ||
	echo "root skew: $(grep -o 'SKIP.*' "$bench/skew.log" | head -n 1)"
echo "bench.sh: $secs s; wrote $bench/zap.csv and $bench/zap.png"
