// SPDX-License-Identifier: GPL-2.0-only
/*
 * The shadow MMU's zap walks over families of unsync pages.
 *
 * Zapping a shadow page also zaps its unsync children, wherever they sit in
 * active_mmu_pages, so a walk over that list must start over after such a
 * zap ("list unstable"), and a walk with a budget (the pool shrink,
 * kvm_mmu_zap_oldest_mmu_pages()) must stop at the first zap that reaches
 * it.  Here the oldest shadow pages are families: the shadow page of one
 * guest level-2 table (the parent) followed by those of some of the level-1
 * tables below it (its children), k of them unsync, with k mixed within one
 * VM so that a budget spans several families.  Each walk's caller runs
 * over such a VM: the pool shrink, the zap of obsolete pages (memslot delete
 * and move with KVM_X86_QUIRK_SLOT_ZAP_ALL), and the zap of everything when
 * the VM's mm goes away (kvm_mmu_zap_all(), which walks from the newest
 * page: there the parents are made newer than their children), and with
 * -d the MMU shrinker of kernels that have one (drop_caches, host-wide).
 *
 * Shadow mode only: the families are guest page tables.
 */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <string.h>
#include <unistd.h>

#include "kvm_util.h"
#include "processor.h"
#include "ucall_common.h"
#include "unsync_vm.h"

#define MAX_FAMILIES		16

/* k of each mixed family, oldest first; k = 0: MIXED_SYNC_CHILDREN sync. */
static const u32 mixed[] = { 1, 0, 2, 1, 1, 3, 0, 1, 8, 1, 5, 1, 512, 1, 2, 0 };
/* The same, with room for one more child beside each twin. */
static const u32 with_twins[] = { 1, 0, 2, 1, 1, 3, 0, 1, 8, 1, 5, 1, 64, 1, 2, 0 };
#define MIXED_SYNC_CHILDREN	4

/* Families of sync pages only. */
#define SYNC_CHILDREN		8

/*
 * Where the parents' twins live (REVERSED): PDPT entry 256 + f of the data
 * maps family f again, through a copy of its level-2 table.
 */
#define TWIN_OFFSET		(256ULL << 30)

#define FAMILY_PATTERN(f, j)	(0xfa00000000000000ULL | (u64)(f) << 32 | (j))

enum {
	STAGE_BOOTED = 1,	/* the guest's own mappings are shadowed */
	STAGE_TOUCHED,		/* family by family: parent, then children */
	STAGE_BUILT,		/* data read back, first k children unsync */
};

/* What the guest reads: family f has children[f], the first unsync[f] unsync. */
struct family_layout {
	u32 nr;
	u32 children[MAX_FAMILIES];
	u32 unsync[MAX_FAMILIES];
	bool twins;	/* read each family through its parent's twin */
};

static struct family_layout layout;

static u64 family_page(u32 f, u32 j)
{
	return (u64)f * UNSYNC_TABLES_PER_PARENT + j;
}

static u64 *family_data(u32 f, u32 j)
{
	return (u64 *)unsync_data_gva(family_page(f, j));
}

static void guest_code(void)
{
	u32 f, j;

	GUEST_SYNC(STAGE_BOOTED);
	for (f = 0; f < layout.nr; f++)
		for (j = 0; j < layout.children[f]; j++)
			WRITE_ONCE(*family_data(f, j), FAMILY_PATTERN(f, j));
	GUEST_SYNC(STAGE_TOUCHED);
	for (;;) {
		for (f = 0; f < layout.nr; f++)
			for (j = 0; j < layout.children[f]; j++)
				GUEST_ASSERT_EQ(READ_ONCE(*family_data(f, j)),
						FAMILY_PATTERN(f, j));
		for (f = 0; f < layout.nr; f++)
			unsync_guest_write_tables(family_page(f, 0), layout.unsync[f]);
		/*
		 * In each family with unsync children, one more child, made
		 * unsync, then read through the twin, whose shadow page is
		 * made right after that child's (nothing else is new): walking
		 * from the newest page, the twin comes first, that child next.
		 */
		for (f = 0; layout.twins && f < layout.nr; f++) {
			if (!layout.unsync[f])
				continue;
			j = layout.children[f];
			WRITE_ONCE(*family_data(f, j), FAMILY_PATTERN(f, j));
			unsync_guest_write_tables(family_page(f, j), 1);
			READ_ONCE(*(u64 *)((u64)family_data(f, j) + TWIN_OFFSET));
		}
		GUEST_SYNC(STAGE_BUILT);
	}
}

