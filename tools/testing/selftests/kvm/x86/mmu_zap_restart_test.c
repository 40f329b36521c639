// SPDX-License-Identifier: GPL-2.0-only
/*
 * The shadow MMU's budgeted zap walk, kvm_mmu_zap_oldest_mmu_pages(): what
 * it leaves when live roots stop it, and what each of its zaps takes along.
 *
 * The walk runs over active_mmu_pages from the oldest page, skips roots in
 * use (zapping one would only make its vCPU build it again), and zaps until
 * the pages it freed reach its budget.  Zapping a parent also zaps its
 * unsync children (and for nested TDP, its children left without a
 * parent), anywhere in the list, so __kvm_mmu_prepare_zap_page() then
 * reports the list unstable and the walk starts over from the oldest page
 * (list_for_each_entry_safe_reverse() survives the removal of the current
 * page only).
 *
 * 1. Stats only (shadow mode): the pool shrunk below the live roots of 32
 *    vCPUs; the limit a shrink leaves when it cannot reach its goal.
 * 2. The kvm_mmu_prepare_zap_page tracepoint (root, tracefs): every zap of
 *    a shrink over sync pages, and over unsync pages, against the stats.
 * 3. Kprobes on the zap functions (where the kernel has kprobe events):
 *    the zaps' call tree, which makes the walk's restarts and its stop
 *    exact.
 * 4. -s: the root skew, a timing: a walk that restarted after every zap
 *    would pass the live roots once per zap.
 */
#include <errno.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"
#include "unsync_vm.h"
#include "zap_trace.h"

static u64 nr_pages = 2048;
static bool skew_only;
static bool verbose;

/*
 * The guest: its own mappings first, then every data page, then each time
 * the host runs it again, it reads the data back (which rebuilds what the
 * host zapped meanwhile) and unsyncs the level-1 tables of its layout.
 */
enum {
	STAGE_BOOTED = 1,	/* the guest's own mappings are shadowed */
	STAGE_SHADOWED,		/* ... and every data page's tables */
	STAGE_BUILT,		/* data read back, the layout's tables unsync */
};

enum layout {
	LAYOUT_SYNC,		/* no table written */
	LAYOUT_UNSYNC,		/* every data page's level-1 table */
	LAYOUT_FAMILIES,	/* 1 table below the first level-2 table, then all */
};

static enum layout layout;

static void guest_code(u64 nr_pages)
{
	GUEST_SYNC(STAGE_BOOTED);
	unsync_guest_write_data(0, nr_pages);
	GUEST_SYNC(STAGE_SHADOWED);
	for (;;) {
		unsync_guest_check_data(0, nr_pages);
		if (READ_ONCE(layout) == LAYOUT_UNSYNC) {
			unsync_guest_write_tables(0, nr_pages);
		} else if (READ_ONCE(layout) == LAYOUT_FAMILIES) {
			unsync_guest_write_tables(0, 1);
			unsync_guest_write_tables(UNSYNC_TABLES_PER_PARENT,
						  nr_pages - UNSYNC_TABLES_PER_PARENT);
		}
		GUEST_SYNC(STAGE_BUILT);
	}
}

static struct unsync_vm *vm_create_layout(u64 nr, u32 nr_vcpus, enum layout l)
{
	struct unsync_vm *uvm = unsync_vm_create(nr, nr_vcpus, guest_code);

	layout = l;
	sync_global_to_guest(uvm->vm, layout);
	return uvm;
}

static u64 zapped(const struct unsync_stats *b, const struct unsync_stats *a)
{
	return a->mmu_shadow_zapped - b->mmu_shadow_zapped;
}

static u64 recycled(const struct unsync_stats *b, const struct unsync_stats *a)
{
	return a->mmu_recycled - b->mmu_recycled;
}

/*
 * Root vCPUs: each loads copies of the guest's top-level table, each
 * becoming a live root (a vCPU's current root and the KVM_MMU_NUM_PREV_ROOTS
 * it caches), again each time the host runs it, then stops on a write to
 * ROOTS_DONE_PORT.  Not in a ucall: libkvm's pool of ucall structs has
 * KVM_MAX_VCPUS (512) entries, and a vCPU that stops in a ucall and never
 * runs again keeps its struct, while the root skew needs ~1024 vCPUs.
 */
#define ROOTS_PER_VCPU		4
#define ROOTS_DONE_PORT		0x80

static void root_guest_code(u64 cr3_0, u64 cr3_1, u64 cr3_2, u64 cr3_3)
{
	u64 cr3[ROOTS_PER_VCPU] = { cr3_0, cr3_1, cr3_2, cr3_3 };
	int i;

	for (;;) {
		for (i = 0; i < ROOTS_PER_VCPU; i++)
			asm volatile("mov %0, %%cr3" : : "r"(cr3[i]) : "memory");
		asm volatile("outb %%al, %%dx" : : "a"(0), "d"(ROOTS_DONE_PORT));
	}
}

struct root_vcpu {
	struct kvm_vcpu *vcpu;
	u64 cr3[ROOTS_PER_VCPU];
};

