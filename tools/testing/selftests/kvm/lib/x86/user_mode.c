// SPDX-License-Identifier: GPL-2.0-only
/*
 * Run a vCPU's guest code in user mode (CPL3): see user_mode.h.
 */
#include <string.h>

#include "kvm_util.h"
#include "processor.h"
#include "user_mode.h"

/* IOPL 3 in RFLAGS: port I/O allowed at CPL3. */
#define RFLAGS_IOPL3 (3ULL << 12)
/*
 * RSP0, the stack for exceptions taken at CPL3, is at byte 4 of the 64-bit
 * TSS (SDM vol. 3, "64-Bit TSS Format"); libkvm's TSS has no struct.
 */
#define TSS_RSP0 4
#define OPCODE_IN_AL_DX 0xec

/*
 * The ucall's "in" at CPL3 is allowed by IOPL 3 on a standard KVM, but a
 * PVM host raises #GP for it: do the port access at CPL0 on the guest's
 * behalf (RDI still points at the ucall) and step over the one-byte insn.
 */
static void user_mode_gp_handler(struct ex_regs *regs)
{
	__GUEST_ASSERT(*(uint8_t *)regs->rip == OPCODE_IN_AL_DX,
		       "Unexpected #GP at RIP 0x%lx", regs->rip);
	asm volatile("in %%dx, %%al"
		     :
		     : "d"(regs->rdx), "D"(regs->rdi)
		     : "rax", "memory");
	regs->rip += 1;
}

/* Set the U bit in every present entry of the table at @table_gpa, down. */
static void set_user_bit(struct kvm_vm *vm, uint64_t table_gpa, int level)
{
	uint64_t *pte = addr_gpa2hva(vm, table_gpa);
	int i;

	for (i = 0; i < 512; i++) {
		if (!(pte[i] & guest_pte_present_mask(vm)))
			continue;
		pte[i] |= guest_pte_user_mask(vm);
		if (level > 1 && !(pte[i] & guest_pte_huge_mask(vm)))
			set_user_bit(vm, PTE_GET_PA(pte[i]), level - 1);
	}
}

/*
 * The first free 8-byte slot of libkvm's GDT, past the descriptors it
 * filled: slot 0 is the null descriptor, and a system descriptor (the
 * TSS) takes two slots in 64-bit mode.
 */
static uint16_t gdt_free_slot(struct kvm_vm *vm)
{
	uint8_t *gdt = addr_gva2hva(vm, vm->arch.gdt);
	struct desc64 *desc;
	uint16_t slot;

	for (slot = 1; slot < PAGE_SIZE / 8 - 1;) {
		desc = (struct desc64 *)(gdt + slot * 8);
		if (!desc->p)
			return slot;
		slot += desc->s ? 1 : 2;
	}
	TEST_FAIL("libkvm's GDT has no free slot");
	return 0;
}

/*
 * Add a copy of code or data segment @seg, at DPL 3, to libkvm's GDT at
 * its first free slot, and point @seg's selector at it with RPL 3.  The
 * fill is ours because libkvm's (kvm_seg_fill_gdt_64bit()) is static.  A
 * code or data descriptor is 8 bytes, a struct desc64 16 (the size of a
 * system descriptor): write only the first 8, or the next slot goes too.
 */
static void gdt_add_user_segment(struct kvm_vm *vm, struct kvm_segment *seg)
{
	uint16_t slot = gdt_free_slot(vm);
	struct desc64 *desc = addr_gva2hva(vm, vm->arch.gdt + slot * 8);

	TEST_ASSERT(seg->s, "Segment 0x%x is not a code or data segment",
		    seg->selector);
	seg->dpl = 3;
	seg->selector = slot << 3 | 3;
	memset(desc, 0, 8);
	desc->limit0 = seg->limit & 0xffff;
	desc->limit1 = seg->limit >> 16;
	desc->base0 = seg->base & 0xffff;
	desc->base1 = seg->base >> 16;
	desc->base2 = seg->base >> 24;
	desc->type = seg->type;
	desc->s = seg->s;
	desc->dpl = seg->dpl;
	desc->p = seg->present;
	desc->avl = seg->avl;
	desc->l = seg->l;
	desc->db = seg->db;
	desc->g = seg->g;
}

void vcpu_enter_user_mode(struct kvm_vcpu *vcpu)
{
	struct kvm_vm *vm = vcpu->vm;
	uint64_t *rsp0 = addr_gva2hva(vm, vm->arch.tss + TSS_RSP0);
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	TEST_ASSERT(!*rsp0, "libkvm's one TSS has a CPL0 stack already");
	/* The top page of the vCPU's stack is for exceptions. */
	vcpu_regs_get(vcpu, &regs);
	*rsp0 = regs.rsp;
	regs.rsp -= PAGE_SIZE;
	regs.rflags |= RFLAGS_IOPL3;
	vcpu_regs_set(vcpu, &regs);
	vm_install_exception_handler(vm, GP_VECTOR, user_mode_gp_handler);

	vcpu_sregs_get(vcpu, &sregs);
	set_user_bit(vm, PTE_GET_PA(sregs.cr3), guest_pgtable_levels(vm));
	gdt_add_user_segment(vm, &sregs.cs);
	gdt_add_user_segment(vm, &sregs.ds);
	sregs.es = sregs.ds;
	sregs.ss = sregs.ds;
	sregs.fs = sregs.ds;
	sregs.gs = sregs.ds;
	vcpu_sregs_set(vcpu, &sregs);
}