struct families {
	struct unsync_vm *uvm;
	u64 nr_unsync;	/* sum of the families' k */
	u64 in_use;	/* shadow pages in use once built */
};

/* Shadow pages of families [first, last): parents and children. */
static u64 families_pages(u32 first, u32 last)
{
	u64 pages = 0;
	u32 f;

	for (f = first; f < last; f++)
		pages += 1 + layout.children[f];
	return pages;
}

/* A copy of @gpa's page in the page-table slot. */
static u64 copy_table(struct kvm_vm *vm, u64 gpa)
{
	u64 copy = vm_phy_page_alloc(vm, UNSYNC_PT_GPA, UNSYNC_PT_SLOT);

	memcpy(addr_gpa2hva(vm, copy), addr_gpa2hva(vm, gpa), PAGE_SIZE);
	return copy;
}

/*
 * Give each family's parent a twin: a copy of its level-2 table, mapped by
 * the data PDPT at TWIN_OFFSET, that points to the same level-1 tables.
 */
static void add_twins(struct unsync_vm *uvm)
{
	u64 *pdpte, gva;
	u32 f;

	for (f = 0; f < layout.nr; f++) {
		gva = unsync_data_gva(family_page(f, 0));
		pdpte = unsync_guest_pte(uvm, gva, 3);
		pdpte[TWIN_OFFSET >> 30] = (*pdpte & ~PHYSICAL_PAGE_MASK) |
					   copy_table(uvm->vm, PTE_GET_PA(*pdpte));
	}
}

/*
 * Lay the families at the oldest end of active_mmu_pages.  The guest touches
 * them family by family, after its own mappings are shadowed; then the vCPU
 * moves to a copy of its top-level table (KVM drops the old root, which
 * stays on the list as an ordinary page) and a shrink zaps exactly what is
 * older than the first parent: the old root, the guest's own mappings and
 * the data PDPT.  All of those are sync, so each zap frees one page and the
 * shrink lands on its goal.  The guest then reads its data back, which
 * makes those pages again at the newest end, unsyncs k children of every
 * family and (with @twins) reads each family through its parent's twin,
 * which makes the twins the newest pages of all.  Every step is checked,
 * so that a layout other than this one fails here rather than in a test's
 * figures.
 */
