/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Run a vCPU's guest code in user mode (CPL3), and the masks of the guest
 * page-table entries that takes, as libkvm names them in this tree.
 */
#ifndef SELFTEST_KVM_USER_MODE_H
#define SELFTEST_KVM_USER_MODE_H

#include <stdint.h>

#include "kvm_util.h"
#include "processor.h"

/*
 * libkvm's page-table API for the guest's own tables changed shape in 7.1:
 * the PTE masks became the masks of an MMU (PTE_PRESENT_MASK(&vm->mmu),
 * PTE_LARGE_MASK is now PTE_HUGE_MASK), and the lookup of a leaf PTE,
 * vm_get_page_table_entry(), became vm_get_pte() (is_present_pte() came
 * with them); the VM's paging levels moved into its MMU.  PTE_GET_PA() and
 * PG_LEVEL_SHIFT() kept theirs.
 */
#ifdef is_present_pte
static inline int guest_pgtable_levels(struct kvm_vm *vm)
{
	return vm->mmu.pgtable_levels;
}

static inline uint64_t guest_pte_present_mask(struct kvm_vm *vm)
{
	return PTE_PRESENT_MASK(&vm->mmu);
}

static inline uint64_t guest_pte_user_mask(struct kvm_vm *vm)
{
	return PTE_USER_MASK(&vm->mmu);
}

static inline uint64_t guest_pte_huge_mask(struct kvm_vm *vm)
{
	return PTE_HUGE_MASK(&vm->mmu);
}

static inline uint64_t *guest_leaf_pte(struct kvm_vm *vm, uint64_t gva)
{
	return (uint64_t *)vm_get_pte(vm, gva);
}
#else
static inline int guest_pgtable_levels(struct kvm_vm *vm)
{
	return vm->pgtable_levels;
}

static inline uint64_t guest_pte_present_mask(struct kvm_vm *vm)
{
	return PTE_PRESENT_MASK;
}

static inline uint64_t guest_pte_user_mask(struct kvm_vm *vm)
{
	return PTE_USER_MASK;
}

static inline uint64_t guest_pte_huge_mask(struct kvm_vm *vm)
{
	return PTE_LARGE_MASK;
}

static inline uint64_t *guest_leaf_pte(struct kvm_vm *vm, uint64_t gva)
{
	return vm_get_page_table_entry(vm, gva);
}
#endif

/*
 * Start @vcpu's guest code at CPL3, where the suite's guests run (nested
 * mode aside: an L1 needs CPL0 for SVM).  On a PVM host (kvm_pvm, KVM
 * without VMX or SVM) ring-0 guest code is emulated instruction by
 * instruction and builds no shadow pages, so a CPL0 guest leaves nothing
 * to zap.  And at CPL3 every access of the guest is a user access: the
 * U/S bits of the guest's PTEs, which KVM copies into its shadow PTEs and
 * checks on every fault and sync, become part of what the tests exercise.
 *
 * Every mapping of the vCPU's page tables becomes a user mapping (call it
 * once the guest's mappings are made), libkvm's GDT gets DPL-3 copies of
 * the vCPU's code and data segments in its first free slots, libkvm's TSS
 * the top page of the vCPU's stack as the CPL0 stack for exceptions, and
 * the guest IOPL 3 for the ucall's port I/O (or, where the host refuses
 * it at CPL3 anyway, a #GP handler that does it at CPL0).  libkvm has one
 * TSS per VM: one vCPU per VM can run in user mode.
 */
void vcpu_enter_user_mode(struct kvm_vcpu *vcpu);

#endif /* SELFTEST_KVM_USER_MODE_H */
