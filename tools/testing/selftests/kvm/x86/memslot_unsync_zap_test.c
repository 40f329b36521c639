// SPDX-License-Identifier: GPL-2.0-only
/*
 * Delete or move a memslot under a guest with many unsync shadow pages, and
 * check which shadow pages KVM zaps, and that each is counted once.
 *
 * kvm_arch_flush_shadow_memslot() has two ways to drop what a memslot maps.
 * With KVM_X86_QUIRK_SLOT_ZAP_ALL (the default) it zaps every shadow page
 * through the fast "obsolete generation" path, kvm_mmu_zap_all_fast(),
 * whose kvm_zap_obsolete_pages() walk restarts when a zap made the list
 * unstable.  With the quirk disabled it unmaps the slot's gfns and zaps
 * only the shadow pages of guest page tables that lie in the slot
 * (kvm_mmu_zap_memslot_pages_and_flush()).
 *
 * The guest's data and alias page tables lie in one memslot, its data pages
 * in another; the page-table slot holds a guest page table at its first and
 * at its last page, the edges of a per-slot zap.  Each round builds a fresh
 * VM, so that the pages in use are known exactly (no root has been zapped
 * yet).
 */
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "shadow_mmu.h"
#include "ucall_common.h"

#define DEFAULT_NR_PAGES 1024
#define DEFAULT_NR_ROUNDS 10
#define MAX_NR_ROUNDS 1000

/* Where a moved slot goes: far above both slots, below 1 TiB. */
#define MOVED_GPA (64ULL << 30)

/* The guest's #PF handler reports a fault with this GUEST_SYNC stage. */
#define STAGE_PAGE_FAULT 14

struct slot_op {
	const char *name;
	uint32_t slot;
	bool move;
	bool root; /* the guest's top-level table (CR3) lies in the slot */
};

static const struct slot_op slot_ops[] = {
	{ "delete page-table slot", UNSYNC_PT_SLOT, false, false },
	{ "move page-table slot", UNSYNC_PT_SLOT, true, false },
	{ "delete data slot", UNSYNC_DATA_SLOT, false, false },
	{ "move data slot", UNSYNC_DATA_SLOT, true, false },
	{ "delete page-table slot with CR3", UNSYNC_PT_SLOT, false, true },
	{ "move page-table slot with CR3", UNSYNC_PT_SLOT, true, true },
};

/*
 * A rebuild takes ~0.1 s at N = 1024 under QEMU: a vCPU that has not made
 * it in 30 s, plus a second per 1024 pages, is stuck.
 */
#define REBUILD_TIMEOUT_S(n) (30 + (n) / 1024)

static uint64_t nr_pages = DEFAULT_NR_PAGES;
static uint64_t nr_rounds = DEFAULT_NR_ROUNDS;
static bool verbose;

/*
 * The guest, unsync_guest_code(), writes every data page, then each time the
 * host runs it writes one PTE of every data page table (KVM marks their
 * shadow pages unsync) and reads every data page back.  With the data slot
 * gone, its first read is an MMIO exit; with the page-table slot gone, a #PF,
 * taken at CPL3 here: report the address and error code, then return, so the
 * guest retries the access once the host has put the slot back.
 */
static void guest_pf_handler(struct ex_regs *regs)
{
	uint64_t cr2;

	asm volatile("mov %%cr2, %0" : "=r"(cr2));
	GUEST_SYNC_ARGS(STAGE_PAGE_FAULT, cr2, regs->error_code, 0, 0);
}

/*
 * A per-slot zap walks the slot's gfns from the first to the last.  The
 * first page of the page-table slot holds the data's level-3 table (the
 * first table libkvm allocated there); move the level-1 table of the last
 * alias page to the slot's last page, so both edges hold a table that the
 * guest walks.  Neither can be zapped along with another page: the level-3
 * table's parent is the root, outside the slot, and the alias tables stay
 * sync (an unsync level-1 table would go with its zapped parent).
 */
static void put_table_at_slot_end(struct unsync_vm *uvm)
{
	struct userspace_mem_region *r =
		memslot2region(uvm->vm, UNSYNC_PT_SLOT);
	uint64_t first = r->region.guest_phys_addr;
	uint64_t last = first + r->region.memory_size - PAGE_SIZE;
	uint64_t alias = UNSYNC_ALIAS_GVA + (uvm->nr_pages - 1) * PAGE_SIZE;
	uint64_t *pde = unsync_guest_pte(uvm, alias, 2), old;
	uint64_t *pdpte = unsync_guest_pte(uvm, unsync_data_gva(0), 4);

	TEST_ASSERT_EQ(PTE_GET_PA(*pdpte), first);
	old = PTE_GET_PA(*pde);
	TEST_ASSERT_EQ(vm_phy_page_alloc(uvm->vm, last, UNSYNC_PT_SLOT), last);
	memcpy(addr_gpa2hva(uvm->vm, last), addr_gpa2hva(uvm->vm, old),
	       PAGE_SIZE);
	*pde = (*pde & ~PHYSICAL_PAGE_MASK) | last;
}

