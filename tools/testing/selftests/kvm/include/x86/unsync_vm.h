/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A VM with many unsync shadow pages, for the tests of the shadow MMU's zap
 * paths, and the counters those tests read.
 *
 * Data page i lives at its own 2 MiB stride of guest virtual memory, so each
 * data page has a level-1 guest page table of its own.  The guest page
 * tables of the data, and of an alias mapping that maps each data page's
 * level-1 table as a writable page, live in a memslot of their own; the
 * data pages in another.  KVM write-protects the guest page tables it
 * shadows; a write to a level-1 table makes KVM mark its shadow page unsync
 * instead of emulating the write, so a guest that writes every data page's
 * table through the alias leaves KVM with one unsync shadow page per data
 * page.
 *
 * Shadow mode (KVM shadows guest page tables: kvm_amd.npt=0 or
 * kvm_intel.ept=0) runs that guest as is.  Nested mode (KVM uses NPT) makes
 * the guest an L1 hypervisor that runs an L2 with nested NPT: KVM shadows
 * L1's NPT tables with shadow pages of their own (role.guest_mode), on the
 * same list and in the same pool.  L2 runs on L1's page tables; L1's NPT
 * maps data page i at its own 2 MiB stride of L2 memory with a 4 KiB entry,
 * so each data page has a level-1 NPT table, and the alias maps those, so
 * the same guest writes unsync KVM's shadow of them.
 */
#ifndef SELFTEST_KVM_UNSYNC_VM_H
#define SELFTEST_KVM_UNSYNC_VM_H

#include <linux/sizes.h>

#include "kvm_util.h"
#include "processor.h"
#include "unsync_stats.h"

#define UNSYNC_PT_SLOT		10
#define UNSYNC_DATA_SLOT	11
#define UNSYNC_PT_GPA		(4ULL << 30)
#define UNSYNC_DATA_GPA		(8ULL << 30)
#define UNSYNC_DATA_GVA		BIT_ULL(39)	/* PML4 entry 1 */
#define UNSYNC_ALIAS_GVA	(128ULL << 39)	/* PML4 entry 128 */
#define UNSYNC_STRIDE		SZ_2M
/* Nested mode: the L2 GPA of data page 0, above everything L1 has. */
#define UNSYNC_L2_DATA_GPA	(16ULL << 30)

/* One guest PDPT maps 512 GiB: 256k strides of 2 MiB. */
#define UNSYNC_MAX_PAGES	(256 * 1024)
/* Level-1 tables below one level-2 table. */
#define UNSYNC_TABLES_PER_PARENT 512

/* KVM_SET_NR_MMU_PAGES refuses goals below this (KVM_MIN_ALLOC_MMU_PAGES). */
#define UNSYNC_MIN_POOL_PAGES	64

#define UNSYNC_PATTERN(i)	(0x5a5a000000000000ULL | (i))

static inline u64 unsync_data_gva(u64 i)
{
	return UNSYNC_DATA_GVA + i * UNSYNC_STRIDE;
}

/* The page through which the guest writes data page @i's level-1 table. */
static inline u64 unsync_alias_gva(u64 i)
{
	return UNSYNC_ALIAS_GVA + i * PAGE_SIZE;
}

enum unsync_mode {
	UNSYNC_MODE_AUTO,
	UNSYNC_MODE_SHADOW,
	UNSYNC_MODE_NESTED,
};

extern enum unsync_mode unsync_mode;

/* -m shadow|nested; exits on anything else. */
void unsync_mode_parse(const char *arg);
/*
 * Skip the test (exit 4) unless KVM can run unsync_mode; in the default
 * mode, pick shadow mode where KVM shadows guest page tables, else nested
 * mode where KVM offers its guests SVM with NPT.
 */
void unsync_require(void);
const char *unsync_mode_name(void);

struct unsync_vm {
	struct kvm_vm *vm;
	struct kvm_vcpu *vcpu;
	u64 nr_pages;
	/*
	 * The tables KVM shadows for the data and the alias, by level (1..3):
	 * guest page tables, or in nested mode L1's NPT tables of the data.
	 * All of them lie in UNSYNC_PT_SLOT.
	 */
	u64 nr_tables[4];
};

