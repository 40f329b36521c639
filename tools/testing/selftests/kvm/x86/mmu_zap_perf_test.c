// SPDX-License-Identifier: GPL-2.0-only
/*
 * Measure what the shadow MMU's zap paths cost as the number of unsync
 * shadow pages grows: building them, shrinking the pool to its minimum
 * (time per zapped page), deleting the page-table memslot with
 * KVM_X86_QUIRK_SLOT_ZAP_ALL on and off (time per zapped page).  How
 * often the shrink's walk restarts is mmu_zap_restart_test's to count.
 *
 * A benchmark, not a pass/fail test of speed: it prints a table and one
 * "csv," line per size for scripts/bench.sh; it fails only if a zap is not
 * counted once, as the other tests check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "shadow_mmu.h"
#include "ucall_common.h"

#define DEFAULT_SIZES "1024,4096,16384,65536"
#define LARGE_SIZES "1024,4096,16384,65536,262144"
#define MAX_SIZES 16
#define CSV_HEADER                                                   \
	"pages,build_ms,shrink_ms,shrink_zapped,shrink_ns_per_page," \
	"slot_on_ns_per_page,slot_off_ns_per_page"

struct perf_row {
	uint64_t nr_pages;
	double build_ms;
	double shrink_ms;
	uint64_t shrink_zapped;
	double slot_on_ms;
	uint64_t slot_on_zapped;
	double slot_off_ms;
	uint64_t slot_off_zapped;
};

/*
 * The guest writes every data page, so that KVM shadows every data page
 * table, then, each time the host runs it, writes one PTE of every data
 * page table (KVM marks their shadow pages unsync) and reads every data
 * page back (rebuilding what the host zapped meanwhile).
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

static double timed_build(struct unsync_vm *uvm)
{
	struct timespec start;

	set_nr_mmu_pages(uvm->vm, unsync_pool_pages(uvm->nr_pages));
	clock_gettime(CLOCK_MONOTONIC, &start);
	unsync_vm_build(uvm);
	return ms_since(start);
}

/* Shrink to the minimum; the zaps must be counted once (see the tests). */
static double timed_shrink(struct unsync_vm *uvm, uint64_t *zapped)
{
	struct zap_stats before, after;
	struct timespec start;
	double ms;

	zap_stats_read(uvm->vm, &before, "before shrink");
	clock_gettime(CLOCK_MONOTONIC, &start);
	set_nr_mmu_pages(uvm->vm, KVM_MIN_ALLOC_MMU_PAGES);
	ms = ms_since(start);
	zap_stats_read(uvm->vm, &after, "after shrink");
	*zapped = after.mmu_shadow_zapped - before.mmu_shadow_zapped;
	TEST_ASSERT_EQ(*zapped, after.mmu_recycled - before.mmu_recycled);
	return ms;
}

/* Delete the page-table memslot and put it back; time the delete. */
static double timed_slot_delete(struct unsync_vm *uvm, uint64_t *zapped)
{
	struct zap_stats before, after;
	struct timespec start;
	double ms;

	zap_stats_read(uvm->vm, &before, "before slot delete");
	clock_gettime(CLOCK_MONOTONIC, &start);
	memslot_hide(uvm->vm, UNSYNC_PT_SLOT);
	ms = ms_since(start);
	zap_stats_read(uvm->vm, &after, "after slot delete");
	memslot_restore(uvm->vm, UNSYNC_PT_SLOT);
	*zapped = after.mmu_shadow_zapped - before.mmu_shadow_zapped;
	return ms;
}

static void measure(struct perf_row *row, bool quirk)
{
	struct unsync_vm *uvm = unsync_vm_create(row->nr_pages, guest_code);

	row->build_ms = timed_build(uvm);
	row->shrink_ms = timed_shrink(uvm, &row->shrink_zapped);

	timed_build(uvm);
	row->slot_on_ms = timed_slot_delete(uvm, &row->slot_on_zapped);
	row->slot_off_ms = 0;
	row->slot_off_zapped = 0;
	if (quirk) {
		vm_enable_cap(uvm->vm, KVM_CAP_DISABLE_QUIRKS2,
			      KVM_X86_QUIRK_SLOT_ZAP_ALL);
		timed_build(uvm);
		row->slot_off_ms =
			timed_slot_delete(uvm, &row->slot_off_zapped);
	}
	unsync_vm_free(uvm);
}

static double ns_per(double ms, uint64_t n)
{
	return n ? ms * 1e6 / n : 0;
}

static int parse_sizes(const char *arg, uint64_t *sizes)
{
	char *copy = strdup(arg), *tok, *save = NULL;
	int n = 0;

	for (tok = strtok_r(copy, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n == MAX_SIZES) {
			fprintf(stderr, "At most %d sizes\n", MAX_SIZES);
			exit(KSFT_FAIL);
		}
		sizes[n++] = parse_flag_u64("-n", tok, 1, unsync_max_pages());
	}
	free(copy);
	return n;
}

static void help(const char *name)
{
	printf("usage: %s [-n pages,pages,...] [-L] [-h]\n"
	       " -n: sizes to measure (each 1..%lu, default %s)\n"
	       " -L: also 262144 pages (%s)\n",
	       name, unsync_max_pages(), DEFAULT_SIZES, LARGE_SIZES);
}

int main(int argc, char *argv[])
{
	const char *sizes_arg = DEFAULT_SIZES;
	uint64_t sizes[MAX_SIZES];
	struct perf_row row;
	int nr_sizes, i, opt;
	bool quirk;

	while ((opt = getopt(argc, argv, "n:Lh")) != -1) {
		switch (opt) {
		case 'n':
			sizes_arg = optarg;
			break;
		case 'L':
			sizes_arg = LARGE_SIZES;
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
	nr_sizes = parse_sizes(sizes_arg, sizes);

	ksft_print_header();
	/* Not written for nested mode yet: skips where KVM uses TDP. */
	unsync_mode = UNSYNC_MODE_SHADOW;
	shadow_mmu_require();
	quirk = kvm_check_cap(KVM_CAP_DISABLE_QUIRKS2) &
		KVM_X86_QUIRK_SLOT_ZAP_ALL;
	ksft_set_plan(nr_sizes);
	ksft_print_msg("slot delete, quirk off: %s\n",
		       quirk ? "yes" : "not supported");
	ksft_print_msg("csv,%s\n", CSV_HEADER);

	for (i = 0; i < nr_sizes; i++) {
		row.nr_pages = sizes[i];
		measure(&row, quirk);
		ksft_print_msg("csv,%lu,%.2f,%.2f,%lu,%.1f,%.1f,%.1f\n",
			       row.nr_pages, row.build_ms, row.shrink_ms,
			       row.shrink_zapped,
			       ns_per(row.shrink_ms, row.shrink_zapped),
			       ns_per(row.slot_on_ms, row.slot_on_zapped),
			       ns_per(row.slot_off_ms, row.slot_off_zapped));
		ksft_test_result_pass("%lu pages: shrink %.0f ns/page\n",
				      row.nr_pages,
				      ns_per(row.shrink_ms, row.shrink_zapped));
	}
	ksft_finished();
}
