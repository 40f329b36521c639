// SPDX-License-Identifier: GPL-2.0-only
/*
 * Shrink the shadow MMU page pool (KVM_SET_NR_MMU_PAGES) over a guest with
 * many unsync shadow pages, and check that the pages KVM zaps are counted
 * exactly once.
 *
 * kvm_mmu_zap_oldest_mmu_pages() walks active_mmu_pages from the oldest end
 * and zaps pages until it has freed enough.  Zapping a parent also zaps its
 * unsync children, which makes the list unstable and forces a restart of the
 * walk; __kvm_mmu_prepare_zap_page() reports that separately from the number
 * of pages it zapped, which the walk adds to mmu_recycled.  Every page
 * zapped also bumps mmu_shadow_zapped once, so for a shrink the two
 * counters must move together, and the pool must end within its goal.
 * A zapped page is freed only after every vCPU was asked to flush its TLB.
 *
 * Last, a guest keeps writing a shadowed level-2 table through a mapping
 * of it as data: KVM emulates each write (the table is write-protected),
 * detects the flooding and zaps the table's shadow page, after which the
 * table is an ordinary page and the guest's writes to it go through.
 *
 * Where the test can make itself a memory cgroup, it checks that zapped
 * shadow pages are freed, not only unlinked: the memory charged to the
 * cgroup falls by at least a page per zapped shadow page after a shrink and
 * after a memslot delete, and is back where it started once the VM is gone.
 * (KVM stops counting a page in SecPageTables when it prepares the zap,
 * before it frees it, so those stats cannot show a leak.)
 */
#include <errno.h>

#include "kvm_util.h"
#include "processor.h"
#include "shadow_mmu.h"
#include "ucall_common.h"
#include "zap_memcg.h"

#define MAX_NR_CYCLES 100

/* The options (-h), at their defaults. */
static uint64_t nr_pages = 2048;
static uint64_t nr_cycles = 3;
static bool verbose;

/*
 * The guest is the library's unsync_guest_code(): it writes every data page
 * once, then each time it runs writes one PTE of every data page table
 * (GUEST_SYNC(UNSYNC_STAGE_SHADOWED) before, GUEST_SYNC(UNSYNC_STAGE_UNSYNC)
 * after: KVM marks their shadow pages unsync) and reads every data page
 * back, rebuilding whatever the host zapped meanwhile.  A build runs it
 * through both stages, under whatever pool is set.
 */
static void build_unsync_pages(struct unsync_vm *uvm, int cycle)
{
	uint64_t nr_tables = uvm->nr_guest_tables[1] + uvm->nr_guest_tables[2] +
			     uvm->nr_guest_tables[3];
	struct zap_phase p;

	zap_phase_begin(uvm->vm, &p, "build");
	unsync_vm_build(uvm);
	zap_phase_end(uvm->vm, &p);

	ksft_print_msg("cycle %d build: %.1f ms, pages_4k %+ld\n", cycle, p.ms,
		       (long)p.delta.pages_4k);
	ksft_print_msg("  in use %lu -> %lu, unsync %lu -> %lu\n",
		       zap_stats_in_use(&p.before), zap_stats_in_use(&p.after),
		       p.before.mmu_unsync, p.after.mmu_unsync);

	/*
	 * The pool holds a shadow page for every guest page table, so KVM has
	 * no reason to recycle while the guest builds.
	 */
	TEST_ASSERT_EQ(p.after.mmu_recycled, p.before.mmu_recycled);

	/*
	 * Every guest page table the guest walked is shadowed, each by one
	 * shadow page (plus libkvm's own tables and the root).
	 */
	TEST_ASSERT(zap_stats_in_use(&p.after) >= nr_tables,
		    "cycle %d build: %lu pages in use, expected >= %lu", cycle,
		    zap_stats_in_use(&p.after), nr_tables);

	/*
	 * A write to a shadowed level-1 guest page table makes KVM mark its
	 * shadow page unsync rather than emulate the write; the guest wrote
	 * all N of them and did not reload CR3, so all N are unsync.  Only
	 * those tables were written, so the gauge is exactly N.
	 */
	TEST_ASSERT(p.after.mmu_unsync == uvm->nr_pages,
		    "cycle %d build: mmu_unsync is %lu, expected %lu", cycle,
		    p.after.mmu_unsync, uvm->nr_pages);
	ksft_test_result_pass("cycle %d: build %lu unsync shadow pages\n",
			      cycle, uvm->nr_pages);
}

