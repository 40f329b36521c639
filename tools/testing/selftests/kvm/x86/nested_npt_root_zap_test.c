// SPDX-License-Identifier: GPL-2.0-only
/*
 * A nested NPT shadow page that is at once a level-2 table of one NPT and
 * the root of another, and the zaps of its parent (CVE-2026-64561).
 *
 * KVM shadows an L1 hypervisor's NPT tables with shadow pages
 * (role.guest_mode) and finds them by gfn and role.  The role of a nested
 * NPT's root comes from L1's CR4 and EFER when L1 executes VMRUN: an L1 in
 * long mode has a 4- or 5-level NPT, an L1 in 32-bit PAE mode a PAE NPT, whose
 * four PDPTEs KVM reads at VMRUN and shadows each with a root of level 2
 * (mmu_alloc_shadow_roots()).  A PAE root's role is that of a level-2 table
 * of the long-mode NPT, so when a PDPTE points at a page directory that the
 * long-mode NPT also uses (table X below), KVM takes X's existing shadow
 * page, children and all, as the root.
 *
 * Zapping a shadow page unlinks its children, and a nested TDP child left
 * without a parent is zapped along with it (mmu_page_zap_pte()).  X, as a
 * root, must not be: its vCPU is using it.  Before "KVM: x86/mmu: Preserve
 * nested TDP shadow page tables if they are used as roots" KVM zapped it
 * anyway; a zapped root in use is not freed but marked invalid and taken
 * off the active list.  Worse, the page-fault handlers checked for an
 * invalid root before they made room in the pool
 * (make_mmu_pages_available()), so a fault whose reclaim zapped X's
 * parent went on to build children under the now invalid X, a page that
 * is freed once its vCPU drops it ("KVM: x86: Check for invalid/obsolete
 * root *after* making MMU pages available").
 *
 * The test builds that shape with one vCPU.  L1 starts in long mode and
 * runs L2 on a long-mode NPT (4 or 5 levels, as libkvm pages L1): table
 * PD0 maps L2 GPA [0, 1 GiB) (L1's own memory, where L2 runs) with 2 MiB
 * pages, table X maps the data at L2 GPA [1 GiB, 2 GiB), one level-1
 * table per data page.  The host then puts L1 in 32-bit PAE paging mode
 * (the state a 32-bit hypervisor runs in: CR0.PG, CR4.PAE, EFER.LME = 0
 * but EFER.SVME, a 32-bit code segment) at a VMRUN loop in 32-bit code,
 * with a PAE NPT whose PDPTEs 0 and 1 point at PD0 and X: both become PAE
 * roots while the long-mode shadow pages above them (the "ancestry": the
 * long-mode root down to the table of level 3) are still there, their
 * parents.  L2 runs in long mode on L1's page tables in both phases.
 *
 * Then the ancestry is zapped while the PAE roots are in use: by the
 * reclaim of page faults under a small pool, the path of the CVE, and by
 * a pool shrink (KVM_SET_NR_MMU_PAGES, the same walk), where every count
 * is exact.  A correct KVM zaps the ancestry and keeps PD0 and X with
 * their children; every page it zaps is freed, so that the pages it holds
 * are the pages created and not zapped; it stays within the pool, and
 * L2's data reads stay right.  A KVM that zaps a root in use counts it as
 * zapped without freeing it (and again when its vCPU drops it), and one
 * that also builds under it WARNs (kvm_mmu_child_role()), which the
 * suite's QEMU runner reports.  Whether mmu_recycled counts every zapped
 * page is a result of its own: KVM also gets that wrong without "KVM:
 * x86/mmu: Count every page a recursive nested TDP zap frees".
 */
#include <string.h>
#include <unistd.h>

#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
#include "ucall_common.h"
#include "unsync_stats.h"
#include "unsync_vm.h"

/* The data: L1 GPA, one page each, at 2 MiB strides of L2 GPA (table X). */
#define DATA_SLOT		10
#define DATA_GPA		(2ULL << 30)
/* L1's NPT tables (libkvm's other tables stay in memslot 0). */
#define NPT_SLOT		11
#define NPT_GPA			(3ULL << 30)
#define L2_DATA_GPA		SZ_1G		/* PDPTE 1: table X */
#define DATA_GVA		BIT_ULL(39)	/* L2's view, PML4 entry 1 */
#define MAX_DATA_PAGES		512		/* the entries of X */
#define PATTERN(i)		(0xa5a5000000000000ULL | (i))

