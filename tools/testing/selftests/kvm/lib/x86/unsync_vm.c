// SPDX-License-Identifier: GPL-2.0-only
/*
 * A VM with many unsync shadow pages (unsync_vm.h): its layout and build,
 * the guest code that unsyncs the pages, and the counters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "svm_util.h"
#include "ucall_common.h"
#include "unsync_vm.h"

enum unsync_mode unsync_mode;

/* Nested mode: the L1's SVM pages (struct svm_test_data). */
static gva_t unsync_svm_gva;

void unsync_mode_parse(const char *arg)
{
	if (!strcmp(arg, "shadow"))
		unsync_mode = UNSYNC_MODE_SHADOW;
	else if (!strcmp(arg, "nested"))
		unsync_mode = UNSYNC_MODE_NESTED;
	else
		TEST_FAIL("-m %s: expected shadow or nested", arg);
}

const char *unsync_mode_name(void)
{
	return unsync_mode == UNSYNC_MODE_NESTED ? "nested" : "shadow";
}

/*
 * NULL if KVM shadows guest page tables (uses neither EPT nor NPT), from
 * the module that is loaded (not from CPUID, which an emulator may fake).
 */
static const char *shadow_mode_unsupported(void)
{
	static const char tdp[] =
		"KVM uses TDP (shadow mode needs kvm_intel.ept=0 or kvm_amd.npt=0)";

	if (!access("/sys/module/kvm_amd/parameters/npt", R_OK))
		return get_kvm_amd_param_bool("npt") ? tdp : NULL;
	if (!access("/sys/module/kvm_intel/parameters/ept", R_OK))
		return get_kvm_intel_param_bool("ept") ? tdp : NULL;
	return "no kvm_intel.ept or kvm_amd.npt to tell the paging mode";
}

/* NULL if KVM offers its guests SVM with NPT. */
static const char *nested_mode_unsupported(void)
{
	if (!host_cpu_is_amd)
		return "nested mode needs AMD SVM with NPT";
	if (!kvm_cpu_has(X86_FEATURE_SVM))
		return "nested mode needs SVM in guests (kvm_amd.nested=1)";
	if (!kvm_cpu_has_npt())
		return "nested mode needs NPT (kvm_amd.npt=1)";
	/* Else L1's own (direct) shadow pages share the list and the pool. */
	if (!get_kvm_param_bool("tdp_mmu"))
		return "nested mode needs the TDP MMU (kvm.tdp_mmu=1)";
	return NULL;
}

void unsync_require(void)
{
	const char *no_shadow, *no_nested;

	TEST_REQUIRE(kvm_has_cap(KVM_CAP_BINARY_STATS_FD));
	no_shadow = shadow_mode_unsupported();
	no_nested = nested_mode_unsupported();

	switch (unsync_mode) {
	case UNSYNC_MODE_SHADOW:
		__TEST_REQUIRE(!no_shadow, "%s", no_shadow);
		break;
	case UNSYNC_MODE_NESTED:
		__TEST_REQUIRE(!no_nested, "%s", no_nested);
		break;
	default:
		__TEST_REQUIRE(!no_shadow || !no_nested, "%s; %s", no_shadow,
			       no_nested);
		unsync_mode = no_shadow ? UNSYNC_MODE_NESTED : UNSYNC_MODE_SHADOW;
	}
	ksft_print_msg("%s mode: shadow pages of %s\n", unsync_mode_name(),
		       unsync_mode == UNSYNC_MODE_NESTED ? "an L1's NPT tables" :
							   "the guest's page tables");
}

u64 *unsync_guest_pte(struct unsync_vm *uvm, u64 gva, int level)
{
	return __vm_get_page_table_entry(uvm->vm, &uvm->vm->mmu, gva, &level);
}