/* Run a root vCPU once more: 0 once it got to ROOTS_DONE_PORT, else errno. */
static int root_vcpu_run(struct kvm_vcpu *vcpu)
{
	if (_vcpu_run(vcpu))
		return errno;
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	TEST_ASSERT(vcpu->run->io.port == ROOTS_DONE_PORT,
		    "vCPU %u: I/O to port 0x%x, expected 0x%x", vcpu->id,
		    vcpu->run->io.port, ROOTS_DONE_PORT);
	return 0;
}

/*
 * Add @nr vCPUs (ids 1..@nr) that load ROOTS_PER_VCPU copies of the top
 * level table: the same copies for all with @shared (the VM has
 * ROOTS_PER_VCPU live roots however many vCPUs), else copies of their own.
 */
static void add_root_vcpus(struct unsync_vm *uvm, struct root_vcpu *rv, u32 nr,
			   bool shared)
{
	struct kvm_vm *vm = uvm->vm;
	u32 v, i;
	int err;

	for (v = 0; v < nr; v++) {
		rv[v].vcpu = vm_vcpu_add(vm, v + 1, root_guest_code);
		for (i = 0; i < ROOTS_PER_VCPU; i++) {
			if (shared && v) {
				rv[v].cr3[i] = rv[0].cr3[i];
				continue;
			}
			rv[v].cr3[i] = vm_phy_page_alloc(vm, UNSYNC_PT_GPA,
							 UNSYNC_PT_SLOT);
			memcpy(addr_gpa2hva(vm, rv[v].cr3[i]),
			       addr_gpa2hva(vm, vm->mmu.pgd), PAGE_SIZE);
		}
		vcpu_args_set(rv[v].vcpu, ROOTS_PER_VCPU, rv[v].cr3[0],
			      rv[v].cr3[1], rv[v].cr3[2], rv[v].cr3[3]);
		err = root_vcpu_run(rv[v].vcpu);
		TEST_ASSERT(!err, "vCPU %u: KVM_RUN failed (%s), expected it to load its roots",
			    v + 1, strerror(err));
	}
}

/*
 * 1. The pool below the live roots: 32 root vCPUs, 129 live roots with vCPU
 * 0's, against the 64-page minimum, in a VM of a few sync pages.
 */
#define POOL_ROOT_VCPUS		32
#define POOL_DATA_PAGES		256
#define POOL_LIVE_ROOTS		(ROOTS_PER_VCPU * POOL_ROOT_VCPUS + 1)
/* Root vCPUs whose roots the limit check lets go: more than KVM_REFILL_PAGES. */
#define UNLOADED_VCPUS		8
/* The goal above the pages in use that the limit check gives the root vCPUs. */
#define LIMIT_HEADROOM		32
/*
 * make_mmu_pages_available() only makes sure one page is available before
 * a fault or a root load that may take up to four (its comment).
 */
#define FAULT_SLACK		4

#define POOL_BELOW_ROOTS	"pool below the live roots"
#define POOL_LIMIT		"pool limit after a shrink that cannot reach its goal"

struct pool_vm {
	struct unsync_vm *uvm;
	struct root_vcpu rv[POOL_ROOT_VCPUS];
	u64 pool;
};

/* Raise the goal to the whole pool: every vCPU runs, the data is intact. */
static void pool_restore(struct pool_vm *p, const char *what)
{
	int v, err;

	unsync_set_pool(p->uvm->vm, p->pool);
	for (v = 0; v < POOL_ROOT_VCPUS; v++) {
		err = root_vcpu_run(p->rv[v].vcpu);
		TEST_ASSERT(!err,
			    "%s: vCPU %u: KVM_RUN failed (%s) with the goal back at %lu, expected it to run",
			    what, p->rv[v].vcpu->id, strerror(err), p->pool);
	}
	unsync_vcpu_run(p->uvm->vcpu, STAGE_BUILT);
}

/* Shrink to the minimum, below the live roots. */
static void pool_shrink(struct pool_vm *p, const char *what,
			struct unsync_stats *b, struct unsync_stats *a)
{
	unsync_stats_read(p->uvm->vm, b);
	unsync_set_pool(p->uvm->vm, UNSYNC_MIN_POOL_PAGES);
	unsync_stats_read(p->uvm->vm, a);
	ksft_print_msg("%s: goal %d, %u live roots: in use %lu -> %lu, zapped %lu, recycled %lu\n",
		       what, UNSYNC_MIN_POOL_PAGES, POOL_LIVE_ROOTS, b->in_use,
		       a->in_use, zapped(b, a), recycled(b, a));

	/*
	 * The walk skips roots in use, so every page it zaps is freed and
	 * counted once in mmu_shadow_zapped and once in mmu_recycled (a root
	 * in use zapped would count in mmu_shadow_zapped only).
	 */
	TEST_ASSERT(zapped(b, a) == recycled(b, a),
		    "%s: mmu_shadow_zapped +%lu, mmu_recycled +%lu, expected equal",
		    what, zapped(b, a), recycled(b, a));
	/*
	 * The goal is out of reach, so the walk goes past every live root to
	 * the end of the list and zaps every other page: what is left in use
	 * is the live roots at most.
	 */
	TEST_ASSERT(a->in_use <= POOL_LIVE_ROOTS,
		    "%s: %lu pages in use, expected <= the %u live roots", what,
		    a->in_use, POOL_LIVE_ROOTS);
}

