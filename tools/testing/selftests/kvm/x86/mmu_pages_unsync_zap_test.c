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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "shadow_mmu.h"
#include "ucall_common.h"

#define DEFAULT_NR_PAGES 2048
#define DEFAULT_NR_CYCLES 3
#define MAX_NR_CYCLES 100

/* Where the flood phase maps a level-2 guest table as data: PML4 entry 129. */
#define FLOOD_GVA (129ULL << 39)
#define FLOOD_WRITES 16
#define STAGE_FLOOD_SHADOWED 1
#define STAGE_FLOOD_WRITTEN 2

static bool verbose;

/*
 * The guest writes every data page, so that KVM shadows every data page
 * table, then, each time the host runs it, writes one PTE of every data
 * page table (KVM marks their shadow pages unsync) and reads every data
 * page back, which under a shrunken pool makes KVM recycle as it goes.
 */
static void guest_code(uint64_t nr_pages)
{
	unsync_guest_write_data(nr_pages);
	for (;;) {
		GUEST_SYNC(UNSYNC_STAGE_SHADOWED);
		unsync_guest_write_tables(nr_pages);
		GUEST_SYNC(UNSYNC_STAGE_UNSYNC);
		unsync_guest_check_data(nr_pages);
	}
}

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
	uint64_t in_use, zapped, recycled, flush_requests;
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
	flush_requests = after.remote_tlb_flush_requests -
			 before.remote_tlb_flush_requests;
	ksft_print_msg("cycle %d shrink to %lu: %.2f ms, zapped %lu/%lu\n",
		       cycle, goal, ms, zapped, recycled);
	ksft_print_msg("  in use %lu -> %lu, unsync %lu -> %lu\n",
		       zap_stats_in_use(&before), in_use, before.mmu_unsync,
		       after.mmu_unsync);
	ksft_print_msg("  flush requests +%lu, flushes +%lu\n", flush_requests,
		       after.remote_tlb_flush - before.remote_tlb_flush);

	/*
	 * The shrink skips active roots, so each page it zaps is freed: it
	 * bumps mmu_shadow_zapped once and is counted once in the nr_zapped
	 * total that kvm_mmu_zap_oldest_mmu_pages() adds to mmu_recycled,
	 * whether it was zapped on its own or as an unsync child.
	 */
	check_recycled(goal, zapped, recycled);

	/* Zapping frees shadow pages, it never creates one. */
	TEST_ASSERT_EQ(after.mmu_cache_miss, before.mmu_cache_miss);

	/*
	 * A zapped shadow page may still be reachable from a vCPU's TLB (or
	 * paging-structure caches) until that vCPU flushes: KVM must request
	 * a flush on every vCPU (kvm_flush_remote_tlbs(), counted in
	 * remote_tlb_flush_requests) before it frees the page.  Whether the
	 * request reached a vCPU (remote_tlb_flush) depends on a vCPU being
	 * in guest mode on another CPU, so only the request is asserted.
	 */
	TEST_ASSERT(!zapped || flush_requests >= 1,
		    "shrink to %lu: zapped %lu, remote_tlb_flush_requests +0",
		    goal, zapped);

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
		READ_ONCE(*(uint64_t *)(UNSYNC_DATA_GVA + i * UNSYNC_STRIDE));
	GUEST_SYNC(STAGE_FLOOD_SHADOWED);
	for (;;) {
		for (i = 0; i < READ_ONCE(flood_writes); i++)
			WRITE_ONCE(*pde, READ_ONCE(*pde));
		GUEST_SYNC(STAGE_FLOOD_WRITTEN);
	}
}

/* What one pass of the flood guest moved. */
struct flood_delta {
	uint64_t pte_write; /* mmu_pte_write: emulated writes */
	uint64_t flooded; /* mmu_flooded */
	uint64_t zapped; /* mmu_shadow_zapped */
	uint64_t flush_requests; /* remote_tlb_flush_requests */
	uint64_t flushes; /* remote_tlb_flush */
};

/* One pass of the flood guest, with @nr_writes writes to the table. */
static void flood_pass(struct unsync_vm *uvm, uint64_t nr_writes,
		       struct flood_delta *d)
{
	struct zap_stats before, after;

