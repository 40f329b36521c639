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
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "shadow_mmu.h"
#include "ucall_common.h"

#define DEFAULT_NR_PAGES 2048
#define DEFAULT_NR_CYCLES 3
#define MAX_NR_CYCLES 100

static bool verbose;

/* Let the guest write its page tables again, under whatever pool is set. */
static void build_unsync_pages(struct unsync_vm *uvm, int cycle)
{
	struct zap_stats before, after;
	uint64_t nr_tables = uvm->nr_guest_tables[1] + uvm->nr_guest_tables[2] +
			     uvm->nr_guest_tables[3];
	struct timespec start;
	double ms;

	zap_stats_read(uvm->vm, &before, "before build");
	clock_gettime(CLOCK_MONOTONIC, &start);
	unsync_vm_build(uvm);
	ms = ms_since(start);
	zap_stats_read(uvm->vm, &after, "after build");

	ksft_print_msg("cycle %d build: %.1f ms, pages_4k %+ld\n", cycle, ms,
		       (long)(after.pages_4k - before.pages_4k));
	ksft_print_msg("  in use %lu -> %lu, unsync %lu -> %lu\n",
		       zap_stats_in_use(&before), zap_stats_in_use(&after),
		       before.mmu_unsync, after.mmu_unsync);

	/*
	 * The pool holds a shadow page for every guest page table, so KVM has
	 * no reason to recycle while the guest builds.
	 */
	TEST_ASSERT_EQ(after.mmu_recycled, before.mmu_recycled);

	/*
	 * Every guest page table the guest walked is shadowed, each by one
	 * shadow page (plus libkvm's own tables and the root).
	 */
	TEST_ASSERT(zap_stats_in_use(&after) >= nr_tables,
		    "cycle %d build: %lu pages in use, expected >= %lu", cycle,
		    zap_stats_in_use(&after), nr_tables);

	/*
	 * A write to a shadowed level-1 guest page table makes KVM mark its
	 * shadow page unsync rather than emulate the write; the guest wrote
	 * all N of them and did not reload CR3, so all N are unsync.  Only
	 * those tables were written, so the gauge is exactly N.
	 */
	TEST_ASSERT(after.mmu_unsync == uvm->nr_pages,
		    "cycle %d build: mmu_unsync is %lu, expected %lu", cycle,
		    after.mmu_unsync, uvm->nr_pages);
	ksft_test_result_pass("cycle %d: build %lu unsync shadow pages\n",
			      cycle, uvm->nr_pages);
}

/* KVM_SET_NR_MMU_PAGES below KVM's minimum fails and changes nothing. */
static void check_goal_below_minimum(struct unsync_vm *uvm, int cycle)
{
	static const uint64_t bad_goals[] = { KVM_MIN_ALLOC_MMU_PAGES - 1, 0 };
	struct zap_stats before, after;
	int i, r;

	zap_stats_read(uvm->vm, &before, "before goal below minimum");
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
	zap_stats_read(uvm->vm, &after, "after goal below minimum");
	TEST_ASSERT_EQ(after.mmu_shadow_zapped, before.mmu_shadow_zapped);
	TEST_ASSERT_EQ(after.mmu_recycled, before.mmu_recycled);
	TEST_ASSERT_EQ(after.mmu_unsync, before.mmu_unsync);
	ksft_test_result_pass("cycle %d: goals below %d are refused\n", cycle,
			      KVM_MIN_ALLOC_MMU_PAGES);
}

/*
 * Every page a shrink zapped counts once in mmu_recycled.  Nested mode:
 * zapping a nested shadow page also zaps each child it leaves without a
 * parent, recursively, and mmu_page_zap_pte() counts such a subtree as one
 * page (kvm_mmu_prepare_zap_page() returns a bool, in 6.12 and 7.3 alike),
 * so there mmu_recycled falls short by the rest of each subtree.
 */
static void check_recycled(uint64_t goal, uint64_t zapped, uint64_t recycled)
{
	bool ok = zapped == recycled;

	if (unsync_mode == UNSYNC_MODE_NESTED) {
		ok = recycled <= zapped && (recycled || !zapped);
		if (zapped != recycled)
			ksft_print_msg("  %lu not in mmu_recycled\n",
				       zapped - recycled);
	}
	TEST_ASSERT(ok,
		    "shrink to %lu: mmu_shadow_zapped +%lu, mmu_recycled +%lu",
		    goal, zapped, recycled);
}