/* The 32-bit segments the host adds to libkvm's GDT (after its TSS). */
#define CODE32_SEL		0x28
#define DATA32_SEL		0x30
#define CODE32_DESC		0x00cf9b000000ffffULL	/* base 0, 4 GiB, D=1 */
#define DATA32_DESC		0x00cf93000000ffffULL

/* The port L1 writes after each VMRUN in PAE mode. */
#define PAE_L1_PORT		0x1001
#define STAGE_LONG		1

static u64 nr_old = 16;		/* data pages built in long mode */
static u64 nr_new = 192;	/* data pages the PAE L2 adds under reclaim */
static bool verbose;

/*
 * L2: one pass over data pages [l2_first, l2_first + l2_nr), writing or
 * checking them, then VMMCALL to L1.  A wrong value is a guest assert,
 * which L2 reports to the host itself (L1 does not intercept port I/O).
 */
static u64 l2_first, l2_nr;
static bool l2_write;

static u64 *data_gva(u64 i)
{
	return (u64 *)(DATA_GVA + i * PAGE_SIZE);
}

static void l2_guest_code(void)
{
	u64 i, first, end, val;

	for (;;) {
		first = READ_ONCE(l2_first);
		end = first + READ_ONCE(l2_nr);
		for (i = first; i < end; i++) {
			if (READ_ONCE(l2_write)) {
				WRITE_ONCE(*data_gva(i), PATTERN(i));
				continue;
			}
			val = READ_ONCE(*data_gva(i));
			__GUEST_ASSERT(val == PATTERN(i),
				       "L2: data page %lu holds 0x%lx, expected 0x%llx",
				       i, val, PATTERN(i));
		}
		vmmcall();
	}
}

/* L1 in long mode: run L2 once per host run. */
static void l1_guest_code(struct svm_test_data *svm)
{
	generic_svm_setup(svm, l2_guest_code);
	for (;;) {
		run_guest(svm->vmcb, svm->vmcb_gpa);
		__GUEST_ASSERT(svm->vmcb->control.exit_code == SVM_EXIT_VMMCALL,
			       "L2 exit 0x%lx (info 0x%lx, 0x%lx), expected VMMCALL",
			       (u64)svm->vmcb->control.exit_code,
			       (u64)svm->vmcb->control.exit_info_1,
			       (u64)svm->vmcb->control.exit_info_2);
		svm->vmcb->save.rip += 3;
		GUEST_SYNC(STAGE_LONG);
	}
}

/*
 * L1 in 32-bit PAE mode: VMRUN, tell the host, again.  #VMEXIT restores
 * EAX, the VMCB's GPA, from the state VMRUN saved; the host advances L2
 * past its VMMCALL between two runs.
 *
 * Before each VMRUN, L1 clears bit 5 of its four PDPTEs, through their
 * address in l1_pae_pdpt: QEMU's TCG sets it, as an accessed bit, when it
 * walks L1's PAE page tables, and for a PAE PDPTE it is a reserved bit,
 * which KVM checks when it loads L1's PDPTEs again at #VMEXIT
 * (nested_svm_load_cr3()), and fails L1 with a triple fault.  The
 * instructions up to VMRUN then hit the TLB; CPUs that leave PDPTEs alone
 * find nothing to clear.
 */
static u32 l1_pae_pdpt;

static void __attribute__((naked)) l1_pae_code(void)
{
	asm(".code32\n"
	    "1:	mov l1_pae_pdpt, %ecx\n"
	    "	andl $~0x20, 0(%ecx)\n"
	    "	andl $~0x20, 8(%ecx)\n"
	    "	andl $~0x20, 16(%ecx)\n"
	    "	andl $~0x20, 24(%ecx)\n"
	    "	vmrun\n"
	    "	mov $" __stringify(PAE_L1_PORT) ", %dx\n"
	    "	out %al, %dx\n"
	    "	jmp 1b\n"
	    ".code64\n");
}

