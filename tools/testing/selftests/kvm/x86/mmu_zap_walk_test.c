// SPDX-License-Identifier: GPL-2.0-only
/*
 * The shape of the shadow MMU's zap walks over families of unsync pages.
 *
 * Zapping a shadow page also zaps its unsync children, wherever they sit in
 * active_mmu_pages, so a walk over that list must start over after such a
 * zap ("list unstable"), and a budgeted walk (a shrink of the shadow page
 * pool, kvm_mmu_zap_oldest_mmu_pages()) must stop at the first zap that
 * reaches its budget.  Here the oldest pages are families: a level-2
 * parent followed by its children, k of them unsync (unsync_families.h),
 * with k mixed within one VM so that one budget spans several families and
 * a family's first child is the walk's next page when its parent is
 * zapped.  Each caller of the walks runs over such a VM: the pool shrink
 * (KVM_SET_NR_MMU_PAGES), the MMU shrinker (drop_caches), the zap of
 * obsolete pages (memslot delete and move, KVM_X86_QUIRK_SLOT_ZAP_ALL on)
 * and the zap of everything at VM teardown.
 *
 * KVMs zap in different shapes (one zaps a parent's children past the
 * budget, another cuts them at it), so the test asserts what every correct
 * shadow MMU must do and prints the shape.  With kprobe events the call
 * tree of the zaps is exact (see zap_trace.h).  The host's shrinker may
 * zap any VM at any time (another instance's drop_caches does): where that
 * would change a figure, the trace of this process tells, and the subtest
 * says so instead of judging.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "shadow_mmu.h"
#include "ucall_common.h"
#include "unsync_families.h"
#include "zap_trace.h"

/* k of each family, oldest first; k = 0: MIXED_SYNC_CHILDREN sync ones. */
static const uint32_t mixed[] = {
	1, 0, 2, 1, 1, 3, 0, 1, 8, 1, 5, 1, 512, 1, 2, 0,
};

#define MIXED_SYNC_CHILDREN 4

/*
 * The shrinks over the mixed families, one after the other: each zaps
 * families [first, last) and @into pages beyond, so that it ends inside
 * family @last: the first in family 10 (k = 5), the second in family 12
 * (k = 512; 1 + 100 is its parent and 100 of its children).
 */
static const struct family_shrink {
	const char *what;
	uint32_t first, last, into;
	bool restarts; /* it passes families with budget left */
} family_shrinks[] = {
	{ "shrink over small families", 0, 10, 3, true },
	{ "shrink into a family of 512", 11, 12, 1 + 100, false },
};

/* Families of sync pages only, and a shrink that ends inside family 5. */
#define NR_SYNC_FAMILIES 16
#define SYNC_CHILDREN 8
#define SYNC_SHRINK_FAMILIES 5
#define SYNC_SHRINK_INTO 4

#define MOVED_DATA_GPA (12ULL << 30)
#define LOCK_FILE "/tmp/mmu_zap_walk_test.lock"

static bool verbose;

static void guest_code(void)
{
	struct family_layout *l = &family_layout;
	uint32_t f, j;

	GUEST_SYNC(FAMILY_STAGE_BOOTED);
	/* Family by family: its parent, then its children. */
	for (f = 0; f < l->nr; f++)
		for (j = 0; j < l->children[f]; j++)
			WRITE_ONCE(*family_data(f, j), FAMILY_PATTERN(f, j));
	GUEST_SYNC(FAMILY_STAGE_TOUCHED);
	for (;;) {
		/* The first time, this links the parents to a new PDPT. */
		for (f = 0; f < l->nr; f++)
			for (j = 0; j < l->children[f]; j++)
				GUEST_ASSERT_EQ(READ_ONCE(*family_data(f, j)),
						FAMILY_PATTERN(f, j));
		/* Write one PTE of each of the first k children's tables. */
		for (f = 0; f < l->nr; f++)
			for (j = 0; j < l->unsync[f]; j++)
				WRITE_ONCE(*family_pte(f, j), 0);
		GUEST_SYNC(FAMILY_STAGE_BUILT);
	}
}

/* NULL if another zapper disturbed the build (the subtest then skips). */
static struct unsync_families *mixed_families(struct zap_trace *t)
{
	struct unsync_families *fam;

