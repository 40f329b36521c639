// SPDX-License-Identifier: GPL-2.0-only
/*
 * The host side of the unsync VM (shadow_mmu.h): the mode the host can run,
 * the VM's layout and build, and the slot and pool operations the tests
 * apply to it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "shadow_mmu.h"
#include "ucall_common.h"

enum unsync_mode unsync_mode;

static void unsync_mode_parse(const char *arg)
{
	if (!strcmp(arg, "shadow")) {
		unsync_mode = UNSYNC_MODE_SHADOW;
	} else if (!strcmp(arg, "nested")) {
		unsync_mode = UNSYNC_MODE_NESTED;
	} else {
		fprintf(stderr, "Invalid -m '%s': expected shadow or nested\n",
			arg);
		exit(KSFT_FAIL);
	}
}

const struct shadow_mmu_opt unsync_mode_opt = {
	.flag = 'm',
	.arg = "mode",
	.help = "shadow or nested (default: what KVM can run)",
	.parse = unsync_mode_parse,
};

static inline uint64_t nested_data_l2_gpa(uint64_t i)
{
	return NESTED_DATA_L2_GPA + i * UNSYNC_STRIDE;
}

/*
 * The level-@level entry (1: PTE .. 4: PML4E) of @gva in the guest's
 * tables.  libkvm looks up the leaf PTE in every tree; the entries above
 * it take a walk of our own, from CR3, because the per-level lookup
 * (__vm_get_page_table_entry()) is static in libkvm since 7.1.
 */
uint64_t *unsync_guest_pte(struct unsync_vm *uvm, uint64_t gva, int level)
{
	struct kvm_vm *vm = uvm->vm;
	uint64_t *pte = addr_gpa2hva(vm, uvm->pgd);
	bool table;
	int l;

	if (level == 1)
		return guest_leaf_pte(vm, gva);
	for (l = 4;; l--) {
		pte += (gva >> PG_LEVEL_SHIFT(l)) & 511;
		if (l == level)
			return pte;
		table = (*pte & guest_pte_present_mask(vm)) &&
			!(*pte & guest_pte_huge_mask(vm));
		TEST_ASSERT(table, "GVA 0x%lx has no level-%d table", gva,
			    l - 1);
		pte = addr_gpa2hva(vm, PTE_GET_PA(*pte));
	}
}

/* GPA of the guest page table at @level (1: PT .. 4: PML4) mapping @gva. */
static uint64_t guest_table_gpa(struct unsync_vm *uvm, uint64_t gva, int level)
{
	if (level == 4)
		return uvm->pgd;
	return PTE_GET_PA(*unsync_guest_pte(uvm, gva, level + 1));
}

/*
 * Nested mode: L2 runs on L1's code and page tables, so the NPT maps slot 0
 * and the page-table slot one to one, but data page i at its own 2 MiB
 * stride of L2 memory with a 4 KiB entry: each data page has a level-1 NPT
 * table of its own, which KVM shadows with a page of its own.  L1's
 * mapping of data page i then points at that L2 address.
 */
static void nested_npt_build(struct unsync_vm *uvm)
{
	struct kvm_vm *vm = uvm->vm;
	uint64_t i, *pte;

	npt_create(vm, &uvm->npt, UNSYNC_PT_SLOT);
	npt_map_memslot(vm, &uvm->npt, 0);
	npt_map_memslot(vm, &uvm->npt, UNSYNC_PT_SLOT);
	for (i = 0; i < uvm->nr_pages; i++) {
		npt_map(vm, &uvm->npt, nested_data_l2_gpa(i),
			UNSYNC_DATA_GPA + i * PAGE_SIZE, 1);
		pte = unsync_guest_pte(uvm, unsync_data_gva(i), 1);
		*pte = (*pte & ~PHYSICAL_PAGE_MASK) | nested_data_l2_gpa(i);
	}
	nested_svm_init(vm, &unsync_nested_svm, uvm->npt.root);
}

