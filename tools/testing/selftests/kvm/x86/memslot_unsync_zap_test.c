// SPDX-License-Identifier: GPL-2.0-only
/*
 * Delete or move a memslot under a guest with many unsync shadow pages, and
 * check which shadow pages KVM zaps, and that each is counted once.
 *
 * kvm_arch_flush_shadow_memslot() has two ways to drop what a memslot maps.
 * With KVM_X86_QUIRK_SLOT_ZAP_ALL (the default) it zaps every shadow page
 * through the fast "obsolete generation" path, kvm_mmu_zap_all_fast(),
 * whose kvm_zap_obsolete_pages() walk restarts when a zap made the list
 * unstable.  With the quirk disabled it unmaps the slot's gfns and zaps
 * only the shadow pages of guest page tables that lie in the slot
 * (kvm_mmu_zap_memslot_pages_and_flush()).
 *
 * The guest's data and alias page tables lie in one memslot, its data pages
 * in another.  Each round builds a fresh VM, so that the pages in use are
 * known exactly (no root has been zapped yet).
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

#define DEFAULT_NR_PAGES 1024
#define DEFAULT_NR_ROUNDS 10
#define MAX_NR_ROUNDS 1000

/* Where a moved slot goes: far above both slots, below 1 TiB. */
#define MOVED_GPA (64ULL << 30)

struct slot_op {
	const char *name;
	uint32_t slot;
	bool move;
};

static const struct slot_op slot_ops[] = {
	{ "delete page-table slot", UNSYNC_PT_SLOT, false },
	{ "move page-table slot", UNSYNC_PT_SLOT, true },
	{ "delete data slot", UNSYNC_DATA_SLOT, false },
	{ "move data slot", UNSYNC_DATA_SLOT, true },
};

static bool verbose;

/* Take the slot away from the guest's view: delete it or move it away. */
static void slot_take_away(struct kvm_vm *vm, const struct slot_op *op)
{
	if (op->move)
		vm_mem_region_move(vm, op->slot, MOVED_GPA);
	else
		memslot_hide(vm, op->slot);
}

static void slot_put_back(struct kvm_vm *vm, const struct slot_op *op)
{
	if (op->move)
		vm_mem_region_move(vm, op->slot,
				   op->slot == UNSYNC_PT_SLOT ?
					   UNSYNC_PT_GPA :
					   UNSYNC_DATA_GPA);
	else
		memslot_restore(vm, op->slot);
}

/*
 * With the data slot gone, the guest's first data read finds no memslot
 * behind its (intact) page tables: KVM must emulate it and exit to
 * userspace with an MMIO read of the first data page.  Answer it with the
 * value the page holds, so that the guest's check of the data passes.
 */
static void expect_mmio_read_of_data(struct unsync_vm *uvm)
{
	struct kvm_run *run = uvm->vcpu->run;
	uint64_t val = UNSYNC_PATTERN(0);

	vcpu_run(uvm->vcpu);
	TEST_ASSERT(run->exit_reason == KVM_EXIT_MMIO,
		    "Exit reason %u (%s), expected KVM_EXIT_MMIO",
		    run->exit_reason, exit_reason_str(run->exit_reason));
	TEST_ASSERT_EQ(run->mmio.phys_addr, UNSYNC_DATA_GPA);
	TEST_ASSERT_EQ(run->mmio.is_write, 0);
	TEST_ASSERT_EQ(run->mmio.len, sizeof(val));
	memcpy(run->mmio.data, &val, sizeof(val));
}

static uint64_t nr_guest_tables(struct unsync_vm *uvm)
{
	return uvm->nr_guest_tables[1] + uvm->nr_guest_tables[2] +
	       uvm->nr_guest_tables[3];
}

