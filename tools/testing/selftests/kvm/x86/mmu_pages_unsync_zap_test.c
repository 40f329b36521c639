// SPDX-License-Identifier: GPL-2.0-only
/*
 * Shrink the shadow MMU's page pool (KVM_SET_NR_MMU_PAGES) over a guest with
 * many unsync shadow pages, and check what KVM zaps and how it counts it.
 *
 * kvm_mmu_change_mmu_pages() zaps through kvm_mmu_zap_oldest_mmu_pages(),
 * which walks the active pages from the oldest, skips roots in use, and zaps
 * until the pages it has freed reach its budget.  Zapping a parent also zaps
 * its unsync children (and, for nested TDP, its children left without a
 * parent), wherever they sit in the list: __kvm_mmu_prepare_zap_page() then
 * reports the list unstable, so the walk starts over, and separately the
 * number of pages it zapped, which the walk adds up and finally adds to
 * mmu_recycled.  Every zap also bumps mmu_shadow_zapped once, so a shrink
 * must move both counters alike.
 *
 * Then write flooding: a guest that keeps writing a shadowed level-2 table,
 * with no walk through it in between, has its writes emulated until KVM
 * decides the page is no longer a page table and zaps its shadow page.
 */
#include <errno.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"
#include "unsync_vm.h"

/* The room below the goal a shrink must leave to tell its limit apart. */
#define MIN_ROOM 64

static u64 nr_pages = 2048;
static int nr_cycles = 2;
static bool verbose;

/* The fixes whose absence the failures below show, named in their message. */
#define NESTED_COUNT_FIX \
	" (\"KVM: x86/mmu: Count every page a recursive nested TDP zap frees\")"
#define SHRINK_LIMIT_FIX \
	" (\"KVM: x86/mmu: Don't set the MMU page limit below the goal after a shrink\")"

/* KVM_SET_NR_MMU_PAGES to @goal, with the counters before and after. */
static void set_goal(struct kvm_vm *vm, u64 goal, struct unsync_stats *before,
		     struct unsync_stats *after)
{
	unsync_stats_read(vm, before);
	unsync_set_pool(vm, goal);
	unsync_stats_read(vm, after);
	if (verbose)
		ksft_print_msg("goal %lu: in use %lu -> %lu, zapped %lu, recycled %lu\n",
			       goal, before->in_use, after->in_use,
			       after->mmu_shadow_zapped - before->mmu_shadow_zapped,
			       after->mmu_recycled - before->mmu_recycled);
}

/* What every shrink to @goal that found more than @goal pages in use must do. */
static void check_shrink(const char *what, u64 goal, struct unsync_stats *b,
			 struct unsync_stats *a)
{
	u64 zapped = a->mmu_shadow_zapped - b->mmu_shadow_zapped;
	u64 recycled = a->mmu_recycled - b->mmu_recycled;

	/*
	 * The walk skips roots in use, so every page it zaps is freed and
	 * counted once in mmu_shadow_zapped and once in the total it adds to
	 * mmu_recycled, whether it was zapped on its own, as an unsync child
	 * or as a nested child left without a parent.
	 */
	TEST_ASSERT(zapped == recycled,
		    "%s: mmu_shadow_zapped +%lu, mmu_recycled +%lu, expected equal%s",
		    what, zapped, recycled,
		    unsync_mode == UNSYNC_MODE_NESTED ? NESTED_COUNT_FIX : "");

	/*
	 * The walk goes on until the pool is within its goal; only roots in
	 * use can stop it, and one vCPU has at most 4 (its root and three
	 * cached ones), far below the smallest goal.
	 */
	TEST_ASSERT(a->in_use <= goal, "%s: %lu pages in use, expected <= %lu",
		    what, a->in_use, goal);

	/* A zap removes shadow pages; it never creates one. */
	TEST_ASSERT_EQ(a->mmu_cache_miss, b->mmu_cache_miss);