/* The table at @level that KVM shadows for data page @i. */
static uint64_t data_table_gpa(struct unsync_vm *uvm, uint64_t i, int level)
{
	if (unsync_mode == UNSYNC_MODE_NESTED)
		return npt_table_gpa(uvm->vm, &uvm->npt, nested_data_l2_gpa(i),
				     level);
	return guest_table_gpa(uvm, unsync_data_gva(i), level);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Count the distinct guest page tables, per level, that map the data and
 * alias ranges (nested mode: L1's NPT tables that map the data; L1's own
 * page tables are not shadowed there).  KVM shadows each of them once the
 * guest has walked it.
 */
static void count_guest_tables(struct unsync_vm *uvm)
{
	bool nested = unsync_mode == UNSYNC_MODE_NESTED;
	uint64_t n = uvm->nr_pages, *gpas, gva, i, j, m;
	bool in_slot;
	int level;

	gpas = malloc(2 * n * sizeof(*gpas));
	TEST_ASSERT(gpas, "malloc(%lu) failed", 2 * n * sizeof(*gpas));
	for (level = 1; level <= 3; level++) {
		for (i = 0, m = 0; i < n; i++) {
			gpas[m++] = data_table_gpa(uvm, i, level);
			gva = UNSYNC_ALIAS_GVA + i * PAGE_SIZE;
			if (!nested)
				gpas[m++] = guest_table_gpa(uvm, gva, level);
		}
		qsort(gpas, m, sizeof(*gpas), cmp_u64);
		for (i = 0, j = 0; i < m; i++) {
			in_slot = gpas[i] >= UNSYNC_PT_GPA &&
				  gpas[i] < UNSYNC_DATA_GPA;
			TEST_ASSERT(in_slot, "L%d table 0x%lx not in PT slot",
				    level, gpas[i]);
			j += !i || gpas[i] != gpas[i - 1];
		}
		uvm->nr_guest_tables[level] = j;
	}
	free(gpas);
}

/* Guest page tables for nr_pages data pages and their alias, plus slack. */
static uint64_t pt_slot_pages(uint64_t nr_pages)
{
	return nr_pages + 2 * (nr_pages / 512) + 64;
}

/*
 * Shadow pages needed to keep every page of the build: one per guest page
 * table (about 2 per data page, counting the alias) plus libkvm's own.
 */
uint64_t unsync_pool_pages(uint64_t nr_pages)
{
	return 2 * nr_pages + 4096;
}

/*
 * Largest build this host can back: the guest's data and page-table pages,
 * the shadow pages and KVM's metadata take about 4 pages per data page, and
 * half of the available memory is the most a test may use.
 */
uint64_t unsync_max_pages(void)
{
	uint64_t limit =
		sysconf(_SC_AVPHYS_PAGES) * getpagesize() / PAGE_SIZE / 2 / 4;

	return limit < UNSYNC_MAX_PAGES ? limit : UNSYNC_MAX_PAGES;
}

/* Room in the page-table slot for each extra vCPU's own tables. */
#define EXTRA_VCPU_TABLES 8

struct unsync_vm *__unsync_vm_create(uint64_t nr_pages, uint32_t nr_extra_vcpus,
				     void *guest_code)
{
	struct unsync_vm *uvm = calloc(1, sizeof(*uvm));
	struct kvm_sregs sregs;
	uint64_t i, pt_pages;
	struct kvm_vm *vm;
	uint32_t pt_region;

	TEST_ASSERT(uvm, "calloc failed");
	TEST_ASSERT(nr_pages >= 1 && nr_pages <= UNSYNC_MAX_PAGES,
		    "nr_pages %lu out of range 1..%u", nr_pages,
		    UNSYNC_MAX_PAGES);
	uvm->nr_pages = nr_pages;
	/* Slot 0 holds every vCPU's stack. */
	vm = __vm_create(VM_SHAPE_DEFAULT, 1 + nr_extra_vcpus, 0);
	uvm->vcpu = vm_vcpu_add(vm, 0, guest_code);
	uvm->vm = vm;
	sync_global_to_guest(vm, unsync_mode);
	vcpu_sregs_get(uvm->vcpu, &sregs);
	TEST_ASSERT(!(sregs.cr4 & X86_CR4_LA57),
		    "5-level paging not supported");
	uvm->pgd = PTE_GET_PA(sregs.cr3);

	pt_pages = pt_slot_pages(nr_pages) + nr_extra_vcpus * EXTRA_VCPU_TABLES;
	/* Nested mode: L1's NPT too. */
	if (unsync_mode == UNSYNC_MODE_NESTED)
		pt_pages += pt_slot_pages(nr_pages);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, UNSYNC_PT_GPA,
				    UNSYNC_PT_SLOT, pt_pages, 0);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, UNSYNC_DATA_GPA,
				    UNSYNC_DATA_SLOT, nr_pages, 0);

	/* Allocate the data and alias page tables in the page-table slot. */
	pt_region = vm->memslots[MEM_REGION_PT];
	vm->memslots[MEM_REGION_PT] = UNSYNC_PT_SLOT;
	for (i = 0; i < nr_pages; i++)
		virt_pg_map(vm, unsync_data_gva(i),
			    UNSYNC_DATA_GPA + i * PAGE_SIZE);
	if (unsync_mode == UNSYNC_MODE_NESTED)
		nested_npt_build(uvm);
	for (i = 0; i < nr_pages; i++)
		virt_pg_map(vm, UNSYNC_ALIAS_GVA + i * PAGE_SIZE,
			    data_table_gpa(uvm, i, 1));
	vm->memslots[MEM_REGION_PT] = pt_region;
	count_guest_tables(uvm);

	/* Nested mode: L1 runs at CPL0, where it can run SVM. */
	if (unsync_mode != UNSYNC_MODE_NESTED)
		vcpu_enter_user_mode(uvm->vcpu);
	vcpu_args_set(uvm->vcpu, 1, nr_pages);

	/* The default pool is ~2% of guest memory: keep every page built. */
	set_nr_mmu_pages(vm, unsync_pool_pages(nr_pages));
	return uvm;
}