/* One round: build, take the slot away, check the zap, put it back. */
static double run_round(const struct slot_op *op, bool zap_all,
			uint64_t nr_pages, int round)
{
	struct zap_stats built, before, after;
	uint64_t in_use, zapped, tables;
	struct timespec start;
	struct unsync_vm *uvm;
	double ms;

	uvm = unsync_vm_create(nr_pages);
	if (!zap_all)
		vm_enable_cap(uvm->vm, KVM_CAP_DISABLE_QUIRKS2,
			      KVM_X86_QUIRK_SLOT_ZAP_ALL);
	tables = nr_guest_tables(uvm);

	unsync_vm_build(uvm);
	zap_stats_read(uvm->vm, &built, "after build");
	/* As in mmu_pages_unsync_zap_test: one unsync page per data table. */
	TEST_ASSERT(built.mmu_unsync == nr_pages,
		    "round %d build: mmu_unsync is %lu, expected %lu", round,
		    built.mmu_unsync, nr_pages);

	zap_stats_read(uvm->vm, &before, "before slot op");
	clock_gettime(CLOCK_MONOTONIC, &start);
	slot_take_away(uvm->vm, op);
	ms = ms_since(start);
	zap_stats_read(uvm->vm, &after, "after slot op");

	in_use = zap_stats_in_use(&before);
	zapped = after.mmu_shadow_zapped - before.mmu_shadow_zapped;
	if (verbose || round == 1)
		ksft_print_msg("%s, quirk %s: %.2f ms, zapped %lu of %lu\n",
			       op->name, zap_all ? "on" : "off", ms, zapped,
			       in_use);

	/* Memslot changes never create shadow pages or recycle any. */
	TEST_ASSERT_EQ(after.mmu_cache_miss, before.mmu_cache_miss);
	TEST_ASSERT_EQ(after.mmu_recycled, before.mmu_recycled);

	if (zap_all) {
		/*
		 * kvm_mmu_zap_all_fast() makes every shadow page obsolete and
		 * kvm_zap_obsolete_pages() zaps each, the active root too (it
		 * is freed later, when the vCPU drops it).  An unsync child is
		 * zapped with its parent and, being invalid, not again, so the
		 * counter rises by exactly the pages in use, and no unsync page
		 * is left.
		 */
		TEST_ASSERT(zapped == in_use,
			    "round %d %s: zapped %lu, expected all %lu in use",
			    round, op->name, zapped, in_use);
		TEST_ASSERT_EQ(after.mmu_unsync, 0);
	} else if (op->slot == UNSYNC_PT_SLOT &&
		   unsync_mode == UNSYNC_MODE_NESTED) {
		/*
		 * Nested mode: every table of L1's NPT lies in the slot, its
		 * root too, so each of their shadow pages is zapped, and with
		 * them, as nested children left without a parent, the pages
		 * that map L1's memory below them.  A passthrough root (5-level
		 * TDP over L1's 4-level NPT) shadows no table and stays.
		 */
		TEST_ASSERT(zapped >= tables && zapped <= in_use,
			    "round %d %s: zapped %lu, expected %lu..%lu", round,
			    op->name, zapped, tables, in_use);
		TEST_ASSERT_EQ(after.mmu_unsync, 0);
	} else if (op->slot == UNSYNC_PT_SLOT) {
		/*
		 * kvm_mmu_zap_memslot_pages_and_flush() zaps each valid shadow
		 * page of a guest page table in the slot: every data and alias
		 * table, at all three levels, and nothing else (the root and
		 * libkvm's tables lie in slot 0).  All unsync pages were data
		 * tables.  Every 4K mapping of the data and of the alias lived
		 * in a zapped level-1 page.
		 */
		TEST_ASSERT(zapped == tables,
			    "round %d %s: zapped %lu, expected %lu tables",
			    round, op->name, zapped, tables);
		TEST_ASSERT_EQ(after.mmu_unsync, 0);
		TEST_ASSERT_EQ(before.pages_4k - after.pages_4k, 2 * nr_pages);
	} else {
		/*
		 * No guest page table lies in the data slot: kvm_unmap_gfn_range()
		 * drops the N leaf mappings of the data, and no shadow page is
		 * zapped, so every unsync page stays unsync.
		 */
		TEST_ASSERT(zapped == 0, "round %d %s: zapped %lu, expected 0",
			    round, op->name, zapped);
		TEST_ASSERT_EQ(before.pages_4k - after.pages_4k, nr_pages);
		TEST_ASSERT_EQ(after.mmu_unsync, before.mmu_unsync);
	}

	/* Shadow pages in use fall by exactly what was zapped and freed. */
	if (!zap_all)
		TEST_ASSERT_EQ(zap_stats_in_use(&after), in_use - zapped);

	if (op->slot == UNSYNC_DATA_SLOT)
		expect_mmio_read_of_data(uvm);
	slot_put_back(uvm->vm, op);
	/* The guest re-reads every data page and finds its pattern. */
	unsync_vm_build(uvm);

	unsync_vm_free(uvm);
	return ms;
}

static void run_op(const struct slot_op *op, bool zap_all, uint64_t nr_pages,
		   int nr_rounds)
{
	double total = 0;
	int round;

	for (round = 1; round <= nr_rounds; round++)
		total += run_round(op, zap_all, nr_pages, round);
	ksft_test_result_pass("%s, quirk %s: %d rounds, %.2f ms mean\n",
			      op->name, zap_all ? "on" : "off", nr_rounds,
			      total / nr_rounds);
}

static void help(const char *name)
{
	printf("usage: %s [-n pages] [-r rounds] [-m mode] [-v] [-h]\n"
	       " -n: unsync shadow pages to build (1..%lu, default %d)\n"
	       " -r: rounds of each slot operation (1..%d, default %d)\n"
	       " -m: shadow or nested (default: what KVM can run)\n"
	       " -v: print every round\n",
	       name, unsync_max_pages(), DEFAULT_NR_PAGES, MAX_NR_ROUNDS,
	       DEFAULT_NR_ROUNDS);
}

int main(int argc, char *argv[])
{
	uint64_t nr_pages = DEFAULT_NR_PAGES;
	int nr_rounds = DEFAULT_NR_ROUNDS, opt, i;
	bool can_disable_quirk;

	while ((opt = getopt(argc, argv, "n:r:m:vh")) != -1) {
		switch (opt) {
		case 'n':
			nr_pages = parse_flag_u64("-n", optarg, 1,
						  unsync_max_pages());
			break;
		case 'r':
			nr_rounds =
				parse_flag_u64("-r", optarg, 1, MAX_NR_ROUNDS);
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
	can_disable_quirk = kvm_check_cap(KVM_CAP_DISABLE_QUIRKS2) &
			    KVM_X86_QUIRK_SLOT_ZAP_ALL;
	ksft_set_plan(2 * ARRAY_SIZE(slot_ops));

	for (i = 0; i < ARRAY_SIZE(slot_ops); i++)
		run_op(&slot_ops[i], true, nr_pages, nr_rounds);
	for (i = 0; i < ARRAY_SIZE(slot_ops); i++) {
		if (can_disable_quirk)
			run_op(&slot_ops[i], false, nr_pages, nr_rounds);
		else
			ksft_test_result_skip("%s, quirk off: not supported\n",
					      slot_ops[i].name);
	}
	ksft_finished();
}
