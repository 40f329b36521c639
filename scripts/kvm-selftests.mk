# SPDX-License-Identifier: GPL-2.0-only
#
# Build glue: run the kernel tree's own KVM selftests Makefile with this
# suite's helper library and tests added, exactly as the patch series
# registers them.  Invoked by scripts/build-tests.sh as
#   make -C <tree>/tools/testing/selftests/kvm -f <this file> OUTPUT=... <targets>
# Set before the tree's Makefile is read, so its "+=" lines append to ours.

ZAP_ARCH_DIR := $(if $(wildcard x86_64/.),x86_64,x86)

LIBKVM_$(ZAP_ARCH_DIR) += $(ZAP_LIBS)
TEST_GEN_PROGS_EXTENDED_$(ZAP_ARCH_DIR) += $(addprefix $(ZAP_ARCH_DIR)/,$(ZAP_TESTS))

# One static binary serves the host and the QEMU initramfs alike;
# ZAP_DYNAMIC=1 links dynamically, for valgrind (which cannot replace the
# allocator of a static binary).
ifneq ($(ZAP_DYNAMIC),1)
LDFLAGS += -static
endif

include Makefile
