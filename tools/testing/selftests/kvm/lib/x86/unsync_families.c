// SPDX-License-Identifier: GPL-2.0-only
/*
 * Shadow page families at the oldest end of active_mmu_pages: see
 * unsync_families.h for the layout and the guest's protocol.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvm_util.h"
#include "processor.h"
#include "unsync_families.h"

struct family_layout family_layout;

struct unsync_families *unsync_families_create(const uint32_t *unsync,
					       uint32_t nr,
					       uint32_t sync_children,
					       void *guest_code)
{
	struct unsync_families *fam = calloc(1, sizeof(*fam));
	struct family_layout *l;
	uint64_t gva;
	uint32_t f;

	TEST_ASSERT(fam, "calloc failed");
	TEST_ASSERT(nr >= 1 && nr <= FAMILY_MAX, "%u families, max %d", nr,
		    FAMILY_MAX);
	TEST_ASSERT(sync_children >= 1 && sync_children <= FAMILY_MAX_CHILDREN,
		    "%u sync children, expected 1..%d", sync_children,
		    FAMILY_MAX_CHILDREN);
	l = &fam->layout;
	l->nr = nr;
	for (f = 0; f < nr; f++) {
		TEST_ASSERT(unsync[f] <= FAMILY_MAX_CHILDREN,
			    "Family %u: k %u, max %d", f, unsync[f],
			    FAMILY_MAX_CHILDREN);
		l->unsync[f] = unsync[f];
		l->children[f] = unsync[f] ? unsync[f] : sync_children;
		fam->nr_unsync += unsync[f];
	}

	fam->uvm = unsync_vm_create((uint64_t)nr * FAMILY_MAX_CHILDREN,
				    guest_code);
	for (f = 0; f < nr; f++) {
		gva = (uint64_t)family_data(f, 0);
		fam->parent_gfn[f] =
			PTE_GET_PFN(*unsync_guest_pte(fam->uvm, gva, 3));
	}
	family_layout = *l;
	sync_global_to_guest(fam->uvm->vm, family_layout);
	return fam;
}

uint64_t families_pages(struct unsync_families *fam, uint32_t first,
			uint32_t last)
{
	uint64_t pages = 0;
	uint32_t f;

	for (f = first; f < last && f < fam->layout.nr; f++)
		pages += 1 + fam->layout.children[f];
	return pages;
}

/*
 * Point the vCPU's CR3 at a copy of its top-level table.  KVM drops its
 * reference to the old root at once and builds a new root at the next
 * KVM_RUN, while the old one stays on active_mmu_pages as an ordinary page.
 */
static void vcpu_move_to_new_root(struct unsync_vm *uvm)
{
	struct kvm_vm *vm = uvm->vm;
	struct kvm_sregs sregs;
	uint64_t pgd;

	pgd = vm_phy_page_alloc(vm, UNSYNC_PT_GPA, UNSYNC_PT_SLOT);
	memcpy(addr_gpa2hva(vm, pgd), addr_gpa2hva(vm, uvm->pgd), PAGE_SIZE);
	vcpu_sregs_get(uvm->vcpu, &sregs);
	sregs.cr3 = (sregs.cr3 & ~PHYSICAL_PAGE_MASK) | pgd;
	vcpu_sregs_set(uvm->vcpu, &sregs);
	uvm->pgd = pgd;
}

/*
 * Run the guest through the FAMILY_STAGE_* protocol.  Every step is
 * checked against the counters, so that a layout that is not the one
 * described fails here rather than in a test's figures.  The host's MMU
 * shrinker may zap this VM's pages meanwhile: that is told from the zaps
 * this process made (@t) and makes the build return false.
 */