struct unsync_vm *unsync_vm_create(uint64_t nr_pages, void *guest_code)
{
	return __unsync_vm_create(nr_pages, 0, guest_code);
}

void unsync_vm_free(struct unsync_vm *uvm)
{
	kvm_vm_free(uvm->vm);
	free(uvm);
}

/*
 * Let the guest walk (or write, the first time) every data page, so that
 * KVM shadows every guest page table, then write every data page table, so
 * that KVM marks their shadow pages unsync.
 */
void unsync_vm_build(struct unsync_vm *uvm)
{
	vcpu_run_to_sync(uvm->vcpu, UNSYNC_STAGE_SHADOWED);
	vcpu_run_to_sync(uvm->vcpu, UNSYNC_STAGE_UNSYNC);
}

/* Run the vCPU until its next GUEST_SYNC(@stage); report guest asserts. */
void vcpu_run_to_sync(struct kvm_vcpu *vcpu, uint64_t stage)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		TEST_ASSERT(uc.args[1] == stage,
			    "Guest reached stage %lu, expected stage %lu",
			    uc.args[1], stage);
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	default:
		TEST_FAIL("Unexpected ucall %lu, expected GUEST_SYNC(%lu)",
			  uc.cmd, stage);
	}
}

static void memslot_set_size(struct kvm_vm *vm, uint32_t slot, uint64_t size)
{
	struct kvm_userspace_memory_region2 *r =
		&memslot2region(vm, slot)->region;

	vm_set_user_memory_region(vm, slot, r->flags, r->guest_phys_addr, size,
				  (void *)r->userspace_addr);
}

void memslot_hide(struct kvm_vm *vm, uint32_t slot)
{
	memslot_set_size(vm, slot, 0);
}

void memslot_restore(struct kvm_vm *vm, uint32_t slot)
{
	memslot_set_size(vm, slot,
			 memslot2region(vm, slot)->region.memory_size);
}

