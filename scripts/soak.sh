#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# soak.sh [--vm] [--plant] DIR RUNS PARALLEL KILLS: the reliability soak of
# the tests in DIR, as root, where /dev/kvm is: on this machine if it can
# run the tests, else (and with --vm) in the QEMU guest (vm-run.sh --soak,
# whose init runs this script again there).  make soak runs 50 4 12, make
# check 5 2 1.
#  1. RUNS runs of every test of patches/series, one after another: the
#     failure count and each test's min/median/max run time; a line per run;
#  2. PARALLEL instances of every test at once: all must pass;
#  3. KILLS kills: each test in turn gets SIGINT, SIGTERM and SIGKILL at a
#     random point of the part of its run that holds state (tracefs
#     instance, VMs), named by the case in progress: no tracefs instance
#     or probe of the killed pid, nor a kvmmmu event enabled globally, may
#     survive SIGINT or SIGTERM; what SIGKILL leaves, the next run must
#     remove (and say so); the next run must pass;
#  4. each missing requirement (no /dev/kvm, not root, no tracefs, TDP
#     on) must make the tests that need it exit 4; without debugfs they
#     pass (binary stats), or skip for want of a tracefs;
#  5. if DIR/valgrind holds dynamically linked builds of the tests (make
#     soak builds them), one run of each at a small N under valgrind's
#     memcheck: no invalid access, no use of uninitialised memory, no leak,
#     and the test passes.
# --plant is the soak's self-test: steps 1 and 3 only, and leftovers
# planted where each check looks must turn it red (below).
# POSIX sh, for busybox.  Exit 1 on any failure.
vm='' plant=''
while :; do
	case ${1:-} in
	--vm) vm=1; shift ;;
	--plant) plant=1; shift ;;
	*) break ;;
	esac
done
dir=$(cd "$1" && pwd) runs=$2 par=$3 kills=$4
# On the host (vm-run.sh beside this script; the guest has none): into
# the QEMU guest, if asked or if this machine cannot run the tests (no
# usable /dev/kvm, or a PVM host's: kvm_pvm builds no shadow pages for
# ring-0 guest code).
if [ -x "$(dirname "$0")/vm-run.sh" ] &&
   { [ -n "$vm" ] || ! [ -w /dev/kvm ] || ! [ -d /sys/kernel/debug/kvm ] ||
     [ -d /sys/module/kvm_pvm ]; }; then
	vg=''
	[ -z "$plant" ] && [ -d "$dir/valgrind" ] && vg="--valgrind $dir/valgrind"
	# shellcheck disable=SC2086
	exec "$(dirname "$0")/vm-run.sh" --soak "$runs $par $kills" ${plant:+--plant} $vg \
		--mem 8G --timeout $((600 + runs * 180 + kills * 60)) "$dir"
fi
tests=$("$(dirname "$0")/run-tests.sh" --list)
log=/tmp/soak.$$ # and $log.* for the soak's other files
trap 'rm -f "$log" "$log".*' EXIT
fails=0 skipping=' '
# The tests that open a zap trace (zap_trace_open()): they skip without a
# tracefs, so a pass means they wrote to one.
trace_tests="mmu_zap_restart_test"
# Where they write: the first tracefs with kvmmmu events, as the library's
# find_tracefs() picks it (a host may have only /sys/kernel/debug/tracing,
# and an empty /sys/kernel/tracing).
# The tests name their tracefs state with a tag: the inode of their pid
# namespace (ours) and their pid, "ns<inode>_pid<pid>".
ns=$(readlink /proc/self/ns/pid | tr -dc 0-9)
tag() { echo "ns${ns}_pid$1"; }
tracing=
for d in /sys/kernel/tracing /sys/kernel/debug/tracing; do
	if [ -r "$d/events/kvmmmu/kvm_mmu_prepare_zap_page" ] && [ -d "$d/instances" ]; then
		tracing=$d
		break
	fi
done

say() { echo "soak: $*"; }
bad() {
	if [ -n "$planted" ]; then
		echo "soak: FAIL (planted): $*"
		reds=$((reds + 1))
		return
	fi
	echo "soak: FAIL: $*"
	fails=$((fails + 1))
}
ticks() { cut -d' ' -f1 /proc/uptime | tr -d .; } # centiseconds
leftovers() { # leftovers PID: PID's tracing state in tracefs, one a line
	if [ -z "$tracing" ]; then
		echo "no tracefs at /sys/kernel/tracing or /sys/kernel/debug/tracing to look in"
		return
	fi
	i=$tracing/instances/kvm_zap_selftest_$(tag "$1")
	[ ! -d "$i" ] || echo "instance $i"
	grep "kvm_zap_selftest/[a-z0-9_]*_$(tag "$1") " "$tracing/kprobe_events" 2>/dev/null | sed 's/^/kprobe /'
	grep -v '^0' "$tracing/events/kvmmmu/enable" | sed 's/^/kvmmmu events enabled globally: /'
}

