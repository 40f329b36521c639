#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# vm-run.sh [OPTIONS] OUT [MODE...]: boot a kernel under QEMU (TCG, "-cpu
# max", which emulates SVM) once per MODE, run the suite built in OUT inside
# it and print its KTAP, each test's result line as the test ends.  Exit 0
# only if every test passed and no guest kernel logged a warning or oops.
#   shadow  kvm_amd npt=0: KVM shadows guest page tables (the default)
#   nested  kvm_amd npt=1: KVM uses TDP, and the tests run in nested mode
#           (an L1 hypervisor with nested NPT)
# The kernel is Debian's 6.12 or 7.3 (kernel.sh debian; --kernel) with kvm
# modules built from Debian's source of that version with the series' KVM
# fixes (build.sh modules, into OUT/kvm-VERSION), or a kernel image of
# yours with KVM built in.  The guest kernel is locked down once KVM is
# loaded, as a Secure Boot host is.  TEST_ARGS="-n 8" are passed to every
# test.
#
# Options:
#   --kernel K       6.12 (the default, or $KERNEL), 7.3, or the path of a
#                    kernel image with KVM built in (no modules loaded)
#   --stock          kvm modules built without the series' fixes
#                    (build.sh modules --stock, into OUT/kvm-VERSION-stock)
#   --modules DIR    load kvm.ko and kvm-amd.ko from DIR (build.sh modules,
#                    for the same kernel); "--modules debian": the kernel
#                    package's own
#   --tests a,b      run only these tests
#   --soak "R P K"   run the soak (soak.sh) instead of the suite; --plant:
#                    its self-test; --valgrind DIR: add valgrind and the
#                    dynamically linked tests of DIR for its memcheck step
#   --open           no lockdown (rebuilt, unsigned modules need none)
#   --dir DIR        initramfs and console log (OUT/vm-VERSION, or OUT/vm
#                    for a kernel image of yours; "-nested" appended for
#                    nested mode)
#   --mem SIZE       guest memory (4G; what the tests' -n limits derive from)
#   --timeout S      whole-boot watchdog (1200 s); each test in the guest
#                    has 300 s
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
die() { echo "vm-run.sh: $*" >&2; exit 1; }
kernel=${KERNEL:-6.12} stock='' kvm_modules='' tests='' soak='' plant='' valgrind='' lockdown=integrity vm='' mem=4G timeout=1200
while [ $# -gt 0 ]; do
	case $1 in
	--kernel) kernel=$2; shift 2 ;;
	--stock) stock=--stock; shift ;;
	--modules) kvm_modules=$2; shift 2 ;;
	--tests) tests=$2; shift 2 ;;
	--soak) soak=$2; shift 2 ;;
	--plant) plant=--plant; shift ;;
	--valgrind) valgrind=$2; shift 2 ;;
	--open) lockdown=; shift ;;
	--dir) vm=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	-*) die "unknown option $1" ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || die "usage: vm-run.sh [OPTIONS] OUT [shadow|nested...]"
out=$(cd "$1" && pwd)
shift
modes=${*:-shadow}
case $kernel in
6.12 | 7.3) vm=${vm:-$out/vm-$kernel} ;;
*) vm=${vm:-$out/vm} ;;
esac
for mode in $modes; do
	case $mode in
	shadow | nested) ;;
	*) die "mode '$mode': shadow or nested" ;;
	esac
done
series=$here/../patches/series

for tool in qemu-system-x86_64 busybox cpio gzip gcc; do
	command -v "$tool" >/dev/null || die "$tool not found (make deps installs it)"
done
# grep -q would quit early and, under pipefail, fail the pipeline (SIGPIPE).
busybox --list | grep -x sh >/dev/null || die "busybox has no sh applet"
file -L "$(command -v busybox)" | grep "statically linked" >/dev/null ||
	die "busybox is not statically linked (install busybox-static)"