/*
 * A VM with @nr_pages data pages and room for @nr_vcpus vCPUs; vCPU 0 runs
 * @guest_code(nr_pages).  The pool (KVM_SET_NR_MMU_PAGES) holds the whole
 * build: unsync_pool_pages(nr_pages).
 */
struct unsync_vm *unsync_vm_create(u64 nr_pages, u32 nr_vcpus, void *guest_code);
void unsync_vm_free(struct unsync_vm *uvm);
/* All of uvm->nr_tables[]. */
u64 unsync_vm_tables(struct unsync_vm *uvm);
/*
 * The host address of the level-@level entry (1: PTE ... 4: PML4E) that
 * maps @gva in the guest's page tables.
 */
u64 *unsync_guest_pte(struct unsync_vm *uvm, u64 gva, int level);
/* The GPA of the table at @level that KVM shadows for data page @i. */
u64 unsync_table_gpa(struct unsync_vm *uvm, u64 i, int level);

/*
 * Guest side.  The data helpers work on data pages [first, first + nr); in
 * nested mode L1 runs L2 for one pass over them.
 */
void unsync_guest_write_data(u64 first, u64 nr);
void unsync_guest_check_data(u64 first, u64 nr);
/* Write a not-present PTE of each data page's level-1 table (unsync it). */
void unsync_guest_write_tables(u64 first, u64 nr);

/*
 * The guest of the tests that need only unsync pages, as memstress has one
 * for the dirty-log tests:
 *
 *	unsync_guest_write_data(0, nr_pages);
 *	for (;;) {
 *		GUEST_SYNC(UNSYNC_STAGE_SHADOWED);
 *		unsync_guest_write_tables(0, nr_pages);
 *		GUEST_SYNC(UNSYNC_STAGE_UNSYNC);
 *		unsync_guest_check_data(0, nr_pages);
 *	}
 *
 * Each run to SHADOWED reads the data back (the first one writes it),
 * rebuilding whatever the host zapped meanwhile; each run on to UNSYNC
 * leaves one unsync shadow page per data page.
 */
enum {
	UNSYNC_STAGE_SHADOWED = 1,
	UNSYNC_STAGE_UNSYNC,
};

void unsync_guest_code(u64 nr_pages);
/* Run unsync_guest_code() to SHADOWED, then to UNSYNC. */
void unsync_vm_build(struct unsync_vm *uvm);

/* Run @vcpu until its next GUEST_SYNC, which must be @stage. */
void unsync_vcpu_run(struct kvm_vcpu *vcpu, u64 stage);

/* Shadow pages that hold a whole build of @nr_pages, and a margin. */
static inline u64 unsync_pool_pages(u64 nr_pages)
{
	return 2 * nr_pages + 4096;
}

/* KVM_SET_NR_MMU_PAGES. */
static inline int __unsync_set_pool(struct kvm_vm *vm, u64 pages)
{
	return __vm_ioctl(vm, KVM_SET_NR_MMU_PAGES, (void *)(unsigned long)pages);
}

static inline void unsync_set_pool(struct kvm_vm *vm, u64 pages)
{
	vm_ioctl(vm, KVM_SET_NR_MMU_PAGES, (void *)(unsigned long)pages);
}

/*
 * Delete a memslot, keeping its memory and libkvm's record of it for
 * unsync_slot_restore().
 */
void unsync_slot_hide(struct kvm_vm *vm, u32 slot);
void unsync_slot_restore(struct kvm_vm *vm, u32 slot);

/*
 * KVM_X86_QUIRK_SLOT_ZAP_ALL: on (the default), deleting or moving a
 * memslot zaps every shadow page; off, only those of what the slot holds.
 * False if KVM cannot turn it off.
 */
bool unsync_disable_slot_zap_all(struct kvm_vm *vm);

#endif /* SELFTEST_KVM_UNSYNC_VM_H */