say "   leftovers are looked for in ${tracing:-(no tracefs found)}"

# --plant, the soak's self-test: steps 1 and 3 only, and after each
# kill leftovers named like the tests' are planted for the killed pid
# where the checks look: an instance, a kprobe where tracefs has kprobe
# events, and (SIGINT, SIGTERM) the kvmmmu events enabled globally.  Each
# check must turn red on them ("FAIL (planted)", not counted as failures);
# the soak passes if every one did, and removes what it planted.
plants=0 reds=0 planted=
plant() { # plant PID [global]
	planted=
	before=$(leftovers "$1")
	pi=$tracing/instances/kvm_zap_selftest_$(tag "$1")
	if [ ! -d "$pi" ] && mkdir "$pi"; then
		planted=instance
	fi
	if [ -w "$tracing/kprobe_events" ]; then
		for sym in kvm:kvm_mmu_zap_oldest_mmu_pages kvm_mmu_zap_oldest_mmu_pages; do
			echo "p:kvm_zap_selftest/walk_$(tag "$1") $sym" >>"$tracing/kprobe_events" 2>/dev/null &&
				planted="$planted kprobe" && break
		done
	fi
	if [ "$2" = global ] && [ "$(cat "$tracing/events/kvmmmu/enable")" = 0 ]; then
		echo 1 >"$tracing/events/kvmmmu/enable" && planted="$planted global"
	fi
	plants=$((plants + 1)) reds0=$reds
	say "     planted for pid $1: $planted"
}
unplant() { # unplant PID TEXT: TEXT, the check's findings, names each plant
	was=$planted
	planted=
	for p in $was; do
		case $p in
		instance) rmdir "$tracing/instances/kvm_zap_selftest_$(tag "$1")" 2>/dev/null; pat="instance " ;;
		kprobe) echo "-:kvm_zap_selftest/walk_$(tag "$1")" >>"$tracing/kprobe_events"; pat="kprobe " ;;
		global) echo 0 >"$tracing/events/kvmmmu/enable"; pat="enabled globally" ;;
		esac
		echo "$2" | grep -q "$pat" || bad "planted $p for pid $1: the check did not name it"
	done
	[ $reds -gt "$reds0" ] || bad "planted $was for pid $1: the check stayed green"
	[ "$(leftovers "$1")" = "$before" ] || bad "could not remove the plants: $(leftovers "$1")"
}
# The root skew ratios of mmu_zap_restart_test, alone and at once, for
# the record (the test judges them): $log.ratios.
ratios() { sed -n "s/^# root skew ratio \([0-9.]*\).*/$2 \1/p" "$1" >>$log.ratios; }
ratio_summary() {
	for how in alone "$par at once"; do
		grep "^$how " $log.ratios | sed 's/.* //' | sort -n | awk -v how="$how" '{ v[NR] = $1 }
			END { if (NR) printf "soak:    root skew ratio, %s: min %.2f median %.2f max %.2f (%d runs)\n",
					     how, v[1], v[int((NR + 1) / 2)], v[NR], NR }'
	done
}
: >$log.ratios
say "1. $runs runs of: $(echo $tests)"
: >$log.times
start1=$(ticks)
i=0
while [ $i -lt "$runs" ]; do
	i=$((i + 1))
	for t in $tests; do
		s=$(ticks)
		"$dir/$t" >"$log" 2>&1
		rc=$?
		if [ $rc = 4 ]; then
			# Not for this mode (e.g. nested only): out of the soak.
			echo "$skipping" | grep -q " $t " || skipping="$skipping $t "
		elif [ $rc != 0 ]; then
			bad "run $i: $t failed"
			tail -n 15 "$log"
		elif [ -z "$tracing" ] && echo " $trace_tests " | grep -q " $t "; then
			bad "run $i: $t used a tracefs, the soak finds none: it cannot see what the tests leave"
		else
			cp "$log" "$log.full.$t" # its cases name the kills' phases
		fi
		echo "$t $(($(ticks) - s))" >>$log.times
		ratios "$log" alone
	done
	say "   run $i/$runs done, $((($(ticks) - start1) / 100)) s in, $fails failures"