# The kernel, and for Debian's the modules to load: irqbypass and ccp
# (kvm-amd's dependencies) from its package, kvm and kvm-amd built here.
first() { for f in "$@"; do [ -e "$f" ] && echo "$f" && return; done; }
modules=() release=
case $kernel in
6.12 | 7.3)
	ver=$kernel
	kimg=$("$here/kernel.sh" debian "$ver")
	# 6.12 keeps its image in boot/, 7.3 beside its modules.
	kernel=$(first "$kimg"/boot/vmlinuz-* "$kimg"/usr/lib/modules/*/vmlinuz)
	moddir=$(first "$kimg"/lib/modules/*/kernel "$kimg"/usr/lib/modules/*/kernel)
	[ -d "$moddir" ] || die "no modules in $kimg"
	release=$(basename "$(dirname "$moddir")")
	case $kvm_modules in
	debian) kvm_dir=$moddir/arch/x86/kvm ;;
	'')
		kvm_dir=$out/kvm-$ver${stock:+-stock}
		"$here/build.sh" modules $stock "$ver" "$kvm_dir" >&2 ||
			die "could not build the kvm modules for $release (make deps installs what it needs)"
		;;
	*) kvm_dir=$kvm_modules ;;
	esac
	modules=("$moddir/virt/lib/irqbypass.ko.xz"
		 "$moddir/drivers/crypto/ccp/ccp.ko.xz"
		 "$(ls "$kvm_dir"/kvm.ko*)" "$(ls "$kvm_dir"/kvm-amd.ko*)")
	vermagic=$(modinfo -F vermagic "${modules[2]}")
	[ "${vermagic%% *}" = "$release" ] ||
		die "${modules[2]} is for ${vermagic%% *}, the kernel is $release (--kernel)"
	echo "vm-run.sh: Debian's $release, kvm modules from $kvm_dir" >&2
	;;
*)
	[ -z "$kvm_modules$stock" ] || die "--modules and --stock are for Debian's kernels, not $kernel"
	;;
esac
[ -f "$kernel" ] || die "kernel image $kernel not found"

# The initramfs: busybox, the exit helper, the init, the runner, the soak
# and the tests.
root=$vm/root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,modules,tests,etc}
cp "$(command -v busybox)" "$root/bin/busybox"
for applet in $(busybox --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
cp "$here/run-tests.sh" "$here/soak.sh" "$series" "$root/tests/"
for t in $("$here/run-tests.sh" --list --all); do
	[ -x "$out/$t" ] || die "$out/$t not built (make build)"
	cp "$out/$t" "$root/tests/"
done

# qexit STATUS: end QEMU through its isa-debug-exit device (port 0xf4); QEMU
# then exits with (STATUS << 1) | 1.  qexit /FIFO: take the port now, then
# make FIFO and end QEMU with the status written to it later (a locked-down
# kernel refuses ioperm(), so the init starts it before the lockdown).
gcc -O2 -static -x c -o "$root/bin/qexit" - <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
	const char *arg = argc > 1 ? argv[1] : "0";
	unsigned int status = 0;
	FILE *f;

	if (ioperm(0xf4, 4, 1)) {
		perror("ioperm");
		return 1;
	}
	if (arg[0] == '/') {
		if (mkfifo(arg, 0600)) {
			perror("mkfifo");
			return 1;
		}
		f = fopen(arg, "r");
		if (!f || fscanf(f, "%u", &status) != 1)
			status = 3;
	} else {
		status = strtoul(arg, NULL, 0);
	}
	outl(status, 0xf4);
	return 1;
}
C

# The guest's /init (busybox sh): load KVM, lock the kernel down, run /run
# (written below: the suite or the soak), check the kernel log for WARN,
# BUG or oops, and report the status through qexit.  Status: 0 passed, 1 a
# test failed, 2 the kernel warned or oopsed, 3 no /dev/kvm.
cat >"$root/init" <<'INIT'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
# cgroup v2 with the memory controller: the tests measure freed memory.
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
# ... and the tests in a child cgroup: the root has no memory.current.
echo +memory >/sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
mkdir -p /sys/fs/cgroup/tests && echo $$ >/sys/fs/cgroup/tests/cgroup.procs
mkdir -p /dev/shm /tmp
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp

for m in $(cat /modules/order 2>/dev/null); do
	insmod "/modules/$m.ko" $(cat "/modules/$m.params" 2>/dev/null) ||
		echo "vm-init: insmod $m failed"
done
# Lock the kernel down once KVM is loaded (rebuilt modules are unsigned,
# and lockdown=integrity would refuse them): debugfs then refuses KVM's
# writable stats files, as on a Secure Boot host.
if [ -f /etc/lockdown ]; then
	# qexit takes its I/O port before the lockdown forbids it.
	/bin/qexit /tmp/qexit &
	i=0
	while [ ! -p /tmp/qexit ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	mount -t securityfs securityfs /sys/kernel/security
	cat /etc/lockdown >/sys/kernel/security/lockdown ||
		echo "vm-init: lockdown $(cat /etc/lockdown) failed"
	echo "vm-init: lockdown $(cat /sys/kernel/security/lockdown)"
fi
echo "vm-init: kernel $(uname -r), npt=$(cat /sys/module/kvm_amd/parameters/npt 2>/dev/null)" \
     "ept=$(cat /sys/module/kvm_intel/parameters/ept 2>/dev/null)"

rc=0
if [ ! -c /dev/kvm ]; then
	echo "vm-init: no /dev/kvm in the guest"
	rc=3
else
	sh /run || rc=1
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
INIT
chmod +x "$root/init"
[ -z "$lockdown" ] || echo "$lockdown" >"$root/etc/lockdown"

# What the guest runs: the soak, or the suite between KTAP markers.  The
# guest is ours: the walk test may drop its slab caches (-d: the MMU
# shrinker of the kernels that have one).
if [ -n "$soak" ]; then
	echo "/tests/soak.sh $plant /tests $soak" >"$root/run"
else
	printf '%s\n' 'echo "=== KTAP BEGIN"' \
		"TIMEOUT=300 TEST_ARGS=$(printf %q "${TEST_ARGS:-}") ARGS_mmu_zap_walk_test=-d /tests/run-tests.sh /tests $(echo "$tests" | tr , ' ')" \
		'rc=$?' 'echo "=== KTAP END"' 'exit $rc' >"$root/run"
fi

# --valgrind DIR: the dynamically linked tests of DIR, valgrind, and the
# libraries they load with their debug symbols (valgrind needs ld.so's).
if [ -n "$valgrind" ]; then
	mkdir -p "$root/tests/valgrind"
	for t in $("$here/run-tests.sh" --list); do
		cp "$valgrind/$t" "$root/tests/valgrind/"
	done
	libs=$(ldd "$root"/tests/valgrind/* /usr/bin/valgrind.bin |
	       awk '$2 == "=>" { print $3 } /^\t\// { print $1 }' | sort -u)
	for f in /usr/bin/valgrind{,.bin} /usr/libexec/valgrind/default.supp \
		 /usr/libexec/valgrind/{memcheck-amd64-linux,vgpreload_{core,memcheck}-amd64-linux.so} \
		 $libs; do
		[ -f "$f" ] || die "$f not found (make deps installs valgrind, libc6-dbg)"
		mkdir -p "$root$(dirname "$f")"
		cp -L "$f" "$root$f"
		id=$(readelf -n "$f" 2>/dev/null | sed -n 's/.*Build ID: //p') || true
		dbg=/usr/lib/debug/.build-id/${id:0:2}/${id:2}.debug
		if [ -n "$id" ] && [ -f "$dbg" ]; then
			mkdir -p "$root$(dirname "$dbg")"
			cp "$dbg" "$root$dbg"
		fi
	done
fi
for m in "${modules[@]}"; do
	name=$(basename "${m%.xz}" .ko)
	case $m in
	*.xz) xz -dc "$m" >"$root/modules/$name.ko" ;;
	*) cp "$m" "$root/modules/$name.ko" ;;
	esac
	echo "$name" >>"$root/modules/order"
done

# boot MODE DIR: one boot with kvm_amd's npt for MODE; console log in DIR.
boot() {
	local mode=$1 dir=$2 npt start status secs rc
	npt=0
	[ "$mode" = nested ] && npt=1
	echo "=== vm-run: kvm_amd npt=$npt ($mode mode)"
	mkdir -p "$dir"
	# insmod does not read module options from the kernel command line.
	echo "npt=$npt" >"$root/modules/kvm-amd.params"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$dir/initramfs.cpio.gz"

	echo "vm-run.sh: booting ${release:-$(basename "$kernel")} under QEMU (TCG), console log in $dir/console.log" >&2
	start=$(date +%s)
	# The suite's KTAP and the soak's lines go to stdout as the guest
	# prints them: line-buffered sed, not tr (which would hold them to the
	# end).
	set +e
	timeout "$timeout" qemu-system-x86_64 -accel tcg -cpu max -smp 1 -m "$mem" \
		-nographic -no-reboot -nodefaults -serial stdio -display none \
		-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
		-kernel "$kernel" -initrd "$dir/initramfs.cpio.gz" \
		-append "console=ttyS0 panic=-1 oops=panic loglevel=4 kvm_amd.npt=$npt kvm_intel.ept=0" \
		</dev/null 2>&1 | sed -u 's/\r//g' | tee "$dir/console.log" |
		sed -un '/^=== KTAP BEGIN/,/^=== KTAP END/{/^===/d;p;d}; /^soak: /p'
	status=${PIPESTATUS[0]}
	set -e
	secs=$(($(date +%s) - start))

	grep -o 'vm-init:.*' "$dir/console.log" >&2 || true
	if [ "$status" = 124 ]; then
		tail -n 40 "$dir/console.log" >&2
		echo "vm-run.sh: QEMU did not finish within ${timeout}s (hung guest); see $dir/console.log" >&2
		return 1
	fi
	if [ $((status & 1)) = 0 ]; then
		tail -n 40 "$dir/console.log" >&2
		echo "vm-run.sh: QEMU exited with $status before the guest reported (crash?); see $dir/console.log" >&2
		return 1
	fi
	rc=$((status >> 1))
	echo "vm-run.sh: guest status $rc after ${secs}s" >&2
	case $rc in
	0) return 0 ;;
	1) echo "vm-run.sh: a test failed in the guest" >&2 ;;
	2) echo "vm-run.sh: the guest kernel logged a warning or oops (see $dir/console.log)" >&2 ;;
	*) echo "vm-run.sh: the guest could not run the suite (status $rc)" >&2 ;;
	esac
	return 1
}

fail=0
for mode in $modes; do
	dir=$vm
	[ "$mode" = nested ] && dir=$vm-nested
	boot "$mode" "$dir" || fail=1
done
exit $fail
