# SPDX-License-Identifier: GPL-2.0-only
#
# KVM selftests for the x86 shadow MMU zap paths, built on a real kernel
# tree (KDIR=..., else Debian's linux-source-$(KERNEL_TREE), 6.12 or 7.3,
# unpacked into $(CACHE)).
# Scripts live in scripts/, binaries land in out/<test-name>.

KDIR ?=
KERNEL_TREE ?= 6.12
export KERNEL_TREE PATCH_AUTHOR
OUT := out
CACHE ?= $(HOME)/.cache/kvm-zap-selftests
export CACHE

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

# Run the suite under QEMU on Debian's stock 6.12 KVM, once with shadow
# paging (kvm_amd npt=0) and once with nested NPT (npt=1; VM_MODES=0 or 1
# for one).
# KERNEL=bzImage boots a kernel of your own (KVM built in); KVM_TREE=tree
# loads kvm modules built from that 6.12 tree into Debian's kernel.
vm-run: build
	scripts/deps.sh vm $(if $(KVM_TREE),modules)
ifneq ($(KVM_TREE),)
	scripts/build.sh modules "$(KVM_TREE)" $(OUT)/kvm-modules
	KVM_MODULES=$(OUT)/kvm-modules scripts/vm-run-modes.sh $(OUT)
else
	scripts/vm-run-modes.sh $(OUT)
endif

# The benchmark: zap cost per page over 1k..64k unsync pages (BENCH_ARGS=-L
# adds 256k), restart counts, root skew; writes out/bench/zap.csv and .png.
bench: build
	scripts/deps.sh vm bench
	scripts/bench.sh $(OUT) $(BENCH_ARGS)

# The reliability soak (scripts/soak-guest.sh): SOAK="runs parallel kills",
# default "50 4 12"; make check runs "5 2 1" after the soak's self-test
# (SOAK_PLANT=1: planted leftovers must turn each check red).  SOAK_VM=1
# soaks in the QEMU guest even where this machine has /dev/kvm.
SOAK ?= 50 4 12
soak: build
	scripts/deps.sh vm soak
	KDIR=$(KDIR) scripts/soak.sh $(OUT) $(SOAK)

# The patch series (git format-patch) against the 6.12 and 7.3 trees.
patches:
	scripts/deps.sh build check
	scripts/make-patches.sh "$$(KERNEL_TREE=6.12 scripts/kernel.sh tree)" $(OUT)/patches/6.12
	scripts/make-patches.sh "$$(KERNEL_TREE=7.3 scripts/kernel.sh tree)" $(OUT)/patches/7.3

# The mutation matrix: each mutants/*.patch applied to the tree's mmu.c,
# kvm modules rebuilt, the suite run under QEMU; writes out/mutants.md.
mutants: build
	scripts/deps.sh vm modules
	scripts/mutants.sh "$(TREE)" $(OUT)

# The trace parser (lib/x86/zap_trace_parse.c) on the captured trace text
# in tests/traces/: no KVM, no tracefs, no tree; takes a second.
SELFTESTS := tools/testing/selftests/kvm
parse-test:
	mkdir -p $(OUT)
	gcc -Wall -Werror -O2 -I$(SELFTESTS)/include/x86 -o $(OUT)/zap_trace_parse_test \
		tests/zap_trace_parse_test.c $(SELFTESTS)/lib/x86/zap_trace_parse.c
	$(OUT)/zap_trace_parse_test tests/traces/*.trace

# The project's own checks: the trace parser offline, warnings as errors on both trees, style, bad
# input, the patch series (applies, builds, checkpatch-clean, runs through
# kselftest) on both trees, the suite on this machine, the mutation matrix,
# the short soak, and the suite under QEMU on Debian's stock KVM (last, so
# that its KTAP summary closes the output).
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
	QUICK=1 scripts/mutants.sh "$(TREE)" $(OUT)
	SOAK_PLANT=1 KDIR=$(KDIR) scripts/soak.sh $(OUT) 1 1 3
	KDIR=$(KDIR) scripts/soak.sh $(OUT) 5 2 1
	scripts/vm-run-modes.sh $(OUT)

# Install the Debian packages of every target (only what is missing); each
# target installs what it needs itself.
deps:
	scripts/deps.sh build vm modules bench soak check

clean:
	rm -rf $(OUT)