static void families_create(struct families *fam, const u32 *k, u32 nr,
			    u32 sync_children, bool twins)
{
	struct unsync_stats booted, touched, moved, built;
	struct kvm_sregs sregs;
	struct kvm_vcpu *vcpu;
	struct kvm_vm *vm;
	u64 older, pages;
	u32 f;

	memset(&layout, 0, sizeof(layout));
	layout.nr = nr;
	layout.twins = twins;
	fam->nr_unsync = 0;
	for (f = 0; f < nr; f++) {
		layout.unsync[f] = k[f];
		layout.children[f] = k[f] ? k[f] : sync_children;
		/* With twins, one more unsync child each (see guest_code()). */
		fam->nr_unsync += k[f] + (twins && k[f]);
		TEST_ASSERT(!twins || layout.children[f] < UNSYNC_TABLES_PER_PARENT,
			    "Family %u: no room for a child beside its twin", f);
	}
	fam->uvm = unsync_vm_create(nr * UNSYNC_TABLES_PER_PARENT, 1, guest_code);
	vm = fam->uvm->vm;
	vcpu = fam->uvm->vcpu;
	if (twins)
		add_twins(fam->uvm);
	sync_global_to_guest(vm, layout);

	unsync_vcpu_run(vcpu, STAGE_BOOTED);
	unsync_stats_read(vm, &booted);
	unsync_vcpu_run(vcpu, STAGE_TOUCHED);
	unsync_stats_read(vm, &touched);
	older = booted.in_use + 1;
	pages = families_pages(0, nr);
	TEST_ASSERT(touched.in_use == older + pages,
		    "Families touched: %lu pages in use, expected %lu + %lu",
		    touched.in_use, older, pages);

	vcpu_sregs_get(vcpu, &sregs);
	sregs.cr3 = (sregs.cr3 & ~PHYSICAL_PAGE_MASK) | copy_table(vm, vm->mmu.pgd);
	vcpu_sregs_set(vcpu, &sregs);
	unsync_set_pool(vm, pages);
	unsync_stats_read(vm, &moved);
	TEST_ASSERT(moved.in_use == pages &&
		    moved.mmu_shadow_zapped - touched.mmu_shadow_zapped == older,
		    "Zapping the %lu older pages: %lu zapped, %lu in use, goal %lu",
		    older, moved.mmu_shadow_zapped - touched.mmu_shadow_zapped,
		    moved.in_use, pages);
	unsync_set_pool(vm, unsync_pool_pages(fam->uvm->nr_pages));

	unsync_vcpu_run(vcpu, STAGE_BUILT);
	unsync_stats_read(vm, &built);
	TEST_ASSERT(built.mmu_unsync == fam->nr_unsync,
		    "Families built: mmu_unsync %lu, expected %lu",
		    built.mmu_unsync, fam->nr_unsync);
	TEST_ASSERT_EQ(built.mmu_shadow_zapped, moved.mmu_shadow_zapped);
	fam->in_use = built.in_use;
}

static void families_free(struct families *fam)
{
	unsync_vm_free(fam->uvm);
}

/* Shrink to @goal; every page the walk zaps is recycled and counted once. */
static void shrink(struct families *fam, const char *what, u64 goal,
		   struct unsync_stats *b, struct unsync_stats *a)
{
	unsync_stats_read(fam->uvm->vm, b);
	unsync_set_pool(fam->uvm->vm, goal);
	unsync_stats_read(fam->uvm->vm, a);
	ksft_print_msg("%s: goal %lu, in use %lu -> %lu\n", what, goal, b->in_use,
		       a->in_use);
	TEST_ASSERT(a->mmu_shadow_zapped - b->mmu_shadow_zapped ==
		    a->mmu_recycled - b->mmu_recycled,
		    "%s: mmu_shadow_zapped +%lu, mmu_recycled +%lu, expected equal", what,
		    a->mmu_shadow_zapped - b->mmu_shadow_zapped,
		    a->mmu_recycled - b->mmu_recycled);
}

/* The guest reads every data page back, as it wrote it. */
static void check_guest_data(struct families *fam)
{
	unsync_vcpu_run(fam->uvm->vcpu, STAGE_BUILT);
}

static void test_sync_shrink(void)
{
	static const u32 k[MAX_FAMILIES];
	struct unsync_stats b, a, again;
	struct families fam;
	u64 goal;

	families_create(&fam, k, MAX_FAMILIES, SYNC_CHILDREN, false);
	goal = fam.in_use - families_pages(0, 5) - 4;
	shrink(&fam, "shrink over sync families", goal, &b, &a);
	/*
	 * A sync page has no child to take along: each zap frees exactly one
	 * page, and the walk stops at the first zap that reaches its budget,
	 * on the goal, not a page before or after it.
	 */
	TEST_ASSERT(a.in_use == goal, "%lu pages in use, expected exactly the goal %lu",
		    a.in_use, goal);
	ksft_test_result_pass("shrink over sync families lands on its goal\n");

	/* A pool exactly at its goal has nothing to give back. */
	shrink(&fam, "the same goal again", goal, &a, &again);
	TEST_ASSERT(again.mmu_shadow_zapped == a.mmu_shadow_zapped,
		    "goal %lu again, %lu in use: zapped %lu, expected 0", goal,
		    a.in_use, again.mmu_shadow_zapped - a.mmu_shadow_zapped);
	ksft_test_result_pass("the goal landed on exactly, asked again, zaps nothing\n");
	check_guest_data(&fam);
	families_free(&fam);
}