/* KVM_SET_NR_MMU_PAGES below KVM's minimum fails and changes nothing. */
static void check_goal_below_minimum(struct unsync_vm *uvm, int cycle)
{
	static const uint64_t bad_goals[] = { KVM_MIN_ALLOC_MMU_PAGES - 1, 0 };
	struct zap_phase p;
	int i, r;

	zap_phase_begin(uvm->vm, &p, "goal below minimum");
	for (i = 0; i < ARRAY_SIZE(bad_goals); i++) {
		r = __vm_ioctl(uvm->vm, KVM_SET_NR_MMU_PAGES,
			       (void *)(unsigned long)bad_goals[i]);
		/*
		 * kvm_vm_ioctl_set_nr_mmu_pages() rejects goals below
		 * KVM_MIN_ALLOC_MMU_PAGES before touching the pool.
		 */
		TEST_ASSERT(r == -1 && errno == EINVAL,
			    "goal %lu: returned %d errno %d, expected EINVAL",
			    bad_goals[i], r, errno);
	}
	zap_phase_end(uvm->vm, &p);
	TEST_ASSERT_EQ(p.after.mmu_shadow_zapped, p.before.mmu_shadow_zapped);
	TEST_ASSERT_EQ(p.after.mmu_recycled, p.before.mmu_recycled);
	TEST_ASSERT_EQ(p.after.mmu_unsync, p.before.mmu_unsync);
	ksft_test_result_pass("cycle %d: goals below %d are refused\n", cycle,
			      KVM_MIN_ALLOC_MMU_PAGES);
}