	/* mmu_unsync counts unsync pages in use: zaps only lower it. */
	TEST_ASSERT(a->mmu_unsync <= b->mmu_unsync && a->mmu_unsync <= a->in_use,
		    "%s: mmu_unsync %lu -> %lu, with %lu pages in use", what,
		    b->mmu_unsync, a->mmu_unsync, a->in_use);

	/*
	 * A vCPU may still reach a zapped page through its TLB or paging
	 * structure caches, so KVM must ask every vCPU to flush
	 * (kvm_flush_remote_tlbs()) before it frees the page.
	 */
	TEST_ASSERT(a->remote_tlb_flush_requests > b->remote_tlb_flush_requests,
		    "%s: %lu pages zapped, no remote TLB flush requested", what,
		    zapped);
}

/*
 * The guest writes every data page once, then each time the host runs it:
 * writes one PTE of each data page's level-1 table (KVM marks those shadow
 * pages unsync), and reads back data pages [0, check_nr), which rebuilds
 * whatever the host zapped meanwhile.
 */
static u64 check_nr;

static void guest_code(u64 nr_pages)
{
	unsync_guest_write_data(0, nr_pages);
	for (;;) {
		GUEST_SYNC(UNSYNC_STAGE_SHADOWED);
		unsync_guest_write_tables(0, nr_pages);
		GUEST_SYNC(UNSYNC_STAGE_UNSYNC);
		unsync_guest_check_data(0, READ_ONCE(check_nr));
	}
}

static void set_check_nr(struct unsync_vm *uvm, u64 nr)
{
	check_nr = nr;
	sync_global_to_guest(uvm->vm, check_nr);
}

/* Build N unsync pages: KVM shadows every data table and unsyncs N. */
static void test_build(struct unsync_vm *uvm, int cycle)
{
	struct unsync_stats b, a;

	unsync_set_pool(uvm->vm, unsync_pool_pages(nr_pages));
	unsync_stats_read(uvm->vm, &b);
	unsync_vm_build(uvm);
	unsync_stats_read(uvm->vm, &a);
	ksft_print_msg("cycle %d: build: in use %lu -> %lu, unsync %lu -> %lu\n",
		       cycle, b.in_use, a.in_use, b.mmu_unsync, a.mmu_unsync);

	/* The pool holds every table: nothing had to be recycled. */
	TEST_ASSERT_EQ(a.mmu_recycled, b.mmu_recycled);

	/* Each table the guest walked has its shadow page. */
	TEST_ASSERT(a.in_use >= unsync_vm_tables(uvm),
		    "cycle %d build: %lu pages in use, expected >= %lu tables",
		    cycle, a.in_use, unsync_vm_tables(uvm));

	/*
	 * Only the data pages' level-1 tables were written, and the guest did
	 * not reload CR3 (nor run L2 again): exactly N are unsync.
	 */
	TEST_ASSERT(a.mmu_unsync == nr_pages,
		    "cycle %d build: mmu_unsync %lu, expected %lu", cycle,
		    a.mmu_unsync, nr_pages);
	ksft_test_result_pass("cycle %d: build unsync pages\n", cycle);
}

static void test_goals_below_minimum(struct unsync_vm *uvm, int cycle)
{
	static const u64 goals[] = { UNSYNC_MIN_POOL_PAGES - 1, 1, 0 };
	struct unsync_stats b, a;
	int i, r;

	unsync_stats_read(uvm->vm, &b);
	for (i = 0; i < ARRAY_SIZE(goals); i++) {
		r = __unsync_set_pool(uvm->vm, goals[i]);
		/* The ioctl checks the goal before it touches the pool. */
		TEST_ASSERT(r == -1 && errno == EINVAL,
			    "goal %lu: returned %d (errno %d), expected EINVAL",
			    goals[i], r, errno);
	}
	unsync_stats_read(uvm->vm, &a);
	TEST_ASSERT_EQ(a.mmu_shadow_zapped, b.mmu_shadow_zapped);
	TEST_ASSERT_EQ(a.in_use, b.in_use);
	ksft_test_result_pass("cycle %d: goals below the minimum are refused\n", cycle);
}