	fam = unsync_families_create(mixed, ARRAY_SIZE(mixed),
				     MIXED_SYNC_CHILDREN, guest_code);
	if (unsync_families_build(fam, t))
		return fam;
	unsync_families_free(fam);
	return NULL;
}

/*
 * Instances of this test run at once (make soak) would disturb each
 * other's figures with drop_caches: the drop_caches subtest holds this
 * lock exclusively, the others share it.  The host may still shrink at
 * any time; the subtests tell that from their trace.
 */
static int lock_fd = -1;

static void walk_lock(int how)
{
	if (lock_fd >= 0)
		flock(lock_fd, how);
}

/* The guest reads every data page back, as it wrote it. */
static void check_guest_data(struct unsync_families *fam)
{
	vcpu_run_to_sync(fam->uvm->vcpu, FAMILY_STAGE_BUILT);
}

/*
 * Zaps of this VM that this process did not make (the host's shrinker,
 * another instance's drop_caches), or zaps of other VMs that it made:
 * either way the trace no longer describes this VM alone.
 */
static bool zaps_disturbed(struct zap_counts *c, struct zap_phase *p)
{
	uint64_t zapped = p->delta.mmu_shadow_zapped;

	if (c->zaps == zapped && !c->lost)
		return false;
	ksft_print_msg("%s: disturbed: %lu zaps traced (%lu lost), %lu made\n",
		       p->name, c->zaps, c->lost, zapped);
	return true;
}

/* Start phase @what of @fam's VM, with the zap trace cleared. */
static void traced_begin(struct unsync_families *fam, struct zap_trace *t,
			 struct zap_phase *p, const char *what)
{
	zap_phase_begin(fam->uvm->vm, p, what);
	zap_trace_clear(t);
}

/* End it, with the zaps it traced in @c (and, with -v, their order). */
static void traced_end(struct unsync_families *fam, struct zap_trace *t,
		       struct zap_phase *p, struct zap_counts *c)
{
	if (verbose)
		families_print_zaps(fam, t);
	zap_trace_collect(t, c);
	zap_phase_end(fam->uvm->vm, p);
}

/* Shrink the pool to @goal, capturing the zaps; true if undisturbed. */
static bool shrink(struct unsync_families *fam, struct zap_trace *t,
		   const char *what, uint64_t goal, struct zap_counts *c,
		   struct zap_phase *p)
{
	traced_begin(fam, t, p, what);
	set_nr_mmu_pages(fam->uvm->vm, goal);
	traced_end(fam, t, p, c);
	check_zapped_recycled(p);
	ksft_print_msg("%s: goal %lu, in use %lu -> %lu, %lu zaps (%lu u)\n",
		       what, goal, zap_stats_in_use(&p->before),
		       zap_stats_in_use(&p->after), c->zaps, c->unsync_zaps);
	if (t->exact)
		ksft_print_msg("%s: parents %lu, nested %lu, unstable %lu\n",
			       what, c->parents, c->nested, c->unstable);
	if (t->exact)
		ksft_print_msg("%s: %lu restarts\n", what, c->restarts);
	return !zaps_disturbed(c, p);
}

static void test_sync_shrink(struct zap_trace *t)
{
	static const char what[] = "shrink over sync families";
	uint32_t k[NR_SYNC_FAMILIES] = { 0 };
	struct unsync_families *fam;
	uint64_t goal, nr_to_zap;
	struct zap_counts c;
	struct zap_phase p;

	fam = unsync_families_create(k, NR_SYNC_FAMILIES, SYNC_CHILDREN,
				     guest_code);
	if (!unsync_families_build(fam, t)) {
		unsync_families_free(fam);
		ksft_test_result_skip("%s: build disturbed\n", what);
		return;
	}
	nr_to_zap =
		families_pages(fam, 0, SYNC_SHRINK_FAMILIES) + SYNC_SHRINK_INTO;
	goal = fam->in_use - nr_to_zap;
	if (!shrink(fam, t, what, goal, &c, &p)) {
		unsync_families_free(fam);
		ksft_test_result_skip("%s: disturbed\n", what);
		return;
	}
	/*
	 * A sync page has no child to take along: each zap frees exactly one
	 * page, so the walk that stops at the first zap reaching its budget
	 * ends on the goal, not one page before or after it.
	 */
	TEST_ASSERT(zap_stats_in_use(&p.after) == goal,
		    "%s: %lu pages in use, expected exactly the goal %lu", what,
		    zap_stats_in_use(&p.after), goal);
	if (t->exact) {
		zap_check_walk(&c, nr_to_zap, &p);
		/* No child, nothing unstable, no restart. */
		TEST_ASSERT_EQ(c.unstable, 0);
		TEST_ASSERT_EQ(c.restarts, 0);
	}
	check_guest_data(fam);
	unsync_families_free(fam);
	ksft_test_result_pass("%s: goal %lu reached exactly\n", what, goal);
}