/* Shrink the pool to @goal and check what KVM zapped. */
static void shrink_pool(struct unsync_vm *uvm, int cycle, uint64_t goal)
{
	uint64_t in_use, zapped, flush_requests;
	struct zap_stats again;
	struct zap_phase p;
	char name[32];
	bool ok;

	snprintf(name, sizeof(name), "shrink to %lu", goal);
	zap_phase_begin(uvm->vm, &p, name);
	set_nr_mmu_pages(uvm->vm, goal);
	zap_phase_end(uvm->vm, &p);
	set_nr_mmu_pages(uvm->vm, goal);
	zap_stats_read(uvm->vm, &again, "after second shrink");

	in_use = zap_stats_in_use(&p.after);
	zapped = p.delta.mmu_shadow_zapped;
	flush_requests = p.delta.remote_tlb_flush_requests;
	ksft_print_msg("cycle %d shrink to %lu: %.2f ms, zapped %lu/%lu\n",
		       cycle, goal, p.ms, zapped, p.delta.mmu_recycled);
	ksft_print_msg("  in use %lu -> %lu, unsync %lu -> %lu\n",
		       zap_stats_in_use(&p.before), in_use, p.before.mmu_unsync,
		       p.after.mmu_unsync);
	ksft_print_msg("  flush requests +%lu, flushes +%lu\n", flush_requests,
		       p.delta.remote_tlb_flush);

	/*
	 * The shrink skips active roots, so each page it zaps is freed: it
	 * bumps mmu_shadow_zapped once and is counted once in the nr_zapped
	 * total that kvm_mmu_zap_oldest_mmu_pages() adds to mmu_recycled,
	 * whether it was zapped on its own or as an unsync child.
	 */
	check_zapped_recycled(&p);

	/* Zapping frees shadow pages, it never creates one. */
	TEST_ASSERT_EQ(p.after.mmu_cache_miss, p.before.mmu_cache_miss);

	/*
	 * A zapped shadow page may still be reachable from a vCPU's TLB (or
	 * paging-structure caches) until that vCPU flushes: KVM must request
	 * a flush on every vCPU (kvm_flush_remote_tlbs(), counted in
	 * remote_tlb_flush_requests) before it frees the page.  Whether the
	 * request reached a vCPU (remote_tlb_flush) depends on a vCPU being
	 * in guest mode on another CPU, so only the request is asserted.
	 */
	TEST_ASSERT(!zapped || flush_requests >= 1,
		    "shrink to %lu: zapped %lu, no remote TLB flush requested",
		    goal, zapped);

	if (zap_stats_in_use(&p.before) > goal) {
		/*
		 * kvm_mmu_change_mmu_pages() zaps until n_used_mmu_pages is
		 * within the goal; it can only stop short when every page left
		 * is an active root, and one vCPU holds at most 4 roots (the
		 * current one and 3 cached), far below the minimum goal.
		 */
		TEST_ASSERT(in_use <= goal,
			    "shrink to %lu: %lu pages in use, expected <= %lu",
			    goal, in_use, goal);
	} else {
		TEST_ASSERT(zapped == 0,
			    "shrink to %lu: zapped %lu of %lu, expected 0",
			    goal, zapped, zap_stats_in_use(&p.before));
	}

	/* mmu_unsync is a gauge of pages still in use; zaps only lower it. */
	ok = p.after.mmu_unsync <= p.before.mmu_unsync &&
	     p.after.mmu_unsync <= in_use;
	TEST_ASSERT(ok, "shrink to %lu: mmu_unsync %lu -> %lu, %lu in use",
		    goal, p.before.mmu_unsync, p.after.mmu_unsync, in_use);

	/* Once within the goal, the same goal leaves nothing to zap. */
	TEST_ASSERT(again.mmu_shadow_zapped == p.after.mmu_shadow_zapped,
		    "second shrink to %lu: zapped %lu, expected 0", goal,
		    again.mmu_shadow_zapped - p.after.mmu_shadow_zapped);
	TEST_ASSERT_EQ(again.mmu_recycled, p.after.mmu_recycled);

	ksft_test_result_pass("cycle %d: shrink to %lu zapped %lu pages\n",
			      cycle, goal, zapped);
}

/*
 * Run the guest under the shrunken pool: it re-reads every data page, which
 * makes KVM recycle shadow pages as it goes, then writes its page tables.
 */
static void check_guest_data(struct unsync_vm *uvm, int cycle, uint64_t goal)
{
	struct zap_phase p;

	zap_phase_begin(uvm->vm, &p, "guest check");
	unsync_vm_build(uvm);
	zap_phase_end(uvm->vm, &p);
	if (verbose)
		ksft_print_msg("cycle %d guest: recycled %lu, in use %lu\n",
			       cycle, p.delta.mmu_recycled,
			       zap_stats_in_use(&p.after));
	ksft_test_result_pass("cycle %d: guest data intact in %lu pages\n",
			      cycle, goal);
}

/* Where the flood phase maps a level-2 guest table as data: PML4 entry 129. */
#define FLOOD_GVA (129ULL << 39)
#define FLOOD_WRITES 16
#define STAGE_FLOOD_SHADOWED 1
#define STAGE_FLOOD_WRITTEN 2

/* How often the flood guest writes the table in its next pass. */
static uint64_t flood_writes;

/*
 * Flood guest (CPL3, like the library's): walk every data page once, so
 * that KVM shadows every data table, then pass after pass write one entry
 * of a level-2 table, mapped at FLOOD_GVA, with the value it holds.
 */
