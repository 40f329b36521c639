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
 * "KVM: x86/mmu: Differentiate between nr zapped and list unstable"
 * (83cdb56864) the page itself counted as "unstable" too, and every walk
 * restarted after every zap.
 *
 * Every kernel with the kvmmmu tracepoints shows each zap and whether it
 * was of an unsync page; where kprobe events exist, return probes show what
 * each zap returned and what the walk was asked for and did, which makes
 * the call tree and the restarts exact.
 */
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "kvm_util.h"
#include "processor.h"
#include "shadow_mmu.h"
#include "ucall_common.h"
#include "zap_trace.h"

#define DEFAULT_NR_PAGES 2048

/* A vCPU's current root and the KVM_MMU_NUM_PREV_ROOTS it caches. */
#define ROOTS_PER_VCPU 4

/*
 * The root skew needs about 4096 live roots at the oldest end of the
 * list: 1023 vCPUs (1024 with the first, x86 KVM's limit without MAXSMP)
 * of ROOTS_PER_VCPU roots each.  A walk that restarts after every zap
 * passes all of them once per zap, a correct one once per shrink: behind
 * 4096 roots the wrong walk is 6.7x slower, well past MAX_ROOT_SLOWDOWN;
 * behind far fewer, its slowdown would fall within the noise of a correct
 * kernel on a busy host (up to 1.86x).
 *
 * That is past libkvm's KVM_MAX_VCPUS (512), which sizes only its pool of
 * ucall structs (and memstress, not used here): a vCPU that stops in a
 * ucall and never runs again keeps its struct, so the root vCPUs stop on
 * a write to ROOTS_DONE_PORT instead and hold none.  A KVM with fewer
 * vCPUs (KVM_CAP_MAX_VCPUS) gets as many as it has.
 */
#define DEFAULT_NR_ROOT_VCPUS 1023

#define TIMING_REPS 5

/* The pool shrunk below the live roots: 129 of them, the minimum is 64. */
#define ROOTS_OVER_POOL_VCPUS 32
#define ROOTS_OVER_POOL_PAGES 256

/*
 * The root skew shrinks at least this many sync pages, so that the walk
 * past the roots, which a correct kernel makes once, is small beside the
 * zaps (measured on a PVM host: ~1 ms for 4096 roots, ~13 ms for 8192
 * zaps), while a walk that restarts after every zap passes the roots once
 * per zap.
 */
#define SKEW_MIN_PAGES 8192
#define MAX_TIMING_REPS 25

/*
 * A walk that restarts only when the list is unstable passes the active
 * roots at the oldest end once per shrink of sync pages; one that restarts
 * after every zap passes them once per zap.  Extra roots may slow a correct
 * shrink by far less than this factor: measured, a correct kernel at most
 * 1.86 (PVM host, 4 instances at once, 105 runs; median 1.08), one that
 * restarts after every zap 6.7 (6.12 with the restart-always mutant, under
 * QEMU).
 */
#define MAX_ROOT_SLOWDOWN 3.0

/* vCPU ids go up to this; x86 KVM allows 1024, or 4096 with MAXSMP. */
#define MAX_ROOT_VCPU_ID 4095

static uint64_t nr_pages = DEFAULT_NR_PAGES;
static uint64_t nr_root_vcpus = DEFAULT_NR_ROOT_VCPUS;
static bool skew_only;
static bool verbose;

/*
 * The guest of the unsync cases is unsync_guest_code(); this one writes no
 * table, so every shadow page stays sync.
 */
static void sync_guest_code(uint64_t nr_pages)
{
	unsync_guest_write_data(nr_pages);
	for (;;) {
		GUEST_SYNC(UNSYNC_STAGE_SHADOWED);
		unsync_guest_check_data(nr_pages);
	}
}

/* Shrink the pool to the minimum, capturing the zaps. */
static void shrink_traced(struct unsync_vm *uvm, struct zap_trace *t,
			  struct zap_phase *p, struct zap_counts *c)
{
	uint64_t in_use;

