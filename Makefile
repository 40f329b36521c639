# SPDX-License-Identifier: GPL-2.0-only
#
# KVM selftests for the x86 shadow MMU zap paths, built on a real kernel
# tree: KDIR=..., else Debian's linux-source-$(KERNEL_TREE) (6.12 or 7.3)
# unpacked into $(CACHE).  The tests are listed in patches/series; the
# scripts live in scripts/ (each says what it does at its top); binaries
# land in out/<test-name>.

KDIR ?=
KERNEL_TREE ?= 6.12
CACHE ?= $(HOME)/.cache/kvm-zap-selftests
export KERNEL_TREE CACHE PATCH_AUTHOR
OUT := out
TREE = $$(scripts/kernel.sh tree $(KDIR))

.PHONY: all build run vm-run bench soak mutants patches parse-test check deps clean

all: build

# Build libkvm and the tests with the tree's own selftests Makefile.
build:
	scripts/deps.sh build
	scripts/build.sh tests "$(TREE)" $(OUT) "$(EXTRA_CFLAGS)"

# The main job: run the suite on this machine's /dev/kvm, print KTAP.
run: build
	scripts/run-tests.sh $(OUT)

# The suite under QEMU on Debian's stock 6.12 KVM, in shadow mode (kvm_amd
# npt=0) and nested mode (npt=1).  KERNEL=bzImage boots your own kernel;
# KVM_TREE=tree loads kvm modules built from that 6.12 tree.
VM_MODES ?= shadow nested
vm-run: build
	scripts/deps.sh vm $(if $(KVM_TREE),modules)
	$(if $(KVM_TREE),scripts/build.sh modules "$(KVM_TREE)" $(OUT)/kvm-modules)
	scripts/vm-run.sh $(if $(KVM_TREE),--modules $(OUT)/kvm-modules) $(OUT) $(VM_MODES)

# Zap cost per page over 1k..64k unsync pages (BENCH_ARGS=-L adds 256k),
# and the root skew; writes out/bench/zap.csv and zap.png.
bench: build
	scripts/deps.sh vm bench
	scripts/bench.sh $(OUT) $(BENCH_ARGS)

# The reliability soak: SOAK="runs parallel kills"; bad input first, then
# scripts/soak.sh here, or in the QEMU guest where this machine has no
# usable /dev/kvm (SOAK_VM=1: there anyway).  SOAK_PLANT=1: its self-test.
SOAK ?= 50 4 12
soak: build
	scripts/deps.sh vm soak
	scripts/check.sh bad-input $(OUT)
	scripts/build.sh tests --dynamic "$(TREE)" $(OUT)/valgrind
	scripts/soak.sh $(if $(SOAK_VM),--vm) $(if $(SOAK_PLANT),--plant) $(OUT) $(SOAK)

# The mutation matrix: each mutants/*.patch (MUTANTS="a b": those) applied
# to the tree's mmu.c, kvm modules rebuilt, the suite run under QEMU in
# each of VM_MODES.
mutants: build
	scripts/deps.sh vm modules
	scripts/mutants.sh --modes "$(VM_MODES)" "$(TREE)" $(OUT) $(MUTANTS)

# The patch series (git format-patch) against the 6.12 and 7.3 trees.
patches:
	scripts/deps.sh build check
	for v in 6.12 7.3; do \
		scripts/make-patches.sh "$$(KERNEL_TREE=$$v scripts/kernel.sh tree)" $(OUT)/patches/$$v || exit 1; \
	done

# The trace parser (lib/x86/zap_trace_parse.c) on the captured traces in
# tests/traces/: no KVM, no tracefs, no tree; takes a second.
SELFTESTS := tools/testing/selftests/kvm
parse-test:
	mkdir -p $(OUT)
	gcc -Wall -Werror -O2 -I$(SELFTESTS)/include/x86 -o $(OUT)/zap_trace_parse_test \
		tests/zap_trace_parse_test.c $(SELFTESTS)/lib/x86/zap_trace_parse.c
	$(OUT)/zap_trace_parse_test tests/traces/*.trace

# The project's own checks (README says what CI leaves out): -Werror on both
# trees; the series on both (applies, builds, checkpatch-clean, runs through
# the tree's run_kselftest.sh); style; bad input; the suite here; the
# mutation matrix (--quick); the soak's self-test and a short soak; the root
# skew under QEMU (-s: with kprobe events the test itself skips it); last
# the suite under QEMU, so that its KTAP closes the output.
check: parse-test deps patches
	rm -rf $(OUT)/build $(OUT)/7.3
	scripts/build.sh tests "$$(KERNEL_TREE=7.3 scripts/kernel.sh tree)" $(OUT)/7.3 -Werror
	scripts/build.sh tests "$(TREE)" $(OUT) -Werror
	for v in 6.12 7.3; do \
		tree=$$(KERNEL_TREE=$$v scripts/kernel.sh tree) && \
		scripts/check.sh patches $$tree $(OUT)/patches/$$v && \
		scripts/check.sh kselftest $$tree $(OUT)/patches/$$v $(OUT)/kselftest/$$v || exit 1; \
	done
	scripts/check.sh style "$(TREE)"
	scripts/check.sh bad-input $(OUT)
	scripts/run-tests.sh $(OUT)
	scripts/mutants.sh --quick "$(TREE)" $(OUT)
	scripts/build.sh tests --dynamic "$(TREE)" $(OUT)/valgrind
	scripts/soak.sh --plant $(OUT) 1 1 3
	scripts/soak.sh $(OUT) 5 2 1
	TEST_ARGS=-s scripts/vm-run.sh --tests mmu_zap_restart_test --dir $(OUT)/vm-skew $(OUT) shadow
	scripts/vm-run.sh $(OUT) shadow nested

# Install the Debian packages of every target (only what is missing); each
# target installs what it needs itself.
deps:
	scripts/deps.sh build vm modules bench soak check

clean:
	rm -rf $(OUT)
