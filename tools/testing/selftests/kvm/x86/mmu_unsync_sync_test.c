// SPDX-License-Identifier: GPL-2.0-only
/*
 * An unsync shadow page exists to be synced: check that the guest sees its
 * own page table changes once it has flushed them.
 *
 * KVM lets the guest write a level-1 page table that it shadows without
 * emulating the writes, by marking the shadow page unsync; from then on the
 * shadow page may be stale, exactly as a TLB may be, and KVM must bring it
 * up to date where the architecture says the guest's change takes effect:
 * INVLPG of an address it maps (kvm_mmu_invlpg() syncs that one SPTE), and
 * a CR3 load (KVM_REQ_MMU_SYNC: every unsync page under the root is synced
 * and write-protected again).  The guest here moves data pages around by
 * rewriting their PTEs, flushes, and reads back what it expects; last, two
 * unsync tables map each other's pages, so that the guest rewrites one
 * table through the other while both are unsync.
 *
 * A page that is an upper-level table in one address space (SMM's) is
 * write-tracked there, and must stay write-protected when the guest writes
 * it from the other: it is never unsynced (only level-1 pages may be).
 *
 * Shadow mode only: in nested mode the guest's page tables are not shadowed.
 */
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "smm.h"
#include "ucall_common.h"
#include "unsync_vm.h"

#define NR_PAGES	64

enum {
	STAGE_UNSYNC = 1,
	STAGE_INVLPG,
	STAGE_CR3,
	STAGE_MUTUAL,
};

/* The flags of a data page's PTE, and the GPA of each data page's table. */
static u64 pte_flags;
static u64 table_gpa[NR_PAGES];

static u64 data_gpa(u64 i)
{
	return UNSYNC_DATA_GPA + i * PAGE_SIZE;
}

/* The PTE of the page at @gva in data page @i's level-1 table. */
static u64 *table_entry(u64 i, u64 gva)
{
	return (u64 *)(unsync_alias_gva(i) + ((gva >> PAGE_SHIFT) & 511) * 8);
}

static void map_data(u64 i, u64 gpa)
{
	WRITE_ONCE(*table_entry(i, unsync_data_gva(i)), gpa | pte_flags);
}

static u64 read_data(u64 i)
{
	return READ_ONCE(*(u64 *)unsync_data_gva(i));
}

static void guest_code(u64 nr)
{
	u64 i, a = 0, b = 1, *through_a, *through_b;

	unsync_guest_write_data(0, nr);
	unsync_guest_write_tables(0, nr);
	GUEST_SYNC(STAGE_UNSYNC);

	/* Data page i shows data page nr - 1 - i, after INVLPG of its address. */
	for (i = 0; i < nr / 2; i++) {
		map_data(i, data_gpa(nr - 1 - i));
		invlpg(unsync_data_gva(i));
		GUEST_ASSERT_EQ(read_data(i), UNSYNC_PATTERN(nr - 1 - i));
	}
	GUEST_SYNC(STAGE_INVLPG);

	/* Every page back in place, and one CR3 load for all of them. */
	for (i = 0; i < nr / 2; i++)
		map_data(i, data_gpa(i));
	set_cr3(get_cr3());
	for (i = 0; i < nr; i++)
		GUEST_ASSERT_EQ(read_data(i), UNSYNC_PATTERN(i));
	GUEST_SYNC(STAGE_CR3);

	/*
	 * The page after data page a maps table b (table a faults and goes
	 * unsync; table b is sync and write-protected, so the synced mapping of
	 * it is read-only), and table b is rewritten through it (table b faults
	 * and goes unsync).  Then the other way round, both unsync.
	 */
	through_a = (u64 *)(unsync_data_gva(a) + PAGE_SIZE);
	through_b = (u64 *)(unsync_data_gva(b) + PAGE_SIZE);
	WRITE_ONCE(*table_entry(a, (u64)through_a), table_gpa[b] | pte_flags);
	invlpg((u64)through_a);
	WRITE_ONCE(through_a[0], data_gpa(2) | pte_flags);
	invlpg(unsync_data_gva(b));
	GUEST_ASSERT_EQ(read_data(b), UNSYNC_PATTERN(2));
	WRITE_ONCE(*table_entry(b, (u64)through_b), table_gpa[a] | pte_flags);
	invlpg((u64)through_b);
	WRITE_ONCE(through_b[0], data_gpa(3) | pte_flags);
	invlpg(unsync_data_gva(a));
	GUEST_ASSERT_EQ(read_data(a), UNSYNC_PATTERN(3));

	map_data(a, data_gpa(a));
	map_data(b, data_gpa(b));
	WRITE_ONCE(*table_entry(a, (u64)through_a), 0);
	WRITE_ONCE(*table_entry(b, (u64)through_b), 0);
	set_cr3(get_cr3());
	for (i = 0; i < nr; i++)
		GUEST_ASSERT_EQ(read_data(i), UNSYNC_PATTERN(i));
	GUEST_SYNC(STAGE_MUTUAL);
}