done
if [ "$skipping" != " " ]; then
	say "   skipped here, out of the soak:$skipping"
	tests=$(for t in $tests; do echo "$skipping" | grep -q " $t " || echo "$t"; done)
fi
# Each test's median in centiseconds goes to $log.medians (step 3).
: >$log.medians
for t in $tests; do
	grep "^$t " $log.times | cut -d' ' -f2 | sort -n >$log.t
	awk -v t="$t" -v f="$log.medians" '{ v[NR] = $1 }
		END { m = v[int((NR + 1) / 2)]
		      printf "soak: %-28s min %6.2f s  median %6.2f s  max %6.2f s  (%d runs)\n",
			     t, v[1] / 100, m / 100, v[NR] / 100, NR
		      print t, m >>f }' $log.t
done

[ -z "$plant" ] || par=0 # the self-test skips step 2
say "2. $par instances at once of each test"
for t in $tests; do
	pids=""
	k=0
	while [ $k -lt "$par" ]; do
		k=$((k + 1))
		"$dir/$t" >"$log.$k" 2>&1 &
		pids="$pids $!"
	done
	k=0
	for p in $pids; do
		k=$((k + 1))
		if ! wait "$p"; then
			bad "$t: instance $k of $par failed"
			tail -n 15 "$log.$k"
		fi
		ratios "$log.$k" "$par at once"
		# Per pid: other users of this host's tracefs are not ours.
		left=$(leftovers "$p")
		[ -z "$left" ] || bad "$t: instance $k of $par left: $left"
	done
	[ "$par" = 0 ] || say "   $t: $par at once done, $fails failures"
done
say "   $par at once: done"
ratio_summary

