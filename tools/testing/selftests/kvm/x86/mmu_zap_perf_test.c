// SPDX-License-Identifier: GPL-2.0-only
/*
 * Measure what the shadow MMU's zap paths cost as the number of unsync
 * shadow pages grows: building them, shrinking the pool to its minimum
 * (time per zapped page), deleting the page-table memslot with
 * KVM_X86_QUIRK_SLOT_ZAP_ALL on and off (time per zapped page).  How
 * often the shrink's walk restarts is mmu_zap_restart_test's to count.
 *
 * A benchmark, not a pass/fail test of speed: it prints one "csv," line per
 * size, which scripts/bench.sh turns into a table and a plot; it fails
 * only if a zap is not counted once, as the other tests check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm_util.h"
#include "processor.h"
#include "shadow_mmu.h"

#define DEFAULT_SIZES "1024,4096,16384,65536"
#define LARGE_SIZES "1024,4096,16384,65536,262144"
#define MAX_SIZES 16
#define CSV_HEADER                                                   \
	"pages,build_ms,shrink_ms,shrink_zapped,shrink_ns_per_page," \
	"slot_on_ns_per_page,slot_off_ns_per_page"

/* One size: the build's time, and the phases of each zap. */
struct perf_row {
	uint64_t nr_pages;
	double build_ms;
	struct zap_phase shrink;
	struct zap_phase slot_on; /* slot delete, quirk on */
	struct zap_phase slot_off; /* slot delete, quirk off (if it can be) */
};

static const char *sizes_arg = DEFAULT_SIZES;

static double timed_build(struct unsync_vm *uvm)
{
	struct zap_phase p;

	set_nr_mmu_pages(uvm->vm, unsync_pool_pages(uvm->nr_pages));
	zap_phase_begin(uvm->vm, &p, "build");
	unsync_vm_build(uvm);
	zap_phase_end(uvm->vm, &p);
	return p.ms;
}

/* Delete the page-table memslot and put it back; time the delete. */
static void timed_slot_delete(struct unsync_vm *uvm, struct zap_phase *p)
{
	zap_phase_begin(uvm->vm, p, "slot delete");
	memslot_hide(uvm->vm, UNSYNC_PT_SLOT);
	zap_phase_end(uvm->vm, p);
	memslot_restore(uvm->vm, UNSYNC_PT_SLOT);
}

static void measure(struct perf_row *row, bool quirk)
{
	struct unsync_vm *uvm =
		unsync_vm_create(row->nr_pages, unsync_guest_code);

	row->build_ms = timed_build(uvm);
	zap_phase_begin(uvm->vm, &row->shrink, "shrink");
	set_nr_mmu_pages(uvm->vm, KVM_MIN_ALLOC_MMU_PAGES);
	zap_phase_end(uvm->vm, &row->shrink);
	/* The zaps must be counted once, as the tests check. */
	check_zapped_recycled(&row->shrink);

	timed_build(uvm);
	timed_slot_delete(uvm, &row->slot_on);
	if (quirk) {
		vm_disable_slot_zap_all(uvm->vm);
		timed_build(uvm);
		timed_slot_delete(uvm, &row->slot_off);
	}
	unsync_vm_free(uvm);
}

/* ns per zapped page of phase @p (0 if it zapped none). */
static double ns_per_zap(const struct zap_phase *p)
{
	uint64_t zapped = p->delta.mmu_shadow_zapped;

	return zapped ? p->ms * 1e6 / zapped : 0;
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
		sizes[n++] = atoi_in_range("-n", tok, 1, unsync_max_pages());
	}
	free(copy);
	return n;
}

int main(int argc, char *argv[])
{
	bool quirk, large = false;
	struct shadow_mmu_opt opts[] = {
		{ 'n', "pages,pages,...", "sizes to measure",
		  .text = &sizes_arg },
		{ 'L', NULL, "measure " LARGE_SIZES " (instead of -n)",
		  .on = &large },
		{}
	};
	uint64_t sizes[MAX_SIZES];
	struct perf_row row;
	int nr_sizes, i;

	shadow_mmu_parse_args(argc, argv, opts);
	if (large)
		sizes_arg = LARGE_SIZES;
	nr_sizes = parse_sizes(sizes_arg, sizes);

	ksft_print_header();
	/* Not written for nested mode yet: skips where KVM uses TDP. */
	unsync_mode = UNSYNC_MODE_SHADOW;
	shadow_mmu_require();
	quirk = slot_zap_all_can_disable();
	ksft_set_plan(nr_sizes);
	ksft_print_msg("slot delete, quirk off: %s\n",
		       quirk ? "yes" : "not supported");
	ksft_print_msg("csv,%s\n", CSV_HEADER);

	for (i = 0; i < nr_sizes; i++) {
		row = (struct perf_row){ .nr_pages = sizes[i] };
		measure(&row, quirk);
		ksft_print_msg("csv,%lu,%.2f,%.2f,%lu,%.1f,%.1f,%.1f\n",
			       row.nr_pages, row.build_ms, row.shrink.ms,
			       row.shrink.delta.mmu_shadow_zapped,
			       ns_per_zap(&row.shrink),
			       ns_per_zap(&row.slot_on),
			       ns_per_zap(&row.slot_off));
		ksft_test_result_pass("%lu pages: shrink %.0f ns/page\n",
				      row.nr_pages, ns_per_zap(&row.shrink));
	}
	ksft_finished();
}
