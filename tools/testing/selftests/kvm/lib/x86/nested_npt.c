// SPDX-License-Identifier: GPL-2.0-only
/*
 * Nested NPT for the shadow MMU tests: an NPT built by the host in guest
 * memory, and the few lines of SVM an L1 needs to run an L2 on it.
 *
 * libkvm's own nested NPT helpers exist only in newer trees (and its SVM
 * setup changed signature), so this file has its own small ones that build
 * on every tree.
 */
#include <string.h>
#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
#include "nested_npt.h"

#define NPT_PRESENT BIT_ULL(0)
#define NPT_WRITABLE BIT_ULL(1)
#define NPT_USER BIT_ULL(2)
#define NPT_ACCESSED BIT_ULL(5)
#define NPT_DIRTY BIT_ULL(6)
#define NPT_LARGE BIT_ULL(7)
#define NPT_ADDR GENMASK_ULL(51, 12)
/*
 * NPT walks are user accesses, so every entry needs the U bit.  A and D
 * are set up front so that KVM has no reason to write them itself.
 */
#define NPT_TABLE (NPT_PRESENT | NPT_WRITABLE | NPT_USER | NPT_ACCESSED)
#define NPT_LEAF (NPT_TABLE | NPT_DIRTY)

/*
 * The VMCB's nested paging enable bit: nested_ctl up to 6.x, misc_ctl in
 * newer trees.
 */
#ifdef SVM_MISC_ENABLE_NP
#define vmcb_enable_np(ctrl) ((ctrl)->misc_ctl |= SVM_MISC_ENABLE_NP)
#else
#define vmcb_enable_np(ctrl) ((ctrl)->nested_ctl |= SVM_NESTED_CTL_NP_ENABLE)
#endif

static inline int npt_index(uint64_t l2_gpa, int level)
{
	return (l2_gpa >> (12 + 9 * (level - 1))) & 511;
}

static uint64_t npt_alloc_table(struct kvm_vm *vm, struct npt *npt)
{
	uint64_t base = memslot2region(vm, npt->slot)->region.guest_phys_addr;
	uint64_t gpa = vm_phy_page_alloc(vm, base, npt->slot);

	memset(addr_gpa2hva(vm, gpa), 0, PAGE_SIZE);
	return gpa;
}

void npt_create(struct kvm_vm *vm, struct npt *npt, uint32_t slot)
{
	npt->slot = slot;
	npt->root = npt_alloc_table(vm, npt);
}

/* The entry at @level for @l2_gpa, allocating the tables above it. */
static uint64_t *npt_entry(struct kvm_vm *vm, struct npt *npt, uint64_t l2_gpa,
			   int level, bool alloc)
{
	uint64_t table = npt->root, *pte;
	int l;

	for (l = 4; l > level; l--) {
		pte = (uint64_t *)addr_gpa2hva(vm, table) +
		      npt_index(l2_gpa, l);
		if (!(*pte & NPT_PRESENT)) {
			TEST_ASSERT(alloc, "L2 GPA 0x%lx has no level-%d NPT",
				    l2_gpa, l - 1);
			*pte = npt_alloc_table(vm, npt) | NPT_TABLE;
		}
		TEST_ASSERT(!(*pte & NPT_LARGE),
			    "L2 GPA 0x%lx: large NPT entry at level %d", l2_gpa,
			    l);
		table = *pte & NPT_ADDR;
	}
	return (uint64_t *)addr_gpa2hva(vm, table) + npt_index(l2_gpa, level);
}

void npt_map(struct kvm_vm *vm, struct npt *npt, uint64_t l2_gpa, uint64_t gpa,
	     int level)
{
	uint64_t *pte;

	TEST_ASSERT(level == 1 || level == 2, "NPT level %d", level);
	pte = npt_entry(vm, npt, l2_gpa, level, true);
	*pte = gpa | NPT_LEAF | (level > 1 ? NPT_LARGE : 0);
}

void npt_map_memslot(struct kvm_vm *vm, struct npt *npt, uint32_t slot)
{
	struct kvm_userspace_memory_region2 *r =
		&memslot2region(vm, slot)->region;
	uint64_t gpa = r->guest_phys_addr & ~(SZ_2M - 1);

	for (; gpa < r->guest_phys_addr + r->memory_size; gpa += SZ_2M)
		npt_map(vm, npt, gpa, gpa, 2);
}

uint64_t npt_table_gpa(struct kvm_vm *vm, struct npt *npt, uint64_t l2_gpa,
		       int level)
{
	if (level == 4)
		return npt->root;
	return *npt_entry(vm, npt, l2_gpa, level + 1, false) & NPT_ADDR;
}

