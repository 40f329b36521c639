# SPDX-License-Identifier: GPL-2.0-only
#
# KVM selftests for the x86 shadow MMU zap paths, built on a real kernel
# tree: KDIR=... (Linux 7.3 or newer), else Debian's linux-source-7.3
# unpacked into $(CACHE).  The tests, and the KVM fixes that go with them
# (kvm/), are listed in patches/series; the scripts live in scripts/ (each
# says what it does at its top); binaries land in out/<test-name>.

KDIR ?=
CACHE ?= $(HOME)/.cache/kvm-zap-selftests
export CACHE PATCH_AUTHOR
OUT := out
TREE = $$(scripts/kernel.sh tree $(KDIR))
$(if $(filter-out 7.3,$(KERNEL_TREE)),$(error KERNEL_TREE is gone: the tests build against 7.3 only (KDIR=... names another tree)))

.PHONY: all build run vm-run soak mutants patches parse-test check deps clean

# The default: build.
all: build

# Build libkvm and the tests with the tree's own selftests Makefile.
build:
	scripts/deps.sh build
	scripts/build.sh tests "$(TREE)" $(OUT) "$(EXTRA_CFLAGS)"

# The main job: run the suite on this machine's /dev/kvm, print KTAP.
run: build
	scripts/run-tests.sh $(OUT)

# The suite under QEMU, on each of Debian's kernels in VM_KERNELS with kvm
# modules built with the series' KVM fixes (STOCK=1: without them), in each
# of VM_MODES: shadow (kvm_amd npt=0) and nested (npt=1).  KERNEL=bzImage
# boots your own kernel (KVM built in) instead.
VM_KERNELS ?= 6.12 7.3
VM_MODES ?= shadow nested
VM_RUN = fail=0; for k in $(or $(KERNEL),$(VM_KERNELS)); do \
	scripts/vm-run.sh --kernel $$k $(if $(STOCK),--stock) $(OUT) $(VM_MODES) || fail=1; \
	done; exit $$fail
vm-run: build
	scripts/deps.sh vm modules
	$(VM_RUN)

# The reliability soak: SOAK="runs parallel kills"; bad input first, then
# scripts/soak.sh here, or in the QEMU guest where this machine has no
# usable /dev/kvm (SOAK_VM=1: there anyway).  SOAK_PLANT=1: its self-test.
SOAK ?= 50 4 12
soak: build
	scripts/deps.sh vm modules soak
	scripts/check.sh bad-input $(OUT)
	scripts/build.sh tests --dynamic "$(TREE)" $(OUT)/valgrind
	scripts/soak.sh $(if $(SOAK_VM),--vm) $(if $(SOAK_PLANT),--plant) $(OUT) $(SOAK)

# The mutation matrix: each mutants/*.patch (MUTANTS="a b": those) applied
# to Debian's 6.12 kvm modules with the series' KVM fixes, the suite run
# under QEMU in each of VM_MODES.
mutants: build
	scripts/deps.sh vm modules
	scripts/mutants.sh --modes "$(VM_MODES)" $(OUT) $(MUTANTS)

# The patch series (git format-patch) against the tree, in out/patches.
patches:
	scripts/deps.sh build check
	scripts/make-patches.sh "$(TREE)" $(OUT)/patches

# The trace parser (the parser half of lib/x86/zap_trace.c, built without
# libkvm) on the captured traces in tests/traces/: no KVM, no tracefs, no
# tree; takes a second.
SELFTESTS := tools/testing/selftests/kvm
parse-test:
	mkdir -p $(OUT)
	gcc -Wall -Werror -O2 -DZAP_TRACE_PARSER_ONLY -I$(SELFTESTS)/include/x86 \
		-o $(OUT)/zap_trace_parse_test tests/zap_trace_parse_test.c $(SELFTESTS)/lib/x86/zap_trace.c
	$(OUT)/zap_trace_parse_test tests/traces/*.trace

# The project's own checks (README says what CI leaves out): the trace
# parser's test (while there is one); -Werror; the series (applies, builds,
# checkpatch-clean, KVM fixes included, runs through the tree's
# run_kselftest.sh); style; bad input; the suite here; the mutation matrix
# (--quick); the soak's self-test and a short soak; the root skew under
# QEMU (-s: with kprobe events the test itself skips it); last the suite
# under QEMU on both kernels in both modes, so that its KTAP closes the
# output.
check: parse-test deps patches
	rm -rf $(OUT)/build
	scripts/build.sh tests "$(TREE)" $(OUT) -Werror
	scripts/check.sh patches "$(TREE)" $(OUT)/patches
	scripts/check.sh kselftest "$(TREE)" $(OUT)/patches $(OUT)/kselftest
	scripts/check.sh style "$(TREE)"
	scripts/check.sh bad-input $(OUT)
	scripts/run-tests.sh $(OUT)
	scripts/mutants.sh --quick $(OUT)
	scripts/build.sh tests --dynamic "$(TREE)" $(OUT)/valgrind
	scripts/soak.sh --plant $(OUT) 1 1 3
	scripts/soak.sh $(OUT) 5 2 1
	TEST_ARGS=-s scripts/vm-run.sh --tests mmu_zap_restart_test --dir $(OUT)/vm-skew $(OUT) shadow
	$(VM_RUN)

# Install the Debian packages of every target (only what is missing); each
# target installs what it needs itself.
deps:
	scripts/deps.sh build vm modules soak check

# Remove the build products (not the cache of kernel trees and packages).
clean:
	rm -rf $(OUT)