/* A goal of exactly what is in use: the pool is within it already. */
static void test_goal_in_use(struct unsync_vm *uvm, int cycle)
{
	struct unsync_stats b, a, s;

	unsync_stats_read(uvm->vm, &s);
	set_goal(uvm->vm, s.in_use, &b, &a);
	TEST_ASSERT(a.mmu_shadow_zapped == b.mmu_shadow_zapped,
		    "goal %lu with %lu in use: zapped %lu, expected 0", s.in_use,
		    b.in_use, a.mmu_shadow_zapped - b.mmu_shadow_zapped);
	ksft_test_result_pass("cycle %d: a goal of the pages in use zaps nothing\n",
			      cycle);
}

/*
 * Shrink to half of what is in use.  The oldest pages are the upper-level
 * tables, whose zaps take unsync children along, so the walk may end well
 * below the goal; the goal, not what the walk left, is the pool's new size.
 */
static void test_shrink_half(struct unsync_vm *uvm, int cycle)
{
	struct unsync_stats b, a, r;
	u64 goal;

	unsync_stats_read(uvm->vm, &b);
	goal = max_t(u64, b.in_use / 2, UNSYNC_MIN_POOL_PAGES);
	set_goal(uvm->vm, goal, &b, &a);
	check_shrink("shrink to half", goal, &b, &a);
	ksft_test_result_pass("cycle %d: shrink to half\n", cycle);

	/*
	 * The guest reads back the first data pages, as many as take half of
	 * the room left below the goal.  A pool that is at its goal has room
	 * for them and recycles nothing; one left at what the walk's overshoot
	 * left behind has none and recycles at once.  (Reads that come close
	 * to the goal may recycle anyway: KVM keeps a few pages free.)
	 */
	if (goal - a.in_use < MIN_ROOM) {
		ksft_print_msg("cycle %d: no room left below the goal\n", cycle);
		ksft_test_result_skip("cycle %d: the pool is left at its goal\n", cycle);
		return;
	}
	set_check_nr(uvm, min_t(u64, (goal - a.in_use) / 2, nr_pages));
	unsync_vcpu_run(uvm->vcpu, UNSYNC_STAGE_SHADOWED);
	unsync_stats_read(uvm->vm, &r);
	ksft_print_msg("cycle %d: read %lu, goal %lu: in use %lu -> %lu, made %lu, recycled %lu\n",
		       cycle, check_nr, goal, a.in_use, r.in_use,
		       r.mmu_cache_miss - a.mmu_cache_miss,
		       r.mmu_recycled - a.mmu_recycled);
	TEST_ASSERT(r.mmu_recycled == a.mmu_recycled,
		    "%lu pages in use, goal %lu: %lu recycled, expected 0%s",
		    r.in_use, goal, r.mmu_recycled - a.mmu_recycled, SHRINK_LIMIT_FIX);
	TEST_ASSERT(r.in_use <= goal, "%lu pages in use, goal %lu", r.in_use, goal);
	ksft_test_result_pass("cycle %d: the pool is left at its goal\n", cycle);

	/* Back to where the cycle goes on: every table written. */
	set_check_nr(uvm, nr_pages);
	unsync_vcpu_run(uvm->vcpu, UNSYNC_STAGE_UNSYNC);
}

/*
 * Shrink to the minimum, ask for the same goal again, and let the guest
 * check its data under the smallest pool.
 */