/*
 * SMM: the SMI handler (real-mode-like code at SMBASE + 0x8000) turns on
 * 32-bit paging with CR3 at SMM_PD_GPA, a page directory whose entry 4
 * maps SMRAM with a 4 MiB page, reports to the host and returns.  KVM
 * shadows that page directory as an SMM root, write-tracked in address
 * space 1, where a memslot aliases SMM_PD_GPA's memslot.  The guest then
 * writes the page directory from outside SMM, through SMM_PD_GVA.
 */
#define SMRAM_GPA		0x1000000
#define SMM_PD_SLOT		12
#define SMM_PD_GPA		0x2000000
#define SMM_PD_GVA		(2ULL << 39)	/* PML4 entry 2 */
#define SMM_PORT		0xe
#define STAGE_SMM_PAGING	5
#define STAGE_SMM_WRITTEN	6

static const u8 smi_handler[] = {
	0x66, 0xb8, 0x00, 0x00, 0x00, 0x02,	/* mov $SMM_PD_GPA, %eax */
	0x0f, 0x22, 0xd8,			/* mov %eax, %cr3 */
	0x66, 0xb8, 0x10, 0x00, 0x00, 0x00,	/* mov $X86_CR4_PSE, %eax */
	0x0f, 0x22, 0xe0,			/* mov %eax, %cr4 */
	0x0f, 0x20, 0xc0,			/* mov %cr0, %eax */
	0x66, 0x0d, 0x01, 0x00, 0x00, 0x80,	/* or $(X86_CR0_PG | X86_CR0_PE), %eax */
	0x0f, 0x22, 0xc0,			/* mov %eax, %cr0 */
	0xe4, SMM_PORT,				/* in $SMM_PORT, %al */
	0x0f, 0xaa,				/* rsm */
};

static void smm_guest_code(void)
{
	GUEST_SYNC(STAGE_SMM_PAGING);
	/* An entry that maps nothing, in the page directory SMM walked. */
	WRITE_ONCE(((u64 *)SMM_PD_GVA)[256], 0);
	GUEST_SYNC(STAGE_SMM_WRITTEN);
}