/* Largest k among families [0, last]: the most one zap there can free. */
static uint32_t max_k(struct unsync_families *fam, uint32_t last)
{
	uint32_t f, k = 0;

	for (f = 0; f <= last; f++)
		k = max(k, fam->layout.unsync[f]);
	return k;
}

/*
 * A walk over families frees 1 + k pages per parent zap (fewer if the
 * kernel cuts the children at the budget) and stops at the first zap that
 * reaches the budget: it never ends above the goal, and never more than
 * the largest k below it.
 */
static void check_landing(struct zap_phase *p, uint64_t goal, uint32_t k_max)
{
	uint64_t in_use = zap_stats_in_use(&p->after);

	TEST_ASSERT(in_use <= goal && in_use + k_max >= goal,
		    "%s: %lu pages in use, expected %lu - %u .. %lu", p->name,
		    in_use, goal, k_max, goal);
}

static void test_family_shrinks(struct zap_trace *t)
{
	struct unsync_families *fam = mixed_families(t);
	const struct family_shrink *sh;
	uint64_t in_use, goal, nr_to_zap;
	struct zap_counts c;
	struct zap_phase p;
	bool clean;
	int i;

	for (i = 0; !fam && i < ARRAY_SIZE(family_shrinks); i++)
		ksft_test_result_skip("%s: build disturbed\n",
				      family_shrinks[i].what);
	if (!fam)
		return;

	in_use = fam->in_use;
	for (i = 0; i < ARRAY_SIZE(family_shrinks); i++) {
		sh = &family_shrinks[i];
		nr_to_zap = families_pages(fam, sh->first, sh->last) + sh->into;
		goal = in_use - nr_to_zap;
		clean = shrink(fam, t, sh->what, goal, &c, &p);
		in_use = zap_stats_in_use(&p.after);
		if (!clean) {
			ksft_test_result_skip("%s: disturbed\n", sh->what);
			continue;
		}
		check_landing(&p, goal, max_k(fam, sh->last));
		if (t->exact)
			zap_check_walk(&c, nr_to_zap, &p);
		/*
		 * Each family before the last reached had budget left after
		 * its parent's zap: with one child or more, that zap was
		 * unstable and the walk restarted.
		 */
		if (t->exact && sh->restarts) {
			TEST_ASSERT(c.restarts >= 1,
				    "%s: no restart with budget left",
				    sh->what);
			TEST_ASSERT(c.unstable == c.parents,
				    "%s: %lu unstable zaps, %lu parents",
				    sh->what, c.unstable, c.parents);
		}
		ksft_test_result_pass("%s: goal %lu, %lu in use\n", sh->what,
				      goal, in_use);
	}
	check_guest_data(fam);
	unsync_families_free(fam);
}

/* Does this kernel's KVM have an MMU shrinker (6.12 has, 6.13+ not)? */
static bool kvm_has_mmu_shrinker(void)
{
	char sym[80];

	zap_find_symbol("mmu_shrink_scan", sym, sizeof(sym));
	return sym[0];
}

/* Writes to drop_caches before a VM with zappable pages must have lost some. */
#define DROP_CACHES_TRIES 16

static void drop_slab_caches(void)
{
	int fd = open_path_or_exit("/proc/sys/vm/drop_caches", O_WRONLY);

	TEST_ASSERT(write(fd, "2", 1) == 1, "drop_caches write failed");
	close(fd);
}

