// SPDX-License-Identifier: GPL-2.0-only
/*
 * Count the restarts of the shadow MMU's zap walk, and check that a walk
 * restarts only when its list really became unstable.
 *
 * kvm_mmu_zap_oldest_mmu_pages() walks active_mmu_pages with
 * list_for_each_entry_safe_reverse(), which survives the removal of the
 * current page only.  Zapping a parent also zaps its unsync children,
 * anywhere in the list, so __kvm_mmu_prepare_zap_page() then reports the
 * list unstable and the walk starts over from the oldest page.  Before
 * commit 83cdb56864 ("KVM: x86/mmu: Differentiate between nr zapped and
 * list unstable") the page itself counted as "unstable" too, and every walk
 * restarted after every zap.
 *
 * Every kernel with the kvmmmu tracepoints shows each zap and whether it
 * was of an unsync page; where kprobe events exist, return probes show what
 * each zap returned and what the walk was asked for and did, which makes
 * the call tree and the restarts exact.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "shadow_mmu.h"
#include "ucall_common.h"

#define DEFAULT_NR_PAGES 2048

static bool verbose;

/* Shrink the pool to the minimum, capturing the zaps. */
static void shrink_traced(struct unsync_vm *uvm, struct zap_trace *t,
			  struct zap_stats *before, struct zap_stats *after,
			  struct zap_counts *c)
{
	zap_stats_read(uvm->vm, before, "before shrink");
	zap_trace_clear(t);
	vm_ioctl(uvm->vm, KVM_SET_NR_MMU_PAGES,
		 (void *)(unsigned long)KVM_MIN_ALLOC_MMU_PAGES);
	zap_trace_collect(t, c);
	zap_stats_read(uvm->vm, after, "after shrink");

	ksft_print_msg("zaps %lu (unsync %lu), lost %lu\n", c->zaps,
		       c->unsync_zaps, c->lost);
	if (t->exact)
		ksft_print_msg("top %lu, nested %lu, parents %lu\n",
			       c->top_level, c->nested, c->parents);

	/* Without every event, no count below would mean anything. */
	TEST_ASSERT(!c->lost, "%lu trace events lost (lower -n)", c->lost);

	/* Each zap fires the tracepoint once and bumps the stat once. */
	TEST_ASSERT(c->zaps == after->mmu_shadow_zapped -
				       before->mmu_shadow_zapped,
		    "%lu zap events, mmu_shadow_zapped +%lu", c->zaps,
		    after->mmu_shadow_zapped - before->mmu_shadow_zapped);

	/* Zapping an unsync page unlinks it from the unsync gauge once. */
	TEST_ASSERT(c->unsync_zaps == before->mmu_unsync - after->mmu_unsync,
		    "%lu unsync pages zapped, mmu_unsync %lu -> %lu",
		    c->unsync_zaps, before->mmu_unsync, after->mmu_unsync);
}

/*
 * The checks that need the probes.  __kvm_mmu_prepare_zap_page() reports
 * the list unstable when it zapped children and only then; the walk adds
 * each zap's nr_zapped (children, plus the page itself) to the total it
 * returns and to mmu_recycled, and stops once it has nr_to_zap.
 */
static void check_walk(struct zap_counts *c, struct zap_stats *before,
		       struct zap_stats *after)
{
	uint64_t recycled = after->mmu_recycled - before->mmu_recycled;

