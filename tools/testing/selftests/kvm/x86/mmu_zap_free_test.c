// SPDX-License-Identifier: GPL-2.0-only
/*
 * Every shadow page KVM zaps must also be freed, on every path that zaps.
 *
 * A zap happens in two steps: kvm_mmu_prepare_zap_page() unlinks a page and
 * moves it to a list of invalid pages, kvm_mmu_commit_zap_page() flushes
 * the TLBs and frees what is on that list.  A path that prepares and never
 * commits leaks every page it zapped, while the counters (mmu_shadow_zapped,
 * and KVM's pages in use, which fall at the prepare step) say all is well.
 * The memory does not: KVM charges a shadow page (its table, and for a page
 * that shadows a guest table the page of its shadowed translations) to the
 * memory cgroup of the VM's creator, so the cgroup's memory.current falls by
 * at least two pages per shadow page of a guest table freed.  Each path here zaps enough pages
 * that a page kept per zap stands far above what the memory controller may
 * hold back (its per-CPU charge cache, MEMCG_CHARGE_BATCH pages, on the one
 * CPU the test is pinned to).
 *
 * Needs cgroup v2 with the memory controller on for the test's own cgroup;
 * the test creates and changes no cgroup.  Shadow mode only.
 */
#include <sched.h>
#include <stdio.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"
#include "unsync_vm.h"

#define NR_PAGES		2048
/* The memory controller's per-CPU charge cache, and a margin for slab. */
#define MEMCG_SLACK		((64 + 64) * PAGE_SIZE)

static char memory_current[512];

/* The memory.current of this process's cgroup, or why there is none. */
static const char *find_memory_current(void)
{
	char line[256], *path = NULL;
	FILE *f = fopen("/proc/self/cgroup", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3))
			path = strtok(line + 3, "\n");
	if (f)
		fclose(f);
	if (!path)
		return "not in a cgroup v2 hierarchy";
	snprintf(memory_current, sizeof(memory_current),
		 "/sys/fs/cgroup%s/memory.current", strcmp(path, "/") ? path : "");
	if (access(memory_current, R_OK))
		return "no memory.current for this process's cgroup (memory controller off?)";
	return NULL;
}

static u64 memcg_usage(void)
{
	u64 val;
	FILE *f = fopen(memory_current, "r");

	TEST_ASSERT(f && fscanf(f, "%lu", &val) == 1, "Cannot read %s", memory_current);
	fclose(f);
	return val;
}

/*
 * A shadow page of a guest table holds two pages: its table and its
 * shadowed translations (and a header).
 */
#define PAGES_PER_SHADOW_PAGE	2

/*
 * @zapped shadow pages went in @what; memory.current, @before and after,
 * must have fallen by at least their pages.
 */
static void check_freed(const char *what, u64 zapped, u64 before)
{
	u64 after = memcg_usage(), expected = zapped * PAGES_PER_SHADOW_PAGE * PAGE_SIZE;
	s64 freed = before - after;

	ksft_print_msg("%s: %lu pages zapped, memory.current %lu -> %lu KiB\n", what,
		       zapped, before >> 10, after >> 10);
	TEST_ASSERT(zapped * PAGE_SIZE >= MEMCG_SLACK * 4,
		    "%s: %lu pages zapped: too few to tell a leak", what, zapped);
	TEST_ASSERT(freed + MEMCG_SLACK >= expected,
		    "%s: %lu pages zapped, memory.current fell by %ld KiB, expected >= %lu KiB",
		    what, zapped, freed >> 10, (u64)(expected - MEMCG_SLACK) >> 10);
}

/* Shrink the pool to the minimum: the walk frees nearly every page. */
static void test_shrink(void)
{
	struct unsync_vm *uvm = unsync_vm_create(NR_PAGES, 1, unsync_guest_code);
	struct unsync_stats b, a;
	u64 before;

	unsync_vm_build(uvm);
	unsync_stats_read(uvm->vm, &b);
	before = memcg_usage();
	unsync_set_pool(uvm->vm, UNSYNC_MIN_POOL_PAGES);
	unsync_stats_read(uvm->vm, &a);
	check_freed("shrink", a.mmu_shadow_zapped - b.mmu_shadow_zapped, before);
	unsync_vm_free(uvm);
	ksft_test_result_pass("a shrink frees what it zaps\n");
}

/*
 * Delete the page-table slot: with the zap-all quirk every page goes (the
 * root in use only once the vCPU drops it, so it is not counted), without
 * it the shadow pages of the tables in the slot.
 */
static void test_slot_delete(bool zap_all)
{
	const char *quirk = zap_all ? "on" : "off";
	struct unsync_stats b, a;
	struct unsync_vm *uvm;
	u64 before, zapped;

	uvm = unsync_vm_create(NR_PAGES, 1, unsync_guest_code);
	if (!zap_all && !unsync_disable_slot_zap_all(uvm->vm)) {
		unsync_vm_free(uvm);
		ksft_print_msg("a slot delete, quirk %s: KVM cannot disable the quirk\n", quirk);
		ksft_test_result_skip("a slot delete, quirk %s, frees what it zaps\n", quirk);
		return;
	}
	unsync_vm_build(uvm);
	unsync_stats_read(uvm->vm, &b);
	before = memcg_usage();
	unsync_slot_hide(uvm->vm, UNSYNC_PT_SLOT);
	unsync_stats_read(uvm->vm, &a);
	zapped = a.mmu_shadow_zapped - b.mmu_shadow_zapped;
	/* With the quirk on, the root is among them; it is not freed yet. */
	if (zap_all)
		zapped--;
	check_freed(zap_all ? "slot delete, quirk on" : "slot delete, quirk off", zapped, before);
	unsync_slot_restore(uvm->vm, UNSYNC_PT_SLOT);
	unsync_vm_free(uvm);
	ksft_test_result_pass("a slot delete, quirk %s, frees what it zaps\n", quirk);
}