const char *nested_npt_unsupported(void)
{
	if (host_cpu_is_intel)
		return "nested mode needs AMD SVM with NPT (no nested EPT yet)";
	if (!kvm_cpu_has(X86_FEATURE_SVM))
		return "nested mode needs SVM (kvm_amd.nested=1)";
	if (!kvm_cpu_has(X86_FEATURE_NPT))
		return "nested mode needs NPT (kvm_amd.npt=1)";
	return NULL;
}

void nested_svm_init(struct kvm_vm *vm, struct nested_svm *svm, uint64_t ncr3)
{
	struct nested_svm *g = addr_gva2hva(vm, (uintptr_t)svm);

	g->vmcb_gpa = addr_gva2gpa(vm, (uintptr_t)svm->vmcb);
	g->hsave_gpa = addr_gva2gpa(vm, (uintptr_t)svm->hsave);
	g->ncr3 = ncr3;
}

static void vmcb_set_seg(struct vmcb_seg *seg, uint16_t selector, uint64_t base,
			 uint32_t limit, uint32_t attr)
{
	seg->selector = selector;
	seg->attrib = attr;
	seg->limit = limit;
	seg->base = base;
}

void nested_svm_setup(struct nested_svm *svm, void *l2_rip)
{
	struct vmcb *vmcb = (struct vmcb *)svm->vmcb;
	struct vmcb_control_area *ctrl = &vmcb->control;
	struct vmcb_save_area *save = &vmcb->save;
	uint32_t data_attr = 3 | SVM_SELECTOR_S_MASK | SVM_SELECTOR_P_MASK |
			     SVM_SELECTOR_DB_MASK | SVM_SELECTOR_G_MASK;
	uint32_t code_attr = 9 | SVM_SELECTOR_S_MASK | SVM_SELECTOR_P_MASK |
			     SVM_SELECTOR_L_MASK | SVM_SELECTOR_G_MASK;

	wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SVME);
	wrmsr(MSR_VM_HSAVE_PA, svm->hsave_gpa);

	memset(vmcb, 0, sizeof(*vmcb));
	/* FS, GS, TR, LDTR and the syscall MSRs: L1's own. */
	asm volatile("vmsave %0" : : "a"(svm->vmcb_gpa) : "memory");
	vmcb_set_seg(&save->es, get_es(), 0, -1U, data_attr);
	vmcb_set_seg(&save->cs, get_cs(), 0, -1U, code_attr);
	vmcb_set_seg(&save->ss, get_ss(), 0, -1U, data_attr);
	vmcb_set_seg(&save->ds, get_ds(), 0, -1U, data_attr);
	vmcb_set_seg(&save->gdtr, 0, get_gdt().address, get_gdt().size, 0);
	vmcb_set_seg(&save->idtr, 0, get_idt().address, get_idt().size, 0);
	save->cpl = 0;
	save->efer = rdmsr(MSR_EFER);
	save->cr0 = get_cr0();
	save->cr3 = get_cr3();
	save->cr4 = get_cr4();
	save->g_pat = rdmsr(MSR_IA32_CR_PAT);
	/* 7.3's run_guest() loads RFLAGS from its guest_regs instead. */
	save->rflags = X86_EFLAGS_FIXED;
	save->rip = (uint64_t)l2_rip;
	save->rsp = (uint64_t)(svm->l2_stack + sizeof(svm->l2_stack));

	ctrl->asid = 1;
	ctrl->intercept = BIT_ULL(INTERCEPT_VMRUN) | BIT_ULL(INTERCEPT_VMMCALL);
	vmcb_enable_np(ctrl);
	ctrl->nested_cr3 = svm->ncr3;
}

void nested_svm_run_to_vmmcall(struct nested_svm *svm)
{
	struct vmcb *vmcb = (struct vmcb *)svm->vmcb;

	/* libkvm's VMRUN: L2's GPRs are kept in its guest_regs meanwhile. */
	run_guest(vmcb, svm->vmcb_gpa);
	__GUEST_ASSERT(vmcb->control.exit_code == SVM_EXIT_VMMCALL,
		       "L2 exit 0x%lx (0x%lx, 0x%lx), expected VMMCALL",
		       (uint64_t)vmcb->control.exit_code,
		       (uint64_t)vmcb->control.exit_info_1,
		       (uint64_t)vmcb->control.exit_info_2);
	vmcb->save.rip += 3;
}
