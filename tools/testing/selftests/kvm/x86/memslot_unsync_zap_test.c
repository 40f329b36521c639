// SPDX-License-Identifier: GPL-2.0-only
/*
 * Delete or move a memslot under a guest with many unsync shadow pages, and
 * check which shadow pages KVM zaps and that each is counted once.
 *
 * kvm_arch_flush_shadow_memslot() drops what a memslot maps in one of two
 * ways.  With KVM_X86_QUIRK_SLOT_ZAP_ALL (the default) it makes every shadow
 * page obsolete (kvm_mmu_zap_all_fast()) and zaps them all; the walk over
 * them restarts whenever a zap took children along.  With the quirk off it
 * unmaps the slot's gfns and zaps only the shadow pages of guest page tables
 * that lie in the slot.  Either way a root in use is zapped but not freed:
 * its vCPUs are asked to drop it, and the last one to do so frees it.
 *
 * The guest's data and alias page tables lie in one memslot, its data pages
 * in another; the page-table slot holds a table at its first and at its last
 * page, the edges of a per-slot zap.  Each round builds a fresh VM, so that
 * the pages in use are known exactly.
 */
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"
#include "unsync_vm.h"

/* Where a moved slot goes: above both slots. */
#define MOVED_GPA		(64ULL << 30)

/* The guest's #PF handler reports a fault with this GUEST_SYNC stage. */
#define STAGE_PAGE_FAULT	14

/*
 * A rebuild of a few thousand pages takes well under a second even under
 * emulation; a vCPU that has not finished one in this time makes no
 * progress.
 */
#define REBUILD_TIMEOUT_S	30

struct slot_op {
	const char *name;
	u32 slot;
	bool move;
	bool root;	/* the guest's top-level table lies in the slot */
};

static const struct slot_op slot_ops[] = {
	{ "delete page-table slot", UNSYNC_PT_SLOT, false, false },
	{ "move page-table slot", UNSYNC_PT_SLOT, true, false },
	{ "delete data slot", UNSYNC_DATA_SLOT, false, false },
	{ "move data slot", UNSYNC_DATA_SLOT, true, false },
	{ "delete page-table slot with CR3", UNSYNC_PT_SLOT, false, true },
	{ "move page-table slot with CR3", UNSYNC_PT_SLOT, true, true },
};

static u64 nr_pages = 512;
static bool quirk_can_be_disabled;
static int nr_rounds = 2;
static bool verbose;

/*
 * With the page-table slot gone the guest's read of a data page walks into
 * a table that no memslot backs: report the #PF and return, so that the
 * guest retries the read once the host has put the slot back.
 */
static void guest_pf_handler(struct ex_regs *regs)
{
	GUEST_SYNC_ARGS(STAGE_PAGE_FAULT, get_cr2(), regs->error_code, 0, 0);
}

/*
 * A per-slot zap walks the slot's gfns from the first to the last.  The
 * slot's first page holds the data's level-3 table (the first table libkvm
 * put there); move the level-1 table of the last alias page to the slot's
 * last page, so that both edges hold a table the guest walks.
 */
static void put_table_at_slot_end(struct unsync_vm *uvm)
{
	struct userspace_mem_region *r = memslot2region(uvm->vm, UNSYNC_PT_SLOT);
	u64 last = r->region.guest_phys_addr + r->region.memory_size - PAGE_SIZE;
	u64 *pde = unsync_guest_pte(uvm, unsync_alias_gva(nr_pages - 1), 2);

	TEST_ASSERT_EQ(unsync_table_gpa(uvm, 0, 3), r->region.guest_phys_addr);
	TEST_ASSERT_EQ(vm_phy_page_alloc(uvm->vm, last, UNSYNC_PT_SLOT), last);
	memcpy(addr_gpa2hva(uvm->vm, last),
	       addr_gpa2hva(uvm->vm, PTE_GET_PA(*pde)), PAGE_SIZE);
	*pde = (*pde & ~PHYSICAL_PAGE_MASK) | last;
}

/*
 * Give the vCPU a top-level table in the page-table slot, a copy of
 * libkvm's, so that its root shadow page is one of the slot's.
 */
