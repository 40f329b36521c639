/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shadow page families at the oldest end of KVM's active_mmu_pages.
 *
 * A family is the shadow page of one guest level-2 table (the parent)
 * followed, in creation order, by the shadow pages of some of the level-1
 * tables below it (its children), k of them unsync.  KVM keeps
 * active_mmu_pages in creation order and its zap walks start from the
 * oldest page, so a walk over families zaps parent after parent, each
 * taking its k unsync children with it.  The layout mixes families of
 * different k in one VM, so that one walk's budget spans several.
 *
 * The build (unsync_families_build()) runs a guest that follows the
 * FAMILY_STAGE_* protocol below:
 *  1. BOOTED: the guest's own mappings (code, stack, ...) are shadowed.
 *  2. TOUCHED: the guest wrote the first data page of every child, family
 *     by family, so each parent is followed by its children.  The host
 *     points CR3 at a copy of the top-level table, and everything older
 *     than the first parent (the old root, the guest's own mappings and
 *     the data PDPT: a zap of the root or the PDPT would take every unsync
 *     descendant at once) is zapped by a shrink that spans exactly those
 *     pages.  A shadow page that is zapped and faulted in again moves to
 *     the newest end, while the parents it pointed to stay where they are.
 *  3. BUILT: the guest read every data page back, which brings the data
 *     PDPT back at the newest end (KVM syncs a parent's unsync children
 *     when it links the parent anew, so this comes first), then wrote one
 *     PTE of each of the first k level-1 tables of every family through
 *     the alias mapping: KVM marks their shadow pages unsync.  Each later
 *     run of the vCPU does the same again and stops at BUILT.
 *
 * The families are laid on struct unsync_vm: family f owns the data pages
 * f * 512 .. f * 512 + 511, which share one guest level-2 table.
 */
#ifndef SELFTEST_KVM_UNSYNC_FAMILIES_H
#define SELFTEST_KVM_UNSYNC_FAMILIES_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm_util.h"
#include "shadow_mmu.h"
#include "zap_trace.h"

#define FAMILY_MAX 64
/* Level-1 tables per level-2 table: the largest family. */
#define FAMILY_MAX_CHILDREN 512

#define FAMILY_PATTERN(f, j) (0xfa00000000000000ULL | (uint64_t)(f) << 32 | (j))

/* The PTE of each child's guest table that the guest writes to unsync it. */
#define FAMILY_SCRIBBLE_INDEX 256

enum {
	FAMILY_STAGE_BOOTED = 1,
	FAMILY_STAGE_TOUCHED,
	FAMILY_STAGE_BUILT,
};

/* What the guest reads: family f has children[f], the first unsync[f] unsync. */
struct family_layout {
	uint32_t nr;
	uint32_t children[FAMILY_MAX];
	uint32_t unsync[FAMILY_MAX];
};

extern struct family_layout family_layout;

/* Guest side: data page j of family f, and the PTE that unsyncs its table. */
static inline uint64_t *family_data(uint32_t f, uint32_t j)
{
	return (uint64_t *)unsync_data_gva((uint64_t)f * FAMILY_MAX_CHILDREN +
					   j);
}

static inline uint64_t *family_pte(uint32_t f, uint32_t j)
{
	return (uint64_t *)(UNSYNC_ALIAS_GVA +
			    ((uint64_t)f * FAMILY_MAX_CHILDREN + j) *
				    PAGE_SIZE +
			    FAMILY_SCRIBBLE_INDEX * 8);
}

struct unsync_families {
	struct unsync_vm *uvm;
	struct family_layout layout;
	uint64_t nr_unsync; /* sum of the families' k */
	uint64_t older; /* pages that were older than the first parent */
	uint64_t in_use; /* shadow pages in use once built */
	/* GFNs of each family's guest tables, to name the zapped pages. */
	uint64_t parent_gfn[FAMILY_MAX];
};

/*
 * @unsync[f] is family f's k; a family with k = 0 gets @sync_children sync
 * children, the others exactly k children, all unsync.  @guest_code follows
 * the FAMILY_STAGE_* protocol.
 */
struct unsync_families *unsync_families_create(const uint32_t *unsync,
					       uint32_t nr,
					       uint32_t sync_children,
					       void *guest_code);
/* False if another zapper (the host's MMU shrinker) disturbed the build. */
bool unsync_families_build(struct unsync_families *fam, struct zap_trace *t);
void unsync_families_free(struct unsync_families *fam);

/* Shadow pages of families [first, last), parents and children. */
uint64_t families_pages(struct unsync_families *fam, uint32_t first,
			uint32_t last);

/*
 * Print the kvm_mmu_prepare_zap_page events captured since the last
 * zap_trace_clear(), in order, one line per family or run of other pages:
 * "F3 parent + 2 unsync" names the family of each level-2 page by its GFN.
 * Call before zap_trace_collect(), which clears the trace.
 */
void families_print_zaps(struct unsync_families *fam, struct zap_trace *t);

#endif /* SELFTEST_KVM_UNSYNC_FAMILIES_H */