/* Take the slot away from the guest's view: delete it or move it away. */
static void slot_take_away(struct kvm_vm *vm, const struct slot_op *op)
{
	if (op->move)
		vm_mem_region_move(vm, op->slot, MOVED_GPA);
	else
		memslot_hide(vm, op->slot);
}

static void slot_put_back(struct kvm_vm *vm, const struct slot_op *op)
{
	if (op->move)
		vm_mem_region_move(vm, op->slot,
				   op->slot == UNSYNC_PT_SLOT ?
					   UNSYNC_PT_GPA :
					   UNSYNC_DATA_GPA);
	else
		memslot_restore(vm, op->slot);
}

/*
 * With the data slot gone, the guest's first data read finds no memslot
 * behind its (intact) page tables: KVM must emulate it and exit to
 * userspace with an MMIO read of the first data page.  Answer it with the
 * value the page holds, so that the guest's check of the data passes.
 */
static void expect_mmio_read_of_data(struct unsync_vm *uvm)
{
	struct kvm_run *run = uvm->vcpu->run;
	uint64_t val = UNSYNC_PATTERN(0);

	vcpu_run(uvm->vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(uvm->vcpu, KVM_EXIT_MMIO);
	TEST_ASSERT_EQ(run->mmio.phys_addr, UNSYNC_DATA_GPA);
	TEST_ASSERT_EQ(run->mmio.is_write, 0);
	TEST_ASSERT_EQ(run->mmio.len, sizeof(val));
	memcpy(run->mmio.data, &val, sizeof(val));
}

/*
 * Give the vCPU a top-level table in the page-table slot: a copy of
 * libkvm's (slot 0), loaded into CR3 before the vCPU first runs, so that
 * the vCPU's root shadow page is one of the slot's.
 */
static void put_root_in_pt_slot(struct unsync_vm *uvm)
{
	uint64_t pml4 =
		vm_phy_page_alloc(uvm->vm, UNSYNC_PT_GPA, UNSYNC_PT_SLOT);
	struct kvm_sregs sregs;

	memcpy(addr_gpa2hva(uvm->vm, pml4), addr_gpa2hva(uvm->vm, uvm->pgd),
	       PAGE_SIZE);
	vcpu_sregs_get(uvm->vcpu, &sregs);
	sregs.cr3 = (sregs.cr3 & ~PHYSICAL_PAGE_MASK) | pml4;
	vcpu_sregs_set(uvm->vcpu, &sregs);
}

/*
 * With the page-table slot gone, the guest's first data read walks into a
 * table that no memslot backs: KVM's walk of the guest tables fails there
 * and it must inject a not-present #PF for the address the guest read,
 * at CPL3 (the shadow pages that still pointed into the slot were zapped,
 * or the read would have gone through them).
 */
static void expect_page_fault_on_data(struct unsync_vm *uvm)
{
	struct ucall uc;

	vcpu_run(uvm->vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(uvm->vcpu, KVM_EXIT_IO);
	switch (get_ucall(uvm->vcpu, &uc)) {
	case UCALL_SYNC:
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	default:
		TEST_FAIL("Unexpected ucall %lu, expected a #PF", uc.cmd);
	}
	TEST_ASSERT(uc.args[1] == STAGE_PAGE_FAULT,
		    "Guest reached stage %lu, expected a #PF", uc.args[1]);
	TEST_ASSERT_EQ(uc.args[2], unsync_data_gva(0));
	TEST_ASSERT_EQ(uc.args[3], PFERR_USER_MASK);
}

static uint64_t nr_guest_tables(struct unsync_vm *uvm)
{
	return uvm->nr_guest_tables[1] + uvm->nr_guest_tables[2] +
	       uvm->nr_guest_tables[3];
}

/* One round: build, take the slot away, check the zap, put it back. */
static double run_round(const struct slot_op *op, bool zap_all, int round)
{
	uint64_t in_use, zapped, tables, flush_requests;
	struct zap_stats built;
	struct unsync_vm *uvm;
	struct zap_phase p;

	uvm = unsync_vm_create(nr_pages, unsync_guest_code);
	put_table_at_slot_end(uvm);
	if (op->root)
		put_root_in_pt_slot(uvm);
	vm_install_exception_handler(uvm->vm, PF_VECTOR, guest_pf_handler);
	if (!zap_all)
		vm_disable_slot_zap_all(uvm->vm);
	tables = nr_guest_tables(uvm);

	unsync_vm_build(uvm);
	zap_stats_read(uvm->vm, &built, "after build");
	/* As in mmu_pages_unsync_zap_test: one unsync page per data table. */
	TEST_ASSERT(built.mmu_unsync == nr_pages,
		    "round %d build: mmu_unsync is %lu, expected %lu", round,
		    built.mmu_unsync, nr_pages);

	zap_phase_begin(uvm->vm, &p, "slot op");
	slot_take_away(uvm->vm, op);
	zap_phase_end(uvm->vm, &p);

	in_use = zap_stats_in_use(&p.before);
	zapped = p.delta.mmu_shadow_zapped;
	flush_requests = p.delta.remote_tlb_flush_requests;
	if (verbose || round == 1) {
		ksft_print_msg("%s, quirk %s: %.2f ms, zapped %lu of %lu\n",
			       op->name, zap_all ? "on" : "off", p.ms, zapped,
			       in_use);
		ksft_print_msg("  4K -%lu, flush requests +%lu, flushes +%lu\n",
			       p.before.pages_4k - p.after.pages_4k,
			       flush_requests, p.delta.remote_tlb_flush);
	}

	/*
	 * Every operation here zaps shadow pages or unmaps the slot's leaf
	 * entries, or both.  A vCPU may still hold a translation through
	 * any of them in its TLB, and a zapped page is about to be freed:
	 * KVM must ask every vCPU to flush (kvm_flush_remote_tlbs(), which
	 * counts remote_tlb_flush_requests) before it frees the page or
	 * lets the slot's memory go.  remote_tlb_flush counts only the
	 * flushes that reached a vCPU in guest mode on another CPU, or a
	 * hypervisor's flush; with every vCPU stopped there may be none.
	 */
	TEST_ASSERT(flush_requests >= 1,
		    "round %d %s: zapped %lu, 4K -%lu, no flush request", round,
		    op->name, zapped, p.before.pages_4k - p.after.pages_4k);

	/* Memslot changes never create shadow pages or recycle any. */
	TEST_ASSERT_EQ(p.after.mmu_cache_miss, p.before.mmu_cache_miss);
	TEST_ASSERT_EQ(p.after.mmu_recycled, p.before.mmu_recycled);

	if (zap_all) {
		/*
		 * kvm_mmu_zap_all_fast() makes every shadow page obsolete and
		 * kvm_zap_obsolete_pages() zaps each, the active root too (it
		 * is freed later, when the vCPU drops it).  An unsync child is
		 * zapped with its parent and, being invalid, not again, so the
		 * counter rises by exactly the pages in use, and no unsync page
		 * is left.
		 */
		TEST_ASSERT(zapped == in_use,
			    "round %d %s: zapped %lu, expected all %lu in use",
			    round, op->name, zapped, in_use);
		TEST_ASSERT_EQ(p.after.mmu_unsync, 0);
	} else if (op->slot == UNSYNC_PT_SLOT &&
		   unsync_mode == UNSYNC_MODE_NESTED) {
		/*
		 * Nested mode: every table of L1's NPT lies in the slot, its
		 * root too, so each of their shadow pages is zapped, and with
		 * them, as nested children left without a parent, the pages
		 * that map L1's memory below them.  A passthrough root (5-level
		 * TDP over L1's 4-level NPT) shadows no table and stays.
		 */
		TEST_ASSERT(zapped >= tables && zapped <= in_use,
			    "round %d %s: zapped %lu, expected %lu..%lu", round,
			    op->name, zapped, tables, in_use);
		TEST_ASSERT_EQ(p.after.mmu_unsync, 0);
	} else if (op->slot == UNSYNC_PT_SLOT) {
		/*
		 * kvm_mmu_zap_memslot_pages_and_flush() zaps each valid shadow
		 * page of a guest page table in the slot: every data and alias
		 * table, at all three levels, and nothing else (libkvm's tables
		 * lie in slot 0).  That includes the tables at the slot's first
		 * and last page: a shadow page left behind would point into
		 * memory that is gone.  With CR3 in the slot the vCPU's root
		 * goes too, although in use: it is counted as zapped and freed
		 * when the vCPU drops it.  All unsync pages were data tables.
		 * Every 4K mapping of the data and of the alias lived in a
		 * zapped level-1 page.
		 */
		TEST_ASSERT(zapped == tables + op->root,
			    "round %d %s: zapped %lu, expected %lu tables",
			    round, op->name, zapped, tables + op->root);
		TEST_ASSERT_EQ(p.after.mmu_unsync, 0);
		TEST_ASSERT_EQ(p.before.pages_4k - p.after.pages_4k,
			       2 * nr_pages);
	} else {
		/*
		 * No guest page table lies in the data slot: kvm_unmap_gfn_range()
		 * drops the N leaf mappings of the data, and no shadow page is
		 * zapped, so every unsync page stays unsync.
		 */
		TEST_ASSERT(zapped == 0, "round %d %s: zapped %lu, expected 0",
			    round, op->name, zapped);
		TEST_ASSERT_EQ(p.before.pages_4k - p.after.pages_4k, nr_pages);
		TEST_ASSERT_EQ(p.after.mmu_unsync, p.before.mmu_unsync);
	}

	/* Shadow pages in use fall by exactly what was zapped and freed. */
	if (!zap_all)
		TEST_ASSERT_EQ(zap_stats_in_use(&p.after), in_use - zapped);

	/* Without its top-level table the vCPU cannot run at all. */
	if (op->slot == UNSYNC_DATA_SLOT)
		expect_mmio_read_of_data(uvm);
	else if (!op->root && unsync_mode == UNSYNC_MODE_SHADOW)
		expect_page_fault_on_data(uvm);
	slot_put_back(uvm->vm, op);
	/*
	 * The guest re-reads every data page and finds its pattern.  Where
	 * the vCPU's root was zapped in use, KVM marked it invalid and asked
	 * the vCPU to drop it (KVM_REQ_MMU_FREE_OBSOLETE_ROOTS): the vCPU must
	 * load a new root from CR3, or fault through the dead one forever:
	 * the alarm turns that into a failure (SIGALRM) long before the
	 * runner's timeout.
	 */
	alarm(REBUILD_TIMEOUT_S(nr_pages));
	unsync_vm_build(uvm);
	alarm(0);

	unsync_vm_free(uvm);
	return p.ms;
}

/*
 * Why @op cannot run with the quirk @zap_all, as the end of its skip line,
 * or NULL.  With the quirk off, stock 6.12 under QEMU sometimes never
 * finishes the rebuild after the slot holding CR3 came back (2 rounds in
 * some 700; the vCPU spins in xfer_to_guest_mode_handle_work, and the
 * round that stuck showed one flush request where the others show two,
 * i.e. the per-slot zap ran without a mid-walk resched): those two
 * operations are not run until that is understood.
 */
static const char *why_skip(const struct slot_op *op, bool zap_all)
{
	/* An L1's CR3 is not what its NPT shadow pages hang from. */
	if (op->root && unsync_mode == UNSYNC_MODE_NESTED)
		return ": shadow mode only";
	if (zap_all)
		return NULL;
	if (op->root)
		return ", quirk off: stock 6.12 hangs at times";
	if (!slot_zap_all_can_disable())
		return ", quirk off: not supported";
	return NULL;
}

/* Each slot operation runs with the zap-all quirk on, then off. */
static const bool zap_all_quirk[] = { true, false };

/*
 * Another vCPU reading data page 0 while the host deletes the data slot:
 * the host sets reader_slot_gone once KVM_SET_USER_MEMORY_REGION returned,
 * and the reader's MMIO reads then return READER_MMIO_VALUE.
 */
#define READER_MMIO_VALUE 0xdead
static bool reader_slot_gone;
static uint64_t reader_reads;

static void reader_guest_code(void)
{
	uint64_t val;
	bool gone;

	for (;;) {
		gone = READ_ONCE(reader_slot_gone);
		val = READ_ONCE(*(uint64_t *)UNSYNC_DATA_GVA);
		if (val == READER_MMIO_VALUE)
			break;
		/*
		 * The delete zapped or unmapped every mapping of the slot and
		 * flushed every vCPU's TLB before it returned: a read that
		 * comes after the flag and still finds the data went through
		 * a stale translation.
		 */
		__GUEST_ASSERT(!gone && val == UNSYNC_PATTERN(0),
			       "read 0x%lx after the delete (read %lu)", val,
			       reader_reads);
		WRITE_ONCE(reader_reads, reader_reads + 1);
	}
	GUEST_DONE();
}

static void *reader_run(void *arg)
{
	uint64_t val = READER_MMIO_VALUE;
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;

	for (;;) {
		vcpu_run(vcpu);
		if (vcpu->run->exit_reason == KVM_EXIT_MMIO) {
			TEST_ASSERT_EQ(vcpu->run->mmio.phys_addr,
				       UNSYNC_DATA_GPA);
			memcpy(vcpu->run->mmio.data, &val, sizeof(val));
			continue;
		}
		switch (get_ucall(vcpu, &uc)) {
		case UCALL_DONE:
			return NULL;
		case UCALL_ABORT:
			REPORT_GUEST_ASSERT(uc);
		default:
			TEST_FAIL("reader: unexpected exit %s",
				  exit_reason_str(vcpu->run->exit_reason));
		}
	}
}

/*
 * While vCPU 1 reads the data, delete the data slot under it: once the
 * delete has returned, vCPU 1 must not read the data any more (every read
 * exits to the host as MMIO).  Under QEMU (one CPU, whose TLB TCG flushes
 * at every VM exit) this cannot fail; on a host with more than one CPU a
 * missing remote TLB flush shows here as a stale read.
 */
static void test_reader_vcpu(bool zap_all)
{
	const char *quirk = zap_all ? "on" : "off", *why_not = NULL;
	struct kvm_vcpu *reader;
	struct unsync_vm *uvm;
	pthread_t thread;
	uint64_t *reads;
	bool *gone;

	if (unsync_mode == UNSYNC_MODE_NESTED)
		why_not = "shadow mode only";
	else if (!zap_all && !slot_zap_all_can_disable())
		why_not = "not supported";
	if (why_not) {
		ksft_test_result_skip("reader vCPU, quirk %s: %s\n", quirk,
				      why_not);
		return;
	}
	uvm = __unsync_vm_create(nr_pages, 1, unsync_guest_code);
	if (!zap_all)
		vm_disable_slot_zap_all(uvm->vm);
	reader = vm_vcpu_add(uvm->vm, 1, reader_guest_code);
	gone = addr_gva2hva(uvm->vm, (uint64_t)&reader_slot_gone);
	reads = addr_gva2hva(uvm->vm, (uint64_t)&reader_reads);
	unsync_vm_build(uvm);

	TEST_ASSERT(!pthread_create(&thread, NULL, reader_run, reader),
		    "pthread_create() failed");
	while (READ_ONCE(*reads) < 1000)
		sched_yield();
	memslot_hide(uvm->vm, UNSYNC_DATA_SLOT);
	WRITE_ONCE(*gone, true);
	pthread_join(thread, NULL);
	ksft_print_msg("reader vCPU, quirk %s: %lu reads before the delete\n",
		       quirk, READ_ONCE(*reads));
	memslot_restore(uvm->vm, UNSYNC_DATA_SLOT);
	unsync_vm_free(uvm);
	ksft_test_result_pass("reader vCPU, quirk %s: no stale read\n", quirk);
}

static void run_op(const struct slot_op *op, bool zap_all)
{
	const char *why_not = why_skip(op, zap_all);
	double total = 0;
	int round;

	if (why_not) {
		ksft_test_result_skip("%s%s\n", op->name, why_not);
		return;
	}
	for (round = 1; round <= nr_rounds; round++)
		total += run_round(op, zap_all, round);
	ksft_test_result_pass("%s, quirk %s: %lu rounds, %.2f ms mean\n",
			      op->name, zap_all ? "on" : "off", nr_rounds,
			      total / nr_rounds);
}

int main(int argc, char *argv[])
{
	struct shadow_mmu_opt opts[] = {
		UNSYNC_PAGES_OPT(&nr_pages),
		{ 'r', "rounds", "rounds of each slot operation", &nr_rounds, 1,
		  MAX_NR_ROUNDS },
		unsync_mode_opt,
		{ 'v', NULL, "print every round", .on = &verbose },
		{},
	};
	int q, i;

	shadow_mmu_parse_args(argc, argv, opts);
	ksft_print_header();
	shadow_mmu_require();
	ksft_set_plan(ARRAY_SIZE(zap_all_quirk) * (ARRAY_SIZE(slot_ops) + 1));

	for (q = 0; q < ARRAY_SIZE(zap_all_quirk); q++) {
		for (i = 0; i < ARRAY_SIZE(slot_ops); i++)
			run_op(&slot_ops[i], zap_all_quirk[q]);
		test_reader_vcpu(zap_all_quirk[q]);
	}
	ksft_finished();
}