/*
 * Shrinks over the mixed families, one after the other: each zaps families
 * [first, last) and @into pages beyond, so that it ends inside family @last
 * (k = 5, then k = 512: its parent and 100 children).
 */
static const struct family_shrink {
	const char *what;
	u32 first, last, into;
} family_shrinks[] = {
	{ "shrink over small families", 0, 10, 3 },
	{ "shrink into a family of 512", 11, 12, 1 + 100 },
};

static void test_family_shrinks(void)
{
	const struct family_shrink *sh;
	struct unsync_stats b, a;
	struct families fam;
	u64 goal, in_use;
	u32 f, k_max;
	int i;

	families_create(&fam, mixed, ARRAY_SIZE(mixed), MIXED_SYNC_CHILDREN, false);
	in_use = fam.in_use;
	for (i = 0; i < ARRAY_SIZE(family_shrinks); i++) {
		sh = &family_shrinks[i];
		goal = in_use - families_pages(sh->first, sh->last) - sh->into;
		shrink(&fam, sh->what, goal, &b, &a);
		in_use = a.in_use;
		/*
		 * A parent's zap frees it and its k unsync children, so the walk
		 * that stops at the first zap reaching its budget never ends
		 * above the goal, and never more than the largest k of the
		 * families it reached below it.
		 */
		for (f = 0, k_max = 0; f <= sh->last; f++)
			k_max = max(k_max, layout.unsync[f]);
		TEST_ASSERT(a.in_use <= goal && a.in_use + k_max >= goal,
			    "%s: %lu pages in use, expected %lu - %u .. %lu", sh->what,
			    a.in_use, goal, k_max, goal);
		ksft_test_result_pass("%s\n", sh->what);
	}
	check_guest_data(&fam);
	families_free(&fam);
}

/*
 * With KVM_X86_QUIRK_SLOT_ZAP_ALL on, deleting or moving a memslot makes
 * every shadow page obsolete, and kvm_zap_obsolete_pages() zaps them all,
 * from the oldest: each family's parent first, with its unsync children.
 * A walk that went on from a page already zapped as a child, instead of
 * starting over, would zap it twice or lose its place.
 */
static void test_memslot(bool move)
{
	const char *what = move ? "memslot move over families" :
				  "memslot delete over families";
	struct unsync_stats b, a;
	struct families fam;
	struct kvm_vm *vm;

	families_create(&fam, mixed, ARRAY_SIZE(mixed), MIXED_SYNC_CHILDREN, false);
	vm = fam.uvm->vm;
	unsync_stats_read(vm, &b);
	if (move)
		vm_mem_region_move(vm, UNSYNC_DATA_SLOT, 64ULL << 30);
	else
		unsync_slot_hide(vm, UNSYNC_DATA_SLOT);
	unsync_stats_read(vm, &a);
	if (move)
		vm_mem_region_move(vm, UNSYNC_DATA_SLOT, UNSYNC_DATA_GPA);
	else
		unsync_slot_restore(vm, UNSYNC_DATA_SLOT);

	/* Each page in use, the root too, is zapped exactly once. */
	TEST_ASSERT(a.mmu_shadow_zapped - b.mmu_shadow_zapped == b.in_use,
		    "%s: mmu_shadow_zapped +%lu, expected all %lu in use", what,
		    a.mmu_shadow_zapped - b.mmu_shadow_zapped, b.in_use);
	TEST_ASSERT_EQ(a.mmu_unsync, 0);
	/* The zap of obsolete pages recycles nothing. */
	TEST_ASSERT_EQ(a.mmu_recycled, b.mmu_recycled);
	check_guest_data(&fam);
	families_free(&fam);
	ksft_test_result_pass("%s\n", what);
}