/* The GPA of the table at @level of @mmu that maps @addr. */
static u64 mmu_table_gpa(struct kvm_vm *vm, struct kvm_mmu *mmu, u64 addr,
			 int level)
{
	int parent = level + 1;

	if (level == mmu->pgtable_levels)
		return mmu->pgd;
	return PTE_GET_PA(*__vm_get_page_table_entry(vm, mmu, addr, &parent));
}

static u64 l2_data_gpa(u64 i)
{
	return UNSYNC_L2_DATA_GPA + i * UNSYNC_STRIDE;
}

u64 unsync_table_gpa(struct unsync_vm *uvm, u64 i, int level)
{
	struct kvm_vm *vm = uvm->vm;

	if (unsync_mode == UNSYNC_MODE_NESTED)
		return mmu_table_gpa(vm, &vm->stage2_mmu, l2_data_gpa(i), level);
	return mmu_table_gpa(vm, &vm->mmu, unsync_data_gva(i), level);
}

u64 unsync_vm_tables(struct unsync_vm *uvm)
{
	return uvm->nr_tables[1] + uvm->nr_tables[2] + uvm->nr_tables[3];
}

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * Count the distinct tables, per level, that KVM shadows once the guest has
 * walked the data and the alias: the guest's own, or in nested mode L1's
 * NPT tables of the data (L1's page tables are not shadowed there).
 */
static void count_tables(struct unsync_vm *uvm)
{
	bool nested = unsync_mode == UNSYNC_MODE_NESTED;
	u64 n = uvm->nr_pages, *gpas, i, j, m;
	int level;

	gpas = calloc(2 * n, sizeof(*gpas));
	TEST_ASSERT(gpas, "calloc(%lu) failed", 2 * n);
	for (level = 1; level <= 3; level++) {
		for (i = 0, m = 0; i < n; i++) {
			gpas[m++] = unsync_table_gpa(uvm, i, level);
			if (!nested)
				gpas[m++] = mmu_table_gpa(uvm->vm, &uvm->vm->mmu,
							  unsync_alias_gva(i), level);
		}
		qsort(gpas, m, sizeof(*gpas), cmp_u64);
		for (i = 0, j = 0; i < m; i++) {
			TEST_ASSERT(gpas[i] >= UNSYNC_PT_GPA && gpas[i] < UNSYNC_DATA_GPA,
				    "Level-%d table at 0x%lx, expected in the page-table slot",
				    level, gpas[i]);
			j += !i || gpas[i] != gpas[i - 1];
		}
		uvm->nr_tables[level] = j;
	}
	free(gpas);
}

/*
 * Nested mode: L2 runs on L1's code and page tables, so L1's NPT maps
 * memslot 0 and the page-table slot one to one (with 1 GiB pages), and data
 * page i at its own 2 MiB stride of L2 memory with a 4 KiB entry.  L1's
 * mapping of data page i points at that L2 address.
 */
static void nested_npt_build(struct unsync_vm *uvm)
{
	struct kvm_vm *vm = uvm->vm;
	u64 pt_size = memslot2region(vm, UNSYNC_PT_SLOT)->region.memory_size;
	u64 i;

	vm_enable_npt(vm);
	tdp_identity_map_1g(vm, 0, SZ_1G);
	tdp_identity_map_1g(vm, UNSYNC_PT_GPA, align_up(pt_size, SZ_1G));
	for (i = 0; i < uvm->nr_pages; i++)
		tdp_map(vm, l2_data_gpa(i), UNSYNC_DATA_GPA + i * PAGE_SIZE, PAGE_SIZE);
}

struct unsync_vm *unsync_vm_create(u64 nr_pages, u32 nr_vcpus, void *guest_code)
{
	bool nested = unsync_mode == UNSYNC_MODE_NESTED;
	struct unsync_vm *uvm = calloc(1, sizeof(*uvm));
	u64 i, pt_pages, data_gpa;
	struct kvm_vm *vm;
	u32 pt_region;

	TEST_ASSERT(uvm, "calloc() failed");
	TEST_ASSERT(nr_pages >= 1 && nr_pages <= UNSYNC_MAX_PAGES,
		    "%lu data pages, expected 1..%u", nr_pages, UNSYNC_MAX_PAGES);
	uvm->nr_pages = nr_pages;
	vm = __vm_create(VM_SHAPE_DEFAULT, nr_vcpus, 0);
	uvm->vm = vm;
	uvm->vcpu = vm_vcpu_add(vm, 0, guest_code);
	sync_global_to_guest(vm, unsync_mode);

	/* Both sets of data tables, room for more tables of each vCPU. */
	pt_pages = 2 * (nr_pages + 4 * (nr_pages / UNSYNC_TABLES_PER_PARENT) + 64) +
		   8 * nr_vcpus;
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, UNSYNC_PT_GPA,
				    UNSYNC_PT_SLOT, pt_pages, 0);
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, UNSYNC_DATA_GPA,
				    UNSYNC_DATA_SLOT, nr_pages, 0);

	/* Every table allocated from here on goes to the page-table slot. */
	pt_region = vm->memslots[MEM_REGION_PT];
	vm->memslots[MEM_REGION_PT] = UNSYNC_PT_SLOT;
	for (i = 0; i < nr_pages; i++) {
		data_gpa = nested ? l2_data_gpa(i) : UNSYNC_DATA_GPA + i * PAGE_SIZE;
		virt_pg_map(vm, unsync_data_gva(i), data_gpa);
	}
	if (nested)
		nested_npt_build(uvm);
	for (i = 0; i < nr_pages; i++)
		virt_pg_map(vm, unsync_alias_gva(i), unsync_table_gpa(uvm, i, 1));
	vm->memslots[MEM_REGION_PT] = pt_region;
	count_tables(uvm);

	if (nested) {
		vcpu_alloc_svm(vm, &unsync_svm_gva);
		sync_global_to_guest(vm, unsync_svm_gva);
	}
	vcpu_args_set(uvm->vcpu, 1, nr_pages);
	/* The default pool is ~2% of guest memory: keep every page built. */
	unsync_set_pool(vm, unsync_pool_pages(nr_pages));
	return uvm;
}