static void put_root_in_pt_slot(struct unsync_vm *uvm)
{
	u64 pgd = vm_phy_page_alloc(uvm->vm, UNSYNC_PT_GPA, UNSYNC_PT_SLOT);
	struct kvm_sregs sregs;

	memcpy(addr_gpa2hva(uvm->vm, pgd), addr_gpa2hva(uvm->vm, uvm->vm->mmu.pgd),
	       PAGE_SIZE);
	vcpu_sregs_get(uvm->vcpu, &sregs);
	sregs.cr3 = (sregs.cr3 & ~PHYSICAL_PAGE_MASK) | pgd;
	vcpu_sregs_set(uvm->vcpu, &sregs);
}

static void slot_take_away(struct kvm_vm *vm, const struct slot_op *op)
{
	if (op->move)
		vm_mem_region_move(vm, op->slot, MOVED_GPA);
	else
		unsync_slot_hide(vm, op->slot);
}

static void slot_put_back(struct kvm_vm *vm, const struct slot_op *op)
{
	if (op->move)
		vm_mem_region_move(vm, op->slot, op->slot == UNSYNC_PT_SLOT ?
					      UNSYNC_PT_GPA : UNSYNC_DATA_GPA);
	else
		unsync_slot_restore(vm, op->slot);
}

/*
 * With the data slot gone, the guest's first read finds no memslot behind
 * its intact page tables: KVM exits with an MMIO read of data page 0.
 * Answer with what the page holds, so that the guest's check passes.
 */