/*
 * 1 if KVM shadows guest page tables, 0 if it uses TDP (EPT/NPT), -1 if
 * the host does not say.  libkvm's kvm_is_tdp_enabled() reads the
 * kvm_intel or kvm_amd module's parameter; a PVM host (kvm_pvm) has
 * neither module, and no TDP at all.
 */
static int shadow_paging_enabled(void)
{
	if (!access(host_cpu_is_intel ? "/sys/module/kvm_intel" :
					"/sys/module/kvm_amd",
		    F_OK))
		return !kvm_is_tdp_enabled();
	if (!access("/sys/module/kvm_pvm", F_OK))
		return 1;
	return -1;
}

/*
 * Where the host does not name its paging mode, build one unsync page: only
 * a KVM that shadows guest page tables can have one.
 */
static bool probe_shadow_paging(void)
{
	enum unsync_mode mode = unsync_mode;
	struct unsync_vm *uvm;
	uint64_t unsync;

	unsync_mode = UNSYNC_MODE_SHADOW;
	uvm = unsync_vm_create(1, unsync_guest_code);
	unsync_vm_build(uvm);
	unsync = zap_vm_stat(uvm->vm, mmu_unsync);
	unsync_vm_free(uvm);
	unsync_mode = mode;
	return unsync == 1;
}

void shadow_mmu_require(void)
{
	static const char needs_shadow[] =
		"needs kvm_intel.ept=0 or kvm_amd.npt=0";
	const char *no_nested;
	int shadow;

	/* Opens /dev/kvm, and skips if there is none. */
	TEST_REQUIRE(kvm_has_cap(KVM_CAP_BINARY_STATS_FD));
	shadow = shadow_paging_enabled();
	if (shadow < 0)
		shadow = probe_shadow_paging();
	no_nested = nested_npt_unsupported();

	switch (unsync_mode) {
	case UNSYNC_MODE_SHADOW:
		__TEST_REQUIRE(shadow, "KVM uses TDP (%s)", needs_shadow);
		break;
	case UNSYNC_MODE_NESTED:
		__TEST_REQUIRE(!no_nested, "%s", no_nested);
		break;
	default:
		__TEST_REQUIRE(shadow || !no_nested,
			       "KVM uses TDP (%s), and %s", needs_shadow,
			       no_nested);
		unsync_mode = shadow ? UNSYNC_MODE_SHADOW : UNSYNC_MODE_NESTED;
	}
	ksft_print_msg("%s mode: shadow pages of %s\n",
		       unsync_mode == UNSYNC_MODE_NESTED ? "nested" : "shadow",
		       unsync_mode == UNSYNC_MODE_NESTED ?
			       "an L1's NPT tables" :
			       "the guest's page tables");
}

bool slot_zap_all_can_disable(void)
{
	return kvm_check_cap(KVM_CAP_DISABLE_QUIRKS2) &
	       KVM_X86_QUIRK_SLOT_ZAP_ALL;
}

void vm_disable_slot_zap_all(struct kvm_vm *vm)
{
	vm_enable_cap(vm, KVM_CAP_DISABLE_QUIRKS2, KVM_X86_QUIRK_SLOT_ZAP_ALL);
}

void check_zapped_recycled(const struct zap_phase *p)
{
	uint64_t zapped = p->delta.mmu_shadow_zapped;
	uint64_t recycled = p->delta.mmu_recycled;
	bool ok = zapped == recycled;

	/*
	 * Nested mode: zapping a nested shadow page also zaps each child it
	 * leaves without a parent, recursively, and mmu_page_zap_pte() counts
	 * such a subtree as one page (kvm_mmu_prepare_zap_page() returns a
	 * bool, in 6.12 and 7.3 alike), so mmu_recycled falls short by the
	 * rest of each subtree.
	 */
	if (unsync_mode == UNSYNC_MODE_NESTED) {
		ok = recycled <= zapped && (recycled || !zapped);
		if (zapped != recycled)
			ksft_print_msg("  %lu not in mmu_recycled\n",
				       zapped - recycled);
	}
	TEST_ASSERT(ok, "%s: mmu_shadow_zapped +%lu, mmu_recycled +%lu",
		    p->name, zapped, recycled);
}