static void flood_guest_code(uint64_t nr_pages, uint64_t entry)
{
	uint64_t *pde = (uint64_t *)(FLOOD_GVA + entry * 8);
	uint64_t i;

	for (i = 0; i < nr_pages; i++)
		READ_ONCE(*(uint64_t *)unsync_data_gva(i));
	GUEST_SYNC(STAGE_FLOOD_SHADOWED);
	for (;;) {
		for (i = 0; i < READ_ONCE(flood_writes); i++)
			WRITE_ONCE(*pde, READ_ONCE(*pde));
		GUEST_SYNC(STAGE_FLOOD_WRITTEN);
	}
}

/*
 * One pass of the flood guest, with @nr_writes writes to the table: its
 * emulated writes (mmu_pte_write), floods, zaps and flushes.
 */
static void flood_pass(struct unsync_vm *uvm, uint64_t nr_writes,
		       struct zap_phase *p)
{
	flood_writes = nr_writes;
	sync_global_to_guest(uvm->vm, flood_writes);
	zap_phase_begin(uvm->vm, p, "flood pass");
	vcpu_run_to_sync(uvm->vcpu, STAGE_FLOOD_WRITTEN);
	zap_phase_end(uvm->vm, p);

	ksft_print_msg("flood pass, %lu writes: emulated +%lu, flooded +%lu\n",
		       nr_writes, p->delta.mmu_pte_write, p->delta.mmu_flooded);
	ksft_print_msg("  zapped +%lu, flush requests +%lu, flushes +%lu\n",
		       p->delta.mmu_shadow_zapped,
		       p->delta.remote_tlb_flush_requests,
		       p->delta.remote_tlb_flush);
}

/*
 * A VM whose guest runs flood_guest_code() on the level-2 table that maps
 * the first data page, with every data table shadowed and none unsync.
 */
static struct unsync_vm *flood_vm_create(uint64_t nr_pages)
{
	struct unsync_vm *uvm = unsync_vm_create(nr_pages, flood_guest_code);
	uint64_t pde_gpa, level;

	pde_gpa = PTE_GET_PA(*unsync_guest_pte(uvm, UNSYNC_DATA_GVA, 3));
	virt_pg_map(uvm->vm, FLOOD_GVA, pde_gpa);
	for (level = 4; level >= 1; level--)
		*unsync_guest_pte(uvm, FLOOD_GVA, level) |=
			guest_pte_user_mask(uvm->vm);

	vcpu_args_set(uvm->vcpu, 2, nr_pages, (UNSYNC_DATA_GVA >> 21) & 511);
	vcpu_run_to_sync(uvm->vcpu, STAGE_FLOOD_SHADOWED);
	return uvm;
}

/* check_write_flooding() reports the flood's zap, then the table after it. */
#define FLOOD_RESULTS 2