	flood_writes = nr_writes;
	sync_global_to_guest(uvm->vm, flood_writes);
	zap_stats_read(uvm->vm, &before, "before flood pass");
	vcpu_run_to_sync(uvm->vcpu, STAGE_FLOOD_WRITTEN);
	zap_stats_read(uvm->vm, &after, "after flood pass");

	d->pte_write = after.mmu_pte_write - before.mmu_pte_write;
	d->flooded = after.mmu_flooded - before.mmu_flooded;
	d->zapped = after.mmu_shadow_zapped - before.mmu_shadow_zapped;
	d->flush_requests = after.remote_tlb_flush_requests -
			    before.remote_tlb_flush_requests;
	d->flushes = after.remote_tlb_flush - before.remote_tlb_flush;
	ksft_print_msg("flood pass, %lu writes: emulated +%lu, flooded +%lu\n",
		       nr_writes, d->pte_write, d->flooded);
	ksft_print_msg("  zapped +%lu, flush requests +%lu, flushes +%lu\n",
		       d->zapped, d->flush_requests, d->flushes);
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

static void check_write_flooding(uint64_t nr_pages)
{
	struct unsync_vm *uvm = flood_vm_create(nr_pages);
	struct flood_delta ctl, flood, after;

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
	TEST_ASSERT(flood.pte_write > ctl.pte_write,
		    "flood: %d writes, none emulated (mmu_pte_write +%lu)",
		    FLOOD_WRITES, flood.pte_write);
	TEST_ASSERT(flood.flooded == 1,
		    "flood: %d writes, mmu_flooded +%lu, expected 1",
		    FLOOD_WRITES, flood.flooded);
	TEST_ASSERT(flood.zapped == 1,
		    "flood: mmu_shadow_zapped +%lu, expected 1", flood.zapped);
	TEST_ASSERT(flood.flush_requests >= 1,
		    "flood: zapped %lu, remote_tlb_flush_requests +0",
		    flood.zapped);
	ksft_test_result_pass("write flooding zaps a level-2 table once\n");

	flood_pass(uvm, FLOOD_WRITES, &after);
	/*
	 * The table's last shadow page is gone, so KVM no longer tracks
	 * writes to it (unaccount_shadowed()): the guest's writes go to
	 * memory, at most after one fault that maps the page writable, and
	 * none is emulated.
	 */
	TEST_ASSERT(after.pte_write == ctl.pte_write,
		    "after flood: mmu_pte_write +%lu, control +%lu",
		    after.pte_write, ctl.pte_write);
	TEST_ASSERT_EQ(after.flooded, 0);
	TEST_ASSERT_EQ(after.zapped, 0);
	ksft_test_result_pass("writes to an unshadowed table: none emulated\n");
	unsync_vm_free(uvm);
}

/*
 * A memory cgroup of the test's own, a child of the one it runs in:
 * cgroup v2's memory.current where the v2 hierarchy has the memory
 * controller, else v1's memory.usage_in_bytes.  Both count the pages
 * charged to it, user and kernel (shadow pages and their headers are
 * allocated with __GFP_ACCOUNT), to within what each CPU keeps
 * precharged (MEMCG_CHARGE_BATCH pages).
 */
struct memcg {
	char parent[512];
	char dir[576];
	const char *usage; /* memory.current or memory.usage_in_bytes */
	uint64_t slack; /* bytes the charge may be off by */
};

#define MEMCG_CHARGE_BATCH 64

static struct memcg *entered_memcg;

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY), r;

	if (fd < 0)
		return -errno;
	r = write(fd, val, strlen(val)) == (ssize_t)strlen(val) ? 0 : -errno;
	close(fd);
	return r;
}

static uint64_t memcg_usage(struct memcg *m)
{
	char path[640], buf[32];
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", m->dir, m->usage);
	fd = open(path, O_RDONLY);
	TEST_ASSERT(fd >= 0, "open(%s) failed, errno %d", path, errno);
	r = read(fd, buf, sizeof(buf) - 1);
	TEST_ASSERT(r > 0, "read(%s) failed, errno %d", path, errno);
	close(fd);
	buf[r] = '\0';
	return strtoull(buf, NULL, 10);
}