void unsync_vm_free(struct unsync_vm *uvm)
{
	kvm_vm_free(uvm->vm);
	free(uvm);
}

/* The PTE of each data page's level-1 table that the guest writes. */
#define SCRIBBLE_INDEX 256

static void write_data(u64 first, u64 nr)
{
	u64 i;

	for (i = first; i < first + nr; i++)
		WRITE_ONCE(*(u64 *)unsync_data_gva(i), UNSYNC_PATTERN(i));
}

static void check_data(u64 first, u64 nr)
{
	u64 i, val;

	for (i = first; i < first + nr; i++) {
		val = READ_ONCE(*(u64 *)unsync_data_gva(i));
		__GUEST_ASSERT(val == UNSYNC_PATTERN(i),
			       "Data page %lu holds 0x%lx, expected 0x%llx", i,
			       val, UNSYNC_PATTERN(i));
	}
}

/*
 * Nested mode: the data is L2's.  L2 runs on L1's page tables, makes the
 * pass that L1 asked for in these globals, and exits with VMMCALL.
 */
static void (*l2_pass)(u64 first, u64 nr);
static u64 l2_first, l2_nr;

static void l2_guest_code(void)
{
	for (;;) {
		READ_ONCE(l2_pass)(READ_ONCE(l2_first), READ_ONCE(l2_nr));
		vmmcall();
	}
}

static void l1_run_l2(void (*pass)(u64 first, u64 nr), u64 first, u64 nr)
{
	struct svm_test_data *svm = (void *)unsync_svm_gva;
	static bool svm_ready;

	if (!svm_ready) {
		generic_svm_setup(svm, l2_guest_code);
		svm_ready = true;
	}
	WRITE_ONCE(l2_pass, pass);
	WRITE_ONCE(l2_first, first);
	WRITE_ONCE(l2_nr, nr);
	run_guest(svm->vmcb, svm->vmcb_gpa);
	__GUEST_ASSERT(svm->vmcb->control.exit_code == SVM_EXIT_VMMCALL,
		       "L2 exit 0x%lx (info 0x%lx, 0x%lx), expected VMMCALL",
		       (u64)svm->vmcb->control.exit_code,
		       (u64)svm->vmcb->control.exit_info_1,
		       (u64)svm->vmcb->control.exit_info_2);
	svm->vmcb->save.rip += 3;
}