static void test_pool_below_roots(struct pool_vm *p)
{
	static const char what[] = POOL_BELOW_ROOTS;
	struct unsync_stats b, a, runs;
	int v, err;

	pool_shrink(p, what, &b, &a);

	/*
	 * Having settled for more pages than its goal, the shrink leaves the
	 * limit at what was left in use: no page is available.  Every page
	 * under the roots is gone, so every root vCPU needs a new one as soon
	 * as it runs, and make_mmu_pages_available() finds nothing to recycle
	 * (only roots in use are left): upstream KVM then fails KVM_RUN with
	 * ENOSPC rather than grow the pool past its limit.  A shrink that kept
	 * the old, larger limit because it fell short of its goal would let
	 * every vCPU run here.
	 */
	for (v = 0; v < POOL_ROOT_VCPUS; v++) {
		err = root_vcpu_run(p->rv[v].vcpu);
		TEST_ASSERT(err == ENOSPC,
			    "%s: vCPU %u: KVM_RUN: %s, expected ENOSPC (the shrink left %lu pages in use, all live roots)",
			    what, p->rv[v].vcpu->id,
			    err ? strerror(err) : "success", a.in_use);
	}

	/* A vCPU that got no page added none; nothing was zapped either. */
	unsync_stats_read(p->uvm->vm, &runs);
	ksft_print_msg("%s: %d vCPUs got ENOSPC, in use %lu -> %lu\n", what,
		       POOL_ROOT_VCPUS, a.in_use, runs.in_use);
	TEST_ASSERT(runs.in_use <= a.in_use,
		    "%s: %lu pages in use after the vCPUs ran, %lu before, expected no more",
		    what, runs.in_use, a.in_use);

	pool_restore(p, what);
	ksft_test_result_pass("%s\n", what);
}

/* Drop every root of @rv's vCPU: KVM_SET_SREGS with another CR3. */
static void unload_roots(struct root_vcpu *rv)
{
	struct kvm_sregs sregs;

	vcpu_sregs_get(rv->vcpu, &sregs);
	sregs.cr3 = sregs.cr3 == rv->cr3[0] ? rv->cr3[1] : rv->cr3[0];
	vcpu_sregs_set(rv->vcpu, &sregs);
}

static void test_pool_limit(struct pool_vm *p)
{
	static const char what[] = POOL_LIMIT;
	struct unsync_stats b, a, u, r, g;
	u64 limit, goal;
	int v, err, ran;

	pool_shrink(p, what, &b, &a);
	limit = a.in_use;

	/*
	 * How many pages may the VM hold when it builds again?  The limit the
	 * shrink left is what it left in use: not the old, larger limit (the
	 * goal was not reached, but the pool was asked to shrink), and not the
	 * goal below what is in use (the pages the walk could not zap are
	 * there).  To see which, some vCPUs let go of their roots (a CR3 that
	 * KVM_SET_SREGS changes resets the MMU): those pages stay in use, no
	 * longer roots, so the walk may zap them.  A root vCPU that needs
	 * pages then has make_mmu_pages_available() zap KVM_REFILL_PAGES (25)
	 * of them, which leaves 25 available under a limit at what was in
	 * use, enough for its 4 roots' tables, and none under one at the goal.
	 */
	for (v = 0; v < UNLOADED_VCPUS; v++)
		unload_roots(&p->rv[v]);
	unsync_stats_read(p->uvm->vm, &u);
	err = root_vcpu_run(p->rv[UNLOADED_VCPUS].vcpu);
	unsync_stats_read(p->uvm->vm, &r);
	ksft_print_msg("limit: %d vCPUs let go of their roots, then vCPU %u: %s\n",
		       UNLOADED_VCPUS, p->rv[UNLOADED_VCPUS].vcpu->id,
		       err ? strerror(err) : "ran");
	ksft_print_msg("limit: in use %lu -> %lu, recycled %lu\n", u.in_use,
		       r.in_use, recycled(&u, &r));
	TEST_ASSERT(!err,
		    "%s: vCPU %u: KVM_RUN failed (%s) with %lu former roots to recycle, expected it to run (a limit below the %lu pages left in use?)",
		    what, p->rv[UNLOADED_VCPUS].vcpu->id, strerror(err),
		    UNLOADED_VCPUS * (u64)ROOTS_PER_VCPU, limit);
	/*
	 * Under the limit at what was left in use, the vCPU's pages come from
	 * what it recycled: a limit left at the old pool would let it take
	 * them on top.
	 */
	TEST_ASSERT(r.in_use <= limit + FAULT_SLACK,
		    "%s: %lu pages in use after vCPU %u ran, expected <= %lu (+%d): the old limit kept?",
		    what, r.in_use, p->rv[UNLOADED_VCPUS].vcpu->id, limit,
		    FAULT_SLACK);

	/*
	 * A goal above what is in use is the new limit: the root vCPUs fault
	 * in pages (recycling each other's) while one is available, which
	 * never takes the pool more than a fault's worth past the goal.  The
	 * first vCPU has LIMIT_HEADROOM pages for its roots' tables.
	 */
	goal = r.in_use + LIMIT_HEADROOM;
	unsync_set_pool(p->uvm->vm, goal);
	for (v = 0, ran = 0; v < POOL_ROOT_VCPUS; v++) {
		err = root_vcpu_run(p->rv[v].vcpu);
		TEST_ASSERT(!err || err == ENOSPC,
			    "%s: vCPU %u: KVM_RUN failed (%s), expected success or ENOSPC",
			    what, p->rv[v].vcpu->id, strerror(err));
		ran += !err;
		if (verbose)
			ksft_print_msg("limit: vCPU %u: %s\n", p->rv[v].vcpu->id,
				       err ? strerror(err) : "ran");
	}
	unsync_stats_read(p->uvm->vm, &g);
	ksft_print_msg("limit: goal %lu: %d of %d vCPUs ran, in use %lu -> %lu\n",
		       goal, ran, POOL_ROOT_VCPUS, r.in_use, g.in_use);
	TEST_ASSERT(g.in_use <= goal + FAULT_SLACK,
		    "%s: %lu pages in use, expected <= the goal %lu (+%d)",
		    what, g.in_use, goal, FAULT_SLACK);
	TEST_ASSERT(ran, "%s: no vCPU ran with %d pages available, expected at least one",
		    what, LIMIT_HEADROOM);

	pool_restore(p, what);
	ksft_test_result_pass("%s\n", what);
}