static void test_shrink_minimum(struct unsync_vm *uvm, int cycle)
{
	u64 goal = UNSYNC_MIN_POOL_PAGES;
	struct unsync_stats b, a, again;

	set_goal(uvm->vm, goal, &b, &a);
	check_shrink("shrink to the minimum", goal, &b, &a);
	ksft_test_result_pass("cycle %d: shrink to the minimum\n", cycle);

	/* Within its goal, the pool has nothing to give back. */
	set_goal(uvm->vm, goal, &b, &again);
	TEST_ASSERT(again.mmu_shadow_zapped == a.mmu_shadow_zapped,
		    "second shrink to %lu, %lu in use: zapped %lu, expected 0",
		    goal, a.in_use, again.mmu_shadow_zapped - a.mmu_shadow_zapped);
	ksft_test_result_pass("cycle %d: the same goal again zaps nothing\n", cycle);

	unsync_vm_build(uvm);
	ksft_test_result_pass("cycle %d: data intact under the minimum pool\n", cycle);
}

#define CYCLE_RESULTS 8

/*
 * Which pages a shrink takes: the oldest.  The guest walks its data once,
 * in order, and writes no table: the newest shadow pages are the level-1
 * tables of the last data pages.  After a shrink by half of the data pages,
 * reading the last quarter again must find all of their level-1 shadow
 * pages still there; only upper-level pages (and libkvm's own) may have to
 * be created again.  Shadow mode: in nested mode the oldest NPT page's zap
 * takes every table below it.
 */
static u64 touch_first, touch_nr;

static void oldest_guest_code(u64 nr_pages)
{
	unsync_guest_write_data(0, nr_pages);
	for (;;) {
		GUEST_SYNC(UNSYNC_STAGE_SHADOWED);
		unsync_guest_check_data(READ_ONCE(touch_first), READ_ONCE(touch_nr));
	}
}

static void test_oldest_first(void)
{
	struct unsync_stats b, a, t;
	struct unsync_vm *uvm;
	u64 others;

	if (unsync_mode == UNSYNC_MODE_NESTED) {
		ksft_print_msg("oldest pages zapped first: shadow mode only\n");
		ksft_test_result_skip("oldest pages zapped first\n");
		return;
	}
	uvm = unsync_vm_create(nr_pages, 1, oldest_guest_code);
	unsync_vcpu_run(uvm->vcpu, UNSYNC_STAGE_SHADOWED);
	unsync_stats_read(uvm->vm, &b);
	set_goal(uvm->vm, b.in_use - nr_pages / 2, &b, &a);
	TEST_ASSERT_EQ(b.mmu_unsync, 0);

	touch_first = nr_pages - nr_pages / 4;
	touch_nr = nr_pages / 4;
	sync_global_to_guest(uvm->vm, touch_first);
	sync_global_to_guest(uvm->vm, touch_nr);
	unsync_vcpu_run(uvm->vcpu, UNSYNC_STAGE_SHADOWED);
	unsync_stats_read(uvm->vm, &t);

	/* Shadow pages other than the data pages' level-1 tables. */
	others = b.in_use - nr_pages;
	ksft_print_msg("oldest first: zapped %lu, then %lu made for the newest quarter (<= %lu)\n",
		       a.mmu_shadow_zapped - b.mmu_shadow_zapped,
		       t.mmu_cache_miss - a.mmu_cache_miss, others);
	TEST_ASSERT(t.mmu_cache_miss - a.mmu_cache_miss <= others,
		    "%lu shadow pages made to read back the newest %lu data pages, expected <= %lu",
		    t.mmu_cache_miss - a.mmu_cache_miss, touch_nr, others);
	unsync_vm_free(uvm);
	ksft_test_result_pass("oldest pages zapped first\n");
}

/*
 * Write flooding.  The guest maps the level-2 table of the first data pages
 * as data at FLOOD_GVA and writes one of its entries (with the value it
 * holds) as often as the host asks.  KVM write-protects every guest table it
 * shadows, and only level-1 shadow pages can go unsync, so each write is
 * emulated (mmu_pte_write).
 */
#define FLOOD_GVA		(129ULL << 39)	/* PML4 entry 129 */
#define FLOOD_WRITES		16
#define STAGE_FLOODED		2

static u64 flood_writes, flood_touch;

