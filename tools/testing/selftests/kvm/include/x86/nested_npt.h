/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Nested NPT for the shadow MMU tests on a host where KVM uses TDP: the
 * test's guest (L1) is a small hypervisor that runs an L2 with nested
 * paging.  KVM shadows L1's NPT tables with shadow pages (role guest_mode)
 * that live in the same pool, on the same list, as the shadow pages of
 * shadow paging, and become unsync the same way when L1 writes a level-1
 * NPT table.
 *
 * Host side: a 4-level NPT built in guest memory.  NPT entries are
 * ordinary x86-64 PTEs; NPT walks are user accesses, so every entry has
 * the U bit.  Guest side: one VMCB with nested paging on, and VMRUN.
 */
#ifndef SELFTEST_KVM_NESTED_NPT_H
#define SELFTEST_KVM_NESTED_NPT_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm_util.h"
#include "processor.h"

struct npt {
	uint64_t root; /* GPA of the PML4: the VMCB's nested CR3 */
	uint32_t slot; /* the memslot that holds every NPT table */
};

/* Host: a new, empty NPT with its tables in @slot. */
void npt_create(struct kvm_vm *vm, struct npt *npt, uint32_t slot);
/* Map @l2_gpa to @gpa with a 4 KiB (level 1) or 2 MiB (level 2) entry. */
void npt_map(struct kvm_vm *vm, struct npt *npt, uint64_t l2_gpa, uint64_t gpa,
	     int level);
/* Map memslot @slot one to one (L2 GPA == GPA), with 2 MiB entries. */
void npt_map_memslot(struct kvm_vm *vm, struct npt *npt, uint32_t slot);
/* GPA of the NPT table at @level (1: PT .. 4: PML4) mapping @l2_gpa. */
uint64_t npt_table_gpa(struct kvm_vm *vm, struct npt *npt, uint64_t l2_gpa,
		       int level);
/* NULL if KVM offers its guests SVM with NPT, else why not. */
const char *nested_npt_unsupported(void);

/*
 * What L1 needs to run L2: the VMCB, the page where VMRUN saves L1's state,
 * L2's stack (L2 runs on L1's own CR3, so on L1's mappings), and their
 * GPAs.  One static instance in the guest image; the host fills in the
 * GPAs (nested_svm_init()), the guest the rest (nested_svm_setup()).
 */
struct nested_svm {
	uint8_t vmcb[PAGE_SIZE] __aligned(PAGE_SIZE);
	uint8_t hsave[PAGE_SIZE] __aligned(PAGE_SIZE);
	uint8_t l2_stack[PAGE_SIZE] __aligned(PAGE_SIZE);
	uint64_t vmcb_gpa;
	uint64_t hsave_gpa;
	uint64_t ncr3;
};

void nested_svm_init(struct kvm_vm *vm, struct nested_svm *svm, uint64_t ncr3);

/*
 * Guest (L1, CPL0): enable SVM and fill the VMCB so that L2 starts at
 * @l2_rip on L1's CR3 and segments, with nested paging through the NPT,
 * and with VMMCALL intercepted.
 */
void nested_svm_setup(struct nested_svm *svm, void *l2_rip);
/* Run L2 until its next VMMCALL, and step over that instruction. */
void nested_svm_run_to_vmmcall(struct nested_svm *svm);

#endif /* SELFTEST_KVM_NESTED_NPT_H */