/* Where the cgroup line of @v2 (or of v1's memory controller) points. */
static bool own_cgroup(bool v2, char *path, size_t size)
{
	char *line = NULL, *ctrl, *rest;
	bool found = false;
	size_t cap = 0;
	FILE *f = fopen("/proc/self/cgroup", "r");

	while (f && !found && getline(&line, &cap, f) > 0) {
		/* "id:controllers:path"; v2's is "0::path". */
		ctrl = strchr(line, ':');
		if (!ctrl)
			continue;
		*ctrl++ = '\0';
		rest = strchr(ctrl, ':');
		if (!rest)
			continue;
		*rest++ = '\0';
		rest[strcspn(rest, "\n")] = '\0';
		if (v2 ? !strcmp(line, "0") && !*ctrl :
			 !!strstr(ctrl, "memory")) {
			snprintf(path, size, "%s", rest);
			found = true;
		}
	}
	free(line);
	if (f)
		fclose(f);
	return found;
}

/* The mount point of cgroup2, or of the v1 hierarchy with "memory". */
static bool cgroup_mount(bool v2, char *path, size_t size)
{
	char *line = NULL, dir[256], type[32], opts[256];
	bool found = false;
	size_t cap = 0;
	FILE *f = fopen("/proc/self/mounts", "r");

	while (f && !found && getline(&line, &cap, f) > 0) {
		if (sscanf(line, "%*s %255s %31s %255s", dir, type, opts) != 3)
			continue;
		if (v2 ? !strcmp(type, "cgroup2") :
			 !strcmp(type, "cgroup") && strstr(opts, "memory")) {
			snprintf(path, size, "%s", dir);
			found = true;
		}
	}
	free(line);
	if (f)
		fclose(f);
	return found;
}

/* Whether the (short) file at @path names @word. */
static bool file_has_word(const char *path, const char *word)
{
	char buf[256];
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return false;
	r = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (r <= 0)
		return false;
	buf[r] = '\0';
	return strstr(buf, word);
}

static bool memcg_find_parent(struct memcg *m, bool v2)
{
	char mnt[256], own[256], path[576];

	if (!cgroup_mount(v2, mnt, sizeof(mnt)) ||
	    !own_cgroup(v2, own, sizeof(own)))
		return false;
	snprintf(m->parent, sizeof(m->parent), "%s%s", mnt,
		 strcmp(own, "/") ? own : "");
	if (!v2)
		return true;
	snprintf(path, sizeof(path), "%s/cgroup.controllers", m->parent);
	if (!file_has_word(path, "memory"))
		return false;
	/* A v2 child has the controller only if its parent passes it on. */
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", m->parent);
	write_file(path, "+memory");
	return true;
}

static void memcg_leave(void)
{
	struct memcg *m = entered_memcg;
	char path[640], pid[16];

	if (!m)
		return;
	entered_memcg = NULL;
	snprintf(path, sizeof(path), "%s/cgroup.procs", m->parent);
	snprintf(pid, sizeof(pid), "%d", getpid());
	write_file(path, pid);
	rmdir(m->dir);
}