static void test_pool(void)
{
	struct pool_vm p;

	if (unsync_mode == UNSYNC_MODE_NESTED) {
		ksft_print_msg("the pool below live roots: shadow mode only\n");
		ksft_test_result_skip("%s\n", POOL_BELOW_ROOTS);
		ksft_test_result_skip("%s\n", POOL_LIMIT);
		return;
	}
	if (kvm_check_cap(KVM_CAP_MAX_VCPUS) <= POOL_ROOT_VCPUS) {
		ksft_print_msg("KVM_CAP_MAX_VCPUS %u\n", kvm_check_cap(KVM_CAP_MAX_VCPUS));
		ksft_print_msg("the pool below live roots: too few vCPUs\n");
		ksft_test_result_skip("%s\n", POOL_BELOW_ROOTS);
		ksft_test_result_skip("%s\n", POOL_LIMIT);
		return;
	}
	p.uvm = vm_create_layout(POOL_DATA_PAGES, 1 + POOL_ROOT_VCPUS, LAYOUT_SYNC);
	p.pool = unsync_pool_pages(POOL_DATA_PAGES);
	add_root_vcpus(p.uvm, p.rv, POOL_ROOT_VCPUS, false);
	unsync_vcpu_run(p.uvm->vcpu, STAGE_BOOTED);
	unsync_vcpu_run(p.uvm->vcpu, STAGE_SHADOWED);

	test_pool_below_roots(&p);
	test_pool_limit(&p);
	unsync_vm_free(p.uvm);
}

/*
 * 2. and 3.: a shrink to the minimum, captured.  Shadow mode's unsync pages
 * come in families: the shadow page of a level-2 table (the parent) and
 * those of the 512 level-1 tables below it, the oldest pages of the VM
 * (their level-3 table made newer than they are); the first family has
 * one unsync child, the others 512.  So the walk meets a parent that takes
 * exactly one child (its next page in the list), and each parent's zap
 * leaves the walk short of its budget: it must start over.
 */
struct capture {
	const char *what;
	struct unsync_stats b, a;
	struct zap_trace_counts c;
	u64 nr_to_zap;
	const char *skip;	/* why parts 2 and 3 could not judge it */
};

static void traced_shrink(struct zap_trace *t, struct unsync_vm *uvm,
			  struct capture *s)
{
	struct zap_trace_counts *c = &s->c;

	unsync_stats_read(uvm->vm, &s->b);
	zap_trace_start(t);
	unsync_set_pool(uvm->vm, UNSYNC_MIN_POOL_PAGES);
	zap_trace_stop(t, c);
	unsync_stats_read(uvm->vm, &s->a);
	s->nr_to_zap = s->b.in_use - UNSYNC_MIN_POOL_PAGES;
	ksft_print_msg("%s: in use %lu -> %lu, zapped %lu, recycled %lu, unsync %lu -> %lu\n",
		       s->what, s->b.in_use, s->a.in_use, zapped(&s->b, &s->a),
		       recycled(&s->b, &s->a), s->b.mmu_unsync, s->a.mmu_unsync);
	ksft_print_msg("%s: %lu zap events (%lu unsync), %lu lost\n", s->what,
		       c->zaps, c->unsync_zaps, c->lost);
	if (t->probes) {
		ksft_print_msg("%s: %lu top-level zaps, %lu took %lu pages along\n",
			       s->what, c->top_level, c->parents, c->nested);
		ksft_print_msg("%s: walk asked %lu, freed %lu, returned %lu, %lu restarts\n",
			       s->what, c->walk_nr_to_zap, c->walk_counted,
			       c->walk_total, c->restarts);
	}
	if (c->lost)
		s->skip = "the trace lost events";
}