/* Read VM stat @name through a stats fd of the VM (struct kvm_binary_stats). */
static u64 stats_fd_read(struct kvm_binary_stats *stats, const char *name)
{
	u64 val;

	kvm_get_stat(stats, name, &val, 1);
	return val;
}

/* Reads 0.1 s apart until the VM's mm was put (see test_mm_teardown()). */
#define MM_PUT_TRIES		50

/*
 * When the process that made a VM exits, or execs, with the VM still open,
 * its mm goes away first: the MMU notifier's release zaps every shadow page
 * (kvm_mmu_zap_all()).  That walk starts from the newest page, so here each
 * family's parent has a newer twin that links the same children: zapping
 * the twin takes the family's unsync children along, the list is unstable,
 * and the walk must start over.  A child process builds the families, hands
 * a stats fd of its VM over (which keeps the VM alive) and exits.
 */
static void test_mm_teardown(void)
{
	static const char what[] = "mm teardown over families with newer parents";
	struct kvm_binary_stats stats = {};
	struct { u64 in_use, zapped; } built;
	char buf[CMSG_SPACE(sizeof(int))] = {};
	struct iovec iov = { .iov_base = &built, .iov_len = sizeof(built) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = buf, .msg_controllen = sizeof(buf),
	};
	struct unsync_stats s;
	struct families fam;
	struct cmsghdr *cmsg;
	int sv[2], status, tries;
	u64 zapped;
	pid_t pid;

	TEST_ASSERT(!socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), "socketpair() failed");
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork() failed");
	if (!pid) {
		families_create(&fam, with_twins, ARRAY_SIZE(with_twins), MIXED_SYNC_CHILDREN,
				true);
		unsync_stats_read(fam.uvm->vm, &s);
		built.in_use = s.in_use;
		built.zapped = s.mmu_shadow_zapped;
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fam.uvm->vm->stats.fd, sizeof(int));
		TEST_ASSERT(sendmsg(sv[1], &msg, 0) == sizeof(built), "sendmsg() failed");
		/* Exit with the VM open: no kvm_vm_free(). */
		_exit(0);
	}
	/* If the child fails before it sends, its end closes: recvmsg() gets 0. */
	close(sv[1]);
	TEST_ASSERT(recvmsg(sv[0], &msg, 0) == sizeof(built),
		    "the VM's process sent no stats fd");
	cmsg = CMSG_FIRSTHDR(&msg);
	TEST_ASSERT(cmsg && cmsg->cmsg_type == SCM_RIGHTS, "no stats fd received");
	memcpy(&stats.fd, CMSG_DATA(cmsg), sizeof(int));
	TEST_ASSERT(waitpid(pid, &status, 0) == pid && WIFEXITED(status) &&
		    !WEXITSTATUS(status), "the VM's process failed: status 0x%x", status);
	close(sv[0]);

	/*
	 * The zap runs when the mm's last user puts it, which is the child's
	 * exit unless something else (a reader of /proc/<pid>/) held the mm
	 * then: give that a few seconds.
	 */
	for (tries = 0; tries < MM_PUT_TRIES; tries++) {
		zapped = stats_fd_read(&stats, "mmu_shadow_zapped") - built.zapped;
		if (zapped >= built.in_use)
			break;
		usleep(100 * 1000);
	}

	/*
	 * Every page in use when the families were built, the vCPU's root
	 * too, is zapped exactly once, and no unsync page is left.
	 */
	ksft_print_msg("%s: %lu in use, %lu zapped\n", what, built.in_use, zapped);
	TEST_ASSERT(zapped == built.in_use,
		    "%s: mmu_shadow_zapped +%lu, expected all %lu in use", what,
		    zapped, built.in_use);
	TEST_ASSERT_EQ(stats_fd_read(&stats, "mmu_unsync"), 0);
	close(stats.fd);
	free(stats.desc);
	ksft_test_result_pass("%s\n", what);
}