bool unsync_families_build(struct unsync_families *fam, struct zap_trace *t)
{
	struct zap_stats booted, touched, moved, built;
	struct kvm_vcpu *vcpu = fam->uvm->vcpu;
	struct kvm_vm *vm = fam->uvm->vm;
	uint64_t pages = families_pages(fam, 0, fam->layout.nr);
	uint64_t older, goal, zapped;
	struct zap_counts c;

	vcpu_run_to_sync(vcpu, FAMILY_STAGE_BOOTED);
	zap_stats_read(vm, &booted, "families booted");
	vcpu_run_to_sync(vcpu, FAMILY_STAGE_TOUCHED);
	zap_stats_read(vm, &touched, "families touched");
	if (touched.mmu_shadow_zapped != booted.mmu_shadow_zapped)
		return false;
	older = zap_stats_in_use(&booted) + 1;

	/* The touch made the data PDPT, then each family, and nothing else. */
	TEST_ASSERT(zap_stats_in_use(&touched) == older + pages,
		    "Families touched: %lu pages in use, expected %lu + %lu",
		    zap_stats_in_use(&touched), older, pages);

	/*
	 * Zap every page older than the first parent: the pages in use at
	 * BOOTED and the data PDPT.  The root is one of them: the vCPU moves
	 * to a copy of the top-level table, so that its live root is made
	 * anew at the newest end, and zapping the root of every family (which
	 * takes all their unsync children at once) does not come first in
	 * walks from the oldest end.  All of these pages are sync, so each
	 * zap frees exactly one page and the shrink lands on its goal.
	 */
	vcpu_move_to_new_root(fam->uvm);
	fam->older = older;
	goal = pages;
	TEST_ASSERT(goal >= KVM_MIN_ALLOC_MMU_PAGES,
		    "Families too small: %lu pages, at least %d needed", pages,
		    KVM_MIN_ALLOC_MMU_PAGES);
	zap_trace_clear(t);
	set_nr_mmu_pages(vm, goal);
	zap_stats_read(vm, &moved, "older pages zapped");
	zapped = moved.mmu_shadow_zapped - touched.mmu_shadow_zapped;
	if (zapped != older)
		families_print_zaps(fam, t);
	zap_trace_collect(t, &c);
	if (c.zaps != zapped || c.lost)
		return false;
	TEST_ASSERT(zap_stats_in_use(&moved) == goal && zapped == older,
		    "Zapping %lu older pages: %lu zapped, %lu in use, goal %lu",
		    older, zapped, zap_stats_in_use(&moved), goal);
	set_nr_mmu_pages(vm, unsync_pool_pages(fam->uvm->nr_pages));

	vcpu_run_to_sync(vcpu, FAMILY_STAGE_BUILT);
	zap_stats_read(vm, &built, "families built");
	if (built.mmu_shadow_zapped != moved.mmu_shadow_zapped)
		return false;
	TEST_ASSERT(built.mmu_unsync == fam->nr_unsync,
		    "Families built: mmu_unsync %lu, expected %lu",
		    built.mmu_unsync, fam->nr_unsync);
	fam->in_use = zap_stats_in_use(&built);
	return true;
}

void unsync_families_free(struct unsync_families *fam)
{
	unsync_vm_free(fam->uvm);
	free(fam);
}

/*
 * The token naming one zapped shadow page in families_print_zaps().  With
 * the "fields" trace option the event gives gfn, role (the level in its low
 * four bits) and unsync by name; without it, its printed text has
 * " gfn %llx l%u" and "unsync" or "sync".
 */
static void zap_token(struct unsync_families *fam, const char *ev, char *tok,
		      size_t size)
{
	const char *g = strstr(ev, " gfn ");
	uint64_t gfn = 0, role = 0, unsync = 0;
	unsigned long long printed_gfn;
	unsigned int level = 0;
	uint32_t f;

	if (zap_event_field(ev, "gfn", &gfn) &&
	    zap_event_field(ev, "role", &role)) {
		level = role & 0xf;
		zap_event_field(ev, "unsync", &unsync);
	} else if (g && sscanf(g, " gfn %llx l%u", &printed_gfn, &level) == 2) {
		gfn = printed_gfn;
		unsync = !!strstr(ev, " unsync");
	}
	if (level == 2) {
		for (f = 0; f < fam->layout.nr; f++) {
			if (fam->parent_gfn[f] == gfn) {
				snprintf(tok, size, "F%u", f);
				return;
			}
		}
	}
	if (level == 1)
		snprintf(tok, size, "%s", unsync ? "u" : "s");
	else
		snprintf(tok, size, "L%u", level);
}

static void print_token(const char *tok, int count, int *on_line)
{
	if (!count)
		return;
	if (!*on_line)
		ksft_print_msg("  ");
	printf(count > 1 ? " %s*%d" : " %s", tok, count);
	if (++*on_line == 16) {
		printf("\n");
		*on_line = 0;
	}
}

void families_print_zaps(struct unsync_families *fam, struct zap_trace *t)
{
	char tok[16], prev[16] = "", *line = NULL;
	int count = 0, on_line = 0;
	size_t cap = 0;
	const char *ev;
	sigset_t old;
	FILE *f;

	f = zap_trace_text_open(t, &old);
	ksft_print_msg("zaps (Fn: parent of family n, u/s: a child):\n");
	while (getline(&line, &cap, f) > 0) {
		ev = strstr(line, " kvm_mmu_prepare_zap_page: ");
		if (!ev)
			continue;
		zap_token(fam, ev, tok, sizeof(tok));
		if (count && !strcmp(tok, prev)) {
			count++;
			continue;
		}
		print_token(prev, count, &on_line);
		snprintf(prev, sizeof(prev), "%s", tok);
		count = 1;
	}
	print_token(prev, count, &on_line);
	if (on_line)
		printf("\n");
	free(line);
	zap_trace_text_close(f, &old);
}