say "3. $kills kills, spread over the part of each run that holds state"
# Each test in turn gets SIGINT, SIGTERM, SIGKILL; the tests with tracefs
# state come first.  A kill falls between the moment the test holds state
# (its tracefs instance is there; for the others its KTAP plan is out and
# it builds VMs) and 9/10 of its median run: the m-th of a test's n kills
# at a random point of the m-th n-th of that window.  Its phase is the
# test case in progress: the next "ok" line of a full run of step 1.  A
# kill that comes after the test ended is tried again (3 times at most)
# in the first 3/4 of the stateful part of that run.
order="$trace_tests $(echo $tests | tr ' ' '\n' | grep -vxF "$(echo $trace_tests | tr ' ' '\n')")"
nt=$(echo $order | wc -w)
rand() { echo $(($(od -An -N4 -tu4 /dev/urandom | tr -d ' ') % $1)); } # 0..N-1
secs() { echo "$(($1 / 100)).$(printf %02d $(($1 % 100)))"; }          # cs as s
alive() { grep -qv '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }  # not a zombie
is_trace_test() { echo " $trace_tests " | grep -q " $1 "; }
holds_state() { # holds_state TEST PID LOG
	if is_trace_test "$1"; then
		[ -n "$tracing" ] && [ -d "$tracing/instances/kvm_zap_selftest_$(tag "$2")" ]
	else
		grep -q '^1\.\.' "$3"
	fi
}
phase() { # phase TEST PID LOG: the case the run is in, and its tracefs state
	n=$(grep -c '^ok ' "$3")
	plan=$(grep -c '^ok ' "$log.full.$1" 2>/dev/null)
	case_=$(grep '^ok ' "$log.full.$1" 2>/dev/null | sed -n "$((n + 1))p" |
		sed 's/^ok [0-9]* *//; s/^# SKIP *//; s/: [0-9].*//; s/ [0-9.]*$//')
	if [ -z "$plan" ] || [ "$plan" = 0 ]; then
		echo "after $n ok lines" # no full run to name the case
	elif [ "$n" -ge "$plan" ]; then
		echo "after its last case"
	else
		echo "case $((n + 1))/$plan '$case_'"
	fi
	if is_trace_test "$1" && [ -n "$tracing" ]; then
		p=$(grep -c "kvm_zap_selftest/[a-z0-9_]*_$(tag "$2") " "$tracing/kprobe_events" 2>/dev/null)
		[ -d "$tracing/instances/kvm_zap_selftest_$(tag "$2")" ] && echo "; instance and ${p:-no} kprobes in place"
	fi
}
check_kill() { # what SIGINT or SIGTERM of $t left in $left
	if [ -n "$left" ] && [ "$sig" != KILL ]; then
		bad "$t left tracefs state after SIG$sig: $(echo $left)"
	fi
}
check_next() { # the run after the kill of $pid ($log) removed $left, saying so
	now=$(leftovers $pid)
	if grep -q "_pid$pid.* left by a killed run" "$log" && [ -z "$now" ]; then
		say "     it left $(echo $left); the next run ($next) said: $(grep "_pid$pid.* left by a killed run" "$log" | sed 's/^# //' | tr '\n' ';')"
	else
		bad "the run after SIG$sig of $t did not remove: $(echo $now)"
	fi
}
# killer: the kill of the test the foreground runs (pid in $log.pid): wait
# until it holds state, then until $at, send SIG$sig; write t0, held, at
# and pid to $log.kill and the phase to $log.ph.
killer() {
	while [ ! -s "$log.pid" ]; do
		sleep 0.01
	done
	pid=$(cat "$log.pid")
	while alive $pid && ! holds_state "$t" $pid "$log"; do
		sleep 0.02
	done
	t0=$(($(ticks) - start))
	if ! holds_state "$t" $pid "$log"; then
		echo "t0=$t0 held=0 at=0 pid=$pid" >"$log.kill"
		return
	fi
	w=$((end > t0 + n ? end - t0 : n))
	at=$((t0 + w * (m - 1) / n + $(rand $((w / n)))))
	while alive $pid && [ $(($(ticks) - start)) -lt $at ]; do
		sleep 0.02
	done
	phase "$t" $pid "$log" | tr -d '\n' >"$log.ph"
	kill -"$sig" $pid 2>/dev/null
	echo "t0=$t0 held=1 at=$at pid=$pid" >"$log.kill"
}
: >$log.killplan
k=0
while [ $k -lt "$kills" ]; do
	echo $order | cut -d' ' -f$((k / 3 % nt + 1)) >>$log.killplan
	k=$((k + 1))
done
: >$log.kills
set -- INT TERM KILL
k=0
while [ $k -lt "$kills" ]; do
	sig=$1
	shift
	set -- "$@" "$sig"
	k=$((k + 1))
	t=$(sed -n "${k}p" $log.killplan)
	n=$(grep -cx "$t" $log.killplan)
	m=$(head -n $k $log.killplan | grep -cx "$t")
	end=$(($(grep "^$t " $log.medians | cut -d' ' -f2) * 9 / 10))
	try=0
	while [ $try -lt 3 ]; do
		try=$((try + 1))
		: >"$log" # not the last run's plan
		rm -f "$log.pid" "$log.kill" "$log.ph"
		start=$(ticks)
		# The test in the foreground, the killer in the background: a
		# command a script starts with "&" ignores SIGINT (POSIX), so
		# a SIGINT would never reach a test without handlers of its own.
		killer &
		kpid=$!
		sh -c 'echo $$ >"$1"; exec "$2"' sh "$log.pid" "$dir/$t" >"$log" 2>&1
		rc=$? fin=$(($(ticks) - start))
		wait $kpid
		. "$log.kill" # t0 held at pid
		ph=$(cat "$log.ph" 2>/dev/null)
		if [ "$held" = 0 ]; then
			bad "$t (pid $pid) ended without being seen to hold state (tracefs: ${tracing:-none})"
			tail -n 5 "$log"
			ph="never held state"
			break
		fi
		[ $rc -le 128 ] && [ $rc != 0 ] && bad "$t failed (exit $rc) before SIG$sig" && tail -n 15 "$log"
		[ $rc != 0 ] && break
		# Again, inside what this run held state for: from t0 to 3/4 of
		# the way to its end (not 9/10 of the run: when the state comes
		# late, that shrinks the window to nothing).
		end=$((t0 + (fin - t0) * 3 / 4))
		say "   SIG$sig to $t at $(secs $at) s came after it ended ($(secs $fin) s): again, by $(secs $end) s"
		ph="missed: it ended first"
	done
	say "   SIG$sig to $t at $(secs $at) s (window $(secs $t0)-$(secs $end) s, slice $m/$n): $ph"
	echo "$t: $(echo "$ph" | cut -d';' -f1)" >>$log.kills
	left=$(leftovers $pid)
	check_kill
	if [ -n "$plant" ] && [ "$sig" != KILL ]; then
		real=$left
		plant $pid global
		left=$(leftovers $pid)
		check_kill
		unplant $pid "$left"
		left=$real
	fi
	next=passed
	if ! "$dir/$t" >"$log" 2>&1; then
		bad "$t failed after SIG$sig"
		tail -n 15 "$log"
		next=failed
	fi
	if [ -n "$left" ]; then
		check_next
		# Planted after the next run: as if it had not removed them.
		if [ -n "$plant" ]; then
			plant $pid
			check_next
			unplant $pid "$now"
		fi
	else
		say "     nothing left behind; the next run $next"
	fi
done
say "   kills by phase:"
sort $log.kills | uniq -c | sed 's/^ */soak:     /'

if [ -n "$plant" ]; then
	say "planted leftovers $plants times: the checks turned red $reds times (FAIL (planted) above); $fails failures"
	[ $fails = 0 ] && [ $plants -gt 0 ]
	exit
fi

say "4. bad flags, and missing requirements"
# What check.sh bad-input checks where /dev/kvm is (the host may have none):
# -h prints the usage, an unknown flag or a bad value fails with a message.
for t in $tests; do
	"$dir/$t" -h >"$log" 2>&1 && grep -q '^usage:' "$log" || bad "$t -h: no usage"
	for args in "-x" "-n abc" "-n 0"; do
		"$dir/$t" $args >"$log" 2>&1
		rc=$?
		if [ $rc = 0 ] || [ $rc = 4 ] || ! grep -q . "$log"; then
			bad "$t $args: exit $rc, expected a failure with a message"
		fi
	done
done
say "   bad flags: every test refuses -x, -n abc, -n 0 (-n: those that have it; the others refuse -n)"
expect_skip() { # expect_skip WHAT TEST CMD...
	what=$1 t=$2
	shift 2
	"$@" >"$log" 2>&1
	rc=$?
	if [ $rc = 4 ]; then
		say "   $what: $t skips: $(grep -o 'SKIP.*\|Access denied.*' "$log" | head -n 1)"
	else
		bad "$what: $t exited $rc, expected 4"
		tail -n 5 "$log"
	fi
}
grep -q '^nobody:' /etc/passwd 2>/dev/null ||
	echo 'nobody:x:65534:65534:nobody:/:/bin/sh' >>/etc/passwd
for t in $tests; do
	expect_skip "no /dev/kvm" "$t" unshare -m sh -c "mount -t tmpfs none /dev && exec $dir/$t"
	expect_skip "not root" "$t" su -s /bin/sh nobody -c "$dir/$t"
	# The tests read their stats from the binary stats fd: without
	# debugfs they pass, or skip when their tracefs lived in debugfs.
	unshare -m sh -c "umount /sys/kernel/debug/tracing 2>/dev/null; umount /sys/kernel/debug &&
		exec $dir/$t" >"$log" 2>&1
	rc=$?
	if [ $rc = 0 ] || { [ $rc = 4 ] && grep -q 'SKIP.*No tracefs' "$log"; }; then
		say "   no debugfs: $t exits $rc $(grep -o 'SKIP.*' "$log" | head -n 1)"
	else
		bad "no debugfs: $t exited $rc, expected 0 (or 4 for want of a tracefs)"
		tail -n 5 "$log"
	fi
done
# debugfs mounts tracefs again on access: cover both places instead.
# Without a tracefs mmu_zap_restart_test skips its traced subtests; the
# others need none.
no_tracefs() {
	unshare -m sh -c "mount -t tmpfs none /sys/kernel/debug/tracing && { [ ! -d /sys/kernel/tracing ] ||
	 mount -t tmpfs none /sys/kernel/tracing; } && exec $dir/$1"
}
if no_tracefs mmu_zap_walk_test >"$log" 2>&1; then
	say "   no tracefs: mmu_zap_walk_test passes (it reads only the stats)"