static void check_write_flooding(void)
{
	struct zap_phase ctl, flood, after;
	struct unsync_vm *uvm;

	/* The flood guest writes guest page tables: shadow mode only. */
	if (unsync_mode != UNSYNC_MODE_SHADOW) {
		ksft_test_result_skip("write flooding: shadow mode only\n");
		ksft_test_result_skip("unshadowed table: shadow mode only\n");
		return;
	}
	uvm = flood_vm_create(nr_pages);

	/*
	 * A pass without writes: what mmu_pte_write counts besides the
	 * table's writes (kvm_mmu_track_write() counts every emulated write
	 * to guest memory, and a PVM host emulates the guest's ring-0 ucall
	 * handler).
	 */
	flood_pass(uvm, 0, &ctl);

	flood_pass(uvm, FLOOD_WRITES, &flood);
	/*
	 * KVM write-protects every guest table it shadows, so the guest's
	 * writes to the level-2 table are emulated (only a level-1 shadow
	 * page can go unsync instead).  Writes that keep coming with no walk
	 * through the table in between mean that the page is no longer used
	 * as a page table (detect_write_flooding()): KVM zaps the table's
	 * one shadow page, once.  Its children are sync, so nothing else goes
	 * with it, and the zap requests a TLB flush.
	 */
	TEST_ASSERT(flood.delta.mmu_pte_write > ctl.delta.mmu_pte_write,
		    "flood: %d writes, none emulated (mmu_pte_write +%lu)",
		    FLOOD_WRITES, flood.delta.mmu_pte_write);
	TEST_ASSERT(flood.delta.mmu_flooded == 1,
		    "flood: %d writes, mmu_flooded +%lu, expected 1",
		    FLOOD_WRITES, flood.delta.mmu_flooded);
	TEST_ASSERT(flood.delta.mmu_shadow_zapped == 1,
		    "flood: mmu_shadow_zapped +%lu, expected 1",
		    flood.delta.mmu_shadow_zapped);
	TEST_ASSERT(flood.delta.remote_tlb_flush_requests >= 1,
		    "flood: zapped %lu, no remote TLB flush requested",
		    flood.delta.mmu_shadow_zapped);
	ksft_test_result_pass("write flooding zaps a level-2 table once\n");

	flood_pass(uvm, FLOOD_WRITES, &after);
	/*
	 * The table's last shadow page is gone, so KVM no longer tracks
	 * writes to it (unaccount_shadowed()): the guest's writes go to
	 * memory, at most after one fault that maps the page writable, and
	 * none is emulated.
	 */
	TEST_ASSERT(after.delta.mmu_pte_write == ctl.delta.mmu_pte_write,
		    "after flood: mmu_pte_write +%lu, expected +%lu (control)",
		    after.delta.mmu_pte_write, ctl.delta.mmu_pte_write);
	TEST_ASSERT_EQ(after.delta.mmu_flooded, 0);
	TEST_ASSERT_EQ(after.delta.mmu_shadow_zapped, 0);
	ksft_test_result_pass("writes to an unshadowed table: none emulated\n");
	unsync_vm_free(uvm);
}

/*
 * Zapping @zapped shadow pages freed at least a page each, less what the
 * per-CPU precharges can hide.  (Each indirect shadow page also has a page
 * of shadowed translations and a header: about 8.2 KiB in all.)
 */
static void check_freed(struct zap_memcg *m, const char *phase, uint64_t before,
			uint64_t after, uint64_t zapped)
{
	int64_t freed = (int64_t)before - (int64_t)after;

	ksft_print_msg("memory: %s: zapped %lu, %lu -> %lu KiB, %ld B a page\n",
		       phase, zapped, before >> 10, after >> 10,
		       zapped ? freed / (int64_t)zapped : 0);
	TEST_ASSERT(freed + (int64_t)m->slack >= (int64_t)(zapped * PAGE_SIZE),
		    "%s: zapped %lu pages, %s fell by %ld bytes", phase, zapped,
		    m->usage, freed);
}

/*
 * In a memory cgroup of its own, the test sees what KVM frees: a shrink
 * and a slot delete, and the whole VM at the end.
 */