struct test_vm {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	struct vmcb *vmcb;		/* host address */
	u64 vmcb_gpa;
	u64 npt_long;			/* nCR3 of the long-mode NPT */
	u64 npt_pae;			/* nCR3 of the PAE NPT: its PDPT */
	u64 l1_pae_cr3;			/* L1's own PAE PDPT */
	bool pae;
	struct kvm_regs long_regs;
	struct kvm_sregs long_sregs;
	/* Shadow pages of the long-mode NPT above its level-2 tables. */
	u64 ancestry;
};

/* The level-3 table of @mmu that maps address 0. */
static u64 *level3_table(struct kvm_vm *vm, struct kvm_mmu *mmu)
{
	u64 gpa = mmu->pgd;
	int level;

	for (level = mmu->pgtable_levels; level > 3; level--)
		gpa = PTE_GET_PA(*(u64 *)addr_gpa2hva(vm, gpa));
	return addr_gpa2hva(vm, gpa);
}

/*
 * Make the page at @gpa (below 4 GiB) a PAE PDPT whose
 * entries point at the page directories @pde[0..nr) of a 4-level table.
 * A PDPTE has only P besides the address: R/W, U/S and NX are reserved
 * there.
 */
static u64 pae_pdpt(struct kvm_vm *vm, u64 gpa, u64 *pde, int nr)
{
	u64 *pdpt = addr_gpa2hva(vm, gpa);
	int i;

	TEST_ASSERT(gpa < SZ_4G, "PAE PDPT at 0x%lx, above 4 GiB", gpa);
	for (i = 0; i < nr; i++) {
		TEST_ASSERT(!(pde[i] & PTE_HUGE_MASK(&vm->mmu)),
			    "A 1 GiB page where a PAE PDPTE must point at a table");
		pdpt[i] = pde[i] & 1 ? PTE_GET_PA(pde[i]) | 1 : 0;
	}
	return gpa;
}

static struct test_vm *test_vm_create(u64 nr_data, u64 pool)
{
	struct test_vm *t = calloc(1, sizeof(*t));
	struct svm_test_data *svm;
	struct kvm_vm *vm;
	u64 slot0, *gdt, *pd, npt_pae, i;
	gva_t svm_gva, pdpt_gva;
	u32 pt_slot;

	TEST_ASSERT(t, "calloc() failed");
	vm = __vm_create_with_one_vcpu(&t->vcpu, nr_data, l1_guest_code);
	t->vm = vm;
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, DATA_GPA, DATA_SLOT,
				    nr_data, 0);
	/* L1's NPT tables, one level-1 table per data page, in a slot of their own. */
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, NPT_GPA, NPT_SLOT,
				    nr_data + 16, 0);

	/*
	 * L1's NPT: PD0 maps memslot 0 one to one with 2 MiB pages (L2 runs
	 * on L1's code and page tables), X data page i at L2 GPA
	 * L2_DATA_GPA + i * 2 MiB with a level-1 table of its own.
	 */
	slot0 = memslot2region(vm, 0)->region.memory_size;
	TEST_ASSERT(slot0 <= SZ_1G, "memslot 0 of %lu bytes, expected <= 1 GiB", slot0);
	pt_slot = vm->memslots[MEM_REGION_PT];
	vm->memslots[MEM_REGION_PT] = NPT_SLOT;
	vm_enable_npt(vm);
	for (i = 0; i < slot0; i += SZ_2M)
		__virt_pg_map(vm, &vm->stage2_mmu, i, i, PG_LEVEL_2M);
	for (i = 0; i < nr_data; i++)
		tdp_map(vm, L2_DATA_GPA + i * SZ_2M, DATA_GPA + i * PAGE_SIZE, PAGE_SIZE);
	/* The PAE NPT's PDPT, filled in below. */
	npt_pae = vm_alloc_page_table(vm);
	vm->memslots[MEM_REGION_PT] = pt_slot;
	for (i = 0; i < nr_data; i++)
		virt_pg_map(vm, (u64)data_gva(i), L2_DATA_GPA + i * SZ_2M);
	t->npt_long = vm->stage2_mmu.pgd;
	/*
	 * Each level of the long-mode NPT above level 2 has one table here,
	 * shadowed by one page.  (KVM's NPT has as many levels: KVM offers
	 * LA57, and libkvm then pages L1 with 5 levels, where the host does.)
	 */
	t->ancestry = vm->stage2_mmu.pgtable_levels - 2;

	/*
	 * The PAE NPT shares the long-mode NPT's page directories: PDPTE 0
	 * is PD0, PDPTE 1 is X, at the same L2 addresses.
	 */
	pd = level3_table(vm, &vm->stage2_mmu);
	t->npt_pae = pae_pdpt(vm, npt_pae, pd, 2);

	svm = vcpu_alloc_svm(vm, &svm_gva);
	t->vmcb = svm->vmcb_hva;
	t->vmcb_gpa = svm->vmcb_gpa;
	TEST_ASSERT(t->vmcb_gpa < SZ_4G, "VMCB at 0x%lx, above 4 GiB", t->vmcb_gpa);

	/*
	 * L1's own PAE page tables, once every page of L1 is mapped: the page
	 * directories of libkvm's page tables for [0, 4 GiB), where L1's
	 * code, data and stacks are (a PAE page directory has the format of
	 * a 4-level one), under a PDPT that L1 can write (see above).
	 */
	pdpt_gva = vm_alloc_page(vm);
	l1_pae_pdpt = pdpt_gva;
	sync_global_to_guest(vm, l1_pae_pdpt);
	t->l1_pae_cr3 = pae_pdpt(vm, addr_gva2gpa(vm, pdpt_gva),
				 level3_table(vm, &vm->mmu), 4);
	TEST_ASSERT(pdpt_gva < SZ_4G, "L1's PAE PDPT at 0x%lx, above 4 GiB", pdpt_gva);
	TEST_ASSERT((u64)l1_pae_code < SZ_4G, "L1's 32-bit code at %p, above 4 GiB",
		    l1_pae_code);

	/* The 32-bit code and data segments. */
	gdt = addr_gva2hva(vm, vm->arch.gdt);
	gdt[CODE32_SEL / 8] = CODE32_DESC;
	gdt[DATA32_SEL / 8] = DATA32_DESC;
	vcpu_args_set(t->vcpu, 1, svm_gva);
	unsync_set_pool(vm, pool);
	return t;
}