else
	bad "no tracefs: mmu_zap_walk_test failed"
	tail -n 5 "$log"
fi
no_tracefs mmu_zap_restart_test >"$log" 2>&1
rc=$?
if [ $rc = 0 ] && grep -q '# SKIP trace: zap events match the stats, shrink over sync pages$' "$log" &&
   grep -q '^# trace: zap events match the stats, shrink over sync pages: no tracefs' "$log"; then
	say "   no tracefs: mmu_zap_restart_test skips its traced subtests, the rest passes"
else
	bad "no tracefs: mmu_zap_restart_test exited $rc, expected 0 with its traced subtests skipped"
	tail -n 5 "$log"
fi
# A locked-down kernel refuses the rebuilt (unsigned) module once it is out.
if [ -f /modules/kvm-amd.ko ] && grep -qs '\[none\]' /sys/kernel/security/lockdown &&
   rmmod kvm_amd && insmod /modules/kvm-amd.ko npt=1; then
	for t in $tests; do
		# In shadow mode, forced where the test also has a nested one.
		# The tests with a nested mode are held to shadow mode; the
		# nested-only one runs there.
		case $t in
		nested_npt_root_zap_test) continue ;;
		mmu_pages_unsync_zap_test | memslot_unsync_zap_test | mmu_zap_restart_test) m="-m shadow" ;;
		*) m= ;;
		esac
		# shellcheck disable=SC2086
		expect_skip "TDP on (kvm_amd.npt=1), shadow mode" "$t" "$dir/$t" $m
	done
	rmmod kvm_amd && insmod /modules/kvm-amd.ko npt=0 || bad "could not reload kvm_amd npt=0"
