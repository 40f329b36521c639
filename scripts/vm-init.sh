#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-only
#
# /init of the QEMU guest that scripts/vm-run.sh boots: load KVM with shadow
# paging, run the suite with run-tests.sh, check the kernel log for WARN,
# BUG or oops, and report the status through QEMU's isa-debug-exit.
# Status: 0 passed, 1 a test failed, 2 the kernel warned or oopsed, 3 no
# /dev/kvm.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
# cgroup v2 with the memory controller: the tests measure freed memory.
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mkdir -p /dev/shm /tmp
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp

for m in $(cat /modules/order 2>/dev/null); do
	insmod "/modules/$m.ko" $(cat "/modules/$m.params" 2>/dev/null) ||
		echo "vm-init: insmod $m failed"
done
# Lock the kernel down once KVM is loaded (our rebuilt modules are
# unsigned, and lockdown=integrity would refuse them): debugfs then refuses
# KVM's writable stats files, as on a Secure Boot host.
lockdown=$(sed -n 's/.*vmlockdown=\([a-z]*\).*/\1/p' /proc/cmdline)
if [ -n "$lockdown" ]; then
	# qexit takes its I/O port before the lockdown forbids it.
	/bin/qexit /tmp/qexit &
	i=0
	while [ ! -p /tmp/qexit ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	mount -t securityfs securityfs /sys/kernel/security
	echo "$lockdown" >/sys/kernel/security/lockdown ||
		echo "vm-init: lockdown=$lockdown failed"
	echo "vm-init: lockdown $(cat /sys/kernel/security/lockdown)"
fi
echo "vm-init: kernel $(uname -r), npt=$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null)" \
     "ept=$(cat /sys/module/kvm_intel/parameters/ept 2>/dev/null)"

rc=0
if [ ! -c /dev/kvm ]; then
	echo "vm-init: no /dev/kvm in the guest"
	rc=3
else
	soak=$(sed -n 's/.*vmsoak=\([^ ]*\).*/\1/p' /proc/cmdline | tr , ' ')
	if [ -n "$soak" ]; then
		# shellcheck disable=SC2086
		SOAK_PLANT=$(sed -n 's/.*vmplant=\([^ ]*\).*/\1/p' /proc/cmdline) \
			/tests/soak-guest.sh /tests $soak || rc=1
	else
		echo "=== KTAP BEGIN"
		TEST_ARGS=$(sed -n 's/.*vmargs=\([^ ]*\).*/\1/p' /proc/cmdline | tr '~' ' ') \
		TIMEOUT=$(sed -n 's/.*vmtimeout=\([0-9]*\).*/\1/p' /proc/cmdline) \
			/tests/run-tests.sh /tests $(sed -n 's/.*vmtests=\([^ ]*\).*/\1/p' /proc/cmdline | tr , ' ') || rc=1
		echo "=== KTAP END"
	fi
fi
if dmesg | grep -E 'WARNING:|BUG:|Oops|general protection|Call Trace'; then
	echo "vm-init: the kernel log shows a warning or oops"
	dmesg | tail -n 80
	rc=2
fi
sync
if [ -p /tmp/qexit ]; then
	echo $rc >/tmp/qexit
	sleep 5
else
	/bin/qexit $rc
fi
poweroff -f
