// SPDX-License-Identifier: GPL-2.0-only
/*
 * The guest side of the unsync VM (shadow_mmu.h): what a test's guest code
 * calls to write and check the data pages and to unsync the data page
 * tables, in shadow mode at CPL3 and in nested mode through an L2.
 */
#include "kvm_util.h"
#include "processor.h"
#include "shadow_mmu.h"
#include "svm_util.h"
#include "ucall_common.h"

/* The PTE of each data page table that the guest writes to unsync it. */
#define SCRIBBLE_INDEX 256

static void write_data(uint64_t nr_pages)
{
	uint64_t i;

	for (i = 0; i < nr_pages; i++)
		WRITE_ONCE(*(uint64_t *)unsync_data_gva(i), UNSYNC_PATTERN(i));
}

static void check_data(uint64_t nr_pages)
{
	uint64_t i, val;

	for (i = 0; i < nr_pages; i++) {
		val = READ_ONCE(*(uint64_t *)unsync_data_gva(i));
		__GUEST_ASSERT(val == UNSYNC_PATTERN(i),
			       "Data page %lu holds 0x%lx, expected 0x%llx", i,
			       val, UNSYNC_PATTERN(i));
	}
}

/*
 * Nested mode: the data is L2's, so the test's guest code (L1) has L2 make
 * each pass over it.  L2 runs on L1's page tables and sees what L1 asks
 * in these globals; it exits to L1 with VMMCALL after each pass.
 */
struct nested_svm unsync_nested_svm;
static void (*l2_pass)(uint64_t nr_pages);
static uint64_t l2_nr_pages;

static void nested_l2_code(void)
{
	for (;;) {
		READ_ONCE(l2_pass)(READ_ONCE(l2_nr_pages));
		vmmcall();
	}
}

/* Run L2 for one pass over the data; the first call sets up SVM. */
static void nested_l2_run(void (*pass)(uint64_t nr_pages), uint64_t nr_pages)
{
	static bool svm_ready;

	if (!svm_ready) {
		nested_svm_setup(&unsync_nested_svm, nested_l2_code);
		svm_ready = true;
	}
	WRITE_ONCE(l2_pass, pass);
	WRITE_ONCE(l2_nr_pages, nr_pages);
	nested_svm_run_to_vmmcall(&unsync_nested_svm);
}

void unsync_guest_write_data(uint64_t nr_pages)
{
	if (unsync_mode == UNSYNC_MODE_NESTED)
		nested_l2_run(write_data, nr_pages);
	else
		write_data(nr_pages);
}

void unsync_guest_check_data(uint64_t nr_pages)
{
	if (unsync_mode == UNSYNC_MODE_NESTED)
		nested_l2_run(check_data, nr_pages);
	else
		check_data(nr_pages);
}

/*
 * KVM write-protects the guest page tables it shadows; a write to a
 * level-1 table makes KVM mark its shadow page unsync instead of emulating
 * the write.  The guest does not reload CR3 afterwards, so the pages stay
 * unsync.  In nested mode the alias maps L1's level-1 NPT tables, and L1
 * writes them while L2 is out: every nested VMRUN syncs them.
 */
void unsync_guest_write_tables(uint64_t nr_pages)
{
	uint64_t i;

	for (i = 0; i < nr_pages; i++)
		WRITE_ONCE(*(uint64_t *)(UNSYNC_ALIAS_GVA + i * PAGE_SIZE +
					 SCRIBBLE_INDEX * 8),
			   0);
}

void unsync_guest_code(uint64_t nr_pages)
{
	unsync_guest_write_data(nr_pages);
	for (;;) {
		GUEST_SYNC(UNSYNC_STAGE_SHADOWED);
		unsync_guest_write_tables(nr_pages);
		GUEST_SYNC(UNSYNC_STAGE_UNSYNC);
		unsync_guest_check_data(nr_pages);
	}
}