static void flood_guest_code(u64 nr_pages)
{
	u64 *pde = (u64 *)(FLOOD_GVA + ((UNSYNC_DATA_GVA >> 21) & 511) * 8);
	u64 i, touch = 0;

	unsync_guest_write_data(0, 1);
	GUEST_SYNC(UNSYNC_STAGE_SHADOWED);
	for (;;) {
		for (i = 0; i < READ_ONCE(flood_writes); i++) {
			WRITE_ONCE(*pde, READ_ONCE(*pde));
			/* A first read of a data page: a fault through the table. */
			if (READ_ONCE(flood_touch) && i % flood_touch == flood_touch - 1)
				unsync_guest_write_data(++touch, 1);
		}
		GUEST_SYNC(STAGE_FLOODED);
	}
}

static struct unsync_vm *flood_vm_create(void)
{
	struct unsync_vm *uvm = unsync_vm_create(nr_pages, 1, flood_guest_code);

	virt_pg_map(uvm->vm, FLOOD_GVA, unsync_table_gpa(uvm, 0, 2));
	unsync_vcpu_run(uvm->vcpu, UNSYNC_STAGE_SHADOWED);
	return uvm;
}

/* One pass of @writes writes, with a fault through the table every @touch. */
static void flood_pass(struct unsync_vm *uvm, u64 writes, u64 touch,
		       struct unsync_stats *b, struct unsync_stats *a)
{
	flood_writes = writes;
	flood_touch = touch;
	sync_global_to_guest(uvm->vm, flood_writes);
	sync_global_to_guest(uvm->vm, flood_touch);
	unsync_stats_read(uvm->vm, b);
	unsync_vcpu_run(uvm->vcpu, STAGE_FLOODED);
	unsync_stats_read(uvm->vm, a);
	ksft_print_msg("flood: %lu writes: emulated +%lu, flooded +%lu, zapped +%lu\n",
		       writes, a->mmu_pte_write - b->mmu_pte_write,
		       a->mmu_flooded - b->mmu_flooded,
		       a->mmu_shadow_zapped - b->mmu_shadow_zapped);
}

static const char * const flood_results[] = {
	"a fault through a table resets its flood count",
	"write flooding zaps a level-2 table once",
	"writes to a table no longer shadowed are not emulated",
};

#define FLOOD_RESULTS ARRAY_SIZE(flood_results)