/* Part 2: the tracepoint against the stats. */
static void check_trace(const struct capture *s)
{
	const struct zap_trace_counts *c = &s->c;

	if (s->skip)
		return;
	/* Each zap fires the tracepoint once and bumps the stat once. */
	TEST_ASSERT(c->zaps == zapped(&s->b, &s->a),
		    "%s: %lu zap events, expected mmu_shadow_zapped +%lu",
		    s->what, c->zaps, zapped(&s->b, &s->a));
	/* Zapping an unsync page takes it off the unsync gauge once. */
	TEST_ASSERT(c->unsync_zaps == s->b.mmu_unsync - s->a.mmu_unsync,
		    "%s: %lu unsync pages zapped, expected mmu_unsync's fall %lu -> %lu",
		    s->what, c->unsync_zaps, s->b.mmu_unsync, s->a.mmu_unsync);
}

/* Whether the probes can be read; NULL if so, else why not. */
static const char *probes_skip;
/* Whether the walk's return value can be read; NULL if so, else why not. */
static const char *returns_skip;

/*
 * On 7.3 no caller uses kvm_mmu_zap_oldest_mmu_pages()'s return value (the
 * MMU shrinker, the last that did, went in 6.13), so GCC's IPA-SRA makes a
 * clone that returns nothing, and a return probe reads whatever is in rax.
 * The function itself keeps its C return value (the ABI); so does a clone
 * on kernels whose shrinker still adds the value up.
 */
static const char *walk_return_unreadable(const struct zap_trace *t)
{
	int major = 0, minor = 0, i;
	struct utsname u;
	bool clone = false;

	for (i = 0; i < t->nr_walk_syms; i++)
		clone |= zap_trace_sym_is_clone(t->walk_syms[i]);
	TEST_ASSERT(!uname(&u), "uname() failed, errno %d", errno);
	if (clone && (sscanf(u.release, "%d.%d", &major, &minor) != 2 ||
		      major > 6 || (major == 6 && minor >= 13)))
		return "the walk's clone returns nothing (no caller uses the value since 6.13)";
	return NULL;
}

#define NESTED_COUNT_HINT " (a recursive nested zap counted as one page? see \"KVM: x86/mmu: Count every page a recursive nested TDP zap frees\")"

/* Part 3: what every zap and the walk did, from the probes. */
static void check_probes(struct zap_trace *t, struct capture *s)
{
	const struct zap_trace_counts *c = &s->c;
	int i;

	if (s->skip || probes_skip)
		return;
	/* KVM_SET_NR_MMU_PAGES walks once, asked for what is above the goal. */
	TEST_ASSERT(c->walks == 1, "%s: %lu walks, expected 1", s->what, c->walks);
	if (c->walk_nr_to_zap != s->nr_to_zap) {
		/*
		 * Where only clones were probed, IPA-SRA may have moved the
		 * argument: then the probes cannot say what the walk was asked.
		 */
		for (i = 0; i < t->nr_walk_syms; i++)
			TEST_ASSERT(zap_trace_sym_is_clone(t->walk_syms[i]),
				    "%s: the walk was asked for %lu pages, expected in use - goal = %lu",
				    s->what, c->walk_nr_to_zap, s->nr_to_zap);
		ksft_print_msg("%s: the probe on %s reads nr_to_zap %lu, in use - goal is %lu\n",
			       s->what, t->walk_syms[0], c->walk_nr_to_zap,
			       s->nr_to_zap);
		probes_skip = "a probe cannot read the walk's nr_to_zap";
		return;
	}

	/*
	 * A zap reports the list unstable exactly when it took pages along:
	 * one child may have been the walk's next page, no child cannot.
	 */
	TEST_ASSERT(!c->unstable_no_children,
		    "%s: %lu zaps reported the list unstable but took no page along, expected none",
		    s->what, c->unstable_no_children);
	TEST_ASSERT(!c->children_not_unstable,
		    "%s: %lu zaps took pages along but reported the list stable, expected none",
		    s->what, c->children_not_unstable);

	/*
	 * Each zap tells the walk how many pages it freed, itself and every
	 * page below it (a nested TDP child's zap counts its own children),
	 * and the walk adds that to mmu_recycled: every page freed, counted
	 * once.
	 */
	TEST_ASSERT(c->walk_counted == recycled(&s->b, &s->a),
		    "%s: the zaps freed %lu pages, mmu_recycled +%lu, expected equal%s",
		    s->what, c->walk_counted, recycled(&s->b, &s->a),
		    unsync_mode == UNSYNC_MODE_NESTED ? NESTED_COUNT_HINT : "");
	/* The walk returns that total. */
	TEST_ASSERT(returns_skip || c->walk_total == c->walk_counted,
		    "%s: the walk returned %lu, its zaps freed %lu, expected equal",
		    s->what, c->walk_total, c->walk_counted);

	/*
	 * The walk stops at the first zap that reaches its budget, and not
	 * before: the pages beyond the live roots are plenty.
	 */
	TEST_ASSERT(!c->past_budget,
		    "%s: %lu zaps after the walk had freed the %lu pages asked, expected none",
		    s->what, c->past_budget, c->walk_nr_to_zap);
	TEST_ASSERT(c->walk_counted >= c->walk_nr_to_zap,
		    "%s: the walk freed %lu pages, expected the %lu asked",
		    s->what, c->walk_counted, c->walk_nr_to_zap);
}