void unsync_guest_write_data(u64 first, u64 nr)
{
	if (unsync_mode == UNSYNC_MODE_NESTED)
		l1_run_l2(write_data, first, nr);
	else
		write_data(first, nr);
}

void unsync_guest_check_data(u64 first, u64 nr)
{
	if (unsync_mode == UNSYNC_MODE_NESTED)
		l1_run_l2(check_data, first, nr);
	else
		check_data(first, nr);
}

/*
 * The data page's own PTE stays as it is: the write only has to reach a
 * shadowed level-1 table, which KVM then marks unsync.  In nested mode L1
 * writes its level-1 NPT tables while L2 is out.
 */
void unsync_guest_write_tables(u64 first, u64 nr)
{
	u64 i;

	for (i = first; i < first + nr; i++)
		WRITE_ONCE(*(u64 *)(unsync_alias_gva(i) + SCRIBBLE_INDEX * 8), 0);
}

void unsync_guest_code(u64 nr_pages)
{
	unsync_guest_write_data(0, nr_pages);
	for (;;) {
		GUEST_SYNC(UNSYNC_STAGE_SHADOWED);
		unsync_guest_write_tables(0, nr_pages);
		GUEST_SYNC(UNSYNC_STAGE_UNSYNC);
		unsync_guest_check_data(0, nr_pages);
	}
}

void unsync_vcpu_run(struct kvm_vcpu *vcpu, u64 stage)
{
	struct ucall uc;

	vcpu_run(vcpu);
	TEST_ASSERT_KVM_EXIT_REASON(vcpu, KVM_EXIT_IO);
	switch (get_ucall(vcpu, &uc)) {
	case UCALL_SYNC:
		TEST_ASSERT(uc.args[1] == stage,
			    "vCPU %u reached stage %lu, expected stage %lu",
			    vcpu->id, uc.args[1], stage);
		break;
	case UCALL_ABORT:
		REPORT_GUEST_ASSERT(uc);
		break;
	default:
		TEST_FAIL("vCPU %u: ucall %lu, expected GUEST_SYNC(%lu)",
			  vcpu->id, uc.cmd, stage);
	}
}

void unsync_vm_build(struct unsync_vm *uvm)
{
	unsync_vcpu_run(uvm->vcpu, UNSYNC_STAGE_SHADOWED);
	unsync_vcpu_run(uvm->vcpu, UNSYNC_STAGE_UNSYNC);
}

static void slot_set_size(struct kvm_vm *vm, u32 slot, u64 size)
{
	struct kvm_userspace_memory_region2 *r = &memslot2region(vm, slot)->region;

	vm_set_user_memory_region(vm, slot, r->flags, r->guest_phys_addr, size,
				  (void *)r->userspace_addr);
}

void unsync_slot_hide(struct kvm_vm *vm, u32 slot)
{
	slot_set_size(vm, slot, 0);
}

void unsync_slot_restore(struct kvm_vm *vm, u32 slot)
{
	slot_set_size(vm, slot, memslot2region(vm, slot)->region.memory_size);
}

bool unsync_disable_slot_zap_all(struct kvm_vm *vm)
{
	if (!(kvm_check_cap(KVM_CAP_DISABLE_QUIRKS2) & KVM_X86_QUIRK_SLOT_ZAP_ALL))
		return false;
	vm_enable_cap(vm, KVM_CAP_DISABLE_QUIRKS2, KVM_X86_QUIRK_SLOT_ZAP_ALL);
	return true;
}