static void test_drop_caches(struct zap_trace *t)
{
	static const char what[] = "drop_caches";
	struct unsync_families *fam;
	bool shrinker, clean, ok;
	struct zap_counts c;
	int tries;
	struct zap_phase p;
	uint64_t zapped;

	if (geteuid()) {
		ksft_test_result_skip("%s: needs root\n", what);
		return;
	}
	shrinker = kvm_has_mmu_shrinker();
	fam = mixed_families(t);
	if (!fam) {
		ksft_test_result_skip("%s: build disturbed\n", what);
		return;
	}
	traced_begin(fam, t, &p, what);
	for (tries = 1; tries <= DROP_CACHES_TRIES; tries++) {
		drop_slab_caches();
		if (!shrinker || zap_vm_stat(fam->uvm->vm, mmu_shadow_zapped) >
					 p.before.mmu_shadow_zapped)
			break;
	}
	traced_end(fam, t, &p, &c);
	zapped = p.delta.mmu_shadow_zapped;
	ksft_print_msg("%s: MMU shrinker: %s; %d writes\n", what,
		       shrinker ? "yes" : "no", min(tries, DROP_CACHES_TRIES));
	ksft_print_msg("%s: in use %lu -> %lu, %lu zaps, %lu traced\n", what,
		       zap_stats_in_use(&p.before), zap_stats_in_use(&p.after),
		       zapped, c.zaps);
	if (t->exact)
		ksft_print_msg("%s: %lu walks asked %lu, freed %lu\n", what,
			       c.walks, c.walk_nr_to_zap, c.walk_total);
	if (t->exact)
		ksft_print_msg("%s: %lu restarts\n", what, c.restarts);

	/*
	 * Whoever shrinks this VM, the MMU shrinker frees its pages through
	 * the budgeted walk, which counts every page it frees as recycled.
	 */
	check_zapped_recycled(&p);
	/*
	 * Dropping every slab cache calls the shrinker until a round of calls
	 * frees (almost) nothing, each call zapping from the first VM with
	 * pages and moving it to the tail of vm_list.  Other VMs on the host
	 * (another instance of this test) may end a write's rounds before
	 * this VM's turn; a VM holding zappable pages gets its turn within a
	 * few writes, and gives some back.
	 */
	if (shrinker)
		TEST_ASSERT(zapped > 0,
			    "%s: no page of this VM zapped in %d writes", what,
			    DROP_CACHES_TRIES);
	clean = !zaps_disturbed(&c, &p);
	if (clean && t->exact) {
		zap_check_unstable(what, &c);
		ok = c.walk_total == c.walk_counted && c.walk_total == zapped;
		TEST_ASSERT(ok,
			    "%s: walks returned %lu, zaps freed %lu, made %lu",
			    what, c.walk_total, c.walk_counted, zapped);
		TEST_ASSERT(!c.past_budget,
			    "%s: %lu zaps after a walk's budget was met", what,
			    c.past_budget);
	}
	check_guest_data(fam);
	unsync_families_free(fam);
	ksft_test_result_pass("%s: %lu zaps%s\n", what, zapped,
			      clean ? "" :
				      " (disturbed: exact checks skipped)");
}

/* The zap of obsolete pages: deleting, then moving the data slot. */
static const bool memslot_move[] = { false, true };

static void test_memslot(struct zap_trace *t, bool move)
{
	const char *what = move ? "memslot move" : "memslot delete";
	struct unsync_families *fam = mixed_families(t);
	uint64_t in_use, zapped;
	struct zap_counts c;
	struct zap_phase p;
	struct kvm_vm *vm;
	bool clean;

	if (!fam) {
		ksft_test_result_skip("%s: build disturbed\n", what);
		return;
	}
	vm = fam->uvm->vm;
	traced_begin(fam, t, &p, what);
	in_use = zap_stats_in_use(&p.before);
	if (move)
		vm_mem_region_move(vm, UNSYNC_DATA_SLOT, MOVED_DATA_GPA);
	else
		memslot_hide(vm, UNSYNC_DATA_SLOT);
	traced_end(fam, t, &p, &c);
	if (move)
		vm_mem_region_move(vm, UNSYNC_DATA_SLOT, UNSYNC_DATA_GPA);
	else
		memslot_restore(vm, UNSYNC_DATA_SLOT);
	ksft_print_msg("%s: %lu in use, %lu zaps (%lu unsync)\n", what, in_use,
		       c.zaps, c.unsync_zaps);
	if (t->exact)
		ksft_print_msg("%s: %lu parents, %lu unstable zaps\n", what,
			       c.parents, c.unstable);

	/*
	 * With KVM_X86_QUIRK_SLOT_ZAP_ALL on, KVM makes every shadow page
	 * obsolete and zaps them all, the live root included, each once:
	 * a walk that went on from a page zapped as an unsync child, instead
	 * of starting over, would zap it twice or lose its place.  A
	 * shrinker that got to some pages first leaves the rest to it.
	 */
	zapped = p.delta.mmu_shadow_zapped;
	TEST_ASSERT(zapped == in_use,
		    "%s: mmu_shadow_zapped +%lu, expected all %lu in use", what,
		    zapped, in_use);
	TEST_ASSERT_EQ(p.after.mmu_unsync, 0);
	clean = !zaps_disturbed(&c, &p);
	if (clean) {
		/* The zap of obsolete pages recycles nothing. */
		TEST_ASSERT_EQ(p.after.mmu_recycled, p.before.mmu_recycled);
		if (t->exact)
			zap_check_unstable(what, &c);
	}
	check_guest_data(fam);
	unsync_families_free(fam);
	ksft_test_result_pass("%s, quirk on: %lu zaps%s\n", what, c.zaps,
			      clean ? "" : " (disturbed)");
}