static void check_freed_memory(void)
{
	struct zap_phase shrink, delete;
	uint64_t start, built, rebuilt, gone;
	struct unsync_vm *uvm;
	const char *why_not;
	struct zap_memcg m;

	why_not = zap_memcg_enter(&m);
	if (why_not) {
		ksft_test_result_skip("freed memory: %s\n", why_not);
		return;
	}
	ksft_print_msg("memory: cgroup %s, %s, slack %lu KiB\n", m.dir, m.usage,
		       m.slack >> 10);

	start = zap_memcg_usage(&m);
	uvm = unsync_vm_create(nr_pages, unsync_guest_code);
	unsync_vm_build(uvm);
	zap_phase_begin(uvm->vm, &shrink, "memory: shrink");
	built = zap_memcg_usage(&m);
	set_nr_mmu_pages(uvm->vm, KVM_MIN_ALLOC_MMU_PAGES);
	zap_phase_end(uvm->vm, &shrink);
	check_freed(&m, "shrink to 64", built, zap_memcg_usage(&m),
		    shrink.delta.mmu_shadow_zapped);

	set_nr_mmu_pages(uvm->vm, unsync_pool_pages(nr_pages));
	unsync_vm_build(uvm);
	zap_phase_begin(uvm->vm, &delete, "memory: slot delete");
	rebuilt = zap_memcg_usage(&m);
	/* Quirk on: every shadow page goes, the active root once dropped. */
	memslot_hide(uvm->vm, UNSYNC_DATA_SLOT);
	zap_phase_end(uvm->vm, &delete);
	TEST_ASSERT(delete.delta.mmu_shadow_zapped,
		    "delete data slot: zapped 0, expected the %lu in use",
		    zap_stats_in_use(&delete.before));
	check_freed(&m, "delete data slot", rebuilt, zap_memcg_usage(&m),
		    delete.delta.mmu_shadow_zapped - 1);
	memslot_restore(uvm->vm, UNSYNC_DATA_SLOT);

	unsync_vm_free(uvm);
	gone = zap_memcg_usage(&m);
	ksft_print_msg("memory: VM gone: %s %lu KiB, started at %lu KiB\n",
		       m.usage, gone >> 10, start >> 10);
	/* What the VM took, KVM's and the guest's, is all given back. */
	TEST_ASSERT(gone <= start + m.slack,
		    "VM gone: %s %lu bytes, started at %lu", m.usage, gone,
		    start);
	zap_memcg_leave();
	ksft_test_result_pass("freed memory: shrink, slot delete, VM gone\n");
}

/*
 * Each cycle builds N unsync pages, tries goals below the minimum, then
 * for each goal here shrinks the pool and runs the guest under it; a
 * result each.  GOAL_HALF is half of the pages in use.
 */
#define GOAL_HALF 0
static const uint64_t shrink_goals[] = { GOAL_HALF, KVM_MIN_ALLOC_MMU_PAGES };
#define CYCLE_RESULTS (2 + 2 * ARRAY_SIZE(shrink_goals))

static void run_cycle(struct unsync_vm *uvm, int cycle)
{
	struct zap_stats s;
	uint64_t goal;
	int i;

	/* Grow the pool back, so the build keeps every page. */
	set_nr_mmu_pages(uvm->vm, unsync_pool_pages(nr_pages));
	build_unsync_pages(uvm, cycle);
	check_goal_below_minimum(uvm, cycle);

	for (i = 0; i < ARRAY_SIZE(shrink_goals); i++) {
		goal = shrink_goals[i];
		if (goal == GOAL_HALF) {
			zap_stats_read(uvm->vm, &s, "before half shrink");
			goal = max_t(uint64_t, zap_stats_in_use(&s) / 2,
				     KVM_MIN_ALLOC_MMU_PAGES);
		}
		shrink_pool(uvm, cycle, goal);
		check_guest_data(uvm, cycle, goal);
	}
}

int main(int argc, char *argv[])
{
	struct unsync_vm *uvm;
	struct shadow_mmu_opt opts[] = {
		UNSYNC_PAGES_OPT(&nr_pages),
		{ 'c', "cycles", "build/shrink cycles", &nr_cycles, 1,
		  MAX_NR_CYCLES },
		unsync_mode_opt,
		{ 'v', NULL, "print more detail", .on = &verbose },
		{},
	};
	int cycle;

	shadow_mmu_parse_args(argc, argv, opts);
	ksft_print_header();
	shadow_mmu_require();
	/* The cycles, the flood checks and the freed memory. */
	ksft_set_plan(nr_cycles * CYCLE_RESULTS + FLOOD_RESULTS + 1);

	uvm = unsync_vm_create(nr_pages, unsync_guest_code);
	ksft_print_msg("%lu data pages; guest tables L1 %lu, L2 %lu, L3 %lu\n",
		       nr_pages, uvm->nr_guest_tables[1],
		       uvm->nr_guest_tables[2], uvm->nr_guest_tables[3]);
	for (cycle = 1; cycle <= nr_cycles; cycle++)
		run_cycle(uvm, cycle);
	unsync_vm_free(uvm);

	check_write_flooding();
	check_freed_memory();
	ksft_finished();
}