static void test_vm_free(struct test_vm *t)
{
	kvm_vm_free(t->vm);
	free(t);
}

static void seg32(struct kvm_segment *seg, u16 selector, u8 type)
{
	memset(seg, 0, sizeof(*seg));
	seg->selector = selector;
	seg->limit = 0xffffffff;
	seg->type = type;
	seg->s = 1;
	seg->present = 1;
	seg->db = 1;
	seg->g = 1;
}

/*
 * Put L1, stopped at its GUEST_SYNC in long mode, into 32-bit PAE paging
 * mode at its VMRUN loop, running L2 on the PAE NPT.  KVM resets the
 * vCPU's MMUs on the change of paging mode (kvm_mmu_reset_context()),
 * which drops the long-mode NPT root: its shadow page stays, unused, the
 * oldest page of the pool.
 */
static void enter_pae(struct test_vm *t)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	/* Finish the ucall's IN, so that long mode resumes after it. */
	vcpu_run_complete_io(t->vcpu);
	vcpu_regs_get(t->vcpu, &t->long_regs);
	vcpu_sregs_get(t->vcpu, &t->long_sregs);

	t->vmcb->control.nested_cr3 = t->npt_pae;
	t->vmcb->control.tlb_ctl = TLB_CONTROL_FLUSH_ALL_ASID;

	sregs = t->long_sregs;
	/*
	 * KVM derives the nested NPT's role from L1's CR4 and EFER: keep
	 * every bit that goes into a shadow page's role (EFER.NX, CR4.SMEP,
	 * CR4.SMAP; CR0.WP is ignored for NPT) as in long mode, so that the
	 * PAE roots have the role of the long-mode level-2 tables.
	 */
	sregs.cr3 = t->l1_pae_cr3;
	sregs.cr4 &= ~(X86_CR4_LA57 | X86_CR4_PCIDE);
	sregs.efer &= ~(EFER_LME | EFER_LMA);
	seg32(&sregs.cs, CODE32_SEL, 0xb);
	seg32(&sregs.ds, DATA32_SEL, 0x3);
	seg32(&sregs.es, DATA32_SEL, 0x3);
	seg32(&sregs.ss, DATA32_SEL, 0x3);
	seg32(&sregs.fs, DATA32_SEL, 0x3);
	seg32(&sregs.gs, DATA32_SEL, 0x3);
	vcpu_sregs_set(t->vcpu, &sregs);

	regs = t->long_regs;
	regs.rip = (u64)l1_pae_code;
	regs.rax = t->vmcb_gpa;
	regs.rflags = X86_EFLAGS_FIXED;
	vcpu_regs_set(t->vcpu, &regs);
	t->pae = true;
}