/*
 * The zaps when the VM goes away.  6.12's kvm_vm_free() deletes every
 * memslot before it closes the VM, so with the zap-all quirk on the first
 * delete zaps every page through the walk over obsolete pages, and
 * kvm_mmu_zap_all() at the VM's release finds none left but the root;
 * 7.3's only closes the VM, and kvm_mmu_zap_all() zaps them all.  Either
 * way each page in use is zapped once.
 */
static void test_teardown(struct zap_trace *t)
{
	static const char what[] = "teardown";
	struct unsync_families *fam = mixed_families(t);
	struct zap_counts c;
	struct zap_phase p;
	uint64_t in_use;

	if (!fam) {
		ksft_test_result_skip("%s: build disturbed\n", what);
		return;
	}
	traced_begin(fam, t, &p, what);
	in_use = zap_stats_in_use(&p.before);
	unsync_vm_free(fam->uvm);
	if (verbose)
		families_print_zaps(fam, t);
	zap_trace_collect(t, &c);
	free(fam);
	ksft_print_msg("%s: %lu in use, %lu zaps (%lu unsync)\n", what, in_use,
		       c.zaps, c.unsync_zaps);
	if (t->exact)
		ksft_print_msg("%s: %lu parents, %lu unstable zaps\n", what,
			       c.parents, c.unstable);

	/*
	 * Every page in use goes, each zapped once; the live root is zapped
	 * once more when its vCPU lets go of it.
	 */
	TEST_ASSERT(!c.lost, "%s: %lu events lost", what, c.lost);
	TEST_ASSERT(c.zaps >= in_use && c.zaps <= in_use + 1,
		    "%s: %lu zaps, expected the %lu pages in use (+1 root)",
		    what, c.zaps, in_use);
	if (t->exact)
		zap_check_unstable(what, &c);
	ksft_test_result_pass("%s: %lu zaps\n", what, c.zaps);
}

int main(int argc, char *argv[])
{
	struct zap_trace trace;
	struct shadow_mmu_opt opts[] = {
		{ 'v', NULL, "print the order of the zaps and more detail",
		  .on = &verbose },
		{}
	};
	int i;

	shadow_mmu_parse_args(argc, argv, opts);
	ksft_print_header();
	/* The families are guest page tables: skips where KVM uses TDP. */
	unsync_mode = UNSYNC_MODE_SHADOW;
	shadow_mmu_require();
	zap_trace_open(&trace);
	ksft_print_msg("exact restart counts: %s\n",
		       trace.exact ? "yes" : trace.why_not_exact);
	/* A result per subtest below, and per entry of its table. */
	ksft_set_plan(1 + ARRAY_SIZE(family_shrinks) + 1 +
		      ARRAY_SIZE(memslot_move) + 1);

	lock_fd = open(LOCK_FILE, O_RDWR | O_CREAT, 0600);
	walk_lock(LOCK_SH);
	test_sync_shrink(&trace);
	test_family_shrinks(&trace);
	walk_lock(LOCK_EX);
	test_drop_caches(&trace);
	walk_lock(LOCK_SH);
	for (i = 0; i < ARRAY_SIZE(memslot_move); i++)
		test_memslot(&trace, memslot_move[i]);
	test_teardown(&trace);
	walk_lock(LOCK_UN);

	zap_trace_close(&trace);
	ksft_finished();
}
