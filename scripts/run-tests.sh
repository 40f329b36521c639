#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# run-tests.sh DIR [TEST...]: run the suite's test binaries in DIR (all of
# patches/series, or the TESTs named) and print KTAP: each test's output
# as diagnostics, a line as the test prints it, one result line per test,
# the kselftest totals line and a plain "N passed, N failed, N skipped"
# line.  Exit 1 if any test failed or timed out.  POSIX sh: it also runs
# under busybox inside the QEMU guest.
#
# run-tests.sh --list [--all]: the tests of patches/series, one a line (with
# --all, its benchmarks too): the one reader of the series' test list.
#
# On a PVM host (/sys/module/kvm_pvm, with /dev/kvm) every test is
# reported as skipped, none is run, and the exit status is 0.
#
# TEST_ARGS are passed to every test (e.g. "-n 32768"), ARGS_<test> to
# that test only (vm-run.sh: ARGS_mmu_zap_walk_test=-d in its guest).
# TIMEOUT (seconds per test, default 120) ends a hung test; its threads'
# kernel stacks are printed first where /proc/PID/task/*/stack is readable.

series=$(dirname "$0")/../patches/series
[ -f "$series" ] || series=$(dirname "$0")/series # in the QEMU guest
# list KEYS: the values of those keys in the series' entries ("FILE
# key=value[,value...] ..."), in series order.
list() {
	awk -v keys=" $1 " '!/^[[:space:]]*(#|$)/ {
		for (i = 2; i <= NF; i++) {
			k = $i
			if (!sub(/=.*/, "", k) || !index(keys, " " k " "))
				continue
			n = split(substr($i, length(k) + 2), v, ",")
			for (j = 1; j <= n; j++)
				if (v[j] != "")
					print v[j]
		}
	}' "$series"
}
if [ "${1:-}" = --list ]; then
	case ${2:-} in
	--all) list "test bench" ;;
	'') list test ;;
	*) echo "run-tests.sh: --list [--all], not --list $2" >&2; exit 2 ;;
	esac
	exit 0
fi
dir=$1
shift
if [ $# -eq 0 ]; then
	set -- $(list test)
fi

# A PVM host's KVM (kvm_pvm) runs ring-0 guest code by emulation and
# shadows none of it: the suite has nothing to test there.
if [ -d /sys/module/kvm_pvm ] && [ -e /dev/kvm ]; then
	echo "TAP version 13"
	echo "1..$#"
	n=0
	for t in "$@"; do
		n=$((n + 1))
		echo "ok $n $t # SKIP kvm_pvm emulates ring-0 guest code and builds no shadow pages for it; make vm-run runs the suite under QEMU"
	done
	echo "# Totals: pass:0 fail:0 xfail:0 xpass:0 skip:$# error:0"
	echo "0 passed, 0 failed, $# skipped"
	exit 0
fi
timeout=${TIMEOUT:-120}

if [ ! -d /sys/kernel/debug/kvm ] && ! grep -qs ' /sys/kernel/debug debugfs ' /proc/mounts &&
   [ "$(id -u)" = 0 ]; then
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null &&
		echo "# mounted debugfs at /sys/kernel/debug"
fi

echo "TAP version 13"
echo "1..$#"
n=0 pass=0 fail=0 skip=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
log=$tmp/log
for t in "$@"; do
	n=$((n + 1))
	echo "# $t"
	start=$(date +%s)
	# The test writes into a FIFO of its own; the reader prints each line
	# as it comes (and keeps it in $log for the skip reason).  The test
	# runs itself in the background job, so $pid is the test's.
	fifo=$tmp/fifo$n
	mkfifo "$fifo"
	while IFS= read -r line || [ -n "$line" ]; do
		printf '# %s\n' "$line"
		printf '%s\n' "$line" >&3
	done <"$fifo" 3>"$log" &
	reader=$!
	# shellcheck disable=SC2086
	eval "targs=\${ARGS_$t:-}"
	"$dir/$t" ${TEST_ARGS:-} $targs >"$fifo" 2>&1 &
	pid=$!
	ticks=0
	while kill -0 "$pid" 2>/dev/null && [ "$ticks" -lt $((timeout * 5)) ]; do
		sleep 0.2
		ticks=$((ticks + 1))
	done
	if kill -0 "$pid" 2>/dev/null; then
		for task in /proc/"$pid"/task/*; do
			echo "# kernel stack of ${task##*/}:"
			sed 's/^/#   /' "$task/stack" 2>/dev/null
		done
		kill -TERM "$pid" 2>/dev/null
		sleep 2
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		rc=timeout
	else
		wait "$pid"
		rc=$?
	fi
	# The reader ends with the test's output; a process the test left
	# behind with the FIFO open must not hold the runner up.
	ticks=0
	while kill -0 "$reader" 2>/dev/null && [ "$ticks" -lt 10 ]; do
		sleep 0.2
		ticks=$((ticks + 1))
	done
	kill "$reader" 2>/dev/null
	wait "$reader" 2>/dev/null
	secs=$(($(date +%s) - start))
	# Nothing of the test may survive it in tracefs, killed or not.
	for tr in /sys/kernel/tracing /sys/kernel/debug/tracing; do
		[ -d "$tr/instances" ] || continue
		left=$(ls "$tr/instances" | grep "^kvm_zap_selftest_ns[0-9]*_pid$pid\$"
		       grep "kvm_zap_selftest/[a-z_]*_ns[0-9]*_pid$pid " "$tr/kprobe_events" 2>/dev/null)
		if [ -n "$left" ] && [ "$rc" != timeout ]; then
			echo "# left behind in $tr: $left"
			rc=leftover
		fi
		break
	done
	case $rc in
	0)
		pass=$((pass + 1))
		echo "ok $n $t # ${secs}s"
		;;
	4)
		skip=$((skip + 1))
		reason=$(sed -n 's/.*# SKIP *-* *//p' "$log" | head -n 1)
		echo "ok $n $t # SKIP ${reason:-exit code 4}"
		;;
	timeout)
		fail=$((fail + 1))
		echo "not ok $n $t # TIMEOUT after ${timeout}s"
		;;
	leftover)
		fail=$((fail + 1))
		echo "not ok $n $t # left tracefs state behind"
		;;
	*)
		fail=$((fail + 1))
		echo "not ok $n $t # exit code $rc"
		;;
	esac
done
rm -rf "$tmp"
echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:$skip error:0"
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" = 0 ]