/* The largest zap count of the shrinks, for the trace buffer. */
static u64 max_zaps(void)
{
	return nr_pages + nr_pages / 256 + 256;
}

static void capture_sync(struct zap_trace *t, struct capture *s)
{
	struct unsync_vm *uvm;

	uvm = vm_create_layout(nr_pages, 1, LAYOUT_SYNC);
	unsync_vcpu_run(uvm->vcpu, STAGE_BOOTED);
	unsync_vcpu_run(uvm->vcpu, STAGE_SHADOWED);
	traced_shrink(t, uvm, s);
	TEST_ASSERT_EQ(s->b.mmu_unsync, 0);
	check_trace(s);
	check_probes(t, s);
	/*
	 * Shadow mode: a sync page has no unsync child to take along (a
	 * nested TDP zap also takes children left without a parent): no zap
	 * takes pages along, none makes the list unstable, and the walk
	 * never restarts.
	 */
	if (!s->skip && !probes_skip && unsync_mode == UNSYNC_MODE_SHADOW) {
		TEST_ASSERT(!s->c.nested && !s->c.unstable && !s->c.restarts,
			    "%s: %lu zaps taken along, %lu unstable, %lu restarts, expected none",
			    s->what, s->c.nested, s->c.unstable, s->c.restarts);
	}
	unsync_vcpu_run(uvm->vcpu, STAGE_BUILT);
	unsync_vm_free(uvm);
}

/*
 * Shadow mode: make the families the oldest pages.  The guest's own
 * mappings are shadowed first (root and all), then the data's tables: the
 * level-3 table, then each level-2 table followed by its level-1 tables.
 * A shrink by as many pages as were in use before the data zaps exactly
 * the pages older than the first parent but the root: the guest's own
 * mappings and the level-3 table, all sync, one page per zap.  Reading
 * the data back makes those again, as the newest pages; then the guest
 * unsyncs its tables.  Every step is checked, so that another layout
 * fails here rather than in the figures of the shrink.
 */
static struct unsync_vm *families_create(void)
{
	u64 parents = nr_pages / UNSYNC_TABLES_PER_PARENT, older;
	struct unsync_stats booted, shadowed, trimmed, built;
	struct unsync_vm *uvm;
	struct kvm_vm *vm;

	uvm = vm_create_layout(nr_pages, 1, LAYOUT_FAMILIES);
	vm = uvm->vm;
	unsync_vcpu_run(uvm->vcpu, STAGE_BOOTED);
	unsync_stats_read(vm, &booted);
	unsync_vcpu_run(uvm->vcpu, STAGE_SHADOWED);
	unsync_stats_read(vm, &shadowed);
	TEST_ASSERT(shadowed.in_use == booted.in_use + 1 + parents + nr_pages,
		    "Families: %lu pages in use, expected %lu + 1 level-3 + %lu level-2 + %lu level-1",
		    shadowed.in_use, booted.in_use, parents, nr_pages);

	older = booted.in_use;
	unsync_set_pool(vm, shadowed.in_use - older);
	unsync_stats_read(vm, &trimmed);
	TEST_ASSERT(zapped(&shadowed, &trimmed) == older &&
		    trimmed.in_use == shadowed.in_use - older,
		    "Families: zapping the %lu pages older than the first parent: %lu zapped, %lu in use, expected %lu",
		    older, zapped(&shadowed, &trimmed), trimmed.in_use,
		    shadowed.in_use - older);

	unsync_set_pool(vm, unsync_pool_pages(nr_pages));
	unsync_vcpu_run(uvm->vcpu, STAGE_BUILT);
	unsync_stats_read(vm, &built);
	if (verbose)
		ksft_print_msg("families: in use %lu, %lu, %lu, %lu, %lu unsync\n",
			       booted.in_use, shadowed.in_use, trimmed.in_use,
			       built.in_use, built.mmu_unsync);
	TEST_ASSERT(built.mmu_unsync == 1 + nr_pages - UNSYNC_TABLES_PER_PARENT,
		    "Families: mmu_unsync %lu, expected %lu", built.mmu_unsync,
		    1 + nr_pages - UNSYNC_TABLES_PER_PARENT);
	TEST_ASSERT_EQ(built.mmu_shadow_zapped, trimmed.mmu_shadow_zapped);
	return uvm;
}

static void capture_unsync(struct zap_trace *t, struct capture *s)
{
	struct unsync_vm *uvm;

	if (unsync_mode == UNSYNC_MODE_SHADOW) {
		uvm = families_create();
	} else {
		uvm = vm_create_layout(nr_pages, 1, LAYOUT_UNSYNC);
		unsync_vcpu_run(uvm->vcpu, STAGE_BOOTED);
		unsync_vcpu_run(uvm->vcpu, STAGE_SHADOWED);
		unsync_vcpu_run(uvm->vcpu, STAGE_BUILT);
	}
	traced_shrink(t, uvm, s);
	TEST_ASSERT(s->b.mmu_unsync, "%s: no unsync page before the shrink", s->what);
	check_trace(s);
	check_probes(t, s);
	/*
	 * The walk meets a parent of unsync pages before any of them (a
	 * parent is older than its children), and its zap takes them along.
	 * Shadow mode: each family's zap leaves the walk short of its budget
	 * (only the last can reach it), so it starts over.
	 */
	if (!s->skip && !probes_skip) {
		TEST_ASSERT(s->c.nested && s->c.parents,
			    "%s: %lu unsync pages zapped, %lu zaps made inside another, expected some",
			    s->what, s->c.unsync_zaps, s->c.nested);
		TEST_ASSERT(unsync_mode == UNSYNC_MODE_NESTED || s->c.restarts,
			    "%s: %lu parents took pages along, the walk never restarted, expected it to",
			    s->what, s->c.parents);
	}
	unsync_vcpu_run(uvm->vcpu, STAGE_BUILT);
	unsync_vm_free(uvm);
}