	zap_phase_begin(uvm->vm, p, "shrink");
	zap_trace_clear(t);
	set_nr_mmu_pages(uvm->vm, KVM_MIN_ALLOC_MMU_PAGES);
	zap_trace_collect(t, c);
	zap_phase_end(uvm->vm, p);
	in_use = zap_stats_in_use(&p->before);

	ksft_print_msg("zaps %lu (unsync %lu), lost %lu\n", c->zaps,
		       c->unsync_zaps, c->lost);
	if (t->exact)
		ksft_print_msg("top %lu, nested %lu, parents %lu\n",
			       c->top_level, c->nested, c->parents);
	if (t->exact && verbose)
		ksft_print_msg("walk: asked %lu, zapped %lu, restarts %lu\n",
			       c->walk_nr_to_zap, c->walk_total, c->restarts);

	/* Without every event, no count below would mean anything. */
	TEST_ASSERT(!c->lost, "%lu trace events lost (lower -n)", c->lost);

	/* Each zap fires the tracepoint once and bumps the stat once. */
	TEST_ASSERT(c->zaps == p->delta.mmu_shadow_zapped,
		    "%lu zap events, mmu_shadow_zapped +%lu", c->zaps,
		    p->delta.mmu_shadow_zapped);

	/* Zapping an unsync page unlinks it from the unsync gauge once. */
	TEST_ASSERT(c->unsync_zaps ==
			    p->before.mmu_unsync - p->after.mmu_unsync,
		    "%lu unsync pages zapped, mmu_unsync %lu -> %lu",
		    c->unsync_zaps, p->before.mmu_unsync, p->after.mmu_unsync);

	/* The walk, from the probes: asked for everything above the minimum. */
	if (t->exact)
		zap_check_walk(c, in_use - KVM_MIN_ALLOC_MMU_PAGES, p);
}