/* Back to long mode, where L1 left it. */
static void leave_pae(struct test_vm *t)
{
	vcpu_run_complete_io(t->vcpu);
	t->vmcb->control.nested_cr3 = t->npt_long;
	t->vmcb->control.tlb_ctl = TLB_CONTROL_FLUSH_ALL_ASID;
	vcpu_sregs_set(t->vcpu, &t->long_sregs);
	vcpu_regs_set(t->vcpu, &t->long_regs);
	t->pae = false;
}

/* Let L1 run L2 once over data pages [first, first + nr). */
static void run_l2(struct test_vm *t, bool write, u64 first, u64 nr)
{
	struct kvm_run *run = t->vcpu->run;
	struct ucall uc;

	l2_write = write;
	l2_first = first;
	l2_nr = nr;
	sync_global_to_guest(t->vm, l2_write);
	sync_global_to_guest(t->vm, l2_first);
	sync_global_to_guest(t->vm, l2_nr);

	vcpu_run(t->vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(t->vcpu, KVM_EXIT_IO);
	if (t->pae && run->io.port == PAE_L1_PORT) {
		TEST_ASSERT(t->vmcb->control.exit_code == SVM_EXIT_VMMCALL,
			    "PAE L1: L2 exit 0x%lx (info 0x%lx, 0x%lx), expected VMMCALL",
			    (u64)t->vmcb->control.exit_code,
			    (u64)t->vmcb->control.exit_info_1,
			    (u64)t->vmcb->control.exit_info_2);
		t->vmcb->save.rip += 3;
		return;
	}
	switch (get_ucall(t->vcpu, &uc)) {
	case UCALL_SYNC:
		TEST_ASSERT(!t->pae && uc.args[1] == STAGE_LONG,
			    "GUEST_SYNC(%lu) in %s mode", uc.args[1],
			    t->pae ? "PAE" : "long");
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	default:
		TEST_FAIL("Exit to port 0x%x (ucall %lu) in %s mode", run->io.port,
			  uc.cmd, t->pae ? "PAE" : "long");
	}
}

/* Data pages [0, nr) as L2 last wrote them, read by the host. */
static void host_check_data(struct test_vm *t, u64 nr)
{
	u64 i, val;

	for (i = 0; i < nr; i++) {
		val = *(u64 *)addr_gpa2hva(t->vm, DATA_GPA + i * PAGE_SIZE);
		TEST_ASSERT(val == PATTERN(i), "Data page %lu holds 0x%lx, expected 0x%llx",
			    i, val, PATTERN(i));
	}
}

static void print_delta(const char *what, struct unsync_stats *b, struct unsync_stats *a)
{
	ksft_print_msg("%s: created %lu, zapped %lu, recycled %lu, in use %lu -> %lu\n",
		       what, a->mmu_cache_miss - b->mmu_cache_miss,
		       a->mmu_shadow_zapped - b->mmu_shadow_zapped,
		       a->mmu_recycled - b->mmu_recycled, b->in_use, a->in_use);
}

/* One run of L2 between two reads of the counters. */
static void measure_l2(struct test_vm *t, const char *what, bool write, u64 first,
		       u64 nr, struct unsync_stats *b, struct unsync_stats *a)
{
	unsync_stats_read(t->vm, b);
	run_l2(t, write, first, nr);
	unsync_stats_read(t->vm, a);
	if (verbose)
		print_delta(what, b, a);
}

/*
 * Long mode: L2 runs its code once, then writes the data pages.  The data
 * pass creates exactly X's shadow page and one level-1 page per data page:
 * the code pass created the ancestry (the long-mode root and the tables
 * down to level 3) and PD0's.
 */
static void build_long(struct test_vm *t, u64 nr, const char *what)
{
	struct unsync_stats b, a;

	measure_l2(t, "long mode, code only", false, 0, 0, &b, &a);
	measure_l2(t, "long mode, data", true, 0, nr, &b, &a);
	TEST_ASSERT(a.mmu_cache_miss - b.mmu_cache_miss == 1 + nr,
		    "%s: writing %lu data pages through table X created %lu shadow pages, expected %lu (X and a level-1 table each)",
		    what, nr, a.mmu_cache_miss - b.mmu_cache_miss, 1 + nr);
	TEST_ASSERT(a.mmu_recycled == 0 && a.mmu_shadow_zapped == 0,
		    "%s: %lu zapped, %lu recycled while the pool holds the build", what,
		    a.mmu_shadow_zapped, a.mmu_recycled);
	host_check_data(t, nr);
}

/*
 * PAE mode, first run: KVM reads the PDPTEs at VMRUN and takes the shadow
 * pages of PD0 and X, found by gfn and role, as the roots; L2 reads the
 * data through them with every shadow page already there.
 */
static void pae_share_roots(struct test_vm *t, u64 nr, const char *what)
{
	struct unsync_stats b, a;

	enter_pae(t);
	measure_l2(t, "PAE mode, first run", false, 0, nr, &b, &a);
	TEST_ASSERT(a.mmu_cache_miss == b.mmu_cache_miss,
		    "%s: the PAE NPT created %lu shadow pages, expected 0 (its roots are the long-mode NPT's level-2 shadow pages)",
		    what, a.mmu_cache_miss - b.mmu_cache_miss);
	TEST_ASSERT_EQ(a.mmu_shadow_zapped, b.mmu_shadow_zapped);
}

/*
 * KVM's own count of the pages in use (n_used_mmu_pages) must be what the
 * counters say: the pages created (mmu_cache_miss) and not zapped
 * (mmu_shadow_zapped).  A root in use that is zapped through its parent
 * is counted as zapped but not freed, and counted again when its vCPU
 * drops it and frees it: KVM then holds more pages than the counters say.
 * 6.12 has no stat of that count (7.3 has mmu_shadow_pages), so ask
 * KVM_SET_NR_MMU_PAGES: a goal of the pages the counters say are in use
 * must zap nothing.
 */
static void check_in_use(struct test_vm *t, const char *what, u64 pool)
{
	struct unsync_stats b, a;

	unsync_stats_read(t->vm, &b);
	TEST_ASSERT(b.in_use <= pool, "%s: %lu shadow pages in use, pool %lu",
		    what, b.in_use, pool);
	TEST_ASSERT(b.in_use == b.mmu_cache_miss - b.mmu_shadow_zapped,
		    "%s: mmu_shadow_pages %lu, but %lu created and %lu zapped", what,
		    b.in_use, b.mmu_cache_miss, b.mmu_shadow_zapped);
	TEST_ASSERT(b.in_use >= UNSYNC_MIN_POOL_PAGES,
		    "%s: %lu pages in use, fewer than the smallest goal", what, b.in_use);

	unsync_set_pool(t->vm, b.in_use);
	unsync_stats_read(t->vm, &a);
	TEST_ASSERT(a.mmu_shadow_zapped == b.mmu_shadow_zapped,
		    "%s: a goal of the %lu pages created and not zapped made KVM zap %lu more: it holds pages it counted as zapped (a PAE NPT root in use zapped through its long-mode parent? see \"KVM: x86/mmu: Preserve nested TDP shadow page tables if they are used as roots\")",
		    what, b.in_use, a.mmu_shadow_zapped - b.mmu_shadow_zapped);
	unsync_set_pool(t->vm, pool);
}

/*
 * Every page a walk over the oldest pages zaps is freed, and counted once
 * in mmu_shadow_zapped and once in the total the walk adds to
 * mmu_recycled, whether the walk zapped it or the zap of its parent took
 * it along.  A root in use zapped through its parent is counted in
 * mmu_shadow_zapped only (twice: it is zapped again when its vCPU drops
 * it).  KVMs without "KVM: x86/mmu: Count every page a recursive nested
 * TDP zap frees" count a whole subtree zapped along as one page in
 * mmu_recycled: the long-mode ancestry above PD0 and X is such a subtree
 * once the NPT has more than four levels.  Reported as a result of its
 * own, so that the checks above still tell the root zap apart.
 */
static void check_recycled(const char *what, struct unsync_stats *b,
			   struct unsync_stats *a)
{
	u64 zapped = a->mmu_shadow_zapped - b->mmu_shadow_zapped;
	u64 recycled = a->mmu_recycled - b->mmu_recycled;

	if (zapped != recycled)
		ksft_print_msg("%s: mmu_shadow_zapped +%lu, mmu_recycled +%lu %s\n",
			       what, zapped, recycled,
			       "(expected equal: a root in use zapped, or a recursive nested zap counted as one page? see \"KVM: x86/mmu: Count every page a recursive nested TDP zap frees\")");
	ksft_test_result(zapped == recycled,
			 "%s: every zapped page counted in mmu_recycled\n", what);
}

/*
 * The reclaim of page faults, the path of the CVE: a small pool holds the
 * long-mode build, and the PAE L2 then writes more data pages than it has
 * room for.  Each fault through X that finds fewer than
 * KVM_MIN_FREE_MMU_PAGES free zaps the oldest pages, first the ancestry,
 * whose zap reaches X, the root the fault is building under.  X must stay
 * the root, valid, with its children: no page is zapped without being
 * freed, the pool holds, and the data reads stay right, in PAE mode and
 * back in long mode, where X is a level-2 table again.  The pool is twice
 * the minimum so that a goal of what is in use is one KVM accepts.
 */
#define RECLAIM_POOL	(2 * UNSYNC_MIN_POOL_PAGES)
#define RECLAIM_RESULTS 6

static void test_reclaim(void)
{
	u64 pool = RECLAIM_POOL, total = nr_old + nr_new;
	struct unsync_stats b, a, start;
	struct test_vm *t;

	t = test_vm_create(total, pool);
	build_long(t, nr_old, "reclaim");
	ksft_print_msg("reclaim: pool of %lu pages\n", pool);
	ksft_test_result_pass("reclaim: long-mode build within the pool\n");

	pae_share_roots(t, nr_old, "reclaim");
	ksft_test_result_pass("reclaim: PAE roots taken without reclaim\n");

	measure_l2(t, "PAE mode, new data", true, nr_old, nr_new, &start, &a);
	print_delta("faults under the PAE root X", &start, &a);
	TEST_ASSERT(a.mmu_recycled > start.mmu_recycled,
		    "%lu new data pages under a pool of %lu: nothing recycled",
		    nr_new, pool);
	check_in_use(t, "faults under the PAE root X", pool);
	ksft_test_result_pass("reclaim: faults under a PAE root zap its parent, not the root\n");

	measure_l2(t, "PAE mode, all data", false, 0, total, &b, &a);
	check_in_use(t, "PAE L2 reads all data", pool);
	host_check_data(t, total);
	ksft_test_result_pass("reclaim: PAE L2 reads all its data back\n");

	leave_pae(t);
	measure_l2(t, "long mode, all data", false, 0, total, &b, &a);
	TEST_ASSERT(a.in_use <= pool, "long mode, all data: %lu shadow pages in use, pool %lu",
		    a.in_use, pool);
	ksft_test_result_pass("reclaim: long-mode L2 reads all its data back\n");

	check_recycled("reclaim", &start, &a);
	test_vm_free(t);
}

/*
 * The shrink: zap one page while the PAE roots are in use.  The oldest
 * page is the long-mode root (no vCPU uses it since L1 left long mode);
 * zapping it leaves the tables below without a parent, down to PD0 and X,
 * which are roots in use: the zap takes the ancestry and stops there.
 * PD0, X and all their children stay, so L2 reads its data in PAE mode
 * without a new shadow page; back in long mode, exactly the ancestry is
 * built again above PD0 and X.
 */
#define SHRINK_RESULTS 6

static void test_shrink(void)
{
	/* Enough pages for a pool of one less than in use (>= the minimum). */
	u64 nr = UNSYNC_MIN_POOL_PAGES, pool = unsync_pool_pages(nr), zapped;
	struct unsync_stats b, a, start;
	struct test_vm *t;

	t = test_vm_create(nr, pool);
	build_long(t, nr, "shrink");
	ksft_test_result_pass("shrink: long-mode NPT: table X and a level-1 table per data page\n");

	pae_share_roots(t, nr, "shrink");
	ksft_test_result_pass("shrink: the PAE NPT's roots are the long-mode level-2 tables\n");

	unsync_stats_read(t->vm, &start);
	unsync_set_pool(t->vm, start.in_use - 1);
	unsync_stats_read(t->vm, &a);
	if (verbose)
		print_delta("shrink by one page", &start, &a);
	zapped = a.mmu_shadow_zapped - start.mmu_shadow_zapped;
	TEST_ASSERT(zapped == t->ancestry,
		    "shrink by one page: zapped %lu, expected the %lu shadow pages of the long-mode NPT above its level-2 tables (more: PD0 and X, roots in use, zapped through their long-mode parent? see \"KVM: x86/mmu: Preserve nested TDP shadow page tables if they are used as roots\")",
		    zapped, t->ancestry);
	TEST_ASSERT(a.in_use <= start.in_use - 1, "shrink to %lu: %lu in use",
		    start.in_use - 1, a.in_use);
	ksft_print_msg("shrink: %lu tables above the PAE roots\n", t->ancestry);
	ksft_test_result_pass("shrink: zaps the tables above the PAE roots, not the roots\n");
	unsync_set_pool(t->vm, pool);

	measure_l2(t, "PAE mode after the shrink", false, 0, nr, &b, &a);
	TEST_ASSERT(a.mmu_cache_miss == b.mmu_cache_miss,
		    "PAE mode after the shrink: %lu shadow pages created, expected 0 (PD0, X and their children kept)",
		    a.mmu_cache_miss - b.mmu_cache_miss);
	TEST_ASSERT_EQ(a.mmu_shadow_zapped, b.mmu_shadow_zapped);
	check_in_use(t, "PAE mode after the shrink", pool);
	ksft_test_result_pass("shrink: PAE L2 reads its data through the roots kept\n");

	leave_pae(t);
	measure_l2(t, "long mode after the shrink", false, 0, nr, &b, &a);
	TEST_ASSERT(a.mmu_cache_miss - b.mmu_cache_miss == t->ancestry,
		    "long mode after the shrink: %lu shadow pages created, expected the %lu zapped",
		    a.mmu_cache_miss - b.mmu_cache_miss, t->ancestry);
	TEST_ASSERT_EQ(a.mmu_shadow_zapped, b.mmu_shadow_zapped);
	ksft_test_result_pass("shrink: long mode rebuilds only the ancestry above PD0 and X\n");

	check_recycled("shrink", &start, &a);
	test_vm_free(t);
}

static void help(const char *name, int status)
{
	printf("usage: %s [-h] [-p reclaim|shrink] [-o pages] [-n pages] [-v]\n", name);
	printf(" -p: run one part only: the reclaim of page faults or the pool shrink\n");
	printf(" -o: data pages built in long mode (default %lu)\n", nr_old);
	printf(" -n: data pages the PAE L2 adds under reclaim (default %lu)\n", nr_new);
	printf(" -v: print the counters of every step\n");
	exit(status);
}

int main(int argc, char *argv[])
{
	const char *part = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "hp:o:n:v")) != -1) {
		switch (opt) {
		case 'p':
			part = optarg;
			TEST_ASSERT(!strcmp(part, "reclaim") || !strcmp(part, "shrink"),
				    "-p %s: expected reclaim or shrink", part);
			break;
		case 'o':
			nr_old = atoi_positive("Data pages built in long mode", optarg);
			break;
		case 'n':
			nr_new = atoi_positive("Data pages added in PAE mode", optarg);
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
		default:
			help(argv[0], opt == 'h' ? 0 : KSFT_FAIL);
		}
	}
	/* The long-mode build must leave the minimum pool room to spare. */
	TEST_ASSERT(nr_old >= 1 && nr_old <= 32, "-o %lu: expected 1..32", nr_old);
	/* More new pages than the pool holds: the faults must reclaim. */
	TEST_ASSERT(nr_new >= RECLAIM_POOL && nr_old + nr_new <= MAX_DATA_PAGES,
		    "-n %lu: expected %u..%lu", nr_new, RECLAIM_POOL,
		    MAX_DATA_PAGES - nr_old);

	ksft_print_header();
	unsync_mode = UNSYNC_MODE_NESTED;
	unsync_require();
	ksft_set_plan((!part || !strcmp(part, "reclaim")) * RECLAIM_RESULTS +
		      (!part || !strcmp(part, "shrink")) * SHRINK_RESULTS);

	if (!part || !strcmp(part, "reclaim"))
		test_reclaim();
	if (!part || !strcmp(part, "shrink"))
		test_shrink();
	ksft_finished();
}