/* The results of parts 2 and 3, in their order. */
static const char *const trace_results[] = {
	"trace: zap events match the stats, shrink over sync pages",
	"trace: zap events match the stats, shrink over unsync pages",
	"probes: zap call tree of a shrink over sync pages",
	"probes: zap call tree of a shrink over unsync pages",
	"probes: walk return values",
};

static void result(int i, const char *skip)
{
	if (skip) {
		ksft_print_msg("%s: %s\n", trace_results[i], skip);
		ksft_test_result_skip("%s\n", trace_results[i]);
	} else {
		ksft_test_result_pass("%s\n", trace_results[i]);
	}
}

static void test_traced_shrinks(void)
{
	struct capture sync = { .what = "shrink over sync pages" };
	struct capture unsync = { .what = "shrink over unsync pages" };
	const char *why;
	struct zap_trace t;
	int i;

	why = zap_trace_open(&t, max_zaps());
	if (why) {
		for (i = 0; i < ARRAY_SIZE(trace_results); i++)
			result(i, why);
		return;
	}
	probes_skip = t.probes ? NULL : t.why_no_probes;
	for (i = 0; t.probes && i < t.nr_walk_syms; i++)
		ksft_print_msg("probed %s\n", t.walk_syms[i]);
	for (i = 0; t.probes && i < t.nr_zap_syms; i++)
		ksft_print_msg("probed %s\n", t.zap_syms[i]);
	if (t.probes)
		returns_skip = walk_return_unreadable(&t);

	capture_sync(&t, &sync);
	result(0, sync.skip);
	capture_unsync(&t, &unsync);
	result(1, unsync.skip);
	zap_trace_close(&t);

	result(2, sync.skip ?: probes_skip);
	result(3, unsync.skip ?: probes_skip);
	if (returns_skip && !probes_skip)
		ksft_print_msg("the walks returned %lu and %lu, their zaps freed %lu and %lu\n",
			       sync.c.walk_total, unsync.c.walk_total,
			       sync.c.walk_counted, unsync.c.walk_counted);
	result(4, probes_skip ?: sync.skip ?: unsync.skip ?: returns_skip);
}

/*
 * 4. The root skew.  A walk that restarts only when the list is unstable
 * passes the live roots at the oldest end once per shrink of sync pages;
 * one that restarts after every zap passes them once per zap.  Two VMs,
 * the same sync pages and as many vCPUs: in one the vCPUs share
 * ROOTS_PER_VCPU roots (the control), in the other each has its own.
 * Everything that scales with the vCPUs costs both alike, so the ratio of
 * their shrinks' CPU time isolates the walk past the extra roots.  Measured:
 * a correct kernel 1.09-1.31 (PVM host, 1.86 with 4 instances at once),
 * 1.15 (stock 6.12 under QEMU); one that restarts after every zap 6.7 (the
 * restart-always mutant of 6.12 under QEMU).
 */
#define SKEW_ROOT_VCPUS		1023	/* 1024 with vCPU 0: x86 KVM's limit */
#define SKEW_MIN_PAGES		8192
#define TIMING_REPS		5
#define MAX_TIMING_REPS		25
#define MAX_ROOT_SLOWDOWN	3.0

struct skew_vm {
	struct unsync_vm *uvm;
	struct root_vcpu *rv;
	u64 pool;
	u64 roots;		/* shadow pages in use before the build */
	double best_ms;
};

static void skew_vm_create(struct skew_vm *s, u64 pages, u32 nr_vcpus,
			   bool shared)
{
	struct unsync_stats st;

	s->uvm = vm_create_layout(pages, nr_vcpus + 1, LAYOUT_SYNC);
	s->rv = calloc(nr_vcpus, sizeof(*s->rv));
	TEST_ASSERT(s->rv, "calloc() failed");
	s->pool = unsync_pool_pages(pages) + ROOTS_PER_VCPU * nr_vcpus;
	unsync_set_pool(s->uvm->vm, s->pool);
	add_root_vcpus(s->uvm, s->rv, nr_vcpus, shared);
	unsync_stats_read(s->uvm->vm, &st);
	s->roots = st.in_use;
	unsync_vcpu_run(s->uvm->vcpu, STAGE_BOOTED);
	unsync_vcpu_run(s->uvm->vcpu, STAGE_SHADOWED);
	s->best_ms = 0;
}