static void expect_mmio_read_of_data(struct unsync_vm *uvm)
{
	struct kvm_run *run = uvm->vcpu->run;
	u64 val = UNSYNC_PATTERN(0);

	vcpu_run(uvm->vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(uvm->vcpu, KVM_EXIT_MMIO);
	TEST_ASSERT_EQ(run->mmio.phys_addr, UNSYNC_DATA_GPA);
	TEST_ASSERT_EQ(run->mmio.is_write, 0);
	TEST_ASSERT_EQ(run->mmio.len, sizeof(val));
	memcpy(run->mmio.data, &val, sizeof(val));
}

/*
 * With the page-table slot gone, the guest's walk for its first data read
 * fails at a table no memslot backs: KVM must inject a not-present #PF for
 * that address (the shadow pages that pointed into the slot are gone, or
 * the read would have gone through them).
 */
static void expect_page_fault_on_data(struct unsync_vm *uvm)
{
	struct ucall uc;

	vcpu_run(uvm->vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(uvm->vcpu, KVM_EXIT_IO);
	if (get_ucall(uvm->vcpu, &uc) == UCALL_ABORT)
		REPORT_GUEST_ASSERT(uc);
	TEST_ASSERT(uc.cmd == UCALL_SYNC && uc.args[1] == STAGE_PAGE_FAULT,
		    "ucall %lu, stage %lu: expected a #PF", uc.cmd, uc.args[1]);
	TEST_ASSERT_EQ(uc.args[2], unsync_data_gva(0));
	TEST_ASSERT_EQ(uc.args[3], 0);
}

static void rebuild_timed_out(int sig)
{
	static const char msg[] =
		"vCPU made no progress in a rebuild for " __stringify(REBUILD_TIMEOUT_S)
		" s: faulting on a zapped root that nobody asked it to drop?\n";

	/* Only async-signal-safe calls here. */
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		_exit(KSFT_FAIL);
	_exit(KSFT_FAIL);
}

/* One round: build, take the slot away, check the zap, put it back. */
static void run_round(const struct slot_op *op, bool zap_all, int round)
{
	struct unsync_stats built, b, a, g, p, r;
	u64 tables, zapped, roots, roots_left;
	bool ran;
	bool nested = unsync_mode == UNSYNC_MODE_NESTED;
	struct unsync_vm *uvm;

	uvm = unsync_vm_create(nr_pages, 1, unsync_guest_code);
	if (!nested)
		put_table_at_slot_end(uvm);
	if (op->root)
		put_root_in_pt_slot(uvm);
	vm_install_exception_handler(uvm->vm, PF_VECTOR, guest_pf_handler);
	if (!zap_all)
		TEST_ASSERT(unsync_disable_slot_zap_all(uvm->vm),
			    "KVM_X86_QUIRK_SLOT_ZAP_ALL cannot be disabled");
	tables = unsync_vm_tables(uvm);

	unsync_vm_build(uvm);
	unsync_stats_read(uvm->vm, &built);
	TEST_ASSERT(built.mmu_unsync == nr_pages,
		    "round %d build: mmu_unsync %lu, expected %lu", round,
		    built.mmu_unsync, nr_pages);

	/*
	 * The host's mm may unmap a guest page at any time (compaction, NUMA
	 * balancing: an MMU notifier drops its SPTE), which the exact counts
	 * of 4K mappings below cannot tell from a bug.  Touch every page
	 * again right before the slot goes, to keep that window short.
	 */
	unsync_vm_build(uvm);
	unsync_stats_read(uvm->vm, &b);
	slot_take_away(uvm->vm, op);
	unsync_stats_read(uvm->vm, &a);
	zapped = a.mmu_shadow_zapped - b.mmu_shadow_zapped;
	if (verbose || round == 1)
		ksft_print_msg("%s, quirk %s: zapped %lu of %lu in use, 4K mappings -%lu\n",
			       op->name, zap_all ? "on" : "off", zapped, b.in_use,
			       b.pages_4k - a.pages_4k);

	/*
	 * Every operation zaps shadow pages or unmaps the slot's leaf SPTEs.
	 * A vCPU may still reach either through its TLB, and the slot's memory
	 * is about to go: KVM must ask every vCPU to flush first.
	 */
	TEST_ASSERT(a.remote_tlb_flush_requests > b.remote_tlb_flush_requests,
		    "%s: zapped %lu, 4K -%lu, no remote TLB flush requested",
		    op->name, zapped, b.pages_4k - a.pages_4k);

	/* Memslot changes never create shadow pages, nor recycle any. */
	TEST_ASSERT_EQ(a.mmu_cache_miss, b.mmu_cache_miss);
	TEST_ASSERT_EQ(a.mmu_recycled, b.mmu_recycled);

	if (zap_all) {
		/*
		 * Every page is obsolete and zapped once, the root in use too;
		 * an unsync child is zapped with its parent and, being invalid,
		 * not again.  No unsync page is left.
		 */
		TEST_ASSERT(zapped == b.in_use,
			    "%s, quirk on: zapped %lu, expected all %lu in use",
			    op->name, zapped, b.in_use);
		TEST_ASSERT_EQ(a.mmu_unsync, 0);
	} else if (op->slot == UNSYNC_PT_SLOT && nested) {
		/*
		 * All of L1's NPT lies in the slot, its root too: each of their
		 * shadow pages goes, and with them, as nested children left
		 * without a parent, the pages below them that map L1's memory.
		 */
		TEST_ASSERT(zapped >= tables && zapped <= b.in_use,
			    "%s, quirk off: zapped %lu, expected %lu..%lu",
			    op->name, zapped, tables, b.in_use);
		TEST_ASSERT_EQ(a.mmu_unsync, 0);
	} else if (op->slot == UNSYNC_PT_SLOT) {
		/*
		 * Exactly the shadow pages of the guest tables in the slot go:
		 * every data and alias table, the slot's first and last page
		 * among them (one left behind would point into memory that is
		 * gone), and with CR3 in the slot the root.  libkvm's own tables
		 * are in slot 0.  Every 4K mapping of the data and of the alias
		 * lived in a zapped level-1 page.
		 */
		TEST_ASSERT(zapped == tables + op->root,
			    "%s, quirk off: zapped %lu, expected the %lu tables in the slot",
			    op->name, zapped, tables + op->root);
		TEST_ASSERT_EQ(a.mmu_unsync, 0);
		TEST_ASSERT_EQ(b.pages_4k - a.pages_4k, 2 * nr_pages);
	} else {
		/*
		 * No guest table lies in the data slot: the N leaf mappings of
		 * the data go, no shadow page does.
		 */
		TEST_ASSERT(zapped == 0, "%s, quirk off: zapped %lu, expected 0",
			    op->name, zapped);
		TEST_ASSERT_EQ(b.pages_4k - a.pages_4k, nr_pages);
		TEST_ASSERT_EQ(a.mmu_unsync, b.mmu_unsync);
	}

	/*
	 * A root in use (the vCPU's, or in nested mode L1's NPT root, which
	 * lies in the page-table slot) is zapped, counted in mmu_shadow_zapped,
	 * but stays in use until its vCPU drops it.  The pages in use fall by
	 * the rest.
	 */
	roots = zap_all || op->root || (nested && op->slot == UNSYNC_PT_SLOT);
	TEST_ASSERT(a.in_use == b.in_use - zapped + (a.in_use_exact ? roots : 0),
		    "%s: %lu in use, %lu zapped (%lu roots in use): %lu left in use",
		    op->name, b.in_use, zapped, roots, a.in_use);

	/*
	 * A vCPU whose root was zapped is asked to drop it
	 * (KVM_REQ_MMU_FREE_OBSOLETE_ROOTS) and does so the next time it runs:
	 * its put, the last, frees the root with one more zap of that page.
	 * Where the slot's absence shows to the guest, that run is the next
	 * one; otherwise it is the rebuild.
	 */
	ran = true;
	if (op->slot == UNSYNC_DATA_SLOT)
		expect_mmio_read_of_data(uvm);
	else if (!op->root && !nested)
		expect_page_fault_on_data(uvm);
	else
		ran = false;
	unsync_stats_read(uvm->vm, &g);
	TEST_ASSERT(!ran || g.mmu_shadow_zapped - a.mmu_shadow_zapped == roots,
		    "%s: %lu zaps when the vCPU ran again, expected %lu (the zapped root freed)",
		    op->name, g.mmu_shadow_zapped - a.mmu_shadow_zapped, roots);

	slot_put_back(uvm->vm, op);
	unsync_stats_read(uvm->vm, &p);
	/*
	 * Moving the slot back with the quirk on zaps every page again, the
	 * vCPU's new root (in use) too; nothing else put back zaps a root that
	 * the vCPU has loaded.  Those the rebuild frees: the ones put back
	 * zapped, or the ones zapped before if the vCPU has not run since.
	 */
	roots_left = ran ? zap_all && op->move : roots;

	/*
	 * The guest reads every data page back.  A vCPU never asked to drop a
	 * zapped root faults on it forever: the alarm says so.
	 */
	signal(SIGALRM, rebuild_timed_out);
	alarm(REBUILD_TIMEOUT_S);
	unsync_vm_build(uvm);
	alarm(0);
	unsync_stats_read(uvm->vm, &r);
	TEST_ASSERT(r.mmu_shadow_zapped - p.mmu_shadow_zapped == roots_left,
		    "%s: %lu zaps in the rebuild, expected %lu (the zapped root freed)",
		    op->name, r.mmu_shadow_zapped - p.mmu_shadow_zapped, roots_left);
	TEST_ASSERT_EQ(r.mmu_recycled, a.mmu_recycled);

	unsync_vm_free(uvm);
}

/* Each slot operation runs with the zap-all quirk on, then off. */
static const bool zap_all_quirk[] = { true, false };

static void run_op(const struct slot_op *op, bool zap_all)
{
	const char *quirk = zap_all ? "on" : "off";
	int round;

	/* An L1's CR3 is not what its NPT shadow pages hang from. */
	if (op->root && unsync_mode == UNSYNC_MODE_NESTED) {
		ksft_print_msg("%s, quirk %s: shadow mode only\n", op->name, quirk);
		ksft_test_result_skip("%s, quirk %s\n", op->name, quirk);
		return;
	}
	if (!zap_all && !quirk_can_be_disabled) {
		ksft_print_msg("%s, quirk %s: KVM cannot disable it\n", op->name, quirk);
		ksft_test_result_skip("%s, quirk %s\n", op->name, quirk);
		return;
	}
	for (round = 1; round <= nr_rounds; round++)
		run_round(op, zap_all, round);
	ksft_test_result_pass("%s, quirk %s\n", op->name, quirk);
}

/*
 * A second vCPU reads data page 0 while the host deletes the data slot;
 * the host sets reader_slot_gone once the ioctl returned, and the reader's
 * reads then exit as MMIO, which the host answers with READER_MMIO_VALUE.
 */
#define READER_MMIO_VALUE 0xdead
static bool reader_slot_gone;
static u64 reader_reads;

static void reader_guest_code(void)
{
	u64 val;
	bool gone;

	for (;;) {
		gone = READ_ONCE(reader_slot_gone);
		val = READ_ONCE(*(u64 *)UNSYNC_DATA_GVA);
		if (val == READER_MMIO_VALUE)
			break;
		/*
		 * The delete unmapped the slot and flushed every vCPU's TLB
		 * before it returned: a read that comes after the flag and
		 * still finds the data went through a stale translation.
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
	u64 val = READER_MMIO_VALUE;
	struct kvm_vcpu *vcpu = arg;
	struct ucall uc;

	for (;;) {
		vcpu_run(vcpu);
		if (vcpu->run->exit_reason == KVM_EXIT_MMIO) {
			TEST_ASSERT_EQ(vcpu->run->mmio.phys_addr, UNSYNC_DATA_GPA);
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

static void test_reader_vcpu(bool zap_all)
{
	const char *quirk = zap_all ? "on" : "off";
	struct kvm_vcpu *reader;
	struct unsync_vm *uvm;
	pthread_t thread;
	u64 *reads;
	bool *gone;

	if (unsync_mode == UNSYNC_MODE_NESTED || (!zap_all && !quirk_can_be_disabled)) {
		ksft_print_msg("reader vCPU, quirk %s: %s\n", quirk,
			       !zap_all && !quirk_can_be_disabled ?
			       "KVM cannot disable it" : "shadow mode only");
		ksft_test_result_skip("reader vCPU, quirk %s: no stale read\n", quirk);
		return;
	}
	uvm = unsync_vm_create(nr_pages, 2, unsync_guest_code);
	if (!zap_all)
		TEST_ASSERT(unsync_disable_slot_zap_all(uvm->vm),
			    "KVM_X86_QUIRK_SLOT_ZAP_ALL cannot be disabled");
	reader = vm_vcpu_add(uvm->vm, 1, reader_guest_code);
	gone = addr_gva2hva(uvm->vm, (gva_t)&reader_slot_gone);
	reads = addr_gva2hva(uvm->vm, (gva_t)&reader_reads);
	unsync_vm_build(uvm);

	TEST_ASSERT(!pthread_create(&thread, NULL, reader_run, reader),
		    "pthread_create() failed");
	while (READ_ONCE(*reads) < 1000)
		sched_yield();
	unsync_slot_hide(uvm->vm, UNSYNC_DATA_SLOT);
	WRITE_ONCE(*gone, true);
	pthread_join(thread, NULL);
	if (verbose)
		ksft_print_msg("reader vCPU, quirk %s: %lu reads before the delete\n",
			       quirk, READ_ONCE(*reads));
	unsync_slot_restore(uvm->vm, UNSYNC_DATA_SLOT);
	unsync_vm_free(uvm);
	ksft_test_result_pass("reader vCPU, quirk %s: no stale read\n", quirk);
}

static void help(const char *name, int status)
{
	printf("usage: %s [-h] [-n pages] [-r rounds] [-m shadow|nested] [-v]\n", name);
	printf(" -n: data pages, one unsync shadow page each (default %lu)\n", nr_pages);
	printf(" -r: rounds of each slot operation (default %d)\n", nr_rounds);
	printf(" -m: shadow or nested mode (default: what KVM can run)\n");
	printf(" -v: print every round\n");
	exit(status);
}

int main(int argc, char *argv[])
{
	int opt, q, i;

	while ((opt = getopt(argc, argv, "hn:r:m:v")) != -1) {
		switch (opt) {
		case 'n':
			nr_pages = atoi_positive("Data pages", optarg);
			break;
		case 'r':
			nr_rounds = atoi_positive("Rounds", optarg);
			break;
		case 'm':
			unsync_mode_parse(optarg);
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
		default:
			help(argv[0], opt == 'h' ? 0 : KSFT_FAIL);
		}
	}
	TEST_ASSERT(nr_pages >= 1 && nr_pages <= UNSYNC_MAX_PAGES,
		    "-n %lu: expected 1..%u", nr_pages, UNSYNC_MAX_PAGES);

	ksft_print_header();
	unsync_require();
	quirk_can_be_disabled = kvm_check_cap(KVM_CAP_DISABLE_QUIRKS2) &
				KVM_X86_QUIRK_SLOT_ZAP_ALL;
	ksft_set_plan(ARRAY_SIZE(zap_all_quirk) * (ARRAY_SIZE(slot_ops) + 1));

	for (q = 0; q < ARRAY_SIZE(zap_all_quirk); q++) {
		for (i = 0; i < ARRAY_SIZE(slot_ops); i++)
			run_op(&slot_ops[i], zap_all_quirk[q]);
		test_reader_vcpu(zap_all_quirk[q]);
	}
	ksft_finished();
}