static void test_write_flooding(void)
{
	struct unsync_stats b, a;
	struct unsync_vm *uvm;
	int i;

	if (unsync_mode == UNSYNC_MODE_NESTED) {
		ksft_print_msg("write flooding: shadow mode only\n");
		for (i = 0; i < FLOOD_RESULTS; i++)
			ksft_test_result_skip("%s\n", flood_results[i]);
		return;
	}
	uvm = flood_vm_create();

	/*
	 * Two writes, then a fault whose walk goes through the table's shadow
	 * page, over and over: KVM counts the writes that come with no walk
	 * through the page in between (detect_write_flooding(), three make a
	 * flood), and a walk through it (FNAME(fetch)) starts the count again,
	 * so the table is still a page table and is never zapped.
	 */
	flood_pass(uvm, FLOOD_WRITES, 2, &b, &a);
	TEST_ASSERT(a.mmu_pte_write - b.mmu_pte_write == FLOOD_WRITES,
		    "%d writes to a shadowed level-2 table, %lu emulated",
		    FLOOD_WRITES, a.mmu_pte_write - b.mmu_pte_write);
	TEST_ASSERT(a.mmu_flooded == b.mmu_flooded && a.mmu_shadow_zapped == b.mmu_shadow_zapped,
		    "2 writes between faults: flooded +%lu, zapped +%lu, expected 0",
		    a.mmu_flooded - b.mmu_flooded,
		    a.mmu_shadow_zapped - b.mmu_shadow_zapped);
	ksft_test_result_pass("%s\n", flood_results[0]);

	/*
	 * Writes with no walk in between: the third floods, and KVM zaps the
	 * table's one shadow page.  Its children are sync (nothing goes with
	 * it) and stay linked to nothing but their own parent pointers; the
	 * zap is flushed like any other.
	 */
	flood_pass(uvm, FLOOD_WRITES, 0, &b, &a);
	TEST_ASSERT(a.mmu_pte_write - b.mmu_pte_write == 3,
		    "flood: %lu of %d writes emulated, expected 3 (the third floods)",
		    a.mmu_pte_write - b.mmu_pte_write, FLOOD_WRITES);
	TEST_ASSERT(a.mmu_flooded - b.mmu_flooded == 1,
		    "flood: mmu_flooded +%lu, expected 1", a.mmu_flooded - b.mmu_flooded);
	TEST_ASSERT(a.mmu_shadow_zapped - b.mmu_shadow_zapped == 1,
		    "flood: mmu_shadow_zapped +%lu, expected 1",
		    a.mmu_shadow_zapped - b.mmu_shadow_zapped);
	TEST_ASSERT(a.remote_tlb_flush_requests > b.remote_tlb_flush_requests,
		    "flood: a table zapped, no remote TLB flush requested");
	ksft_test_result_pass("%s\n", flood_results[1]);

	/*
	 * With its last shadow page gone the table is no longer write-tracked
	 * (unaccount_shadowed()): at most one fault makes it writable, and no
	 * write to it is emulated any more.
	 */
	flood_pass(uvm, FLOOD_WRITES, 0, &b, &a);
	TEST_ASSERT(a.mmu_pte_write == b.mmu_pte_write,
		    "after the flood: %lu writes emulated, expected 0",
		    a.mmu_pte_write - b.mmu_pte_write);
	TEST_ASSERT_EQ(a.mmu_flooded, b.mmu_flooded);
	TEST_ASSERT_EQ(a.mmu_shadow_zapped, b.mmu_shadow_zapped);
	ksft_test_result_pass("%s\n", flood_results[2]);
	unsync_vm_free(uvm);
}

static void help(const char *name, int status)
{
	printf("usage: %s [-h] [-n pages] [-c cycles] [-m shadow|nested] [-v]\n", name);
	printf(" -n: data pages, one unsync shadow page each (default %lu)\n", nr_pages);
	printf(" -c: build and shrink cycles (default %d)\n", nr_cycles);
	printf(" -m: shadow or nested mode (default: what KVM can run)\n");
	printf(" -v: print every shrink\n");
	exit(status);
}

int main(int argc, char *argv[])
{
	struct unsync_vm *uvm;
	int opt, cycle;

	while ((opt = getopt(argc, argv, "hn:c:m:v")) != -1) {
		switch (opt) {
		case 'n':
			nr_pages = atoi_positive("Data pages", optarg);
			break;
		case 'c':
			nr_cycles = atoi_positive("Cycles", optarg);
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
	TEST_ASSERT(nr_pages >= 256 && nr_pages <= UNSYNC_MAX_PAGES,
		    "-n %lu: expected 256..%u", nr_pages, UNSYNC_MAX_PAGES);

	ksft_print_header();
	unsync_require();
	ksft_set_plan(nr_cycles * CYCLE_RESULTS + 1 + FLOOD_RESULTS);

	uvm = unsync_vm_create(nr_pages, 1, guest_code);
	set_check_nr(uvm, nr_pages);
	ksft_print_msg("%lu data pages; tables: %lu level 1, %lu level 2, %lu level 3\n",
		       nr_pages, uvm->nr_tables[1], uvm->nr_tables[2],
		       uvm->nr_tables[3]);
	for (cycle = 1; cycle <= nr_cycles; cycle++) {
		test_build(uvm, cycle);
		test_goals_below_minimum(uvm, cycle);
		test_goal_in_use(uvm, cycle);
		test_shrink_half(uvm, cycle);
		test_shrink_minimum(uvm, cycle);
	}
	unsync_vm_free(uvm);

	test_oldest_first();
	test_write_flooding();
	ksft_finished();
}