/* A killed test leaves its cgroup behind: remove those of dead pids. */
static void memcg_remove_stale(struct memcg *m)
{
	static const char prefix[] = "kvm_zap_selftest_";
	char path[1024];
	struct dirent *de;
	DIR *d = opendir(m->parent);
	int pid;

	while (d && (de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		pid = atoi(de->d_name + strlen(prefix));
		if (pid <= 0 || !kill(pid, 0) || errno == EPERM)
			continue;
		snprintf(path, sizeof(path), "%s/%s", m->parent, de->d_name);
		if (!rmdir(path))
			ksft_print_msg("removed cgroup %s of dead pid %d\n",
				       de->d_name, pid);
	}
	if (d)
		closedir(d);
}

/* Move the test into a memory cgroup of its own; NULL and why if none. */
static const char *memcg_enter(struct memcg *m)
{
	char path[640], pid[16];
	bool v2;
	int r;

	v2 = memcg_find_parent(m, true);
	if (!v2 && !memcg_find_parent(m, false))
		return "no memory cgroup mounted (v2 memory controller or v1 memory)";
	m->usage = v2 ? "memory.current" : "memory.usage_in_bytes";
	m->slack = 2ULL * MEMCG_CHARGE_BATCH * PAGE_SIZE *
		   sysconf(_SC_NPROCESSORS_ONLN);
	memcg_remove_stale(m);
	snprintf(m->dir, sizeof(m->dir), "%s/kvm_zap_selftest_%d", m->parent,
		 getpid());
	if (mkdir(m->dir, 0755))
		return "cannot create a memory cgroup (mkdir failed)";
	snprintf(path, sizeof(path), "%s/%s", m->dir, m->usage);
	if (access(path, R_OK)) {
		rmdir(m->dir);
		return "the new cgroup has no memory controller";
	}
	snprintf(path, sizeof(path), "%s/cgroup.procs", m->dir);
	snprintf(pid, sizeof(pid), "%d", getpid());
	r = write_file(path, pid);
	if (r) {
		rmdir(m->dir);
		return "cannot move the test into its memory cgroup";
	}
	entered_memcg = m;
	atexit(memcg_leave);
	return NULL;
}

/*
 * Zapping @zapped shadow pages freed at least a page each, less what the
 * per-CPU precharges can hide.  (Each indirect shadow page also has a page
 * of shadowed translations and a header: about 8.2 KiB in all.)
 */
static void check_freed(struct memcg *m, const char *phase, uint64_t before,
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

static void check_freed_memory(uint64_t nr_pages)
{
	uint64_t start, built, shrunk, rebuilt, deleted, gone;
	struct zap_stats s0, s1, s2, s3;
	struct unsync_vm *uvm;
	const char *why_not;
	struct memcg m;

	why_not = memcg_enter(&m);
	if (why_not) {
		ksft_test_result_skip("freed memory: %s\n", why_not);
		return;
	}
	ksft_print_msg("memory: cgroup %s, %s, slack %lu KiB\n", m.dir, m.usage,
		       m.slack >> 10);

	start = memcg_usage(&m);
	uvm = unsync_vm_create(nr_pages, guest_code);
	unsync_vm_build(uvm);
	zap_stats_read(uvm->vm, &s0, "memory: after build");
	built = memcg_usage(&m);

	set_nr_mmu_pages(uvm->vm, KVM_MIN_ALLOC_MMU_PAGES);
	zap_stats_read(uvm->vm, &s1, "memory: after shrink");
	shrunk = memcg_usage(&m);
	check_freed(&m, "shrink to 64", built, shrunk,
		    s1.mmu_shadow_zapped - s0.mmu_shadow_zapped);

	set_nr_mmu_pages(uvm->vm, unsync_pool_pages(nr_pages));
	unsync_vm_build(uvm);
	zap_stats_read(uvm->vm, &s2, "memory: after rebuild");
	rebuilt = memcg_usage(&m);
	/* Quirk on: every shadow page goes, the active root once dropped. */
	memslot_hide(uvm->vm, UNSYNC_DATA_SLOT);
	zap_stats_read(uvm->vm, &s3, "memory: after slot delete");
	deleted = memcg_usage(&m);
	check_freed(&m, "delete data slot", rebuilt, deleted,
		    s3.mmu_shadow_zapped - s2.mmu_shadow_zapped - 1);
	memslot_restore(uvm->vm, UNSYNC_DATA_SLOT);

	unsync_vm_free(uvm);
	gone = memcg_usage(&m);
	ksft_print_msg("memory: VM gone: %s %lu KiB, started at %lu KiB\n",
		       m.usage, gone >> 10, start >> 10);
	/* What the VM took, KVM's and the guest's, is all given back. */
	TEST_ASSERT(gone <= start + m.slack,
		    "VM gone: %s %lu bytes, started at %lu", m.usage, gone,
		    start);
	memcg_leave();
	ksft_test_result_pass("freed memory: shrink, slot delete, VM gone\n");
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
	ksft_set_plan(6 * nr_cycles + 3);

	uvm = unsync_vm_create(nr_pages, guest_code);
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

	/* The flood guest writes guest page tables: shadow mode only. */
	if (unsync_mode == UNSYNC_MODE_SHADOW) {
		check_write_flooding(nr_pages);
	} else {
		ksft_test_result_skip("write flooding: shadow mode only\n");
		ksft_test_result_skip("unshadowed table: shadow mode only\n");
	}
	check_freed_memory(nr_pages);
	ksft_finished();
}