/* Shrink the pool to @goal and check what KVM zapped. */
static void shrink_pool(struct unsync_vm *uvm, int cycle, uint64_t goal)
{
	struct zap_stats before, after, again;
	uint64_t in_use, zapped, recycled;
	struct timespec start;
	double ms;
	bool ok;

	zap_stats_read(uvm->vm, &before, "before shrink");
	clock_gettime(CLOCK_MONOTONIC, &start);
	set_nr_mmu_pages(uvm->vm, goal);
	ms = ms_since(start);
	zap_stats_read(uvm->vm, &after, "after shrink");
	set_nr_mmu_pages(uvm->vm, goal);
	zap_stats_read(uvm->vm, &again, "after second shrink");

	in_use = zap_stats_in_use(&after);
	zapped = after.mmu_shadow_zapped - before.mmu_shadow_zapped;
	recycled = after.mmu_recycled - before.mmu_recycled;
	ksft_print_msg("cycle %d shrink to %lu: %.2f ms, zapped %lu/%lu\n",
		       cycle, goal, ms, zapped, recycled);
	ksft_print_msg("  in use %lu -> %lu, unsync %lu -> %lu\n",
		       zap_stats_in_use(&before), in_use, before.mmu_unsync,
		       after.mmu_unsync);

	/*
	 * The shrink skips active roots, so each page it zaps is freed: it
	 * bumps mmu_shadow_zapped once and is counted once in the nr_zapped
	 * total that kvm_mmu_zap_oldest_mmu_pages() adds to mmu_recycled,
	 * whether it was zapped on its own or as an unsync child.
	 */
	check_recycled(goal, zapped, recycled);

	/* Zapping frees shadow pages, it never creates one. */
	TEST_ASSERT_EQ(after.mmu_cache_miss, before.mmu_cache_miss);

	if (zap_stats_in_use(&before) > goal) {
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
			    goal, zapped, zap_stats_in_use(&before));
	}

	/* mmu_unsync is a gauge of pages still in use; zaps only lower it. */
	ok = after.mmu_unsync <= before.mmu_unsync &&
	     after.mmu_unsync <= in_use;
	TEST_ASSERT(ok, "shrink to %lu: mmu_unsync %lu -> %lu, %lu in use",
		    goal, before.mmu_unsync, after.mmu_unsync, in_use);

	/* Once within the goal, the same goal leaves nothing to zap. */
	TEST_ASSERT(again.mmu_shadow_zapped == after.mmu_shadow_zapped,
		    "second shrink to %lu: zapped %lu, expected 0", goal,
		    again.mmu_shadow_zapped - after.mmu_shadow_zapped);
	TEST_ASSERT_EQ(again.mmu_recycled, after.mmu_recycled);

	ksft_test_result_pass("cycle %d: shrink to %lu zapped %lu pages\n",
			      cycle, goal, zapped);
}

/*
 * Run the guest under the shrunken pool: it re-reads every data page, which
 * makes KVM recycle shadow pages as it goes, then writes its page tables.
 */
static void check_guest_data(struct unsync_vm *uvm, int cycle, uint64_t goal)
{
	struct zap_stats before, after;

	zap_stats_read(uvm->vm, &before, "before guest check");
	unsync_vm_build(uvm);
	zap_stats_read(uvm->vm, &after, "after guest check");
	if (verbose)
		ksft_print_msg("cycle %d guest: recycled %lu, in use %lu\n",
			       cycle, after.mmu_recycled - before.mmu_recycled,
			       zap_stats_in_use(&after));
	ksft_test_result_pass("cycle %d: guest data intact in %lu pages\n",
			      cycle, goal);
}

static void help(const char *name)
{
	printf("usage: %s [-n pages] [-c cycles] [-m mode] [-v] [-h]\n"
	       " -n: unsync shadow pages to build (1..%lu, default %d)\n"
	       " -c: build/shrink cycles (1..%d, default %d)\n"
	       " -m: shadow or nested (default: what KVM can run)\n"
	       " -v: print more detail\n",
	       name, unsync_max_pages(), DEFAULT_NR_PAGES, MAX_NR_CYCLES,
	       DEFAULT_NR_CYCLES);
}

int main(int argc, char *argv[])
{
	uint64_t nr_pages = DEFAULT_NR_PAGES, half;
	int nr_cycles = DEFAULT_NR_CYCLES, cycle, opt;
	struct unsync_vm *uvm;
	struct zap_stats s;

	while ((opt = getopt(argc, argv, "n:c:m:vh")) != -1) {
		switch (opt) {
		case 'n':
			nr_pages = parse_flag_u64("-n", optarg, 1,
						  unsync_max_pages());
			break;
		case 'c':
			nr_cycles =
				parse_flag_u64("-c", optarg, 1, MAX_NR_CYCLES);
			break;
		case 'm':
			unsync_mode_parse(optarg);
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
			help(argv[0]);
			exit(KSFT_PASS);
		default:
			help(argv[0]);
			exit(KSFT_FAIL);
		}
	}
	if (optind < argc) {
		help(argv[0]);
		exit(KSFT_FAIL);
	}

	ksft_print_header();
	shadow_mmu_require();
	ksft_set_plan(6 * nr_cycles);

	uvm = unsync_vm_create(nr_pages);
	ksft_print_msg("%lu data pages; guest tables L1 %lu, L2 %lu, L3 %lu\n",
		       nr_pages, uvm->nr_guest_tables[1],
		       uvm->nr_guest_tables[2], uvm->nr_guest_tables[3]);

	for (cycle = 1; cycle <= nr_cycles; cycle++) {
		/* Grow the pool back, so the build keeps every page. */
		set_nr_mmu_pages(uvm->vm, unsync_pool_pages(nr_pages));
		build_unsync_pages(uvm, cycle);
		check_goal_below_minimum(uvm, cycle);

		zap_stats_read(uvm->vm, &s, "before half shrink");
		half = zap_stats_in_use(&s) / 2;
		if (half < KVM_MIN_ALLOC_MMU_PAGES)
			half = KVM_MIN_ALLOC_MMU_PAGES;
		shrink_pool(uvm, cycle, half);
		check_guest_data(uvm, cycle, half);

		shrink_pool(uvm, cycle, KVM_MIN_ALLOC_MMU_PAGES);
		check_guest_data(uvm, cycle, KVM_MIN_ALLOC_MMU_PAGES);
	}

	unsync_vm_free(uvm);
	ksft_finished();
}