else
	say "   TDP on: kvm_amd cannot be reloaded here (locked down, or no module file), not shown"
fi

say "5. valgrind (memcheck), one run of each test at a small N"
small_args() {
	case $1 in
	mmu_pages_unsync_zap_test) echo "-n 256 -c 1" ;;
	memslot_unsync_zap_test) echo "-n 256 -r 1" ;;
	mmu_zap_restart_test) echo "-n 1024" ;;
	*) echo "" ;; # fixed, small layouts
	esac
}
# valgrind does not model KVM_GET_SUPPORTED_CPUID, so it never learns that
# KVM filled the entries of libkvm's kvm_cpuid2: every use of CPUID data
# (the guest's address width, max_gfn, the asserts on them) is reported as
# uninitialised, with that allocation as the origin.  Those reports are
# counted apart; every other report (invalid access, other uninitialised
# data, any leak record) fails the soak.  Warnings are not reports: about
# KVM ioctls valgrind does not know that take no pointer, and libkvm's
# close(-1) of memslots without an fd.
vg_report() { # vg_report LOG: "cpuid N other M", other reports to stderr
	awk '/^==[0-9]+== *$/ || /^==[0-9]+== Warning: / { flush(); next }
	     /^==[0-9]+==    (This could cause|See README_MISSING)/ { next }
	     { sub(/^==[0-9]+== /, ""); blk = blk $0 "\n" }
	     function flush() {
		if (blk ~ /   at 0x/) {
			if (blk ~ /^(Conditional jump|Use of uninitialised|Syscall param.*uninitialised)/ &&
			    blk ~ /allocate_kvm_cpuid2/)
				cpuid++
			else {
				other++
				printf "%s", blk >"/dev/stderr"
			}
		}
		blk = ""
	     }
	     END { flush(); printf "cpuid %d other %d\n", cpuid, other }' "$1"
}
if [ -d "$dir/valgrind" ] && command -v valgrind >/dev/null; then
	for t in $tests; do
		args=$(small_args "$t")
		# --child-silent-after-fork: the walk test's child builds a VM
		# and exits with it open on purpose (its mm going away is the
		# test), which memcheck would report as leaked.  Only the
		# twins' layout (families_create(..., true)) runs in the child
		# alone and goes unchecked.
		# shellcheck disable=SC2086
		valgrind --leak-check=full --track-origins=yes \
			--show-leak-kinds=definite,indirect,possible \
			--child-silent-after-fork=yes \
			--log-file=$log.vg.log "$dir/valgrind/$t" $args >"$log" 2>&1
		rc=$?
		set -- $(vg_report $log.vg.log 2>$log.vg.other)
		leaks=$(grep -E '^==[0-9]+== +(definitely|indirectly|possibly) lost:' $log.vg.log |
			sed 's/^==[0-9]*== *//; s/ in [0-9,]* blocks//' | tr '\n' ',')
		what="exit $rc; $4 reports ($2 on CPUID data, not ours); $leaks"
		if [ $rc = 0 ] && [ "$4" = 0 ]; then
			say "   $t $args: $what"
		else
			bad "$t $args under valgrind: $what"
			tail -n 15 "$log"
			grep -v '^==[0-9]*== *$' $log.vg.log | head -n 10
			head -n 80 $log.vg.other
		fi
	done
else
	bad "no $dir/valgrind (make soak builds it) or no valgrind (make deps)"
fi

say "$runs runs x $(echo $tests | wc -w) tests, $par at once, $kills kills: $fails failures"
[ $fails = 0 ]