/* Does KVM have an MMU shrinker (mmu_shrink_scan(), gone since 6.13)? */
static bool kvm_has_mmu_shrinker(void)
{
	char line[256];
	bool found = false;
	FILE *f = fopen("/proc/kallsyms", "r");

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, " mmu_shrink_scan");
	if (f)
		fclose(f);
	return found;
}

/* Writes to drop_caches before a VM with zappable pages must have lost some. */
#define DROP_CACHES_TRIES 16

/*
 * With -d: drop every slab cache.  The MMU shrinker frees shadow pages a
 * VM at a time through the budgeted walk, which counts each page it frees
 * as recycled; a VM holding zappable pages gets its turn within a few
 * writes (other VMs on the host may come first).
 */
static void test_drop_caches(bool drop)
{
	static const char what[] = "drop_caches: the MMU shrinker zaps through the walk";
	struct unsync_stats b, a;
	struct families fam;
	int tries, fd;

	if (!drop || geteuid() || !kvm_has_mmu_shrinker()) {
		ksft_print_msg("%s: %s\n", what,
			       !drop ? "-d not given (drop_caches is host-wide)" :
			       geteuid() ? "needs root" : "KVM has no MMU shrinker");
		ksft_test_result_skip("%s\n", what);
		return;
	}
	families_create(&fam, mixed, ARRAY_SIZE(mixed), MIXED_SYNC_CHILDREN, false);
	unsync_stats_read(fam.uvm->vm, &b);
	for (tries = 1; tries <= DROP_CACHES_TRIES; tries++) {
		fd = open_path_or_exit("/proc/sys/vm/drop_caches", O_WRONLY);
		TEST_ASSERT(write(fd, "2", 1) == 1, "drop_caches write failed");
		close(fd);
		unsync_stats_read(fam.uvm->vm, &a);
		if (a.mmu_shadow_zapped > b.mmu_shadow_zapped)
			break;
	}
	ksft_print_msg("%s: %lu zapped after %d writes\n", what,
		       a.mmu_shadow_zapped - b.mmu_shadow_zapped, tries);
	TEST_ASSERT(a.mmu_shadow_zapped > b.mmu_shadow_zapped,
		    "%s: no page of %lu in use zapped in %d writes", what, b.in_use,
		    DROP_CACHES_TRIES);
	TEST_ASSERT(a.mmu_shadow_zapped - b.mmu_shadow_zapped ==
		    a.mmu_recycled - b.mmu_recycled,
		    "%s: mmu_shadow_zapped +%lu, mmu_recycled +%lu, expected equal", what,
		    a.mmu_shadow_zapped - b.mmu_shadow_zapped,
		    a.mmu_recycled - b.mmu_recycled);
	check_guest_data(&fam);
	families_free(&fam);
	ksft_test_result_pass("%s\n", what);
}

static void help(const char *name, int status)
{
	printf("usage: %s [-h] [-d]\n", name);
	printf(" -d: also drop the host's slab caches, to run KVM's MMU shrinker\n");
	exit(status);
}

int main(int argc, char *argv[])
{
	bool drop = false;
	int opt;

	while ((opt = getopt(argc, argv, "hd")) != -1) {
		if (opt == 'd')
			drop = true;
		else
			help(argv[0], opt == 'h' ? 0 : KSFT_FAIL);
	}

	ksft_print_header();
	unsync_mode = UNSYNC_MODE_SHADOW;
	unsync_require();
	ksft_set_plan(2 + ARRAY_SIZE(family_shrinks) + 2 + 1 + 1);

	test_sync_shrink();
	test_family_shrinks();
	test_memslot(false);
	test_memslot(true);
	test_mm_teardown();
	test_drop_caches(drop);
	ksft_finished();
}
