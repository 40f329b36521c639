/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers for tests of the x86 shadow MMU: a guest with many unsync shadow
 * pages, and the KVM statistics that count shadow pages and their zaps.
 *
 * Guest layout: data page i lives at its own 2 MiB stride of guest virtual
 * memory, so each data page has a guest page table (level 1) of its own.
 * The guest page tables of the data and of an alias mapping (which maps
 * every data page table as a writable page) live in their own memslot,
 * the data pages in another.  The guest runs at CPL3, where every KVM
 * shadows it natively (a PVM host emulates ring-0 code and builds no
 * shadow pages for it).
 *
 * Nested mode, for a KVM that uses TDP: the guest is an L1 hypervisor that
 * runs an L2 with nested NPT (nested_npt.h).  L2 runs on L1's page tables
 * and accesses the data; L1's NPT maps each data page with a level-1 NPT
 * table of its own, in the page-table memslot, and the alias maps those
 * NPT tables, so the same guest code unsyncs KVM's shadow of them.
 */
#ifndef SELFTEST_KVM_SHADOW_MMU_H
#define SELFTEST_KVM_SHADOW_MMU_H

#include <stdbool.h>
#include <stdint.h>

#include "kvm_util.h"
#include "nested_npt.h"
#include "processor.h"
#include "shadow_mmu_opts.h"
#include "user_mode.h"
#include "zap_stats.h"

#define UNSYNC_PT_SLOT 10
#define UNSYNC_DATA_SLOT 11
#define UNSYNC_PT_GPA (4ULL << 30)
#define UNSYNC_DATA_GPA (8ULL << 30)
#define UNSYNC_DATA_GVA BIT_ULL(39) /* PML4 entry 1 */
#define UNSYNC_ALIAS_GVA (128ULL << 39) /* PML4 entry 128 */
#define UNSYNC_STRIDE (2ULL << 20)
/* Nested mode: L2 GPA of data page 0, beyond L1's memory. */
#define NESTED_DATA_L2_GPA (16ULL << 30)

/* One guest PDPT maps 512 GiB, i.e. 256k strides of 2 MiB. */
#define UNSYNC_MAX_PAGES (256 * 1024)
/* KVM_SET_NR_MMU_PAGES refuses goals below KVM_MIN_ALLOC_MMU_PAGES. */
#define KVM_MIN_ALLOC_MMU_PAGES 64

#define UNSYNC_PATTERN(i) (0x5a5a000000000000ULL | (i))

/* The guest virtual address of data page @i. */
static inline uint64_t unsync_data_gva(uint64_t i)
{
	return UNSYNC_DATA_GVA + i * UNSYNC_STRIDE;
}

struct unsync_vm {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	uint64_t pgd; /* GPA of the guest's top-level table (CR3) */
	uint64_t nr_pages;
	/*
	 * Guest page tables of the data and alias mappings, by level (1..3);
	 * in nested mode, L1's NPT tables of the data.
	 */
	uint64_t nr_guest_tables[4];
	struct npt npt; /* nested mode: L1's NPT */
};

/*
 * Where KVM's shadow pages come from: the guest's page tables (shadow
 * mode, KVM without TDP) or an L1's NPT tables (nested mode, KVM with
 * TDP).  shadow_mmu_require() picks the mode the host can run, unless
 * -m shadow|nested (shadow_mmu_parse_args()) forced one.
 */
enum unsync_mode {
	UNSYNC_MODE_AUTO,
	UNSYNC_MODE_SHADOW,
	UNSYNC_MODE_NESTED,
};

extern enum unsync_mode unsync_mode;

/*
 * Guest side: what a test's guest code calls.  The guest code runs at CPL3
 * (shadow mode) or as the L1 (nested mode), takes nr_pages as its argument
 * and signals its phases with GUEST_SYNC(); unsync_vm_build() runs it to
 * UNSYNC_STAGE_SHADOWED, then to UNSYNC_STAGE_UNSYNC.
 *
 * In nested mode the data is L2's: the data helpers run L2, on L1's page
 * tables, for one pass over it, and return once L2 has exited to L1.
 */
enum {
	UNSYNC_STAGE_SHADOWED = 1, /* every data page written or checked */
	UNSYNC_STAGE_UNSYNC, /* every data page table written */
};

