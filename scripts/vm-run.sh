#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# vm-run.sh OUT: boot a kernel under QEMU (TCG, "-cpu max", which emulates
# SVM) with KVM in shadow-paging mode (kvm_amd.npt=0), run the suite built
# in OUT inside it, and print the suite's KTAP.  Exit 0 only if every test
# passed and the guest kernel logged no warning or oops.
#
#   KERNEL=bzImage   boot this kernel (KVM built in) instead of the default,
#                    Debian's linux-image-6.12.*-amd64-unsigned with its
#                    kvm modules (downloaded with apt-get into $CACHE)
#   KVM_MODULES=dir  load kvm.ko and kvm-amd.ko from dir instead of Debian's
#                    (scripts/build.sh modules builds them from a tree)
#   VM_DIR=dir       where the initramfs and console log go (OUT/vm)
#   VM_NPT=1         load kvm_amd with npt=1: KVM uses TDP, and the tests
#                    run in nested mode (an L1 hypervisor with nested NPT)
#   VM_TESTS=a,b     run only these tests
#   VM_SOAK=r,p,k    run scripts/soak-guest.sh (r runs, p at once, k kills;
#                    SOAK_PLANT=1: its self-test)
#   VM_VALGRIND=dir  add valgrind and the dynamically linked tests of dir
#                    (the soak runs them under memcheck)
#   TEST_ARGS="-n 8" arguments for every test
#   VM_LOCKDOWN=integrity  lock the guest kernel down once KVM is loaded,
#                    as a Secure Boot host is (default; "" leaves it open)
#   VM_CPUS=1        guest CPUs (each a host thread under TCG; with 2, a
#                    Debian 6.12 guest oopsed once on int3 in __schedule
#                    while static keys flipped: cross-CPU code patching)
#   VM_MEM=4G        guest memory (what the tests' -n limits derive from)
#   VM_TIMEOUT=s     whole-boot watchdog (default 1200); TEST_TIMEOUT=s per
#                    test inside the guest (default 300)
set -euo pipefail

out=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
CACHE=${CACHE:-$HOME/.cache/kvm-zap-selftests}
kernel=${KERNEL:-}
vm=${VM_DIR:-$out/vm}
mkdir -p "$vm"

die() { echo "vm-run.sh: $*" >&2; exit 1; }
for tool in qemu-system-x86_64 busybox cpio gzip gcc; do
	command -v "$tool" >/dev/null || die "$tool not found (make deps installs it)"
done
# grep -q would quit early and, under pipefail, fail the pipeline (SIGPIPE).
busybox --list | grep -x sh >/dev/null || die "busybox has no sh applet"
file -L "$(command -v busybox)" | grep "statically linked" >/dev/null ||
	die "busybox is not statically linked (install busybox-static)"

modules=()
if [ -z "$kernel" ]; then
	kimg=$("$here/kernel.sh" debian)
	kernel=$(ls "$kimg"/boot/vmlinuz-*)
	moddir=$(ls -d "$kimg"/lib/modules/*/kernel)
	kvm_dir=${KVM_MODULES:-$moddir/arch/x86/kvm}
	modules=("$moddir/virt/lib/irqbypass.ko.xz"
		 "$moddir/drivers/crypto/ccp/ccp.ko.xz"
		 "$(ls "$kvm_dir"/kvm.ko*)" "$(ls "$kvm_dir"/kvm-amd.ko*)")
fi
[ -f "$kernel" ] || die "kernel image $kernel not found"

# The initramfs: busybox, the exit helper, the runner and the tests.
root=$vm/root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,modules,tests}
cp "$(command -v busybox)" "$root/bin/busybox"
for applet in $(busybox --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
gcc -O2 -static -o "$root/bin/qexit" "$here/qexit.c"
cp "$here/vm-init.sh" "$root/init"
cp "$here/run-tests.sh" "$here/soak-guest.sh" "$here/../patches/series" "$root/tests/"
mkdir -p "$root/etc"
echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
for t in $(sed -n '/^[0-9]/s/.* \(test\|bench\)=\([^ ]*\).*/\2/p' "$here/../patches/series"); do
	[ -x "$out/$t" ] || die "$out/$t not built (make build)"
	cp "$out/$t" "$root/tests/"
done
# VM_VALGRIND=dir: the dynamically linked tests of dir, valgrind, and the
# libraries they load with their debug symbols (valgrind needs ld.so's).
if [ -n "${VM_VALGRIND:-}" ]; then
	mkdir -p "$root/tests/valgrind"
	for t in $(sed -n '/^[0-9]/s/.* test=\([^ ]*\).*/\1/p' "$here/../patches/series"); do
		cp "$VM_VALGRIND/$t" "$root/tests/valgrind/"
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
# insmod does not read module options from the kernel command line.
npt=${VM_NPT:-0}
echo "npt=$npt" >"$root/modules/kvm-amd.params"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$vm/initramfs.cpio.gz"

append="console=ttyS0 panic=-1 oops=panic loglevel=4 kvm_amd.npt=$npt kvm_intel.ept=0"
append+=" vmtimeout=${TEST_TIMEOUT:-300}"
[ -n "${VM_TESTS:-}" ] && append+=" vmtests=$VM_TESTS"
[ -n "${TEST_ARGS:-}" ] && append+=" vmargs=$(echo "$TEST_ARGS" | tr ' ' '~')"
[ -n "${VM_SOAK:-}" ] && append+=" vmsoak=$VM_SOAK"
[ -n "${VM_LOCKDOWN-integrity}" ] && append+=" vmlockdown=${VM_LOCKDOWN-integrity}"
[ -n "${SOAK_PLANT:-}" ] && append+=" vmplant=1"

echo "vm-run.sh: booting $(basename "$kernel") under QEMU (TCG), console log in $vm/console.log" >&2
start=$(date +%s)
# The suite's KTAP and the soak's lines go to stdout as the guest prints
# them: line-buffered sed, not tr (which would hold them to the end).
set +e
timeout "${VM_TIMEOUT:-1200}" qemu-system-x86_64 -accel tcg -cpu max -smp "${VM_CPUS:-1}" -m "${VM_MEM:-4G}" \
	-nographic -no-reboot -nodefaults -serial stdio -display none \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-kernel "$kernel" -initrd "$vm/initramfs.cpio.gz" -append "$append" \
	</dev/null 2>&1 | sed -u 's/\r//g' | tee "$vm/console.log" |
	sed -un '/^=== KTAP BEGIN/,/^=== KTAP END/{/^===/d;p;d}; /^soak: /p'
status=${PIPESTATUS[0]}
set -e
secs=$(($(date +%s) - start))

grep -o 'vm-init:.*' "$vm/console.log" >&2 || true
if [ "$status" = 124 ]; then
	tail -n 40 "$vm/console.log" >&2
	die "QEMU did not finish within ${VM_TIMEOUT:-1200}s (hung guest); see $vm/console.log"
fi
if [ $((status & 1)) = 0 ]; then
	tail -n 40 "$vm/console.log" >&2
	die "QEMU exited with $status before the guest reported (crash?); see $vm/console.log"
fi
rc=$((status >> 1))
echo "vm-run.sh: guest status $rc after ${secs}s" >&2
case $rc in
0) ;;
1) die "a test failed in the guest" ;;
2) die "the guest kernel logged a warning or oops (see $vm/console.log)" ;;
*) die "the guest could not run the suite (status $rc)" ;;
esac