/*
 * Write flooding, which zaps one page at a time: NR_FLOODED data pages one
 * GiB apart, each below a level-2 table of its own, and those tables mapped
 * as data at FLOOD_TABLES_GVA.  The guest reads every data page (KVM
 * shadows every table) and then writes each level-2 table three times with
 * no walk through it in between: each is flooded and zapped.
 */
#define NR_FLOODED		512
#define FLOOD_DATA_GVA		(2ULL << 39)	/* PML4 entry 2 */
#define FLOOD_TABLES_GVA	(3ULL << 39)	/* PML4 entry 3 */
/* The flood tables' own memslot. */
#define FLOOD_PT_SLOT		12
#define FLOOD_PT_GPA		(12ULL << 30)
#define STAGE_SHADOWED		1
#define STAGE_FLOODED		2

static void flood_guest_code(void)
{
	u64 i, j, *pde;

	for (i = 0; i < NR_FLOODED; i++)
		READ_ONCE(*(u64 *)(FLOOD_DATA_GVA + i * SZ_1G));
	GUEST_SYNC(STAGE_SHADOWED);
	for (i = 0; i < NR_FLOODED; i++) {
		/* An entry that maps nothing: the write changes no mapping. */
		pde = (u64 *)(FLOOD_TABLES_GVA + i * PAGE_SIZE) + 511;
		for (j = 0; j < 3; j++)
			WRITE_ONCE(*pde, 0);
	}
	GUEST_SYNC(STAGE_FLOODED);
}

static void test_flooding(void)
{
	struct unsync_vm *uvm = unsync_vm_create(NR_FLOODED, 1, flood_guest_code);
	struct unsync_stats b, a;
	u32 pt_region = uvm->vm->memslots[MEM_REGION_PT];
	u64 i, gva, before;
	int level = 3;

	vm_userspace_mem_region_add(uvm->vm, VM_MEM_SRC_ANONYMOUS, FLOOD_PT_GPA,
				    FLOOD_PT_SLOT, 2 * NR_FLOODED + 16, 0);
	uvm->vm->memslots[MEM_REGION_PT] = FLOOD_PT_SLOT;
	for (i = 0; i < NR_FLOODED; i++) {
		gva = FLOOD_DATA_GVA + i * SZ_1G;
		virt_pg_map(uvm->vm, gva, UNSYNC_DATA_GPA + i * PAGE_SIZE);
		virt_pg_map(uvm->vm, FLOOD_TABLES_GVA + i * PAGE_SIZE,
			    PTE_GET_PA(*__vm_get_page_table_entry(uvm->vm, &uvm->vm->mmu,
								  gva, &level)));
		level = 3;
	}
	uvm->vm->memslots[MEM_REGION_PT] = pt_region;
	unsync_vcpu_run(uvm->vcpu, STAGE_SHADOWED);
	unsync_stats_read(uvm->vm, &b);
	before = memcg_usage();
	unsync_vcpu_run(uvm->vcpu, STAGE_FLOODED);
	unsync_stats_read(uvm->vm, &a);
	TEST_ASSERT(a.mmu_flooded - b.mmu_flooded == NR_FLOODED,
		    "%d level-2 tables written 3 times each: mmu_flooded +%lu",
		    NR_FLOODED, a.mmu_flooded - b.mmu_flooded);
	check_freed("write flooding", a.mmu_shadow_zapped - b.mmu_shadow_zapped, before);
	unsync_vm_free(uvm);
	ksft_test_result_pass("write flooding frees what it zaps\n");
}

/* Freeing the VM gives back everything it took, KVM's pages and the guest's. */
static void test_vm_free(void)
{
	u64 before = memcg_usage();
	struct unsync_vm *uvm = unsync_vm_create(NR_PAGES, 1, unsync_guest_code);
	u64 after;

	unsync_vm_build(uvm);
	unsync_vm_free(uvm);
	after = memcg_usage();
	ksft_print_msg("VM freed: memory.current %lu KiB, %lu KiB before the VM\n",
		       after >> 10, before >> 10);
	TEST_ASSERT(after <= before + MEMCG_SLACK,
		    "VM freed: memory.current %lu KiB, %lu KiB before the VM was made",
		    after >> 10, before >> 10);
	ksft_test_result_pass("freeing the VM frees every shadow page\n");
}

int main(int argc, char *argv[])
{
	const char *why_not;
	cpu_set_t cpu;

	int opt = getopt(argc, argv, "h");

	if (opt != -1) {
		printf("usage: %s [-h]\n", argv[0]);
		exit(opt == 'h' ? 0 : KSFT_FAIL);
	}
	ksft_print_header();
	unsync_mode = UNSYNC_MODE_SHADOW;
	unsync_require();
	why_not = find_memory_current();
	__TEST_REQUIRE(!why_not, "%s", why_not);
	ksft_print_msg("memory cgroup: %s\n", memory_current);

	/* One CPU: one per-CPU charge cache can hold pages back. */
	CPU_ZERO(&cpu);
	CPU_SET(sched_getcpu(), &cpu);
	TEST_ASSERT(!sched_setaffinity(0, sizeof(cpu), &cpu), "sched_setaffinity() failed");

	ksft_set_plan(5);
	test_shrink();
	test_slot_delete(true);
	test_slot_delete(false);
	test_flooding();
	test_vm_free();
	ksft_finished();
}