/* Write UNSYNC_PATTERN(i) to data page i, for every data page. */
void unsync_guest_write_data(uint64_t nr_pages);
/* Write a not-present PTE of every data page table, through the alias. */
void unsync_guest_write_tables(uint64_t nr_pages);
/* Assert that data page i holds UNSYNC_PATTERN(i), for every data page. */
void unsync_guest_check_data(uint64_t nr_pages);
/*
 * The guest of the tests that only need unsync pages, as memstress has one
 * for the dirty-log tests:
 *
 *	unsync_guest_write_data(nr_pages);
 *	for (;;) {
 *		GUEST_SYNC(UNSYNC_STAGE_SHADOWED);
 *		unsync_guest_write_tables(nr_pages);
 *		GUEST_SYNC(UNSYNC_STAGE_UNSYNC);
 *		unsync_guest_check_data(nr_pages);
 *	}
 *
 * It writes every data page, so that KVM shadows every data page table;
 * then each time the host runs it, it writes one PTE of every data page
 * table (KVM marks their shadow pages unsync) and reads every data page
 * back, which rebuilds what the host zapped meanwhile (and under a shrunken
 * pool makes KVM recycle as it goes).
 */
void unsync_guest_code(uint64_t nr_pages);
/* Nested mode: the L1's SVM state, set up by the host's build. */
extern struct nested_svm unsync_nested_svm;

/*
 * Host side.  shadow_mmu_require() skips the test (exit 4) unless KVM has
 * binary stats and can run the mode: shadow mode needs a KVM that shadows
 * guest page tables, nested mode one that offers its guests SVM with NPT.
 */
void shadow_mmu_require(void);
/*
 * A VM whose vCPU 0 runs @guest_code(nr_pages), with room for
 * @nr_extra_vcpus more vCPUs, with 8 page-table pages each.
 */
struct unsync_vm *__unsync_vm_create(uint64_t nr_pages, uint32_t nr_extra_vcpus,
				     void *guest_code);
struct unsync_vm *unsync_vm_create(uint64_t nr_pages, void *guest_code);
/* Host address of the level-@level entry (1: PTE .. 4: PML4E) of @gva. */
uint64_t *unsync_guest_pte(struct unsync_vm *uvm, uint64_t gva, int level);
void unsync_vm_build(struct unsync_vm *uvm);
void unsync_vm_free(struct unsync_vm *uvm);
uint64_t unsync_pool_pages(uint64_t nr_pages);
uint64_t unsync_max_pages(void);
void vcpu_run_to_sync(struct kvm_vcpu *vcpu, uint64_t stage);

/*
 * Delete a memslot from KVM but keep its memory and libkvm's record of it,
 * so that memslot_restore() can give it back as it was.
 */
void memslot_hide(struct kvm_vm *vm, uint32_t slot);
void memslot_restore(struct kvm_vm *vm, uint32_t slot);

/* KVM_SET_NR_MMU_PAGES: the shadow page pool's goal. */
static inline void set_nr_mmu_pages(struct kvm_vm *vm, uint64_t pages)
{
	vm_ioctl(vm, KVM_SET_NR_MMU_PAGES, (void *)(unsigned long)pages);
}

/*
 * KVM_X86_QUIRK_SLOT_ZAP_ALL: on (the default), deleting or moving a
 * memslot zaps every shadow page; off, only those of what the slot holds.
 */
bool slot_zap_all_can_disable(void);
void vm_disable_slot_zap_all(struct kvm_vm *vm);

/*
 * A zap that frees pages to recycle them (a pool shrink, the MMU
 * shrinker) counts each page once in mmu_shadow_zapped and once in
 * mmu_recycled; asserted over phase @p, lenient where nested mode makes
 * KVM count a zapped subtree as one page.
 */
void check_zapped_recycled(const struct zap_phase *p);

/* -m shadow|nested, for the tests that run in both modes. */
extern const struct shadow_mmu_opt unsync_mode_opt;

/* -n pages, up to the largest build the host can back. */
#define UNSYNC_PAGES_OPT(nr)                                                 \
	{                                                                    \
		'n', "pages", "data pages to build, a shadow page each", nr, \
			1, unsync_max_pages()                                \
	}

#endif /* SELFTEST_KVM_SHADOW_MMU_H */