static void test_sync_pages(struct zap_trace *t)
{
	struct unsync_vm *uvm;
	struct zap_phase p;
	struct zap_counts c;

	/* Shadow every guest page table, but write none of them. */
	uvm = unsync_vm_create(nr_pages, sync_guest_code);
	vcpu_run_to_sync(uvm->vcpu, UNSYNC_STAGE_SHADOWED);
	shrink_traced(uvm, t, &p, &c);
	unsync_vm_free(uvm);
	TEST_ASSERT_EQ(p.before.mmu_unsync, 0);
	if (!t->exact) {
		ksft_test_result_skip("sync pages: %s\n", t->why_not_exact);
		return;
	}

	if (unsync_mode == UNSYNC_MODE_NESTED) {
		/*
		 * Nested mode: zapping a nested shadow page also zaps each
		 * child it leaves without a parent, recursively, unsync or
		 * not, and that makes the list unstable.  The walk counts
		 * such a subtree as one page (its nr_zapped comes from a
		 * bool), so it adds up to fewer pages than it zapped.
		 */
		TEST_ASSERT(c.nested > 0 && c.unstable > 0,
			    "%lu nested zaps, %lu unstable: expected some",
			    c.nested, c.unstable);
		ksft_print_msg("nested: %lu zaps, the walk counted %lu\n",
			       c.zaps, c.walk_total);
		ksft_test_result_pass("sync pages: %lu restarts\n", c.restarts);
		return;
	}
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

/* test_unsync_pages() reports the shrink, then its restarts. */
#define UNSYNC_RESULTS 2

static void test_unsync_pages(struct zap_trace *t)
{
	struct unsync_vm *uvm;
	struct zap_phase p;
	struct zap_counts c;

	uvm = unsync_vm_create(nr_pages, unsync_guest_code);
	unsync_vm_build(uvm);
	shrink_traced(uvm, t, &p, &c);
	unsync_vm_free(uvm);
	TEST_ASSERT_EQ(p.before.mmu_unsync, nr_pages);
	ksft_test_result_pass("shrink over %lu unsync pages: %lu zaps\n",
			      nr_pages, c.zaps);
	if (!t->exact) {
		ksft_test_result_skip("restarts: %s\n", t->why_not_exact);
		return;
	}

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

/* Root vCPUs stop here rather than in a ucall: see DEFAULT_NR_ROOT_VCPUS. */
#define ROOTS_DONE_PORT 0x80

/*
 * CPL0: load copies of the top-level table, each becoming a live root, and
 * again each time the host runs the vCPU.
 */
static void root_guest_code(uint64_t cr3_0, uint64_t cr3_1, uint64_t cr3_2,
			    uint64_t cr3_3)
{
	uint64_t cr3[ROOTS_PER_VCPU] = { cr3_0, cr3_1, cr3_2, cr3_3 };
	int i;

	for (;;) {
		for (i = 0; i < ROOTS_PER_VCPU; i++)
			asm volatile("mov %0, %%cr3"
				     :
				     : "r"(cr3[i])
				     : "memory");
		asm volatile("outb %%al, %%dx"
			     :
			     : "a"(0), "d"(ROOTS_DONE_PORT));
	}
}

/*
 * Raise RLIMIT_NOFILE to @nr_fds if it is lower; never lower it.  False if
 * the hard limit is lower and may not be raised (libkvm's
 * kvm_set_files_rlimit(), in 7.3 and not in 6.12, skips the test then).
 */
static bool raise_files_rlimit(rlim_t nr_fds)
{
	struct rlimit nofile;

	TEST_ASSERT(!getrlimit(RLIMIT_NOFILE, &nofile), "getrlimit() failed");
	if (nofile.rlim_cur >= nr_fds)
		return true;
	nofile.rlim_cur = nr_fds;
	nofile.rlim_max = max(nofile.rlim_max, nr_fds);
	return !setrlimit(RLIMIT_NOFILE, &nofile);
}

/*
 * Add vCPUs that each load ROOTS_PER_VCPU copies of the top-level table,
 * before the guest builds anything else.  With @shared_roots every vCPU
 * loads the same copies, so the VM has ROOTS_PER_VCPU live roots however
 * many vCPUs it has; otherwise each vCPU loads copies of its own, and the
 * VM has ROOTS_PER_VCPU live roots per vCPU.  Either way the roots are
 * the oldest shadow pages.
 */
static void add_root_vcpus(struct unsync_vm *uvm, int nr_vcpus,
			   bool shared_roots)
{
	struct kvm_vm *vm = uvm->vm;
	uint64_t cr3[ROOTS_PER_VCPU];
	struct kvm_vcpu *vcpu;
	int v, i;

	for (v = 1; v <= nr_vcpus; v++) {
		vcpu = vm_vcpu_add(vm, v, root_guest_code);
		for (i = 0; i < ROOTS_PER_VCPU && (v == 1 || !shared_roots);
		     i++) {
			cr3[i] = vm_phy_page_alloc(vm, UNSYNC_PT_GPA,
						   UNSYNC_PT_SLOT);
			memcpy(addr_gpa2hva(vm, cr3[i]),
			       addr_gpa2hva(vm, uvm->pgd), PAGE_SIZE);
		}
		vcpu_args_set(vcpu, ROOTS_PER_VCPU, cr3[0], cr3[1], cr3[2],
			      cr3[3]);
		vcpu_run(vcpu);
		TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
		TEST_ASSERT_EQ(vcpu->run->io.port, ROOTS_DONE_PORT);
	}
}

/* A VM of @nr_sync_pages sync pages behind the live roots of root vCPUs. */
struct skew_vm {
	struct unsync_vm *uvm;
	uint64_t pool;
	uint64_t roots; /* shadow pages in use before the build */
	double best_ms;
};

static void skew_vm_create(struct skew_vm *s, uint64_t nr_sync_pages,
			   int nr_vcpus, bool shared_roots)
{
	struct zap_stats stats;

	/* The pool holds every root and the whole build. */
	s->pool = unsync_pool_pages(nr_sync_pages) + ROOTS_PER_VCPU * nr_vcpus;
	s->uvm = __unsync_vm_create(nr_sync_pages, nr_vcpus, sync_guest_code);
	set_nr_mmu_pages(s->uvm->vm, s->pool);
	add_root_vcpus(s->uvm, nr_vcpus, shared_roots);
	zap_stats_read(s->uvm->vm, &stats, "after adding roots");
	s->roots = zap_stats_in_use(&stats);
	s->best_ms = 0;
}

/*
 * CPU time of the calling thread, in ms.  KVM_SET_NR_MMU_PAGES zaps in the
 * calling thread, so this is the shrink's own cost: unlike the wall clock,
 * other tasks on the CPU (instances of this test running at once) add
 * nothing to it.
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
	struct zap_stats built;
	double start, ms;

	set_nr_mmu_pages(s->uvm->vm, s->pool);
	vcpu_run_to_sync(s->uvm->vcpu, UNSYNC_STAGE_SHADOWED);
	zap_stats_read(s->uvm->vm, &built, "after sync build");
	TEST_ASSERT_EQ(built.mmu_unsync, 0);

	start = thread_cpu_ms();
	set_nr_mmu_pages(s->uvm->vm, KVM_MIN_ALLOC_MMU_PAGES);
	ms = thread_cpu_ms() - start;
	if (!s->best_ms || ms < s->best_ms)
		s->best_ms = ms;
}

/*
 * The same shrink over the same sync pages in two VMs with the same number
 * of vCPUs: one whose vCPUs share ROOTS_PER_VCPU live roots (the control),
 * one whose vCPUs hold ROOTS_PER_VCPU each.  Everything that scales with
 * the vCPUs (TLB flush requests at each commit, say) costs both alike, so
 * the ratio isolates the walk past the extra roots, which a correct walk
 * passes once.  The shrinks are taken in turns (so that other load slows
 * both alike), and the fastest of each counts, in CPU time.  A ratio near
 * the bound earns more turns before it is judged.  Measured: a correct
 * kernel 1.09-1.31 (PVM host), 1.15 (stock 6.12 under QEMU); a kernel
 * that restarts after every zap 6.7 (the restart-always mutant of 6.12,
 * under QEMU).
 */
static void test_root_skew(void)
{
	uint64_t skew_pages = max_t(uint64_t, nr_pages, SKEW_MIN_PAGES);
	uint64_t max_vcpus = kvm_check_cap(KVM_CAP_MAX_VCPUS);
	struct skew_vm few, many;
	uint64_t nr_fds;
	double ratio;
	int rep;

	/* The default takes what KVM offers; a -r beyond it skips. */
	if (nr_root_vcpus == DEFAULT_NR_ROOT_VCPUS)
		nr_root_vcpus = min(nr_root_vcpus, max_vcpus - 1);
	if (nr_root_vcpus >= max_vcpus) {
		ksft_test_result_skip("root skew: -r %lu, KVM allows %lu\n",
				      nr_root_vcpus, max_vcpus);
		return;
	}
	/*
	 * Up to two fds per vCPU (7.3's libkvm keeps each vCPU's stats fd
	 * open) of both VMs, and room for the rest.
	 */
	nr_fds = 4 * nr_root_vcpus + 256;
	if (!raise_files_rlimit(nr_fds)) {
		ksft_test_result_skip("root skew: RLIMIT_NOFILE below %lu\n",
				      nr_fds);
		return;
	}
	skew_vm_create(&few, skew_pages, nr_root_vcpus, true);
	skew_vm_create(&many, skew_pages, nr_root_vcpus, false);
	for (rep = 0; rep < MAX_TIMING_REPS; rep++) {
		skew_vm_shrink(&few);
		skew_vm_shrink(&many);
		ratio = many.best_ms / few.best_ms;
		/* Clear either way: judge it now. */
		if (rep + 1 >= TIMING_REPS &&
		    (ratio < MAX_ROOT_SLOWDOWN * 3 / 4 ||
		     ratio > MAX_ROOT_SLOWDOWN * 2))
			break;
	}
	unsync_vm_free(few.uvm);
	unsync_vm_free(many.uvm);

	ksft_print_msg("shrink of %lu sync pages, %lu vCPUs, best of %d:\n",
		       skew_pages, nr_root_vcpus + 1,
		       rep + (rep < MAX_TIMING_REPS));
	ksft_print_msg("  %.2f ms CPU behind %lu pages, %.2f behind %lu\n",
		       few.best_ms, few.roots, many.best_ms, many.roots);
	ksft_print_msg("root skew ratio %.2f (bound %.1f)\n", ratio,
		       MAX_ROOT_SLOWDOWN);
	TEST_ASSERT(ratio < MAX_ROOT_SLOWDOWN,
		    "Shrink %.1fx slower behind %lu roots than %lu, max %.1fx",
		    ratio, many.roots, few.roots, MAX_ROOT_SLOWDOWN);
	ksft_test_result_pass("root skew ratio %.2f\n", ratio);
}

/* Run a root vCPU once more: true if it got to ROOTS_DONE_PORT. */
static bool root_vcpu_rerun(struct kvm_vcpu *vcpu)
{
	int r = _vcpu_run(vcpu);

	/*
	 * The one error a vCPU may get for want of shadow pages is ENOSPC
	 * (make_mmu_pages_available() found nothing to recycle).
	 */
	TEST_ASSERT(!r || errno == ENOSPC,
		    "vCPU %u: KVM_RUN failed, errno %d, expected 0 or ENOSPC",
		    vcpu->id, errno);
	if (r)
		return false;
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	TEST_ASSERT_EQ(vcpu->run->io.port, ROOTS_DONE_PORT);
	return true;
}

/*
 * Shrink the pool below the live roots of the root vCPUs.  The budgeted
 * walk, kvm_mmu_zap_oldest_mmu_pages(), steps over live roots (zapping one
 * would only make its vCPU build it again), so it zaps every other page,
 * and kvm_mmu_change_mmu_pages() settles for the pages it could not zap:
 * no page is available.  A vCPU that then needs a shadow page finds none
 * to recycle, and make_mmu_pages_available() fails its KVM_RUN with ENOSPC
 * rather than grow the pool (stock KVM: every root vCPU, as every page
 * under the roots is gone); a KVM may also run a vCPU on what it has (the
 * PVM host).  Raised again, the goal lets every vCPU run.
 */
static void test_roots_over_pool(void)
{
	int ran = 0, nospc = 0;
	struct kvm_vcpu *vcpu;
	struct zap_stats runs;
	uint64_t roots, in_use;
	struct zap_phase p;
	struct skew_vm s;
	struct kvm_vm *vm;

	skew_vm_create(&s, ROOTS_OVER_POOL_PAGES, ROOTS_OVER_POOL_VCPUS, false);
	vm = s.uvm->vm;
	vcpu_run_to_sync(s.uvm->vcpu, UNSYNC_STAGE_SHADOWED);
	/* Each root vCPU's current root and the 3 it caches, and vCPU 0's. */
	roots = ROOTS_PER_VCPU * ROOTS_OVER_POOL_VCPUS + 1;

	zap_phase_begin(vm, &p, "shrink below the live roots");
	set_nr_mmu_pages(vm, KVM_MIN_ALLOC_MMU_PAGES);
	zap_phase_end(vm, &p);
	in_use = zap_stats_in_use(&p.after);
	ksft_print_msg("pool below the roots: goal %d, %lu live roots\n",
		       KVM_MIN_ALLOC_MMU_PAGES, roots);
	ksft_print_msg("  in use %lu -> %lu, zapped %lu\n",
		       zap_stats_in_use(&p.before), in_use,
		       p.delta.mmu_shadow_zapped);
	/*
	 * Every zapped page was recycled (a live root zapped would count in
	 * mmu_shadow_zapped only), and the walk went past the roots and
	 * zapped every other page.  (Stock KVM keeps all of them, the three
	 * cached roots of each vCPU too: in use == live roots.)
	 */
	check_zapped_recycled(&p);
	TEST_ASSERT(in_use <= roots,
		    "%lu pages in use, expected <= the %lu live roots", in_use,
		    roots);

	list_for_each_entry(vcpu, &vm->vcpus, list) {
		if (vcpu == s.uvm->vcpu)
			continue;
		if (root_vcpu_rerun(vcpu))
			ran++;
		else
			nospc++;
	}
	zap_stats_read(vm, &runs, "after the runs");
	ksft_print_msg("  %d vCPUs ran, %d got ENOSPC; in use %lu -> %lu\n",
		       ran, nospc, in_use, zap_stats_in_use(&runs));
	/* With none available, no vCPU may add a page to the pool. */
	TEST_ASSERT(zap_stats_in_use(&runs) <= in_use,
		    "%lu pages in use after the runs, %lu before, goal %d",
		    zap_stats_in_use(&runs), in_use, KVM_MIN_ALLOC_MMU_PAGES);

	set_nr_mmu_pages(vm, s.pool);
	list_for_each_entry(vcpu, &vm->vcpus, list)
		TEST_ASSERT(vcpu == s.uvm->vcpu || root_vcpu_rerun(vcpu),
			    "vCPU %u: ENOSPC with the pool back at %lu",
			    vcpu->id, s.pool);
	vcpu_run_to_sync(s.uvm->vcpu, UNSYNC_STAGE_SHADOWED);
	unsync_vm_free(s.uvm);
	ksft_test_result_pass("pool below %lu roots: %d ran, %d ENOSPC\n",
			      roots, ran, nospc);
}

/*
 * The root vCPUs load copies of the guest's top-level table; in nested mode
 * those roots would be L1's TDP roots, not shadow pages.  The root skew
 * times what the probes count exactly (@exact): it runs where they are
 * missing, or with -s.
 */
static void run_roots(bool exact)
{
	bool nested = unsync_mode == UNSYNC_MODE_NESTED;

	if (!skew_only && nested)
		ksft_test_result_skip("pool below roots: shadow mode only\n");
	else if (!skew_only)
		test_roots_over_pool();
	if (nested)
		ksft_test_result_skip("root skew: shadow mode only\n");
	else if (exact && !skew_only)
		ksft_test_result_skip("root skew: probes count exactly\n");
	else
		test_root_skew();
}

int main(int argc, char *argv[])
{
	struct shadow_mmu_opt opts[] = {
		UNSYNC_PAGES_OPT(&nr_pages),
		{ 'r', "vcpus",
		  "the root skew's vCPUs, with roots of their own",
		  &nr_root_vcpus, 2, MAX_ROOT_VCPU_ID },
		{ 's', NULL, "only the root skew timing", .on = &skew_only },
		unsync_mode_opt,
		{ 'v', NULL, "print more detail", .on = &verbose },
		{},
	};
	struct zap_trace trace;

	shadow_mmu_parse_args(argc, argv, opts);
	ksft_print_header();
	shadow_mmu_require();
	if (skew_only) {
		ksft_set_plan(1);
		run_roots(false);
		ksft_finished();
	}

	/* Sync pages, unsync pages, the roots over the pool, the root skew. */
	ksft_set_plan(1 + UNSYNC_RESULTS + 2);
	if (!zap_trace_available()) {
		/* The zaps need tracefs; the timing does not. */
		ksft_test_result_skip("sync pages: needs tracefs and root\n");
		ksft_test_result_skip("unsync pages: no tracefs\n");
		ksft_test_result_skip("restarts: no tracefs\n");
		run_roots(false);
		ksft_finished();
	}

	zap_trace_open(&trace);
	if (trace.exact)
		ksft_print_msg("exact restart counts: kprobes on %s, %s\n",
			       trace.walk_sym, trace.zap_sym);
	else
		ksft_print_msg("exact restart counts: no, %s\n",
			       trace.why_not_exact);

	test_sync_pages(&trace);
	test_unsync_pages(&trace);
	run_roots(trace.exact);

	zap_trace_close(&trace);
	ksft_finished();
}