static void test_smm_write_tracking(void)
{
	static const char what[] = "a table write-tracked in SMM is never unsynced";
	struct unsync_stats b, a;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	u32 *pd;

	if (!kvm_has_cap(KVM_CAP_X86_SMM) ||
	    kvm_check_cap(KVM_CAP_MULTI_ADDRESS_SPACE) < 2) {
		ksft_print_msg("%s: no SMM\n", what);
		ksft_test_result_skip("%s\n", what);
		return;
	}
	vm = vm_create_with_one_vcpu(&vcpu, smm_guest_code);
	setup_smram(vm, vcpu, SMRAM_GPA, smi_handler, sizeof(smi_handler));
	vm_userspace_mem_region_add(vm, VM_MEM_SRC_ANONYMOUS, SMM_PD_GPA, SMM_PD_SLOT, 1, 0);
	pd = addr_gpa2hva(vm, SMM_PD_GPA);
	pd[SMRAM_GPA >> 22] = SMRAM_GPA | BIT(7) | BIT(1) | BIT(0);
	/* The same memory at the same address in address space 1 (SMM). */
	vm_set_user_memory_region(vm, BIT(16) | SMM_PD_SLOT, 0, SMM_PD_GPA, PAGE_SIZE, pd);
	virt_pg_map(vm, SMM_PD_GVA, SMM_PD_GPA);

	unsync_vcpu_run(vcpu, STAGE_SMM_PAGING);
	inject_smi(vcpu);
	vcpu_run(vcpu);
	TEST_ASSERT(vcpu->run->exit_reason == KVM_EXIT_IO && vcpu->run->io.port == SMM_PORT,
		    "SMI handler: exit %s, port 0x%x, expected an I/O exit on port 0x%x",
		    exit_reason_str(vcpu->run->exit_reason), vcpu->run->io.port, SMM_PORT);
	unsync_stats_read(vm, &b);
	unsync_vcpu_run(vcpu, STAGE_SMM_WRITTEN);
	unsync_stats_read(vm, &a);

	/*
	 * The page directory's shadow page (SMM's root) write-protects the page
	 * in address space 1; the write from address space 0 must find it
	 * write-tracked there too (kvm_gfn_is_write_tracked() checks both),
	 * so KVM emulates the write and unsyncs nothing: an upper-level shadow
	 * page marked unsync would be synced as a level-1 page later.
	 */
	TEST_ASSERT(a.mmu_unsync == b.mmu_unsync,
		    "%s: mmu_unsync %lu -> %lu", what, b.mmu_unsync, a.mmu_unsync);
	TEST_ASSERT(a.mmu_pte_write > b.mmu_pte_write,
		    "%s: the write to SMM's page directory was not emulated", what);
	kvm_vm_free(vm);
	ksft_test_result_pass("%s\n", what);
}

int main(int argc, char *argv[])
{
	struct unsync_stats s;
	struct unsync_vm *uvm;
	u64 i;

	int opt = getopt(argc, argv, "h");

	if (opt != -1) {
		printf("usage: %s [-h]\n", argv[0]);
		exit(opt == 'h' ? 0 : KSFT_FAIL);
	}
	ksft_print_header();
	unsync_mode = UNSYNC_MODE_SHADOW;
	unsync_require();
	ksft_set_plan(4);
	uvm = unsync_vm_create(NR_PAGES, 1, guest_code);
	pte_flags = *unsync_guest_pte(uvm, unsync_data_gva(0), 1) & ~PHYSICAL_PAGE_MASK;
	for (i = 0; i < NR_PAGES; i++)
		table_gpa[i] = unsync_table_gpa(uvm, i, 1);
	sync_global_to_guest(uvm->vm, pte_flags);
	sync_global_to_guest(uvm->vm, table_gpa);

	unsync_vcpu_run(uvm->vcpu, STAGE_UNSYNC);
	unsync_stats_read(uvm->vm, &s);
	TEST_ASSERT_EQ(s.mmu_unsync, NR_PAGES);

	/*
	 * The guest's writes to unsync tables go to memory without a fault;
	 * only INVLPG tells KVM that a mapping changed, and KVM must sync that
	 * SPTE from the guest's PTE before the guest reads through it again.
	 */
	unsync_vcpu_run(uvm->vcpu, STAGE_INVLPG);
	ksft_test_result_pass("INVLPG syncs a PTE of an unsync table\n");

	/*
	 * A CR3 load flushes the whole (non-global) TLB: KVM syncs every
	 * unsync page below the root, and write-protects it again, so that
	 * none is left unsync.
	 */
	unsync_vcpu_run(uvm->vcpu, STAGE_CR3);
	unsync_stats_read(uvm->vm, &s);
	TEST_ASSERT(s.mmu_unsync == 0, "%lu pages unsync after a CR3 load, expected 0",
		    s.mmu_unsync);
	ksft_test_result_pass("a CR3 load syncs every unsync table\n");

	/*
	 * A table that maps another page table: syncing its SPTE must not
	 * give the guest a writable mapping of a shadowed table behind KVM's
	 * back (KVM unsyncs, or write-protects, the target first), and a write
	 * through it is a write to that table like any other.
	 */
	unsync_vcpu_run(uvm->vcpu, STAGE_MUTUAL);
	unsync_stats_read(uvm->vm, &s);
	TEST_ASSERT(s.mmu_unsync == 0, "%lu pages unsync after a CR3 load, expected 0",
		    s.mmu_unsync);
	ksft_test_result_pass("two unsync tables that map each other\n");

	unsync_vm_free(uvm);

	test_smm_write_tracking();
	ksft_finished();
}