	TEST_ASSERT(!c->unstable_no_children,
		    "%lu zaps reported the list unstable but zapped no child",
		    c->unstable_no_children);
	TEST_ASSERT(!c->children_not_unstable,
		    "%lu zaps zapped children but reported the list stable",
		    c->children_not_unstable);
	TEST_ASSERT(c->walks == 1, "%lu zap walks, expected 1", c->walks);
	TEST_ASSERT(c->walk_nr_to_zap ==
			    zap_stats_in_use(before) - KVM_MIN_ALLOC_MMU_PAGES,
		    "Walk asked for %lu pages, expected %lu in use - %d",
		    c->walk_nr_to_zap, zap_stats_in_use(before),
		    KVM_MIN_ALLOC_MMU_PAGES);
	TEST_ASSERT(c->walk_total == c->walk_counted,
		    "Walk returned %lu zapped, its zaps add up to %lu",
		    c->walk_total, c->walk_counted);
	TEST_ASSERT(c->walk_total == recycled,
		    "Walk returned %lu zapped, mmu_recycled +%lu",
		    c->walk_total, recycled);
	TEST_ASSERT(!c->past_budget,
		    "%lu zaps after the walk had zapped enough",
		    c->past_budget);
	TEST_ASSERT(c->restarts <= c->parents,
		    "%lu restarts, but only %lu zaps took children",
		    c->restarts, c->parents);
}

static void test_sync_pages(uint64_t nr_pages, struct zap_trace *t)
{
	struct zap_stats before, after;
	struct unsync_vm *uvm;
	struct zap_counts c;

	/* Shadow every guest page table, but write none of them. */
	uvm = unsync_vm_create(nr_pages);
	unsync_vcpu_run_sync(uvm, UNSYNC_STAGE_SHADOWED);
	shrink_traced(uvm, t, &before, &after, &c);
	unsync_vm_free(uvm);
	TEST_ASSERT_EQ(before.mmu_unsync, 0);
	if (!t->exact) {
		ksft_test_result_skip("sync pages: %s\n", t->why_not_exact);
		return;
	}

	check_walk(&c, &before, &after);
	/*
	 * With no unsync page there is no child to zap: no zap may make the
	 * list unstable, and the walk never restarts.
	 */
	TEST_ASSERT_EQ(c.nested, 0);
	TEST_ASSERT_EQ(c.unstable, 0);
	TEST_ASSERT_EQ(c.restarts, 0);
	ksft_test_result_pass("shrink over %lu sync pages: 0 restarts\n",
			      nr_pages);
}

static void test_unsync_pages(uint64_t nr_pages, struct zap_trace *t)
{
	struct zap_stats before, after;
	struct unsync_vm *uvm;
	struct zap_counts c;

	uvm = unsync_vm_create(nr_pages);
	unsync_vm_build(uvm);
	shrink_traced(uvm, t, &before, &after, &c);
	unsync_vm_free(uvm);
	TEST_ASSERT_EQ(before.mmu_unsync, nr_pages);
	ksft_test_result_pass("shrink over %lu unsync pages: %lu zaps\n",
			      nr_pages, c.zaps);
	if (!t->exact) {
		ksft_test_result_skip("restarts: %s\n", t->why_not_exact);
		return;
	}

	check_walk(&c, &before, &after);
	/*
	 * The walk zaps the oldest pages first, the upper levels of the
	 * guest's tables; zapping a parent zaps its unsync children.
	 */
	TEST_ASSERT(c.nested > 0,
		    "No zap took an unsync child, %lu unsync zapped",
		    c.unsync_zaps);
	ksft_test_result_pass("shrink over unsync pages: %lu restarts\n",
			      c.restarts);
}

static void help(const char *name)
{
	printf("usage: %s [-n pages] [-v] [-h]\n"
	       " -n: shadow pages to build (1..%lu, default %d)\n"
	       " -v: print more detail\n",
	       name, unsync_max_pages(), DEFAULT_NR_PAGES);
}

int main(int argc, char *argv[])
{
	uint64_t nr_pages = DEFAULT_NR_PAGES;
	struct zap_trace trace;
	int opt;

	while ((opt = getopt(argc, argv, "n:vh")) != -1) {
		switch (opt) {
		case 'n':
			nr_pages = parse_flag_u64("-n", optarg, 1,
						  unsync_max_pages());
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
	zap_trace_open(&trace);
	ksft_print_msg("exact restart counts: %s\n",
		       trace.exact ? "yes" : trace.why_not_exact);
	ksft_set_plan(3);

	test_sync_pages(nr_pages, &trace);
	test_unsync_pages(nr_pages, &trace);

	zap_trace_close(&trace);
	ksft_finished();
}