/*
 * CPU time of the calling thread, in ms: KVM_SET_NR_MMU_PAGES zaps in the
 * calling thread, and other tasks on the CPU add nothing to it.
 */
static double thread_cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return timespec_to_ns(ts) / 1e6;
}

/* Build the sync pages again and time their shrink to the minimum. */
static void skew_vm_shrink(struct skew_vm *s)
{
	double start, ms;

	unsync_set_pool(s->uvm->vm, s->pool);
	unsync_vcpu_run(s->uvm->vcpu, STAGE_BUILT);
	start = thread_cpu_ms();
	unsync_set_pool(s->uvm->vm, UNSYNC_MIN_POOL_PAGES);
	ms = thread_cpu_ms() - start;
	if (!s->best_ms || ms < s->best_ms)
		s->best_ms = ms;
}

static void test_root_skew(void)
{
	static const char what[] = "root skew timing";
	u64 pages = max_t(u64, nr_pages, SKEW_MIN_PAGES);
	struct skew_vm few, many;
	double ratio;
	u32 nr;
	int rep;

	if (unsync_mode == UNSYNC_MODE_NESTED) {
		ksft_print_msg("%s: shadow mode only\n", what);
		ksft_test_result_skip("%s\n", what);
		return;
	}
	nr = min_t(u32, SKEW_ROOT_VCPUS, kvm_check_cap(KVM_CAP_MAX_VCPUS) - 1);
	/* Both VMs' vCPUs at once (__vm_create() counts one VM's). */
	kvm_set_files_rlimit(2 * (nr + 1));
	skew_vm_create(&few, pages, nr, true);
	skew_vm_create(&many, pages, nr, false);
	/*
	 * The shrinks in turns (other load slows both alike), the fastest of
	 * each counts; a ratio near the bound earns more turns.
	 */
	for (rep = 0; rep < MAX_TIMING_REPS; rep++) {
		skew_vm_shrink(&few);
		skew_vm_shrink(&many);
		ratio = many.best_ms / few.best_ms;
		if (rep + 1 >= TIMING_REPS &&
		    (ratio < MAX_ROOT_SLOWDOWN * 3 / 4 || ratio > MAX_ROOT_SLOWDOWN * 2))
			break;
	}
	ksft_print_msg("%s: shrink of %lu sync pages, %u vCPUs, best of %d:\n",
		       what, pages, nr + 1, rep + (rep < MAX_TIMING_REPS));
	ksft_print_msg("%s: %.2f ms CPU behind %lu pages, %.2f behind %lu\n",
		       what, few.best_ms, few.roots, many.best_ms, many.roots);
	ksft_print_msg("%s: ratio %.2f (bound %.1f)\n", what, ratio,
		       MAX_ROOT_SLOWDOWN);
	TEST_ASSERT(ratio < MAX_ROOT_SLOWDOWN,
		    "Shrink %.1fx slower behind %lu roots than %lu, expected < %.1fx",
		    ratio, many.roots, few.roots, MAX_ROOT_SLOWDOWN);
	unsync_vm_free(few.uvm);
	unsync_vm_free(many.uvm);
	free(few.rv);
	free(many.rv);
	ksft_test_result_pass("%s\n", what);
}

static void help(const char *name, int status)
{
	printf("usage: %s [-h] [-n pages] [-m shadow|nested] [-s] [-v]\n", name);
	printf(" -n: data pages of the traced shrinks, a multiple of %u, %u..%u (default %lu)\n",
	       UNSYNC_TABLES_PER_PARENT, 2 * UNSYNC_TABLES_PER_PARENT,
	       64 * UNSYNC_TABLES_PER_PARENT, nr_pages);
	printf(" -m: shadow or nested mode (default: what KVM can run)\n");
	printf(" -s: only the root skew timing (~1024 vCPUs, CPU time ratio)\n");
	printf(" -v: print more detail\n");
	exit(status);
}

int main(int argc, char *argv[])
{
	int opt;

	while ((opt = getopt(argc, argv, "hn:m:sv")) != -1) {
		switch (opt) {
		case 'n':
			nr_pages = atoi_positive("Data pages", optarg);
			break;
		case 'm':
			unsync_mode_parse(optarg);
			break;
		case 's':
			skew_only = true;
			break;
		case 'v':
			verbose = true;
			break;
		case 'h':
		default:
			help(argv[0], opt == 'h' ? 0 : KSFT_FAIL);
		}
	}
	TEST_ASSERT(!(nr_pages % UNSYNC_TABLES_PER_PARENT) &&
		    nr_pages >= 2 * UNSYNC_TABLES_PER_PARENT &&
		    nr_pages <= 64 * UNSYNC_TABLES_PER_PARENT,
		    "-n %lu: expected a multiple of %u, %u..%u", nr_pages,
		    UNSYNC_TABLES_PER_PARENT, 2 * UNSYNC_TABLES_PER_PARENT,
		    64 * UNSYNC_TABLES_PER_PARENT);

	ksft_print_header();
	unsync_require();
	if (skew_only) {
		ksft_set_plan(1);
		test_root_skew();
		ksft_finished();
	}
	ksft_set_plan(2 + ARRAY_SIZE(trace_results));
	test_pool();
	test_traced_shrinks();
	ksft_finished();
}
